//! `/cluster`: every member's status and the verdict, as `kvs-client check --json` prints them,
//! asked from this node without ever forwarding the viewer's password.
//!
//! This node's own status is read in place. Other members are asked with the cluster's own
//! credentials: with a cluster secret, as a viewer that proves the secret like a peer (and over
//! TLS when the node has it), so a fake member or whoever holds a dead member's port learns
//! nothing it could log in with. Without a secret and without users the members need no
//! credentials and are asked as an anonymous client. With users but no secret the node has no
//! credentials of its own, so the other members are listed as not asked, with the flag that
//! would let it ask.

use crate::peer_handshake;
use crate::shell::Shell;
use crate::status;
use kvs_client::check::{verdict, ClusterCheck, NodeCheck};
use kvs_client::{Client, ClientOptions};
use kvs_proto::{ClientRequest, ClientResponse, MemberState, StatusReport};
use std::net::SocketAddr;
use std::time::Duration;

/// How long the view waits for each member.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(1);

/// What `/cluster` answers: the check, and this node's versions (the cluster version and its
/// feature gates as this node found them).
#[derive(serde::Serialize)]
pub(crate) struct View {
    /// Every member's status and the verdict.
    #[serde(flatten)]
    pub(crate) check: ClusterCheck,
    /// This node's release, protocols, cluster version and gates.
    pub(crate) versions: kvs_proto::VersionsReport,
}

/// How another member is asked for its status or history.
pub(crate) enum Asking {
    /// As a viewer proving the cluster secret.
    AsMember,
    /// As a client with no credentials (nobody needs any).
    Anonymously,
    /// Not at all: the node has no credentials of its own.
    NotAtAll,
}

/// Every member this node knows (but those that left), each as it answered, and the verdict.
pub(crate) async fn check(shell: &Shell) -> ClusterCheck {
    let mine = status::report(shell, 0);
    let asking = asking(shell);
    let mut nodes = Vec::new();
    for member in mine.members.iter().filter(|m| m.state != MemberState::Left) {
        let addr = member.addr.clone();
        if member.node_id == mine.node_id {
            nodes.push(NodeCheck { addr, status: Some(mine.clone()), error: None });
            continue;
        }
        let (status, error) = match ask(shell, &addr, &asking).await {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        nodes.push(NodeCheck { addr, status, error });
    }
    let verdict = verdict(&nodes);
    ClusterCheck { nodes, verdict }
}

async fn ask(shell: &Shell, addr: &str, asking: &Asking) -> Result<StatusReport, String> {
    match ask_member(shell, addr, asking, &ClientRequest::Status { max_keys: 0 }).await? {
        ClientResponse::Status(report) => Ok(*report),
        other => Err(format!("asked for its status, the member answered {other:?}")),
    }
}

/// How this node asks the other members (see [`Asking`]).
pub(crate) fn asking(shell: &Shell) -> Asking {
    match (&shell.config.cluster_secret, &shell.config.users) {
        (Some(_), _) => Asking::AsMember,
        (None, None) => Asking::Anonymously,
        (None, Some(_)) => Asking::NotAtAll,
    }
}

/// Asks the member at `addr` one read-only `request`, as `asking` says.
pub(crate) async fn ask_member(
    shell: &Shell,
    addr: &str,
    asking: &Asking,
    request: &ClientRequest,
) -> Result<ClientResponse, String> {
    let parsed: SocketAddr = addr.parse().map_err(|e| format!("bad member address {addr}: {e}"))?;
    match asking {
        Asking::AsMember => {
            let asked = tokio::time::timeout(MEMBER_TIMEOUT, peer_handshake::ask_as_viewer(shell, parsed, request)).await;
            asked.map_err(|_| "no answer in time".to_string())?.map_err(|e| e.to_string())
        }
        Asking::Anonymously if shell.config.tls.is_some() => {
            Err("not asked: this node has TLS and no cluster secret to ask members with".into())
        }
        Asking::Anonymously => {
            let options = ClientOptions { timeout: MEMBER_TIMEOUT, ..ClientOptions::default() };
            let asked = async { Client::connect_with(addr, options).await?.request(request).await };
            asked.await.map_err(|e| e.to_string())
        }
        Asking::NotAtAll => Err(
            "not asked: a user's password is never forwarded, and without --cluster-secret-file this node has no credentials of its own"
                .into(),
        ),
    }
}
