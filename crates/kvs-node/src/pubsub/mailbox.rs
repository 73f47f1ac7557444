//! What waits for one subscribed connection: its messages, bounded in bytes.
//!
//! A subscriber that does not read is disconnected rather than buffered for, as Redis does with
//! `client-output-buffer-limit pubsub 32mb`: past [`MAILBOX_BYTES`] its queue is dropped and its
//! connection is told to close at once (its token cancelled), even while it waits to write.
//! Publishers never wait for a subscriber.

use bytes::Bytes;
use futures::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Poll;
use tokio_util::sync::CancellationToken;

/// Bytes of messages one connection may have waiting before it is disconnected.
pub const MAILBOX_BYTES: usize = 32 * 1024 * 1024;

/// What each queued message costs besides its bytes (the queue slot and the handles).
const PER_MESSAGE_BYTES: usize = 96;

/// One message for one connection, as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A pub/sub message.
    Message {
        /// How it reached the subscriber: `message`, `pmessage` or `smessage`.
        kind: &'static str,
        /// The pattern it matched (`pmessage` only).
        pattern: Option<Bytes>,
        /// The channel.
        channel: Bytes,
        /// The message.
        message: Bytes,
    },
    /// CLIENT TRACKING: a key read or watched by prefix changed (`None`: every key, a flush).
    Invalidate(Option<Bytes>),
    /// CLIENT TRACKING: the connection invalidations were redirected to (this id) is gone.
    RedirectBroken(u64),
}

impl Delivery {
    fn cost(&self) -> usize {
        PER_MESSAGE_BYTES
            + match self {
                Delivery::Message { pattern, channel, message, .. } => {
                    channel.len() + message.len() + pattern.as_ref().map_or(0, Bytes::len)
                }
                Delivery::Invalidate(key) => key.as_ref().map_or(0, Bytes::len),
                Delivery::RedirectBroken(_) => 0,
            }
    }
}

/// A subscriber's messages, filled by publishers and drained by its connection.
#[derive(Debug)]
pub struct Mailbox {
    state: Mutex<State>,
    /// Set by every put, cleared by the connection when it wakes: what `ready` waits for.
    put_since: AtomicBool,
    /// The connection's task, woken by a put. Registering costs a few atomic operations, not a
    /// lock: every connection waits on its mailbox each time it waits for input.
    waker: AtomicWaker,
    limit: usize,
    /// Cancelled when it overflows: the connection closes.
    overflow: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Delivery>,
    bytes: usize,
    overflowed: bool,
}

/// The subscriber fell further behind than its mailbox holds; it is to be disconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflowed;

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox::new(MAILBOX_BYTES, CancellationToken::new())
    }
}

impl Mailbox {
    /// A mailbox holding at most `limit` bytes of messages, which cancels `overflow` when a
    /// message does not fit.
    pub fn new(limit: usize, overflow: CancellationToken) -> Self {
        Mailbox {
            state: Mutex::default(),
            put_since: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            limit,
            overflow,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `delivery`; false if the subscriber is past its limit (now or before), when nothing
    /// more is kept for it.
    pub fn put(&self, delivery: Delivery) -> bool {
        let mut state = self.state();
        if state.overflowed {
            return false;
        }
        let cost = delivery.cost();
        let fits = state.bytes + cost <= self.limit;
        if fits {
            state.bytes += cost;
            state.queue.push_back(delivery);
        } else {
            state.overflowed = true;
            state.queue = VecDeque::new();
            state.bytes = 0;
            self.overflow.cancel();
        }
        drop(state);
        // Either way the connection has something to do: send, or close.
        self.put_since.store(true, Ordering::Release);
        self.waker.wake();
        fits
    }

    /// Moves every waiting message to `into`, oldest first.
    pub fn take(&self, into: &mut Vec<Delivery>) -> Result<(), Overflowed> {
        let mut state = self.state();
        if state.overflowed {
            return Err(Overflowed);
        }
        into.extend(state.queue.drain(..));
        state.bytes = 0;
        Ok(())
    }

    /// Resolves once something was put since the last call (one waiter: the connection).
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if self.put_since.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // A put between the check and the registration would have woken nobody.
            match self.put_since.swap(false, Ordering::AcqRel) {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(message: &'static [u8]) -> Delivery {
        Delivery::Message {
            kind: "message",
            pattern: None,
            channel: Bytes::from_static(b"c"),
            message: Bytes::from_static(message),
        }
    }

    #[test]
    fn messages_come_out_in_the_order_they_went_in() {
        let mailbox = Mailbox::default();
        assert!(mailbox.put(delivery(b"1")));
        assert!(mailbox.put(delivery(b"2")));
        let mut out = Vec::new();
        mailbox.take(&mut out).unwrap();
        assert_eq!(out, vec![delivery(b"1"), delivery(b"2")]);
        out.clear();
        mailbox.take(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_subscriber_past_its_limit_is_dropped_not_buffered_for() {
        let overflow = CancellationToken::new();
        let mailbox = Mailbox::new(1000, overflow.clone());
        let mut sent = 0;
        while mailbox.put(delivery(&[0; 100])) {
            sent += 1;
            assert!(sent < 100, "the mailbox never filled");
        }
        assert_eq!(mailbox.take(&mut Vec::new()), Err(Overflowed));
        assert!(overflow.is_cancelled(), "its connection is told to close");
        assert_eq!(mailbox.state().queue.len(), 0, "its messages are let go at once");
        assert!(!mailbox.put(delivery(b"late")));
    }
}
