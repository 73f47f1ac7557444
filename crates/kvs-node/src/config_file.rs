//! `--config FILE`: the node's flags from a TOML file.
//!
//! Every flag is a key, spelled as the flag without its dashes (`dead-after-ms = 6000`,
//! `data-dir = "/var/lib/kvs"`, `fsync = "always"`, `redis-port = 6379`), and the arguments are
//! keys too: `ip`, `port`, `bootstrap-ip`, `bootstrap-port`. A flag given on the command line
//! overrides the file; the arguments come all from the command line if it gives any, else all from
//! the file. A key that is no flag's is an error naming it, as is a value of the wrong kind.

use crate::config::NodeArgs;
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory};
use std::ffi::OsString;
use std::path::PathBuf;

/// The command line with the settings of its `--config` file merged in (unchanged without one).
pub fn merge(argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut command = NodeArgs::command();
    // Positionals get their indices when the command is built.
    command.build();
    // `--help`, `--version` and errors the real parse reports itself, with its own exit codes.
    let Ok(given) = command.clone().ignore_errors(true).try_get_matches_from(&argv) else { return Ok(argv) };
    let Some(path) = given.get_one::<PathBuf>("config").cloned() else { return Ok(argv) };
    let shown = path.display();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read --config {shown}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("--config {shown}: {e}"))?;
    let on_command_line = |id: &str| given.value_source(id) == Some(ValueSource::CommandLine);
    let cli_positionals = command.get_positionals().any(|arg| on_command_line(arg.get_id().as_str()));
    let mut positionals: Vec<(usize, OsString)> = Vec::new();
    let mut flags: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let arg =
            command.get_arguments().find(|arg| arg.get_id().as_str() == id && id != "config").ok_or_else(|| {
                format!("--config {shown}: unknown key `{key}` (keys are the flags without their dashes)")
            })?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => return Err(format!("--config {shown}: `{key}` must be a string, a number or a boolean")),
        };
        if arg.is_positional() {
            if !cli_positionals {
                positionals.push((arg.get_index().unwrap_or(usize::MAX), text.into()));
            }
            continue;
        }
        if on_command_line(arg.get_id().as_str()) {
            continue;
        }
        let long = format!("--{}", arg.get_long().unwrap_or(key));
        match arg.get_action() {
            ArgAction::SetTrue => match value {
                toml::Value::Boolean(true) => flags.push(long.into()),
                toml::Value::Boolean(false) => {}
                _ => return Err(format!("--config {shown}: `{key}` must be true or false")),
            },
            _ => flags.extend([long.into(), text.into()]),
        }
    }
    positionals.sort();
    let mut merged = vec![argv.first().cloned().unwrap_or_else(|| "kvs-node".into())];
    merged.extend(positionals.into_iter().map(|(_, value)| value));
    merged.extend(flags);
    merged.extend(argv.into_iter().skip(1));
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn merged(file: &str, cli: &[&str]) -> Result<NodeArgs, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvs.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv: Vec<OsString> = vec!["kvs-node".into()];
        argv.extend(cli.iter().map(OsString::from));
        argv.extend(["--config".into(), path.clone().into_os_string()]);
        NodeArgs::try_parse_from(merge(argv)?).map_err(|e| e.to_string())
    }

    #[test]
    fn the_file_sets_flags_and_arguments_and_the_command_line_overrides_it() {
        let file = "ip = \"127.0.0.1\"\nport = 7000\nbootstrap-ip = \"127.0.0.2\"\nbootstrap-port = 7001\n\
                    dead-after-ms = 9000\nmax-key-bytes = 4\n";
        let args = merged(file, &[]).unwrap();
        assert_eq!((args.port, args.bootstrap_port, args.dead_after_ms), (7000, Some(7001), 9000));
        let args = merged(file, &["127.0.0.3", "7100", "--max-key-bytes", "8"]).unwrap();
        assert_eq!((args.ip.to_string(), args.port, args.bootstrap_port), ("127.0.0.3".into(), 7100, None));
        assert_eq!((args.max_key_bytes, args.dead_after_ms), (8, 9000), "the flag wins, the file fills the rest");
    }

    /// The only switches (flags without a value) are the fault-injection ones.
    #[cfg(feature = "fault")]
    #[test]
    fn a_switch_is_true_or_false() {
        let args = merged("ip = \"127.0.0.1\"\nport = 0\nfault-hold-log = true\n", &[]).unwrap();
        assert!(args.faults.fault_hold_log);
        let error = merged("ip = \"127.0.0.1\"\nport = 0\nfault-hold-log = 1\n", &[]).unwrap_err();
        assert!(error.contains("`fault-hold-log` must be true or false"), "{error}");
    }

    #[cfg(not(feature = "fault"))]
    #[test]
    fn a_build_without_the_fault_feature_has_no_fault_flag() {
        let error = merged("ip = \"127.0.0.1\"\nport = 0\nfault-hold-log = true\n", &[]).unwrap_err();
        assert!(error.contains("unknown key `fault-hold-log`"), "{error}");
        assert!(NodeArgs::try_parse_from(["kvs-node", "127.0.0.1", "0", "--fault-clock-offset-ms", "5"]).is_err());
    }

    #[test]
    fn unknown_keys_and_wrong_kinds_are_errors_naming_the_key() {
        let error = merged("ip = \"127.0.0.1\"\nport = 0\ndead-after = 5\n", &[]).unwrap_err();
        assert!(error.contains("unknown key `dead-after`"), "{error}");
        let error = merged("ip = \"127.0.0.1\"\nport = 0\ndead-after-ms = \"soon\"\n", &[]).unwrap_err();
        assert!(error.contains("dead-after-ms"), "{error}");
    }
}
