//! How a person writes a node's address on a command line: `host port` or `host:port`
//! (`[v6]:port` for IPv6), the host an IP address or a name such as `localhost`.

use std::net::{IpAddr, ToSocketAddrs};

/// Splits `host:port` (`[v6]:port`) into its host and port; `None` when the argument is not one
/// (no port, or an unbracketed IPv6 address such as `::1`, whose colons are its own).
pub fn split_host_port(arg: &str) -> Option<(&str, &str)> {
    let (host, port) = arg.rsplit_once(':')?;
    let (host, bracketed) = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (host, false),
    };
    if host.is_empty() || (host.contains(':') && !bracketed) || port.parse::<u16>().is_err() {
        return None;
    }
    Some((host, port))
}

/// The IP address `host` names: itself when it is one, else what the system resolves it to
/// (`/etc/hosts` first), an IPv4 address where it has both.
pub fn resolve_ip(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    let found: Vec<IpAddr> =
        (host, 0).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.map(|addr| addr.ip()).collect();
    found
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_split_where_the_port_is_and_ipv6_colons_stay() {
        assert_eq!(split_host_port("127.0.0.1:1234"), Some(("127.0.0.1", "1234")));
        assert_eq!(split_host_port("localhost:1234"), Some(("localhost", "1234")));
        assert_eq!(split_host_port("[::1]:1234"), Some(("::1", "1234")));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("127.0.0.1"), None);
        assert_eq!(split_host_port("k:v"), None);
    }

    #[test]
    fn localhost_resolves_to_loopback() {
        assert!(resolve_ip("localhost").unwrap().is_loopback());
        assert_eq!(resolve_ip("10.1.2.3").unwrap().to_string(), "10.1.2.3");
        assert!(resolve_ip("no such host.invalid").is_err());
    }
}
