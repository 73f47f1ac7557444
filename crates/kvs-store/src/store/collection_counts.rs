//! How many collection keys of each type are live and how many elements they let be seen: what
//! /metrics and INFO report, kept in step by every change of the collection index so a scrape
//! costs no walk.

use crate::collection::CollectionType;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live collection keys and their seen elements, per type.
#[derive(Debug, Default)]
pub(crate) struct CollectionCounts {
    keys: [AtomicU64; 4],
    elements: [AtomicU64; 4],
}

/// The counters' slot of a type.
fn slot(of: CollectionType) -> usize {
    usize::from(crate::collection::type_byte(of)) - 1
}

/// Moves `counter` from `before` to `after`.
fn moved(counter: &AtomicU64, before: usize, after: usize) {
    if after > before {
        counter.fetch_add((after - before) as u64, Ordering::Relaxed);
    } else if before > after {
        counter.fetch_sub((before - after) as u64, Ordering::Relaxed);
    }
}

impl CollectionCounts {
    /// A collection of type `of` went from `before` to `after` elements seen.
    pub(crate) fn elements_moved(&self, of: CollectionType, before: usize, after: usize) {
        moved(&self.elements[slot(of)], before, after);
    }

    /// A key was a live collection of type `was` (if any) and is one of type `is` (if any).
    pub(crate) fn key_moved(&self, was: Option<CollectionType>, is: Option<CollectionType>) {
        if was != is {
            if let Some(of) = was {
                self.keys[slot(of)].fetch_sub(1, Ordering::Relaxed);
            }
            if let Some(of) = is {
                self.keys[slot(of)].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Live keys and seen elements of type `of`.
    pub(crate) fn of(&self, of: CollectionType) -> (u64, u64) {
        (self.keys[slot(of)].load(Ordering::Relaxed), self.elements[slot(of)].load(Ordering::Relaxed))
    }
}
