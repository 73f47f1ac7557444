//! `kvs-client watch [PREFIX]`: one line per change the node applies, until interrupted.

use kvs_client::{Change, Client, ClientError, Watch};
use std::io::Write;
use std::process::ExitCode;

/// Prints every change to keys beginning with `prefix` until the node closes the stream (exit 0)
/// or the watch fails.
pub async fn watch(client: Client, prefix: String, json: bool) -> Result<ExitCode, ClientError> {
    let mut watch = Watch::start(client, prefix).await?;
    while let Some(change) = watch.next().await? {
        let line = if json { as_json(&change) } else { as_text(&change) };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // Whoever read our output is gone.
            return Ok(ExitCode::SUCCESS);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `set greeting = hello  (version 1733400000123.0, origin 5f3a…)`
fn as_text(change: &Change) -> String {
    let mut line = format!("{} {}", change.event, text(&change.key));
    if let Some(element) = &change.element {
        line.push_str(&format!(" {}", text(element)));
    }
    if let Some(value) = &change.value {
        line.push_str(&format!(" = {}", text(value)));
    }
    let version = &change.version;
    line.push_str(&format!("  (version {}.{}, origin {})", version.wall_ms, version.logical, version.node));
    line
}

fn as_json(change: &Change) -> String {
    let version = &change.version;
    serde_json::json!({
        "event": change.event,
        "key": text(&change.key),
        "element": change.element.as_deref().map(text),
        "value": change.value.as_deref().map(text),
        "version": { "wall_ms": version.wall_ms, "logical": version.logical, "origin": version.node.to_string() },
    })
    .to_string()
}
