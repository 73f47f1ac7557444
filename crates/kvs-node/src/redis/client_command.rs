//! `CLIENT`: what a connection says of itself (ID, SETNAME, INFO, REPLY, SETINFO), what it may do to
//! others (LIST, KILL, PAUSE, UNPAUSE, UNBLOCK), and HELP.

use super::connection::valid_name;
use super::{parse_int, Call, Replies};
use std::sync::atomic::Ordering;

/// `CLIENT PAUSE timeout [WRITE|ALL]`: holds back every command (ALL, the default) or every
/// command that writes (WRITE) of every Redis connection for `timeout` ms, CLIENT commands
/// excepted so that UNPAUSE gets through. The native port is not paused.
fn pause(call: &mut Call<'_, '_>) {
    let Some(ms) = parse_int(call.args.get(2)).filter(|&ms| ms >= 0) else {
        return call.reply.error("ERR timeout is not an integer or out of range");
    };
    let writes_only = match call.args.len() {
        3 => false,
        _ => match call.args.get(3).to_ascii_uppercase().as_slice() {
            b"WRITE" => true,
            b"ALL" => false,
            _ => return call.reply.error("ERR syntax error"),
        },
    };
    call.clients.pause(ms as u64, writes_only);
    call.reply.simple("OK");
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: ends connection `id`'s blocking command (WAIT, BLPOP, …), as if it
/// timed out or with an error; 1 if it was blocked, else 0.
fn unblock(call: &mut Call<'_, '_>) {
    let Some(id) = parse_int(call.args.get(2)) else {
        return call.reply.error(super::NOT_AN_INTEGER);
    };
    let with_error = match call.args.len() {
        3 => false,
        _ => match call.args.get(3).to_ascii_uppercase().as_slice() {
            b"TIMEOUT" => false,
            b"ERROR" => true,
            _ => return call.reply.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        },
    };
    let Some(target) = call.clients.get(id as u64) else { return call.reply.integer(0) };
    if !target.unblock.blocked.load(Ordering::Relaxed) {
        return call.reply.integer(0);
    }
    target.unblock.with_error.store(with_error, Ordering::Relaxed);
    target.unblock.asked.store(true, Ordering::Relaxed);
    target.unblock.notify.notify_waiters();
    call.reply.integer(1);
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
    } else if sub.eq_ignore_ascii_case(b"CAPA") && argc >= 3 {
        // Valkey's way for a client to say what it handles; `redirect`: it follows -MOVED and
        // -ASK, so it gets them rather than having its commands forwarded. Others are ignored.
        if call.args.iter().skip(2).any(|capability| capability.eq_ignore_ascii_case(b"redirect")) {
            call.client.follows_redirects = true;
        }
        call.reply.simple("OK");
    } else if sub.eq_ignore_ascii_case(b"SETINFO") && argc == 4 {
        // Client libraries announce their name and version; nothing here uses it.
        call.reply.simple("OK");
    } else if (sub.eq_ignore_ascii_case(b"NO-EVICT") || sub.eq_ignore_ascii_case(b"NO-TOUCH")) && argc == 3 {
        // NO-EVICT changes nothing: no connection is ever evicted here (no maxmemory-clients).
        let on = match call.args.get(2).to_ascii_uppercase().as_slice() {
            b"ON" => true,
            b"OFF" => false,
            _ => return call.reply.error("ERR syntax error"),
        };
        if sub.eq_ignore_ascii_case(b"NO-TOUCH") {
            call.client.no_touch = on;
        }
        call.reply.simple("OK")
    } else if sub.eq_ignore_ascii_case(b"LIST") {
        client_list(call);
    } else if sub.eq_ignore_ascii_case(b"KILL") && argc >= 3 {
        client_kill(call);
    } else if sub.eq_ignore_ascii_case(b"INFO") && argc == 2 {
        let me = call.clients.list().into_iter().filter(|(id, _)| *id == call.client.id).collect();
        let text = client_lines(call, me);
        call.reply.bulk(text.as_bytes());
    } else if sub.eq_ignore_ascii_case(b"PAUSE") && (argc == 3 || argc == 4) {
        pause(call);
    } else if sub.eq_ignore_ascii_case(b"UNPAUSE") && argc == 2 {
        call.clients.unpause();
        call.reply.simple("OK");
    } else if sub.eq_ignore_ascii_case(b"UNBLOCK") && (argc == 3 || argc == 4) {
        unblock(call);
    } else if sub.eq_ignore_ascii_case(b"REPLY") && argc == 3 {
        call.client.replies = match call.args.get(2).to_ascii_uppercase().as_slice() {
            b"ON" => Replies::On,
            b"OFF" => Replies::Off,
            b"SKIP" => Replies::SkipThisAndNext,
            _ => return call.reply.error("ERR syntax error"),
        };
        // ON's OK is sent; OFF's and SKIP's are taken back with the replies they turn off.
        call.reply.simple("OK");
    } else if sub.eq_ignore_ascii_case(b"TRACKING") && argc >= 3 {
        super::tracking::tracking(call);
    } else if sub.eq_ignore_ascii_case(b"CACHING") && argc == 3 {
        super::tracking::caching(call);
    } else if sub.eq_ignore_ascii_case(b"GETREDIR") && argc == 2 {
        super::tracking::getredir(call);
    } else if sub.eq_ignore_ascii_case(b"TRACKINGINFO") && argc == 2 {
        super::tracking::trackinginfo(call);
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
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [...]",
    "      Return clients with specified IDs only.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "CAPA <capability> [<capability> ...]",
    "    Tell the server what the client can handle. `redirect`: it follows -MOVED and -ASK.",
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
        let [sub, psub, ssub] = c.subscriptions;
        let flags = match type_of(&c) {
            ClientType::PubSub => "P",
            _ if c.unblock.blocked.load(Ordering::Relaxed) => "b",
            _ => "N",
        };
        let (multi, resp) = if id == call.client.id {
            let queued = call.client.transaction.queued.as_ref().map_or(-1, |q| q.len() as i64);
            (queued, if call.client.protocol == kvs_proto::resp::Protocol::Resp3 { 3 } else { 2 })
        } else {
            (-1, 2)
        };
        text.push_str(&format!(
            "id={id} addr={} laddr={} fd=0 name={name} age={age} idle=0 flags={flags} db={} sub={sub} psub={psub} \
             ssub={ssub} multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
             tot-mem=0 events=r cmd=client|list user={} redir=-1 resp={resp}\n",
            c.addr, c.laddr, c.db, c.user
        ));
    }
    text
}

/// The connection types CLIENT LIST and CLIENT KILL filter by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    /// No subscription.
    Normal,
    /// Subscribed to something (the `P` flag).
    PubSub,
    /// A replica or master link: kvs's Redis port has none.
    Replication,
}

fn client_type(name: &[u8]) -> Option<ClientType> {
    match name.to_ascii_lowercase().as_slice() {
        b"normal" => Some(ClientType::Normal),
        b"pubsub" => Some(ClientType::PubSub),
        b"master" | b"replica" | b"slave" => Some(ClientType::Replication),
        _ => None,
    }
}

fn type_of(client: &super::clients::Connected) -> ClientType {
    match client.subscriptions.iter().sum::<usize>() {
        0 => ClientType::Normal,
        _ => ClientType::PubSub,
    }
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]`
fn client_list(call: &mut Call<'_, '_>) {
    let mut clients = call.clients.list();
    if call.args.len() == 4 && call.args.get(2).eq_ignore_ascii_case(b"TYPE") {
        match client_type(call.args.get(3)) {
            Some(wanted) => clients.retain(|(_, c)| type_of(c) == wanted),
            None => {
                let name = String::from_utf8_lossy(call.args.get(3)).into_owned();
                return call.reply.error(&format!("ERR Unknown client type '{name}'"));
            }
        }
    } else if call.args.len() > 2 {
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
    let mut of_type = None;
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
            b"TYPE" => match client_type(value) {
                Some(wanted) => of_type = Some(wanted),
                None => return call.reply.error(&format!("ERR Unknown client type '{text}'")),
            },
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
            && of_type.is_none_or(|wanted| type_of(c) == wanted)
    });
    call.reply.integer(killed as i64);
}
