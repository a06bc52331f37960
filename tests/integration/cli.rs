//! The `basehttp` binary: flags, banner, log lines, signals, exit codes.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::support::*;

#[tokio::test]
async fn banner_log_and_ctrl_c_are_pythons() {
    let mut command = basehttp();
    command.args(["0", "--bind", "127.0.0.1"]);
    let mut server = spawn_server_capturing(command);
    let port = server.port;

    let bytes = raw(server.addr(), b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!parse_all(&bytes).is_empty());
    let log = wait_for_output(&server.stderr, |t| t.contains("\" "));
    assert!(
        normalize_log(&log)
            .iter()
            .any(|l| l.starts_with("127.0.0.1 - - [DATE] \"GET /x HTTP/1.1\" ")),
        "{log}"
    );

    server.interrupt();
    assert_eq!(server.wait_exit(), Some(0), "Ctrl-C exits 0 like Python");
    let stdout = wait_for_output(&server.stdout, |t| t.contains("exiting."));
    assert_eq!(stdout, "\nKeyboard interrupt received, exiting.\n");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped listening"
    );
}

/// `RUST_LOG` chooses what `log::init` prints; an invalid one is reported and ignored.
#[tokio::test]
async fn rust_log_is_honoured() {
    for (rust_log, printed) in [("basehttp=warn", false), ("basehttp=loud", true)] {
        let mut command = basehttp();
        command
            .args(["0", "--bind", "127.0.0.1"])
            .env("RUST_LOG", rust_log);
        let mut server = spawn_server_capturing(command);
        let bytes = raw(server.addr(), b"GET /rust-log HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(parse_all(&bytes)[0].status(), 404);
        server.interrupt();
        assert_eq!(server.wait_exit(), Some(0));
        let stderr = server.stderr_to_end();
        assert_eq!(
            stderr.contains("\"GET /rust-log HTTP/1.1\" 404"),
            printed,
            "{rust_log}: {stderr}"
        );
        assert_eq!(
            stderr.contains("ignoring RUST_LOG"),
            printed,
            "{rust_log}: {stderr}"
        );
    }
}

#[test]
fn banner_format() {
    let mut command = basehttp();
    command
        .args(["0", "-b", "127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let port = port_from_banner(&line).unwrap();
    assert_eq!(
        line,
        format!("Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/) ...\n")
    );
}

#[test]
fn ipv6_hosts_are_bracketed_in_the_url() {
    let mut command = basehttp();
    command
        .args(["0", "-b", "::1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let Ok(mut child) = command.spawn() else {
        return;
    };
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
    let _ = child.kill();
    let _ = child.wait();
    if line.is_empty() {
        eprintln!("no IPv6 loopback: skipped");
        return;
    }
    let port = port_from_banner(&line).unwrap();
    assert_eq!(
        line,
        format!("Serving HTTP on ::1 port {port} (http://[::1]:{port}/) ...\n")
    );
}

#[test]
fn sigterm_stops_gracefully() {
    let mut command = basehttp();
    command.args(["0", "-b", "127.0.0.1"]);
    let mut server = spawn_server(command);
    signal(server.child.id(), "TERM");
    assert_eq!(server.wait_exit(), Some(0));
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = basehttp()
        .args([port.as_str(), "-b", "127.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
}

/// Every usage error in argparse's form: the usage, then `basehttp: error: …`, exit 2, whether
/// clap or basehttp's own checks found it.
#[test]
fn usage_errors_are_argparses_and_exit_2() {
    for (args, error) in [
        (
            &["notaport"][..],
            "argument port: invalid int value: 'notaport'",
        ),
        (
            &["70000"],
            "argument port: invalid port value: '70000' (use 0 to 65535)",
        ),
        (
            &["--protocol", "HTTP/3.0"],
            "argument -p/--protocol: invalid choice: 'HTTP/3.0' (choose from HTTP/1.0, HTTP/1.1, HTTP/2.0)",
        ),
        (
            &["--directory", "/definitely/not/here"],
            "argument -d/--directory: not a directory: '/definitely/not/here'",
        ),
        (
            &["--no-such-flag"],
            "unrecognized arguments: --no-such-flag",
        ),
        (&["-b"], "argument -b/--bind: expected one argument"),
        (
            &["--tls-key", "k.pem"],
            "--tls-key requires --tls-cert to be set",
        ),
    ] {
        let output = basehttp().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(lines[0].starts_with("usage: basehttp [-h] "), "{stderr}");
        assert_eq!(
            lines.last().copied(),
            Some(format!("basehttp: error: {error}").as_str()),
            "{args:?}"
        );
    }
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    let output = basehttp().arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--bind", "--directory", "--protocol", "--cgi", "[port]"] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    assert!(output.stderr.is_empty());
}

/// `--help` side by side with CPython 3.14's own: every option Python has is printed exactly as
/// argparse prints it (basehttp's additions follow, in the same layout).
#[test]
fn help_matches_cpython_314_for_pythons_options() {
    let Some((python, lib)) = cpython314() else {
        return;
    };
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/run.py");
    let theirs = std::process::Command::new(python)
        .arg(script)
        .args(["cli", "0", "--help"])
        .env("BASEHTTP_CPYTHON_LIB", lib)
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    let ours = basehttp().arg("--help").output().unwrap();
    let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
    let from = |help: &str| {
        help.find("positional arguments:")
            .map(|at| help[at..].to_owned())
            .unwrap_or_default()
    };
    let (theirs, ours) = (from(&theirs), from(&ours));
    assert!(theirs.contains("--tls-password-file PATH"), "{theirs}");
    assert!(
        ours.starts_with(&theirs),
        "CPython:\n{theirs}\nbasehttp:\n{ours}"
    );
}

#[tokio::test]
async fn protocol_sets_the_status_line_version() {
    for (flag, expected) in [("HTTP/1.1", "HTTP/1.1 "), ("HTTP/1.0", "HTTP/1.0 ")] {
        let mut command = basehttp();
        command.args(["0", "-b", "127.0.0.1", "-p", flag]);
        let server = spawn_server(command);
        let mut stream = connect(server.addr()).await;
        stream
            .write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let res = read_response(&mut stream, true).await.expect("response");
        assert!(res.status_line.starts_with(expected), "{}", res.status_line);
    }
}

#[tokio::test]
async fn follow_symlinks_restores_pythons_links_out_of_the_folder() {
    let fixture = crate::fixture::Fixture::new();
    for (flag, status) in [(None, 404), (Some("--follow-symlinks"), 200)] {
        let mut command = basehttp();
        command
            .args(["0", "-b", "127.0.0.1", "-d"])
            .arg(fixture.root())
            .args(flag);
        let server = spawn_server(command);
        let bytes = raw(server.addr(), b"GET /out-lnk HTTP/1.0\r\n\r\n").await;
        let res = parse_all(&bytes).remove(0);
        assert_eq!(res.status(), status, "{flag:?}");
        if status == 200 {
            assert_eq!(res.body, crate::fixture::SECRET);
        }
    }
}

#[tokio::test]
async fn allow_missing_host_restores_pythons_leniency() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    for (flag, status) in [(None, 400), (Some("--allow-missing-host"), 200)] {
        let mut command = basehttp();
        command
            .args(["0", "-b", "127.0.0.1", "-q", "-d"])
            .arg(dir.path())
            .args(flag);
        let server = spawn_server(command);
        let bytes = raw(server.addr(), b"GET /a.txt HTTP/1.1\r\n\r\n").await;
        let res = parse_all(&bytes).remove(0);
        assert_eq!(res.status(), status, "{flag:?}");
    }
}

#[tokio::test]
async fn quiet_prints_no_request_lines() {
    for (quiet, lines) in [(false, 2), (true, 0)] {
        let mut command = basehttp();
        command
            .args(["0", "-b", "127.0.0.1"])
            .args(quiet.then_some("-q"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut banner).unwrap();
        let port = port_from_banner(&banner).unwrap();
        let bytes = raw(
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            b"GET /missing HTTP/1.0\r\n\r\n",
        )
        .await;
        assert_eq!(parse_all(&bytes)[0].status(), 404);
        signal(child.id(), "INT");
        // Reads stderr to its end: everything the process printed.
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            normalize_log(&stderr).len(),
            lines,
            "quiet={quiet}: {stderr}"
        );
    }
}

/// Python 3.15's `-H/--header`: on files and listings, not on redirects or errors.
#[tokio::test]
async fn header_flags_add_response_headers_to_files_and_listings() {
    let fixture = crate::fixture::Fixture::new();
    let mut command = basehttp();
    command
        .args(["0", "-b", "127.0.0.1", "-H", "X-Test: one", "--header"])
        .arg("Cache-Control :  no-store ")
        .arg("-d")
        .arg(fixture.root());
    let server = spawn_server(command);
    for (target, status, has) in [
        ("/", 200, true),
        ("/hello.txt", 200, true),
        ("/sub", 301, false),
        ("/missing", 404, false),
    ] {
        let raw_request = format!("GET {target} HTTP/1.0\r\n\r\n");
        let res = parse_all(&raw(server.addr(), raw_request.as_bytes()).await).remove(0);
        assert_eq!(res.status(), status, "{target}");
        let expected = has.then_some(("one", "no-store"));
        let found = res
            .header("x-test")
            .zip(res.header("cache-control"))
            .map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(
            found,
            expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
            "{target}"
        );
    }

    for bad in ["NoColon", ": empty", "Bad Name: v"] {
        let output = basehttp().args(["0", "-H", bad]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("Header {bad} ")), "{stderr}");
    }
}

/// `--memory-cache-valid` reaches the file server: within the window, a kept file that has
/// since been removed is still served (without it, the removal is seen at once).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn memory_cache_valid_trusts_a_kept_file() {
    let fixture = crate::fixture::Fixture::new();
    crate::fixture::write(&fixture.root().join("kept.txt"), b"kept\n");
    // Only files whose change time is a second old are kept: let it settle once.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut servers = Vec::new();
    for valid in ["0", "3600"] {
        let mut command = basehttp();
        command
            .args(["0", "-b", "127.0.0.1", "-q", "-d"])
            .arg(fixture.root())
            .args(["--memory-cache-valid", valid]);
        servers.push(spawn_server(command));
    }
    let request = b"GET /kept.txt HTTP/1.0\r\n\r\n";
    // The first request opens the folder (on the blocking pool), the second keeps the file.
    for server in servers.iter().chain(&servers) {
        let res = &parse_all(&raw(server.addr(), request).await)[0];
        assert_eq!(&res.body[..], b"kept\n");
    }
    std::fs::remove_file(fixture.root().join("kept.txt")).unwrap();
    let mut statuses = Vec::new();
    for server in &servers {
        statuses.push(parse_all(&raw(server.addr(), request).await)[0].status());
    }
    assert_eq!(statuses, [404, 200]);
}

/// `--sendfile`: files still arrive whole, twice on one kept-alive connection and as a range.
#[tokio::test]
async fn sendfile_sends_files_whole() {
    let fixture = crate::fixture::Fixture::new();
    let big = crate::fixture::Fixture::big();
    for flag in [None, Some("--sendfile")] {
        let mut command = basehttp();
        command
            .args(["0", "-b", "127.0.0.1", "-q", "-p", "HTTP/1.1", "-d"])
            .arg(fixture.root())
            .args(flag);
        let server = spawn_server(command);
        let bytes = raw(
            server.addr(),
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=5-1000000\r\n\r\n",
        )
        .await;
        let responses = parse_all(&bytes);
        assert_eq!(responses.len(), 2, "{flag:?}");
        assert!(responses[0].body == big, "{flag:?}");
        assert!(responses[1].body[..] == big[5..=1_000_000], "{flag:?}");
    }
}
