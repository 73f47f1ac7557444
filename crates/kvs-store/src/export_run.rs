//! An export in progress, held by the store between pages (see [`crate::export`]).

use crate::record::Record;

/// An export in progress: every exportable record after where it started, sorted by key once,
/// so each later page is a slice of it rather than a walk of the whole store (which made an
/// export of 1M keys 0.23× `redis-cli --rdb`'s pace).
///
/// It holds the records as they were when the export started (a page leaves out those expired
/// since): the backup is the store as of its first page, as an RDB file is as of its fork.
#[derive(Debug)]
pub(crate) struct ExportRun {
    /// The key the export started after (`None`: from the first key).
    pub(crate) start: Option<Vec<u8>>,
    pub(crate) sorted: Vec<Record>,
    /// When a page was last served from it, in wall milliseconds.
    pub(crate) used_ms: u64,
}

/// An export run no page has asked for this long is dropped, with the records it holds.
pub const EXPORT_RUN_IDLE_MS: u64 = 60_000;

impl ExportRun {
    /// Whether a page after `after` at `now_ms` continues this run.
    pub(crate) fn continued_by(&self, after: Option<&[u8]>, now_ms: u64) -> bool {
        let Some(after) = after else { return false };
        !self.idle_at(now_ms) && self.start.as_deref().is_none_or(|start| start <= after)
    }

    /// Whether no page has asked for it for [`EXPORT_RUN_IDLE_MS`] by `now_ms`.
    pub(crate) fn idle_at(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.used_ms) >= EXPORT_RUN_IDLE_MS
    }
}
