//! The log's framing: `[body length: u32 LE][CRC32 of body: u32 LE][body]`, body a bincode record.
//!
//! A crash can leave the last frame half written; its length runs past the end of the file or its
//! checksum fails, and replay stops there and drops it rather than load garbage.

use kvs_proto::peer::{Cursors, KeyedEntry};
use kvs_proto::NodeId;
use serde::{Deserialize, Serialize};

/// Bytes before every body.
pub const FRAME_HEADER_BYTES: usize = 8;

/// One record of the log. Generic over the entry type so the writer can log store records without
/// copying them; they serialize like [`KeyedEntry`], which replay decodes.
#[derive(Debug, Serialize, Deserialize)]
pub enum LogRecord<E = KeyedEntry> {
    /// First in every log file: whose log this is and where its cursors stood when it was written.
    Header {
        /// The node the log belongs to.
        node: NodeId,
        /// Cursors at the time the file was started (a rewrite's snapshot point).
        cursors: Cursors,
    },
    /// An entry that was applied to the store.
    Entry(E),
    /// Cursors adopted after a completed anti-entropy round.
    Cursors(Cursors),
}

/// [`LogRecord`] decoded in place: keys and values borrow from the log buffer, so replay copies
/// each entry's bytes once, straight into its [`crate::Record`].
#[derive(Debug, Deserialize)]
pub enum LogRecordRef<'a> {
    /// See [`LogRecord::Header`].
    Header {
        /// The node the log belongs to.
        node: NodeId,
        /// Cursors when the file was started.
        cursors: Cursors,
    },
    /// See [`LogRecord::Entry`].
    Entry(#[serde(borrow)] (&'a [u8], EntryRef<'a>)),
    /// See [`LogRecord::Cursors`].
    Cursors(Cursors),
}

/// An entry borrowing its value from the log buffer; same layout as [`kvs_proto::Entry`].
#[derive(Debug, Deserialize)]
pub struct EntryRef<'a> {
    /// The value, or `None` for a tombstone.
    #[serde(borrow)]
    pub value: Option<&'a [u8]>,
    /// The write's version.
    pub version: kvs_proto::Version,
    /// The write's sequence number at its origin.
    pub seq: u64,
}

/// Appends one framed record to `out`.
pub fn encode_frame<E: Serialize>(out: &mut Vec<u8>, record: &LogRecord<E>) -> Result<(), String> {
    let body = kvs_proto::encoding::encode(record).map_err(|e| e.to_string())?;
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// Where the frame at `pos` ends, checking only its length (the checksum is checked when decoded).
pub fn frame_end(data: &[u8], pos: usize, max_body: usize) -> Result<usize, String> {
    let rest = &data[pos..];
    if rest.len() < FRAME_HEADER_BYTES {
        return Err(format!("{} stray bytes at the end", rest.len()));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    if len > max_body {
        return Err(format!("frame length {len} exceeds {max_body}"));
    }
    if rest.len() < FRAME_HEADER_BYTES + len {
        return Err(format!("frame of {len} bytes cut short at {} bytes", rest.len() - FRAME_HEADER_BYTES));
    }
    Ok(pos + FRAME_HEADER_BYTES + len)
}

/// Checks and decodes the whole frame `data[start..end]` found by [`frame_end`].
pub fn decode_frame(data: &[u8], start: usize, end: usize) -> Result<LogRecordRef<'_>, String> {
    let crc = u32::from_le_bytes(data[start + 4..start + 8].try_into().expect("4 bytes"));
    let body = &data[start + FRAME_HEADER_BYTES..end];
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    kvs_proto::encoding::decode_borrowed(body).map_err(|e| format!("undecodable record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kvs_proto::{Entry, Version};

    fn entry(i: u8) -> LogRecord {
        let version = Version { wall_ms: 1, logical: 0, node: NodeId(2) };
        LogRecord::Entry((
            Bytes::from(vec![i]),
            Entry { value: Some(Bytes::from_static(b"v")), version, seq: i as u64 },
        ))
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_detected() {
        let mut log = Vec::new();
        encode_frame(&mut log, &entry(1)).unwrap();
        let first = log.len();
        encode_frame(&mut log, &entry(2)).unwrap();
        assert_eq!(frame_end(&log, 0, 1 << 20), Ok(first));
        assert!(matches!(decode_frame(&log, 0, first), Ok(LogRecordRef::Entry((key, _))) if key == [1]));
        for cut in first + 1..log.len() {
            assert!(frame_end(&log[..cut], first, 1 << 20).is_err(), "cut at {cut}");
        }
        for flip in first..log.len() {
            let mut bad = log.clone();
            bad[flip] ^= 0x40;
            let damaged = match frame_end(&bad, first, 1 << 20) {
                Ok(end) => decode_frame(&bad, first, end).is_err() || end != log.len(),
                Err(_) => true,
            };
            assert!(damaged, "flip at {flip}");
        }
    }
}
