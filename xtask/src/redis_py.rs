//! `cargo xtask redis-py`: redis-py's own test suite, unchanged, against a kvs node.
//!
//! redis-py 6.4.0's source distribution (which ships its tests) and the packages its harness
//! imports are installed from PyPI into `target/redis-py/` once, then reused. A node with a Redis
//! port is started from the release build and pytest runs redis-py's tests against it with the
//! harness's own `--redis-url` flag. Every test listed in `xtask/redis-py-passing.txt` must pass:
//! that list is what kvs serves today, and it only grows. `--all` runs the whole of each file
//! instead and prints how many pass; `--update` writes those that pass into the list.
//!
//! Then redis-py's `RedisCluster`, unchanged, against three nodes with a layout applied
//! (`xtask/redis-py-cluster.py`): it routes keys by CLUSTER SLOTS as it would in a Redis Cluster.

use kvs_tests::NodeProcess;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The redis-py release whose tests are run.
const REDIS_PY: &str = "6.4.0";

/// What its test harness imports beside redis-py itself.
const HARNESS_PACKAGES: &[&str] =
    &["pytest", "pytest-asyncio", "pytest-timeout", "mock", "packaging", "ujson", "redis-entraid==1.0.0"];

/// The test files whose families kvs serves (the others are modules, cluster, sentinel, pub/sub,
/// scripting, and the data types still to come).
const FILES: &[&str] = &[
    "tests/test_commands.py",
    "tests/test_pipeline.py",
    "tests/test_monitor.py",
    "tests/test_encoding.py",
    "tests/test_connection.py",
    "tests/test_connection_pool.py",
    "tests/test_retry.py",
    "tests/test_helpers.py",
    "tests/test_command_parser.py",
    "tests/test_multiprocessing.py",
    "tests/test_max_connections_error.py",
];

/// Tests that pass alone but not after some of the listed ones (redis-py's own mocks count calls
/// made by earlier tests' connections): never listed.
const ORDER_DEPENDENT: &[&str] = &["tests/test_connection.py::test_redis_from_pool[from_url]"];

fn run_command(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("cannot run {what}: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("{what} failed ({status})"))
}

/// The virtual environment and redis-py's unpacked source, made once.
fn prepare(cache: &Path) -> Result<(PathBuf, PathBuf), String> {
    let venv = cache.join("venv");
    let python = venv.join("bin").join("python");
    let source = cache.join(format!("redis-{REDIS_PY}"));
    let ready = cache.join(format!("ready-{REDIS_PY}"));
    if ready.exists() {
        return Ok((python, source));
    }
    std::fs::create_dir_all(cache).map_err(|e| e.to_string())?;
    run_command(Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv")?;
    let pip = |args: &[&str]| {
        let mut command = Command::new(&python);
        command.args(["-m", "pip", "install", "--quiet"]).args(args);
        command
    };
    run_command(&mut pip(HARNESS_PACKAGES), "installing the test harness's packages")?;
    run_command(&mut pip(&[&format!("redis=={REDIS_PY}")]), "installing redis-py")?;
    let mut download = Command::new(&python);
    download.args(["-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "--dest"]);
    download.arg(cache).arg(format!("redis=={REDIS_PY}"));
    run_command(&mut download, "downloading redis-py's source")?;
    let archive = cache.join(format!("redis-{REDIS_PY}.tar.gz"));
    run_command(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(cache), "unpacking redis-py")?;
    std::fs::write(&ready, "").map_err(|e| e.to_string())?;
    Ok((python, source))
}

/// Runs pytest on `targets` (files or test ids) against the Redis port at `url`; the ids that
/// passed, teardown included.
fn pytest(python: &Path, source: &Path, url: &str, targets: &[String]) -> Result<BTreeSet<String>, String> {
    let output = Command::new(python)
        .current_dir(source)
        .args(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:warnings", "--timeout", "30"])
        .arg(format!("--redis-url={url}"))
        .args(targets)
        .output()
        .map_err(|e| format!("cannot run pytest: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let summary = text.lines().last().unwrap_or_default().to_string();
    println!("pytest: {summary}");
    let ids = |prefix: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .map(|id| id.split(" - ").next().unwrap_or(id).trim().to_string())
            .collect()
    };
    // A test that passed but whose teardown erred (cleaning up with a command kvs lacks) does not count.
    let errored = ids("ERROR ");
    Ok(ids("PASSED ").into_iter().filter(|id| !errored.contains(id)).collect())
}

/// Runs redis-py's tests: the listed ones must pass (`all`: every test of the files, reported;
/// `update`: and the list rewritten from them).
pub async fn run(workspace: PathBuf, all: bool, update: bool) -> Result<(), String> {
    let (python, source) = prepare(&workspace.join("target").join("redis-py"))?;
    let list_path = workspace.join("xtask").join("redis-py-passing.txt");
    let listed: Vec<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect();
    let node = NodeProcess::start(None, &["--redis-port", "0"]);
    let url = format!("redis://{}", node.redis());
    if all || update {
        let files: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
        let passed = pytest(&python, &source, &url, &files)?;
        println!("{} tests of redis-py {REDIS_PY}'s {} files pass against kvs", passed.len(), FILES.len());
        if update {
            let header = "# redis-py's tests that pass against a kvs node (cargo xtask redis-py --update writes it)\n";
            let listed = passed.iter().filter(|id| !ORDER_DEPENDENT.contains(&id.as_str()));
            let body: String = listed.map(|id| format!("{id}\n")).collect();
            std::fs::write(&list_path, format!("{header}{body}")).map_err(|e| e.to_string())?;
            println!("wrote {}", list_path.display());
        }
        return Ok(());
    }
    if listed.is_empty() {
        return Err(format!("{} lists no test", list_path.display()));
    }
    let passed = pytest(&python, &source, &url, &listed)?;
    let failed: Vec<&String> = listed.iter().filter(|id| !passed.contains(*id)).collect();
    println!("{} of the {} listed redis-py tests pass", listed.len() - failed.len(), listed.len());
    if !failed.is_empty() {
        return Err(format!("listed redis-py tests that no longer pass: {failed:?}"));
    }
    drop(node);
    redis_cluster(&python, &workspace.join("xtask").join("redis-py-cluster.py")).await
}

/// `RedisCluster` against three nodes with a layout of two owners a slot.
async fn redis_cluster(python: &Path, script: &Path) -> Result<(), String> {
    const MEMBERS: usize = 3;
    let limit = std::time::Duration::from_secs(30);
    let nodes = kvs_tests::start_chain(MEMBERS, &["--redis-port", "0"]);
    kvs_tests::wait_for_open_gates(&nodes, limit).await;
    let applied = nodes[0].cli(&["cluster", "apply", "--replication-factor", "2"]);
    if !applied.status.success() {
        return Err(format!("cluster apply failed: {}", String::from_utf8_lossy(&applied.stderr)));
    }
    // Every node names both owners of every slot once it has heard where each serves Redis.
    for node in &nodes {
        let c = &mut node.resp();
        kvs_tests::resp::eventually(limit, "every slot's owners at their Redis ports", || {
            let slots: Vec<redis::Value> = kvs_tests::resp::run(c, &["CLUSTER", "SLOTS"]);
            let owners = |range: &redis::Value| match range {
                redis::Value::Array(fields) => fields.len() - 2,
                _ => 0,
            };
            let info: String = kvs_tests::resp::run(c, &["CLUSTER", "INFO"]);
            info.contains("cluster_state:ok") && slots.iter().all(|range| owners(range) == 2)
        });
    }
    let redis = nodes[1].redis();
    let mut command = Command::new(python);
    command.arg(script).arg(redis.ip().to_string()).arg(redis.port().to_string()).arg(MEMBERS.to_string());
    run_command(&mut command, "redis-py's RedisCluster against a kvs cluster")
}
