//! The hints this node keeps as a stand-in for owners that are down, and their handing over once
//! an owner is back (docs/partitioning.md, "Owners that are down"; who stands in for whom is the core's rule,
//! `core/stand_ins.rs`).
//!
//! Hints are bounded by `--max-hint-bytes` across owners: past it a hint is refused and counted,
//! since the write's origin and the slot's live owners hold it anyway. On a durable node each
//! owner's hints are also a file in the data dir's `hints/`, in the log's format
//! ([`kvs_store::log::hint_file`]), synced within a hand-over tick and read back at start.
//! Handing them over is [`crate::hint_hand_over`]'s.

use kvs_proto::NodeId;
use kvs_store::log::hint_file;
use kvs_store::replica::entry_cost;
use kvs_store::Record;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// A batch not answered in this long is offered again (the link may have dropped it).
const UNANSWERED_AFTER: Duration = Duration::from_secs(10);

/// What hints did since the node started (INFO's cluster section).
#[derive(Debug, Default)]
pub(crate) struct HintStats {
    /// Writes kept as hints.
    pub(crate) kept: AtomicU64,
    /// Writes refused as hints: the bound was reached.
    pub(crate) refused: AtomicU64,
    /// Hints an owner took.
    pub(crate) handed_over: AtomicU64,
}

/// The hints kept for one owner.
#[derive(Debug, Default)]
struct OwnerHints {
    /// Oldest first.
    records: Vec<Record>,
    /// Their cost, as [`entry_cost`] counts it.
    bytes: usize,
    /// Bytes its file holds, those handed over included (the file is rewritten when they
    /// are most of it, and removed once every hint is taken).
    file_bytes: usize,
    /// The batch handed over and not yet answered.
    offered: Option<Offered>,
}

/// A batch handed to an owner.
#[derive(Debug)]
struct Offered {
    id: u64,
    count: usize,
    bytes: usize,
    at: Instant,
}

/// Every owner's hints.
#[derive(Debug, Default)]
struct HintsState {
    owners: BTreeMap<NodeId, OwnerHints>,
    /// Their cost together.
    bytes: usize,
    /// The last batch id given; it starts from the run's origin, so an answer meant for a batch
    /// of an earlier run of this node never matches one of this run.
    last_id: u64,
    /// Owners whose files were written since the last sync.
    unsynced: BTreeSet<NodeId>,
}

/// The hints this node keeps for owners that are down.
#[derive(Debug)]
pub(crate) struct Hints {
    /// `hints/` in the data dir (`None`: memory only).
    dir: Option<PathBuf>,
    /// The bound on their cost together.
    max_bytes: usize,
    state: Mutex<HintsState>,
    /// What they did.
    pub(crate) stats: HintStats,
}

impl Hints {
    /// The hints a durable node kept in `data_dir` before it stopped (frames of at most `max_body`
    /// bytes), or none, for this run of the node, whose origin is `origin`.
    pub(crate) fn open(data_dir: Option<&Path>, max_bytes: usize, max_body: usize, origin: NodeId) -> Hints {
        let dir = data_dir.and_then(|dir| match hint_file::directory(dir) {
            Ok(dir) => Some(dir),
            Err(error) => {
                tracing::warn!(%error, "cannot use the hints directory: hints kept in memory only");
                None
            }
        });
        let mut state = HintsState { last_id: origin.0, ..HintsState::default() };
        let files = dir.as_deref().map(hint_file::list).transpose().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot list the hint files: those hints given up");
            None
        });
        for (owner, path) in files.into_iter().flatten() {
            match hint_file::read(&path, max_body) {
                Ok(read) => {
                    if read.lost_bytes > 0 {
                        tracing::warn!(file = %path.display(), lost_bytes = read.lost_bytes, "hint file cut short: the rest given up");
                    }
                    let bytes = read.records.iter().map(entry_cost).sum();
                    let file_bytes = file_bytes(read.records.len(), bytes);
                    state.bytes += bytes;
                    state.owners.insert(owner, OwnerHints { records: read.records, bytes, file_bytes, offered: None });
                }
                Err(error) => tracing::warn!(%error, "cannot read a hint file: its hints given up"),
            }
        }
        if !state.owners.is_empty() {
            tracing::info!(owners = state.owners.len(), bytes = state.bytes, "hints read back from the data dir");
        }
        Hints { dir, max_bytes, state: Mutex::new(state), stats: HintStats::default() }
    }

    fn state(&self) -> MutexGuard<'_, HintsState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn path(&self, owner: NodeId) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| hint_file::path(dir, owner))
    }

    /// Keeps `records` for `owner`, as many as the bound allows.
    pub(crate) fn keep(&self, owner: NodeId, mut records: Vec<Record>) {
        let mut state = self.state();
        let mut room = self.max_bytes.saturating_sub(state.bytes);
        let fits = records
            .iter()
            .take_while(|record| {
                let cost = entry_cost(record);
                let fits = cost <= room;
                room = room.saturating_sub(cost);
                fits
            })
            .count();
        let refused = records.len() - fits;
        if refused > 0 {
            if self.stats.refused.fetch_add(refused as u64, Ordering::Relaxed) == 0 {
                tracing::warn!(%owner, refused, max_bytes = self.max_bytes, "hints past --max-hint-bytes refused (their writes' other copies remain)");
            }
            records.truncate(fits);
        }
        if records.is_empty() {
            return;
        }
        let bytes: usize = records.iter().map(entry_cost).sum();
        if let Some(path) = self.path(owner) {
            match hint_file::append(&path, &records) {
                Ok(()) => drop(state.unsynced.insert(owner)),
                Err(error) => tracing::warn!(%error, "cannot write hints: kept in memory only"),
            }
        }
        self.stats.kept.fetch_add(records.len() as u64, Ordering::Relaxed);
        state.bytes += bytes;
        let hints = state.owners.entry(owner).or_default();
        hints.bytes += bytes;
        hints.file_bytes += file_bytes(records.len(), bytes);
        hints.records.extend(records);
    }

    /// How many owners have hints here, how many hints, and their cost.
    pub(crate) fn held(&self) -> (usize, usize, usize) {
        let state = self.state();
        let records = state.owners.values().map(|hints| hints.records.len()).sum();
        (state.owners.len(), records, state.bytes)
    }

    /// The next batch for `owner` (up to `max_bytes`), unless one is awaiting its answer.
    pub(crate) fn next_batch(&self, owner: NodeId, max_bytes: usize, now: Instant) -> Option<(u64, Vec<Record>)> {
        let mut state = self.state();
        let id = state.last_id.wrapping_add(1);
        let hints = state.owners.get_mut(&owner)?;
        if hints.offered.as_ref().is_some_and(|offered| now.duration_since(offered.at) < UNANSWERED_AFTER) {
            return None;
        }
        let (mut bytes, mut batch) = (0, Vec::new());
        for record in &hints.records {
            if !batch.is_empty() && bytes + entry_cost(record) > max_bytes {
                break;
            }
            bytes += entry_cost(record);
            batch.push(record.clone());
        }
        hints.offered = Some(Offered { id, count: batch.len(), bytes, at: now });
        state.last_id = id;
        Some((id, batch))
    }

    /// The batch `id` could not be handed to `owner` (no link to it yet): offered again next time.
    pub(crate) fn withdraw(&self, owner: NodeId, id: u64) {
        if let Some(hints) = self.state().owners.get_mut(&owner) {
            hints.offered.take_if(|offered| offered.id == id);
        }
    }

    /// `from` took the batch `id`: true if it was the one offered to it, whose hints are dropped.
    pub(crate) fn taken(&self, from: NodeId, id: u64) -> bool {
        let mut state = self.state();
        let Some(hints) = state.owners.get_mut(&from) else { return false };
        let Some(offered) = hints.offered.take_if(|offered| offered.id == id) else { return false };
        hints.records.drain(..offered.count);
        hints.bytes -= offered.bytes;
        let rewrite =
            (hints.file_bytes > 2 * file_bytes(hints.records.len(), hints.bytes)).then(|| hints.records.clone());
        if hints.records.is_empty() {
            state.owners.remove(&from);
        }
        state.bytes -= offered.bytes;
        self.stats.handed_over.fetch_add(offered.count as u64, Ordering::Relaxed);
        drop(state);
        if let (Some(path), Some(left)) = (self.path(from), rewrite) {
            // Removed once empty; else rewritten when hints handed over are most of it.
            match hint_file::rewrite(&path, &left) {
                Ok(()) => {
                    if let Some(hints) = self.state().owners.get_mut(&from) {
                        hints.file_bytes = file_bytes(hints.records.len(), hints.bytes);
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot rewrite a hint file"),
            }
        }
        true
    }

    /// Syncs the files written since last time (hints are a spare copy: a crash before may lose
    /// the last of them, never the write).
    pub(crate) fn sync(&self) {
        let unsynced = std::mem::take(&mut self.state().unsynced);
        for owner in unsynced {
            let Some(path) = self.path(owner) else { continue };
            if let Err(error) = hint_file::sync(&path) {
                tracing::debug!(%error, "cannot sync a hint file");
            }
        }
    }

    /// Drops every hint for `owner`, which the layout no longer names: nobody would take them.
    pub(crate) fn forget(&self, owner: NodeId) {
        let Some(hints) = self.state().owners.remove(&owner) else { return };
        self.state().bytes -= hints.bytes;
        tracing::info!(%owner, hints = hints.records.len(), "hints for a member no layout names given up");
        if let Some(path) = self.path(owner) {
            if let Err(error) = hint_file::rewrite(&path, &[]) {
                tracing::warn!(%error, "cannot remove a hint file");
            }
        }
    }

    pub(crate) fn owners(&self) -> Vec<NodeId> {
        self.state().owners.keys().copied().collect()
    }
}

/// About how many bytes a hint file of `records` hints costing `bytes` holds: each frame adds
/// its length, checksum and tag to the record.
fn file_bytes(records: usize, bytes: usize) -> usize {
    bytes + records * 16
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_proto::Version;

    fn record(key: &str, seq: u64) -> Record {
        Record::new(key.as_bytes(), Some(b"value"), Version { wall_ms: 1_000, logical: 0, node: NodeId(9) }, seq)
    }

    #[test]
    fn hints_are_bounded_read_back_at_start_and_dropped_once_taken_by_the_owner_offered() {
        let dir = tempfile::tempdir().unwrap();
        let cost = entry_cost(&record("k0", 1));
        let hints = Hints::open(Some(dir.path()), 3 * cost, 1 << 20, NodeId(1));
        hints.keep(NodeId(2), (1..=4).map(|i| record(&format!("k{i}"), i)).collect());
        assert_eq!(hints.held(), (1, 3, 3 * cost), "the fourth is past the bound");
        assert_eq!(hints.stats.refused.load(Ordering::Relaxed), 1);

        let again = Hints::open(Some(dir.path()), 3 * cost, 1 << 20, NodeId(2));
        assert_eq!(again.held(), (1, 3, 3 * cost), "read back from the data dir");

        let now = Instant::now();
        let (id, batch) = again.next_batch(NodeId(2), 2 * cost, now).unwrap();
        assert_eq!(batch.len(), 2);
        assert!(again.next_batch(NodeId(2), 2 * cost, now).is_none(), "one batch awaits its answer");
        assert!(!again.taken(NodeId(3), id), "only the owner offered may take it");
        assert!(!again.taken(NodeId(2), id + 1), "only the batch offered");
        assert!(again.taken(NodeId(2), id));
        assert!(!again.taken(NodeId(2), id), "once");
        let (id, batch) = again.next_batch(NodeId(2), 2 * cost, now).unwrap();
        assert_eq!(batch.len(), 1);
        assert!(again.taken(NodeId(2), id));
        assert_eq!(again.held(), (0, 0, 0));
        assert_eq!(std::fs::read_dir(dir.path().join("hints")).unwrap().count(), 0, "its file removed");
    }
}
