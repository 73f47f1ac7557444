//! The handshake every connection opens with.

use crate::client::ErrorReply;
use crate::model::NodeId;
use crate::peer::MemberInfo;
use serde::{Deserialize, Serialize};

/// The newest wire protocol this build speaks; bumped by every release that changes a wire type.
///
/// Since protocol 8 every change is additive (a new enum variant at the end, never a new field in
/// an existing struct), so a build can speak the protocol before its own by never sending what
/// that one lacks (see [`PeerMessage::protocol`](crate::PeerMessage::protocol)).
pub const PROTOCOL_VERSION: u32 = 9;

/// The oldest wire protocol this build still speaks: the previous release's, so the two run side
/// by side in one cluster during a rolling upgrade.
pub const OLDEST_PROTOCOL_VERSION: u32 = 7;

/// Whether this build speaks `version`.
pub fn speaks(version: u32) -> bool {
    (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version)
}

/// The versions a dialer offers, newest first: it says hello in the newest and steps down when
/// the responder refuses it as a version mismatch.
///
/// A hello names one version, not a range, because protocol 7 decodes its hello strictly (a range
/// field would be trailing bytes to it): a newer dialer must speak 7's exact layout to be heard.
pub fn offered_versions() -> impl Iterator<Item = u32> {
    (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).rev()
}

/// Dials in each of `versions` (newest first) with `attempt` until the responder takes one:
/// an attempt whose error `mismatch` calls a version mismatch is followed by one a version down,
/// on a new connection; any other outcome is the answer. `Err(None)` if no version was tried;
/// `Err(Some(last refusal))` if every one was refused. The one loop of every dialer (client
/// library and peers), which differ only in how they dial and what their errors are.
pub async fn step_down<T, E, F>(
    versions: impl IntoIterator<Item = u32>,
    mut attempt: impl FnMut(u32) -> F,
    mismatch: impl Fn(&E) -> bool,
) -> Result<T, Option<E>>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let mut refused = None;
    for version in versions {
        match attempt(version).await {
            Err(error) if mismatch(&error) => refused = Some(error),
            outcome => return outcome.map_err(Some),
        }
    }
    Err(refused)
}

/// First frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The version the connection speaks if the receiver accepts it: one the receiver
    /// [`speaks`], or it answers [`crate::ErrorCode::VersionMismatch`].
    pub protocol_version: u32,
    /// Whether the rest of the connection carries client requests or peer messages.
    pub role: Role,
    /// A client's user and password, for a node with a users file.
    pub credentials: Option<Credentials>,
}

/// A client's user name and password (sent as Redis's AUTH sends them: protect the wire with TLS).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The user.
    pub user: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// 32 random bytes a side of a peer handshake contributes, so no proof can be replayed.
pub type Nonce = [u8; 32];

/// An HMAC-SHA256 over both nonces and both node ids, keyed with the cluster secret.
pub type Proof = [u8; 32];

/// The dialer's answer to a [`HelloReply::Challenge`]: its own proof of the cluster secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerProof {
    /// The dialer's proof.
    pub proof: Proof,
}

/// Who is connecting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A client that will send [`crate::ClientRequest`]s and read one response each.
    Client,
    /// A cluster member that will stream [`crate::PeerMessage`]s.
    Peer {
        /// Its own membership record.
        member: MemberInfo,
        /// The origin its writes are made under in this run: every entry it pushes must carry it.
        origin: NodeId,
        /// The dialer's half of the challenge, for a cluster with a secret.
        nonce: Nonce,
        /// The address the dialer dialed: part of what both proofs cover, and the responder's
        /// own, or the hello was relayed from somewhere else.
        dialed: std::net::SocketAddr,
    },
    /// A member asking another for its status (the cluster page's view), proving the cluster
    /// secret as a peer does, so that no user's password need be forwarded; then a read-only client.
    Viewer {
        /// The asking member's node id.
        node: NodeId,
        /// The asker's half of the challenge.
        nonce: Nonce,
        /// The address it dialed (see `Peer`).
        dialed: std::net::SocketAddr,
    },
}

/// The node's answer to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    /// Accepted; `node` is the responder and `members` every member it knows, so a joiner learns the cluster.
    Welcome {
        /// The responding node's own record.
        node: MemberInfo,
        /// All other members the responder knows about.
        members: Vec<MemberInfo>,
    },
    /// Refused (version mismatch, malformed hello); the connection closes after this frame.
    Rejected(ErrorReply),
    /// The responder holds a cluster secret: it proves it, and challenges the dialer to answer
    /// with a [`PeerProof`] before it welcomes it.
    Challenge {
        /// The responder's id (bound into both proofs).
        node: NodeId,
        /// The responder's half of the challenge.
        nonce: Nonce,
        /// The responder's proof.
        proof: Proof,
    },
}

impl Hello {
    /// A hello for the newest protocol version.
    pub fn new(role: Role) -> Self {
        Hello::at(PROTOCOL_VERSION, role)
    }

    /// A hello offering protocol `version`.
    pub fn at(version: u32, role: Role) -> Self {
        Hello { protocol_version: version, role, credentials: None }
    }

    /// A client's hello carrying its credentials, if any, offering protocol `version`.
    pub fn client(version: u32, credentials: Option<Credentials>) -> Self {
        Hello { protocol_version: version, role: Role::Client, credentials }
    }
}

/// A refusal's message for a hello of a version the responder does not speak: the dialer steps
/// down on its code, a person reads the range.
pub fn version_mismatch(offered: u32) -> crate::ErrorReply {
    crate::ErrorReply::new(
        crate::ErrorCode::VersionMismatch,
        format!(
            "protocol version {offered} is not one this node speaks ({OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION})"
        ),
    )
}

#[cfg(test)]
mod tests {
    /// Runs a future whose attempts never wait.
    fn now<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("the attempts here never wait"),
        }
    }

    #[test]
    fn a_dialer_steps_down_only_on_a_version_mismatch() {
        let mismatch = |e: &&str| *e == "mismatch";
        let answers = |v: u32| {
            std::future::ready(match v {
                9 => Err("mismatch"),
                8 => Ok(8),
                _ => Err("unreachable"),
            })
        };
        assert_eq!(now(super::step_down([9, 8, 7], answers, mismatch)), Ok(8));
        let refused = |_| std::future::ready(Err::<u32, _>("mismatch"));
        assert_eq!(now(super::step_down([9, 8], refused, mismatch)), Err(Some("mismatch")));
        let other = |_| std::future::ready(Err::<u32, _>("timed out"));
        assert_eq!(now(super::step_down([9, 8], other, mismatch)), Err(Some("timed out")), "no step down");
        assert_eq!(now(super::step_down([], answers, mismatch)), Err(None));
    }
}
