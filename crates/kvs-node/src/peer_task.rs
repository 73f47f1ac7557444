//! One task per member: dials it and streams our writes, gossip and repair digests to it.
//!
//! Messages on a connection flow one way, from dialer to acceptor, so each pair of nodes has
//! two connections, one per direction, and no request ever waits for a reply here.

use crate::net;
use crate::node::Node;
use kvs_proto::{Connection, Hello, HelloReply, MemberInfo, PeerMessage, ProtoError, Role};
use kvs_store::store::SHARDS;
use kvs_store::Record;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio::time::{interval, timeout, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Commands another part of the node sends to a peer task.
#[derive(Debug)]
pub enum PeerCommand {
    /// The peer's digest differs from ours: send it everything we hold.
    SendState,
}

/// The node's handle on a running peer task.
pub struct PeerHandle {
    /// Cancelled to stop the task (member left or replaced); child of the node's shutdown token.
    pub stop: CancellationToken,
    /// Delivers [`PeerCommand`]s.
    pub control: mpsc::Sender<PeerCommand>,
}

/// What a peer task sends: peer messages whose entries are our records, shipped without copying.
type Outgoing = PeerMessage<Record>;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Creates the task for `member`; the caller spawns the returned future.
pub fn spawn(node: Arc<Node>, member: MemberInfo) -> (PeerHandle, impl Future<Output = ()>) {
    let stop = node.shutdown_token().child_token();
    let (control, commands) = mpsc::channel(1);
    let task = run(node, member, stop.clone(), commands);
    (PeerHandle { stop, control }, task)
}

/// Why one connection's streaming ended.
enum Ended {
    /// Stop was requested; the task ends.
    Stopped,
    /// The connection failed; redial.
    Failed(ProtoError),
}

async fn run(node: Arc<Node>, member: MemberInfo, stop: CancellationToken, mut commands: mpsc::Receiver<PeerCommand>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let dialed = tokio::select! {
            _ = stop.cancelled() => break,
            dialed = dial(&node, &member) => dialed,
        };
        let ended = match dialed {
            Ok(mut conn) => {
                backoff = FIRST_BACKOFF;
                let ended = stream(&node, &mut conn, &stop, &mut commands).await;
                if matches!(ended, Ended::Stopped) && node.is_shutting_down() {
                    let leave = Outgoing::Leave { member: node.me() };
                    let _ = timeout(node.config.peer_write_timeout, conn.send(&leave)).await;
                }
                ended
            }
            Err(error) => Ended::Failed(error),
        };
        match ended {
            Ended::Stopped => break,
            Ended::Failed(error) => {
                tracing::debug!(peer = %member.id, addr = %member.addr, %error, ?backoff, "peer connection failed");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    tracing::debug!(peer = %member.id, "peer task ended");
}

/// Connects and greets; the welcome's member list is merged, which is how a joiner learns the cluster.
async fn dial(node: &Arc<Node>, member: &MemberInfo) -> Result<Connection<net::Stream>, ProtoError> {
    let deadline = node.config.hello_timeout;
    let stream = timeout(deadline, net::connect(member.addr)).await.map_err(timed_out)??;
    let mut conn = Connection::new(stream, node.config.limits.max_frame_bytes);
    conn.send(&Hello::new(Role::Peer(node.me()))).await?;
    match timeout(deadline, conn.recv::<HelloReply>()).await.map_err(timed_out)?? {
        Some(HelloReply::Welcome { node: them, members }) => {
            let id = them.id;
            node.merge_members(std::iter::once(them).chain(members));
            if id != member.id {
                // A newer incarnation lives at this address; merging it retires this task.
                return Err(ProtoError::Malformed(format!("expected node {}, found {id}", member.id)));
            }
            Ok(conn)
        }
        Some(HelloReply::Rejected(reply)) => Err(ProtoError::Malformed(format!("peer refused us: {reply}"))),
        None => Err(ProtoError::Truncated),
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> ProtoError {
    ProtoError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "peer did not answer in time"))
}

/// Streams to a connected peer until stopped or the connection fails.
async fn stream(
    node: &Arc<Node>,
    conn: &mut Connection<net::Stream>,
    stop: &CancellationToken,
    commands: &mut mpsc::Receiver<PeerCommand>,
) -> Ended {
    // Subscribe before offering our digest, so nothing written after the offer is missed.
    let mut pushes = node.subscribe_pushes();
    let mut gossip = interval(node.config.gossip_interval);
    let mut repair = interval(node.config.repair_interval);
    gossip.set_missed_tick_behavior(MissedTickBehavior::Delay);
    repair.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let write_timeout = node.config.peer_write_timeout;
    loop {
        let result = tokio::select! {
            _ = stop.cancelled() => return Ended::Stopped,
            command = commands.recv() => match command {
                Some(PeerCommand::SendState) => send_state(node, conn).await,
                None => return Ended::Stopped,
            },
            pushed = pushes.recv() => match pushed {
                Ok(first) => send_pushes(node, conn, &mut pushes, first).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "peer fell behind the push log; sending full state");
                    send_state(node, conn).await
                }
                Err(RecvError::Closed) => return Ended::Stopped,
            },
            _ = gossip.tick() => send(conn, &Outgoing::Gossip { members: node.member_infos() }, write_timeout).await,
            _ = repair.tick() => send(conn, &Outgoing::Digest { digest: node.store.digest() }, write_timeout).await,
        };
        if let Err(error) = result {
            return Ended::Failed(error);
        }
    }
}

async fn send(conn: &mut Connection<net::Stream>, message: &Outgoing, deadline: Duration) -> Result<(), ProtoError> {
    timeout(deadline, conn.send(message)).await.map_err(timed_out)?
}

/// Sends `first` and whatever else is already queued, up to the batch bound, as one frame.
async fn send_pushes(
    node: &Node,
    conn: &mut Connection<net::Stream>,
    pushes: &mut tokio::sync::broadcast::Receiver<Record>,
    first: Record,
) -> Result<(), ProtoError> {
    let max_bytes = node.config.max_batch_bytes;
    let mut bytes = entry_size(&first);
    let mut entries = vec![first];
    let mut lagged = false;
    while bytes < max_bytes {
        match pushes.try_recv() {
            Ok(next) => {
                bytes += entry_size(&next);
                entries.push(next);
            }
            Err(TryRecvError::Lagged(_)) => {
                lagged = true;
                break;
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    send(conn, &Outgoing::Entries { entries }, node.config.peer_write_timeout).await?;
    if lagged {
        send_state(node, conn).await?;
    }
    Ok(())
}

/// Sends every record we hold, shard by shard, in frames of bounded size. O(data set): the repair
/// of last resort. Walking shards keeps the extra memory to one shard's pointers at a time.
async fn send_state(node: &Node, conn: &mut Connection<net::Stream>) -> Result<(), ProtoError> {
    tracing::debug!(records = node.store.live_count() + node.store.tombstone_count(), "sending full state");
    let max_bytes = node.config.max_batch_bytes;
    let deadline = node.config.peer_write_timeout;
    let mut batch = Vec::new();
    let mut bytes = 0;
    for shard in 0..SHARDS {
        for record in node.store.shard_records(shard) {
            bytes += entry_size(&record);
            batch.push(record);
            if bytes >= max_bytes {
                let entries = std::mem::take(&mut batch);
                timeout(deadline, conn.feed(&Outgoing::Entries { entries })).await.map_err(timed_out)??;
                bytes = 0;
            }
        }
    }
    if !batch.is_empty() {
        timeout(deadline, conn.feed(&Outgoing::Entries { entries: batch })).await.map_err(timed_out)??;
    }
    timeout(deadline, conn.flush()).await.map_err(timed_out)?
}

/// Approximate encoded size of one record (key, value, version and framing).
fn entry_size(record: &Record) -> usize {
    record.payload_len() + 32
}
