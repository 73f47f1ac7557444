//! `MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | HELP`, from kvs's own accounting: a key costs
//! its record (key, value and header in one allocation) and the map's slot for it.

use super::info::resident_bytes;
use super::{help, Call};
use kvs_store::record::Body;

/// What the store's map spends per key beside the record itself: a hash, a pointer and the slack
/// of a table kept under its load factor.
const SLOT_BYTES: usize = 32;

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// `MEMORY ...`
pub fn memory(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    let argc = call.args.len();
    match sub.as_slice() {
        b"USAGE" if argc == 3 || (argc == 5 && call.args.get(3).eq_ignore_ascii_case(b"SAMPLES")) => {
            let now_ms = call.shell.wall_ms();
            let held = call.shell.store().get(call.args.get(2)).filter(|r| !r.is_expired_at(now_ms));
            let live =
                |record: &kvs_store::Record| matches!(record.body(), Body::Value(_) | Body::Counter(_) | Body::Hll(_));
            match held.filter(live) {
                Some(record) => call.reply.integer((record.payload_len() + SLOT_BYTES + 24) as i64),
                None => call.reply.null(),
            }
        }
        b"STATS" if argc == 2 => {
            let rss = resident_bytes();
            let keys = call.shell.store().live_count();
            let fields: [(&str, u64); 6] = [
                ("peak.allocated", rss),
                ("total.allocated", rss),
                ("startup.allocated", 0),
                ("keys.count", keys),
                ("keys.bytes-per-key", rss.checked_div(keys).unwrap_or(0)),
                ("dataset.bytes", rss),
            ];
            call.reply.map(fields.len());
            for (name, value) in fields {
                call.reply.bulk(name.as_bytes());
                call.reply.integer(value as i64);
            }
        }
        b"DOCTOR" if argc == 2 => call.reply.bulk(
            b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
        ),
        b"MALLOC-STATS" if argc == 2 => call.reply.bulk(b"Stats not supported for the current allocator"),
        b"HELP" if argc == 2 => help::reply(call, "MEMORY", HELP),
        _ => help::unknown_subcommand(call, "MEMORY"),
    }
}
