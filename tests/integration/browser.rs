//! The directory listing in a real browser: headless Chromium renders it, and every link it
//! resolves leads to the entry it names.
//!
//! Skipped when Chromium is not installed, unless `BASEHTTP_REQUIRE_CHROMIUM` is set (`.ci/run`
//! sets it once it has installed Chromium): then a missing browser fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use basehttp::server::HttpServer;
use basehttp::static_files::StaticFiles;

use crate::support::*;

/// Where Chromium is; `None` (the test skips) unless `BASEHTTP_REQUIRE_CHROMIUM` is set.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        });
    if found.is_none() {
        assert!(
            std::env::var_os("BASEHTTP_REQUIRE_CHROMIUM").is_none(),
            "BASEHTTP_REQUIRE_CHROMIUM is set but no Chromium was found"
        );
        eprintln!("chromium not installed: skipping the browser check");
    }
    found
}

/// How the tests start Chromium: headless, without a sandbox (tests may run as root), and without
/// the background connections this machine's closed network would refuse.
pub const HEADLESS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// `chromium --headless --dump-dom URL`: the DOM after parsing, as the browser built it.
fn dump_dom(chromium: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(chromium)
        .args(HEADLESS)
        .arg("--dump-dom")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `href` of every `<a>` in a serialized DOM, in order.
fn hrefs(dom: &str) -> Vec<String> {
    dom.split("<a href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn chromium_renders_the_listing_and_its_links_work() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let names = [
        "plain.txt",
        "with space.txt",
        "hash#tag.txt",
        "question?.txt",
        "percent%41.txt",
        "amp&lt.txt",
        "<b>bold.txt",
        "café.txt",
        "日本語.txt",
    ];
    for name in names {
        std::fs::write(dir.path().join(name), name).expect("write");
    }
    std::fs::create_dir(dir.path().join("sub dir")).expect("mkdir");
    std::fs::write(dir.path().join("sub dir/inner.txt"), "inner").expect("write");

    let httpd = HttpServer::bind(("127.0.0.1", 0), StaticFiles::new(dir.path()))
        .await
        .expect("bind");
    let server = TestServer::start(httpd);
    let base = format!("http://127.0.0.1:{}/", server.addr.port());

    let page = base.clone();
    let dom = tokio::task::spawn_blocking({
        let chromium = chromium.clone();
        move || dump_dom(&chromium, &page)
    })
    .await
    .expect("chromium task");
    assert!(
        dom.contains("<title>Directory listing for /</title>"),
        "{dom}"
    );
    assert!(dom.contains("<h1>Directory listing for /</h1>"), "{dom}");
    // Every name is shown as text, escaped: no markup from a file name reached the DOM.
    assert!(dom.contains("&lt;b&gt;bold.txt</a>"), "{dom}");
    assert!(!dom.contains("<b>bold"), "{dom}");
    for shown in [
        "plain.txt",
        "with space.txt",
        "café.txt",
        "日本語.txt",
        "sub dir/",
    ] {
        assert!(dom.contains(&format!(">{shown}</a>")), "{shown}: {dom}");
    }

    // Each link, resolved against the page, fetches the entry it names.
    let links = hrefs(&dom);
    assert_eq!(links.len(), names.len() + 1, "{links:?}");
    for href in &links {
        assert!(
            !href.contains('#') && !href.contains('?'),
            "unescaped: {href}"
        );
        let res = parse_all(
            &raw(
                server.addr,
                format!("GET /{href} HTTP/1.0\r\n\r\n").as_bytes(),
            )
            .await,
        )
        .remove(0);
        assert_eq!(res.status(), 200, "{href}");
        if href.ends_with('/') {
            assert!(find(&res.body, b"inner.txt").is_some(), "{href}");
        } else {
            let name = names
                .iter()
                .find(|name| res.body == name.as_bytes())
                .unwrap_or_else(|| panic!("{href} served {:?}", res.body));
            assert!(!name.is_empty());
        }
    }

    // The subdirectory's page, reached through the browser too.
    let sub = format!("{base}sub%20dir/");
    let dom = tokio::task::spawn_blocking(move || dump_dom(&chromium, &sub))
        .await
        .expect("chromium task");
    assert!(
        dom.contains("<title>Directory listing for /sub dir/</title>"),
        "{dom}"
    );
    assert_eq!(hrefs(&dom), ["inner.txt"]);
}
