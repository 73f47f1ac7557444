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

/// Options for opening a data dir file: created readable by this user only (0600), and never
/// through a symbolic link (O_NOFOLLOW), so nobody can point the log at another file.
pub(crate) fn private_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(not(feature = "sim"))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// Creates (or truncates) a private data dir file for writing.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    private_options().write(true).create(true).truncate(true).open(path)
}

/// Refuses a data dir entry that is a symbolic link, with a message saying so.
pub(crate) fn refuse_symlink(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symbolic link; kvs never follows links in its data dir",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Refuses a data dir file that exists but is not a regular file: a symbolic link (never
/// followed), or a FIFO, socket, device or directory, where a read could block for ever.
pub(crate) fn refuse_unless_regular(path: &Path) -> io::Result<()> {
    refuse_symlink(path)?;
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => Err(io::Error::other(format!(
            "{} is not a regular file (a FIFO, socket, device or directory); kvs opens only regular files in its data dir",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Creates the data dir if needed, readable by this user only (0700); an existing one that
/// others may read is reported, not changed.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    refuse_symlink(path)?;
    if fs::metadata(path).is_ok() {
        #[cfg(not(feature = "sim"))]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the data dir is open to other users; 0700 is advised");
            }
        }
        return Ok(());
    }
    fs::create_dir_all(path)?;
    #[cfg(not(feature = "sim"))]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
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
        refuse_symlink(path)?;
        fs::read(path)
    }
    #[cfg(not(feature = "sim"))]
    {
        use std::os::unix::fs::FileExt;
        let file = private_options().read(true).open(path)?;
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
