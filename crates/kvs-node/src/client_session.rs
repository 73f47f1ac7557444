//! Serves one client connection: one response per request, in order.
//!
//! Pipelined requests are answered like Redis answers them: every request already in the read
//! buffer is served before the replies are written, with one write for all of them.

use crate::config::{unless_idle, CLIENT_WRITE_TIMEOUT};
use crate::credentials::Access;
use crate::error::WriteRefused;
use crate::net;
use crate::shell::Shell;
use crate::status;
use bytes::Bytes;
use kvs_proto::{ClientRequest, ClientResponse, Connection, ErrorCode, ErrorReply};
use kvs_store::log::writer::{Durable, Room};
use std::sync::Arc;

/// Answers requests until the client closes, errs, asks for shutdown, or we shut down; the client
/// may do what `access` allows.
pub async fn serve(node: &Arc<Shell>, conn: &mut Connection<net::Stream>, access: Access) {
    loop {
        let received = tokio::select! {
            _ = node.shutdown_started() => return,
            received = unless_idle(node.config.idle_timeout, conn.recv::<ClientRequest>()) => match received {
                Some(received) => received,
                None => {
                    tracing::debug!("closing an idle client connection");
                    return;
                }
            },
        };
        let request = match received {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "closing client connection");
                if let Some(reply) = error.reply() {
                    let _ = conn.send(&ClientResponse::Error(reply)).await;
                }
                return;
            }
        };
        let shutdown = matches!(request, ClientRequest::Shutdown);
        let writes = match &request {
            ClientRequest::Set { .. } | ClientRequest::Delete { .. } => 1,
            ClientRequest::MSet { pairs } => pairs.len(),
            _ => 0,
        };
        // Room in the log's queue first: a slow disk makes this task wait, not a worker thread.
        // Without room (the log failed) the write is refused below with the log's reason.
        let mut room = node.writes.reserve(writes).await.unwrap_or_default();
        let (mut response, durable) = match needed(&request) {
            (name, required) if required > access => {
                // Redis's NOPERM wording, for a request above the user's role.
                let message = format!(
                    "this user has no permissions to run the '{name}' command (it needs the {} role)",
                    required.name()
                );
                (ClientResponse::Error(ErrorReply::new(ErrorCode::NoPerm, message)), None)
            }
            _ => handle(node, request, &mut room),
        };
        if let Some(durable) = durable {
            // Under --fsync always the reply waits until the write is on disk.
            let synced = durable.await.unwrap_or_else(|_| Err("the log writer stopped".into()));
            if let Err(reason) = synced {
                response = ClientResponse::Error(ErrorReply::new(ErrorCode::LogFailed, reason));
            }
        }
        let more = conn.has_buffered_frame() && !shutdown;
        let sent = async {
            conn.feed(&response).await?;
            if !more {
                conn.flush().await?;
            }
            Ok::<_, kvs_proto::ProtoError>(())
        };
        if !matches!(tokio::time::timeout(CLIENT_WRITE_TIMEOUT, sent).await, Ok(Ok(()))) {
            return;
        }
        if shutdown && response == ClientResponse::Ok {
            node.begin_shutdown();
            return;
        }
    }
}

/// A request's name, for errors, and what a user must be allowed to run it.
fn needed(request: &ClientRequest) -> (&'static str, Access) {
    match request {
        ClientRequest::Get { .. } => ("get", Access::Read),
        ClientRequest::Status { .. } => ("status", Access::Read),
        ClientRequest::Inspect { .. } => ("inspect", Access::Read),
        ClientRequest::MGet { .. } => ("mget", Access::Read),
        ClientRequest::MSet { .. } => ("mset", Access::Write),
        ClientRequest::Set { .. } => ("set", Access::Write),
        ClientRequest::Delete { .. } => ("delete", Access::Write),
        ClientRequest::Shutdown => ("shutdown", Access::Admin),
    }
}

/// Executes one request against the node (a write uses `room` reserved in the log's queue); a
/// write may come with what to await before replying.
pub fn handle(node: &Shell, request: ClientRequest, room: &mut Room) -> (ClientResponse, Option<Durable>) {
    let mut durable = None;
    let mut write = |key: &[u8], value: Option<&[u8]>| {
        // Never inside a Redis client's transaction (see `redis::transaction`).
        let shared = node.core.isolation.read().unwrap_or_else(|p| p.into_inner());
        let written = node.write(key, value, room);
        drop(shared);
        match written {
            Ok(written) => {
                durable = written.durable;
                Ok(ClientResponse::Written(written.version))
            }
            Err(error @ WriteRefused::Log(_)) => Err(ErrorReply::new(ErrorCode::LogFailed, error.to_string())),
            Err(error @ WriteRefused::ClockSkew(_)) => Err(ErrorReply::new(ErrorCode::ClockSkew, error.to_string())),
        }
    };
    let result = match request {
        ClientRequest::Get { key } => {
            check_key(node, &key).map(|()| ClientResponse::Value(node.store().get_value(&key, node.now().wall_ms)))
        }
        ClientRequest::Set { key, value } => {
            check_key(node, &key).and_then(|()| check_value(node, &value)).and_then(|()| write(&key, Some(&value)))
        }
        ClientRequest::MSet { pairs } => {
            let checked: Result<(), ErrorReply> =
                pairs.iter().try_for_each(|(key, value)| check_key(node, key).and_then(|()| check_value(node, value)));
            checked.and_then(|()| {
                let mut last = Ok(ClientResponse::Ok);
                for (key, value) in &pairs {
                    last = write(key, Some(value));
                    if last.is_err() {
                        break;
                    }
                }
                last
            })
        }
        ClientRequest::MGet { keys } => keys.iter().try_for_each(|key| check_key(node, key)).and_then(|()| {
            let now_ms = node.now().wall_ms;
            let values: Vec<Option<Bytes>> = keys.iter().map(|key| node.store().get_value(key, now_ms)).collect();
            // What the reply costs on the wire: each value and its length, within both bounds.
            let size: usize = values.iter().map(|v| v.as_ref().map_or(1, |v| v.len() + 9)).sum();
            let max = node.config.max_reply_bytes.min(node.config.limits.max_frame_bytes.saturating_sub(64));
            if size > max {
                return Err(ErrorReply::new(ErrorCode::ReplyTooLarge, format!("reply of {size} bytes exceeds {max}")));
            }
            Ok(ClientResponse::Values(values))
        }),
        ClientRequest::Delete { key } => check_key(node, &key).and_then(|()| write(&key, None)),
        ClientRequest::Status { max_keys } => {
            let max_keys = (max_keys as usize).min(status::MAX_KEYS);
            Ok(ClientResponse::Status(Box::new(status::report(node, max_keys))))
        }
        ClientRequest::Shutdown => Ok(ClientResponse::Ok),
        ClientRequest::Inspect { key } => check_key(node, &key).map(|()| {
            let now_ms = node.now().wall_ms;
            let held = node.store().get(&key).map(|r| if r.is_expired_at(now_ms) { r.expired() } else { r });
            ClientResponse::Entry(held.map(|record| record.to_keyed_entry().1))
        }),
    };
    (result.unwrap_or_else(ClientResponse::Error), durable)
}

fn check_value(node: &Shell, value: &Bytes) -> Result<(), ErrorReply> {
    let max = node.config.limits.max_value_bytes;
    if value.len() > max {
        return Err(ErrorReply::new(ErrorCode::ValueTooLarge, format!("value of {} bytes exceeds {max}", value.len())));
    }
    Ok(())
}

fn check_key(node: &Shell, key: &Bytes) -> Result<(), ErrorReply> {
    let max = node.config.limits.max_key_bytes;
    if key.len() > max {
        return Err(ErrorReply::new(ErrorCode::KeyTooLarge, format!("key of {} bytes exceeds {max}", key.len())));
    }
    Ok(())
}
