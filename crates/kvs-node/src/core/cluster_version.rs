//! The cluster's version: the newest wire protocol every live member speaks, which opens the
//! feature gates of `kvs_proto::features`.
//!
//! What a member speaks is learned from its connections: a hello accepted at version v, ours or
//! its, shows both ends speak v. The version rises once every live member (alive or suspect, this
//! node included) is known to speak a newer one, and never falls: a feature once used may have
//! left traces (a log in a newer format) that an older release cannot read; from then on a peer
//! that speaks only older versions is refused at its hello. Each node judges from its own
//! connections only (no peer's word raises it: a member holding the secret could otherwise cut
//! the cluster's older members off), and persists what it found in its data dir.

use kvs_proto::{Feature, NodeId, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION};
use std::collections::HashMap;

/// The cluster version and what each member has been seen to speak.
#[derive(Debug)]
pub(crate) struct ClusterVersion {
    /// The current version (persisted by the shell whenever it rises).
    current: u32,
    /// The newest version each member's connections have shown, for the incarnation named by
    /// its generation (a restart may bring another release).
    speaks: HashMap<NodeId, (u64, u32)>,
}

impl ClusterVersion {
    /// A node whose data dir says the cluster had reached `persisted` (`None`: a new node, or one
    /// whose earlier release kept no record, which counts as the oldest version we speak).
    pub(crate) fn new(persisted: Option<u32>) -> Self {
        let current = persisted.unwrap_or(OLDEST_PROTOCOL_VERSION).clamp(OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION);
        ClusterVersion { current, speaks: HashMap::new() }
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

    /// Re-judges the version against the live `members` other than us, `(id, generation)`:
    /// the newest version all of them and we speak. Returns the new version if it rose.
    pub(crate) fn judge(&mut self, members: &[(NodeId, u64)]) -> Option<u32> {
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

    /// What each live member other than us is known to speak (`None`: not yet known).
    pub(crate) fn member_protocols(&self, now: super::Now) -> Vec<(NodeId, Option<u32>)> {
        let others = self.live_others(now);
        let versions = super::lock(&self.versions);
        others.into_iter().map(|(id, generation)| (id, versions.speaks(id, generation))).collect()
    }

    /// Re-judges the cluster version on the heartbeat tick; when it rises, the shell records it
    /// and opens what it gates.
    pub(super) fn judge_version(&self, now: super::Now) -> Option<super::Effect> {
        let others = self.live_others(now);
        let risen = super::lock(&self.versions).judge(&others)?;
        let open: Vec<&str> = kvs_proto::FEATURES.iter().filter(|f| f.protocol == risen).map(|f| f.name).collect();
        tracing::info!(
            cluster_version = risen,
            ?open,
            "every live member speaks protocol {risen}: its feature gates open"
        );
        Some(super::Effect::ClusterVersionRose(risen))
    }

    fn live_others(&self, now: super::Now) -> Vec<(NodeId, u64)> {
        let members = super::lock(&self.members);
        let me = members.me().id;
        members.live_infos(now.at).into_iter().filter(|m| m.id != me).map(|m| (m.id, m.generation)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);

    #[test]
    fn a_lone_node_is_at_its_newest_version_at_once() {
        let mut cluster = ClusterVersion::new(None);
        assert_eq!(cluster.current(), OLDEST_PROTOCOL_VERSION);
        assert_eq!(cluster.judge(&[]), Some(PROTOCOL_VERSION));
        assert!(cluster.is_open(kvs_proto::features::WAIT));
    }

    #[test]
    fn the_version_waits_for_every_live_member_and_never_falls() {
        let mut cluster = ClusterVersion::new(None);
        cluster.spoke(A, 1, 8);
        cluster.spoke(B, 1, 7);
        assert_eq!(cluster.judge(&[(A, 1), (B, 1)]), None, "B speaks only 7");
        assert!(!cluster.is_open(kvs_proto::features::WAIT));
        assert!(cluster.admits(7));
        // B restarts on the new release: its old incarnation's word no longer counts.
        assert_eq!(cluster.judge(&[(A, 1), (B, 2)]), None, "B's new incarnation not yet heard");
        cluster.spoke(B, 2, 8);
        assert_eq!(cluster.judge(&[(A, 1), (B, 2)]), Some(8));
        assert!(!cluster.admits(7), "a protocol-7 peer is refused once the cluster moved on");
        // A member of the old release coming back does not close the gate.
        cluster.spoke(A, 3, 7);
        assert_eq!(cluster.judge(&[(A, 3), (B, 2)]), None);
        assert_eq!(cluster.current(), 8);
    }

    #[test]
    fn an_older_incarnations_word_never_replaces_a_newer_ones() {
        let mut cluster = ClusterVersion::new(None);
        cluster.spoke(A, 5, 8);
        cluster.spoke(A, 4, 7);
        assert_eq!(cluster.speaks(A, 5), Some(8));
        assert_eq!(cluster.speaks(A, 4), None);
    }

    #[test]
    fn a_persisted_version_is_kept_within_what_we_speak() {
        assert_eq!(ClusterVersion::new(Some(8)).current(), 8);
        assert_eq!(ClusterVersion::new(Some(99)).current(), PROTOCOL_VERSION);
        assert_eq!(ClusterVersion::new(Some(1)).current(), OLDEST_PROTOCOL_VERSION);
    }
}
