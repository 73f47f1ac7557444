//! Server-level commands: INFO, CONFIG GET, BGREWRITEAOF.

use super::connection::REDIS_COMPAT_VERSION;
use super::Call;
use std::fmt::Write;
use std::sync::atomic::Ordering;

const SECTIONS: [&str; 6] = ["server", "clients", "memory", "persistence", "replication", "keyspace"];

/// Resident set size of this process in bytes (Linux), 0 where unknown.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// `INFO [section ...]`
pub fn info(call: &mut Call<'_, '_>) {
    let wanted: Vec<String> =
        call.args.iter().skip(1).map(|s| String::from_utf8_lossy(s).to_ascii_lowercase()).collect();
    let all = wanted.is_empty() || wanted.iter().any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let mut text = String::new();
    for section in SECTIONS {
        if all || wanted.iter().any(|w| w == section) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            write_section(call, section, &mut text);
        }
    }
    call.reply.bulk(text.as_bytes());
}

fn write_section(call: &Call<'_, '_>, section: &str, out: &mut String) {
    let node = call.node;
    // Writing to a String cannot fail.
    let _ = match section {
        "server" => write!(
            out,
            "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nkvs_version:{}\r\nredis_mode:standalone\r\n\
             os:{}\r\narch_bits:64\r\nprocess_id:{}\r\nrun_id:{:0>40}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            node.id.to_string(),
            node.redis.addr().map_or(0, |a| a.port()),
            node.started.elapsed().as_secs(),
        ),
        "clients" => write!(out, "# Clients\r\nconnected_clients:{}\r\n", node.redis.open()),
        "memory" => {
            let rss = resident_bytes();
            write!(
                out,
                "# Memory\r\nused_memory:{rss}\r\nused_memory_rss:{rss}\r\nused_memory_human:{:.2}M\r\n",
                rss as f64 / 1048576.0
            )
        }
        "persistence" => {
            let _ = write!(out, "# Persistence\r\naof_enabled:{}\r\n", u8::from(node.writes.log().is_some()));
            if let Some(log) = node.writes.log() {
                let stats = &log.stats;
                let _ = write!(
                    out,
                    "aof_rewrite_in_progress:{}\r\naof_rewrites:{}\r\naof_current_size:{}\r\naof_last_write_status:{}\r\n",
                    u8::from(stats.compacting.load(Ordering::Relaxed)),
                    stats.compactions.load(Ordering::Relaxed),
                    stats.log_bytes.load(Ordering::Relaxed),
                    if log.check().is_ok() { "ok" } else { "err" },
                );
            }
            Ok(())
        }
        "replication" => {
            let now = node.now().at;
            let others = node.core.with_members(|m| m.others(now));
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\ncluster_members:{}\r\n",
                others.len() + 1
            );
            let _ = write!(out, "member0:id={},addr={},state=alive,last_heard_ms=0\r\n", node.id, node.addr);
            for (i, (info, state, silent)) in others.iter().enumerate() {
                let _ = write!(
                    out,
                    "member{}:id={},addr={},state={state},last_heard_ms={}\r\n",
                    i + 1,
                    info.id,
                    info.addr,
                    silent.as_millis()
                );
            }
            Ok(())
        }
        _ => write!(
            out,
            "# Keyspace\r\ndb0:keys={},expires=0,avg_ttl=0,tombstones={}\r\n",
            node.store().live_count(),
            node.store().tombstone_count()
        ),
    };
}

/// Configuration values tools ask for (redis-benchmark reads `save` and `appendonly`).
const CONFIG: [(&str, &str); 3] = [("save", ""), ("appendonly", "no"), ("databases", "1")];

/// `CONFIG GET parameter [parameter ...]` (glob patterns allowed)
pub fn config(call: &mut Call<'_, '_>) {
    if !call.args.get(1).eq_ignore_ascii_case(b"GET") || call.args.len() < 3 {
        let sub = String::from_utf8_lossy(call.args.get(1)).into_owned();
        return call
            .reply
            .error(&format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CONFIG HELP."));
    }
    let found: Vec<_> = CONFIG
        .iter()
        .filter(|(name, _)| {
            call.args.iter().skip(2).any(|p| kvs_store::glob::matches(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .collect();
    call.reply.map(found.len());
    for (name, value) in found {
        call.reply.bulk(name.as_bytes());
        call.reply.bulk(value.as_bytes());
    }
}

/// `BGREWRITEAOF`: rewrite the log from memory now (kvs's log plays the role of Redis's AOF).
pub fn bgrewriteaof(call: &mut Call<'_, '_>) {
    match call.node.writes.compact_log() {
        Ok(true) => call.reply.simple("Background append only file rewriting started"),
        Ok(false) => call.reply.error("ERR this node has no data dir; there is no log to compact"),
        Err(error) => call.reply.error(&format!("ERR {error}")),
    }
}
