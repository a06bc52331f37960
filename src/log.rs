//! Python's log lines: `127.0.0.1 - - [21/Nov/2026 19:49:25] "GET / HTTP/1.1" 200 -`.
//!
//! [`BaseHTTPRequestHandler.log_message`] writes `"%s - - [%s] %s\n"` to stderr: the client
//! address, the local time, and the message with control characters escaped (gh-100001). basehttp
//! builds exactly that line and emits it as a [`tracing`] event (target `basehttp::log`, level
//! `INFO`, the line as the event message, the client address as the `client` field), so a library
//! user routes it like any other event and the `basehttp` binary prints it unchanged on stderr.
//!
//! # Example
//!
//! The building blocks are pure functions:
//!
//! ```
//! use basehttp::log::escape_control;
//!
//! // gh-100001: control characters become `\xNN`, backslashes are doubled.
//! assert_eq!(escape_control("GET /\x1b[31mred"), "GET /\\x1b[31mred");
//! assert_eq!(escape_control("a\\b"), "a\\\\b");
//! ```
//!
//! With the `subscriber` feature, [`init`] installs a subscriber that prints the lines to stderr
//! exactly as Python does (and nothing else, so stdout stays free for the banner):
//!
//! ```no_run
//! # #[cfg(feature = "subscriber")]
//! let _guard = basehttp::log::init();
//! ```
//!
//! [`BaseHTTPRequestHandler.log_message`]: https://docs.python.org/3/library/http.server.html#http.server.BaseHTTPRequestHandler.log_message

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// The `tracing` target of every log line basehttp emits.
pub const TARGET: &str = "basehttp::log";

/// Escapes a log message the way Python's `log_message` does (gh-100001).
///
/// U+0000–U+001F and U+007F–U+009F become `\xNN` (two lower-case hex digits) and a backslash
/// becomes two, so a request can never move the cursor, recolour the terminal or forge a second
/// log line. Everything else, U+00A0 and above included, is kept.
///
/// ```
/// use basehttp::log::escape_control;
///
/// assert_eq!(escape_control("/spam \x1b\x7f\u{9f}\u{a0}beans"), "/spam \\x1b\\x7f\\x9f\u{a0}beans");
/// assert_eq!(escape_control("plain"), "plain");
/// ```
#[doc(alias = "_control_char_table")]
pub fn escape_control(message: &str) -> Cow<'_, str> {
    if !needs_escaping(message.as_bytes()) {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len() + 8);
    // Infallible: the escaping writer appends to a String.
    let _ = Escaping(&mut out).write_str(message);
    Cow::Owned(out)
}

/// Whether `bytes` hold a character Python's `_control_char_table` escapes.
fn needs_escaping(bytes: &[u8]) -> bool {
    // Plain printable ASCII, the usual line, is told without a branch per byte (the compiler
    // checks eight bytes at a time); anything else is looked at character by character.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (0x20..0x7f).contains(&b) & (b != b'\\')
    });
    !plain && next_escape(bytes, 0).is_some()
}

/// The next character from byte `from` on that Python's `_control_char_table` escapes: where it
/// starts, how many bytes of UTF-8 it takes, and its code point (below U+00A0, so one byte).
///
/// Scans bytes, not characters: U+0000–U+001F, U+007F and `\` are single bytes, and
/// U+0080–U+009F are `C2 80`–`C2 9F`; every other byte, lead or continuation, is passed over.
/// A log line is mostly plain ASCII, which this keeps to a few instructions a byte.
fn next_escape(bytes: &[u8], from: usize) -> Option<(usize, usize, u8)> {
    let mut at = from;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            0x00..=0x1f | 0x7f | b'\\' => return Some((at, 1, byte)),
            0xc2 => match bytes.get(at + 1) {
                Some(&next @ 0x80..=0x9f) => return Some((at, 2, next)),
                _ => at += 1,
            },
            _ => at += 1,
        }
    }
    None
}

/// Decodes bytes as ISO-8859-1, the way Python decodes a request line.
///
/// Every byte maps to the code point of the same value, so nothing is lost and UTF-8 input shows
/// up exactly as Python logs it (`é` sent as UTF-8 logs as `Ã©`).
pub(crate) fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        // ASCII is valid UTF-8 and identical in ISO-8859-1.
        if let Ok(ascii) = std::str::from_utf8(bytes) {
            return Cow::Borrowed(ascii);
        }
    }
    Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
}

/// Python's `log_date_time_string()`: the **local** time as `21/Nov/2026 19:49:25`.
pub fn log_date_time_string(time: SystemTime) -> String {
    let local: chrono::DateTime<chrono::Local> = time.into();
    local.format("%d/%b/%Y %H:%M:%S").to_string()
}

/// Python's `date_time_string()`: an RFC 9110 date in GMT, `Sat, 21 Nov 2026 19:31:09 GMT`.
pub fn date_time_string(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

/// Formats a complete Python log line: `"%s - - [%s] %s"` with the message escaped.
///
/// `address` is Python's `address_string()`, the client host (`-` when unknown).
///
/// ```
/// use std::time::SystemTime;
///
/// let line = basehttp::log::format_line("127.0.0.1", SystemTime::now(), "\"GET / HTTP/1.1\" 200 -");
/// assert!(line.starts_with("127.0.0.1 - - ["));
/// assert!(line.ends_with("] \"GET / HTTP/1.1\" 200 -"));
/// ```
pub fn format_line(address: &str, time: SystemTime, message: &str) -> String {
    let mut line = String::with_capacity(address.len() + message.len() + 32);
    line.push_str(address);
    line.push_str(" - - [");
    line.push_str(&log_date_time_string(time));
    line.push_str("] ");
    // Infallible: the escaping writer appends to a String.
    let _ = Escaping(&mut line).write_str(message);
    line
}

/// Emits one log line as a `tracing` event (target [`TARGET`], level `INFO`).
///
/// The line is built in a buffer the thread keeps for its next line (no allocation once it has
/// grown to the usual length): the local time comes from a per-second cache and the message is
/// escaped while it is formatted.
pub(crate) fn emit(address: &str, message: std::fmt::Arguments<'_>) {
    /// Past this capacity a line's buffer is not kept (a long request line is rare).
    const KEPT: usize = 4096;
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    let emit_in = |line: &mut String| {
        line.push_str(address);
        line.push_str(" - - [");
        with_local_time(|time| line.push_str(time));
        line.push_str("] ");
        // Formatted as it is, then scanned once: a message arrives in many small pieces, and a
        // line that needs escaping is rare (it is escaped again from its unescaped text).
        let start = line.len();
        let _ = line.write_fmt(message);
        if needs_escaping(line.as_bytes().get(start..).unwrap_or_default()) {
            let message = line.split_off(start);
            let _ = Escaping(line).write_str(&message);
        }
        tracing::info!(target: TARGET, client = address, "{line}");
    };
    let kept = LINE.try_with(|kept| match kept.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            emit_in(&mut line);
            if line.capacity() > KEPT {
                *line = String::new();
            }
            true
        }
        // A message whose formatting logs a line of its own, or a thread being torn down.
        Err(_) => false,
    });
    if kept != Ok(true) {
        emit_in(&mut String::with_capacity(address.len() + 96));
    }
}

/// Appends to a String, escaping what Python's `_control_char_table` escapes.
struct Escaping<'a>(&'a mut String);

impl std::fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = s.as_bytes();
        // The start of what is still to be copied as it is.
        let mut plain = 0;
        while let Some((at, len, code)) = next_escape(bytes, plain) {
            // `at` and `at + len` are character boundaries: an ASCII byte or a whole `C2 xx`.
            self.0.push_str(s.get(plain..at).unwrap_or_default());
            if code == b'\\' {
                self.0.push_str("\\\\");
            } else {
                self.0.push_str("\\x");
                self.0.push(char::from(HEX[usize::from(code >> 4)]));
                self.0.push(char::from(HEX[usize::from(code & 0xf)]));
            }
            plain = at + len;
        }
        self.0.push_str(s.get(plain..).unwrap_or_default());
        Ok(())
    }
}

/// Calls `f` with [`log_date_time_string`] for now, formatted once per second per thread.
fn with_local_time(f: impl FnOnce(&str)) {
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            cache.1 = log_date_time_string(now);
            cache.0 = secs;
        }
        f(&cache.1);
    });
}

/// The `Date` header value for the current second, formatted once per second per thread.
pub(crate) fn date_header() -> HeaderValue {
    thread_local! {
        static CACHE: RefCell<(u64, HeaderValue)> = const {
            RefCell::new((u64::MAX, HeaderValue::from_static("")))
        };
    }
    cached_http_date(&CACHE, SystemTime::now())
}

/// An HTTP date header value for `time` (a file's `Last-Modified`), formatted once per distinct
/// second per thread: the same hot file costs no formatting.
#[cfg(feature = "fs")]
pub(crate) fn http_date_header(time: SystemTime) -> HeaderValue {
    thread_local! {
        static CACHE: RefCell<(u64, HeaderValue)> = const {
            RefCell::new((u64::MAX, HeaderValue::from_static("")))
        };
    }
    cached_http_date(&CACHE, time)
}

fn cached_http_date(
    cache: &'static std::thread::LocalKey<RefCell<(u64, HeaderValue)>>,
    time: SystemTime,
) -> HeaderValue {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            // An HTTP date is plain ASCII.
            cache.1 = HeaderValue::from_str(&date_time_string(time))
                .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
            cache.0 = secs;
        }
        cache.1.clone()
    })
}

// rustdoc keeps a `doc(alias)` of a re-exported item only when it sits on the `pub use`.
#[cfg(feature = "subscriber")]
#[doc(alias = "stderr")]
pub use self::subscriber::init;
#[cfg(feature = "subscriber")]
pub use self::subscriber::{LogGuard, init_json, json_layer, layer};

/// The `tracing` target of the span basehttp's [`HttpServer`](crate::server::HttpServer) opens
/// around each request (`request`, with the fields `method`, `target`, `version` and
/// `client`). Log lines emitted while a request is served are inside it.
pub const SPAN_TARGET: &str = "basehttp::request";

#[cfg(feature = "subscriber")]
mod subscriber {
    use std::fmt;

    use tracing::{Event, Subscriber, field::Field};
    use tracing_subscriber::{
        Layer,
        filter::{LevelFilter, Targets},
        fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter, format::Writer},
        layer::SubscriberExt,
        registry::LookupSpan,
        util::SubscriberInitExt,
    };

    /// Keeps the background log writer alive; dropping it flushes the remaining lines.
    #[must_use = "dropping the guard stops the log writer"]
    #[derive(Debug)]
    pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

    /// Python's log lines as a tracing-subscriber [`Layer`], for a subscriber of your own: each
    /// line of basehttp's (target [`TARGET`](super::TARGET)) written bare to `writer`, exactly
    /// as Python's `log_message` writes it to stderr; every other event is left to the other
    /// layers of the stack.
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt;
    /// use tracing_subscriber::util::SubscriberInitExt;
    ///
    /// tracing_subscriber::registry()
    ///     .with(basehttp::log::layer(std::io::stderr)) // Python's lines
    ///     .with(
    ///         tracing_subscriber::fmt::layer() // everything else, e.g. tower-http's TraceLayer
    ///             .with_filter(tracing_subscriber::filter::Targets::new()
    ///                 .with_target("tower_http", tracing::Level::DEBUG)),
    ///     )
    ///     .init();
    /// # use tracing_subscriber::Layer as _;
    /// ```
    pub fn layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        tracing_subscriber::fmt::layer()
            .event_format(PythonFormat)
            .with_writer(writer)
            .with_filter(Targets::new().with_target(super::TARGET, LevelFilter::INFO))
    }

    /// Like [`layer`], with every line as one JSON object (the form of [`init_json`]).
    pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_filter(
                Targets::new()
                    .with_target(super::TARGET, LevelFilter::INFO)
                    .with_target(super::SPAN_TARGET, LevelFilter::INFO),
            )
    }

    /// Installs a global subscriber that prints basehttp's log lines to stderr exactly as Python
    /// does: the bare line, nothing before it, a newline after it.
    ///
    /// Lines are written by a background thread, so a slow terminal never blocks a request; none
    /// are dropped (the writer applies back-pressure once 128k lines are queued). Events from
    /// other targets are printed as `LEVEL target: message`.
    ///
    /// Which events are printed: basehttp's at `INFO` and everything else at `WARN`, unless
    /// `RUST_LOG` says otherwise (`target=level` directives separated by commas, a bare level
    /// for the rest: `RUST_LOG=basehttp=warn` silences the request lines, `RUST_LOG=debug`
    /// shows hyper's and tower-http's debug events too). To combine Python's lines with
    /// layers of your own, use [`layer`] instead.
    ///
    /// Returns `None` when a global subscriber is already installed.
    pub fn init() -> Option<LogGuard> {
        let (writer, guard) = stderr_writer();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(PythonFormat)
            .with_writer(writer)
            // The per-request spans are not printed: leaving them off costs nothing.
            .with_filter(filter().with_target(super::SPAN_TARGET, LevelFilter::OFF));
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .ok()
            .map(|()| LogGuard(guard))
    }

    /// Like [`init`], but every event is one JSON object per line (tracing-subscriber's JSON
    /// format): the Python line is its `message`, the client address a field, and the request's
    /// span (`method`, `target`, `version`, `client`) is attached as `span`:
    ///
    /// ```text
    /// {"timestamp":"2026-11-22T10:00:00.000000Z","level":"INFO","fields":{"message":"127.0.0.1 - - [22/Nov/2026 10:00:00] \"GET / HTTP/1.1\" 200 -","client":"127.0.0.1"},"target":"basehttp::log","span":{"client":"127.0.0.1","method":"GET","target":"/","version":"HTTP/1.1","name":"request"}}
    /// ```
    ///
    /// `RUST_LOG` is honoured as by [`init`]. Returns `None` when a global subscriber is already
    /// installed.
    pub fn init_json() -> Option<LogGuard> {
        let (writer, guard) = stderr_writer();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_filter(filter());
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .ok()
            .map(|()| LogGuard(guard))
    }

    /// `RUST_LOG`'s directives when it is set (and valid), else basehttp's events at `INFO` and
    /// everything else at `WARN`.
    fn filter() -> Targets {
        let rust_log = std::env::var("RUST_LOG").ok();
        let (targets, error) = filter_from(rust_log.as_deref());
        if let (Some(err), Some(directives)) = (error, rust_log) {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("basehttp: ignoring RUST_LOG={directives:?}: {err}");
            }
        }
        targets
    }

    /// The filter for a `RUST_LOG` value, and why it was not used when it was not.
    pub(super) fn filter_from(
        rust_log: Option<&str>,
    ) -> (Targets, Option<tracing_subscriber::filter::ParseError>) {
        if let Some(directives) = rust_log.filter(|d| !d.trim().is_empty()) {
            match directives.parse() {
                Ok(targets) => return (targets, None),
                Err(err) => return (default_filter(), Some(err)),
            }
        }
        (default_filter(), None)
    }

    fn default_filter() -> Targets {
        Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("basehttp", LevelFilter::INFO)
    }

    /// A buffered stderr written by a background thread. It flushes whenever its queue is
    /// empty, so buffering only batches lines under load; an idle server's lines appear at once.
    fn stderr_writer() -> (
        tracing_appender::non_blocking::NonBlocking,
        tracing_appender::non_blocking::WorkerGuard,
    ) {
        let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(stderr)
    }

    /// Prints basehttp events as their bare message, others as `LEVEL target: message`.
    struct PythonFormat;

    impl<S, N> FormatEvent<S, N> for PythonFormat
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            _ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let meta = event.metadata();
            if !meta.target().starts_with("basehttp") {
                write!(writer, "{} {}: ", meta.level(), meta.target())?;
            }
            let mut visitor = MessageVisitor {
                writer: &mut writer,
                result: Ok(()),
            };
            event.record(&mut visitor);
            visitor.result?;
            writer.write_str(crate::util::NEWLINE)
        }
    }

    struct MessageVisitor<'a, 'w> {
        writer: &'a mut Writer<'w>,
        result: fmt::Result,
    }

    impl tracing::field::Visit for MessageVisitor<'_, '_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.result = write!(self.writer, "{value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpython_unprintable_vector() {
        // test_unprintable_not_logged: '/spam \x1b\x7f\x9f\xa0beans.'
        assert_eq!(
            escape_control("/spam \u{1b}\u{7f}\u{9f}\u{a0}beans."),
            "/spam \\x1b\\x7f\\x9f\u{a0}beans."
        );
    }

    #[test]
    fn every_control_char_is_escaped_and_nothing_else() {
        for c in (0u32..0x200).filter_map(char::from_u32) {
            let mut buf = [0; 4];
            let escaped = escape_control(c.encode_utf8(&mut buf));
            let expect_escape = c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c);
            if c == '\\' {
                assert_eq!(escaped, "\\\\");
            } else if expect_escape {
                assert_eq!(escaped, format!("\\x{:02x}", c as u32));
            } else {
                assert_eq!(escaped, c.to_string());
            }
        }
    }

    /// Python's `message.translate(_control_char_table)`, one character at a time: what the
    /// byte scanner must agree with.
    fn reference_escape(message: &str) -> String {
        message
            .chars()
            .map(|c| match c {
                '\\' => "\\\\".to_owned(),
                '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => format!("\\x{:02x}", c as u32),
                c => c.to_string(),
            })
            .collect()
    }

    mod agrees_with_python {
        use proptest::prelude::*;

        use super::*;

        /// Characters around every edge the scanner looks at: ASCII controls, DEL, backslash,
        /// U+0080–U+00A0 (`C2 80`–`C2 A0`), other `C2`/`C3` characters, and wider ones whose
        /// continuation bytes fall in `80`–`9F` (U+0100, U+2080, U+1F480).
        fn message() -> impl Strategy<Value = String> {
            let edge = prop_oneof![
                (0u32..0x21).prop_map(|c| char::from_u32(c).unwrap_or('?')),
                Just('\u{7e}'),
                Just('\u{7f}'),
                Just('\\'),
                (0x80u32..0x100).prop_map(|c| char::from_u32(c).unwrap_or('?')),
                Just('\u{100}'),
                Just('\u{2080}'),
                Just('\u{1f480}'),
                any::<char>(),
                Just('a'),
            ];
            proptest::collection::vec(edge, 0..40).prop_map(|chars| chars.into_iter().collect())
        }

        proptest! {
            #[test]
            fn escape_control_is_the_table(message in message()) {
                prop_assert_eq!(escape_control(&message), reference_escape(&message));
            }

            /// The writer behind each log line, fed in pieces as `format_args!` feeds it.
            #[test]
            fn the_line_writer_is_the_table(pieces in proptest::collection::vec(message(), 0..4)) {
                let mut out = String::new();
                for piece in &pieces {
                    prop_assert!(Escaping(&mut out).write_str(piece).is_ok());
                }
                prop_assert_eq!(out, reference_escape(&pieces.concat()));
            }
        }
    }

    /// Each line is built whole in the thread's kept buffer (a long line leaves nothing behind
    /// in a short one), and a message whose formatting logs a line of its own (a `Display`
    /// that calls `log_message`) gets both lines whole.
    #[cfg(feature = "subscriber")]
    #[test]
    fn each_line_is_whole_even_when_formatting_one_logs_another() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::{Context, SubscriberExt};

        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        struct Capture(Arc<Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                let mut message = Message(String::new());
                event.record(&mut message);
                self.0.lock().unwrap().push(message.0);
            }
        }
        /// Logs a line of its own while it is formatted.
        struct Chatty;
        impl std::fmt::Display for Chatty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                emit("10.0.0.2", format_args!("while formatting"));
                f.write_str("chatty")
            }
        }

        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(lines.clone()));
        let long = format!("\"GET /{} HTTP/1.1\" 200 -", "a".repeat(300));
        tracing::subscriber::with_default(subscriber, || {
            emit("192.168.100.200", format_args!("{long}"));
            emit("10.0.0.1", format_args!("short"));
            emit("10.0.0.1", format_args!("a {Chatty} one"));
            emit("10.0.0.1", format_args!("esc\x1b"));
        });
        let lines = lines.lock().unwrap();
        let expected = [
            ("192.168.100.200", long.as_str()),
            ("10.0.0.1", "short"),
            ("10.0.0.2", "while formatting"),
            ("10.0.0.1", "a chatty one"),
            ("10.0.0.1", "esc\\x1b"),
        ];
        assert_eq!(lines.len(), expected.len(), "{lines:?}");
        for (line, (address, message)) in lines.iter().zip(expected) {
            let (head, rest) = line.split_once("] ").unwrap();
            assert!(head.starts_with(&format!("{address} - - [")), "{line}");
            assert_eq!(head.len(), address.len() + " - - [".len() + 20, "{line}");
            assert_eq!(rest, message, "{line}");
        }
    }

    #[test]
    fn newline_cannot_forge_a_line() {
        let line = format_line("1.2.3.4", SystemTime::now(), "GET /a\nFAKE 200");
        assert!(!line.contains('\n'));
        assert!(line.contains("/a\\x0aFAKE"));
    }

    #[test]
    fn latin1_matches_python_decoding() {
        assert_eq!(latin1(b"GET /"), "GET /");
        assert_eq!(latin1("é".as_bytes()), "Ã©");
        // U+20AC '€' is E2 82 AC: Python logs 'â\x82¬'.
        assert_eq!(escape_control(&latin1("€".as_bytes())), "â\\x82¬");
    }

    #[cfg(feature = "subscriber")]
    #[test]
    fn rust_log_directives() {
        use tracing::Level;

        use super::subscriber::filter_from;
        for rust_log in [None, Some(""), Some("  ")] {
            let (targets, err) = filter_from(rust_log);
            assert!(err.is_none());
            assert!(targets.would_enable(TARGET, &Level::INFO));
            assert!(!targets.would_enable("hyper::proto", &Level::INFO));
            assert!(targets.would_enable("tower_http::trace", &Level::WARN));
        }
        let (targets, _) = filter_from(Some("basehttp=warn"));
        assert!(!targets.would_enable(TARGET, &Level::INFO));
        let (targets, _) = filter_from(Some("debug"));
        assert!(targets.would_enable("tower_http::trace", &Level::DEBUG));
        assert!(targets.would_enable(TARGET, &Level::INFO));
        let (targets, err) = filter_from(Some("basehttp=loud"));
        assert!(err.is_some());
        assert!(
            targets.would_enable(TARGET, &Level::INFO),
            "the default applies"
        );
    }

    #[test]
    fn date_formats() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(date_time_string(t), "Tue, 14 Nov 2023 22:13:20 GMT");
        let local = log_date_time_string(t);
        // dd/Mon/YYYY HH:MM:SS in local time.
        assert_eq!(local.len(), "14/Nov/2023 22:13:20".len());
        assert!(local.contains("/Nov/2023 "), "{local}");
        assert_eq!(date_header().to_str().map(str::len).ok(), Some(29));
    }
}
