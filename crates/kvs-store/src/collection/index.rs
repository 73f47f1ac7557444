//! Per shard, each collection's element records in element order, how many of them its header
//! lets be seen, and the newest add of each origin it ever held (what a DEL clears).
//!
//! The records stay in the shard's table too, so everything that walks records (the log's
//! compaction, anti-entropy, purge, flushes) carries elements as it carries keys; this index is
//! what reads a collection by its key: HGETALL, SMEMBERS, HLEN, SSCAN.

use super::element::raise;
use super::header::Header;
use crate::map::Map;
use crate::record::Record;
use kvs_proto::NodeId;
use std::borrow::Borrow;
use std::collections::BTreeSet;

/// An element record ordered by its element (the part of its key after the collection's).
#[derive(Clone, Debug)]
pub(crate) struct ElementRef {
    record: Record,
    prefix_len: usize,
}

impl ElementRef {
    /// The element's record.
    pub(crate) fn record(&self) -> &Record {
        &self.record
    }

    /// The element (field or member).
    pub(crate) fn name(&self) -> &[u8] {
        &self.record.key()[self.prefix_len..]
    }
}

impl Borrow<[u8]> for ElementRef {
    fn borrow(&self) -> &[u8] {
        self.name()
    }
}

impl PartialEq for ElementRef {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for ElementRef {}

impl PartialOrd for ElementRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ElementRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

/// One collection's elements.
#[derive(Debug, Default)]
pub(crate) struct Members {
    pub(crate) elements: BTreeSet<ElementRef>,
    /// How many its header lets be seen (0 while it has no header of its type).
    pub(crate) visible: usize,
    /// Per origin (sorted), the highest sequence number of an add any of its elements held.
    pub(crate) seen: Vec<(NodeId, u64)>,
}

/// Every collection of one shard, by the prefix its elements' keys share.
#[derive(Debug, Default)]
pub(crate) struct Collections {
    by_prefix: Map<Box<[u8]>, Members>,
}

/// Whether an element record is seen under `header`.
fn is_visible(record: &Record, header: Option<&Header>) -> bool {
    header.is_some_and(|h| record.element_state().is_some_and(|state| state.is_visible(&h.visibility())))
}

impl Collections {
    /// Every collection, by the prefix its elements' keys share.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &Members)> {
        self.by_prefix.iter().map(|(prefix, members)| (&prefix[..], members))
    }

    /// The collection whose elements' keys begin with `prefix`.
    pub(crate) fn members(&self, prefix: &[u8]) -> Option<&Members> {
        self.by_prefix.get(prefix)
    }

    /// An element record of the collection `prefix` now stands (`old`: what it replaced), under
    /// the collection's header of the same type, if any.
    pub(crate) fn element_stands(
        &mut self,
        prefix: &[u8],
        old: Option<&Record>,
        new: &Record,
        header: Option<&Header>,
    ) {
        let members = match self.by_prefix.get_mut(prefix) {
            Some(members) => members,
            None => self.by_prefix.entry(prefix.into()).or_default(),
        };
        let was = old.is_some_and(|r| is_visible(r, header));
        let is = is_visible(new, header);
        members.visible = members.visible + usize::from(is) - usize::from(was);
        if let Some(state) = new.element_state() {
            for stamp in state.adds_stamps() {
                raise(&mut members.seen, stamp.version.node, stamp.seq);
            }
        }
        members.elements.replace(ElementRef { record: new.clone(), prefix_len: prefix.len() });
    }

    /// An element record of the collection `prefix` is gone (purged, flushed).
    pub(crate) fn element_gone(&mut self, prefix: &[u8], old: &Record, header: Option<&Header>) {
        let Some(members) = self.by_prefix.get_mut(prefix) else { return };
        let name = &old.key()[prefix.len()..];
        if members.elements.remove(name) && is_visible(old, header) {
            members.visible -= 1;
        }
        if members.elements.is_empty() {
            self.by_prefix.remove(prefix);
        }
    }

    /// The header of the collection `prefix` changed (or went): counts again what it lets be seen.
    pub(crate) fn header_changed(&mut self, prefix: &[u8], header: Option<&Header>) {
        if let Some(members) = self.by_prefix.get_mut(prefix) {
            members.visible = members.elements.iter().filter(|e| is_visible(e.record(), header)).count();
        }
    }
}
