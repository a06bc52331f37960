//! The server's limits, as the builder methods of [`HttpServer`](super::HttpServer) set them.

use std::time::Duration;

use super::conn::Linger;

#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) header_read_timeout: Option<Duration>,
    pub(super) keep_alive_timeout: Option<Duration>,
    pub(super) max_header_size: usize,
    pub(super) max_headers: usize,
    pub(super) max_connections: usize,
    pub(super) shutdown_timeout: Duration,
    pub(super) write_timeout: Option<Duration>,
    pub(super) title_case_headers: bool,
    pub(super) linger: Linger,
    pub(super) require_host: bool,
    pub(super) sendfile: bool,
    #[cfg(feature = "http2")]
    pub(super) http2: bool,
    #[cfg(feature = "http2")]
    pub(super) max_concurrent_streams: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            header_read_timeout: Some(Duration::from_secs(30)),
            keep_alive_timeout: Some(Duration::from_secs(5)),
            max_header_size: 128 * 1024,
            max_headers: 100,
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(10),
            write_timeout: Some(Duration::from_secs(60)),
            title_case_headers: true,
            require_host: true,
            sendfile: false,
            linger: Linger {
                time: Some(Duration::from_secs(5)),
                bytes: 64 << 20,
            },
            #[cfg(feature = "http2")]
            http2: false,
            #[cfg(feature = "http2")]
            max_concurrent_streams: 128,
        }
    }
}

/// hyper's default read-buffer limit (`8192 + 4096 * 100`); heads larger than this need a larger
/// buffer.
pub(super) const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;
