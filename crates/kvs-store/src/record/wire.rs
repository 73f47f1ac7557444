//! A record's wire form: it serializes exactly like a [`KeyedEntry`](kvs_proto::peer::KeyedEntry) and decodes from one,
//! borrowing the key and value from the received frame.

use super::Record;
use kvs_proto::{EntryKind, Stamp, Version};
use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, SerializeStruct, SerializeTuple, Serializer};

/// Bytes serialized as a byte string, like `Bytes` is.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Serializes exactly like a [`KeyedEntry`](kvs_proto::peer::KeyedEntry), so a record goes on the wire without its value
/// being copied and the receiver decodes it as a `KeyedEntry`.
/// An [`Entry`] as it arrives, its bytes still in the received frame: a [`Record`] decodes
/// through it, so a replica copies a pushed key and value once, into the record, instead of
/// first into buffers of their own.
#[derive(serde::Deserialize)]
struct EntryInFrame<'a> {
    #[serde(borrow)]
    value: Option<&'a [u8]>,
    version: Version,
    seq: u64,
    expires_at_ms: Option<u64>,
    kind: EntryKind,
}

/// Decodes what [`KeyedEntry`](kvs_proto::peer::KeyedEntry) encodes (and a record serializes to), refusing an entry that is
/// not well formed; decoders must lend bytes from their input (the peer frames' bincode does).
impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Record, D::Error> {
        let (key, entry): (&'de [u8], EntryInFrame<'de>) = Deserialize::deserialize(deserializer)?;
        let stamp = Stamp { version: entry.version, seq: entry.seq };
        Record::from_parts(key, entry.value, stamp, entry.expires_at_ms, &entry.kind).map_err(D::Error::custom)
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct EntryView<'a>(&'a Record);
        impl Serialize for EntryView<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let record = self.0;
                let mut entry = serializer.serialize_struct("Entry", 5)?;
                entry.serialize_field("value", &record.wire_value().map(RawBytes))?;
                entry.serialize_field("version", &record.version())?;
                entry.serialize_field("seq", &record.seq())?;
                entry.serialize_field("expires_at_ms", &record.deadline_ms())?;
                entry.serialize_field("kind", &record.entry_kind())?;
                entry.end()
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&RawBytes(self.key()))?;
        tuple.serialize_element(&EntryView(self))?;
        tuple.end()
    }
}
