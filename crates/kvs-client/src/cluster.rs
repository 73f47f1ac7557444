//! A client for a whole cluster: it learns the members from the first seed that answers, keeps a
//! pool of connections for concurrent callers, and retries a request on another member when the
//! connection it used fails.
//!
//! Retrying a write cannot apply it twice in effect: native writes set absolute values (SET,
//! DELETE, MSET), so if the first attempt was applied before its connection failed, the retry
//! writes the same value again under a later version, which wins everywhere, and the key ends as
//! the caller asked. A failed request's error is returned only once every member was tried.
//!
//! Once the cluster has a layout (`kvs-client cluster apply`), a request for a key goes to the
//! key's owners first, best first, as a Redis Cluster client sends it to the slot's node; the
//! other members follow, so a request is never refused for want of an owner.

use crate::client::{Client, ClientOptions};
use crate::error::ClientError;
use bytes::Bytes;
use kvs_proto::layout::Layout;
use kvs_proto::{ClientRequest, ClientResponse, ErrorCode, MemberState, NodeId, Version};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most idle connections kept for reuse.
const MAX_IDLE: usize = 64;

/// A client for a cluster; share it (`&self` everywhere) between tasks.
pub struct ClusterClient {
    options: ClientOptions,
    /// Addresses to try, the one that answered last first.
    members: Mutex<Vec<String>>,
    /// Idle connections, each with the address it is connected to.
    idle: Mutex<Vec<(String, Client)>>,
    /// Every slot's owners and where they serve, once the cluster has a layout.
    routes: Mutex<Option<Routes>>,
}

/// Where a key's requests go first: its slot's owners, best first.
struct Routes {
    owners: Vec<Vec<NodeId>>,
    addr_of: HashMap<NodeId, String>,
}

impl Routes {
    fn of(layout: &Layout) -> Routes {
        let addr_of = layout.members.iter().map(|m| (m.node, m.addr.to_string())).collect();
        Routes { owners: layout.table(), addr_of }
    }

    /// The addresses of `key`'s owners, best first.
    fn owners_of(&self, key: &[u8]) -> Vec<String> {
        let owners = &self.owners[kvs_proto::slot::slot_of(key) as usize];
        owners.iter().filter_map(|node| self.addr_of.get(node).cloned()).collect()
    }
}

impl ClusterClient {
    /// Connects to the first of `seeds` that answers and learns the cluster's alive members from it.
    pub async fn connect(seeds: &[String], options: ClientOptions) -> Result<ClusterClient, ClientError> {
        let cluster = ClusterClient {
            options,
            members: Mutex::new(seeds.to_vec()),
            idle: Mutex::new(Vec::new()),
            routes: Mutex::new(None),
        };
        cluster.refresh_members().await?;
        Ok(cluster)
    }

    /// The addresses requests go to, in the order they are tried.
    pub fn members(&self) -> Vec<String> {
        lock(&self.members).clone()
    }

    /// Asks the members known (in turn, until one answers) who the alive members are now.
    pub async fn refresh_members(&self) -> Result<(), ClientError> {
        let response = self.request(&ClientRequest::Status { max_keys: 0 }).await?;
        let ClientResponse::Status(report) = response else {
            return Err(ClientError::Unexpected(format!("{response:?}")));
        };
        let mut alive: Vec<String> =
            report.members.iter().filter(|m| m.state == MemberState::Alive).map(|m| m.addr.clone()).collect();
        // The node that answered first: it is up.
        alive.sort_by_key(|addr| *addr != report.addr);
        if !alive.is_empty() {
            *lock(&self.members) = alive;
        }
        // A node of an older release has no layout to give: requests go to any member.
        let routes = match self.request(&ClientRequest::Layout).await {
            Ok(ClientResponse::Layout(layout)) => layout.map(|layout| Routes::of(&layout)),
            _ => None,
        };
        *lock(&self.routes) = routes;
        Ok(())
    }

    /// The addresses of `key`'s owners under the layout last learned, best first (none without
    /// a layout).
    pub fn owners_of(&self, key: &[u8]) -> Vec<String> {
        lock(&self.routes).as_ref().map(|routes| routes.owners_of(key)).unwrap_or_default()
    }

    /// Sends one request, on a pooled connection or a new one, trying each member in turn while
    /// connections fail; an error the node answered with is returned at once.
    pub async fn request(&self, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        self.request_to(Vec::new(), request).await
    }

    /// [`ClusterClient::request`] for `key`: its owners first, then every other member. A node
    /// that does not hold the key's slot answers a read with `Moved`: the layout changed since
    /// it was learned, so it is learned again and the request sent once more.
    pub async fn request_for(&self, key: &[u8], request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        match self.request_to(self.owners_of(key), request).await {
            Err(ClientError::Server(reply)) if reply.code == ErrorCode::Moved => {
                self.refresh_members().await?;
                // `MOVED <slot> <address>`: there first (an owner still fetching the slot names
                // one that holds it whole), then the owners.
                let named = reply.message.split(' ').nth(2).map(str::to_string);
                let first = named.into_iter().chain(self.owners_of(key)).collect();
                self.request_to(first, request).await
            }
            answered => answered,
        }
    }

    async fn request_to(&self, first: Vec<String>, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        let mut candidates = first;
        for member in self.members() {
            if !candidates.contains(&member) {
                candidates.push(member);
            }
        }
        let mut last = ClientError::Closed;
        for addr in &candidates {
            let pooled = {
                let mut idle = lock(&self.idle);
                idle.iter().position(|(at, _)| at == addr).map(|i| idle.swap_remove(i).1)
            };
            let mut client = match pooled {
                Some(client) => client,
                None => match Client::connect_with(addr, self.options.clone()).await {
                    Ok(client) => client,
                    Err(error) => {
                        last = error;
                        continue;
                    }
                },
            };
            match client.request(request).await {
                Ok(response) => {
                    self.answered(addr, client);
                    return Ok(response);
                }
                Err(error @ ClientError::Server(_)) => {
                    self.answered(addr, client);
                    return Err(error);
                }
                // The connection failed: drop it and try the next member.
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// Reads a key; `None` when absent or deleted.
    pub async fn get(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>, ClientError> {
        let key = key.into();
        match self.request_for(&key, &ClientRequest::Get { key: key.clone() }).await? {
            ClientResponse::Value(value) => Ok(value),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Writes a key; returns the version the write was made with.
    pub async fn set(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<Version, ClientError> {
        let key = key.into();
        match self.request_for(&key, &ClientRequest::Set { key: key.clone(), value: value.into() }).await? {
            ClientResponse::Written(version) => Ok(version),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Keeps a connection that answered for reuse, and tries its node first from now on.
    fn answered(&self, addr: &str, client: Client) {
        {
            let mut members = lock(&self.members);
            if let Some(i) = members.iter().position(|m| m == addr) {
                members[..=i].rotate_right(1);
            }
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push((addr.to_string(), client));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
