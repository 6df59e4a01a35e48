//! Loading an artifact into a database: the half of a restore that
//! `lfb-verify --restore-test` and `lfb-restore` share.
//!
//! Artifacts are read as streams (decompressed on the fly), never whole into
//! memory. Any SQL error fails the load: `psql` runs with `ON_ERROR_STOP`,
//! `pg_restore` with `--exit-on-error`, SQLite statements one at a time.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;

use flate2::read::MultiGzDecoder;

use crate::engine::postgres::{Postgres, capture_stderr, first_error_line};
use crate::error::{Error, IoContext, Result};

/// True for record formats that are gzip streams.
pub fn is_gzip_format(format: &str) -> bool {
    format.ends_with("+gzip")
}

/// The artifact's content, decompressed when it is a gzip stream.
///
/// An age-encrypted artifact (format `…+age`, or a file named `….age`) is
/// decrypted on the way with the process's keys ([`crate::crypt`]).
pub fn open_decoded(path: &Path, format: &str) -> Result<Box<dyn Read + Send>> {
    let encrypted = crate::crypt::is_encrypted_format(format)
        || path
            .extension()
            .is_some_and(|e| e == crate::crypt::EXT_SUFFIX);
    let format = crate::crypt::inner_format(format);
    let r: Box<dyn Read + Send> = if encrypted {
        Box::new(BufReader::with_capacity(
            1 << 20,
            crate::crypt::open_plaintext(path)?,
        ))
    } else {
        let f = File::open(path).with_path("open", path)?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    Ok(if is_gzip_format(format) {
        Box::new(MultiGzDecoder::new(r))
    } else {
        Box::new(r)
    })
}

/// Loads a plain SQL dump into `db` with psql, in one transaction, stopping
/// at the first error. `prelude` runs first in the same transaction.
pub fn psql_load(pg: &Postgres, db: &str, prelude: &str, sql: &mut dyn Read) -> Result<()> {
    psql_transaction(pg, db, prelude, |mut input| {
        match io::copy(sql, &mut input) {
            Ok(_) => Ok(Decision::Commit(input)),
            // psql stopped reading: its own error says why.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                Ok(Decision::RollBack("psql stopped reading".into()))
            }
            Err(e) => Err(Error::io("cannot read the dump", e)),
        }
    })
}

/// Restores a custom-format archive into `db` with pg_restore, in one
/// transaction, stopping at the first error.
pub fn pg_restore_load(pg: &Postgres, db: &str, archive: &Path, extra: &[&str]) -> Result<()> {
    let mut cmd = pg.command("pg_restore");
    cmd.args(["--exit-on-error", "--single-transaction", "-d", db]);
    cmd.args(extra);
    cmd.arg(archive);
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        Error::unavailable(format!(
            "cannot run pg_restore: {}",
            crate::error::describe_io(&e)
        ))
    })?;
    if !out.status.success() {
        return Err(Error::failed(format!(
            "pg_restore failed: {}",
            first_error_line(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    Ok(())
}

/// Loads a SQLite SQL dump into a new database file, statement by statement
/// (streamed: a statement is complete when SQLite says so), in the dump's own
/// transaction. Any error fails the load naming the line.
pub fn sqlite_load(db: &Path, sql: &mut dyn Read) -> Result<()> {
    let conn = rusqlite::Connection::open(db)
        .map_err(|e| Error::failed(format!("cannot create '{}': {e}", db.display())))?;
    let mut reader = BufReader::with_capacity(1 << 20, sql);
    let mut stmt = String::new();
    let mut line = String::new();
    let mut line_no = 0u64;
    let mut start_line = 1u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| {
            Error::failed(format!("cannot read the dump at line {}: {e}", line_no + 1))
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if stmt.is_empty() {
            start_line = line_no;
        }
        stmt.push_str(&line);
        if crate::sys::sqlite_complete(&stmt) {
            conn.execute_batch(&stmt)
                .map_err(|e| Error::failed(format!("SQL error at line {start_line}: {e}")))?;
            stmt.clear();
        }
    }
    if !stmt.trim().is_empty() {
        return Err(Error::failed(format!(
            "the dump ends inside a statement (from line {start_line})"
        )));
    }
    if !conn.is_autocommit() {
        return Err(Error::failed(
            "the dump ends inside an open transaction (no COMMIT)",
        ));
    }
    Ok(())
}

/// What a feeder decided once it wrote the script.
pub enum Decision {
    /// Close psql's input: it commits the transaction.
    Commit(Box<dyn Write + Send>),
    /// Kill psql before it sees the end of its input: PostgreSQL rolls the
    /// transaction back. The reason is reported.
    RollBack(String),
}

/// Runs a script in one transaction that commits only if `feed` says so.
///
/// psql (`--single-transaction`, `ON_ERROR_STOP`) commits when its input
/// ends, so the input is held open until `feed` has written everything and
/// decided: a script whose source turned out truncated or corrupt halfway is
/// never committed, even though psql already ran its first statements.
pub fn psql_transaction(
    pg: &Postgres,
    db: &str,
    prelude: &str,
    feed: impl FnOnce(Box<dyn Write + Send>) -> Result<Decision>,
) -> Result<()> {
    let mut cmd = pg.command("psql");
    cmd.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        "-d",
        db,
    ]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::unavailable(format!(
                "cannot run psql: {}",
                crate::error::describe_io(&e)
            ))
        })?;
    // Bounded: a long restore may print many notices.
    let err_thread = capture_stderr(&mut child);
    let mut stdin = child.stdin.take().expect("piped");
    let decision = match stdin.write_all(prelude.as_bytes()) {
        Ok(()) => feed(Box::new(stdin)),
        Err(e) => Err(Error::io("cannot write to psql", e)),
    };
    let outcome = match decision {
        Ok(Decision::Commit(input)) => {
            drop(input);
            None
        }
        Ok(Decision::RollBack(reason)) => {
            let _ = child.kill();
            Some(Error::failed(reason))
        }
        Err(e) => {
            let _ = child.kill();
            Some(e)
        }
    };
    let status = child.wait().context("cannot wait for psql")?;
    let err = err_thread.join().unwrap_or_default();
    // An SQL error explains a failure best, even when the feeder also
    // stopped because psql had stopped reading.
    match (outcome, status.code()) {
        (_, Some(c)) if c != 0 => Err(Error::failed(format!(
            "SQL error: {}",
            first_error_line(&err)
        ))),
        (Some(e), _) => Err(e),
        (None, Some(_)) => Ok(()),
        (None, None) => Err(Error::failed("psql was killed")),
    }
}
