//! `basehttp`: `python -m http.server`, on hyper.
//!
//! Same flags, same banner, same log lines; see `basehttp --help`.

mod args;

use std::io;
use std::process::ExitCode;

#[cfg(unix)]
use basehttp::cgi::Cgi;
use basehttp::server::HttpServer;
use basehttp::static_files::StaticFiles;
use clap::Parser;
#[cfg(unix)]
use tower::{Layer, util::Either};

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
    match runtime.block_on(run(config, tls)) {
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
        .extra_headers(config.headers);
    // python -m http.server --cgi: CGIHTTPRequestHandler, scripts over the file server.
    #[cfg(unix)]
    let service = if config.cgi {
        let cgi = Cgi::new(&config.directory)
            .protocol_version(config.protocol)
            .follow_symlinks(config.follow_symlinks)
            .header_timeout(config.cgi_timeout)
            .idle_timeout(config.cgi_timeout)
            .inherit_env(config.cgi_inherit_env);
        Either::Left(cgi.into_layer().layer(files))
    } else {
        Either::Right(files)
    };
    // Without CGI (refused in `main` on Windows), the files alone.
    #[cfg(not(unix))]
    let service = files;

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
        .require_host(!config.allow_missing_host);
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
