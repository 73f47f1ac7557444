//! `INFO [section ...]`: Redis 7's sections, with the fields tools read, from kvs's own counters.
//!
//! `INFO` and `INFO default` give the default sections, `INFO all` adds commandstats and
//! latencystats, `INFO everything` adds modules; names may be mixed with section names, as Redis 7
//! accepts them (`INFO default commandstats`), and an unknown one is left out.

use super::connection::REDIS_COMPAT_VERSION;
use super::Call;
use crate::pubsub::Kind;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Redis 7's default sections, in its order.
const DEFAULT: [&str; 11] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// What `all` adds to the default, and `everything` to `all`.
const ALL_EXTRA: [&str; 2] = ["commandstats", "latencystats"];
const EVERYTHING_EXTRA: [&str; 1] = ["modules"];

/// The sections `wanted` names, in Redis's order.
fn sections(wanted: &[String]) -> Vec<&'static str> {
    let everything = wanted.iter().any(|w| w == "everything");
    let all = everything || wanted.iter().any(|w| w == "all");
    let default = all || wanted.is_empty() || wanted.iter().any(|w| w == "default");
    let order = DEFAULT.iter().chain(&ALL_EXTRA).chain(&EVERYTHING_EXTRA);
    order
        .copied()
        .filter(|section| {
            (default && DEFAULT.contains(section))
                || (all && ALL_EXTRA.contains(section))
                || (everything && EVERYTHING_EXTRA.contains(section))
                || wanted.iter().any(|w| w == section)
        })
        .collect()
}

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
    let mut text = String::new();
    for section in sections(&wanted) {
        let at = text.len();
        if at > 0 {
            text.push_str("\r\n");
        }
        write_section(call, section, &mut text);
        if text.len() == at + 2 {
            text.truncate(at);
        }
    }
    call.reply.bulk(text.as_bytes());
}

fn write_section(call: &Call<'_, '_>, section: &str, out: &mut String) {
    let shell = call.shell;
    let now_ms = kvs_store::clock::wall_clock_ms();
    // Writing to a String cannot fail.
    let _ = match section {
        "server" => {
            let uptime = shell.started.elapsed().as_secs();
            let executable = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
            write!(
                out,
                "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
                 redis_build_id:0\r\nredis_mode:standalone\r\nkvs_version:{}\r\nos:{} {}\r\narch_bits:64\r\n\
                 multiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\nprocess_id:{}\r\nprocess_supervised:no\r\n\
                 run_id:{:0>40}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\n\
                 uptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nlru_clock:{}\r\nexecutable:{executable}\r\n\
                 config_file:\r\nio_threads_active:0\r\nkvs_clock_skew_ms:{}\r\nkvs_clock_status:{}\r\n\
                 kvs_cluster_version:{}\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                shell.id.to_string(),
                shell.redis_addr.map_or(0, |a| a.port()),
                now_ms * 1000,
                uptime / 86_400,
                (now_ms / 1000) & ((1 << 24) - 1),
                shell.core.clock().skew_ms(),
                shell.core.clock().problem().unwrap_or_else(|| "ok".into()),
                shell.core.cluster_version(),
            )
        }
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:{}\r\nmaxclients:{}\r\n\
             client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\n\
             tracking_clients:{}\r\nclients_in_timeout_table:0\r\n",
            call.clients.open(),
            shell.core.with_members(|m| m.peer_count()),
            shell.config.max_connections,
            call.clients
                .list()
                .iter()
                .filter(|(_, c)| c.unblock.blocked.load(std::sync::atomic::Ordering::Relaxed))
                .count(),
            shell.writes.observers.tracking.counts().0,
        ),
        "memory" => {
            // used_memory is the store's own accounting (what maxmemory is checked against:
            // live data, plus the tombstones held until purged); rss is the process's.
            let rss = resident_bytes();
            let store = shell.store();
            let (live, tombstones) = (store.live_bytes(), store.tombstone_bytes());
            let used = live + tombstones;
            let limit = &shell.memory_limit;
            let max = limit.max_bytes();
            let ratio = if used > 0 { rss as f64 / used as f64 } else { 1.0 };
            write!(
                out,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\n\
                 used_memory_peak:{used}\r\nused_memory_dataset:{live}\r\nkvs_tombstone_bytes:{tombstones}\r\n\
                 maxmemory:{max}\r\nmaxmemory_human:{:.2}M\r\nmaxmemory_policy:{}\r\n\
                 mem_fragmentation_ratio:{ratio:.2}\r\nmem_allocator:libc\r\n",
                used as f64 / 1048576.0,
                max as f64 / 1048576.0,
                limit.policy().name(),
            )
        }
        "persistence" => {
            let log = shell.writes.log();
            let compacting = log.is_some_and(|l| l.stats.compacting.load(Ordering::Relaxed));
            let _ = write!(
                out,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n\
                 rdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\n\
                 aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\n",
                call.clients.last_save_s(),
                u8::from(log.is_some()),
                u8::from(compacting),
            );
            if let Some(log) = log {
                let stats = &log.stats;
                let _ = write!(
                    out,
                    "aof_rewrites:{}\r\naof_current_size:{}\r\naof_last_write_status:{}\r\nkvs_log_format:{}\r\n",
                    stats.compactions.load(Ordering::Relaxed),
                    stats.log_bytes.load(Ordering::Relaxed),
                    if log.check().is_ok() { "ok" } else { "err" },
                    stats.format.load(Ordering::Relaxed),
                );
            }
            Ok(())
        }
        "stats" => {
            let stats = shell.core.stats();
            let commands: u64 = shell.requests.command_counts().iter().map(|c| c.calls).sum();
            let errors: u64 = shell.requests.error_counts().iter().map(|(_, n)| n).sum();
            let (channels, patterns) = (shell.pubsub.distinct(Kind::Channel), shell.pubsub.distinct(Kind::Pattern));
            let (_, tracked_keys, prefixes) = shell.writes.observers.tracking.counts();
            write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{commands}\r\n\
                 instantaneous_ops_per_sec:0\r\nrejected_connections:0\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
                 keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\n\
                 total_error_replies:{errors}\r\ntracking_total_keys:{tracked_keys}\r\n\
                 tracking_total_items:{tracked_keys}\r\ntracking_total_prefixes:{prefixes}\r\n",
                call.clients.next_id_peek().saturating_sub(1),
                stats.keys_expired.load(Ordering::Relaxed),
                shell.memory_limit.evicted(),
                shell.requests.lookups().0,
                shell.requests.lookups().1,
            )
        }
        "replication" => {
            let now = shell.now().at;
            let others = shell.core.with_members(|m| m.others(now));
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:{}\r\ncluster_members:{}\r\n",
                shell.core.last_write(),
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
        "cpu" => {
            let (user, sys) = cpu_seconds();
            write!(out, "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n")
        }
        "module_list" => write!(out, "# Modules\r\n"),
        "modules" => Ok(()),
        "errorstats" => {
            let _ = write!(out, "# Errorstats\r\n");
            for (kind, count) in shell.requests.error_counts() {
                let _ = write!(out, "errorstat_{kind}:count={count}\r\n");
            }
            Ok(())
        }
        "cluster" => {
            let enabled = u8::from(call.shell.core.layout().is_some());
            let _ = write!(out, "# Cluster\r\ncluster_enabled:{enabled}\r\n");
            if enabled == 1 {
                // How far a layout change has got here: done when all three are 0 on every node.
                let (fetching, kept, left) = call.shell.core.slots_in_motion();
                let _ =
                    write!(out, "kvs_slots_fetching:{fetching}\r\nkvs_slots_kept:{kept}\r\nkvs_slots_left:{left}\r\n");
                // Commands of plain clients run by an owner for them, and run here for others'.
                let forwards = &call.shell.forwarding.stats;
                let _ = write!(
                    out,
                    "kvs_forwarded_commands:{}\r\nkvs_forwards_failed:{}\r\nkvs_forwarded_commands_run:{}\r\n",
                    forwards.answered.load(Ordering::Relaxed),
                    forwards.failed.load(Ordering::Relaxed),
                    forwards.ran.load(Ordering::Relaxed),
                );
                // Writes kept here for owners that are down, as their stand-in.
                let hints = &call.shell.hints;
                let (owners, held, bytes) = hints.held();
                let (down, standing_in) = call.shell.core.owners_down();
                let standing_in = u8::from(standing_in);
                let _ = write!(
                    out,
                    "kvs_owners_down:{down}\r\nkvs_standing_in:{standing_in}\r\n\
                     kvs_hints_owners:{owners}\r\nkvs_hints_held:{held}\r\nkvs_hints_bytes:{bytes}\r\n\
                     kvs_hints_kept:{}\r\nkvs_hints_refused:{}\r\nkvs_hints_handed_over:{}\r\n",
                    hints.stats.kept.load(Ordering::Relaxed),
                    hints.stats.refused.load(Ordering::Relaxed),
                    hints.stats.handed_over.load(Ordering::Relaxed),
                );
            }
            Ok(())
        }
        "commandstats" => {
            let _ = write!(out, "# Commandstats\r\n");
            for c in shell.requests.command_counts() {
                let per_call = c.usec as f64 / c.calls as f64;
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls=0,failed_calls={}\r\n",
                    c.name, c.calls, c.usec, c.failed
                );
            }
            Ok(())
        }
        "latencystats" => write!(out, "# Latencystats\r\n"),
        _ => {
            // Database 0's line always (with the node's tombstones, a kvs field), the others' when
            // they hold keys.
            let store = shell.store();
            let _ = write!(
                out,
                "# Keyspace\r\ndb0:keys={},expires={},avg_ttl=0,tombstones={}\r\n",
                store.live_count_in(0),
                store.volatile_count_in(0),
                store.tombstone_count()
            );
            for db in 1..shell.config.databases.min(256) {
                let keys = store.live_count_in(db as u8);
                if keys > 0 {
                    let expires = store.volatile_count_in(db as u8);
                    let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
            // kvs fields: each collection type's live keys and elements seen, on every database.
            for (of, keys, elements) in store.collection_counts() {
                let _ = write!(out, "kvs_{}:keys={keys},elements={elements}\r\n", of.name());
            }
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::sections;

    fn of(words: &[&str]) -> Vec<&'static str> {
        sections(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn sections_are_named_as_redis_7_names_them() {
        assert_eq!(of(&[]).len(), 11);
        assert_eq!(of(&["default"]), of(&[]));
        assert!(of(&["all"]).contains(&"commandstats") && !of(&["all"]).contains(&"modules"));
        assert!(of(&["everything"]).contains(&"modules"));
        assert_eq!(of(&["cluster"]), vec!["cluster"]);
        assert_eq!(of(&["keyspace", "server"]), vec!["server", "keyspace"], "Redis's order, not the asker's");
        assert_eq!(of(&["default", "commandstats"]).len(), 12);
        assert!(of(&["nosuch"]).is_empty());
    }
}
