//! `CONFIG REWRITE`: the run-time parameters CONFIG SET changed, written into the `--config` file.
//!
//! Each settable parameter is a node flag of the same name, so it is a key of the file
//! (`maxmemory = 104857600`). A key the file already has is updated in place; one it lacks is
//! added only if its value differs from the flag's default; every other line, comment and the
//! file's layout are kept (`toml_edit`). The new file is written beside the old one and renamed
//! over it, so a crash leaves one or the other whole.

use crate::config::NodeArgs;
use clap::CommandFactory;
use std::path::Path;

/// A parameter's value as the file holds it.
pub(super) enum Setting {
    /// A number.
    Number(i64),
    /// A string (a policy name).
    Text(String),
}

/// Rewrites `path` with `settings` (flag name, value).
pub(super) fn rewrite(path: &Path, settings: &[(&str, Setting)]) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut document: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let command = NodeArgs::command();
    for (name, setting) in settings {
        let default = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(name))
            .and_then(|arg| arg.get_default_values().first().map(|d| d.to_string_lossy().into_owned()));
        let shown = match setting {
            Setting::Number(n) => n.to_string(),
            Setting::Text(t) => t.clone(),
        };
        if !document.contains_key(name) && default.as_deref() == Some(shown.as_str()) {
            continue;
        }
        document[*name] = match setting {
            Setting::Number(n) => toml_edit::value(*n),
            Setting::Text(t) => toml_edit::value(t.as_str()),
        };
    }
    let fresh = path.with_extension("rewriting");
    std::fs::write(&fresh, document.to_string()).map_err(|e| format!("cannot write {}: {e}", fresh.display()))?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&fresh, metadata.permissions());
    }
    std::fs::rename(&fresh, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_set_in_place_and_comments_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvs.toml");
        std::fs::write(&path, "# my node\nport = 1234\nmaxmemory = 5 # old\n").unwrap();
        let settings = [
            ("maxmemory", Setting::Number(1_000_000)),
            ("maxmemory-policy", Setting::Text("allkeys-lru".into())),
            ("maxmemory-samples", Setting::Number(5)),
        ];
        rewrite(&path, &settings).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my node\nport = 1234\n"), "{text}");
        assert!(text.contains("maxmemory = 1000000"), "{text}");
        assert!(text.contains("maxmemory-policy = \"allkeys-lru\""), "{text}");
        assert!(!text.contains("maxmemory-samples"), "a default not in the file is not added: {text}");
    }
}
