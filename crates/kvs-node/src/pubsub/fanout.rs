//! The backlog of messages this node's clients published, read by every peer task.
//!
//! One ring for all peers, bounded in bytes and in count: each task keeps its own position and
//! takes everything past it in one batch (one frame per peer per batch). When the ring is full
//! the oldest messages go, and a task whose position they held skips them and counts them as
//! dropped: a slow or disconnected peer costs the node at most the ring, never the publishers'
//! time.

use kvs_proto::Publication;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Bytes of messages the ring holds at most (Redis's pub/sub client buffer limit, 32 MiB).
pub const FANOUT_BYTES: usize = 32 * 1024 * 1024;
/// Messages the ring holds at most: a burst this long reaches a peer whole even while its link
/// drains more slowly than the publishers publish.
pub const FANOUT_MESSAGES: usize = 64 * 1024;

/// What one message costs in the ring besides its bytes.
const PER_MESSAGE_BYTES: usize = 64;

/// The published messages peers are still to be sent.
#[derive(Debug)]
pub struct FanOut {
    ring: Mutex<Ring>,
    /// Messages ever published here: the position after the newest, read without the lock by
    /// every peer task on every turn of its loop.
    published_total: AtomicU64,
    /// Woken on every publish; each peer task waits on it.
    published: Notify,
    max_bytes: usize,
    max_messages: usize,
}

#[derive(Debug, Default)]
struct Ring {
    messages: VecDeque<Publication>,
    /// The position of `messages[0]` among every message ever published here.
    first: u64,
    bytes: usize,
}

/// Where one peer task stands in the ring: the position of the next message it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position(u64);

/// What a peer task takes from the ring in one go.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The messages, oldest first.
    pub messages: Vec<Publication>,
    /// Messages that left the ring before this task took them.
    pub dropped: u64,
}

fn cost(publication: &Publication) -> usize {
    PER_MESSAGE_BYTES + publication.channel.len() + publication.message.len()
}

impl Default for FanOut {
    fn default() -> Self {
        FanOut::with_bounds(FANOUT_BYTES, FANOUT_MESSAGES)
    }
}

impl FanOut {
    /// A ring of at most `max_bytes` and `max_messages`.
    pub fn with_bounds(max_bytes: usize, max_messages: usize) -> Self {
        FanOut {
            ring: Mutex::default(),
            published_total: AtomicU64::new(0),
            published: Notify::new(),
            max_bytes,
            max_messages,
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a task starting now begins: after everything published so far.
    pub fn end(&self) -> Position {
        let ring = self.ring();
        Position(ring.first + ring.messages.len() as u64)
    }

    /// Adds a message for every peer, dropping the oldest ones past the bounds.
    pub fn publish(&self, publication: Publication) {
        let mut ring = self.ring();
        ring.bytes += cost(&publication);
        ring.messages.push_back(publication);
        while ring.bytes > self.max_bytes || ring.messages.len() > self.max_messages {
            let Some(oldest) = ring.messages.pop_front() else { break };
            ring.bytes -= cost(&oldest);
            ring.first += 1;
        }
        self.published_total.store(ring.first + ring.messages.len() as u64, Ordering::Release);
        drop(ring);
        self.published.notify_waiters();
    }

    /// Takes the messages past `from`, up to about `max_bytes` of them, and moves `from` past
    /// them.
    pub fn take(&self, from: &mut Position, max_bytes: usize) -> Batch {
        let ring = self.ring();
        let dropped = ring.first.saturating_sub(from.0);
        let start = from.0.max(ring.first);
        let mut batch = Batch { messages: Vec::new(), dropped };
        let mut bytes = 0;
        for publication in ring.messages.iter().skip((start - ring.first) as usize) {
            if bytes >= max_bytes {
                break;
            }
            bytes += cost(publication);
            batch.messages.push(publication.clone());
        }
        *from = Position(start + batch.messages.len() as u64);
        batch
    }

    /// Whether anything lies past `from` (one atomic load).
    pub fn has_after(&self, from: Position) -> bool {
        self.published_total.load(Ordering::Acquire) > from.0
    }

    /// Resolves on the next publish. Create it, then check [`FanOut::has_after`], then await it,
    /// so a publish in between is not missed (see `Notify::notified`).
    pub fn published(&self) -> tokio::sync::futures::Notified<'_> {
        self.published.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(n: u8) -> Publication {
        Publication { channel: Bytes::from_static(b"c"), message: Bytes::from(vec![n; 10]), shard: false }
    }

    #[test]
    fn each_task_reads_from_its_own_position_in_publish_order() {
        let fanout = FanOut::default();
        let mut early = fanout.end();
        fanout.publish(message(1));
        let mut late = fanout.end();
        fanout.publish(message(2));
        assert_eq!(fanout.take(&mut early, usize::MAX).messages, vec![message(1), message(2)]);
        assert_eq!(fanout.take(&mut late, usize::MAX).messages, vec![message(2)]);
        assert!(!fanout.has_after(early) && fanout.take(&mut early, usize::MAX).messages.is_empty());
    }

    #[test]
    fn the_ring_is_bounded_and_a_task_behind_it_counts_what_it_missed() {
        let fanout = FanOut::with_bounds(10_000, 4);
        let mut behind = fanout.end();
        for n in 0..10 {
            fanout.publish(message(n));
        }
        let batch = fanout.take(&mut behind, usize::MAX);
        assert_eq!(batch.dropped, 6);
        assert_eq!(batch.messages, (6..10).map(message).collect::<Vec<_>>());

        let bytes = FanOut::with_bounds(3 * cost(&message(0)), 100);
        let mut from = bytes.end();
        for n in 0..5 {
            bytes.publish(message(n));
        }
        assert_eq!(bytes.take(&mut from, usize::MAX).messages.len(), 3);
    }

    #[test]
    fn a_batch_stops_near_its_byte_bound() {
        let fanout = FanOut::default();
        let mut from = fanout.end();
        for n in 0..10 {
            fanout.publish(message(n));
        }
        let first = fanout.take(&mut from, 1);
        assert_eq!(first.messages, vec![message(0)]);
        assert_eq!(fanout.take(&mut from, usize::MAX).messages.len(), 9);
    }
}
