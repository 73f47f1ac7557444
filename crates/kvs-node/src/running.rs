//! The client command running on this thread, for what its changes set off: the keyspace events
//! it fires, and whose change an invalidation is (CLIENT TRACKING's NOLOOP).
//!
//! A command runs on one thread without awaiting, from its start to its reply, so what a thread
//! holds while it runs is the command's.

use std::cell::Cell;

/// What runs: its name, the connection's id, and a number no other run on this thread had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running {
    /// The command's name (lower case).
    pub command: &'static str,
    /// The connection it came from (CLIENT ID).
    pub client: u64,
    /// Tells this run from the thread's others.
    pub run: u64,
}

thread_local! {
    static RUNNING: Cell<Option<Running>> = const { Cell::new(None) };
    static RUNS: Cell<u64> = const { Cell::new(0) };
}

/// Puts back what ran before however the run it guards ends, a panic included.
struct Restore(Option<Running>);

impl Drop for Restore {
    fn drop(&mut self) {
        RUNNING.set(self.0);
    }
}

/// Runs `f`, the command `command` of connection `client` (or the node's own work, such as an
/// eviction, under a name of its own, with client 0).
pub fn during<R>(command: &'static str, client: u64, f: impl FnOnce() -> R) -> R {
    let run = RUNS.get() + 1;
    RUNS.set(run);
    let _restore = Restore(RUNNING.replace(Some(Running { command, client, run })));
    f()
}

/// The command running on this thread, if a client's command runs.
pub fn now() -> Option<Running> {
    RUNNING.get()
}

/// Runs `f` as part of the running command, under the name `command`: a command whose writes
/// fire different events (LMOVE pops from one end of a list and pushes to an end of another)
/// names each. Outside a client's command, just runs `f`.
pub fn as_command<R>(command: &'static str, f: impl FnOnce() -> R) -> R {
    match RUNNING.get() {
        Some(running) => {
            let _restore = Restore(RUNNING.replace(Some(Running { command, ..running })));
            f()
        }
        None => f(),
    }
}
