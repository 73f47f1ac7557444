//! Client-side caching: Redis 7.0's `tests/unit/tracking.tcl` cases against one node, and what
//! no Redis test checks: a key a client read on node B is invalidated by a write on node C.

use kvs_tests::raw_resp::{RawResp, Resp};
use kvs_tests::resp::run;
use kvs_tests::{start_chain, wait_for_alive_members, NodeProcess};
use std::time::Duration;

const READ: Duration = Duration::from_secs(10);
const CONVERGE: Duration = Duration::from_secs(30);

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A RESP2 connection subscribed to `__redis__:invalidate`, and its id.
fn redirection(node: &NodeProcess) -> (RawResp, String) {
    let mut c = RawResp::connect(node.redis(), READ);
    let Resp::Integer(id) = c.call(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    assert_eq!(c.call(&["SUBSCRIBE", "__redis__:invalidate"]).words(), ["subscribe", "__redis__:invalidate", "1"]);
    (c, id.to_string())
}

/// The keys of the next invalidation a redirection connection gets.
fn invalidated(c: &mut RawResp) -> Vec<String> {
    let message = c.read();
    let Resp::Array(items) = message else { panic!("not a message: {message:?}") };
    assert_eq!(items[..2], [Resp::Bulk(Some("message".into())), Resp::Bulk(Some("__redis__:invalidate".into()))]);
    match &items[2] {
        Resp::Null => Vec::new(),
        keys => keys.words(),
    }
}

fn ok(c: &mut RawResp, args: &[&str]) {
    let reply = c.call(args);
    assert!(!matches!(reply, Resp::Error(_)), "{args:?}: {reply:?}");
}

#[test]
fn tracking_as_redis_does_on_one_node() {
    let node = NodeProcess::start_with_redis();
    let (mut redir, redir_id) = redirection(&node);
    let r = &mut RawResp::connect(node.redis(), READ);
    let other = &mut node.resp();

    // Only the keys read are invalidated, once.
    ok(r, &["CLIENT", "TRACKING", "on", "REDIRECT", &redir_id]);
    assert_eq!(r.call(&["CLIENT", "GETREDIR"]), Resp::Integer(redir_id.parse().unwrap()));
    ok(r, &["SET", "a", "1"]);
    ok(r, &["SET", "b", "1"]);
    ok(r, &["GET", "a"]);
    ok(r, &["INCR", "b"]);
    ok(r, &["INCR", "a"]);
    assert_eq!(invalidated(&mut redir), ["a"]);
    ok(r, &["MGET", "a", "b", "c"]);
    ok(r, &["CLIENT", "TRACKING", "off"]);
    assert_eq!(r.call(&["CLIENT", "GETREDIR"]), Resp::Integer(-1));

    // BCAST: every key under the prefixes, no reads needed; prefixes may not overlap.
    ok(r, &["CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &redir_id, "PREFIX", "a:", "PREFIX", "b:"]);
    ok(r, &["INCR", "a:1"]);
    ok(r, &["INCR", "c:1"]);
    ok(r, &["INCR", "b:1"]);
    assert_eq!(invalidated(&mut redir), ["a:1"]);
    assert_eq!(invalidated(&mut redir), ["b:1"]);
    let overlap = r.call(&["CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &redir_id, "PREFIX", "a"]);
    assert!(
        matches!(&overlap, Resp::Error(e) if e.starts_with("ERR Prefix 'a:'") || e.starts_with("ERR Prefix 'a'")),
        "{overlap:?}"
    );
    ok(r, &["CLIENT", "TRACKING", "off"]);

    // NOLOOP: not told of its own writes; told of others'.
    ok(r, &["CLIENT", "TRACKING", "on", "REDIRECT", &redir_id, "NOLOOP"]);
    ok(r, &["MGET", "otherkey1", "loopkey", "otherkey2"]);
    let _: () = run(other, &["SET", "otherkey1", "1"]);
    ok(r, &["SET", "loopkey", "1"]);
    let _: () = run(other, &["SET", "otherkey2", "1"]);
    assert_eq!(invalidated(&mut redir), ["otherkey1"]);
    assert_eq!(invalidated(&mut redir), ["otherkey2"]);
    ok(r, &["CLIENT", "TRACKING", "off"]);

    // A key reclaimed after its deadline is invalidated too (its SET was its own, NOLOOP).
    ok(r, &["CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &redir_id, "NOLOOP"]);
    ok(r, &["SET", "mykey", "myval", "PX", "1"]);
    ok(r, &["SET", "mykeyotherkey", "myval"]);
    assert_eq!(invalidated(&mut redir), ["mykey"]);
    ok(r, &["CLIENT", "TRACKING", "off"]);

    // OPTIN: only reads after CLIENT CACHING YES; OPTOUT: all but those after CACHING NO.
    ok(r, &["CLIENT", "TRACKING", "on", "OPTIN", "REDIRECT", &redir_id]);
    ok(r, &["GET", "key1"]);
    ok(r, &["CLIENT", "CACHING", "yes"]);
    ok(r, &["GET", "key2"]);
    let _: () = run(other, &["SET", "key1", "x"]);
    let _: () = run(other, &["SET", "key2", "x"]);
    assert_eq!(invalidated(&mut redir), ["key2"]);
    ok(r, &["CLIENT", "TRACKING", "off"]);
    ok(r, &["CLIENT", "TRACKING", "on", "OPTOUT", "REDIRECT", &redir_id]);
    ok(r, &["CLIENT", "CACHING", "no"]);
    ok(r, &["GET", "key1"]);
    ok(r, &["GET", "key2"]);
    let info = r.call(&["CLIENT", "TRACKINGINFO"]);
    let Resp::Array(info) = info else { panic!("{info:?}") };
    assert_eq!(info[1].words(), ["on", "optout"], "CACHING NO held for one command only");
    assert_eq!(info[3], Resp::Integer(redir_id.parse().unwrap()));
    let _: () = run(other, &["SET", "key1", "y"]);
    let _: () = run(other, &["SET", "key2", "y"]);
    assert_eq!(invalidated(&mut redir), ["key2"]);
    ok(r, &["CLIENT", "TRACKING", "off"]);

    // A flush invalidates everything at once: a null.
    ok(r, &["CLIENT", "TRACKING", "on", "REDIRECT", &redir_id]);
    ok(r, &["GET", "a"]);
    let _: () = run(other, &["FLUSHALL"]);
    assert_eq!(invalidated(&mut redir), Vec::<String>::new());
    ok(r, &["CLIENT", "TRACKING", "off"]);
}

#[test]
fn a_resp3_client_gets_its_own_invalidations_and_hears_when_its_redirect_breaks() {
    let node = NodeProcess::start_with_redis();
    let r = &mut RawResp::connect(node.redis(), READ);
    let other = &mut node.resp();
    assert!(matches!(r.call(&["HELLO", "3"]), Resp::Map(_)));
    ok(r, &["CLIENT", "TRACKING", "on"]);
    assert_eq!(r.call(&["CLIENT", "GETREDIR"]), Resp::Integer(0));
    let _: () = run(other, &["SET", "key1", "1"]);
    assert_eq!(r.call(&["GET", "key1"]).text(), "1");
    let _: () = run(other, &["SET", "key1", "2"]);
    assert_eq!(
        r.read(),
        Resp::Push(vec![Resp::Bulk(Some("invalidate".into())), Resp::Array(vec![Resp::Bulk(Some("key1".into()))])])
    );

    // A hash read then changed by the same connection: the reply first, then the invalidation.
    ok(r, &["HSET", "myhash", "f", "1"]);
    assert_eq!(r.call(&["HGET", "myhash", "f"]).text(), "1");
    assert_eq!(r.call(&["HDEL", "myhash", "f"]), Resp::Integer(1));
    assert_eq!(r.read().words(), words(&["invalidate", "myhash"]));

    // Redirected to a connection that then closes: told so on the next change.
    let (redir, redir_id) = redirection(&node);
    ok(r, &["CLIENT", "TRACKING", "on", "REDIRECT", &redir_id]);
    assert!(matches!(r.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &redir_id, "BCAST"]), Resp::Error(_)));
    assert_eq!(r.call(&["GET", "key1"]).text(), "2");
    drop(redir);
    // The redirect target closes on its own schedule: write until the notice comes.
    let deadline = std::time::Instant::now() + READ;
    loop {
        let _: () = run(other, &["SET", "key1", "3"]);
        r.send(&["GET", "key1"]);
        // The GET's reply, and whatever notice came before or after it.
        let mut got = vec![r.read()];
        r.set_timeout(Duration::from_millis(100));
        got.extend(std::iter::from_fn(|| r.try_read()));
        r.set_timeout(READ);
        let notice = got
            .iter()
            .find(|v| matches!(v, Resp::Push(items) if items[0] == Resp::Bulk(Some("tracking-redir-broken".into()))));
        if let Some(notice) = notice {
            assert_eq!(notice.words(), words(&["tracking-redir-broken", &redir_id]));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no tracking-redir-broken in {got:?}");
    }
}

#[tokio::test]
async fn a_key_read_on_one_node_is_invalidated_by_a_write_on_another() {
    let nodes = start_chain(3, &["--redis-port", "0"]);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let _: () = run(&mut a.resp(), &["SET", "price", "10"]);
    let on_b = &mut RawResp::connect(b.redis(), READ);
    assert!(matches!(on_b.call(&["HELLO", "3"]), Resp::Map(_)));
    ok(on_b, &["CLIENT", "TRACKING", "on"]);
    // B caches what it read once the write reached it.
    let deadline = std::time::Instant::now() + CONVERGE;
    while on_b.call(&["GET", "price"]) != Resp::Bulk(Some("10".into())) {
        assert!(std::time::Instant::now() < deadline, "A's write never reached B");
    }
    let _: () = run(&mut c.resp(), &["SET", "price", "11"]);
    assert_eq!(on_b.read().words(), words(&["invalidate", "price"]));
    assert_eq!(on_b.call(&["GET", "price"]).text(), "11", "the invalidation came after B applied the write");
    // A collection's element changed on A invalidates the collection's key on B.
    ok(on_b, &["HGET", "h", "f"]);
    let _: () = run(&mut a.resp(), &["HSET", "h", "f", "v"]);
    assert_eq!(on_b.read().words(), words(&["invalidate", "h"]));
}
