//! Who on this node listens to what: channels, patterns and shard channels, each name with the
//! mailboxes of its subscribers.

use super::mailbox::{Delivery, Mailbox};
use bytes::Bytes;
use kvs_proto::Publication;
use kvs_store::glob;
use kvs_store::map::Map;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// What a subscription names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE: one channel.
    Channel,
    /// PSUBSCRIBE: every channel a glob pattern matches.
    Pattern,
    /// SSUBSCRIBE: one shard channel (SPUBLISH's namespace).
    Shard,
}

impl Kind {
    /// The three kinds, in the order the hub's tables hold them.
    pub const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];

    fn table(self) -> usize {
        self as usize
    }
}

/// One subscribed connection, as the hub reaches it.
#[derive(Clone, Debug)]
pub struct Subscriber {
    /// The connection's id (CLIENT ID).
    pub client: u64,
    /// Where its messages go.
    pub mailbox: Arc<Mailbox>,
}

/// The node's subscriptions, shared by every Redis connection and the peers' deliveries.
#[derive(Debug, Default)]
pub struct Hub {
    /// Per kind, each subscribed name and its subscribers.
    tables: [RwLock<Map<Bytes, Vec<Subscriber>>>; 3],
    /// Subscriptions of every kind, so a PUBLISH with no subscriber anywhere costs one load.
    total: AtomicUsize,
}

impl Hub {
    fn read(&self, kind: Kind) -> std::sync::RwLockReadGuard<'_, Map<Bytes, Vec<Subscriber>>> {
        self.tables[kind.table()].read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, kind: Kind) -> std::sync::RwLockWriteGuard<'_, Map<Bytes, Vec<Subscriber>>> {
        self.tables[kind.table()].write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `subscriber` to `name`'s subscribers (the caller checks it was not there yet).
    pub fn subscribe(&self, kind: Kind, name: Bytes, subscriber: Subscriber) {
        self.write(kind).entry(name).or_default().push(subscriber);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes client `client` off `name`'s subscribers.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], client: u64) {
        let mut table = self.write(kind);
        let Some(subscribers) = table.get_mut(name) else { return };
        let before = subscribers.len();
        subscribers.retain(|s| s.client != client);
        let removed = before - subscribers.len();
        if subscribers.is_empty() {
            table.remove(name);
        }
        self.total.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Hands `publication` to every subscriber here it reaches; how many took it (a connection
    /// reached by a channel and by a pattern counts twice, as in Redis).
    pub fn deliver(&self, publication: &Publication) -> usize {
        if self.total.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let Publication { channel, message, shard } = publication;
        let (kind, exact) = match shard {
            true => ("smessage", Kind::Shard),
            false => ("message", Kind::Channel),
        };
        let mut delivered = 0;
        let delivery = |pattern: Option<&Bytes>| Delivery::Message {
            kind: if pattern.is_some() { "pmessage" } else { kind },
            pattern: pattern.cloned(),
            channel: channel.clone(),
            message: message.clone(),
        };
        for subscriber in self.read(exact).get(channel).into_iter().flatten() {
            delivered += usize::from(subscriber.mailbox.put(delivery(None)));
        }
        if !shard {
            for (pattern, subscribers) in self.read(Kind::Pattern).iter() {
                if glob::matches(pattern, channel) {
                    for subscriber in subscribers {
                        delivered += usize::from(subscriber.mailbox.put(delivery(Some(pattern))));
                    }
                }
            }
        }
        delivered
    }

    /// The names of `kind` with a subscriber here that match `pattern` (all without one):
    /// PUBSUB CHANNELS and SHARDCHANNELS.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let table = self.read(kind);
        table.keys().filter(|name| pattern.is_none_or(|p| glob::matches(p, name))).cloned().collect()
    }

    /// How many connections here subscribe to `name` (PUBSUB NUMSUB and SHARDNUMSUB).
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        self.read(kind).get(name).map_or(0, Vec::len)
    }

    /// How many distinct names of `kind` have a subscriber here (PUBSUB NUMPAT for patterns).
    pub fn distinct(&self, kind: Kind) -> usize {
        self.read(kind).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber(client: u64) -> Subscriber {
        Subscriber { client, mailbox: Arc::default() }
    }

    fn publication(channel: &'static [u8], shard: bool) -> Publication {
        Publication { channel: Bytes::from_static(channel), message: Bytes::from_static(b"hi"), shard }
    }

    fn taken(subscriber: &Subscriber) -> Vec<Delivery> {
        let mut out = Vec::new();
        subscriber.mailbox.take(&mut out).unwrap();
        out
    }

    #[test]
    fn channels_patterns_and_shard_channels_reach_their_own_subscribers() {
        let hub = Hub::default();
        let (a, b, c) = (subscriber(1), subscriber(2), subscriber(3));
        hub.subscribe(Kind::Channel, Bytes::from_static(b"news.art"), a.clone());
        hub.subscribe(Kind::Pattern, Bytes::from_static(b"news.*"), a.clone());
        hub.subscribe(Kind::Pattern, Bytes::from_static(b"sport.*"), b.clone());
        hub.subscribe(Kind::Shard, Bytes::from_static(b"news.art"), c.clone());

        // The channel and the pattern both reach a: two deliveries, counted twice.
        assert_eq!(hub.deliver(&publication(b"news.art", false)), 2);
        let got = taken(&a);
        let kinds: Vec<_> = got
            .iter()
            .map(|d| match d {
                Delivery::Message { kind, .. } => *kind,
                _ => "",
            })
            .collect();
        assert_eq!(kinds, ["message", "pmessage"]);
        assert!(matches!(&got[1], Delivery::Message { pattern: Some(p), .. } if p == "news.*"));
        assert!(taken(&b).is_empty() && taken(&c).is_empty());

        // A shard channel is its own namespace, and patterns never match it.
        assert_eq!(hub.deliver(&publication(b"news.art", true)), 1);
        assert!(matches!(taken(&c)[0], Delivery::Message { kind: "smessage", .. }));
        assert!(taken(&a).is_empty());

        assert_eq!(hub.distinct(Kind::Pattern), 2);
        assert_eq!(hub.subscribers(Kind::Channel, b"news.art"), 1);
        assert_eq!(hub.names(Kind::Channel, Some(b"news.*")), vec![Bytes::from_static(b"news.art")]);

        hub.unsubscribe(Kind::Channel, b"news.art", 1);
        hub.unsubscribe(Kind::Pattern, b"news.*", 1);
        assert_eq!(hub.deliver(&publication(b"news.art", false)), 0);
        assert!(hub.names(Kind::Channel, None).is_empty(), "a name without subscribers is gone");
    }
}
