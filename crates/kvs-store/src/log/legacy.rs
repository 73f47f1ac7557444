//! Reading logs of format version 0, written before the log had a header: frames as today, bodies
//! in the wire codec's bincode, tags from the declaration order of the enum below. A node that
//! finds one replays it and compacts it into the current format before it serves; nothing writes
//! this format any more, and this file must keep the enum exactly as it was.

use super::format::{EntryRef, LogRecord};
use kvs_proto::peer::Cursors;
use kvs_proto::{NodeId, Version};
use serde::Deserialize;

/// The version-0 record, in its original variant order (bincode's tag is the variant's index).
#[derive(Deserialize)]
enum LegacyRecord<'a> {
    Header { node: NodeId, cursors: Cursors },
    Entry(#[serde(borrow)] (&'a [u8], LegacyEntry<'a>)),
    Cursors(Cursors),
}

#[derive(Deserialize)]
struct LegacyEntry<'a> {
    #[serde(borrow)]
    value: Option<&'a [u8]>,
    version: Version,
    seq: u64,
}

/// Decodes a checked version-0 body.
pub fn decode_body(body: &[u8]) -> Result<LogRecord<'_>, String> {
    let record: LegacyRecord<'_> =
        kvs_proto::encoding::decode_borrowed(body).map_err(|e| format!("undecodable version-0 record: {e}"))?;
    Ok(match record {
        LegacyRecord::Header { node, cursors } => LogRecord::Start { node, cursors },
        LegacyRecord::Entry((key, e)) => LogRecord::Entry(EntryRef::plain(key, e.value, e.version, e.seq)),
        LegacyRecord::Cursors(cursors) => LogRecord::Cursors(cursors),
    })
}
