//! A file streamed as a response body: data already in the page cache is read on the spot
//! (`RWF_NOWAIT`, Linux), anything else in large reads on the blocking pool, each read deciding
//! again where the next comes from; a clean failure if the file shrinks while it is being sent.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::handler::BoxError;

/// How much a read fetches at first, and again after a write found the socket full: 64 KiB.
/// Large enough that the thread-pool round trip is noise, small enough that a client that
/// does not read costs little: one of them, in hyper's hands.
pub(crate) const CHUNK: usize = 64 * 1024;

/// How much a read fetches at most: 512 KiB. Reads double from [`CHUNK`] up to this while the
/// client keeps up (`FileBody::next_want`), so each write hands the kernel more at once and
/// the client is woken up less often (`benches/curl-sleeps.sh`). Builds of this constant
/// interleaved beside lighttpd against one `curl` of a 64 MiB file, 11 rounds: 31.1 ms a
/// download growing to 256 KiB, 25.3 ms to 512 KiB, 25.4 ms to 1 MiB (lighttpd: 22.1 ms). A
/// read this large is made only when the socket's send buffer can take it whole, so a client
/// that stops reading after a fast start still holds at most one read of [`CHUNK`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const MAX_CHUNK: usize = 512 * 1024;

/// A piece of the body: literal bytes (multipart headers) or a range of the file.
#[derive(Debug)]
pub(crate) enum Segment {
    Bytes(Bytes),
    File { start: u64, len: u64 },
}

/// A read in flight on the blocking pool; it hands the file back.
type PendingRead = JoinHandle<(Option<Arc<File>>, io::Result<Bytes>)>;

/// The file body. Reads `CHUNK` bytes at a time on the blocking pool and starts the next read
/// as soon as one is handed over.
pub(crate) struct FileBody {
    segments: VecDeque<Segment>,
    /// Bytes still to read from the file for the current segment, and where.
    position: u64,
    remaining: u64,
    state: State,
    size_hint: u64,
    /// How much the next read fetches (between [`CHUNK`] and [`MAX_CHUNK`]).
    chunk: usize,
    /// The connection writing this body, which sizes its reads (HTTP/1).
    pace: Option<Pace>,
    /// The connection whose socket sends what is in the page cache with `sendfile`, if the
    /// server switched this body over ([`crate::sendfile`]).
    #[cfg(sendfile)]
    sendfile: Option<Arc<crate::connection::Control>>,
}

/// The connection writing a body, and its counts when the body last sized a read.
struct Pace {
    control: Arc<crate::connection::Control>,
    written: u64,
    blocked: u64,
}

enum State {
    /// The file, between reads (`None` once nothing more needs it).
    Idle(Option<Arc<File>>),
    /// A read in flight.
    Reading(PendingRead),
    /// Something went wrong; the body ends with this error.
    Failed(Option<io::Error>),
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody")
            .field("remaining", &self.remaining)
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl FileBody {
    pub(crate) fn new(file: File, segments: Vec<Segment>) -> Self {
        let size_hint = segments
            .iter()
            .map(|s| match s {
                Segment::Bytes(b) => b.len() as u64,
                Segment::File { len, .. } => *len,
            })
            .sum();
        Self {
            segments: segments.into(),
            position: 0,
            remaining: 0,
            state: State::Idle(Some(Arc::new(file))),
            size_hint,
            chunk: CHUNK,
            pace: None,
            #[cfg(sendfile)]
            sendfile: None,
        }
    }

    /// Lets the connection that writes this body size its reads (`paced`: HTTP/1, where the
    /// body is polled only once the socket has taken what came before) and, where `control`'s
    /// connection can, send the parts of the file in the page cache with `sendfile`: hyper
    /// then gets placeholders for them.
    pub(crate) fn attach(&mut self, control: &Arc<crate::connection::Control>, paced: bool) {
        if paced {
            self.pace = Some(Pace {
                control: control.clone(),
                written: control.written(),
                blocked: control.blocked_writes(),
            });
        }
        #[cfg(sendfile)]
        if control.sendfile().is_some() && matches!(self.state, State::Idle(Some(_))) {
            self.sendfile = Some(control.clone());
        }
    }

    /// A placeholder for the next region of the file, if it is all in the page cache and this
    /// body sends files ([`crate::sendfile`]).
    #[cfg(sendfile)]
    fn placeholder(&mut self, file: &Arc<File>) -> Option<Bytes> {
        let regions = self.sendfile.as_ref()?.sendfile()?;
        let len = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(crate::sendfile::MAX_REGION);
        if !crate::sendfile::cached(file, self.position, len) {
            return None;
        }
        let placeholder = regions.push(file.clone(), self.position, len);
        self.position += len as u64;
        self.remaining -= len as u64;
        self.size_hint = self.size_hint.saturating_sub(len as u64);
        Some(placeholder)
    }

    /// How much the next read asks for: twice the last (up to [`MAX_CHUNK`], and as long as
    /// the socket's send buffer can take it whole) when the socket has written since the last
    /// read was sized, never found itself full meanwhile, and the client has acknowledged all
    /// it was sent but the last read (it keeps up: room in the kernel's own buffer does not
    /// count, which takes over a megabyte on loopback before it is full); [`CHUNK`] otherwise.
    /// See [`next_chunk`].
    fn next_want(&mut self) -> usize {
        if let Some(pace) = &mut self.pace {
            if self.remaining > CHUNK as u64 {
                let written = pace.control.written();
                let blocked = pace.control.blocked_writes();
                if blocked != pace.blocked {
                    self.chunk = CHUNK;
                } else if written != pace.written {
                    // Asked only then: the first read of a body makes no extra system call.
                    self.chunk = next_chunk(&pace.control, self.chunk);
                }
                pace.written = written;
                pace.blocked = blocked;
            }
        }
        usize::try_from(self.remaining).map_or(self.chunk, |r| r.min(self.chunk))
    }

    /// Starts reading the next `want` bytes of the current file segment on the blocking pool.
    fn start_read(&mut self, file: Arc<File>, want: usize) {
        let position = self.position;
        self.state = State::Reading(tokio::task::spawn_blocking(move || {
            let result = read_chunk(&file, position, want);
            (Some(file), result)
        }));
    }

    /// Takes the result of a read: the frame to hand out, or `None` to go on polling (the
    /// state then holds the error to end with). The next read is not started here, even after
    /// one from the disk: the next poll tries the page cache (and `sendfile`) first, so a file
    /// with a few pages evicted goes back to them at once (the kernel's own readahead has
    /// usually brought the next pages in meanwhile).
    fn take_chunk(
        &mut self,
        result: io::Result<Bytes>,
        file: Option<Arc<File>>,
    ) -> Option<Result<Frame<Bytes>, BoxError>> {
        let chunk = match result {
            Ok(chunk) if chunk.is_empty() => {
                // The file is shorter than it was: end with an error so the client sees an
                // incomplete response, never padding or a hang.
                self.state = State::Failed(Some(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file truncated while being sent",
                )));
                return None;
            }
            Ok(chunk) => chunk,
            Err(err) => {
                self.state = State::Failed(Some(err));
                return None;
            }
        };
        let n = chunk.len() as u64;
        self.position += n;
        self.remaining = self.remaining.saturating_sub(n);
        self.size_hint = self.size_hint.saturating_sub(n);
        self.state = State::Idle(file);
        Some(Ok(Frame::data(chunk)))
    }
}

/// The size of the next read after one of `chunk` bytes: twice as large (up to [`MAX_CHUNK`])
/// when the client of `control`'s connection has acknowledged all it was sent but at most that
/// read, and never more than half the room left in the socket's send buffer, so the whole read
/// goes to the kernel in one write (should the client stop now, what the server holds for it
/// is at most one read of [`CHUNK`]); [`CHUNK`] otherwise, or where the kernel cannot tell. A
/// client reading as fast as loopback allows has acknowledged everything but the last write, or
/// that too; one that does not read leaves all but its receive window unacknowledged.
#[cfg(target_os = "linux")]
fn next_chunk(control: &crate::connection::Control, chunk: usize) -> usize {
    let Some((queued, buffer)) = control.outgoing() else {
        return CHUNK;
    };
    if queued > chunk as u64 {
        return CHUNK;
    }
    // Half: the buffer's size counts the kernel's overhead per packet as well as the bytes.
    let room = buffer.saturating_sub(queued) / 2;
    let mut next = (chunk * 2).min(MAX_CHUNK);
    while next > CHUNK && next as u64 > room {
        next /= 2;
    }
    next
}

#[cfg(not(target_os = "linux"))]
fn next_chunk(_control: &crate::connection::Control, _chunk: usize) -> usize {
    CHUNK
}

/// Reads up to `want` bytes at `position` if they are in the page cache, without blocking:
/// `None` when they are not (or the file system cannot tell), for the blocking pool to do it.
#[cfg(target_os = "linux")]
fn read_now(file: &File, position: u64, want: usize) -> Option<io::Result<Bytes>> {
    let mut buf = Vec::with_capacity(want);
    match pread_nowait_uninit(file, position, &mut buf, want) {
        Ok(()) => Some(Ok(Bytes::from(buf))),
        // The page cache cannot answer, the file system cannot tell (`EOPNOTSUPP`), or the
        // kernel predates `preadv2` (`ENOSYS`, before 4.6): the blocking pool reads it.
        Err(err)
            if err.kind() == io::ErrorKind::WouldBlock
                || err.raw_os_error() == Some(libc::EOPNOTSUPP)
                || err.raw_os_error() == Some(libc::ENOSYS) =>
        {
            None
        }
        Err(err) => Some(Err(err)),
    }
}

#[cfg(not(target_os = "linux"))]
fn read_now(_file: &File, _position: u64, _want: usize) -> Option<io::Result<Bytes>> {
    None
}

/// One `preadv2(RWF_NOWAIT)`: fails with `WouldBlock` instead of waiting for the disk.
#[cfg(target_os = "linux")]
pub(super) fn pread_nowait(file: &File, position: u64, buf: &mut [u8]) -> io::Result<usize> {
    use rustix::io::{ReadWriteFlags, preadv2};
    Ok(preadv2(
        file,
        &mut [io::IoSliceMut::new(buf)],
        position,
        ReadWriteFlags::NOWAIT,
    )?)
}

/// One `preadv2(RWF_NOWAIT)` of up to `want` bytes into `buf`'s spare capacity, which is never
/// zero-filled (a `memset` of 256 KiB per read was 3.6 % of the server's time sending a cached
/// file): the bytes read are appended to `buf`. The system call is made directly, as the kernel
/// takes it (the offset in two halves of a `long`): glibc's wrapper would need glibc 2.26 and a
/// 64-bit `off_t`, which 32-bit targets do not have.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn pread_nowait_uninit(
    file: &File,
    position: u64,
    buf: &mut Vec<u8>,
    want: usize,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    let spare = buf.spare_capacity_mut();
    let iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len().min(want),
    };
    // The kernel puts the offset together as `(high << BITS/2 << BITS/2) | low` for a `long`
    // of BITS bits: on 64-bit targets `low` holds all of it (and `high` is 0).
    let bits = libc::c_ulong::BITS;
    let low = libc::c_ulong::try_from(position & (u64::MAX >> (64 - bits)))
        .map_err(|_| io::ErrorKind::InvalidInput)?;
    let high = libc::c_ulong::try_from((position >> (bits / 2)) >> (bits / 2))
        .map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: preadv2 writes at most `iov_len` bytes at `iov_base`, the vector's spare capacity
    // (allocated, unaliased, alive for the call); the descriptor is borrowed from `file`; the
    // arguments are those of the system call (fd, iov, iovcnt, pos_l, pos_h, flags), each
    // passed as the `long` that `syscall` reads.
    let read = unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            libc::c_long::from(file.as_raw_fd()),
            &iov as *const libc::iovec,
            1 as libc::c_long,
            low,
            high,
            libc::c_long::from(libc::RWF_NOWAIT),
        )
    };
    let read = usize::try_from(read).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel initialised the `read` bytes after the vector's length, within its
    // capacity (`read` is at most `iov_len`).
    unsafe { buf.set_len(buf.len() + read) };
    Ok(())
}

/// Reads `want` bytes at `position`, into fresh memory that is never zero-filled (std's
/// `read_to_end` reads into the spare capacity directly).
fn read_chunk(mut file: &File, position: u64, want: usize) -> io::Result<Bytes> {
    file.seek(SeekFrom::Start(position))?;
    let mut buf = Vec::with_capacity(want);
    file.take(want as u64).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Failed(err) => {
                    return Poll::Ready(err.take().map(|e| Err(e.into())));
                }
                State::Reading(read) => {
                    let joined = ready!(Pin::new(read).poll(cx));
                    let (file, result) = match joined {
                        Ok(done) => done,
                        Err(join) => (None, Err(io::Error::other(join))),
                    };
                    if let Some(frame) = this.take_chunk(result, file) {
                        return Poll::Ready(Some(frame));
                    }
                }
                State::Idle(file) => {
                    if this.remaining > 0 {
                        let Some(file) = file.take() else {
                            return Poll::Ready(None);
                        };
                        #[cfg(sendfile)]
                        if let Some(placeholder) = this.placeholder(&file) {
                            this.state = State::Idle(Some(file));
                            return Poll::Ready(Some(Ok(Frame::data(placeholder))));
                        }
                        let want = this.next_want();
                        // Cached data is copied right here: no thread-pool round trip.
                        match read_now(&file, this.position, want) {
                            Some(result) => {
                                if let Some(frame) = this.take_chunk(result, Some(file)) {
                                    return Poll::Ready(Some(frame));
                                }
                            }
                            None => this.start_read(file, want),
                        }
                        continue;
                    }
                    match this.segments.pop_front() {
                        None => {
                            // Done: release the descriptor now.
                            *file = None;
                            return Poll::Ready(None);
                        }
                        Some(Segment::Bytes(bytes)) => {
                            this.size_hint = this.size_hint.saturating_sub(bytes.len() as u64);
                            return Poll::Ready(Some(Ok(Frame::data(bytes))));
                        }
                        Some(Segment::File { start, len }) => {
                            this.position = start;
                            this.remaining = len;
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Idle(_)) && self.remaining == 0 && self.segments.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.size_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    fn temp_file(content: &[u8]) -> (std::path::PathBuf, File) {
        let path = std::env::temp_dir().join(format!(
            "basehttp-filebody-{}-{}",
            std::process::id(),
            content.len()
        ));
        let mut f = File::create(&path).unwrap();
        f.write_all(content).unwrap();
        (path.clone(), File::open(&path).unwrap())
    }

    #[tokio::test]
    async fn segments_in_order() {
        let content: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        let (path, file) = temp_file(&content);
        let body = FileBody::new(
            file,
            vec![
                Segment::Bytes(Bytes::from_static(b"<")),
                Segment::File {
                    start: 10,
                    len: 200_000,
                },
                Segment::Bytes(Bytes::from_static(b">")),
                Segment::File { start: 0, len: 3 },
            ],
        );
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(200_005));
        let out = body.collect().await.unwrap().to_bytes();
        let mut expected = b"<".to_vec();
        expected.extend_from_slice(&content[10..200_010]);
        expected.push(b'>');
        expected.extend_from_slice(&content[..3]);
        assert_eq!(out, expected);
        let _ = std::fs::remove_file(path);
    }

    #[tokio::test]
    async fn truncation_is_an_error() {
        let (path, file) = temp_file(&[7u8; 1000]);
        let body = FileBody::new(
            file,
            vec![Segment::File {
                start: 0,
                len: 5000,
            }],
        );
        let result = body.collect().await;
        assert!(result.is_err(), "a short file must not look complete");
        let _ = std::fs::remove_file(path);
    }

    /// A file of `content`, written to the disk and evicted from the page cache: `None` where
    /// the file system keeps everything in memory (tmpfs), which fails the test under
    /// `BASEHTTP_REQUIRE_TOOLS` (`.ci/run`, whose temp dir is on a disk). Checked with
    /// `cachestat`, which unlike a read never starts the kernel's readahead.
    #[cfg(sendfile)]
    fn evicted_file(content: &[u8]) -> Option<(std::path::PathBuf, File)> {
        let (path, file) = temp_file(content);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.sync_all())
            .unwrap();
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        if !crate::sendfile::cached(&file, 0, CHUNK) {
            return Some((path, file));
        }
        assert!(
            std::env::var_os("BASEHTTP_REQUIRE_TOOLS").is_none(),
            "{} stayed in the page cache",
            path.display()
        );
        eprintln!("skipped: the file system kept the pages cached");
        let _ = std::fs::remove_file(path);
        None
    }

    /// After a read from the disk, the next read tries the page cache again: a file with its
    /// first pages evicted is read on the spot from there on.
    #[cfg(sendfile)]
    #[tokio::test]
    async fn after_a_read_off_the_disk_the_page_cache_is_tried_again() {
        let content: Vec<u8> = (0..=250u8).cycle().take(1_048_577).collect();
        let Some((path, file)) = evicted_file(&content) else {
            return;
        };
        // All but the first 64 KiB read back in.
        let mut rest = vec![0u8; content.len() - CHUNK];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut rest, CHUNK as u64).unwrap();
        assert!(
            !crate::sendfile::cached(&file, 0, CHUNK),
            "the start came back"
        );
        let segments = vec![Segment::File {
            start: 0,
            len: content.len() as u64,
        }];
        let mut body = FileBody::new(file, segments);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first[..], content[..first.len()]);
        assert!(
            matches!(body.state, State::Idle(Some(_))),
            "a read was started on the blocking pool ahead of the next poll"
        );
        // The rest is cached: the next frame is read at once, on this thread.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let next = http_body::Body::poll_frame(Pin::new(&mut body), &mut cx);
        let Poll::Ready(Some(Ok(frame))) = next else {
            panic!("the next frame was not read on the spot: {next:?}");
        };
        let second = frame.into_data().unwrap();
        assert_eq!(second[..], content[first.len()..first.len() + second.len()]);
        let _ = std::fs::remove_file(path);
    }

    /// Data that is not in the page cache comes through the blocking pool, whole and in order.
    #[cfg(sendfile)]
    #[tokio::test]
    async fn data_off_the_disk_goes_through_the_blocking_pool() {
        let content: Vec<u8> = (0..=250u8).cycle().take(1_000_000).collect();
        let Some((path, file)) = evicted_file(&content) else {
            return;
        };
        let body = FileBody::new(
            file,
            vec![Segment::File {
                start: 1,
                len: 999_999,
            }],
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert!(out[..] == content[1..]);
        let _ = std::fs::remove_file(path);
    }
}

/// How reads are sized on a real socket, written the way the server's socket wrapper writes
/// and counts.
#[cfg(all(test, target_os = "linux"))]
mod pace_tests {
    use super::*;
    use crate::connection::Control;
    use http_body_util::BodyExt;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpSocket, TcpStream};

    /// A body of `len` bytes of a fresh file, attached to `control` for HTTP/1.
    fn body_of(len: usize, control: &Arc<Control>) -> (tempfile::TempDir, Vec<u8>, FileBody) {
        let content: Vec<u8> = (0..=250u8).cycle().take(len).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(&content).unwrap();
        let segments = vec![Segment::File {
            start: 0,
            len: len as u64,
        }];
        let mut body = FileBody::new(File::open(&path).unwrap(), segments);
        body.attach(control, true);
        (dir, content, body)
    }

    /// Writes the body's frames to `server` until it ends or a write waits longer than
    /// `stall`, counting writes as the server's socket wrapper does; returns the frames' sizes.
    /// (`server::conn`'s tests run the wrapper itself, with a client that keeps up.)
    async fn send(
        body: &mut FileBody,
        server: &TcpStream,
        control: &Control,
        stall: Duration,
    ) -> Vec<usize> {
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len());
            let mut at = 0;
            while at < data.len() {
                match server.try_write(&data[at..]) {
                    Ok(n) => {
                        control.record_write(&Poll::Ready(Ok(n)));
                        at += n;
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        control.record_write(&Poll::Pending);
                        if tokio::time::timeout(stall, server.writable())
                            .await
                            .is_err()
                        {
                            return sizes;
                        }
                    }
                    Err(err) => panic!("{err}"),
                }
            }
        }
        sizes
    }

    #[tokio::test]
    async fn reads_stay_small_for_a_client_that_does_not_read() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let client = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let control = Arc::new(Control::default());
        control.set_socket(server.as_raw_fd());
        let (_dir, _content, mut body) = body_of(16 << 20, &control);
        // Until the kernel's buffers are full (over a megabyte on loopback).
        let sizes = send(&mut body, &server, &control, Duration::from_millis(300)).await;
        assert!(
            sizes.iter().sum::<usize>() > 4 * CHUNK && sizes.len() < (16 << 20) / CHUNK,
            "{sizes:?}"
        );
        // Once: after the first read, the kernel had all but the client's 4 KiB window. The
        // kernel takes it, and the read the socket stalls on is of the first size.
        assert!(
            sizes.iter().filter(|&&n| n > CHUNK).count() <= 1,
            "{sizes:?}"
        );
        assert!(sizes.iter().all(|&n| n <= 2 * CHUNK), "{sizes:?}");
        assert_eq!(sizes.last(), Some(&CHUNK));
        drop(client);
    }
}
