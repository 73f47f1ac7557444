//! `kvs-node --config FILE`: flags from a TOML file, overridden by the command line.

use kvs_client::{ClientError, ErrorCode};
use kvs_tests::NodeProcess;

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("kvs.toml");
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_node_takes_its_flags_from_the_file_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "max-key-bytes = 4\nredis-port = 0\ngossip-interval-ms = 100\n");
    let node = NodeProcess::start(None, &["--config", &config]);
    assert!(node.redis_addr.is_some(), "redis-port from the file");
    let refused = node.client().await.set("sixsix", "v").await.unwrap_err();
    assert!(matches!(&refused, ClientError::Server(reply) if reply.code == ErrorCode::KeyTooLarge), "{refused}");

    let node = NodeProcess::start(None, &["--config", &config, "--max-key-bytes", "8"]);
    node.client().await.set("sixsix", "v").await.expect("the command line's bound wins");
}

#[test]
fn a_key_no_flag_has_stops_the_node_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "max-key-bytes = 4\nmax-keys = 9\n");
    let (code, stderr) = NodeProcess::failed_start(([127, 0, 0, 1], 0).into(), &["--config", &config]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown key `max-keys`"), "{stderr}");
}

#[test]
fn help_groups_the_flags_and_shows_defaults_in_units() {
    let out = std::process::Command::new(kvs_tests::binaries::binary("kvs-node")).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for heading in ["Network:", "Membership:", "Storage:", "Limits:", "Security:", "RUST_LOG"] {
        assert!(help.contains(heading), "{heading} missing from:\n{help}");
    }
    assert!(help.contains("[default: 6s]") && help.contains("[default: 8MiB]"), "{help}");
}
