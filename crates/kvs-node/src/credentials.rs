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
/// wire: each side of a peer handshake proves it with an HMAC over both nonces and both ids.
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

    /// The proof `side` sends in the handshake between `dialer` and `responder`.
    pub fn proof(&self, side: Side, dialer: (NodeId, &Nonce), responder: (NodeId, &Nonce)) -> Proof {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(match side {
            Side::Dialer => b"kvs peer dialer v1",
            Side::Responder => b"kvs peer responder v1",
        });
        mac.update(&dialer.0 .0.to_le_bytes());
        mac.update(dialer.1);
        mac.update(&responder.0 .0.to_le_bytes());
        mac.update(responder.1);
        mac.finalize().into_bytes().into()
    }

    /// Whether `proof` is what `side` should have sent (compared in constant time).
    pub fn verify(&self, side: Side, dialer: (NodeId, &Nonce), responder: (NodeId, &Nonce), proof: &Proof) -> bool {
        self.proof(side, dialer, responder).ct_eq(proof).into()
    }
}

/// A fresh random nonce.
pub fn nonce() -> Nonce {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_bind_the_secret_both_sides_and_both_nonces() {
        let secret = ClusterSecret(b"0123456789abcdef".to_vec());
        let other = ClusterSecret(b"fedcba9876543210".to_vec());
        let (a, b) = ((NodeId(1), [1u8; 32]), (NodeId(2), [2u8; 32]));
        let dialer = (a.0, &a.1);
        let responder = (b.0, &b.1);
        let proof = secret.proof(Side::Dialer, dialer, responder);
        assert!(secret.verify(Side::Dialer, dialer, responder, &proof));
        assert!(!secret.verify(Side::Responder, dialer, responder, &proof), "not the other side's");
        assert!(!other.verify(Side::Dialer, dialer, responder, &proof), "not another secret's");
        assert!(!secret.verify(Side::Dialer, dialer, (b.0, &[3u8; 32]), &proof), "not another nonce's");
        assert!(!secret.verify(Side::Dialer, (NodeId(9), &a.1), responder, &proof), "not another node's");
    }
}
