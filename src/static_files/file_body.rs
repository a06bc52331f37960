//! A file streamed as a response body: data already in the page cache is read on the spot
//! (`RWF_NOWAIT`, Linux), anything else in large reads on the blocking pool with one read ahead;
//! a clean failure if the file shrinks while it is being sent.

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

/// How much one blocking read fetches. Large enough that the thread-pool round trip is noise,
/// small enough that a client that does not read costs at most two of them (one in hyper's
/// hands, one read ahead): 128 KiB.
pub(crate) const CHUNK: usize = 64 * 1024;

/// How much one read of cached data fetches on the runtime: a copy of a few microseconds, and
/// below glibc's mmap threshold (128 KiB), where each buffer would cost fresh page faults
/// (measured: 64 KiB pieces send a cached file ~1.6x faster than 128 KiB ones).
const CACHED_CHUNK: usize = 64 * 1024;

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
    /// The connection whose socket sends what is in the page cache with `sendfile`, if the
    /// server switched this body over ([`crate::sendfile`]).
    #[cfg(sendfile)]
    sendfile: Option<Arc<crate::connection::Control>>,
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
            #[cfg(sendfile)]
            sendfile: None,
        }
    }

    /// Hands hyper placeholders for the parts of the file in the page cache, which `control`'s
    /// socket sends with `sendfile`.
    #[cfg(sendfile)]
    pub(crate) fn send_files(&mut self, control: &Arc<crate::connection::Control>) {
        if matches!(self.state, State::Idle(Some(_))) {
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

    /// How much the next read asks for.
    fn want(&self) -> usize {
        usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK))
    }

    /// Starts reading the next chunk of the current file segment on the blocking pool.
    fn start_read(&mut self, file: Arc<File>) {
        let want = self.want();
        let position = self.position;
        self.state = State::Reading(tokio::task::spawn_blocking(move || {
            let result = read_chunk(&file, position, want);
            (Some(file), result)
        }));
    }

    /// Takes the result of a read: the frame to hand out, or `None` to go on polling (the
    /// state then holds the error to end with). `read_ahead` starts the next blocking read at
    /// once (data that came from the disk is likely followed by more from the disk).
    fn take_chunk(
        &mut self,
        result: io::Result<Bytes>,
        file: Option<Arc<File>>,
        read_ahead: bool,
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
        match file {
            Some(file) if read_ahead && self.remaining > 0 => self.start_read(file),
            file => self.state = State::Idle(file),
        }
        Some(Ok(Frame::data(chunk)))
    }
}

/// Reads up to `want` bytes at `position` if they are in the page cache, without blocking:
/// `None` when they are not (or the file system cannot tell), for the blocking pool to do it.
#[cfg(target_os = "linux")]
fn read_now(file: &File, position: u64, want: usize) -> Option<io::Result<Bytes>> {
    let mut buf = vec![0u8; want];
    match pread_nowait(file, position, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(Ok(Bytes::from(buf)))
        }
        Err(err)
            if err.kind() == io::ErrorKind::WouldBlock
                || err.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) =>
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
                    if let Some(frame) = this.take_chunk(result, file, true) {
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
                        let want = this.want().min(CACHED_CHUNK);
                        // Cached data is copied right here: no thread-pool round trip.
                        match read_now(&file, this.position, want) {
                            Some(result) => {
                                if let Some(frame) = this.take_chunk(result, Some(file), false) {
                                    return Poll::Ready(Some(frame));
                                }
                            }
                            None => this.start_read(file),
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

    /// Data that is not in the page cache comes through the blocking pool, whole and in order.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn data_off_the_disk_goes_through_the_blocking_pool() {
        let content: Vec<u8> = (0..=250u8).cycle().take(1_000_000).collect();
        let (path, file) = temp_file(&content);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.sync_all())
            .unwrap();
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        if read_now(&file, 0, CACHED_CHUNK).is_some() {
            // tmpfs and friends keep everything in memory: nothing to evict.
            eprintln!("the file system kept the pages cached: blocking path not exercised");
        }
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
