//! SELECT, MOVE and SWAPDB: the commands that move between databases (how a command runs in
//! the selected one is `database_keys`).

use super::database_keys::database;
use super::Call;
use kvs_store::databases::{self, stored_key, user_key};
use kvs_store::local::Decision;

/// `SELECT index`
pub fn select(call: &mut Call<'_, '_>) {
    match database(call, 1) {
        Ok(db) => {
            call.client.db = db;
            call.clients.update(call.client.id, |c| c.db = db);
            call.reply.simple("OK")
        }
        Err(error) => call.reply.error(error),
    }
}

/// `MOVE key db`: the key copied to `db` (unless it exists there) and deleted here.
pub fn move_key(call: &mut Call<'_, '_>) {
    let to = match database(call, 2) {
        Ok(to) => to,
        Err(error) => return call.reply.error(error),
    };
    if to == call.client.db {
        return call.reply.error("ERR source and destination objects are the same");
    }
    let from = call.args.get(1).to_vec();
    let target = stored_key(to, user_key(&from)).into_owned();
    match super::keys::copy_key(call, &from, &target, false, true) {
        Some(Some(moved)) => call.reply.integer(moved as i64),
        Some(None) => call.reply.integer(0),
        None => {}
    }
}

/// A key's value and deadline as SWAPDB found it (`None`: absent).
type Found = Option<(Vec<u8>, Option<u64>)>;

/// Keys SWAPDB rewrites at most: it is a replicated write of every key of both databases.
const SWAPDB_MAX_KEYS: usize = 100_000;

/// `SWAPDB index1 index2`: every key of each database written into the other, as one unit.
///
/// Redis swaps two pointers; in a cluster where every node takes writes there is no pointer to
/// swap everywhere at once, so each key is rewritten (its value and deadline) in one transaction
/// unit that every node applies whole. A write made meanwhile on another node to one of these
/// keys wins or loses against the rewrite by version, as any write does.
pub fn swapdb(call: &mut Call<'_, '_>) {
    let (a, b) = match (database(call, 1), database(call, 2)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(error), _) | (_, Err(error)) => return call.reply.error(error),
    };
    if a == b {
        return call.reply.simple("OK");
    }
    let shell = call.shell;
    // Alone, as EXEC runs (inside EXEC it already is): no reader sees half a swap.
    let own_unit = call.client.transaction.unit.is_none();
    let _alone = own_unit.then(|| shell.core.isolation.write().unwrap_or_else(|p| p.into_inner()));
    let now_ms = call.now_ms();
    let held = |db: u8| {
        let (mut cursor, mut keys) = (0, Vec::new());
        loop {
            // A shard at a time, so a database past the bound is refused before it is all copied.
            let (next, found) = shell.store().scan(cursor, 1, now_ms, |k| databases::database_of(k) == db);
            keys.extend(found);
            if next == 0 || keys.len() > SWAPDB_MAX_KEYS {
                return keys;
            }
            cursor = next;
        }
    };
    let (in_a, in_b) = (held(a), held(b));
    if in_a.len() + in_b.len() > SWAPDB_MAX_KEYS {
        return call.reply.error(&format!(
            "ERR SWAPDB rewrites every key of both databases; these hold more than {SWAPDB_MAX_KEYS} (use MOVE or a new database)"
        ));
    }
    let snapshot =
        |stored: &[u8]| shell.store().get_live(stored, now_ms).and_then(|r| Some((r.read_bytes()?, r.deadline_ms())));
    let mut writes: Vec<(Vec<u8>, Found)> = Vec::new();
    for key in in_a.iter().chain(&in_b) {
        let user = user_key(key);
        for (to, from) in [(a, b), (b, a)] {
            let target = stored_key(to, user).into_owned();
            if writes.iter().all(|(k, _)| *k != target) {
                writes.push((target, snapshot(&stored_key(from, user))));
            }
        }
    }
    if own_unit {
        call.client.transaction.unit = Some(Vec::new());
    }
    let mut refused = false;
    for (key, value) in &writes {
        let (value, deadline) = match value {
            Some((value, deadline)) => (Some(value.as_slice()), *deadline),
            None => (None, None),
        };
        if call.update(key, |local| Decision::Write(local.value(value, deadline), ())).is_none() {
            refused = true;
            break;
        }
    }
    if own_unit {
        let unit = call.client.transaction.unit.take().unwrap_or_default();
        shell.writes.push_unit(&shell.core, unit);
    }
    if !refused {
        call.reply.simple("OK");
    }
}
