//! TLS on every listener: a mutual-TLS cluster converges, the native client and redis-cli talk
//! TLS to it, and plaintext sent to a TLS port closes only that connection.

use kvs_client::{Client, ClientError, ClientOptions, ClientTls};
use kvs_tests::pki::Certificates;
use kvs_tests::{start_chain, NodeProcess};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// A CA, and a certificate it signed for 127.0.0.1 (every node and the client share it here).
struct Pki {
    certificates: Certificates,
}

impl Pki {
    fn new() -> Pki {
        Pki { certificates: Certificates::generate().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.certificates.path(name)
    }

    /// Node flags for mutual TLS.
    fn node_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        for (flag, file) in
            [("--tls-cert-file", "cert.pem"), ("--tls-key-file", "key.pem"), ("--tls-ca-file", "ca.pem")]
        {
            flags.push(flag.to_string());
            flags.push(self.path(file).display().to_string());
        }
        flags
    }

    fn client_tls(&self) -> ClientTls {
        ClientTls::load(&self.path("ca.pem"), Some((&self.path("cert.pem"), &self.path("key.pem")))).unwrap()
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

async fn tls_client(pki: &Pki, node: &NodeProcess) -> Result<Client, ClientError> {
    let options = ClientOptions { tls: Some(pki.client_tls()), ..Default::default() };
    Client::connect_with(&node.addr.to_string(), options).await
}

#[tokio::test]
async fn a_mutual_tls_cluster_of_three_converges_and_serves_tls_clients() {
    let pki = Pki::new();
    let flags = pki.node_flags();
    let nodes = start_chain(3, &strs(&flags));
    // Status over TLS: the test helpers' plain clients cannot reach these nodes.
    for node in &nodes {
        kvs_tests::wait_until("a TLS status", CONVERGE, || async {
            let status = tls_client(&pki, node).await.ok()?.status(0).await.ok()?;
            (status.members.len() == 3 && status.members.iter().all(|m| m.state == kvs_client::MemberState::Alive))
                .then_some(())
        })
        .await;
    }
    tls_client(&pki, &nodes[0]).await.unwrap().set("k", "over tls").await.unwrap();
    kvs_tests::wait_until("the write to reach the third node", CONVERGE, || async {
        let value = tls_client(&pki, &nodes[2]).await.ok()?.get("k").await.ok()?;
        (value.as_deref() == Some(&b"over tls"[..])).then_some(())
    })
    .await;
    // The command line too.
    let out = Command::new(kvs_tests::binaries::binary("kvs-client"))
        .arg("127.0.0.1")
        .arg(nodes[1].addr.port().to_string())
        .args(["--tls", "--cacert"])
        .arg(pki.path("ca.pem"))
        .arg("--cert")
        .arg(pki.path("cert.pem"))
        .arg("--key")
        .arg(pki.path("key.pem"))
        .args(["get", "k"])
        .output()
        .unwrap();
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).trim()), (Some(0), "over tls"));
}

#[tokio::test]
async fn plaintext_to_a_tls_port_closes_that_connection_and_the_node_serves_on() {
    let pki = Pki::new();
    let mut flags = pki.node_flags();
    flags.extend(["--redis-port", "0", "--hello-timeout-ms", "1000"].map(String::from));
    let node = NodeProcess::start(None, &strs(&flags));
    let refused = Client::connect(&node.addr.to_string()).await.err().expect("a plaintext hello is not answered");
    assert!(refused.to_string().contains("pass --tls"), "the client suggests TLS: {refused}");
    let without_cert =
        ClientOptions { tls: Some(ClientTls::load(&pki.path("ca.pem"), None).unwrap()), ..Default::default() };
    let refused = Client::connect_with(&node.addr.to_string(), without_cert).await;
    assert!(refused.is_err(), "mutual TLS: a client without a certificate is refused");
    tls_client(&pki, &node).await.unwrap().set("k", "v").await.unwrap();
    // redis-cli over TLS, with the same certificates.
    let cli = |args: &[&str]| {
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &node.redis().port().to_string(), "--tls", "--cacert"])
            .arg(pki.path("ca.pem"))
            .arg("--cert")
            .arg(pki.path("cert.pem"))
            .arg("--key")
            .arg(pki.path("key.pem"))
            .args(args)
            .output()
    };
    let Ok(out) = cli(&["GET", "k"]) else {
        eprintln!("redis-cli is not installed; skipping its part");
        return;
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v", "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_node_without_tls_cannot_join_a_tls_cluster() {
    let pki = Pki::new();
    let flags = pki.node_flags();
    let secured = NodeProcess::start(None, &strs(&flags));
    let plain = NodeProcess::start(Some(secured.addr), &[]);
    kvs_tests::wait_until("the plain node to have tried", CONVERGE, || async { plain.status().await.ok() }).await;
    assert_eq!(plain.status().await.unwrap().members.len(), 1);
    assert_eq!(tls_client(&pki, &secured).await.unwrap().status(0).await.unwrap().members.len(), 1);
}

/// The OpenSSL lines of docs/security.md between its `tls-recipe` markers, for `ip`.
fn docs_recipe(ip: &str) -> String {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md")).unwrap();
    let start = page.find("<!-- tls-recipe -->").expect("the recipe's start marker");
    let end = page.find("<!-- /tls-recipe -->").expect("the recipe's end marker");
    let block = &page[start..end];
    let code: Vec<&str> = block.lines().filter(|line| !line.starts_with("```") && !line.starts_with("<!--")).collect();
    code.join("\n").replace("10.0.0.1", ip)
}

#[tokio::test]
async fn the_docs_certificate_recipe_makes_a_cluster_that_serves_tls_clients() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(std::env::var_os("KVS_REQUIRE_NETNS").is_none(), "CI must have openssl");
        eprintln!("SKIPPED: no openssl here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new("bash").arg("-euc").arg(docs_recipe("127.0.0.1")).current_dir(dir.path()).output().unwrap();
    assert!(made.status.success(), "the recipe failed: {}", String::from_utf8_lossy(&made.stderr));
    let file = |name: &str| dir.path().join(name).display().to_string();
    let flags = [
        "--tls-cert-file".to_string(),
        file("node.pem"),
        "--tls-key-file".into(),
        file("node.key"),
        "--tls-ca-file".into(),
        file("ca.pem"),
    ];
    let first = NodeProcess::start(None, &strs(&flags));
    let second = NodeProcess::start(Some(first.addr), &strs(&flags));
    let client = |node: &NodeProcess, command: &[&str]| {
        Command::new(kvs_tests::binaries::binary("kvs-client"))
            .args(["127.0.0.1", &node.addr.port().to_string(), "--tls", "--cacert", &file("ca.pem")])
            .args(["--cert", &file("client.pem"), "--key", &file("client.key")])
            .args(command)
            .output()
            .unwrap()
    };
    let set = client(&first, &["set", "k", "made by the recipe"]);
    assert_eq!(set.status.code(), Some(0), "{}", String::from_utf8_lossy(&set.stderr));
    kvs_tests::wait_until("the write to reach the second node over TLS", CONVERGE, || async {
        let out = client(&second, &["get", "k"]);
        (String::from_utf8_lossy(&out.stdout).trim() == "made by the recipe").then_some(())
    })
    .await;
}
