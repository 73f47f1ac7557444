//! Serves one client connection: one response per request, in order.
//!
//! Pipelined requests are answered like Redis answers them: every request already in the read
//! buffer is served before the replies are written, with one write for all of them. A request is
//! decoded borrowing its keys and values from the frame, and a read's value is encoded from the
//! store straight into the connection's write buffer, so neither is copied on the way.

use crate::batch_clock::BatchClock;
use crate::config::{unless_idle, CLIENT_WRITE_TIMEOUT};
use crate::credentials::Access;
use crate::error::WriteRefused;
use crate::net;
use crate::request_stats::ClientProtocol;
use crate::shell::Shell;
use crate::status;
use bytes::Bytes;
use kvs_proto::encoding::decode_borrowed;
use kvs_proto::{BackupEntry, ClientRequest, ClientResponse, Connection, ErrorCode, ErrorReply, ProtoError};
use kvs_store::local::{Decision, Local};
use kvs_store::log::{Durable, Room};
use std::sync::Arc;

/// Replies queued past this size are written out before more pipelined requests are served.
const FLUSH_AT_BYTES: usize = 64 * 1024;

/// A request as decoded from its frame, borrowing its keys and values.
type Request<'a> = ClientRequest<&'a [u8]>;

/// Answers requests until the client closes, errs, asks for shutdown, or we shut down; the client
/// may do what `access` allows, in protocol `version` (its hello's).
pub async fn serve(shell: &Arc<Shell>, conn: &mut Connection<net::Stream>, access: Access, version: u32) {
    let client = (access, version);
    loop {
        let received = tokio::select! {
            _ = shell.shutdown_started() => return,
            received = unless_idle(shell.config.idle_timeout, conn.recv_frame()) => match received {
                Some(received) => received,
                None => {
                    tracing::debug!("closing an idle client connection");
                    return;
                }
            },
        };
        let first = match received {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(error) => return refuse(conn, error).await,
        };
        let (started, mut clock) = (std::time::Instant::now(), BatchClock::default());
        let mut step = serve_frame(shell, &first, client, conn, &mut clock).await;
        let mut served = 1;
        // Every request already buffered is served before the replies go out in one write.
        let mut buffered = conn.take_buffered();
        while matches!(step, Step::Next) && conn.queued_bytes() < FLUSH_AT_BYTES {
            step = match buffered.next_body() {
                None => break,
                Some(Ok(frame)) => serve_frame(shell, frame, client, conn, &mut clock).await,
                Some(Err(error)) => Step::Refuse(error),
            };
            served += 1;
        }
        drop(first);
        conn.give_back(buffered);
        match step {
            Step::Next => {}
            Step::Close => return,
            Step::Refuse(error) => return refuse(conn, error).await,
            Step::Stream(prefix, watching) => return stream_changes(shell, conn, &prefix, watching).await,
        }
        crate::net::end_of_pass().await;
        if !matches!(tokio::time::timeout(CLIENT_WRITE_TIMEOUT, conn.flush()).await, Ok(Ok(()))) {
            return;
        }
        shell.requests.batch(ClientProtocol::Native, started.elapsed(), served);
    }
}

/// What a connection does after a request.
enum Step<'a> {
    /// Serves the next one.
    Next,
    /// Closes (the client asked for shutdown, or its reply could not be queued).
    Close,
    /// Answers a frame that cannot be read with why, and closes.
    Refuse(ProtoError),
    /// Streams the changes a `Watch` asked for (its prefix), until the client goes.
    Stream(Vec<u8>, crate::watchers::Watching<'a>),
}

/// Decodes and serves one request frame, its answer queued on `conn`.
async fn serve_frame<'s>(
    shell: &'s Arc<Shell>,
    frame: &[u8],
    client: (Access, u32),
    conn: &mut Connection<net::Stream>,
    clock: &mut BatchClock,
) -> Step<'s> {
    let request: Request<'_> = match decode_borrowed(frame) {
        Ok(request) => request,
        Err(error) => return Step::Refuse(error),
    };
    let shutdown = matches!(request, ClientRequest::Shutdown);
    // A watch sees every change from before its answer on.
    let watch = match &request {
        ClientRequest::Watch { prefix } => Some((prefix.to_vec(), shell.writes.observers.watchers.watch())),
        _ => None,
    };
    let (name, _) = needed(&request);
    let Some(accepted) = answer(shell, request, client, conn, clock).await else { return Step::Close };
    shell.requests.native(name, accepted);
    if let (Some((prefix, watching)), true) = (watch, accepted) {
        return Step::Stream(prefix, watching);
    }
    if shutdown && accepted {
        let _ = tokio::time::timeout(CLIENT_WRITE_TIMEOUT, conn.flush()).await;
        shell.begin_shutdown();
        return Step::Close;
    }
    Step::Next
}

/// Serves one request of a client with `access` speaking protocol `version`, and queues its
/// response; `None` if the connection must close, else whether the request was carried out (not
/// answered with an error).
async fn answer(
    shell: &Arc<Shell>,
    request: Request<'_>,
    (access, version): (Access, u32),
    conn: &mut Connection<net::Stream>,
    clock: &mut BatchClock,
) -> Option<bool> {
    let writes = match &request {
        ClientRequest::Set { .. } | ClientRequest::Delete { .. } => 1,
        ClientRequest::MSet { pairs } => pairs.len(),
        ClientRequest::Load { entries } => entries.len(),
        _ => 0,
    };
    // Room in the log's queue first: a slow disk makes this task wait, not a worker thread.
    // Without room (the log failed) the write is refused below with the log's reason.
    let mut room = if writes > 0 { shell.writes.reserve(writes).await.unwrap_or_default() } else { Room::default() };
    let moved = read_elsewhere(shell, &request);
    let answer = match needed(&request) {
        _ if moved.is_some() => {
            let code = if version >= 9 { ErrorCode::Moved } else { ErrorCode::BadRequest };
            Answer::Reply(error(ErrorReply::new(code, moved.unwrap_or_default())), None)
        }
        (name, required) if required > access => {
            // Redis's NOPERM wording, for a request above the user's role.
            let message = format!(
                "this user has no permissions to run the '{name}' command (it needs the {} role)",
                required.name()
            );
            Answer::Reply(error(ErrorReply::new(ErrorCode::NoPerm, message)), None)
        }
        (name, _) if request.protocol() > version => {
            let needs = request.protocol();
            let message = format!("'{name}' needs protocol {needs}; this connection's hello said {version}");
            Answer::Reply(error(ErrorReply::new(ErrorCode::BadRequest, message)), None)
        }
        _ if writes > 0 && !matches!(request, ClientRequest::Delete { .. }) && shell.make_room().is_err() => {
            let code = if version >= 9 { ErrorCode::OutOfMemory } else { ErrorCode::BadRequest };
            Answer::Reply(error(ErrorReply::new(code, crate::memory_limit::OutOfMemory::MESSAGE)), None)
        }
        (_, _) if matches!(request, ClientRequest::ClusterPlan { .. } | ClientRequest::ClusterApply { .. }) => {
            let apply = matches!(request, ClientRequest::ClusterApply { .. });
            let (ClientRequest::ClusterPlan { change } | ClientRequest::ClusterApply { change }) = request else {
                unreachable!("only plans and applies are planned")
            };
            match crate::layout_plan::answer(shell, change, apply).await {
                Ok(plan) => Answer::Reply(ClientResponse::ClusterPlan(Box::new(plan)), None),
                Err(reply) => Answer::Reply(error(reply), None),
            }
        }
        (_, _) if matches!(request, ClientRequest::Wait { .. }) => {
            let waited = wait(shell, &request).await;
            // It may have waited seconds: what follows reads the clock again.
            clock.advance();
            waited
        }
        _ => handle(shell, request, &mut room, conn, clock),
    };
    let (queued, accepted) = match answer {
        Answer::Queued(queued) => (queued, true),
        Answer::Reply(mut response, durable) => {
            if let Some(durable) = durable {
                // Under --fsync always the reply waits until the write is on disk.
                let synced = durable.await.unwrap_or_else(|_| Err("the log writer stopped".into()));
                if let Err(reason) = synced {
                    response = error(ErrorReply::new(ErrorCode::LogFailed, reason));
                }
            }
            let accepted = !matches!(response, ClientResponse::Error(_));
            (conn.queue(&response), accepted)
        }
    };
    queued.ok().map(|_| accepted)
}

/// What serving a request produced.
enum Answer {
    /// A read's answer, already queued on the connection (encoded straight from the store).
    Queued(Result<usize, ProtoError>),
    /// The response to queue, once the write it reports is durable if there is a wait for that.
    Reply(ClientResponse<&'static [u8]>, Option<Durable>),
}

/// Answers a frame that cannot be read with why, where the error has an answer, and closes.
async fn refuse(conn: &mut Connection<net::Stream>, error: ProtoError) {
    tracing::debug!(%error, "closing client connection");
    if let Some(reply) = error.reply() {
        let _ = tokio::time::timeout(CLIENT_WRITE_TIMEOUT, conn.send(&ClientResponse::<&[u8]>::Error(reply))).await;
    }
}

fn error(reply: ErrorReply) -> ClientResponse<&'static [u8]> {
    ClientResponse::Error(reply)
}

/// `MOVED <slot> <address>` for a read of a key whose slot this node does not hold, naming the
/// slot's first owner, or is still fetching, naming a member that holds it whole; `None` to
/// serve it here. `Inspect` shows the entry as this node holds
/// it, wherever the slot is. Writes are taken anywhere: a write to a slot not
/// held is kept here and pushed like any other, its owners keep it, and this node drops it once
/// they hold it (see `core::holdings`).
fn read_elsewhere(shell: &Shell, request: &Request<'_>) -> Option<String> {
    let held = &shell.store().held;
    if held.all() && !shell.core.fetching_any() {
        return None;
    }
    let now = shell.now();
    // Where a slot's read goes: its first owner when not held, a holder while it is fetched (the
    // layout is read only then: every read of a held slot passes here).
    let elsewhere = |slot: u16| match held.contains(slot) {
        true => shell.core.holder_while_fetching(slot, now).map(|to| (slot, to)),
        false => shell.core.layout_owners()?.1.get(usize::from(slot))?.first().map(|&to| (slot, to)),
    };
    let (slot, to) = match request {
        ClientRequest::Get { key } => elsewhere(kvs_proto::slot::slot_of(key)),
        ClientRequest::MGet { keys } => keys.iter().find_map(|key| elsewhere(kvs_proto::slot::slot_of(key))),
        _ => None,
    }?;
    let addr = shell.core.layout()?.members.iter().find(|m| m.node == to)?.addr;
    Some(format!("MOVED {slot} {addr}"))
}

/// A request's name, for errors, and what a user must be allowed to run it.
fn needed(request: &Request<'_>) -> (&'static str, Access) {
    match request {
        ClientRequest::Get { .. } => ("get", Access::Read),
        ClientRequest::Status { .. } => ("status", Access::Read),
        ClientRequest::Inspect { .. } => ("inspect", Access::Read),
        ClientRequest::MGet { .. } => ("mget", Access::Read),
        ClientRequest::Set { .. } => ("set", Access::Write),
        ClientRequest::Delete { .. } => ("delete", Access::Write),
        ClientRequest::MSet { .. } => ("mset", Access::Write),
        ClientRequest::Export { .. } => ("export", Access::Read),
        ClientRequest::Load { .. } => ("load", Access::Write),
        ClientRequest::Shutdown => ("shutdown", Access::Admin),
        ClientRequest::Versions => ("versions", Access::Read),
        ClientRequest::Wait { .. } => ("wait", Access::Read),
        ClientRequest::Watch { .. } => ("watch", Access::Read),
        ClientRequest::History => ("history", Access::Read),
        ClientRequest::ClusterPlan { .. } => ("cluster plan", Access::Read),
        ClientRequest::ClusterApply { .. } => ("cluster apply", Access::Admin),
        ClientRequest::Layout => ("layout", Access::Read),
    }
}

/// `Wait`: how many peers have applied this node's writes, once enough have or the timeout
/// passed (behind the gate `wait`, as Redis's WAIT on the Redis port).
async fn wait(shell: &Arc<Shell>, request: &Request<'_>) -> Answer {
    let ClientRequest::Wait { replicas, timeout_ms } = *request else { unreachable!("only Wait is waited for") };
    if !shell.core.is_open(kvs_proto::features::WAIT) {
        let message = kvs_proto::features::WAIT.closed_message("wait", shell.core.cluster_version());
        return Answer::Reply(error(ErrorReply::new(ErrorCode::BadRequest, message)), None);
    }
    let timeout = (timeout_ms > 0).then(|| std::time::Duration::from_millis(timeout_ms));
    let (count, _) =
        shell.wait_for_peers(crate::core::Held::Applied, replicas as usize, timeout, std::future::pending()).await;
    Answer::Reply(ClientResponse::Replicas(count as u32), None)
}

/// After a `Watch`'s answer: streams every change to a key beginning with `prefix` until the
/// client closes the connection, the watcher falls behind, or the node shuts down.
async fn stream_changes(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    prefix: &[u8],
    mut watching: crate::watchers::Watching<'_>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        if !matches!(tokio::time::timeout(CLIENT_WRITE_TIMEOUT, conn.flush()).await, Ok(Ok(()))) {
            return;
        }
        let noted = tokio::select! {
            _ = shell.shutdown_started() => return,
            // The client says nothing more; anything it sends, or its close, ends the stream.
            _ = conn.recv_frame() => return,
            noted = watching.items.recv() => noted,
        };
        let response = match noted {
            Ok(noted) => match crate::watchers::change(&noted, prefix) {
                Some(change) => ClientResponse::Changed(change),
                None => continue,
            },
            Err(RecvError::Lagged(missed)) => {
                let message = format!("this watch fell {missed} changes behind the node; watch again");
                let _ = conn.queue(&ClientResponse::<Bytes>::Error(ErrorReply::new(ErrorCode::FellBehind, message)));
                let _ = tokio::time::timeout(CLIENT_WRITE_TIMEOUT, conn.flush()).await;
                return;
            }
            Err(RecvError::Closed) => return,
        };
        if conn.queue(&response).is_err() {
            return;
        }
    }
}

/// Executes one request against the node (a write uses `room` reserved in the log's queue); a
/// read queues its answer on `conn` at once.
fn handle(
    shell: &Shell,
    request: Request<'_>,
    room: &mut Room,
    conn: &mut Connection<net::Stream>,
    clock: &BatchClock,
) -> Answer {
    let mut durable = None;
    // A write; only a backup's (a `Load`) carries a deadline, or an element's key.
    let mut write = |key: &[u8], value: Option<&[u8]>, deadline_ms: Option<u64>| {
        if let Some(element) = kvs_store::collection::split_element_key(key) {
            let entry = kvs_proto::BackupEntry { key, value: value.unwrap_or_default(), expires_at_ms: deadline_ms };
            return crate::backup_load::load_element(shell, element, &entry, room).map(|()| ClientResponse::Ok);
        }
        // Never inside a Redis client's transaction (see `redis::transaction`).
        let shared = shell.core.isolation.read().unwrap_or_else(|p| p.into_inner());
        let written = match deadline_ms {
            None => shell.write(key, value, room).map(Some),
            Some(deadline_ms) => {
                let decide = |local: &Local<'_>| Decision::Write(local.value(value, Some(deadline_ms)), ());
                shell.update(key, clock.now_ms(shell), room, None, decide).map(|(written, ())| written)
            }
        };
        drop(shared);
        match written {
            Ok(None) => Ok(ClientResponse::Ok),
            Ok(Some(written)) => {
                durable = written.durable;
                Ok(ClientResponse::Written(written.version))
            }
            Err(error @ WriteRefused::Log(_)) => Err(ErrorReply::new(ErrorCode::LogFailed, error.to_string())),
            Err(error @ WriteRefused::ClockSkew(_)) => Err(ErrorReply::new(ErrorCode::ClockSkew, error.to_string())),
        }
    };
    let result = match request {
        ClientRequest::Get { key } => check_key(shell, key).map(|()| {
            // The value goes from the store into the write buffer under the shard's read lock.
            let now_ms = clock.now_ms(shell);
            let value = |value: Option<&[u8]>| conn.queue(&ClientResponse::<&[u8]>::Value(value));
            Answer::Queued(shell.store().with_value(key, now_ms, value))
        }),
        ClientRequest::MGet { keys } => keys.iter().try_for_each(|&key| check_key(shell, key)).and_then(|()| {
            let now_ms = clock.now_ms(shell);
            let values: Vec<_> = keys.iter().map(|key| shell.store().get_value(key, now_ms)).collect();
            // What the reply costs on the wire: each value and its length, within both bounds.
            let size: usize = values.iter().map(|v| v.as_ref().map_or(1, |v| v.len() + 9)).sum();
            let max = reply_bound(shell);
            if size > max {
                return Err(ErrorReply::new(ErrorCode::ReplyTooLarge, format!("reply of {size} bytes exceeds {max}")));
            }
            Ok(Answer::Queued(conn.queue(&ClientResponse::Values(values))))
        }),
        ClientRequest::Set { key, value } => check_written_key(shell, key)
            .and_then(|()| check_value(shell, value))
            .and_then(|()| write(key, Some(value), None))
            .map(|written| Answer::Reply(written, None)),
        ClientRequest::MSet { pairs } => {
            let checked: Result<(), ErrorReply> = pairs
                .iter()
                .try_for_each(|&(key, value)| check_written_key(shell, key).and_then(|()| check_value(shell, value)));
            checked.and_then(|()| {
                let mut last = Ok(ClientResponse::Ok);
                for &(key, value) in &pairs {
                    last = write(key, Some(value), None);
                    if last.is_err() {
                        break;
                    }
                }
                last.map(|written| Answer::Reply(written, None))
            })
        }
        ClientRequest::Delete { key } => check_written_key(shell, key)
            .and_then(|()| write(key, None, None))
            .map(|written| Answer::Reply(written, None)),
        ClientRequest::Export { after, max_keys } => after
            .map_or(Ok(()), |after| check_key(shell, after))
            .map(|()| Answer::Queued(export(shell, after, max_keys, conn))),
        ClientRequest::Load { entries } => {
            let checked: Result<(), ErrorReply> = entries.iter().try_for_each(|entry| {
                crate::backup_load::check_entry_key(shell, entry.key).and_then(|()| check_value(shell, entry.value))
            });
            // An entry whose deadline has passed is left out, as Redis's RESTORE leaves out a key
            // whose time has passed.
            let now_ms = clock.now_ms(shell);
            let mut live = entries.iter().filter(|e| e.expires_at_ms.is_none_or(|at| at > now_ms));
            checked
                .and_then(|()| live.try_for_each(|e| write(e.key, Some(e.value), e.expires_at_ms).map(drop)))
                .map(|()| Answer::Reply(ClientResponse::Ok, None))
        }
        ClientRequest::Status { max_keys } => {
            let max_keys = (max_keys as usize).min(status::MAX_KEYS);
            Ok(Answer::Reply(ClientResponse::Status(Box::new(status::report(shell, max_keys))), None))
        }
        ClientRequest::Versions => Ok(Answer::Reply(ClientResponse::Versions(Box::new(status::versions(shell))), None)),
        ClientRequest::History => Ok(Answer::Reply(ClientResponse::History(shell.history.samples()), None)),
        ClientRequest::Layout => Ok(Answer::Reply(ClientResponse::Layout(shell.core.layout().map(Box::new)), None)),
        ClientRequest::Shutdown => Ok(Answer::Reply(ClientResponse::Ok, None)),
        // Its changes stream once this answer is out (see `serve`).
        ClientRequest::Watch { prefix } => check_key(shell, prefix).map(|()| Answer::Reply(ClientResponse::Ok, None)),
        ClientRequest::Wait { .. } => unreachable!("Wait is answered by `wait`"),
        ClientRequest::ClusterPlan { .. } | ClientRequest::ClusterApply { .. } => {
            unreachable!("plans are answered by `layout_plan`")
        }
        ClientRequest::Inspect { key } => check_key(shell, key).map(|()| {
            let now_ms = shell.wall_ms();
            let held = shell.store().get(key).map(|r| if r.is_expired_at(now_ms) { r.expired() } else { r });
            Answer::Reply(ClientResponse::Entry(held.map(|record| record.to_keyed_entry().1)), None)
        }),
    };
    match result {
        // A write's wait for the disk goes with its reply.
        Ok(Answer::Reply(response, None)) => Answer::Reply(response, durable),
        Ok(answer) => answer,
        Err(reply) => Answer::Reply(error(reply), None),
    }
}

/// Largest reply of many values (MGET, an export page): `--max-reply-bytes`, and room for the
/// frame's own bytes within the frame bound.
fn reply_bound(shell: &Shell) -> usize {
    shell.config.max_reply_bytes.min(shell.config.limits.max_frame_bytes.saturating_sub(64))
}

/// Keys an export page holds at most, whatever the request asks.
const MAX_EXPORT_KEYS: usize = 100_000;

/// Queues one page of an export: the live keys after `after`, as many as `max_keys` asks (up to
/// [`MAX_EXPORT_KEYS`]) and the reply bound allows (at least one, which the value bound fits).
fn export(
    shell: &Shell,
    after: Option<&[u8]>,
    max_keys: u32,
    conn: &mut Connection<net::Stream>,
) -> Result<usize, ProtoError> {
    let now_ms = shell.wall_ms();
    let records = shell.store().export_page(after, (max_keys as usize).clamp(1, MAX_EXPORT_KEYS), now_ms);
    let max_bytes = reply_bound(shell);
    let mut entries = Vec::with_capacity(records.len());
    let mut bytes = 0;
    for record in &records {
        // A record that changed since the page was walked is left out, as if it had been later.
        let Some((value, expires_at_ms)) = shell.store().backup_value(record, now_ms) else { continue };
        // A key and value cost their lengths and a few bytes of framing each.
        bytes += record.key().len() + value.len() + 32;
        if bytes > max_bytes && !entries.is_empty() {
            break;
        }
        entries.push(BackupEntry { key: Bytes::copy_from_slice(record.key()), value, expires_at_ms });
    }
    conn.queue(&ClientResponse::<Bytes>::Exported(entries))
}

fn check_value(shell: &Shell, value: &[u8]) -> Result<(), ErrorReply> {
    let max = shell.config.limits.max_value_bytes;
    if value.len() > max {
        return Err(ErrorReply::new(ErrorCode::ValueTooLarge, format!("value of {} bytes exceeds {max}", value.len())));
    }
    Ok(())
}

/// A key a native client writes: within the bound, and not of another Redis database (the native
/// protocol serves database 0; an import, which restores every database, takes stored keys).
fn check_written_key(shell: &Shell, key: &[u8]) -> Result<(), ErrorReply> {
    check_key(shell, key)?;
    if kvs_store::databases::is_reserved(key) {
        let message =
            "keys beginning with the bytes 0xFF 0xDB or 0xFF 0xEE are reserved (they store the keys of Redis databases 1 and up, and collection elements)";
        return Err(ErrorReply::new(ErrorCode::BadRequest, message));
    }
    Ok(())
}

fn check_key(shell: &Shell, key: &[u8]) -> Result<(), ErrorReply> {
    let max = shell.config.limits.max_key_bytes;
    if key.len() > max {
        return Err(ErrorReply::new(ErrorCode::KeyTooLarge, format!("key of {} bytes exceeds {max}", key.len())));
    }
    Ok(())
}
