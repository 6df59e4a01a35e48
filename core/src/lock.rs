//! The store lock: tools that change the store hold it, so two overlapping
//! cron runs cannot interleave their changes.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::Store;

/// An exclusive lock on a store, released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock, waiting up to `wait` for another run to release it.
    pub fn acquire(store: &Store, wait: Duration) -> Result<StoreLock> {
        store.ensure_dir(store.root())?;
        let path = store.lock_path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io_path("open lock", &path, e).at_start())?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    write_holder(&file);
                    return Ok(StoreLock { _file: file });
                }
                Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                    // Say what we wait for once it is more than a moment.
                    if !told && start.elapsed() >= Duration::from_secs(1) {
                        told = true;
                        eprintln!(
                            "{}: waiting for the store lock '{}', held by {} (up to {}s)",
                            tool_name(),
                            path.display(),
                            holder(&path),
                            wait.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::unavailable(format!(
                        "store '{}' is locked by {} (waited {}s for '{}')",
                        store.root().display(),
                        holder(&path),
                        wait.as_secs(),
                        path.display()
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io_path("lock", &path, e).at_start());
                }
            }
        }
    }
}

fn tool_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "lfb".into())
}

/// Records who holds the lock (`lfb-prune pid 123 since 2026-…`) in the
/// lock file, for the message of a run that has to wait. The lock itself is
/// the advisory lock on the file, not its contents.
fn write_holder(file: &File) {
    use std::io::{Seek, Write};
    let line = format!(
        "{} pid {} since {}\n",
        tool_name(),
        std::process::id(),
        crate::record::format_time(chrono::Utc::now())
    );
    let mut f = file;
    let _ = f.set_len(0);
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = f.write_all(line.as_bytes());
}

/// Who holds the lock, as its holder recorded it.
fn holder(path: &std::path::Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => "another lfb run".into(),
    }
}
