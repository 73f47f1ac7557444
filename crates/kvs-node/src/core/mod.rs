//! The replication core: every rule of replication, and no I/O.
//!
//! It holds no socket, spawns no task and reads no clock. The shell feeds it inputs — a client
//! write, a message from peer X, a tick — each carrying the time as [`Now`], and carries out the
//! [`Effect`]s it returns: records to log, messages to send to whom, peer tasks to start or stop.
//! That is what lets the simulator drive the same code under simulated time and network.
//!
//! - [`membership`]: the member table's merge rules and liveness states.
//! - [`gossip`]: whom to gossip with each interval, and the views exchanged.
//! - `membership_io`: the core's membership inputs and outputs (records, gossip, pings).
//! - [`anti_entropy_rounds`]: whom anti-entropy asks, and when a request is given up.
//! - [`clock_offsets`]: peers' clock offsets from ping round trips.
//! - [`cluster_version`]: the newest protocol every member speaks, which opens feature gates.
//! - [`layouts`]: the layout of slot owners: an operator's apply, and how members pass it on.
//! - [`client_ports`]: where each member serves Redis clients, for routing them by the layout.
//! - `write_acks`: both sides of WAIT (which peers applied our writes, which wait on ours).
//! - [`clock_verdict`]: whether our clock is the wrong one, judged against the skew bound.
//! - [`cursor_claims`]: how far peers' claimed cursors may move ours.
//! - [`effect`]: what the core asks the shell to do.
//! - `local_writes`: a client's write as an input, carried out within one turn.
//!
//! The data itself — store, hybrid clock, cursors, origin index, and the anti-entropy deltas —
//! lives behind [`kvs_store::Replica`], whose invariants (merge, then advance the cursor) hold
//! inside it. Std mutexes only, held for a table update and never across an await.

mod answer_ends;
pub(crate) mod anti_entropy_rounds;
pub(crate) mod client_ports;
pub(crate) mod clock_offsets;
pub(crate) mod clock_verdict;
pub(crate) mod cluster_version;
pub(crate) mod cursor_claims;
mod cursor_coverage;
pub(crate) mod effect;
pub(crate) mod forwards_asked;
pub(crate) mod gossip;
mod holdings;
pub(crate) mod lag_meter;
pub(crate) mod layouts;
mod local_writes;
pub(crate) mod membership;
mod membership_io;
mod publications;
mod stand_ins;
mod write_acks;

use crate::config::NodeConfig;
use crate::error::WriteRefused;
use crate::stats::{bump, ReplicationCounters};
use anti_entropy_rounds::Rounds;
use clock_verdict::ClockVerdict;
use cluster_version::ClusterVersion;
use cursor_claims::CursorClaims;
pub(crate) use effect::{Effect, Outgoing, Pushed};
use gossip::Gossip;
pub(crate) use holdings::skipped_pushes::{PushFrame, Wanted};
use kvs_proto::peer::Cursors;
use kvs_proto::{MemberInfo, MemberState, NodeId, PeerMessage};
use kvs_store::record::Body;
use kvs_store::{Record, Replica, Store};
pub(crate) use local_writes::Turn;
use membership::{Membership, Rules};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;
use tokio::time::Instant;
pub(crate) use write_acks::Held;
use write_acks::WriteAcks;

/// How far past our wall clock a member's generation may be and still be believed: a day, far
/// beyond any clock error a cluster lives with (a node minutes off must still be seen, so its
/// peers can tell it so), far below the `u64::MAX` an attacker would send.
const MAX_GENERATION_AHEAD_MS: u64 = 86_400_000;

/// The time an input happens at: a monotonic instant for timeouts and liveness, and the node's
/// wall clock (ms since the Unix epoch) for versions and clock offsets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now {
    /// Monotonic time.
    pub(crate) at: Instant,
    /// The node's wall clock.
    pub(crate) wall_ms: u64,
}

/// The peer at the other end of an inbound connection, as its hello named it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    /// Its node id.
    pub(crate) id: NodeId,
    /// The origin its writes are made under in this run.
    pub(crate) origin: NodeId,
}

/// Locks a std mutex, carrying on after a panic elsewhere: the tables stay structurally valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The replication core of one node.
#[derive(Debug)]
pub(crate) struct Core {
    /// This node's id.
    node: NodeId,
    /// The data and every change to it.
    replica: Replica,
    /// Who is in the cluster.
    members: Mutex<Membership>,
    /// Whom we gossip with next and what their rosters look like (locked after `members`).
    gossip: Mutex<Gossip>,
    /// The requester side of anti-entropy.
    rounds: Mutex<Rounds>,
    /// What peers' complete answers claimed (locked after `rounds`).
    claims: Mutex<CursorClaims>,
    /// Whether our clock is off from our peers'.
    clock: ClockVerdict,
    /// Largest anti-entropy batch, in bytes.
    max_batch_bytes: usize,
    /// Bounds on keys and values, for peers' entries as for client writes.
    limits: kvs_proto::Limits,
    /// The most members a cluster may have, hence the most contributions a counter may carry.
    max_members: usize,
    /// How long a tombstone is kept before it may be purged.
    tombstone_grace: Duration,
    /// How long an eviction's tombstone is kept (at most `tombstone_grace`).
    eviction_grace: Duration,
    /// How far a peer's clock may be from ours, in ms.
    max_clock_skew_ms: u64,
    /// Replication counters (the shell adds the byte counts it sees on the wire).
    stats: ReplicationCounters,
    /// The node keeps a log (`--data-dir`): our writes are to be logged. A memory-only node's
    /// core asks for no log write, so the record is not copied for nothing.
    durable: bool,
    /// Each peer's origin in its current run, as its hello named it (for naming cursors).
    origins: Mutex<std::collections::HashMap<NodeId, NodeId>>,
    /// The cluster version and what each member speaks.
    versions: Mutex<ClusterVersion>,
    /// WAIT's acknowledgements, both ways.
    acks: Mutex<WriteAcks>,
    /// The same for WAITAOF: which peers have our writes on disk, which wait on our log.
    synced: Mutex<WriteAcks>,
    /// The commands forwarded for our Redis clients that await an owner's answer.
    forwards: Mutex<forwards_asked::ForwardsAsked>,
    /// The layout of slot owners, and the layouts asked of members.
    layouts: Mutex<layouts::Layouts>,
    /// Where members serve Redis clients.
    client_ports: Mutex<client_ports::ClientPorts>,
    /// Whether that layout partitions the key space.
    partitioned: std::sync::atomic::AtomicBool,
    /// The slots being fetched and the records left to drop after a layout change, and what
    /// peers hold.
    holdings: Mutex<holdings::Holdings>,
    /// Whether any slot is being fetched: read by every keyed command, so kept beside the lock.
    fetching_any: std::sync::atomic::AtomicBool,
    /// Who stands in for owners that are down (see [`stand_ins`]); locked after nothing else.
    stand_ins: Mutex<stand_ins::StandIns>,
    /// Whether this node stands in for some slot: read by every push received, so kept beside
    /// the lock.
    standing_in: std::sync::atomic::AtomicBool,
    /// Moves when what a peer wants pushed may have changed (see [`holdings::skipped_pushes`]).
    wanted_changes: std::sync::atomic::AtomicU64,
    /// What pub/sub sent, received and dropped between nodes.
    pub(crate) pubsub_stats: crate::pubsub::PubSubStats,
    /// How long pushed writes took to arrive, for the history (see [`lag_meter`]).
    pub(crate) replication_lag: lag_meter::LagMeter,
    /// Isolates transactions: a transaction (local EXEC, or a peer's unit) holds it for writing
    /// while it runs, every other client command that writes or reads several keys holds it for
    /// reading, so none sees or interleaves with half a transaction.
    pub(crate) isolation: RwLock<()>,
}

/// What a data dir recorded: the cluster version, the layout, and the slots yet to fetch.
pub(crate) type Recorded = (Option<u32>, Option<kvs_proto::layout::Layout>, Option<kvs_proto::slot_set::SlotSet>);

impl Core {
    /// The core of a node whose own record is `me`, over `replica` (which holds what the log
    /// replayed), in a cluster its data dir says had reached `cluster_version`, under the layout
    /// it recorded, with the slots it recorded as yet to fetch.
    pub(crate) fn new(
        config: &NodeConfig,
        me: MemberInfo,
        replica: Replica,
        (cluster_version, layout, fetching): Recorded,
    ) -> Self {
        let origin = replica.origin();
        // A new cluster's first node: nobody else could count it as a member.
        let first_node = config.bootstrap.is_none() && replica.cursors().is_empty();
        let layouts = layouts::Layouts::new(layout);
        let recorded = layouts.owners();
        let core = Core {
            node: me.id,
            replica,
            members: Mutex::new(Membership::new(
                me,
                Rules {
                    suspect_after: config.suspect_after,
                    dead_after: config.dead_after,
                    reap_after: config.reap_after,
                    max_members: config.max_members,
                    max_future_ms: MAX_GENERATION_AHEAD_MS,
                },
            )),
            gossip: Mutex::new(Gossip::new(origin.0)),
            rounds: Mutex::new(Rounds::new(origin.0)),
            claims: Mutex::default(),
            clock: ClockVerdict::new(config.max_clock_skew_ms, config.dead_after),
            max_batch_bytes: config.max_batch_bytes,
            limits: config.limits,
            max_members: config.max_members,
            tombstone_grace: config.tombstone_grace,
            eviction_grace: config.eviction_grace,
            max_clock_skew_ms: config.max_clock_skew_ms,
            stats: ReplicationCounters::default(),
            durable: config.data_dir.is_some(),
            origins: Mutex::default(),
            versions: Mutex::new(ClusterVersion::new(cluster_version, first_node, config.dead_after * 2)),
            acks: Mutex::default(),
            synced: Mutex::default(),
            forwards: Mutex::default(),
            partitioned: std::sync::atomic::AtomicBool::new(layouts.partitioned()),
            holdings: Mutex::default(),
            fetching_any: Default::default(),
            wanted_changes: Default::default(),
            stand_ins: Mutex::default(),
            standing_in: Default::default(),
            layouts: Mutex::new(layouts),
            client_ports: Mutex::default(),
            pubsub_stats: Default::default(),
            replication_lag: Default::default(),
            isolation: RwLock::new(()),
        };
        if let Some(owners) = recorded {
            // The effect would record what was read: nothing to carry out.
            let _ = core.hold(Some(&owners), Some(fetching));
        }
        core
    }

    // ---- Inputs -------------------------------------------------------------------------------

    fn refuse_if_skewed(&self) -> Result<(), WriteRefused> {
        match self.clock.problem() {
            Some(problem) => Err(WriteRefused::ClockSkew(problem)),
            None => Ok(()),
        }
    }

    /// A message from `peer`. The shell has already made room in the log for its entries.
    ///
    /// Nothing is believed just because it arrived. Pushed entries must be the sender's own
    /// writes (of the origin its hello named), since a node pushes only what it wrote; entries of
    /// anti-entropy answers may be of any origin, but only the peer we asked may answer; every
    /// entry must fit the same key and value bounds as a client write. Membership records are
    /// weighed by who sent them (see `membership`).
    pub(crate) fn receive(&self, peer: Peer, message: PeerMessage<Record>, now: Now) -> Vec<Effect> {
        let from = peer.id;
        let answers = match &message {
            PeerMessage::AntiEntropyEntries { request, .. }
            | PeerMessage::AntiEntropyDone { request, .. }
            | PeerMessage::SlotFetchDone { request, .. }
            | PeerMessage::ResyncRequired { request, .. } => Some(*request),
            _ => None,
        };
        if answers.is_some_and(|request| !lock(&self.rounds).is_asking(from, request)) {
            tracing::warn!(peer = %from, "refusing an anti-entropy answer to no request of ours outstanding");
            bump(&self.stats.peer_messages_refused, 1);
            return Vec::new();
        }
        let mut effects = match message {
            PeerMessage::Gossip { view, answer } => self.gossip_received(from, view, answer, now),
            PeerMessage::Ping { generation, heartbeat, clock } => {
                self.clock.received(from, clock, now, self.alive_peers(now));
                lock(&self.members).pulse(from, generation, heartbeat, now.at);
                Vec::new()
            }
            PeerMessage::Entries { entries } => {
                bump(&self.stats.push_entries_received, entries.len());
                let entries = self.admit(entries, Some(peer));
                let mut effects = self.hints_among(&entries);
                effects.extend(self.apply(entries, true, now));
                effects
            }
            PeerMessage::EntriesSkipping { entries, skipped } => {
                tracing::trace!(peer = %from, entries = entries.len(), skipped = skipped.len(), "a push skipping writes");
                bump(&self.stats.push_entries_received, entries.len());
                let entries = self.admit(entries, Some(peer));
                let mut effects = self.hints_among(&entries);
                effects.extend(self.apply_skipping(entries, peer.origin, &skipped, now));
                effects
            }
            PeerMessage::Unit { entries } => {
                bump(&self.stats.push_entries_received, entries.len());
                let before = entries.len();
                let entries = self.admit(entries, Some(peer));
                if entries.len() < before {
                    // A unit is applied whole or not at all; anti-entropy brings what is sound.
                    return Vec::new();
                }
                let mut effects = self.hints_among(&entries);
                let _whole = self.isolation.write().unwrap_or_else(|p| p.into_inner());
                effects.extend(self.apply(entries, true, now));
                effects
            }
            PeerMessage::AntiEntropyRequest { request, cursors, fresh } => {
                tracing::trace!(me = %self.me().id, peer = %from, ?cursors, fresh, "anti-entropy request");
                vec![Effect::AnswerAntiEntropy { to: from, request, cursors, fresh, slots: None }]
            }
            PeerMessage::SlotFetch { request, slots } => {
                let slots = Some(kvs_proto::slot_set::SlotSet::from_runs(&slots));
                vec![Effect::AnswerAntiEntropy { to: from, request, cursors: Cursors::new(), fresh: true, slots }]
            }
            PeerMessage::SlotFetchDone { request, cursors, whole, left } => {
                self.partial_done_received(peer, request, cursors, (whole, left), now)
            }
            PeerMessage::Holding { version, fetching, kept, cursors } => {
                self.holding_received(from, version, (&fetching, &kept), cursors)
            }
            PeerMessage::AntiEntropyEntries { entries, .. } => {
                tracing::trace!(me = %self.me().id, peer = %from, keys = ?entries.iter().map(|r| (String::from_utf8_lossy(r.key()).into_owned(), r.origin(), r.seq())).collect::<Vec<_>>(), "anti-entropy entries");
                lock(&self.rounds).progressed(from, now.at);
                let entries = self.admit(entries, None);
                let effects = self.apply(entries, false, now);
                if let Some(Effect::Log(records)) = effects.first() {
                    bump(&self.stats.anti_entropy_entries_applied, records.len());
                }
                effects
            }
            PeerMessage::AntiEntropyDone { request, cursors } => self.done_received(peer, request, cursors, now),
            PeerMessage::ResyncRequired { cursors, .. } => self.resync(from, &cursors, now),
            PeerMessage::Leave { member } => {
                tracing::info!(peer = %member.id, "member left");
                self.merge_members([member], from, now)
            }
            PeerMessage::AppliedAsk { want } => self.held_asked(Held::Applied, peer, want),
            PeerMessage::Applied { upto } => self.held_received(Held::Applied, peer, upto),
            PeerMessage::SyncedAsk { want } => self.held_asked(Held::Synced, peer, want),
            PeerMessage::Synced { upto } => self.held_received(Held::Synced, peer, upto),
            PeerMessage::Published { messages } => self.published_received(from, messages),
            PeerMessage::LayoutOffer { version } => self.layout_offered(from, version),
            PeerMessage::LayoutWanted { .. } => self.layout_wanted(from),
            PeerMessage::Layout { layout } => self.layout_received(from, layout),
            PeerMessage::Serves { redis_port } => self.serves_received(from, redis_port),
            PeerMessage::Forward { id, command } => self.forward_received(peer, id, command),
            PeerMessage::Forwarded { id, reply } => self.forward_answered(from, id, reply),
            PeerMessage::HintsToKeep { entries } => self.hints_among(&self.admit(entries, Some(peer))),
            PeerMessage::Hints { id, entries } => self.hints_received(from, id, entries, now),
            PeerMessage::HintsTaken { id } => vec![Effect::HintsTaken { from, id }],
        };
        // Entries just applied may be what a waiting peer asked for.
        effects.extend(self.acks_due());
        effects
    }

    /// The heartbeat tick: bump our heartbeat, re-judge our clock (estimates age out when a
    /// peer goes quiet, and our verdict must follow), forget members long gone, and open a
    /// gossip round with the next peer.
    pub(crate) fn heartbeat(&self, now: Now) -> Vec<Effect> {
        let (reaped, peer) = {
            let mut members = lock(&self.members);
            members.beat();
            membership_io::log_state_changes(members.state_changes(now.at));
            let reaped = members.reap(now.at);
            let me = members.me().id;
            let candidates: Vec<NodeId> =
                members.roster(now.at).into_iter().map(|(info, _)| info.id).filter(|&id| id != me).collect();
            (reaped, lock(&self.gossip).next_peer(&candidates))
        };
        self.clock.judge(now, self.alive_peers(now));
        self.refresh_stand_ins(now.at);
        let mut effects: Vec<Effect> = reaped
            .into_iter()
            .map(|id| {
                tracing::info!(member = %id, "forgetting a member gone for the reap period");
                self.forget(id);
                Effect::StopPeer(id)
            })
            .collect();
        if let Some(peer) = peer {
            effects.push(Effect::Send { to: peer, message: self.gossip_for(peer, now) });
            effects.extend(self.layout_offer().map(|message| Effect::Send { to: peer, message }));
            // A durable node's word on what it holds waits for its log: a node dropping what it
            // handed over on that word must not lose it to a crash here.
            effects.extend(self.holding_message().map(|message| match self.durable {
                true => Effect::SyncThenSend { to: peer, message },
                false => Effect::Send { to: peer, message },
            }));
        }
        effects.extend(self.judge_version(now));
        effects
    }

    /// The anti-entropy tick: ask the next alive peer we are `connected` to (the number of our
    /// current connection to it) for what we lack, unless a request is still outstanding.
    pub(crate) fn anti_entropy_round(&self, now: Now, connected: impl Fn(NodeId) -> Option<u64>) -> Vec<Effect> {
        let alive = lock(&self.members).alive_peers(now.at);
        let candidates: Vec<_> = alive.into_iter().filter_map(|peer| Some((peer, connected(peer)?))).collect();
        let mut rounds = lock(&self.rounds);
        let round = rounds.start(now.at, &candidates);
        if let Some(peer) = round.gave_up {
            tracing::debug!(%peer, "anti-entropy request stalled; asking another peer");
            bump(&self.stats.anti_entropy_stalls, 1);
        }
        let Some((peer, fresh)) = round.ask else { return Vec::new() };
        let request = rounds.asked(peer, now.at);
        vec![self.request(peer, fresh, request)]
    }

    /// The request made to `peer` could not be handed to its connection: the next round asks again.
    pub(crate) fn request_undelivered(&self, peer: NodeId) {
        lock(&self.rounds).undelivered(peer);
    }

    /// The purge tick: drops tombstones older than the grace period; returns how many.
    pub(crate) fn purge_tombstones(&self, now: Now) -> usize {
        let horizon = now.wall_ms.saturating_sub(self.tombstone_grace.as_millis() as u64);
        let eviction_horizon = now.wall_ms.saturating_sub(self.eviction_grace.as_millis() as u64);
        let purged = self.replica.store().purge_tombstones(horizon, eviction_horizon);
        bump(&self.stats.tombstones_purged, purged);
        purged
    }

    /// The expiry tick: reclaims every key whose deadline has passed; returns how many.
    pub(crate) fn expire(&self, now: Now, reclaimed: impl FnMut(&Record)) -> usize {
        let expired = self.replica.store().expire_due_each(now.wall_ms, reclaimed);
        bump(&self.stats.keys_expired, expired);
        expired
    }

    /// This node leaves the cluster: its record, marked left, for the shell to send every peer.
    pub(crate) fn leave(&self) -> MemberInfo {
        lock(&self.members).announce_leave()
    }

    // ---- Outputs asked for by the shell's timers and peer tasks -----------------------------------

    // ---- Queries ----------------------------------------------------------------------------------

    /// The data, for reads.
    pub(crate) fn store(&self) -> &Store {
        self.replica.store()
    }

    /// This node's own membership record.
    pub(crate) fn me(&self) -> MemberInfo {
        lock(&self.members).me().clone()
    }

    /// A peer's hello was accepted: remember which node writes under its origin. One entry per
    /// node (its latest run), at most as many as the member table holds.
    pub(crate) fn greeted(&self, peer: Peer) {
        let mut origins = lock(&self.origins);
        origins.insert(peer.id, peer.origin);
        if origins.len() > self.max_members {
            let members = lock(&self.members);
            origins.retain(|node, _| members.knows(*node));
        }
    }

    /// The node each known origin belongs to: ours, and each greeted peer's current one. An
    /// origin of an earlier run (replayed from the log) has no name here.
    pub(crate) fn origin_nodes(&self) -> Vec<(NodeId, NodeId)> {
        let origins = lock(&self.origins);
        let peers = origins.iter().map(|(&node, &origin)| (origin, node));
        std::iter::once((self.origin(), self.me().id)).chain(peers).collect()
    }

    /// The origin this run's writes are made under.
    pub(crate) fn origin(&self) -> NodeId {
        self.replica.origin()
    }

    /// The sequence number this node's next local write takes. A caller holding the isolation
    /// lock for writing, and then writing at least `n` records, may use the `n` numbers from it
    /// as tags no later write of this origin takes again (list positions, see
    /// `kvs_store::collection::position`).
    pub(crate) fn next_seq(&self) -> u64 {
        self.replica.cursor(self.origin()) + 1
    }

    /// How this node introduces itself when it dials a peer at `dialed`, with its half of the
    /// challenge.
    pub(crate) fn peer_role(&self, nonce: kvs_proto::Nonce, dialed: std::net::SocketAddr) -> kvs_proto::Role {
        kvs_proto::Role::Peer { member: self.me(), origin: self.replica.origin(), nonce, dialed }
    }

    /// The membership records we pass on (ours, and those of members alive or suspect).
    pub(crate) fn member_infos(&self, now: Now) -> Vec<MemberInfo> {
        lock(&self.members).live_infos(now.at)
    }

    /// Runs `f` on the member table (for status).
    pub(crate) fn with_members<R>(&self, f: impl FnOnce(&Membership) -> R) -> R {
        f(&lock(&self.members))
    }

    /// Whether `peer` is dead to us now (what its socket buffers hold would arrive stale).
    pub(crate) fn is_dead(&self, peer: NodeId, now: Now) -> bool {
        lock(&self.members).state_of(peer, now.at) == Some(MemberState::Dead)
    }

    /// How far we have applied each origin's writes.
    pub(crate) fn cursors(&self) -> Cursors {
        self.replica.cursors()
    }

    /// The verdict on our clock.
    pub(crate) fn clock(&self) -> &ClockVerdict {
        &self.clock
    }

    /// Replication counters.
    pub(crate) fn stats(&self) -> &ReplicationCounters {
        &self.stats
    }

    // ---- Internals --------------------------------------------------------------------------------

    fn alive_peers(&self, now: Now) -> usize {
        lock(&self.members).alive_peers(now.at).len()
    }

    /// An anti-entropy request for `peer`. `fresh`: we hold nothing it has seen (an empty store
    /// always qualifies), so it may skip its resync check.
    fn request(&self, peer: NodeId, fresh: bool, request: u64) -> Effect {
        let fresh = fresh || self.store().is_empty();
        let regular = Outgoing::AntiEntropyRequest { request, cursors: self.replica.cursors(), fresh };
        Effect::Send { to: peer, message: self.fetch_or(peer, request, regular) }
    }

    /// The entries that may be applied: within the key and value bounds and, when `pushed_by`
    /// names the sender, of its origin. Refusals are counted and logged once per message.
    fn admit(&self, mut entries: Vec<Record>, pushed_by: Option<Peer>) -> Vec<Record> {
        let before = entries.len();
        let limits = self.limits;
        entries.retain(|record| {
            let body_fits = match record.body() {
                // A counter has one contribution per node that ever incremented it, and every
                // increment copies them: more than the cluster can have members is a forgery.
                Body::Counter(counter) => counter.contributions().count() <= self.max_members,
                // Likewise one stamp per node that wrote it; registers are bounded by their form.
                Body::Hll(hll) => hll.stamps().count() <= self.max_members,
                Body::Value(value) => value.len() <= limits.max_value_bytes,
                Body::Tombstone | Body::Flush => true,
                // One add and one remove per node at most, each value within the bound.
                Body::Element => record.element_state().is_some_and(|state| {
                    state.stamps().count() <= 2 * self.max_members
                        && state.adds().all(|add| add.value.len() <= limits.max_value_bytes)
                }),
                Body::Collection => record
                    .header()
                    .is_some_and(|h| h.stamps.len() <= self.max_members && h.cleared.len() <= self.max_members),
            };
            // An element's key holds its collection's key and the element, each within the bound.
            let key_fits = match kvs_store::collection::split_element_key(record.key()) {
                Some((_, collection, element)) => {
                    collection.len() <= limits.max_key_bytes + 3 && element.len() <= limits.max_key_bytes
                }
                None => record.key().len() <= limits.max_key_bytes,
            };
            let fits = body_fits && key_fits;
            fits && pushed_by.is_none_or(|peer| record.origin() == peer.origin)
        });
        let refused = before - entries.len();
        if refused > 0 {
            tracing::warn!(refused, ?pushed_by, "refusing peer entries over the bounds or not of the sender's origin");
            bump(&self.stats.peer_messages_refused, refused);
        }
        entries
    }

    /// Merges entries from a peer (`pushed`: by their origin, in its sequence order); the newer
    /// ones are to be logged.
    fn apply(&self, entries: Vec<Record>, pushed: bool, now: Now) -> Vec<Effect> {
        self.note_lag(&entries, pushed, now);
        let applied = self.replica.apply(entries, pushed, self.clock.peers_wall_ms(now));
        self.merged(applied, pushed)
    }

    /// A push is its origin's writes in order: the first waited longest.
    fn note_lag(&self, entries: &[Record], pushed: bool, now: Now) {
        if let Some(oldest) = entries.first().filter(|_| pushed) {
            self.replication_lag.note(oldest.version().wall_ms, now.wall_ms);
        }
    }

    /// The effects of merging remote entries: the newer ones to log.
    fn merged(&self, applied: kvs_store::replica::Applied, pushed: bool) -> Vec<Effect> {
        if let Some((count, error)) = applied.refused {
            tracing::error!(%error, count, "refusing entries from the future");
            if !pushed {
                // The answer is incomplete: its cursors would cover what we refused.
                lock(&self.rounds).incomplete();
            }
        }
        if applied.records.is_empty() {
            return Vec::new();
        }
        vec![Effect::Log(applied.records)]
    }

    /// The peer purged deletes we may still hold: drop what it has seen that such a delete could
    /// have superseded (written before its grace period, by the fastest clock the skew bound
    /// allows it), reset cursors, and ask it again at once.
    fn resync(&self, from: NodeId, cursors: &Cursors, now: Now) -> Vec<Effect> {
        // The shortest grace: a purged eviction may have superseded a write that recent.
        let grace = self.tombstone_grace.min(self.eviction_grace);
        let horizon = (now.wall_ms + self.max_clock_skew_ms).saturating_sub(grace.as_millis() as u64);
        // Under a layout that partitions the keys, only what the peer holds whole comes back.
        let dropped = self.replica.drop_seen_by(cursors, horizon, self.held_whole_by(from).as_ref());
        lock(&self.holdings).coverage.clear();
        bump(&self.stats.full_resyncs, 1);
        tracing::warn!(peer = %from, dropped, "behind purged deletes: resynchronizing from scratch");
        let mut rounds = lock(&self.rounds);
        rounds.resync();
        let request = rounds.asked(from, now.at);
        // The log still holds what was dropped: compacting it keeps a restart from bringing it back.
        vec![Effect::CompactLog, self.request(from, true, request)]
    }
}

#[cfg(test)]
mod tests;
