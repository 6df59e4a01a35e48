//! One restore at a time into a target database: a lock file per target in
//! the store's lock folder (`STORE/.lfb-locks/restore-ENGINE-DB-HASH.lock`,
//! keyed by engine, host, port/socket and database, or the SQLite file's
//! path), held from before the safety backup to the end of the restore.
//!
//! Why a lock file rather than a PostgreSQL advisory lock: it works the
//! same for the three engines (SQLite has no advisory locks, MariaDB's
//! `GET_LOCK` and PostgreSQL's need a session kept open beside the client
//! programs that do the restore), it can name its holder (tool, pid, time)
//! in the message of the run that has to wait, and it waits with the same
//! `--wait` as the rest of lfb-restore. What it does not do: serialise two
//! restores that use different stores (or reach one server by two names);
//! those still run one after the other inside the server's own locks, but
//! the loser may then report a count taken while the winner was loading.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lfb_core::cli::Ui;
use lfb_core::engine::url::{Database, ServerConn};
use lfb_core::error::{Error, Result};
use lfb_core::store::Store;

/// The folder of the per-target lock files, in the store.
pub const LOCK_DIR: &str = ".lfb-locks";

/// A held target lock, released on drop (and by the kernel if the process
/// dies).
#[derive(Debug)]
pub struct TargetLock {
    _file: File,
}

/// Takes the lock of `db` in `store`, waiting up to `wait` for another
/// lfb-restore into the same target; after that, exit 2 naming the holder.
pub fn acquire(store: &Store, db: &Database, wait: Duration, ui: &Ui) -> Result<TargetLock> {
    let dir = store.root().join(LOCK_DIR);
    store.ensure_dir(store.root())?;
    store.ensure_dir(&dir)?;
    let path = dir.join(file_name(db));
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
                write_holder(&file, db);
                return Ok(TargetLock { _file: file });
            }
            Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                if !told && start.elapsed() >= Duration::from_secs(1) {
                    told = true;
                    ui.info(format!(
                        "waiting for another restore into {}: held by {} (up to {}s, --wait)",
                        db.redacted(),
                        holder(&path),
                        wait.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::unavailable(format!(
                    "{} is being restored by {} (waited {}s for '{}'); nothing was changed: \
                     run again when it ends, or give a longer --wait",
                    db.redacted(),
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

/// `restore-ENGINE-DB-HASH.lock`: readable, and unique per target (the
/// hash covers everything that names it).
pub fn file_name(db: &Database) -> String {
    let (engine, name, key) = match db {
        Database::Postgres(c) => ("postgres", c.database.clone(), server_key(c, 5432)),
        Database::Mysql(c) => ("mysql", c.database.clone(), server_key(c, 3306)),
        Database::Sqlite(p) => {
            let abs = absolute(p);
            (
                "sqlite",
                abs.file_name().map(|f| f.to_string_lossy().into_owned()),
                abs.to_string_lossy().into_owned(),
            )
        }
    };
    let slug: String = name
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!(
        "restore-{engine}-{slug}-{:016x}.lock",
        fnv1a(&format!("{engine}\0{key}"))
    )
}

/// Host, port, socket and database: what decides which database a
/// connection reaches (not the user or password).
fn server_key(c: &ServerConn, default_port: u16) -> String {
    format!(
        "{}\0{}\0{}\0{}\0{}",
        c.host.as_deref().unwrap_or(""),
        c.port.unwrap_or(default_port),
        c.param("host").unwrap_or(""),
        c.param("socket").unwrap_or(""),
        c.database.as_deref().unwrap_or("")
    )
}

/// The SQLite file's path, absolute and with symlinks resolved where it
/// exists, so two spellings of one file share a lock.
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(f)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map(|d| d.join(f))
                .unwrap_or_else(|_| p.to_path_buf())
        }
        _ => p.to_path_buf(),
    }
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Records who holds the lock, for the message of a run that has to wait.
fn write_holder(file: &File, db: &Database) {
    let line = format!(
        "lfb-restore pid {} since {} (into {})\n",
        std::process::id(),
        lfb_core::record::format_time(chrono::Utc::now()),
        db.redacted()
    );
    let mut f = file;
    let _ = f.set_len(0);
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = f.write_all(line.as_bytes());
}

fn holder(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => "another lfb-restore".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_target_one_name_and_users_do_not_matter() {
        let a = Database::parse("postgresql://alice:pw@db.example:5432/shop").unwrap();
        let b = Database::parse("postgresql://bob@db.example/shop").unwrap();
        let c = Database::parse("postgresql://bob@db.example/other").unwrap();
        let m = Database::parse("mysql://bob@db.example/shop").unwrap();
        assert_eq!(file_name(&a), file_name(&b));
        assert_ne!(file_name(&a), file_name(&c));
        assert_ne!(file_name(&a), file_name(&m));
        assert!(file_name(&a).starts_with("restore-postgres-shop-"));
    }
}
