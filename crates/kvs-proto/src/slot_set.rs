//! A set of hash slots: one bit per slot in memory, runs of slots on the wire (which slots a
//! node fetches, holds, or has yet to fetch; docs/partitioning.md, "Replication per slot").

use crate::slot::SLOTS;

const WORDS: usize = SLOTS as usize / 64;

/// Slots as they travel: runs `(first, last)`, inclusive.
pub type SlotRuns = Vec<(u16, u16)>;

/// Slots as they travel when a set has many runs: its bitmap's words ([`SlotSet::to_words`]).
pub type SlotWords = Vec<u64>;

/// A set of slots.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet {
    words: Box<[u64; WORDS]>,
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs = self.runs();
        let more = if runs.len() > 8 { ", ..." } else { "" };
        write!(f, "SlotSet({} slots: {:?}{more})", self.len(), &runs[..runs.len().min(8)])
    }
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet::empty()
    }
}

impl SlotSet {
    /// No slot.
    pub fn empty() -> Self {
        SlotSet { words: Box::new([0; WORDS]) }
    }

    /// Every slot.
    pub fn full() -> Self {
        SlotSet { words: Box::new([u64::MAX; WORDS]) }
    }

    /// The slots `runs` name; a run past the last slot is cut at it, a reversed one is ignored.
    pub fn from_runs(runs: &[(u16, u16)]) -> Self {
        let mut set = SlotSet::empty();
        for &(first, last) in runs {
            for slot in first..=last.min(SLOTS - 1) {
                set.insert(slot);
            }
        }
        set
    }

    /// The slots for which `pick` holds.
    pub fn from_fn(mut pick: impl FnMut(u16) -> bool) -> Self {
        let mut set = SlotSet::empty();
        for slot in 0..SLOTS {
            if pick(slot) {
                set.insert(slot);
            }
        }
        set
    }

    /// Adds `slot`.
    pub fn insert(&mut self, slot: u16) {
        let slot = usize::from(slot % SLOTS);
        self.words[slot / 64] |= 1 << (slot % 64);
    }

    /// Removes `slot`.
    pub fn remove(&mut self, slot: u16) {
        let slot = usize::from(slot % SLOTS);
        self.words[slot / 64] &= !(1 << (slot % 64));
    }

    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        let slot = usize::from(slot % SLOTS);
        self.words[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// How many slots it holds.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether it holds no slot.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Whether it holds every slot.
    pub fn is_full(&self) -> bool {
        self.words.iter().all(|&w| w == u64::MAX)
    }

    /// The slots in it, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..SLOTS).filter(|&slot| self.contains(slot))
    }

    /// The slots in `self` and not in `other`.
    pub fn minus(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        for (word, theirs) in out.words.iter_mut().zip(other.words.iter()) {
            *word &= !theirs;
        }
        out
    }

    /// The slots in either.
    pub fn union(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        for (word, theirs) in out.words.iter_mut().zip(other.words.iter()) {
            *word |= theirs;
        }
        out
    }

    /// The slots in both.
    pub fn intersection(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        for (word, theirs) in out.words.iter_mut().zip(other.words.iter()) {
            *word &= theirs;
        }
        out
    }

    /// Whether every slot of `self` is in `other`.
    pub fn is_subset(&self, other: &SlotSet) -> bool {
        self.words.iter().zip(other.words.iter()).all(|(mine, theirs)| mine & !theirs == 0)
    }

    /// The set as runs of neighbouring slots, ascending.
    pub fn runs(&self) -> SlotRuns {
        let mut runs: SlotRuns = Vec::new();
        for slot in self.iter() {
            match runs.last_mut() {
                Some(last) if last.1 + 1 == slot => last.1 = slot,
                _ => runs.push((slot, slot)),
            }
        }
        runs
    }

    /// The set as 256 words of 64 bits (slot `s` is bit `s % 64` of word `s / 64`): 2 KiB on
    /// the wire, whatever the set.
    pub fn to_words(&self) -> SlotWords {
        self.words.to_vec()
    }

    /// The set `words` encode; words past the 256th are ignored, missing ones are empty.
    pub fn from_words(words: &[u64]) -> Self {
        let mut set = SlotSet::empty();
        for (mine, &theirs) in set.words.iter_mut().zip(words) {
            *mine = theirs;
        }
        set
    }

    /// The 64-bit word holding slots `64 * word ..`: for a caller keeping the set in atomics.
    pub fn word(&self, word: usize) -> u64 {
        self.words[word % WORDS]
    }
}

/// The slots some of the sets added name once or more, and twice or more: how many members'
/// words cover each slot, up to two.
#[derive(Clone, Debug, Default)]
pub struct SlotTally {
    /// Slots named at least once.
    pub once: SlotSet,
    /// Slots named at least twice.
    pub twice: SlotSet,
}

impl SlotTally {
    /// Counts `slots` once more.
    pub fn add(&mut self, slots: &SlotSet) {
        self.twice = self.twice.union(&self.once.intersection(slots));
        self.once = self.once.union(slots);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_and_bad_runs_are_bounded() {
        let mut set = SlotSet::empty();
        for slot in [0, 1, 2, 7, 16383] {
            set.insert(slot);
        }
        assert_eq!(set.runs(), [(0, 2), (7, 7), (16383, 16383)]);
        assert_eq!(SlotSet::from_runs(&set.runs()), set);
        assert_eq!(set.len(), 5);
        let bounded = SlotSet::from_runs(&[(16380, u16::MAX), (9, 3)]);
        assert_eq!(bounded.runs(), [(16380, 16383)]);
        assert!(SlotSet::full().is_full() && SlotSet::empty().is_empty());
        assert_eq!(SlotSet::from_words(&set.to_words()), set);
        assert_eq!(SlotSet::from_words(&[u64::MAX; 300]), SlotSet::full());
        assert_eq!(SlotSet::from_words(&[1]).runs(), [(0, 0)]);
    }

    #[test]
    fn a_tally_counts_each_slot_up_to_twice() {
        let mut tally = SlotTally::default();
        tally.add(&SlotSet::from_runs(&[(0, 9)]));
        tally.add(&SlotSet::from_runs(&[(5, 14)]));
        assert_eq!((tally.once.runs(), tally.twice.runs()), (vec![(0, 14)], vec![(5, 9)]));
    }

    #[test]
    fn set_algebra() {
        let evens = SlotSet::from_fn(|slot| slot % 2 == 0);
        let low = SlotSet::from_runs(&[(0, 99)]);
        assert_eq!(low.minus(&evens).len(), 50);
        assert_eq!(low.union(&evens).len(), 8192 + 50);
        assert!(SlotSet::from_runs(&[(2, 2), (4, 4)]).is_subset(&evens));
        assert!(!low.is_subset(&evens));
    }
}
