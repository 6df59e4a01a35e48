//! SQLite databases, dumped in-process with the bundled SQLite library.
//!
//! Two ways out of a live database, each from one consistent snapshot (a
//! single read transaction, so a concurrent writer, WAL mode included, never
//! shows half its work): [`dump_sql`] writes a plain SQL script that the
//! `sqlite3` shell loads back into an identical database, and
//! [`backup_native`] makes a page-exact copy with SQLite's online backup API.
//! Both report the row count of every table in that snapshot, which is what
//! a restore test compares against. In WAL mode writers carry on meanwhile;
//! in rollback-journal mode the snapshot is a shared lock, so a writer waits
//! (up to its own busy timeout) until the dump or copy is done.
//!
//! The script has the layout of the shell's own `.dump` (each table followed
//! by its rows, then indexes, triggers and views, so the data loads before
//! triggers could fire and without index maintenance) but is exact where
//! `.dump` is not: REALs come back bit for bit, text holding NUL bytes or
//! invalid UTF-8 survives byte for byte, and the file's settings are kept:
//! `page_size`, `auto_vacuum` and the text encoding (set before the first
//! table is created), WAL mode (switched on before the transaction, so the
//! script still ends with `COMMIT;`; the shell prints `wal` when it loads
//! it), `user_version`, `application_id`, and the statistics tables
//! `sqlite_stat1`/`sqlite_stat4` exactly as they were (created through
//! `writable_schema`, so a shell built without STAT4 loads them too, and
//! none appears that the source did not have). Not carried: the free pages
//! and the physical layout (a restored database is compact, as after
//! `VACUUM`), `sqlite_sequence` rows when no table uses AUTOINCREMENT, and,
//! in a UTF-16 database, text that is not valid UTF-16.
//!
//! The native copy is the source's pages as they are; a copy of a WAL
//! database is a single file whose header still says WAL.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use memchr::{memchr, memchr3_iter, memmem};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result, describe_io};

/// Row counts per table, keyed by table name (no schema prefix).
pub type TableCounts = std::collections::BTreeMap<String, u64>;

/// How long a statement waits for a lock held by another connection (a
/// writer committing in rollback-journal mode, a WAL recovery) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The dump is built in memory row by row and handed to the writer in pieces
/// of about this size: one `write_all` per piece instead of one per value.
const FLUSH_AT: usize = 64 * 1024;

/// Magnitudes below this are written as a product of two exactly parsed
/// factors (see [`write_real`]).
const TINY_REAL: f64 = 1e-280;

/// Tiny reals are written as `y*2^-TINY_SHIFT` with `y = x*2^TINY_SHIFT`.
const TINY_SHIFT: i32 = 600;

/// "SQLite 3.x.y" of the bundled library.
pub fn library_version() -> String {
    format!("SQLite {}", rusqlite::version())
}

/// Opens `path` read-only (must exist; must be a SQLite database; error names the file),
/// starts ONE read transaction (a consistent snapshot even while another process writes,
/// including WAL-mode databases), and writes a complete SQL dump of it to `out`.
/// Returns the exact row count of every table as contained in the dump (same snapshot).
///
/// The counts cover every table whose rows the dump holds: ordinary and
/// `WITHOUT ROWID` tables and the shadow tables behind virtual tables, not
/// the virtual tables themselves nor SQLite's own `sqlite_*` tables.
/// The dump is complete only when it ends with the line `COMMIT;`.
pub fn dump_sql(path: &std::path::Path, out: &mut dyn std::io::Write) -> Result<TableCounts> {
    let conn = open_snapshot(path)?;
    let mut sink = Sink {
        buf: Vec::with_capacity(2 * FLUSH_AT),
        out,
        utf16: None,
    };
    write_dump(&conn, &mut sink)
        .and_then(|counts| {
            end_snapshot(conn)?;
            Ok(counts)
        })
        .map_err(|f| f.into_error(format!("cannot dump SQLite database '{}'", path.display())))
}

/// A page-exact copy of the database (SQLite online backup API) into the new file `dest`,
/// from one consistent snapshot (copy all pages in one step so concurrent writers cannot make
/// it restart or mix states). Returns row counts from the same snapshot (count on the copy).
/// The copy is a self-contained single file (no -wal beside it); when the source is in WAL
/// mode its header says WAL too, so a restore of it is a WAL database again.
///
/// `dest` must not exist, or be an empty file (the `.partial` file of an
/// `AtomicFile`); a new file is created 0600. Counts cover the same tables as
/// [`dump_sql`].
pub fn backup_native(path: &std::path::Path, dest: &std::path::Path) -> Result<TableCounts> {
    let src = open_snapshot(path)?;
    let created = prepare_dest(dest)?;
    copy_snapshot(&src, dest)
        .and_then(|counts| {
            end_snapshot(src).map_err(Fail::from)?;
            Ok(counts)
        })
        .map_err(|f| {
            if created {
                let _ = std::fs::remove_file(dest);
            }
            f.into_error(format!(
                "cannot copy SQLite database '{}' into '{}'",
                path.display(),
                dest.display()
            ))
        })
}

/// Copies the snapshot `src` is in into `dest` and counts rows on the copy.
fn copy_snapshot(src: &Connection, dest: &Path) -> Result<TableCounts, Fail> {
    let mut copy = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    copy.busy_timeout(BUSY_TIMEOUT)?;
    {
        let backup = Backup::new(src, &mut copy)?;
        // One step of all pages: the source stays inside the snapshot pinned by
        // open_snapshot, so no writer can change pages between steps and make
        // the backup restart or mix two states.
        match backup.step(-1)? {
            StepResult::Done => {}
            other => {
                return Err(Fail::Msg(format!(
                    "the backup did not complete in one step ({other:?})"
                )));
            }
        }
    }
    // A copy of a WAL database says "WAL" in its header and would need -wal
    // and -shm files beside it; DELETE mode makes the one file the backup.
    let mode: String = copy.query_row("PRAGMA main.journal_mode=DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Fail::Msg(format!("the copy stays in journal mode {mode}")));
    }
    let counts = count_tables(&copy)?;
    copy.close().map_err(|(_, e)| e)?;
    // The copy was made single-file above; a WAL source is WAL again, in
    // the header alone (bytes 18 and 19, "file format write/read version",
    // 2 = WAL): a WAL database whose -wal file is absent or empty is
    // complete, so the backup is still the one file, and a restore of it
    // comes back in WAL mode like its source.
    let src_mode: String = src.query_row("PRAGMA main.journal_mode", [], |r| r.get(0))?;
    if src_mode.eq_ignore_ascii_case("wal") {
        set_wal_header(dest)?;
    }
    Ok(counts)
}

/// Marks a closed, single-file database as WAL mode (header bytes 18-19).
fn set_wal_header(path: &Path) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut head = [0u8; 20];
    std::io::Read::read_exact(&mut f, &mut head)?;
    if !head.starts_with(b"SQLite format 3\0") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a SQLite database",
        ));
    }
    f.seek(SeekFrom::Start(18))?;
    f.write_all(&[2, 2])?;
    f.sync_all()
}

/// Row counts of the tables [`dump_sql`] would dump, from one snapshot: what
/// a restore test compares a restored database against.
pub fn table_counts(path: &Path) -> Result<TableCounts> {
    let conn = open_snapshot(path)?;
    count_tables(&conn)
        .and_then(|counts| {
            end_snapshot(conn)?;
            Ok(counts)
        })
        .map_err(|f| {
            f.into_error(format!(
                "cannot count rows of SQLite database '{}'",
                path.display()
            ))
        })
}

/// Opens `path` read-only and pins one read snapshot: BEGIN alone takes no
/// lock, the first read does, and every later statement of the transaction
/// sees the database as it was then.
fn open_snapshot(path: &Path) -> Result<Connection> {
    let fail = |msg: &dyn fmt::Display| {
        Error::unavailable(format!(
            "cannot open SQLite database '{}': {}",
            path.display(),
            one_line(msg)
        ))
    };
    // SQLite's own message for a missing file ("unable to open database
    // file") does not say why; URIs are left for SQLite to judge.
    if !path.as_os_str().as_encoded_bytes().starts_with(b"file:") {
        match std::fs::metadata(path) {
            Err(e) => return Err(fail(&describe_io(&e))),
            Ok(m) if m.is_dir() => return Err(fail(&"is a directory")),
            Ok(_) => {}
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| fail(&e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| fail(&e))?;
    conn.execute_batch("BEGIN").map_err(|e| fail(&e))?;
    conn.query_row("SELECT count(*) FROM main.sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| fail(&e))?;
    Ok(conn)
}

/// Ends the read transaction and closes the connection, reporting errors.
fn end_snapshot(conn: Connection) -> rusqlite::Result<()> {
    conn.execute_batch("COMMIT")?;
    conn.close().map_err(|(_, e)| e)
}

/// Accepts a missing `dest` (created here, 0600: returns true) or an empty one.
fn prepare_dest(dest: &Path) -> Result<bool> {
    match std::fs::metadata(dest) {
        Ok(m) if m.is_file() && m.len() == 0 => Ok(false),
        Ok(_) => Err(Error::failed(format!(
            "cannot copy SQLite database into '{}': it already exists",
            dest.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::fsutil::create_private_file(dest).map(|_| true)
        }
        Err(e) => Err(Error::io_path("create", dest, e)),
    }
}

/// What went wrong inside the snapshot, before the path is attached.
#[derive(Debug)]
enum Fail {
    Sql(rusqlite::Error),
    Io(io::Error),
    Msg(String),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl Fail {
    /// `<head>: <why>`, one line; `head` names the database.
    fn into_error(self, head: String) -> Error {
        match self {
            // Kept as an I/O error so a closed pipe (`| head`) is recognised.
            Fail::Io(e) => Error::io(head, e),
            Fail::Sql(e) => Error::failed(format!("{head}: {}", one_line(&e))),
            Fail::Msg(m) => Error::failed(format!("{head}: {}", one_line(&m))),
        }
    }
}

fn one_line(msg: &dyn fmt::Display) -> String {
    msg.to_string().replace(['\n', '\r'], " ")
}

/// What a `type='table'` row of `sqlite_schema` is, for dumping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableKind {
    /// Rows of its own: ordinary, WITHOUT ROWID, or a virtual table's shadow.
    Data,
    /// `sqlite_sequence`: the AUTOINCREMENT counters.
    Sequence,
    /// `sqlite_stat1`, `sqlite_stat4` (and the old stat2/stat3): planner
    /// statistics, kept exactly as they were.
    Stat,
    /// A virtual table: its rows live in its shadow tables.
    Virtual,
    /// Another `sqlite_*` table SQLite maintains itself.
    Internal,
}

#[derive(Debug)]
struct SchemaTable {
    name: String,
    sql: Vec<u8>,
    kind: TableKind,
}

/// Tables in creation order, `sqlite_sequence` last (its rows must be
/// written after the AUTOINCREMENT tables' inserts have bumped it).
fn schema_tables(conn: &Connection) -> Result<Vec<SchemaTable>, Fail> {
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM main.sqlite_schema \
         WHERE type = 'table' AND sql NOT NULL \
         ORDER BY tbl_name = 'sqlite_sequence', rowid",
    )?;
    let mut rows = stmt.query([])?;
    let mut tables = Vec::new();
    while let Some(row) = rows.next()? {
        let name = utf8_name(raw_bytes(row.get_ref(0)?))?;
        let sql = raw_bytes(row.get_ref(1)?).to_vec();
        let kind = if name == "sqlite_sequence" {
            TableKind::Sequence
        } else if is_stat_table(&name) {
            TableKind::Stat
        } else if starts_with_ignore_case(name.as_bytes(), b"sqlite_") {
            TableKind::Internal
        } else if starts_with_ignore_case(&sql, b"CREATE VIRTUAL TABLE") {
            TableKind::Virtual
        } else {
            TableKind::Data
        };
        tables.push(SchemaTable { name, sql, kind });
    }
    Ok(tables)
}

/// Exact row counts of the tables a dump carries rows for.
fn count_tables(conn: &Connection) -> Result<TableCounts, Fail> {
    let mut counts = BTreeMap::new();
    for t in schema_tables(conn)? {
        if t.kind == TableKind::Data {
            let sql = format!("SELECT count(*) FROM main.{}", quote_ident(&t.name));
            let n: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
            counts.insert(t.name, n as u64);
        }
    }
    Ok(counts)
}

/// `sqlite_stat1` .. `sqlite_stat4`: tables ANALYZE maintains.
fn is_stat_table(name: &str) -> bool {
    name.len() == 12
        && name.is_char_boundary(11)
        && name[..11].eq_ignore_ascii_case("sqlite_stat")
        && matches!(name.as_bytes()[11], b'1'..=b'4')
}

/// The file-level settings a dump carries, read from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    page_size: i64,
    /// 0 none, 1 full, 2 incremental.
    auto_vacuum: i64,
    /// `UTF-8`, `UTF-16le` or `UTF-16be`.
    encoding: String,
    wal: bool,
}

impl Settings {
    fn read(conn: &Connection) -> Result<Settings, Fail> {
        let int = |p: &str| conn.query_row(&format!("PRAGMA main.{p}"), [], |r| r.get::<_, i64>(0));
        let text =
            |p: &str| conn.query_row(&format!("PRAGMA main.{p}"), [], |r| r.get::<_, String>(0));
        Ok(Settings {
            page_size: int("page_size")?,
            auto_vacuum: int("auto_vacuum")?,
            encoding: text("encoding")?,
            wal: text("journal_mode")?.eq_ignore_ascii_case("wal"),
        })
    }

    /// The statements that give a new, empty database these settings. They
    /// go before the first table is created (afterwards SQLite ignores the
    /// first three); WAL mode is switched on before the transaction, so the
    /// script still ends with `COMMIT;`.
    fn write_header(&self, buf: &mut Vec<u8>) {
        let auto_vacuum = match self.auto_vacuum {
            1 => "FULL",
            2 => "INCREMENTAL",
            _ => "NONE",
        };
        // Writing into a Vec cannot fail.
        let _ = write!(
            buf,
            "PRAGMA page_size={};\nPRAGMA auto_vacuum={auto_vacuum};\nPRAGMA encoding='{}';\n",
            self.page_size, self.encoding
        );
        if self.wal {
            buf.extend_from_slice(b"PRAGMA journal_mode=WAL;\n");
        }
    }

    fn utf16(&self) -> Option<Utf16> {
        match self.encoding.to_ascii_uppercase().as_str() {
            "UTF-16LE" => Some(Utf16::Le),
            "UTF-16BE" => Some(Utf16::Be),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf16 {
    Le,
    Be,
}

fn raw_bytes(v: ValueRef<'_>) -> &[u8] {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b,
        _ => b"",
    }
}

/// Names go into SQL built as Rust strings; a name that is not UTF-8 is
/// refused rather than silently changed.
fn utf8_name(b: &[u8]) -> Result<String, Fail> {
    String::from_utf8(b.to_vec()).map_err(|_| {
        Fail::Msg(format!(
            "table name {} is not valid UTF-8",
            String::from_utf8_lossy(b)
        ))
    })
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn contains_ignore_case(s: &[u8], needle: &[u8]) -> bool {
    s.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `"name"`, with embedded double quotes doubled: valid for every name.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The output buffer: rows are built in `buf`, which goes to `out` whenever
/// it passes [`FLUSH_AT`], so memory stays bounded by one row (and not even
/// that for long values, which flush as they are encoded).
struct Sink<'a> {
    buf: Vec<u8>,
    out: &'a mut dyn Write,
    /// The database's text encoding when it is UTF-16: `CAST(X'..' AS
    /// TEXT)` reads the bytes in the encoding of the database it runs in.
    utf16: Option<Utf16>,
}

impl Sink<'_> {
    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

// Long: the dump script in the sqlite3 shell's order (header, pragmas, one arm per kind of schema object, trailer), each quirk commented where it is written.
fn write_dump(conn: &Connection, sink: &mut Sink<'_>) -> Result<TableCounts, Fail> {
    let settings = Settings::read(conn)?;
    sink.buf.extend_from_slice(b"PRAGMA foreign_keys=OFF;\n");
    settings.write_header(&mut sink.buf);
    sink.utf16 = settings.utf16();
    sink.buf.extend_from_slice(b"BEGIN TRANSACTION;\n");
    for pragma in ["user_version", "application_id"] {
        let v: i64 = conn.query_row(&format!("PRAGMA main.{pragma}"), [], |r| r.get(0))?;
        if v != 0 {
            sink.buf.extend_from_slice(b"PRAGMA ");
            sink.buf.extend_from_slice(pragma.as_bytes());
            sink.buf.push(b'=');
            write_i64(&mut sink.buf, v);
            sink.buf.extend_from_slice(b";\n");
        }
    }

    let tables = schema_tables(conn)?;
    // sqlite_sequence exists in the restored database only if an
    // AUTOINCREMENT table is created there; without one its rows are stale
    // leftovers of dropped tables and `DELETE FROM sqlite_sequence` would fail.
    let autoincrement = tables
        .iter()
        .any(|t| t.kind == TableKind::Data && contains_ignore_case(&t.sql, b"AUTOINCREMENT"));
    let mut counts = BTreeMap::new();
    let mut writable_schema = false;
    for t in &tables {
        match t.kind {
            TableKind::Internal => {}
            TableKind::Sequence => {
                if autoincrement {
                    sink.buf
                        .extend_from_slice(b"DELETE FROM sqlite_sequence;\n");
                    dump_rows(conn, &t.name, sink)?;
                }
            }
            TableKind::Stat => {
                // The shell's `ANALYZE sqlite_schema` would create every
                // statistics table its build knows (an empty sqlite_stat4
                // that was not there) and cannot make one it does not know
                // (the Debian shell has no STAT4). With writable_schema the
                // table is created exactly as it was, in any build.
                if !writable_schema {
                    sink.buf.extend_from_slice(b"PRAGMA writable_schema=ON;\n");
                    writable_schema = true;
                }
                write_schema_line(&mut sink.buf, &t.sql);
                dump_rows(conn, &t.name, sink)?;
            }
            TableKind::Virtual => {
                // CREATE VIRTUAL TABLE would create fresh shadow tables that
                // clash with the dumped ones; writing the schema row directly
                // (as the shell does) re-attaches the module to them instead.
                if !writable_schema {
                    sink.buf.extend_from_slice(b"PRAGMA writable_schema=ON;\n");
                    writable_schema = true;
                }
                sink.buf.extend_from_slice(
                    b"INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table',",
                );
                write_text(sink, t.name.as_bytes())?;
                sink.buf.push(b',');
                write_text(sink, t.name.as_bytes())?;
                sink.buf.extend_from_slice(b",0,");
                write_text(sink, &t.sql)?;
                sink.buf.extend_from_slice(b");\n");
            }
            TableKind::Data => {
                write_schema_line(&mut sink.buf, &t.sql);
                let n = dump_rows(conn, &t.name, sink)?;
                counts.insert(t.name.clone(), n);
            }
        }
        sink.flush_if_full()?;
    }

    let mut stmt = conn.prepare(
        "SELECT sql FROM main.sqlite_schema \
         WHERE sql NOT NULL AND type IN ('index', 'trigger', 'view') ORDER BY rowid",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        write_schema_line(&mut sink.buf, raw_bytes(row.get_ref(0)?));
        sink.flush_if_full()?;
    }
    if writable_schema {
        sink.buf.extend_from_slice(b"PRAGMA writable_schema=OFF;\n");
    }
    sink.buf.extend_from_slice(b"COMMIT;\n");
    sink.finish()?;
    Ok(counts)
}

/// A `CREATE` statement from `sqlite_schema`, terminated so that the `;`
/// is not swallowed by a comment the stored text ends in.
fn write_schema_line(buf: &mut Vec<u8>, sql: &[u8]) {
    // Shadow tables are stored as `CREATE TABLE 'x_data'(...)`; the shell
    // writes them IF NOT EXISTS in case the module already made them.
    // SQLite stores the text from the name on, so the clause leaves no trace.
    if sql.starts_with(b"CREATE TABLE '") || sql.starts_with(b"CREATE TABLE \"") {
        buf.extend_from_slice(b"CREATE TABLE IF NOT EXISTS ");
        buf.extend_from_slice(&sql[13..]);
    } else {
        buf.extend_from_slice(sql);
    }
    buf.extend_from_slice(match trailing_comment(sql) {
        Comment::None => b";\n",
        Comment::Line => b"\n;\n",
        Comment::Block => b"*/;\n",
    });
}

#[derive(Debug, PartialEq, Eq)]
enum Comment {
    None,
    Line,
    Block,
}

/// Whether SQL text ends inside a `--` or an unterminated `/*` comment.
fn trailing_comment(sql: &[u8]) -> Comment {
    let n = sql.len();
    let mut i = 0;
    while i < n {
        match sql[i] {
            q @ (b'\'' | b'"' | b'`' | b'[') => {
                let close = if q == b'[' { b']' } else { q };
                i += 1;
                while i < n && sql[i] != close {
                    i += 1;
                }
                i += 1;
            }
            b'-' if sql.get(i + 1) == Some(&b'-') => match memchr(b'\n', &sql[i..]) {
                Some(j) => i += j + 1,
                None => return Comment::Line,
            },
            b'/' if sql.get(i + 1) == Some(&b'*') => match memmem::find(&sql[i + 2..], b"*/") {
                Some(j) => i += j + 4,
                None => return Comment::Block,
            },
            _ => i += 1,
        }
    }
    Comment::None
}

#[derive(Debug)]
struct Column {
    name: String,
    decl_type: String,
    pk: i64,
    hidden: i64,
}

/// How to read one table and write it back: the SELECT, and the fixed start
/// of each INSERT line.
#[derive(Debug)]
struct TablePlan {
    select: String,
    insert: Vec<u8>,
}

fn plan_table(conn: &Connection, table: &str) -> Result<TablePlan, Fail> {
    let mut columns = Vec::new();
    {
        let mut stmt =
            conn.prepare("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?1, 'main')")?;
        let mut rows = stmt.query([table])?;
        while let Some(row) = rows.next()? {
            columns.push(Column {
                name: utf8_name(raw_bytes(row.get_ref(0)?))?,
                decl_type: String::from_utf8_lossy(raw_bytes(row.get_ref(1)?)).into_owned(),
                pk: row.get(2)?,
                hidden: row.get(3)?,
            });
        }
    }
    let quoted_table = quote_ident(table);

    // The rowid is reachable under the first of its three names that no
    // real column shadows; WITHOUT ROWID tables have none of them.
    let rowid = match ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|alias| !columns.iter().any(|c| c.name.eq_ignore_ascii_case(alias)))
    {
        Some(alias)
            if conn
                .prepare(&format!("SELECT {alias} FROM main.{quoted_table} LIMIT 0"))
                .is_ok() =>
        {
            Some(alias)
        }
        _ => None,
    };
    // An INTEGER PRIMARY KEY column is the rowid and carries it already,
    // except when declared DESC (a quirk kept for compatibility), which
    // leaves an ordinary primary-key index: that is what tells them apart.
    let pk_columns: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    let integer_pk = pk_columns.len() == 1
        && pk_columns[0].decl_type.eq_ignore_ascii_case("INTEGER")
        && conn.query_row(
            "SELECT count(*) FROM pragma_index_list(?1, 'main') WHERE origin = 'pk'",
            [table],
            |r| r.get::<_, i64>(0),
        )? == 0;
    let keep_rowid = rowid.filter(|_| !integer_pk);

    // Generated columns are computed again on insert and cannot be given.
    let stored: Vec<&Column> = columns.iter().filter(|c| c.hidden == 0).collect();
    let mut names: Vec<String> = Vec::with_capacity(stored.len() + 1);
    names.extend(keep_rowid.map(str::to_string));
    names.extend(stored.iter().map(|c| quote_ident(&c.name)));
    let list = names.join(",");

    let mut select = format!("SELECT {list} FROM main.{quoted_table}");
    if let Some(alias) = rowid {
        // Free for a rowid table (its b-tree is in rowid order) and makes
        // the restore append instead of insert at random places.
        select.push_str(" ORDER BY ");
        select.push_str(alias);
    }
    let mut insert = format!("INSERT INTO {quoted_table}");
    if keep_rowid.is_some() || stored.len() != columns.len() {
        insert.push('(');
        insert.push_str(&list);
        insert.push(')');
    }
    insert.push_str(" VALUES(");
    Ok(TablePlan {
        select,
        insert: insert.into_bytes(),
    })
}

/// Writes one INSERT line per row of `table`; returns how many.
fn dump_rows(conn: &Connection, table: &str, sink: &mut Sink<'_>) -> Result<u64, Fail> {
    let plan = plan_table(conn, table)?;
    let mut stmt = conn.prepare(&plan.select)?;
    let ncols = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        sink.buf.extend_from_slice(&plan.insert);
        for i in 0..ncols {
            if i > 0 {
                sink.buf.push(b',');
            }
            write_value(sink, row.get_ref(i)?)?;
        }
        sink.buf.extend_from_slice(b");\n");
        sink.flush_if_full()?;
        count += 1;
    }
    Ok(count)
}

fn write_value(sink: &mut Sink<'_>, v: ValueRef<'_>) -> io::Result<()> {
    match v {
        ValueRef::Null => sink.buf.extend_from_slice(b"NULL"),
        ValueRef::Integer(i) => write_i64(&mut sink.buf, i),
        ValueRef::Real(x) => write_real(&mut sink.buf, x),
        ValueRef::Text(t) => return write_text(sink, t),
        ValueRef::Blob(b) => {
            sink.buf.extend_from_slice(b"X'");
            write_hex(sink, b)?;
            sink.buf.push(b'\'');
        }
    }
    Ok(())
}

/// Decimal digits without going through `fmt` (this runs once per integer).
/// `-9223372036854775808` is fine: SQLite reads a negated 2^63 as i64::MIN.
fn write_i64(buf: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&digits[i..]);
}

/// A REAL literal that SQLite parses back to the same bits.
///
/// SQLite 3.40 (the Debian shell) does not round decimal input correctly in
/// all cases; measured on random bit patterns:
/// - the shortest round-trip form (`{:?}`) comes back wrong for ~1 in 4000
///   values of ordinary magnitude, and for many below 1e-291;
/// - 17 significant digits (`{:.16e}`) come back exact for every value from
///   1e-291 up to f64::MAX, but not below: there 3.40 scales by an inexact
///   `1e308`.
///
/// So: 17 significant digits, and below [`TINY_REAL`] the value times 2^600
/// (exact: a power of two) in 17 digits, times 2^-600 in 17 digits, an
/// exact multiplication back. Integral values below 2^53 are written as
/// `123.0` (exact, and keeps them REAL); infinities as `1e999`, which both
/// parsers turn into infinity. NaN cannot be stored (SQLite makes it NULL).
fn write_real(buf: &mut Vec<u8>, x: f64) {
    const EXACT_INTEGERS: f64 = 9007199254740992.0; // 2^53
    if x.is_nan() {
        buf.extend_from_slice(b"NULL");
    } else if x.is_infinite() {
        buf.extend_from_slice(if x > 0.0 { b"1e999" } else { b"-1e999" });
    } else if x == 0.0 {
        buf.extend_from_slice(if x.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
    } else if x.fract() == 0.0 && x.abs() < EXACT_INTEGERS {
        write_i64(buf, x as i64);
        buf.extend_from_slice(b".0");
    } else if x.abs() < TINY_REAL {
        write_sci(buf, x * pow2(TINY_SHIFT));
        buf.push(b'*');
        write_sci(buf, pow2(-TINY_SHIFT));
    } else {
        write_sci(buf, x);
    }
}

/// 2^e for a normal-range exponent, built from its bits so it is exact.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// 17 significant digits, trailing zeros of the mantissa dropped (SQLite
/// strips them before scaling, so the parse is the same): `1.5e-7`.
fn write_sci(buf: &mut Vec<u8>, x: f64) {
    let start = buf.len();
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{x:.16e}");
    let Some(e) = memchr(b'e', &buf[start..]).map(|i| start + i) else {
        return;
    };
    let mut end = e;
    while buf[end - 1] == b'0' {
        end -= 1;
    }
    if buf[end - 1] == b'.' {
        end -= 1;
    }
    if end < e {
        buf.copy_within(e.., end);
        buf.truncate(buf.len() - (e - end));
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Hex digits of `bytes`, flushing as it goes so a large blob is never
/// doubled in memory as a whole.
fn write_hex(sink: &mut Sink<'_>, bytes: &[u8]) -> io::Result<()> {
    for chunk in bytes.chunks(FLUSH_AT / 2) {
        sink.buf.reserve(chunk.len() * 2);
        for &b in chunk {
            sink.buf.push(HEX_DIGITS[usize::from(b >> 4)]);
            sink.buf.push(HEX_DIGITS[usize::from(b & 15)]);
        }
        sink.flush_if_full()?;
    }
    Ok(())
}

/// A TEXT value as one line of SQL that loads back byte for byte.
///
/// Plain text is a quoted literal. Newlines and carriage returns are spelt
/// `\n` / `\r` inside it and put back with `replace(...,'\n',char(10))`, as
/// the shell's `.dump` does, so every INSERT stays on one line; that needs
/// the text not to contain those two-character spellings itself. Text that
/// does, or that holds a NUL byte (the shell's dump cuts text at NUL) or is
/// not valid UTF-8, is written as `CAST(X'..' AS TEXT)`, which is exact.
fn write_text(sink: &mut Sink<'_>, text: &[u8]) -> io::Result<()> {
    let newline = memchr(b'\n', text).is_some();
    let cr = memchr(b'\r', text).is_some();
    if memchr(0, text).is_some()
        || std::str::from_utf8(text).is_err()
        || (newline && memmem::find(text, b"\\n").is_some())
        || (cr && memmem::find(text, b"\\r").is_some())
    {
        sink.buf.extend_from_slice(b"CAST(X'");
        match sink.utf16 {
            None => write_hex(sink, text)?,
            Some(order) => {
                // SQLite hands UTF-16 text over as UTF-8; back to UTF-16
                // in the database's byte order. (Text that is not valid
                // UTF-16 cannot be read exactly through the UTF-8 API.)
                let mut units = Vec::with_capacity(text.len() * 2);
                for u in String::from_utf8_lossy(text).encode_utf16() {
                    units.extend_from_slice(&match order {
                        Utf16::Le => u.to_le_bytes(),
                        Utf16::Be => u.to_be_bytes(),
                    });
                }
                write_hex(sink, &units)?;
            }
        }
        sink.buf.extend_from_slice(b"' AS TEXT)");
        return Ok(());
    }
    if newline {
        sink.buf.extend_from_slice(b"replace(");
    }
    if cr {
        sink.buf.extend_from_slice(b"replace(");
    }
    sink.buf.push(b'\'');
    let mut done = 0;
    for i in memchr3_iter(b'\'', b'\n', b'\r', text) {
        sink.buf.extend_from_slice(&text[done..i]);
        sink.buf.extend_from_slice(match text[i] {
            b'\'' => b"''",
            b'\n' => b"\\n",
            _ => b"\\r",
        });
        done = i + 1;
        if sink.buf.len() >= FLUSH_AT {
            sink.flush_if_full()?;
        }
    }
    // A long literal goes out in pieces rather than doubling in the buffer.
    for piece in text[done..].chunks(FLUSH_AT) {
        sink.buf.extend_from_slice(piece);
        sink.flush_if_full()?;
    }
    sink.buf.push(b'\'');
    if cr {
        sink.buf.extend_from_slice(b",'\\r',char(13))");
    }
    if newline {
        sink.buf.extend_from_slice(b",'\\n',char(10))");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const SHELL: &str = "/usr/bin/sqlite3";

    /// The Debian `sqlite3` shell is what users load dumps with; without it
    /// the shell tests say SKIPPED, unless LFB_REQUIRE_DB asks for them.
    fn have_shell() -> bool {
        if Path::new(SHELL).exists() {
            return true;
        }
        assert!(
            std::env::var_os("LFB_REQUIRE_DB").is_none(),
            "{SHELL} is not installed"
        );
        eprintln!("SKIPPED: {SHELL} is not installed");
        false
    }

    /// `sqlite3 -bail db < dump`, which must succeed without a word on stderr.
    fn shell_load(dump: &[u8], db: &Path) {
        let mut child = Command::new(SHELL)
            .args(["-init", "/dev/null", "-bail"])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sqlite3");
        let mut stdin = child.stdin.take().unwrap();
        let data = dump.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "sqlite3 failed to load the dump ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `sqlite3 db .dump`.
    fn shell_dump(db: &Path) -> String {
        let out = Command::new(SHELL)
            .args(["-init", "/dev/null"])
            .arg(db)
            .arg(".dump")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn dump_to_vec(path: &Path) -> (Vec<u8>, TableCounts) {
        let mut out = Vec::new();
        let counts = dump_sql(path, &mut out).unwrap();
        (out, counts)
    }

    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Val {
        Null,
        Int(i64),
        Real(u64),
        Text(Vec<u8>),
        Blob(Vec<u8>),
    }

    impl From<ValueRef<'_>> for Val {
        fn from(v: ValueRef<'_>) -> Self {
            match v {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(i) => Val::Int(i),
                ValueRef::Real(x) => Val::Real(x.to_bits()),
                ValueRef::Text(t) => Val::Text(t.to_vec()),
                ValueRef::Blob(b) => Val::Blob(b.to_vec()),
            }
        }
    }

    /// Everything a restore must reproduce, in comparable form: the schema
    /// text, every row of every table (by rowid where there is one, with
    /// exact types, REAL bits and text bytes), and the header fields.
    #[derive(Debug, PartialEq)]
    struct Image {
        schema: Vec<(String, String, String, Option<String>)>,
        tables: BTreeMap<String, Vec<Vec<Val>>>,
        user_version: i64,
        application_id: i64,
        /// page_size, auto_vacuum, encoding, journal_mode.
        settings: (i64, i64, String, String),
    }

    fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Val>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let mut all = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            all.push((0..n).map(|i| Val::from(row.get_ref(i).unwrap())).collect());
        }
        all.sort();
        all
    }

    fn image(path: &Path) -> Image {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let schema: Vec<(String, String, String, Option<String>)> = conn
            .prepare(
                "SELECT type, name, tbl_name, sql FROM sqlite_schema \
                 ORDER BY type, name",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        let mut tables = BTreeMap::new();
        for (ty, name, _, _) in &schema {
            if ty != "table" {
                continue;
            }
            let q = quote_ident(name);
            let columns: Vec<String> = conn
                .prepare("SELECT name FROM pragma_table_xinfo(?1)")
                .unwrap()
                .query_map([name], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let alias = ["rowid", "_rowid_", "oid"]
                .into_iter()
                .find(|a| !columns.iter().any(|c| c.eq_ignore_ascii_case(a)));
            let with_rowid = alias
                .map(|a| format!("SELECT {a}, * FROM {q}"))
                .filter(|sql| conn.prepare(sql).is_ok());
            let sql = with_rowid.unwrap_or_else(|| format!("SELECT * FROM {q}"));
            tables.insert(name.clone(), rows(&conn, &sql));
        }
        let pragma = |p: &str| {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                .unwrap()
        };
        let text = |p: &str| {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, String>(0))
                .unwrap()
        };
        Image {
            settings: (
                pragma("page_size"),
                pragma("auto_vacuum"),
                text("encoding"),
                text("journal_mode"),
            ),
            user_version: pragma("user_version"),
            application_id: pragma("application_id"),
            schema,
            tables,
        }
    }

    fn real_counts(path: &Path, counts: &TableCounts) -> TableCounts {
        let conn = Connection::open(path).unwrap();
        counts
            .keys()
            .map(|t| {
                let n: i64 = conn
                    .query_row(
                        &format!("SELECT count(*) FROM {}", quote_ident(t)),
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                (t.clone(), n as u64)
            })
            .collect()
    }

    const SPECIAL_REALS: &[f64] = &[
        0.0,
        -0.0,
        3.0,
        -3.0,
        0.1,
        -2.5,
        1e300,
        -1e-300,
        1e-292,
        1e-280,
        f64::from_bits(TINY_REAL.to_bits() - 1),
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        2.225073858507201e-308,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        9007199254740992.0,
        9007199254740993.0,
        1.8446744073709552e19,
        -9.223372036854776e18,
        123456789012345680.0,
        std::f64::consts::PI,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];

    /// A database with every case the dump has to get right.
    fn tricky_db(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            r#"
            PRAGMA user_version = 42;
            PRAGMA application_id = -5;
            CREATE TABLE "weird ""table"" name"("col with space" TEXT, "quo""te" INTEGER,
                "select" REAL, [bracket] BLOB, `back` NUMERIC);
            CREATE TABLE plain(a, b);
            CREATE TABLE ipk(id INTEGER PRIMARY KEY, v TEXT NOT NULL);
            CREATE TABLE ipk_desc(id INTEGER PRIMARY KEY DESC, v);
            CREATE TABLE autoinc(id INTEGER PRIMARY KEY AUTOINCREMENT, v);
            CREATE TABLE wr(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
            CREATE TABLE wr2(a INTEGER, b TEXT, c, PRIMARY KEY(b, a)) WITHOUT ROWID;
            CREATE TABLE all_shadowed(rowid TEXT, oid INTEGER, _rowid_ BLOB);
            CREATE TABLE rowid_shadowed("RowId" INTEGER, x);
            CREATE TABLE gen(a INTEGER, b AS (a * 2), c TEXT GENERATED ALWAYS AS (a || 'x') STORED, d);
            CREATE TABLE vals(v);
            CREATE TABLE reals(r REAL, n NUMERIC, i INTEGER, t TEXT);
            CREATE TABLE strict_t(id INTEGER PRIMARY KEY, n ANY, r REAL) STRICT;
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
            CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT UNIQUE);
            CREATE TABLE 'quoted'(x);
            CREATE TABLE log(msg);
            CREATE TABLE "it's"(a, -- a comment
                b /* block */);
            CREATE TABLE "INSERT"("VALUES" TEXT, "table" INT);
            CREATE INDEX plain_b ON plain(b);
            CREATE UNIQUE INDEX "idx ""q""" ON ipk(v);
            CREATE INDEX partial ON vals(v) WHERE v IS NOT NULL;
            CREATE VIEW v_plain AS SELECT a, b FROM plain WHERE a > 0;
            CREATE VIEW v_trailing AS SELECT 1 AS one -- trailing comment
            ;
            CREATE TRIGGER plain_ins AFTER INSERT ON plain BEGIN
                INSERT INTO log VALUES('inserted ' || new.a);
            END;
            CREATE VIRTUAL TABLE ft USING fts5(title, body);
            "#,
        )
        .unwrap();
        let ins = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
            conn.execute(sql, p).unwrap();
        };
        ins(
            r#"INSERT INTO "weird ""table"" name" VALUES(?1, ?2, ?3, ?4, ?5)"#,
            &[&"a'b", &7, &1.5, &vec![0u8, 1, 2], &"12.5"],
        );
        ins(
            r#"INSERT INTO "weird ""table"" name" VALUES(NULL, NULL, NULL, NULL, NULL)"#,
            &[],
        );
        for (rowid, a) in [
            (-5i64, 1i64),
            (0, 2),
            (7, -3),
            (1_000_000, 4),
            (i64::MAX, 5),
        ] {
            ins(
                "INSERT INTO plain(rowid, a, b) VALUES(?1, ?2, ?3)",
                &[&rowid, &a, &format!("b{a}")],
            );
        }
        ins(
            "INSERT INTO ipk VALUES(-9, 'neg'), (3, 'three'), (99, 'x')",
            &[],
        );
        ins(
            "INSERT INTO ipk_desc(rowid, id, v) VALUES(10, 3, 'x'), (20, 1, 'y'), (5, 2, 'z')",
            &[],
        );
        for i in 0..5 {
            ins("INSERT INTO autoinc(v) VALUES(?1)", &[&i]);
        }
        ins("DELETE FROM autoinc WHERE id > 3", &[]);
        ins(
            "UPDATE sqlite_sequence SET seq = 100 WHERE name = 'autoinc'",
            &[],
        );
        ins(
            "INSERT INTO wr VALUES('b', 1), ('a', 2), ('é✓', X'ff'), ('', NULL)",
            &[],
        );
        ins(
            "INSERT INTO wr2 VALUES(1, 'x', 1.5), (2, 'x', NULL), (1, 'y', 'z')",
            &[],
        );
        ins(
            "INSERT INTO all_shadowed VALUES('r1', 5, X'01'), ('r2', NULL, NULL)",
            &[],
        );
        ins(
            "INSERT INTO rowid_shadowed(_rowid_, RowId, x) VALUES(50, 1, 'a'), (-7, 2, 'b')",
            &[],
        );
        ins("INSERT INTO gen(a, d) VALUES(1, 'd1'), (NULL, 'd2')", &[]);
        let big_text: String = (0..20_000)
            .map(|i| format!("line {i} with 'quote'\n"))
            .collect();
        let big_blob: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let texts: Vec<&str> = vec![
            "",
            "it's",
            "''",
            "line1\nline2",
            "crlf\r\n",
            "\r only",
            "has \\n literal and\na newline",
            "has \\r literal and\ra CR",
            "has \\n literal, no newline",
            "a\0b",
            "\0",
            "héllo wörld ✓ 🎉",
            "-- not a comment",
            "'); DROP TABLE vals; --",
            "tab\there",
            "CAST(X'00' AS TEXT)",
            "replace('x','\\n',char(10))",
            &big_text,
        ];
        for t in &texts {
            ins("INSERT INTO vals VALUES(?1)", &[t]);
        }
        for i in [0i64, 1, -1, i64::MIN, i64::MAX, 1 << 53, -(1 << 53) - 1] {
            ins("INSERT INTO vals VALUES(?1)", &[&i]);
        }
        for x in SPECIAL_REALS {
            ins("INSERT INTO vals VALUES(?1)", &[x]);
            ins("INSERT INTO reals VALUES(?1, ?1, ?1, ?1)", &[x]);
        }
        ins("INSERT INTO vals VALUES(NULL), (X''), (X'00ff10')", &[]);
        ins("INSERT INTO vals VALUES(?1)", &[&big_blob]);
        ins("INSERT INTO vals VALUES(CAST(X'c328ff' AS TEXT))", &[]);
        ins("INSERT INTO vals VALUES(CAST(X'410a00ff0d' AS TEXT))", &[]);
        ins(
            "INSERT INTO strict_t(n, r) VALUES(1, 2.0), (1.5, -0.5), ('x', 3), (X'01', NULL)",
            &[],
        );
        // The dump has child (created first) before parent: foreign keys,
        // which the bundled library enforces by default, must be off there.
        ins("INSERT INTO parent VALUES(10, 'ten'), (20, 'twenty')", &[]);
        ins("INSERT INTO child VALUES(1, 10), (2, 20)", &[]);
        ins("INSERT INTO quoted VALUES('q')", &[]);
        ins(r#"INSERT INTO "it's" VALUES(1, 2)"#, &[]);
        ins(r#"INSERT INTO "INSERT" VALUES('VALUES(', 1)"#, &[]);
        ins(
            "INSERT INTO ft VALUES('The quick', 'brown fox jumps'), ('Lazy', 'dog\nsleeps')",
            &[],
        );
        conn.execute_batch("ANALYZE").unwrap();
    }

    #[test]
    fn dump_loads_in_the_shell_and_reproduces_the_database() {
        if !have_shell() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let orig = dir.path().join("orig.db");
        tricky_db(&orig);
        let (dump, counts) = dump_to_vec(&orig);

        let text = String::from_utf8(dump.clone()).expect("the dump is UTF-8");
        assert!(text.starts_with("PRAGMA foreign_keys=OFF;\nPRAGMA page_size=4096;\n"));
        assert!(text.ends_with("\nCOMMIT;\n"));
        for line in text.lines().filter(|l| l.starts_with("INSERT INTO")) {
            assert!(line.ends_with(");"), "INSERT spans lines: {line:.80}");
        }

        let restored = dir.path().join("restored.db");
        shell_load(&dump, &restored);
        let (a, b) = (image(&orig), image(&restored));
        assert_eq!(a.schema, b.schema);
        assert_eq!(a.user_version, 42);
        assert_eq!(a.application_id, -5);
        assert_eq!(
            (a.user_version, a.application_id),
            (b.user_version, b.application_id)
        );
        assert!(a.tables["sqlite_sequence"].contains(&vec![
            Val::Int(1),
            Val::Text(b"autoinc".to_vec()),
            Val::Int(100)
        ]));
        assert!(!a.tables["sqlite_stat1"].is_empty());
        for (name, rows) in &a.tables {
            assert_eq!(Some(rows), b.tables.get(name), "table {name} differs");
        }
        assert_eq!(a.tables.len(), b.tables.len());
        assert_eq!(a, b);

        // Counts are what the dump holds, and only tables with their own rows.
        assert_eq!(counts, real_counts(&orig, &counts));
        assert_eq!(counts, real_counts(&restored, &counts));
        assert_eq!(counts["plain"], 5);
        assert_eq!(counts["log"], 5);
        assert!(counts.contains_key("ft_data"));
        assert!(!counts.contains_key("ft"));
        assert!(!counts.contains_key("sqlite_sequence"));
        assert_eq!(counts, table_counts(&orig).unwrap());

        // The FTS5 index works on the restored copy.
        let conn = Connection::open(&restored).unwrap();
        let hit: String = conn
            .query_row("SELECT title FROM ft WHERE ft MATCH 'fox'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(hit, "The quick");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);

        // The shell's own dumps of both agree too, sqlite_stat4 included
        // (which the Debian shell, built without STAT4, cannot make itself).
        assert!(!a.tables["sqlite_stat4"].is_empty());
        let (want, got) = (shell_dump(&orig), shell_dump(&restored));
        for (w, g) in want.lines().zip(got.lines()) {
            assert_eq!(
                w, g,
                "the shell dumps the original and the restored copy differently"
            );
        }
        assert_eq!(want.lines().count(), got.lines().count());

        // And the dump loads with the bundled library as well.
        let bundled = Connection::open_in_memory().unwrap();
        bundled.execute_batch(&text).unwrap();
    }

    #[test]
    fn schema_text_ending_in_a_comment_is_terminated() {
        assert_eq!(trailing_comment(b"CREATE TABLE t(a)"), Comment::None);
        assert_eq!(
            trailing_comment(b"CREATE VIEW v AS SELECT 1 -- x"),
            Comment::Line
        );
        assert_eq!(
            trailing_comment(b"CREATE VIEW v AS SELECT 1 /* x"),
            Comment::Block
        );
        assert_eq!(
            trailing_comment(b"CREATE VIEW v AS SELECT '--' /* */"),
            Comment::None
        );
        assert_eq!(
            trailing_comment(b"CREATE TABLE \"a--\"(b) -- c\n"),
            Comment::None
        );
        let mut buf = Vec::new();
        write_schema_line(&mut buf, b"CREATE VIEW v AS SELECT 1 -- x");
        assert_eq!(buf, b"CREATE VIEW v AS SELECT 1 -- x\n;\n");
    }

    #[test]
    fn reals_round_trip_bit_for_bit() {
        if !have_shell() {
            return;
        }
        let rounds: usize = std::env::var("LFB_REAL_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5000);
        let dir = tempfile::tempdir().unwrap();
        let orig = dir.path().join("reals.db");
        let mut values: Vec<f64> = SPECIAL_REALS.to_vec();
        values.push(pow2(-TINY_SHIFT));
        values.push(pow2(TINY_SHIFT));
        values.extend((-1074..=1023).map(|e| 2f64.powi(e)));
        // xorshift: random bit patterns cover every exponent evenly; decimal
        // fractions (prices, measurements) are what databases mostly hold.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..rounds {
            let x = f64::from_bits(next());
            if !x.is_nan() {
                values.push(x);
            }
            let r = next();
            let digits = (r % 1_000_000_000) as f64;
            values.push(digits / 10f64.powi((r >> 40) as i32 % 12));
        }
        {
            let mut conn = Connection::open(&orig).unwrap();
            conn.execute_batch("CREATE TABLE r(i INTEGER PRIMARY KEY, x)")
                .unwrap();
            let tx = conn.transaction().unwrap();
            {
                let mut insert = tx.prepare("INSERT INTO r VALUES(?1, ?2)").unwrap();
                for (i, x) in values.iter().enumerate() {
                    insert.execute(rusqlite::params![i as i64, x]).unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let (dump, counts) = dump_to_vec(&orig);
        assert_eq!(counts["r"], values.len() as u64);

        let read_back = |conn: &Connection| -> Vec<u64> {
            let mut stmt = conn.prepare("SELECT x FROM r ORDER BY i").unwrap();
            stmt.query_map([], |r| {
                Ok(match r.get_ref(0)? {
                    ValueRef::Real(x) => x.to_bits(),
                    other => panic!("not a REAL: {other:?}"),
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let want: Vec<u64> = values.iter().map(|x| x.to_bits()).collect();

        let via_shell = dir.path().join("shell.db");
        shell_load(&dump, &via_shell);
        let got = read_back(&Connection::open(&via_shell).unwrap());
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(
                w,
                g,
                "sqlite3 shell read {:e} back as {:e}",
                f64::from_bits(*w),
                f64::from_bits(*g)
            );
        }
        assert_eq!(want.len(), got.len());

        // Line by line: execute_batch on one long string is quadratic.
        let bundled = Connection::open_in_memory().unwrap();
        for line in std::str::from_utf8(&dump).unwrap().lines() {
            bundled.execute_batch(line).unwrap();
        }
        assert_eq!(want, read_back(&bundled), "bundled SQLite differs");
    }

    #[test]
    fn real_literals_look_like_reals() {
        let lit = |x: f64| {
            let mut b = Vec::new();
            write_real(&mut b, x);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(lit(3.0), "3.0");
        assert_eq!(lit(-0.0), "-0.0");
        assert_eq!(lit(0.5), "5e-1");
        assert_eq!(lit(0.1), "1.0000000000000001e-1");
        assert_eq!(lit(1e20), "1e20");
        assert_eq!(lit(f64::INFINITY), "1e999");
        assert!(lit(5e-324).contains('*'));
        let mut b = Vec::new();
        write_i64(&mut b, i64::MIN);
        assert_eq!(b, b"-9223372036854775808");
    }

    /// Writer that keeps tables a and b the same size, one transaction per
    /// row pair, until told to stop; counts its commits.
    fn start_writer(
        path: PathBuf,
        stop: Arc<AtomicBool>,
        commits: Arc<AtomicU64>,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let conn = Connection::open(&path).unwrap();
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            while !stop.load(Ordering::Relaxed) {
                conn.execute_batch(
                    "BEGIN IMMEDIATE;
                     INSERT INTO a(pad) VALUES(hex(randomblob(20)));
                     INSERT INTO b(pad) VALUES(hex(randomblob(20)));
                     COMMIT;",
                )
                .unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    }

    fn wal_db(path: &Path, rows: i64) {
        let conn = Connection::open(path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch(&format!(
            "CREATE TABLE a(id INTEGER PRIMARY KEY, pad TEXT);
             CREATE TABLE b(id INTEGER PRIMARY KEY, pad TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO a(pad) SELECT hex(randomblob(40)) FROM n;
             INSERT INTO b(pad) SELECT pad FROM a;"
        ))
        .unwrap();
    }

    /// Waits until the writer has committed at least once more.
    fn wait_for_commit(commits: &AtomicU64) {
        let start = commits.load(Ordering::Relaxed);
        while commits.load(Ordering::Relaxed) == start {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn dump_is_one_snapshot_while_another_connection_writes() {
        if !have_shell() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let orig = dir.path().join("wal.db");
        wal_db(&orig, 150_000);
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let writer = start_writer(orig.clone(), stop.clone(), commits.clone());
        wait_for_commit(&commits);

        let before = commits.load(Ordering::Relaxed);
        let mut dump = Vec::new();
        let counts = dump_sql(&orig, &mut dump).unwrap();
        let during = commits.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(during > 0, "the writer never committed during the dump");

        assert_eq!(counts["a"], counts["b"], "a and b from different moments");
        assert!(counts["a"] >= 150_000);
        let restored = dir.path().join("restored.db");
        shell_load(&dump, &restored);
        assert_eq!(counts, real_counts(&restored, &counts));
        // The writer went on past the snapshot.
        assert!(real_counts(&orig, &counts)["a"] > counts["a"]);
    }

    #[test]
    fn backup_native_copies_one_snapshot_into_a_single_file() {
        let dir = tempfile::tempdir().unwrap();
        let orig = dir.path().join("orig.db");
        tricky_db(&orig);
        {
            let conn = Connection::open(&orig).unwrap();
            let mode: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            // Keep the -wal file alive with content: the copy must still
            // come out as one file.
            conn.execute_batch("PRAGMA wal_autocheckpoint=0; INSERT INTO log VALUES('in wal');")
                .unwrap();
            let copy = dir.path().join("copy.db");
            let counts = backup_native(&orig, &copy).unwrap();
            drop(conn);

            let header = std::fs::read(&copy).unwrap();
            assert_eq!((header[18], header[19]), (2, 2), "copy header says WAL");
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut side = copy.clone().into_os_string();
                side.push(suffix);
                assert!(!Path::new(&side).exists(), "{suffix} left beside the copy");
            }
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let conn = Connection::open(&copy).unwrap();
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok");
            let journal: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(journal, "wal");
            drop(conn);
            assert_eq!(image(&orig), image(&copy));
            assert_eq!(counts, real_counts(&orig, &counts));
            assert_eq!(counts["log"], 6);
        }

        // An existing empty file (an AtomicFile's .partial) is fine; a
        // non-empty one is never overwritten.
        let partial = dir.path().join("x.partial");
        std::fs::write(&partial, b"").unwrap();
        backup_native(&orig, &partial).unwrap();
        let err = backup_native(&orig, &partial).unwrap_err();
        assert!(err.line().contains("already exists"), "{}", err.line());
    }

    #[test]
    fn backup_native_is_one_snapshot_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let orig = dir.path().join("wal.db");
        wal_db(&orig, 150_000);
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let writer = start_writer(orig.clone(), stop.clone(), commits.clone());
        wait_for_commit(&commits);
        let copies: Vec<TableCounts> = (0..3)
            .map(|i| {
                let copy = dir.path().join(format!("copy{i}.db"));
                let counts = backup_native(&orig, &copy).unwrap();
                assert_eq!(counts, real_counts(&copy, &counts));
                wait_for_commit(&commits);
                counts
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        for counts in &copies {
            assert_eq!(counts["a"], counts["b"]);
        }
        assert!(copies[2]["a"] > copies[0]["a"]);
    }

    #[test]
    fn errors_name_the_file_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.db");
        let text = dir.path().join("notes.txt");
        std::fs::write(
            &text,
            "this is not a database, just some text\n".repeat(200),
        )
        .unwrap();
        let cases = [
            (&missing, "No such file or directory"),
            (&text, "file is not a database"),
        ];
        for (path, why) in cases {
            let dump_err = dump_sql(path, &mut Vec::new()).unwrap_err();
            let copy_err = backup_native(path, &dir.path().join("copy.db")).unwrap_err();
            for err in [dump_err, copy_err] {
                let line = err.line();
                assert_eq!(
                    line,
                    format!("cannot open SQLite database '{}': {why}", path.display())
                );
                assert_eq!(err.exit_code(), 2);
            }
        }
        assert!(!missing.exists(), "opening must not create the database");
        assert!(!dir.path().join("copy.db").exists());
    }

    #[test]
    fn counts_are_the_real_counts() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE empty(x);
             CREATE TABLE some(x);
             INSERT INTO some VALUES(1), (2), (3);
             CREATE TABLE \"odd name\"(k PRIMARY KEY) WITHOUT ROWID;
             INSERT INTO \"odd name\" VALUES('a'), ('b');",
        )
        .unwrap();
        drop(conn);
        let (_, counts) = dump_to_vec(&db);
        let want: TableCounts = [("empty", 0), ("odd name", 2), ("some", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(counts, want);
        assert_eq!(table_counts(&db).unwrap(), want);
        assert_eq!(
            backup_native(&db, &dir.path().join("copy.db")).unwrap(),
            want
        );
    }

    #[test]
    fn library_version_names_sqlite() {
        let v = library_version();
        assert!(v.starts_with("SQLite 3."), "{v}");
    }
}
