//! The connection driver: hyper's connection future raced against the connection's timeouts,
//! the server's shutdown signal and a handler's request to close.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::Config;
use crate::BoxError;
use crate::connection::{Control, Phase, Signal};

/// Drives one connection: hyper's future, plus the reasons to end it early — a handler asking
/// to close after its response (checked after every poll: it is set from this very task), the
/// server shutting down, and the two timeouts.
///
/// The timeouts share one timer that is re-armed only when it fires, so a request costs no timer
/// work at all: hyper's own header-read timer would box and register a fresh sleep per request.
/// Hand-polled rather than a `select!` loop so that nothing is re-registered per request.
pub(super) async fn drive<C>(
    conn: C,
    control: &Control,
    config: &Config,
    mut signal: watch::Receiver<Signal>,
    remote: SocketAddr,
) where
    C: Future<Output = hyper::Result<()>> + GracefulConnection,
{
    let mut conn = pin!(conn);
    let mut stop: Pin<Box<dyn Future<Output = Signal> + Send>> =
        Box::pin(next_signal(signal.clone(), Signal::Drain));
    let mut stop_armed = false;
    let mut draining = false;
    let check_every = check_interval(config);
    let mut timer = pin!(tokio::time::sleep_until(at(control.epoch(), check_every)));
    let mut timer_armed = false;
    let mut stall = Stall::default();
    let mut closing = false;
    let mut registered = false;
    std::future::poll_fn(|cx| {
        if !registered {
            // An HTTP/1 response body parked until the socket drains is resumed through it.
            control.register_task(cx.waker());
            registered = true;
        }
        loop {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                if let Err(err) = result {
                    log_connection_error(remote, &err, control.in_flight());
                }
                return Poll::Ready(());
            }
            if !closing && control.take_close_request() {
                conn.as_mut().shutdown_gracefully();
                closing = true;
                continue;
            }
            // Once registered, the stop future wakes this task when the signal changes; until
            // then, a cheap version check is enough.
            if !stop_armed || signal.has_changed().unwrap_or(true) {
                stop_armed = true;
                let _ = signal.borrow_and_update();
                if let Poll::Ready(sig) = stop.as_mut().poll(cx) {
                    if sig == Signal::Abort || draining {
                        return Poll::Ready(());
                    }
                    draining = true;
                    stop = Box::pin(next_signal(signal.clone(), Signal::Abort));
                    stop_armed = false;
                    if !closing {
                        conn.as_mut().shutdown_gracefully();
                        closing = true;
                    }
                    continue;
                }
            }
            if check_every.is_some() && (!timer_armed || timer.is_elapsed()) {
                timer_armed = true;
                if timer.as_mut().poll(cx).is_ready() {
                    match check_timeouts(control, config, remote, closing, &mut stall) {
                        Some(next) => timer.as_mut().reset(next),
                        // Nothing can progress: drop the connection. (hyper's graceful shutdown
                        // would wait for a request head, or a reader, that may never come.)
                        None => return Poll::Ready(()),
                    }
                    timer_armed = false;
                    continue;
                }
            }
            return Poll::Pending;
        }
    })
    .await;
}

/// How often a connection's timeouts are looked at, at most: the shortest configured timeout.
fn check_interval(config: &Config) -> Option<Duration> {
    [
        config.keep_alive_timeout,
        config.header_read_timeout,
        config.write_timeout,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `base + duration`, or a time too far to matter when that does not fit.
fn at(base: Instant, duration: Option<Duration>) -> Instant {
    duration
        .and_then(|d| base.checked_add(d))
        .or_else(|| base.checked_add(FOREVER))
        .unwrap_or(base)
}

/// Write progress as last seen by the timer: the connection's write count, and since when it
/// has not moved while output waits.
#[derive(Debug, Default)]
struct Stall {
    writes: u64,
    since: Option<Instant>,
}

/// Decides, when the connection's timer fires, whether it has timed out (`None`: close it now)
/// or when to look again.
fn check_timeouts(
    control: &Control,
    config: &Config,
    remote: SocketAddr,
    closing: bool,
    stall: &mut Stall,
) -> Option<Instant> {
    let now = Instant::now();
    let interval = check_interval(config);
    let recheck = |deadline: Instant| Some(deadline.max(now + MIN_RECHECK));
    // A client that does not read what it asked for.
    let writes = control.writes();
    if control.write_blocked() && writes == stall.writes {
        let since = *stall.since.get_or_insert(now);
        if let Some(timeout) = config.write_timeout {
            if at(since, Some(timeout)) <= now {
                return None;
            }
        }
    } else {
        stall.writes = writes;
        stall.since = None;
    }
    // An HTTP/2 response the client's flow-control window holds back: its stream, or the whole
    // connection, stalls without any write pending.
    if let (Some(since), Some(timeout)) = (control.oldest_wait(), config.write_timeout) {
        if at(since, Some(timeout)) <= now {
            crate::log::emit(
                &remote.ip().to_string(),
                format_args!("Request timed out: the client's flow-control window stayed closed"),
            );
            return None;
        }
    }
    if closing {
        // hyper is finishing the last response and will close by itself.
        return recheck(at(now, interval));
    }
    match control.phase() {
        // A request is being answered; body and handler timeouts are middleware's business.
        Phase::Busy => recheck(at(now, interval)),
        Phase::Idle { since } => {
            let idle = [config.keep_alive_timeout, config.header_read_timeout]
                .into_iter()
                .flatten()
                .min();
            match idle {
                Some(timeout) if at(since, Some(timeout)) <= now => None,
                Some(timeout) => recheck(at(since, Some(timeout))),
                None => recheck(at(now, interval)),
            }
        }
        Phase::ReadingHead { since } => match config.header_read_timeout {
            Some(timeout) if at(since, Some(timeout)) <= now => {
                crate::log::emit(
                    &remote.ip().to_string(),
                    format_args!("Request timed out: no complete request head in time"),
                );
                None
            }
            Some(timeout) => recheck(at(since, Some(timeout))),
            None => recheck(at(now, interval)),
        },
    }
}

/// A sleep long enough to never fire.
pub(super) const FOREVER: Duration = Duration::from_secs(60 * 60 * 24 * 365);

/// The shortest interval between two timeout checks.
const MIN_RECHECK: Duration = Duration::from_millis(10);

/// Resolves with the server's signal once it is `at_least` (`Drain` or `Abort`).
///
/// The connection driver polls it again only after the signal changed. That needs a pending poll
/// to leave it registered for the next change: it runs outside tokio's cooperative budget, under
/// which `changed()` may instead return pending having only woken the task (that wake-up would
/// find the signal unchanged and not poll it).
pub(super) fn next_signal(
    signal: watch::Receiver<Signal>,
    at_least: Signal,
) -> impl Future<Output = Signal> + Send {
    tokio::task::unconstrained(signal_at_least(signal, at_least))
}

async fn signal_at_least(mut signal: watch::Receiver<Signal>, at_least: Signal) -> Signal {
    loop {
        let current = *signal.borrow_and_update();
        if current == Signal::Abort || current == at_least {
            return current;
        }
        if signal.changed().await.is_err() {
            return Signal::Abort;
        }
    }
}

/// hyper's connection futures, which can be asked to finish their current request and close.
pub(super) trait GracefulConnection {
    fn shutdown_gracefully(self: Pin<&mut Self>);
}

impl<I, S> GracefulConnection for http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: http_body::Body + 'static,
    <S::ResBody as http_body::Body>::Error: Into<BoxError>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

#[cfg(feature = "http2")]
impl<I, S, E, B> GracefulConnection for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// The I/O error under a hyper error when it says the client went away (it closed or reset the
/// connection while the response was being written).
fn client_left(err: &hyper::Error) -> Option<&io::Error> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            )
            .then_some(io);
        }
        source = cause.source();
    }
    None
}

/// Logs what hyper did with a connection it gave up on, in Python's format.
fn log_connection_error(remote: SocketAddr, err: &hyper::Error, in_flight: bool) {
    let message = if err.is_parse_too_large() {
        // hyper answered 414 for a long target, 431 for a large head.
        let code = if err.to_string().contains("URI") {
            414
        } else {
            431
        };
        format!("code {code}, message {err}")
    } else if err.is_parse() {
        format!("code 400, message {err}")
    } else if err.is_timeout() {
        format!("Request timed out: {err}")
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        return;
    } else if let Some(io) = client_left(err) {
        // Python: a `BrokenPipeError` traceback under "Exception occurred during processing".
        if in_flight {
            format!("client closed the connection before the response was complete ({err}: {io})")
        } else {
            format!("client closed the connection ({err}: {io})")
        }
    } else {
        format!("connection error: {err}")
    };
    crate::log::emit(&remote.ip().to_string(), format_args!("{message}"));
}
