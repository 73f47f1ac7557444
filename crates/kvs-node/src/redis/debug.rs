//! The DEBUG subcommands Redis's own tests use: SET-ACTIVE-EXPIRE, SLEEP, OBJECT.

use super::keys::encoding_of;
use super::Call;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Longest `DEBUG SLEEP` honoured, so a typo cannot park a worker thread for hours.
const MAX_SLEEP: Duration = Duration::from_secs(5);

/// `DEBUG SET-ACTIVE-EXPIRE 0|1`, `DEBUG SLEEP seconds`, `DEBUG OBJECT key`
pub fn debug(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1).to_ascii_uppercase();
    match (sub.as_slice(), call.args.len()) {
        (b"SET-ACTIVE-EXPIRE", 3) => {
            let on = call.args.get(2) != b"0";
            call.shell.active_expiry.store(on, Ordering::Relaxed);
            call.reply.simple("OK");
        }
        (b"SLEEP", 3) => {
            let Some(seconds) = super::counters::parse_float(call.args.get(2)).filter(|s| *s >= 0.0) else {
                return call.reply.error("ERR value is not a valid float");
            };
            // Like Redis, the server (here: this connection's thread) does nothing meanwhile.
            // Clamped before it becomes a Duration, which panics on infinity or overflow.
            std::thread::sleep(Duration::from_secs_f64(seconds.min(MAX_SLEEP.as_secs_f64())));
            call.clock.advance();
            call.reply.simple("OK");
        }
        (b"OBJECT", 3) => {
            let Some(value) = call.shell.store().get_value(call.args.get(2), call.now_ms()) else {
                return call.reply.error("ERR no such key");
            };
            let encoding = encoding_of(&value);
            let line = format!(
                "Value at:0x0 refcount:1 encoding:{encoding} serializedlength:{} lru:0 lru_seconds_idle:0",
                value.len()
            );
            call.reply.simple(&line);
        }
        _ => {
            let sub = String::from_utf8_lossy(call.args.get(1)).into_owned();
            call.reply.error(&format!("ERR unknown subcommand or wrong number of arguments for '{sub}'"));
        }
    }
}
