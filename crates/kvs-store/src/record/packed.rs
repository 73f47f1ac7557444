//! The allocation behind a [`super::Record`]: a 36-byte head and the record's bytes, behind one
//! 8-byte pointer, with a 32-bit reference count and a 32-bit length.
//!
//! Besides the immutable fields the head holds 16 mutable bits, the key's access state for
//! eviction (see `crate::access`), in the sequence number's top 16 bits: a sequence number is at
//! most 2^48 (no origin makes that many writes), so the bits were free, and the head stays 36.
//!
//! A million records are most of a node's memory, and the allocator rounds each up to a 16-byte
//! chunk size with 8 bytes of its own: a 16-byte key and a 100-byte value fit a 160-byte chunk
//! only if the head is at most 36 bytes. `triomphe::ThinArc` (used before) spends 16 bytes on a
//! `usize` count and length and pads the head to 8 bytes, landing at 176; no maintained crate
//! offers a thin reference-counted slice with 32-bit counts, so this is the one hand-written
//! allocation of the store, kept to the few operations a record needs.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicU32, Ordering};

/// What a record's head holds besides its count and length (see [`super::Record`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fields {
    /// The version's wall-clock milliseconds.
    pub(super) wall_ms: u64,
    /// The write's position among its origin's writes.
    pub(super) seq: u64,
    /// The version's logical counter.
    pub(super) logical: u32,
    /// The origin, numbered by [`super::origins`].
    pub(super) origin: u32,
    /// Key length and flags.
    pub(super) key_len_and_flags: u32,
}

/// The head as it lies in memory: the 64-bit fields in two halves, so it aligns to 4 bytes and
/// is 36 bytes, not 40.
#[repr(C)]
struct Head {
    refs: AtomicU32,
    len: u32,
    wall_ms: [u32; 2],
    seq_low: u32,
    /// The sequence number's bits 32..48, and the access state in the top 16 bits.
    seq_high_and_access: AtomicU32,
    logical: u32,
    origin: u32,
    key_len_and_flags: u32,
}

fn halves(value: u64) -> [u32; 2] {
    [value as u32, (value >> 32) as u32]
}

fn joined([low, high]: [u32; 2]) -> u64 {
    u64::from(high) << 32 | u64::from(low)
}

const HEAD_BYTES: usize = size_of::<Head>();
const _: () = assert!(HEAD_BYTES == 36);

/// Counts above this abort, as `Arc`'s do past `isize::MAX`: so many handles cannot exist
/// without a leak (they would take 16 GiB of pointers), and wrapping would free a live record.
const MAX_REFS: u32 = i32::MAX as u32;

/// Longest body a record can hold.
pub(super) const MAX_BYTES: usize = u32::MAX as usize;

/// Sequence numbers are below this (the top 16 bits hold the access state).
pub(super) const SEQ_LIMIT: u64 = 1 << 48;

/// One reference to a shared, immutable head and bytes.
pub(super) struct Packed(NonNull<Head>);

// SAFETY: the head and bytes are never written after construction except through atomics (the
// count, the access state), so handles may move between and be shared by threads exactly like
// `Arc<[u8]>`.
unsafe impl Send for Packed {}
// SAFETY: as above.
unsafe impl Sync for Packed {}

fn layout(len: usize) -> Layout {
    Layout::from_size_align(HEAD_BYTES + len, align_of::<Head>()).expect("a record's size fits a layout")
}

impl Packed {
    /// A new allocation holding `fields`, the access state `access` and a copy of `bytes`;
    /// panics past [`MAX_BYTES`] or [`SEQ_LIMIT`].
    pub(super) fn new(fields: Fields, access: u16, bytes: &[u8]) -> Packed {
        let len = u32::try_from(bytes.len()).expect("a record's bytes fit in u32");
        let layout = layout(bytes.len());
        // SAFETY: the layout is never zero-sized (the head is 36 bytes).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(head) = NonNull::new(raw.cast::<Head>()) else { alloc::handle_alloc_error(layout) };
        let Fields { wall_ms, seq, logical, origin, key_len_and_flags } = fields;
        assert!(seq < SEQ_LIMIT, "sequence number {seq} past 2^48");
        // SAFETY: `raw` is a fresh allocation of `HEAD_BYTES + len` bytes aligned for `Head`;
        // the head is written in place and the bytes right after it, without overlap.
        unsafe {
            let (wall_ms, [seq_low, seq_high]) = (halves(wall_ms), halves(seq));
            head.as_ptr().write(Head {
                refs: AtomicU32::new(1),
                len,
                wall_ms,
                seq_low,
                seq_high_and_access: AtomicU32::new(seq_high | u32::from(access) << 16),
                logical,
                origin,
                key_len_and_flags,
            });
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), raw.add(HEAD_BYTES), bytes.len());
        }
        Packed(head)
    }

    fn head(&self) -> &Head {
        // SAFETY: the allocation lives while any handle does, and this handle is one.
        unsafe { self.0.as_ref() }
    }

    /// The head's fields.
    pub(super) fn fields(&self) -> Fields {
        let head = self.head();
        Fields {
            wall_ms: joined(head.wall_ms),
            seq: joined([head.seq_low, head.seq_high_and_access.load(Ordering::Relaxed) & 0xffff]),
            logical: head.logical,
            origin: head.origin,
            key_len_and_flags: head.key_len_and_flags,
        }
    }

    /// The access state.
    pub(super) fn access(&self) -> u16 {
        (self.head().seq_high_and_access.load(Ordering::Relaxed) >> 16) as u16
    }

    /// Replaces the access state (the sequence bits beside it never change, so a plain store
    /// of both is exact; racing accesses keep one of their states, as Redis's would).
    pub(super) fn set_access(&self, access: u16) {
        let field = &self.head().seq_high_and_access;
        let seq_high = field.load(Ordering::Relaxed) & 0xffff;
        field.store(seq_high | u32::from(access) << 16, Ordering::Relaxed);
    }

    /// Key length and flags, read alone because every accessor needs them.
    pub(super) fn key_len_and_flags(&self) -> u32 {
        self.head().key_len_and_flags
    }

    /// The bytes after the head.
    pub(super) fn bytes(&self) -> &[u8] {
        let len = self.head().len as usize;
        // SAFETY: `len` bytes were copied right after the head by `new` and are never written again.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>().add(HEAD_BYTES), len) }
    }

    /// Whether two handles share one allocation.
    pub(super) fn same_as(&self, other: &Packed) -> bool {
        self.0 == other.0
    }
}

impl Clone for Packed {
    fn clone(&self) -> Packed {
        // Relaxed, as `Arc` does: a new handle is made from a live one, which already orders
        // every access to the shared bytes.
        let before = self.head().refs.fetch_add(1, Ordering::Relaxed);
        if before > MAX_REFS {
            std::process::abort();
        }
        Packed(self.0)
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        // Release, then Acquire before freeing, as `Arc` does: every other handle's reads
        // happen before the memory is returned.
        if self.head().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        atomic::fence(Ordering::Acquire);
        let layout = layout(self.head().len as usize);
        // SAFETY: this was the last handle, so nothing reads the allocation any more, and it
        // was allocated by `new` with this very layout.
        unsafe { alloc::dealloc(self.0.as_ptr().cast::<u8>(), layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(seq: u64) -> Fields {
        Fields { wall_ms: u64::MAX - 1, seq, logical: 7, origin: 3, key_len_and_flags: 5 | 1 << 31 }
    }

    #[test]
    fn the_access_state_changes_beside_a_sequence_number_that_does_not() {
        let record = Packed::new(fields(SEQ_LIMIT - 1), 7, b"v");
        assert_eq!((record.fields().seq, record.access()), (SEQ_LIMIT - 1, 7));
        record.set_access(u16::MAX);
        assert_eq!((record.fields(), record.access()), (fields(SEQ_LIMIT - 1), u16::MAX));
    }

    #[test]
    fn holds_what_it_was_given_and_frees_with_its_last_handle() {
        let data: Vec<u8> = (0..=255).collect();
        let first = Packed::new(fields(9), 0, &data);
        let copies: Vec<Packed> = (0..10).map(|_| first.clone()).collect();
        drop(first);
        for copy in &copies {
            assert_eq!((copy.fields(), copy.bytes()), (fields(9), &data[..]));
            assert!(copy.same_as(&copies[0]));
        }
        assert_eq!(copies[0].head().refs.load(Ordering::Relaxed), 10);
        assert!(!copies[0].same_as(&Packed::new(fields(9), 0, &data)));
        assert_eq!(Packed::new(fields(1), 0, b"").bytes(), b"");
    }

    #[test]
    fn handles_cross_threads() {
        let shared = Packed::new(fields(1), 0, b"across");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let mine = shared.clone();
                scope.spawn(move || {
                    let held: Vec<Packed> = (0..1_000).map(|_| mine.clone()).collect();
                    assert!(held.iter().all(|p| p.bytes() == b"across"));
                });
            }
        });
        assert_eq!(shared.head().refs.load(Ordering::Relaxed), 1);
    }
}
