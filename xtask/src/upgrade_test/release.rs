//! The previous release: which it is (CHANGELOG.md's newest entry cut from a commit), its
//! binaries (built from that commit once, in a cached git worktree), and what it speaks.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A release as CHANGELOG.md lists it.
#[derive(Debug)]
pub(super) struct Release {
    pub(super) version: String,
    pub(super) commit: String,
}

/// The newest release in `changelog`: a `## <version> — cut from <40-hex commit>` heading.
pub(super) fn previous_release(changelog: &str) -> Result<Release, String> {
    changelog
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .find_map(|heading| {
            let (version, rest) = heading.split_once(' ')?;
            let commit = rest.rsplit(' ').next()?;
            (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| Release { version: version.to_string(), commit: commit.to_string() })
        })
        .ok_or_else(|| "CHANGELOG.md names no release cut from a commit".into())
}

fn run_command(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("cannot run {what}: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("{what} failed ({status})"))
}

/// The previous release's binaries, built from its commit once and cached.
pub(super) fn build_release(workspace: &Path, release: &Release) -> Result<PathBuf, String> {
    let cache = workspace.join("target").join("upgrade-test");
    let bin = cache.join(format!("bin-{}", release.commit));
    if bin.join("kvs-node").exists() && bin.join("kvs-client").exists() {
        println!("release {} ({}): cached in {}", release.version, &release.commit[..12], bin.display());
        return Ok(bin);
    }
    let has_commit = Command::new("git")
        .current_dir(workspace)
        .args(["cat-file", "-e", &format!("{}^{{commit}}", release.commit)])
        .status()
        .is_ok_and(|s| s.success());
    if !has_commit {
        return Err(format!(
            "release {}'s commit {} is not in this clone (a shallow clone?); fetch the history to build it",
            release.version, release.commit
        ));
    }
    let tree = cache.join(format!("src-{}", release.commit));
    if !tree.join("Cargo.toml").exists() {
        // A worktree removed by hand stays registered until pruned.
        run_command(Command::new("git").current_dir(workspace).args(["worktree", "prune"]), "git worktree prune")?;
        let mut add = Command::new("git");
        add.current_dir(workspace).args(["worktree", "add", "--force", "--detach"]).arg(&tree).arg(&release.commit);
        run_command(&mut add, "git worktree add")?;
    }
    println!("building release {} from {} in {}", release.version, &release.commit[..12], tree.display());
    let mut build = kvs_tests::binaries::cargo_build(true, false);
    build.current_dir(&tree).env("CARGO_TARGET_DIR", cache.join("target"));
    run_command(&mut build, "building the previous release")?;
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    for name in ["kvs-node", "kvs-client"] {
        std::fs::copy(cache.join("target").join("release").join(name), bin.join(name))
            .map_err(|e| format!("cannot keep {name}: {e}"))?;
    }
    Ok(bin)
}

/// What a build says of itself in `kvs-node --version`: the newest wire protocol it speaks and
/// the newest log format it reads, e.g. `kvs-node 0.1.0 (wire protocol 7, log format 3)` or
/// `kvs-node 0.2.0 (wire protocols 7 to 8, log format 4; …)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Speaks {
    pub(super) protocol: u32,
    pub(super) log_format: u32,
}

pub(super) fn speaks(version_line: &str) -> Result<Speaks, String> {
    let numbers =
        |text: &str| -> Vec<u32> { text.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect() };
    let protocols = version_line.split_once("wire protocol").and_then(|(_, rest)| rest.split_once(','));
    let protocol = protocols.and_then(|(protocols, _)| numbers(protocols).into_iter().max());
    let log = version_line.split_once("log format ").and_then(|(_, rest)| numbers(rest).first().copied());
    match (protocol, log) {
        (Some(protocol), Some(log_format)) => Ok(Speaks { protocol, log_format }),
        _ => Err(format!("cannot read the protocol and log format from {version_line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::previous_release;

    #[test]
    fn a_version_line_says_the_newest_protocol_and_log_format() {
        let old = super::speaks("kvs-node 0.1.0 (wire protocol 7, log format 3)").unwrap();
        assert_eq!((old.protocol, old.log_format), (7, 3));
        let line = "kvs-node 0.2.0 (wire protocols 7 to 8, log format 4; format 3 until the cluster opens the log-format-4 gate)";
        let new = super::speaks(line).unwrap();
        assert_eq!((new.protocol, new.log_format), (8, 4));
        assert!(super::speaks("kvs-node 0.0.1").is_err());
    }

    #[test]
    fn the_newest_release_with_a_commit_is_the_previous_one() {
        let changelog = "# Changelog\n\n## 0.2.0 — cut from 2222222222222222222222222222222222222222\n\n\
                         ## 0.1.0 — cut from 1111111111111111111111111111111111111111\n";
        let release = previous_release(changelog).unwrap();
        assert_eq!((release.version.as_str(), &release.commit[..4]), ("0.2.0", "2222"));
        assert!(previous_release("# Changelog\n\n## Unreleased\n").is_err());
    }
}
