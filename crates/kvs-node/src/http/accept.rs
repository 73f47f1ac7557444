//! The admin port's accept loop: every connection in the node's one connection budget, checked
//! against protected mode, and served by hyper with deadlines, so slow or idle clients cannot
//! hold descriptors the other ports need.

use crate::shell::Shell;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

/// How long a request's headers may take to arrive, counted from when the connection is idle
/// (opened, or its last answer sent): both the header deadline and the idle timeout.
const HEADER_DEADLINE: Duration = Duration::from_secs(10);

/// Largest request head (line and headers) read; the views take no body.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What a connection turned away at accept is told.
const OVER_BUDGET: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 28\r\nconnection: close\r\n\r\nall connections are in use\r\n";

/// Accepts admin connections on `listener` until the node shuts down.
pub(crate) async fn serve(shell: Arc<Shell>, listener: tokio::net::TcpListener, app: Router) {
    loop {
        let accepted = tokio::select! {
            _ = shell.shutdown_started() => return,
            accepted = listener.accept() => accepted,
        };
        let (mut stream, source) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(%error, "accept failed on the HTTP port");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let answer = match (shell.config.refuses_in_protected_mode(source.ip()), shell.budget.try_client()) {
            (true, _) => Err(format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}\n",
                crate::config::PROTECTED_MODE_REFUSAL.len() + 1,
                crate::config::PROTECTED_MODE_REFUSAL
            )
            .into_bytes()),
            (false, None) => Err(OVER_BUDGET.to_vec()),
            (false, Some(slot)) => Ok(slot),
        };
        let slot = match answer {
            Ok(slot) => slot,
            Err(refusal) => {
                drop(shell.tasks.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&refusal)).await;
                }));
                continue;
            }
        };
        let (shell, app) = (shell.clone(), app.clone());
        drop(shell.clone().tasks.spawn(async move {
            let _slot = slot;
            serve_connection(&shell, stream, source, app).await;
        }));
    }
}

/// Serves one admin connection until it closes, idles past the deadline, or the node shuts down.
async fn serve_connection(shell: &Shell, stream: tokio::net::TcpStream, source: SocketAddr, app: Router) {
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(source));
        app.clone().oneshot(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = shell.shutdown_started() => {}
        served = connection => if let Err(error) = served {
            tracing::debug!(%error, %source, "HTTP connection ended");
        },
    }
}
