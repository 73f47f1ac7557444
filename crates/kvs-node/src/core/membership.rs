//! The member table: who is in the cluster and how recently each was heard from.
//!
//! Pure logic, no I/O. Records merge by freshness `(generation, heartbeat, left)`: a member's
//! heartbeat only rises while it runs, a restart starts a higher generation, and leaving bumps the
//! heartbeat with `left` set. "Last heard" is when the member's freshest heartbeat was heard by
//! anyone: news relayed through gossip carries its age, so a member's silence is timed from the
//! same moment everywhere however many relays the news took, and a frozen member's heartbeat
//! stalls everywhere and every node suspects it.
//!
//! What a record is believed for depends on who sent it. A member speaks for itself: its own
//! record may start a new generation, say it left, or replace an older incarnation at its
//! address. A record relayed by someone else may only introduce a member we do not know, or carry
//! a newer heartbeat of the generation we know: a third party cannot make us drop a member, and a
//! restarted member tells everyone itself (it dials every member it learns of). No record is
//! believed with a generation far beyond our wall clock (generations are taken from the wall
//! clock), and the table is bounded: past `--max-members` new members are refused, unless the
//! newcomer speaks for itself and some member was only ever named by relays (the longest silent
//! of those gives way: relayed names cost nothing to forge, a member that connects does), and
//! members dead or gone for `--reap-after-ms` are forgotten.

use kvs_proto::{MemberInfo, MemberState, NodeId};
use kvs_store::map::Map;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// One other member as this node knows it.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its freshest record.
    pub info: MemberInfo,
    /// When that record last got fresher.
    pub last_heard: Instant,
    /// Its state when last reported (see [`Membership::state_changes`]).
    reported: MemberState,
    /// It has spoken for itself (on a connection of its own, after proving the secret where there
    /// is one), not only been named by relays: such a member is never pushed out by a newcomer.
    firsthand: bool,
}

/// A membership event the node acts on (start or stop a peer task).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A member to replicate to appeared (new, restarted, or back after leaving).
    Joined(MemberInfo),
    /// A member left cleanly or was replaced by a newer incarnation at its address.
    Departed(NodeId),
}

/// How the member table judges time and how large it may grow.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Silence after which a member is suspect.
    pub suspect_after: Duration,
    /// Silence after which a member is dead.
    pub dead_after: Duration,
    /// Dead or departed members are forgotten after this much silence.
    pub reap_after: Duration,
    /// Most members, this node included.
    pub max_members: usize,
    /// How far past our wall clock a generation may be and still be believed.
    pub max_future_ms: u64,
}

/// This node's record plus every other member's.
#[derive(Debug)]
pub struct Membership {
    me: MemberInfo,
    others: Map<NodeId, Member>,
    /// Who lives at each address: one node per address.
    by_addr: Map<SocketAddr, NodeId>,
    rules: Rules,
    /// New members refused because the table was full, since last taken.
    refused: usize,
}

impl Membership {
    /// A table holding only this node.
    pub fn new(me: MemberInfo, rules: Rules) -> Self {
        Membership { me, others: Map::default(), by_addr: Map::default(), rules, refused: 0 }
    }

    /// This node's own record.
    pub fn me(&self) -> &MemberInfo {
        &self.me
    }

    /// A record of ours, or of an earlier incarnation at our address, that would beat our own
    /// (its generation is not below ours: our wall clock has stepped back since that incarnation
    /// started) is outbid, as SWIM refutes a rumour: our generation moves past it, so our record
    /// wins everywhere instead of being ignored as stale news of the old one.
    fn refute(&mut self, info: &MemberInfo) {
        let beats_us = if info.id == self.me.id {
            info.freshness() > self.me.freshness()
        } else {
            info.generation >= self.me.generation
        };
        if beats_us {
            self.me.generation = info.generation.saturating_add(1);
        }
    }

    /// Bumps this node's heartbeat; called once per gossip interval.
    pub fn beat(&mut self) {
        self.me.heartbeat += 1;
    }

    /// Marks this node as leaving and returns the record to announce.
    pub fn announce_leave(&mut self) -> MemberInfo {
        self.me.heartbeat += 1;
        self.me.left = true;
        self.me.clone()
    }

    /// Whether `id` is in the table (in any state).
    pub fn knows(&self, id: NodeId) -> bool {
        self.others.contains_key(&id)
    }

    /// Every other member still in the table, whatever its state, as `(id, generation)`.
    pub fn known_others(&self) -> Vec<(NodeId, u64)> {
        self.others.values().map(|m| (m.info.id, m.info.generation)).collect()
    }

    /// Every record, this node's first.
    #[cfg(test)]
    pub fn infos(&self) -> Vec<MemberInfo> {
        std::iter::once(self.me.clone()).chain(self.others.values().map(|m| m.info.clone())).collect()
    }

    /// What welcomes carry: the records of the roster (ours, and those of members alive or
    /// suspect now), as gossip does.
    /// Records of the dead and departed are not passed on, so a member nobody hears from any more
    /// dies everywhere and is reaped everywhere, instead of two nodes handing it back and forth.
    pub fn live_infos(&self, now: Instant) -> Vec<MemberInfo> {
        self.roster(now).into_iter().map(|(info, _)| info).collect()
    }

    /// How many new members were refused because the table was full since the last call.
    pub fn take_refused(&mut self) -> usize {
        std::mem::take(&mut self.refused)
    }

    /// How many other members the table holds, whatever their state.
    pub fn peer_count(&self) -> usize {
        self.others.len()
    }

    /// Other members with their state and time since last heard, sorted by address.
    pub fn others(&self, now: Instant) -> Vec<(MemberInfo, MemberState, Duration)> {
        let mut all: Vec<_> = self
            .others
            .values()
            .map(|m| (m.info.clone(), self.state(m, now), now.saturating_duration_since(m.last_heard)))
            .collect();
        all.sort_by_key(|(info, _, _)| info.addr);
        all
    }

    /// Addresses of members that left (a new incarnation may live there later).
    pub fn left_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.others.values().filter(|m| m.info.left).map(|m| m.info.addr).collect()
    }

    /// The ids of other members that are alive now.
    pub fn alive_peers(&self, now: Instant) -> Vec<NodeId> {
        self.others.values().filter(|m| self.state(m, now) == MemberState::Alive).map(|m| m.info.id).collect()
    }

    /// The state of one member by id, if known.
    pub fn state_of(&self, id: NodeId, now: Instant) -> Option<MemberState> {
        self.others.get(&id).map(|m| self.state(m, now))
    }

    fn state(&self, member: &Member, now: Instant) -> MemberState {
        let silent = now.saturating_duration_since(member.last_heard);
        if member.info.left {
            MemberState::Left
        } else if silent >= self.rules.dead_after {
            MemberState::Dead
        } else if silent >= self.rules.suspect_after {
            MemberState::Suspect
        } else {
            MemberState::Alive
        }
    }

    /// Merges one record that `from` sent us (about itself, or relayed), at `now` with our wall
    /// clock at `wall_ms`; `heard` is when the member was last heard of, as the sender dates it
    /// (`now` for a record its member just sent). Returns what the node must act on.
    pub fn merge(&mut self, info: MemberInfo, from: NodeId, now: Instant, heard: Instant, wall_ms: u64) -> Vec<Change> {
        if info.generation > wall_ms.saturating_add(self.rules.max_future_ms) {
            tracing::debug!(%from, member = %info.id, generation = info.generation, "ignoring a member record from the future");
            return Vec::new();
        }
        if info.id == self.me.id || info.addr == self.me.addr {
            self.refute(&info);
            return Vec::new();
        }
        let firsthand = from == info.id;
        let gone = |m: &Member| matches!(self.state(m, now), MemberState::Dead | MemberState::Left);
        // Whether the node now at the record's address is gone (decided before anything changes).
        let addr_gone = self.by_addr.get(&info.addr).map(|id| gone(&self.others[id]));
        if let Some(member) = self.others.get(&info.id) {
            // A member we hold as dead or gone, speaking for itself from another run, is back,
            // even if its clock stepped back since (its generation, from the wall clock, is then
            // lower): nobody passes on records of the dead, so nobody would tell it to outbid them.
            let back = firsthand && gone(member) && info.generation != member.info.generation;
            if info.freshness() <= member.info.freshness() && !back {
                return Vec::new();
            }
        }
        if let Some(member) = self.others.get_mut(&info.id) {
            if !firsthand && (info.generation != member.info.generation || info.left != member.info.left) {
                // Only the member itself may start a new generation or say it left.
                return Vec::new();
            }
            member.firsthand |= firsthand;
            let was_left = member.info.left;
            let back = member.info.generation != info.generation;
            member.info = info.clone();
            member.last_heard = if back { heard } else { member.last_heard.max(heard) };
            return match (was_left, info.left) {
                (false, true) => vec![Change::Departed(info.id)],
                (true, false) => vec![Change::Joined(info)],
                _ => Vec::new(),
            };
        }
        if !firsthand && info.left {
            return Vec::new();
        }
        // One address hosts one node at a time: a record for a new id at a known address is
        // either a newer incarnation (replace the old one) or stale news of an older one (ignore).
        // Only the new incarnation itself may replace the old one.
        let mut changes = Vec::new();
        if let Some(&old_id) = self.by_addr.get(&info.addr) {
            let old = &self.others[&old_id].info;
            // Speaking for itself, a new node at the address replaces one that is gone whatever
            // their generations (see `back` above), and a live one only with a newer generation.
            if !firsthand || (old.generation >= info.generation && addr_gone != Some(true)) {
                return Vec::new();
            }
            let old_left = old.left;
            self.remove(old_id);
            if !old_left {
                changes.push(Change::Departed(old_id));
            }
        }
        if self.others.len() + 1 >= self.rules.max_members {
            let relayed_only = self.others.values().filter(|m| !m.firsthand).min_by_key(|m| m.last_heard);
            match relayed_only.map(|m| m.info.id).filter(|_| firsthand) {
                Some(pushed_out) => {
                    tracing::debug!(member = %info.id, %pushed_out, "member table full: a member named only by relays gives way");
                    self.remove(pushed_out);
                    changes.push(Change::Departed(pushed_out));
                }
                None => {
                    self.refused += 1;
                    return changes;
                }
            }
        }
        if !info.left {
            changes.push(Change::Joined(info.clone()));
        }
        self.by_addr.insert(info.addr, info.id);
        self.others.insert(info.id, Member { info, last_heard: heard, reported: MemberState::Alive, firsthand });
        changes
    }

    /// Takes news of a member's heartbeat (firsthand, or relayed from a roster that matches ours,
    /// so of the generation we know): a heartbeat beyond ours dates "last heard" to `heard` if
    /// that is later. The same heartbeat again is no news, however recent it claims to be (a
    /// message held up in a partition must not revive a member).
    pub fn pulse(&mut self, id: NodeId, generation: u64, heartbeat: u64, heard: Instant) {
        let Some(member) = self.others.get_mut(&id) else { return };
        if member.info.generation != generation || member.info.left || heartbeat <= member.info.heartbeat {
            return;
        }
        member.info.heartbeat = heartbeat;
        member.last_heard = member.last_heard.max(heard);
    }

    /// The members we count as alive or suspect, this node included, sorted by id, each with
    /// how long ago it was last heard of: what gossip tells others.
    pub fn roster(&self, now: Instant) -> Vec<(MemberInfo, Duration)> {
        let live = self
            .others
            .values()
            .filter(|m| matches!(self.state(m, now), MemberState::Alive | MemberState::Suspect))
            .map(|m| (m.info.clone(), now.saturating_duration_since(m.last_heard)));
        let mut roster: Vec<_> = std::iter::once((self.me.clone(), Duration::ZERO)).chain(live).collect();
        roster.sort_unstable_by_key(|(info, _)| info.id);
        roster
    }

    /// Members whose state changed since the last call: each with its state then and now, for
    /// the node to log (suspect, dead, alive again, left).
    pub fn state_changes(&mut self, now: Instant) -> Vec<(MemberInfo, MemberState, MemberState)> {
        let states: Vec<(NodeId, MemberState)> =
            self.others.values().map(|m| (m.info.id, self.state(m, now))).collect();
        let mut changes = Vec::new();
        for (id, state) in states {
            let member = self.others.get_mut(&id).expect("listed just now");
            if member.reported != state {
                changes.push((member.info.clone(), member.reported, state));
                member.reported = state;
            }
        }
        changes
    }

    /// Forgets members dead or departed for the reap period; returns their ids.
    pub fn reap(&mut self, now: Instant) -> Vec<NodeId> {
        let reap_after = self.rules.reap_after;
        let gone: Vec<NodeId> = self
            .others
            .values()
            .filter(|m| now.saturating_duration_since(m.last_heard) >= reap_after)
            .map(|m| m.info.id)
            .collect();
        for &id in &gone {
            self.remove(id);
        }
        gone
    }

    fn remove(&mut self, id: NodeId) {
        if let Some(member) = self.others.remove(&id) {
            self.by_addr.remove(&member.info.addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u64, port: u16, generation: u64, heartbeat: u64, left: bool) -> MemberInfo {
        MemberInfo { id: NodeId(id), addr: ([127, 0, 0, 1], port).into(), generation, heartbeat, left }
    }

    const RULES: Rules = Rules {
        suspect_after: Duration::from_secs(1),
        dead_after: Duration::from_secs(3),
        reap_after: Duration::from_secs(60),
        max_members: 4,
        max_future_ms: 60_000,
    };
    const WALL_MS: u64 = 1_000;

    fn table() -> Membership {
        Membership::new(info(1, 1, 1, 0, false), RULES)
    }

    impl Membership {
        /// Merges a record its member sent itself.
        fn hear(&mut self, info: MemberInfo, now: Instant) -> Vec<Change> {
            let from = info.id;
            self.merge(info, from, now, now, WALL_MS)
        }
    }

    #[test]
    fn learns_a_member_once_and_ignores_itself() {
        let mut t = table();
        let now = Instant::now();
        assert_eq!(t.hear(info(2, 2, 1, 0, false), now), vec![Change::Joined(info(2, 2, 1, 0, false))]);
        assert!(t.hear(info(2, 2, 1, 0, false), now).is_empty());
        assert!(t.hear(info(1, 1, 1, 9, false), now).is_empty());
        assert_eq!(t.infos().len(), 2);
    }

    #[test]
    fn silence_makes_a_member_suspect_then_dead_and_a_heartbeat_revives_it() {
        let mut t = table();
        let start = Instant::now();
        t.hear(info(2, 2, 1, 0, false), start);
        assert_eq!(t.state_of(NodeId(2), start), Some(MemberState::Alive));
        assert_eq!(t.state_of(NodeId(2), start + Duration::from_secs(2)), Some(MemberState::Suspect));
        assert_eq!(t.state_of(NodeId(2), start + Duration::from_secs(4)), Some(MemberState::Dead));
        // A stale record is not news; a fresher heartbeat is.
        t.hear(info(2, 2, 1, 0, false), start + Duration::from_secs(4));
        assert_eq!(t.state_of(NodeId(2), start + Duration::from_secs(4)), Some(MemberState::Dead));
        t.hear(info(2, 2, 1, 1, false), start + Duration::from_secs(4));
        assert_eq!(t.state_of(NodeId(2), start + Duration::from_secs(4)), Some(MemberState::Alive));
    }

    #[test]
    fn leaving_departs_and_stays_left_until_a_new_generation() {
        let mut t = table();
        let now = Instant::now();
        t.hear(info(2, 2, 1, 5, false), now);
        assert_eq!(t.hear(info(2, 2, 1, 6, true), now), vec![Change::Departed(NodeId(2))]);
        assert!(t.hear(info(2, 2, 1, 5, false), now).is_empty());
        assert_eq!(t.state_of(NodeId(2), now + Duration::from_secs(60)), Some(MemberState::Left));
        assert_eq!(t.hear(info(2, 2, 2, 0, false), now), vec![Change::Joined(info(2, 2, 2, 0, false))]);
    }

    #[test]
    fn a_restart_with_a_new_id_at_the_same_address_replaces_the_old_one() {
        let mut t = table();
        let now = Instant::now();
        t.hear(info(2, 2, 10, 5, false), now);
        assert!(t.hear(info(3, 2, 9, 0, false), now).is_empty(), "older incarnation is stale news");
        assert_eq!(
            t.hear(info(3, 2, 11, 0, false), now),
            vec![Change::Departed(NodeId(2)), Change::Joined(info(3, 2, 11, 0, false))]
        );
        assert_eq!(t.infos().len(), 2);
        assert!(t.hear(info(4, 1, 99, 0, false), now).is_empty(), "nobody else lives at our address");
    }

    #[test]
    fn news_of_an_earlier_incarnation_that_looks_fresher_is_refuted() {
        // Our clock stepped back since the last run at our address: its record has a higher
        // generation than ours. Found by the simulator (seed 5): the others ignored us for good.
        let mut t = table();
        let now = Instant::now();
        assert!(t.hear(info(9, 1, 50, 7, false), now).is_empty());
        assert_eq!(t.me().generation, 51, "outbid the old incarnation at our address");
        let mut other = Membership::new(info(2, 2, 1, 0, false), RULES);
        other.hear(info(9, 1, 50, 7, false), now);
        assert!(!other.hear(t.me().clone(), now).is_empty(), "our record now replaces the old one elsewhere");
        // The same for our own id (a durable node whose earlier run left with a later clock).
        t.hear(info(1, 1, 80, 3, true), now);
        assert_eq!(t.me().generation, 81);
        t.hear(info(1, 1, 2, 0, false), now);
        assert_eq!(t.me().generation, 81, "stale news of ourselves changes nothing");
    }

    #[test]
    fn a_relayed_record_cannot_make_a_member_leave_restart_or_be_replaced() {
        let mut t = table();
        let now = Instant::now();
        let relay = NodeId(7);
        t.hear(info(2, 2, 10, 5, false), now);
        assert!(t.merge(info(2, 2, 10, 6, true), relay, now, now, WALL_MS).is_empty(), "left only from itself");
        assert!(
            t.merge(info(2, 2, 11, 0, false), relay, now, now, WALL_MS).is_empty(),
            "a new generation only from itself"
        );
        assert!(t.merge(info(3, 2, 99, 0, false), relay, now, now, WALL_MS).is_empty(), "replaced only by itself");
        assert!(
            t.merge(info(4, 4, 1, 0, true), relay, now, now, WALL_MS).is_empty(),
            "an unknown member that left is no news"
        );
        assert_eq!(t.state_of(NodeId(2), now), Some(MemberState::Alive));
        // What a relay may carry: a newer heartbeat, and members we do not know.
        assert!(t.merge(info(2, 2, 10, 9, false), relay, now, now, WALL_MS).is_empty());
        assert_eq!(t.others(now)[0].0.heartbeat, 9);
        assert_eq!(
            t.merge(info(5, 5, 1, 0, false), relay, now, now, WALL_MS),
            vec![Change::Joined(info(5, 5, 1, 0, false))]
        );
    }

    #[test]
    fn records_from_the_future_are_ignored_and_refuting_cannot_overflow() {
        let mut t = table();
        let now = Instant::now();
        assert!(t.hear(info(2, 2, u64::MAX - 1, 0, true), now).is_empty());
        assert!(t.infos().len() == 1, "nobody was added");
        t.merge(info(1, 1, WALL_MS + 60_000, 0, false), NodeId(2), now, now, WALL_MS);
        assert_eq!(t.me().generation, WALL_MS + 60_001, "refuted within the bound");
    }

    #[test]
    fn the_table_is_bounded_and_the_long_gone_are_reaped() {
        let mut t = table();
        let start = Instant::now();
        for id in 2..10 {
            t.hear(info(id, id as u16, 1, 0, false), start);
        }
        assert_eq!(t.infos().len(), RULES.max_members);
        t.hear(info(2, 2, 1, 1, false), start + Duration::from_secs(59));
        let mut reaped = t.reap(start + Duration::from_secs(60));
        reaped.sort();
        assert_eq!(reaped, vec![NodeId(3), NodeId(4)], "silent for the reap period");
        assert_eq!(t.infos().len(), 2);
        assert!(!t.hear(info(9, 9, 1, 0, false), start + Duration::from_secs(60)).is_empty(), "room again");
    }

    #[test]
    fn a_full_table_of_relayed_names_makes_room_for_a_member_speaking_for_itself() {
        let mut t = table();
        let start = Instant::now();
        let relayer = NodeId(99);
        for id in 2..10 {
            t.merge(info(id, id as u16, 1, 0, false), relayer, start, start, WALL_MS);
        }
        assert_eq!(t.infos().len(), RULES.max_members);
        assert!(t.merge(info(20, 20, 1, 0, false), relayer, start, start, WALL_MS).is_empty(), "relayed: refused");
        let changes = t.hear(info(21, 21, 1, 0, false), start);
        assert!(changes.contains(&Change::Joined(info(21, 21, 1, 0, false))), "{changes:?}");
        assert!(changes.iter().any(|c| matches!(c, Change::Departed(_))), "a relayed name gave way: {changes:?}");
        // Once everyone left has spoken for itself, a newcomer is refused.
        for id in t.infos() {
            t.hear(MemberInfo { heartbeat: id.heartbeat + 1, ..id }, start);
        }
        assert!(t.hear(info(22, 22, 1, 0, false), start).is_empty(), "a table of real members stays");
    }

    #[test]
    fn the_dead_and_departed_are_not_passed_on() {
        let mut t = table();
        let start = Instant::now();
        t.hear(info(2, 2, 1, 0, false), start);
        t.hear(info(3, 3, 1, 0, false), start);
        t.hear(info(3, 3, 1, 1, true), start);
        t.hear(info(4, 4, 1, 0, false), start + Duration::from_secs(3));
        let passed: Vec<NodeId> = t.live_infos(start + Duration::from_secs(4)).iter().map(|i| i.id).collect();
        assert_eq!(passed, vec![NodeId(1), NodeId(4)], "2 is dead, 3 left");
    }

    #[test]
    fn state_changes_are_reported_once_each() {
        let mut t = table();
        let start = Instant::now();
        t.hear(info(2, 2, 1, 0, false), start);
        assert!(t.state_changes(start).is_empty(), "joined alive: nothing new");
        let states = |changes: Vec<(MemberInfo, MemberState, MemberState)>| {
            changes.into_iter().map(|(info, from, to)| (info.id, from, to)).collect::<Vec<_>>()
        };
        let suspect = start + Duration::from_secs(2);
        assert_eq!(states(t.state_changes(suspect)), vec![(NodeId(2), MemberState::Alive, MemberState::Suspect)]);
        assert!(t.state_changes(suspect).is_empty(), "reported once");
        let dead = start + Duration::from_secs(4);
        assert_eq!(states(t.state_changes(dead)), vec![(NodeId(2), MemberState::Suspect, MemberState::Dead)]);
        t.hear(info(2, 2, 1, 1, false), dead);
        assert_eq!(states(t.state_changes(dead)), vec![(NodeId(2), MemberState::Dead, MemberState::Alive)]);
        t.hear(info(2, 2, 1, 2, true), dead);
        assert_eq!(states(t.state_changes(dead)), vec![(NodeId(2), MemberState::Alive, MemberState::Left)]);
    }

    #[test]
    fn a_member_back_from_the_dead_with_its_clock_stepped_back_is_taken_back() {
        let mut t = table();
        let start = Instant::now();
        t.hear(info(2, 2, 500, 9, false), start);
        t.hear(info(3, 3, 500, 9, false), start);
        let later = start + Duration::from_secs(10);
        assert_eq!(t.state_of(NodeId(2), later), Some(MemberState::Dead));
        // The same durable node, restarted with its clock behind: a lower generation.
        assert_eq!(t.hear(info(2, 2, 100, 0, false), later), Vec::new(), "back, and already replicated to");
        assert_eq!(t.state_of(NodeId(2), later), Some(MemberState::Alive));
        // A memory-only node restarted under a new id at 3's address, its clock behind too.
        let replaced = t.hear(info(4, 3, 100, 0, false), later);
        assert_eq!(replaced, vec![Change::Departed(NodeId(3)), Change::Joined(info(4, 3, 100, 0, false))]);
        // Relayed, neither would have been believed.
        let mut u = table();
        u.hear(info(3, 3, 500, 9, false), start);
        assert!(u.merge(info(4, 3, 100, 0, false), NodeId(7), later, later, WALL_MS).is_empty());
    }
}
