//! Messages nodes send each other on peer connections.

use crate::layout::{Layout, LayoutVersion};
use crate::model::{Entry, NodeId};
use crate::slot_set::{SlotRuns, SlotWords};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// What a node tells others about one member (possibly itself); merged by newest `(generation, heartbeat, left)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's identity.
    pub id: NodeId,
    /// Where it serves clients and peers.
    pub addr: SocketAddr,
    /// Start time of this incarnation; a restart supersedes everything said about earlier ones.
    pub generation: u64,
    /// Bumped by the member on every gossip tick; a rising heartbeat is what "heard from" means.
    pub heartbeat: u64,
    /// The member announced a clean shutdown.
    pub left: bool,
}

impl MemberInfo {
    /// The freshness order used when two records of one member disagree.
    pub fn freshness(&self) -> (u64, u64, bool) {
        (self.generation, self.heartbeat, self.left)
    }
}

/// The wall clocks a ping carries, from which the receiver estimates the sender's clock
/// offset the way NTP does: `echo` returns the sender's last sample from the receiver, so the
/// receiver has all four timestamps of one round trip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSample {
    /// The sender's wall clock when it sent this message, in ms since the Unix epoch.
    pub sent_ms: u64,
    /// The last sample the sender received from the receiver: `(receiver's sent_ms, sender's
    /// wall clock when it arrived)`.
    pub echo: Option<(u64, u64)>,
}

/// One member's liveness in a [`View::Pulses`], at its position in the roster both sides hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pulse {
    /// The member's position in the roster (members sorted by id).
    pub index: u32,
    /// The freshest heartbeat the sender knows of it.
    pub heartbeat: u64,
    /// How long ago, in ms, the sender last heard of it (see [`View`]).
    pub age_ms: u32,
}

/// What a gossip message says about the members the sender counts as alive or suspect (its
/// roster, itself included, sorted by id).
///
/// Every member's age travels with it: how long ago the sender last heard of the member, firsthand
/// or relayed. The receiver dates its own "last heard" from it, so a member's silence is timed
/// from when anyone last heard it, however many relays the news took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum View {
    /// Full records and their ages in ms: for a receiver whose roster may differ from ours.
    Records(Vec<(MemberInfo, u32)>),
    /// Heartbeats only, by position in a roster both sides hold (identified by its hash): a few
    /// bytes per member, for the steady state where everyone knows the same members.
    Pulses {
        /// The hash of the roster the positions refer to.
        roster: u64,
        /// The members whose news is worth sending.
        pulses: Vec<Pulse>,
    },
}

/// One key with its entry, as shipped in batches.
pub type KeyedEntry = (Bytes, Entry);

/// For each origin node, the highest sequence number up to which every one of its writes has been
/// applied (or superseded) here: a version vector over per-origin write sequences.
pub type Cursors = Vec<(NodeId, u64)>;

/// One pub/sub message, as a node forwards what its clients published to its peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The channel it was published to.
    pub channel: Bytes,
    /// The message.
    pub message: Bytes,
    /// SPUBLISH: for shard channels (SSUBSCRIBE), which patterns never match.
    pub shard: bool,
}

/// A message on a peer connection; each flows one way, from the connection's dialer to the acceptor.
///
/// Generic over the entry type so a sender can ship its own entry representation, as long as it
/// serializes like [`KeyedEntry`], which is what receivers decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage<E = KeyedEntry> {
    /// Membership news for one peer a gossip round picked: the sender's view, and whether the
    /// receiver should answer with its own news the sender lacks (push-pull, as chitchat does).
    Gossip {
        /// What the sender knows.
        view: View,
        /// Answer with what is fresher on the receiver's side.
        answer: bool,
    },
    /// Sent on every peer connection a few times per dead-after period: it keeps a healthy idle
    /// connection from being closed as silent, carries the sender's own heartbeat firsthand, and
    /// the clocks for the receiver's estimate of the offset between them.
    Ping {
        /// The sender's generation.
        generation: u64,
        /// The sender's current heartbeat.
        heartbeat: u64,
        /// The sender's wall clock.
        clock: ClockSample,
    },
    /// The sender's own writes, pushed as they happen, in sequence order.
    Entries {
        /// Keys and their entries; the receiver keeps whichever version is larger.
        entries: Vec<E>,
    },
    /// The sender's own writes of one transaction (MULTI/EXEC), in sequence order, to apply as
    /// one unit: no reader of the receiver sees some of them without the others.
    Unit {
        /// Keys and their entries, merged like pushed entries.
        entries: Vec<E>,
    },
    /// Anti-entropy, step 1: "send me what you hold beyond these cursors". Its size depends on the
    /// number of origins, never on the number of keys.
    AntiEntropyRequest {
        /// Names this request; every frame of the answer carries it, so an answer is only ever
        /// taken for the request it answers (not a stale one from an earlier run of the node).
        request: u64,
        /// The requester's cursors.
        cursors: Cursors,
        /// The requester holds nothing the responder has seen (new, or just cleared for a resync),
        /// so it cannot resurrect a purged delete and needs no resync check.
        fresh: bool,
    },
    /// Anti-entropy, step 2 (zero or more frames): entries the requester lacks.
    AntiEntropyEntries {
        /// The request answered.
        request: u64,
        /// Entries newer than the requester's cursors.
        entries: Vec<E>,
    },
    /// Anti-entropy, step 3: the delta is complete; the requester may advance to these cursors.
    AntiEntropyDone {
        /// The request answered.
        request: u64,
        /// The responder's cursors, read before its entries were gathered.
        cursors: Cursors,
    },
    /// Anti-entropy, instead of steps 2-3: the requester is behind deletes that were already
    /// purged here, so merging would resurrect them; it must drop what we have seen and start over.
    ResyncRequired {
        /// The request answered.
        request: u64,
        /// The responder's cursors: what the requester may drop because it will receive it again.
        cursors: Cursors,
    },
    /// The sender is leaving cleanly.
    Leave {
        /// The sender's final record, with `left` set.
        member: MemberInfo,
    },
    /// Protocol 8: "tell me once you have applied my writes up to `want`" (a WAIT on the sender).
    /// Sent after the pushes it covers, on the same connection.
    AppliedAsk {
        /// The sequence number (of the sender's current origin) the asker waits for.
        want: u64,
    },
    /// Protocol 8: the sender has applied every write of the receiver's current origin up to
    /// `upto`; the answer to an [`PeerMessage::AppliedAsk`].
    Applied {
        /// The sender's cursor for the receiver's origin.
        upto: u64,
    },
    /// Protocol 9: "tell me once your log has my writes up to `want` on disk" (a WAITAOF on the
    /// sender). A node without a log never answers.
    SyncedAsk {
        /// The sequence number (of the sender's current origin) the asker waits for.
        want: u64,
    },
    /// Protocol 9: the sender's log has every write of the receiver's current origin up to
    /// `upto` on disk; the answer to a [`PeerMessage::SyncedAsk`].
    Synced {
        /// The sender's cursor for the receiver's origin when its log was synced.
        upto: u64,
    },
    /// Protocol 9: messages the sender's clients published, in the order it took them; the
    /// receiver delivers them to its own subscribers and forwards them nowhere (every member
    /// hears every publisher directly). Nothing stores them: a peer not connected misses them.
    Published {
        /// The messages, oldest first.
        messages: Vec<Publication>,
    },
    /// Protocol 9: the version of the layout the sender holds, sent beside its gossip once a
    /// layout was applied; a receiver holding an older one asks for it.
    LayoutOffer {
        /// The sender's layout's version.
        version: LayoutVersion,
    },
    /// Protocol 9: "send me the layout you offered", after an offer newer than ours.
    LayoutWanted {
        /// The version offered.
        version: LayoutVersion,
    },
    /// Protocol 9: the sender's layout, the answer to a [`PeerMessage::LayoutWanted`]; taken
    /// only from a member we asked, and only if it is the version it offered.
    Layout {
        /// The layout.
        layout: Layout,
    },
    /// Protocol 9: where the sender serves clients besides its peer address, sent first on every
    /// connection it dials: what Redis Cluster clients are pointed at for its slots.
    Serves {
        /// Its Redis port, on its peer address's host (`None`: it has none).
        redis_port: Option<u16>,
    },
    /// Protocol 9: "send me every record you hold in these slots", from a node that gained them
    /// under a new layout; answered like an anti-entropy request, with
    /// [`PeerMessage::AntiEntropyEntries`] frames and then [`PeerMessage::SlotFetchDone`].
    SlotFetch {
        /// Names this request, as an anti-entropy request's id does.
        request: u64,
        /// The slots wanted.
        slots: SlotRuns,
    },
    /// Protocol 9: a fetch's answer is complete; also what ends an anti-entropy answer from a
    /// member that does not hold every slot whole, whose cursors are true only of those it does.
    SlotFetchDone {
        /// The request answered.
        request: u64,
        /// The responder's cursors, read before its entries were gathered.
        cursors: Cursors,
        /// The slots the responder holds whole: it owns them and is not fetching them itself,
        /// so its cursors are true of them ([`crate::slot_set::SlotSet::to_words`]).
        whole: SlotWords,
        /// Slots the responder held whole and lost to a layout, with its cursors when it lost
        /// them: true of those slots, whose records it keeps until their owners hold them.
        left: Vec<(SlotWords, Cursors)>,
    },
    /// Protocol 9: what the sender holds under the layout it names, sent beside its gossip once a
    /// layout exists: a node that no longer owns a slot drops its records of it once every owner
    /// says it holds them (the slot is not among its `fetching`, and its cursors cover them).
    Holding {
        /// The layout the sender holds.
        version: LayoutVersion,
        /// The slots it owns and has yet to fetch.
        fetching: SlotWords,
        /// The slots it no longer owns and still holds whole, serving them until their owners
        /// hold them: where a member still fetching one sends its clients meanwhile.
        kept: SlotWords,
        /// Its cursors.
        cursors: Cursors,
    },
    /// Protocol 9: the sender's own writes, pushed as they happen, in sequence order, but for
    /// those of slots the receiver does not hold (as its last [`PeerMessage::Holding`] said),
    /// which are named by sequence number and slot: the receiver counts each as it counts a
    /// pushed write of that slot, whose record it would not keep unless it holds the slot now.
    EntriesSkipping {
        /// The writes of slots it holds, merged like pushed entries.
        entries: Vec<E>,
        /// The skipped writes, `(sequence number, slot)`, in ascending order.
        skipped: Vec<(u64, u16)>,
    },
    /// Protocol 9: a Redis command a client of the sender sent for a slot the sender does not
    /// hold, for the receiver (an owner) to run and answer with [`PeerMessage::Forwarded`].
    Forward {
        /// Names the request; the answer carries it.
        id: u64,
        /// The command and the client state it runs with.
        command: ForwardedCommand,
    },
    /// Protocol 9: the answer to a [`PeerMessage::Forward`]: the command's reply, as the client
    /// reads it; taken only from the member the request went to.
    Forwarded {
        /// The request answered.
        id: u64,
        /// The reply's RESP bytes, in the client's protocol.
        reply: Bytes,
    },
    /// Protocol 9: the sender's own writes of slots whose owner is down and for which the
    /// receiver stands in (docs/partitioning.md, "Owners that are down"), sent beside the push
    /// that skipped them: the receiver keeps them as hints for the owner, and merges nothing.
    HintsToKeep {
        /// The writes, in sequence order.
        entries: Vec<E>,
    },
    /// Protocol 9: writes of the receiver's slots that the sender kept for it while it was down,
    /// as its stand-in (docs/partitioning.md, "Owners that are down"); merged like anti-entropy entries, which
    /// move no cursor, and answered with [`PeerMessage::HintsTaken`] once logged.
    Hints {
        /// Names the batch; the answer carries it.
        id: u64,
        /// The writes, of any origin.
        entries: Vec<E>,
    },
    /// Protocol 9: the batch of hints `id` is merged (and on disk where the receiver logs): the
    /// sender of the hints may drop them.
    HintsTaken {
        /// The batch taken.
        id: u64,
    },
}

/// A Redis command run on another member for a client of the sender (see
/// [`PeerMessage::Forward`]): what the owner needs to run it as the client's own node would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedCommand {
    /// The user the client logged in as; the owner checks its rights again.
    pub user: String,
    /// The database the client selected.
    pub db: u8,
    /// The client speaks RESP3 (`HELLO 3`), so the reply is written in it.
    pub resp3: bool,
    /// The owner serves it even from a slot it is still fetching (it sent the client `-ASK`).
    pub asking: bool,
    /// The command, as a RESP array of bulk strings.
    pub command: Bytes,
}

impl<E> PeerMessage<E> {
    /// The protocol version that introduced this message: it is never sent on a connection of an
    /// older version, and a peer that sends it there is refused.
    pub fn protocol(&self) -> u32 {
        match self {
            PeerMessage::AppliedAsk { .. } | PeerMessage::Applied { .. } => 8,
            PeerMessage::Published { .. }
            | PeerMessage::SyncedAsk { .. }
            | PeerMessage::Synced { .. }
            | PeerMessage::LayoutOffer { .. }
            | PeerMessage::LayoutWanted { .. }
            | PeerMessage::Layout { .. }
            | PeerMessage::Serves { .. }
            | PeerMessage::SlotFetch { .. }
            | PeerMessage::SlotFetchDone { .. }
            | PeerMessage::Holding { .. }
            | PeerMessage::EntriesSkipping { .. }
            | PeerMessage::Forward { .. }
            | PeerMessage::Forwarded { .. }
            | PeerMessage::HintsToKeep { .. }
            | PeerMessage::Hints { .. }
            | PeerMessage::HintsTaken { .. } => 9,
            _ => 7,
        }
    }
}
