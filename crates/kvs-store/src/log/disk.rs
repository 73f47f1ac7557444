//! The filesystem seam: the only file of the log that names a filesystem. Real files normally;
//! under the `sim` feature, turmoil's simulated disk, which loses what was not fsynced when its
//! host crashes and may tear the last write.

#[cfg(not(feature = "sim"))]
pub(crate) use std::fs::{self, File, OpenOptions};
#[cfg(feature = "sim")]
pub(crate) use turmoil::fs::shim::std::fs::{self, File, OpenOptions};

use std::io;
use std::path::Path;

/// Whether the log writer runs on a thread of its own. The simulated disk only answers inside its
/// simulated host, so there the writer runs in the caller's task instead.
pub(crate) const WRITER_THREAD: bool = cfg!(not(feature = "sim"));

/// Takes the data dir's lock: an exclusive advisory lock, released when `file` closes or the
/// process dies. One simulated host is one process, so the simulation needs none.
pub(crate) fn lock(file: &File) -> io::Result<()> {
    #[cfg(not(feature = "sim"))]
    return file.try_lock().map_err(|e| io::Error::new(io::ErrorKind::WouldBlock, e.to_string()));
    #[cfg(feature = "sim")]
    {
        let _ = file;
        Ok(())
    }
}

/// Makes the directory's entries (a created or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(not(feature = "sim"))]
    return File::open(dir)?.sync_all();
    #[cfg(feature = "sim")]
    return fs::sync_dir(dir);
}

/// Reads a whole file: one slice per core on a real disk (the copy out of the page cache is most
/// of the cost of a large log), in one call on the simulated one.
pub(crate) fn read(path: &Path, threads: usize) -> io::Result<Vec<u8>> {
    #[cfg(feature = "sim")]
    {
        let _ = threads;
        fs::read(path)
    }
    #[cfg(not(feature = "sim"))]
    {
        use std::os::unix::fs::FileExt;
        let file = File::open(path)?;
        let len = file.metadata()?.len() as usize;
        let mut data = vec![0u8; len];
        let part = len.div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            let readers: Vec<_> = data
                .chunks_mut(part)
                .enumerate()
                .map(|(i, slice)| {
                    let file = &file;
                    scope.spawn(move || file.read_exact_at(slice, (i * part) as u64))
                })
                .collect();
            readers.into_iter().try_for_each(|r| r.join().expect("log reader panicked"))
        })?;
        Ok(data)
    }
}
