//! The simulated nodes' names and addresses, which the run and every workload use.

use std::net::SocketAddr;

/// The native port every simulated node listens on.
pub const PORT: u16 = 7000;

/// Node `i`'s host name.
pub fn host(i: usize) -> String {
    format!("n{i}")
}

/// Node `i`'s native address.
pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(host(i)), PORT)
}
