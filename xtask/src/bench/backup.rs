//! Backup and restore: `kvs-client export` and `import` against `redis-cli --rdb` and
//! `redis-cli --pipe` on the same keys, alternating rounds, each checked for every key.

use super::load;
use super::redis_tools::{median, require, RedisServer};
use clap::Args;
use kvs_tests::binaries::binary;
use kvs_tests::NodeProcess;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Backup bench flags.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Keys (16-byte keys, 100-byte values).
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Rounds; medians and the spread are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Runs `command`, failing with its output unless it succeeds; returns its seconds and stdout.
fn timed(command: &mut Command) -> Result<(f64, String), String> {
    let started = Instant::now();
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{command:?} failed: {}{stderr}", String::from_utf8_lossy(&output.stdout)));
    }
    Ok((seconds, String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// The keys a redis-server holds.
fn dbsize(port: u16) -> Result<usize, String> {
    let (_, out) = timed(Command::new("redis-cli").args(["-p", &port.to_string(), "DBSIZE"]))?;
    out.trim().parse().map_err(|_| format!("DBSIZE answered {out:?}"))
}

/// Writes the same keys as `SET` commands in RESP, what `redis-cli --pipe` loads.
fn write_commands(path: &Path, keys: usize) -> Result<(), String> {
    let mut out = Vec::with_capacity(keys * 150);
    for set in load::sets(0..keys, &[b'v'; 100]) {
        let args: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
        load::encode(&mut out, &args);
    }
    std::fs::write(path, out).map_err(|e| e.to_string())
}

/// One round: export and import with both tools; seconds for each.
async fn round(args: &BackupArgs, dir: &Path, commands: &Path) -> Result<[f64; 4], String> {
    let n = args.keys;
    // `redis-cli --rdb` syncs as a replica would; without the delay a primary waits for more
    // replicas to share a diskless sync (5 s by default), it measures the copy alone.
    let no_delay =
        |port: u16| ["--port", &port.to_string(), "--repl-diskless-sync-delay", "0"].map(String::from).to_vec();
    let (source, redis) = (NodeProcess::start(None, &["--redis-port", "0"]), RedisServer::start_with(no_delay)?);
    super::rig::serve(source.pid());
    load::pipeline(source.redis().port(), load::sets(0..n, &[b'v'; 100]))?;
    load::pipeline(redis.port, load::sets(0..n, &[b'v'; 100]))?;

    let file = dir.join("backup.kvs");
    let _ = std::fs::remove_file(&file);
    let client = binary("kvs-client");
    let (kvs_export, out) = timed(Command::new(&client).arg(source.addr.to_string()).arg("export").arg(&file))?;
    if !out.starts_with(&format!("exported {n} keys")) {
        return Err(format!("the export said {out:?}"));
    }
    let rdb = dir.join("dump.rdb");
    let port = redis.port.to_string();
    let (redis_export, _) = timed(Command::new("redis-cli").args(["-p", &port, "--rdb"]).arg(&rdb))?;

    let target = NodeProcess::start(None, &[]);
    super::rig::serve(target.pid());
    let (kvs_import, _) = timed(Command::new(&client).arg(target.addr.to_string()).arg("import").arg(&file))?;
    let held = target.status().await.map_err(|e| e.to_string())?.key_count as usize;
    if held != n {
        return Err(format!("the import left {held} keys of {n}"));
    }
    let fresh = RedisServer::start()?;
    let input = std::fs::File::open(commands).map_err(|e| e.to_string())?;
    let mut pipe = Command::new("redis-cli");
    pipe.args(["-p", &fresh.port.to_string(), "--pipe"]).stdin(Stdio::from(input));
    let (redis_import, _) = timed(&mut pipe)?;
    if dbsize(fresh.port)? != n {
        return Err("redis-cli --pipe did not load every key".into());
    }
    Ok([kvs_export, redis_export, kvs_import, redis_import])
}

/// Runs the backup bench and prints keys per second, medians and spread.
pub async fn run(args: BackupArgs) -> Result<(), String> {
    require("redis-server")?;
    require("redis-cli")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let commands = dir.path().join("commands.resp");
    write_commands(&commands, args.keys)?;
    let mut seconds: [Vec<f64>; 4] = Default::default();
    for i in 0..args.rounds {
        let took = round(&args, dir.path(), &commands).await?;
        let rates = took.map(|s| args.keys as f64 / s);
        println!(
            "round {}: export kvs {:.0} keys/s, redis-cli --rdb {:.0}; import kvs {:.0}, redis-cli --pipe {:.0}",
            i + 1,
            rates[0],
            rates[1],
            rates[2],
            rates[3]
        );
        for (all, s) in seconds.iter_mut().zip(took) {
            all.push(s);
        }
    }
    println!("{} keys of 16 bytes with 100-byte values, {} rounds, keys/s: median (min–max)", args.keys, args.rounds);
    let names = [
        "export: kvs-client export",
        "export: redis-cli --rdb",
        "import: kvs-client import",
        "import: redis-cli --pipe",
    ];
    for (name, all) in names.iter().zip(seconds.iter_mut()) {
        let rates: Vec<f64> = all.iter().map(|s| args.keys as f64 / s).collect();
        let (low, high) = rates.iter().fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        println!("{name:<28} {:>10.0} ({low:.0}–{high:.0})", args.keys as f64 / median(all));
    }
    Ok(())
}
