//! The request body as the stream `multer` parses, with the bounds `multer` lacks.
//!
//! `multer` reads its stream until the stream has nothing ready, and buffers a part's headers
//! until their end, however long. Fed one chunk per poll, it holds at most about one chunk
//! beyond what has been handed out; and the bytes read since a part started that were not
//! handed out as part data (the next part's headers, a boundary, a preamble) are refused past a
//! limit.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::handler::BodyReader;

/// What the stream read and what the consumer took, shared by the two sides (one task).
#[derive(Debug, Default)]
pub(crate) struct Counts {
    fed: AtomicU64,
    data: AtomicU64,
    fed_at_part: AtomicU64,
    data_at_part: AtomicU64,
}

impl Counts {
    /// Part data of `len` bytes was handed out.
    pub(crate) fn data(&self, len: usize) {
        self.data.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// A part's headers were parsed: what is held is counted from here.
    pub(crate) fn next_part(&self) {
        self.fed_at_part
            .store(self.fed.load(Ordering::Relaxed), Ordering::Relaxed);
        self.data_at_part
            .store(self.data.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Bytes read since the part started that were not handed out as data.
    fn held(&self) -> u64 {
        let fed = self.fed.load(Ordering::Relaxed) - self.fed_at_part.load(Ordering::Relaxed);
        let data = self.data.load(Ordering::Relaxed) - self.data_at_part.load(Ordering::Relaxed);
        fed.saturating_sub(data)
    }
}

/// The body, one chunk per poll.
pub(crate) struct Chunks<'a> {
    reader: &'a mut BodyReader,
    counts: Arc<Counts>,
    /// The most bytes held that were not part data.
    limit: u64,
    just_yielded: bool,
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(reader: &'a mut BodyReader, counts: Arc<Counts>, limit: u64) -> Self {
        Self {
            reader,
            counts,
            limit,
            just_yielded: false,
        }
    }
}

/// The stream gave up: a part's headers (or what precedes the first part) grew past the limit.
#[derive(Debug)]
pub(crate) struct HeadersTooLong;

impl std::fmt::Display for HeadersTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a part's headers are too long")
    }
}

impl std::error::Error for HeadersTooLong {}

impl futures_core::Stream for Chunks<'_> {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.just_yielded {
            // Let `multer` parse what it has before it reads more.
            this.just_yielded = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.counts.held() > this.limit {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                HeadersTooLong,
            ))));
        }
        match this.reader.poll_take_chunk(cx) {
            Poll::Ready(Ok(Some(chunk))) => {
                this.counts
                    .fed
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                this.just_yielded = true;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err))),
            Poll::Pending => Poll::Pending,
        }
    }
}
