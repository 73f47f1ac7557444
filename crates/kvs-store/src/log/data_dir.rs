//! The data directory: held by one node at a time, and where its identity lives.

use super::disk::{self, fs, File};
use super::LogError;
use kvs_proto::NodeId;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open data directory; the lock is held until this is dropped (or the process dies).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
    node: NodeId,
}

fn error(path: &Path, reason: impl Into<String>) -> LogError {
    LogError::DataDir { path: path.display().to_string(), reason: reason.into() }
}

impl DataDir {
    /// Creates (if needed) and locks `path`, and reads the node id stored there, or stores
    /// `fresh_id()` as the id if there is none yet.
    pub fn open(path: &Path, fresh_id: impl FnOnce() -> NodeId) -> Result<DataDir, LogError> {
        disk::create_private_dir(path).map_err(|e| error(path, format!("cannot create it: {e}")))?;
        for name in ["LOCK", "node-id", "log"] {
            disk::refuse_unless_regular(&path.join(name)).map_err(|e| error(path, e.to_string()))?;
        }
        let lock_path = path.join("LOCK");
        let lock = disk::private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| error(path, format!("cannot open {}: {e}", lock_path.display())))?;
        disk::lock(&lock).map_err(|_| {
            error(path, "in use by another kvs-node (its LOCK is held); two nodes cannot share a data dir")
        })?;
        let node = Self::node_id(path, fresh_id)?;
        Ok(DataDir { path: path.to_path_buf(), _lock: lock, node })
    }

    fn node_id(path: &Path, fresh_id: impl FnOnce() -> NodeId) -> Result<NodeId, LogError> {
        let id_path = path.join("node-id");
        match fs::read_to_string(&id_path) {
            Ok(text) => u64::from_str_radix(text.trim(), 16)
                .map(NodeId)
                .map_err(|e| error(path, format!("{} is not a node id: {e}", id_path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = fresh_id();
                let tmp = path.join("node-id.tmp");
                let write = || -> std::io::Result<()> {
                    let mut file = disk::create_private(&tmp)?;
                    writeln!(file, "{id}")?;
                    file.sync_all()?;
                    fs::rename(&tmp, &id_path)?;
                    disk::sync_dir(path)
                };
                write().map_err(|e| error(path, format!("cannot write {}: {e}", id_path.display())))?;
                Ok(id)
            }
            Err(e) => Err(error(path, format!("cannot read {}: {e}", id_path.display()))),
        }
    }

    /// The node id stored here.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The log file.
    pub fn log_path(&self) -> PathBuf {
        self.path.join("log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_opener_is_refused_and_the_id_survives() {
        let dir = std::env::temp_dir().join(format!("kvs-datadir-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = DataDir::open(&dir, || NodeId(7)).unwrap();
        let err = DataDir::open(&dir, || NodeId(8)).unwrap_err().to_string();
        assert!(err.contains("in use by another kvs-node"), "{err}");
        let id = first.node();
        drop(first);
        assert_eq!(DataDir::open(&dir, || NodeId(9)).unwrap().node(), id);
        assert_eq!(id, NodeId(7));
        fs::remove_dir_all(&dir).unwrap();
    }
}
