//! String commands beyond GET and MSET: SET with its options, SETNX, SETEX, PSETEX, GETSET,
//! GETDEL, GETEX, APPEND, SETRANGE, GETRANGE, SUBSTR, MSETNX.
//!
//! Every condition (NX, XX, the old value APPEND extends) is checked on the node that takes the
//! command, against what it holds then; the result replicates as an ordinary versioned write, so
//! NX is not a cluster-wide lock (see docs/how-it-works.md).

use super::expire::{parse_positive_deadline, Deadline, Unit};
use super::{wrong_arity, Call, NOT_AN_INTEGER};
use kvs_store::local::{Decision, Local};

/// The deadline a write leaves on the key it replaces.
fn resolve(deadline: Deadline, local: &Local<'_>) -> Option<u64> {
    match deadline {
        Deadline::Clear => None,
        Deadline::Keep => local.deadline_ms(),
        Deadline::At(at) => Some(at),
    }
}

/// What a SET asks of the key it replaces.
#[derive(Clone, Copy, Debug, Default)]
struct Conditions {
    /// Only if absent.
    nx: bool,
    /// Only if present.
    xx: bool,
    /// Answer the old value.
    get: bool,
}

/// Writes `value` at `key` under `conditions`. Returns the old value (when asked for) and
/// whether it wrote, or `None` when refused with an error. A plain SET never looks at the key.
fn set_value(
    call: &mut Call<'_, '_>,
    key: &[u8],
    value: &[u8],
    deadline: Deadline,
    conditions: Conditions,
) -> Option<(Option<Vec<u8>>, bool)> {
    if !call.within_bounds(key, Some(value)) {
        return None;
    }
    let Conditions { nx, xx, get } = conditions;
    call.update(key, |local| {
        let old = if get { local.bytes() } else { None };
        if nx || xx {
            let exists = local.live().is_some();
            if (nx && exists) || (xx && !exists) {
                return Decision::Keep((old, false));
            }
        }
        Decision::Write(local.value(Some(value), resolve(deadline, local)), (old, true))
    })
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`
pub fn set(call: &mut Call<'_, '_>) {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut deadline: Option<Deadline> = None;
    let mut i = 3;
    while i < call.args.len() {
        let option = call.args.get(i);
        let next = (i + 1 < call.args.len()).then(|| call.args.get(i + 1));
        if option.eq_ignore_ascii_case(b"NX") && !xx {
            nx = true;
        } else if option.eq_ignore_ascii_case(b"XX") && !nx {
            xx = true;
        } else if option.eq_ignore_ascii_case(b"GET") {
            get = true;
        } else if option.eq_ignore_ascii_case(b"KEEPTTL") && deadline.is_none() {
            deadline = Some(Deadline::Keep);
        } else if let (Some(unit), Some(amount), None) = (Unit::of_option(option), next, deadline) {
            let Some(at) = parse_positive_deadline(call, unit, amount, "set") else { return };
            deadline = Some(at);
            i += 1;
        } else {
            return call.reply.error("ERR syntax error");
        }
        i += 1;
    }
    let (key, value) = (call.args.get(1), call.args.get(2));
    let Some((old, written)) =
        set_value(call, key, value, deadline.unwrap_or(Deadline::Clear), Conditions { nx, xx, get })
    else {
        return;
    };
    if get {
        call.reply.optional_bulk(old.as_deref());
    } else if written {
        call.reply.simple("OK");
    } else {
        call.reply.null();
    }
}

/// `SETNX key value`: 1 if it was set.
pub fn setnx(call: &mut Call<'_, '_>) {
    let (key, value) = (call.args.get(1), call.args.get(2));
    if let Some((_, written)) =
        set_value(call, key, value, Deadline::Clear, Conditions { nx: true, ..Default::default() })
    {
        call.reply.integer(written as i64);
    }
}

fn set_expiring(call: &mut Call<'_, '_>, unit: Unit, command: &str) {
    let Some(deadline) = parse_positive_deadline(call, unit, call.args.get(2), command) else { return };
    let (key, value) = (call.args.get(1), call.args.get(3));
    if set_value(call, key, value, deadline, Conditions::default()).is_some() {
        call.reply.simple("OK");
    }
}

/// `SETEX key seconds value`
pub fn setex(call: &mut Call<'_, '_>) {
    set_expiring(call, Unit::Seconds, "setex")
}

/// `PSETEX key milliseconds value`
pub fn psetex(call: &mut Call<'_, '_>) {
    set_expiring(call, Unit::Millis, "psetex")
}

/// `GETSET key value`: sets, answering the old value.
pub fn getset(call: &mut Call<'_, '_>) {
    let (key, value) = (call.args.get(1), call.args.get(2));
    if let Some((old, _)) = set_value(call, key, value, Deadline::Clear, Conditions { get: true, ..Default::default() })
    {
        call.reply.optional_bulk(old.as_deref());
    }
}

/// `GETDEL key`: deletes, answering the value.
pub fn getdel(call: &mut Call<'_, '_>) {
    let old = call.update(call.args.get(1), |local| match local.bytes() {
        Some(old) => Decision::Write(local.value(None, None), Some(old)),
        None => Decision::Keep(None),
    });
    if let Some(old) = old {
        call.reply.optional_bulk(old.as_deref());
    }
}

/// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`: answers the value, changing its deadline.
pub fn getex(call: &mut Call<'_, '_>) {
    let deadline = match call.args.len() {
        2 => Deadline::Keep,
        3 if call.args.get(2).eq_ignore_ascii_case(b"PERSIST") => Deadline::Clear,
        4 => match Unit::of_option(call.args.get(2)) {
            Some(unit) => match parse_positive_deadline(call, unit, call.args.get(3), "getex") {
                Some(deadline) => deadline,
                None => return,
            },
            None => return call.reply.error("ERR syntax error"),
        },
        _ => return call.reply.error("ERR syntax error"),
    };
    let value = call.update(call.args.get(1), |local| {
        let value = local.bytes();
        match (&value, deadline) {
            (None, _) | (_, Deadline::Keep) => Decision::Keep(value),
            (Some(bytes), Deadline::Clear) if local.deadline_ms().is_some() => {
                Decision::Write(local.value(Some(bytes), None), value.clone())
            }
            (Some(_), Deadline::Clear) => Decision::Keep(value),
            (Some(_), Deadline::At(at)) if at <= local.now_ms() => {
                Decision::Write(local.value(None, None), value.clone())
            }
            (Some(bytes), Deadline::At(at)) => Decision::Write(local.value(Some(bytes), Some(at)), value.clone()),
        }
    });
    if let Some(value) = value {
        call.reply.optional_bulk(value.as_deref());
    }
}

/// The error for a string grown past the value bound.
fn too_big(call: &mut Call<'_, '_>) {
    call.reply.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
}

/// `APPEND key value`: the new length. Keeps the key's deadline.
pub fn append(call: &mut Call<'_, '_>) {
    let (key, suffix) = (call.args.get(1), call.args.get(2));
    let max = call.shell.config.limits.max_value_bytes;
    if !call.within_bounds(key, None) {
        return;
    }
    let length = call.update(key, |local| {
        let mut value = local.bytes().unwrap_or_default();
        if value.len() + suffix.len() > max {
            return Decision::Keep(None);
        }
        value.extend_from_slice(suffix);
        Decision::Write(local.value(Some(&value), local.deadline_ms()), Some(value.len()))
    });
    match length {
        Some(Some(length)) => call.reply.integer(length as i64),
        Some(None) => too_big(call),
        None => {}
    }
}

/// `SETRANGE key offset value`: the new length. Keeps the key's deadline.
pub fn setrange(call: &mut Call<'_, '_>) {
    let (key, patch) = (call.args.get(1), call.args.get(3));
    let Some(offset) = super::parse_int(call.args.get(2)) else {
        return call.reply.error(NOT_AN_INTEGER);
    };
    if offset < 0 {
        return call.reply.error("ERR offset is out of range");
    }
    let max = call.shell.config.limits.max_value_bytes;
    if !call.within_bounds(key, None) {
        return;
    }
    let length = call.update(key, |local| {
        let mut value = local.bytes();
        if patch.is_empty() {
            return Decision::Keep(Some(value.map_or(0, |v| v.len())));
        }
        let end = offset as u128 + patch.len() as u128;
        if end > max as u128 {
            return Decision::Keep(None);
        }
        let (offset, end) = (offset as usize, end as usize);
        let value = value.get_or_insert_with(Vec::new);
        if value.len() < end {
            value.resize(end, 0);
        }
        value[offset..end].copy_from_slice(patch);
        Decision::Write(local.value(Some(value), local.deadline_ms()), Some(value.len()))
    });
    match length {
        Some(Some(length)) => call.reply.integer(length as i64),
        Some(None) => too_big(call),
        None => {}
    }
}

/// `GETRANGE key start end` (and `SUBSTR`): the bytes between two inclusive offsets, negative
/// ones counting from the end, clamped as Redis clamps them.
pub fn getrange(call: &mut Call<'_, '_>) {
    let (Some(start), Some(end)) = (super::parse_int(call.args.get(2)), super::parse_int(call.args.get(3))) else {
        return call.reply.error(NOT_AN_INTEGER);
    };
    // Checked before clamping, as Redis does: both from the end and crossed is empty.
    let negative_and_crossed = start < 0 && end < 0 && start > end;
    let now_ms = call.now_ms();
    let reply = &mut *call.reply;
    call.shell.store().with_value(call.args.get(1), now_ms, |value| {
        let value = value.unwrap_or_default();
        let len = value.len() as i64;
        let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
        let (start, end) = (from_end(start), from_end(end).min(len - 1));
        if len == 0 || start > end || negative_and_crossed {
            reply.bulk(b"");
        } else {
            reply.bulk(&value[start as usize..=end as usize]);
        }
    });
}

/// `MSETNX key value [key value ...]`: sets them all only if none exists; 1 if set.
pub fn msetnx(call: &mut Call<'_, '_>) {
    if call.args.len().is_multiple_of(2) {
        return wrong_arity(call.reply, "msetnx");
    }
    let args = call.args;
    let pairs = || args.iter().skip(1).step_by(2).zip(args.iter().skip(2).step_by(2));
    if !pairs().all(|(key, value)| call.within_bounds(key, Some(value))) {
        return;
    }
    let now_ms = call.now_ms();
    if pairs().any(|(key, _)| call.shell.store().get_live(key, now_ms).is_some()) {
        return call.reply.integer(0);
    }
    for (key, value) in pairs() {
        if set_value(call, key, value, Deadline::Clear, Conditions::default()).is_none() {
            return;
        }
    }
    call.reply.integer(1);
}
