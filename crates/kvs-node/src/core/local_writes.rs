//! The core's local-write input: a client's command becomes a record, and the record becomes
//! effects (log it, then push it), all within one [`Turn`].
//!
//! The turn is the core's one sequencing rule for our own writes: it is numbered, applied and
//! carried out (the shell executes its effects) before the next local write is numbered, so our
//! writes reach the store, the log and every peer in sequence order, the order a peer's cursor
//! counts them in.

use super::{Core, Effect, Pushed};
use crate::error::WriteRefused;
use kvs_store::local::{Decision, Local};
use kvs_store::replica::Turn as ReplicaTurn;
use kvs_store::{Record, Version};
use smallvec::SmallVec;
use std::sync::Arc;

/// The right to make local writes, and the effects of those made so far; the shell carries the
/// effects out ([`Turn::effects`]) before dropping it.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    sequence: ReplicaTurn<'a>,
    /// A write logs and pushes: two effects, kept inline.
    effects: SmallVec<[Effect; 2]>,
}

impl Turn<'_> {
    /// The effects to carry out, in order, while the turn is held.
    pub(crate) fn effects(&mut self) -> smallvec::Drain<'_, [Effect; 2]> {
        self.effects.drain(..)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // An effect left here is a write that reaches neither the log nor the peers.
        debug_assert!(self.effects.is_empty() || std::thread::panicking(), "a turn ended with effects not carried out");
    }
}

impl Core {
    /// Takes the turn for local writes; the next one waits until this one is dropped.
    pub(crate) fn turn(&self) -> Turn<'_> {
        Turn { sequence: self.replica.turn(), effects: SmallVec::new() }
    }

    /// A client's command on one key at wall time `wall_ms` (see [`kvs_store::Replica::update`]);
    /// returns the version of the write it made, if any, with its answer.
    /// A record it writes is logged and then pushed to every peer or, inside a transaction, kept
    /// in `unit` to be pushed with the rest of it ([`Core::push_unit`]). Refused when our clock
    /// is too far from our peers' for them to accept what we would write.
    pub(crate) fn update<T>(
        &self,
        turn: &mut Turn<'_>,
        key: &[u8],
        wall_ms: u64,
        unit: Option<&mut Vec<Record>>,
        decide: impl FnOnce(&Local<'_>) -> Decision<T>,
    ) -> Result<(Option<Version>, T), WriteRefused> {
        self.refuse_if_skewed()?;
        let (record, answer) = self.replica.update(&mut turn.sequence, key, wall_ms, decide);
        let version = record.map(|record| {
            let version = record.version();
            self.written(turn, record, unit);
            version
        });
        Ok((version, answer))
    }

    /// A client's FLUSHALL (`database`: `None`) or FLUSHDB: a replicated flush record, logged and
    /// pushed like a write.
    pub(crate) fn flush(
        &self,
        turn: &mut Turn<'_>,
        wall_ms: u64,
        database: Option<u8>,
        unit: Option<&mut Vec<Record>>,
    ) -> Result<Version, WriteRefused> {
        self.refuse_if_skewed()?;
        let record = self.replica.flush(&mut turn.sequence, wall_ms, database);
        let version = record.version();
        self.written(turn, record, unit);
        Ok(version)
    }

    /// A transaction's writes, logged as they were made, pushed to every peer as one unit. Its
    /// turn comes after theirs: no other local write came between them (the caller held the
    /// isolation lock across the transaction). Never refused: its writes are made already.
    pub(crate) fn push_unit(&self, turn: &mut Turn<'_>, records: Vec<Record>) {
        let pushed = match records.len() {
            0 => return,
            1 => Pushed::One(records.into_iter().next().expect("one")),
            _ => Pushed::Unit(Arc::new(records)),
        };
        turn.effects.push(Effect::Push(pushed));
    }

    /// The effects of our write `record`: logged if the node is durable, then pushed, or kept in
    /// the transaction's `unit`. Copied only where two of them need it.
    fn written(&self, turn: &mut Turn<'_>, record: Record, unit: Option<&mut Vec<Record>>) {
        if !self.store().held.all() {
            self.wrote_outside(&record);
        }
        match (unit, self.durable) {
            (Some(unit), true) => {
                unit.push(record.clone());
                turn.effects.push(Effect::LogWrite(record));
            }
            (Some(unit), false) => unit.push(record),
            (None, true) => {
                turn.effects.push(Effect::LogWrite(record.clone()));
                turn.effects.push(Effect::Push(Pushed::One(record)));
            }
            (None, false) => turn.effects.push(Effect::Push(Pushed::One(record))),
        }
    }
}
