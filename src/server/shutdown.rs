//! Stopping: Python's `server.shutdown()`, the drain with its deadline, and `http.server.test()`
//! with its Ctrl-C handling.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::net::ToSocketAddrs;
use tokio::sync::watch;
use tower::Service;

use super::HttpServer;
use crate::BoxError;
use crate::connection::Signal;

/// A handle that stops a running [`HttpServer`]: Python's `server.shutdown()`.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(super) signal: Arc<watch::Sender<Signal>>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl ShutdownHandle {
    /// Python's `shutdown()`: tells `serve_forever` to stop accepting, let in-flight requests
    /// finish and return. The request is made immediately; await the returned future to wait
    /// until `serve_forever` has returned (or drop it to not wait).
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        self.request_shutdown();
        let mut rx = self.signal.subscribe();
        async move {
            // serve_forever resets the signal to `Run` once it has returned.
            let _ = rx.wait_for(|s| *s == Signal::Run).await;
        }
    }

    pub(super) fn request_shutdown(&self) {
        self.signal.send_if_modified(|s| {
            if *s == Signal::Run {
                *s = Signal::Drain;
                true
            } else {
                false
            }
        });
    }
}

/// What `run` says on stderr when requests are still running after the first Ctrl-C.
fn waiting_message(open: usize, timeout: Duration) -> String {
    let connections = if open == 1 {
        "connection"
    } else {
        "connections"
    };
    let secs = timeout.as_secs_f64();
    format!(
        "Waiting up to {secs} s for the requests of {open} {connections} to finish; \
         press Ctrl-C again to exit now."
    )
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the signals Python's server stops on.
pub async fn shutdown_signal() {
    match StopSignals::new() {
        Ok(mut signals) => {
            signals.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Python's `http.server.test(HandlerClass, port=…, bind=…)`: binds `addr`, then
/// [`HttpServer::run`]: Python's banner, serving until Ctrl-C or SIGTERM, Python's goodbye.
///
/// ```no_run
/// use basehttp::prelude::*;
///
/// # async fn demo() -> std::io::Result<()> {
/// // python -c 'from http.server import *; test(BaseHTTPRequestHandler, port=8000)'
/// basehttp::server::run(("0.0.0.0", 8000), DefaultHandler.into_service()).await
/// # }
/// ```
pub async fn run<S, B>(addr: impl ToSocketAddrs, service: S) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    HttpServer::bind(addr, service).await?.run().await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Terminate,
}

/// Ctrl-C (Python's KeyboardInterrupt) and SIGTERM — on Windows Ctrl-C, and Ctrl-Break or the
/// console closing in SIGTERM's place — listened for from creation on.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    interrupt: tokio::signal::windows::CtrlC,
    #[cfg(windows)]
    ctrl_break: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
}

impl StopSignals {
    fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
            Ok(Self {
                interrupt: ctrl_c()?,
                ctrl_break: ctrl_break()?,
                close: ctrl_close()?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        {
            Ok(Self {})
        }
    }

    async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Stop::Interrupt,
                _ = self.terminate.recv() => Stop::Terminate,
            }
        }
        #[cfg(windows)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Stop::Interrupt,
                _ = self.ctrl_break.recv() => Stop::Terminate,
                _ = self.close.recv() => Stop::Terminate,
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            std::future::pending::<Stop>().await
        }
    }
}

/// Writes `text` to stdout and flushes it, as Python's `print` of the banner does (with its
/// line endings: `\r\n` on Windows).
#[allow(clippy::print_stdout)]
fn print_flushed(text: &str) -> io::Result<()> {
    use std::io::Write;
    let text = match crate::util::NEWLINE {
        "\n" => std::borrow::Cow::Borrowed(text),
        newline => std::borrow::Cow::Owned(text.replace('\n', newline)),
    };
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

impl<S, B> HttpServer<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Python's `http.server.test()`: prints Python's banner on stdout
    /// (`Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...`), serves until Ctrl-C or
    /// SIGTERM, then stops gracefully. On Ctrl-C it prints `\nKeyboard interrupt received,
    /// exiting.` as Python does; a second Ctrl-C stops without waiting for in-flight requests.
    #[doc(alias = "test")]
    pub async fn run(&self) -> io::Result<()> {
        // Listen for the signals before announcing anything, so a signal right after the banner
        // is never missed.
        let mut signals = StopSignals::new()?;
        let host = self.local.ip().to_string();
        let url_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let port = self.local.port();
        let (protocol, scheme) = if self.is_tls() {
            ("HTTPS", "https")
        } else {
            ("HTTP", "http")
        };
        print_flushed(&format!(
            "Serving {protocol} on {host} port {port} ({scheme}://{url_host}:{port}/) ...\n"
        ))?;
        let shutdown = self.shutdown_handle();
        let serve = self.serve_forever();
        let mut serve = pin!(serve);
        tokio::select! {
            result = &mut serve => return result,
            stop = signals.recv() => {
                if stop == Stop::Interrupt {
                    print_flushed("\nKeyboard interrupt received, exiting.\n")?;
                }
                shutdown.request_shutdown();
            }
        }
        // Idle connections close at once; give them a moment before counting what still runs.
        tokio::select! {
            result = &mut serve => return result,
            _ = signals.recv() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let running = self.connections.count();
        if running > 0 {
            eprintln!("{}", waiting_message(running, self.config.shutdown_timeout));
        }
        tokio::select! {
            result = &mut serve => result,
            _ = signals.recv() => Ok(()),
        }
    }

    /// Waits for the connections to finish, for at most the shutdown timeout; then tells the
    /// rest to close at once, and waits for them to go.
    pub(super) async fn drain(&self) {
        let drained =
            tokio::time::timeout(self.config.shutdown_timeout, self.connections.emptied());
        if drained.await.is_err() {
            self.signal.send_replace(Signal::Abort);
            self.connections.emptied().await;
        }
    }
}
