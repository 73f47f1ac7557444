//! TLS on every listener and on the connections the node dials, with rustls (no OpenSSL).
//!
//! `--tls-cert-file` and `--tls-key-file` (PEM) turn it on; `--tls-ca-file` makes it mutual:
//! every connection, client or peer, must then present a certificate that CA signed. A node
//! dialing a peer verifies the peer's certificate (by the IP address it dials, so member
//! certificates carry their IP addresses) against the CA file, or, without one, against its own
//! certificate file, which lets a cluster share one self-signed certificate; it presents its own
//! certificate, as mutual TLS requires.

use crate::error::NodeError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// The node's TLS settings, for accepting and for dialing.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

fn config_error(what: impl std::fmt::Display) -> NodeError {
    NodeError::Config(format!("TLS: {what}"))
}

fn certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| config_error(format!("{flag} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config_error(format!("{flag} {}: no certificate in it", path.display())));
    }
    Ok(certs)
}

fn roots(certs: Vec<CertificateDer<'static>>) -> Result<Arc<RootCertStore>, NodeError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(config_error)?;
    }
    Ok(Arc::new(roots))
}

impl Tls {
    /// Loads the certificate chain, its key and, for mutual TLS, the CA.
    pub fn load(cert: &Path, key: &Path, ca: Option<&Path>) -> Result<Self, NodeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates(cert, "--tls-cert-file")?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| config_error(format!("--tls-key-file {}: {e}", key.display())))?;
        let trusted = match ca {
            Some(ca) => roots(certificates(ca, "--tls-ca-file")?)?,
            None => roots(chain.clone())?,
        };
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?;
        let server = match ca {
            Some(_) => {
                let verifier =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(trusted.clone(), provider.clone())
                        .build()
                        .map_err(config_error)?;
                server.with_client_cert_verifier(verifier)
            }
            None => server.with_no_client_auth(),
        };
        let server = server.with_single_cert(chain.clone(), key.clone_key()).map_err(config_error)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_root_certificates(trusted)
            .with_client_auth_cert(chain, key)
            .map_err(config_error)?;
        Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(server)), connector: TlsConnector::from(Arc::new(client)) })
    }

    /// Runs the server side of the handshake on an accepted connection.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> std::io::Result<TlsStream<S>> {
        self.acceptor.accept(stream).await.map(TlsStream::Server)
    }

    /// Runs the client side of the handshake with the peer at `ip`, verifying its certificate.
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        ip: IpAddr,
        stream: S,
    ) -> std::io::Result<TlsStream<S>> {
        self.connector.connect(ServerName::IpAddress(ip.into()), stream).await.map(TlsStream::Client)
    }
}
