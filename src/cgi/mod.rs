//! Python's `CGIHTTPRequestHandler`: CGI scripts (RFC 3875) run as a tower service or layer,
//! with Python's paths, pages and variables, and without Python's hazards.
//!
//! Python deprecated `CGIHTTPRequestHandler` and `--cgi` in 3.13 and removed them in 3.15
//! ("obsolete and rarely used"). basehttp keeps them because the folders of scripts they served
//! still exist — teaching material, intranet tools, test rigs for CGI code — and because the
//! weaknesses that made Python give up (a `200` sent before the script runs, no timeouts, a
//! `fork` of the whole server per request, the server's whole environment handed to scripts,
//! hangs under HTTP/1.1) are exactly what a production host fixes. What Python did is kept
//! where it is sound, and RFC 3875 and the established hosts (Go's `net/http/cgi`, lighttpd's
//! `mod_cgi`, Apache's `mod_cgi`) are followed where it is not.
//!
//! CGI is built on Unix (Linux, macOS, the BSDs): containment rests on process groups and
//! signals. On Windows the `cgi` feature adds nothing, and `basehttp --cgi` says so.
//!
//! From Python:
//!
//! - `cgi_directories` (`/cgi-bin`, `/htbin`), matched on the path after percent-decoding and
//!   `..` resolution (`/cgi-bin%2fx.sh` and `/x/../cgi-bin/x.sh` are scripts: CVE-2014-4650,
//!   bpo-19435), nested directories walked to split the script from `PATH_INFO`;
//! - Python's pages: `404 No such CGI script ('/cgi-bin/x')`, `403 CGI script is not a plain
//!   file (…)`, `403 CGI script is not executable (…)`, `501 Can only POST to CGI scripts`;
//! - every variable Python sets, with its values (`SERVER_PROTOCOL` is the handler's
//!   `protocol_version`, `CONTENT_TYPE` defaults to `text/plain`, `AUTH_TYPE`/`REMOTE_USER` from
//!   Basic credentials, empty `REMOTE_HOST`, `HTTP_USER_AGENT`, …), and the query as the
//!   script's argument when it has no `=` (but never one starting with `-`: CVE-2012-1823);
//! - `200 Script output follows` when the script sets no `Status`; scripts run as `nobody` when
//!   the server runs as root.
//!
//! From RFC 3875 and the best hosts:
//!
//! - the script's header block is parsed (LF or CRLF, bounded): `Status` sets the status,
//!   `Location: http://…` gives a `302`, `Location: /path` alone serves that path instead,
//!   `nph-…` scripts write their own status line; a bad block is a `502`, a block that does not
//!   come in time a `504`; framing and hop-by-hop fields are the server's; `HEAD`, `204` and
//!   `304` never carry the script's body;
//! - the other request headers as `HTTP_*` (never `Proxy` — httpoxy —, `Authorization` unless
//!   [`pass_authorization`](Cgi::pass_authorization), or names with `_` that would collide);
//!   `Cookie`s joined with `; `;
//! - an environment that starts empty but for `PATH`, `LANG`, `LC_*`, `TZ`, `TMPDIR`
//!   ([`inherit_env`](Cgi::inherit_env) restores Python's);
//! - scripts started without copying the server's memory (on Linux a `posix_spawn`-style
//!   `clone(CLONE_VM | CLONE_VFORK)` that can also switch to `nobody`; its cost does not grow
//!   with the server's size), each in its own process group and, where the host allows it, its
//!   own cgroup; the request body streamed to stdin (a body without a length is spooled to a
//!   temporary file first, so `CONTENT_LENGTH` is exact: within
//!   [`body_timeout`](Cgi::body_timeout), and within [`max_spool_total`](Cgi::max_spool_total)
//!   for all the spools at once), stdout streamed to the client, stderr to the log, all
//!   concurrently so no script can deadlock the server; a script that stalls, or whose client
//!   leaves, has its group terminated (`SIGTERM`, then `SIGKILL`), and nothing is left behind
//!   when it ends; a cap on scripts running at once (`503` beyond), a slot being taken only
//!   once the body is in hand, so a client that trickles its body holds none;
//! - headers that the `Connection` header names are for this hop only: never `HTTP_*`.
//!
//! Every answer goes through an [`Exchange`](crate::handler::Exchange), as in Python where
//! `CGIHTTPRequestHandler` is a `BaseHTTPRequestHandler`: a handler layered above overrides
//! [`is_cgi`](crate::handler::HttpRequestHandler::is_cgi) (which requests are scripts),
//! [`translate_path`](crate::handler::HttpRequestHandler::translate_path) (where they are),
//! the error pages' [`end_headers`](crate::handler::HttpRequestHandler::end_headers) and
//! `send_error`, the log lines (scripts' stderr and exit codes included) and the class
//! attributes. A script's own response is sent with `flush_headers()`, as Python sends it, so
//! `end_headers` overrides do not see it unless [`Cgi::end_headers_for_scripts`].
//!
//! On other Unix systems, running scripts as `nobody` without a `fork` of the server needs a
//! helper: a binary that serves CGI as root calls [`exec_helper`] first thing in `main` (the
//! `basehttp` binary does; on Linux the call costs nothing and is never needed). Without it the
//! standard library's `fork` path is used, whose cost grows with the server's memory.
//!
//! A descendant that starts its own session (a daemonising script) leaves the script's process
//! group; on Linux 5.14 and later, when the server's cgroup (v2) is writable — it runs as root,
//! or its cgroup was delegated to it (systemd's `Delegate=yes`) — every script runs in a cgroup
//! of its own below the server's, and whatever is left in it when the script exits is killed
//! (`cgroup.kill`), daemons included. Nothing outside the server's own cgroup is touched, so a
//! program embedding [`Cgi`] keeps its processes and cgroups as they are (it sees a directory
//! `basehttp-cgi-PID` in its cgroup, left until a server next runs scripts there). Elsewhere
//! such a daemon outlives its script.
//!
//! What is not contained: a script that writes something within every
//! [`idle_timeout`](Cgi::idle_timeout) may run as long as it likes, as in Python; and a program
//! embedding [`Cgi`] must not reap children it did not start (`SIGCHLD` ignored,
//! `waitpid(-1)`), or the process group could be signalled after its id was reused.
//!
//! # Example
//!
//! `python -m http.server --cgi 8000`: scripts in the CGI directories, files everywhere else.
//!
//! ```no_run
//! use basehttp::cgi::Cgi;
//! use basehttp::static_files::StaticFiles;
//! use tower::Layer;
//!
//! fn main() -> std::io::Result<()> {
//!     basehttp::cgi::exec_helper();
//!     let runtime = tokio::runtime::Runtime::new()?;
//!     runtime.block_on(async {
//!         let app = Cgi::new(".").into_layer().layer(StaticFiles::new("."));
//!         basehttp::server::run(("0.0.0.0", 8000), app).await
//!     })
//! }
//! ```
//!
//! Customised: other directories, a timeout, Python's inherited environment, and an
//! application below that takes its own `POST`s:
//!
//! ```
//! use std::time::Duration;
//! use basehttp::cgi::{Cgi, RunAs};
//! use tower::Layer;
//!
//! let api: axum::Router = axum::Router::new()
//!     .route("/api", axum::routing::post(|| async { "api" }));
//! let app = Cgi::new("/srv/www")
//!     .cgi_directories(["/cgi-bin", "/tools/bin"])
//!     .header_timeout(Duration::from_secs(10))
//!     .idle_timeout(Duration::from_secs(10))
//!     .inherit_env(true)
//!     .run_as(RunAs::Server)
//!     .post_only_to_scripts(false)
//!     .into_layer()
//!     .layer(api);
//! # let _ = app;
//! ```

#[cfg(clone_spawn)]
mod cgroup;
mod env;
mod head;
mod layer;
mod process;
mod resolve;
mod service;
#[cfg(clone_spawn)]
mod spawn;

pub use self::layer::CgiLayer;
// rustdoc keeps a `doc(alias)` of a re-exported item only when it sits on the `pub use`.
#[doc(alias = "CGIHTTPRequestHandler")]
#[doc(alias = "run_cgi")]
pub use self::service::Cgi;
pub use self::service::ResponseFuture;

/// Python's `CGIHTTPRequestHandler.cgi_directories` default.
#[doc(alias = "cgi_directories")]
pub const DEFAULT_CGI_DIRECTORIES: [&str; 2] = ["/cgi-bin", "/htbin"];

/// Python's `cgi_info`: what [`is_cgi`](crate::handler::HttpRequestHandler::is_cgi) found — the
/// directory of scripts a request lies in, and the rest of its path (the script, its
/// `PATH_INFO` and the query).
///
/// ```
/// use basehttp::cgi::CgiInfo;
///
/// // GET /cgi-bin/env.sh/extra?x=1
/// let info = CgiInfo::new("/cgi-bin", "env.sh/extra?x=1");
/// assert_eq!(info.dir, "/cgi-bin");
/// ```
#[doc(alias = "cgi_info")]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgiInfo {
    /// The directory, as a URL path (`/cgi-bin`); nested directories below it are found when
    /// the script runs.
    pub dir: String,
    /// What follows it, without the leading `/`: `script/path/info?query`.
    pub rest: String,
}

impl CgiInfo {
    /// Python's `self.cgi_info = dir, rest`.
    pub fn new(dir: impl Into<String>, rest: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            rest: rest.into(),
        }
    }
}

/// Python's `is_cgi()` for `path` (Python's `self.path`) and `directories`: the path is
/// collapsed (decoded, `..` resolved) and its shortest leading directory looked up.
pub(crate) fn default_is_cgi<D: AsRef<str>>(path: &str, directories: &[D]) -> Option<CgiInfo> {
    let collapsed = resolve::url_collapse_path(path)?;
    let (dir, rest) = resolve::is_cgi(&collapsed, directories)?;
    Some(CgiInfo::new(dir, rest))
}

/// The user CGI scripts run as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[doc(alias = "nobody_uid")]
pub enum RunAs {
    /// Python's rule: `nobody` (from `/etc/passwd`, else uid 65534) when the server runs as
    /// root, else the server's own user. Unlike Python, the group and supplementary groups
    /// change too.
    #[default]
    NobodyWhenRoot,
    /// The server's own user, always.
    Server,
    /// This user and group (the server must be allowed to switch to them).
    User {
        /// The user id.
        uid: u32,
        /// The group id.
        gid: u32,
    },
}

/// Lets this executable start CGI scripts as another user without a `fork` of the server on
/// systems other than Linux: call it first thing in `main`, before any thread or runtime
/// starts. (On Linux scripts start through `clone(CLONE_VM | CLONE_VFORK)`, which switches user
/// by itself; the helper is used only on kernels older than 5.2.)
///
/// When the process was started as the helper (by a [`Cgi`] service of the same executable
/// that needs to drop privileges) it switches user and group and `exec`s the script, and never
/// returns (exit status 127 if that fails). Otherwise it notes that the helper is available and
/// returns at once.
pub fn exec_helper() {
    let Some(ids) = std::env::var_os(process::HELPER_VAR) else {
        process::register_helper();
        return;
    };
    let err = process::run_helper(&ids);
    // The script's stderr is the server's log: say why it did not start.
    eprintln!("basehttp: cannot start the CGI script: {err}");
    #[allow(clippy::exit, reason = "the helper process has nothing to return to")]
    std::process::exit(127);
}
