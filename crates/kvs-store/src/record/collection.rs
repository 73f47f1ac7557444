//! Collection records: an element's state, or a collection's header (see [`crate::collection`]).
//! Their bodies are decoded when read: a collection read walks elements anyway, and the encoded
//! form keeps each record one allocation.

use super::{Record, COLLECTION_BIT, ELEMENT_BIT, TOMBSTONE_BIT};
use crate::collection::element::{le_u64, put_stamp, read_stamp, ElementState, STAMP_BYTES};
use crate::collection::header::{Header, Visibility};
use crate::collection::{type_byte, type_of_byte, CollectionType};
use kvs_proto::NodeId;

impl Record {
    /// An element's record at its stored key; a tombstone when no add survives (kept, so a late
    /// copy of a removed add stays removed, until purged like any tombstone).
    pub fn element(key: &[u8], state: &ElementState) -> Record {
        let flags = if state.is_present() { ELEMENT_BIT } else { ELEMENT_BIT | TOMBSTONE_BIT };
        Record::build(key, state.newest(), flags, None, |out| state.encode(out))
    }

    /// A collection's header at its key, expiring at `deadline_ms`.
    pub fn collection(key: &[u8], header: &Header, deadline_ms: Option<u64>) -> Record {
        Record::build(key, header.newest(), COLLECTION_BIT, deadline_ms, |out| {
            out.push(type_byte(header.of));
            put_stamp(out, &header.base);
            out.extend_from_slice(&header.expired_before.to_le_bytes());
            out.extend_from_slice(&(header.stamps.len() as u32).to_le_bytes());
            out.extend_from_slice(&(header.cleared.len() as u32).to_le_bytes());
            for stamp in &header.stamps {
                put_stamp(out, stamp);
            }
            for (node, seq) in &header.cleared {
                out.extend_from_slice(&node.0.to_le_bytes());
                out.extend_from_slice(&seq.to_le_bytes());
            }
        })
    }

    /// Whether this is an element's record.
    pub fn is_element(&self) -> bool {
        self.flags() & ELEMENT_BIT != 0
    }

    /// Whether this is an element holding one add and nothing else, whose one write is the
    /// record's own stamp.
    pub(crate) fn is_single_add(&self) -> bool {
        self.is_element() && self.raw_body().first() == Some(&crate::collection::element::ONLY_ADD)
    }

    /// The value of an element holding one add and nothing else (see
    /// [`Record::is_single_add`]).
    pub(crate) fn single_add_value(&self) -> Option<&[u8]> {
        self.is_single_add().then(|| &self.raw_body()[1..])
    }

    /// Whether this element's record is seen under a header's `visibility`: for one add, from
    /// the record's own stamp, without decoding the body.
    pub(crate) fn element_visible(&self, visibility: &Visibility<'_>) -> bool {
        if self.is_tombstone() {
            // No add or increment survives in it.
            return false;
        }
        match self.is_single_add() {
            true => visibility.sees(&self.stamp()),
            false => self.element_state().is_some_and(|state| state.is_visible(visibility)),
        }
    }

    /// Whether this is a collection's header.
    pub fn is_collection(&self) -> bool {
        self.flags() & COLLECTION_BIT != 0
    }

    /// The element's state, if this is an element's record.
    pub fn element_state(&self) -> Option<ElementState> {
        self.is_element().then(|| ElementState::decode(self.raw_body(), self.stamp()))
    }

    /// The header, if this is a collection's header.
    pub fn header(&self) -> Option<Header> {
        if !self.is_collection() {
            return None;
        }
        let body = self.raw_body();
        let of = type_of_byte(body[0]).expect("a header's own body holds its type");
        let base = read_stamp(&body[1..]);
        let at = 1 + STAMP_BYTES;
        let expired_before = le_u64(&body[at..]);
        let count = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes")) as usize;
        let (stamps, cleared) = (count(at + 8), count(at + 12));
        let mut at = at + 16;
        let mut header = Header { of, base, stamps: Vec::with_capacity(stamps), cleared: Vec::new(), expired_before };
        for _ in 0..stamps {
            header.stamps.push(read_stamp(&body[at..]));
            at += STAMP_BYTES;
        }
        for _ in 0..cleared {
            header.cleared.push((NodeId(le_u64(&body[at..])), le_u64(&body[at + 8..])));
            at += 16;
        }
        Some(header)
    }

    /// The collection's type, if this is a header (without decoding the rest).
    pub fn collection_type(&self) -> Option<CollectionType> {
        self.is_collection().then(|| type_of_byte(self.raw_body()[0]).expect("a header's own body holds its type"))
    }
}
