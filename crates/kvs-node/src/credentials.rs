//! Who may talk to the node: the cluster secret peers prove they hold, and the roles users log in
//! with (the users themselves are in `users`); secrets are read from files only their owner may read.

use crate::error::NodeError;
use hmac::{Hmac, Mac};
use kvs_proto::{NodeId, Nonce, Proof};
use sha2::Sha256;
use std::path::Path;
use subtle::ConstantTimeEq;

/// What a user may do, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Reads: GET, EXISTS, SCAN, status…
    Read,
    /// Reads and writes: SET, DEL…
    Write,
    /// Everything, shutdown and BGREWRITEAOF and CONFIG included.
    Admin,
}

impl Access {
    /// The name a users file and error messages use.
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        }
    }
}

/// Reads a file that holds a secret, refusing one that group or others may access.
pub(crate) fn read_private_file(path: &Path, flag: &str) -> Result<String, NodeError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| NodeError::Config(format!("{flag} {shown}: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(NodeError::Config(format!(
            "{flag} {shown} is readable by group or others (mode {mode:o}); run chmod 600 {shown}"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| NodeError::Config(format!("{flag} {shown}: {e}")))
}

/// The secret every member of a cluster holds (`--cluster-secret-file`). It never crosses the
/// wire: each side of a peer handshake proves it with an HMAC over the handshake's [`Transcript`].
#[derive(Clone)]
pub struct ClusterSecret(Vec<u8>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Which side of a handshake a proof is from, so one side's proof never serves as the other's.
#[derive(Clone, Copy)]
pub enum Side {
    /// The node that dialed.
    Dialer,
    /// The node that accepted.
    Responder,
}

impl ClusterSecret {
    /// Reads the secret (surrounding whitespace trimmed; at least 16 bytes).
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = read_private_file(path, "--cluster-secret-file")?;
        let secret = text.trim().as_bytes().to_vec();
        if secret.len() < 16 {
            return Err(NodeError::Config(format!(
                "--cluster-secret-file {}: the secret must be at least 16 bytes",
                path.display()
            )));
        }
        Ok(ClusterSecret(secret))
    }

    /// The proof `side` sends in the handshake `transcript`.
    pub fn proof(&self, side: Side, transcript: &Transcript<'_>) -> Proof {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(match side {
            Side::Dialer => b"kvs peer dialer v2",
            Side::Responder => b"kvs peer responder v2",
        });
        mac.update(&transcript.dialer.0 .0.to_le_bytes());
        mac.update(transcript.dialer.1);
        mac.update(&transcript.responder.0 .0.to_le_bytes());
        mac.update(transcript.responder.1);
        mac.update(transcript.dialed.to_string().as_bytes());
        mac.update(&[u8::from(transcript.channel.is_some())]);
        mac.update(transcript.channel.as_ref().map_or(&[][..], |c| &c[..]));
        mac.finalize().into_bytes().into()
    }

    /// Whether `proof` is what `side` should have sent (compared in constant time).
    pub fn verify(&self, side: Side, transcript: &Transcript<'_>, proof: &Proof) -> bool {
        self.proof(side, transcript).ct_eq(proof).into()
    }
}

/// Everything a peer proof covers: both sides' ids and nonces, the address the dialer dialed, and,
/// over TLS, a value both ends derive from their TLS session (an exporter, as RFC 9266 binds a
/// channel). A relay between two members sees the proofs pass by, but the address dialed is not
/// the far member's and its two TLS sessions export different values, so no proof fits the other
/// leg: it cannot become a peer without the secret.
pub struct Transcript<'a> {
    /// The dialer's id and nonce.
    pub dialer: (NodeId, &'a Nonce),
    /// The responder's id and nonce.
    pub responder: (NodeId, &'a Nonce),
    /// The address the dialer dialed.
    pub dialed: std::net::SocketAddr,
    /// The TLS session's exported value, when the connection has TLS.
    pub channel: Option<[u8; 32]>,
}

/// A fresh random nonce.
pub fn nonce() -> Nonce {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_bind_the_secret_both_sides_both_nonces_the_address_and_the_channel() {
        let secret = ClusterSecret(b"0123456789abcdef".to_vec());
        let other = ClusterSecret(b"fedcba9876543210".to_vec());
        let (na, nb, nc) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let dialed: std::net::SocketAddr = ([10, 0, 0, 2], 7000).into();
        let t = Transcript { dialer: (NodeId(1), &na), responder: (NodeId(2), &nb), dialed, channel: None };
        let proof = secret.proof(Side::Dialer, &t);
        assert!(secret.verify(Side::Dialer, &t, &proof));
        assert!(!secret.verify(Side::Responder, &t, &proof), "not the other side's");
        assert!(!other.verify(Side::Dialer, &t, &proof), "not another secret's");
        assert!(!secret.verify(Side::Dialer, &Transcript { responder: (NodeId(2), &nc), ..t }, &proof), "nonce");
        assert!(!secret.verify(Side::Dialer, &Transcript { dialer: (NodeId(9), &na), ..t }, &proof), "id");
        let relayed = Transcript { dialed: ([10, 0, 0, 5], 7000).into(), ..t };
        assert!(!secret.verify(Side::Dialer, &relayed, &proof), "another address dialed");
        let other_session = Transcript { channel: Some([9; 32]), ..t };
        assert!(!secret.verify(Side::Dialer, &other_session, &proof), "another TLS session");
    }
}
