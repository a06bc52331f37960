//! Listing pages shared between the responses that carry the same bytes: a client that does not
//! read keeps its response's page in memory until the write timeout, and two hundred such
//! clients of a large directory would otherwise hold two hundred copies of it.
//!
//! A page is looked up by its content (its length and a hash of its first and last 4 KiB, then
//! a full comparison), so sharing never serves anything but the bytes just rendered: freshness
//! is untouched. A page lives as long as a
//! response holds it; the table keeps only weak references.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use bytes::Bytes;

/// Pages smaller than this are not worth a lookup.
const MIN_SHARED: usize = 64 * 1024;

/// How much of each end of a page its key hashes.
const SAMPLE: usize = 4096;

/// Live large pages by key, pruned of dead ones as it grows.
struct Table {
    hasher: RandomState,
    pages: Mutex<HashMap<(usize, u64), Vec<Weak<Vec<u8>>>>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table {
        hasher: RandomState::new(),
        pages: Mutex::new(HashMap::new()),
    })
}

/// `page` as response bytes, shared with any live response carrying the same bytes.
pub(crate) fn share(page: Vec<u8>) -> Bytes {
    if page.len() < MIN_SHARED {
        return Bytes::from(page);
    }
    let table = table();
    let ends = (&page[..SAMPLE], &page[page.len() - SAMPLE..]);
    let key = (page.len(), table.hasher.hash_one(ends));
    let mut pages = table.pages.lock().unwrap_or_else(PoisonError::into_inner);
    let same = pages.entry(key).or_default();
    same.retain(|weak| weak.strong_count() > 0);
    if let Some(live) = same
        .iter()
        .filter_map(Weak::upgrade)
        .find(|live| live.as_slice() == page.as_slice())
    {
        return Bytes::from_owner(OwnedPage(live));
    }
    let page = Arc::new(page);
    same.push(Arc::downgrade(&page));
    if pages.len() > 64 {
        pages.retain(|_, same| {
            same.retain(|weak| weak.strong_count() > 0);
            !same.is_empty()
        });
    }
    Bytes::from_owner(OwnedPage(page))
}

/// A shared page as the owner of response bytes.
struct OwnedPage(Arc<Vec<u8>>);

impl AsRef<[u8]> for OwnedPage {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_that_differ_only_in_the_middle_are_not_confused() {
        let mut one = vec![b'a'; MIN_SHARED * 2];
        let mut other = one.clone();
        one[MIN_SHARED] = b'1';
        other[MIN_SHARED] = b'2';
        let (one, other) = (share(one), share(other));
        assert_eq!(one[MIN_SHARED], b'1');
        assert_eq!(other[MIN_SHARED], b'2');
    }

    #[test]
    fn equal_large_pages_share_one_allocation_while_alive() {
        let page = |fill: u8| vec![fill; MIN_SHARED * 2];
        let first = share(page(b'a'));
        let second = share(page(b'a'));
        assert_eq!(first, second);
        assert_eq!(first.as_ptr(), second.as_ptr(), "one allocation");
        let other = share(page(b'b'));
        assert_ne!(first.as_ptr(), other.as_ptr());
        drop((first, second));
        let third = share(page(b'a'));
        assert_eq!(third.len(), MIN_SHARED * 2);

        let small = share(vec![b'a'; 10]);
        assert_eq!(&small[..], &[b'a'; 10]);
    }
}
