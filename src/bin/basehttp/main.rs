//! `basehttp`: `python -m http.server`, on hyper.
//!
//! Same flags, same banner, same log lines; see `basehttp --help`.

mod args;

use std::io::{self, Write};
use std::process::ExitCode;

use basehttp::prelude::*;
use basehttp::server::HttpServer;
use clap::Parser;
use http::Version;

use self::args::{Args, Config};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // --help and --version print to stdout and exit 0; usage errors exit 2.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let config = match args.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("basehttp: error: {message}");
            return ExitCode::from(2);
        }
    };
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
    match runtime.block_on(run(config)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("basehttp: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Until file serving lands, the CLI serves Python's bare handler with the requested protocol.
struct CliHandler {
    protocol: Version,
}

impl HttpRequestHandler for CliHandler {
    fn server_version(&self) -> &str {
        "SimpleHTTP/0.6"
    }

    fn protocol_version(&self) -> Version {
        self.protocol
    }
}

async fn run(config: Config) -> io::Result<ExitCode> {
    let _log = basehttp::log::init();
    let _ = (&config.directory, config.cgi);
    let service = CliHandler {
        protocol: config.protocol,
    }
    .into_service();

    let host = config.bind.as_deref().unwrap_or("0.0.0.0");
    let httpd = HttpServer::bind((host, config.port), service)
        .await
        .map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot bind {host} port {}: {err}", config.port),
            )
        })?;

    let addr = httpd.server_address();
    let host = addr.ip().to_string();
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let port = addr.port();
    {
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "Serving HTTP on {host} port {port} (http://{url_host}:{port}/) ..."
        )?;
        stdout.flush()?;
    }

    let shutdown = httpd.shutdown_handle();
    let serve = httpd.serve_forever();
    tokio::pin!(serve);
    tokio::select! {
        result = &mut serve => return result.map(|()| ExitCode::SUCCESS),
        signal = stop_signal() => {
            if signal == Stop::Interrupt {
                let mut stdout = io::stdout().lock();
                writeln!(stdout, "\nKeyboard interrupt received, exiting.")?;
                stdout.flush()?;
            }
            drop(shutdown.shutdown());
        }
    }
    // Let in-flight requests finish; a second Ctrl-C stops at once.
    tokio::select! {
        result = &mut serve => result?,
        _ = stop_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Terminate,
}

/// Ctrl-C (Python: KeyboardInterrupt) or SIGTERM.
async fn stop_signal() -> Stop {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return wait_ctrl_c().await,
        };
        tokio::select! {
            stop = wait_ctrl_c() => stop,
            _ = term.recv() => Stop::Terminate,
        }
    }
    #[cfg(not(unix))]
    {
        wait_ctrl_c().await
    }
}

async fn wait_ctrl_c() -> Stop {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    Stop::Interrupt
}
