//! Locating (and first building) the binaries under test.
//!
//! `CARGO_BIN_EXE_*` only exists inside the binary's own package, so this crate builds the
//! binaries itself, once per test process, with the same profile the tests were built with and
//! the `fault` feature (the tests inject faults); xtask's scenarios and benches use release
//! binaries without it, as shipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding this profile's binaries (e.g. `target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test binary>
    exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps").to_path_buf()
}

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// `cargo build --quiet --bins -p kvs-node -p kvs-client`, in release mode if `release`, with the
/// `fault` feature if `faults`: how every caller builds the binaries it runs.
pub fn cargo_build(release: bool, faults: bool) -> Command {
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "--quiet", "--bins", "-p", "kvs-node", "-p", "kvs-client"]);
    if release {
        build.arg("--release");
    }
    if faults {
        build.args(["--features", "kvs-node/fault"]);
    }
    build
}

/// Builds the binaries in release mode and uses them from now on (for xtask's scenarios and
/// benches); with `KVS_BIN_DIR` set, uses the binaries there instead, unbuilt (to measure
/// another build of kvs with the same bench).
pub fn use_release_build(workspace: &Path) -> Result<(), String> {
    if let Some(dir) = std::env::var_os("KVS_BIN_DIR") {
        return DIR.set(PathBuf::from(dir)).map_err(|_| "binaries were already chosen".to_string());
    }
    let status =
        cargo_build(true, false).current_dir(workspace).status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    let dir = workspace.join("target").join("release");
    DIR.set(dir).map_err(|_| "binaries were already chosen".to_string())
}

fn build_once() -> &'static PathBuf {
    DIR.get_or_init(|| {
        let dir = profile_dir();
        // The tests inject faults (`--fault-*`), which only a build with the feature has.
        let release = dir.file_name().is_some_and(|name| name == "release");
        let mut build = cargo_build(release, true);
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building kvs-node and kvs-client failed");
        dir
    })
}

/// Path of a workspace binary, built if needed.
pub fn binary(name: &str) -> PathBuf {
    let path = build_once().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}
