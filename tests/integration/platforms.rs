//! The Windows smoke test, run here: a server with Windows' file-name rules selected
//! (`PathRules::Windows`, the default on Windows) answers a file, a listing, a redirect, a `404`,
//! and refuses every form Windows reads as another name — traversal through `\` and `%5c`,
//! drives, UNC forms, device names, alternate data streams, trailing dots and spaces, 8.3 short
//! names. The tree holds files that really carry those names (Linux allows them), so each
//! refusal is the rule's doing and not a missing file: with POSIX names the same requests are
//! served.

use std::fs;

use basehttp::static_files::{PathRules, StaticFiles};

use crate::fixture::write;
use crate::support::*;

/// A served tree with the names Windows aliases, and a file outside it.
struct Tree {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("win.ini"), "outside").unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join("PROGRA~1")).unwrap();
    fs::create_dir_all(root.join("D:/Windows")).unwrap();
    write(&root.join("file.txt"), b"hello\n");
    write(&root.join("sub/a.txt"), b"a\n");
    write(&root.join("PROGRA~1/x.txt"), b"short\n");
    // Names a Windows file system has no file for: there, each opens something else. Each
    // request of `ALIASES` finds one of them with POSIX names.
    for name in [
        "..\\..\\win.ini",
        "sub\\..\\..\\win.ini",
        "a\\b.txt",
        "D:/Windows/win.ini",
        "C:",
        "C:\\win.ini",
        "\\\\server\\share\\file.txt",
        "CON",
        "con",
        "NUL.txt",
        "nul.txt",
        "com1.log",
        "file.txt::$DATA",
        "file.txt:stream",
        "file.txt.",
        "file.txt ",
    ] {
        write(
            &root.join(name),
            format!("a file named {name}\n").as_bytes(),
        );
    }
    Tree { _dir: dir, root }
}

async fn get(server: &TestServer, target: &str) -> RawResponse {
    get_once(server.addr, target, "Host: x\r\n").await
}

/// The requests that Windows would read as another name than their own; with POSIX names each
/// finds a file (or directory) of this tree.
const ALIASES: &[&str] = &[
    // `..\` traversal, raw and encoded; with POSIX names `\` is part of a name.
    "/..\\..\\win.ini",
    "/..%5c..%5cwin.ini",
    "/sub%5c..%5c..%5cwin.ini",
    "/a%5cb.txt",
    // Drives and UNC forms.
    "/D:/Windows/win.ini",
    "/C:",
    "/C:%5cwin.ini",
    "/%5c%5cserver%5cshare%5cfile.txt",
    // Devices, with and without extension, in any case.
    "/CON",
    "/con",
    "/NUL.txt",
    "/nul.txt",
    "/com1.log",
    // Alternate data streams.
    "/file.txt::$DATA",
    "/file.txt%3A%3A%24DATA",
    "/file.txt:stream",
    // Trailing dots and spaces.
    "/file.txt.",
    "/file.txt%20",
    // 8.3 short names.
    "/PROGRA~1/x.txt",
    "/PROGRA~1/",
];

#[tokio::test]
async fn windows_names_answer_as_specified() {
    let tree = tree();
    let server = serve(StaticFiles::new(&tree.root).path_rules(PathRules::Windows)).await;

    // What works as everywhere.
    let file = get(&server, "/file.txt").await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.body, b"hello\n");
    let listing = get(&server, "/sub/").await;
    assert_eq!(listing.status(), 200);
    let page = String::from_utf8_lossy(&listing.body);
    assert!(
        page.contains("<title>Directory listing for /sub/</title>"),
        "{page}"
    );
    assert!(page.contains("<a href=\"a.txt\">a.txt</a>"), "{page}");
    let redirect = get(&server, "/sub?q=1").await;
    assert_eq!(redirect.status(), 301);
    assert_eq!(redirect.header("location"), Some("/sub/?q=1"));
    let missing = get(&server, "/missing.txt").await;
    assert_eq!(missing.status(), 404);
    // A UNC form spelled with slashes stays below the root, as on Unix.
    assert_eq!(get(&server, "//server/share/file.txt").await.status(), 404);
    assert_eq!(get(&server, "//sub/a.txt").await.status(), 200);

    // Every alias: Python's 404 page, whatever is on disk.
    for target in ALIASES {
        let refused = get(&server, target).await;
        assert_eq!(refused.status(), 404, "{target}");
        let page = String::from_utf8_lossy(&refused.body);
        assert!(page.contains("File not found"), "{target}: {page}");
        assert!(!page.contains("a file named"), "{target}");
    }
    // Names that merely look alike are served.
    let con = get(&server, "/CON/../file.txt").await;
    assert_eq!(
        con.status(),
        200,
        "`..` is applied before the names are judged"
    );
    server.shutdown.shutdown().await;
}

#[tokio::test]
async fn posix_names_serve_the_same_requests() {
    let tree = tree();
    let server = serve(StaticFiles::new(&tree.root).path_rules(PathRules::Posix)).await;
    for target in ALIASES {
        let answer = get(&server, target).await;
        assert_eq!(answer.status(), 200, "{target}");
        let body = String::from_utf8_lossy(&answer.body);
        assert!(
            body.starts_with("a file named")
                || body == "short\n"
                || body.contains("Directory listing for /PROGRA~1/"),
            "{target}: {body}"
        );
    }
    server.shutdown.shutdown().await;
}

/// The switch back: Python's own translation on Windows skips `\` and drive components and
/// keeps the rest (here, on Linux, those are plain file names).
#[tokio::test]
async fn windows_as_python_skips_and_opens_as_python_does() {
    let tree = tree();
    let server = serve(StaticFiles::new(&tree.root).path_rules(PathRules::WindowsAsPython)).await;
    // `C:` is skipped: `/C:/file.txt` is `/file.txt`.
    let drive = get(&server, "/C:/file.txt").await;
    assert_eq!(drive.status(), 200);
    assert_eq!(drive.body, b"hello\n");
    // `..\..\win.ini` is one component with a `\`: skipped, leaving the root, which redirects.
    let skipped = get(&server, "/..%5c..%5cwin.ini").await;
    assert_eq!(skipped.status(), 301);
    assert_eq!(skipped.header("location"), Some("/..%5c..%5cwin.ini/"));
    for target in ["/NUL.txt", "/file.txt::$DATA", "/file.txt."] {
        let opened = get(&server, target).await;
        assert_eq!(opened.status(), 200, "{target}");
    }
    server.shutdown.shutdown().await;
}
