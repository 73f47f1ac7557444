//! The HTTP admin port (`--http-port`): the cluster page, Prometheus metrics, health and status.
//!
//! What needs credentials: with `--users-file`, every view but /health and /ready asks for HTTP
//! Basic credentials of a user in that file (any role: the views only read). /health and /ready
//! stay open because load balancers and orchestrators probe them without credentials, and they
//! tell one word. The port speaks plain HTTP: off a trusted network, bind the node to a private
//! interface or put the port behind a TLS proxy.

mod accept;
mod cluster_view;
mod history_view;
mod metrics;

use crate::shell::{JoinState, Shell};
use crate::status;
use crate::users::LoginRefused;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use std::sync::Arc;

/// Keys a /status answer lists unless `?keys=` asks otherwise, as `kvs-client status` does.
const DEFAULT_STATUS_KEYS: usize = 100;

/// Serves the admin port on `listener` until the node shuts down.
pub(crate) async fn serve(shell: Arc<Shell>, listener: tokio::net::TcpListener) {
    let app = Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics::scrape))
        .route("/status", get(status_json))
        .route("/cluster", get(cluster))
        .route("/history", get(history))
        .route("/assets/uplot.min.js", get(uplot_js))
        .route("/assets/uplot.min.css", get(uplot_css))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .layer(middleware::from_fn_with_state(shell.clone(), authenticate))
        .with_state(shell.clone());
    accept::serve(shell, listener, app).await;
}

/// Lets a request through if the node has no users, it probes /health or /ready, or it carries
/// Basic credentials of a user; otherwise answers 401 with a challenge the browser shows (or 429
/// while the source address is slowed down for failing too often).
async fn authenticate(
    State(shell): State<Arc<Shell>>,
    ConnectInfo(source): ConnectInfo<std::net::SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let open = matches!(request.uri().path(), "/health" | "/ready");
    let Some(users) = shell.config.users.as_ref().filter(|_| !open) else { return next.run(request).await };
    let logged_in = basic_credentials(request.headers())
        .map(|(user, password)| users.log_in(&user, &password, source.ip(), tokio::time::Instant::now()));
    match logged_in {
        Some(Ok(_)) => next.run(request).await,
        Some(Err(LoginRefused::Throttled(wait))) => {
            let why = format!("too many failed logins from this address; try again in {} s\n", wait.as_secs() + 1);
            (StatusCode::TOO_MANY_REQUESTS, why).into_response()
        }
        Some(Err(LoginRefused::WrongPass)) | None => {
            let challenge = [(header::WWW_AUTHENTICATE, "Basic realm=\"kvs\", charset=\"UTF-8\"")];
            let why = "credentials of a user in the node's users file are needed\n";
            (StatusCode::UNAUTHORIZED, challenge, why).into_response()
        }
    }
}

/// The user and password of an `Authorization: Basic …` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Why the node cannot serve, if it cannot: shutting down, or its log failed.
fn unhealthy(shell: &Shell) -> Option<String> {
    if shell.is_shutting_down() {
        return Some("shutting down".into());
    }
    shell.writes.check().err().map(|error| format!("the log failed: {error}"))
}

/// 200 while the node serves; 503 once its log failed or it is shutting down. (The port
/// opens only once the node's data is loaded and it serves, so "starting" never answers 200.)
async fn health(State(shell): State<Arc<Shell>>) -> (StatusCode, String) {
    match unhealthy(&shell) {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        None => (StatusCode::OK, "ok\n".into()),
    }
}

/// 200 once the node is healthy and has joined its cluster (at once without a bootstrap node);
/// 503 while it joins, after it gave up joining, while unhealthy, or while its clock is out of
/// bounds.
async fn ready(State(shell): State<Arc<Shell>>) -> (StatusCode, String) {
    // A clock out of bounds refuses writes: a load balancer should drain the node meanwhile.
    if let Some(why) = unhealthy(&shell).or_else(|| shell.core.clock().problem()) {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
    }
    let joined = shell.join_state.borrow().clone();
    match (joined, shell.config.bootstrap) {
        (JoinState::Joined { .. }, _) | (JoinState::Joining, None) => (StatusCode::OK, "ready\n".into()),
        (JoinState::Joining, Some(through)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("joining the cluster through {through}\n"))
        }
        (JoinState::Failed { through, .. }, _) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("gave up joining the cluster through {through}\n"))
        }
    }
}

/// The `?keys=N` of /status.
#[derive(serde::Deserialize)]
struct StatusQuery {
    keys: Option<usize>,
}

/// What `kvs-client status --json` prints.
async fn status_json(State(shell): State<Arc<Shell>>, Query(query): Query<StatusQuery>) -> impl IntoResponse {
    let keys = query.keys.unwrap_or(DEFAULT_STATUS_KEYS).min(status::MAX_KEYS);
    Json(status::report(&shell, keys))
}

/// What `kvs-client check --json` prints, asked from this node (see `cluster_view`).
async fn cluster(State(shell): State<Arc<Shell>>) -> Response {
    let view = cluster_view::View { check: cluster_view::check(&shell).await, versions: status::versions(&shell) };
    Json(view).into_response()
}

/// Every member's samples of the last ten minutes, for the page's charts (see `history_view`).
async fn history(State(shell): State<Arc<Shell>>) -> Response {
    Json(history_view::history(&shell).await).into_response()
}

/// The chart library the page draws with (uPlot, MIT; `vendor/uplot`), served by the node so the
/// page needs no network beyond it.
async fn uplot_js() -> impl IntoResponse {
    let script = include_str!("vendor/uplot/uPlot.iife.min.js");
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=86400")], script)
}

/// uPlot's style sheet.
async fn uplot_css() -> impl IntoResponse {
    let sheet = include_str!("vendor/uplot/uPlot.min.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=86400")], sheet)
}

/// The cluster page: one HTML file that polls /cluster and /history.
async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(include_str!("page.html")))
}
