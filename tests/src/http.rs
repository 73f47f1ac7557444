//! Plain HTTP requests to a node's admin port, answered whatever their status.

use base64::Engine;

/// A request's status code and body.
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub challenge: Option<String>,
    /// The body as text.
    pub body: String,
}

/// GETs `url`, with HTTP Basic credentials when given.
pub fn get(url: &str, credentials: Option<(&str, &str)>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.header("Authorization", format!("Basic {token}"));
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(String::from);
    let body = response.body_mut().read_to_string().unwrap_or_else(|e| panic!("GET {url} body: {e}"));
    Answer { status, challenge, body }
}

/// The value of the sample `name` (with its labels exactly as printed, `{…}` included) in a
/// Prometheus text exposition.
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
