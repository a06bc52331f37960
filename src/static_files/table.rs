//! Hash maps for the MIME-type tables: looked up on every file response, filled only from
//! configuration (`extensions_map`) and the host's `mime.types`, never from a request.
//!
//! The standard library's SipHash is there to keep an attacker who chooses the *keys put in* a
//! map from making them all collide. Nobody outside the server's configuration puts keys in
//! these tables: a client only looks an extension up, a short probe of a table whose layout it
//! cannot influence, whatever it sends.
//! So they use a multiply-rotate hash (the one rustc uses for its own tables), a few
//! instructions for an extension, where SipHash costs some hundred. Maps a client fills (the
//! memory cache, whose keys are the names of files that may have been uploaded) keep SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by configuration, hashed with [`TableHasher`].
pub(crate) type Table<K, V> = HashMap<K, V, BuildHasherDefault<TableHasher>>;

/// The multiply-rotate hash of rustc's `FxHasher`, eight bytes at a time.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TableHasher {
    hash: u64,
}

const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl TableHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for TableHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The last byte is padding (a tail is at most 7 bytes): it says how long the tail
            // is, so that `ab` and `ab\0` differ.
            word[7] = rest.len() as u8;
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiplication mixes into the high bits; hashbrown picks buckets by the low ones.
        self.hash.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash(s: &str) -> u64 {
        BuildHasherDefault::<TableHasher>::default().hash_one(s)
    }

    #[test]
    fn equal_keys_hash_equal_and_different_keys_apart() {
        assert_eq!(hash(".html"), hash(".html"));
        let exts = [
            ".html",
            ".htm",
            ".css",
            ".js",
            ".json",
            ".png",
            ".jpg",
            ".gz",
            ".tar.gz",
            ".x",
            ".xx",
            ".abcdefgh",
            ".abcdefghi",
        ];
        let hashes: std::collections::HashSet<u64> = exts.iter().map(|e| hash(e)).collect();
        assert_eq!(hashes.len(), exts.len());
        // A prefix is not the whole: the padding of the last word does not hide the difference
        // (`str`'s hash ends with a marker byte).
        assert_ne!(hash(".abcdefg"), hash(".abcdefg\0"));
    }

    #[test]
    fn a_table_finds_what_was_put_in() {
        let mut table: Table<String, u32> = Table::default();
        for i in 0..2_000u32 {
            table.insert(format!(".e{i}"), i);
        }
        for i in 0..2_000u32 {
            assert_eq!(table.get(format!(".e{i}").as_str()), Some(&i));
        }
        assert_eq!(table.get(".missing"), None);
    }
}
