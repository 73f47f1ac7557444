//! Per shard, each collection's element records in hash order (see `super::order`), how many
//! of them its header lets be seen, and the newest add of each origin it ever held (what a DEL
//! clears).
//!
//! The records stay in the shard's table too, so everything that walks records (the log's
//! compaction, anti-entropy, purge, flushes) carries elements as it carries keys; this index is
//! what reads a collection by its key: HGETALL, SMEMBERS, HLEN, SSCAN.

use super::element::{raise, ElementState};
use super::header::Header;
use super::order::list_order;
pub(crate) use super::order::ElementRef;
use crate::map::Map;
use crate::record::Record;
use kvs_proto::NodeId;
use std::collections::BTreeSet;

/// A sorted-set member's record in its score index, ordered by member among equal scores (as
/// ranges and ranks order them), or a list element's in list order: within one collection the
/// stored keys order as the members (and a list's as its positions).
#[derive(Clone, Debug)]
pub(crate) struct ByMember(Record);

impl ByMember {
    /// The member.
    pub(crate) fn name(&self) -> &[u8] {
        super::element_of(self.0.key())
    }

    /// Its record.
    pub(crate) fn record(&self) -> &Record {
        &self.0
    }
}

impl PartialEq for ByMember {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for ByMember {}

impl PartialOrd for ByMember {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByMember {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key().cmp(other.0.key())
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
    /// Element records that stood or went since the collection's first: what WATCH compares.
    pub(crate) changes: u64,
    /// A sorted set's members seen, by score then member (see [`score_order`]), or a list's
    /// elements seen, in list order (see [`list_order`]): what ranges, ranks and pops walk
    /// instead of sorting. Empty for a hash or a set (SPOP and SRANDMEMBER pick from the
    /// elements, whose entries say which are seen).
    pub(crate) ordered: BTreeSet<(u64, ByMember)>,
}

/// A score as a key ordered as `f64::total_cmp` orders scores.
pub(crate) fn score_order(score: f64) -> u64 {
    let bits = score.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The score a key of [`score_order`] stands for.
pub(crate) fn score_of_order(order: u64) -> f64 {
    f64::from_bits(if order >> 63 == 1 { order & !(1 << 63) } else { !order })
}

/// How the collection of `prefix` keeps its elements seen in [`Members::ordered`] (its type
/// byte, see [`super::members_prefix`]): by score for a sorted set, in list order for a list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ordered {
    ByScore,
    InList,
}

fn ordered_kind(prefix: &[u8]) -> Option<Ordered> {
    match prefix.get(2) {
        Some(3) => Some(Ordered::ByScore),
        Some(4) => Some(Ordered::InList),
        _ => None,
    }
}

/// Where the element `record` of a collection kept [`Ordered`] as `kind` stands in its order
/// under `header`; `None` when it is not seen.
fn order_under(kind: Ordered, record: &Record, header: Option<&Header>) -> Option<u64> {
    match kind {
        Ordered::ByScore => score_under(record, header).map(score_order),
        Ordered::InList => is_visible(record, header).then(|| list_order(super::element_of(record.key()))),
    }
}

/// The score of a sorted-set member's record as `header` lets it be seen.
fn score_under(record: &Record, header: Option<&Header>) -> Option<f64> {
    match record.single_add_value() {
        Some(value) => header.filter(|h| h.visibility().sees(&record.stamp())).map(|_| super::score_of(value)),
        None => score_of_state(&record.element_state()?, header),
    }
}

/// The score of a sorted-set member's state as `header` lets it be seen.
fn score_of_state(state: &ElementState, header: Option<&Header>) -> Option<f64> {
    let header = header?;
    Some(super::score_of(&super::value_of(header.of, state, &header.visibility())?))
}

/// Every collection of one shard, by the prefix its elements' keys share.
#[derive(Debug, Default)]
pub(crate) struct Collections {
    by_prefix: Map<Box<[u8]>, Members>,
}

/// The bytes an index entry's record counts for while its header hides it: a present element
/// not seen (a tombstone counts as one already).
fn hidden_bytes(entry: &ElementRef) -> i64 {
    let record = entry.record();
    match entry.is_seen() || record.is_tombstone() {
        true => 0,
        false => crate::store::accounting::record_bytes(record) as i64,
    }
}

/// Whether an element record is seen under `header`.
fn is_visible(record: &Record, header: Option<&Header>) -> bool {
    header.is_some_and(|h| record.element_visible(&h.visibility()))
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
    /// the collection's header of the same type, if any. Returns the change in bytes hidden
    /// (see [`hidden_bytes`]).
    pub(crate) fn element_stands(
        &mut self,
        prefix: &[u8],
        old: Option<&Record>,
        new: &Record,
        header: Option<&Header>,
    ) -> i64 {
        let members = match self.by_prefix.get_mut(prefix) {
            Some(members) => members,
            None => self.by_prefix.entry(prefix.into()).or_default(),
        };
        // This runs on every element write: an element of one add (the common one) is read
        // from its record's stamp and value, never decoded.
        members.changes = members.changes.wrapping_add(1);
        let visibility = header.map(Header::visibility);
        let seen = |record: &Record| visibility.as_ref().is_some_and(|v| record.element_visible(v));
        let (was, is) = (old.is_some_and(seen), seen(new));
        members.visible = members.visible + usize::from(is) - usize::from(was);
        if let Some(kind) = ordered_kind(prefix) {
            let before = old.and_then(|old| order_under(kind, old, header));
            let after = order_under(kind, new, header);
            let entry = |order: u64| (order, ByMember(new.clone()));
            // The same score: one search swaps the entry for the new record.
            if before.is_some() && before == after {
                members.ordered.replace(entry(after.expect("an order")));
            } else {
                if let Some(order) = before {
                    members.ordered.remove(&entry(order));
                }
                if let Some(order) = after {
                    members.ordered.insert(entry(order));
                }
            }
        }
        if new.is_single_add() {
            let stamp = new.stamp();
            raise(&mut members.seen, stamp.version.node, stamp.seq);
        } else if new.is_tombstone() {
            // A removal holds no add to note.
        } else if let Some(state) = new.element_state() {
            for stamp in state.adds_stamps() {
                raise(&mut members.seen, stamp.version.node, stamp.seq);
            }
        }
        let entry = ElementRef::new(new.clone(), is);
        let hidden = hidden_bytes(&entry);
        hidden - members.elements.replace(entry).map_or(0, |gone| hidden_bytes(&gone))
    }

    /// An element record of the collection `prefix` is gone (purged, flushed). Returns the
    /// change in bytes hidden.
    pub(crate) fn element_gone(&mut self, prefix: &[u8], old: &Record, header: Option<&Header>) -> i64 {
        let Some(members) = self.by_prefix.get_mut(prefix) else { return 0 };
        members.changes = members.changes.wrapping_add(1);
        let gone = members.elements.take(&ElementRef::new(old.clone(), false));
        if gone.as_ref().is_some_and(ElementRef::is_seen) {
            members.visible -= 1;
        }
        if let Some(order) = ordered_kind(prefix).and_then(|kind| order_under(kind, old, header)) {
            members.ordered.remove(&(order, ByMember(old.clone())));
        }
        if members.elements.is_empty() {
            self.by_prefix.remove(prefix);
        }
        -gone.map_or(0, |gone| hidden_bytes(&gone))
    }

    /// The header of the collection `prefix` changed (or went): counts again what it lets be seen.
    /// Returns how many elements were seen before and are now, and the change in bytes hidden.
    pub(crate) fn header_changed(&mut self, prefix: &[u8], header: Option<&Header>) -> (usize, usize, i64) {
        let Some(members) = self.by_prefix.get_mut(prefix) else { return (0, 0, 0) };
        let before = members.visible;
        let hidden_before: i64 = members.elements.iter().map(hidden_bytes).sum();
        members.elements = std::mem::take(&mut members.elements)
            .into_iter()
            .map(|e| {
                let seen = is_visible(e.record(), header);
                e.seen_as(seen)
            })
            .collect();
        members.visible = members.elements.iter().filter(|e| e.is_seen()).count();
        if let Some(kind) = ordered_kind(prefix) {
            members.ordered = members
                .elements
                .iter()
                .filter_map(|e| Some((order_under(kind, e.record(), header)?, ByMember(e.record().clone()))))
                .collect();
        }
        let hidden_after: i64 = members.elements.iter().map(hidden_bytes).sum();
        (before, members.visible, hidden_after - hidden_before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_keys_order_as_scores_do() {
        let scores = [f64::NEG_INFINITY, -1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, f64::INFINITY];
        let keys: Vec<u64> = scores.iter().map(|&s| score_order(s)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for score in scores {
            assert_eq!(score_of_order(score_order(score)).to_bits(), score.to_bits());
        }
    }
}
