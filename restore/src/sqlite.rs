//! Atomic restore of a SQLite database file.
//!
//! The new database is built beside the target as `TARGET.lfb-restore.partial`
//! (removed if anything fails or the run is interrupted), loaded, checked
//! with `PRAGMA integrity_check`, synced, and only then renamed over the
//! target: at every instant the target is either the old database or the
//! new one. The old database is checkpointed first so that no `-wal` file of
//! it can be replayed into the new one.

use std::fs;
use std::io;
use std::path::Path;

use lfb_core::cli::Ui;
use lfb_core::error::IoContext;
use lfb_core::fsutil::{self, AtomicFile};
use lfb_core::{Error, Result, load};

use crate::Restored;

/// Restores `artifact` over the SQLite database `target`.
pub fn restore(target: &Path, artifact: &Path, format: &str, ui: &Ui) -> Result<Restored> {
    let fname = target
        .file_name()
        .ok_or_else(|| Error::usage(format!("'{}' is not a file path", target.display())))?;
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let building = dir.join(format!("{}.lfb-restore", fname.to_string_lossy()));
    let partial = fsutil::partial_path(&building);
    let _ = fs::remove_file(&partial);
    let mut file = AtomicFile::create(&building)?;
    let mut src = load::open_decoded(artifact, format)?;
    if format.starts_with("sqlite") {
        io::copy(&mut src, &mut file).with_path("write", &partial)?;
    } else {
        // rusqlite writes the file itself; the AtomicFile only guards it.
        load::sqlite_load(&partial, &mut src)?;
    }
    let conn = rusqlite::Connection::open(&partial)
        .map_err(|e| Error::failed(format!("cannot open the restored database: {e}")))?;
    let ic: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| Error::failed(format!("integrity_check: {e}")))?;
    if ic != "ok" {
        return Err(Error::failed(format!(
            "restored database fails integrity_check: {ic}"
        )));
    }
    // A single-file database: no journal or WAL beside the new file.
    conn.execute_batch("PRAGMA journal_mode=DELETE;")
        .map_err(|e| Error::failed(format!("cannot set journal mode: {e}")))?;
    drop(conn);
    let counts = lfb_core::engine::sqlite::table_counts(&partial)?;

    checkpoint(target, ui)?;
    file.replace(target)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut s = target.as_os_str().to_owned();
        s.push(suffix);
        let p = std::path::PathBuf::from(s);
        if p.exists() {
            fs::remove_file(&p).with_path("remove", &p)?;
        }
    }
    Ok(Restored {
        counts: Some(counts),
    })
}

/// Folds the old database's WAL into it, so none is left to replay.
fn checkpoint(target: &Path, ui: &Ui) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    let conn = rusqlite::Connection::open(target)
        .map_err(|e| Error::failed(format!("cannot open '{}': {e}", target.display())))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| Error::failed(format!("cannot read '{}': {e}", target.display())))?;
    if mode.eq_ignore_ascii_case("wal") {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| Error::failed(format!("cannot checkpoint '{}': {e}", target.display())))?;
        ui.debug(format!("checkpointed the WAL of {}", target.display()));
    }
    Ok(())
}
