//! Every `kvs-node` and `kvs-client` command the README and the docs show, in code blocks and
//! inline, parses: each is run with `--help` appended, which the binary answers only once every
//! argument before it is one it takes. A renamed flag or a removed subcommand fails here, not
//! in a reader's terminal.

use kvs_tests::binaries::binary;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pages a reader follows.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("docs entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The commands of one page: lines of code blocks (continuations joined) and inline code spans
/// that run `kvs-node` or `kvs-client`, as (line number, program, arguments).
fn commands(text: &str) -> Vec<(usize, &'static str, Vec<String>)> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let candidates: Vec<String> = if in_block {
            pending.push_str(line.trim_end_matches('\\'));
            if line.ends_with('\\') {
                continue;
            }
            vec![std::mem::take(&mut pending)]
        } else {
            line.split('`').skip(1).step_by(2).map(str::to_string).collect()
        };
        for candidate in candidates {
            if let Some(command) = command(&candidate) {
                found.push((n + 1, command.0, command.1));
            }
        }
    }
    found
}

/// A shell line as a command of ours, if it is one with nothing left for a reader to fill in.
fn command(line: &str) -> Option<(&'static str, Vec<String>)> {
    let line = line.split(" #").next()?.trim().trim_end_matches('&').trim();
    let words: Vec<&str> = line.split_whitespace().collect();
    let (program, rest) = match words.as_slice() {
        ["cargo", "run", "--release", "--bin", name, "--", rest @ ..] => (*name, rest),
        [first, rest @ ..] => (first.rsplit('/').next()?, rest),
        [] => return None,
    };
    let program = match program {
        "kvs-node" => "kvs-node",
        "kvs-client" => "kvs-client",
        _ => return None,
    };
    // Placeholders, variables and pipes are for a reader to complete.
    let filled = !line.contains(['<', '$', '|', '…', '[']) && !line.contains("...");
    filled.then(|| (program, rest.iter().map(|w| w.trim_matches('\'').trim_matches('"').to_string()).collect()))
}

#[test]
fn every_command_the_docs_show_parses() {
    let (mut checked, mut failures) = (0, Vec::new());
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        for (line, program, args) in commands(&text) {
            let output = Command::new(binary(program))
                .args(&args)
                .arg("--help")
                .stdin(Stdio::null())
                .output()
                .expect("run the binary");
            checked += 1;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                failures.push(format!("{}:{line}: {program} {}\n  {stderr}", page.display(), args.join(" ")));
            }
        }
    }
    assert!(checked >= 30, "only {checked} commands found: the scan is broken");
    assert!(failures.is_empty(), "commands the docs show that do not parse:\n{}", failures.join("\n"));
}
