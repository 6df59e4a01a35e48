//! Restore tests: loading an artifact into a scratch database (a private
//! SQLite file, or a PostgreSQL/MariaDB database created and always
//! dropped) and comparing every table's row count with the record.

use std::fs;
use std::io;
use std::path::Path;

use chrono::Utc;

use super::content::Content;
use super::{Check, CheckName, ReadOnce, Tee};
use super::{Options, compare_counts, verify};
use crate::archive;
use crate::cleanup;
use crate::engine::postgres::{Postgres, TableCounts};
use crate::engine::sqlite;
use crate::engine::url::{Database, ServerConn};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::load::{self, Decision};
use crate::record::Record;

/// The restore test of an archive: each embedded dump is extracted to a
/// private temporary folder and restore-tested exactly like a standalone
/// dump, with its record from the manifest.
fn archive_restore_test(path: &Path, opts: &Options) -> Result<String> {
    let scratch = crate::fsutil::ScratchDir::new("verify")?;
    let dir = scratch.path();
    (|| {
        let dumps = archive::extract_dumps(path, dir)?;
        if dumps.is_empty() {
            return Ok("no database dumps in the archive: nothing to restore".to_string());
        }
        let inner = Options {
            checks: [CheckName::Restore].into_iter().collect(),
            ..opts.clone()
        };
        let mut details = Vec::new();
        for record in dumps {
            let member = format!(
                "db/{}",
                record
                    .path()
                    .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                    .unwrap_or_default()
            );
            let outcome = verify(&record, &inner);
            let _ = fs::remove_file(record.path().unwrap_or_default());
            match outcome.checks.iter().find(|c| c.name == CheckName::Restore) {
                Some(c) if c.ok == Some(true) => details.push(format!("{member}: {}", c.detail)),
                Some(c) if could_not_run(&c.detail) => {
                    return Err(Error::unavailable(&c.detail));
                }
                Some(c) => {
                    return Err(Error::failed(format!("member {member}: {}", c.detail)));
                }
                None => return Err(Error::failed(format!("member {member}: not restored"))),
            }
        }
        Ok(details.join("; "))
    })()
}

/// The server a PostgreSQL artifact came from, as a connection: the record's
/// host, port and user, with a password from `$DATABASE_URL` when that URL
/// names the same server (else libpq's PGPASSWORD / .pgpass).
pub fn source_server(record: &Record) -> ServerConn {
    crate::engine::url::record_source(record, |d| match d {
        Database::Postgres(c) => Some(c),
        _ => None,
    })
}

static SCRATCH_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// How the detail of a restore check that could not run begins (the
/// scratch database could not be made or reached): it is not a verdict on
/// the artifact, so lfb-verify exits 2 and does not remember it.
pub const COULD_NOT_RUN: &str = "could not run: ";

/// True when a restore check's detail says the check could not run.
pub fn could_not_run(detail: &str) -> bool {
    detail.starts_with(COULD_NOT_RUN)
}

/// An error that kept the restore test from starting, as one line naming
/// the cause and the fix (exit 2).
fn not_started(e: Error) -> Error {
    let line = e.line();
    if could_not_run(&line) {
        return Error::unavailable(line);
    }
    let fix = if line.contains("permission denied to create database") {
        "the role needs CREATEDB to make a scratch database (ALTER ROLE ... CREATEDB), \
         or give --scratch URL of a server and role that may create one"
    } else if line.contains("using password: NO") {
        "no password was given: put it in DATABASE_URL (mysql://USER:PASSWORD@HOST/DB) \
         as for lfb-dump, or give --scratch URL"
    } else if line.contains("Access denied") || line.contains("denied access") {
        "the user needs CREATE and DROP to make a scratch database: grant them, \
         or give --scratch URL of a server and user that may"
    } else {
        "give --scratch URL of a server where lfb may create a scratch database"
    };
    Error::unavailable(format!("{COULD_NOT_RUN}{line}; {fix}"))
}

/// Restores the artifact into a scratch database of its kind and compares
/// the row counts with the record's (else with those found in the stream).
/// Returns the check's detail. An error that kept the test from starting
/// (a server that cannot be reached, a role without CREATEDB, a refused
/// password) is an `Unavailable` error whose line begins with
/// [`COULD_NOT_RUN`].
pub(super) fn restore_test(
    record: &Record,
    path: &Path,
    format: &str,
    content: Content,
    stream_tables: Option<TableCounts>,
    opts: &Options,
) -> Result<String> {
    restore_test_inner(record, path, format, content, stream_tables, opts).map_err(|e| match e {
        Error::Unavailable(_) => not_started(e),
        other => other,
    })
}

fn restore_test_inner(
    record: &Record,
    path: &Path,
    format: &str,
    content: Content,
    stream_tables: Option<TableCounts>,
    opts: &Options,
) -> Result<String> {
    let want = record.tables().or(stream_tables);
    match content {
        Content::SqliteSql | Content::SqliteNative => {
            sqlite_restore_test(path, format, content, want.as_ref())
        }
        Content::PgPlain | Content::PgCustom if record.is_globals() => {
            // Roles and tablespaces are the server's, not a database's: a
            // scratch database cannot hold them.
            Ok(
                "an lfb-dump --globals artifact (roles, tablespaces): complete, \
                not loaded (roles are server-wide; see lfb-restore --globals)"
                    .to_string(),
            )
        }
        Content::PgPlain | Content::PgCustom => {
            pg_restore_test(record, path, format, content, want.as_ref(), opts)
        }
        Content::MysqlSql => {
            let mut r = load::open_decoded(path, format)?;
            let (found, into) =
                crate::engine::mysql::restore_test(record, &mut r, opts.scratch.as_deref())?;
            finish_compare(want.as_ref(), &found, &into)
        }
        Content::Tar => archive_restore_test(path, opts),
        Content::Unknown => Err(Error::failed("not a dump lfb can restore")),
    }
}

/// A SQLite restore test: a private file that must pass `PRAGMA
/// integrity_check`, removed with its folder at the end.
fn sqlite_restore_test(
    path: &Path,
    format: &str,
    content: Content,
    want: Option<&TableCounts>,
) -> Result<String> {
    let scratch = crate::fsutil::ScratchDir::new("verify")?;
    let db = scratch.path().join("scratch.sqlite3");
    (|| {
        let mut r = load::open_decoded(path, format)?;
        if content == Content::SqliteSql {
            load::sqlite_load(&db, &mut r)?;
        } else {
            let mut f = crate::fsutil::create_private_file(&db)?;
            io::copy(&mut r, &mut f).map_err(|e| Error::io("cannot write scratch database", e))?;
        }
        let conn = rusqlite::Connection::open(&db)
            .map_err(|e| Error::failed(format!("cannot open the restored database: {e}")))?;
        let ic: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| Error::failed(format!("integrity_check: {e}")))?;
        if ic != "ok" {
            return Err(Error::failed(format!("PRAGMA integrity_check: {ic}")));
        }
        drop(conn);
        let found = sqlite::table_counts(&db)?;
        finish_compare(want, &found, "scratch SQLite database")
    })()
}

/// The PostgreSQL server and scratch database of a restore test: --scratch
/// URL, else a fresh `lfb_scratch_*` name on the server the dump came from.
fn pg_scratch_target(record: &Record, opts: &Options) -> Result<(ServerConn, String)> {
    Ok(match &opts.scratch {
        Some(url) => match Database::parse(url)? {
            Database::Postgres(c) => {
                let db = c
                    .database
                    .clone()
                    .ok_or_else(|| Error::usage("--scratch URL must name the scratch database"))?;
                (c, db)
            }
            _ => return Err(Error::usage("--scratch must be a postgresql:// URL")),
        },
        None => {
            let c = source_server(record);
            let n = SCRATCH_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let db = format!(
                "lfb_scratch_{}_{}_{n}",
                std::process::id(),
                Utc::now().timestamp()
            );
            (c, db)
        }
    })
}

/// A PostgreSQL restore test: the scratch database is created, loaded,
/// counted and dropped, and cannot outlive this process.
fn pg_restore_test(
    record: &Record,
    path: &Path,
    format: &str,
    content: Content,
    want: Option<&TableCounts>,
    opts: &Options,
) -> Result<String> {
    with_scratch_pg(record, opts, |pg, scratch_db| {
        // The counts come from the load's own session, after its COMMIT.
        let found = if content == Content::PgPlain {
            let mut r = load::open_decoded(path, format)?;
            load::psql_load(pg, scratch_db, "", &mut r)?
        } else {
            load::pg_custom_load(pg, scratch_db, "", path, None)?
        };
        finish_compare(want, &found, &format!("scratch database {scratch_db}"))
    })
}

/// True when the restore test loads the artifact in the same read as the
/// other checks ([`pg_restore_test_while_scanning`]): a PostgreSQL plain
/// dump by its record (not `--globals`), readable with the keys at hand.
pub(super) fn loads_while_scanning(record: &Record, format: &str) -> bool {
    let plain = matches!(
        crate::crypt::inner_format(format).parse::<Format>(),
        Ok(f) if f == Format::SQL || f == Format::SQL_GZIP
    );
    let readable = !crate::crypt::is_encrypted_format(format) || crate::crypt::keys().is_some();
    plain && readable && record.engine() == Some("postgres") && !record.is_globals()
}

/// A PostgreSQL plain dump's restore test in the same read as the checks
/// `scan` makes: the decoded stream goes to psql as it is checked, and the
/// scratch load commits only if every check passed (else it rolls back).
/// Returns the read's checks and the restore check. A stream that turns
/// out not to be a plain PostgreSQL dump, or a scratch database that could
/// not be made, falls back to the checks and the restore test one after
/// the other.
pub(super) fn pg_restore_test_while_scanning(
    record: &Record,
    opts: &Options,
    scan: impl FnOnce(Option<Tee>) -> ReadOnce,
) -> (Vec<Check>, Check) {
    let mut scan = Some(scan);
    let mut read: Option<ReadOnce> = None;
    let loaded = with_scratch_pg(record, opts, |pg, scratch_db| {
        let mut stream_tables = None;
        let found = load::psql_transaction(pg, scratch_db, "", |input| {
            let mut once = (scan.take().expect("scanned once"))(Some(input));
            let passed = once.checks.iter().all(|c| c.ok != Some(false));
            let content = once.scan.as_ref().and_then(|s| s.content);
            stream_tables = once.scan.as_ref().and_then(|s| s.stream_tables.clone());
            let input = once.tee.take();
            let tee_error = once.tee_error.as_ref().map(ToString::to_string);
            read = Some(once);
            Ok(match (passed, content, input, tee_error) {
                (false, ..) => Decision::RollBack(ROLLED_BACK.into()),
                (true, Some(Content::PgPlain), Some(input), None) => Decision::Commit(input, None),
                (true, Some(Content::PgPlain), _, e) => Decision::RollBack(format!(
                    "psql stopped reading{}",
                    e.map(|e| format!(": {e}")).unwrap_or_default()
                )),
                (true, ..) => Decision::RollBack(NOT_PLAIN.into()),
            })
        })?;
        let want = record.tables().or(stream_tables);
        finish_compare(
            want.as_ref(),
            &found,
            &format!("scratch database {scratch_db}"),
        )
    });
    let started = read.is_some();
    let read = match (read, scan) {
        (Some(r), _) => r,
        // The scratch database could not be made: the checks still run.
        (None, Some(scan)) => scan(None),
        (None, None) => unreachable!("the scan ran or is still here"),
    };
    let passed = read.checks.iter().all(|c| c.ok != Some(false));
    let restore = match loaded {
        _ if !passed && started => Check::fail(
            CheckName::Restore,
            "stopped: the artifact failed the checks above (the scratch load was rolled back)",
        ),
        _ if !passed => Check::fail(
            CheckName::Restore,
            "not attempted: the artifact failed the checks above",
        ),
        Ok(detail) => Check::pass(CheckName::Restore, detail),
        Err(e) if e.line().ends_with(NOT_PLAIN) => {
            let content = read
                .scan
                .as_ref()
                .and_then(|s| s.content)
                .unwrap_or(Content::Unknown);
            let stream = read.scan.as_ref().and_then(|s| s.stream_tables.clone());
            let path = record.path().unwrap_or_default();
            let format = record.format().unwrap_or("unknown");
            match restore_test(record, &path, format, content, stream, opts) {
                Ok(detail) => Check::pass(CheckName::Restore, detail),
                Err(e) => Check::fail(CheckName::Restore, e.line()),
            }
        }
        Err(e) => Check::fail(CheckName::Restore, not_started_if_so(e).line()),
    };
    (read.checks, restore)
}

const ROLLED_BACK: &str = "the artifact failed its checks";
const NOT_PLAIN: &str = "not a plain PostgreSQL dump after all";

fn not_started_if_so(e: Error) -> Error {
    match e {
        Error::Unavailable(_) => not_started(e),
        other => other,
    }
}

/// Runs `test` on a scratch PostgreSQL database made for it: created (on
/// the record's server, or `--scratch`), and dropped afterwards however
/// this process ends.
fn with_scratch_pg(
    record: &Record,
    opts: &Options,
    test: impl FnOnce(&Postgres, &str) -> Result<String>,
) -> Result<String> {
    let (server, scratch_db) = pg_scratch_target(record, opts)?;
    let src = source_server(record);
    if let Some(src_db) = &src.database {
        let same_server =
            server.host == src.host && server.port.unwrap_or(5432) == src.port.unwrap_or(5432);
        if same_server && &scratch_db == src_db {
            return Err(Error::usage(format!(
                "refusing to restore-test into '{scratch_db}': it is the source database itself"
            )));
        }
    }
    let mut maint = server.clone();
    maint.database = Some("postgres".into());
    // Through the record's `--exec` prefix (lfb-verify --exec, or
    // lfb-dump --exec upstream in the pipeline).
    let (pg, exists) =
        Postgres::connect_and_find(&maint, record.exec(), &scratch_db).map_err(not_started)?;
    if exists {
        return Err(Error::usage(format!(
            "scratch database '{scratch_db}' already exists; lfb creates and drops its scratch database itself"
        )));
    }
    let ident = format!("\"{}\"", scratch_db.replace('"', "\"\""));
    let drop_sql = if pg.server.version_num >= 130000 {
        format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
    } else {
        format!("DROP DATABASE IF EXISTS {ident}")
    };
    // Armed before the database exists: no scratch database outlives
    // this process, however it ends. SIGINT/SIGTERM/SIGHUP drop it
    // through `cleanup`; SIGKILL and the like through the watcher.
    let watch = {
        let mut cmd = pg.command("psql");
        cmd.args(["-X", "-q", "-d", "postgres", "-c", &drop_sql]);
        crate::watchdog::DeathWatch::spawn(&cmd)?
    };
    // A role without CREATEDB stops here: that says nothing of the artifact.
    pg.psql_query(&format!("CREATE DATABASE {ident}"))
        .map_err(not_started)?;
    let dropper = {
        let pg = pg.clone();
        let drop_sql = drop_sql.clone();
        cleanup::on_interrupt(move || {
            let _ = pg.psql_query(&drop_sql);
        })
    };
    let res = test(&pg, &scratch_db);
    dropper.run_now();
    drop(watch);
    res
}

fn finish_compare(want: Option<&TableCounts>, found: &TableCounts, into: &str) -> Result<String> {
    match want {
        None => Ok(format!(
            "restored into a {into}; {} tables (no recorded counts to compare)",
            found.len()
        )),
        Some(w) => match compare_counts(w, found) {
            Some(d) => Err(Error::failed(format!(
                "row counts differ after restore: {d}"
            ))),
            None => Ok(format!(
                "restored into a {into}: {} tables, {} rows, as recorded",
                w.len(),
                w.values().sum::<u64>()
            )),
        },
    }
}
