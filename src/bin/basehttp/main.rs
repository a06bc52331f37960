//! `basehttp`: `python -m http.server`, on hyper.
//!
//! Same flags, same banner, same log lines; see `basehttp --help`.

mod args;

use std::io;
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
    httpd.run().await?;
    Ok(ExitCode::SUCCESS)
}
