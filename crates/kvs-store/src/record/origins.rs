//! Node ids numbered in 32 bits, so a record's head names its origin in 4 bytes, not 8.
//!
//! A record of a 16-byte key and a 100-byte value fits a 160-byte allocator chunk only with its
//! head at 36 bytes; the origin's 8-byte id is the field that had to shrink. Numbers are handed
//! out once per process and never reused, in an append-only table that readers index without a
//! lock (a record's version is read on every merge). Origins are one per run of a node, so the
//! table holds a few entries per node restart; at 12 bytes each it never needs to shrink.

use crate::map::Map;
use kvs_proto::NodeId;
use std::cell::RefCell;
use std::sync::{LazyLock, Mutex};

/// Every origin numbered so far, at its number.
static IDS: boxcar::Vec<NodeId> = boxcar::Vec::new();

/// The number of each origin in [`IDS`]; taken only to number an origin this thread has not
/// met recently.
static NUMBERS: LazyLock<Mutex<Map<NodeId, u32>>> = LazyLock::new(Mutex::default);

/// Origins a thread numbers most often are the few nodes of its cluster.
const RECENT: usize = 8;

thread_local! {
    static RECENTLY_NUMBERED: RefCell<Vec<(NodeId, u32)>> = const { RefCell::new(Vec::new()) };
}

/// The number of `id`, handing out the next one if it has none yet.
pub(super) fn number(id: NodeId) -> u32 {
    RECENTLY_NUMBERED.with_borrow_mut(|recent| {
        if let Some(&(_, number)) = recent.iter().find(|(seen, _)| *seen == id) {
            return number;
        }
        let number = {
            let mut numbers = NUMBERS.lock().unwrap_or_else(|p| p.into_inner());
            *numbers.entry(id).or_insert_with(|| {
                let index = IDS.push(id);
                u32::try_from(index).expect("fewer than 2^32 origins in one process")
            })
        };
        if recent.len() == RECENT {
            recent.pop();
        }
        recent.insert(0, (id, number));
        number
    })
}

/// The origin numbered `number` by [`number`].
pub(super) fn id(number: u32) -> NodeId {
    IDS[number as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_each_origin_once_across_threads() {
        let ids: Vec<NodeId> = (0..40).map(|i| NodeId(0xfeed_0000 + i)).collect();
        let numbered: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let workers: Vec<_> =
                (0..4).map(|_| scope.spawn(|| ids.iter().map(|&id| number(id)).collect::<Vec<u32>>())).collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(numbered.windows(2).all(|w| w[0] == w[1]), "every thread got the same numbers");
        for (&id, &n) in ids.iter().zip(&numbered[0]) {
            assert_eq!(super::id(n), id);
        }
        let mut distinct = numbered[0].clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len());
    }
}
