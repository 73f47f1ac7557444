//! Certificates made at run time: a CA, and a certificate it signed for 127.0.0.1 with its key, in
//! a temporary directory, each file readable by its owner only. For the TLS tests and the TLS
//! rows of the bench.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// `ca.pem`, `cert.pem` and `key.pem` in a directory removed on drop.
pub struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    /// Makes the CA and the certificate for 127.0.0.1.
    pub fn generate() -> Result<Certificates, String> {
        let err = |e: rcgen::Error| e.to_string();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a certificate whose subject is its issuer's looks self-signed to OpenSSL.
        ca.distinguished_name.push(DnType::CommonName, "kvs test CA");
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).map_err(err)?;
        leaf.distinguished_name.push(DnType::CommonName, "kvs test node");
        let key = KeyPair::generate().map_err(err)?;
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).map_err(err)?;
        let certificates = Certificates { dir };
        for (name, text) in [("ca.pem", ca_cert.pem()), ("cert.pem", cert.pem()), ("key.pem", key.serialize_pem())] {
            certificates.write_private(name, &text)?;
        }
        Ok(certificates)
    }

    /// Writes `text` to `name` in the directory, readable by its owner only.
    pub fn write_private(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let path = self.path(name);
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// A file of the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
