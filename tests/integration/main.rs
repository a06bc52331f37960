//! basehttp's integration tests: real sockets, raw bytes, real clients, real processes.
//!
//! One test binary (like ripgrep's) so the suite links once.

// Test helpers are shared between modules of this one crate.
#![allow(unreachable_pub)]

#[cfg(feature = "upload")]
mod addons;
#[cfg(feature = "fs")]
mod allocations;
mod bench_harness;
#[cfg(feature = "fs")]
mod browser;
mod cgi;
mod cli;
mod docs_search;
mod ecosystem;
mod examples;
mod files_clients;
mod files_compose;
mod files_parity;
mod fixture;
#[cfg(feature = "cgi")]
mod hooks;
#[cfg(all(feature = "cgi", feature = "http2"))]
mod hostile;
#[cfg(feature = "tls")]
mod https;
#[cfg(all(feature = "axum", feature = "cgi", feature = "subscriber"))]
mod mount;
#[cfg(all(feature = "cgi", feature = "subscriber"))]
mod overrides;
mod package;
#[cfg(feature = "fs")]
mod platforms;
mod python_parity;
mod snippets;
mod static_files;
mod support;
#[cfg(all(feature = "upload", target_os = "linux"))]
mod upload_browser;
mod wire;
