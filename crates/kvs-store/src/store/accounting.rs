//! What the store counts as records come and go: the digest, live and tombstone counts (per
//! database too), and the bytes `maxmemory` is checked against.

use super::Store;
use crate::databases;
use crate::digest::record_hash;
use crate::record::Record;
use std::sync::atomic::Ordering;

/// What a record costs beyond its key and body: its 36-byte head, the allocator's 8 bytes and
/// rounding, its table slot and its origin-index entry; a node's resident memory per key, less
/// the bytes of its key and value, measured 73 with 16-byte keys and 100-byte values (README).
pub const RECORD_OVERHEAD_BYTES: u64 = 72;

/// Whether a live `record` counts as a key by itself: not an element (part of a collection), nor
/// a header (whose key counts while an element is seen, see `collections`).
fn counts_as_key(record: &Record) -> bool {
    !record.is_element() && !record.is_collection() && !record.is_tombstone()
}

/// The bytes `record` counts for in [`Store::live_bytes`] or [`Store::tombstone_bytes`].
pub(crate) fn record_bytes(record: &Record) -> u64 {
    record.payload_len() as u64 + RECORD_OVERHEAD_BYTES
}

impl Store {
    /// Adds (`sign` = 1) or removes (`sign` = -1) one record from the digest and counts.
    pub(crate) fn account(&self, record: &Record, sign: i64) {
        let hash = record_hash(record);
        self.digest_hi.fetch_xor((hash >> 64) as u64, Ordering::AcqRel);
        self.digest_lo.fetch_xor(hash as u64, Ordering::AcqRel);
        if record.is_flush() {
            return;
        }
        let bytes = match record.is_tombstone() {
            true => &self.tombstone_bytes,
            false => &self.live_bytes,
        };
        if sign > 0 {
            bytes.fetch_add(record_bytes(record), Ordering::Relaxed);
        } else {
            bytes.fetch_sub(record_bytes(record), Ordering::Relaxed);
        }
        if record.is_tombstone() {
            self.count(&self.tombstones, sign > 0);
        } else if counts_as_key(record) {
            self.count(&self.live, sign > 0);
            self.count_in_database(record, sign > 0);
        }
    }

    fn count(&self, counter: &std::sync::atomic::AtomicU64, added: bool) {
        if added {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Accounts for `new` replacing `old`: when both are of one class (live key, tombstone,
    /// collection part) in one pass, the digest changing by both hashes at once, so an overwrite
    /// costs two atomic operations instead of six.
    pub(super) fn account_replaced(&self, old: &Record, new: &Record) {
        let class = |r: &Record| (r.is_tombstone(), counts_as_key(r));
        if class(old) != class(new) {
            // A key becoming a tombstone, a string replacing a collection's header, an element
            // losing its last add: counted the long way.
            self.account(old, -1);
            self.account(new, 1);
            return;
        }
        let change = record_hash(old) ^ record_hash(new);
        self.digest_hi.fetch_xor((change >> 64) as u64, Ordering::AcqRel);
        self.digest_lo.fetch_xor(change as u64, Ordering::AcqRel);
        let (before, after) = (record_bytes(old), record_bytes(new));
        let bytes = if old.is_tombstone() { &self.tombstone_bytes } else { &self.live_bytes };
        // The common overwrite of a value by one of the same size costs no atomic.
        if after > before {
            bytes.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            bytes.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    pub(super) fn count_in_database(&self, record: &Record, added: bool) {
        let counter = &self.live_by_database[databases::database_of(record.key()) as usize];
        if added {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Live records (values, counters, HyperLogLogs; expired ones until reclaimed) of database
    /// `db`.
    pub fn live_count_in(&self, db: u8) -> u64 {
        self.live_by_database[db as usize].load(Ordering::Relaxed)
    }

    /// Bytes the live records (values, counters, HyperLogLogs, collection elements seen) take:
    /// each record's key and body plus [`RECORD_OVERHEAD_BYTES`]. What `maxmemory` is checked
    /// against.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes.load(Ordering::Relaxed).saturating_sub(self.hidden_bytes.load(Ordering::Relaxed))
    }

    /// Bytes the tombstones take (deletes, expiries and evictions, until purged), and the
    /// elements a collection's DEL, expiry or eviction hid (until purged too).
    pub fn tombstone_bytes(&self) -> u64 {
        self.tombstone_bytes.load(Ordering::Relaxed) + self.hidden_bytes.load(Ordering::Relaxed)
    }

    /// Moves `delta` bytes of elements between seen and hidden (see [`Store::live_bytes`]).
    pub(super) fn hide(&self, delta: i64) {
        match delta.cmp(&0) {
            std::cmp::Ordering::Greater => self.hidden_bytes.fetch_add(delta as u64, Ordering::Relaxed),
            std::cmp::Ordering::Less => self.hidden_bytes.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed),
            std::cmp::Ordering::Equal => 0,
        };
    }
}
