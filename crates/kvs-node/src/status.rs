//! The status report: who this node is, what it holds, and how it sees every member.

use crate::shell::Shell;
use kvs_proto::{GateStatus, MemberState, MemberStatus, StatusReport, VersionsReport};

/// Most keys a status report lists, whatever the request asks: the list is for people, and the
/// report must fit in one frame.
pub const MAX_KEYS: usize = 10_000;

/// Builds the report, listing at most `max_keys` keys.
pub fn report(shell: &Shell, max_keys: usize) -> StatusReport {
    let now = shell.now();
    let (me, others) = shell.core.with_members(|m| (m.me().clone(), m.others(now.at)));
    let my_state = if me.left { MemberState::Left } else { MemberState::Alive };
    let mut members = vec![MemberStatus {
        node_id: me.id.to_string(),
        addr: me.addr.to_string(),
        state: my_state,
        last_heard_ms: 0,
        clock_offset_ms: Some(0),
    }];
    members.extend(others.into_iter().map(|(info, state, silent)| MemberStatus {
        node_id: info.id.to_string(),
        addr: info.addr.to_string(),
        state,
        last_heard_ms: silent.as_millis() as u64,
        clock_offset_ms: shell.core.clock().offset_of(info.id, now),
    }));
    let (keys, keys_truncated) = shell.store().live_keys(max_keys, shell.now().wall_ms);
    StatusReport {
        node_id: shell.id.to_string(),
        addr: shell.addr.to_string(),
        key_count: shell.store().live_count(),
        tombstone_count: shell.store().tombstone_count(),
        digest: format!("{:032x}", shell.store().digest()),
        members,
        clock_skew_ms: shell.core.clock().skew_ms(),
        problems: shell.problems(),
        keys: keys.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect(),
        keys_truncated,
        replication: shell.core.stats().snapshot(),
        cursors: shell.core.cursors().into_iter().map(|(origin, seq)| (origin.to_string(), seq)).collect(),
    }
}

/// The node's release and protocols, and its cluster's version and feature gates.
pub fn versions(shell: &Shell) -> VersionsReport {
    let cluster_version = shell.core.cluster_version();
    let gates = kvs_proto::FEATURES.iter().map(|feature| GateStatus {
        name: feature.name.to_string(),
        protocol: feature.protocol,
        open: feature.open_at(cluster_version),
        what: feature.what.to_string(),
    });
    let members = shell.core.member_protocols().into_iter().map(|(id, speaks)| (id.to_string(), speaks));
    VersionsReport {
        release: env!("CARGO_PKG_VERSION").to_string(),
        protocols: (kvs_proto::OLDEST_PROTOCOL_VERSION, kvs_proto::PROTOCOL_VERSION),
        log_format: kvs_store::log::FORMAT_VERSION,
        log_format_in_use: shell
            .writes
            .log_stats()
            .map(|stats| stats.format.load(std::sync::atomic::Ordering::Relaxed)),
        cluster_version,
        gates: gates.collect(),
        members: members.collect(),
    }
}
