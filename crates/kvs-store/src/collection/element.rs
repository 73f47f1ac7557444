//! One element of a collection (a hash field, a set member, a sorted-set member) as a
//! conflict-free replicated state: observed-remove with add-wins, and values last-writer-wins.
//!
//! An element holds its surviving adds (the newest of each origin, with its stamp and value),
//! what removes have observed (per origin, the highest sequence number of an add removed) and
//! each origin's newest remove (so anti-entropy finds a removal by its write). Two states merge
//! by keeping each origin's newest add and remove and the higher of each origin's removals; an
//! add a removal covers (same origin, sequence number at or below) is gone. So a remove (HDEL,
//! SREM, ZREM) takes away exactly the adds its node had seen, and an add made meanwhile on
//! another node survives it, whatever the two writes' versions: add wins. The element is present
//! while an add survives, and its value is the newest surviving add's.
//!
//! Keeping only each origin's newest add is exact: an origin's adds are ordered by sequence
//! number, and a removal that saw a later one covers the earlier ones too.

use super::header::Visibility;
pub(crate) use super::vector::{covers, raise};
use bytes::Bytes;
use kvs_proto::{ElementAdd, ElementCount, EntryKind, NodeId, Stamp, Version};
use smallvec::SmallVec;

/// One element's replicated state (see the module).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElementState {
    /// Surviving adds, the newest per origin, sorted by origin: inline while there is one (as
    /// there almost always is), so reading an element's record allocates only its value.
    adds: SmallVec<[ElementAdd; 1]>,
    /// Per origin (sorted), the highest sequence number of an add removed.
    removed: Vec<(NodeId, u64)>,
    /// Per origin (sorted), the newest remove's stamp.
    removals: Vec<Stamp>,
    /// Per origin (sorted), its increments since the add they build on; removed as adds are.
    counts: Vec<ElementCount>,
}

/// An element's number as reads see it: its base add's, plus every increment made on that base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// Only integers took part.
    Int(i64),
    /// A float took part (a base that is one, or a floating-point increment).
    Float(f64),
}

/// Why an element's value is no number to increment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotANumber {
    /// The base value does not parse.
    Value,
    /// The sum leaves the 64-bit range.
    Overflow,
}

/// Why a wire element cannot be a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedElement;

impl ElementState {
    /// The delta of an add (HSET, SADD, ZADD) made by the write `stamp`.
    pub fn added(stamp: Stamp, value: Bytes) -> ElementState {
        ElementState { adds: smallvec::smallvec![ElementAdd { stamp, value }], ..ElementState::default() }
    }

    /// The delta of an increment by the write `stamp` on a node holding `self` under `under`:
    /// this node's sums on the current base raised by `int` and `float` (None when the sum would
    /// overflow).
    pub fn incremented(&self, under: &Visibility<'_>, stamp: Stamp, int: i64, float: f64) -> Option<ElementState> {
        let base = self.base(under).map_or(Stamp::NONE, |add| add.stamp);
        let me = stamp.version.node;
        let mine = self.counts.iter().find(|c| c.stamp.version.node == me && c.base == base && under.sees(&c.stamp));
        let (held_int, held_float) = mine.map_or((0, 0.0), |c| (c.int, f64::from_bits(c.float_bits)));
        let count =
            ElementCount { stamp, base, int: held_int.checked_add(int)?, float_bits: (held_float + float).to_bits() };
        Some(ElementState { counts: vec![count], ..ElementState::default() })
    }

    /// The delta of an add made by the write `stamp` on a node holding `self`: an overwrite, which
    /// removes the adds that node has seen (so an element keeps one add per concurrent writer,
    /// not one per node that ever wrote it).
    pub fn replaced(&self, stamp: Stamp, value: Bytes) -> ElementState {
        let mut delta = self.removal(stamp);
        delta.removals.clear();
        delta.adds.push(ElementAdd { stamp, value });
        delta.drop_superseded();
        delta
    }

    /// The delta of a remove (HDEL, SREM, ZREM) made by the write `stamp` on a node holding
    /// `self`: it removes the adds that node has seen, and no other.
    pub fn removal(&self, stamp: Stamp) -> ElementState {
        let mut removal =
            ElementState { removed: self.removed.clone(), removals: vec![stamp], ..ElementState::default() };
        for seen in self.adds.iter().map(|add| add.stamp).chain(self.counts.iter().map(|c| c.stamp)) {
            raise(&mut removal.removed, seen.version.node, seen.seq);
        }
        removal
    }

    /// Whether a remove it holds covers the add `stamp`.
    pub(crate) fn removes(&self, stamp: &Stamp) -> bool {
        covers(&self.removed, stamp)
    }

    /// Whether an add or an increment survives (else the element is a tombstone, kept to cover
    /// late copies of what was removed).
    pub fn is_present(&self) -> bool {
        !self.adds.is_empty() || !self.counts.is_empty()
    }

    /// The newest surviving add a collection's header lets be seen: the base of its number.
    pub fn base(&self, under: &Visibility<'_>) -> Option<&ElementAdd> {
        self.adds.iter().filter(|add| under.sees(&add.stamp)).max_by_key(|add| add.stamp.version)
    }

    /// Whether the element is seen under a collection's header.
    pub fn is_visible(&self, under: &Visibility<'_>) -> bool {
        self.adds.iter().map(|a| &a.stamp).chain(self.counts.iter().map(|c| &c.stamp)).any(|s| under.sees(s))
    }

    /// The increments seen under a header that build on its base, summed: the integer and the
    /// floating-point parts, and whether any took part.
    pub(crate) fn increments(&self, under: &Visibility<'_>) -> Option<(i128, f64)> {
        let base = self.base(under).map_or(Stamp::NONE, |add| add.stamp);
        let counted = self.counts.iter().filter(|c| c.base == base && under.sees(&c.stamp));
        counted.fold(None, |sum, c| {
            let (int, float) = sum.unwrap_or((0, 0.0));
            Some((int + c.int as i128, float + f64::from_bits(c.float_bits)))
        })
    }

    /// The value of the newest surviving add.
    pub fn value(&self) -> Option<&Bytes> {
        self.adds.iter().max_by_key(|add| add.stamp.version).map(|add| &add.value)
    }

    /// Every write whose effect this state carries, for anti-entropy: per origin, the newest of
    /// its adds, removes and increments held. One per origin is exact: a node whose cursor of an
    /// origin covers that write has every earlier one of the origin too. (Two of one origin would
    /// index one record twice in that origin's log.)
    pub fn stamps(&self) -> impl Iterator<Item = Stamp> + '_ {
        let adds = self.adds.iter().map(|add| add.stamp);
        let all = adds.chain(self.removals.iter().copied()).chain(self.counts.iter().map(|c| c.stamp));
        let mut newest: Vec<Stamp> = Vec::with_capacity(self.adds.len() + self.removals.len() + self.counts.len());
        for stamp in all {
            match newest.iter_mut().find(|held| held.version.node == stamp.version.node) {
                Some(held) if held.seq < stamp.seq => *held = stamp,
                Some(_) => {}
                None => newest.push(stamp),
            }
        }
        newest.into_iter()
    }

    /// Its surviving adds.
    pub fn adds(&self) -> impl Iterator<Item = &ElementAdd> {
        self.adds.iter()
    }

    /// The stamps of its surviving adds and increments (what a DEL of the collection covers).
    pub fn adds_stamps(&self) -> impl Iterator<Item = Stamp> + '_ {
        self.adds.iter().map(|add| add.stamp).chain(self.counts.iter().map(|c| c.stamp))
    }

    /// The newest of its writes, which stamps its record.
    pub fn newest(&self) -> Stamp {
        self.stamps().max_by_key(|s| s.version).unwrap_or(Stamp::NONE)
    }

    /// Merges `other` in; whether anything changed.
    pub fn merge(&mut self, other: &ElementState) -> bool {
        let before = self.clone();
        for &(node, seq) in &other.removed {
            raise(&mut self.removed, node, seq);
        }
        for stamp in &other.removals {
            match self.removals.binary_search_by_key(&stamp.version.node, |s| s.version.node) {
                Ok(at) if self.removals[at].seq < stamp.seq => self.removals[at] = *stamp,
                Ok(_) => {}
                Err(at) => self.removals.insert(at, *stamp),
            }
        }
        for add in &other.adds {
            match self.adds.binary_search_by_key(&add.stamp.version.node, |a| a.stamp.version.node) {
                Ok(at) if self.adds[at].stamp.seq < add.stamp.seq => self.adds[at] = add.clone(),
                Ok(_) => {}
                Err(at) => self.adds.insert(at, add.clone()),
            }
        }
        for count in &other.counts {
            match self.counts.binary_search_by_key(&count.stamp.version.node, |c| c.stamp.version.node) {
                Ok(at) if self.counts[at].stamp.seq < count.stamp.seq => self.counts[at] = *count,
                Ok(_) => {}
                Err(at) => self.counts.insert(at, *count),
            }
        }
        let removed = &self.removed;
        self.adds.retain(|add| !covers(removed, &add.stamp));
        self.counts.retain(|count| !covers(removed, &count.stamp));
        self.drop_superseded();
        *self != before
    }

    /// Drops what an origin's add makes implied: its earlier increments, and its entry of the
    /// removed vector below the add. An origin's add is made over everything that origin held of
    /// the element (see [`ElementState::replaced`]), its own earlier writes included, so those
    /// are gone whether listed or not; listing them would keep an overwritten element in the long
    /// form for good. Every state is kept so (merges, deltas, wire states), so equal states have
    /// one form and their records hash alike.
    ///
    /// An origin's earlier removes stay: a remove is a write anti-entropy must still find under
    /// its origin once another node's remove has taken the add away, and dropping it in one
    /// order of merges but not another would leave two forms of one state.
    fn drop_superseded(&mut self) {
        if self.adds.is_empty() {
            return;
        }
        let adds = &self.adds;
        let below_add = |node: NodeId, seq: u64| {
            adds.binary_search_by_key(&node, |a| a.stamp.version.node).is_ok_and(|at| seq < adds[at].stamp.seq)
        };
        self.counts.retain(|c| !below_add(c.stamp.version.node, c.stamp.seq));
        self.removed.retain(|&(node, seq)| !below_add(node, seq));
    }

    /// The wire form.
    pub fn to_kind(&self) -> EntryKind {
        EntryKind::Element {
            adds: self.adds.to_vec(),
            removed: self.removed.clone(),
            removals: self.removals.clone(),
            counts: self.counts.clone(),
        }
    }

    /// A state from its wire form, if well formed: each list sorted by origin with one entry per
    /// origin, every add and remove a real write (seq from 1), and no add its removals cover.
    pub fn from_wire(
        adds: &[ElementAdd],
        removed: &[(NodeId, u64)],
        removals: &[Stamp],
        counts: &[ElementCount],
    ) -> Result<ElementState, MalformedElement> {
        let sorted = adds.windows(2).all(|w| w[0].stamp.version.node < w[1].stamp.version.node)
            && removed.windows(2).all(|w| w[0].0 < w[1].0)
            && removals.windows(2).all(|w| w[0].version.node < w[1].version.node)
            && counts.windows(2).all(|w| w[0].stamp.version.node < w[1].stamp.version.node);
        let writes =
            || adds.iter().map(|a| a.stamp).chain(removals.iter().copied()).chain(counts.iter().map(|c| c.stamp));
        let real = writes().all(|s| s.seq > 0);
        let uncovered =
            adds.iter().map(|a| &a.stamp).chain(counts.iter().map(|c| &c.stamp)).all(|s| !covers(removed, s));
        let finite = counts.iter().all(|c| f64::from_bits(c.float_bits).is_finite());
        if !sorted || !real || !uncovered || !finite || writes().next().is_none() {
            return Err(MalformedElement);
        }
        let mut state = ElementState {
            adds: adds.iter().cloned().collect(),
            removed: removed.to_vec(),
            removals: removals.to_vec(),
            counts: counts.to_vec(),
        };
        state.drop_superseded();
        Ok(state)
    }

    /// The one add of a state that holds nothing else: the common element, which a record keeps
    /// as its value alone (its stamp is the record's own).
    pub(crate) fn only_add(&self) -> Option<&ElementAdd> {
        match &self.adds[..] {
            [add] if self.removed.is_empty() && self.removals.is_empty() && self.counts.is_empty() => Some(add),
            _ => None,
        }
    }

    /// Appends the form a record body holds (see [`ElementState::decode`]): a tag, then for
    /// [`ElementState::only_add`] the value alone, else every list. The short form saves 48 bytes
    /// of an element's record (a million-field hash holds a million of them).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        if let Some(add) = self.only_add() {
            out.push(ONLY_ADD);
            out.extend_from_slice(&add.value);
            return;
        }
        out.push(LISTS);
        for count in [self.adds.len(), self.removed.len(), self.removals.len(), self.counts.len()] {
            out.extend_from_slice(&(count as u32).to_le_bytes());
        }
        for add in &self.adds {
            put_stamp(out, &add.stamp);
            out.extend_from_slice(&(add.value.len() as u32).to_le_bytes());
            out.extend_from_slice(&add.value);
        }
        for (node, seq) in &self.removed {
            out.extend_from_slice(&node.0.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
        }
        for stamp in &self.removals {
            put_stamp(out, stamp);
        }
        for count in &self.counts {
            put_stamp(out, &count.stamp);
            put_stamp(out, &count.base);
            out.extend_from_slice(&count.int.to_le_bytes());
            out.extend_from_slice(&count.float_bits.to_le_bytes());
        }
    }

    /// Reads what [`ElementState::encode`] wrote (a record's own body, so trusted), `stamp` being
    /// the record's.
    pub(crate) fn decode(bytes: &[u8], stamp: Stamp) -> ElementState {
        let (&tag, mut bytes) = bytes.split_first().expect("an element body has its tag");
        if tag == ONLY_ADD {
            return ElementState::added(stamp, Bytes::copy_from_slice(bytes));
        }
        let mut take = |n: usize| {
            let (head, rest) = bytes.split_at(n);
            bytes = rest;
            head
        };
        let mut count = || u32::from_le_bytes(take(4).try_into().expect("4 bytes")) as usize;
        let (adds, removed, removals, counts) = (count(), count(), count(), count());
        let mut state = ElementState::default();
        for _ in 0..adds {
            let stamp = read_stamp(take(STAMP_BYTES));
            let len = u32::from_le_bytes(take(4).try_into().expect("4 bytes")) as usize;
            state.adds.push(ElementAdd { stamp, value: Bytes::copy_from_slice(take(len)) });
        }
        for _ in 0..removed {
            let part = take(16);
            state.removed.push((NodeId(le_u64(part)), le_u64(&part[8..])));
        }
        for _ in 0..removals {
            state.removals.push(read_stamp(take(STAMP_BYTES)));
        }
        for _ in 0..counts {
            let (stamp, base) = (read_stamp(take(STAMP_BYTES)), read_stamp(take(STAMP_BYTES)));
            let (int, float_bits) = (le_u64(take(8)) as i64, le_u64(take(8)));
            state.counts.push(ElementCount { stamp, base, int, float_bits });
        }
        state
    }
}

/// An element body's tag: one add and nothing else, its value following.
pub(crate) const ONLY_ADD: u8 = 1;
/// An element body's tag: the lists of adds, removals and counts following.
const LISTS: u8 = 0;

/// Bytes of a stamp in a body: wall u64, logical u32, node u64, seq u64.
pub(crate) const STAMP_BYTES: usize = 28;

pub(crate) fn put_stamp(out: &mut Vec<u8>, stamp: &Stamp) {
    out.extend_from_slice(&stamp.version.wall_ms.to_le_bytes());
    out.extend_from_slice(&stamp.version.logical.to_le_bytes());
    out.extend_from_slice(&stamp.version.node.0.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
}

pub(crate) fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

pub(crate) fn read_stamp(bytes: &[u8]) -> Stamp {
    let logical = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let version = Version { wall_ms: le_u64(bytes), logical, node: NodeId(le_u64(&bytes[12..])) };
    Stamp { version, seq: le_u64(&bytes[20..]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::header::Header;
    use kvs_proto::CollectionType;
    use kvs_proto::Version;
    use proptest::prelude::*;

    /// Node `node`'s `seq`th write, at wall time `wall`.
    fn stamp(node: u64, seq: u64, wall: u64) -> Stamp {
        Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq }
    }

    fn merged(a: &ElementState, b: &ElementState) -> ElementState {
        let mut out = a.clone();
        out.merge(b);
        out
    }

    #[test]
    fn an_add_the_remover_had_not_seen_survives_whatever_its_version() {
        // B saw an old add (node 3) and removes; A adds concurrently, with an OLDER version.
        let old = ElementState::added(stamp(3, 1, 50), Bytes::from("old"));
        let removal = old.removal(stamp(9, 1, 99));
        let concurrent = ElementState::added(stamp(1, 7, 10), Bytes::from("a"));
        for state in [merged(&merged(&old, &removal), &concurrent), merged(&concurrent, &merged(&removal, &old))] {
            assert!(state.is_present());
            assert_eq!(state.value(), Some(&Bytes::from("a")));
        }
        // A remove that saw both takes both.
        let both = merged(&old, &concurrent);
        assert!(!merged(&both, &both.removal(stamp(9, 1, 99))).is_present());
    }

    #[test]
    fn an_overwrite_by_the_only_writer_leaves_one_add_and_nothing_else() {
        let mut held = ElementState::added(stamp(1, 1, 10), Bytes::from_static(b"a"));
        let counted = held.incremented(
            &Header::new(CollectionType::Hash, stamp(1, 1, 10), Vec::new()).visibility(),
            stamp(1, 2, 11),
            5,
            0.0,
        );
        held.merge(&counted.expect("no overflow"));
        let overwrite = held.replaced(stamp(1, 3, 12), Bytes::from_static(b"b"));
        held.merge(&overwrite);
        assert_eq!(held.only_add().map(|add| &add.value[..]), Some(&b"b"[..]), "{held:?}");
        assert_eq!(overwrite.only_add().map(|add| add.stamp), Some(stamp(1, 3, 12)));
        // Another node's concurrent add is covered only as far as it was seen: it stays listed.
        let other = ElementState::added(stamp(2, 1, 13), Bytes::from_static(b"c"));
        held.merge(&other);
        let again = held.replaced(stamp(1, 4, 14), Bytes::from_static(b"d"));
        assert!(again.only_add().is_none() && again.removed == vec![(NodeId(2), 1)]);
    }

    #[test]
    fn the_newest_surviving_add_gives_the_value_and_an_origin_keeps_only_its_newest() {
        let a = ElementState::added(stamp(1, 1, 10), Bytes::from("a1"));
        let b = ElementState::added(stamp(2, 1, 20), Bytes::from("b"));
        let a2 = ElementState::added(stamp(1, 2, 30), Bytes::from("a2"));
        let all = merged(&merged(&a, &b), &a2);
        assert_eq!(all.value(), Some(&Bytes::from("a2")));
        assert_eq!(all.stamps().count(), 2, "one add per origin");
        // Removing what was seen before a2 leaves a2 (origin 1's later add).
        let early = merged(&a, &b).removal(stamp(9, 1, 99));
        assert_eq!(merged(&all, &early).value(), Some(&Bytes::from("a2")));
    }

    #[test]
    fn a_split_brain_with_removes_and_adds_on_both_sides_keeps_the_adds_neither_side_removed() {
        let before = ElementState::added(stamp(3, 1, 10), Bytes::from("x"));
        // Side 1 removes x and adds it again; side 2 removes it; neither sees the other.
        let side1 = merged(
            &merged(&before, &before.removal(stamp(9, 1, 99))),
            &ElementState::added(stamp(1, 4, 20), Bytes::from("x again")),
        );
        let side2 = merged(&before, &before.removal(stamp(9, 1, 99)));
        assert!(!side2.is_present());
        let healed = merged(&side1, &side2);
        assert_eq!((healed.is_present(), healed.value()), (true, Some(&Bytes::from("x again"))));
        assert_eq!(healed, merged(&side2, &side1));
    }

    fn state() -> impl Strategy<Value = ElementState> {
        // Adds are unique per (origin, seq): the value is a function of them.
        let add = (1u64..4, 1u64..5).prop_map(|(node, seq)| {
            ElementState::added(stamp(node, seq, seq * 10 + node), Bytes::from(format!("{node}.{seq}")))
        });
        let removal = (proptest::collection::vec((1u64..4, 0u64..5), 0..3), 1u64..4).prop_map(|(pairs, by)| {
            // Node 2 removes too, as well as adding.
            let remover = if by.is_multiple_of(2) { 2 } else { 4 };
            let mut state = ElementState { removals: vec![stamp(remover, by, 90 + by)], ..ElementState::default() };
            for (node, seq) in pairs {
                raise(&mut state.removed, NodeId(node), seq);
            }
            state
        });
        // Increments are made by nodes 5 and 6, and by node 1 which also adds, on one of two
        // bases; one write, one sum.
        let increment = (prop_oneof![Just(1u64), 5u64..7], 1u64..5).prop_map(|(node, seq)| {
            let base = if seq.is_multiple_of(2) { Stamp::NONE } else { stamp(1, 1, 11) };
            let count = ElementCount {
                stamp: stamp(node, seq, seq * 10 + node),
                base,
                int: (seq * node) as i64,
                float_bits: 0,
            };
            ElementState { counts: vec![count], ..ElementState::default() }
        });
        proptest::collection::vec(prop_oneof![add, removal, increment], 1..4)
            .prop_map(|parts| parts.iter().fold(ElementState::default(), |acc, part| merged(&acc, part)))
    }

    proptest! {
        #[test]
        fn merging_is_commutative(a in state(), b in state()) {
            prop_assert_eq!(merged(&a, &b), merged(&b, &a));
        }

        #[test]
        fn merging_is_associative(a in state(), b in state(), c in state()) {
            prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
        }

        #[test]
        fn a_record_body_decodes_to_the_state_it_holds(a in state()) {
            let mut body = Vec::new();
            a.encode(&mut body);
            prop_assert_eq!(ElementState::decode(&body, a.newest()), a.clone());
            let short = a.only_add().map(|add| add.value.len() + 1);
            prop_assert!(short.is_none_or(|len| body.len() == len), "one add is kept as its value alone");
        }

        #[test]
        fn merging_is_idempotent(a in state()) {
            let mut again = a.clone();
            prop_assert!(!again.merge(&a));
            prop_assert_eq!(again, a);
        }
    }
}
