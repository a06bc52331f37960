//! Header maps and header values kept for reuse, so that a response head costs no allocation
//! in the steady state.
//!
//! hyper parses each request's head into the header map of the previous response on the same
//! connection (it keeps that map, emptied, for the purpose). A request's map therefore comes
//! back here when its exchange ends, and the next response head is built in it: request and
//! response maps circulate instead of being allocated and freed for every request.
//!
//! A handler's `send_header` values repeat from one response to the next (`text/html`, the
//! length of the same body): the last few are kept per thread, so a repeated value is shared
//! (a reference count) rather than copied into a new allocation and freed again.

use std::cell::RefCell;

use http::{HeaderMap, HeaderValue};

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
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map for a response head: a kept one, else a new one.
pub(crate) fn header_map() -> HeaderMap {
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| HeaderMap::with_capacity(HEAD_CAPACITY))
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
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < KEPT {
            spare.push(map);
        }
    });
}

/// Header values kept per thread: a table of sets of two, the value used last first (a new
/// value takes the first place of its set, and the one it displaces the second).
const VALUE_SETS: usize = 16;

/// Longer values are made afresh every time (they rarely repeat); a kept value holds at most
/// this much, about 2 KiB a thread in all.
const MAX_KEPT_VALUE: usize = 64;

thread_local! {
    static VALUES_KEPT: RefCell<[Option<HeaderValue>; 2 * VALUE_SETS]> =
        const { RefCell::new([const { None }; 2 * VALUE_SETS]) };
}

/// The header value of `bytes`: a kept one if the same bytes were sent lately on this thread,
/// else a new one (kept for next time if short). `None` if `bytes` are not a valid value.
pub(crate) fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    if bytes.len() > MAX_KEPT_VALUE {
        return HeaderValue::from_bytes(bytes).ok();
    }
    let first = 2 * set_of(bytes);
    let kept = VALUES_KEPT.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        let is = |slot: &Option<HeaderValue>| slot.as_ref().is_some_and(|v| v.as_bytes() == bytes);
        if is(&kept[first]) {
            return kept[first].clone();
        }
        if is(&kept[first + 1]) {
            kept.swap(first, first + 1);
            return kept[first].clone();
        }
        let value = HeaderValue::from_bytes(bytes).ok()?;
        kept[first + 1] = kept[first].replace(value.clone());
        Some(value)
    });
    match kept {
        Ok(value) => value,
        // The thread is exiting: no table any more.
        Err(_) => HeaderValue::from_bytes(bytes).ok(),
    }
}

/// The set of a value, from its length and three of its bytes (cheaper than hashing them all;
/// values that repeat differ in one of these as a rule, and a clash costs only a new value).
fn set_of(bytes: &[u8]) -> usize {
    let [first, middle, last] = [0, bytes.len() / 2, bytes.len().saturating_sub(1)]
        .map(|at| bytes.get(at).map_or(0, |&byte| usize::from(byte)));
    (bytes.len() ^ first ^ (middle << 1) ^ (last << 2) ^ (last >> 3)) % VALUE_SETS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_value_is_the_kept_one_until_two_newer_ones_share_its_set() {
        let first = header_value(b"text/html").unwrap();
        let again = header_value(b"text/html").unwrap();
        assert_eq!(again, "text/html");
        // The same allocation, not a copy.
        assert_eq!(first.as_bytes().as_ptr(), again.as_bytes().as_ptr());
        let mut same_set = (0u32..)
            .map(|n| n.to_string())
            .filter(|n| set_of(n.as_bytes()) == set_of(b"text/html"));
        let (one, two) = (same_set.next().unwrap(), same_set.next().unwrap());
        // One more value in the set: both are kept.
        assert_eq!(header_value(one.as_bytes()).unwrap(), one.as_str());
        let kept = header_value(b"text/html").unwrap();
        assert_eq!(kept.as_bytes().as_ptr(), first.as_bytes().as_ptr());
        // Two more: the older goes, and is made afresh next time, correctly.
        assert_eq!(header_value(one.as_bytes()).unwrap(), one.as_str());
        assert_eq!(header_value(two.as_bytes()).unwrap(), two.as_str());
        let third = header_value(b"text/html").unwrap();
        assert_eq!(third, "text/html");
        assert_ne!(third.as_bytes().as_ptr(), first.as_bytes().as_ptr());
    }

    #[test]
    fn invalid_and_long_values_are_checked_like_new_ones() {
        assert!(header_value(b"a\r\nSet-Cookie: x").is_none());
        assert!(header_value(b"a\0b").is_none());
        let long = "x".repeat(MAX_KEPT_VALUE + 1);
        let first = header_value(long.as_bytes()).unwrap();
        let again = header_value(long.as_bytes()).unwrap();
        assert_eq!(again, long.as_str());
        assert_ne!(first.as_bytes().as_ptr(), again.as_bytes().as_ptr());
        // An invalid value is never kept: asking again still refuses it.
        assert!(header_value(b"a\r\nSet-Cookie: x").is_none());
    }

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
