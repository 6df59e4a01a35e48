//! Dumping one database into the store: the work of `lfb-dump`, also used by
//! `lfb-restore` for its safety backup.
//!
//! The dump streams from the database through compression and hashing
//! straight into `ARTIFACT.partial` in its final folder; only a complete,
//! checked dump is renamed to its final name, under the store lock, and gets
//! its sidecar and journal event.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DurationRound, Utc};
use serde_json::json;

use crate::cleanup;
use crate::cli::Ui;
use crate::crypt::{self, Tail};
use crate::digest::HashingWriter;
use crate::engine::mysql::{self, Mysql};
use crate::engine::postgres::{self, Postgres};
use crate::engine::sqlite;
use crate::engine::url::Database;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, AtomicFile};
use crate::gzip::GzWriter;
use crate::journal::{self, Event};
use crate::lock::StoreLock;
use crate::naming::{self, ArtifactName};
use crate::progress::Progress;
use crate::record::{Kind, Record, Source};
use crate::store::{self, Store};

/// How long a run waits for another run's store lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Dump formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain SQL (PostgreSQL: pg_dump --format=plain; SQLite: SQL text that
    /// keeps page size, auto_vacuum, encoding, WAL mode and statistics)
    Sql,
    /// PostgreSQL custom format (pg_dump -Fc), for pg_restore
    Custom,
    /// SQLite: a page-exact copy of the database file (backup API), one file
    /// also for WAL databases (whose copy says WAL in its header)
    Native,
}

/// Compression of the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compress {
    Gzip,
    None,
}

/// Everything a dump needs to know.
#[derive(Debug, Clone)]
pub struct DumpRequest {
    pub database: Database,
    pub store: Store,
    pub env: String,
    pub tag: String,
    pub name: Option<String>,
    pub format: Format,
    pub compress: Compress,
    pub level: u32,
    /// Write here instead of into the store.
    pub output: Option<PathBuf>,
    pub exec: Option<String>,
}

/// The record `format` and file extension of a dump.
fn format_and_ext(engine: &str, f: Format, c: Compress) -> Result<(&'static str, &'static str)> {
    Ok(match (engine, f, c) {
        (_, Format::Sql, Compress::Gzip) => ("sql+gzip", "sql.gz"),
        (_, Format::Sql, Compress::None) => ("sql", "sql"),
        ("postgres", Format::Custom, _) => ("pg-custom", "dump"),
        ("sqlite", Format::Native, Compress::Gzip) => ("sqlite+gzip", "sqlite3.gz"),
        ("sqlite", Format::Native, Compress::None) => ("sqlite", "sqlite3"),
        (e, Format::Custom, _) => {
            return Err(Error::usage(format!(
                "--format custom is for PostgreSQL, not {e}"
            )));
        }
        (e, Format::Native, _) => {
            return Err(Error::usage(format!(
                "--format native is for SQLite, not {e}"
            )));
        }
    })
}

/// Counts bytes written through it (the uncompressed size).
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The artifact being written: (gzip) → hash → (age → hash) → buffer →
/// partial file. One exists per dump, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Sink {
    Gzip(GzWriter<HashingWriter<Tail<BufWriter<AtomicFile>>>>),
    Plain(HashingWriter<Tail<BufWriter<AtomicFile>>>),
}

/// What a finished sink wrote: the file, the SHA-256 and size as stored,
/// and for an encrypted artifact those of the plaintext.
type Finished = (AtomicFile, String, u64, Option<(String, u64)>);

impl Sink {
    fn new(file: AtomicFile, compress: bool, level: u32) -> Result<Sink> {
        let buf = BufWriter::with_capacity(1 << 20, file);
        let tail = Tail::new(buf, crypt::encryption()?)
            .map_err(|e| Error::io("cannot start the age stream", e))?;
        let w = HashingWriter::new(tail);
        Ok(if compress {
            Sink::Gzip(GzWriter::new(w, level))
        } else {
            Sink::Plain(w)
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Gzip(g) => g,
            Sink::Plain(p) => p,
        }
    }

    /// Finishes the stream.
    fn finish(self, path: &Path) -> Result<Finished> {
        let hashed = match self {
            Sink::Gzip(g) => g.finish().with_path("write", path)?,
            Sink::Plain(p) => p,
        };
        let (tail, sha, bytes) = hashed.finish();
        let (buf, cipher) = tail.finish().with_path("write", path)?;
        let file = buf
            .into_inner()
            .map_err(|e| Error::io_path("write", path, e.into_error()))?;
        Ok(match cipher {
            None => (file, sha, bytes, None),
            Some((csha, cbytes)) => (file, csha, cbytes, Some((sha, bytes))),
        })
    }
}

/// Runs one dump and returns its record. The artifact exists under its
/// final name only if this returns `Ok`.
pub fn dump(req: &DumpRequest, ui: &Ui) -> Result<Record> {
    dump_any(req, None, ui)
}

/// Dumps a PostgreSQL server's globals (roles without their passwords
/// unless `passwords`, tablespaces) with `pg_dumpall --globals-only` into
/// an artifact of its own: named `{name}-globals_db_{tag}_{time}.sql.gz`,
/// always plain SQL, its record's `source.globals` true. `lfb-restore
/// --globals` restores it.
pub fn dump_globals(req: &DumpRequest, passwords: bool, ui: &Ui) -> Result<Record> {
    if !matches!(req.database, Database::Postgres(_)) {
        return Err(Error::usage("--globals is for PostgreSQL servers"));
    }
    dump_any(req, Some(passwords), ui)
}

/// Suffix of the base name of a globals artifact.
pub const GLOBALS_SUFFIX: &str = "-globals";

fn dump_any(req: &DumpRequest, globals: Option<bool>, ui: &Ui) -> Result<Record> {
    let started = Instant::now();
    let created_at = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or_else(|_| Utc::now());
    let engine = req.database.engine();
    let req_format = if globals.is_some() {
        Format::Sql
    } else {
        req.format
    };
    let (format, ext) = format_and_ext(engine, req_format, req.compress)?;
    let encryption = crypt::encryption()?;
    if encryption.is_some() && format == "pg-custom" {
        return Err(Error::usage(
            "encryption is for --format sql (and SQLite native): pg_restore cannot read a custom-format archive through a pipe it can check; use --format sql",
        ));
    }
    let (format, ext) = match encryption {
        Some(_) => (
            format!("{format}{}", crypt::FORMAT_SUFFIX),
            format!("{ext}.{}", crypt::EXT_SUFFIX),
        ),
        None => (format.to_string(), ext.to_string()),
    };
    let (format, ext) = (format.as_str(), ext.as_str());

    // Where it goes; a store that cannot be written stops us before the
    // database is touched.
    let dir = req
        .store
        .target_dir(req.output.as_deref(), &req.env, &req.tag)?;

    let mut progress = Progress::new("dumping", !ui.quiet());
    let (source, name_default, file, sha, bytes, raw_bytes, plain) = match &req.database {
        Database::Postgres(conn) => {
            let pg = Postgres::connect(conn, req.exec.as_deref())?;
            ui.debug(format!(
                "PostgreSQL {} server, dumping '{}' with {}",
                pg.server.version,
                pg.database(),
                postgres::describe_clients(&pg.clients)
            ));
            let name = match globals {
                Some(_) => format!(
                    "{}{GLOBALS_SUFFIX}",
                    req.name
                        .clone()
                        .unwrap_or_else(|| naming::sanitize_name(pg.database()))
                ),
                None => pg.database().to_string(),
            };
            let path = first_choice(req, &dir, &name, ext, created_at, globals.is_some());
            let file = AtomicFile::create(&path).map_err(Error::at_start)?;
            let gz = req_format == Format::Sql && req.compress == Compress::Gzip;
            let mut sink = Sink::new(file, gz, req.level)?;
            let stats = match req.format {
                _ if globals.is_some() => {
                    pg.dump_globals(sink.writer(), globals == Some(true), &mut progress)?
                }
                Format::Custom => {
                    let level = if req.compress == Compress::Gzip {
                        req.level
                    } else {
                        0
                    };
                    pg.dump_custom(sink.writer(), level, &mut progress)?
                }
                _ => pg.dump_plain(sink.writer(), &mut progress)?,
            };
            let (file, sha, bytes, plain) = sink.finish(&path)?;
            let source = Source {
                engine: "postgres".into(),
                database: pg.database().to_string(),
                host: Some(pg.host()),
                port: pg
                    .conn
                    .port
                    .or_else(|| std::env::var("PGPORT").ok().and_then(|p| p.parse().ok()))
                    .or(Some(5432)),
                user: Some(pg.server.user.clone()),
                server_version: Some(pg.server.version.clone()),
                tool: Some(pg.clients.tool.clone()),
                tables: stats.tables,
            };
            (source, name, file, sha, bytes, stats.raw_bytes, plain)
        }
        Database::Sqlite(db_path) => {
            if !db_path.is_file() {
                return Err(Error::unavailable(format!(
                    "cannot open SQLite database '{}': {}",
                    db_path.display(),
                    if db_path.exists() {
                        "not a regular file"
                    } else {
                        "no such file"
                    }
                )));
            }
            let name = req.database.name().unwrap_or_else(|| "db".into());
            let path = first_choice(req, &dir, &name, ext, created_at, false);
            let file = AtomicFile::create(&path).map_err(Error::at_start)?;
            let gz = req.compress == Compress::Gzip;
            let mut sink = Sink::new(file, gz, req.level)?;
            let (tables, raw) = match req.format {
                Format::Native => {
                    let copy = fsutil::partial_path(&path.with_extension("native"));
                    let _ = fs::remove_file(&copy);
                    let c2 = copy.clone();
                    let guard = cleanup::on_interrupt(move || {
                        let _ = fs::remove_file(&c2);
                    });
                    let res = (|| {
                        let tables = sqlite::backup_native(db_path, &copy)?;
                        let mut f = fs::File::open(&copy).with_path("read", &copy)?;
                        let raw = copy_with_progress(&mut f, sink.writer(), &mut progress)
                            .with_path("write", &path)?;
                        Ok::<_, Error>((tables, raw))
                    })();
                    guard.run_now();
                    res?
                }
                _ => {
                    let mut counting = Counting {
                        inner: ProgressWriter {
                            inner: sink.writer(),
                            progress: &mut progress,
                        },
                        bytes: 0,
                    };
                    let tables = sqlite::dump_sql(db_path, &mut counting)?;
                    (tables, counting.bytes)
                }
            };
            let (file, sha, bytes, plain) = sink.finish(&path)?;
            let abs = std::path::absolute(db_path).unwrap_or_else(|_| db_path.clone());
            let source = Source {
                engine: "sqlite".into(),
                database: abs.to_string_lossy().into_owned(),
                host: Some(crate::sys::hostname()),
                tool: Some(format!(
                    "lfb {} ({})",
                    env!("CARGO_PKG_VERSION"),
                    sqlite::library_version()
                )),
                tables,
                ..Default::default()
            };
            (source, name, file, sha, bytes, raw, plain)
        }
        Database::Mysql(conn) => {
            let my = Mysql::connect(conn, req.exec.as_deref())?;
            ui.debug(format!(
                "{} server, dumping '{}' with {}",
                my.server.version,
                my.database(),
                my.tool()
            ));
            let name = my.database().to_string();
            let path = first_choice(req, &dir, &name, ext, created_at, false);
            let file = AtomicFile::create(&path).map_err(Error::at_start)?;
            let mut sink = Sink::new(file, req.compress == Compress::Gzip, req.level)?;
            let stats = my.dump(sink.writer(), &mut progress)?;
            for (t, engine) in &stats.non_transactional {
                ui.warn(format!(
                    "table '{t}' uses {engine}, which is not transactional: it is not part of the consistent snapshot, so writes during the dump may leave it inconsistent with the other tables"
                ));
            }
            let (file, sha, bytes, plain) = sink.finish(&path)?;
            let source = Source {
                engine: mysql::ENGINE.into(),
                database: name.clone(),
                host: Some(my.host()),
                port: my.conn.port.or(if my.host().starts_with('/') {
                    None
                } else {
                    Some(3306)
                }),
                user: Some(my.user()),
                server_version: Some(my.server.version.clone()),
                tool: Some(my.tool().to_string()),
                tables: stats.tables,
            };
            (source, name, file, sha, bytes, stats.raw_bytes, plain)
        }
    };
    progress.finish();
    if plain.as_ref().map_or(bytes, |p| p.1) == 0 {
        return Err(Error::failed("the dump is empty"));
    }

    // Publish: pick a free name under the lock, rename, write the sidecar.
    let name = match (&req.name, globals) {
        (_, Some(_)) => name_default.clone(),
        (Some(n), None) => n.clone(),
        (None, None) => naming::sanitize_name(&name_default),
    };
    // The sidecar is written before the artifact appears, both under the
    // lock: no other run ever sees the artifact without its record.
    let build_record = |final_path: &Path| {
        let id = naming::artifact_id(final_path, ext);
        let mut record = Record::new(
            &id,
            Kind::Db,
            &req.env,
            &req.tag,
            final_path,
            created_at,
            bytes,
            &sha,
            format,
        );
        let mut source = source.to_value();
        // A SQLite database is identified by its file's real path (symlinks
        // resolved): `lfb-restore --latest` matches targets by it.
        if let (Database::Sqlite(p), Some(m)) = (&req.database, source.as_object_mut()) {
            let real = fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            m.insert("path".into(), json!(real.to_string_lossy()));
        }
        if globals.is_some() {
            source["globals"] = json!(true);
        }
        record.set("source", source);
        // The prefix travels down the pipeline (lfb-verify --restore-test
        // and lfb-restore use it), unless it holds an assignment such as
        // `-e PGPASSWORD=…`, which must never reach a record.
        if let Some(e) = &req.exec
            && !e.split_whitespace().any(|w| w.contains('='))
        {
            record.set_exec(Some(e));
        }
        if let (Some(enc), Some((psha, pbytes))) = (encryption, &plain) {
            let mut sec = enc.section();
            sec["plaintext_sha256"] = json!(psha);
            sec["plaintext_bytes"] = json!(pbytes);
            record.set("encryption", sec);
        }
        record.set(
            "stats",
            json!({
                "duration_ms": started.elapsed().as_millis() as u64,
                "raw_bytes": raw_bytes,
            }),
        );
        record
    };
    let publish = |file: AtomicFile, final_path: &Path| -> Result<Record> {
        let record = build_record(final_path);
        let mut sidecar = record.to_line();
        sidecar.push('\n');
        let side = store::sidecar_path(final_path);
        fsutil::write_atomic(&side, sidecar.as_bytes())?;
        if let Err(e) = file.commit(final_path) {
            let _ = fs::remove_file(&side);
            return Err(e);
        }
        Ok(record)
    };
    let record = match &req.output {
        Some(o) => publish(file, &std::path::absolute(o).unwrap_or_else(|_| o.clone()))?,
        None => {
            let _lock = StoreLock::acquire(&req.store, LOCK_WAIT)?;
            let p = store::free_path(&dir, artifact_name(&name, &req.tag, created_at, ext));
            publish(file, &p)?
        }
    };
    let id = record.id().unwrap_or_default().to_string();
    if req.output.is_none() {
        let ev = Event::new(
            ui.tool(),
            "dump",
            true,
            format!("dumped {} database", engine),
        )
        .id(Some(&id))
        .bytes(Some(bytes))
        .duration(started.elapsed())
        .group(&req.env, Some(&name), &req.tag);
        if let Err(e) = journal::append(&req.store, &ev) {
            ui.warn(e.line());
        }
    }
    Ok(record)
}

fn artifact_name(name: &str, tag: &str, t: chrono::DateTime<Utc>, ext: &str) -> ArtifactName {
    ArtifactName {
        name: name.to_string(),
        kind: Kind::Db,
        tag: tag.to_string(),
        time: t,
        ext: ext.to_string(),
        legacy: false,
    }
}

/// The path the partial file is written beside (the final name is settled
/// under the lock at the end).
fn first_choice(
    req: &DumpRequest,
    dir: &Path,
    default_name: &str,
    ext: &str,
    t: chrono::DateTime<Utc>,
    globals: bool,
) -> PathBuf {
    if let Some(o) = &req.output {
        return o.clone();
    }
    let name = match &req.name {
        Some(n) if !globals => n.clone(),
        _ => naming::sanitize_name(default_name),
    };
    // The process id keeps two concurrent runs from sharing a partial file
    // (`NAME.<pid>.partial`, which guard and prune's housekeeping parse
    // back); checking for a free name first would race with the other run.
    dir.join(format!(
        "{}.{}",
        artifact_name(&name, &req.tag, t, ext).file_name(),
        std::process::id()
    ))
}

/// Reports bytes written to a progress bar.
struct ProgressWriter<'a, W: ?Sized> {
    inner: &'a mut W,
    progress: &'a mut Progress,
}

impl<W: Write + ?Sized> Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn copy_with_progress(r: &mut dyn Read, w: &mut dyn Write, p: &mut Progress) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
        p.add(n as u64);
    }
}
