//! `kvs-client cluster plan` and `cluster apply`: the layout an operator's change makes of the
//! members alive now, what it moves, and applying it (docs/partitioning.md, "The layout").
//!
//! The owners tables behind a plan are 16,384 slots times every member's weight in hashes, and
//! the keys and bytes each slot holds are a walk of the store, so both are computed on the
//! blocking pool, never on a thread that serves clients.

use crate::shell::Shell;
use kvs_proto::layout::{moves, Layout, LayoutMember, LayoutVersion, MAX_LAYOUT_MEMBERS};
use kvs_proto::slot::SLOTS;
use kvs_proto::{ClusterPlan, ErrorCode, ErrorReply, LayoutChange, MemberInfo, NodeId};
use std::sync::Arc;

/// What a plan shows, or an apply made: `apply` makes the change the cluster's layout.
pub(crate) async fn answer(shell: &Arc<Shell>, change: LayoutChange, apply: bool) -> Result<ClusterPlan, ErrorReply> {
    let now = shell.now();
    // Read once, so the layout and its owners table are of one version.
    let held = shell.core.layout_owners();
    let current = held.as_ref().map(|(layout, _)| layout.clone());
    let mut alive: Vec<MemberInfo> = shell.core.member_infos(now).into_iter().filter(|m| !m.left).collect();
    alive.sort_by_key(|m| m.id);
    let (replication_factor, members) = proposal(current.as_ref(), &alive, &change).map_err(bad_request)?;
    let proposed = if apply {
        let (layout, effects) =
            shell.core.apply_layout(replication_factor, members, now).map_err(|e| bad_request(e.to_string()))?;
        shell.execute_control(effects);
        layout
    } else {
        let version = LayoutVersion {
            epoch: current.as_ref().map_or(0, |layout| layout.version.epoch) + 1,
            applied_by: shell.core.me().id,
        };
        let layout = Layout { version, replication_factor, members };
        layout.check().map_err(|e| bad_request(e.to_string()))?;
        layout
    };
    // Without a layout every member alive now owns every slot.
    let before = held.map(|(_, owners)| owners);
    let everyone: Vec<NodeId> = alive.iter().map(|m| m.id).collect();
    // An apply has just computed the table of what it adopted (unless a newer one won since).
    let adopted = shell.core.layout_owners().filter(|(layout, _)| apply && layout.version == proposed.version);
    let after = (proposed.clone(), adopted.map(|(_, owners)| owners));
    let (shell, now_ms) = (shell.clone(), shell.wall_ms());
    let moves = tokio::task::spawn_blocking(move || {
        let before = before.unwrap_or_else(|| Arc::new(vec![everyone; SLOTS as usize]));
        let after = after.1.unwrap_or_else(|| Arc::new(after.0.table()));
        let usage: Vec<(u64, u64)> = shell.store().slot_usage(now_ms).into_iter().map(|u| (u.keys, u.bytes)).collect();
        moves(&before, &after, &usage)
    })
    .await
    .map_err(|e| ErrorReply::new(ErrorCode::BadRequest, format!("computing the moves failed: {e}")))?;
    Ok(ClusterPlan { current, proposed, moves })
}

fn bad_request(message: String) -> ErrorReply {
    ErrorReply::new(ErrorCode::BadRequest, message)
}

/// The replication factor and members `change` makes of the members `alive` (sorted by id):
/// weights as the change names them by address, else as `current` has them, else 1.
fn proposal(
    current: Option<&Layout>,
    alive: &[MemberInfo],
    change: &LayoutChange,
) -> Result<(u32, Vec<LayoutMember>), String> {
    if alive.len() > MAX_LAYOUT_MEMBERS {
        return Err(format!("a layout may name at most {MAX_LAYOUT_MEMBERS} members; {} are alive", alive.len()));
    }
    if let Some((addr, _)) = change.weights.iter().find(|(addr, _)| !alive.iter().any(|m| m.addr == *addr)) {
        return Err(format!("no member alive serves at {addr}"));
    }
    let held_weight =
        |node: NodeId| current.and_then(|layout| layout.members.iter().find(|m| m.node == node)).map(|m| m.weight);
    let members = alive
        .iter()
        .map(|member| {
            let named = change.weights.iter().rev().find(|(addr, _)| *addr == member.addr).map(|&(_, w)| w);
            let weight = named.or_else(|| held_weight(member.id)).unwrap_or(1);
            LayoutMember { node: member.id, addr: member.addr, weight }
        })
        .collect();
    // Without a factor named or held, every member owns every slot, however many join.
    let factor = change.replication_factor.or(current.map(|layout| layout.replication_factor)).unwrap_or(u32::MAX);
    Ok((factor, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, port: u16) -> MemberInfo {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        MemberInfo { id: NodeId(id), addr, generation: 1, heartbeat: 1, left: false }
    }

    #[test]
    fn weights_come_from_the_change_then_the_layout_held() {
        let alive = [member(1, 7001), member(2, 7002), member(3, 7003)];
        let change =
            LayoutChange { replication_factor: Some(2), weights: vec![("127.0.0.1:7002".parse().unwrap(), 3)] };
        let (factor, members) = proposal(None, &alive, &change).unwrap();
        assert_eq!(factor, 2);
        assert_eq!(members.iter().map(|m| m.weight).collect::<Vec<_>>(), [1, 3, 1]);
        let held =
            Layout { version: LayoutVersion { epoch: 1, applied_by: NodeId(1) }, replication_factor: 2, members };
        let (factor, members) = proposal(Some(&held), &alive, &LayoutChange::default()).unwrap();
        assert_eq!((factor, members.iter().map(|m| m.weight).collect::<Vec<_>>()), (2, vec![1, 3, 1]));
        let (factor, _) = proposal(None, &alive, &LayoutChange::default()).unwrap();
        assert_eq!(factor, u32::MAX, "no factor named: every member owns every slot");
        let stranger = LayoutChange { replication_factor: None, weights: vec![("127.0.0.1:9".parse().unwrap(), 1)] };
        assert!(proposal(None, &alive, &stranger).unwrap_err().contains("no member alive serves at 127.0.0.1:9"));
    }
}
