//! The cluster page at `/` of the admin port, driven in a real browser: headless Chromium through
//! chromedriver (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs).

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use kvs_tests::cluster::FAST_FAILURE_DETECTION;
use kvs_tests::{start_chain, wait_for_alive_members, wait_until, NodeProcess};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

/// A chromedriver process on a free port, killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver; .ci/run installs both)");
        ChromeDriver { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A headless browser session, once chromedriver accepts one.
    async fn session(&self) -> Client {
        let mut capabilities = Capabilities::new();
        let args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];
        capabilities.insert("goog:chromeOptions".into(), serde_json::json!({ "args": args }));
        wait_until("chromedriver to start a browser", CONVERGE, || async {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.clone());
            builder.connect(&self.url).await.ok()
        })
        .await
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One member row as the page shows it.
#[derive(Debug, serde::Deserialize)]
struct Row {
    addr: String,
    state: String,
    keys: Option<String>,
}

async fn rows(browser: &Client) -> Vec<Row> {
    let script = "return [...document.querySelectorAll('#members tr')]
        .map(r => ({ addr: r.dataset.addr, state: r.dataset.state, keys: r.dataset.keys ?? null }));";
    let found = browser.execute(script, vec![]).await.expect("the script runs");
    serde_json::from_value(found).expect("rows decode")
}

/// Waits until the page's rows satisfy `check`.
async fn page_shows(browser: &Client, what: &str, check: impl Fn(&[Row]) -> bool) {
    wait_until(what, CONVERGE, || async {
        let rows = rows(browser).await;
        check(&rows).then_some(())
    })
    .await
}

#[tokio::test]
async fn the_page_shows_members_keys_and_a_dead_node() {
    let mut flags = vec!["--http-port", "0", "--history-step-ms", "200"];
    flags.extend(FAST_FAILURE_DETECTION);
    let mut nodes: Vec<NodeProcess> = start_chain(3, &flags);
    wait_for_alive_members(&nodes, 3, CONVERGE).await;
    let driver = ChromeDriver::start();
    let browser = driver.session().await;
    browser.goto(&nodes[0].http_url("/")).await.expect("the page loads");

    page_shows(&browser, "3 alive members", |rows| rows.len() == 3 && rows.iter().all(|r| r.state == "alive")).await;

    let mut client = nodes[1].client().await;
    for i in 0..5 {
        client.set(format!("key-{i}"), "v").await.unwrap();
    }
    let five = |rows: &[Row]| rows.len() == 3 && rows.iter().all(|r| r.keys.as_deref() == Some("5"));
    page_shows(&browser, "5 keys on every member", five).await;
    let summary = browser.execute("return document.getElementById('summary').dataset.verdict", vec![]).await.unwrap();
    assert_eq!(summary, "in_sync");
    // The cluster version and its gates, once every member speaks the newest protocol.
    let newest = kvs_proto::PROTOCOL_VERSION.to_string();
    wait_until("the cluster version on the page", CONVERGE, || async {
        let gates = browser.execute("return document.getElementById('gates').textContent", vec![]).await.ok()?;
        let text = gates.as_str()?.to_string();
        (text.contains(&format!("cluster version {newest}")) && text.contains("wait open")).then_some(())
    })
    .await;

    // The charts: one per metric, a line per member, the keys chart at 5 on every member.
    wait_until("the keys chart at 5 on every member", CONVERGE, || async {
        let last = browser
            .execute("return document.querySelector('.chart[data-metric=keys]')?.dataset.last ?? null", vec![])
            .await
            .ok()?;
        let last: Vec<Option<f64>> = serde_json::from_str(last.as_str()?).ok()?;
        (last.len() == 3 && last.iter().all(|&keys| keys == Some(5.0))).then_some(())
    })
    .await;
    let charts = browser.execute("return document.querySelectorAll('.chart .uplot canvas').length", vec![]).await;
    assert_eq!(charts.unwrap(), 7, "seven charts drawn");
    let labels = browser
        .execute("return [...document.querySelectorAll('.chart[data-metric=writes] .u-series .u-label')].map(l => l.textContent)", vec![])
        .await
        .unwrap();
    for node in &nodes {
        assert!(labels.to_string().contains(&node.addr.to_string()), "{labels} names {}", node.addr);
    }
    let writes =
        browser.execute("return document.querySelector('.chart[data-metric=writes]').dataset.last", vec![]).await;
    assert!(writes.unwrap().as_str().is_some_and(|last| last.starts_with('[')), "a writes/s figure per member");

    let killed = nodes[2].addr.to_string();
    nodes[2].kill();
    page_shows(&browser, "the killed member dead", |rows| rows.iter().any(|r| r.addr == killed && r.state == "dead"))
        .await;
    let rows = rows(&browser).await;
    assert_eq!(rows.iter().filter(|r| r.state == "alive").count(), 2, "{rows:?}");

    // On a phone-sized window each member is a card: the table's header row is hidden.
    browser.set_window_size(390, 844).await.unwrap();
    let header = browser.execute("return getComputedStyle(document.querySelector('thead')).display", vec![]).await;
    assert_eq!(header.unwrap(), "none");
    browser.close().await.unwrap();
}
