//! A bounded broadcast that knows whether anyone listens, so that a sender with no receivers
//! costs one atomic load (MONITOR's lines, `kvs-client watch`'s changes).

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::broadcast;

/// The sending side, shared by every sender.
#[derive(Debug)]
pub struct CountedBroadcast<T> {
    sender: broadcast::Sender<T>,
    listening: AtomicUsize,
}

/// One receiver, counted while it lasts; one that falls `capacity` items behind learns it lagged.
pub struct Listening<'a, T> {
    from: &'a CountedBroadcast<T>,
    /// The items from when it started listening.
    pub items: broadcast::Receiver<T>,
}

impl<T> Drop for Listening<'_, T> {
    fn drop(&mut self) {
        self.from.listening.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T: Clone> CountedBroadcast<T> {
    /// A broadcast whose receivers may fall `capacity` items behind.
    pub fn new(capacity: usize) -> Self {
        CountedBroadcast { sender: broadcast::channel(capacity).0, listening: AtomicUsize::new(0) }
    }

    /// Whether anyone listens (one atomic load).
    pub fn any(&self) -> bool {
        self.listening.load(Ordering::Relaxed) > 0
    }

    /// Starts a receiver; it gets every item sent from now on.
    pub fn listen(&self) -> Listening<'_, T> {
        self.listening.fetch_add(1, Ordering::Relaxed);
        Listening { from: self, items: self.sender.subscribe() }
    }

    /// Sends `item` to every receiver (made by `make`, only if anyone listens).
    pub fn send(&self, make: impl FnOnce() -> T) {
        if self.any() {
            let _ = self.sender.send(make());
        }
    }
}
