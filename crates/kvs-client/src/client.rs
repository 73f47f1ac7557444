//! One connection to one node.

use crate::error::ClientError;
use crate::tls::ClientTls;
use bytes::Bytes;
use kvs_proto::{BackupEntry, ClusterPlan, LayoutChange, StatusReport, Version};
use kvs_proto::{ClientRequest, ClientResponse, Connection, Credentials, Entry, Hello, HelloReply, Limits, MemberInfo};
use rustls::pki_types::ServerName;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::either::Either;

/// The connection: plain TCP, or TLS over it.
type Stream = Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

/// Connection settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Deadline for connecting and for each request's answer.
    pub timeout: Duration,
    /// Largest frame sent or accepted.
    pub max_frame_bytes: usize,
    /// The user and password to log in with, for a node with a users file.
    pub credentials: Option<Credentials>,
    /// TLS to the node, when it listens with TLS.
    pub tls: Option<ClientTls>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(5),
            max_frame_bytes: Limits::DEFAULT_MAX_FRAME_BYTES,
            credentials: None,
            tls: None,
        }
    }
}

/// A connection to a node; requests on it are answered in order.
pub struct Client {
    conn: Connection<Stream>,
    node: MemberInfo,
    timeout: Duration,
    max_frame_bytes: usize,
    protocol: u32,
}

impl Client {
    /// Connects with default options.
    pub async fn connect(addr: &str) -> Result<Client, ClientError> {
        Self::connect_with(addr, ClientOptions::default()).await
    }

    /// Connects and says hello as a client, in the newest protocol both sides speak: a node of
    /// the previous release refuses the newest as a version mismatch, and the hello is said again
    /// on a new connection one version down.
    pub async fn connect_with(addr: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let mismatch = |error: &ClientError| matches!(error, ClientError::Rejected(r) if r.code == kvs_proto::ErrorCode::VersionMismatch);
        let attempt = |version| Self::connect_at(addr, &options, version);
        kvs_proto::step_down(kvs_proto::offered_versions(), attempt, mismatch)
            .await
            .map_err(|refused| refused.expect("at least one version is offered"))
    }

    async fn connect_at(addr: &str, options: &ClientOptions, version: u32) -> Result<Client, ClientError> {
        let stream = deadline(options.timeout, TcpStream::connect(addr))
            .await?
            .map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?;
        stream.set_nodelay(true).map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?;
        let stream = match &options.tls {
            Some(tls) => {
                let ip =
                    stream.peer_addr().map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?.ip();
                let connector = tokio_rustls::TlsConnector::from(tls.0.clone());
                let handshake = connector.connect(ServerName::IpAddress(ip.into()), stream);
                let tls = deadline(options.timeout, handshake).await?.map_err(|e| ClientError::Tls(e.to_string()))?;
                Either::Right(Box::new(tls))
            }
            None => Either::Left(stream),
        };
        let plaintext = options.tls.is_none();
        let mut conn = Connection::new(stream, options.max_frame_bytes);
        conn.send(&Hello::client(version, options.credentials.clone())).await?;
        let reply = deadline(options.timeout, conn.recv::<HelloReply>()).await?.map_err(|error| match error {
            // A text protocol's answer read as a frame: a length far past any bound, or garbage.
            kvs_proto::ProtoError::FrameTooLarge { .. } | kvs_proto::ProtoError::Malformed(_) => {
                ClientError::NotKvs { addr: addr.to_string(), plaintext }
            }
            error => ClientError::Protocol(error),
        })?;
        match reply {
            Some(HelloReply::Welcome { node, .. }) => Ok(Client {
                conn,
                node,
                timeout: options.timeout,
                max_frame_bytes: options.max_frame_bytes,
                protocol: version,
            }),
            Some(HelloReply::Rejected(reply)) => Err(ClientError::Rejected(reply)),
            Some(HelloReply::Challenge { .. }) => Err(ClientError::Unexpected("a peer challenge to a client".into())),
            None => Err(ClientError::Closed),
        }
    }

    /// The protocol version this connection speaks: the node's release decides what it can be asked.
    pub fn protocol(&self) -> u32 {
        self.protocol
    }

    /// The node this client is connected to, as it introduced itself.
    pub fn node(&self) -> &MemberInfo {
        &self.node
    }

    /// The largest frame this client sends or accepts.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Sends one request and waits for its response; an error response becomes `Err(Server)`.
    /// A request the node's protocol lacks is not sent: it is `Err(Unsupported)`.
    pub async fn request(&mut self, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        self.supports(request)?;
        self.conn.send(request).await?;
        match deadline(self.timeout, self.conn.recv::<ClientResponse>()).await?? {
            Some(response) => server_error(response),
            None => Err(ClientError::Closed),
        }
    }

    /// Sends every request before waiting for any answer (one write for them all), then returns
    /// each one's response in order: an error response is that request's `Err(Server)`; a
    /// connection failure fails the whole call, and which requests took effect is then unknown.
    pub async fn pipeline(
        &mut self,
        requests: &[ClientRequest],
    ) -> Result<Vec<Result<ClientResponse, ClientError>>, ClientError> {
        requests.iter().try_for_each(|request| self.supports(request))?;
        let responses: Vec<ClientResponse> = deadline(self.timeout, self.conn.exchange(requests)).await??;
        Ok(responses.into_iter().map(server_error).collect())
    }

    fn supports(&self, request: &ClientRequest) -> Result<(), ClientError> {
        match request.protocol() {
            needed if needed > self.protocol => {
                Err(ClientError::Unsupported { needed, node: self.protocol, addr: self.node.addr.to_string() })
            }
            _ => Ok(()),
        }
    }

    /// The node's release, the protocols it speaks, and its cluster's version and feature gates
    /// (a node of protocol 7, release 0.1.0, has no answer: `Err(Unsupported)`).
    pub async fn versions(&mut self) -> Result<kvs_proto::VersionsReport, ClientError> {
        match self.request(&ClientRequest::Versions).await? {
            ClientResponse::Versions(report) => Ok(*report),
            other => Err(unexpected(other)),
        }
    }

    /// The layout `change` would make of the members alive now, and what it would move; nothing
    /// changes. Protocol 9.
    pub async fn cluster_plan(&mut self, change: LayoutChange) -> Result<ClusterPlan, ClientError> {
        match self.request(&ClientRequest::ClusterPlan { change }).await? {
            ClientResponse::ClusterPlan(plan) => Ok(*plan),
            other => Err(unexpected(other)),
        }
    }

    /// Makes that layout the cluster's (an admin's request): the node applies it and every
    /// member adopts it. Returns the layout applied and what it moves. Protocol 9.
    pub async fn cluster_apply(&mut self, change: LayoutChange) -> Result<ClusterPlan, ClientError> {
        match self.request(&ClientRequest::ClusterApply { change }).await? {
            ClientResponse::ClusterPlan(plan) => Ok(*plan),
            other => Err(unexpected(other)),
        }
    }

    /// How many peers have applied every write made on the node so far (this connection's
    /// included), once `replicas` have or `timeout` passed (as Redis's WAIT): a write is on that
    /// many machines besides the one that took it. Protocol 9.
    pub async fn wait(&mut self, replicas: u32, timeout: Duration) -> Result<u32, ClientError> {
        let timeout_ms = timeout.as_millis().clamp(1, u64::MAX as u128) as u64;
        let request = ClientRequest::Wait { replicas, timeout_ms };
        self.supports(&request)?;
        self.conn.send(&request).await?;
        // The node answers by the timeout; the request's own deadline comes on top.
        match deadline(self.timeout + timeout, self.conn.recv::<ClientResponse>()).await?? {
            Some(response) => match server_error(response)? {
                ClientResponse::Replicas(count) => Ok(count),
                other => Err(unexpected(other)),
            },
            None => Err(ClientError::Closed),
        }
    }

    /// The next response, however long it takes (a watch's changes).
    pub(crate) async fn receive(&mut self) -> Result<Option<ClientResponse>, ClientError> {
        Ok(self.conn.recv::<ClientResponse>().await?)
    }

    /// Reads several keys in one request; `None` for each absent one.
    pub async fn mget(&mut self, keys: Vec<Bytes>) -> Result<Vec<Option<Bytes>>, ClientError> {
        match self.request(&ClientRequest::MGet { keys }).await? {
            ClientResponse::Values(values) => Ok(values),
            other => Err(unexpected(other)),
        }
    }

    /// Writes several keys in one request (each replicates like a `set`); returns the version of
    /// the last, the largest.
    pub async fn mset(&mut self, pairs: Vec<(Bytes, Bytes)>) -> Result<Version, ClientError> {
        self.write(&ClientRequest::MSet { pairs }).await
    }

    /// One page of a backup: up to `max_keys` live keys after `after` in byte order, with values
    /// and deadlines (the node may return fewer, to bound its reply); empty at the end.
    pub async fn export_page(&mut self, after: Option<Bytes>, max_keys: u32) -> Result<Vec<BackupEntry>, ClientError> {
        match self.request(&ClientRequest::Export { after, max_keys }).await? {
            ClientResponse::Exported(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    /// Writes backup entries, each like a `set` with its deadline (one already expired is left out).
    pub async fn load(&mut self, entries: Vec<BackupEntry>) -> Result<(), ClientError> {
        self.expect_ok(&ClientRequest::Load { entries }).await
    }

    /// Reads a key; `None` when absent or deleted.
    pub async fn get(&mut self, key: impl Into<Bytes>) -> Result<Option<Bytes>, ClientError> {
        match self.request(&ClientRequest::Get { key: key.into() }).await? {
            ClientResponse::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a key; returns the version the write was made with.
    pub async fn set(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<Version, ClientError> {
        self.write(&ClientRequest::Set { key: key.into(), value: value.into() }).await
    }

    /// Deletes a key (writes a tombstone); returns the version the delete was made with.
    pub async fn delete(&mut self, key: impl Into<Bytes>) -> Result<Version, ClientError> {
        self.write(&ClientRequest::Delete { key: key.into() }).await
    }

    /// A key's entry as this node holds it (value or tombstone, version, sequence number); `None`
    /// when it holds nothing for the key.
    pub async fn inspect(&mut self, key: impl Into<Bytes>) -> Result<Option<Entry>, ClientError> {
        match self.request(&ClientRequest::Inspect { key: key.into() }).await? {
            ClientResponse::Entry(entry) => Ok(entry),
            other => Err(unexpected(other)),
        }
    }

    /// The node's status, listing at most `max_keys` keys.
    pub async fn status(&mut self, max_keys: u32) -> Result<StatusReport, ClientError> {
        match self.request(&ClientRequest::Status { max_keys }).await? {
            ClientResponse::Status(report) => Ok(*report),
            other => Err(unexpected(other)),
        }
    }

    /// Asks the node to leave the cluster and exit.
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        self.expect_ok(&ClientRequest::Shutdown).await
    }

    async fn write(&mut self, request: &ClientRequest) -> Result<Version, ClientError> {
        match self.request(request).await? {
            ClientResponse::Written(version) => Ok(version),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) async fn expect_ok(&mut self, request: &ClientRequest) -> Result<(), ClientError> {
        match self.request(request).await? {
            ClientResponse::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

/// An error response as `Err(Server)`.
fn server_error(response: ClientResponse) -> Result<ClientResponse, ClientError> {
    match response {
        ClientResponse::Error(reply) => Err(ClientError::Server(reply)),
        response => Ok(response),
    }
}

fn unexpected(response: ClientResponse) -> ClientError {
    ClientError::Unexpected(format!("{response:?}"))
}

async fn deadline<T>(limit: Duration, work: impl Future<Output = T>) -> Result<T, ClientError> {
    tokio::time::timeout(limit, work).await.map_err(|_| ClientError::Timeout(limit))
}
