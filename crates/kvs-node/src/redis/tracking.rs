//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (see [`crate::tracking`]), and what a
//! tracking connection's reads leave behind.

use super::database_keys::KeySpec;
use super::{parse_int, Call};
use crate::tracking::Mode;
use bytes::Bytes;

/// Prefixes a BCAST connection may give (each a buffer the node keeps and checks every change
/// against).
pub const MAX_PREFIXES: usize = 1024;

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
pub fn tracking(call: &mut Call<'_, '_>) {
    let on = match call.args.get(2).to_ascii_uppercase().as_slice() {
        b"ON" => true,
        b"OFF" => false,
        _ => return call.reply.error("ERR syntax error"),
    };
    let mut mode = Mode::default();
    let mut i = 3;
    while i < call.args.len() {
        let option = call.args.get(i).to_ascii_uppercase();
        let value = (i + 1 < call.args.len()).then(|| call.args.get(i + 1));
        match (option.as_slice(), value) {
            (b"REDIRECT", Some(id)) => match parse_int(id) {
                Some(id) if id > 0 => {
                    mode.redirect = id as u64;
                    i += 1;
                }
                _ => return call.reply.error("ERR Invalid client ID"),
            },
            (b"PREFIX", Some(prefix)) => {
                mode.prefixes.push(Bytes::copy_from_slice(prefix));
                i += 1;
            }
            (b"BCAST", _) => mode.bcast = true,
            (b"OPTIN", _) => mode.optin = true,
            (b"OPTOUT", _) => mode.optout = true,
            (b"NOLOOP", _) => mode.noloop = true,
            _ => return call.reply.error("ERR syntax error"),
        }
        i += 1;
    }
    let tracking = &call.shell.writes.observers.tracking;
    if !on {
        tracking.stop(call.client.id);
        call.client.tracking = None;
        call.client.caching = None;
        return call.reply.simple("OK");
    }
    if let Err(message) = check(call.client.tracking.as_ref(), &mut mode) {
        return call.reply.error(&message);
    }
    let own = call.client.mailbox.clone();
    let target = match mode.redirect {
        0 => own.clone(),
        id if id == call.client.id => own.clone(),
        id => match call.clients.get(id) {
            Some(target) => target.mailbox,
            None => return call.reply.error("ERR The client ID you want redirect to does not exist"),
        },
    };
    tracking.start(call.client.id, mode.clone(), &own, &target);
    call.client.tracking = Some(mode);
    call.reply.simple("OK");
}

/// Checks a new `mode` against the connection's current one (`was`), merging a BCAST
/// connection's prefixes as Redis does; the error to answer otherwise.
fn check(was: Option<&Mode>, mode: &mut Mode) -> Result<(), String> {
    if !mode.prefixes.is_empty() && !mode.bcast {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if mode.optin && mode.optout {
        return Err("ERR You can't use OPTIN and OPTOUT at the same time".into());
    }
    if let Some(was) = was {
        if was.bcast != mode.bcast || was.optin != mode.optin || was.optout != mode.optout {
            return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then \
                        re-enabling it with a different mode."
                .into());
        }
        let mut all = was.prefixes.clone();
        for prefix in std::mem::take(&mut mode.prefixes) {
            if !all.contains(&prefix) {
                all.push(prefix);
            }
        }
        mode.prefixes = all;
    }
    if mode.prefixes.len() > MAX_PREFIXES {
        return Err(format!("ERR a connection tracks at most {MAX_PREFIXES} prefixes"));
    }
    for (i, a) in mode.prefixes.iter().enumerate() {
        for b in &mode.prefixes[i + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
                return Err(format!(
                    "ERR Prefix '{b}' overlaps with an existing prefix '{a}'. Prefixes for a single client must not overlap."
                ));
            }
        }
    }
    Ok(())
}

/// `CLIENT CACHING YES|NO`: whether the next command's reads are remembered (OPTIN, OPTOUT).
pub fn caching(call: &mut Call<'_, '_>) {
    let yes = match call.args.get(2).to_ascii_uppercase().as_slice() {
        b"YES" => true,
        b"NO" => false,
        _ => return call.reply.error("ERR syntax error"),
    };
    match &call.client.tracking {
        Some(mode) if yes && mode.optin => {}
        Some(mode) if !yes && mode.optout => {}
        Some(_) if yes => return call.reply.error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."),
        Some(_) => return call.reply.error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."),
        None => {
            return call.reply.error(
                "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
            )
        }
    }
    call.client.caching = Some(yes);
    call.reply.simple("OK");
}

/// `CLIENT GETREDIR`: -1 without tracking, 0 tracking without a redirect, else its target.
pub fn getredir(call: &mut Call<'_, '_>) {
    let redirect = call.client.tracking.as_ref().map_or(-1, |mode| mode.redirect as i64);
    call.reply.integer(redirect);
}

/// `CLIENT TRACKINGINFO`: flags, redirect and prefixes.
pub fn trackinginfo(call: &mut Call<'_, '_>) {
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &call.client.tracking {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(mode) => {
            flags.push("on");
            for (set, name) in [(mode.bcast, "bcast"), (mode.optin, "optin"), (mode.optout, "optout")] {
                if set {
                    flags.push(name);
                }
            }
            match call.client.caching {
                Some(true) => flags.push("caching-yes"),
                Some(false) => flags.push("caching-no"),
                None => {}
            }
            if mode.noloop {
                flags.push("noloop");
            }
            if call.shell.writes.observers.tracking.redirect_broken(call.client.id) {
                flags.push("broken_redirect");
            }
            (mode.redirect as i64, mode.prefixes.clone())
        }
    };
    call.reply.map(3);
    call.reply.bulk(b"flags");
    call.reply.set(flags.len());
    for flag in flags {
        call.reply.bulk(flag.as_bytes());
    }
    call.reply.bulk(b"redirect");
    call.reply.integer(redirect);
    call.reply.bulk(b"prefixes");
    call.reply.array(prefixes.len());
    for prefix in prefixes {
        call.reply.bulk(&prefix);
    }
}

/// After a command: a read-only command of a tracking connection in the default mode leaves its
/// keys remembered (unless OPTIN without CACHING YES, or OPTOUT after CACHING NO), and CLIENT
/// CACHING's word holds for one command only.
/// The command is `name`, `readonly` or not, with its keys at `keys`.
pub fn after_command(call: &mut Call<'_, '_>, name: &str, readonly: bool, keys: KeySpec) {
    let Some(mode) = &call.client.tracking else { return };
    let caching_now = name == "client" && call.args.get(1).eq_ignore_ascii_case(b"CACHING");
    if caching_now {
        return;
    }
    let caching = call.client.caching.take();
    let remember = !mode.bcast
        && readonly
        && match (mode.optin, mode.optout) {
            (true, _) => caching == Some(true),
            (_, true) => caching != Some(false),
            _ => true,
        };
    if remember {
        let keys = super::database_keys::key_positions(keys, &call.args).map(|at| call.args.get(at));
        call.shell.writes.observers.tracking.remember(call.client.id, keys);
    }
}
