//! One budget of accepted connections across every listener, kept below the process's file
//! descriptor limit, with a share only peers may take.
//!
//! Without it, clients could hold every descriptor: the log could not open a file to compact
//! into (EMFILE), and a new member could not join. Descriptors are counted for what else the node
//! needs (its files, listeners, a margin) and for the connections it dials to its peers; what is
//! left is the budget. Of that, a reserve is kept for peers: a connection accepted on the reserve
//! must turn out to be a peer, or it is turned away. A connection beyond the budget is accepted
//! and at once told so and closed, as Redis answers past `maxclients`.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors kept for the node's own files, listeners and anything else.
const OWN_FILES: u64 = 64;

/// The budget, sized at start.
#[derive(Debug)]
pub(crate) struct ConnectionBudget {
    /// Connections anyone may take.
    general: Arc<Semaphore>,
    /// Connections only peers may take.
    peers_only: Arc<Semaphore>,
    /// Total accepted connections.
    pub(crate) total: usize,
    /// Of which reserved for peers.
    pub(crate) reserved: usize,
}

/// A connection's place in the budget, given back when it drops.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    /// Taken from the peers' reserve: the connection must be a peer.
    pub(crate) peers_only: bool,
}

impl ConnectionBudget {
    /// A budget of at most `max_connections`, fitting in `nofile` descriptors beside our own files
    /// and our dialed connections to up to `max_members` peers.
    pub(crate) fn new(max_connections: usize, nofile: u64, max_members: usize) -> Self {
        let usable = nofile.saturating_sub(OWN_FILES);
        let dialed = (max_members as u64).min(usable / 4);
        let total = (max_connections as u64).min(usable - dialed).max(2) as usize;
        let reserved = (total / 8).clamp(1, 256);
        ConnectionBudget {
            general: Arc::new(Semaphore::new(total - reserved)),
            peers_only: Arc::new(Semaphore::new(reserved)),
            total,
            reserved,
        }
    }

    /// Raises the soft descriptor limit to the hard one and sizes the budget within it.
    pub(crate) fn for_this_process(max_connections: usize, max_members: usize) -> Self {
        let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => limit,
            Err(error) => {
                tracing::warn!(%error, "cannot read or raise the file descriptor limit; assuming 1024");
                1024
            }
        };
        let budget = ConnectionBudget::new(max_connections, nofile, max_members);
        tracing::info!(
            nofile,
            accepted = budget.total,
            reserved_for_peers = budget.reserved,
            "connection budget (RLIMIT_NOFILE raised to its hard limit)"
        );
        budget
    }

    /// Connections open now, on every listener.
    pub(crate) fn open(&self) -> usize {
        self.total - self.general.available_permits() - self.peers_only.available_permits()
    }

    /// A slot on a port that serves peers and clients: a general one if free, else one of the
    /// peers' reserve (the hello then decides); `None` when both are used up.
    pub(crate) fn try_any(&self) -> Option<Slot> {
        match self.general.clone().try_acquire_owned() {
            Ok(permit) => Some(Slot { _permit: permit, peers_only: false }),
            Err(_) => self
                .peers_only
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|permit| Slot { _permit: permit, peers_only: true }),
        }
    }

    /// A slot on a port that serves only clients: a general one, if free.
    pub(crate) fn try_client(&self) -> Option<Slot> {
        self.general.clone().try_acquire_owned().ok().map(|permit| Slot { _permit: permit, peers_only: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_fits_the_descriptor_limit_and_keeps_a_reserve_for_peers() {
        let budget = ConnectionBudget::new(4_096, 256, 1_024);
        assert_eq!((budget.total, budget.reserved), (144, 18));
        let roomy = ConnectionBudget::new(4_096, 1 << 20, 1_024);
        assert_eq!((roomy.total, roomy.reserved), (4_096, 256));
    }

    #[test]
    fn clients_cannot_take_the_peers_reserve() {
        let budget = ConnectionBudget::new(16, 1 << 20, 8);
        let general: Vec<Slot> = (0..14).map(|_| budget.try_client().unwrap()).collect();
        assert!(general.iter().all(|s| !s.peers_only));
        assert!(budget.try_client().is_none(), "a client-only port cannot take the reserve");
        let reserved: Vec<Slot> = (0..2).map(|_| budget.try_any().unwrap()).collect();
        assert!(reserved.iter().all(|s| s.peers_only), "past the general share, only the reserve is left");
        assert!(budget.try_any().is_none());
        drop(general);
        assert!(!budget.try_any().unwrap().peers_only, "slots come back when connections close");
    }
}
