//! The methods a Python subclass overrides, overridden on a handler layered over
//! [`StaticFiles`] and [`Cgi`]: each one is called for every response of the stack where
//! Python calls it, once, in Python's method resolution order (the outermost handler is the most
//! derived class). Real sockets, raw bytes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use basehttp::cgi::{Cgi, CgiInfo};
use basehttp::handler::HeaderError;
use basehttp::prelude::*;
use basehttp::static_files::{DirectoryListing, StaticFiles};
use tokio::io::AsyncWriteExt;
use tower::Layer;

use crate::fixture::{Fixture, MTIME_HTTP};
use crate::support::*;

/// The file fixture, plus CGI scripts, all reachable by `nobody` (scripts run as `nobody`
/// under root).
fn site() -> Fixture {
    let fixture = Fixture::new();
    let root = fixture.root();
    let script = |path: &str, text: &str, mode: u32| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    script(
        "cgi-bin/hello.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nHello %s\\n' \"$SERVER_SOFTWARE\"\n",
        0o755,
    );
    script("cgi-bin/noexec.sh", "#!/bin/sh\necho never\n", 0o644);
    script(
        "tools/report.cgi",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nreport %s\\n' \"$SCRIPT_NAME\"\n",
        0o755,
    );
    for dir in [
        fixture.base().to_path_buf(),
        root.clone(),
        root.join("cgi-bin"),
        root.join("tools"),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    fixture
}

/// Python's `--cgi` stack under a handler: `H` over `Cgi` over `StaticFiles`.
fn cgi_stack<H: HttpRequestHandler>(
    handler: H,
    root: &Path,
    cgi: impl FnOnce(Cgi) -> Cgi,
) -> basehttp::handler::HandlerService<H, Cgi<StaticFiles>> {
    handler.into_layer().layer(
        cgi(Cgi::new(root))
            .into_layer()
            .layer(StaticFiles::new(root)),
    )
}

async fn get(addr: std::net::SocketAddr, request: &str) -> RawResponse {
    let bytes = raw(addr, request.as_bytes()).await;
    let mut all = parse_all(&bytes);
    assert_eq!(
        all.len(),
        1,
        "{request:?}: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    all.remove(0)
}

struct Cors;

impl HttpRequestHandler for Cors {
    fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
        ex.send_header("Access-Control-Allow-Origin", "*");
        ex.end_headers()
    }
}

/// `def end_headers(self): self.send_header(NAME, "1"); super().end_headers()`.
struct AddsHeader(&'static str);

impl HttpRequestHandler for AddsHeader {
    fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
        ex.send_header(self.0, "1");
        ex.end_headers()
    }
}

#[tokio::test]
async fn end_headers_reaches_every_response_the_files_and_cgi_make() {
    let site = site();
    let server = serve(cgi_stack(Cors, &site.root(), |cgi| cgi)).await;
    let ims = format!("GET /hello.txt HTTP/1.0\r\nIf-Modified-Since: {MTIME_HTTP}\r\n\r\n");
    let cases: &[(&str, u16)] = &[
        ("GET /hello.txt HTTP/1.0\r\n\r\n", 200),
        ("HEAD /hello.txt HTTP/1.0\r\n\r\n", 200),
        ("GET /big.bin HTTP/1.0\r\n\r\n", 200),
        ("GET /hello.txt HTTP/1.0\r\nRange: bytes=1-2\r\n\r\n", 206),
        (
            "GET /big.bin HTTP/1.0\r\nRange: bytes=0-1,10-11\r\n\r\n",
            206,
        ),
        ("GET /hello.txt HTTP/1.0\r\nRange: bytes=99-\r\n\r\n", 416),
        ("GET /hello.txt HTTP/1.0\r\nIf-Match: \"nope\"\r\n\r\n", 412),
        ("GET /sub/ HTTP/1.0\r\n\r\n", 200),
        ("GET /index-dir/ HTTP/1.0\r\n\r\n", 200),
        ("GET /sub HTTP/1.0\r\n\r\n", 301),
        (&ims, 304),
        ("GET /nope HTTP/1.0\r\n\r\n", 404),
        ("GET /special/fifo HTTP/1.0\r\n\r\n", 403),
        ("PUT /hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 501),
        ("POST /hello.txt HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 501),
        ("GET /cgi-bin/nope.sh HTTP/1.0\r\n\r\n", 404),
        ("GET /cgi-bin/noexec.sh HTTP/1.0\r\n\r\n", 403),
    ];
    for (request, status) in cases {
        let res = get(server.addr, request).await;
        assert_eq!(res.status(), *status, "{request:?}");
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some("*"),
            "{request:?}"
        );
        assert_eq!(res.header_count("access-control-allow-origin"), 1);
    }
    // A script's own response is sent with flush_headers(), as in Python: no end_headers.
    let res = get(server.addr, "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 200 Script output follows");
    assert_eq!(res.header("access-control-allow-origin"), None);

    // Unless asked.
    let server = serve(cgi_stack(Cors, &site.root(), |cgi| {
        cgi.end_headers_for_scripts(true)
    }))
    .await;
    let res = get(server.addr, "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    assert_eq!(res.header("content-type"), Some("text/plain"));
}

/// `class Outer(Plain)`, `class Plain(Middle)`, `class Middle(SimpleHTTPRequestHandler)`: the
/// outermost handler is the most derived class, each `super().end_headers()` reaches the next,
/// and a handler that does not override a method does not hide the one below.
///
/// Unlike Python, a handler's own responses go through the overrides of the handlers above it
/// (and its own), not through those of the handlers below it, which it cannot see: here `PUT`,
/// answered by `Plain`, and `POST`, answered by `Outer`, do not get `X-Middle`.
#[tokio::test]
async fn overrides_follow_pythons_method_resolution_order() {
    struct Outer;
    impl HttpRequestHandler for Outer {
        fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
            ex.send_header("X-Outer", "1");
            ex.end_headers()
        }
        async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(201);
            ex.send_header("Content-Length", 0);
            ex.end_headers()?;
            Ok(())
        }
    }
    /// Overrides nothing but a method: its defaults must not hide `Middle`'s override.
    struct Plain;
    impl HttpRequestHandler for Plain {
        async fn do_put(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_error(405);
            Ok(())
        }
    }
    let fixture = Fixture::new();
    let files = StaticFiles::new(fixture.root());
    let app = Outer.into_layer().layer(
        Plain
            .into_layer()
            .layer(AddsHeader("X-Middle").into_layer().layer(files)),
    );
    let server = serve(app).await;
    for (request, expected) in [
        (
            "GET /hello.txt HTTP/1.0\r\n\r\n",
            &["x-outer", "x-middle"][..],
        ),
        ("GET /nope HTTP/1.0\r\n\r\n", &["x-outer", "x-middle"]),
        ("DELETE /x HTTP/1.0\r\n\r\n", &["x-outer", "x-middle"]),
        ("PUT /x HTTP/1.0\r\n\r\n", &["x-outer"]),
        ("POST /x HTTP/1.0\r\n\r\n", &["x-outer"]),
    ] {
        let res = get(server.addr, request).await;
        let order: Vec<String> = res
            .raw_names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .filter(|n| n.starts_with("x-"))
            .collect();
        assert_eq!(order, expected, "{request:?}");
    }
}

/// The default `end_headers` and `log_*` of a handler are `super()`: a handler over the files
/// that overrides nothing leaves their answers exactly as they are.
#[tokio::test]
async fn a_handler_that_overrides_nothing_changes_nothing() {
    struct Nothing;
    impl HttpRequestHandler for Nothing {}
    let fixture = Fixture::new();
    let bare = serve(StaticFiles::new(fixture.root())).await;
    let layered = serve(Nothing.into_layer().layer(StaticFiles::new(fixture.root()))).await;
    for request in [
        "GET /hello.txt HTTP/1.0\r\n\r\n",
        "GET /sub HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /hello.txt HTTP/1.0\r\n\r\n",
    ] {
        let a = raw(bare.addr, request.as_bytes()).await;
        let b = raw(layered.addr, request.as_bytes()).await;
        // Server: SimpleHTTP/0.6 in both: the handler left server_version at its default.
        assert_eq!(
            normalize_one(&b, &[]),
            normalize_one(&a, &[]),
            "{request:?}"
        );
        assert_eq!(
            parse_all(&b)[0].header("server"),
            parse_all(&a)[0].header("server")
        );
    }
}

/// `log_message` sees every line of the stack — the files', the CGI's, the script's exit code
/// — and nothing is written that it did not pass on.
#[tokio::test]
async fn log_message_receives_every_line() {
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);
    impl HttpRequestHandler for Recorder {
        fn log_message(&self, ex: &Exchange, message: std::fmt::Arguments<'_>) {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(format!("{} {message}", ex.command()));
            }
        }
    }
    let emitted = captured_log();
    let site = site();
    let recorder = Recorder::default();
    let server = serve(cgi_stack(recorder.clone(), &site.root(), |cgi| cgi)).await;
    for request in [
        "GET /hello.txt HTTP/1.0\r\n\r\n",
        "GET /nope HTTP/1.0\r\n\r\n",
        "GET /cgi-bin/recorded.sh HTTP/1.0\r\n\r\n",
        "DELETE /x HTTP/1.0\r\n\r\n",
    ] {
        get(server.addr, request).await;
    }
    let lines = recorder.0.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(
        lines,
        [
            r#"GET "GET /hello.txt HTTP/1.0" 200 -"#,
            "GET code 404, message File not found",
            r#"GET "GET /nope HTTP/1.0" 404 -"#,
            "GET code 404, message No such CGI script ('/cgi-bin/recorded.sh')",
            r#"GET "GET /cgi-bin/recorded.sh HTTP/1.0" 404 -"#,
            "DELETE code 501, message Unsupported method ('DELETE')",
            r#"DELETE "DELETE /x HTTP/1.0" 501 -"#,
        ]
    );
    // Nothing reached the default log line (the global collector sees basehttp::log events).
    let emitted = emitted.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(!emitted.iter().any(|l| l.contains("/cgi-bin/recorded.sh")));
}

/// Class attributes: a handler's own values reach the services below; values left at
/// `BaseHTTPRequestHandler`'s defaults leave theirs.
#[tokio::test]
async fn class_attributes_set_on_a_handler_reach_the_files_and_scripts() {
    struct Branded;
    impl HttpRequestHandler for Branded {
        fn server_version(&self) -> &str {
            "Branded/2.0"
        }
        fn protocol_version(&self) -> http::Version {
            http::Version::HTTP_11
        }
        fn error_message_format(&self) -> &str {
            "[%(code)d|%(message)s|%(explain)s]"
        }
        fn error_content_type(&self) -> &str {
            "text/plain"
        }
        fn responses(&self, code: u16) -> Option<(&str, &str)> {
            match code {
                403 => Some(("Keep Out", "Not for your eyes")),
                _ => basehttp::responses(code),
            }
        }
    }
    let site = site();
    let server = serve(cgi_stack(Branded, &site.root(), |cgi| cgi)).await;
    let expected_server = format!("Branded/2.0 {}", basehttp::handler::SYS_VERSION);

    // protocol_version: the files keep the connection alive, in HTTP/1.1.
    let mut stream = connect(server.addr).await;
    for _ in 0..2 {
        stream
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let res = read_response(&mut stream, false).await.expect("response");
        assert_eq!(res.status_line, "HTTP/1.1 200 OK");
        assert_eq!(res.header("server"), Some(expected_server.as_str()));
    }

    let res = get(server.addr, "GET /special/fifo HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.1 403 Keep Out");
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(res.body, b"[403|Keep Out|Not for your eyes]");

    let res = get(server.addr, "GET /cgi-bin/nope.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        res.body,
        b"[404|No such CGI script ('/cgi-bin/nope.sh')|Nothing matches the given URI]"
    );
    // SERVER_SOFTWARE is version_string(), as in Python.
    let res = get(server.addr, "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, format!("Hello {expected_server}\n").as_bytes());
}

/// The same attributes on the services' builders, without a handler.
#[tokio::test]
async fn class_attributes_on_the_builders() {
    let site = site();
    let files = StaticFiles::new(site.root())
        .server_version("Files/1")
        .sys_version("Test/0")
        .error_message_format("files: %(code)d %(message)s")
        .error_content_type("text/plain; charset=utf-8")
        .responses([(404, ("Gone Fishing", "Try later"))]);
    let cgi = Cgi::new(site.root())
        .error_message_format("cgi: %(code)d %(explain)s")
        .responses([(403, ("Nope", "Scripts must be executable"))]);
    let server = serve(cgi.into_layer().layer(files)).await;

    let res = get(server.addr, "GET /special/fifo HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("server"), Some("Files/1 Test/0"));
    assert_eq!(res.body, b"files: 403 Forbidden");
    let res = get(server.addr, "GET /sub/nope HTTP/1.0\r\n\r\n").await;
    // send_head's own message; the description comes from the table.
    assert_eq!(res.status_line, "HTTP/1.0 404 File not found");
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let res = get(server.addr, "GET /cgi-bin/noexec.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"cgi: 403 Scripts must be executable");
    assert_eq!(
        res.header("server"),
        Some(format!("SimpleHTTP/0.6 {}", basehttp::handler::SYS_VERSION).as_str())
    );
}

/// `translate_path`, overridden: called once per request (whatever the path turns out to be),
/// its result served; a result outside the directory is not, unless symlinks may lead out.
#[tokio::test]
async fn translate_path_is_called_once_and_confined() {
    struct Mapped {
        calls: Arc<AtomicUsize>,
        outside: PathBuf,
    }
    impl HttpRequestHandler for Mapped {
        fn translate_path(&self, ex: &Exchange, path: &str) -> Option<PathBuf> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if path.starts_with("/secret") {
                return Some(self.outside.clone());
            }
            // /static/x is x: super() on the rest; anything else is super()'s.
            let rest = path.strip_prefix("/static")?;
            Some(ex.translate_path(rest))
        }
    }
    let fixture = Fixture::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let outside = fixture.base().join("outside/secret.txt");
    let handler = || Mapped {
        calls: calls.clone(),
        outside: outside.clone(),
    };
    let server = serve(
        handler()
            .into_layer()
            .layer(StaticFiles::new(fixture.root())),
    )
    .await;
    let cases: &[(&str, u16)] = &[
        ("GET /static/hello.txt HTTP/1.0\r\n\r\n", 200),
        ("GET /static/sub/ HTTP/1.0\r\n\r\n", 200),
        ("GET /static/sub HTTP/1.0\r\n\r\n", 301),
        ("GET /static/missing HTTP/1.0\r\n\r\n", 404),
        ("GET /static/index-dir/ HTTP/1.0\r\n\r\n", 200),
        ("GET /secret HTTP/1.0\r\n\r\n", 404),
        ("GET /hello.txt HTTP/1.0\r\n\r\n", 200),
    ];
    for (i, (request, status)) in cases.iter().enumerate() {
        let res = get(server.addr, request).await;
        assert_eq!(res.status(), *status, "{request:?}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            i + 1,
            "once per request: {request:?}"
        );
        assert!(find(&res.body, b"TOP SECRET").is_none());
    }
    // Python serves whatever translate_path says: so does follow_symlinks(true).
    let server = serve(
        handler()
            .into_layer()
            .layer(StaticFiles::new(fixture.root()).follow_symlinks(true)),
    )
    .await;
    let res = get(server.addr, "GET /secret HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"TOP SECRET");
}

#[tokio::test]
async fn list_directory_can_refuse_or_answer_its_own_way() {
    struct NoListings;
    impl HttpRequestHandler for NoListings {
        fn list_directory(&self, ex: &mut Exchange, listing: &DirectoryListing) {
            if listing.path.starts_with("/sub") {
                // Python: return super().list_directory(path)
                return ex.list_directory(listing);
            }
            if ex.path().contains("json") {
                let names: Vec<String> = listing
                    .entries
                    .iter()
                    .map(|e| format!("\"{}\"", String::from_utf8_lossy(e.name_bytes())))
                    .collect();
                let body = format!("[{}]", names.join(","));
                ex.send_response(200);
                ex.send_header("Content-Type", "application/json");
                ex.send_header("Content-Length", body.len());
                if ex.end_headers().is_ok() {
                    ex.send_body(Body::from(body));
                }
                return;
            }
            ex.send_error_with(403, "Directory listing disabled", None);
        }
    }
    let fixture = Fixture::new();
    let server = serve(
        NoListings
            .into_layer()
            .layer(StaticFiles::new(fixture.root())),
    )
    .await;
    let res = get(server.addr, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status_line, "HTTP/1.0 403 Directory listing disabled");
    let res = get(server.addr, "GET /empty/?json HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.body, b"[]");
    let res = get(server.addr, "GET /sub/ HTTP/1.0\r\n\r\n").await;
    assert!(find(&res.body, b"<title>Directory listing for /sub/</title>").is_some());
    // Index pages are not listings.
    let res = get(server.addr, "GET /index-dir/ HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"<h1>index.html</h1>\n");
}

#[tokio::test]
async fn guess_type_sees_the_translated_path_and_can_call_super() {
    struct Typed(Arc<Mutex<Vec<PathBuf>>>);
    impl HttpRequestHandler for Typed {
        fn guess_type(&self, ex: &Exchange, path: &Path) -> Option<String> {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(path.to_owned());
            }
            // guessed = super().guess_type(path)
            let guessed = ex.guess_type(path);
            guessed
                .starts_with("text/")
                .then(|| format!("{guessed}; charset=utf-8"))
        }
    }
    let fixture = Fixture::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve(
        Typed(seen.clone())
            .into_layer()
            .layer(StaticFiles::new(fixture.root())),
    )
    .await;
    let res = get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let res = get(server.addr, "GET /index-dir/ HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let res = get(server.addr, "GET /types/pic.png HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("content-type"), Some("image/png"));
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        [
            fixture.root().join("hello.txt"),
            fixture.root().join("index-dir/index.html"),
            fixture.root().join("types/pic.png"),
        ]
    );
}

#[tokio::test]
async fn is_cgi_decides_which_requests_run_scripts() {
    /// `*.cgi` anywhere is a script, as well as the usual directories.
    struct Anywhere;
    impl HttpRequestHandler for Anywhere {
        fn is_cgi(&self, ex: &Exchange) -> Option<CgiInfo> {
            let path = ex.path().split('?').next().unwrap_or_default();
            if let Some((dir, script)) = path.rsplit_once('/') {
                if script.ends_with(".cgi") {
                    return Some(CgiInfo::new(dir, script));
                }
            }
            ex.is_cgi() // super().is_cgi()
        }
    }
    let site = site();
    let server = serve(cgi_stack(Anywhere, &site.root(), |cgi| cgi)).await;
    let res = get(server.addr, "GET /tools/report.cgi HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.body, b"report /tools/report.cgi\n");
    let res = get(server.addr, "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
    let res = get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"hello\n");
    // Without the override the .cgi file is a file.
    let server = serve(cgi_stack(DefaultHandler, &site.root(), |cgi| cgi)).await;
    let res = get(server.addr, "GET /tools/report.cgi HTTP/1.0\r\n\r\n").await;
    assert!(res.body.starts_with(b"#!/bin/sh"));
}

#[tokio::test]
async fn send_error_overridden_answers_every_error_its_way() {
    struct JsonErrors;
    impl HttpRequestHandler for JsonErrors {
        fn send_error(
            &self,
            ex: &mut Exchange,
            code: u16,
            message: Option<&str>,
            _explain: Option<&str>,
        ) {
            let message = message
                .map(str::to_owned)
                .or_else(|| ex.responses(code).map(|(phrase, _)| phrase.to_owned()))
                .unwrap_or_default();
            let body = format!("{{\"code\": {code}, \"message\": {message:?}}}");
            ex.log_error(format_args!("code {code}, message {message}"));
            ex.send_response(code);
            ex.send_header("Content-Type", "application/json");
            ex.send_header("Content-Length", body.len());
            ex.send_header("Connection", "close");
            if ex.end_headers().is_ok() {
                ex.send_body(Body::from(body));
            }
        }
    }
    let site = site();
    let server = serve(cgi_stack(JsonErrors, &site.root(), |cgi| cgi)).await;
    let res = get(server.addr, "GET /nope HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.body, br#"{"code": 404, "message": "File not found"}"#);
    let res = get(server.addr, "GET /special/fifo HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, br#"{"code": 403, "message": "Forbidden"}"#);
    let res = get(server.addr, "GET /cgi-bin/noexec.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        res.body,
        br#"{"code": 403, "message": "CGI script is not executable ('/cgi-bin/noexec.sh')"}"#
    );
    let res = get(server.addr, "PATCH /x HTTP/1.0\r\n\r\n").await;
    assert_eq!(
        res.body,
        br#"{"code": 501, "message": "Unsupported method ('PATCH')"}"#
    );
}

/// An override that misbehaves costs one response, not the server.
#[tokio::test]
async fn a_failing_override_is_a_500_and_the_server_goes_on() {
    struct Broken;
    impl HttpRequestHandler for Broken {
        fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
            if ex.path().contains("inject") {
                ex.send_header("X-Evil", "a\r\nSet-Cookie: x=1");
            }
            ex.end_headers()
        }
        fn translate_path(&self, _ex: &Exchange, path: &str) -> Option<PathBuf> {
            assert!(!path.contains("panic"), "translate_path gave up");
            None
        }
        fn list_directory(&self, ex: &mut Exchange, listing: &DirectoryListing) {
            assert!(!ex.path().contains("panic"), "list_directory gave up");
            ex.list_directory(listing);
        }
    }
    let fixture = Fixture::new();
    let server = serve(Broken.into_layer().layer(StaticFiles::new(fixture.root()))).await;
    let res = get(server.addr, "GET /hello.txt?inject HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 500);
    assert_eq!(res.header("set-cookie"), None);
    let res = get(server.addr, "GET /hello.txt?panic HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 500);
    let res = get(server.addr, "GET /sub/?panic HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 500);
    let res = get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!((res.status(), res.body.as_slice()), (200, &b"hello\n"[..]));
}

/// `fallback_file`: the single-page application pattern, with the translate policy, HEAD and
/// validators, and `fall_through_on_not_found` only when the fallback is missing too.
#[tokio::test]
async fn fallback_file_answers_paths_with_nothing_behind_them() {
    let fixture = Fixture::new();
    let spa = StaticFiles::new(fixture.root()).fallback_file("index-dir/index.html");
    let server = serve(spa).await;
    for request in [
        "GET /app/route HTTP/1.0\r\n\r\n",
        "GET /app/route/ HTTP/1.0\r\n\r\n",
        "GET /hello.txt/extra HTTP/1.0\r\n\r\n",
    ] {
        let res = get(server.addr, request).await;
        assert_eq!(res.status(), 200, "{request:?}");
        assert_eq!(res.body, b"<h1>index.html</h1>\n", "{request:?}");
        assert_eq!(res.header("content-type"), Some("text/html"));
    }
    let ims = format!("GET /app/route HTTP/1.0\r\nIf-Modified-Since: {MTIME_HTTP}\r\n\r\n");
    assert_eq!(get(server.addr, &ims).await.status(), 304);
    // What exists is served as usual.
    assert_eq!(
        get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n")
            .await
            .body,
        b"hello\n"
    );
    assert_eq!(
        get(server.addr, "GET /sub HTTP/1.0\r\n\r\n").await.status(),
        301
    );
    // A missing fallback changes nothing.
    let server = serve(StaticFiles::new(fixture.root()).fallback_file("nope.html")).await;
    assert_eq!(
        get(server.addr, "GET /app/route HTTP/1.0\r\n\r\n")
            .await
            .status(),
        404
    );
}

/// The builder's `translate_path` policy, too, runs once per request — for files, directories,
/// listings and missing paths alike (it used to run twice when the fast path missed).
#[tokio::test]
async fn the_translate_path_policy_runs_once_per_request() {
    let fixture = Fixture::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let files = StaticFiles::new(fixture.root()).translate_path(move |target| {
        counted.fetch_add(1, Ordering::SeqCst);
        Some(target.to_owned())
    });
    let server = serve(files).await;
    for (i, request) in [
        "GET /hello.txt HTTP/1.0\r\n\r\n",
        "GET /hello.txt HTTP/1.0\r\n\r\n",
        "GET /sub/ HTTP/1.0\r\n\r\n",
        "GET /sub HTTP/1.0\r\n\r\n",
        "GET /index-dir/ HTTP/1.0\r\n\r\n",
        "GET /missing HTTP/1.0\r\n\r\n",
        "HEAD /big.bin HTTP/1.0\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        get(server.addr, request).await;
        assert_eq!(calls.load(Ordering::SeqCst), i + 1, "{request:?}");
    }
}

/// Methods that return a value say `super()` with `None`; a handler that asks for `super()`'s
/// answer gets the next handler's, and the first answer wins, most derived first.
#[tokio::test]
async fn returning_methods_resolve_most_derived_first() {
    struct Outer;
    impl HttpRequestHandler for Outer {
        fn guess_type(&self, ex: &Exchange, path: &Path) -> Option<String> {
            let inner = ex.guess_type(path);
            inner
                .starts_with("text/x-")
                .then(|| format!("{inner}; outer"))
        }
    }
    struct Inner;
    impl HttpRequestHandler for Inner {
        fn guess_type(&self, _ex: &Exchange, path: &Path) -> Option<String> {
            (path.extension()? == "txt").then(|| "text/x-inner".to_owned())
        }
    }
    let fixture = Fixture::new();
    let app = Outer
        .into_layer()
        .layer(Inner.into_layer().layer(StaticFiles::new(fixture.root())));
    let server = serve(app).await;
    let res = get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("content-type"), Some("text/x-inner; outer"));
    let res = get(server.addr, "GET /types/pic.png HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("content-type"), Some("image/png"));
}

/// An `end_headers` override that answers with an error instead: the page is the response
/// (never the file's bytes after it), and it goes through the handlers above, as a new
/// response would.
#[tokio::test]
async fn an_error_sent_from_end_headers_is_the_whole_response() {
    struct Guard;
    impl HttpRequestHandler for Guard {
        fn end_headers(&self, ex: &mut Exchange) -> Result<(), HeaderError> {
            if ex.path().contains("secret") || ex.path().contains("always") {
                // Every time: the walk must not start over forever.
                ex.send_error_with(403, "Keep out", None);
                return Ok(());
            }
            ex.end_headers()
        }
    }
    let site = site();
    std::fs::write(site.root().join("secret.txt"), "TOP SECRET BYTES").expect("write");
    let app = AddsHeader("X-Outer").into_layer().layer(
        Guard.into_layer().layer(
            Cgi::new(site.root())
                .into_layer()
                .layer(StaticFiles::new(site.root())),
        ),
    );
    let server = serve(app).await;
    for request in [
        "GET /secret.txt HTTP/1.0\r\n\r\n",
        "GET /hello.txt?always HTTP/1.0\r\n\r\n",
        "GET /sub/?always HTTP/1.0\r\n\r\n",
    ] {
        let res = get(server.addr, request).await;
        assert_eq!(res.status_line, "HTTP/1.0 403 Keep out", "{request:?}");
        assert!(find(&res.body, b"TOP SECRET").is_none());
        assert!(find(&res.body, b"<p>Message: Keep out.</p>").is_some());
        assert_eq!(
            res.header("content-length")
                .and_then(|l| l.parse::<usize>().ok()),
            Some(res.body.len())
        );
        assert_eq!(res.header("x-outer"), Some("1"), "{request:?}");
    }
    assert_eq!(
        get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n")
            .await
            .body,
        b"hello\n"
    );
}

/// Python composes `version_string()` from the class attributes it resolves: a handler that
/// sets only `sys_version` over the files gives `SimpleHTTP/0.6 <its sys_version>`.
#[tokio::test]
async fn server_version_and_sys_version_compose_with_the_services() {
    struct Sys;
    impl HttpRequestHandler for Sys {
        fn sys_version(&self) -> &str {
            "Custom/1"
        }
        async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
            ex.send_response(204);
            ex.end_headers()?;
            Ok(())
        }
    }
    let fixture = Fixture::new();
    let server = serve(Sys.into_layer().layer(StaticFiles::new(fixture.root()))).await;
    let res = get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("server"), Some("SimpleHTTP/0.6 Custom/1"));
    let res = get(server.addr, "POST /x HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.header("server"), Some("BaseHTTP/0.6 Custom/1"));
}

/// What a handler does to Python's one `self` before `super().do_GET()` carries over: its
/// `close_connection`, and the request line it logs.
#[tokio::test]
async fn close_connection_and_the_request_line_carry_over_a_fall_through() {
    struct Rewrite;
    impl HttpRequestHandler for Rewrite {
        fn protocol_version(&self) -> http::Version {
            http::Version::HTTP_11
        }
        async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
            if ex.path() == "/old-hello" {
                ex.set_path("/hello.txt");
                ex.set_close_connection(true);
            }
            ex.fall_through()
        }
    }
    let emitted = captured_log();
    let fixture = Fixture::new();
    let server = serve(Rewrite.into_layer().layer(StaticFiles::new(fixture.root()))).await;
    // Kept alive without the rewrite (HTTP/1.1 from the class), closed with it.
    let mut stream = connect(server.addr).await;
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let res = read_response(&mut stream, false).await.expect("response");
    assert_eq!(res.status_line, "HTTP/1.1 200 OK");
    stream
        .write_all(b"GET /old-hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let res = read_response(&mut stream, false).await.expect("response");
    assert_eq!(res.body, b"hello\n");
    assert!(read_response(&mut stream, false).await.is_none(), "closed");
    let lines = emitted.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("\"GET /old-hello HTTP/1.1\" 200 -")),
        "the request line as the client sent it: {lines:?}"
    );
}

/// A `translate_path` override may name the file by its real path, also before the served
/// directory (given relative) has been opened by any request.
#[tokio::test]
async fn translate_path_results_are_placed_below_the_real_directory() {
    struct Real(PathBuf);
    impl HttpRequestHandler for Real {
        fn translate_path(&self, _ex: &Exchange, path: &str) -> Option<PathBuf> {
            Some(self.0.join(path.trim_start_matches('/')))
        }
    }
    let fixture = Fixture::new();
    let real = std::fs::canonicalize(fixture.root()).expect("canonical");
    let link = fixture.base().join("served-link");
    std::os::unix::fs::symlink(fixture.root(), &link).expect("symlink");
    let server = serve(Real(real).into_layer().layer(StaticFiles::new(&link))).await;
    let res = get(server.addr, "GET /hello.txt HTTP/1.0\r\n\r\n").await;
    assert_eq!((res.status(), res.body.as_slice()), (200, &b"hello\n"[..]));
}

/// The fallback file answers paths with nothing behind them, not paths that are refused.
#[tokio::test]
async fn fallback_file_is_not_served_for_refused_paths() {
    let fixture = Fixture::new();
    let files = StaticFiles::new(fixture.root())
        .translate_path(|target| (!target.contains("/private")).then(|| target.to_owned()))
        .fallback_file("/index-dir/./index.html");
    let server = serve(files).await;
    let res = get(server.addr, "GET /private/x HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 404);
    let res = get(server.addr, "GET /public/x HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.body, b"<h1>index.html</h1>\n");
}

/// An override that neither answers nor calls `super()`: logged, and a `500`.
#[tokio::test]
async fn an_override_that_answers_nothing_is_a_500() {
    struct Silent;
    impl HttpRequestHandler for Silent {
        fn list_directory(&self, _ex: &mut Exchange, _listing: &DirectoryListing) {}
    }
    let emitted = captured_log();
    let fixture = Fixture::new();
    let server = serve(Silent.into_layer().layer(StaticFiles::new(fixture.root()))).await;
    let res = get(server.addr, "GET /sub/?silent-listing HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 500);
    let lines = emitted.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/sub/?silent-listing was answered with nothing")),
        "{lines:?}"
    );
}

/// A logging override that panics, on paths no `guarded` section covers (a script's answer, an
/// inner service's response): that response is lost, the server is not.
#[tokio::test]
async fn a_panicking_log_override_costs_one_response() {
    struct Loud;
    impl HttpRequestHandler for Loud {
        fn log_request(&self, ex: &Exchange, code: u16, size: Option<u64>) {
            assert!(!ex.path().contains("boom"), "log_request gave up");
            ex.log_request_with(code, size);
        }
    }
    let site = site();
    let server = serve(cgi_stack(Loud, &site.root(), |cgi| cgi)).await;
    for request in [
        "GET /cgi-bin/hello.sh?boom HTTP/1.0\r\n\r\n",
        "GET /hello.txt?boom HTTP/1.0\r\n\r\n",
        "DELETE /boom HTTP/1.0\r\n\r\n",
    ] {
        let res = get(server.addr, request).await;
        assert_eq!(res.status(), 500, "{request:?}");
    }
    let res = get(server.addr, "GET /cgi-bin/hello.sh HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status(), 200);
}
