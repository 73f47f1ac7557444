//! One Redis-protocol connection: read, run every complete command, answer them all in one write.

use super::blocking_commands::{blocking, Blocked};
use super::clients::{Connected, RedisClients};
use super::forward::Forward;
use super::{table, transaction};
use super::{wrong_arity, Call, ClientState, Replies};
use crate::batch_clock::BatchClock;
use crate::config::{unless_idle, CLIENT_WRITE_TIMEOUT};
use crate::connection_budget::Slot;
use crate::credentials::Access;
use crate::net;
use crate::request_stats::ClientProtocol;
use crate::shell::Shell;
use bytes::{Buf, BytesMut};
use kvs_proto::resp::{CommandParser, Protocol, Reply, RespLimits};
use kvs_store::log::Durable;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Output size past which replies are written before running more pipelined commands.
const FLUSH_AT_BYTES: usize = 64 * 1024;
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Serves one connection until the client quits or closes, sends malformed RESP, or we shut down.
pub async fn serve(shell: Arc<Shell>, clients: Arc<RedisClients>, stream: net::Stream, _slot: Slot) {
    let _open = clients.opened();
    let (mut client, connected) = new_client(&shell, &clients, &stream);
    let kill = connected.kill.clone();
    let _listed = clients.register(client.id, connected);
    converse(shell.clone(), clients.clone(), stream, &mut client, kill).await;
    if let Some(subscriptions) = &mut client.pubsub {
        subscriptions.leave_all(&shell.pubsub, client.id);
    }
    if client.tracking.is_some() {
        shell.writes.observers.tracking.stop(client.id);
    }
}

/// Reads and answers commands, and sends the messages of its subscriptions, until it ends.
async fn converse(
    shell: Arc<Shell>,
    clients: Arc<RedisClients>,
    mut stream: net::Stream,
    client: &mut ClientState,
    kill: CancellationToken,
) {
    let limits = RespLimits { max_bulk: shell.config.limits.max_frame_bytes, ..RespLimits::default() };
    // A command still incomplete past this size is refused: buffered input stays bounded.
    let max_pending = shell.config.limits.max_frame_bytes + limits.max_inline;
    let login_by = shell.config.users.is_some().then(|| tokio::time::Instant::now() + shell.config.hello_timeout);
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut output = BytesMut::with_capacity(READ_CHUNK_BYTES);
    // Resumes an incomplete command where it stopped instead of parsing it again from its start.
    let mut parser = CommandParser::default();
    let mut durable = Vec::new();
    // Forwarded commands whose replies go at these offsets of `output`, awaited before it is sent.
    let mut waiting = Vec::new();
    loop {
        if input.first() == Some(&0) {
            // No command starts with a NUL byte; a native frame's length prefix does. Say where
            // the native port is instead of waiting for a line end that never comes.
            let message = format!(
                "-ERR this is kvs's Redis-protocol port; kvs-client speaks the native protocol on port {}\r\n",
                shell.addr.port()
            );
            let _ = tokio::time::timeout(CLIENT_WRITE_TIMEOUT, stream.write_all(message.as_bytes())).await;
            return;
        }
        let mut consumed = 0;
        let mut close = false;
        let mut clock = BatchClock::default();
        let (started, mut served) = (Instant::now(), 0);
        // Where the last command ended: the next one's start (one clock read per command).
        let mut tick = clients.clock.raw();
        while output.len() < FLUSH_AT_BYTES && waiting.len() < super::forward::MAX_WAITING {
            let pending = &input[consumed..];
            match parser.parse(pending, &limits) {
                Ok(Some(used)) => {
                    let args = parser.command(&pending[..used]);
                    if !args.is_empty() {
                        let batch = Batch {
                            output: &mut output,
                            durable: &mut durable,
                            clock: &mut clock,
                            tick: &mut tick,
                            waiting: &mut waiting,
                        };
                        run_command(&shell, &clients, client, args, batch).await;
                        if client.list_block.request.is_some() {
                            // Blocked: it stays in the input, to run again once woken.
                            break;
                        }
                        super::list_wait::done(client);
                        served += 1;
                    }
                    consumed += used;
                    if client.quit {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "closing Redis connection");
                    Reply::new(&mut output, client.protocol).error(&format!("ERR {error}"));
                    close = true;
                    break;
                }
            }
        }
        input.advance(consumed);
        if !waiting.is_empty() {
            super::forward::splice(&mut output, &mut waiting, &mut client.sticky).await;
        }
        if !output.is_empty() {
            crate::net::end_of_pass().await;
        }
        // A kill (CLIENT KILL, or a subscriber's overflow) closes even a connection whose
        // replies wait for a socket that does not drain.
        // Biased: a write that completes at once (the usual case) never registers with the token.
        let flushed = tokio::select! {
            biased;
            flushed = flush(&mut stream, &mut output, &mut durable) => flushed,
            _ = kill.cancelled() => false,
        };
        if !flushed {
            return;
        }
        shell.requests.batch(ClientProtocol::Resp, started.elapsed(), served);
        shell.requests.add_lookups(std::mem::take(&mut client.lookups));
        if close || kill.is_cancelled() {
            return;
        }
        if let Some(request) = client.list_block.request.take() {
            let reading = super::list_wait::Reading { stream: &mut stream, input: &mut input, max_pending };
            if !super::list_wait::until_retry(&shell, client, request, reading, &kill).await {
                return;
            }
            continue;
        }
        if client.monitor {
            if !super::monitor_mode::watch(&shell, &clients, &mut stream, (&mut input, &mut parser, &limits), &kill)
                .await
            {
                return;
            }
            client.monitor = false;
            continue;
        }
        if consumed > 0 && !input.is_empty() {
            // Replies were flushed early; more pipelined commands may already be complete.
            continue;
        }
        if input.len() > max_pending {
            let message = format!("ERR Protocol error: request larger than {max_pending} bytes");
            Reply::new(&mut output, client.protocol).error(&message);
            let _ = stream.write_all(&output).await;
            return;
        }
        input.reserve(READ_CHUNK_BYTES);
        let mailbox = &*client.mailbox;
        let read = tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = kill.cancelled() => return,
            _ = mailbox.ready() => {
                let mut deliveries = Vec::new();
                if mailbox.take(&mut deliveries).is_err() {
                    tracing::debug!("closing a connection that fell behind its messages");
                    return;
                }
                let subscribed = client.pubsub.as_ref().is_some_and(|s| s.any());
                super::pubsub::write_deliveries(&mut output, client.protocol, subscribed, &deliveries);
                continue;
            }
            read = unless_idle(read_limit(&shell, client, login_by), stream.read_buf(&mut input)) => match read {
                Some(read) => read,
                None => {
                    tracing::debug!("closing an idle Redis connection");
                    return;
                }
            },
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A new connection's state (not logged in on a node with users; an admin without), and its
/// entry in CLIENT LIST.
fn new_client(shell: &Shell, clients: &RedisClients, stream: &net::Stream) -> (ClientState, Connected) {
    // Without a users file every connection is an admin, as a Redis without requirepass.
    let user = shell.config.users.is_none().then(|| ("default".to_string(), Access::Admin));
    let socket = net::socket(stream);
    let unknown = || std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let kill = CancellationToken::new();
    // A connection that falls this far behind its messages is closed (its kill token cancelled).
    let mailbox = Arc::new(crate::pubsub::Mailbox::new(crate::pubsub::mailbox::MAILBOX_BYTES, kill.clone()));
    let connected = Connected {
        addr: socket.peer_addr().unwrap_or_else(|_| unknown()),
        laddr: socket.local_addr().unwrap_or_else(|_| unknown()),
        name: None,
        user: user.as_ref().map_or_else(|| "default".into(), |(name, _)| name.clone()),
        since: tokio::time::Instant::now(),
        kill,
        unblock: Default::default(),
        db: 0,
        subscriptions: [0; 3],
        mailbox: mailbox.clone(),
    };
    let client = ClientState::new(clients.next_id(), user, connected.addr.ip(), connected.unblock.clone(), mailbox);
    (client, connected)
}

/// What the commands of one batch (one read's worth) share: the replies, the writes to await
/// before sending them, the batch's time, and the forwarded commands whose replies go between.
pub(super) struct Batch<'b, 's> {
    pub(super) output: &'b mut BytesMut,
    pub(super) durable: &'b mut Vec<Durable>,
    /// Held mutably (a `Cell` shared across an await would make the future not `Send`).
    pub(super) clock: &'b mut BatchClock,
    /// When the previous command ended (or the batch's read did), in `clients.clock`'s raw
    /// ticks: this command's start.
    pub(super) tick: &'b mut u64,
    /// Forwarded commands, each with the offset of `output` its reply goes at.
    pub(super) waiting: &'b mut Vec<(usize, super::forward::Waiting<'s>)>,
}

/// Runs one command: queued inside MULTI, EXEC's transaction, or on its own; its reply goes to
/// the batch's output.
pub(super) async fn run_command<'s>(
    shell: &'s Arc<Shell>,
    clients: &RedisClients,
    client: &mut ClientState,
    args: kvs_proto::resp::Args<'_>,
    batch: Batch<'_, 's>,
) {
    let spec = table::find(args.get(0));
    let name = spec.map_or("", |s| s.name);
    let queueing = client.transaction.is_open() && !transaction::is_control(name);
    let exec = client.transaction.is_open() && name == "exec";
    if clients.any_pause() && name != "client" {
        // CLIENT PAUSE holds commands back here (CLIENT itself never, so UNPAUSE gets through).
        clients.paused(exec || spec.is_some_and(|s| s.writes)).await;
        batch.clock.advance();
    }
    if let Some(answer) = blocking(shell, clients, client, &args, queueing).await {
        let reply_at = batch.output.len();
        let mut reply = Reply::new(batch.output, client.protocol);
        match &answer {
            Ok(Blocked::Done) => reply.simple("OK"),
            Ok(Blocked::Count(count)) => reply.integer(*count as i64),
            Ok(Blocked::Logs(local, replicas)) => {
                reply.array(2);
                reply.integer(i64::from(*local));
                reply.integer(*replicas as i64);
            }
            Err(message) => reply.error(message),
        }
        // A wait is not slow work: neither the slow log nor the command's time counts it.
        shell.requests.resp(spec, answer.is_ok(), Duration::ZERO);
        *batch.tick = clients.clock.raw();
        suppress_reply(client, batch.output, reply_at);
        return;
    }
    // Room in the log's queue for the keys a write command may write, awaited here: a slow disk
    // parks this connection, not a worker thread. Without room (the log failed) the write is
    // refused with the log's reason.
    let writes = match spec {
        _ if queueing => 0,
        _ if exec => client.transaction.writes_queued(),
        Some(s) if s.writes => args.len() - 1,
        _ => 0,
    };
    let (room, waited) = waited(shell.writes.reserve(writes)).await;
    if waited {
        batch.clock.advance();
    }
    let mut room = room.unwrap_or_default();
    let reply_at = batch.output.len();
    let started = *batch.tick;
    {
        // Scoped: nothing of the call (its clock is not `Sync`) may live across the forward's await.
        let mut reply = Reply::new(batch.output, client.protocol);
        let call = &mut Call {
            shell,
            args,
            client,
            clients,
            reply: &mut reply,
            durable: batch.durable,
            room: &mut room,
            clock: &*batch.clock,
        };
        if queueing {
            queue(call, spec);
        } else if exec {
            transaction::exec(call, execute);
        } else {
            call.client.forward = super::forward::may_forward(shell, call.client);
            isolated(call, spec);
        }
    }
    let ended = clients.clock.raw();
    let took = clients.clock.delta(started, ended);
    *batch.tick = ended;
    if let Forward::To(redirect) = std::mem::take(&mut client.forward) {
        // Sent now, its reply awaited with the batch's: the next commands run meanwhile. Its
        // time on the owner and the wire is not this node's work: not counted in `took`.
        if let Some(waiting) = super::forward::start(shell, client, &args, redirect, batch.output).await {
            batch.waiting.push((batch.output.len(), waiting));
        }
        batch.clock.advance();
        *batch.tick = clients.clock.raw();
    }
    if clients.monitors.any() && !queueing {
        show(clients, client, &args);
    }
    // Every reply that reports a failure starts with '-' (QUEUED does not).
    let failed = batch.output.get(reply_at) == Some(&b'-');
    if failed {
        let reply = &batch.output[reply_at + 1..];
        let kind = reply.split(|&b| b == b' ' || b == b'\r').next().unwrap_or_default();
        shell.requests.error_reply(&String::from_utf8_lossy(kind));
    }
    suppress_reply(client, batch.output, reply_at);
    shell.requests.resp(spec, !failed, took);
    clients.latency.consider(took, || spec.is_some_and(|s| s.flags.contains(&"fast")));
    // EXEC's commands are logged one by one (in `execute`), not EXEC itself, as in Redis.
    if !exec {
        note_slow(clients, client, &args, took);
    }
}

/// Feeds a command to the monitors.
fn show(clients: &RedisClients, client: &ClientState, args: &kvs_proto::resp::Args<'_>) {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let addr = clients.get(client.id).map_or_else(String::new, |c| c.addr.to_string());
    clients.monitors.feed(since_epoch.as_micros() as u64, &addr, args);
}

/// CLIENT REPLY OFF and SKIP: the reply just written is taken back.
fn suppress_reply(client: &mut ClientState, output: &mut BytesMut, reply_at: usize) {
    client.replies = match client.replies {
        Replies::On => return,
        Replies::Off => Replies::Off,
        Replies::SkipThisAndNext => Replies::SkipNext,
        Replies::SkipNext => Replies::On,
    };
    output.truncate(reply_at);
}

/// Offers a command that ran for `took` to the slow log.
fn note_slow(clients: &RedisClients, client: &ClientState, args: &kvs_proto::resp::Args<'_>, took: Duration) {
    let addr = || clients.get(client.id).map_or_else(String::new, |c| c.addr.to_string());
    clients.slowlog.consider(took, args, addr, client.name.as_deref().unwrap_or_default());
}

/// Sends the batch's replies once its writes are durable (under `--fsync always`); false when
/// the connection must close: its writes could not be made durable, or it does not read.
async fn flush(stream: &mut net::Stream, output: &mut BytesMut, durable: &mut Vec<Durable>) -> bool {
    for pending in durable.drain(..) {
        if !matches!(pending.await, Ok(Ok(()))) {
            tracing::warn!("closing a Redis connection: its writes could not be made durable");
            return false;
        }
    }
    if !output.is_empty() {
        let written = tokio::time::timeout(CLIENT_WRITE_TIMEOUT, stream.write_all(output)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::debug!("closing a Redis connection that does not read its replies");
            return false;
        }
        output.clear();
    }
    true
}

/// How long the next read may wait: the idle timeout, and on a node with users, for a connection
/// not logged in, what is left of the hello deadline (as the native port closes one that never
/// says hello).
fn read_limit(
    shell: &Shell,
    client: &ClientState,
    login_by: Option<tokio::time::Instant>,
) -> Option<std::time::Duration> {
    match login_by {
        // A subscriber waits for messages, not for its own commands (Redis exempts it too).
        _ if client.pubsub.as_ref().is_some_and(|s| s.any()) => None,
        Some(deadline) if client.user.is_none() => {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            Some(shell.config.idle_timeout.map_or(left, |idle| idle.min(left)))
        }
        _ => shell.config.idle_timeout,
    }
}

/// Runs one command outside a transaction. One that writes, or reads several keys, holds the
/// core's isolation lock for reading, so it never runs inside a transaction's EXEC.
fn isolated(call: &mut Call<'_, '_>, spec: Option<&table::CommandSpec>) {
    // SWAPDB runs alone, as EXEC does, taking the lock for writing itself.
    // A collection write runs alone too: it may write a header and several elements, which no
    // reader of the collection may see half of.
    let alone = spec.is_some_and(|s| s.alone);
    let several_keys = !alone && spec.is_some_and(|s| (s.writes && s.name != "swapdb") || s.reads_several);
    let shell = call.shell;
    let _alone = alone.then(|| shell.core.isolation.write().unwrap_or_else(|p| p.into_inner()));
    let _shared = several_keys.then(|| shell.core.isolation.read().unwrap_or_else(|p| p.into_inner()));
    run(call, spec);
}

/// Awaits `future`, telling whether it had to wait (time passed meanwhile) or was ready at once.
async fn waited<F: std::future::Future>(future: F) -> (F::Output, bool) {
    let mut future = std::pin::pin!(future);
    let mut waited = false;
    let output = std::future::poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        waited |= poll.is_pending();
        poll
    })
    .await;
    (output, waited)
}

/// Queues a command after MULTI if it passes the checks it would meet when run; a command that
/// does not fails the transaction, as in Redis.
fn queue(call: &mut Call<'_, '_>, spec: Option<&table::CommandSpec>) {
    match check(call, spec) {
        Some(spec) if call.client.transaction.queue(call.args, spec.writes, spec.keys()) => call.reply.simple("QUEUED"),
        Some(_) => call.reply.error(super::transaction::TOO_LONG),
        None => call.client.transaction.failed = true,
    }
}

/// Runs one queued command of a transaction.
fn execute(call: &mut Call<'_, '_>) {
    let spec = table::find(call.args.get(0));
    let started = call.clients.clock.raw();
    if call.clients.monitors.any() {
        show(call.clients, call.client, &call.args);
    }
    run(call, spec);
    let took = call.clients.clock.delta(started, call.clients.clock.raw());
    note_slow(call.clients, call.client, &call.args, took);
}

/// Runs one command (`spec`: its row in the table, if it has one), writing exactly one reply;
/// in a database other than 0, with its keys in that database's stored form.
fn run(call: &mut Call<'_, '_>, spec: Option<&table::CommandSpec>) {
    let Some(spec) = check(call, spec) else {
        return;
    };
    // Commands run on one thread without awaiting, so what a thread holds is the command's: the
    // events its changes fire (a command that may write), and whether its reads count as uses.
    let run = |call: &mut Call<'_, '_>| match call.client.no_touch {
        true => kvs_store::access::without_touching(|| handle(call, spec)),
        false => handle(call, spec),
    };
    match spec.writes {
        true => crate::running::during(spec.name, call.client.id, || run(call)),
        false => run(call),
    }
    if call.client.tracking.is_some() {
        let readonly = spec.flags.contains(&"readonly");
        super::tracking::after_command(call, spec.name, readonly, spec.keys());
    }
}

/// Runs `spec`'s handler, in the selected database.
fn handle(call: &mut Call<'_, '_>, spec: &table::CommandSpec) {
    match super::database_keys::stored_args(spec.keys(), &call.args, call.client.db) {
        None => typed(call, spec),
        Some(stored) => typed(&mut call.with_args(stored.args()), spec),
    }
}

/// Runs `spec`'s handler, unless it works on strings and its key holds a collection.
fn typed(call: &mut Call<'_, '_>, spec: &table::CommandSpec) {
    if spec.strings_only
        && call.args.len() > 1
        && call.shell.store().collection(call.args.get(1), call.now_ms()).is_some()
    {
        return call.reply.error(super::collections::WRONGTYPE);
    }
    (spec.handler)(call)
}

/// The command's row if the connection may run it with these arguments; otherwise replies with
/// the error and returns `None`.
fn check<'s>(call: &mut Call<'_, '_>, spec: Option<&'s table::CommandSpec>) -> Option<&'s table::CommandSpec> {
    let asking = std::mem::take(&mut call.client.asking);
    let Some(spec) = spec else {
        unknown_command(call);
        return None;
    };
    match &call.client.user {
        None if !spec.no_auth => {
            call.reply.error("NOAUTH Authentication required.");
            return None;
        }
        Some((user, access)) if *access < spec.needs() => {
            let message = format!("NOPERM User {user} has no permissions to run the '{}' command", spec.name);
            call.reply.error(&message);
            return None;
        }
        _ => {}
    }
    if !spec.accepts(call.args.len()) {
        wrong_arity(call.reply, spec.name);
        return None;
    }
    if call.client.protocol == Protocol::Resp2
        && call.client.pubsub.as_ref().is_some_and(|s| s.any())
        && !super::pubsub::allowed_while_subscribed(spec.name)
    {
        let message = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        );
        call.reply.error(&message);
        return None;
    }
    if call.client.db == 0 && super::database_keys::reserved_key(spec.keys(), &call.args).is_some() {
        call.reply.error(super::database_keys::RESERVED);
        return None;
    }
    if call.shell.core.partitioned() && super::database_keys::spans_slots(spec.keys(), &call.args) {
        call.reply.error(super::database_keys::CROSSSLOT);
        return None;
    }
    if !call.shell.store().held.all() || call.shell.core.fetching_any() {
        if let Some(redirect) = super::cluster::redirect(call, spec.keys(), asking) {
            if call.client.forward == Forward::May && super::forward::forwardable(spec) {
                // Answered once the owner did (see `run_command`).
                call.client.forward = Forward::To(redirect);
                return None;
            }
            call.reply.error(&redirect.text(
                &call.shell.core,
                (call.shell.id, call.shell.redis_addr),
                call.shell.now(),
            ));
            return None;
        }
    }
    if spec.grows && call.shell.make_room().is_err() {
        call.reply.error(crate::memory_limit::OutOfMemory::MESSAGE);
        return None;
    }
    Some(spec)
}

/// Redis's own wording: `ERR unknown command 'x', with args beginning with: 'a' 'b' `.
fn unknown_command(call: &mut Call<'_, '_>) {
    let truncate = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned();
    let mut args = String::new();
    for arg in call.args.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        args.push_str(&format!("'{}' ", truncate(arg)));
    }
    let name = truncate(call.args.get(0));
    call.reply.error(&format!("ERR unknown command '{name}', with args beginning with: {args}"));
}
