//! One connection to one node.

use crate::error::ClientError;
use bytes::Bytes;
use kvs_proto::{ClientRequest, ClientResponse, Connection, Hello, HelloReply, Limits, MemberInfo, Role, StatusReport};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;

/// Connection settings.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Deadline for connecting and for each request's answer.
    pub timeout: Duration,
    /// Largest frame sent or accepted.
    pub max_frame_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { timeout: Duration::from_secs(5), max_frame_bytes: Limits::DEFAULT_MAX_FRAME_BYTES }
    }
}

/// A connection to a node; requests on it are answered in order.
pub struct Client {
    conn: Connection<TcpStream>,
    node: MemberInfo,
    timeout: Duration,
}

impl Client {
    /// Connects with default options.
    pub async fn connect(addr: &str) -> Result<Client, ClientError> {
        Self::connect_with(addr, ClientOptions::default()).await
    }

    /// Connects and says hello as a client.
    pub async fn connect_with(addr: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let stream = deadline(options.timeout, TcpStream::connect(addr))
            .await?
            .map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?;
        stream.set_nodelay(true).map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?;
        let mut conn = Connection::new(stream, options.max_frame_bytes);
        conn.send(&Hello::new(Role::Client)).await?;
        match deadline(options.timeout, conn.recv::<HelloReply>()).await?? {
            Some(HelloReply::Welcome { node, .. }) => Ok(Client { conn, node, timeout: options.timeout }),
            Some(HelloReply::Rejected(reply)) => Err(ClientError::Rejected(reply)),
            None => Err(ClientError::Closed),
        }
    }

    /// The node this client is connected to, as it introduced itself.
    pub fn node(&self) -> &MemberInfo {
        &self.node
    }

    /// Sends one request and waits for its response; an error response becomes `Err(Server)`.
    pub async fn request(&mut self, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        self.conn.send(request).await?;
        match deadline(self.timeout, self.conn.recv::<ClientResponse>()).await?? {
            Some(ClientResponse::Error(reply)) => Err(ClientError::Server(reply)),
            Some(response) => Ok(response),
            None => Err(ClientError::Closed),
        }
    }

    /// Reads a key; `None` when absent or deleted.
    pub async fn get(&mut self, key: impl Into<Bytes>) -> Result<Option<Bytes>, ClientError> {
        match self.request(&ClientRequest::Get { key: key.into() }).await? {
            ClientResponse::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a key.
    pub async fn set(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<(), ClientError> {
        let request = ClientRequest::Set { key: key.into(), value: value.into() };
        self.expect_ok(&request).await
    }

    /// Deletes a key (writes a tombstone).
    pub async fn delete(&mut self, key: impl Into<Bytes>) -> Result<(), ClientError> {
        self.expect_ok(&ClientRequest::Delete { key: key.into() }).await
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

    async fn expect_ok(&mut self, request: &ClientRequest) -> Result<(), ClientError> {
        match self.request(request).await? {
            ClientResponse::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(response: ClientResponse) -> ClientError {
    ClientError::Unexpected(format!("{response:?}"))
}

async fn deadline<T>(limit: Duration, work: impl Future<Output = T>) -> Result<T, ClientError> {
    tokio::time::timeout(limit, work).await.map_err(|_| ClientError::Timeout(limit))
}
