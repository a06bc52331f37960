//! Values kept per thread for reuse, so that what a request needs (a header map, a handler's
//! pipe state, a translated path's buffer) costs no allocation in the steady state. Each kind
//! has its own `thread_local!` pool, bounded by its caller; these two functions are all the
//! pools do.

use std::cell::RefCell;
use std::thread::LocalKey;

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
