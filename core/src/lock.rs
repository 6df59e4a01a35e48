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
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::unavailable(format!(
                        "store '{}' is locked by another lfb run (waited {}s for '{}')",
                        store.root().display(),
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
