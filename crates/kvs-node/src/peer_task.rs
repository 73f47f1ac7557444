//! One task per member: dials it and streams our writes, gossip and anti-entropy messages to it.
//!
//! Messages on a connection flow one way, from dialer to acceptor, so each pair of nodes has
//! two connections, one per direction, and no request ever waits for a reply here.

use crate::core::Outgoing;
use crate::core::Pushed;
use crate::net;
use crate::outbox::Outbox;
use crate::peer_handshake;
use crate::peer_links::{LinkState, PeerCommand, PeerHandle, PeerTask, COMMAND_QUEUE, FORWARD_QUEUE};
use crate::peer_pushes::{send_pushes, PeerWants};
use crate::peer_send::{feed, send, timed_out};
use crate::shell::Shell;
use crate::stats::bump;
use kvs_proto::peer::Cursors;
use kvs_proto::NodeId;
use kvs_proto::{Connection, MemberInfo, PeerMessage, ProtoError};
use kvs_store::replica::AntiEntropyAnswer;
use kvs_store::Record;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::{interval, timeout, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Creates the task for `member`; the shell spawns it (see [`crate::shell::SpawnPeer`]).
pub(crate) fn spawn(shell: Arc<Shell>, member: MemberInfo) -> (PeerHandle, PeerTask) {
    let stop = shell.shutdown_token().child_token();
    let (control, commands) = mpsc::channel(COMMAND_QUEUE);
    let (forwards, forwarded) = mpsc::channel(FORWARD_QUEUE);
    let link = Arc::new(LinkState::default());
    let task = run(shell, member, stop.clone(), Queues { commands, forwarded }, link.clone());
    (PeerHandle { stop, control, forwards, link }, Box::pin(task))
}

/// What the shell hands a peer task, kept across its connections.
struct Queues {
    commands: mpsc::Receiver<PeerCommand>,
    /// Forwarded Redis commands and answers (see [`crate::forwarding`]).
    forwarded: mpsc::Receiver<Outgoing>,
}

/// What the shell handed the task that it takes next.
enum Handed {
    /// A control command (`None`: the shell dropped the task's handle).
    Command(Option<PeerCommand>),
    /// A forwarded Redis command or its answer.
    Forward(Outgoing),
}

/// The next control command, or else the next forward: control (gossip, anti-entropy, acks)
/// is never queued behind a burst of forwards.
async fn next_handed(commands: &mut mpsc::Receiver<PeerCommand>, forwarded: &mut mpsc::Receiver<Outgoing>) -> Handed {
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(command) = commands.poll_recv(cx) {
            return std::task::Poll::Ready(Handed::Command(command));
        }
        // The shell holds the forwards' sender as long as the commands', so this never closes
        // first.
        match forwarded.poll_recv(cx) {
            std::task::Poll::Ready(Some(forward)) => std::task::Poll::Ready(Handed::Forward(forward)),
            _ => std::task::Poll::Pending,
        }
    })
    .await
}

/// Why one connection's streaming ended.
enum Ended {
    /// Stop was requested; the task ends.
    Stopped,
    /// The connection failed; redial.
    Failed(ProtoError),
}

async fn run(shell: Arc<Shell>, member: MemberInfo, stop: CancellationToken, mut queues: Queues, link: Arc<LinkState>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let dialed = tokio::select! {
            _ = stop.cancelled() => break,
            dialed = dial(&shell, &member) => dialed,
        };
        let ended = match dialed {
            Ok((mut conn, version)) => {
                backoff = FIRST_BACKOFF;
                link.connected();
                // Anti-entropy asks only connected peers; this one may hold what we lack.
                shell.peers.kick_anti_entropy();
                let ended = stream(&shell, (member.id, version), &mut conn, &stop, &mut queues, &link).await;
                link.disconnected();
                match ended {
                    Ended::Stopped if shell.is_shutting_down() => {
                        claim(&mut conn, &link.outbox);
                        let leave = Outgoing::Leave { member: shell.core.me() };
                        let _ = timeout(shell.config.peer_write_timeout, conn.send(&leave)).await;
                    }
                    // Drop what is still queued for an unresponsive peer instead of delivering it
                    // late: anti-entropy sends it what it lacks once it answers again.
                    Ended::Failed(_) => {
                        net::abort(conn.get_ref());
                        bump(&shell.core.stats().peer_connections_reset, 1);
                    }
                    Ended::Stopped => {}
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
            // The peer dialed us: it is back, and may be waiting for an answer.
            _ = link.redial_wanted() => backoff = FIRST_BACKOFF,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    tracing::debug!(peer = %member.id, "peer task ended");
}

/// Connects and greets; the welcome's member list is merged, which is how a joiner learns the
/// cluster. Returns the connection and the protocol version it speaks.
async fn dial(shell: &Arc<Shell>, member: &MemberInfo) -> Result<(Connection<net::Stream>, u32), ProtoError> {
    let greeted = peer_handshake::greet(shell, member.addr).await?;
    let (conn, welcome, version) = (greeted.conn, greeted.welcome, greeted.version);
    net::peer_link(net::socket(conn.get_ref()), shell.config.dead_after);
    let id = welcome.0.id;
    shell.execute_control(shell.core.welcomed(welcome, shell.now()));
    if id != member.id {
        // A newer incarnation lives at this address; merging it retires this task.
        return Err(ProtoError::Malformed(format!("expected node {}, found {id}", member.id)));
    }
    Ok((conn, version))
}

/// Streams to a connected peer (its id, and the protocol version the connection speaks) until
/// stopped or the connection fails.
async fn stream(
    shell: &Arc<Shell>,
    (peer, version): (NodeId, u32),
    conn: &mut Connection<net::Stream>,
    stop: &CancellationToken,
    Queues { commands, forwarded }: &mut Queues,
    link: &LinkState,
) -> Ended {
    let outbox = &link.outbox;
    let mut pushes = shell.writes.subscribe_pushes();
    // Subscribed first: a push a session hands over from now on reaches this task.
    let _open = shell.writes.outboxes.open(outbox, conn.get_ref());
    if version >= (Outgoing::Serves { redis_port: None }).protocol() {
        // First: where Redis clients reach us, for the peer's CLUSTER SLOTS.
        claim(conn, outbox);
        let serves = Outgoing::Serves { redis_port: shell.redis_addr.map(|addr| addr.port()) };
        if let Err(error) = send(shell, conn, &serves).await {
            return Ended::Failed(error);
        }
        outbox.end_write(|| pushes.is_empty());
    }
    let mut wants = PeerWants::new(peer, version);
    let mut ping = interval(shell.config.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Pub/sub messages published from now on; a peer of protocol 8 gets none.
    let mut published_from = shell.fanout.end();
    let pubsub = version >= PeerMessage::<Record>::Published { messages: Vec::new() }.protocol();
    loop {
        if let Some(PeerCommand::AnswerAntiEntropy { request, cursors, fresh, slots }) = link.take_pending_answer() {
            claim(conn, outbox);
            if let Err(error) = answer_anti_entropy(shell, conn, request, (cursors, fresh), slots).await {
                return Ended::Failed(error);
            }
            outbox.end_write(|| pushes.is_empty());
        }
        // Made before the check: a publish between the two still wakes it.
        let published = shell.fanout.published();
        let publications_waiting = pubsub && shell.fanout.has_after(published_from);
        let result = tokio::select! {
            _ = stop.cancelled() => return Ended::Stopped,
            handed = next_handed(commands, forwarded) => match handed {
                Handed::Forward(first) => {
                    claim(conn, outbox);
                    send_forwards(shell, conn, first, forwarded, version).await
                }
                Handed::Command(Some(PeerCommand::Send(message))) if message.protocol() > version => {
                    // A peer of an older release: it could not decode this (what it would answer,
                    // a WAIT counts as not yet acknowledged).
                    tracing::debug!(%peer, version, "not sending a protocol-{} message", message.protocol());
                    Ok(())
                }
                Handed::Command(Some(PeerCommand::Send(message))) => {
                    claim(conn, outbox);
                    let stats = shell.core.stats();
                    let counter = match message {
                        Outgoing::AntiEntropyRequest { .. } => Some(&stats.anti_entropy_bytes_sent),
                        Outgoing::Gossip { .. } => Some(&stats.gossip_bytes_sent),
                        _ => None,
                    };
                    send(shell, conn, &message).await.map(|bytes| {
                        if let Some(counter) = counter {
                            bump(counter, bytes)
                        }
                    })
                }
                Handed::Command(Some(PeerCommand::AnswerAntiEntropy { request, cursors, fresh, slots })) => {
                    claim(conn, outbox);
                    answer_anti_entropy(shell, conn, request, (cursors, fresh), slots).await
                }
                Handed::Command(None) => return Ended::Stopped,
            },
            pushed = pushes.recv() => match (pushed, wants.refresh(shell, outbox)) {
                // Refreshed at every push, whoever sent it: sessions learn it from the outbox.
                (Ok(Pushed::One(record)), _) if outbox.written(&record) && pushes.is_empty() => {
                    // A session sent it already; a partial frame it left is finished below.
                    claim(conn, outbox);
                    Ok(())
                }
                (Ok(first), wanted) => {
                    claim(conn, outbox);
                    // Let every task already runnable (client sessions with pipelined writes)
                    // run first, so their writes leave in this frame rather than one frame
                    // each: one write per peer per scheduler pass, as Redis writes its
                    // replication stream once per event-loop turn. Alone, it resumes at once.
                    tokio::task::yield_now().await;
                    send_pushes(shell, conn, &mut pushes, first, (outbox, wanted.as_deref())).await
                }
                (Err(RecvError::Lagged(missed)), _) => {
                    // The peer's cursor for us stops at the gap; its next anti-entropy round fills it.
                    tracing::debug!(missed, "peer fell behind the push log");
                    Ok(())
                }
                (Err(RecvError::Closed), _) => return Ended::Stopped,
            },
            _ = async { if !publications_waiting { published.await } }, if pubsub => {
                claim(conn, outbox);
                // As with pushes: let publishing sessions run first, so their messages share a frame.
                tokio::task::yield_now().await;
                send_publications(shell, conn, &mut published_from).await
            }
            _ = ping.tick() => {
                let now = shell.now();
                if shell.core.is_dead(peer, now) {
                    // Whatever sits in the socket buffers for it would arrive stale; drop it.
                    return Ended::Failed(ProtoError::Io(std::io::Error::other("peer is dead")));
                }
                let ping = shell.core.ping_for(peer, now);
                claim(conn, outbox);
                send(shell, conn, &ping).await.map(|bytes| bump(&shell.core.stats().gossip_bytes_sent, bytes))
            }
        };
        // A session's unfinished frame that was claimed with nothing of ours sent after it (every
        // push already written by sessions) must be on the wire before sessions write again.
        let result = match result {
            Ok(()) if conn.queued_bytes() > 0 => {
                timeout(shell.config.peer_write_timeout, conn.flush()).await.map_err(timed_out).and_then(|r| r)
            }
            result => result,
        };
        if let Err(error) = result {
            return Ended::Failed(error);
        }
        outbox.end_write(|| pushes.is_empty());
    }
}

/// Takes the link from writing sessions before the task writes on it (see [`Outbox`]): a frame
/// one of them began is queued to be finished before anything else.
fn claim(conn: &mut Connection<net::Stream>, outbox: &Outbox) {
    conn.queue_bytes(&outbox.begin_write());
}

/// Sends `first` and every forward queued behind it, flushed once; none to a peer of a release
/// that predates them (the sessions waiting time out and tell their clients to try again).
async fn send_forwards(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    first: Outgoing,
    queued: &mut mpsc::Receiver<Outgoing>,
    version: u32,
) -> Result<(), ProtoError> {
    let (mut next, mut taken) = (Some(first), 1);
    while let Some(message) = next {
        if message.protocol() <= version {
            feed(shell, conn, &message).await?;
        }
        // Bounded so that pushes and pings are not held back behind a long burst.
        next = if taken < FORWARD_QUEUE { queued.try_recv().ok() } else { None };
        taken += 1;
    }
    timeout(shell.config.peer_write_timeout, conn.flush()).await.map_err(timed_out)?
}

/// Sends the pub/sub messages published since `from` as one frame (bounded like a push batch).
async fn send_publications(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    from: &mut crate::pubsub::fanout::Position,
) -> Result<(), ProtoError> {
    let batch = shell.fanout.take(from, shell.config.max_batch_bytes);
    let stats = &shell.core.pubsub_stats;
    bump(&stats.dropped, batch.dropped as usize);
    if batch.messages.is_empty() {
        return Ok(());
    }
    let count = batch.messages.len();
    let sent = send(shell, conn, &Outgoing::Published { messages: batch.messages }).await?;
    bump(&stats.sent, count);
    bump(&stats.bytes_sent, sent);
    Ok(())
}

/// Answers an anti-entropy request: every record beyond the peer's cursors in frames of bounded
/// size, then our cursors; or a resync demand if it is behind purged deletes.
async fn answer_anti_entropy(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    request: u64,
    (cursors, fresh): (Cursors, bool),
    slots: Option<kvs_proto::slot_set::SlotSet>,
) -> Result<(), ProtoError> {
    let deadline = shell.config.peer_write_timeout;
    if shell.started.elapsed() < shell.config.faults.lying_anti_entropy_for {
        return lie_in_anti_entropy(shell, conn, request, fresh).await;
    }
    let mut sent = 0;
    let (answer, whole) = shell.core.anti_entropy_answer(cursors, fresh, slots);
    match answer {
        AntiEntropyAnswer::Resync(cursors) => {
            sent += send(shell, conn, &Outgoing::ResyncRequired { request, cursors }).await?
        }
        AntiEntropyAnswer::Delta(mut batches) => {
            for entries in batches.by_ref() {
                sent += feed(shell, conn, &Outgoing::AntiEntropyEntries { request, entries }).await?;
            }
            let done = match whole {
                None => Outgoing::AntiEntropyDone { request, cursors: batches.done },
                Some(whole) => {
                    let left =
                        shell.core.left_whole().iter().map(|(slots, at)| (slots.to_words(), at.clone())).collect();
                    Outgoing::SlotFetchDone { request, cursors: batches.done, whole: whole.to_words(), left }
                }
            };
            sent += feed(shell, conn, &done).await?;
            timeout(deadline, conn.flush()).await.map_err(timed_out)??;
        }
    }
    bump(&shell.core.stats().anti_entropy_bytes_sent, sent);
    Ok(())
}

/// `--fault-lying-anti-entropy-ms`: the answers of a hostile member, which claims to have seen
/// everything of every origin but its own: a resync demand, then, asked afresh, those cursors and
/// no entries. It says nothing of its own origin: a member can always withhold its own writes,
/// and what the fault tests is that it cannot make others lose or stop fetching anyone else's.
async fn lie_in_anti_entropy(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    request: u64,
    fresh: bool,
) -> Result<(), ProtoError> {
    let own = shell.core.origin();
    let cursors: Cursors = shell
        .core
        .cursors()
        .into_iter()
        .filter(|&(origin, _)| origin != own)
        .map(|(origin, _)| (origin, 1_000_000_000_000_000))
        .collect();
    let lie = if fresh {
        Outgoing::AntiEntropyDone { request, cursors }
    } else {
        Outgoing::ResyncRequired { request, cursors }
    };
    send(shell, conn, &lie).await?;
    Ok(())
}
