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

/// Appends one framed record to `out`.
pub fn encode_frame<E: Serialize>(out: &mut Vec<u8>, record: &LogRecord<E>) -> Result<(), String> {
    let body = kvs_proto::encoding::encode(record).map_err(|e| e.to_string())?;
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// What reading a frame at some offset found.
#[derive(Debug)]
pub enum Frame {
    /// A whole, intact record and the offset after it.
    Record(LogRecord, usize),
    /// Clean end of the log.
    End,
    /// A torn or corrupt frame starts here; everything from here on is dropped.
    Damaged(String),
}

/// Reads the frame at `pos`; bodies longer than `max_body` count as damage.
pub fn read_frame(data: &[u8], pos: usize, max_body: usize) -> Frame {
    let rest = &data[pos..];
    if rest.is_empty() {
        return Frame::End;
    }
    if rest.len() < FRAME_HEADER_BYTES {
        return Frame::Damaged(format!("{} stray bytes at the end", rest.len()));
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len > max_body {
        return Frame::Damaged(format!("frame length {len} exceeds {max_body}"));
    }
    let Some(body) = rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len) else {
        return Frame::Damaged(format!("frame of {len} bytes cut short at {} bytes", rest.len() - FRAME_HEADER_BYTES));
    };
    if crc32fast::hash(body) != crc {
        return Frame::Damaged("checksum mismatch".into());
    }
    match kvs_proto::encoding::decode(body) {
        Ok(record) => Frame::Record(record, pos + FRAME_HEADER_BYTES + len),
        Err(error) => Frame::Damaged(format!("undecodable record: {error}")),
    }
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
        assert!(matches!(read_frame(&log, 0, 1 << 20), Frame::Record(_, end) if end == first));
        for cut in first + 1..log.len() {
            assert!(matches!(read_frame(&log[..cut], first, 1 << 20), Frame::Damaged(_)), "cut at {cut}");
        }
        for flip in first..log.len() {
            let mut bad = log.clone();
            bad[flip] ^= 0x40;
            assert!(!matches!(read_frame(&bad, first, 1 << 20), Frame::Record(..)), "flip at {flip}");
        }
        assert!(matches!(read_frame(&log, log.len(), 1 << 20), Frame::End));
    }
}
