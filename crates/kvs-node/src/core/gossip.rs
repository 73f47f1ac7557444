//! Whom to gossip with and what to say: one peer per interval, push-pull, digests first.
//!
//! Pure logic, no I/O. Each gossip interval the node tells one peer what it knows, taking its
//! alive and suspect peers in a fresh random order each cycle (SWIM's randomized round robin, so
//! no peer waits more than two cycles); the peer answers with whatever it knows fresher. News
//! then reaches every node in O(log N) intervals, and a node's gossip traffic per interval is one
//! view out and one answer back instead of a view to every peer.
//!
//! A view is cheap in the steady state. Both sides sort the members they count as alive or
//! suspect (their roster) by id, and a roster is named by a hash of its `(id, generation)` pairs:
//! when the peer last showed us the same hash, we send only a heartbeat and an age per member, by
//! position; otherwise full records. The answer carries only what the asker lacks.

use super::membership::{Change, Membership};
use kvs_proto::{MemberInfo, NodeId, Pulse, View};
use kvs_store::map::Map;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Duration;
use tokio::time::Instant;

/// The gossip side of membership: the round-robin order and what each peer's roster looks like.
#[derive(Debug)]
pub(crate) struct Gossip {
    /// Picks the order of each cycle (seeded: a simulated run must follow from its seed).
    rng: StdRng,
    /// Peers still to gossip with this cycle, next last.
    cycle: Vec<NodeId>,
    /// The roster hash each peer last showed us.
    rosters: Map<NodeId, u64>,
}

/// What a received view did: membership changes to act on, the answer to send, and whether the
/// view was malformed (a pulse past the roster's end).
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Members that joined or departed.
    pub(crate) changes: Vec<Change>,
    /// Our answer, if one was asked for.
    pub(crate) answer: Option<View>,
    /// The view pointed past the roster it named.
    pub(crate) malformed: bool,
}

impl Gossip {
    /// No peer known yet; the order of cycles follows from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Gossip { rng: StdRng::seed_from_u64(seed), cycle: Vec::new(), rosters: Map::default() }
    }

    /// The peer to gossip with this interval, among `candidates` (alive or suspect peers).
    pub(crate) fn next_peer(&mut self, candidates: &[NodeId]) -> Option<NodeId> {
        loop {
            match self.cycle.pop() {
                Some(peer) if candidates.contains(&peer) => return Some(peer),
                Some(_) => continue,
                None if candidates.is_empty() => return None,
                None => {
                    self.cycle = candidates.to_vec();
                    self.cycle.shuffle(&mut self.rng);
                }
            }
        }
    }

    /// What to tell `peer` when we open a round: pulses if its roster matched ours last time.
    pub(crate) fn opening(&self, peer: NodeId, members: &Membership, now: Instant) -> View {
        let roster = members.roster(now);
        let hash = roster_hash(roster.iter().map(|(info, _)| info));
        if self.rosters.get(&peer) == Some(&hash) {
            let pulses = roster.iter().enumerate().map(|(index, (info, age))| pulse(index, info, *age)).collect();
            View::Pulses { roster: hash, pulses }
        } else {
            View::Records(roster.into_iter().map(|(info, age)| (info, age_ms(age))).collect())
        }
    }

    /// Takes the view `from` sent; answers, if `answer`, with what we know fresher than it said.
    pub(crate) fn receive(
        &mut self,
        members: &mut Membership,
        from: NodeId,
        view: View,
        answer: bool,
        now: Instant,
        wall_ms: u64,
    ) -> Received {
        let mut received = Received::default();
        // The heartbeat the view gave each member, to answer with only what is fresher.
        let mut theirs: Map<NodeId, u64> = Map::default();
        let their_roster = match view {
            View::Pulses { roster, pulses } => {
                let ours = members.roster(now);
                // Pulses against another roster cannot be read; our answer shows ours instead.
                if roster_hash(ours.iter().map(|(info, _)| info)) == roster {
                    for Pulse { index, heartbeat, age_ms } in pulses {
                        let Some((info, _)) = ours.get(index as usize) else {
                            received.malformed = true;
                            break;
                        };
                        theirs.insert(info.id, heartbeat);
                        if let Some(heard) = heard_at(now, age_ms) {
                            members.pulse(info.id, info.generation, heartbeat, heard);
                        }
                    }
                }
                roster
            }
            View::Records(records) => {
                let roster = roster_hash(records.iter().map(|(info, _)| info));
                for (info, age_ms) in records {
                    theirs.insert(info.id, info.heartbeat);
                    if let Some(heard) = heard_at(now, age_ms) {
                        received.changes.extend(members.merge(info, from, now, heard, wall_ms));
                    }
                }
                roster
            }
        };
        self.rosters.insert(from, their_roster);
        if answer && !received.malformed {
            let ours = members.roster(now);
            let hash = roster_hash(ours.iter().map(|(info, _)| info));
            received.answer = Some(if hash == their_roster {
                let fresher = |(_, (info, _)): &(usize, &(MemberInfo, Duration))| {
                    theirs.get(&info.id).is_none_or(|&heartbeat| info.heartbeat > heartbeat)
                };
                let pulses = ours.iter().enumerate().filter(fresher).map(|(i, (info, age))| pulse(i, info, *age));
                View::Pulses { roster: hash, pulses: pulses.collect() }
            } else {
                View::Records(ours.into_iter().map(|(info, age)| (info, age_ms(age))).collect())
            });
        }
        received
    }

    /// Forgets a peer that departed or was reaped.
    pub(crate) fn forget(&mut self, peer: NodeId) {
        self.rosters.remove(&peer);
    }
}

/// The hash that names a roster: its `(id, generation)` pairs in order, with a hash that is the
/// same in every build (xxh3), since every node must compute the same one.
fn roster_hash<'a>(members: impl Iterator<Item = &'a MemberInfo>) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for info in members {
        hasher.update(&info.id.0.to_le_bytes());
        hasher.update(&info.generation.to_le_bytes());
    }
    hasher.digest()
}

fn pulse(index: usize, info: &MemberInfo, age: Duration) -> Pulse {
    Pulse { index: index as u32, heartbeat: info.heartbeat, age_ms: age_ms(age) }
}

fn age_ms(age: Duration) -> u32 {
    age.as_millis().try_into().unwrap_or(u32::MAX)
}

/// When news `age_ms` old was heard, on our clock; `None` if that is before our clock can say
/// (older than this process), which is no news worth taking.
fn heard_at(now: Instant, age_ms: u32) -> Option<Instant> {
    now.checked_sub(Duration::from_millis(age_ms.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::membership::Rules;
    use kvs_proto::MemberState;

    const RULES: Rules = Rules {
        suspect_after: Duration::from_secs(2),
        dead_after: Duration::from_secs(6),
        reap_after: Duration::from_secs(3600),
        max_members: 64,
        max_future_ms: 60_000,
    };

    fn info(id: u64) -> MemberInfo {
        MemberInfo {
            id: NodeId(id),
            addr: ([127, 0, 0, 1], id as u16).into(),
            generation: 1,
            heartbeat: 0,
            left: false,
        }
    }

    fn node(id: u64) -> (Membership, Gossip) {
        (Membership::new(info(id), RULES), Gossip::new(id))
    }

    /// One push-pull round from `a` to `b`; returns the two views' kinds (opening, answer).
    fn round(a: &mut (Membership, Gossip), b: &mut (Membership, Gossip), now: Instant) -> (bool, bool) {
        let (a_id, b_id) = (a.0.me().id, b.0.me().id);
        let opening = a.1.opening(b_id, &a.0, now);
        let opened_with_pulses = matches!(opening, View::Pulses { .. });
        let answer = b.1.receive(&mut b.0, a_id, opening, true, now, 1_000).answer.unwrap();
        let answered_with_pulses = matches!(answer, View::Pulses { .. });
        let got = a.1.receive(&mut a.0, b_id, answer, false, now, 1_000);
        assert!(got.answer.is_none());
        (opened_with_pulses, answered_with_pulses)
    }

    #[test]
    fn a_cycle_visits_every_candidate_once_in_a_seeded_order() {
        let peers: Vec<NodeId> = (2..10).map(NodeId).collect();
        let mut gossip = Gossip::new(7);
        let mut cycle: Vec<NodeId> = (0..8).map(|_| gossip.next_peer(&peers).unwrap()).collect();
        let order = cycle.clone();
        cycle.sort();
        assert_eq!(cycle, peers, "each peer once per cycle");
        let mut again = Gossip::new(7);
        assert_eq!((0..8).map(|_| again.next_peer(&peers).unwrap()).collect::<Vec<_>>(), order, "seeded");
        assert_eq!(gossip.next_peer(&[NodeId(3)]), Some(NodeId(3)), "peers gone since are skipped");
        assert_eq!(gossip.next_peer(&[]), None);
    }

    #[test]
    fn records_until_the_rosters_match_then_pulses_carry_heartbeats_and_ages() {
        let start = Instant::now();
        let (mut a, mut b, mut c) = (node(1), node(2), node(3));
        // c knows a and b from their hellos; a and b know only c.
        for (them, me) in [(&mut a, 1), (&mut b, 2)] {
            c.0.merge(info(me), NodeId(me), start, start, 1_000);
            them.0.merge(info(3), NodeId(3), start, start, 1_000);
        }
        assert_eq!(round(&mut c, &mut a, start), (false, true), "a learns b from c's records, then answers by roster");
        assert_eq!(round(&mut c, &mut a, start), (true, true), "c now knows a's roster is its own");
        assert_eq!(a.0.state_of(NodeId(2), start), Some(MemberState::Alive), "learned through c");

        // b beats on; c hears it firsthand 500 ms before a round at 1.9 s: a dates it from then.
        for _ in 0..5 {
            b.0.beat();
        }
        let heard = start + Duration::from_millis(1_400);
        c.0.pulse(NodeId(2), 1, b.0.me().heartbeat, heard);
        let later = start + Duration::from_millis(1_900);
        round(&mut c, &mut a, later);
        let (_, _, since) = a.0.others(later).into_iter().find(|(i, _, _)| i.id == NodeId(2)).unwrap();
        assert_eq!(since, Duration::from_millis(500), "silence timed from when c heard b");
        assert_eq!(a.0.state_of(NodeId(2), start + Duration::from_millis(3_300)), Some(MemberState::Alive));
        assert_eq!(a.0.state_of(NodeId(2), start + Duration::from_millis(3_400)), Some(MemberState::Suspect));
    }

    #[test]
    fn an_answer_carries_only_what_the_asker_lacks_and_bad_positions_are_refused() {
        let start = Instant::now();
        let (mut a, mut b) = (node(1), node(2));
        a.0.merge(info(2), NodeId(2), start, start, 1_000);
        b.0.merge(info(1), NodeId(1), start, start, 1_000);
        round(&mut a, &mut b, start);
        let opening = a.1.opening(NodeId(2), &a.0, start);
        let View::Pulses { roster, pulses } = &opening else { panic!("{opening:?}") };
        assert_eq!(pulses.len(), 2);
        let roster = *roster;
        let answer = b.1.receive(&mut b.0, NodeId(1), opening.clone(), true, start, 1_000).answer.unwrap();
        let View::Pulses { pulses: fresher, .. } = answer else { panic!() };
        assert!(fresher.is_empty(), "nothing fresher on b's side: {fresher:?}");
        b.0.beat();
        let answer = b.1.receive(&mut b.0, NodeId(1), opening, true, start, 1_000).answer.unwrap();
        let View::Pulses { pulses: fresher, .. } = answer else { panic!() };
        assert_eq!(fresher, vec![Pulse { index: 1, heartbeat: 1, age_ms: 0 }], "b's own heartbeat only");
        let forged = View::Pulses { roster, pulses: vec![Pulse { index: 9, heartbeat: 1, age_ms: 0 }] };
        let got = b.1.receive(&mut b.0, NodeId(1), forged, true, start, 1_000);
        assert!(got.malformed && got.answer.is_none());
    }
}
