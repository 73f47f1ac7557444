//! Whether a cluster agrees with itself: every member's digest, key count and view of the members.

use crate::client::{Client, ClientOptions};
use crate::error::ClientError;
use kvs_proto::{MemberState, StatusReport};
use serde::Serialize;

/// The cluster's verdict, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A member did not answer, or the members' views of who is alive differ.
    MembersDisagree,
    /// Every member answered with the same view, but their data differs (digests).
    Diverged,
    /// Every member answered, with the same view of the members and the same digest.
    InSync,
}

impl Verdict {
    /// How the verdict reads in the command line's output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::MembersDisagree => "members disagree",
            Verdict::Diverged => "diverged",
            Verdict::InSync => "in sync",
        }
    }
}

/// One member as it answered the check (or why it did not).
#[derive(Clone, Debug, Serialize)]
pub struct NodeCheck {
    /// The address the seed listed it at.
    pub addr: String,
    /// Its status, when it answered.
    pub status: Option<StatusReport>,
    /// Why it did not answer.
    pub error: Option<String>,
}

impl NodeCheck {
    /// The addresses this node counts as alive, itself included, sorted: its view of the members.
    pub fn alive_view(&self) -> Option<Vec<String>> {
        let status = self.status.as_ref()?;
        let mut view: Vec<String> =
            status.members.iter().filter(|m| m.state == MemberState::Alive).map(|m| m.addr.clone()).collect();
        view.sort();
        Some(view)
    }
}

/// What the check found.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterCheck {
    /// Every member the seed knows (except those that left), as each answered.
    pub nodes: Vec<NodeCheck>,
    /// The verdict over them.
    pub verdict: Verdict,
}

/// Asks the node at `seed` for its members, then every member that has not left for its status,
/// one after the other, each with `options`; fails only if the seed cannot be asked.
pub async fn check_cluster(seed: &str, options: &ClientOptions) -> Result<ClusterCheck, ClientError> {
    let first = Client::connect_with(seed, options.clone()).await?.status(0).await?;
    let mut nodes = Vec::new();
    for member in first.members.iter().filter(|m| m.state != MemberState::Left) {
        let asked = async { Client::connect_with(&member.addr, options.clone()).await?.status(0).await };
        let (status, error) = match asked.await {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error.to_string())),
        };
        nodes.push(NodeCheck { addr: member.addr.clone(), status, error });
    }
    let verdict = verdict(&nodes);
    Ok(ClusterCheck { nodes, verdict })
}

/// The verdict over what the members answered.
pub fn verdict(nodes: &[NodeCheck]) -> Verdict {
    let views: Option<Vec<Vec<String>>> = nodes.iter().map(NodeCheck::alive_view).collect();
    let Some(views) = views else { return Verdict::MembersDisagree };
    let everyone: Vec<String> = {
        let mut all: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
        all.sort();
        all
    };
    if views.iter().any(|view| *view != everyone) {
        return Verdict::MembersDisagree;
    }
    let digests = nodes.iter().filter_map(|n| n.status.as_ref()).map(|s| &s.digest);
    let first = nodes.iter().find_map(|n| n.status.as_ref()).map(|s| &s.digest);
    if digests.into_iter().any(|digest| Some(digest) != first) {
        return Verdict::Diverged;
    }
    Verdict::InSync
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::MemberStatus;

    fn node(addr: &str, digest: &str, alive: &[&str]) -> NodeCheck {
        let members = alive
            .iter()
            .map(|a| MemberStatus {
                node_id: a.to_string(),
                addr: a.to_string(),
                state: MemberState::Alive,
                last_heard_ms: 0,
                clock_offset_ms: None,
            })
            .collect();
        let status = StatusReport { addr: addr.into(), digest: digest.into(), members, ..StatusReport::default() };
        NodeCheck { addr: addr.into(), status: Some(status), error: None }
    }

    #[test]
    fn agreement_divergence_and_disagreement() {
        let all = ["a:1", "b:2"];
        assert_eq!(verdict(&[node("a:1", "d1", &all), node("b:2", "d1", &all)]), Verdict::InSync);
        assert_eq!(verdict(&[node("a:1", "d1", &all), node("b:2", "d2", &all)]), Verdict::Diverged);
        assert_eq!(verdict(&[node("a:1", "d1", &all), node("b:2", "d1", &["b:2"])]), Verdict::MembersDisagree);
        let silent = NodeCheck { addr: "b:2".into(), status: None, error: Some("refused".into()) };
        assert_eq!(verdict(&[node("a:1", "d1", &all), silent]), Verdict::MembersDisagree);
    }
}
