//! What a collection command sees and writes: the key's type, and the records of a header and
//! of elements, each stamped with its own write.
//!
//! A command on a collection writes a header only when it makes one (the first add to a key
//! holding none of its type) or changes the whole key (DEL, EXPIRE, PERSIST); each element it
//! adds or removes is a record at the element's key, written as its own local write (its own
//! stamp, the element's unique tag).

use super::Local;
use crate::collection::element::{ElementState, Number};
use crate::collection::header::Header;
use crate::collection::CollectionType;
use crate::record::Record;
use crate::store::Found;
use bytes::Bytes;

/// A key that holds a value of another type than the command works on (Redis's WRONGTYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
pub struct WrongType;

/// What a key holds, as a command sees it.
#[derive(Clone, Debug)]
pub enum Holds {
    /// Nothing live: absent, deleted, expired, or an emptied collection.
    Nothing,
    /// A string (a value, a counter, a HyperLogLog).
    String,
    /// A collection with at least one element seen.
    Collection(Found),
}

impl Holds {
    /// The collection of type `of` it holds: `None` for nothing, WRONGTYPE for anything else.
    pub fn collection_of(self, of: CollectionType) -> Result<Option<Found>, WrongType> {
        match self {
            Holds::Nothing => Ok(None),
            Holds::Collection(found) if found.header.of == of => Ok(Some(found)),
            _ => Err(WrongType),
        }
    }
}

/// The header an add works under (see [`Local::header_for_add`]).
#[derive(Clone, Debug)]
pub enum ForAdd {
    /// The key's collection has it.
    Held(Header),
    /// A new one, with its record to write first.
    Made(Record, Header),
}

impl Local<'_> {
    /// What the key holds.
    pub fn holds(&self) -> Holds {
        // Not `live()`, which would look the collection up a second time.
        match self.held().filter(|r| r.is_live_at(self.now_ms)) {
            None => Holds::Nothing,
            Some(record) if record.is_collection() => match self.store.collection(self.key, self.now_ms) {
                Some(found) => Holds::Collection(found),
                None => Holds::Nothing,
            },
            Some(_) => Holds::String,
        }
    }

    /// The header an add to a collection of type `of` at this key works under: the one the key's
    /// collection of that type has, or a new one to write first (with no deadline) that clears
    /// the adds what stands at the key made dead (see [`Store::collection_dead`]). WRONGTYPE
    /// when the key holds another type.
    ///
    /// [`Store::collection_dead`]: crate::store::Store::collection_dead
    pub fn header_for_add(&self, of: CollectionType) -> Result<ForAdd, WrongType> {
        if let Some(found) = self.holds().collection_of(of)? {
            return Ok(ForAdd::Held(found.header));
        }
        let header = Header::new(of, self.stamp, self.store.collection_dead(self.key, self.held()));
        Ok(ForAdd::Made(Record::collection(self.key, &header, None), header))
    }

    /// The header after a DEL of the collection `found` at this key: every add held here is
    /// gone, an add made meanwhile elsewhere survives; the deadline goes.
    pub fn collection_cleared(&self, found: &Found) -> Record {
        let header = found.header.cleared_by(self.stamp, &self.store.collection_seen(self.key));
        Record::collection(self.key, &header, None)
    }

    /// The header of `found` with a new deadline (`None`: PERSIST).
    pub fn collection_deadline(&self, found: &Found, deadline_ms: Option<u64>) -> Record {
        Record::collection(self.key, &found.header.written(self.stamp), deadline_ms)
    }

    /// The element's state held here (at an element's key).
    pub fn element(&self) -> Option<&ElementState> {
        self.element.get_or_init(|| self.held().and_then(Record::element_state)).as_ref()
    }

    /// The element's value as `header` lets it be seen (at an element's key).
    pub fn element_seen(&self, header: Option<&Header>) -> Option<Bytes> {
        let header = header?;
        crate::collection::value_of(header.of, self.element()?, &header.visibility())
    }

    /// The element's number as `header` lets it be seen (at an element's key): `None` when not
    /// seen, `Some(None)` when its value is no number.
    pub fn element_number(&self, header: &Header) -> Option<Option<Number>> {
        crate::collection::number_of(header.of, self.element()?, &header.visibility())
    }

    /// The increment of this element's number by `int` and `float` (at an element's key), on
    /// whatever add it holds now; `None` when this node's sum would overflow.
    pub fn element_incremented(&self, header: &Header, int: i64, float: f64) -> Option<Record> {
        let held = self.element().cloned().unwrap_or_default();
        let delta = held.incremented(&header.visibility(), self.stamp, int, float)?;
        Some(Record::element(self.key, &delta))
    }

    /// The add of this element with `value` (at an element's key): a delta of one add that
    /// removes the adds held here (an overwrite).
    pub fn element_added(&self, value: Bytes) -> Record {
        let delta = match self.element() {
            Some(held) => held.replaced(self.stamp, value),
            None => ElementState::added(self.stamp, value),
        };
        Record::element(self.key, &delta)
    }

    /// The remove of every add of this element held here (at an element's key); `None` when
    /// none is.
    pub fn element_removed(&self) -> Option<Record> {
        let held = self.element().filter(|state| state.is_present())?;
        Some(Record::element(self.key, &held.removal(self.stamp)))
    }
}
