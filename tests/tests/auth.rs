//! Peers prove they hold the cluster secret; clients log in as users whose role bounds what they
//! may do, on the native port and the Redis port alike.

use kvs_client::{Client, ClientError, ClientOptions, Credentials, ErrorCode};
use kvs_tests::impostor::Impostor;
use kvs_tests::{wait_for_alive_members, wait_until, NodeProcess};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// A file with `text`, readable by its owner only (unless `mode` says otherwise).
fn private_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

const USERS: &str = "# name role password\nroot admin rootpw\nwriter write writerpw\nreader read readerpw\n";

async fn client_as(node: &NodeProcess, user: &str, password: &str) -> Result<Client, ClientError> {
    let credentials = Some(Credentials { user: user.into(), password: password.into() });
    Client::connect_with(&node.addr.to_string(), ClientOptions { credentials, ..Default::default() }).await
}

fn refusal(result: Result<impl Sized, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Rejected(reply) | ClientError::Server(reply)) => reply.code,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got an answer"),
    }
}

#[tokio::test]
async fn row_1_only_an_admin_can_shut_a_node_down() {
    let dir = tempfile::tempdir().unwrap();
    let users = private_file(dir.path(), "users", USERS, 0o600);
    let mut node = NodeProcess::start(None, &["--users-file", users.to_str().unwrap()]);
    assert_eq!(refusal(Client::connect(&node.addr.to_string()).await), ErrorCode::NoAuth);
    assert_eq!(refusal(client_as(&node, "root", "wrong").await), ErrorCode::WrongPass);
    let mut reader = client_as(&node, "reader", "readerpw").await.unwrap();
    assert_eq!(refusal(reader.set("k", "v").await), ErrorCode::NoPerm);
    assert_eq!(refusal(reader.shutdown().await), ErrorCode::NoPerm);
    let mut writer = client_as(&node, "writer", "writerpw").await.unwrap();
    writer.set("k", "v").await.unwrap();
    assert_eq!(refusal(writer.shutdown().await), ErrorCode::NoPerm);
    assert_eq!(reader.get("k").await.unwrap().as_deref(), Some(&b"v"[..]), "still serving");
    client_as(&node, "root", "rootpw").await.unwrap().shutdown().await.unwrap();
    assert!(node.wait_exit(CONVERGE).success());
}

#[tokio::test]
async fn a_users_or_secret_file_others_can_read_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let users = private_file(dir.path(), "users", USERS, 0o644);
    let (code, stderr) =
        NodeProcess::failed_start(([127, 0, 0, 1], 0).into(), &["--users-file", users.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("readable by group or others") && stderr.contains("chmod 600"), "{stderr}");
    let secret = private_file(dir.path(), "secret", "0123456789abcdef0123", 0o640);
    let (code, stderr) =
        NodeProcess::failed_start(([127, 0, 0, 1], 0).into(), &["--cluster-secret-file", secret.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("readable by group or others"), "{stderr}");
}

#[tokio::test]
async fn peers_prove_the_cluster_secret_and_clusters_with_different_secrets_never_merge() {
    let dir = tempfile::tempdir().unwrap();
    let ours = private_file(dir.path(), "ours", "the secret of this cluster\n", 0o600);
    let theirs = private_file(dir.path(), "theirs", "the secret of another one\n", 0o600);
    let with = |path: &Path| vec!["--cluster-secret-file".to_string(), path.display().to_string()];
    let ours_args = with(&ours);
    let ours_flags: Vec<&str> = ours_args.iter().map(String::as_str).collect();
    let a = NodeProcess::start(None, &ours_flags);
    let b = NodeProcess::start(Some(a.addr), &ours_flags);
    let nodes = [a, b];
    wait_for_alive_members(&nodes, 2, CONVERGE).await;
    nodes[0].client().await.set("k", "v").await.unwrap();
    nodes[1].wait_for_value("k", Some("v"), CONVERGE).await;

    // Another secret, and none at all: neither gets in, and the cluster stays as it was.
    let theirs_args = with(&theirs);
    let theirs_flags: Vec<&str> = theirs_args.iter().map(String::as_str).collect();
    let stranger = NodeProcess::start(Some(nodes[0].addr), &theirs_flags);
    let open = NodeProcess::start(Some(nodes[0].addr), &[]);
    assert!(Impostor::connect(nodes[0].addr, 0xbad).await.is_none(), "a hello without the secret is not welcomed");
    // Both outsiders keep trying to join; the node refuses each attempt (and the impostor's).
    wait_until("the node to refuse the outsiders", CONVERGE, || async {
        (nodes[0].status().await.ok()?.replication.peer_hellos_refused >= 3).then_some(())
    })
    .await;
    for outsider in [&stranger, &open] {
        let status = outsider.status().await.unwrap();
        assert_eq!(status.members.len(), 1, "{} joined: {:?}", outsider.addr, status.members);
    }
    for node in &nodes {
        assert_eq!(node.status().await.unwrap().members.len(), 2);
    }
}

/// Sends one RESP command and reads the first line of its reply.
fn resp(stream: &mut std::net::TcpStream, args: &[&str]) -> String {
    let mut out = format!("*{}\r\n", args.len());
    for arg in args {
        out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(out.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

#[tokio::test]
async fn the_redis_port_speaks_redis_words_for_auth() {
    let dir = tempfile::tempdir().unwrap();
    let users = private_file(dir.path(), "users", &format!("{USERS}default write defaultpw\n"), 0o600);
    let node = NodeProcess::start(None, &["--users-file", users.to_str().unwrap(), "--redis-port", "0"]);
    let mut conn = std::net::TcpStream::connect(node.redis()).unwrap();
    assert_eq!(resp(&mut conn, &["GET", "k"]), "-NOAUTH Authentication required.");
    assert_eq!(
        resp(&mut conn, &["AUTH", "root", "nope"]),
        "-WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(resp(&mut conn, &["AUTH", "defaultpw"]), "+OK", "AUTH <password> logs in as `default`");
    assert_eq!(resp(&mut conn, &["SET", "k", "v"]), "+OK");
    assert_eq!(resp(&mut conn, &["AUTH", "reader", "readerpw"]), "+OK");
    assert_eq!(resp(&mut conn, &["GET", "k"]), "$1");
    let mut conn = std::net::TcpStream::connect(node.redis()).unwrap();
    assert_eq!(resp(&mut conn, &["HELLO", "3", "AUTH", "reader", "readerpw"]), "%7");
    let mut conn = std::net::TcpStream::connect(node.redis()).unwrap();
    assert_eq!(resp(&mut conn, &["AUTH", "reader", "readerpw"]), "+OK");
    assert_eq!(resp(&mut conn, &["SET", "k", "w"]), "-NOPERM User reader has no permissions to run the 'set' command");
    assert_eq!(
        resp(&mut conn, &["CONFIG", "GET", "maxmemory"]),
        "-NOPERM User reader has no permissions to run the 'config' command"
    );
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed_at_the_hello_deadline() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let users = private_file(dir.path(), "users", USERS, 0o600);
    let flags = ["--users-file", users.to_str().unwrap(), "--redis-port", "0", "--hello-timeout-ms", "500"];
    let node = NodeProcess::start(None, &flags);
    let mut silent = std::net::TcpStream::connect(node.redis()).unwrap();
    silent.set_read_timeout(Some(CONVERGE)).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(silent.read(&mut buf).unwrap(), 0, "closed without a word");
    let mut native = std::net::TcpStream::connect(node.addr).unwrap();
    native.set_read_timeout(Some(CONVERGE)).unwrap();
    let mut answer = Vec::new();
    let _ = native.read_to_end(&mut answer);
    assert!(!answer.is_empty() && String::from_utf8_lossy(&answer).contains("no hello within 500 ms"));
}

#[tokio::test]
async fn the_cli_reads_the_password_from_the_environment_and_a_refusal_exits_four() {
    let dir = tempfile::tempdir().unwrap();
    let users = private_file(dir.path(), "users", USERS, 0o600);
    let node = NodeProcess::start(None, &["--users-file", users.to_str().unwrap()]);
    let cli = |password: &str, args: &[&str]| {
        let mut command = std::process::Command::new(kvs_tests::binaries::binary("kvs-client"));
        command.arg(node.addr.ip().to_string()).arg(node.addr.port().to_string()).args(["--user", "writer"]).args(args);
        command.env("KVS_PASSWORD", password).output().unwrap()
    };
    let ok = cli("writerpw", &["set", "k", "v"]);
    assert_eq!((ok.status.code(), String::from_utf8_lossy(&ok.stdout).trim()), (Some(0), "OK"));
    let wrong = cli("nope", &["get", "k"]);
    assert_eq!(wrong.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid username-password pair"), "{stderr}");
    let above = cli("writerpw", &["shutdown"]);
    assert_eq!(above.status.code(), Some(4));
}

#[tokio::test]
async fn a_node_with_another_secret_is_told_the_secrets_differ() {
    let dir = tempfile::tempdir().unwrap();
    let ours = private_file(dir.path(), "ours", "the secret of this cluster\n", 0o600);
    let theirs = private_file(dir.path(), "theirs", "the secret of another one\n", 0o600);
    let member = NodeProcess::start(None, &["--cluster-secret-file", ours.to_str().unwrap()]);
    let bootstrap = member.addr;
    let theirs = theirs.display().to_string();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let flags = ["--cluster-secret-file", &theirs, "--join-timeout-ms", "2000"];
        NodeProcess::failed_start_joining(bootstrap, &flags)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the two nodes' --cluster-secret-file differ"), "{stderr}");
}
