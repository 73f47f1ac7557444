//! SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH, SPUBLISH and PUBSUB, across
//! the cluster (see [`crate::pubsub`]).
//!
//! PUBLISH answers how many subscribers of this node took the message, as PUBLISH on a Redis
//! Cluster node does: the peers deliver it after the reply, and waiting for their counts would
//! make every publish as slow as the slowest peer. PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS
//! and SHARDNUMSUB report this node's subscribers alike.

use super::Call;
use crate::pubsub::{Delivery, Hub, Kind, Subscriber};
use bytes::{Bytes, BytesMut};
use kvs_proto::resp::{Protocol, Reply};
use kvs_proto::Publication;
use kvs_store::glob::MAX_PATTERN_BYTES;
use std::collections::HashSet;

/// Channels, patterns and shard channels one connection may hold at once: what it subscribes to
/// is memory it makes the node keep.
pub const MAX_SUBSCRIPTIONS: usize = 100_000;

/// What a connection subscribes to, by kind (its messages wait in its mailbox,
/// `ClientState::mailbox`).
#[derive(Debug, Default)]
pub struct Subscriptions {
    names: [HashSet<Bytes, kvs_store::map::MapHasher>; 3],
}

impl Subscriptions {
    fn names(&self, kind: Kind) -> &HashSet<Bytes, kvs_store::map::MapHasher> {
        &self.names[kind as usize]
    }

    fn total(&self) -> usize {
        self.names.iter().map(HashSet::len).sum()
    }

    /// What a (un)subscribe reply counts: channels and patterns together, shard channels apart
    /// (as Redis 7 counts them).
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.names(Kind::Shard).len(),
            _ => self.names(Kind::Channel).len() + self.names(Kind::Pattern).len(),
        }
    }

    /// Whether the connection listens to anything (in RESP2 it may then run only the
    /// subscribe family, PING, QUIT and RESET).
    pub fn any(&self) -> bool {
        self.total() > 0
    }

    /// How many of each kind it holds, as CLIENT LIST shows them.
    fn counts(&self) -> [usize; 3] {
        Kind::ALL.map(|kind| self.names(kind).len())
    }

    /// Leaves every subscription: on RESET, and when the connection closes.
    pub fn leave_all(&mut self, hub: &Hub, client: u64) {
        for kind in Kind::ALL {
            for name in self.names[kind as usize].drain() {
                hub.unsubscribe(kind, &name, client);
            }
        }
    }
}

/// The confirmation of one (un)subscription: `[kind, name, count]`, a push in RESP3.
fn confirm(reply: &mut Reply<'_>, what: &str, name: Option<&[u8]>, count: usize) {
    reply.push(3);
    reply.bulk(what.as_bytes());
    reply.optional_bulk(name);
    reply.integer(count as i64);
}

/// What a subscribe of `kind` confirms with, and its unsubscribe.
fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

fn subscribe_to(call: &mut Call<'_, '_>, kind: Kind) {
    let names: Vec<Bytes> = call.args.iter().skip(1).map(Bytes::copy_from_slice).collect();
    let limit = match kind {
        Kind::Pattern => MAX_PATTERN_BYTES,
        _ => call.shell.config.limits.max_key_bytes,
    };
    if let Some(long) = names.iter().find(|name| name.len() > limit) {
        return call.reply.error(&format!("ERR {} longer than {limit} bytes", name_of(kind, long.len())));
    }
    let client = call.client.id;
    let mailbox = call.client.mailbox.clone();
    let subscriptions = call.client.pubsub.get_or_insert_with(Default::default);
    let fresh = names.iter().collect::<HashSet<_>>().len();
    if subscriptions.total() + fresh > MAX_SUBSCRIPTIONS {
        return call.reply.error(&format!("ERR a connection holds at most {MAX_SUBSCRIPTIONS} subscriptions"));
    }
    for name in names {
        if subscriptions.names[kind as usize].insert(name.clone()) {
            let subscriber = Subscriber { client, mailbox: mailbox.clone() };
            call.shell.pubsub.subscribe(kind, name.clone(), subscriber);
        }
        confirm(call.reply, words(kind).0, Some(&name), subscriptions.count(kind));
    }
    let counts = subscriptions.counts();
    call.clients.update(client, |c| c.subscriptions = counts);
}

fn name_of(kind: Kind, len: usize) -> String {
    match kind {
        Kind::Pattern => format!("pattern of {len} bytes is"),
        _ => format!("channel name of {len} bytes is"),
    }
}

fn unsubscribe_from(call: &mut Call<'_, '_>, kind: Kind) {
    let client = call.client.id;
    let subscriptions = call.client.pubsub.get_or_insert_with(Default::default);
    let word = words(kind).1;
    let names: Vec<Bytes> = match call.args.len() {
        1 => subscriptions.names[kind as usize].iter().cloned().collect(),
        _ => call.args.iter().skip(1).map(Bytes::copy_from_slice).collect(),
    };
    if names.is_empty() {
        return confirm(call.reply, word, None, subscriptions.count(kind));
    }
    for name in names {
        if subscriptions.names[kind as usize].remove(&name) {
            call.shell.pubsub.unsubscribe(kind, &name, client);
        }
        confirm(call.reply, word, Some(&name), subscriptions.count(kind));
    }
    let counts = subscriptions.counts();
    call.clients.update(client, |c| c.subscriptions = counts);
}

/// `SUBSCRIBE channel [channel ...]`
pub fn subscribe(call: &mut Call<'_, '_>) {
    subscribe_to(call, Kind::Channel)
}

/// `PSUBSCRIBE pattern [pattern ...]`
pub fn psubscribe(call: &mut Call<'_, '_>) {
    subscribe_to(call, Kind::Pattern)
}

/// `SSUBSCRIBE shardchannel [shardchannel ...]`
pub fn ssubscribe(call: &mut Call<'_, '_>) {
    subscribe_to(call, Kind::Shard)
}

/// `UNSUBSCRIBE [channel ...]`
pub fn unsubscribe(call: &mut Call<'_, '_>) {
    unsubscribe_from(call, Kind::Channel)
}

/// `PUNSUBSCRIBE [pattern ...]`
pub fn punsubscribe(call: &mut Call<'_, '_>) {
    unsubscribe_from(call, Kind::Pattern)
}

/// `SUNSUBSCRIBE [shardchannel ...]`
pub fn sunsubscribe(call: &mut Call<'_, '_>) {
    unsubscribe_from(call, Kind::Shard)
}

fn publish_to(call: &mut Call<'_, '_>, shard: bool) {
    let publication = Publication {
        channel: Bytes::copy_from_slice(call.args.get(1)),
        message: Bytes::copy_from_slice(call.args.get(2)),
        shard,
    };
    if !call.shell.core.publication_fits(&publication) {
        let limits = call.shell.config.limits;
        let message = format!(
            "ERR a channel name is at most {} bytes and a message at most {}",
            limits.max_key_bytes, limits.max_value_bytes
        );
        return call.reply.error(&message);
    }
    let delivered = call.shell.publish(publication);
    call.reply.integer(delivered as i64);
}

/// `PUBLISH channel message`
pub fn publish(call: &mut Call<'_, '_>) {
    publish_to(call, false)
}

/// `SPUBLISH shardchannel message`
pub fn spublish(call: &mut Call<'_, '_>) {
    publish_to(call, true)
}

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | SHARDCHANNELS [pattern] |
/// SHARDNUMSUB [shardchannel ...] | HELP`
pub fn pubsub(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    let shell = call.shell;
    let hub = &shell.pubsub;
    let names = |call: &mut Call<'_, '_>, kind: Kind| {
        if call.args.len() > 3 {
            return super::help::unknown_subcommand(call, "PUBSUB");
        }
        let pattern = (call.args.len() == 3).then(|| call.args.get(2));
        let found = hub.names(kind, pattern);
        call.reply.array(found.len());
        for name in found {
            call.reply.bulk(&name);
        }
    };
    let counts = |call: &mut Call<'_, '_>, kind: Kind| {
        let asked: Vec<Vec<u8>> = call.args.iter().skip(2).map(<[u8]>::to_vec).collect();
        call.reply.map(asked.len());
        for name in asked {
            call.reply.bulk(&name);
            call.reply.integer(hub.subscribers(kind, &name) as i64);
        }
    };
    match sub.as_slice() {
        b"CHANNELS" => names(call, Kind::Channel),
        b"SHARDCHANNELS" => names(call, Kind::Shard),
        b"NUMSUB" => counts(call, Kind::Channel),
        b"SHARDNUMSUB" => counts(call, Kind::Shard),
        b"NUMPAT" if call.args.len() == 2 => call.reply.integer(hub.distinct(Kind::Pattern) as i64),
        b"HELP" if call.args.len() == 2 => super::help::reply(call, "PUBSUB", HELP),
        _ => super::help::unknown_subcommand(call, "PUBSUB"),
    }
}

const HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

/// Writes `deliveries` in the connection's protocol. A RESP2 connection gets invalidations as
/// messages of `__redis__:invalidate` only while it is subscribed (as Redis: otherwise it could
/// not tell them from replies); tracking's notices are pushes in RESP3.
pub fn write_deliveries(out: &mut BytesMut, protocol: Protocol, subscribed: bool, deliveries: &[Delivery]) {
    let mut reply = Reply::new(out, protocol);
    for delivery in deliveries {
        match delivery {
            Delivery::Message { kind, pattern, channel, message } => {
                reply.push(if pattern.is_some() { 4 } else { 3 });
                reply.bulk(kind.as_bytes());
                if let Some(pattern) = pattern {
                    reply.bulk(pattern);
                }
                reply.bulk(channel);
                reply.bulk(message);
            }
            Delivery::Invalidate(key) => {
                match protocol {
                    Protocol::Resp3 => {
                        reply.push(2);
                        reply.bulk(b"invalidate");
                    }
                    Protocol::Resp2 if subscribed => {
                        reply.push(3);
                        reply.bulk(b"message");
                        reply.bulk(b"__redis__:invalidate");
                    }
                    Protocol::Resp2 => continue,
                }
                match key {
                    Some(key) => {
                        reply.array(1);
                        reply.bulk(key);
                    }
                    None => reply.null_array(),
                }
            }
            Delivery::RedirectBroken(id) if protocol == Protocol::Resp3 => {
                reply.push(2);
                reply.bulk(b"tracking-redir-broken");
                reply.integer(*id as i64);
            }
            Delivery::RedirectBroken(_) => {}
        }
    }
}

/// Commands a RESP2 connection with subscriptions may run (RESP3 runs any).
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}
