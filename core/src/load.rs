//! Loading an artifact into a database: the half of a restore that
//! `lfb-verify --restore-test` and `lfb-restore` share.
//!
//! Artifacts are read as streams (decompressed on the fly), never whole into
//! memory. Any SQL error fails the load: `psql` runs with `ON_ERROR_STOP`
//! in a transaction that lfb alone commits (see [`psql_transaction`]),
//! SQLite statements run one at a time.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::engine::pgscript::{self, ScriptFilter};
use crate::engine::postgres::{Postgres, TableCounts, capture_stderr, first_error_line};
use crate::error::{Error, IoContext, Result};

/// True for record formats that are gzip streams (not encrypted ones:
/// their inner format says, see [`crate::crypt::inner_format`]).
pub fn is_gzip_format(format: &str) -> bool {
    format
        .parse::<crate::format::Format>()
        .is_ok_and(|f| f.is_gzip() && !f.is_encrypted())
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
        Box::new(BufReader::with_capacity(
            1 << 20,
            crate::progress::Counting(f),
        ))
    };
    Ok(if is_gzip_format(format) {
        // lfb's gzip members inflate on all cores, ahead of the consumer
        // (psql, SQLite); other gzip is one serial stream.
        Box::new(crate::gzip::members::Decoder::new(r))
    } else {
        Box::new(r)
    })
}

/// Loads a plain SQL dump into `db` with psql, in one transaction that
/// commits only once the whole dump ran (see [`psql_transaction`]).
/// `prelude` runs first in the same transaction. Returns the database's
/// row counts as committed.
pub fn psql_load(
    pg: &Postgres,
    db: &str,
    prelude: &str,
    sql: &mut dyn Read,
) -> Result<TableCounts> {
    psql_transaction(pg, db, prelude, |mut input| {
        match io::copy(sql, &mut input) {
            Ok(_) => Ok(Decision::Commit(input, None)),
            // psql stopped reading: its own error says why.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                Ok(Decision::RollBack("psql stopped reading".into()))
            }
            Err(e) => Err(Error::io("cannot read the dump", e)),
        }
    })
}

/// Restores a custom-format archive into `db`: pg_restore turns it into a
/// SQL script (no connection of its own) that runs through the same
/// protocol as a plain dump ([`psql_transaction`]); the transaction commits
/// only if pg_restore read the whole archive without error and the row
/// counts match `expect` (when given). Returns the database's row counts as
/// committed.
pub fn pg_custom_load(
    pg: &Postgres,
    db: &str,
    prelude: &str,
    archive: &Path,
    expect: Option<&TableCounts>,
) -> Result<TableCounts> {
    psql_transaction(pg, db, prelude, |mut input| {
        let mut cmd = pg.clients.command("pg_restore");
        cmd.arg("--file=-").arg(archive);
        crate::sys::die_with_parent(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::unavailable(format!(
                    "cannot run pg_restore: {}",
                    crate::error::describe_io(&e)
                ))
            })?;
        let err_thread = capture_stderr(&mut child);
        let mut stdout = child.stdout.take().expect("piped");
        let copied = io::copy(&mut stdout, &mut input);
        if copied.is_err() {
            let _ = child.kill();
        }
        drop(stdout);
        let status = child.wait().context("cannot wait for pg_restore")?;
        let err = err_thread.join().unwrap_or_default();
        if !status.success() {
            return Ok(Decision::RollBack(format!(
                "pg_restore cannot read {}: {}",
                archive.display(),
                first_error_line(&err)
            )));
        }
        match copied {
            Ok(_) => Ok(Decision::Commit(input, expect.cloned())),
            Err(e) => Ok(Decision::RollBack(format!("psql stopped reading: {e}"))),
        }
    })
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
    /// Everything was written and checked: compare the row counts (when
    /// given) inside the transaction, then COMMIT.
    Commit(Box<dyn Write + Send>, Option<TableCounts>),
    /// Kill psql before it sees the end of its input: PostgreSQL rolls the
    /// transaction back. The reason is reported.
    RollBack(String),
}

/// Runs a script in one transaction that commits only if `feed` says so
/// and every check passed.
///
/// psql runs with `ON_ERROR_STOP` and *without* `--single-transaction`, so
/// it never commits by itself when its input ends. lfb sends `BEGIN` and a
/// commit guard first ([`pgscript::prologue`]), then `prelude`, then what
/// `feed` writes (through [`ScriptFilter`]), and only when `feed` decided to
/// commit the row-count check and `COMMIT` ([`pgscript::epilogue`]). An input
/// cut off anywhere before that (lfb killed by any signal, a stream found
/// truncated or corrupt half-way) leaves an open transaction that
/// PostgreSQL rolls back when psql disconnects; psql itself dies with lfb
/// ([`crate::sys::die_with_parent`]).
// Long: one child's lifecycle (spawn, capture, interrupt guard, feed, commit or kill, wait, explain) whose ordering is the commit guarantee; kept in one place to read in order.
pub fn psql_transaction(
    pg: &Postgres,
    db: &str,
    prelude: &str,
    feed: impl FnOnce(Box<dyn Write + Send>) -> Result<Decision>,
) -> Result<TableCounts> {
    let mut cmd = pg.command("psql");
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db]);
    crate::sys::die_with_parent(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
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
    let marker = format!(
        "lfb-committed-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let out_thread = capture_tail(child.stdout.take().expect("piped"), marker.clone());
    // SIGINT/SIGTERM/SIGHUP while the script is written: psql is killed
    // before lfb exits, so it can never run a COMMIT (on Linux it would die
    // with lfb anyway; elsewhere this does not wait for end of input).
    let pid = child.id();
    let killer = crate::cleanup::on_interrupt(move || crate::sys::kill_child(pid));
    let stdin = child.stdin.take().expect("piped");
    let mut input = ScriptFilter::new(stdin);
    let decision = match input
        .write_all(pgscript::prologue().as_bytes())
        .and_then(|()| input.write_all(prelude.as_bytes()))
    {
        Ok(()) => feed(Box::new(input)),
        Err(e) => Err(Error::io("cannot write to psql", e)),
    };
    let outcome = match decision {
        Ok(Decision::Commit(mut input, expect)) => {
            // Only now may the transaction commit.
            match input
                .write_all(pgscript::epilogue(expect.as_ref(), &marker).as_bytes())
                .and_then(|()| input.flush())
            {
                Ok(()) => {
                    drop(input);
                    None
                }
                Err(e) => {
                    drop(input);
                    Some(Error::io("cannot write to psql", e))
                }
            }
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
    // The script is complete (COMMIT sent) or abandoned: from here an
    // interruption must not kill psql mid-COMMIT for nothing.
    drop(killer);
    let status = child.wait().context("cannot wait for psql")?;
    let err = err_thread.join().unwrap_or_default();
    let out = out_thread.join().unwrap_or_default();
    // An SQL error explains a failure best, even when the feeder also
    // stopped because psql had stopped reading.
    match (outcome, status.code()) {
        (_, Some(c)) if c != 0 => Err(sql_error(&err)),
        (Some(e), _) => Err(e),
        (None, Some(_)) if out.contains(&marker) => counts_after(&out, &marker),
        (None, Some(_)) => Err(Error::failed(format!(
            "psql ended without committing (it stopped reading the script early){}",
            match first_error_line(&err).as_str() {
                "no message" => String::new(),
                m => format!(": {m}"),
            }
        ))),
        (None, None) => Err(Error::failed("psql was killed")),
    }
}

/// Collects a child's output in a thread: the last 32-64 KiB of it, and
/// everything from the first line holding `marker` on (the row counts the
/// epilogue prints after its COMMIT, one line per table).
fn capture_tail(
    mut r: impl Read + Send + 'static,
    marker: String,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut found = false;
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            // The marker may start in the bytes read before.
            let from = buf.len().saturating_sub(marker.len());
            buf.extend_from_slice(&chunk[..n]);
            if !found {
                let mut seen = buf[from..].windows(marker.len());
                match seen.position(|w| w == marker.as_bytes()) {
                    Some(at) => {
                        buf.drain(..from + at);
                        found = true;
                    }
                    None if buf.len() > 64 * 1024 => {
                        buf.drain(..buf.len() - 32 * 1024);
                    }
                    None => {}
                }
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The row counts psql printed after the commit marker.
fn counts_after(out: &str, marker: &str) -> Result<TableCounts> {
    let at = out.find(marker).expect("the caller found the marker");
    let rest = out[at..].split_once('\n').map_or("", |(_, r)| r);
    crate::engine::postgres::parse_counts(rest)
}

fn sql_error(stderr: &str) -> Error {
    if let Some(i) = stderr.find(pgscript::COUNTS_DIFFER) {
        let rest = &stderr[i + pgscript::COUNTS_DIFFER.len()..];
        let line = rest.lines().next().unwrap_or_default();
        return Error::failed(format!(
            "row counts differ from the record: {}",
            line.trim()
        ));
    }
    let first = first_error_line(stderr);
    if first.contains("role \"") && first.contains("does not exist") {
        return Error::failed(format!(
            "SQL error: {first} (the dump's roles are missing on this server: \
             restore them first with `lfb-restore --globals` from an `lfb-dump --globals` artifact)"
        ));
    }
    Error::failed(format!("SQL error: {first}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_after_the_marker_are_kept_whole_however_long() {
        // 100 KiB of notices before the marker (only a tail is kept), then
        // 5,000 tables' counts (~150 KiB: more than the tail).
        let mut out = "x".repeat(100 * 1024);
        out.push_str("\nlfb-committed-1-2\n");
        for i in 0..5000 {
            out.push_str(&format!("public.\"t|{i}\"|{i}\n"));
        }
        let marker = "lfb-committed-1-2".to_string();
        // Read in small, odd-sized pieces so the marker straddles reads.
        struct Trickle(io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(777);
                self.0.read(&mut buf[..n])
            }
        }
        let got = capture_tail(Trickle(io::Cursor::new(out.into_bytes())), marker.clone())
            .join()
            .expect("no panic");
        let counts = counts_after(&got, &marker).expect("parses");
        assert_eq!(counts.len(), 5000);
        assert_eq!(counts.get("public.\"t|4999\""), Some(&4999));
        assert_eq!(counts.get("public.\"t|0\""), Some(&0));
    }
}
