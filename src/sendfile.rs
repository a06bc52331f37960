//! Files sent with `sendfile`: on a cleartext HTTP/1 connection (Linux), the parts of a file
//! response that are in the page cache go from the file to the socket inside the kernel, never
//! through the server's memory.
//!
//! hyper writes bodies from memory, so the file body hands it placeholders instead of bytes:
//! slices of one shared buffer, as long as the file regions they stand for, whose regions it
//! records with the connection, in order. The connection's socket wrapper
//! ([`ActivityIo`](crate::server::conn::ActivityIo)) recognises a placeholder by its address and
//! sends its region with `sendfile` instead.
//!
//! What keeps a placeholder from ever reaching a client as bytes:
//! - only the server switches a file body over, just before it hands the response to hyper, and
//!   only a body that is the file body itself (no layer transformed it, and none can see the
//!   placeholders it then makes);
//! - only on connections whose socket wrapper sits directly on the TCP stream, serving HTTP/1
//!   (not under TLS, not HTTP/2, whose framing copies the bytes);
//! - the socket wrapper fails the connection rather than write a placeholder it cannot match
//!   with a region.
//!
//! A region is sent this way only when `cachestat` reports all of its pages cached, so
//! `sendfile` does not wait for the disk on the runtime (data off the disk still goes through
//! the blocking pool). The check is made as the region is handed over: pages the kernel evicts
//! before the socket takes them (memory pressure, a slow client) are read by `sendfile` itself.
//! A file that shrinks while it is sent ends the connection, as it does when read; but the
//! kernel sends page-cache pages by reference, so bytes already handed to the socket can reach
//! the client as zeros if the file is truncated meanwhile: why this is off by default.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The longest region one placeholder stands for: 2 MiB. A placeholder costs no memory (the
/// buffer behind them is never written, so its pages are never touched), so this only bounds
/// how far a body runs ahead of the socket.
pub(crate) const MAX_REGION: usize = 2 << 20;

/// Where each `sendfile` call ends: at the next multiple of 256 KiB of the connection's output
/// (the first call is shorter by the response head), as lighttpd sends. Calls of 256 KiB that
/// end on such a boundary keep a fast client busy between calls, where unaligned or 2 MiB calls
/// let it fall asleep more often, and waking it up costs the server more than the data
/// (`benches/curl-sleeps.sh`: one `curl` of 64 MiB slept 291 times a download with 2 MiB
/// calls, 105 with these, 108 against lighttpd).
const SEND_ALIGN: u64 = 256 << 10;

/// How much of `left` bytes one `sendfile` call sends when the connection has written `written`
/// bytes: up to the next multiple of [`SEND_ALIGN`], or the whole region when less than a
/// quarter of that would be left after the boundary. Regions are cut in the file and the
/// boundaries fall in the output, so without that every region would end in a call the size of
/// the response head: a packet of its own.
fn send_len(written: u64, left: usize) -> usize {
    let to_boundary = SEND_ALIGN - written % SEND_ALIGN;
    match usize::try_from(to_boundary + SEND_ALIGN / 4) {
        Ok(most) if left > most => usize::try_from(to_boundary).unwrap_or(left),
        _ => left,
    }
}

/// The buffer every placeholder is a slice of: zeros, allocated once, never read or written.
fn placeholders() -> &'static [u8] {
    static BUFFER: OnceLock<&'static [u8]> = OnceLock::new();
    BUFFER.get_or_init(|| Box::leak(vec![0u8; MAX_REGION].into_boxed_slice()))
}

/// Whether `buf` is (the rest of) a placeholder.
pub(crate) fn is_placeholder(buf: &[u8]) -> bool {
    let start = placeholders().as_ptr() as usize;
    let at = buf.as_ptr() as usize;
    !buf.is_empty() && at >= start && at < start + MAX_REGION
}

/// A file region to send in place of a placeholder.
#[derive(Debug)]
struct Region {
    file: Arc<File>,
    offset: u64,
    left: usize,
}

/// The regions a connection's placeholders stand for, in the order they are written.
#[derive(Debug, Default)]
pub(crate) struct Regions {
    queue: Mutex<VecDeque<Region>>,
}

impl Regions {
    /// Records `len` bytes of `file` at `offset` (at most [`MAX_REGION`]) and returns the
    /// placeholder hyper writes for them.
    pub(crate) fn push(&self, file: Arc<File>, offset: u64, len: usize) -> Bytes {
        let len = len.min(MAX_REGION);
        self.lock().push_back(Region {
            file,
            offset,
            left: len,
        });
        Bytes::from_static(&placeholders()[..len])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Region>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends (part of) the region `placeholder` stands for to `tcp`, which has carried
    /// `written` bytes so far: what `poll_write` of the placeholder would have returned.
    pub(crate) fn poll_send(
        &self,
        tcp: &TcpStream,
        cx: &mut Context<'_>,
        placeholder: &[u8],
        written: u64,
    ) -> Poll<io::Result<usize>> {
        let mut queue = self.lock();
        let Some(region) = queue.front_mut() else {
            return Poll::Ready(Err(io::Error::other(
                "a file placeholder without its region (not sent)",
            )));
        };
        if region.left != placeholder.len() {
            return Poll::Ready(Err(io::Error::other(
                "a file placeholder that does not match its region (not sent)",
            )));
        }
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            let mut offset = region.offset;
            let sent = tcp.try_io(Interest::WRITABLE, || {
                Ok(rustix::fs::sendfile(
                    tcp,
                    &*region.file,
                    Some(&mut offset),
                    send_len(written, region.left),
                )?)
            });
            match sent {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file truncated while being sent",
                    )));
                }
                Ok(n) => {
                    region.offset += n as u64;
                    region.left -= n;
                    if region.left == 0 {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

/// Whether every page of `len` bytes of `file` at `offset` is in the page cache (`cachestat`,
/// Linux 6.5). `false` when the kernel cannot tell, or refuses to.
pub(crate) fn cached(file: &File, offset: u64, len: usize) -> bool {
    use std::os::fd::AsRawFd;

    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    const SYS_CACHESTAT: libc::c_long = 451;

    if len == 0 {
        return true;
    }
    let page = rustix::param::page_size() as u64;
    let Some(end) = offset.checked_add(len as u64) else {
        return false;
    };
    let pages = end.div_ceil(page) - offset / page;
    let range = Range {
        off: offset,
        len: len as u64,
    };
    let mut stat = Stat::default();
    // SAFETY: cachestat(fd, &range, &mut stat, 0) reads one `struct cachestat_range` and writes
    // one `struct cachestat`, both `repr(C)` with the kernel's layout (five and two `u64`s),
    // alive for the call; the descriptor is borrowed from `file`.
    #[allow(unsafe_code)]
    let result = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0 as libc::c_uint,
        )
    };
    result == 0 && stat.nr_cache >= pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;

    fn file_of(content: &[u8]) -> (tempfile::TempDir, Arc<File>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(content).unwrap();
        (dir, Arc::new(File::open(&path).unwrap()))
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[test]
    fn placeholders_are_known_by_address() {
        let regions = Regions::default();
        let (_dir, file) = file_of(b"abc");
        let placeholder = regions.push(file, 0, 3);
        assert!(is_placeholder(&placeholder));
        assert!(is_placeholder(&placeholder[1..]));
        assert!(!is_placeholder(&[0u8; 3]));
        assert!(!is_placeholder(&placeholder[..0]));
    }

    #[test]
    fn a_file_just_written_is_cached_and_beyond_its_end_is_not() {
        let (_dir, file) = file_of(&[1u8; 100_000]);
        assert!(cached(&file, 0, 100_000));
        assert!(cached(&file, 4097, 10));
        assert!(
            !cached(&file, 0, 200_000),
            "pages past the end are never cached"
        );
    }

    #[test]
    fn each_call_ends_on_the_next_boundary_of_the_output() {
        // After a 263-byte head, the first call completes the first 256 KiB.
        assert_eq!(send_len(263, 2 << 20), (256 << 10) - 263);
        assert_eq!(send_len(256 << 10, 2 << 20), 256 << 10);
        assert_eq!(send_len((256 << 10) + 1, 10), 10);
        assert_eq!(send_len(0, 0), 0);
        assert_eq!(send_len(u64::MAX, 2 << 20), 1);
        // The last call of a region takes a tail shorter than 64 KiB with it.
        assert_eq!(send_len(1 << 20, (256 << 10) + 263), (256 << 10) + 263);
        assert_eq!(send_len(1 << 20, 320 << 10), 320 << 10);
        assert_eq!(send_len(1 << 20, (320 << 10) + 1), 256 << 10);
    }

    /// Regions go out whole and in order, in as many calls as the socket takes, each call
    /// ending on a 256 KiB boundary of the output unless the region ends first, and none
    /// leaving a short tail of its region behind; a placeholder
    /// without its region, or of another length, fails instead of being sent.
    #[tokio::test]
    async fn regions_are_sent_in_place_of_their_placeholders() {
        let content: Vec<u8> = (0..=255u8).cycle().take(3 << 20).collect();
        let (_dir, file) = file_of(&content);
        let (server, mut client) = pair().await;
        let regions = Regions::default();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        // What a response head would have written first.
        let mut written = 263u64;
        for (offset, len) in [(5u64, 2 << 20), (0, 7), ((2 << 20) + 5, 100_000)] {
            let placeholder = regions.push(file.clone(), offset, len);
            let mut at = 0;
            while at < placeholder.len() {
                let planned = send_len(written, placeholder.len() - at);
                let sent = std::future::poll_fn(|cx| {
                    regions.poll_send(&server, cx, &placeholder[at..], written)
                })
                .await
                .unwrap();
                assert!(sent <= planned, "a call sent {sent} bytes, past {planned}");
                at += sent;
                written += sent as u64;
                if sent < planned {
                    // The socket took less (its buffer was full): the rest goes in the next
                    // call, which ends on the boundary again.
                    continue;
                }
                assert!(
                    sent as u64 <= SEND_ALIGN + SEND_ALIGN / 4
                        && (written % SEND_ALIGN == 0 || at == placeholder.len()),
                    "a call of {sent} bytes ended at {written}, inside the region"
                );
                assert!(
                    at == placeholder.len() || placeholder.len() - at >= (SEND_ALIGN / 4) as usize,
                    "a call left a tail of {} bytes",
                    placeholder.len() - at
                );
            }
        }
        let stray = Bytes::from_static(&placeholders()[..10]);
        let refused = std::future::poll_fn(|cx| regions.poll_send(&server, cx, &stray, 0)).await;
        assert!(refused.is_err());
        let _ = regions.push(file.clone(), 0, 10);
        let refused =
            std::future::poll_fn(|cx| regions.poll_send(&server, cx, &stray[..5], 0)).await;
        assert!(refused.is_err());
        drop(server);
        let got = reader.await.unwrap();
        let mut expected = content[5..5 + (2 << 20)].to_vec();
        expected.extend_from_slice(&content[..7]);
        expected.extend_from_slice(&content[(2 << 20) + 5..(2 << 20) + 100_005]);
        assert!(
            got == expected,
            "{} bytes, expected {}",
            got.len(),
            expected.len()
        );
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_region_is_an_error() {
        let (_dir, file) = file_of(&[9u8; 1000]);
        let (server, _client) = pair().await;
        let regions = Regions::default();
        let placeholder = regions.push(file, 0, 5000);
        let first = std::future::poll_fn(|cx| regions.poll_send(&server, cx, &placeholder, 0))
            .await
            .unwrap();
        assert_eq!(first, 1000);
        let rest =
            std::future::poll_fn(|cx| regions.poll_send(&server, cx, &placeholder[1000..], 1000))
                .await;
        assert_eq!(rest.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
