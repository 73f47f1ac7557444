//! TLS to a node: the CA that signed its certificate, and this client's own certificate when the
//! node demands mutual TLS.

use crate::error::ClientError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// A client's TLS settings.
#[derive(Clone)]
pub struct ClientTls(pub(crate) Arc<ClientConfig>);

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls(..)")
    }
}

fn bad(path: &Path, error: impl std::fmt::Display) -> ClientError {
    ClientError::Tls(format!("{}: {error}", path.display()))
}

impl ClientTls {
    /// Trusts the CA in `ca` (PEM) and, when `identity` names a certificate and key (PEM),
    /// presents them.
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, ClientError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca, e))? {
            roots.add(cert.map_err(|e| bad(ca, e))?).map_err(|e| bad(ca, e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
                    .and_then(|iter| iter.collect::<Result<_, _>>())
                    .map_err(|e| bad(cert, e))?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| ClientError::Tls(e.to_string()))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls(Arc::new(config)))
    }
}
