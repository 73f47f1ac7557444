//! The core's membership inputs and outputs: records from hellos, welcomes and leaves, gossip
//! views, pings; and the changes they make, turned into effects.

use super::membership::{Change, Membership};
use super::{lock, Core, Effect, Now, Outgoing};
use crate::stats::bump;
use kvs_proto::{MemberInfo, MemberState, NodeId};

impl Core {
    /// A peer's welcome: itself and every member it knows, which tells us the cluster.
    pub(crate) fn welcomed(&self, welcome: (MemberInfo, Vec<MemberInfo>), now: Now) -> Vec<Effect> {
        let (them, members) = welcome;
        let from = them.id;
        let effects = self.merge_members(std::iter::once(them).chain(members), from, now);
        self.informed();
        effects
    }

    /// Membership records `from` sent (its own, or relayed): gossip, a hello, a welcome.
    pub(crate) fn merge_members(
        &self,
        infos: impl IntoIterator<Item = MemberInfo>,
        from: NodeId,
        now: Now,
    ) -> Vec<Effect> {
        let changes: Vec<Change> = {
            let mut members = lock(&self.members);
            let merged = infos.into_iter().flat_map(|info| members.merge(info, from, now.at, now.at, now.wall_ms));
            let changes = merged.collect();
            warn_if_refused(&mut members, from);
            changes
        };
        self.act_on(changes)
    }

    /// A gossip view from `from`: merged, and answered if it asks.
    pub(super) fn gossip_received(&self, from: NodeId, view: kvs_proto::View, answer: bool, now: Now) -> Vec<Effect> {
        let received = {
            let mut members = lock(&self.members);
            let received = lock(&self.gossip).receive(&mut members, from, view, answer, now.at, now.wall_ms);
            warn_if_refused(&mut members, from);
            received
        };
        if received.malformed {
            tracing::warn!(peer = %from, "refusing a gossip view that points past its roster");
            bump(&self.stats.peer_messages_refused, 1);
        } else {
            self.informed();
        }
        let mut effects = self.act_on(received.changes);
        if let Some(view) = received.answer {
            effects.push(Effect::Send { to: from, message: Outgoing::Gossip { view, answer: false } });
        }
        effects
    }

    /// What the node does about membership changes: start or stop peer tasks, forget departed
    /// members' clocks and rosters.
    fn act_on(&self, changes: Vec<Change>) -> Vec<Effect> {
        let mut effects = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                Change::Joined(info) => effects.push(Effect::StartPeer(info)),
                Change::Departed(id) => {
                    self.forget(id);
                    effects.push(Effect::StopPeer(id));
                }
            }
        }
        effects
    }

    pub(super) fn forget(&self, peer: NodeId) {
        self.clock.forget(peer);
        lock(&self.gossip).forget(peer);
        lock(&self.claims).forget(peer);
        lock(&self.versions).forget(peer);
        lock(&self.acks).forget(peer);
        lock(&self.client_ports).forget(peer);
        self.forget_holding(peer);
        self.forget_forwards_of(peer);
    }

    /// The message that opens a gossip round with `peer`: our view, asking for its news.
    pub(crate) fn gossip_for(&self, peer: NodeId, now: Now) -> Outgoing {
        let members = lock(&self.members);
        let view = lock(&self.gossip).opening(peer, &members, now.at);
        Outgoing::Gossip { view, answer: true }
    }

    /// The ping for `peer`'s connection: our heartbeat firsthand, and a clock sample.
    pub(crate) fn ping_for(&self, peer: NodeId, now: Now) -> Outgoing {
        let me = self.me();
        Outgoing::Ping { generation: me.generation, heartbeat: me.heartbeat, clock: self.clock.sample_for(peer, now) }
    }
}

/// Logs members turning suspect, dead or alive again (a member that left says so itself, and
/// that is logged when it does).
pub(super) fn log_state_changes(changes: Vec<(MemberInfo, MemberState, MemberState)>) {
    for (member, from, to) in changes {
        let (id, addr) = (member.id, member.addr);
        match to {
            MemberState::Suspect => {
                tracing::warn!(member = %id, %addr, %from, "member is suspect: not heard from for --suspect-after-ms")
            }
            MemberState::Dead => {
                tracing::warn!(member = %id, %addr, %from, "member is dead: not heard from for --dead-after-ms (redialed with backoff, forgotten after --reap-after-ms)")
            }
            MemberState::Alive => tracing::info!(member = %id, %addr, %from, "member is alive again"),
            MemberState::Left => {}
        }
    }
}

/// Logs new members refused because the member table is full.
fn warn_if_refused(members: &mut Membership, from: NodeId) {
    let refused = members.take_refused();
    if refused > 0 {
        tracing::warn!(%from, refused, "member table full (--max-members): ignored new members");
    }
}
