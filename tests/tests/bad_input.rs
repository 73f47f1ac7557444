//! Bytes a node does not expect: each offender gets an error or a timeout, everyone else is served.

use kvs_client::{ClientError, ErrorCode};
use kvs_proto::{Connection, ErrorReply, HelloReply};
use kvs_tests::NodeProcess;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads the node's answer to a bad hello: an error frame, then the connection closes.
async fn rejection(stream: TcpStream) -> ErrorReply {
    let mut conn = Connection::new(stream, 1 << 20);
    let reply = tokio::time::timeout(Duration::from_secs(10), conn.recv::<HelloReply>())
        .await
        .expect("node answers in time")
        .expect("a decodable frame")
        .expect("an error frame before close");
    let closed = tokio::time::timeout(Duration::from_secs(10), conn.recv::<HelloReply>()).await.expect("closes");
    assert!(matches!(closed, Ok(None) | Err(_)), "connection should close after the error");
    match reply {
        HelloReply::Rejected(reply) => reply,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn still_serves(node: &NodeProcess) {
    let mut client = node.client().await;
    client.set("alive", "yes").await.unwrap();
    assert_eq!(client.get("alive").await.unwrap().as_deref(), Some(&b"yes"[..]));
}

#[tokio::test]
async fn garbage_bytes_get_an_error_and_a_closed_connection() {
    let node = NodeProcess::start(None, &[]);
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    // A plausible length (9) followed by bytes that are no hello.
    stream.write_all(&[0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
    let reply = rejection(stream).await;
    assert_eq!(reply.code, ErrorCode::MalformedFrame);
    still_serves(&node).await;
}

#[tokio::test]
async fn a_frame_over_the_bound_is_refused_without_reading_it() {
    let node = NodeProcess::start(
        None,
        &["--max-frame-bytes", "65536", "--max-value-bytes", "32768", "--max-key-bytes", "1024"],
    );
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    stream.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let reply = rejection(stream).await;
    assert_eq!(reply.code, ErrorCode::FrameTooLarge);

    // After a good hello, an oversized request frame closes that client with an error.
    let mut client = node.client().await;
    let err = client.set("k", vec![0u8; 70_000]).await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_) | ClientError::Server(_) | ClientError::Closed), "{err:?}");
    still_serves(&node).await;
}

#[tokio::test]
async fn keys_and_values_over_their_bounds_are_refused_and_the_connection_stays_usable() {
    let node = NodeProcess::start(None, &["--max-key-bytes", "16", "--max-value-bytes", "64"]);
    let mut client = node.client().await;
    match client.set(vec![b'k'; 17], "v").await {
        Err(ClientError::Server(reply)) => assert_eq!(reply.code, ErrorCode::KeyTooLarge),
        other => panic!("expected KeyTooLarge, got {other:?}"),
    }
    match client.set("k", vec![b'v'; 65]).await {
        Err(ClientError::Server(reply)) => assert_eq!(reply.code, ErrorCode::ValueTooLarge),
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert_eq!(client.get("k").await.unwrap(), None, "nothing was stored");
    client.set("k", "fits").await.unwrap();
}

#[tokio::test]
async fn a_silent_client_is_timed_out_while_others_are_served() {
    let node = NodeProcess::start(None, &["--hello-timeout-ms", "500"]);
    let started = Instant::now();
    let silent = TcpStream::connect(node.addr).await.unwrap();
    still_serves(&node).await;
    let reply = rejection(silent).await;
    assert_eq!(reply.code, ErrorCode::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_truncated_frame_then_close_does_not_disturb_the_node() {
    let node = NodeProcess::start(None, &[]);
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    stream.write_all(&[0, 0, 1, 0, 1, 2, 3]).await.unwrap();
    drop(stream);
    // A peer-role hello with the wrong protocol version is refused by name.
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    let body = kvs_proto::encoding::encode(&kvs_proto::Hello {
        protocol_version: 999,
        role: kvs_proto::Role::Client,
        credentials: None,
    })
    .unwrap();
    stream.write_all(&(body.len() as u32).to_be_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let reply = rejection(stream).await;
    assert_eq!(reply.code, ErrorCode::VersionMismatch);
    let mut sink = [0u8; 1];
    let _ = TcpStream::connect(node.addr).await.unwrap().read(&mut sink[..0]).await;
    still_serves(&node).await;
}
