//! Bytes from a socket: length-delimited frames, each decoded as every message a node or client
//! accepts. Nothing may panic; whatever decodes must encode back to an equal message.
#![no_main]

use bytes::BytesMut;
use kvs_proto::encoding::{decode, decode_borrowed, encode};
use kvs_proto::{ClientRequest, ClientResponse, Hello, HelloReply, PeerMessage};
use kvs_store::Record;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

/// Decodes `body` as `T`; if it decodes, its encoding must decode to the same message.
fn round_trip<T>(body: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(message) = decode::<T>(body) {
        let again: T = decode(&encode(&message).expect("a decoded message encodes")).expect("and decodes again");
        assert_eq!(again, message);
    }
}

/// Decodes `body` as a node decodes peer messages, entries straight into records: whatever
/// decodes so must decode as plain entries too, and its records must encode back to them.
fn records(body: &[u8]) {
    if let Ok(message) = decode::<PeerMessage<Record>>(body) {
        let plain: PeerMessage = decode(body).expect("records decode only from entries that decode");
        let again: PeerMessage = decode(&encode(&message).expect("records encode")).expect("and decode as entries");
        assert_eq!(again, plain);
    }
}

/// Decodes `body` as a node decodes client requests, borrowing keys and values from the frame:
/// it must decode exactly when the owned form does, to the same request.
fn borrowed_request(body: &[u8]) {
    let owned = decode::<ClientRequest>(body).ok();
    let borrowed = decode_borrowed::<ClientRequest<&[u8]>>(body).ok();
    assert_eq!(owned.is_some(), borrowed.is_some());
    if let (Some(owned), Some(borrowed)) = (owned, borrowed) {
        assert_eq!(encode(&owned).expect("encodes"), encode(&borrowed).expect("encodes"));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut codec = LengthDelimitedCodec::builder().max_frame_length(1 << 20).new_codec();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        round_trip::<Hello>(&frame);
        round_trip::<HelloReply>(&frame);
        round_trip::<ClientRequest>(&frame);
        borrowed_request(&frame);
        round_trip::<ClientResponse>(&frame);
        round_trip::<PeerMessage>(&frame);
        records(&frame);
    }
});
