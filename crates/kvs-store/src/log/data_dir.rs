//! The data directory: held by one node at a time, and where its identity lives.

use super::disk::{self, fs, File};
use super::{fetching_file, layout_file, LogError};
use kvs_proto::layout::Layout;
use kvs_proto::slot_set::SlotSet;
use kvs_proto::NodeId;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open data directory; the lock is held until this is dropped (or the process dies).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
    node: NodeId,
    cluster_version: Option<u32>,
    layout: Option<Layout>,
    fetching: Option<SlotSet>,
}

/// The file recording the cluster version this node last found (see the node's feature gates).
/// Release 0.1.0 neither reads nor minds it.
const CLUSTER_VERSION_FILE: &str = "cluster-version";

/// The file recording the newest layout this node adopted (see [`super::layout_file`]).
const LAYOUT_FILE: &str = "layout";

/// The file recording the slots this node has yet to fetch (see [`super::fetching_file`]).
const FETCHING_FILE: &str = "fetching";

fn error(path: &Path, reason: impl Into<String>) -> LogError {
    LogError::DataDir { path: path.display().to_string(), reason: reason.into() }
}

impl DataDir {
    /// Creates (if needed) and locks `path`, and reads the node id stored there, or stores
    /// `fresh_id()` as the id if there is none yet.
    pub fn open(path: &Path, fresh_id: impl FnOnce() -> NodeId) -> Result<DataDir, LogError> {
        disk::create_private_dir(path).map_err(|e| error(path, format!("cannot create it: {e}")))?;
        for name in ["LOCK", "node-id", "log", CLUSTER_VERSION_FILE, LAYOUT_FILE, FETCHING_FILE] {
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
        let cluster_version = Self::read_cluster_version(path)?;
        let layout = Self::read_layout(path)?;
        let fetching = Self::read_fetching(path)?;
        Ok(DataDir { path: path.to_path_buf(), _lock: lock, node, cluster_version, layout, fetching })
    }

    fn read_layout(path: &Path) -> Result<Option<Layout>, LogError> {
        Self::read_text(path, LAYOUT_FILE, "no layout", layout_file::from_text)
    }

    fn read_fetching(path: &Path) -> Result<Option<SlotSet>, LogError> {
        Self::read_text(path, FETCHING_FILE, "no slots", fetching_file::from_text)
    }

    /// What the text file `name` here holds, as `parse` reads it (`None`: there is no such file;
    /// an error saying it holds `what` when `parse` refuses it).
    fn read_text<T>(
        path: &Path,
        name: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, LogError> {
        let file = path.join(name);
        match fs::read_to_string(&file) {
            Ok(text) => {
                parse(&text).map(Some).map_err(|e| error(path, format!("{} holds {what}: {e}", file.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(error(path, format!("cannot read {}: {e}", file.display()))),
        }
    }

    fn read_cluster_version(path: &Path) -> Result<Option<u32>, LogError> {
        let file = path.join(CLUSTER_VERSION_FILE);
        match fs::read_to_string(&file) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| error(path, format!("{} is not a cluster version: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(error(path, format!("cannot read {}: {e}", file.display()))),
        }
    }

    /// Writes `text` to the file `name` here, whole or not at all (a temporary file renamed over
    /// it, both synced).
    fn replace_file(path: &Path, name: &str, text: &str) -> Result<(), LogError> {
        let target = path.join(name);
        let tmp = path.join(format!("{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut file = disk::create_private(&tmp)?;
            writeln!(file, "{text}")?;
            file.sync_all()?;
            fs::rename(&tmp, &target)?;
            disk::sync_dir(path)
        };
        write().map_err(|e| error(path, format!("cannot write {}: {e}", target.display())))
    }

    fn node_id(path: &Path, fresh_id: impl FnOnce() -> NodeId) -> Result<NodeId, LogError> {
        let id_path = path.join("node-id");
        match fs::read_to_string(&id_path) {
            Ok(text) => u64::from_str_radix(text.trim(), 16)
                .map(NodeId)
                .map_err(|e| error(path, format!("{} is not a node id: {e}", id_path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = fresh_id();
                Self::replace_file(path, "node-id", &id.to_string())?;
                Ok(id)
            }
            Err(e) => Err(error(path, format!("cannot read {}: {e}", id_path.display()))),
        }
    }

    /// The node id stored here.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The cluster version recorded here (`None`: never recorded, as by release 0.1.0).
    pub fn cluster_version(&self) -> Option<u32> {
        self.cluster_version
    }

    /// Records that the cluster reached `version`, before anything that depends on it is written.
    pub fn record_cluster_version(&mut self, version: u32) -> Result<(), LogError> {
        Self::replace_file(&self.path, CLUSTER_VERSION_FILE, &version.to_string())?;
        self.cluster_version = Some(version);
        Ok(())
    }

    /// The layout recorded here (`None`: this node never adopted one).
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// Records the layout this node adopted, so that a restart resumes under it.
    pub fn record_layout(&mut self, layout: &Layout) -> Result<(), LogError> {
        Self::replace_file(&self.path, LAYOUT_FILE, &layout_file::to_text(layout))?;
        self.layout = Some(layout.clone());
        Ok(())
    }

    /// The slots recorded as yet to fetch (`None`: never recorded).
    pub fn fetching(&self) -> Option<&SlotSet> {
        self.fetching.as_ref()
    }

    /// Records the slots this node has yet to fetch, so that a restart fetches them still.
    pub fn record_fetching(&mut self, slots: &SlotSet) -> Result<(), LogError> {
        Self::replace_file(&self.path, FETCHING_FILE, &fetching_file::to_text(slots))?;
        self.fetching = Some(slots.clone());
        Ok(())
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
        assert_eq!(first.cluster_version(), None);
        let mut first = first;
        first.record_cluster_version(8).unwrap();
        drop(first);
        assert_eq!(DataDir::open(&dir, || NodeId(9)).unwrap().cluster_version(), Some(8));
        assert_eq!(DataDir::open(&dir, || NodeId(9)).unwrap().node(), id);
        assert_eq!(id, NodeId(7));
        fs::remove_dir_all(&dir).unwrap();
    }
}
