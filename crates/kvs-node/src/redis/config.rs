//! `CONFIG GET | SET | RESETSTAT | HELP`: Redis's parameters as kvs has them.
//!
//! Each parameter reads its value from the node's configuration (the flags it was started with)
//! or from the Redis port's run-time settings; those that can change at run time take CONFIG SET,
//! the rest answer it as Redis answers an immutable parameter. What a parameter means is the
//! Redis parameter's meaning wherever kvs has the same thing (`appendfsync` is `--fsync`,
//! `maxclients` is `--max-connections`, `proto-max-bulk-len` is `--max-frame-bytes`).

use super::config_rewrite::Setting;
use super::{help, parse_int, Call};
use kvs_store::log::FsyncPolicy;
use std::sync::atomic::Ordering;

/// A parameter's value as CONFIG GET shows it.
type Get = fn(&Call<'_, '_>) -> String;
/// Sets a parameter from CONFIG SET's text, or says why not.
type Set = fn(&Call<'_, '_>, &str) -> Result<(), String>;

/// One parameter.
struct Param {
    name: &'static str,
    get: Get,
    set: Option<Set>,
}

const fn fixed(name: &'static str, get: Get) -> Param {
    Param { name, get, set: None }
}

fn number(text: &str) -> Result<i64, String> {
    parse_int(text.as_bytes()).ok_or_else(|| "argument couldn't be parsed into an integer".to_string())
}

/// Every parameter, alphabetically.
const PARAMS: &[Param] = &[
    fixed("appendfsync", |c| {
        match c.shell.config.fsync {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::Never => "no",
        }
        .into()
    }),
    fixed("appendonly", |c| if c.shell.config.data_dir.is_some() { "yes" } else { "no" }.into()),
    fixed("bind", |c| c.shell.addr.ip().to_string()),
    fixed("cluster-enabled", |_| "no".into()),
    fixed("databases", |c| c.shell.config.databases.to_string()),
    fixed("dbfilename", |_| "log".into()),
    fixed("dir", |c| {
        let dir = c.shell.config.data_dir.clone().or_else(|| std::env::current_dir().ok());
        dir.map(|d| d.display().to_string()).unwrap_or_default()
    }),
    fixed("hz", |_| "10".into()),
    Param {
        name: "latency-monitor-threshold",
        get: |c| c.clients.latency.threshold_ms.load(Ordering::Relaxed).to_string(),
        set: Some(|c, text| match number(text)? {
            n if n >= 0 => {
                c.clients.latency.threshold_ms.store(n as u64, Ordering::Relaxed);
                Ok(())
            }
            _ => Err("argument must be a memory or a number of milliseconds of 0 or more".into()),
        }),
    },
    fixed("maxclients", |c| c.shell.config.max_connections.to_string()),
    Param {
        name: "maxmemory",
        get: |c| c.shell.memory_limit.max_bytes().to_string(),
        set: Some(|c, text| {
            let bytes = crate::flag_values::parse_memory(text).map_err(|_| "argument must be a memory value")?;
            c.shell.memory_limit.set_max_bytes(bytes);
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |c| c.shell.memory_limit.policy().name().into(),
        set: Some(|c, text| {
            let policy = crate::memory_limit::Policy::parse(text).map_err(|_| "argument(s) must be one of the following: volatile-lru, allkeys-lru, volatile-lfu, allkeys-lfu, volatile-random, allkeys-random, volatile-ttl, noeviction")?;
            c.shell.memory_limit.set_policy(policy);
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-samples",
        get: |c| c.shell.memory_limit.samples().to_string(),
        set: Some(|c, text| match number(text)? {
            n if (1..=64).contains(&n) => {
                c.shell.memory_limit.set_samples(n as u32);
                Ok(())
            }
            _ => Err("argument must be between 1 and 64 inclusive".into()),
        }),
    },
    Param {
        name: "notify-keyspace-events",
        get: |c| crate::keyspace_events::classes::format(c.shell.writes.observers.keyspace_events.classes.get()),
        set: Some(|c, text| {
            let flags = crate::keyspace_events::classes::parse(text)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            c.shell.writes.observers.keyspace_events.classes.set(flags);
            Ok(())
        }),
    },
    fixed("port", |c| c.shell.redis_addr.map_or(0, |a| a.port()).to_string()),
    fixed("protected-mode", |c| if c.shell.config.protected_mode { "yes" } else { "no" }.into()),
    fixed("proto-max-bulk-len", |c| c.shell.config.limits.max_frame_bytes.to_string()),
    fixed("save", |_| String::new()),
    Param {
        name: "slowlog-log-slower-than",
        get: |c| c.clients.slowlog.slower_than_us.load(Ordering::Relaxed).to_string(),
        set: Some(|c, text| {
            c.clients.slowlog.slower_than_us.store(number(text)?, Ordering::Relaxed);
            Ok(())
        }),
    },
    Param {
        name: "slowlog-max-len",
        get: |c| c.clients.slowlog.max_len.load(Ordering::Relaxed).to_string(),
        set: Some(|c, text| match number(text)? {
            n if (0..=super::slowlog::MAX_LEN_LIMIT as i64).contains(&n) => {
                c.clients.slowlog.max_len.store(n as usize, Ordering::Relaxed);
                c.clients.slowlog.trim();
                Ok(())
            }
            _ => Err(format!("argument must be between 0 and {}", super::slowlog::MAX_LEN_LIMIT)),
        }),
    },
    fixed("tcp-keepalive", |_| "300".into()),
    fixed("timeout", |c| c.shell.config.idle_timeout.map_or(0, |t| t.as_secs()).to_string()),
    Param {
        name: "tracking-table-max-keys",
        get: |c| c.shell.writes.observers.tracking.max_keys.load(Ordering::Relaxed).to_string(),
        set: Some(|c, text| {
            let max = usize::try_from(number(text)?).map_err(|_| "argument must be 0 or more")?;
            c.shell.writes.observers.tracking.max_keys.store(max, Ordering::Relaxed);
            Ok(())
        }),
    },
];

fn find(name: &[u8]) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.as_bytes().eq_ignore_ascii_case(name))
}

const HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value> [<directive> <value> ...]",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

/// `CONFIG REWRITE`: every parameter CONFIG SET can change, into the `--config` file.
fn rewrite(call: &mut Call<'_, '_>) {
    let Some(path) = call.shell.config.config_file.clone() else {
        return call.reply.error("ERR The server is running without a config file");
    };
    let settings: Vec<(&str, Setting)> = PARAMS
        .iter()
        .filter(|param| param.set.is_some())
        .map(|param| {
            let value = (param.get)(call);
            let setting = value.parse::<i64>().map_or(Setting::Text(value), Setting::Number);
            (param.name, setting)
        })
        .collect();
    match super::config_rewrite::rewrite(&path, &settings) {
        Ok(()) => call.reply.simple("OK"),
        Err(why) => call.reply.error(&format!("ERR Rewriting config file: {why}")),
    }
}

/// `CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | HELP`
pub fn config(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    let argc = call.args.len();
    match sub.as_slice() {
        b"GET" if argc >= 3 => get(call),
        b"SET" if argc >= 4 && argc.is_multiple_of(2) => set(call),
        b"REWRITE" if argc == 2 => rewrite(call),
        b"RESETSTAT" if argc == 2 => {
            call.shell.requests.reset();
            call.reply.simple("OK")
        }
        b"HELP" if argc == 2 => help::reply(call, "CONFIG", HELP),
        _ => help::unknown_subcommand(call, "CONFIG"),
    }
}

fn get(call: &mut Call<'_, '_>) {
    let patterns: Vec<Vec<u8>> = call.args.iter().skip(2).map(|p| p.to_ascii_lowercase()).collect();
    let found: Vec<(&str, String)> = PARAMS
        .iter()
        .filter(|param| patterns.iter().any(|p| kvs_store::glob::matches(p, param.name.as_bytes())))
        .map(|param| (param.name, (param.get)(call)))
        .collect();
    call.reply.map(found.len());
    for (name, value) in found {
        call.reply.bulk(name.as_bytes());
        call.reply.bulk(value.as_bytes());
    }
}

/// Sets every pair or none: all are checked (known, settable, named once) before any is set.
fn set(call: &mut Call<'_, '_>) {
    let pairs: Vec<(&[u8], &[u8])> =
        (1..call.args.len() / 2).map(|i| (call.args.get(i * 2), call.args.get(i * 2 + 1))).collect();
    let mut setters = Vec::new();
    for (i, &(name, value)) in pairs.iter().enumerate() {
        let shown = String::from_utf8_lossy(name).into_owned();
        let Some(param) = find(name) else {
            return call.reply.error(&format!("ERR Unknown option or number of arguments for CONFIG SET - '{shown}'"));
        };
        let Some(setter) = param.set else {
            return call.reply.error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{shown}') - can't set immutable config"
            ));
        };
        if pairs[..i].iter().any(|(earlier, _)| find(earlier).is_some_and(|p| p.name == param.name)) {
            return call.reply.error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{shown}') - duplicate parameter"
            ));
        }
        setters.push((param.name, setter, String::from_utf8_lossy(value).into_owned()));
    }
    // Checked whole first, so a bad value leaves every parameter as it was.
    let before: Vec<(Set, String)> =
        setters.iter().map(|(name, setter, _)| (*setter, (find(name.as_bytes()).expect("known").get)(call))).collect();
    for (i, (name, setter, value)) in setters.iter().enumerate() {
        if let Err(why) = setter(call, value) {
            for (setter, old) in &before[..i] {
                let _ = setter(call, old);
            }
            return call.reply.error(&format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
        }
    }
    call.reply.simple("OK")
}

#[cfg(test)]
mod tests {
    use super::PARAMS;

    #[test]
    fn parameters_are_listed_once_in_order() {
        let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
