//! Expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT, LT), TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST; and the deadline arguments SET, SETEX and GETEX share.
//!
//! A deadline is an absolute Unix time in milliseconds written with the value, so every node
//! expires the key at the same moment (within clock skew) and a restart replays it unchanged.
//! Changing a counter's deadline writes its current value as a plain value (see docs/how-it-works.md on
//! counters).

use super::{Call, NOT_AN_INTEGER};
use kvs_store::local::{Decision, Holds, Local};
use kvs_store::Record;

/// What a command does to the key's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Removes it (a plain SET, PERSIST).
    Clear,
    /// Keeps the one the key has (KEEPTTL, GETEX without options).
    Keep,
    /// Sets it to this Unix time in milliseconds.
    At(u64),
}

/// The unit and base of a deadline argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// EX: seconds from now.
    Seconds,
    /// PX: milliseconds from now.
    Millis,
    /// EXAT: Unix seconds.
    UnixSeconds,
    /// PXAT: Unix milliseconds.
    UnixMillis,
}

impl Unit {
    /// The unit an option names (EX, PX, EXAT, PXAT), if it names one.
    pub fn of_option(option: &[u8]) -> Option<Unit> {
        [
            (b"EX".as_slice(), Unit::Seconds),
            (b"PX", Unit::Millis),
            (b"EXAT", Unit::UnixSeconds),
            (b"PXAT", Unit::UnixMillis),
        ]
        .into_iter()
        .find(|(name, _)| option.eq_ignore_ascii_case(name))
        .map(|(_, unit)| unit)
    }

    /// The deadline `amount` in this unit names at `now_ms`; `None` when it overflows.
    pub fn deadline(self, amount: i64, now_ms: u64) -> Option<i64> {
        match self {
            Unit::Seconds => amount.checked_mul(1000)?.checked_add(now_ms as i64),
            Unit::Millis => amount.checked_add(now_ms as i64),
            Unit::UnixSeconds => amount.checked_mul(1000),
            Unit::UnixMillis => Some(amount),
        }
    }
}

/// Parses a SET/GETEX/SETEX deadline argument: a positive integer, else Redis's errors for
/// `command`. Replies with the error and returns `None` when refused.
pub fn parse_positive_deadline(call: &mut Call<'_, '_>, unit: Unit, arg: &[u8], command: &str) -> Option<Deadline> {
    let Some(amount) = super::parse_int(arg) else {
        call.reply.error(NOT_AN_INTEGER);
        return None;
    };
    match unit.deadline(amount, call.now_ms()).filter(|_| amount > 0) {
        Some(at) => Some(Deadline::At(at.max(0) as u64)),
        None => {
            call.reply.error(&format!("ERR invalid expire time in '{command}' command"));
            None
        }
    }
}

/// The record that gives the live key `local` holds the deadline `deadline` (a counter is
/// written as its value), or `None` when there is no live key.
pub fn with_deadline(local: &Local<'_>, deadline: Option<u64>) -> Option<Record> {
    if let Holds::Collection(found) = local.holds() {
        return Some(local.collection_deadline(&found, deadline));
    }
    let value = local.bytes()?;
    Some(local.value(Some(&value), deadline))
}

/// The record that deletes what `local` holds: a collection's cleared header, or a tombstone.
pub fn deletion(local: &Local<'_>) -> Record {
    match local.holds() {
        Holds::Collection(found) => local.collection_cleared(&found),
        _ => local.value(None, None),
    }
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT key amount [NX|XX|GT|LT]`
fn expire_in(call: &mut Call<'_, '_>, unit: Unit) {
    let command = String::from_utf8_lossy(call.args.get(0)).to_ascii_lowercase();
    let Some(amount) = super::parse_int(call.args.get(2)) else {
        return call.reply.error(NOT_AN_INTEGER);
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in call.args.iter().skip(3) {
        let flag = match option.to_ascii_uppercase().as_slice() {
            b"NX" => &mut nx,
            b"XX" => &mut xx,
            b"GT" => &mut gt,
            b"LT" => &mut lt,
            _ => {
                let option = String::from_utf8_lossy(option).into_owned();
                return call.reply.error(&format!("ERR Unsupported option {option}"));
            }
        };
        *flag = true;
    }
    if nx && (xx || gt || lt) {
        return call.reply.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return call.reply.error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(deadline) = unit.deadline(amount, call.now_ms()) else {
        return call.reply.error(&format!("ERR invalid expire time in '{command}' command"));
    };
    let key = call.args.get(1);
    let changed = call.update(key, |local| {
        let Some(live) = local.live() else {
            return Decision::Keep(false);
        };
        // No deadline counts as infinitely far: GT never beats it, LT always does.
        let current = live.deadline_ms().map_or(i128::MAX, i128::from);
        let wanted = deadline as i128;
        let allowed = (!nx || live.deadline_ms().is_none())
            && (!xx || live.deadline_ms().is_some())
            && (!gt || wanted > current)
            && (!lt || wanted < current);
        if !allowed {
            return Decision::Keep(false);
        }
        if deadline <= local.now_ms() as i64 {
            // Already past: the key is deleted, as Redis does.
            return Decision::Write(deletion(local), true);
        }
        match with_deadline(local, Some(deadline as u64)) {
            Some(record) => Decision::Write(record, true),
            None => Decision::Keep(false),
        }
    });
    if let Some(changed) = changed {
        call.reply.integer(changed as i64);
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`
pub fn expire(call: &mut Call<'_, '_>) {
    expire_in(call, Unit::Seconds)
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`
pub fn pexpire(call: &mut Call<'_, '_>) {
    expire_in(call, Unit::Millis)
}

/// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`
pub fn expireat(call: &mut Call<'_, '_>) {
    expire_in(call, Unit::UnixSeconds)
}

/// `PEXPIREAT key unix-milliseconds [NX|XX|GT|LT]`
pub fn pexpireat(call: &mut Call<'_, '_>) {
    expire_in(call, Unit::UnixMillis)
}

/// How TTL-like commands report a key: -2 absent, -1 without deadline, else from the deadline.
fn report_deadline(call: &mut Call<'_, '_>, from_deadline: impl Fn(u64, u64) -> i64) {
    let now_ms = call.now_ms();
    let (store, key) = (call.shell.store(), call.args.get(1));
    let deadline = match store.collection(key, now_ms) {
        Some(found) => Some(found.deadline_ms),
        None => store.get_live(key, now_ms).filter(|r| !r.is_collection()).map(|r| r.deadline_ms()),
    };
    let answer = match deadline {
        None => -2,
        Some(deadline) => deadline.map_or(-1, |deadline| from_deadline(deadline, now_ms)),
    };
    call.reply.integer(answer);
}

/// `TTL key`: seconds left, rounded as Redis rounds.
pub fn ttl(call: &mut Call<'_, '_>) {
    report_deadline(call, |deadline, now| (deadline.saturating_sub(now) as i64 + 500) / 1000)
}

/// `PTTL key`: milliseconds left.
pub fn pttl(call: &mut Call<'_, '_>) {
    report_deadline(call, |deadline, now| deadline.saturating_sub(now) as i64)
}

/// `EXPIRETIME key`: the deadline in Unix seconds.
pub fn expiretime(call: &mut Call<'_, '_>) {
    report_deadline(call, |deadline, _| (deadline / 1000) as i64)
}

/// `PEXPIRETIME key`: the deadline in Unix milliseconds.
pub fn pexpiretime(call: &mut Call<'_, '_>) {
    report_deadline(call, |deadline, _| deadline as i64)
}

/// `PERSIST key`: removes the deadline; 1 if there was one.
pub fn persist(call: &mut Call<'_, '_>) {
    let key = call.args.get(1);
    let removed = call.update(key, |local| match local.deadline_ms() {
        Some(_) => Decision::Write(with_deadline(local, None).expect("live"), true),
        None => Decision::Keep(false),
    });
    if let Some(removed) = removed {
        call.reply.integer(removed as i64);
    }
}
