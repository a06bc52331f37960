//! The server under hostile load: one test per attack that used to work, each against a real
//! server on 127.0.0.1 (HTTP/2 frames from the `h2` client library, raw HTTP/1 bytes, real CGI
//! scripts as real processes, the real binary where memory is measured). Every loop is bounded
//! in count and in time.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use basehttp::cgi::Cgi;
use basehttp::prelude::*;
use basehttp::server::HttpServer;
use basehttp::static_files::StaticFiles;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// A document root with a large file and CGI scripts.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("basehttp-hostile-")
            .tempdir()
            .expect("temp dir");
        // Scripts run as `nobody` when the tests run as root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("big.bin"), vec![b'x'; 8 << 20]).unwrap();
        std::fs::write(dir.path().join("small.html"), b"<p>small</p>\n").unwrap();
        // Where scripts (run as `nobody` under root) leave the ids of what they start.
        let pids = dir.path().join("pids");
        std::fs::create_dir(&pids).unwrap();
        std::fs::set_permissions(&pids, std::fs::Permissions::from_mode(0o777)).unwrap();
        let root = Self { dir };
        root.script(
            "hello.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n",
        );
        root.script(
            "env.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nenv\n",
        );
        // Answers 3 MB without reading its input.
        root.script(
            "big.sh",
            "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\nContent-Length: 3000000\\n\\n'\n\
             exec head -c 3000000 /dev/zero\n",
        );
        // Starts a daemon in a session of its own, out of the script's process group. The
        // daemon writes its own pid (`setsid` forks when it is a group leader, so `$!` may be
        // a process that is gone at once), and the script answers once it has.
        root.script(
            "daemon.sh",
            "#!/bin/sh\n\
             sed -n 's/^0:://p' /proc/$$/cgroup > \"$PIDS/cgroup\"\n\
             setsid sh -c 'echo $$ > \"$PIDS/daemon.new\" && mv \"$PIDS/daemon.new\" \"$PIDS/daemon\"; exec sleep 300' \
             </dev/null >/dev/null 2>&1 &\n\
             i=0\n\
             while [ ! -e \"$PIDS/daemon\" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done\n\
             printf 'Content-Type: text/plain\\n\\nstarted\\n'\n",
        );
        root.script(
            "length.sh",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s' \"$CONTENT_LENGTH\"\n",
        );
        root
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn script(&self, name: &str, text: &str) {
        let path = self.path().join("cgi-bin").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::set_permissions(
            path.parent().unwrap(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Python's `--cgi` handler over this root.
    fn cgi(&self, configure: impl FnOnce(Cgi) -> Cgi) -> Cgi<StaticFiles> {
        configure(Cgi::new(self.path()).env("PIDS", self.path().join("pids")))
            .into_layer()
            .layer(StaticFiles::new(self.path()))
    }
}

/// The descriptors of this process open on `path`.
fn descriptors_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.flatten()
                .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
                .count()
        })
        .unwrap_or(0)
}

/// Polls `done` every 20 ms until it holds, for at most `limit`; whether it did.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request on a new connection; the parsed response (the server closes after it).
async fn get(addr: std::net::SocketAddr, request: &[u8]) -> RawResponse {
    let bytes = raw(addr, request).await;
    parse_all(&bytes)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no response: {:?}", String::from_utf8_lossy(&bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_held_by_a_closed_window_end_at_the_write_timeout() {
    let root = Root::new();
    let big = root.path().join("big.bin");
    let server = serve_configured(StaticFiles::new(root.path()), |s| {
        s.http2(true).write_timeout(Duration::from_millis(500))
    })
    .await;

    // A client that never opens its flow-control window: every response stalls at once, with
    // no write pending on the socket.
    let tcp = connect(server.addr).await;
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let mut responses = Vec::new();
    for _ in 0..32 {
        let request = http::Request::get(format!("http://{}/big.bin", server.addr))
            .body(())
            .unwrap();
        let (response, _) = client.send_request(request, true).unwrap();
        responses.push(response);
        client = client.ready().await.unwrap();
    }
    // Kept: dropping one would cancel its stream.
    let mut bodies = Vec::new();
    for response in responses {
        let response = tokio::time::timeout(WAIT, response).await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.into_body());
    }
    assert!(
        descriptors_on(&big) >= 1,
        "the stalled responses hold the file open"
    );

    // The server gives up on them after the write timeout: the connection ends, and with it
    // every stream's file.
    let started = Instant::now();
    let ended = tokio::time::timeout(WAIT, connection).await;
    assert!(ended.is_ok(), "the stalled connection was never closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        eventually(WAIT, || descriptors_on(&big) == 0).await,
        "the files of the stalled streams were left open"
    );
    drop(bodies);
    // Still serving.
    let res = get(server.addr, b"GET /small.html HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_chunked_body_holds_no_script_slot_and_times_out() {
    let root = Root::new();
    let server = serve(root.cgi(|cgi| {
        cgi.max_scripts(1)
            .queue_timeout(Duration::from_millis(300))
            .body_timeout(Duration::from_millis(1500))
    }))
    .await;

    // Sends one chunk of a body that never ends.
    let mut trickler = connect(server.addr).await;
    trickler
        .write_all(
            b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              1\r\na\r\n",
        )
        .await
        .unwrap();
    let started = Instant::now();

    // The only script slot is free for everyone else meanwhile.
    for _ in 0..3 {
        let res = get(server.addr, b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
        assert_eq!(res.status(), 200, "{res:?}");
        assert_eq!(res.body, b"hello\n");
    }

    // The trickler gets 408 at the body timeout.
    let res = tokio::time::timeout(WAIT, read_response(&mut trickler, false))
        .await
        .expect("the spool has a deadline")
        .expect("a response");
    assert_eq!(res.status(), 408);
    assert!(started.elapsed() >= Duration::from_millis(1400));

    // A complete chunked body still reaches its script, with its exact length.
    let res = get(
        server.addr,
        b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, b"5");
}

#[tokio::test]
async fn spooled_bodies_share_one_disk_budget() {
    let root = Root::new();
    let server = serve(root.cgi(|cgi| cgi.max_spool_total(16))).await;
    // One spool within the budget.
    let res = get(
        server.addr,
        b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          a\r\n0123456789\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, b"10");

    // Twenty bytes do not fit in 16: turned away as soon as the spool would pass the budget.
    let res = get(
        server.addr,
        b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(res.status(), 503);
    // What a spool reserved is given back when it ends: the budget is whole again.
    for _ in 0..3 {
        let res = get(
            server.addr,
            b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.body, b"16");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_upload_still_gets_the_whole_response() {
    let root = Root::new();
    let server = serve(root.cgi(|cgi| cgi)).await;
    let upload = vec![b'u'; 8 << 20];
    // A script that answers 3 MB without reading the 8 MB sent to it: closing with the upload
    // unread used to reset the connection and destroy the end of the answer.
    for attempt in 0..5 {
        let mut request = format!(
            "POST /cgi-bin/big.sh HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            upload.len()
        )
        .into_bytes();
        request.extend_from_slice(&upload);
        let (mut reader, mut writer) = connect(server.addr).await.into_split();
        let writing = tokio::spawn(async move {
            // The server stops reading at some point: that is the point.
            let _ = writer.write_all(&request).await;
            writer
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(WAIT, reader.read_to_end(&mut answer))
            .await
            .expect("the answer comes");
        assert!(
            read.is_ok(),
            "attempt {attempt}: {read:?} after {} bytes",
            answer.len()
        );
        let res = parse_all(&answer).remove(0);
        assert_eq!(res.status(), 200);
        assert_eq!(res.body.len(), 3_000_000, "attempt {attempt}");
        writing.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_closes_slowloris_connections_for_new_clients() {
    let root = Root::new();
    let server = serve_configured(StaticFiles::new(root.path()), |s| {
        s.max_connections(16)
            .header_read_timeout(Duration::from_secs(30))
    })
    .await;
    // Every slot taken by a client that never finishes its request head.
    let mut loris = Vec::new();
    for _ in 0..24 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-a")
            .await
            .unwrap();
        loris.push(stream);
    }
    // Each probe is served at once (a slowloris connection makes room), not after the header
    // timeout.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let res = tokio::time::timeout(
            Duration::from_secs(2),
            get(server.addr, b"GET /small.html HTTP/1.0\r\n\r\n"),
        )
        .await
        .expect("a new client waited behind the slowloris connections");
        assert_eq!(res.status(), 200);
        worst = worst.max(started.elapsed());
        // The attacker reconnects at once.
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-a").await;
        loris.push(stream);
    }
    assert!(worst < Duration::from_secs(1), "worst {worst:?}");

    // A connection busy with a request is never the one closed: it completes.
    let mut busy = connect(server.addr).await;
    busy.write_all(b"GET /big.bin HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    busy.read_exact(&mut head).await.unwrap();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-a").await;
        loris.push(stream);
    }
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, busy.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest.len() - find(&rest, b"\r\n\r\n").unwrap() - 4, 8 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_made_to_give_room_close_whatever_stage_they_are_at() {
    let root = Root::new();
    let server = serve_configured(StaticFiles::new(root.path()), |s| {
        s.http2(true)
            .max_connections(8)
            .header_read_timeout(Duration::from_secs(30))
    })
    .await;
    // Half an HTTP/2 preface each: the server is still deciding which protocol they speak.
    let mut halves = Vec::new();
    for _ in 0..24 {
        let mut stream = connect(server.addr).await;
        stream.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        halves.push(stream);
        // Old enough to give room to the next one.
        tokio::time::sleep(Duration::from_millis(210)).await;
    }
    // All but the last 8 are closed (not left open past the cap until their timeout).
    let mut closed = 0;
    for stream in &mut halves {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 16, "only {closed} of 24 were closed");
    let res = get(server.addr, b"GET /small.html HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
}

/// The binary serving `root` (HTTP/1.1, quiet) on a free port.
fn spawn_binary(root: &Root) -> ChildGuard {
    let mut command = basehttp();
    command.args(["-b", "127.0.0.1", "-q", "-d"]);
    command.arg(root.path());
    command.args(["-p", "HTTP/1.1", "0"]);
    spawn_server(command)
}

/// `count` clients that send `request` and never read (4 KiB receive buffers).
async fn non_readers(
    addr: std::net::SocketAddr,
    count: usize,
    request: &[u8],
) -> Vec<tokio::net::TcpStream> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        clients.push(stream);
    }
    clients
}

/// The resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_read_cost_about_one_chunk_each() {
    let root = Root::new();
    let server = spawn_binary(&root);
    let addr = server.addr();
    let pid = server.child.id();
    // Warm up: one full download.
    let res = get(addr, b"GET /big.bin HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body.len(), 8 << 20);
    let before = rss_kib(pid);

    // 100 clients that ask for 8 MiB and read none of it.
    let clients = 100;
    let stalled = non_readers(addr, clients, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // Once every one of them has its response under way and the server has stopped producing.
    let mut settled = 0;
    let mut last = 0;
    let deadline = Instant::now() + WAIT;
    while settled < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = rss_kib(pid);
        settled = if now.abs_diff(last) < 256 {
            settled + 1
        } else {
            0
        };
        last = now;
    }
    let per_client = last.saturating_sub(before) / clients as u64;
    // The server's own memory: one 64 KiB chunk in hyper's hands and one being read ahead,
    // plus the connection's buffers. Before: ~540 KiB.
    assert!(
        per_client <= 200,
        "{per_client} KiB per client that does not read"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_a_huge_listing_that_do_not_read_share_one_page() {
    let root = Root::new();
    let many = root.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..20_000 {
        std::fs::File::create(many.join(format!("file-{i:05}.txt"))).unwrap();
    }
    let server = spawn_binary(&root);
    let addr = server.addr();
    let pid = server.child.id();
    let page = get(addr, b"GET /many/ HTTP/1.0\r\n\r\n").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.body.len() > 1 << 20,
        "a page of {} bytes",
        page.body.len()
    );
    let before = rss_kib(pid);

    let clients = 100;
    let mut stalled = non_readers(addr, clients, b"GET /many/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // Every response under way: each client has the start of its page.
    for stream in &mut stalled {
        let mut head = [0u8; 12];
        tokio::time::timeout(WAIT, stream.read_exact(&mut head))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    let grown = rss_kib(pid).saturating_sub(before);
    // One copy per client was 229 MB; now the page is shared, and the listings built at once
    // are bounded (what remains is the allocator's arenas).
    assert!(
        grown < 64 * 1024,
        "{grown} KiB for {clients} clients of a {} byte page",
        page.body.len()
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_never_outlasts_the_shutdown_timeout() {
    let root = Root::new();
    let server = HttpServer::bind(("127.0.0.1", 0), StaticFiles::new(root.path()))
        .await
        .unwrap()
        .http2(true)
        .header_read_timeout(Duration::from_secs(30))
        .shutdown_timeout(Duration::from_millis(500));
    let server = TestServer::start(server);
    // Stages a connection can be in outside a request: half an HTTP/2 preface, a download
    // that is not read (with its upload unread, so that closing it lingers).
    let mut preface = connect(server.addr).await;
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut reader = socket.connect(server.addr).await.unwrap();
    reader
        .write_all(b"POST /big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    let _ = tokio::time::timeout(WAIT, reader.read_exact(&mut head)).await;

    let started = Instant::now();
    tokio::time::timeout(WAIT, server.shutdown.shutdown())
        .await
        .expect("serve_forever returned");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "the drain took {took:?} with a 500 ms shutdown timeout"
    );
    // New clients were refused from the start.
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
    drop((preface, reader));
}

#[tokio::test]
async fn ambiguous_framing_is_refused_before_any_service_runs() {
    let root = Root::new();
    let server = serve(root.cgi(|cgi| cgi)).await;
    // (hyper's chunked decoder takes whitespace after a chunk size, `5 \r\n`, as it takes it
    // before a chunk extension: that one is not refused.)
    let cases: [(&[u8], u16); 5] = [
        (
            b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            501,
        ),
        (
            b"POST /cgi-bin/length.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        (b"GET /cgi-bin/hello.sh HTTP/1.1\r\n\r\n", 400),
        (b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n", 200),
    ];
    for (request, code) in cases {
        let bytes = raw(server.addr, request).await;
        let responses = parse_all(&bytes);
        let shown = String::from_utf8_lossy(request);
        assert_eq!(responses.len(), 1, "{shown}");
        assert_eq!(responses[0].status(), code, "{shown}");
        if code != 200 {
            assert_eq!(responses[0].header("connection"), Some("close"), "{shown}");
        }
    }
    // Python's page, where basehttp writes the response.
    let res = get(server.addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await;
    let page = String::from_utf8_lossy(&res.body);
    assert!(page.contains("<p>Error code: 400</p>"), "{page}");
    assert!(page.contains("more than one Host header"), "{page}");

    // Python's leniency, on request.
    let lenient = serve_configured(root.cgi(|cgi| cgi), |s| s.require_host(false)).await;
    let res = get(lenient.addr, b"GET /cgi-bin/hello.sh HTTP/1.1\r\n\r\n").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn headers_named_in_connection_never_reach_a_script() {
    let root = Root::new();
    let server = serve(root.cgi(|cgi| cgi)).await;
    let res = get(
        server.addr,
        b"GET /cgi-bin/env.sh HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nX-Public: 2\r\n\r\n",
    )
    .await;
    let env = String::from_utf8_lossy(&res.body);
    assert!(!env.contains("HTTP_X_SECRET"), "{env}");
    assert!(env.contains("HTTP_X_PUBLIC=2"), "{env}");
}

/// Whether process `pid` exists (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn a_daemon_that_leaves_the_process_group_does_not_outlive_its_request() {
    let root = Root::new();
    let server = serve(root.cgi(|cgi| cgi)).await;
    let res = get(server.addr, b"GET /cgi-bin/daemon.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"started\n");
    let pid: u32 = std::fs::read_to_string(root.path().join("pids/daemon"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = eventually(WAIT, || !alive(pid)).await;
    if !gone {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        // Containment needs a writable cgroup (root, or a delegated cgroup).
        require_tools("a writable cgroup v2 for CGI scripts");
        eprintln!("no writable cgroup: skipped");
    }
    // The cgroup the daemon was killed in is removed, not used again (a kernel may kill
    // whatever starts in a cgroup with `cgroup.kill` behind it), and the scripts after it run.
    let script_cgroup = std::fs::read_to_string(root.path().join("pids/cgroup")).unwrap();
    if script_cgroup.contains("/basehttp-cgi-") {
        let dir = cgroup_dir(&script_cgroup).expect("the cgroup v2 mount");
        assert!(
            eventually(WAIT, || !dir.exists()).await,
            "{} is still there",
            dir.display()
        );
    }
    for _ in 0..3 {
        let res = get(server.addr, b"GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
        assert_eq!((res.status(), &res.body[..]), (200, &b"hello\n"[..]));
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_times_out_in_a_handler() {
    struct Echo(Option<Duration>);
    impl HttpRequestHandler for Echo {
        fn timeout(&self) -> Option<Duration> {
            self.0
        }
        async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
            let Some(body) = ex.read_body(1 << 20).await? else {
                return Ok(());
            };
            ex.send_response(200);
            ex.send_header("Content-Length", body.len());
            ex.end_headers()?;
            ex.wfile().write_all(&body).await?;
            Ok(())
        }
    }
    let server = serve(Echo(Some(Duration::from_millis(300))).into_service()).await;
    // Three of the ten bytes announced, then nothing.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let started = Instant::now();
    let res = tokio::time::timeout(WAIT, read_response(&mut stream, false))
        .await
        .expect("the body read has a deadline")
        .expect("a response");
    assert_eq!(res.status(), 408);
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A body that keeps coming, each piece within the timeout, is read whole.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    for piece in [&b"ab"[..], b"cd", b"ef"] {
        tokio::time::sleep(Duration::from_millis(150)).await;
        stream.write_all(piece).await.unwrap();
    }
    let res = read_response(&mut stream, false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, b"abcdef");

    // Python's `timeout = None`: it waits.
    let patient = serve(Echo(None).into_service()).await;
    let mut stream = connect(patient.addr).await;
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let early = tokio::time::timeout(
        Duration::from_millis(600),
        read_response(&mut stream, false),
    )
    .await;
    assert!(early.is_err(), "no timeout was asked for");
}
