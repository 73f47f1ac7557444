//! What a local command sees and makes: the key's current state at the command's time, and the
//! records it may write (a value, a delete, an increment), stamped with the write's own stamp.

mod collection;

pub use crate::decimal::parse_integer;
pub use collection::{ForAdd, Holds, WrongType};

use crate::collection::element::ElementState;
use crate::hll::Registers;
use crate::record::{Body, Record};
use crate::store::Store;
use kvs_proto::{Contribution, Counter, Stamp};
use std::cell::OnceCell;

/// Why an increment cannot be made (Redis's wording is the front end's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IncrementError {
    /// The value is not a decimal integer in the 64-bit range.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// The result would leave the 64-bit range.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// The key holds a collection.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
}

/// Why a HyperLogLog command cannot use a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// The value is a counter, or a string that is not a HyperLogLog in Redis's encoding.
    #[error("Key is not a valid HyperLogLog string value.")]
    NotHll,
}

/// The registers a live record holds as a HyperLogLog: its own, or those of a string in Redis's
/// HyperLogLog encoding (what GET returned, or a DUMP restored).
pub fn registers_of(record: &Record) -> Result<Registers, HllError> {
    match record.body() {
        Body::Hll(hll) => Ok(hll.registers()),
        Body::Value(value) => Registers::from_redis_string(value).ok_or(HllError::NotHll),
        _ => Err(HllError::NotHll),
    }
}

/// A local command's view of one key: what is held (expired records already in their expired
/// form), the flush floor, and the stamp its write will carry. What is held is looked up when
/// first asked for, so a plain SET, which never asks, costs no lookup.
#[derive(Debug)]
pub struct Local<'a> {
    key: &'a [u8],
    store: &'a Store,
    held: OnceCell<Option<Record>>,
    /// The held element's state, decoded once however many questions a write asks of it.
    element: OnceCell<Option<ElementState>>,
    stamp: Stamp,
    now_ms: u64,
}

/// What a command decided: write a record, or leave the key alone. `T` is its answer.
#[derive(Debug)]
pub enum Decision<T> {
    /// Write this record (built from [`Local`], so it carries the write's stamp).
    Write(Record, T),
    /// Change nothing.
    Keep(T),
}

impl<'a> Local<'a> {
    /// The view of `key` given what the store holds, at `now_ms`.
    pub(crate) fn new(key: &'a [u8], store: &'a Store, stamp: Stamp, now_ms: u64) -> Self {
        Local { key, store, held: OnceCell::new(), element: OnceCell::new(), stamp, now_ms }
    }

    fn held(&self) -> Option<&Record> {
        let now_ms = self.now_ms;
        let held = self
            .held
            .get_or_init(|| self.store.get(self.key).map(|r| if r.is_expired_at(now_ms) { r.expired() } else { r }));
        held.as_ref()
    }

    /// The key.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The live record (a value, counter, HyperLogLog or a collection's header with an element
    /// seen), if any.
    pub fn live(&self) -> Option<&Record> {
        self.held()
            .filter(|r| r.is_live_at(self.now_ms))
            .filter(|r| !r.is_collection() || self.store.collection(self.key, self.now_ms).is_some())
    }

    /// The time the command runs at (Unix milliseconds).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The stamp this command's write carries.
    pub fn stamp(&self) -> Stamp {
        self.stamp
    }

    /// A value (or, with `None`, a delete) expiring at `deadline_ms`.
    pub fn value(&self, value: Option<&[u8]>, deadline_ms: Option<u64>) -> Record {
        Record::plain(self.key, value, self.stamp, deadline_ms)
    }

    /// The live value's bytes as they read (a counter in decimal); `None` when there is none.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        self.live()?.read_bytes()
    }

    /// The live record's deadline.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.live().and_then(Record::deadline_ms)
    }

    /// The key with `delta` added, and the new value.
    ///
    /// A counter gets this node's contribution changed; a decimal value becomes a counter based
    /// on it (its deadline kept); an absent or deleted key becomes a counter based on its delete
    /// (or the flush, or nothing), so increments made on several nodes at once all count. Over a
    /// counter that expired, the new counter is based on this increment itself (it must beat the
    /// expired counter's tombstone), so only one of two concurrent ones survives.
    pub fn increment(&self, delta: i64) -> Result<(Record, i64), IncrementError> {
        let me = self.stamp.version.node;
        let (counter, deadline) = match self.live().map(Record::body) {
            Some(Body::Collection) => return Err(IncrementError::WrongType),
            Some(Body::Counter(view)) => {
                let mine = view.contributions().find(|c| c.stamp.version.node == me).map_or(0, |c| c.total);
                let total = mine.checked_add(delta).ok_or(IncrementError::Overflow)?;
                let sum = view.sum() - mine as i128 + total as i128;
                let sum = i64::try_from(sum).map_err(|_| IncrementError::Overflow)?;
                let part = Contribution { stamp: self.stamp, total };
                return Ok((Record::counter_with(self.key, view, part, self.deadline_ms()), sum));
            }
            Some(Body::Value(value)) => {
                let base_value = parse_integer(value).ok_or(IncrementError::NotAnInteger)?;
                let base = self.held().map(Record::stamp).expect("live");
                (self.counter_over(base, base_value, delta), self.deadline_ms())
            }
            _ => (self.counter_over(self.base_of_absent(), 0, delta), None),
        };
        let sum = counter.base_value.checked_add(delta).ok_or(IncrementError::Overflow)?;
        Ok((Record::counter(self.key, &counter, deadline), sum))
    }

    /// The key with every register raised to `add`'s where that is higher (PFADD, PFMERGE): the
    /// record to write, if any, and whether the key changed (a register rose, or the key was made).
    ///
    /// Over a HyperLogLog the record holds only the registers that rose, with this write's stamp:
    /// a delta, which the store joins into what it holds and peers join into theirs. Over a string
    /// in Redis's encoding, or no key, it holds every register, based on what it replaces, as a
    /// counter is.
    pub fn hll_add(&self, add: &Registers) -> Result<(Option<Record>, bool), HllError> {
        let deadline = self.deadline_ms();
        let (base, registers) = match self.live().map(|live| (live, live.body())) {
            Some((_, Body::Hll(hll))) => {
                let mut raised = Registers::default();
                let mut held = hll.registers();
                let mut changed = false;
                for (index, value) in add.set() {
                    if held.raise(index, value) {
                        raised.raise(index, value);
                        changed = true;
                    }
                }
                if !changed {
                    return Ok((None, false));
                }
                let record = Record::hll(self.key, hll.base(), &[self.stamp], &raised.to_compact(), deadline);
                return Ok((Some(record), true));
            }
            Some((live, _)) => {
                let mut registers = registers_of(live)?;
                let before = registers.clone();
                registers.merge(add);
                if registers == before {
                    return Ok((None, false));
                }
                (live.stamp(), registers)
            }
            None => (self.base_of_absent(), add.clone()),
        };
        Ok((Some(Record::hll(self.key, base, &[self.stamp], &registers.to_compact(), deadline)), true))
    }

    /// The eviction of what the key holds, if it still holds the write of version `target` (the
    /// one an eviction policy chose; a write since then keeps the key): a tombstone of its own
    /// stamp that removes exactly that write (see [`Record::evicted`]).
    pub fn evict(&self, target: kvs_proto::Version) -> Option<Record> {
        let live = self.live()?;
        (live.eviction_target() == target).then(|| Record::evicted(self.key, target, self.stamp))
    }

    /// The base of a counter or HyperLogLog started on a key with no live value: its delete (or
    /// the flush that cleared it, or nothing). Over an expired counter or HyperLogLog it is this
    /// write itself, which must beat the expired one's tombstone, so only one of two concurrent
    /// ones survives.
    fn base_of_absent(&self) -> Stamp {
        match self.held() {
            // An emptied collection's header ranks by its base: only this write itself beats it.
            Some(gone) if gone.is_expired_counter() || gone.is_collection() => self.stamp,
            Some(gone) => gone.stamp(),
            None => self.store.floor_for(self.key).map_or(Stamp::NONE, |flush| flush.stamp()),
        }
    }

    fn counter_over(&self, base: Stamp, base_value: i64, delta: i64) -> Counter {
        Counter { base, base_value, contributions: vec![Contribution { stamp: self.stamp, total: delta }] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::{NodeId, Version};

    fn stamp(wall: u64, node: u64) -> Stamp {
        Stamp { version: Version { wall_ms: wall, logical: 0, node: NodeId(node) }, seq: wall }
    }

    /// Increments `held` by `delta` as node `node` at `wall`.
    fn increment(held: Option<Record>, node: u64, wall: u64, delta: i64) -> Result<(Record, i64), IncrementError> {
        let store = Store::new();
        if let Some(held) = held {
            store.merge(held);
        }
        Local::new(b"k", &store, stamp(wall, node), wall).increment(delta)
    }

    fn parts(record: &Record) -> Vec<(u64, i64)> {
        let Body::Counter(view) = record.body() else { panic!("not a counter") };
        view.contributions().map(|c| (c.stamp.version.node.0, c.total)).collect()
    }

    #[test]
    fn increments_keep_one_contribution_per_node_in_node_order() {
        let (first, one) = increment(None, 5, 10, 3).unwrap();
        assert_eq!((one, parts(&first)), (3, vec![(5, 3)]));
        let (second, two) = increment(Some(first), 2, 11, 4).unwrap();
        assert_eq!((two, parts(&second)), (7, vec![(2, 4), (5, 3)]));
        let (third, three) = increment(Some(second), 9, 12, -10).unwrap();
        assert_eq!((three, parts(&third)), (-3, vec![(2, 4), (5, 3), (9, -10)]));
        let (fourth, four) = increment(Some(third), 5, 13, 1).unwrap();
        assert_eq!((four, parts(&fourth)), (-2, vec![(2, 4), (5, 4), (9, -10)]));
        assert_eq!(fourth.stamp(), stamp(13, 5), "stamped with its newest increment");
        assert_eq!(increment(Some(fourth), 5, 14, i64::MAX).unwrap_err(), IncrementError::Overflow);
        let text = Record::plain(b"k", Some(b"abc"), stamp(1, 1), None);
        assert_eq!(increment(Some(text), 1, 2, 1).unwrap_err(), IncrementError::NotAnInteger);
        let max = Record::plain(b"k", Some(b"9223372036854775807"), stamp(1, 1), None);
        assert_eq!(increment(Some(max), 1, 2, 1).unwrap_err(), IncrementError::Overflow);
    }

    #[test]
    fn integers_parse_as_redis_parses_them() {
        for (text, want) in [("0", Some(0)), ("-1", Some(-1)), ("9223372036854775807", Some(i64::MAX))] {
            assert_eq!(parse_integer(text.as_bytes()), want, "{text}");
        }
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for bad in ["", "-", "01", "-0", "+1", " 1", "1 ", "1.0", "9223372036854775808", "abc"] {
            assert_eq!(parse_integer(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
