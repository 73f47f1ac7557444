//! Forwarding a command of a slot this node does not serve to an owner, for a client that does
//! not follow redirects (see docs/partitioning.md, "Forwarding for plain clients").
//!
//! A client shows it follows redirects by asking for the topology (CLUSTER SLOTS, SHARDS or
//! NODES), by READONLY, READWRITE or ASKING, or by Valkey's `CLIENT CAPA redirect`; it then
//! gets `-MOVED` and `-ASK` as from Redis Cluster. Any other client's command is run by an owner
//! over the peer links and answered as if run here: one hop slower, no client change.

use super::cluster::Redirect;
use super::table::CommandSpec;
use super::ClientState;
use crate::forwarding::{NotForwarded, TRY_AGAIN};
use crate::shell::Shell;
use bytes::{BufMut, Bytes, BytesMut};
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::resp::{Args, Protocol, Reply};
use kvs_proto::NodeId;

/// Room a forward message needs besides its command, under the peer frame limit.
const MESSAGE_OVERHEAD: usize = 1024;

/// Whether a command may be forwarded, and where to once it was found to belong elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Forward {
    /// It is answered here, redirected if need be (the default, and inside a transaction).
    #[default]
    Never,
    /// It may be forwarded, if its slot is served elsewhere.
    May,
    /// It is to be forwarded: where Redis Cluster would send it.
    To(Redirect),
}

/// Whether a connection's next command may be forwarded: it does not follow redirects, the node
/// forwards (`--redis-redirect aware`), and nothing about it is this node's alone (client-side
/// caching tracks what this node serves).
pub fn may_forward(shell: &Shell, client: &ClientState) -> Forward {
    match !client.follows_redirects && shell.config.forward_plain_clients && client.tracking.is_none() {
        true => Forward::May,
        false => Forward::Never,
    }
}

/// Whether `spec` runs the same on another node: not a blocking command, which would hold the
/// owner's session; not pub/sub or WATCH, whose state lives with the connection.
pub fn forwardable(spec: &CommandSpec) -> bool {
    !spec.flags.iter().any(|&flag| flag == "blocking" || flag == "pubsub") && spec.name != "watch"
}

/// Runs the command (`args`) on an owner of `redirect`'s slot and writes its reply to `output`;
/// an owner that answers with a redirect of its own (a slot moving) is followed once. With no
/// owner reachable, the client gets the redirect a Redis Cluster client would, or `-TRYAGAIN`
/// when the owner did not answer.
pub async fn forward(shell: &Shell, client: &ClientState, args: &Args<'_>, redirect: Redirect, output: &mut BytesMut) {
    let mut reply = Reply::new(output, client.protocol);
    let command = encode(args);
    if command.len() + MESSAGE_OVERHEAD > shell.config.limits.max_frame_bytes {
        return reply.error(&redirect.text);
    }
    let (mut to, mut asking) = (target(shell, &redirect), redirect.ask);
    for hop in 0..2 {
        let Some(node) = to else { break };
        let forwarded = ForwardedCommand {
            user: client.user.as_ref().map(|(name, _)| name.clone()).unwrap_or_default(),
            db: client.db,
            resp3: client.protocol == Protocol::Resp3,
            asking,
            command: command.clone(),
        };
        match shell.forward(node, forwarded).await {
            Ok(answer) => match redirected(shell, &answer) {
                Some((next, ask)) if hop == 0 && next != node => (to, asking) = (Some(next), ask),
                _ => return output.extend_from_slice(&answer),
            },
            Err(NotForwarded::Unreachable | NotForwarded::TimedOut) => return reply.error(TRY_AGAIN),
        }
    }
    reply.error(&redirect.text)
}

/// The member to run it on: for `-ASK`, the one that holds the slot whole; for `-MOVED`, the
/// owner named if a link to it is up, else the first other owner with one.
fn target(shell: &Shell, redirect: &Redirect) -> Option<NodeId> {
    let me = shell.core.me().id;
    let linked = |node: &NodeId| *node != me && shell.peers.connection(*node).is_some();
    if redirect.ask || redirect.to.as_ref().is_some_and(linked) {
        return redirect.to.filter(linked);
    }
    let (_, owners) = shell.core.layout_owners()?;
    owners.get(usize::from(redirect.slot))?.iter().copied().find(linked)
}

/// The member an owner's `-MOVED` or `-ASK` answer names (its layout moved on), and whether it
/// was `-ASK`.
fn redirected(shell: &Shell, answer: &[u8]) -> Option<(NodeId, bool)> {
    let (ask, rest) = match answer {
        [b'-', b'M', b'O', b'V', b'E', b'D', b' ', rest @ ..] => (false, rest),
        [b'-', b'A', b'S', b'K', b' ', rest @ ..] => (true, rest),
        _ => return None,
    };
    let text = std::str::from_utf8(rest).ok()?.trim_end();
    let endpoint: std::net::SocketAddr = text.split(' ').nth(1)?.parse().ok()?;
    let layout = shell.core.layout()?;
    let me = (shell.core.me().id, shell.redis_addr);
    let port_of = |node| shell.core.redis_port_of(node);
    let node = layout
        .members
        .iter()
        .map(|m| m.node)
        .find(|&node| super::cluster_topology::endpoint_of(&layout, node, me, port_of) == Some(endpoint))?;
    Some((node, ask))
}

/// The command as a RESP array of bulk strings, as the owner parses it.
fn encode(args: &Args<'_>) -> Bytes {
    let size: usize = args.iter().map(|arg| arg.len() + 16).sum();
    let mut out = BytesMut::with_capacity(size + 16);
    out.put_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args.iter() {
        out.put_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
    out.freeze()
}
