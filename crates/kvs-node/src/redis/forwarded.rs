//! Commands other members forward to this node for their Redis clients (see [`super::forward`]):
//! each runs as a command of a connection of its own would, as the user the client logged in as
//! on the forwarding member, whose rights are checked again here, so a member cannot widen them.
//!
//! A forwarded command is never forwarded again: a slot this node does not serve is answered
//! with `-MOVED` or `-ASK`, which the forwarding member follows once.

use super::clients::RedisClients;
use super::session::{run_command, Batch};
use super::ClientState;
use crate::batch_clock::BatchClock;
use crate::credentials::Access;
use crate::forwarding::Request;
use crate::shell::Shell;
use bytes::{Bytes, BytesMut};
use kvs_proto::peer::ForwardedCommand;
use kvs_proto::resp::{CommandParser, Protocol, Reply, RespLimits};
use kvs_store::log::Durable;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Forwarded writes awaiting the disk (under `--fsync always`) before their answers go; the
/// next forwarded command waits for room.
const AWAITING_DISK: usize = 256;

/// Room an answer needs besides its reply, under the peer frame limit.
const MESSAGE_OVERHEAD: usize = 1024;

/// Runs what members forward, one command after another in the order they came (so a member's
/// pipelined commands of one key run in its client's order), until the node shuts down.
pub async fn serve(shell: Arc<Shell>, clients: Arc<RedisClients>) {
    let Some(mut inbox) = shell.forwarding.take_inbox() else { return };
    let awaiting_disk = Arc::new(Semaphore::new(AWAITING_DISK));
    // One connection's state per user and protocol, kept from one command to the next: at most
    // two per line of the users file.
    let mut sessions = std::collections::HashMap::new();
    loop {
        let request: Request = tokio::select! {
            _ = shell.shutdown_started() => return,
            request = inbox.recv() => match request {
                Some(request) => request,
                None => return,
            },
        };
        let protocol = if request.command.resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
        let (output, durable) = match session(&shell, &clients, &mut sessions, &request.command) {
            Ok(client) => run(&shell, &clients, client, request.command).await,
            Err(refused) => (refused, Vec::new()),
        };
        crate::stats::bump(&shell.forwarding.stats.ran, 1);
        if durable.is_empty() {
            shell.answer_forward(request.from, request.id, sized(&shell, output, protocol)).await;
            continue;
        }
        let Ok(permit) = awaiting_disk.clone().acquire_owned().await else { return };
        let shell = shell.clone();
        shell.tasks.clone().spawn(async move {
            let mut output = output;
            for pending in durable {
                if !matches!(pending.await, Ok(Ok(()))) {
                    output.clear();
                    Reply::new(&mut output, protocol).error("ERR the owner could not make the write durable");
                }
            }
            shell.answer_forward(request.from, request.id, sized(&shell, output, protocol)).await;
            drop(permit);
        });
    }
}

/// The connection state a forwarded command runs in: its client's user's, in its client's
/// protocol, as the users file here has it; or the refusal to send when it has no such user.
fn session<'c>(
    shell: &Shell,
    clients: &RedisClients,
    sessions: &'c mut std::collections::HashMap<(String, bool), ClientState>,
    forwarded: &ForwardedCommand,
) -> Result<&'c mut ClientState, BytesMut> {
    let protocol = if forwarded.resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
    let key = (forwarded.user.clone(), forwarded.resp3);
    if !sessions.contains_key(&key) {
        let access = match &shell.config.users {
            None => Some(Access::Admin),
            Some(users) => users.access_of(&forwarded.user),
        };
        let Some(access) = access else {
            let mut refused = BytesMut::new();
            let message = format!("NOPERM user {} is not known to the slot's owner", forwarded.user);
            Reply::new(&mut refused, protocol).error(&message);
            return Err(refused);
        };
        sessions.insert(key.clone(), detached_client(clients, (forwarded.user.clone(), access), protocol));
    }
    let client = sessions.get_mut(&key).expect("inserted");
    client.db = forwarded.db;
    client.asking = forwarded.asking;
    Ok(client)
}

/// Runs one forwarded command as `client`: its reply, in the client's protocol, and the writes
/// to await before sending it.
async fn run(
    shell: &Arc<Shell>,
    clients: &RedisClients,
    client: &mut ClientState,
    forwarded: ForwardedCommand,
) -> (BytesMut, Vec<Durable>) {
    let protocol = client.protocol;
    let mut output = BytesMut::new();
    let limits = RespLimits { max_bulk: shell.config.limits.max_frame_bytes, ..RespLimits::default() };
    let mut parser = CommandParser::default();
    let args = match parser.parse(&forwarded.command, &limits) {
        Ok(Some(used)) if used == forwarded.command.len() => parser.command(&forwarded.command[..used]),
        _ => {
            Reply::new(&mut output, protocol).error("ERR a forwarded command that is not one RESP command");
            return (output, Vec::new());
        }
    };
    let (mut durable, mut clock, mut tick, mut waiting) =
        (Vec::new(), BatchClock::default(), clients.clock.raw(), Vec::new());
    let batch =
        Batch { output: &mut output, durable: &mut durable, clock: &mut clock, tick: &mut tick, waiting: &mut waiting };
    run_command(shell, clients, client, args, batch).await;
    shell.requests.add_lookups(std::mem::take(&mut client.lookups));
    (output, durable)
}

/// `output` as an answer: an error instead when it would not fit in a peer frame.
fn sized(shell: &Shell, mut output: BytesMut, protocol: Protocol) -> Bytes {
    let size = output.len();
    if size + MESSAGE_OVERHEAD > shell.config.limits.max_frame_bytes {
        output.clear();
        let message = format!("ERR a reply of {size} bytes is too large to forward; ask an owner of the slot");
        Reply::new(&mut output, protocol).error(&message);
    }
    output.freeze()
}

/// A connection's state for one forwarded command: it follows redirects (so it is never
/// forwarded again), and it is in no client list.
fn detached_client(clients: &RedisClients, user: (String, Access), protocol: Protocol) -> ClientState {
    let mailbox = Arc::new(crate::pubsub::Mailbox::new(0, CancellationToken::new()));
    let source = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut client = ClientState::new(clients.next_id(), Some(user), source, Default::default(), mailbox);
    client.protocol = protocol;
    client.follows_redirects = true;
    client
}
