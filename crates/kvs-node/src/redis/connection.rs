//! Connection-level commands: PING, ECHO, SELECT, HELLO, QUIT, CLIENT.

use super::{parse_int, Call};
use crate::users::LoginRefused;
use kvs_proto::resp::Protocol;

/// The Redis version kvs reports, so clients enable the RESP features it implements.
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

/// `PING [message]`
pub fn ping(call: &mut Call<'_, '_>) {
    let subscribed = call.client.pubsub.as_ref().is_some_and(|s| s.any());
    if subscribed && call.client.protocol == Protocol::Resp2 && call.args.len() <= 2 {
        // A RESP2 subscriber reads only arrays: Redis answers ["pong", message].
        call.reply.array(2);
        call.reply.bulk(b"pong");
        return call.reply.bulk(if call.args.len() == 2 { call.args.get(1) } else { b"" });
    }
    match call.args.len() {
        1 => call.reply.simple("PONG"),
        2 => call.reply.bulk(call.args.get(1)),
        _ => super::wrong_arity(call.reply, "ping"),
    }
}

/// `ECHO message`
pub fn echo(call: &mut Call<'_, '_>) {
    call.reply.bulk(call.args.get(1));
}

/// `QUIT`: answer OK, then the session closes.
pub fn quit(call: &mut Call<'_, '_>) {
    call.client.quit = true;
    call.reply.simple("OK");
}

/// Client names may not contain spaces or control characters, as in Redis.
pub(super) fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// `AUTH [username] password`: `default` is the user when only a password is given.
pub fn auth(call: &mut Call<'_, '_>) {
    let (user, password) = match call.args.len() {
        2 => (&b"default"[..], call.args.get(1)),
        3 => (call.args.get(1), call.args.get(2)),
        _ => return call.reply.error("ERR syntax error"),
    };
    if log_in(call, user, password) {
        call.reply.simple("OK");
    }
}

/// Failed logins one connection may make before it is closed: a guesser must reconnect, and
/// its address is slowed down meanwhile (see `login_throttle`).
pub const MAX_FAILED_LOGINS: u32 = 3;

/// Checks a user and password against the users file, replying with Redis's error if they do not
/// match (or if the node has no users); true when the connection is now that user's. The
/// connection closes after its third failure.
fn log_in(call: &mut Call<'_, '_>, user: &[u8], password: &[u8]) -> bool {
    let Some(users) = &call.shell.config.users else {
        call.reply.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return false;
    };
    let (user, password) = (String::from_utf8_lossy(user), String::from_utf8_lossy(password));
    match users.log_in(&user, &password, call.client.source, tokio::time::Instant::now()) {
        Ok(access) => {
            call.client.user = Some((user.into_owned(), access));
            true
        }
        Err(refused) => {
            match refused {
                LoginRefused::WrongPass => {
                    call.reply.error("WRONGPASS invalid username-password pair or user is disabled.")
                }
                LoginRefused::Throttled(wait) => call.reply.error(&format!(
                    "ERR too many failed logins from this address; try again in {} s",
                    wait.as_secs() + 1
                )),
            }
            call.client.failed_logins += 1;
            call.client.quit |= call.client.failed_logins >= MAX_FAILED_LOGINS;
            false
        }
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub fn hello(call: &mut Call<'_, '_>) {
    let mut protocol = call.client.protocol;
    if call.args.len() >= 2 {
        protocol = match parse_int(call.args.get(1)) {
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return call.reply.error("NOPROTO unsupported protocol version"),
            None => return call.reply.error("ERR Protocol version is not an integer or out of range"),
        };
    }
    let mut name = None;
    let mut i = 2;
    while i < call.args.len() {
        let option = call.args.get(i);
        if option.eq_ignore_ascii_case(b"AUTH") && i + 2 < call.args.len() {
            let (user, password) = (call.args.get(i + 1), call.args.get(i + 2));
            if !log_in(call, user, password) {
                return;
            }
            i += 3;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && i + 1 < call.args.len() {
            let candidate = call.args.get(i + 1);
            if !valid_name(candidate) {
                return call.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
            }
            name = Some(candidate.to_vec());
            i += 2;
        } else {
            let option = String::from_utf8_lossy(option).into_owned();
            return call.reply.error(&format!("ERR Syntax error in HELLO option '{option}'"));
        }
    }
    call.client.protocol = protocol;
    if name.is_some() {
        call.client.name = name;
    }
    let reply = &mut *call.reply;
    reply.set_protocol(protocol);
    reply.map(7);
    reply.bulk(b"server");
    reply.bulk(b"redis");
    reply.bulk(b"version");
    reply.bulk(REDIS_COMPAT_VERSION.as_bytes());
    reply.bulk(b"proto");
    reply.integer(if protocol == Protocol::Resp3 { 3 } else { 2 });
    reply.bulk(b"id");
    reply.integer(call.client.id as i64);
    reply.bulk(b"mode");
    reply.bulk(b"standalone");
    reply.bulk(b"role");
    reply.bulk(b"master");
    reply.bulk(b"modules");
    reply.array(0);
}

/// `RESET`: the connection as it was when it opened: no transaction or watched keys, RESP2, and
/// on a node with users, logged out.
pub fn reset(call: &mut Call<'_, '_>) {
    call.client.transaction = Default::default();
    if let Some(subscriptions) = &mut call.client.pubsub {
        subscriptions.leave_all(&call.shell.pubsub, call.client.id);
        call.clients.update(call.client.id, |c| c.subscriptions = [0; 3]);
    }
    if call.client.tracking.take().is_some() {
        call.shell.writes.observers.tracking.stop(call.client.id);
    }
    call.client.caching = None;
    call.client.db = 0;
    call.clients.update(call.client.id, |c| c.db = 0);
    call.client.protocol = kvs_proto::resp::Protocol::Resp2;
    call.reply.set_protocol(kvs_proto::resp::Protocol::Resp2);
    if call.shell.config.users.is_some() {
        call.client.user = None;
        call.clients.update(call.client.id, |c| c.user = "default".into());
    }
    call.reply.simple("RESET");
}
