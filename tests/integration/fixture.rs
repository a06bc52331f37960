//! The document tree the file-serving tests serve: awkward names, symlinks in and out of the
//! root, special files, fixed mtimes.
//!
//! ```text
//! <tmp>/outside/secret.txt        TOP SECRET (never reachable by default)
//! <tmp>/root/                     the served directory
//!     hello.txt                   "hello\n", mtime 1700000000
//!     a b&<c>.txt   q?#%.txt   plus+semi;colon.txt   café.txt   日本語.txt   .hidden
//!     Upper.TXT  lower.txt        (case-insensitive ordering)
//!     types/                      page.html style.css app.js data.json pic.png a.tar.gz x.Z
//!                                 x.bz2 x.xz noext
//!     index-dir/index.html  htm-dir/index.htm  empty/  sub/inner.txt  Sub Dir/file.txt
//!     weird/<0xff>name.txt        a name that is not UTF-8
//!     lnk -> hello.txt            dirlnk -> sub             (inside: served)
//!     out-lnk -> ../outside/secret.txt  out-dirlnk -> ../outside   (outside: refused)
//!     special/fifo  special/sock  a FIFO and a socket
//!     big.bin                     3 MiB of varied bytes
//! ```

#![allow(dead_code)]

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The mtime every fixture file gets: `Tue, 14 Nov 2023 22:13:20 GMT`.
pub const MTIME: u64 = 1_700_000_000;
pub const MTIME_HTTP: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
pub const SECRET: &[u8] = b"TOP SECRET";
pub const BIG_LEN: usize = 3 * 1024 * 1024;

pub struct Fixture {
    dir: tempfile::TempDir,
    /// Keeps `special/sock` a listening socket.
    _socket: std::os::unix::net::UnixListener,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("basehttp-files-")
            .tempdir()
            .expect("temp dir");
        let base = dir.path();
        let root = base.join("root");
        fs::create_dir_all(base.join("outside")).unwrap();
        write(&base.join("outside/secret.txt"), SECRET);
        fs::create_dir_all(&root).unwrap();

        write(&root.join("hello.txt"), b"hello\n");
        for name in [
            "a b&<c>.txt",
            "q?#%.txt",
            "plus+semi;colon.txt",
            "café.txt",
            "日本語.txt",
            ".hidden",
            "Upper.TXT",
            "lower.txt",
        ] {
            write(&root.join(name), format!("content of {name}\n").as_bytes());
        }
        fs::create_dir_all(root.join("types")).unwrap();
        for name in [
            "page.html",
            "style.css",
            "app.js",
            "data.json",
            "pic.png",
            "a.tar.gz",
            "x.Z",
            "x.bz2",
            "x.xz",
            "noext",
        ] {
            write(&root.join("types").join(name), name.as_bytes());
        }
        for dir in [
            "index-dir",
            "htm-dir",
            "empty",
            "sub",
            "Sub Dir",
            "weird",
            "special",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        write(&root.join("index-dir/index.html"), b"<h1>index.html</h1>\n");
        write(&root.join("index-dir/other.txt"), b"other\n");
        write(&root.join("htm-dir/index.htm"), b"<h1>index.htm</h1>\n");
        write(&root.join("sub/inner.txt"), b"inner\n");
        write(&root.join("Sub Dir/file.txt"), b"in a spaced dir\n");
        let weird = root
            .join("weird")
            .join(std::ffi::OsStr::from_bytes(b"\xffname.txt"));
        write(&weird, b"not utf-8\n");
        std::os::unix::fs::symlink("hello.txt", root.join("lnk")).unwrap();
        std::os::unix::fs::symlink("sub", root.join("dirlnk")).unwrap();
        std::os::unix::fs::symlink("../outside/secret.txt", root.join("out-lnk")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("out-dirlnk")).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(root.join("special/fifo"))
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let socket = std::os::unix::net::UnixListener::bind(root.join("special/sock")).unwrap();
        let big: Vec<u8> = (0..BIG_LEN)
            .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
            .collect();
        write(&root.join("big.bin"), &big);
        Self {
            dir,
            _socket: socket,
        }
    }

    /// The served directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    pub fn big() -> Vec<u8> {
        (0..BIG_LEN)
            .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
            .collect()
    }
}

/// Writes `contents` to `path` and gives it the fixed mtime.
pub fn write(path: &Path, contents: &[u8]) {
    fs::write(path, contents).unwrap();
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME))
        .unwrap();
}
