//! `basehttp`: `python -m http.server`, on hyper.
//!
//! Same flags, same banner, same log lines; see `basehttp --help`.

mod args;

use std::io;
use std::process::ExitCode;

#[cfg(unix)]
use basehttp::cgi::Cgi;
use std::convert::Infallible;

use basehttp::Body;
use basehttp::basic_auth::BasicAuth;
use basehttp::compression::CompressionLayer;
use basehttp::prelude::*;
use basehttp::server::HttpServer;
use basehttp::static_files::StaticFiles;
#[cfg(unix)]
use basehttp::upload::Upload;
use clap::Parser;
use http::{Request, Response};
use hyper::body::Incoming;
use tower::Layer;
use tower::ServiceExt;
use tower::util::Either;
use tower::util::{BoxCloneSyncService, MapRequest};
use tower_http::cors::{AllowHeaders, AllowMethods, CorsLayer};

use self::args::{Args, Config, LogFormat};

fn main() -> ExitCode {
    // Started as the helper that runs a CGI script as `nobody`: never returns.
    #[cfg(unix)]
    basehttp::cgi::exec_helper();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => return usage_error(&args::clap_error_message(&err)),
    };
    // argparse's -h/--help and -V/--version: on stdout, exit 0.
    if args.help {
        print!("{}", args::help());
        return ExitCode::SUCCESS;
    }
    if args.version {
        println!("basehttp {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match args.into_config() {
        Ok(config) => config,
        Err(message) => return usage_error(&message),
    };
    if config.cgi && cfg!(not(unix)) {
        eprintln!(
            "basehttp: error: --cgi is not supported on Windows (scripts need Unix process \
             groups and signals); serve the files without it"
        );
        return ExitCode::from(2);
    }
    // Certificates are read before anything is bound, so a bad file is a usage error.
    let tls = match &config.tls {
        Some(tls) => match basehttp::server::tls::load_cert_chain(
            &tls.cert,
            tls.key.as_deref(),
            tls.password.as_deref(),
        ) {
            Ok(tls) => Some(tls),
            Err(err) => {
                eprintln!("basehttp: error: TLS: {err}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    raise_descriptor_limit();
    bound_allocator_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("basehttp: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The server runs as a task on the runtime's workers, not in `block_on` on this thread:
    // each accepted connection then starts on the worker that accepted it, instead of being
    // handed from this thread to a worker and waking it: two `futex` calls, an `eventfd` write
    // and two more `epoll_wait`s a connection (`benches/syscalls.sh`), about 12 % of the CPU
    // time of connection-per-request traffic (`benches/performance.sh small-close`).
    let served = runtime.block_on(async {
        match tokio::spawn(run(config, tls)).await {
            Ok(served) => served,
            // A panic stays a panic, as if it had happened on this thread.
            Err(join) => match join.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(join) => Err(io::Error::other(join)),
            },
        }
    });
    match served {
        Ok(code) => code,
        Err(err) => {
            eprintln!("basehttp: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open descriptors to the hard one, as nginx's
/// `worker_rlimit_nofile` and Go's runtime do: the common soft default of 1,024 is a few hundred
/// connections serving files, which a handful of HTTP/2 clients can use up.
#[cfg(unix)]
fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    // macOS refuses a soft limit above `OPEN_MAX` (its hard limit is usually unlimited).
    let cap = cfg!(target_vendor = "apple").then_some(10_240);
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(raised) = raised_limit(limit.current, limit.maximum, cap) {
        limit.current = Some(raised);
        // Best effort: the server works within the old limit too.
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// The soft limit to set: the hard limit (`None`: unlimited) capped at `cap`, when that is
/// above the soft limit. An unlimited hard limit without a cap is left alone (some systems
/// refuse an unlimited soft one).
#[cfg_attr(not(unix), allow(dead_code))]
fn raised_limit(current: Option<u64>, maximum: Option<u64>, cap: Option<u64>) -> Option<u64> {
    let target = match (maximum, cap) {
        (Some(maximum), Some(cap)) => maximum.min(cap),
        (Some(maximum), None) => maximum,
        (None, Some(cap)) => cap,
        (None, None) => return None,
    };
    current.filter(|&current| current < target).map(|_| target)
}

/// Windows has no such limit on sockets and handles.
#[cfg(not(unix))]
fn raise_descriptor_limit() {}

/// Caps glibc's malloc arenas at one per CPU (its default is eight per CPU): every thread of the
/// blocking pool that reads a large directory may otherwise get an arena of its own, which keeps
/// its peak size after the listing is sent. Measured side by side with `benches/hostile.py -a
/// listing-non-readers` (200 clients of a 50,000-entry listing): 129 MB peak with
/// `MALLOC_ARENA_MAX=8`, 71 MB with this cap. `MALLOC_ARENA_MAX` still wins.
fn bound_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let cpus = libc::c_int::try_from(cpus).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only sets a tunable of the allocator; called before any other
        // thread exists.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cpus);
        }
    }
}

/// argparse's `parser.error()`: the usage, `basehttp: error: MESSAGE` on stderr, exit 2.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("{}", args::usage());
    eprintln!("basehttp: error: {message}");
    ExitCode::from(2)
}

async fn run(config: Config, tls: Option<rustls::ServerConfig>) -> io::Result<ExitCode> {
    let _log = match (config.quiet, config.log_format) {
        (true, _) => None,
        (false, LogFormat::Python) => basehttp::log::init(),
        (false, LogFormat::Json) => basehttp::log::init_json(),
    };
    let files = StaticFiles::new(&config.directory)
        .protocol_version(config.protocol)
        .follow_symlinks(config.follow_symlinks)
        .memory_cache(config.memory_cache)
        .memory_cache_valid(config.memory_cache_valid)
        .extra_headers(config.headers.clone());
    if config.upload.is_some() && cfg!(not(unix)) {
        eprintln!("basehttp: error: --upload is not supported on Windows");
        return Ok(ExitCode::from(2));
    }
    if config.upload.is_some()
        || config.basic_auth.is_some()
        || config.cors.is_some()
        || config.compress
    {
        let service = add_ons(&config, files);
        return serve(&config, tls, service).await;
    }
    // python -m http.server --cgi: CGIHTTPRequestHandler, scripts over the file server.
    #[cfg(unix)]
    let service = if config.cgi {
        Either::Left(cgi(&config).into_layer().layer(files))
    } else {
        Either::Right(files)
    };
    // Without CGI (refused in `main` on Windows), the files alone.
    #[cfg(not(unix))]
    let service = files;

    serve(&config, tls, service).await
}

/// `--cgi` and its options: `CGIHTTPRequestHandler`, scripts over the file server.
#[cfg(unix)]
fn cgi(config: &Config) -> Cgi {
    Cgi::new(&config.directory)
        .protocol_version(config.protocol)
        .follow_symlinks(config.follow_symlinks)
        .header_timeout(config.cgi_timeout)
        .idle_timeout(config.cgi_timeout)
        .inherit_env(config.cgi_inherit_env)
}

type Boxed = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The server with what `--upload`, `--basic-auth`, `--cors` and `--compress` add, outermost
/// first: CORS (so that preflights, which carry no credentials, are answered, and every answer
/// — a `401` too — carries its headers), basic authentication, compression, uploads, CGI, the
/// files.
fn add_ons(
    config: &Config,
    files: StaticFiles,
) -> MapRequest<Boxed, fn(Request<Incoming>) -> Request<Body>> {
    #[cfg(unix)]
    let mut service: Boxed = if config.cgi {
        BoxCloneSyncService::new(cgi(config).into_layer().layer(files))
    } else {
        BoxCloneSyncService::new(files)
    };
    #[cfg(not(unix))]
    let mut service: Boxed = BoxCloneSyncService::new(files);
    #[cfg(unix)]
    if let Some(upload) = &config.upload {
        let mut layer = Upload::new(&config.directory)
            .overwrite(upload.overwrite)
            .allow_hidden(upload.allow_hidden)
            .max_size(upload.max_size)
            .follow_symlinks(config.follow_symlinks)
            .protocol_version(config.protocol);
        if let Some(credentials) = &upload.basic_auth {
            layer = layer.basic_auth(credentials.clone());
        }
        service = BoxCloneSyncService::new(layer.into_layer().layer(service));
    }
    if config.compress {
        service = BoxCloneSyncService::new(CompressionLayer::new().layer(service));
    }
    if let Some(credentials) = &config.basic_auth {
        let mut auth = BasicAuth::new(credentials.clone()).protocol_version(config.protocol);
        // uploadserver: with both, either is accepted outside the upload page.
        if let Some(upload) = config.upload.as_ref().and_then(|u| u.basic_auth.clone()) {
            auth = auth.or(upload);
        }
        service = BoxCloneSyncService::new(auth.into_layer().layer(service));
    }
    if let Some(origins) = &config.cors {
        let cors = CorsLayer::new()
            .allow_methods(AllowMethods::mirror_request())
            // `*` does not cover `Authorization`; the headers asked for do.
            .allow_headers(AllowHeaders::mirror_request())
            // A list, not `*` (which cannot go with credentials): what a page reading files
            // needs beyond the always-readable headers.
            .expose_headers([
                http::header::ETAG,
                http::header::CONTENT_RANGE,
                http::header::ACCEPT_RANGES,
                http::header::CONTENT_ENCODING,
                http::header::WWW_AUTHENTICATE,
            ]);
        let cors = if origins.is_empty() {
            // Any page may read, never with the user's credentials.
            cors.allow_origin(tower_http::cors::Any)
        } else {
            // The named origins may also send credentials (a password, with --basic-auth).
            cors.allow_origin(origins.clone()).allow_credentials(true)
        };
        // tower-http answers every OPTIONS as a preflight; only real ones go to it, the rest
        // to the stack (which answers Python's 501, or 401 first).
        let plain = service.clone();
        let with_cors = cors.layer(service);
        let routed = tower::service_fn(move |request: Request<Body>| {
            let through_cors = request.method() != http::Method::OPTIONS
                || request
                    .headers()
                    .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD);
            let future = if through_cors {
                Either::Left(with_cors.clone().oneshot(request))
            } else {
                Either::Right(plain.clone().oneshot(request))
            };
            async move {
                match future {
                    Either::Left(future) => future.await,
                    Either::Right(future) => future.await,
                }
            }
        });
        // A handler above CORS logs the preflights it answers, as every other request.
        let front = Front {
            protocol: config.protocol,
        };
        service =
            BoxCloneSyncService::new(front.into_layer().layer(BoxCloneSyncService::new(routed)));
    }
    MapRequest::new(service, |request: Request<Incoming>| request.map(Body::new))
}

/// The outermost handler when CORS answers preflights: their log line, and the command's
/// protocol version. Its `100 Continue` is left to the services below, which may refuse the
/// body first.
struct Front {
    protocol: http::Version,
}

impl HttpRequestHandler for Front {
    fn protocol_version(&self) -> http::Version {
        self.protocol
    }

    async fn handle_expect_100(&self, _ex: &mut Exchange) -> bool {
        true
    }
}

async fn serve<S, B>(
    config: &Config,
    tls: Option<rustls::ServerConfig>,
    service: S,
) -> io::Result<ExitCode>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<basehttp::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<basehttp::BoxError>,
{
    let host = config.bind.as_deref().unwrap_or("0.0.0.0");
    let httpd = HttpServer::bind((host, config.port), service)
        .await
        .map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot bind {host} port {}: {err}", config.port),
            )
        })?;
    // HTTP/2 beside HTTP/1.1 (ALPN over TLS, prior knowledge in cleartext); HTTP/1.0 keeps
    // Python's one request per connection.
    let httpd = httpd
        .http2(config.protocol >= http::Version::HTTP_11)
        .require_host(!config.allow_missing_host)
        .sendfile(config.sendfile);
    let httpd = match tls {
        Some(tls) => httpd.tls(tls),
        None => httpd,
    };
    httpd.run().await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::raised_limit;

    #[test]
    fn the_descriptor_limit_is_raised_to_what_the_system_accepts() {
        // Linux: soft 1,024, hard 524,288.
        assert_eq!(raised_limit(Some(1024), Some(524_288), None), Some(524_288));
        // macOS: soft 256, hard unlimited, capped at OPEN_MAX.
        assert_eq!(raised_limit(Some(256), None, Some(10_240)), Some(10_240));
        assert_eq!(
            raised_limit(Some(256), Some(4096), Some(10_240)),
            Some(4096)
        );
        // Already there, or unlimited.
        assert_eq!(raised_limit(Some(524_288), Some(524_288), None), None);
        assert_eq!(raised_limit(None, None, None), None);
        assert_eq!(raised_limit(Some(1024), None, None), None);
    }
}
