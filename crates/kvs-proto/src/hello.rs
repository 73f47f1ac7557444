//! The handshake every connection opens with.

use crate::client::ErrorReply;
use crate::model::NodeId;
use crate::peer::MemberInfo;
use serde::{Deserialize, Serialize};

/// Bumped whenever a wire type changes incompatibly; peers with another version are refused.
pub const PROTOCOL_VERSION: u32 = 4;

/// First frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal the receiver's [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Whether the rest of the connection carries client requests or peer messages.
    pub role: Role,
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
}

impl Hello {
    /// A hello for the current protocol version.
    pub fn new(role: Role) -> Self {
        Hello { protocol_version: PROTOCOL_VERSION, role }
    }
}
