//! The single place messages become bytes; swap the encoding here and nowhere else.

use crate::error::ProtoError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bincode's own allocation bound: no length inside a frame may claim more than this.
///
/// Frames are already bounded by [`crate::Limits::max_frame_bytes`]; this stops a small
/// frame from claiming a huge collection.
const DECODE_LIMIT_BYTES: usize = 64 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT_BYTES>()
}

/// Encodes a message into a frame body.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, ProtoError> {
    bincode::serde::encode_to_vec(message, config()).map_err(|e| ProtoError::Encode(e.to_string()))
}

/// Encodes a message at the end of `buffer` (a connection's write buffer: no copy in between);
/// returns its size.
pub fn encode_into<T: Serialize>(message: &T, buffer: &mut bytes::BytesMut) -> Result<usize, ProtoError> {
    use bytes::BufMut;
    let before = buffer.len();
    bincode::serde::encode_into_std_write(message, &mut buffer.writer(), config())
        .map_err(|e| ProtoError::Encode(e.to_string()))?;
    Ok(buffer.len() - before)
}

/// Decodes one whole frame body; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProtoError> {
    let (message, used) =
        bincode::serde::decode_from_slice(body, config()).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(ProtoError::Malformed(format!("{} trailing bytes after message", body.len() - used)));
    }
    Ok(message)
}

/// Decodes one whole frame body into a type that borrows from it (no copies of byte strings).
pub fn decode_borrowed<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProtoError> {
    let (message, used) =
        bincode::serde::borrow_decode_from_slice(body, config()).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(ProtoError::Malformed(format!("{} trailing bytes after message", body.len() - used)));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientRequest, Entry, NodeId, PeerMessage, Version};
    use bytes::Bytes;
    use proptest::prelude::*;

    #[test]
    fn round_trips_a_batch() {
        let entry =
            Entry::plain(Some(Bytes::from_static(b"v")), Version { wall_ms: 7, logical: 1, node: NodeId(9) }, 3);
        let message = PeerMessage::Entries { entries: vec![(Bytes::from_static(b"k"), entry)] };
        let body = encode(&message).unwrap();
        assert_eq!(decode::<PeerMessage>(&body).unwrap(), message);
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut body = encode(&ClientRequest::<Bytes>::Shutdown).unwrap();
        body.push(0);
        assert!(matches!(decode::<ClientRequest>(&body), Err(ProtoError::Malformed(_))));
    }

    #[test]
    fn rejects_a_huge_claimed_length_without_allocating() {
        // Variant 0 (Get) followed by a varint length of u64::MAX.
        let body = [0u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(decode::<ClientRequest>(&body).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<ClientRequest>(&body);
            let _ = decode::<PeerMessage>(&body);
        }
    }
}
