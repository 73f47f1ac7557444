//! Hashes, sets and sorted sets: a collection is a header record at its key and one record per
//! element, so a change to one element replicates, logs and costs anti-entropy in proportion to
//! that element, never to the collection.
//!
//! - [`element`]: one element's state: observed-remove, add-wins, values last-writer-wins.
//! - [`header`]: the collection's type and what whole-key deletes and expiry removed.
//! - `index` (internal): per shard, each collection's elements in order and how many are visible.
//!
//! An element's stored key is `FF EE`, the collection's type, the length of the collection's
//! stored key (4 bytes, big-endian), that key, then the element: all elements of one collection
//! share a prefix, and the store puts them in the shard of the collection's key, beside the
//! header. A key of database 0 may not begin with `FF EE` (the front ends refuse it, as they do
//! `FF DB`).

pub mod element;
pub mod header;
pub(crate) mod index;

pub use kvs_proto::CollectionType;

/// The first two bytes of every element's stored key.
pub const ELEMENT_PREFIX: [u8; 2] = [0xFF, 0xEE];

/// Bytes before the collection's stored key in an element's key.
const HEAD_BYTES: usize = 2 + 1 + 4;

fn type_byte(of: CollectionType) -> u8 {
    match of {
        CollectionType::Hash => 1,
        CollectionType::Set => 2,
        CollectionType::SortedSet => 3,
    }
}

fn type_of_byte(byte: u8) -> Option<CollectionType> {
    match byte {
        1 => Some(CollectionType::Hash),
        2 => Some(CollectionType::Set),
        3 => Some(CollectionType::SortedSet),
        _ => None,
    }
}

/// The prefix every element of collection `collection` (a stored key) of type `of` shares.
pub fn members_prefix(of: CollectionType, collection: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(HEAD_BYTES + collection.len());
    key.extend_from_slice(&ELEMENT_PREFIX);
    key.push(type_byte(of));
    key.extend_from_slice(&(collection.len() as u32).to_be_bytes());
    key.extend_from_slice(collection);
    key
}

/// The stored key of `element` of collection `collection` (a stored key) of type `of`.
pub fn element_key(of: CollectionType, collection: &[u8], element: &[u8]) -> Vec<u8> {
    let mut key = members_prefix(of, collection);
    key.extend_from_slice(element);
    key
}

/// An element key's parts: its collection's type, stored key and the element; `None` for any
/// other key.
pub fn split_element_key(key: &[u8]) -> Option<(CollectionType, &[u8], &[u8])> {
    let rest = key.strip_prefix(&ELEMENT_PREFIX)?;
    let (&kind, rest) = rest.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let rest = &rest[4..];
    let collection = rest.get(..len)?;
    Some((type_of_byte(kind)?, collection, &rest[len..]))
}

/// The collection key part of an element key (with its type and length), what every element
/// of one collection shares; `None` for any other key.
pub(crate) fn prefix_of(key: &[u8]) -> Option<&[u8]> {
    let (_, collection, _) = split_element_key(key)?;
    Some(&key[..HEAD_BYTES + collection.len()])
}

/// Whether `key` is an element's stored key.
pub fn is_element_key(key: &[u8]) -> bool {
    key.starts_with(&ELEMENT_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_element_key_names_its_collection_and_element() {
        let key = element_key(CollectionType::Set, b"\xFF\xDB\x02tags", b"red");
        assert_eq!(split_element_key(&key), Some((CollectionType::Set, &b"\xFF\xDB\x02tags"[..], &b"red"[..])));
        assert_eq!(prefix_of(&key), Some(&members_prefix(CollectionType::Set, b"\xFF\xDB\x02tags")[..]));
        assert!(is_element_key(&key) && !is_element_key(b"tags"));
        assert_eq!(split_element_key(b"\xFF\xEE\x09\0\0\0\0"), None, "an unknown type");
        assert_eq!(split_element_key(b"\xFF\xEE\x01\0\0\0\x09ab"), None, "a length past the end");
    }
}
