//! [`Record`]: one key's entry in a single shared allocation.
//!
//! The store keeps millions of these, so their size is the store's size: one allocation holding
//! the version, the key length and the key and value bytes back to back, behind an 8-byte
//! reference-counted pointer. Cloning one (for the push log, a scan, an anti-entropy answer) is a refcount bump.

use bytes::Bytes;
use kvs_proto::peer::KeyedEntry;
use kvs_proto::{Entry, NodeId, Version};
use serde::ser::{Serialize, SerializeStruct, SerializeTuple, Serializer};
use std::cell::RefCell;
use std::fmt;
use triomphe::ThinArc;

/// Packed so the header is 32 bytes: the version's fields, the origin sequence number, and the
/// key length with the tombstone flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    wall_ms: u64,
    node: u64,
    seq: u64,
    logical: u32,
    /// Key length in the low 31 bits; the top bit marks a tombstone.
    key_len_and_tombstone: u32,
}

const TOMBSTONE_BIT: u32 = 1 << 31;

/// Longest key a record can hold.
pub const MAX_RECORD_KEY_BYTES: usize = (TOMBSTONE_BIT - 1) as usize;

/// A key with its latest value (or tombstone) and version.
#[derive(Clone)]
pub struct Record(ThinArc<Header, u8>);

thread_local! {
    /// Where key and value are laid side by side before being copied into a record in one memcpy.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch space beyond this is released after use, so one huge value does not pin memory.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

impl Record {
    /// Builds a record; `value: None` is a tombstone; `seq` numbers the write among its origin's
    /// (`version.node`) writes. Panics if the key exceeds [`MAX_RECORD_KEY_BYTES`] (nodes bound keys
    /// far below that).
    pub fn new(key: &[u8], value: Option<&[u8]>, version: Version, seq: u64) -> Record {
        assert!(key.len() <= MAX_RECORD_KEY_BYTES, "key of {} bytes is too long for a record", key.len());
        let flag = if value.is_none() { TOMBSTONE_BIT } else { 0 };
        let header = Header {
            wall_ms: version.wall_ms,
            node: version.node.0,
            seq,
            logical: version.logical,
            key_len_and_tombstone: key.len() as u32 | flag,
        };
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            scratch.extend_from_slice(key);
            scratch.extend_from_slice(value.unwrap_or_default());
            let record = Record(ThinArc::from_header_and_slice(header, scratch));
            if scratch.capacity() > SCRATCH_KEEP_BYTES {
                *scratch = Vec::new();
            }
            record
        })
    }

    /// A record from a wire entry (copies the bytes into one allocation).
    pub fn from_entry(key: &[u8], entry: &Entry) -> Record {
        Record::new(key, entry.value.as_deref(), entry.version, entry.seq)
    }

    fn header(&self) -> &Header {
        &self.0.header.header
    }

    fn key_len(&self) -> usize {
        (self.header().key_len_and_tombstone & !TOMBSTONE_BIT) as usize
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.0.slice[..self.key_len()]
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        (!self.is_tombstone()).then(|| &self.0.slice[self.key_len()..])
    }

    /// Whether this record is a delete marker.
    pub fn is_tombstone(&self) -> bool {
        self.header().key_len_and_tombstone & TOMBSTONE_BIT != 0
    }

    /// The version that wrote it.
    pub fn version(&self) -> Version {
        let h = self.header();
        Version { wall_ms: h.wall_ms, logical: h.logical, node: NodeId(h.node) }
    }

    /// The node that made this write.
    pub fn origin(&self) -> NodeId {
        NodeId(self.header().node)
    }

    /// The write's position among its origin's writes.
    pub fn seq(&self) -> u64 {
        self.header().seq
    }

    /// Key and value bytes together, to bound batch sizes.
    pub fn payload_len(&self) -> usize {
        self.0.slice.len()
    }

    /// The wire form (copies the bytes).
    pub fn to_keyed_entry(&self) -> KeyedEntry {
        let value = self.value().map(Bytes::copy_from_slice);
        (Bytes::copy_from_slice(self.key()), Entry { value, version: self.version(), seq: self.seq() })
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value().map(String::from_utf8_lossy))
            .field("version", &self.version())
            .finish()
    }
}

/// Bytes serialized as a byte string, like `Bytes` is.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Serializes exactly like a [`KeyedEntry`], so a record goes on the wire without being copied
/// and the receiver decodes it as a `KeyedEntry`.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct EntryView<'a>(&'a Record);
        impl Serialize for EntryView<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut entry = serializer.serialize_struct("Entry", 3)?;
                entry.serialize_field("value", &self.0.value().map(RawBytes))?;
                entry.serialize_field("version", &self.0.version())?;
                entry.serialize_field("seq", &self.0.seq())?;
                entry.end()
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&RawBytes(self.key()))?;
        tuple.serialize_element(&EntryView(self))?;
        tuple.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::encoding::encode;
    use kvs_proto::PeerMessage;

    fn version() -> Version {
        Version { wall_ms: 1_700_000_000_000, logical: 3, node: NodeId(42) }
    }

    #[test]
    fn holds_key_value_and_version() {
        let record = Record::new(b"key", Some(b"value"), version(), 9);
        assert_eq!((record.key(), record.value(), record.version()), (&b"key"[..], Some(&b"value"[..]), version()));
        assert_eq!((record.origin(), record.seq()), (NodeId(42), 9));
        let tombstone = Record::new(b"key", None, version(), 10);
        assert!(tombstone.is_tombstone());
        assert_eq!(tombstone.value(), None);
        assert_eq!(Record::new(b"", Some(b""), version(), 1).value(), Some(&b""[..]));
    }

    #[test]
    fn encodes_exactly_like_the_wire_entry() {
        for record in [Record::new(b"k", Some(b"v"), version(), 1), Record::new(b"gone", None, version(), 300)] {
            let as_records = PeerMessage::Entries { entries: vec![record.clone()] };
            let as_entries: PeerMessage = PeerMessage::Entries { entries: vec![record.to_keyed_entry()] };
            assert_eq!(encode(&as_records).unwrap(), encode(&as_entries).unwrap());
        }
    }
}
