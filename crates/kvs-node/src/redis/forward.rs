//! Forwarding a command of a slot this node does not serve to an owner, for a client that does
//! not follow redirects (see docs/partitioning.md, "Forwarding for plain clients").
//!
//! A client shows it follows redirects by asking for the topology (CLUSTER SLOTS, SHARDS or
//! NODES), by READONLY, READWRITE or ASKING, or by Valkey's `CLIENT CAPA redirect`; it then
//! gets `-MOVED` and `-ASK` as from Redis Cluster. Any other client's command is run by an owner
//! over the peer links and answered as if run here: one hop slower, no client change.

use super::cluster::Redirect;
use super::table::CommandSpec;
use super::{ClientState, Replies};
use crate::forward_exchange::Asked;
use crate::forwarding::{NotForwarded, TRY_AGAIN};
use crate::shell::Shell;
use bytes::{BufMut, Bytes, BytesMut};
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::resp::{Args, Protocol, Reply};
use kvs_proto::NodeId;

/// Forwarded commands a connection awaits at once; a pipeline's next commands wait for them.
pub const MAX_WAITING: usize = 64;

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

/// Slots a connection remembered the member of: at most this many, then it starts over.
const MAX_STICKY_SLOTS: usize = 1024;

/// Where a connection's forwarded commands of each slot last ran, so its next ones of the slot
/// go there while that member serves the slot: a write and the read after it meet on one member
/// even when the layout moves the slot between them. Another owner may not have the write yet
/// (owners replicate asynchronously); the member that ran it keeps serving the slot until every
/// owner holds it past that write, and once it stops, its `-MOVED` is followed, to an owner
/// that has it.
#[derive(Debug, Default)]
pub struct Sticky(std::collections::HashMap<u16, NodeId>);

impl Sticky {
    fn remember(&mut self, slot: u16, node: NodeId) {
        if self.0.len() >= MAX_STICKY_SLOTS && !self.0.contains_key(&slot) {
            self.0.clear();
        }
        self.0.insert(slot, node);
    }
}

/// A forwarded command whose reply its connection awaits before writing the replies after it.
pub struct Waiting<'s> {
    shell: &'s Shell,
    asked: Asked<'s>,
    /// Its keys' slot.
    slot: u16,
    /// Where it went, and what it was, for a second hop.
    sent: (NodeId, ForwardedCommand),
    protocol: Protocol,
    /// CLIENT REPLY OFF or SKIP: its reply is awaited, not written.
    suppressed: bool,
}

/// Sends the command (`args`) to an owner of `redirect`'s slot: what to await for its reply, or
/// `None` when it could not be sent, the client answered in `output` (the redirect a Redis
/// Cluster client would get, when no owner is linked or the command is too large to forward;
/// `-TRYAGAIN`, when the owner could not be reached).
pub async fn start<'s>(
    shell: &'s Shell,
    client: &ClientState,
    args: &Args<'_>,
    redirect: Redirect,
    output: &mut BytesMut,
) -> Option<Waiting<'s>> {
    let mut reply = Reply::new(output, client.protocol);
    let command = encode(args);
    let slot = redirect.slot();
    // Where this connection's last command of the slot ran, while that member is linked.
    let sticky = client.sticky.0.get(&slot).copied().filter(|&node| linked(shell, node));
    let Some(node) = sticky
        .or_else(|| target(shell, &redirect))
        .filter(|_| command.len() + MESSAGE_OVERHEAD <= shell.config.limits.max_frame_bytes)
    else {
        reply.error(&redirect.text(&shell.core, (shell.id, shell.redis_addr), shell.now()));
        return None;
    };
    let forwarded = ForwardedCommand {
        user: client.user.as_ref().map(|(name, _)| name.clone()).unwrap_or_default(),
        db: client.db,
        resp3: client.protocol == Protocol::Resp3,
        asking: matches!(redirect, Redirect::Ask { .. }),
        command,
    };
    match shell.ask_forward(node, forwarded.clone()).await {
        Ok(asked) => Some(Waiting {
            shell,
            asked,
            slot,
            sent: (node, forwarded),
            protocol: client.protocol,
            suppressed: client.replies != Replies::On,
        }),
        Err(_) => {
            reply.error(TRY_AGAIN);
            None
        }
    }
}

impl Waiting<'_> {
    /// Awaits the owner's reply and writes it to `output`, remembering in `sticky` who ran it. An
    /// owner that answers with a redirect of its own (its slot moved on) is followed once; an
    /// owner that does not answer in time gets the client `-TRYAGAIN`.
    pub async fn finish(self, output: &mut BytesMut, sticky: &mut Sticky) {
        let Waiting { shell, asked, slot, sent: (mut node, mut command), protocol, suppressed } = self;
        let mut answer = asked.answer().await;
        if let Some((next, ask)) = answer.as_ref().ok().and_then(|reply| redirected(shell, reply)) {
            if next != node && next != shell.id {
                command.asking = ask;
                node = next;
                answer = shell.forward(next, command).await;
            }
        }
        if answer.is_ok() {
            sticky.remember(slot, node);
        }
        if suppressed {
            return;
        }
        match answer {
            Ok(reply) => output.extend_from_slice(&reply),
            Err(NotForwarded::Unreachable | NotForwarded::TimedOut) => Reply::new(output, protocol).error(TRY_AGAIN),
        }
    }
}

/// Writes the replies of `output` with those of the forwarded commands awaited at their places
/// (each `(offset into output, its command)`), in order, into `output`; `sticky` is the
/// connection's (see [`Sticky`]).
pub async fn splice(output: &mut BytesMut, waiting: &mut Vec<(usize, Waiting<'_>)>, sticky: &mut Sticky) {
    let mut whole = BytesMut::with_capacity(output.len());
    let mut from = 0;
    for (at, forward) in waiting.drain(..) {
        whole.extend_from_slice(&output[from..at]);
        forward.finish(&mut whole, sticky).await;
        from = at;
    }
    whole.extend_from_slice(&output[from..]);
    *output = whole;
}

/// The member to run it on: for `-ASK`, the one that holds the slot whole; for `-MOVED`, the
/// first owner a link to is up.
fn target(shell: &Shell, redirect: &Redirect) -> Option<NodeId> {
    match redirect {
        Redirect::Ask { holder, .. } => Some(*holder).filter(|&node| linked(shell, node)),
        Redirect::Moved { slot } => {
            shell.core.owners()?.get(usize::from(*slot))?.iter().copied().find(|&node| linked(shell, node))
        }
    }
}

/// Whether a forward can go to `node`: another member, with our link to it up.
fn linked(shell: &Shell, node: NodeId) -> bool {
    node != shell.id && shell.peers.connection(node).is_some()
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
    let me = (shell.id, shell.redis_addr);
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
    let mut number = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(number.format(args.len()).as_bytes());
    out.put_slice(b"\r\n");
    for arg in args.iter() {
        out.put_u8(b'$');
        out.put_slice(number.format(arg.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
    out.freeze()
}
