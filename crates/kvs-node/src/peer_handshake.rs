//! The peer hello, both sides, and its cluster-secret challenge.
//!
//! Without a secret, the dialer says hello and the responder welcomes it. With one, the responder
//! answers the hello with a challenge carrying its own proof (an HMAC keyed with the secret over
//! the whole [`Transcript`]: both nonces, both ids, the address dialed and, over TLS, the session's
//! exporter); the dialer checks it and answers with its proof; only then is it welcomed. The
//! secret never crosses the wire, a proof cannot be replayed (fresh nonces on both sides) nor
//! relayed (a hello that dialed another address is refused, and a relay's two TLS sessions export
//! different values), and a node with a secret refuses a peer without one, and the other way
//! round, so nodes with different secrets never merge into one cluster.

use crate::credentials::{nonce, Side, Transcript};
use crate::net;
use crate::shell::Shell;
use kvs_proto::{
    ClientRequest, ClientResponse, Connection, ErrorCode, ErrorReply, Hello, HelloReply, MemberInfo, NodeId, Nonce,
    PeerProof, ProtoError, Role,
};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::timeout;

/// The responder's welcome: itself and every member it passes on.
pub(crate) type Welcome = (MemberInfo, Vec<MemberInfo>);

/// A peer connection after its hello: the welcome, and the protocol version it speaks.
pub(crate) struct Greeted {
    /// The connection.
    pub(crate) conn: Connection<net::Stream>,
    /// The responder and the members it passed on.
    pub(crate) welcome: Welcome,
    /// The protocol version both ends speak on it.
    pub(crate) version: u32,
}

fn refused(message: String) -> ProtoError {
    ProtoError::Refused(message)
}

async fn within<T>(deadline: Duration, work: impl Future<Output = Result<T, ProtoError>>) -> Result<T, ProtoError> {
    timeout(deadline, work)
        .await
        .map_err(|_| ProtoError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "peer did not answer in time")))?
}

/// Connects to another member at `addr`, with TLS when the node has it, each step within the
/// hello deadline: the connection a greeting or a view goes over.
pub(crate) async fn dial(shell: &Shell, addr: SocketAddr) -> Result<Connection<net::Stream>, ProtoError> {
    let deadline = shell.config.hello_timeout;
    let tcp = within(deadline, async { net::connect(addr).await.map_err(ProtoError::Io) }).await?;
    let secured = net::secure_dialed(shell.config.tls.as_ref(), tcp, addr);
    let stream = within(deadline, async { secured.await.map_err(ProtoError::Io) }).await?;
    Ok(Connection::new(stream, shell.config.limits.max_frame_bytes))
}

/// Dials `dialed` and says hello as `role(nonce)` in the newest protocol both sides speak
/// (see [`kvs_proto::offered_versions`]: a node of the previous release refuses the newest as a
/// version mismatch, and the hello is said again on a new connection one version down); answers
/// a challenge if the responder sends one.
async fn connect(
    shell: &Shell,
    dialed: SocketAddr,
    role: impl Fn(Nonce) -> Role,
) -> Result<(Connection<net::Stream>, Welcome, u32), ProtoError> {
    // Never below the cluster's version: what the cluster now writes, an older peer cannot read.
    let versions = kvs_proto::offered_versions().filter(|&version| shell.core.admits_protocol(version));
    let role = &role;
    let attempt = |version| async move {
        let mut conn = dial(shell, dialed).await?;
        let mine = nonce();
        conn.send(&Hello::at(version, role(mine))).await?;
        let welcome = answer(shell, &mut conn, &mine, dialed).await?;
        Ok((conn, welcome, version))
    };
    let mismatch =
        |error: &ProtoError| matches!(error, ProtoError::Rejected(r) if r.code == ErrorCode::VersionMismatch);
    kvs_proto::step_down(versions, attempt, mismatch).await.map_err(|refused| {
        refused.unwrap_or_else(|| ProtoError::Rejected(kvs_proto::version_mismatch(shell.core.cluster_version())))
    })
}

/// The dialer's side of a peer connection to `dialed`: its welcome and version.
pub(crate) async fn greet(shell: &Shell, dialed: SocketAddr) -> Result<Greeted, ProtoError> {
    let (conn, welcome, version) = connect(shell, dialed, |mine| shell.core.peer_role(mine, dialed)).await?;
    shell.core.spoke(&welcome.0, version);
    Ok(Greeted { conn, welcome, version })
}

/// A member's view of another: says hello at `dialed` as a viewer, proves the cluster secret
/// (which this node must have) and asks one read-only `request` (its status, its history). No
/// user's password is sent; a request newer than the protocol the member speaks is not sent.
pub(crate) async fn ask_as_viewer(
    shell: &Shell,
    dialed: SocketAddr,
    request: &ClientRequest<bytes::Bytes>,
) -> Result<ClientResponse, ProtoError> {
    let deadline = shell.config.hello_timeout;
    let (mut conn, _, version) = connect(shell, dialed, |nonce| Role::Viewer { node: shell.id, nonce, dialed }).await?;
    if request.protocol() > version {
        return Err(refused(format!("the member speaks protocol {version}; this asks for {}", request.protocol())));
    }
    conn.send(request).await?;
    within(deadline, conn.recv::<ClientResponse>()).await?.ok_or(ProtoError::Truncated)
}

/// The dialer's side after its hello (with `mine` as its nonce, having dialed `dialed`): checks
/// the responder's challenge, if the cluster has a secret, answers it, and returns the welcome.
async fn answer(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    mine: &Nonce,
    dialed: SocketAddr,
) -> Result<Welcome, ProtoError> {
    let deadline = shell.config.hello_timeout;
    let reply = within(deadline, conn.recv::<HelloReply>()).await?.ok_or(ProtoError::Truncated)?;
    let reply = match (reply, &shell.config.cluster_secret) {
        (HelloReply::Welcome { .. }, Some(_)) => {
            return Err(refused("the peer has no cluster secret, and this node requires one".into()));
        }
        (HelloReply::Challenge { .. }, None) => {
            return Err(refused("the peer requires a cluster secret (--cluster-secret-file)".into()));
        }
        (HelloReply::Challenge { node: them, nonce: theirs, proof }, Some(secret)) => {
            let channel = net::channel_binding(conn.get_ref());
            let transcript = Transcript { dialer: (shell.id, mine), responder: (them, &theirs), dialed, channel };
            if !secret.verify(Side::Responder, &transcript, &proof) {
                return Err(refused(format!(
                    "peer {them} proves another cluster secret: the two nodes' --cluster-secret-file differ"
                )));
            }
            conn.send(&PeerProof { proof: secret.proof(Side::Dialer, &transcript) }).await?;
            within(deadline, conn.recv::<HelloReply>()).await?.ok_or(ProtoError::Truncated)?
        }
        (reply, _) => reply,
    };
    match reply {
        HelloReply::Welcome { node: them, members } => Ok((them, members)),
        HelloReply::Rejected(reply) => Err(ProtoError::Rejected(reply)),
        HelloReply::Challenge { .. } => Err(refused("a second challenge".into())),
    }
}

/// The responder's side, after a peer's hello: with a secret, challenges the dialer `dialer`
/// (who sent `theirs`, having dialed `dialed`) and checks its answer; the error is what to reject
/// it with. A hello that dialed neither this connection's local address nor the address we
/// advertise was relayed here from another address, and is refused before any proof is made.
pub(crate) async fn challenge(
    shell: &Shell,
    conn: &mut Connection<net::Stream>,
    dialer: NodeId,
    theirs: &Nonce,
    dialed: SocketAddr,
) -> Result<(), ErrorReply> {
    let Some(secret) = &shell.config.cluster_secret else { return Ok(()) };
    let failed = |why: &str| ErrorReply::new(ErrorCode::PeerAuthFailed, format!("cluster secret: {why}"));
    let local = net::socket(conn.get_ref()).local_addr().ok();
    if local != Some(dialed) && shell.addr != dialed {
        return Err(failed(&format!("the hello dialed {dialed}, not this node (relayed?)")));
    }
    let mine = nonce();
    let channel = net::channel_binding(conn.get_ref());
    let transcript = Transcript { dialer: (dialer, theirs), responder: (shell.id, &mine), dialed, channel };
    let proof = secret.proof(Side::Responder, &transcript);
    conn.send(&HelloReply::Challenge { node: shell.id, nonce: mine, proof }).await.map_err(|_| failed("closed"))?;
    let answer = timeout(shell.config.hello_timeout, conn.recv::<PeerProof>()).await;
    let Ok(Ok(Some(answer))) = answer else {
        return Err(failed(
            "the dialer sent no proof (its --cluster-secret-file differs from ours, or it is no member)",
        ));
    };
    if !secret.verify(Side::Dialer, &transcript, &answer.proof) {
        return Err(failed("wrong proof"));
    }
    Ok(())
}
