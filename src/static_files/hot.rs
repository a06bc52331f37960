//! The bytes of small files, kept in memory and checked against the file system on every
//! request (Linux, local file systems).
//!
//! A kept file is checked with `openat2(O_PATH, RESOLVE_CACHED)` of its path (with the same
//! confinement as any file: `RESOLVE_BENEATH` unless symbolic links may lead out), an `fstat`
//! and a `close`, instead of opening, reading and copying the file. The freshness rule: the
//! bytes are served only while `fstat` reports the same file as when they were read — device,
//! inode, size, modification and change times, to the nanosecond. A write, truncation, `touch`,
//! `chmod` or rename over the file sets its change time to the current time, which then differs
//! from the recorded one, as long as the file system's timestamps are finer than the time since
//! the file last changed: so a file is kept only once its change time is [`MIN_AGE`] old (three
//! times that when its timestamps have no sub-second part), and only on file systems whose
//! attributes the kernel keeps itself ([`LOCAL_FILE_SYSTEMS`]; on NFS, SMB or FUSE the kernel
//! could answer from attributes cached from the server). What this cannot see: a process that
//! writes through a shared `mmap` of the file after its first write (the kernel updates the
//! times again only after writeback), and a `write` that stalls for more than [`MIN_AGE`] in the
//! middle of its copy; both serve older bytes until the file changes again.
//!
//! Once a check has found a file unchanged, the file and the folders on its path are watched
//! (`watch.rs`, inotify): the requests after that cost one `epoll_wait` of the notifications
//! instead of the check, until a notification concerns the file, its path or the mount table,
//! and the next request checks the file again. The kernel queues a notification before the call that
//! made the change returns, so this sees every change the check would.
//!
//! With a validity window (`StaticFiles::memory_cache_valid`, off by default), a kept file
//! found unchanged is served for that long without the lookup and the `fstat` (as lighttpd
//! trusts a `stat` for a second, and nginx's `open_file_cache_valid`): a change, replacement or
//! removal is then seen up to that long late.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::conditional::Validators;
use super::listing::ListingEntry;

/// How old a file's change time must be before its bytes are cached.
pub(crate) const MIN_AGE: Duration = Duration::from_secs(1);

/// The file systems whose files are kept (`statfs`'s `f_type`): ext2/3/4, XFS, Btrfs, tmpfs,
/// F2FS, ZFS, bcachefs and overlayfs (whose upper layer is one of them in practice).
pub(crate) const LOCAL_FILE_SYSTEMS: [u64; 8] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0xF2F5_2010,
    0x2FC1_2FC1,
    0xCA45_1A4E,
    0x794C_7630,
];

/// What an entry costs beyond its bytes and its key (the entry, the map's slot, the
/// allocations' headers), so that many tiny files are bounded too.
const ENTRY_OVERHEAD: usize = 128;

/// How long a full cache with nothing idle refuses new files before looking for idle entries
/// again (so that a cache full of files in use is not churned, nor scanned on every request).
const RESCAN: Duration = Duration::from_secs(1);

/// An entry not used for this long is the first to go when room is needed; a file's is also
/// dropped at its next use (and the file read again). A listing is looked at (its directory's
/// `fstat`) on every use anyway, and stays.
const IDLE: Duration = Duration::from_secs(10);

/// The largest file kept, by default.
pub(crate) const DEFAULT_MAX_FILE: usize = 256 * 1024;

/// The most bytes kept in all, by default.
pub(crate) const DEFAULT_MAX_TOTAL: usize = super::DEFAULT_MEMORY_CACHE;

/// What identifies a file's content: if all of it is unchanged, so are the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, u32),
    pub(crate) ctime: (i64, u32),
}

impl Identity {
    /// The modification time, for `Last-Modified` and the `ETag`.
    pub(crate) fn modified(&self) -> SystemTime {
        to_system_time(self.mtime)
    }

    /// Whether a file with this identity may be cached at `now`: changed at least `min_age`
    /// ago, three times that if its times look truncated to the second (a coarse file system).
    fn settled(&self, now: SystemTime, min_age: Duration) -> bool {
        let min_age = if self.mtime.1 == 0 && self.ctime.1 == 0 {
            min_age * 3
        } else {
            min_age
        };
        now.duration_since(to_system_time(self.ctime))
            .is_ok_and(|age| age >= min_age)
    }
}

fn to_system_time((secs, nanos): (i64, u32)) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(nanos));
    match u64::try_from(secs) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + nanos,
        Err(_) => SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nanos,
    }
}

struct Entry {
    identity: Identity,
    bytes: Bytes,
    /// The file's validators, made once (the `ETag` is shared by every response).
    validators: Validators,
    /// Milliseconds since the cache's `epoch` at the last use.
    used: AtomicU64,
    /// Milliseconds since the cache's `epoch` when the file was last found unchanged.
    checked: AtomicU64,
    /// Set while the file is watched and no notification concerned it (`watch.rs`).
    trust: Arc<AtomicBool>,
    /// Set when the file cannot be watched (a symbolic link on its path, overlayfs, no
    /// watches left): its requests keep looking at it.
    unwatchable: AtomicBool,
}

/// A directory's entries, sorted, kept while the directory is unchanged (see
/// [`HotFiles::listing`]).
struct KeptListing {
    identity: Identity,
    entries: Arc<[ListingEntry]>,
    /// What it is charged (see [`listing_charge`]).
    cost: usize,
    /// Milliseconds since the cache's `epoch` at the last use.
    used: AtomicU64,
}

/// The cache: bounded in bytes (all entries, listings included) and per file. Shared by the
/// clones of a `StaticFiles`.
pub(crate) struct HotFiles {
    entries: Mutex<Entries>,
    max_file: usize,
    max_total: usize,
    min_age: Duration,
    /// How long, in milliseconds, an entry is served after its file was last found unchanged
    /// without looking again (0: looked at on every request).
    valid_ms: u64,
    epoch: Instant,
    /// The change notifications, made at the first file found unchanged (`None` where the
    /// kernel has none to give).
    #[cfg(target_os = "linux")]
    watcher: std::sync::OnceLock<Option<super::watch::Watcher>>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Box<[u8]>, Arc<Entry>>,
    /// Directory listings, by the directory's path.
    listings: HashMap<Box<[u8]>, Arc<KeptListing>>,
    /// The bytes charged for all entries (see [`charge`]).
    total: usize,
    /// When a full cache last found nothing idle to drop (ms since `epoch`).
    full_at: Option<u64>,
}

/// Whether `map` still holds `entry` under `key` (and not one put there since it was looked up,
/// which a stale entry must not take away with it).
fn still_kept<V: ?Sized>(map: &HashMap<Box<[u8]>, Arc<V>>, key: &[u8], entry: &Arc<V>) -> bool {
    map.get(key).is_some_and(|kept| Arc::ptr_eq(kept, entry))
}

/// What an entry for `key` with `len` bytes is charged.
fn charge(key: &[u8], len: usize) -> usize {
    len.saturating_add(key.len()).saturating_add(ENTRY_OVERHEAD)
}

/// What a listing of `entries` kept for `key` is charged: each entry, and its name as the
/// allocator holds it (rounded up to 16 bytes, plus 16 of overhead): 64 bytes for a name of up
/// to 16 bytes on 64-bit targets.
fn listing_charge(key: &[u8], entries: &[ListingEntry]) -> usize {
    let per_entry = std::mem::size_of::<ListingEntry>() + 16;
    let names: usize = entries
        .iter()
        .map(|e| e.name_bytes().len().next_multiple_of(16) + per_entry)
        .sum();
    charge(key, names)
}

impl std::fmt::Debug for HotFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotFiles")
            .field("max_file", &self.max_file)
            .field("max_total", &self.max_total)
            .finish_non_exhaustive()
    }
}

impl HotFiles {
    pub(crate) fn new(max_file: usize, max_total: usize) -> Self {
        Self {
            entries: Mutex::default(),
            max_file,
            max_total,
            min_age: MIN_AGE,
            valid_ms: 0,
            epoch: Instant::now(),
            #[cfg(target_os = "linux")]
            watcher: std::sync::OnceLock::new(),
        }
    }

    /// The same (empty) cache, serving an entry for `valid` after its file was last found
    /// unchanged without looking at the file again.
    pub(crate) fn with_valid(mut self, valid: Duration) -> Self {
        self.valid_ms = u64::try_from(valid.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// How long an entry is served without looking at its file.
    pub(crate) fn valid(&self) -> Duration {
        Duration::from_millis(self.valid_ms)
    }

    /// The same cache with another [`MIN_AGE`] (tests).
    #[cfg(test)]
    pub(crate) fn with_min_age(mut self, min_age: Duration) -> Self {
        self.min_age = min_age;
        self
    }

    /// The largest file kept.
    pub(crate) fn max_file(&self) -> usize {
        self.max_file
    }

    /// The most bytes kept in all.
    pub(crate) fn max_total(&self) -> usize {
        self.max_total
    }

    /// Whether anything can be cached at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max_file > 0 && self.max_total > 0
    }

    /// Whether a file of `size` bytes with `identity` is worth reading whole to keep.
    pub(crate) fn admits(&self, identity: &Identity) -> bool {
        usize::try_from(identity.size).is_ok_and(|size| size <= self.max_file.min(self.max_total))
            && identity.settled(SystemTime::now(), self.min_age)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The bytes kept for `key`, if the file `current` (its identity now, or `None` when it
    /// cannot be had) still has the identity they were read with. A stale or idle entry is
    /// dropped. An entry larger than `max_size` is left alone and not checked.
    ///
    /// With `dir`, the folder `key` is a path below (Linux), a file found unchanged is watched,
    /// and from then on `current` is asked only after a notification concerned it.
    pub(crate) fn get(
        &self,
        key: &[u8],
        max_size: u64,
        dir: Option<&std::fs::File>,
        current: impl FnOnce() -> Option<Identity>,
    ) -> Option<(Identity, Bytes, Validators)> {
        let entry = self.lock().map.get(key).cloned()?;
        if entry.identity.size > max_size {
            // Kept for other requests; this one is better served from the file.
            return None;
        }
        let now = self.now_ms();
        let idle = now.saturating_sub(entry.used.load(Ordering::Relaxed));
        if u128::from(idle) <= IDLE.as_millis() {
            // Within the validity window, the last check stands (`memory_cache_valid`).
            let checked = now.saturating_sub(entry.checked.load(Ordering::Relaxed));
            let trusted = checked < self.valid_ms;
            if trusted || self.confirmed(&entry) || self.unchanged(&entry, key, dir, current) {
                if !trusted {
                    entry.checked.store(now, Ordering::Relaxed);
                }
                entry.used.store(now, Ordering::Relaxed);
                return Some((
                    entry.identity,
                    entry.bytes.clone(),
                    entry.validators.clone(),
                ));
            }
        }
        let mut entries = self.lock();
        if still_kept(&entries.map, key, &entry) {
            entries.remove(key);
        }
        None
    }

    /// Whether `entry`'s file is watched and no notification concerned it.
    fn confirmed(&self, entry: &Entry) -> bool {
        #[cfg(target_os = "linux")]
        if entry.trust.load(Ordering::Relaxed) {
            if let Some(Some(watcher)) = self.watcher.get() {
                return watcher.confirms(&entry.trust);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = entry;
        false
    }

    /// Whether `entry`'s file, looked at with `current`, is unchanged; if so, it is watched
    /// from now on where it can be.
    fn unchanged(
        &self,
        entry: &Entry,
        key: &[u8],
        dir: Option<&std::fs::File>,
        current: impl FnOnce() -> Option<Identity>,
    ) -> bool {
        if current() != Some(entry.identity) {
            return false;
        }
        #[cfg(target_os = "linux")]
        if let Some(dir) = dir.filter(|_| {
            // Not watched already, and not found unwatchable.
            !entry.trust.load(Ordering::Relaxed) && !entry.unwatchable.load(Ordering::Relaxed)
        }) {
            use super::watch::{Watched, Watcher};
            let watched = match self.watcher.get_or_init(Watcher::new) {
                Some(watcher) => watcher.watch(dir, key, &entry.identity, &entry.trust),
                None => Watched::Never,
            };
            if watched == Watched::Never {
                entry.unwatchable.store(true, Ordering::Relaxed);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (key, dir);
        true
    }

    /// Keeps `bytes`, the whole content of the file `identity` names, under `key`. When there
    /// is no room, idle entries make room; if none is idle, the file is not kept (and no room is
    /// looked for again for [`RESCAN`]): the files in use stay.
    pub(crate) fn insert(&self, key: &[u8], identity: Identity, bytes: Bytes) {
        if bytes.len() > self.max_file.min(self.max_total) || bytes.len() as u64 != identity.size {
            return;
        }
        let now = self.now_ms();
        let cost = charge(key, bytes.len());
        let mut entries = self.lock();
        entries.remove(key);
        if !entries.make_room(cost, self.max_total, now) {
            return;
        }
        let entry = Arc::new(Entry {
            validators: Validators::new(identity.modified(), identity.size),
            identity,
            bytes,
            used: AtomicU64::new(now),
            checked: AtomicU64::new(now),
            trust: Arc::default(),
            unwatchable: AtomicBool::new(false),
        });
        entries.map.insert(key.into(), entry);
    }

    /// The entries of the directory `key` names, sorted, if they were kept when it had the
    /// identity it has now (`current`, from the `fstat` of the directory about to be listed).
    /// A listing kept for another identity is dropped.
    ///
    /// The freshness rule is the files' (see the module's docs): creating, removing or
    /// renaming a name in a directory sets its modification and change times, so an unchanged
    /// identity means unchanged names. What a name is (a folder or not) can change only by
    /// removing or renaming it, except behind a symbolic link: listings with one are not kept
    /// ([`keep_listing`](Self::keep_listing)).
    pub(crate) fn listing(&self, key: &[u8], current: Identity) -> Option<Arc<[ListingEntry]>> {
        let kept = self.lock().listings.get(key).cloned()?;
        if kept.identity == current {
            kept.used.store(self.now_ms(), Ordering::Relaxed);
            return Some(kept.entries.clone());
        }
        let mut entries = self.lock();
        if still_kept(&entries.listings, key, &kept) {
            entries.remove_listing(key);
        }
        None
    }

    /// Keeps the sorted `entries` of the directory `key` names, read from `read_at` on, after
    /// `fstat` reported `identity`, under the files' rules: the directory had changed at least
    /// [`MIN_AGE`] before the read started (so a change during the read has a later time), the
    /// listing charged no more than the largest file kept, room made from idle entries only.
    /// A listing with a symbolic link is not kept: whether it shows as a folder follows its
    /// target, which can change without the directory changing.
    pub(crate) fn keep_listing(
        &self,
        key: &[u8],
        identity: Identity,
        read_at: SystemTime,
        entries: &Arc<[ListingEntry]>,
    ) {
        let most = self.max_file.min(self.max_total);
        if !self.enabled()
            || !identity.settled(read_at, self.min_age)
            // Too many entries to keep, before counting their names.
            || entries.len().saturating_mul(std::mem::size_of::<ListingEntry>()) > most
        {
            return;
        }
        let cost = listing_charge(key, entries);
        if cost > most || entries.iter().any(|e| e.is_symlink) {
            return;
        }
        let now = self.now_ms();
        let mut kept = self.lock();
        kept.remove_listing(key);
        if !kept.make_room(cost, self.max_total, now) {
            return;
        }
        let listing = Arc::new(KeptListing {
            identity,
            entries: entries.clone(),
            cost,
            used: AtomicU64::new(now),
        });
        kept.listings.insert(key.into(), listing);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map inconsistent with `total` in a
        // way that matters (it only bounds memory): keep going.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn total(&self) -> usize {
        self.lock().total
    }
}

impl Entries {
    fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.map.remove(key) {
            self.total -= charge(key, old.bytes.len());
        }
    }

    fn remove_listing(&mut self, key: &[u8]) {
        if let Some(old) = self.listings.remove(key) {
            self.total -= old.cost;
        }
    }

    /// Charges `cost` more bytes if they fit under `max_total`, dropping idle entries (files
    /// and listings) to make room. When nothing idle is left, refuses (and does not look for
    /// room again for [`RESCAN`]): the entries in use stay.
    fn make_room(&mut self, cost: usize, max_total: usize, now: u64) -> bool {
        if self.total.saturating_add(cost) > max_total {
            let rescan = u64::try_from(RESCAN.as_millis()).unwrap_or(u64::MAX);
            if self
                .full_at
                .is_some_and(|at| now.saturating_sub(at) < rescan)
            {
                return false;
            }
            let idle = u64::try_from(IDLE.as_millis()).unwrap_or(u64::MAX);
            self.drop_idle(|used| now.saturating_sub(used.load(Ordering::Relaxed)) > idle);
            if self.total.saturating_add(cost) > max_total {
                self.full_at = Some(now);
                return false;
            }
        }
        self.full_at = None;
        self.total += cost;
        true
    }

    /// Drops the entries (files and listings) whose last use `idle` picks.
    fn drop_idle(&mut self, idle: impl Fn(&AtomicU64) -> bool) {
        let mut freed = 0;
        self.map.retain(|key, entry| {
            let keep = !idle(&entry.used);
            if !keep {
                freed += charge(key, entry.bytes.len());
            }
            keep
        });
        self.listings.retain(|_, listing| {
            let keep = !idle(&listing.used);
            if !keep {
                freed += listing.cost;
            }
            keep
        });
        self.total -= freed;
    }
}

/// The identity `fstat` reported.
#[cfg(target_os = "linux")]
// The nanoseconds are a `u32` on 32-bit targets, an `i64` on 64-bit ones.
#[allow(clippy::useless_conversion)]
pub(crate) fn identity_of(stat: &rustix::fs::Stat) -> Option<Identity> {
    Some(Identity {
        dev: stat.st_dev,
        ino: stat.st_ino,
        size: u64::try_from(stat.st_size).ok()?,
        mtime: (stat.st_mtime, u32::try_from(stat.st_mtime_nsec).ok()?),
        ctime: (stat.st_ctime, u32::try_from(stat.st_ctime_nsec).ok()?),
    })
}

/// The identity in `meta`, the `stat` of a file or directory made already.
#[cfg(target_os = "linux")]
pub(crate) fn identity_of_metadata(meta: &std::fs::Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some(Identity {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: (meta.mtime(), u32::try_from(meta.mtime_nsec()).ok()?),
        ctime: (meta.ctime(), u32::try_from(meta.ctime_nsec()).ok()?),
    })
}

/// Whether the open file `fd` lies on a file system whose attributes the kernel keeps itself.
#[cfg(target_os = "linux")]
pub(crate) fn local(fd: &impl rustix::fd::AsFd) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|fs| {
        // `f_type` is signed on some targets; the magic numbers are below 2^32.
        #[allow(clippy::unnecessary_cast, clippy::cast_sign_loss)]
        let kind = (fs.f_type as i64 as u64) & 0xFFFF_FFFF;
        LOCAL_FILE_SYSTEMS.contains(&kind)
    })
}

/// The identity of the regular file `relative` names below `dir` now, looked up as files are
/// opened (the same confinement; `RESOLVE_CACHED`, so it fails instead of reading a directory
/// from the disk), or `None`.
#[cfg(target_os = "linux")]
pub(crate) fn identity_at(
    dir: &std::fs::File,
    relative: &[u8],
    follow_symlinks: bool,
) -> Option<Identity> {
    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    let mut resolve = ResolveFlags::CACHED;
    if !follow_symlinks {
        resolve |= ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    }
    let path = crate::confined::os_str(relative);
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let fd = rustix::fs::openat2(dir, path, flags, Mode::empty(), resolve).ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return None;
    }
    identity_of(&stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(ino: u64, size: u64) -> Identity {
        Identity {
            dev: 1,
            ino,
            size,
            mtime: (1_000, 0),
            ctime: (1_000, 5),
        }
    }

    #[test]
    fn served_only_while_the_identity_holds() {
        let cache = HotFiles::new(100, 1000);
        let id = identity(7, 3);
        cache.insert(b"a", id, Bytes::from_static(b"abc"));
        let hit = cache
            .get(b"a", u64::MAX, None, || Some(id))
            .map(|(_, b, _)| b);
        assert_eq!(hit.as_deref(), Some(&b"abc"[..]));
        // Any change of the identity drops the entry, even if the file changes back.
        let changed = Identity {
            ctime: (1_000, 6),
            ..id
        };
        assert!(cache.get(b"a", u64::MAX, None, || Some(changed)).is_none());
        assert!(cache.get(b"a", u64::MAX, None, || Some(id)).is_none());
        assert_eq!(cache.total(), 0);
        // A file gone is not served either.
        cache.insert(b"a", id, Bytes::from_static(b"abc"));
        assert!(cache.get(b"a", u64::MAX, None, || None).is_none());
        assert!(cache.get(b"b", u64::MAX, None, || Some(id)).is_none());
    }

    #[test]
    fn within_the_validity_window_the_file_is_not_looked_at() {
        let cache = HotFiles::new(100, 1000).with_valid(Duration::from_secs(10));
        // A clock that has run for longer than the window (shifted as little as the other
        // tests do: `Instant` cannot go before the machine's boot).
        let cache = HotFiles {
            epoch: cache.epoch - Duration::from_secs(20),
            ..cache
        };
        let id = identity(7, 3);
        cache.insert(b"a", id, Bytes::from_static(b"abc"));
        let looked = std::cell::Cell::new(0);
        let changed = Identity { size: 4, ..id };
        let current = || {
            looked.set(looked.get() + 1);
            Some(changed)
        };
        // Found unchanged at insertion: trusted, even though the file has changed since.
        assert!(cache.get(b"a", u64::MAX, None, current).is_some());
        assert_eq!(looked.get(), 0);
        // Once the window has passed, the file is looked at again, and the change is seen.
        for entry in cache.lock().map.values() {
            let old = cache.now_ms().saturating_sub(cache.valid_ms);
            entry.checked.store(old, Ordering::Relaxed);
        }
        assert!(cache.get(b"a", u64::MAX, None, current).is_none());
        assert_eq!(looked.get(), 1);
        // Without a window (the default), every use looks.
        let cache = HotFiles::new(100, 1000);
        assert_eq!(cache.valid(), Duration::ZERO);
        cache.insert(b"a", id, Bytes::from_static(b"abc"));
        assert!(cache.get(b"a", u64::MAX, None, current).is_none());
        assert_eq!(looked.get(), 2);
    }

    /// A kept file found unchanged is watched: the requests after it do not look at the file
    /// until a change is notified, and then the change is seen at once. A file on a path
    /// through a symbolic link is looked at every time, and not watched again and again.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_watched_file_is_looked_at_only_after_a_change() {
        // No test mounts anything meanwhile (a mount takes every file's trust away).
        let _no_mounts = super::super::watch::TEST_MOUNTS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/a"), b"abc").unwrap();
        std::fs::write(dir.path().join("d/b"), b"abc").unwrap();
        std::os::unix::fs::symlink("d", dir.path().join("l")).unwrap();
        let opened = std::fs::File::open(dir.path()).unwrap();
        let cache = HotFiles::new(100, 1000);
        let looked = std::cell::Cell::new(0);
        let current = |key: &[u8]| {
            looked.set(looked.get() + 1);
            identity_at(&opened, key, false)
        };
        // (A lookup through a link may not be in the kernel's caches: the file's own identity
        // stands for it.)
        for (key, file) in [(&b"d/a"[..], &b"d/a"[..]), (b"l/b", b"d/b")] {
            let id = identity_at(&opened, file, false).unwrap();
            cache.insert(key, id, Bytes::from_static(b"abc"));
        }

        for _ in 0..5 {
            let hit = cache.get(b"d/a", u64::MAX, Some(&opened), || current(b"d/a"));
            assert_eq!(hit.map(|(_, bytes, _)| bytes).as_deref(), Some(&b"abc"[..]));
        }
        assert_eq!(looked.get(), 1, "looked at once, then watched");
        std::fs::write(dir.path().join("d/a"), b"xyz").unwrap();
        let hit = cache.get(b"d/a", u64::MAX, Some(&opened), || current(b"d/a"));
        assert!(hit.is_none(), "the change is seen by the next request");
        assert_eq!(looked.get(), 2);

        let linked = identity_at(&opened, b"d/b", false);
        looked.set(0);
        for _ in 0..3 {
            let hit = cache.get(b"l/b", u64::MAX, Some(&opened), || {
                looked.set(looked.get() + 1);
                linked
            });
            assert!(hit.is_some());
        }
        assert_eq!(looked.get(), 3, "not watched: looked at every time");
        let entries = cache.lock();
        let entry = entries.map.get(&b"l/b"[..]).unwrap();
        assert!(entry.unwatchable.load(Ordering::Relaxed));
    }

    #[test]
    fn bounded_per_file_and_in_all() {
        // Four 100-byte entries fit (each is charged 100 + 1 + ENTRY_OVERHEAD).
        let cache = HotFiles::new(100, 4 * charge(b"x", 100));
        cache.insert(b"big", identity(1, 101), Bytes::from(vec![0; 101]));
        assert_eq!(cache.total(), 0);
        // Bytes that do not match the identity's size are not kept.
        cache.insert(b"short", identity(1, 10), Bytes::from(vec![0; 9]));
        assert_eq!(cache.total(), 0);
        for i in 0..10u8 {
            cache.insert(&[i], identity(u64::from(i), 100), Bytes::from(vec![i; 100]));
            assert!(cache.total() <= cache.max_total);
        }
        // Full of files in use: the first four stay, the others were not kept.
        for i in 0..10u8 {
            let id = identity(u64::from(i), 100);
            assert_eq!(
                cache.get(&[i], u64::MAX, None, || Some(id)).is_some(),
                i < 4,
                "{i}"
            );
        }
        // Once idle, entries make room (after RESCAN: no scan on every request meanwhile).
        for entry in cache.lock().map.values() {
            entry.used.store(0, Ordering::Relaxed);
        }
        let later = cache.now_ms() + 2 * u64::try_from(IDLE.as_millis()).unwrap_or(0);
        cache.lock().full_at = Some(later);
        cache.insert(&[9], identity(9, 100), Bytes::from(vec![9; 100]));
        assert!(
            cache
                .get(&[9], u64::MAX, None, || Some(identity(9, 100)))
                .is_none()
        );
        cache.lock().full_at = None;
        let epoch_shift = Duration::from_millis(2 * u64::try_from(IDLE.as_millis()).unwrap_or(0));
        let cache = HotFiles {
            epoch: cache.epoch - epoch_shift,
            ..cache
        };
        cache.insert(&[9], identity(9, 100), Bytes::from(vec![9; 100]));
        assert!(
            cache
                .get(&[9], u64::MAX, None, || Some(identity(9, 100)))
                .is_some()
        );
        assert_eq!(cache.total(), charge(&[9], 100));
    }

    #[test]
    fn tiny_files_are_bounded_too() {
        let cache = HotFiles::new(100, 10 * charge(b"k0", 0));
        for i in 0..100u8 {
            cache.insert(
                format!("k{i}").as_bytes(),
                identity(u64::from(i), 0),
                Bytes::new(),
            );
        }
        assert_eq!(cache.lock().map.len(), 10);
    }

    #[test]
    fn only_settled_files_are_admitted() {
        let cache = HotFiles::new(100, 1000);
        let coarse = |secs: i64| Identity {
            mtime: (secs, 0),
            ctime: (secs, 0),
            ..identity(1, 10)
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        // Changed just now (to the nanosecond: rounding down to the second could make it a
        // second old by the time it is judged).
        let fresh = Identity {
            ctime: (secs, now.subsec_nanos().max(1)),
            ..identity(1, 10)
        };
        let settled = Identity {
            ctime: (secs - 2, 5),
            ..identity(1, 10)
        };
        assert!(!cache.admits(&fresh));
        assert!(cache.admits(&settled));
        assert!(!cache.admits(&Identity {
            size: 101,
            ..settled
        }));
        // Times without a sub-second part: a coarse file system, three times the age.
        assert!(!cache.admits(&coarse(secs - 2)));
        assert!(cache.admits(&coarse(secs - 4)));
        assert!(!HotFiles::new(0, 0).enabled());
    }
    fn entries(names: &[&str], symlink: Option<usize>) -> Arc<[ListingEntry]> {
        names
            .iter()
            .enumerate()
            .map(|(at, name)| ListingEntry::new((*name).into(), false, symlink == Some(at)))
            .collect()
    }

    #[test]
    fn listings_are_served_only_while_the_directory_is_unchanged() {
        let cache = HotFiles::new(1000, 10_000);
        let id = identity(7, 4096);
        let kept = entries(&["a", "b"], None);
        cache.keep_listing(b"d", id, SystemTime::now(), &kept);
        assert_eq!(cache.total(), listing_charge(b"d", &kept));
        let hit = cache.listing(b"d", id).expect("kept");
        assert!(Arc::ptr_eq(&hit, &kept), "the same entries, not a copy");
        assert!(cache.listing(b"e", id).is_none());
        // A name added or removed sets the directory's times: the listing goes, for good.
        let changed = Identity {
            mtime: (1_000, 1),
            ctime: (1_000, 6),
            ..id
        };
        assert!(cache.listing(b"d", changed).is_none());
        assert!(cache.listing(b"d", id).is_none());
        assert_eq!(cache.total(), 0);
        // Another directory mounted over it, or put there by a rename: another identity.
        cache.keep_listing(b"d", id, SystemTime::now(), &kept);
        assert!(cache.listing(b"d", identity(8, 4096)).is_none());
        // Files and listings do not mix up, though they share the budget.
        cache.keep_listing(b"d", id, SystemTime::now(), &kept);
        assert!(cache.get(b"d", u64::MAX, None, || Some(id)).is_none());
        assert!(cache.listing(b"d", id).is_some());
    }

    #[test]
    fn listings_that_could_go_stale_or_cost_too_much_are_not_kept() {
        let id = identity(7, 4096);
        // A symbolic link shows as a folder when its target is one, which can change without
        // the directory changing.
        let cache = HotFiles::new(1000, 10_000);
        cache.keep_listing(
            b"d",
            id,
            SystemTime::now(),
            &entries(&["a", "link"], Some(1)),
        );
        assert!(cache.listing(b"d", id).is_none());
        // A directory changed less than a second before the read started: a change within the
        // same tick of the file system's clock would not show in its times. Judged at the start
        // of the read, however long the read took.
        let read_at = SystemTime::now();
        let since_epoch = read_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let fresh = Identity {
            ctime: (
                i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
                since_epoch.subsec_nanos().max(1),
            ),
            ..id
        };
        cache.keep_listing(b"d", fresh, read_at, &entries(&["a"], None));
        assert!(cache.listing(b"d", fresh).is_none());
        let long_after = read_at + Duration::from_secs(5);
        cache.keep_listing(b"d", fresh, long_after, &entries(&["a"], None));
        assert!(cache.listing(b"d", fresh).is_some(), "settled by then");
        // Charged more than the largest file kept.
        let many: Vec<String> = (0..100).map(|i| format!("file-{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let many = entries(&many, None);
        assert!(listing_charge(b"d", &many) > 1000);
        cache.keep_listing(b"d", id, SystemTime::now(), &many);
        assert!(cache.listing(b"d", id).is_none());
        // No memory cache (`memory_cache(0)`): Python's read-every-time.
        let off = HotFiles::new(0, 0);
        off.keep_listing(b"d", id, SystemTime::now(), &entries(&["a"], None));
        assert!(off.listing(b"d", id).is_none());
        assert_eq!(cache.total() + off.total(), 0);
    }

    #[test]
    fn listings_and_files_share_the_budget() {
        let one = entries(&["a"], None);
        let cost = listing_charge(b"0", &one);
        let cache = HotFiles::new(cost, 3 * cost);
        for i in 0..5u8 {
            cache.keep_listing(
                &[b'0' + i],
                identity(u64::from(i), 4096),
                SystemTime::now(),
                &one,
            );
            assert!(cache.total() <= cache.max_total);
        }
        // Full of listings in use: the first three stay, no file fits.
        assert_eq!(cache.lock().listings.len(), 3);
        cache.insert(b"f", identity(9, 1), Bytes::from_static(b"x"));
        assert!(
            cache
                .get(b"f", u64::MAX, None, || Some(identity(9, 1)))
                .is_none()
        );
        // Idle listings make room, as idle files do.
        for listing in cache.lock().listings.values() {
            listing.used.store(0, Ordering::Relaxed);
        }
        let epoch_shift = Duration::from_millis(2 * u64::try_from(IDLE.as_millis()).unwrap_or(0));
        let cache = HotFiles {
            epoch: cache.epoch - epoch_shift,
            ..cache
        };
        cache.lock().full_at = None;
        cache.insert(b"f", identity(9, 1), Bytes::from_static(b"x"));
        assert!(
            cache
                .get(b"f", u64::MAX, None, || Some(identity(9, 1)))
                .is_some()
        );
        assert!(cache.lock().listings.is_empty());
        assert_eq!(cache.total(), charge(b"f", 1));
    }
}
