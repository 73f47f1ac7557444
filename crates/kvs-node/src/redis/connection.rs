//! Connection-level commands: PING, ECHO, SELECT, HELLO, QUIT, CLIENT.

use super::{parse_int, Call};
use crate::users::LoginRefused;
use kvs_proto::resp::Protocol;

/// The Redis version kvs reports, so clients enable the RESP features it implements.
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

/// `PING [message]`
pub fn ping(call: &mut Call<'_, '_>) {
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

/// `SELECT index`: kvs has one database, 0.
pub fn select(call: &mut Call<'_, '_>) {
    match parse_int(call.args.get(1)) {
        Some(0) => call.reply.simple("OK"),
        Some(_) => call.reply.error("ERR DB index is out of range"),
        None => call.reply.error("ERR value is not an integer or out of range"),
    }
}

/// `QUIT`: answer OK, then the session closes.
pub fn quit(call: &mut Call<'_, '_>) {
    call.client.quit = true;
    call.reply.simple("OK");
}

/// Client names may not contain spaces or control characters, as in Redis.
fn valid_name(name: &[u8]) -> bool {
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

/// `CLIENT ID | GETNAME | SETNAME name | SETINFO attr value`
pub fn client(call: &mut Call<'_, '_>) {
    let sub = call.args.get(1);
    let argc = call.args.len();
    if sub.eq_ignore_ascii_case(b"ID") && argc == 2 {
        call.reply.integer(call.client.id as i64);
    } else if sub.eq_ignore_ascii_case(b"GETNAME") && argc == 2 {
        let reply = &mut *call.reply;
        reply.optional_bulk(call.client.name.as_deref());
    } else if sub.eq_ignore_ascii_case(b"SETNAME") && argc == 3 {
        let name = call.args.get(2);
        if !valid_name(name) {
            return call.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
        }
        call.client.name = (!name.is_empty()).then(|| name.to_vec());
        let name = call.client.name.clone();
        call.clients.update(call.client.id, |c| c.name = name);
        call.reply.simple("OK");
    } else if sub.eq_ignore_ascii_case(b"SETINFO") && argc == 4 {
        // Client libraries announce their name and version; nothing here uses it.
        call.reply.simple("OK");
    } else if (sub.eq_ignore_ascii_case(b"NO-EVICT") || sub.eq_ignore_ascii_case(b"NO-TOUCH")) && argc == 3 {
        // Nothing is evicted and no access time is kept, so both switches change nothing.
        match call.args.get(2).to_ascii_uppercase().as_slice() {
            b"ON" | b"OFF" => call.reply.simple("OK"),
            _ => call.reply.error("ERR syntax error"),
        }
    } else if sub.eq_ignore_ascii_case(b"LIST") {
        client_list(call);
    } else if sub.eq_ignore_ascii_case(b"KILL") && argc >= 3 {
        client_kill(call);
    } else if sub.eq_ignore_ascii_case(b"INFO") && argc == 2 {
        let me = call.clients.list().into_iter().filter(|(id, _)| *id == call.client.id).collect();
        let text = client_lines(call, me);
        call.reply.bulk(text.as_bytes());
    } else if sub.eq_ignore_ascii_case(b"HELP") && argc == 2 {
        super::help::reply(call, "CLIENT", CLIENT_HELP);
    } else {
        super::help::unknown_subcommand(call, "CLIENT");
    }
}

const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * ID <client-id> [...]",
    "      Return clients with specified IDs only.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
];

/// One line per connection, as Redis's CLIENT LIST writes them (the fields tools read).
fn client_lines(call: &Call<'_, '_>, clients: Vec<(u64, super::clients::Connected)>) -> String {
    let now = tokio::time::Instant::now();
    let mut text = String::new();
    for (id, c) in clients {
        let name = c.name.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        let age = now.saturating_duration_since(c.since).as_secs();
        let (multi, resp) = if id == call.client.id {
            let queued = call.client.transaction.queued.as_ref().map_or(-1, |q| q.len() as i64);
            (queued, if call.client.protocol == kvs_proto::resp::Protocol::Resp3 { 3 } else { 2 })
        } else {
            (-1, 2)
        };
        text.push_str(&format!(
            "id={id} addr={} laddr={} fd=0 name={name} age={age} idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi={multi} \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|list \
             user={} redir=-1 resp={resp}\n",
            c.addr, c.laddr, c.user
        ));
    }
    text
}

/// `CLIENT LIST [ID id ...]`
fn client_list(call: &mut Call<'_, '_>) {
    let mut clients = call.clients.list();
    if call.args.len() > 2 {
        if !call.args.get(2).eq_ignore_ascii_case(b"ID") || call.args.len() < 4 {
            return call.reply.error("ERR syntax error");
        }
        let mut ids = Vec::new();
        for arg in call.args.iter().skip(3) {
            match parse_int(arg) {
                Some(id) if id > 0 => ids.push(id as u64),
                _ => return call.reply.error("ERR Invalid client ID"),
            }
        }
        clients.retain(|(id, _)| ids.contains(id));
    }
    let text = client_lines(call, clients);
    call.reply.bulk(text.as_bytes());
}

/// `CLIENT KILL addr:port` (the old form: OK or an error) or `CLIENT KILL <filter value> ...`
/// with ID, ADDR, LADDR, USER and SKIPME filters (the number killed).
fn client_kill(call: &mut Call<'_, '_>) {
    let me = call.client.id;
    if call.args.len() == 3 {
        let addr = String::from_utf8_lossy(call.args.get(2)).into_owned();
        let killed = call.clients.kill(|_, c| c.addr.to_string() == addr);
        return if killed > 0 { call.reply.simple("OK") } else { call.reply.error("ERR No such client") };
    }
    if !call.args.len().is_multiple_of(2) {
        return call.reply.error("ERR syntax error");
    }
    let (mut id, mut addr, mut laddr, mut user, mut skip_me) = (None, None, None, None, true);
    for pair in 1..call.args.len() / 2 {
        let (filter, value) = (call.args.get(pair * 2), call.args.get(pair * 2 + 1));
        let text = String::from_utf8_lossy(value).into_owned();
        match filter.to_ascii_uppercase().as_slice() {
            b"ID" => match parse_int(value) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return call.reply.error("ERR client-id should be greater than 0"),
            },
            b"ADDR" => addr = Some(text),
            b"LADDR" => laddr = Some(text),
            b"USER" => user = Some(text),
            b"SKIPME" => match text.to_ascii_lowercase().as_str() {
                "yes" => skip_me = true,
                "no" => skip_me = false,
                _ => return call.reply.error("ERR syntax error"),
            },
            _ => return call.reply.error("ERR syntax error"),
        }
    }
    let killed = call.clients.kill(|cid, c| {
        id.is_none_or(|id| id == cid)
            && addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
            && laddr.as_ref().is_none_or(|a| *a == c.laddr.to_string())
            && user.as_ref().is_none_or(|u| *u == c.user)
            && !(skip_me && cid == me)
    });
    call.reply.integer(killed as i64);
}

/// `RESET`: the connection as it was when it opened: no transaction or watched keys, RESP2, and
/// on a node with users, logged out.
pub fn reset(call: &mut Call<'_, '_>) {
    call.client.transaction = Default::default();
    call.client.protocol = kvs_proto::resp::Protocol::Resp2;
    call.reply.set_protocol(kvs_proto::resp::Protocol::Resp2);
    if call.shell.config.users.is_some() {
        call.client.user = None;
        call.clients.update(call.client.id, |c| c.user = "default".into());
    }
    call.reply.simple("RESET");
}
