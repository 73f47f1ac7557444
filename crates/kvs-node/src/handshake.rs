//! The hello exchange that opens every accepted connection, then hand-off by role.

use crate::connection_budget::Slot;
use crate::core::Peer;
use crate::credentials::Access;
use crate::shell::Shell;
use crate::users::LoginRefused;
use crate::{client_session, net, peer_handshake, peer_inbound};
use kvs_proto::{Connection, Credentials, ErrorCode, ErrorReply, Hello, HelloReply, Role};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::time::timeout;

/// Serves one accepted connection from hello to close; `slot` is its place in the connection
/// budget (one from the peers' reserve admits only a peer).
pub async fn handle_connection(shell: Arc<Shell>, mut stream: net::Stream, slot: Slot) {
    let peer_addr = net::socket(&stream).peer_addr().ok();
    // One deadline for the hello, whatever is looked at first.
    let hello_by = tokio::time::Instant::now() + shell.config.hello_timeout;
    if speaks_resp(&shell, &mut stream, hello_by).await {
        return;
    }
    let mut conn = Connection::new(stream, shell.config.limits.max_frame_bytes);
    let received = tokio::select! {
        _ = shell.shutdown_started() => return,
        received = tokio::time::timeout_at(hello_by, conn.recv::<Hello>()) => received,
    };
    let hello = match received {
        Err(_) => {
            let ms = shell.config.hello_timeout.as_millis();
            return reject(&mut conn, ErrorReply::new(ErrorCode::Timeout, format!("no hello within {ms} ms"))).await;
        }
        Ok(Ok(Some(hello))) => hello,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            tracing::debug!(?peer_addr, %error, "bad hello");
            if let Some(reply) = error.reply() {
                reject(&mut conn, reply).await;
            }
            return;
        }
    };
    let version = hello.protocol_version;
    if !kvs_proto::speaks(version) {
        return reject(&mut conn, kvs_proto::version_mismatch(version)).await;
    }
    match hello.role {
        Role::Client if slot.peers_only => {
            let message = format!("all {} client connections are in use", shell.budget.total - shell.budget.reserved);
            reject(&mut conn, ErrorReply::new(ErrorCode::TooManyConnections, message)).await
        }
        Role::Client => {
            let access = match log_in(&shell, hello.credentials, peer_addr) {
                Ok(access) => access,
                Err(reply) => return reject(&mut conn, reply).await,
            };
            let welcome = HelloReply::Welcome { node: shell.core.me(), members: Vec::new() };
            if conn.send(&welcome).await.is_ok() {
                client_session::serve(&shell, &mut conn, access, version).await;
            }
        }
        Role::Viewer { node: asker, nonce, dialed } => {
            // Only a member may ask this way: the challenge needs the cluster secret.
            if shell.config.cluster_secret.is_none() {
                let reply =
                    ErrorReply::new(ErrorCode::NoAuth, "this node has no cluster secret to check a viewer with");
                return reject(&mut conn, reply).await;
            }
            if !proved(&shell, &mut conn, peer_addr, "viewer", (asker, &nonce), dialed).await {
                return;
            }
            let welcome = HelloReply::Welcome { node: shell.core.me(), members: Vec::new() };
            if conn.send(&welcome).await.is_ok() {
                client_session::serve(&shell, &mut conn, Access::Read, version).await;
            }
        }
        Role::Peer { member, origin, nonce, dialed } => {
            if !shell.core.admits_protocol(version) {
                // The cluster has moved on: what it writes now, this member could not read.
                let cluster = shell.core.cluster_version();
                let message = format!(
                    "this cluster runs at protocol {cluster} and has opened features protocol {version} lacks; \
                     upgrade this node to a release that speaks {cluster} (see CHANGELOG.md)"
                );
                tracing::warn!(?peer_addr, claimed = %member.id, version, cluster, "refusing a peer of an older release");
                return reject(&mut conn, ErrorReply::new(ErrorCode::VersionMismatch, message)).await;
            }
            if !proved(&shell, &mut conn, peer_addr, "peer", (member.id, &nonce), dialed).await {
                return;
            }
            shell.core.spoke(&member, version);
            net::peer_link(net::socket(conn.get_ref()), shell.config.dead_after);
            let peer = Peer { id: member.id, origin };
            shell.core.greeted(peer);
            shell.execute_control(shell.core.merge_members([member], peer.id, shell.now()));
            // It is back: our task for it need not wait out its backoff to answer it.
            shell.peers.heard_from(peer.id);
            let welcome = HelloReply::Welcome { node: shell.core.me(), members: shell.core.member_infos(shell.now()) };
            if conn.send(&welcome).await.is_ok() {
                peer_inbound::serve(&shell, &mut conn, peer, version).await;
            }
        }
    }
}

/// Has the dialer (a `what`, claiming `claimed`'s id with its nonce, having dialed `dialed`) prove
/// the cluster secret, if the node has one; refuses it, logged and counted, if it cannot.
async fn proved(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    peer_addr: Option<SocketAddr>,
    what: &str,
    claimed: (kvs_proto::NodeId, &kvs_proto::Nonce),
    dialed: SocketAddr,
) -> bool {
    let Err(reply) = peer_handshake::challenge(shell, conn, claimed.0, claimed.1, dialed).await else { return true };
    tracing::warn!(?peer_addr, claimed = %claimed.0, %reply, "refusing a {what}");
    crate::stats::bump(&shell.core.stats().peer_hellos_refused, 1);
    reject(conn, reply).await;
    false
}

/// What a client may do: everything without a users file; with one, what its user's role allows,
/// once its credentials check out (and its address has not failed too often lately).
fn log_in(shell: &Shell, credentials: Option<Credentials>, source: Option<SocketAddr>) -> Result<Access, ErrorReply> {
    let Some(users) = &shell.config.users else { return Ok(Access::Admin) };
    let Some(credentials) = credentials else {
        return Err(ErrorReply::new(ErrorCode::NoAuth, "authentication required"));
    };
    let source = source.map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    users.log_in(&credentials.user, &credentials.password, source, tokio::time::Instant::now()).map_err(|refused| {
        match refused {
            LoginRefused::WrongPass => {
                ErrorReply::new(ErrorCode::WrongPass, "invalid username-password pair or user is disabled")
            }
            LoginRefused::Throttled(wait) => ErrorReply::new(
                ErrorCode::WrongPass,
                format!("too many failed logins from this address; try again in {} s", wait.as_secs() + 1),
            ),
        }
    })
}

/// Whether a plaintext connection opens with a Redis command (a RESP array `*`, or an inline
/// command's letter) rather than a hello frame's length: a Redis client pointed at this port. It
/// is told, in RESP, where the Redis protocol is served, and closed (a hello's first byte is that
/// of a length far below such values, so no kvs client or peer is mistaken for one).
async fn speaks_resp(shell: &Shell, stream: &mut net::Stream, hello_by: tokio::time::Instant) -> bool {
    let peeked = tokio::select! {
        _ = shell.shutdown_started() => return true,
        peeked = tokio::time::timeout_at(hello_by, net::peek_byte(stream)) => peeked,
    };
    let Ok(Ok(Some(first))) = peeked else { return false };
    if !(first == b'*' || first.is_ascii_alphabetic()) {
        return false;
    }
    let served = match shell.redis_addr {
        Some(addr) => format!("on port {} (--redis-port)", addr.port()),
        None => "only with --redis-port, which this node was not started with".to_string(),
    };
    let line = format!("-ERR this is kvs's native port; the Redis protocol is served {served}\r\n");
    use tokio::io::AsyncWriteExt;
    let _ = timeout(std::time::Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
    true
}

async fn reject(conn: &mut Connection<net::Stream>, reply: ErrorReply) {
    tracing::debug!(%reply, "rejecting connection");
    let _ = timeout(std::time::Duration::from_secs(1), conn.send(&HelloReply::Rejected(reply))).await;
}
