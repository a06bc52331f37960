//! Header maps kept for reuse, so that a response head costs no allocation in the steady state.
//!
//! hyper parses each request's head into the header map of the previous response on the same
//! connection (it keeps that map, emptied, for the purpose). A request's map therefore comes
//! back here when its exchange ends, and the next response head is built in it: request and
//! response maps circulate instead of being allocated and freed for every request.

use http::HeaderMap;

use crate::kept::{self, Pool};

/// Room for Python's usual head (`Server`, `Date`, a type, a length, `Last-Modified`, an
/// `ETag`, `Accept-Ranges`, `Connection`) without regrowing.
const HEAD_CAPACITY: usize = 8;

/// Maps kept per thread, at most: a map comes back as soon as its exchange ends, so a couple
/// suffice (and a thread of the blocking pool keeps no more than that).
const KEPT: usize = 2;

/// Maps that grew larger than this (a request with many fields) are freed, not kept: a kept
/// map holds at most about 2.5 KiB.
const MAX_KEPT_CAPACITY: usize = 24;

thread_local! {
    static SPARE: Pool<HeaderMap> = const { Pool::new(Vec::new()) };
}

/// An empty map for a response head: a kept one, else a new one.
pub(crate) fn header_map() -> HeaderMap {
    kept::take(&SPARE).unwrap_or_else(|| HeaderMap::with_capacity(HEAD_CAPACITY))
}

/// Keeps `map`'s allocation for a later [`header_map`], emptied, unless enough are kept or it
/// is too large.
pub(crate) fn keep(mut map: HeaderMap) {
    let capacity = map.capacity();
    if !(HEAD_CAPACITY..=MAX_KEPT_CAPACITY).contains(&capacity) {
        return;
    }
    // Clearing also returns the map to its fast hashing if a hostile request had moved it off.
    map.clear();
    kept::put(&SPARE, map, KEPT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_map_comes_back_empty_with_its_room() {
        let mut map = header_map();
        let room = map.capacity();
        assert!(room >= HEAD_CAPACITY);
        map.insert(http::header::SERVER, "x".parse().unwrap());
        keep(map);
        let again = header_map();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), room);
    }

    #[test]
    fn small_large_and_surplus_maps_are_not_kept() {
        // Drain whatever this thread kept before.
        while SPARE.with(|s| s.borrow_mut().pop()).is_some() {}
        keep(HeaderMap::new());
        keep(HeaderMap::with_capacity(1000));
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0);
        for _ in 0..KEPT + 3 {
            keep(HeaderMap::with_capacity(HEAD_CAPACITY));
        }
        assert_eq!(SPARE.with(|s| s.borrow().len()), KEPT);
    }
}
