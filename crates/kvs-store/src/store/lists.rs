//! The store's reads of a list: its elements from either end, through the list-order index (see
//! [`crate::collection::index`]), so an end costs what it returns.

use super::Store;
use crate::collection::header::Header;
use crate::collection::index::ByMember;
use crate::collection::{members_prefix, CollectionType};
use bytes::Bytes;

/// Values packed in one buffer, each ending where `ends` says.
#[derive(Debug, Default)]
pub struct PackedValues {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl PackedValues {
    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(start, end)| &self.bytes[start..end])
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl Store {
    /// Elements of the list at `key` seen under `header` (a live one's, from
    /// [`Store::collection`]) with their values, in list order (`rev`: from the tail), after
    /// skipping `skip`, at most `take`: each with its name (its position), which a pop or LSET
    /// writes to. Read from the list's order index, so an end costs what it returns.
    pub fn list_elements(
        &self,
        key: &[u8],
        header: &Header,
        rev: bool,
        skip: usize,
        take: usize,
    ) -> Vec<(Bytes, Bytes)> {
        let mut elements = Vec::new();
        self.walk_list(key, header, (rev, skip, take), |name, value| {
            elements.push((Bytes::copy_from_slice(name), Bytes::copy_from_slice(value)));
        });
        elements
    }

    /// The values alone of [`Store::list_elements`], packed in one buffer (LRANGE's read, which
    /// allocates per call, not per element).
    pub fn list_values(&self, key: &[u8], header: &Header, rev: bool, skip: usize, take: usize) -> PackedValues {
        let mut packed = PackedValues::default();
        self.walk_list(key, header, (rev, skip, take), |_, value| {
            packed.bytes.extend_from_slice(value);
            packed.ends.push(packed.bytes.len());
        });
        packed
    }

    /// Calls `visit` with the name and value of each element [`Store::list_elements`] returns.
    fn walk_list(
        &self,
        key: &[u8],
        header: &Header,
        (rev, skip, take): (bool, usize, usize),
        mut visit: impl FnMut(&[u8], &[u8]),
    ) {
        let prefix = members_prefix(CollectionType::List, key);
        let (_, shard) = self.locate(key);
        let guard = self.read(shard);
        let Some(members) = guard.collections.members(&prefix) else { return };
        let visibility = header.visibility();
        let mut each = |(_, element): &(u64, ByMember)| {
            let record = element.record();
            match record.single_add_value() {
                Some(value) => visit(element.name(), value),
                None => {
                    let state = record.element_state();
                    let value = state.and_then(|s| crate::collection::value_of(CollectionType::List, &s, &visibility));
                    visit(element.name(), &value.unwrap_or_default());
                }
            }
        };
        match rev {
            false => members.ordered.iter().skip(skip).take(take).for_each(&mut each),
            true => members.ordered.iter().rev().skip(skip).take(take).for_each(&mut each),
        }
    }
}
