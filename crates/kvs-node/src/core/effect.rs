//! What the core asks the shell to do.

use kvs_proto::peer::Cursors;
use kvs_proto::{MemberInfo, NodeId, PeerMessage, Publication};
use kvs_store::Record;
use std::sync::Arc;

/// A message the core sends to a peer: its entries are our records, shipped without copying.
pub(crate) type Outgoing = PeerMessage<Record>;

/// What a push carries to every peer: a write, or the writes of one transaction as one unit.
#[derive(Clone, Debug)]
pub(crate) enum Pushed {
    /// One write.
    One(Record),
    /// A transaction's writes, in sequence order.
    Unit(Arc<Vec<Record>>),
}

/// One thing for the shell to carry out, in the order given.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Log these remote records, which were newer than what we held.
    Log(Vec<Record>),
    /// Log our own write; under `--fsync always` the client's acknowledgement waits for the disk.
    LogWrite(Record),
    /// Send our writes to every peer, after they are logged.
    Push(Pushed),
    /// Log cursors adopted from a peer after its complete anti-entropy delta.
    LogCursors(Cursors),
    /// Compact the log now: it may hold records the core just dropped.
    CompactLog,
    /// Start replicating to this member (a task that dials it), unless already replicating.
    StartPeer(MemberInfo),
    /// Stop replicating to this member: it left or was replaced.
    StopPeer(NodeId),
    /// Send this message to `to`. An anti-entropy request that cannot be handed over is reported
    /// back with `Core::request_undelivered`.
    Send {
        /// The peer.
        to: NodeId,
        /// The message.
        message: Outgoing,
    },
    /// The cluster version rose to this: record it in the data dir, and open what it gates.
    ClusterVersionRose(u32),
    /// The slots this node has yet to fetch changed to these: record them in the data dir,
    /// before the layout that made them (a restart then fetches at least what is left).
    FetchingChanged(kvs_proto::slot_set::SlotSet),
    /// This node adopted a newer layout: record it in the data dir.
    LayoutAdopted(kvs_proto::layout::Layout),
    /// A peer acknowledged more of our writes: wake the WAITs.
    Acknowledged,
    /// Once the log has synced what it holds now, send `to` this message, which speaks of what
    /// this node holds (WAITAOF's `Synced`, what it holds of each slot); nothing on a node
    /// without a log.
    SyncThenSend {
        /// The peer.
        to: NodeId,
        /// The message, true once the log is synced.
        message: Outgoing,
    },
    /// Hand these pub/sub messages to this node's subscribers.
    Deliver(Vec<Publication>),
    /// Send this pub/sub message, published here, to every peer (at most once).
    FanOut(Publication),
    /// Stream `to` the answer to its anti-entropy request (`Core::anti_entropy_answer`).
    AnswerAntiEntropy {
        /// The peer that asked.
        to: NodeId,
        /// The request answered.
        request: u64,
        /// Its cursors.
        cursors: Cursors,
        /// It holds nothing we have seen.
        fresh: bool,
        /// A fetch of these slots whole (every record in them, whatever the cursors).
        slots: Option<kvs_proto::slot_set::SlotSet>,
    },
    /// Run this Redis command a member forwarded for its client, and answer it.
    RunForwarded {
        /// The member that forwarded it.
        from: NodeId,
        /// Its request id, for the answer.
        id: u64,
        /// The command.
        command: kvs_proto::peer::ForwardedCommand,
    },
    /// Keep these writes as hints for `owner`, which is down, until it is back to take them.
    KeepHints {
        /// The owner they are for.
        owner: NodeId,
        /// The writes, as pushed to us.
        records: Vec<Record>,
    },
    /// `from` took the batch of hints `id` we handed it: they may be dropped.
    HintsTaken {
        /// The owner that took them.
        from: NodeId,
        /// The batch.
        id: u64,
    },
    /// Send `to` this message once the log has synced what it holds now (at once on a node
    /// without a log): it says that what we merged is kept.
    SendOnceLogged {
        /// The peer.
        to: NodeId,
        /// The message.
        message: Outgoing,
    },
    /// The owner answered the forward `id` we sent: hand the reply to the waiting client.
    ForwardAnswered {
        /// The request answered.
        id: u64,
        /// The reply's RESP bytes.
        reply: bytes::Bytes,
    },
}
