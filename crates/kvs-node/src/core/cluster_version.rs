//! The cluster's version: the newest wire protocol every member speaks, which opens the feature
//! gates of `kvs_proto::features`.
//!
//! What a member speaks is learned from its connections: a hello accepted at version v, ours or
//! its, shows both ends speak v. The version rises once every member in the table (alive,
//! suspect, and also dead or departed until forgotten after `--reap-after-ms`, this node
//! included) is known to speak a newer one. Counting the departed is what lets an operator roll
//! the last node of an upgrade back: while it is down it still holds the gates with the version
//! it last spoke, until it returns on the new release (a new incarnation replaces its record) or
//! is forgotten. The version never falls: a feature once used may have
//! left traces (a log in a newer format) that an older release cannot read; from then on a peer
//! that speaks only older versions is refused at its hello. Each node judges from its own
//! connections only (no peer's word raises it: a member holding the secret could otherwise cut
//! the cluster's older members off), and persists what it found in its data dir.
//!
//! "Every member" needs a member table worth the name. A node that restarts knows nobody
//! until it rejoins, and judged then it would find itself alone, open its gates and refuse the
//! older members coming to greet it. So a node judges only once it is informed: it has merged a
//! peer's full member list (a welcome or a gossip view), or it is a new cluster's first node (no
//! bootstrap and no data), or two dead-after periods have passed since its first tick without
//! anyone finding it: members that still count it in greet it within one (they redial a dead
//! member, and every dead-after period probe a departed one's address).

use kvs_proto::{Feature, NodeId, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// The cluster version and what each member has been seen to speak.
#[derive(Debug)]
pub(crate) struct ClusterVersion {
    /// The current version (persisted by the shell whenever it rises).
    current: u32,
    /// The newest version each member's connections have shown, for the incarnation named by
    /// its generation (a restart may bring another release).
    speaks: HashMap<NodeId, (u64, u32)>,
    /// Whether the member table may be trusted to hold every member (see the module).
    informed: bool,
    /// How long an uninformed node waits to be found before it judges alone.
    patience: Duration,
    /// When it first judged, uninformed.
    waiting_since: Option<Instant>,
}

impl ClusterVersion {
    /// A node whose data dir says the cluster had reached `persisted` (`None`: a new node, or one
    /// whose earlier release kept no record, which counts as the oldest version we speak);
    /// `informed` if it starts a new cluster, else it waits up to `patience` to be found.
    pub(crate) fn new(persisted: Option<u32>, informed: bool, patience: Duration) -> Self {
        let current = persisted.unwrap_or(OLDEST_PROTOCOL_VERSION).clamp(OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION);
        ClusterVersion { current, speaks: HashMap::new(), informed, patience, waiting_since: None }
    }

    /// A peer's full member list was merged: the table holds what the cluster knows.
    pub(crate) fn informed(&mut self) {
        self.informed = true;
    }

    /// The current cluster version.
    pub(crate) fn current(&self) -> u32 {
        self.current
    }

    /// Whether `feature`'s gate is open.
    pub(crate) fn is_open(&self, feature: Feature) -> bool {
        feature.open_at(self.current)
    }

    /// Whether a peer connection at `version` may be accepted: not once the cluster has moved
    /// past it.
    pub(crate) fn admits(&self, version: u32) -> bool {
        version >= self.current
    }

    /// A connection with member `id` (incarnation `generation`) was opened at `version`.
    pub(crate) fn spoke(&mut self, id: NodeId, generation: u64, version: u32) {
        let seen = self.speaks.entry(id).or_insert((generation, version));
        if generation > seen.0 {
            *seen = (generation, version);
        } else if generation == seen.0 {
            seen.1 = seen.1.max(version);
        }
    }

    /// What `id`'s incarnation `generation` is known to speak.
    pub(crate) fn speaks(&self, id: NodeId, generation: u64) -> Option<u32> {
        self.speaks.get(&id).filter(|(seen, _)| *seen == generation).map(|&(_, version)| version)
    }

    /// A member was forgotten.
    pub(crate) fn forget(&mut self, id: NodeId) {
        self.speaks.remove(&id);
    }

    /// Re-judges the version at `now` against the `members` other than us, `(id, generation)`:
    /// the newest version all of them and we speak. Returns the new version if it
    /// rose.
    pub(crate) fn judge(&mut self, members: &[(NodeId, u64)], now: Instant) -> Option<u32> {
        if !self.informed {
            let since = *self.waiting_since.get_or_insert(now);
            if now < since + self.patience {
                return None;
            }
        }
        let mut common = PROTOCOL_VERSION;
        for &(id, generation) in members {
            // A member not yet heard from at any version holds the version where it is.
            common = common.min(self.speaks(id, generation)?);
        }
        self.raise(common)
    }

    fn raise(&mut self, version: u32) -> Option<u32> {
        (version > self.current).then(|| {
            self.current = version;
            version
        })
    }
}

impl super::Core {
    /// A connection with `member` was opened at protocol `version` (its hello, or ours).
    pub(crate) fn spoke(&self, member: &kvs_proto::MemberInfo, version: u32) {
        super::lock(&self.versions).spoke(member.id, member.generation, version);
    }

    /// The cluster version, and so which feature gates are open.
    pub(crate) fn cluster_version(&self) -> u32 {
        super::lock(&self.versions).current()
    }

    /// Whether `feature`'s gate is open.
    pub(crate) fn is_open(&self, feature: Feature) -> bool {
        super::lock(&self.versions).is_open(feature)
    }

    /// Whether a peer's hello at `version` may be accepted (see [`ClusterVersion::admits`]).
    pub(crate) fn admits_protocol(&self, version: u32) -> bool {
        super::lock(&self.versions).admits(version)
    }

    /// A peer's full member list was merged (a welcome, a gossip view).
    pub(crate) fn informed(&self) {
        super::lock(&self.versions).informed();
    }

    /// What each member other than us is known to speak (`None`: not yet known).
    pub(crate) fn member_protocols(&self) -> Vec<(NodeId, Option<u32>)> {
        let others = super::lock(&self.members).known_others();
        let versions = super::lock(&self.versions);
        others.into_iter().map(|(id, generation)| (id, versions.speaks(id, generation))).collect()
    }

    /// Re-judges the cluster version (on the heartbeat tick, and once before serving, so a new
    /// cluster's first node serves its first request with its gates open); when it rises, the
    /// shell records it and opens what it gates.
    pub(crate) fn judge_version(&self, now: super::Now) -> Option<super::Effect> {
        // At the newest version it cannot rise further: no need to copy the member table each tick.
        if self.cluster_version() == kvs_proto::PROTOCOL_VERSION {
            return None;
        }
        let others = super::lock(&self.members).known_others();
        let risen = super::lock(&self.versions).judge(&others, now.at)?;
        let open: Vec<&str> = kvs_proto::FEATURES.iter().filter(|f| f.protocol == risen).map(|f| f.name).collect();
        tracing::info!(cluster_version = risen, ?open, "every member speaks protocol {risen}: its feature gates open");
        Some(super::Effect::ClusterVersionRose(risen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);
    const PATIENCE: Duration = Duration::from_secs(12);

    fn informed() -> ClusterVersion {
        ClusterVersion::new(None, true, PATIENCE)
    }

    #[test]
    fn a_new_clusters_first_node_is_at_its_newest_version_at_once() {
        let mut cluster = informed();
        assert_eq!(cluster.current(), OLDEST_PROTOCOL_VERSION);
        assert_eq!(cluster.judge(&[], Instant::now()), Some(PROTOCOL_VERSION));
        assert!(cluster.is_open(kvs_proto::features::WAIT));
    }

    #[test]
    fn a_restarted_node_waits_to_be_found_before_it_judges_alone() {
        let start = Instant::now();
        let mut cluster = ClusterVersion::new(None, false, PATIENCE);
        assert_eq!(cluster.judge(&[], start), None, "nobody known yet: maybe nobody found us yet");
        assert_eq!(cluster.judge(&[], start + PATIENCE / 2), None);
        assert_eq!(cluster.judge(&[], start + PATIENCE), Some(PROTOCOL_VERSION), "nobody came");
        // Found in time by a member of the previous release: it holds the version.
        let mut cluster = ClusterVersion::new(None, false, PATIENCE);
        assert_eq!(cluster.judge(&[], start), None);
        cluster.spoke(A, 1, 7);
        assert_eq!(cluster.judge(&[(A, 1)], start + PATIENCE), None);
        // Told the whole cluster by a welcome, it judges at once.
        let mut cluster = ClusterVersion::new(None, false, PATIENCE);
        cluster.informed();
        cluster.spoke(A, 1, 8);
        assert_eq!(cluster.judge(&[(A, 1)], start), Some(8));
    }

    #[test]
    fn the_version_waits_for_every_live_member_and_never_falls() {
        let now = Instant::now();
        let mut cluster = informed();
        cluster.spoke(A, 1, 8);
        cluster.spoke(B, 1, 7);
        assert_eq!(cluster.judge(&[(A, 1), (B, 1)], now), None, "B speaks only 7");
        assert!(!cluster.is_open(kvs_proto::features::WAIT));
        assert!(cluster.admits(7));
        // B restarts on the new release: its old incarnation's word no longer counts.
        assert_eq!(cluster.judge(&[(A, 1), (B, 2)], now), None, "B's new incarnation not yet heard");
        cluster.spoke(B, 2, 8);
        assert_eq!(cluster.judge(&[(A, 1), (B, 2)], now), Some(8));
        assert!(!cluster.admits(7), "a protocol-7 peer is refused once the cluster moved on");
        // A member of the old release coming back does not close the gate.
        cluster.spoke(A, 3, 7);
        assert_eq!(cluster.judge(&[(A, 3), (B, 2)], now), None);
        assert_eq!(cluster.current(), 8);
    }

    #[test]
    fn an_older_incarnations_word_never_replaces_a_newer_ones() {
        let mut cluster = informed();
        cluster.spoke(A, 5, 8);
        cluster.spoke(A, 4, 7);
        assert_eq!(cluster.speaks(A, 5), Some(8));
        assert_eq!(cluster.speaks(A, 4), None);
    }

    #[test]
    fn a_persisted_version_is_kept_within_what_we_speak() {
        assert_eq!(ClusterVersion::new(Some(8), false, PATIENCE).current(), 8);
        assert_eq!(ClusterVersion::new(Some(99), false, PATIENCE).current(), PROTOCOL_VERSION);
        assert_eq!(ClusterVersion::new(Some(1), false, PATIENCE).current(), OLDEST_PROTOCOL_VERSION);
    }
}
