//! Server-level commands: TIME, ROLE, LASTSAVE, BGSAVE, BGREWRITEAOF and MONITOR (whose watching
//! the session does).

use super::Call;

/// `BGREWRITEAOF`: rewrite the log from memory now (kvs's log plays the role of Redis's AOF).
pub fn bgrewriteaof(call: &mut Call<'_, '_>) {
    match call.shell.writes.compact_log() {
        Ok(true) => call.reply.simple("Background append only file rewriting started"),
        Ok(false) => call.reply.error("ERR this node has no data dir; there is no log to compact"),
        Err(error) => call.reply.error(&format!("ERR {error}")),
    }
}

/// `TIME`: this node's wall clock, seconds and microseconds (the clock its versions are made from).
pub fn time(call: &mut Call<'_, '_>) {
    let wall_ms = call.shell.wall_ms();
    // The node's clock counts milliseconds; the system clock gives the microseconds within one.
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let micros = (wall_ms % 1000) * 1000 + u64::from(since_epoch.subsec_micros() % 1000);
    call.reply.array(2);
    call.reply.bulk((wall_ms / 1000).to_string().as_bytes());
    call.reply.bulk(micros.to_string().as_bytes());
}

/// `ROLE`: every node is a primary that takes writes; kvs has no replicas in Redis's sense.
pub fn role(call: &mut Call<'_, '_>) {
    call.reply.array(3);
    call.reply.bulk(b"master");
    call.reply.integer(call.shell.core.last_write() as i64);
    call.reply.array(0);
}

/// `LASTSAVE`: when the log was last compacted by SAVE or BGSAVE (or the node started), Unix seconds.
pub fn lastsave(call: &mut Call<'_, '_>) {
    call.reply.integer(call.clients.last_save_s() as i64);
}

/// `BGSAVE [SCHEDULE]`: a compaction of the log, in the background (kvs's log is its snapshot).
pub fn bgsave(call: &mut Call<'_, '_>) {
    if call.args.len() > 2 || (call.args.len() == 2 && !call.args.get(1).eq_ignore_ascii_case(b"SCHEDULE")) {
        return call.reply.error("ERR syntax error");
    }
    start_compaction(call, "Background saving started");
}

/// Starts a compaction of the log (kvs's snapshot) and answers `started`, or why it cannot.
fn start_compaction(call: &mut Call<'_, '_>, started: &str) {
    match call.shell.writes.compact_log() {
        Ok(true) => {
            call.clients.saved();
            call.reply.simple(started)
        }
        Ok(false) => call.reply.error("ERR this node has no data dir; there is nothing to save to"),
        Err(error) => call.reply.error(&format!("ERR {error}")),
    }
}

/// `MONITOR`: from the next batch on, this connection is sent every command the port runs, and
/// takes nothing but QUIT and RESET (see `session::watch`).
pub fn monitor(call: &mut Call<'_, '_>) {
    call.client.monitor = true;
    call.reply.simple("OK");
}

/// `SAVE` inside MULTI (outside, the session runs it and waits for the disk): a transaction
/// never blocks, so it starts the compaction as BGSAVE does and answers OK.
pub fn save(call: &mut Call<'_, '_>) {
    start_compaction(call, "OK");
}
