//! Atomic, faithful restore of a SQLite database file.
//!
//! The new database is built beside the target as `TARGET.lfb-restore.partial`
//! (removed if anything fails or the run is interrupted, and by the next
//! restore of the same target if a kill left it), loaded, checked with
//! `PRAGMA integrity_check` and against the record's row counts. Only then is
//! the target touched:
//!
//! - An existing database is overwritten **in place** with SQLite's online
//!   backup API, in one write transaction of the target. It is the same
//!   file afterwards (owner, group, mode, ACLs, extended attributes, hard
//!   links all stay), other connections see either the old or the new
//!   database (SQLite's own locking), and a kill at any point leaves a hot
//!   journal (or an uncommitted WAL tail) that SQLite rolls back at the next
//!   open: the target is the old database. The target keeps its journal mode
//!   (a WAL database stays WAL, a rollback-journal one stays so, whatever the
//!   dump's source was); a WAL target also keeps its page size, which SQLite
//!   cannot change in WAL mode.
//! - A missing target is created by renaming the new file into place (mode
//!   0600, the dump's journal mode).
//! - A target that is not a readable SQLite database (damaged, or another
//!   kind of file) is replaced by rename, after the new file got the old
//!   one's owner, group and mode.
//!
//! When another connection holds a write lock, the restore waits for it (up
//! to `--wait`), saying so after a second.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lfb_core::cli::Ui;
use lfb_core::engine::sqlite::TableCounts;
use lfb_core::error::IoContext;
use lfb_core::fsutil::{self, AtomicFile};
use lfb_core::{Error, Result, cleanup, load};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::Restored;

/// How long a restore waits for other connections' locks by default.
pub const DEFAULT_WAIT: &str = "30s";

/// After this long waiting on a lock, say why.
const SAY_WAITING_AFTER: Duration = Duration::from_secs(1);

/// Files SQLite may keep beside a database.
const SIDE_SUFFIXES: [&str; 3] = ["-journal", "-wal", "-shm"];

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The partial database a restore of `target` builds (and a killed one may
/// have left), with the files SQLite keeps beside it.
pub fn leftovers(target: &Path) -> Vec<PathBuf> {
    let partial = fsutil::partial_path(&building_path(target));
    let mut all: Vec<PathBuf> = SIDE_SUFFIXES
        .iter()
        .map(|s| with_suffix(&partial, s))
        .collect();
    all.push(partial);
    all
}

fn building_path(target: &Path) -> PathBuf {
    let fname = target.file_name().unwrap_or_default();
    fsutil::parent_dir(target).join(format!("{}.lfb-restore", fname.to_string_lossy()))
}

/// Restores `artifact` over the SQLite database `target`. `want` is the
/// record's row counts, checked before the target is touched; `wait` bounds
/// the wait for other connections' locks.
// Long: build beside, check, then copy in with the backup API: one protocol.
pub fn restore(
    target: &Path,
    artifact: &Path,
    format: &str,
    want: Option<&TableCounts>,
    wait: Duration,
    ui: &Ui,
) -> Result<Restored> {
    if target.file_name().is_none() {
        return Err(Error::usage(format!(
            "'{}' is not a file path",
            target.display()
        )));
    }
    if target.is_dir() {
        return Err(Error::usage(format!(
            "'{}' is a directory, not a SQLite database",
            target.display()
        )));
    }
    let building = building_path(target);
    let partial = fsutil::partial_path(&building);
    // A restore killed with SIGKILL (no chance to clean up) leaves these;
    // a running one holds a lock on its partial file.
    if let Ok(f) = fs::File::open(&partial)
        && let Err(std::fs::TryLockError::WouldBlock) = f.try_lock()
    {
        return Err(Error::failed(format!(
            "another lfb-restore into '{}' is running (it holds {})",
            target.display(),
            partial.display()
        )));
    }
    for p in leftovers(target) {
        if p.exists() {
            fs::remove_file(&p).with_path("remove the leftover", &p)?;
            ui.info(format!(
                "removed {}, left by an interrupted restore",
                p.display()
            ));
        }
    }
    let mut file = AtomicFile::create(&building)?;
    file.file()
        .try_lock()
        .map_err(|e| Error::failed(format!("cannot lock '{}': {e}", partial.display())))?;
    let side = partial.clone();
    let _side_guard = SideFiles::new(side);
    let mut src = load::open_decoded(artifact, format)?;
    if format.starts_with("sqlite") {
        io::copy(&mut src, &mut file).with_path("write", &partial)?;
    } else {
        // rusqlite writes the file itself; the AtomicFile only guards it.
        load::sqlite_load(&partial, &mut src)?;
    }
    // Never CREATE: should an interrupt have removed the partial meanwhile,
    // this fails instead of making an empty file that would outlive us.
    let new = Connection::open_with_flags(&partial, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| Error::failed(format!("cannot open the restored database: {e}")))?;
    let ic: String = new
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| Error::failed(format!("integrity_check: {e}")))?;
    if ic != "ok" {
        return Err(Error::failed(format!(
            "restored database fails integrity_check: {ic}"
        )));
    }
    let counts = lfb_core::engine::sqlite::table_counts(&partial)?;
    if let Some(want) = want
        && let Some(d) = lfb_core::verify::compare_counts(want, &counts)
    {
        return Err(Error::failed(format!(
            "row counts differ from the record: {d}"
        )));
    }

    let mut waiter = Waiter::new(target, wait, ui);
    match open_target(target, &mut waiter)? {
        Target::Database(dest) => {
            copy_in_place(new, dest, target, &mut waiter, ui)?;
            // `file` is dropped here: the partial is removed.
        }
        Target::Missing => {
            close(new)?;
            // A -wal or hot -journal of a database that was deleted would
            // be replayed into the new file by the next connection.
            remove_stale_side_files(target, ui)?;
            file.replace(target)?;
        }
        Target::Unreadable(meta, why) => {
            ui.warn(format!(
                "'{}' is not a readable SQLite database ({why}): replacing the file",
                target.display()
            ));
            close(new)?;
            keep_owner_and_mode(&partial, &meta)?;
            remove_stale_side_files(target, ui)?;
            file.replace(target)?;
        }
    }
    Ok(Restored {
        counts: Some(counts),
    })
}

/// Removes the partial database's -journal/-wal/-shm when dropped or on a
/// signal.
struct SideFiles {
    _guard: cleanup::CleanupGuard,
    partial: PathBuf,
}

impl SideFiles {
    fn new(partial: PathBuf) -> SideFiles {
        let p = partial.clone();
        let guard = cleanup::on_interrupt(move || remove_side_files(&p));
        SideFiles {
            _guard: guard,
            partial,
        }
    }
}

impl Drop for SideFiles {
    fn drop(&mut self) {
        remove_side_files(&self.partial);
    }
}

fn remove_side_files(db: &Path) {
    for suffix in SIDE_SUFFIXES {
        let _ = fs::remove_file(with_suffix(db, suffix));
    }
}

fn remove_stale_side_files(target: &Path, ui: &Ui) -> Result<()> {
    for suffix in SIDE_SUFFIXES {
        let p = with_suffix(target, suffix);
        if fs::symlink_metadata(&p).is_ok() {
            fs::remove_file(&p).with_path("remove", &p)?;
            ui.info(format!(
                "removed {}: it belonged to a database that is gone",
                p.display()
            ));
        }
    }
    Ok(())
}

fn close(conn: Connection) -> Result<()> {
    conn.close()
        .map_err(|(_, e)| Error::failed(format!("cannot close the restored database: {e}")))
}

enum Target {
    Missing,
    Database(Connection),
    Unreadable(fs::Metadata, String),
}

fn open_target(target: &Path, waiter: &mut Waiter<'_>) -> Result<Target> {
    let meta = match fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Missing),
        Err(e) => return Err(Error::io_path("read", target, e)),
        Ok(m) => m,
    };
    let meta = if meta.file_type().is_symlink() {
        fs::metadata(target).with_path("read", target)?
    } else {
        meta
    };
    if !meta.is_file() {
        return Err(Error::usage(format!(
            "'{}' is not a regular file",
            target.display()
        )));
    }
    let conn = Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::failed(format!("cannot open '{}': {e}", target.display())))?;
    // Short waits inside SQLite, the long one in `waiter` (which says why).
    conn.busy_timeout(Duration::from_millis(50))
        .map_err(|e| Error::failed(format!("cannot open '{}': {e}", target.display())))?;
    // Reading the schema reads the header: not a database, or damaged.
    let read = loop {
        match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                waiter.busy()?
            }
            other => break other,
        }
    };
    match read {
        Ok(_) => Ok(Target::Database(conn)),
        Err(rusqlite::Error::SqliteFailure(e, msg))
            if matches!(
                e.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            Ok(Target::Unreadable(
                meta,
                msg.unwrap_or_else(|| e.to_string()),
            ))
        }
        // Busy, locked, read-only, I/O: not a reason to replace the file.
        Err(e) => Err(Error::failed(format!(
            "cannot read '{}': {e}",
            target.display()
        ))),
    }
}

fn pragma_text(conn: &Connection, pragma: &str) -> rusqlite::Result<String> {
    conn.query_row(&format!("PRAGMA main.{pragma}"), [], |r| r.get(0))
}

/// Copies the new database `new` over the target's pages, in one write
/// transaction of the target, keeping the target's journal mode.
fn copy_in_place(
    new: Connection,
    mut dest: Connection,
    target: &Path,
    waiter: &mut Waiter<'_>,
    ui: &Ui,
) -> Result<()> {
    let sql = |what: &str, e: rusqlite::Error| {
        Error::failed(format!("cannot {what} '{}': {e}", target.display()))
    };
    let dest_wal = pragma_text(&dest, "journal_mode")
        .map_err(|e| sql("read", e))?
        .eq_ignore_ascii_case("wal");
    let dest_page: i64 = dest
        .query_row("PRAGMA main.page_size", [], |r| r.get(0))
        .map_err(|e| sql("read", e))?;
    // The backup API takes the header (journal mode included) from the
    // source, except that a WAL target stays WAL; a rollback-journal target
    // must get a rollback-journal header. A WAL target cannot change its
    // page size: the new database is rebuilt with the target's.
    let prepare = || -> rusqlite::Result<()> {
        let mode = pragma_text(&new, "journal_mode=DELETE")?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(rusqlite::Error::InvalidQuery);
        }
        let page: i64 = new.query_row("PRAGMA main.page_size", [], |r| r.get(0))?;
        if dest_wal && page != dest_page {
            new.execute_batch(&format!("PRAGMA main.page_size={dest_page}; VACUUM;"))?;
        }
        Ok(())
    };
    prepare().map_err(|e| Error::failed(format!("cannot prepare the restored database: {e}")))?;
    if dest_wal {
        ui.debug(format!(
            "'{}' is in WAL mode and stays so (page size {dest_page})",
            target.display()
        ));
    }
    {
        let backup = Backup::new(&new, &mut dest).map_err(|e| sql("write", e))?;
        loop {
            match backup.step(-1).map_err(|e| sql("write", e))? {
                StepResult::Done => break,
                StepResult::Busy | StepResult::Locked => waiter.busy()?,
                StepResult::More => {}
                // Non-exhaustive upstream; nothing else is documented.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    }
    if waiter.said {
        ui.info(format!("'{}' is free: restored", target.display()));
    }
    dest.close().map_err(|(_, e)| sql("close", e))?;
    close(new)
}

/// Waiting for another connection's lock on the target: says why after
/// [`SAY_WAITING_AFTER`], gives up after `--wait`.
struct Waiter<'a> {
    target: &'a Path,
    limit: Duration,
    ui: &'a Ui,
    started: Option<Instant>,
    said: bool,
}

impl<'a> Waiter<'a> {
    fn new(target: &'a Path, limit: Duration, ui: &'a Ui) -> Waiter<'a> {
        Waiter {
            target,
            limit,
            ui,
            started: None,
            said: false,
        }
    }

    /// The target was busy: wait a moment, or fail once `--wait` is over.
    fn busy(&mut self) -> Result<()> {
        let waited = self.started.get_or_insert_with(Instant::now).elapsed();
        let limit = lfb_core::units::format_duration(self.limit);
        if waited >= self.limit {
            return Err(Error::failed(format!(
                "gave up after waiting {limit} for '{}': another connection holds a write \
                 lock (or a long read) on it (--wait sets how long to wait)",
                self.target.display()
            )));
        }
        if !self.said && waited >= SAY_WAITING_AFTER {
            self.ui.warn(format!(
                "waiting for DB: another connection holds a write lock (or a long read) on \
                 '{}'; waiting up to {limit} (--wait)",
                self.target.display()
            ));
            self.said = true;
        }
        std::thread::sleep(Duration::from_millis(50));
        Ok(())
    }
}

/// Gives the new file the owner, group and mode of the file it replaces.
fn keep_owner_and_mode(new: &Path, old: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::os::unix::fs::chown(new, Some(old.uid()), Some(old.gid())) {
        // Only root may give a file away; a user restoring their own file
        // keeps it.
        if e.kind() != io::ErrorKind::PermissionDenied {
            return Err(Error::io_path("set the owner of", new, e));
        }
    }
    fs::set_permissions(new, fs::Permissions::from_mode(old.mode() & 0o7777))
        .with_path("set permissions of", new)
}
