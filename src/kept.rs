//! Values kept per thread for reuse, so that what a request needs (a header map, a handler's
//! pipe state, its `Content-Length` value) costs no allocation in the steady state. Each kind
//! has its own `thread_local!` pool, bounded by its caller; [`take`] and [`put`] are all the
//! pools do. [`content_length`] keeps the values it made last.

use std::cell::RefCell;
use std::thread::LocalKey;

use bytes::Bytes;
use http::HeaderValue;

/// A pool: the values one thread keeps.
pub(crate) type Pool<T> = RefCell<Vec<T>>;

/// A kept value, if `pool` has one (none while the thread is being torn down).
pub(crate) fn take<T: 'static>(pool: &'static LocalKey<Pool<T>>) -> Option<T> {
    pool.try_with(|kept| kept.borrow_mut().pop()).ok().flatten()
}

/// Keeps `value` in `pool` unless it holds `limit` already (then `value` is dropped).
pub(crate) fn put<T: 'static>(pool: &'static LocalKey<Pool<T>>, value: T, limit: usize) {
    let _ = pool.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < limit {
            kept.push(value);
        }
    });
}

/// How many `Content-Length` values a thread keeps: one per slot, a length going to the slot
/// `length % LENGTHS`.
const LENGTHS: usize = 8;

thread_local! {
    /// Per slot: the length last asked for, and its value once it was asked for twice in a row.
    static LENGTHS_KEPT: RefCell<[(u64, Option<HeaderValue>); LENGTHS]> =
        const { RefCell::new([const { (u64::MAX, None) }; LENGTHS]) };
}

/// `length` as a `Content-Length` value.
///
/// `HeaderValue::from(length)` allocates twice (its digits, then the buffer's conversion); a
/// response of a length this thread sent just before (the same file, the same handler
/// answer) instead shares the value made then, for a reference count. A length is kept from
/// its second request in a row in its slot on, so lengths that never come back cost one
/// allocation each, and the thread keeps at most [`LENGTHS`] values of at most 20 bytes.
pub(crate) fn content_length(length: u64) -> HeaderValue {
    let kept = LENGTHS_KEPT.try_with(|kept| {
        // Busy only if making a value could call back in here, which it cannot: still, no panic.
        let mut kept = kept.try_borrow_mut().ok()?;
        let slot = usize::try_from(length % LENGTHS as u64).unwrap_or(0);
        let (seen, value) = &mut kept[slot];
        if *seen != length {
            *seen = length;
            *value = None;
            return None;
        }
        Some(value.get_or_insert_with(|| digits(length)).clone())
    });
    kept.ok().flatten().unwrap_or_else(|| digits(length))
}

/// `length` in decimal, as a header value made with one allocation.
fn digits(length: u64) -> HeaderValue {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut rest = length;
    loop {
        at -= 1;
        // A digit: the remainder is below 10.
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Digits are always a valid value; the fallback is `http`'s own conversion.
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&buf[at..]))
        .unwrap_or_else(|_| HeaderValue::from(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_written_in_decimal() {
        for length in [
            0,
            7,
            9,
            10,
            13,
            1024,
            102_400,
            67_108_864,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(content_length(length), length.to_string().as_str());
            assert_eq!(digits(length), length.to_string().as_str());
        }
    }

    #[test]
    fn a_length_asked_for_again_shares_one_value() {
        // Any length works; one far from those of the other tests keeps them apart.
        let length = 1_000_003;
        let first = content_length(length);
        let second = content_length(length);
        let third = content_length(length);
        for value in [&first, &second, &third] {
            assert_eq!(value, "1000003");
        }
        // The first one is made for its response only; from the second on, one value is kept
        // and shared: the same bytes, not a copy.
        assert_ne!(first.as_bytes().as_ptr(), second.as_bytes().as_ptr());
        assert_eq!(second.as_bytes().as_ptr(), third.as_bytes().as_ptr());
        // Another length in the same slot takes it over; the first one is then made anew.
        let other = length + LENGTHS as u64;
        assert_eq!(content_length(other), "1000011");
        let again = content_length(length);
        assert_eq!(again, "1000003");
        assert_ne!(again.as_bytes().as_ptr(), third.as_bytes().as_ptr());
    }
}
