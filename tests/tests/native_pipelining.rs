//! The native protocol's pipelining and batch requests (MGET, MSET), against real nodes.

use bytes::Bytes;
use kvs_client::{ClientError, ClientRequest, ClientResponse, ErrorCode};
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

fn key(i: usize) -> Bytes {
    Bytes::from(format!("pipelined:{i:06}"))
}

#[tokio::test]
async fn a_long_pipeline_is_answered_in_order_while_it_is_still_being_sent() {
    let node = NodeProcess::start(None, &[]);
    let mut client = node.client().await;
    // 4,000 requests and 8 MiB each way, far past what socket buffers hold: it completes only
    // because the client reads answers while it still writes requests.
    let value = Bytes::from(vec![b'v'; 2048]);
    let requests: Vec<ClientRequest> = (0..2_000)
        .flat_map(|i| [ClientRequest::Set { key: key(i), value: value.clone() }, ClientRequest::Get { key: key(i) }])
        .collect();
    let responses = client.pipeline(&requests).await.unwrap();
    assert_eq!(responses.len(), requests.len());
    for (i, pair) in responses.chunks(2).enumerate() {
        assert!(matches!(pair[0], Ok(ClientResponse::Written(_))), "request {i}: {:?}", pair[0]);
        assert!(matches!(&pair[1], Ok(ClientResponse::Value(Some(v))) if *v == value), "request {i}");
    }
    assert_eq!(client.status(0).await.unwrap().key_count, 2_000);
}

#[tokio::test]
async fn an_error_in_a_pipeline_answers_that_request_only() {
    let node = NodeProcess::start(None, &["--max-key-bytes", "16"]);
    let mut client = node.client().await;
    let requests = [
        ClientRequest::Set { key: "a".into(), value: "1".into() },
        ClientRequest::Get { key: Bytes::from(vec![b'k'; 17]) },
        ClientRequest::Get { key: "a".into() },
    ];
    let responses = client.pipeline(&requests).await.unwrap();
    assert!(matches!(responses[0], Ok(ClientResponse::Written(_))));
    assert!(matches!(&responses[1], Err(ClientError::Server(reply)) if reply.code == ErrorCode::KeyTooLarge));
    assert!(matches!(&responses[2], Ok(ClientResponse::Value(Some(v))) if v == "1"));
}

#[tokio::test]
async fn mset_writes_every_key_and_replicates_and_mget_reads_them_in_order() {
    let nodes = start_chain(2, &[]);
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    let mut a = nodes[0].client().await;
    let pairs: Vec<(Bytes, Bytes)> = (0..100).map(|i| (key(i), Bytes::from(format!("value {i}")))).collect();
    let last = a.mset(pairs.clone()).await.unwrap();
    assert_eq!(a.inspect(key(99)).await.unwrap().unwrap().version, last, "the last write's version");
    nodes[1].wait_for_value("pipelined:000099", Some("value 99"), CONVERGE).await;
    let mut b = nodes[1].client().await;
    let keys: Vec<Bytes> = (0..101).map(key).collect();
    let values = b.mget(keys).await.unwrap();
    assert_eq!(values.len(), 101);
    for (i, value) in values.iter().take(100).enumerate() {
        assert_eq!(value.as_deref(), Some(format!("value {i}").as_bytes()));
    }
    assert_eq!(values[100], None, "never written");
}

#[tokio::test]
async fn an_mset_over_the_bounds_writes_nothing_and_an_mget_over_the_reply_bound_is_refused() {
    let node = NodeProcess::start(None, &["--max-value-bytes", "8", "--max-reply-bytes", "100"]);
    let mut client = node.client().await;
    let pairs = vec![(key(1), Bytes::from("small")), (key(2), Bytes::from("far too large"))];
    let refused = client.mset(pairs).await.unwrap_err();
    assert!(matches!(&refused, ClientError::Server(reply) if reply.code == ErrorCode::ValueTooLarge), "{refused}");
    assert_eq!(client.get(key(1)).await.unwrap(), None, "checked before anything was written");

    let pairs: Vec<(Bytes, Bytes)> = (0..20).map(|i| (key(i), Bytes::from("8 bytes!"))).collect();
    client.mset(pairs).await.unwrap();
    let refused = client.mget((0..20).map(key).collect()).await.unwrap_err();
    assert!(matches!(&refused, ClientError::Server(reply) if reply.code == ErrorCode::ReplyTooLarge), "{refused}");
    assert_eq!(client.mget((0..3).map(key).collect()).await.unwrap().len(), 3, "the connection still serves");
}
