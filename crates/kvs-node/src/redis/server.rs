//! Server-level commands: INFO, CONFIG GET, BGREWRITEAOF.

use super::connection::REDIS_COMPAT_VERSION;
use super::Call;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Every section, in Redis's order; `INFO`, `INFO default`, `INFO all` and `INFO everything`
/// give them all (kvs has no module or latency sections to leave out of the default).
const SECTIONS: [&str; 8] = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace"];

/// CPU time this process has used, user and system, in seconds (from `/proc/self/stat`, in the
/// kernel's clock ticks); zeros where the kernel does not say.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0) as f64;
    let per_second = rustix::param::clock_ticks_per_second().max(1) as f64;
    (ticks(11) / per_second, ticks(12) / per_second)
}

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
    if !all && !wanted.iter().any(|w| SECTIONS.contains(&w.as_str())) {
        // Redis answers an unknown section with an empty string.
        return call.reply.bulk(b"");
    }
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
    let shell = call.shell;
    // Writing to a String cannot fail.
    let _ = match section {
        "server" => write!(
            out,
            "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nkvs_version:{}\r\nredis_mode:standalone\r\n\
             os:{}\r\narch_bits:64\r\nprocess_id:{}\r\nrun_id:{:0>40}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\
             kvs_clock_skew_ms:{}\r\nkvs_clock_status:{}\r\nkvs_cluster_version:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            shell.id.to_string(),
            shell.redis_addr.map_or(0, |a| a.port()),
            shell.started.elapsed().as_secs(),
            shell.core.clock().skew_ms(),
            shell.core.clock().problem().unwrap_or_else(|| "ok".into()),
            shell.core.cluster_version(),
        ),
        "clients" => write!(out, "# Clients\r\nconnected_clients:{}\r\nblocked_clients:0\r\n", call.clients.open()),
        "stats" => {
            let stats = shell.core.stats();
            write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\n",
                call.clients.next_id_peek().saturating_sub(1),
                stats.keys_expired.load(Ordering::Relaxed),
            )
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            write!(out, "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n")
        }
        "memory" => {
            let rss = resident_bytes();
            write!(
                out,
                "# Memory\r\nused_memory:{rss}\r\nused_memory_rss:{rss}\r\nused_memory_human:{:.2}M\r\n",
                rss as f64 / 1048576.0
            )
        }
        "persistence" => {
            let _ = write!(out, "# Persistence\r\naof_enabled:{}\r\n", u8::from(shell.writes.log().is_some()));
            if let Some(log) = shell.writes.log() {
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
            let now = shell.now().at;
            let others = shell.core.with_members(|m| m.others(now));
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\ncluster_members:{}\r\n",
                others.len() + 1
            );
            let _ = write!(out, "member0:id={},addr={},state=alive,last_heard_ms=0\r\n", shell.id, shell.addr);
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
            for (name, _, value) in shell.core.stats().snapshot().rows() {
                let _ = write!(out, "kvs_{name}:{value}\r\n");
            }
            Ok(())
        }
        _ => write!(
            out,
            "# Keyspace\r\ndb0:keys={},expires={},avg_ttl=0,tombstones={}\r\n",
            shell.store().live_count(),
            shell.store().volatile_count(),
            shell.store().tombstone_count()
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
    match call.shell.writes.compact_log() {
        Ok(true) => call.reply.simple("Background append only file rewriting started"),
        Ok(false) => call.reply.error("ERR this node has no data dir; there is no log to compact"),
        Err(error) => call.reply.error(&format!("ERR {error}")),
    }
}
