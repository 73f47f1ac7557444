//! The layout: which members own which hash slots, versioned, changed only by an operator.
//!
//! Every node computes a slot's owners from the layout alone, with no coordinator: weighted
//! rendezvous hashing ([`Layout::owners`]). A layout is immutable; a change is a new layout with
//! a larger [`LayoutVersion`], and every node keeps the largest it has seen, so two layouts
//! applied at once end as the same one everywhere (docs/partitioning.md, "The layout").

use crate::model::NodeId;
use crate::slot::SLOTS;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use xxhash_rust::xxh3::xxh3_64;

/// The most members a layout may name: a bound on what a peer's layout makes us compute.
pub const MAX_LAYOUT_MEMBERS: usize = 256;

/// The largest weight a member may have: each unit of weight is one hash per slot.
pub const MAX_WEIGHT: u32 = 64;

/// The most weight a layout's members may have together: an owners table is 1,024 slot groups
/// times this many hashes, so it bounds what adopting any layout costs.
pub const MAX_TOTAL_WEIGHT: u32 = 256;

/// Slots ranked together: owners are chosen per group of this many neighbouring slots, so a
/// member's slots come in runs (CLUSTER SLOTS lists under a thousand where one rank per slot made
/// twelve thousand, a megabyte every Redis Cluster client read at each redirect), and 1,024
/// groups still spread slots within a few percent of the weights.
pub const SLOTS_PER_GROUP: u16 = 16;

/// Orders layouts: the larger is adopted everywhere. Two applies of one epoch on two nodes are
/// told apart by who applied them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LayoutVersion {
    /// One more than the layout it replaced (0: none was ever applied).
    pub epoch: u64,
    /// The node that applied it.
    pub applied_by: NodeId,
}

/// One member of a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutMember {
    /// The member's node id (a durable node keeps its id across restarts).
    pub node: NodeId,
    /// Where it served when the layout was made, for clients that route by the layout.
    pub addr: SocketAddr,
    /// Its share of slots relative to the others' (1 to [`MAX_WEIGHT`]).
    pub weight: u32,
}

/// Which members own which slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Its version.
    pub version: LayoutVersion,
    /// How many members own each slot; at least the member count means every member owns every
    /// slot (what a cluster does with no layout).
    pub replication_factor: u32,
    /// The members, sorted by node id, each once.
    pub members: Vec<LayoutMember>,
}

/// Why a layout cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// It names no member.
    #[error("a layout needs at least one member")]
    NoMembers,
    /// It names more members than any node computes owners for.
    #[error("a layout may name at most {MAX_LAYOUT_MEMBERS} members")]
    TooManyMembers,
    /// Its members' weights add up to more than any node computes owners for.
    #[error("a layout's weights may add up to at most {MAX_TOTAL_WEIGHT}")]
    TotalWeight,
    /// Its members are not sorted by id, or one is named twice.
    #[error("a layout's members must be sorted by node id, each once")]
    Unsorted,
    /// A member's weight is out of range.
    #[error("a member's weight must be 1 to {MAX_WEIGHT}")]
    Weight,
    /// The replication factor is 0.
    #[error("the replication factor must be at least 1")]
    Factor,
}

impl Layout {
    /// Checks what every node relies on before computing owners from it.
    pub fn check(&self) -> Result<(), LayoutError> {
        if self.members.is_empty() {
            return Err(LayoutError::NoMembers);
        }
        if self.members.len() > MAX_LAYOUT_MEMBERS {
            return Err(LayoutError::TooManyMembers);
        }
        if !self.members.windows(2).all(|pair| pair[0].node < pair[1].node) {
            return Err(LayoutError::Unsorted);
        }
        if self.members.iter().any(|m| m.weight == 0 || m.weight > MAX_WEIGHT) {
            return Err(LayoutError::Weight);
        }
        if self.members.iter().map(|m| m.weight).sum::<u32>() > MAX_TOTAL_WEIGHT {
            return Err(LayoutError::TotalWeight);
        }
        if self.replication_factor == 0 {
            return Err(LayoutError::Factor);
        }
        Ok(())
    }

    /// How many members own each slot.
    pub fn owners_per_slot(&self) -> usize {
        (self.replication_factor as usize).min(self.members.len())
    }

    /// The owners of `slot`, best first: the members with the highest rendezvous scores for its
    /// group ([`SLOTS_PER_GROUP`]).
    ///
    /// A member's score for a group is the largest of `weight` hashes of (group, member, draw):
    /// the largest of all draws is equally likely to be any one, so a member's share of first
    /// places is its weight over the total, with integers only (every node ranks alike, where
    /// floating-point logarithms might differ in the last bit). Adding a member, or raising a
    /// weight, only raises scores: slots move to that member and nowhere else.
    pub fn owners(&self, slot: u16) -> Vec<NodeId> {
        self.group_owners(slot / SLOTS_PER_GROUP, &mut Vec::with_capacity(self.members.len()))
    }

    /// The owners of slot group `group`, scoring in `scored` (a buffer reused from group to
    /// group).
    fn group_owners(&self, group: u16, scored: &mut Vec<(u64, NodeId)>) -> Vec<NodeId> {
        scored.clear();
        scored.extend(self.members.iter().map(|m| (score(group, m), m.node)));
        // Highest score first; equal scores (astronomically rare) by node id. Only the first
        // `n` are put in order: a slot's owners are a few of many members.
        let n = self.owners_per_slot();
        if n < scored.len() {
            scored.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
            scored.truncate(n);
        }
        scored.sort_unstable_by(|a, b| b.cmp(a));
        scored.iter().map(|&(_, node)| node).collect()
    }

    /// Every slot's owners, best first, indexed by slot.
    pub fn table(&self) -> Vec<Vec<NodeId>> {
        let mut scored = Vec::with_capacity(self.members.len());
        let groups: Vec<Vec<NodeId>> =
            (0..SLOTS / SLOTS_PER_GROUP).map(|group| self.group_owners(group, &mut scored)).collect();
        (0..SLOTS).map(|slot| groups[usize::from(slot / SLOTS_PER_GROUP)].clone()).collect()
    }
}

impl Layout {
    /// For each slot, indexed by slot, the member that stands in for its owners that are `down`
    /// (docs/partitioning.md, "Owners that are down"): the best-ranked member that owns it not and is not down,
    /// as the slot's next owner would be; `None` for a slot none of whose owners is down, or
    /// with no such member.
    pub fn stand_ins(&self, down: &[NodeId]) -> Vec<Option<NodeId>> {
        let n = self.owners_per_slot();
        let mut scored = Vec::with_capacity(self.members.len());
        let groups: Vec<Option<NodeId>> = (0..SLOTS / SLOTS_PER_GROUP)
            .map(|group| {
                scored.clear();
                scored.extend(self.members.iter().map(|m| (score(group, m), m.node)));
                scored.sort_unstable_by(|a, b| b.cmp(a));
                let (owners, rest) = scored.split_at(n.min(scored.len()));
                let owner_down = owners.iter().any(|(_, node)| down.contains(node));
                let next = rest.iter().map(|&(_, node)| node).find(|node| !down.contains(node));
                next.filter(|_| owner_down)
            })
            .collect();
        (0..SLOTS).map(|slot| groups[usize::from(slot / SLOTS_PER_GROUP)]).collect()
    }
}

/// A member's rendezvous score for a slot group. The hash is part of the cluster's contract:
/// every release must compute it alike, or members would disagree on owners.
fn score(group: u16, member: &LayoutMember) -> u64 {
    let mut input = [0u8; 14];
    input[..2].copy_from_slice(&group.to_le_bytes());
    input[2..10].copy_from_slice(&member.node.0.to_le_bytes());
    (0..member.weight)
        .map(|draw| {
            input[10..].copy_from_slice(&draw.to_le_bytes());
            xxh3_64(&input)
        })
        .max()
        .unwrap_or(0)
}

/// What a change of layout moves for one member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberMoves {
    /// The member.
    pub node: NodeId,
    /// Slots it owns before.
    pub before: u32,
    /// Slots it owns after.
    pub after: u32,
    /// Slots it gains (must fetch).
    pub gains: u32,
    /// Slots it loses (may drop once the new owners confirm).
    pub loses: u32,
    /// Keys of the slots it owns before.
    pub keys_before: u64,
    /// Keys of the slots it owns after.
    pub keys_after: u64,
    /// Bytes of the slots it owns before.
    pub bytes_before: u64,
    /// Bytes of the slots it owns after.
    pub bytes_after: u64,
}

/// Per member of either table (by node id), what going from the owners table `from` to `to`
/// moves (tables as [`Layout::table`] makes them; a cluster with no layout is every member on
/// every slot), with `usage` the keys and bytes of each slot (empty: not counted).
pub fn moves(from: &[Vec<NodeId>], to: &[Vec<NodeId>], usage: &[(u64, u64)]) -> Vec<MemberMoves> {
    let mut per: std::collections::BTreeMap<NodeId, MemberMoves> = Default::default();
    for (slot, (before, after)) in from.iter().zip(to).enumerate() {
        let (keys, bytes) = usage.get(slot).copied().unwrap_or_default();
        for &node in before {
            let entry = per.entry(node).or_insert(MemberMoves { node, ..Default::default() });
            entry.before += 1;
            entry.keys_before += keys;
            entry.bytes_before += bytes;
            if !after.contains(&node) {
                entry.loses += 1;
            }
        }
        for &node in after {
            let entry = per.entry(node).or_insert(MemberMoves { node, ..Default::default() });
            entry.after += 1;
            entry.keys_after += keys;
            entry.bytes_after += bytes;
            if !before.contains(&node) {
                entry.gains += 1;
            }
        }
    }
    per.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(factor: u32, weights: &[(u64, u32)]) -> Layout {
        let addr = "127.0.0.1:1".parse().unwrap();
        let members = weights.iter().map(|&(id, weight)| LayoutMember { node: NodeId(id), addr, weight }).collect();
        Layout { version: LayoutVersion { epoch: 1, applied_by: NodeId(1) }, replication_factor: factor, members }
    }

    fn share(table: &[Vec<NodeId>], node: u64) -> usize {
        table.iter().filter(|owners| owners.contains(&NodeId(node))).count()
    }

    #[test]
    fn a_stand_in_is_the_next_ranked_live_member_of_a_slot_with_an_owner_down() {
        let l = layout(2, &[(1, 1), (2, 1), (3, 1), (4, 1)]);
        assert!(l.stand_ins(&[]).iter().all(Option::is_none), "nobody down, nobody stands in");
        let all = layout(4, &[(1, 1), (2, 1), (3, 1), (4, 1)]).stand_ins(&[NodeId(2)]);
        assert!(all.iter().all(Option::is_none), "every member owns every slot: nobody to stand in");
        let down = [NodeId(2)];
        let stand_ins = l.stand_ins(&down);
        let full = layout(4, &[(1, 1), (2, 1), (3, 1), (4, 1)]).table();
        for (slot, owners) in l.table().iter().enumerate() {
            if !owners.contains(&NodeId(2)) {
                assert_eq!(stand_ins[slot], None, "slot {slot}: its owners are up");
                continue;
            }
            // The third-ranked member, or the fourth if the third is the one down.
            let next = full[slot].iter().skip(2).find(|&&node| node != NodeId(2)).copied();
            assert_eq!(stand_ins[slot], next, "slot {slot}");
            assert!(!owners.contains(&next.unwrap()));
        }
    }

    #[test]
    fn owners_are_distinct_and_as_many_as_the_factor() {
        let l = layout(2, &[(1, 1), (2, 1), (3, 1)]);
        l.check().unwrap();
        for owners in l.table() {
            assert_eq!(owners.len(), 2);
            assert_ne!(owners[0], owners[1]);
        }
        // A factor past the member count: every member owns every slot.
        let all = layout(5, &[(1, 1), (2, 1), (3, 1)]);
        assert!(all.table().iter().all(|owners| owners.len() == 3));
    }

    #[test]
    fn slots_spread_by_weight() {
        let even = layout(1, &[(1, 1), (2, 1), (3, 1), (4, 1)]).table();
        for node in 1..=4 {
            let share = share(&even, node);
            // 1,024 groups of 16 slots: a member's share varies by 220 slots or so (one sigma).
            assert!((3_600..=4_600).contains(&share), "member {node} owns {share} of 16384");
        }
        let weighted = layout(1, &[(1, 1), (2, 3)]).table();
        let heavy = share(&weighted, 2) as f64 / f64::from(SLOTS);
        assert!((0.72..=0.78).contains(&heavy), "a weight of 3 against 1 owns {heavy}");
    }

    #[test]
    fn adding_a_member_moves_slots_only_to_it() {
        let three = layout(2, &[(1, 1), (2, 1), (3, 1)]);
        let four = layout(2, &[(1, 1), (2, 1), (3, 1), (4, 1)]);
        let (before, after) = (three.table(), four.table());
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            for node in a {
                if !b.contains(node) {
                    assert_eq!(*node, NodeId(4), "only the new member gains a slot");
                    moved += 1;
                }
            }
        }
        // It takes about its share (2 copies of each slot over 4 members: half the slots).
        assert!((7_500..=8_900).contains(&moved), "{moved}");
        // Every slot holds one key of 10 bytes.
        let usage = vec![(1, 10); SLOTS as usize];
        let summary = moves(&before, &after, &usage);
        let new = summary.iter().find(|m| m.node == NodeId(4)).unwrap();
        assert_eq!((new.before, new.gains, new.loses), (0, moved, 0));
        assert_eq!((new.keys_after, new.bytes_after), (u64::from(moved), 10 * u64::from(moved)));
        assert_eq!(summary.iter().map(|m| m.loses).sum::<u32>(), moved);
        assert_eq!(summary.iter().map(|m| m.keys_after).sum::<u64>(), 2 * u64::from(SLOTS), "two copies of each");
    }

    #[test]
    fn owners_are_part_of_the_clusters_contract() {
        // Every release must pick these owners from this layout: members of two releases in one
        // cluster compute owners alike. A change here is a protocol change.
        let l = layout(2, &[(10, 1), (20, 2), (30, 1)]);
        let picked: Vec<Vec<u64>> =
            [0, 16, 12182, 16383].map(|slot| l.owners(slot).iter().map(|n| n.0).collect()).into();
        assert_eq!(picked, [[20, 30], [10, 20], [30, 20], [20, 30]]);
        assert_eq!(l.owners(15), l.owners(0), "slots are ranked by groups of 16");
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert_eq!(layout(1, &[]).check(), Err(LayoutError::NoMembers));
        assert_eq!(layout(1, &[(2, 1), (1, 1)]).check(), Err(LayoutError::Unsorted));
        assert_eq!(layout(1, &[(1, 1), (1, 1)]).check(), Err(LayoutError::Unsorted));
        assert_eq!(layout(1, &[(1, 0)]).check(), Err(LayoutError::Weight));
        assert_eq!(layout(1, &[(1, MAX_WEIGHT + 1)]).check(), Err(LayoutError::Weight));
        let heavy: Vec<(u64, u32)> = (1..=5).map(|id| (id, MAX_WEIGHT)).collect();
        assert_eq!(layout(1, &heavy).check(), Err(LayoutError::TotalWeight));
        assert_eq!(layout(0, &[(1, 1)]).check(), Err(LayoutError::Factor));
    }
}
