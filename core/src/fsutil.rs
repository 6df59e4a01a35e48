//! Files and folders the way the store needs them: private (0600 / 0700
//! whatever the umask), written atomically, synced to disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::cleanup::{self, CleanupGuard};
use crate::error::{Error, IoContext, Result};

/// Mode of every file lfb creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder lfb creates.
pub const DIR_MODE: u32 = 0o700;
/// Suffix of files being written; never counted as a backup.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Reads a small file whole, using `buf` as scratch space, in as few system
/// calls as possible: open, one read, close. `fs::read` asks for the size
/// first and reads once more to see the end; on 100,000 sidecars that is
/// twice the calls. A read that fills the buffer goes on to the end; one
/// that returns less is taken as the end, which is what a regular file does.
/// Callers parse what they read and fall back to `fs::read` when it does
/// not parse, so a short read elsewhere costs time, never a wrong answer.
pub fn read_small<'a>(path: &Path, buf: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
    let mut f = File::open(path)?;
    read_open_small(&mut f, buf)
}

/// [`read_small`], with the file's metadata from the open file (`fstat`:
/// no second walk of the path, as a `stat` by path would make).
pub fn read_small_with_meta<'a>(
    path: &Path,
    buf: &'a mut Vec<u8>,
) -> io::Result<(&'a [u8], fs::Metadata)> {
    let mut f = File::open(path)?;
    let meta = f.metadata()?;
    Ok((read_open_small(&mut f, buf)?, meta))
}

fn read_open_small<'a>(f: &mut File, buf: &'a mut Vec<u8>) -> io::Result<&'a [u8]> {
    use std::io::Read;
    // `buf` is scratch space, kept at its full length between calls, so
    // it is zeroed once rather than on every read.
    if buf.len() < 16 * 1024 {
        buf.resize(16 * 1024, 0);
    }
    let mut filled = 0;
    loop {
        match f.read(&mut buf[filled..]) {
            Ok(n) => {
                filled += n;
                if filled < buf.len() {
                    return Ok(&buf[..filled]);
                }
                let grown = buf.len() * 2;
                buf.resize(grown, 0);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Creates `dir` and any missing parents, each new one 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_private_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(Error::io_path("create folder", dir, e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
        .with_path("set permissions of", dir)
}

/// Opens a new private file (0600 whatever the umask), failing if it exists.
pub fn create_private_file(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .with_path("create", path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .with_path("set permissions of", path)?;
    Ok(f)
}

/// The folder a path is in: `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a folder so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_path("sync folder", dir)
}

/// The `.partial` path for a final path.
pub fn partial_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(PARTIAL_SUFFIX);
    PathBuf::from(s)
}

/// Moves `from` to `to` without ever replacing a file at `to`: a hard link
/// (which fails when `to` exists) and then the removal of `from`. A crash
/// between the two leaves both names, never neither. Where hard links are
/// not supported, a checked rename.
pub fn move_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
            }
            fs::rename(from, to)
        }
    }
}

/// A file that appears under its final name only once complete and synced.
///
/// Writes go to `FINAL.partial` in the final folder. [`AtomicFile::commit`]
/// fsyncs the file, renames it (refusing to replace an existing file) and
/// fsyncs the folder. Dropped without commit, or interrupted by a signal, the
/// partial file is removed.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    partial: PathBuf,
    _guard: CleanupGuard,
}

impl AtomicFile {
    /// Starts writing the file that will become `final_path`.
    pub fn create(final_path: &Path) -> Result<AtomicFile> {
        let partial = partial_path(final_path);
        let (file, guard) = create_undoable(&partial, false)?;
        Ok(AtomicFile {
            file: Some(file),
            partial,
            _guard: guard,
        })
    }

    /// The path being written.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// The open file (for readers that need to seek back).
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file is open until commit")
    }

    /// Syncs and moves the file to `final_path` (which must not exist).
    pub fn commit(mut self, final_path: &Path) -> Result<()> {
        let file = self.file.take().expect("file is open until commit");
        let res = (|| {
            file.sync_all().with_path("sync", &self.partial)?;
            if final_path.exists() {
                return Err(Error::io_path(
                    "write",
                    final_path,
                    io::Error::new(io::ErrorKind::AlreadyExists, "file exists"),
                ));
            }
            fs::rename(&self.partial, final_path).with_path("rename into place", final_path)
        })();
        drop(file);
        if let Err(e) = res {
            let _ = fs::remove_file(&self.partial);
            return Err(e);
        }
        sync_dir(parent_dir(final_path))?;
        Ok(())
    }
}

impl AtomicFile {
    /// Syncs and moves the file over `target`, replacing it atomically (the
    /// old file stays until the rename, the new one is complete when it
    /// appears).
    pub fn replace(mut self, target: &Path) -> Result<()> {
        let file = self.file.take().expect("file is open until commit");
        let res = file
            .sync_all()
            .with_path("sync", &self.partial)
            .and_then(|_| fs::rename(&self.partial, target).with_path("rename into place", target));
        drop(file);
        if let Err(e) = res {
            let _ = fs::remove_file(&self.partial);
            return Err(e);
        }
        sync_dir(parent_dir(target))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// A private (0700) temporary folder for scratch work (a test-restore
/// database, an extracted dump), removed when dropped and when the tool is
/// interrupted. A tool killed with SIGKILL cannot remove its folder: the
/// next [`ScratchDir::new`] (of any lfb tool run by the same user) removes
/// every `lfb-PURPOSE-PID-…` folder of that user whose process is gone.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    _guard: CleanupGuard,
}

impl ScratchDir {
    /// Creates a new scratch folder under the system's temporary folder.
    pub fn new(purpose: &str) -> Result<ScratchDir> {
        let base = std::env::temp_dir();
        reap_stale_scratch(&base);
        for i in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!("lfb-{purpose}-{}-{nanos}-{i}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::set_permissions(&path, fs::Permissions::from_mode(DIR_MODE))
                        .with_path("set permissions of", &path)?;
                    let p = path.clone();
                    let guard = cleanup::on_interrupt(move || {
                        let _ = fs::remove_dir_all(&p);
                    });
                    return Ok(ScratchDir {
                        path,
                        _guard: guard,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io_path("create", &path, e)),
            }
        }
        Err(Error::failed("cannot create a scratch folder"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid in a scratch folder name `lfb-PURPOSE-PID-NANOS-I`.
fn scratch_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("lfb-")?;
    let mut parts = rest.rsplitn(4, '-');
    let (i, nanos, pid, purpose) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(i) && digits(nanos) && !purpose.is_empty())
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes scratch folders left by lfb processes that were killed (SIGKILL,
/// OOM) before they could clean up: this user's own folders only, and only
/// when no process with the recorded pid exists.
fn reap_stale_scratch(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    let me = std::process::id();
    let euid = crate::sys::euid();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(scratch_pid) else {
            continue;
        };
        if pid == me || crate::sys::process_alive(pid) {
            continue;
        }
        let path = e.path();
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == euid => {
                let _ = fs::remove_dir_all(&path);
            }
            _ => {}
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Creates the partial file `partial` (replacing a stale one first when
/// `replace`) with its removal registered for an interruption, or refuses
/// once the tool is being interrupted: no partial file is left by a signal.
fn create_undoable(partial: &Path, replace: bool) -> Result<(File, cleanup::CleanupGuard)> {
    cleanup::start_undoable(|| {
        if replace {
            let _ = fs::remove_file(partial);
        }
        let file = create_private_file(partial)?;
        let p = partial.to_path_buf();
        let guard = cleanup::on_interrupt(move || {
            let _ = fs::remove_file(&p);
        });
        Ok((file, guard))
    })
    .unwrap_or_else(|| {
        Err(Error::failed(format!(
            "not writing {}: interrupted",
            partial.display()
        )))
    })
}

/// Writes a small file atomically (sidecars, metrics): partial, sync, rename.
/// Unlike [`AtomicFile::commit`] it replaces an existing file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let partial = partial_path(path);
    // Removed if the tool is interrupted before the rename (a no-op after).
    let (mut f, _guard) = create_undoable(&partial, true)?;
    let res = f
        .write_all(contents)
        .and_then(|_| f.sync_all())
        .with_path("write", &partial)
        .and_then(|_| fs::rename(&partial, path).with_path("rename into place", path));
    if res.is_err() {
        let _ = fs::remove_file(&partial);
    }
    res?;
    sync_dir(parent_dir(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn read_small_reads_whole_files_of_any_size_with_one_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        // Sizes around the buffer's first size and its doublings; the
        // buffer is reused, so a short file after a long one must not
        // come back with the long one's tail.
        for size in [
            40_000,
            0,
            1,
            450,
            16 * 1024 - 1,
            16 * 1024,
            16 * 1024 + 1,
            65_536,
            3,
        ] {
            let path = dir.path().join(format!("f{size}"));
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(
                read_small(&path, &mut buf).unwrap(),
                &bytes[..],
                "{size} bytes"
            );
        }
        let missing = read_small(&dir.path().join("nope"), &mut buf).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn atomic_file_appears_only_on_commit_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let fin = dir.path().join("a.sql.gz");
        let mut f = AtomicFile::create(&fin).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!fin.exists());
        assert!(partial_path(&fin).exists());
        f.commit(&fin).unwrap();
        assert_eq!(fs::read(&fin).unwrap(), b"hello");
        assert!(!partial_path(&fin).exists());
        assert_eq!(fs::metadata(&fin).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn dropped_atomic_file_leaves_nothing_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let fin = dir.path().join("a");
        drop(AtomicFile::create(&fin).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        fs::write(&fin, b"old").unwrap();
        let f = AtomicFile::create(&fin).unwrap();
        assert!(f.commit(&fin).is_err());
        assert_eq!(fs::read(&fin).unwrap(), b"old");
    }

    #[test]
    fn scratch_folders_of_dead_processes_are_reaped() {
        assert_eq!(scratch_pid("lfb-verify-123-456-0"), Some(123));
        assert_eq!(scratch_pid("lfb-re-store-123-456-7"), Some(123));
        assert_eq!(scratch_pid("lfb-verify-x-456-0"), None);
        assert_eq!(scratch_pid("other-verify-1-2-3"), None);
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot be running (above the kernel's maximum).
        let dead = dir.path().join("lfb-verify-2147483000-1-0");
        let alive = dir
            .path()
            .join(format!("lfb-verify-{}-1-0", std::process::id()));
        let unrelated = dir.path().join("lfb-notes");
        for d in [&dead, &alive, &unrelated] {
            fs::create_dir(d).unwrap();
            fs::write(d.join("scratch.sqlite3"), b"x").unwrap();
        }
        reap_stale_scratch(dir.path());
        assert!(!dead.exists());
        assert!(alive.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn private_dirs_ignore_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("x/y");
        create_private_dir(&d).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            fs::metadata(d.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn move_noreplace_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let e = move_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
        assert!(a.exists());
        move_noreplace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&c).unwrap(), "a");
    }
}
