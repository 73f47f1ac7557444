//! One node on its own is a working cluster.

use kvs_tests::NodeProcess;

#[tokio::test]
async fn set_get_delete_on_a_single_node() {
    let node = NodeProcess::start(None, &[]);
    let mut client = node.client().await;
    assert_eq!(client.get("k").await.unwrap(), None);
    client.set("k", "v1").await.unwrap();
    assert_eq!(client.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    client.set("k", "v2").await.unwrap();
    assert_eq!(client.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
    client.delete("k").await.unwrap();
    assert_eq!(client.get("k").await.unwrap(), None);

    let status = client.status(20).await.unwrap();
    assert_eq!((status.key_count, status.tombstone_count), (0, 1));
    assert_eq!(status.members.len(), 1);
    assert_eq!(status.members[0].addr, node.addr.to_string());
}

#[tokio::test]
async fn a_write_answers_with_its_version_and_inspect_shows_the_entry_it_made() {
    let node = NodeProcess::start(None, &[]);
    let mut client = node.client().await;
    assert_eq!(client.inspect("k").await.unwrap(), None);
    let first = client.set("k", "v1").await.unwrap();
    let entry = client.inspect("k").await.unwrap().unwrap();
    assert_eq!((entry.value.as_deref(), entry.version, entry.seq), (Some(&b"v1"[..]), first, 1));
    let deleted = client.delete("k").await.unwrap();
    assert!(deleted > first);
    let tombstone = client.inspect("k").await.unwrap().unwrap();
    assert_eq!((tombstone.value, tombstone.version, tombstone.seq), (None, deleted, 2));
    let status = client.status(0).await.unwrap();
    assert_eq!(first.node.to_string(), status.node_id, "a memory-only node writes under its id");
}

#[tokio::test]
async fn binary_keys_and_values_round_trip() {
    let node = NodeProcess::start(None, &[]);
    let mut client = node.client().await;
    let key = vec![0u8, 255, 10, 13, 0];
    let value: Vec<u8> = (0..=255).collect();
    client.set(key.clone(), value.clone()).await.unwrap();
    assert_eq!(client.get(key).await.unwrap().as_deref(), Some(&value[..]));
}

#[tokio::test]
async fn status_lists_at_most_the_requested_keys() {
    let node = NodeProcess::start(None, &[]);
    let mut client = node.client().await;
    for i in 0..30 {
        client.set(format!("key{i:02}"), "v").await.unwrap();
    }
    let status = client.status(5).await.unwrap();
    assert_eq!(status.key_count, 30);
    assert_eq!(status.keys, ["key00", "key01", "key02", "key03", "key04"]);
    assert!(status.keys_truncated);
}

#[tokio::test]
async fn shutdown_by_client_exits_zero_and_so_does_sigterm() {
    let mut a = NodeProcess::start(None, &[]);
    a.client().await.shutdown().await.unwrap();
    assert!(a.wait_exit(std::time::Duration::from_secs(10)).success());

    let mut b = NodeProcess::start(None, &[]);
    b.signal(libc::SIGTERM);
    assert!(b.wait_exit(std::time::Duration::from_secs(10)).success());
}
