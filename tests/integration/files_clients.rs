//! File serving with real clients: `wget -r` mirrors the tree through the listing pages, `curl`
//! resumes, ranges, revalidates and follows redirects; the `basehttp` binary answers and logs
//! like `python -m http.server` in the same folder. Each test skips itself when its client is not
//! installed.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use basehttp::static_files::StaticFiles;

use crate::fixture::{Fixture, MTIME_HTTP};
use crate::support::*;

/// Every regular file below `dir` (symlinks followed), by relative path bytes.
fn files_below(dir: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                walk(base, &path, out);
            } else if meta.is_file() {
                let relative = path.strip_prefix(base).unwrap();
                out.insert(
                    relative.as_os_str().as_bytes().to_vec(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn is_listing(bytes: &[u8]) -> bool {
    bytes.starts_with(b"<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n")
        && find(bytes, b"<title>Directory listing for ").is_some()
}

#[tokio::test]
async fn wget_mirrors_the_tree_through_the_listings() {
    if !installed("wget") {
        return;
    }
    let fixture = Fixture::new();
    let root = fixture.root();
    // What cannot be mirrored through listings: special files, links leaving the root, and the
    // directories whose index page hides their listing.
    std::fs::remove_dir_all(root.join("special")).unwrap();
    std::fs::remove_file(root.join("out-lnk")).unwrap();
    std::fs::remove_file(root.join("out-dirlnk")).unwrap();
    std::fs::remove_dir_all(root.join("index-dir")).unwrap();
    std::fs::remove_dir_all(root.join("htm-dir")).unwrap();
    let server = serve(StaticFiles::new(&root)).await;

    let mirror = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", server.addr);
    let dir = mirror.path().to_owned();
    let status = tokio::task::spawn_blocking(move || {
        Command::new("wget")
            .args(["-q", "-r", "-np", "-nH", "-e", "robots=off"])
            .arg("--restrict-file-names=nocontrol")
            .arg("-P")
            .arg(&dir)
            .arg(url)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "wget: {status}");

    let expected = files_below(&root);
    let mut mirrored = files_below(mirror.path());
    // wget saves each listing as `index.html`; nothing else may be extra.
    mirrored.retain(|name, bytes| !(name.ends_with(b"index.html") && is_listing(bytes)));
    let names = |map: &BTreeMap<Vec<u8>, Vec<u8>>| {
        map.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&mirrored), names(&expected));
    assert!(mirrored == expected, "the contents differ");
    // The name that is not UTF-8 came back byte for byte.
    assert!(mirrored.contains_key(b"weird/\xffname.txt".as_slice()));
}

/// Runs curl with `args` against `url`, returning stdout.
async fn curl(args: &[&str], url: String) -> Vec<u8> {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(&args)
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn curl_downloads_resumes_and_revalidates() {
    if !installed("curl") {
        return;
    }
    let fixture = Fixture::new();
    let server = serve(StaticFiles::new(fixture.root())).await;
    let base = format!("http://{}", server.addr);

    let body = curl(&[], format!("{base}/caf%C3%A9.txt")).await;
    assert_eq!(body, "content of café.txt\n".as_bytes());

    // -L follows Python's redirect to the listing.
    let page = curl(&["-L"], format!("{base}/sub")).await;
    assert!(is_listing(&page));

    // -r asks for a range.
    let part = curl(&["-r", "0-3"], format!("{base}/big.bin")).await;
    assert_eq!(part, Fixture::big()[..4]);

    // -C - resumes a partial download.
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("big.bin");
    std::fs::write(&path, &Fixture::big()[..1_000_000]).unwrap();
    let path_arg = path.to_str().unwrap().to_owned();
    curl(&["-C", "-", "-o", &path_arg], format!("{base}/big.bin")).await;
    assert!(std::fs::read(&path).unwrap() == Fixture::big());

    // -z sends If-Modified-Since: nothing comes back for an unchanged file.
    let since = curl(&["-z", MTIME_HTTP], format!("{base}/hello.txt")).await;
    assert!(since.is_empty());
    let head = curl(&["-I", "-z", MTIME_HTTP], format!("{base}/hello.txt")).await;
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.0 304 Not Modified\r\n"));
    let old = curl(
        &["-z", "Mon, 13 Nov 2023 00:00:00 GMT"],
        format!("{base}/hello.txt"),
    )
    .await;
    assert_eq!(old, b"hello\n");
}

#[tokio::test]
async fn the_binary_answers_and_logs_like_python_in_the_same_folder() {
    let fixture = Fixture::new();
    let root = fixture.root();
    let mut ours = basehttp();
    ours.args(["0", "--bind", "127.0.0.1", "--directory"])
        .arg(&root);
    let ours = spawn_server_capturing(ours);
    // CPython 3.14 when it is there; else the local Python, whose error pages (3.11: no
    // `color-scheme` block) are not compared.
    let (theirs, is_314) = match spawn_oracle(&[OsStr::new("--directory"), root.as_os_str()]) {
        Some(theirs) => (theirs, true),
        None => {
            let Some(python) = python3() else {
                return;
            };
            let mut theirs = Command::new(python);
            theirs
                .args([
                    "-m",
                    "http.server",
                    "0",
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                ])
                .arg(&root);
            (spawn_server_capturing(theirs), false)
        }
    };

    let requests: &[&[u8]] = &[
        b"GET /hello.txt HTTP/1.0\r\n\r\n",
        b"GET /sub HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /missing?x=1 HTTP/1.0\r\n\r\n",
        b"HEAD /Sub%20Dir/file.txt HTTP/1.0\r\n\r\n",
        b"POST /hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        b"GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
        b"GET /../outside/secret.txt HTTP/1.0\r\n\r\n",
    ];
    for request in requests {
        let a = parse_all(&raw(ours.addr(), request).await);
        let b = parse_all(&raw(theirs.addr(), request).await);
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 1);
        assert_eq!(a[0].status_line, b[0].status_line, "{request:?}");
        let same_page = is_314 || a[0].status() < 400;
        if same_page {
            assert_eq!(a[0].body, b[0].body, "{request:?}");
        }
        // The same headers, but for Date, Server and the two basehttp adds.
        let headers = |r: &RawResponse| {
            r.headers
                .iter()
                .filter(|(n, _)| {
                    !matches!(n.as_str(), "date" | "server" | "etag" | "accept-ranges")
                })
                .filter(|(n, _)| same_page || n != "content-length")
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(headers(&a[0]), headers(&b[0]), "{request:?}");
        assert_eq!(
            a[0].header("server").map(|s| s.split(' ').next()),
            b[0].header("server").map(|s| s.split(' ').next())
        );
    }
    let count = requests.len() + 3; // three errors log two lines each
    let ours_log = wait_for_output(&ours.stderr, |t| normalize_log(t).len() >= count);
    let theirs_log = wait_for_output(&theirs.stderr, |t| normalize_log(t).len() >= count);
    assert_eq!(normalize_log(&ours_log), normalize_log(&theirs_log));
}
