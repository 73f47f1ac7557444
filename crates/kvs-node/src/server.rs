//! Binding, the accept loop, background tickers, joining, and the shutdown sequence.

use crate::anti_entropy;
use crate::config::NodeConfig;
use crate::connection_budget::Slot;
use crate::error::NodeError;
use crate::handshake::handle_connection;
use crate::net;
use crate::open;
use crate::peer_handshake;
use crate::peer_task;
use crate::redis;
use crate::shell::{JoinState, Shell};
use kvs_proto::{Connection, ErrorCode, ErrorReply, HelloReply, ProtoError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval, timeout};

/// A node that is bound but not yet serving; lets the caller learn the real address first.
pub struct BoundNode {
    shell: Arc<Shell>,
    listener: net::Listener,
    redis: Option<net::Listener>,
    /// The HTTP admin port and its bound address.
    http: Option<(tokio::net::TcpListener, SocketAddr)>,
}

async fn bind_one(addr: SocketAddr) -> Result<net::Listener, NodeError> {
    net::bind(addr).await.map_err(|source| NodeError::Bind { addr: addr.to_string(), source })
}

/// Binds the listeners and creates the node (port 0 becomes a real port here).
pub async fn bind(config: NodeConfig) -> Result<BoundNode, NodeError> {
    let listener = bind_one(config.listen).await?;
    let redis = match config.redis_listen {
        Some(addr) => Some(bind_one(addr).await?),
        None => None,
    };
    let http = match config.http_listen {
        Some(addr) => {
            let bind_error = |source| NodeError::Bind { addr: addr.to_string(), source };
            let http = tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?;
            let bound = http.local_addr().map_err(bind_error)?;
            Some((http, bound))
        }
        None => None,
    };
    let data = open::open_data(&config)?;
    let bound = net::bound_addr(&listener, config.listen)?;
    let addr = match config.advertise {
        Some(advertised) if advertised.port() == 0 => SocketAddr::new(advertised.ip(), bound.port()),
        Some(advertised) => advertised,
        None => bound,
    };
    let redis_addr = match (&redis, config.redis_listen) {
        (Some(redis), Some(requested)) => Some(net::bound_addr(redis, requested)?),
        _ => None,
    };
    let shell = Shell::new(config, addr, redis_addr, data, peer_task::spawn);
    Ok(BoundNode { shell, listener, redis, http })
}

/// Begins a clean shutdown of a node when asked (on a signal, say).
#[derive(Clone)]
pub struct ShutdownHandle(Arc<Shell>);

impl ShutdownHandle {
    /// Starts the shutdown sequence: leave the cluster, finish every task.
    pub fn begin(&self) {
        self.0.begin_shutdown();
    }
}

impl BoundNode {
    /// The line that announces the node on stdout: its id, the address it listens on, the one it
    /// advertises if another, and its Redis and HTTP addresses.
    pub fn banner(&self) -> String {
        let shell = &self.shell;
        let listening = net::bound_addr(&self.listener, shell.config.listen).unwrap_or(shell.addr);
        let mut line = format!("kvs-node {} listening on {listening}", shell.id);
        if listening != shell.addr {
            line.push_str(&format!(" advertised as {}", shell.addr));
        }
        if let Some(redis) = shell.redis_addr {
            line.push_str(&format!(" redis {redis}"));
        }
        if let Some((_, http)) = &self.http {
            line.push_str(&format!(" http {http}"));
        }
        line
    }

    /// Where joining through the bootstrap node stands, as it changes (for the stdout line that
    /// says the node joined).
    pub fn join_state(&self) -> tokio::sync::watch::Receiver<JoinState> {
        self.shell.join_state.subscribe()
    }

    /// A handle that begins this node's shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shell.clone())
    }

    /// Serves until shutdown begins, then leaves cleanly and waits (bounded) for every task.
    pub async fn serve(self) -> Result<(), NodeError> {
        let BoundNode { shell, listener, redis, http } = self;
        tracing::info!(id = %shell.id, addr = %shell.addr, redis = ?shell.redis_addr, "node serving");
        let unguarded = shell.config.users.is_none() && shell.config.cluster_secret.is_none();
        if !shell.addr.ip().is_loopback() && unguarded {
            match shell.config.protected_mode {
                true => tracing::warn!(
                    addr = %shell.addr,
                    "protected mode: with neither --users-file nor --cluster-secret-file, connections from beyond loopback are refused (--protected-mode no serves them)"
                ),
                false => tracing::warn!(
                    addr = %shell.addr,
                    "--protected-mode no with neither --users-file nor --cluster-secret-file: anyone who reaches this port can read, write, join or shut the node down"
                ),
            }
        }
        shell.execute_control(shell.core.judge_version(shell.now()).into_iter().collect());
        if let Some(redis) = redis {
            let shell = shell.clone();
            shell.tasks.clone().spawn(async move {
                // The Redis port's connections are its own state, kept by its sessions.
                let clients = Arc::new(redis::clients::RedisClients::new(&shell.config));
                shell.tasks.spawn(redis::forwarded::serve(shell.clone(), clients.clone()));
                let serve = move |shell, stream, slot| redis::session::serve(shell, clients.clone(), stream, slot);
                accept_loop(&shell, redis, Clients::Only, serve).await
            });
        }
        if let Some((http, _)) = http {
            shell.tasks.spawn(crate::http::serve(shell.clone(), http));
        }
        shell.tasks.spawn(heartbeat(shell.clone()));
        shell.tasks.spawn(rediscover(shell.clone()));
        shell.tasks.spawn(anti_entropy::run(shell.clone()));
        shell.tasks.spawn(anti_entropy::purge_tombstones(shell.clone()));
        shell.tasks.spawn(crate::expiry::run(shell.clone()));
        shell.tasks.spawn(crate::hint_hand_over::run(shell.clone()));
        shell.tasks.spawn(crate::history_sampler::keep(shell.clone()));
        if let Some(bootstrap) = shell.config.bootstrap {
            shell.tasks.spawn(join(shell.clone(), bootstrap));
        }
        accept_loop(&shell, listener, Clients::AndPeers, handle_connection).await;
        tracing::info!("shutting down");
        shell.tasks.close();
        if timeout(shell.config.shutdown_grace, shell.tasks.wait()).await.is_err() {
            tracing::warn!("some tasks did not finish within the shutdown grace period");
        }
        shell.writes.close().await;
        let joined = shell.join_state.borrow().clone();
        match joined {
            JoinState::Failed { through, waited, last_error } => {
                Err(NodeError::JoinTimeout { bootstrap: through, waited, last_error })
            }
            _ => Ok(()),
        }
    }
}

/// Who a listener serves, which decides what part of the connection budget it may take.
#[derive(Clone, Copy)]
enum Clients {
    /// Clients only (the Redis port): never the peers' reserve.
    Only,
    /// Clients and peers (the native port): the reserve too, for peers.
    AndPeers,
}

/// Accepts connections and serves each with `handler` in its own tracked task until shutdown,
/// each holding its slot in the node's one connection budget; a connection beyond the budget is
/// told so and closed at once.
async fn accept_loop<F, Fut>(shell: &Arc<Shell>, listener: net::Listener, serves: Clients, handler: F)
where
    F: Fn(Arc<Shell>, net::Stream, Slot) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = shell.shutdown_started() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, source) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(error) = net::accepted(&stream) {
            tracing::debug!(%error, "cannot configure accepted socket");
        }
        if shell.config.refuses_in_protected_mode(source.ip()) {
            tracing::warn!(%source, "refusing a connection from beyond loopback: protected mode (see --protected-mode)");
            drop(shell.tasks.spawn(turn_away(shell.clone(), stream, serves, TurnedAway::ProtectedMode)));
            continue;
        }
        let slot = match serves {
            Clients::Only => shell.budget.try_client(),
            Clients::AndPeers => shell.budget.try_any(),
        };
        match slot {
            Some(slot) => {
                let served = shell.clone();
                let serve = handler.clone();
                drop(shell.tasks.spawn(async move {
                    // The TLS handshake, if any, within the hello deadline; plaintext sent to a
                    // TLS port fails it and only that connection closes.
                    let secured = net::secure_accepted(served.config.tls.as_ref(), stream);
                    match timeout(served.config.hello_timeout, secured).await {
                        Ok(Ok(stream)) => serve(served, stream, slot).await,
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("no TLS handshake within the hello deadline"),
                    }
                }));
            }
            None => drop(shell.tasks.spawn(turn_away(shell.clone(), stream, serves, TurnedAway::OverBudget))),
        }
    }
}

/// Why a connection is closed as soon as it is accepted.
#[derive(Clone, Copy)]
enum TurnedAway {
    /// Every connection of the budget is in use.
    OverBudget,
    /// It comes from beyond loopback to a node in protected mode.
    ProtectedMode,
}

/// Tells a connection turned away why, in its protocol, and closes it.
async fn turn_away(shell: Arc<Shell>, mut stream: net::Tcp, serves: Clients, why: TurnedAway) {
    // Over TLS there is no saying so before a handshake: the connection just closes.
    if shell.config.tls.is_some() {
        return;
    }
    let total = shell.budget.total;
    let (resp, reply) = match why {
        TurnedAway::OverBudget => {
            tracing::debug!(total, "connection budget used up; turning a connection away");
            // Redis's own words past maxclients.
            let reply = ErrorReply::new(ErrorCode::TooManyConnections, format!("all {total} connections are in use"));
            ("-ERR max number of clients reached\r\n".to_string(), reply)
        }
        TurnedAway::ProtectedMode => (
            format!("-DENIED {}\r\n", crate::config::PROTECTED_MODE_REFUSAL),
            ErrorReply::new(ErrorCode::NoAuth, crate::config::PROTECTED_MODE_REFUSAL),
        ),
    };
    let said = async {
        match serves {
            Clients::Only => {
                use tokio::io::AsyncWriteExt;
                stream.write_all(resp.as_bytes()).await.map_err(ProtoError::Io)
            }
            Clients::AndPeers => {
                let mut conn = Connection::new(stream, shell.config.limits.max_frame_bytes);
                conn.send(&HelloReply::Rejected(reply)).await.map(drop)
            }
        }
    };
    let _ = timeout(Duration::from_secs(1), said).await;
}

/// Bumps our heartbeat every gossip interval; peer tasks carry it to the others.
async fn heartbeat(shell: Arc<Shell>) {
    let mut ticks = interval(shell.config.gossip_interval);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {
                shell.execute_control(shell.core.heartbeat(shell.now()));
            }
        }
    }
}

/// Every dead-after period, greets the address of each member that left, to learn whether a new
/// incarnation lives there now. Without this, nodes that restart bootstrapping only from each
/// other (all others knowing them as "left") form an island that never meets the rest of the
/// cluster (found by the simulator, seed 12).
async fn rediscover(shell: Arc<Shell>) {
    let mut ticks = interval(shell.config.dead_after);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = ticks.tick() => {}
        }
        let probes = async {
            for addr in shell.core.with_members(|m| m.left_addrs()) {
                if let Err(error) = join_once(&shell, addr).await {
                    tracing::trace!(%addr, %error, "nobody new at a departed member's address");
                }
            }
        };
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = probes => {}
        }
    }
}

/// Greets the bootstrap node until it answers, merging the member list it returns; past
/// `--join-timeout-ms` gives up and shuts the node down, which then exits with the reason.
async fn join(shell: Arc<Shell>, bootstrap: SocketAddr) {
    let started = tokio::time::Instant::now();
    // What is left of --join-timeout-ms, if it was given.
    let left = || shell.config.join_timeout.map(|limit| limit.saturating_sub(started.elapsed()));
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = tokio::select! {
            _ = shell.shutdown_started() => return,
            attempt = timeout(left().unwrap_or(Duration::MAX), join_once(&shell, bootstrap)) => {
                attempt.unwrap_or_else(|_| Err(ProtoError::Io(std::io::ErrorKind::TimedOut.into())))
            }
        };
        let error = match attempt {
            Ok(()) => {
                let members = shell.core.with_members(|m| m.others(shell.now().at).len() + 1);
                tracing::info!(%bootstrap, members, "joined the cluster");
                shell.join_state.send_replace(JoinState::Joined { through: bootstrap, members });
                return;
            }
            Err(error) => error,
        };
        let left = left();
        if left.is_some_and(|left| left.is_zero()) {
            let waited = started.elapsed();
            tracing::error!(%bootstrap, ?waited, %error, "could not join the cluster in time (--join-timeout-ms); shutting down");
            shell.join_state.send_replace(JoinState::Failed {
                through: bootstrap,
                waited,
                last_error: error.to_string(),
            });
            shell.begin_shutdown();
            return;
        }
        tracing::warn!(%bootstrap, %error, ?backoff, "cannot join yet; retrying");
        tokio::select! {
            _ = shell.shutdown_started() => return,
            _ = tokio::time::sleep(left.map_or(backoff, |left| left.min(backoff))) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn join_once(shell: &Arc<Shell>, bootstrap: SocketAddr) -> Result<(), ProtoError> {
    let welcome = peer_handshake::greet(shell, bootstrap).await?.welcome;
    shell.execute_control(shell.core.welcomed(welcome, shell.now()));
    Ok(())
}
