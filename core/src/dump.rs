//! Dumping one database into the store: the work of `lfb-dump`, also used by
//! `lfb-restore` for its safety backup.
//!
//! The dump streams from the database (through its [`Engine`]) through
//! compression, hashing and encryption straight into the partial file in its
//! final folder; only a complete, checked dump is published, by the
//! [`Publisher`]: under the store lock, its sidecar first, then the rename,
//! then the journal event.
//!
//! The steps, each a function below: [`artifact_format`] (settled before
//! anything is touched), [`base_name`], [`write`] (the dump into the partial
//! file), [`build_record`] and the publication.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::cli::Ui;
use crate::crypt::{self, Tail};
use crate::digest::HashingWriter;
use crate::engine::url::Database;
use crate::engine::{self, DumpJob, Dumped, Dumper, Engine};
use crate::error::{Error, IoContext, Result};
use crate::format::Format;
use crate::fsutil::AtomicFile;
use crate::gzip::GzWriter;
use crate::journal::Event;
use crate::naming;
use crate::progress::Progress;
use crate::publish::{Claim, Publisher};
use crate::record::{Kind, Record};
use crate::store::Store;

pub use crate::engine::{Compress, DumpFormat};

/// Everything a dump needs to know.
#[derive(Debug, Clone)]
pub struct DumpRequest {
    pub database: Database,
    pub store: Store,
    pub env: String,
    pub tag: String,
    pub name: Option<String>,
    pub format: DumpFormat,
    pub compress: Compress,
    pub level: u32,
    /// Write here instead of into the store.
    pub output: Option<PathBuf>,
    pub exec: Option<String>,
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
    let engine = engine::for_database(&req.database);
    let format = artifact_format(req, engine.as_ref(), globals)?;
    // Where it goes; a store that cannot be written stops us before the
    // database is touched.
    let publisher = Publisher::new(
        &req.store,
        Kind::Db,
        &req.env,
        &req.tag,
        format,
        req.output.as_deref(),
    )?;
    let mut dumper = engine.connect(req.exec.as_deref(), ui)?;
    if let Some(line) = dumper.describe() {
        ui.debug(line);
    }
    let name = base_name(req, dumper.as_ref(), globals);
    let written = write(req, &publisher, dumper.as_mut(), &name, globals, ui)?;

    let mut claim = publisher.claim(written.file, &name, false)?;
    let record = build_record(
        req,
        &publisher,
        &claim,
        &written.out,
        dumper.as_ref(),
        globals,
        started,
    );
    claim.commit(&record)?;
    drop(claim);

    let ev = Event::new(
        ui.tool(),
        "dump",
        true,
        format!("dumped {} database", engine.name()),
    )
    .id(record.id())
    .bytes(Some(written.out.bytes))
    .duration(started.elapsed())
    .group(&req.env, Some(&name), &req.tag);
    publisher.journal(&ev, ui);
    Ok(record)
}

/// The artifact's format: the engine's for the request (plain SQL for
/// globals), inside age when encryption is on.
fn artifact_format(
    req: &DumpRequest,
    engine: &dyn Engine,
    globals: Option<bool>,
) -> Result<Format> {
    let choice = if globals.is_some() {
        DumpFormat::Sql
    } else {
        req.format
    };
    let format = engine.dump_format(choice, req.compress)?;
    match crypt::encryption()? {
        None => Ok(format),
        Some(_) if format == Format::PG_CUSTOM => Err(Error::usage(
            "encryption is for --format sql (and SQLite native): pg_restore cannot read a custom-format archive through a pipe it can check; use --format sql",
        )),
        Some(_) => Ok(format.age()),
    }
}

/// The artifact's base name: `--name`, else the database's name made safe;
/// a globals artifact's gets [`GLOBALS_SUFFIX`].
fn base_name(req: &DumpRequest, dumper: &dyn Dumper, globals: Option<bool>) -> String {
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| naming::sanitize_name(&dumper.default_name()));
    match globals {
        Some(_) => format!("{name}{GLOBALS_SUFFIX}"),
        None => name,
    }
}

/// What the dump wrote, as stored.
struct Output {
    sha256: String,
    bytes: u64,
    /// SHA-256 and size of the plaintext, for an encrypted artifact.
    plain: Option<(String, u64)>,
    dumped: Dumped,
}

/// A finished partial file and what it holds.
struct Written {
    file: AtomicFile,
    out: Output,
}

/// Dumps into the partial file; an empty dump is an error.
fn write(
    req: &DumpRequest,
    publisher: &Publisher,
    dumper: &mut dyn Dumper,
    name: &str,
    globals: Option<bool>,
    ui: &Ui,
) -> Result<Written> {
    let beside = publisher.first_choice(name);
    let file = publisher.start(name)?;
    let gzip = publisher.format().inner().is_gzip();
    let mut sink = Sink::new(file, gzip, req.level)?;
    let mut progress = Progress::new("dumping", !ui.quiet());
    let dumped = dumper.dump(DumpJob {
        out: sink.writer(),
        choice: req.format,
        compress: req.compress,
        level: req.level,
        globals,
        beside: &beside,
        progress: &mut progress,
        ui,
    })?;
    let (file, sha256, bytes, plain) = sink.finish(&beside)?;
    progress.finish();
    if plain.as_ref().map_or(bytes, |p| p.1) == 0 {
        return Err(Error::failed("the dump is empty"));
    }
    Ok(Written {
        file,
        out: Output {
            sha256,
            bytes,
            plain,
            dumped,
        },
    })
}

/// The dump's record, for the path the claim settled.
fn build_record(
    req: &DumpRequest,
    publisher: &Publisher,
    claim: &Claim,
    out: &Output,
    dumper: &dyn Dumper,
    globals: Option<bool>,
    started: Instant,
) -> Record {
    let mut record = publisher.record(claim, out.bytes, &out.sha256);
    let mut source = dumper.source(&out.dumped);
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
    if let (Ok(Some(enc)), Some((psha, pbytes))) = (crypt::encryption(), &out.plain) {
        let mut sec = enc.section();
        sec["plaintext_sha256"] = json!(psha);
        sec["plaintext_bytes"] = json!(pbytes);
        record.set("encryption", sec);
    }
    record.set(
        "stats",
        json!({
            "duration_ms": started.elapsed().as_millis() as u64,
            "raw_bytes": out.dumped.raw_bytes,
        }),
    );
    record
}
