//! The upload page in a real browser: headless Chromium, driven over the Chrome DevTools
//! Protocol, opens `GET /upload`, chooses two files in the page's own file input (3 MiB of
//! pseudo-random bytes and a small text file with a non-ASCII name), submits the form, and the
//! page's script reports `Success: Files accepted`; both files are then in the served folder,
//! byte for byte, under the names the browser sent.
//!
//! This proves the page, its script and the multipart parser against the multipart body a
//! browser actually builds (its boundary, its `filename` encoding, its chunking), not one
//! written by hand.
//!
//! Chromium is driven through `--remote-debugging-pipe`: descriptor 3 carries commands to it,
//! descriptor 4 its replies and events, each a JSON message ended by a NUL byte. Every wait is
//! bounded; Chromium (its whole process group) is killed when the test ends, however it ends.
//!
//! Skipped when Chromium is not installed, unless `BASEHTTP_REQUIRE_CHROMIUM` is set (`.ci/run`
//! sets it once it has installed Chromium): then a missing browser fails the test.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use basehttp::prelude::*;
use basehttp::static_files::StaticFiles;
use basehttp::upload::Upload;
use tower::Layer;

use crate::support::*;

/// How long the upload may take, from the submit to the page's verdict.
const UPLOAD_WAIT: Duration = Duration::from_secs(20);

/// How often the page is polled while waiting.
const POLL: Duration = Duration::from_millis(50);

/// 3 MiB and a few bytes (not a multiple of any buffer size) of xorshift64* output.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test]
async fn chromium_uploads_two_files_through_the_page() {
    let Some(chromium) = crate::browser::chromium() else {
        return;
    };

    // The files the browser picks, outside the served folder.
    let sources = tempfile::tempdir().expect("tempdir");
    let random = pseudo_random(3 * 1024 * 1024 + 4321);
    let text = "Résumé — naïve café, 日本語\r\nsecond line\nthird line without a newline";
    let files: [(&str, &[u8]); 2] = [("random.bin", &random), ("résumé.txt", text.as_bytes())];
    let mut paths = Vec::new();
    for (name, bytes) in files {
        let path = sources.path().join(name);
        std::fs::write(&path, bytes).expect("write a source file");
        paths.push(path);
    }

    let served = tempfile::tempdir().expect("tempdir");
    let app = Upload::new(served.path())
        .into_layer()
        .layer(StaticFiles::new(served.path()));
    let server = serve(app).await;
    let page = format!("http://127.0.0.1:{}/upload", server.addr.port());

    let started = Instant::now();
    tokio::task::spawn_blocking(move || upload_in_chromium(&chromium, &page, &paths))
        .await
        .expect("chromium task");
    eprintln!("upload through Chromium took {:?}", started.elapsed());

    // Both files, whole, under their own names, and nothing else (no partial or temporary file).
    let mut names: Vec<String> = std::fs::read_dir(served.path())
        .expect("read the served folder")
        .map(|entry| {
            let entry = entry.expect("entry");
            entry.file_name().into_string().expect("a UTF-8 name")
        })
        .collect();
    names.sort();
    assert_eq!(names, ["random.bin", "résumé.txt"]);
    for (name, bytes) in files {
        let stored = std::fs::read(served.path().join(name)).expect("read an uploaded file");
        assert_eq!(stored.len(), bytes.len(), "{name}: size");
        assert!(stored == bytes, "{name}: the bytes differ");
    }
    tokio::time::timeout(WAIT, server.shutdown.shutdown())
        .await
        .expect("shutdown");
}

/// Opens `page` in Chromium, chooses `files` in its file input, submits the form, and waits
/// for the page to say the upload succeeded.
fn upload_in_chromium(chromium: &Path, page: &str, files: &[PathBuf]) {
    let mut browser = Browser::launch(chromium);

    let target = browser.call(
        None,
        "Target.createTarget",
        &format!(r#"{{"url":{}}}"#, quote(page)),
    );
    let target_id = string_at(&target, &["targetId"]);
    let attached = browser.call(
        None,
        "Target.attachToTarget",
        &format!(r#"{{"targetId":{},"flatten":true}}"#, quote(&target_id)),
    );
    let session = string_at(&attached, &["sessionId"]);
    let session = Some(session.as_str());
    browser.call(session, "Page.enable", "{}");

    // Loaded: the new tab starts on about:blank, so wait for the upload page itself. An
    // evaluation can fail while the document is being replaced; that is only a "not yet".
    let loaded = "location.pathname === '/upload' && document.readyState === 'complete' \
                  && document.querySelector('input[type=file]') !== null";
    let deadline = Instant::now() + WAIT;
    loop {
        if browser.evaluate(session, loaded) == Ok(Json::Bool(true)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{page} did not load within {WAIT:?}: {:?}",
            browser.evaluate(session, "location.href + ' ' + document.readyState")
        );
        std::thread::sleep(POLL);
    }

    // Choose the files in the page's own input, as a user's file dialog would.
    let document = browser.call(session, "DOM.getDocument", r#"{"depth":0}"#);
    let root = number_at(&document, &["root", "nodeId"]);
    let input = browser.call(
        session,
        "DOM.querySelector",
        &format!(r#"{{"nodeId":{root},"selector":"input[type=file]"}}"#),
    );
    let input = number_at(&input, &["nodeId"]);
    assert_ne!(input, 0, "no file input on the page");
    let paths: Vec<String> = files
        .iter()
        .map(|path| quote(path.to_str().expect("a UTF-8 path")))
        .collect();
    browser.call(
        session,
        "DOM.setFileInputFiles",
        &format!(r#"{{"nodeId":{input},"files":[{}]}}"#, paths.join(",")),
    );
    let chosen = browser
        .evaluate(
            session,
            "Array.from(document.querySelector('input[type=file]').files, \
             f => f.name + ':' + f.size).join('|')",
        )
        .expect("the chosen files");
    let mut chosen: Vec<String> = match chosen {
        Json::Str(list) => list.split('|').map(str::to_owned).collect(),
        other => panic!("the chosen files: {other:?}"),
    };
    chosen.sort();
    let mut expected: Vec<String> = files
        .iter()
        .map(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            let size = std::fs::metadata(path).expect("metadata").len();
            format!("{name}:{size}")
        })
        .collect();
    expected.sort();
    assert_eq!(chosen, expected, "the input holds other files");

    // Submit as the button would: the page's script sends the form with XMLHttpRequest.
    browser
        .evaluate(session, "document.querySelector('form').requestSubmit()")
        .expect("submit the form");

    // The page's verdict: `Success: <reason>` on a 204, `<code>: <reason>` otherwise.
    let status = "(document.getElementById('task') || {}).textContent + '\\n' + \
                  (document.getElementById('status') || {textContent: 'no #status on ' + \
                  location.href}).textContent";
    let deadline = Instant::now() + UPLOAD_WAIT;
    loop {
        let said = match browser.evaluate(session, status) {
            Ok(Json::Str(text)) => {
                let (task, verdict) = text.split_once('\n').unwrap_or(("", &text));
                if verdict == "Success: Files accepted" {
                    assert_eq!(task, "Uploading random.bin, résumé.txt:");
                    return;
                }
                let failed = verdict == "Connection failed"
                    || verdict.starts_with("Success")
                    || verdict
                        .split_once(": ")
                        .is_some_and(|(code, _)| code.len() == 3 && code.parse::<u16>().is_ok());
                assert!(!failed, "the upload failed: {text:?}");
                text
            }
            other => format!("{other:?}"),
        };
        assert!(
            Instant::now() < deadline,
            "no verdict within {UPLOAD_WAIT:?}; the page says {said:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// A headless Chromium on `--remote-debugging-pipe`, killed (with every process it started)
/// when dropped.
struct Browser {
    child: Child,
    commands: File,
    replies: mpsc::Receiver<String>,
    next_id: u64,
    log: PathBuf,
    // Last: removed once Chromium is gone.
    _scratch: tempfile::TempDir,
}

impl Browser {
    fn launch(chromium: &Path) -> Self {
        use rustix::pipe::{PipeFlags, pipe_with};

        let scratch = tempfile::tempdir().expect("scratch dir");
        let log = scratch.path().join("chromium.log");
        // Close-on-exec, so no process another test starts meanwhile inherits them.
        let (to_chromium, commands) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        let (replies, from_chromium) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
        // Chromium's ends numbered 5 or more, so that moving them to 3 and 4 overwrites neither.
        let to_chromium = rustix::io::fcntl_dupfd_cloexec(&to_chromium, 5).expect("dup");
        let from_chromium = rustix::io::fcntl_dupfd_cloexec(&from_chromium, 5).expect("dup");

        let mut command = Command::new(chromium);
        command
            .args(crate::browser::HEADLESS)
            .arg("--remote-debugging-pipe")
            .arg(format!(
                "--user-data-dir={}",
                scratch.path().join("profile").display()
            ))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("chromium log"))
            // Its own process group, so that the renderers and helpers die with it.
            .process_group(0);
        pipe_fds(
            &mut command,
            to_chromium.as_raw_fd(),
            from_chromium.as_raw_fd(),
        );
        let child = command.spawn().expect("spawn chromium");
        // Only Chromium holds its ends now: its exit closes the reply pipe.
        drop((to_chromium, from_chromium));

        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || read_messages(replies, &sender));
        Self {
            child,
            commands: File::from(commands),
            replies: receiver,
            next_id: 0,
            log,
            _scratch: scratch,
        }
    }

    /// Sends `method` with `params` (a JSON object), in `session` if any, and returns the
    /// reply's `result`, or its `error` as text. Panics if no reply comes within [`WAIT`].
    fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: &str,
    ) -> Result<Json, String> {
        self.next_id += 1;
        let id = self.next_id;
        let session = session
            .map(|session| format!(r#","sessionId":{}"#, quote(session)))
            .unwrap_or_default();
        let message = format!(
            r#"{{"id":{id},"method":{},"params":{params}{session}}}"#,
            quote(method)
        );
        self.commands
            .write_all(message.as_bytes())
            .and_then(|()| self.commands.write_all(b"\0"))
            .unwrap_or_else(|err| panic!("{method}: writing to Chromium: {err}"));
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let text = match self.replies.recv_timeout(left) {
                Ok(text) => text,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{method}: no reply from Chromium within {WAIT:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{method}: Chromium closed its pipe")
                }
            };
            let reply = Json::parse(&text).unwrap_or_else(|| panic!("not JSON: {text}"));
            if reply.get("id").and_then(Json::as_u64) != Some(id) {
                continue; // an event, or the reply to an earlier command
            }
            if reply.get("error").is_some() {
                return Err(text);
            }
            return Ok(reply.get("result").cloned().unwrap_or(Json::Null));
        }
    }

    /// [`try_call`](Self::try_call), failing the test on a protocol error.
    fn call(&mut self, session: Option<&str>, method: &str, params: &str) -> Json {
        self.try_call(session, method, params)
            .unwrap_or_else(|error| panic!("{method} {params}: {error}"))
    }

    /// The value of `expression` in the page, or why there is none.
    fn evaluate(&mut self, session: Option<&str>, expression: &str) -> Result<Json, String> {
        let params = format!(
            r#"{{"expression":{},"returnByValue":true}}"#,
            quote(expression)
        );
        let result = self.try_call(session, "Runtime.evaluate", &params)?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(format!("{expression}: {exception:?}"));
        }
        Ok(result
            .get("result")
            .and_then(|result| result.get("value"))
            .cloned()
            .unwrap_or(Json::Null))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process_group};

        let _ = kill_process_group(Pid::from_child(&self.child), Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- chromium's stderr (last lines) ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Makes `to_chromium` descriptor 3 and `from_chromium` descriptor 4 in the child.
#[allow(unsafe_code)]
fn pipe_fds(command: &mut Command, to_chromium: RawFd, from_chromium: RawFd) {
    // SAFETY: the closure runs in the child between fork and exec; it only calls dup2, which
    // is async-signal-safe, and allocates nothing. Both descriptors are open (close-on-exec) in
    // the parent, so in the child, and are 5 or more, so neither dup2 overwrites the other's
    // source; dup2 leaves the copies at 3 and 4 inheritable.
    unsafe {
        command.pre_exec(move || {
            for (fd, target) in [(to_chromium, 3), (from_chromium, 4)] {
                if libc::dup2(fd, target) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Splits what Chromium writes at NUL bytes and sends each message, until the pipe closes.
fn read_messages(pipe: OwnedFd, sender: &mpsc::Sender<String>) {
    let mut pipe = File::from(pipe);
    let mut pending = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        while let Some(end) = pending.iter().position(|&b| b == 0) {
            let message = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..=end);
            if sender.send(message).is_err() {
                return;
            }
        }
    }
}

/// `text` as a JSON string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_at(json: &Json, path: &[&str]) -> String {
    match json.at(path) {
        Some(Json::Str(s)) => s.clone(),
        _ => panic!("no string at {path:?} in {json:?}"),
    }
}

fn number_at(json: &Json, path: &[&str]) -> u64 {
    json.at(path)
        .and_then(Json::as_u64)
        .unwrap_or_else(|| panic!("no number at {path:?} in {json:?}"))
}

/// Just enough JSON for the DevTools protocol's replies.
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Option<Self> {
        let mut parser = JsonParser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = parser.value()?;
        parser.skip_space();
        (parser.at == parser.bytes.len()).then_some(value)
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn at(&self, path: &[&str]) -> Option<&Self> {
        path.iter().try_fold(self, |json, key| json.get(key))
    }

    fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::Num(n) if n >= 0.0 && n.fract() == 0.0 && n < 9.0e15 => Some(n as u64),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b" \t\r\n".contains(b))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.bytes.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn literal(&mut self, word: &str, value: Json) -> Option<Json> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end) == Some(word.as_bytes())).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self) -> Option<Json> {
        self.skip_space();
        match *self.bytes.get(self.at)? {
            b'n' => self.literal("null", Json::Null),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b']') {
                        return Some(Json::Arr(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Some(Json::Obj(members));
                }
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    members.push((key, self.value()?));
                    if self.eat(b'}') {
                        return Some(Json::Obj(members));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            _ => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b"+-.eE0123456789".contains(b))
                {
                    self.at += 1;
                }
                let number = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                number.parse().ok().map(Json::Num)
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            match byte {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let escaped = *self.bytes.get(self.at)?;
                    self.at += 1;
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let high = self.hex4()?;
                            if (0xD800..0xDC00).contains(&high) {
                                if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                                    return None;
                                }
                                self.at += 2;
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                            } else {
                                char::from_u32(high)?
                            }
                        }
                        _ => return None,
                    };
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                _ => out.push(byte),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }
}

#[test]
fn the_json_reader_reads_what_chromium_writes() {
    let reply = r#"{"id":7,"result":{"result":{"type":"string","value":"a\"b\\c\n\u00e9\ud83d\ude00 r\u00e9"},"n":[1,-2.5e3,true,false,null,{}]},"sessionId":"AB"}"#;
    let json = Json::parse(reply).expect("parses");
    assert_eq!(json.get("id").and_then(Json::as_u64), Some(7));
    assert_eq!(
        json.at(&["result", "result", "value"]),
        Some(&Json::Str("a\"b\\c\né😀 ré".to_owned()))
    );
    assert_eq!(
        json.at(&["result", "n"]),
        Some(&Json::Arr(vec![
            Json::Num(1.0),
            Json::Num(-2500.0),
            Json::Bool(true),
            Json::Bool(false),
            Json::Null,
            Json::Obj(Vec::new()),
        ]))
    );
    assert_eq!(Json::parse("{\"a\":1"), None);
    assert_eq!(Json::parse("[1,]"), None);
    let quoted = quote("x\"y\\z\n\u{1}é");
    assert_eq!(quoted, "\"x\\\"y\\\\z\\n\\u0001é\"");
    assert_eq!(
        Json::parse(&quoted),
        Some(Json::Str("x\"y\\z\n\u{1}é".to_owned()))
    );
}
