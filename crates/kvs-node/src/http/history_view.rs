//! `/history`: every member's samples of the last ten minutes, asked from this node as `/cluster`
//! asks for statuses, with how many writes each member was behind at each sample: what the
//! cluster page's charts draw.

use super::cluster_view::{ask_member, asking};
use crate::history::MAX_SAMPLES;
use crate::shell::Shell;
use crate::status;
use kvs_proto::{ClientRequest, ClientResponse, HistorySample, MemberState};
use std::collections::{HashMap, HashSet};

/// What `/history` answers.
#[derive(serde::Serialize)]
pub(crate) struct HistoryView {
    /// Milliseconds between two samples of this node (every member's own flag sets its own).
    step_ms: u64,
    /// Every member this node knows but those that left, this node first.
    members: Vec<MemberHistory>,
}

/// One member's line of every chart.
#[derive(serde::Serialize)]
struct MemberHistory {
    addr: String,
    /// Its samples, oldest first (none if it was not asked or did not answer).
    samples: Vec<HistorySample>,
    /// Per sample, the writes of every origin it had not yet applied (see [`behind`]).
    behind: Vec<u64>,
    /// Why it has no samples.
    error: Option<String>,
}

/// Asks every member for its history; this node's own is read in place.
pub(crate) async fn history(shell: &Shell) -> HistoryView {
    let mine = status::report(shell, 0);
    let asking = asking(shell);
    // The origins this node applies: what "behind" counts, and all a member's samples may name.
    let known: HashSet<&str> = mine.cursors.iter().map(|(origin, _)| origin.as_str()).collect();
    let mut members = Vec::new();
    for member in mine.members.iter().filter(|m| m.state != MemberState::Left) {
        let (samples, error) = if member.node_id == mine.node_id {
            (shell.history.samples(), None)
        } else {
            match ask_member(shell, &member.addr, &asking, &ClientRequest::History).await {
                Ok(ClientResponse::History(samples)) => (bounded(samples, &known), None),
                Ok(other) => (Vec::new(), Some(format!("asked for its history, the member answered {other:?}"))),
                Err(error) => (Vec::new(), Some(error)),
            }
        };
        let entry = MemberHistory { addr: member.addr.clone(), samples, behind: Vec::new(), error };
        // This node first: the page's colours then start from the node it is served by.
        match member.node_id == mine.node_id {
            true => members.insert(0, entry),
            false => members.push(entry),
        }
    }
    let lines: Vec<&[HistorySample]> = members.iter().map(|m| m.samples.as_slice()).collect();
    let behind = behind(&lines);
    for (member, behind) in members.iter_mut().zip(behind) {
        member.behind = behind;
    }
    HistoryView { step_ms: shell.config.history_step.as_millis() as u64, members }
}

/// A member's answer cut to what this node would keep itself: the newest [`MAX_SAMPLES`]
/// samples, naming only origins this node knows. A member holding the cluster secret is still
/// not trusted to make this node's view walk millions of samples or origins.
fn bounded(mut samples: Vec<HistorySample>, known: &HashSet<&str>) -> Vec<HistorySample> {
    samples.drain(..samples.len().saturating_sub(MAX_SAMPLES));
    for sample in &mut samples {
        sample.applied.retain(|(origin, _)| known.contains(origin.as_str()));
    }
    samples
}

/// For every sample of every member: how many writes of every origin it had not applied that
/// some member (the origin itself included) had applied by then.
///
/// Members sample on their own clocks, so "by then" reads the newest sample of each other member
/// taken no later: the figure is a lower bound, short by at most a step of writes, never more
/// than the member really lagged.
fn behind(members: &[&[HistorySample]]) -> Vec<Vec<u64>> {
    // Each origin's (time, highest applied) points from every member, in time order.
    let mut frontiers: HashMap<&str, Vec<(u64, u64)>> = HashMap::new();
    for sample in members.iter().flat_map(|samples| samples.iter()) {
        for (origin, seq) in &sample.applied {
            frontiers.entry(origin.as_str()).or_default().push((sample.at_ms, *seq));
        }
    }
    for points in frontiers.values_mut() {
        points.sort_unstable();
        // Running maximum: the frontier at a time is the most anyone had applied by then.
        let mut highest = 0;
        for point in points.iter_mut() {
            highest = highest.max(point.1);
            point.1 = highest;
        }
    }
    let frontier_at = |origin: &str, at_ms: u64| {
        let points = frontiers.get(origin).map_or(&[][..], Vec::as_slice);
        let reached = points.partition_point(|&(t, _)| t <= at_ms);
        reached.checked_sub(1).map_or(0, |i| points[i].1)
    };
    members
        .iter()
        .map(|samples| {
            samples
                .iter()
                .map(|sample| {
                    let applied: HashMap<&str, u64> = sample.applied.iter().map(|(o, s)| (o.as_str(), *s)).collect();
                    frontiers
                        .keys()
                        .map(|origin| {
                            let mine = applied.get(origin).copied().unwrap_or(0);
                            frontier_at(origin, sample.at_ms).saturating_sub(mine)
                        })
                        .sum()
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, applied: &[(&str, u64)]) -> HistorySample {
        let applied = applied.iter().map(|(o, s)| (o.to_string(), *s)).collect();
        HistorySample { at_ms, applied, ..Default::default() }
    }

    #[test]
    fn a_members_answer_is_cut_to_the_newest_samples_and_the_known_origins() {
        let known: HashSet<&str> = ["a", "b"].into_iter().collect();
        let many: Vec<HistorySample> =
            (0..MAX_SAMPLES as u64 + 5).map(|at| sample(at, &[("a", at), ("forged", at), ("b", 1)])).collect();
        let kept = bounded(many, &known);
        assert_eq!(kept.len(), MAX_SAMPLES);
        assert_eq!(kept[0].at_ms, 5, "the oldest go");
        assert!(kept.iter().all(|s| s.applied.len() == 2 && s.applied.iter().all(|(o, _)| o != "forged")));
    }

    #[test]
    fn a_member_is_behind_by_what_others_had_applied_by_its_sample() {
        // a writes; b receives a's writes late; c was sampled before either.
        let a = [sample(1_000, &[("a", 10)]), sample(2_000, &[("a", 50)])];
        let b = [sample(1_100, &[("a", 4), ("b", 3)]), sample(2_100, &[("a", 50), ("b", 3)])];
        let c = [sample(900, &[])];
        let behind = behind(&[&a, &b, &c]);
        // a at 1000 s has all of its own, but not b's 3, which b had not sampled yet: 0.
        assert_eq!(behind[0], vec![0, 3]);
        // b at 1100: a had 10 by 1000, b has 4; at 2100 b has caught up.
        assert_eq!(behind[1], vec![6, 0]);
        // c at 900: nobody had sampled anything earlier.
        assert_eq!(behind[2], vec![0]);
    }
}
