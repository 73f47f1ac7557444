//! Hashes, sets and sorted sets: a collection is a header record at its key and one record per
//! element, so a change to one element replicates, logs and costs anti-entropy in proportion to
//! that element, never to the collection.
//!
//! - [`element`]: one element's state: observed-remove, add-wins, values last-writer-wins.
//! - [`header`]: the collection's type and what whole-key deletes and expiry removed.
//! - [`position`]: a list element's position identifier, whose bytes sort in list order.
//! - `vector` (internal): per-origin sequence-number vectors, what removes and DELs cover.
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
pub(crate) mod order;
pub mod position;
pub(crate) mod vector;

pub use kvs_proto::CollectionType;

use bytes::Bytes;
use element::{ElementState, Number};
use header::Visibility;

/// A sorted-set member's score as its add holds it: an `f64`, little-endian.
pub fn score_bytes(score: f64) -> Bytes {
    Bytes::copy_from_slice(&score.to_le_bytes())
}

/// The score an add of a sorted-set member holds (0 for none or a malformed one).
pub fn score_of(value: &[u8]) -> f64 {
    value.try_into().map(f64::from_le_bytes).unwrap_or(0.0)
}

/// A hash field's value as a number: an integer in Redis's form, else a float.
pub fn parse_number(text: &[u8]) -> Option<Number> {
    if let Some(int) = crate::decimal::parse_integer(text) {
        return Some(Number::Int(int));
    }
    let text = std::str::from_utf8(text).ok()?;
    if text.is_empty() || text.trim() != text {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::Float)
}

/// Prints a float as Redis's INCRBYFLOAT and HINCRBYFLOAT do: shortest exact decimal, no
/// negative zero.
pub fn format_float(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    format!("{value}")
}

/// An element's number under a header: its base (a hash's decimal text, a sorted set's score)
/// plus the increments on it. `None` when the element is not seen; `Some(None)` when its value
/// is no number.
pub fn number_of(of: CollectionType, state: &ElementState, under: &Visibility<'_>) -> Option<Option<Number>> {
    if !state.is_visible(under) {
        return None;
    }
    let base = state.base(under).map(|add| &add.value[..]);
    let (int, float) = state.increments(under).unwrap_or((0, 0.0));
    let base = match (of, base) {
        (_, None) => Number::Int(0),
        (CollectionType::SortedSet, Some(value)) => Number::Float(score_of(value)),
        (_, Some(text)) => match parse_number(text) {
            Some(number) => number,
            None => return Some(None),
        },
    };
    Some(Some(match base {
        Number::Int(base) if float == 0.0 => match i64::try_from(base as i128 + int) {
            Ok(sum) => Number::Int(sum),
            Err(_) => Number::Float(base as f64 + int as f64),
        },
        Number::Int(base) => Number::Float(base as f64 + int as f64 + float),
        Number::Float(base) => Number::Float(base + int as f64 + float),
    }))
}

/// An element's value as reads see it under a header: a hash field's value (its number in
/// decimal once increments count), a sorted-set member's score, a set member's nothing. `None`
/// when it is not seen.
pub fn value_of(of: CollectionType, state: &ElementState, under: &Visibility<'_>) -> Option<Bytes> {
    if state.increments(under).is_none() || of == CollectionType::Set {
        return state.is_visible(under).then(|| state.base(under).map(|add| add.value.clone()).unwrap_or_default());
    }
    let number = number_of(of, state, under)?;
    Some(match (of, number) {
        (CollectionType::SortedSet, Some(Number::Int(n))) => score_bytes(n as f64),
        (CollectionType::SortedSet, Some(Number::Float(f))) => score_bytes(f),
        (_, Some(Number::Int(n))) => Bytes::from(n.to_string()),
        (_, Some(Number::Float(f))) => Bytes::from(format_float(f)),
        // Increments on a value that is no number (they were made when it was one).
        (_, None) => state.base(under).map(|add| add.value.clone()).unwrap_or_default(),
    })
}

/// The first two bytes of every element's stored key.
pub const ELEMENT_PREFIX: [u8; 2] = [0xFF, 0xEE];

/// Bytes before the collection's stored key in an element's key.
const HEAD_BYTES: usize = 2 + 1 + 4;

/// The byte that stands for a collection type wherever one is stored or sent: element keys,
/// header bodies, the log and DUMP payloads. Fixed, since all of those outlive a release.
pub fn type_byte(of: CollectionType) -> u8 {
    match of {
        CollectionType::Hash => 1,
        CollectionType::Set => 2,
        CollectionType::SortedSet => 3,
        CollectionType::List => 4,
    }
}

/// The collection type a [`type_byte`] stands for; `None` for any other byte.
pub fn type_of_byte(byte: u8) -> Option<CollectionType> {
    match byte {
        1 => Some(CollectionType::Hash),
        2 => Some(CollectionType::Set),
        3 => Some(CollectionType::SortedSet),
        4 => Some(CollectionType::List),
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

/// The element part of an element key (a record's own key, so well formed).
pub(crate) fn element_of(key: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(key[3..HEAD_BYTES].try_into().expect("4 bytes")) as usize;
    &key[HEAD_BYTES + len..]
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
