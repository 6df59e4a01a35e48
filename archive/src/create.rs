//! Making one archive: plan, write, (verify), publish, (consume).
//!
//! The archive streams into `ARTIFACT.<pid>.partial` in its final folder and
//! is published by the [`Publisher`] as every artifact is: under the store
//! lock, a free name, the sidecar, then the rename. With `--consume` the
//! partial file is first read back and verified (every member against the
//! manifest, embedded dumps complete), and only then, after the rename and
//! under the same lock, are the included dumps removed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use lfb_core::archive::{self, Count, EntryKind, Manifest, Role};
use lfb_core::cli::Ui;
use lfb_core::error::{Error, Result};
use lfb_core::format::Format;
use lfb_core::fsutil;
use lfb_core::journal::{self, Event};
use lfb_core::naming::{self, ArtifactName};
use lfb_core::publish::{Claim, Publisher};
use lfb_core::record::format_time;
use lfb_core::store::{self, OwnedArtifact, Store};
use lfb_core::verify;
use lfb_core::{Kind, Record};
use serde_json::{Value, json};

use crate::plan::{self, Plan, Sources};
use crate::stream;

/// Everything one archive run needs to know.
#[derive(Debug, Clone)]
pub struct Request {
    pub store: Store,
    pub env: String,
    pub tag: String,
    pub name: Option<String>,
    pub sources: Sources,
    pub meta: BTreeMap<String, String>,
    /// The project folder asked about git, and whether the user named it.
    pub git: (PathBuf, bool),
    pub consume: bool,
    pub output: Option<PathBuf>,
    pub level: u32,
}

/// A finished run: the record, and how many non-fatal problems it met
/// (a dump that could not be removed after --consume).
#[derive(Debug)]
pub struct Outcome {
    pub record: Record,
    pub problems: usize,
}

/// Makes the archive of `dumps` and the request's files. The artifact
/// exists under its final name only if this returns `Ok`.
pub fn create(req: &Request, dumps: &[Record], ui: &Ui) -> Result<Outcome> {
    let started = Instant::now();
    let plan = plan::build(dumps, &req.sources, ui)?;
    // --consume deletes only artifacts of the store (never a file a record
    // merely names): all are checked before anything is written.
    let owned = if req.consume {
        confine_consumed(&req.store, &plan.dump_records)?
    } else {
        Vec::new()
    };
    let publisher = Publisher::new(
        &req.store,
        Kind::Full,
        &req.env,
        &req.tag,
        format(),
        req.output.as_deref(),
    )?;
    let created_at = publisher.created_at();
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| default_name(&plan.dump_records));
    let git = crate::git::state(&req.git.0, req.git.1, ui);
    let manifest = manifest(req, &plan, &name, created_at, git);

    let file = publisher.start(&name)?;
    let partial = file.partial_path().to_path_buf();
    let owner = stream::owner_of(&partial, created_at.timestamp().max(0) as u64);
    let (file, written) = stream::write(file, &partial, &manifest, &plan, req.level, owner, ui)?;
    if req.consume {
        verify_before_consuming(req, &publisher, &partial, &written, ui)?;
    }

    // Publish under the lock (also for --output when dumps are consumed
    // from the store): the sidecar, the rename, then --consume. The
    // sidecar says the dumps were consumed before they go: a crash in
    // between leaves a dump that is also in the archive, never one lost.
    let archived = Archived {
        manifest: &manifest,
        plan: &plan,
        written: &written,
        started,
    };
    let mut claim = publisher.claim(file, &name, req.consume && req.store.root().is_dir())?;
    // Under the lock: another --consume of the same dumps may have
    // published and removed them while this archive was written. Then this
    // one is not kept (the partial goes with the claim) and nothing is
    // removed: the dumps are in the other run's archive.
    if req.consume {
        still_there(&owned)?;
    }
    let mut consumed = vec![req.consume; plan.dump_records.len()];
    let mut record = archived.record(&publisher, &claim, &consumed);
    claim.commit(&record)?;
    let mut problems = 0;
    for (i, r) in owned.iter().enumerate() {
        if let Err(e) = consume(&req.store, r) {
            consumed[i] = false;
            problems += 1;
            ui.error(format!("--consume: {}", e.line()));
        }
    }
    if problems > 0 {
        record = archived.record(&publisher, &claim, &consumed);
        claim.rewrite(&record)?;
    }
    drop(claim);

    journal_events(req, &publisher, &archived, &record, &consumed, ui);
    Ok(Outcome { record, problems })
}

/// With --consume, the partial file is read back and verified before any
/// dump goes.
fn verify_before_consuming(
    req: &Request,
    publisher: &Publisher,
    partial: &Path,
    written: &stream::Written,
    ui: &Ui,
) -> Result<()> {
    let mut probe = Record::new(
        "new-archive",
        Kind::Full,
        &req.env,
        &req.tag,
        partial,
        publisher.created_at(),
        written.bytes,
        &written.sha256,
        publisher.format().as_str(),
    );
    encryption_section(&mut probe, written);
    let opts = verify::Options {
        checks: [
            verify::CheckName::Checksum,
            verify::CheckName::Decode,
            verify::CheckName::Complete,
        ]
        .into_iter()
        .collect(),
        min_size: 0,
        scratch: None,
    };
    let outcome = verify::verify(&probe, &opts);
    if !outcome.ok() {
        return Err(Error::failed(format!(
            "the new archive failed verification, so it was not kept and no dump was removed: {}",
            outcome.summary()
        )));
    }
    ui.debug(format!("verified before consuming: {}", outcome.summary()));
    Ok(())
}

/// What one run wrote, for its record and journal.
struct Archived<'a> {
    manifest: &'a Manifest,
    plan: &'a Plan,
    written: &'a stream::Written,
    started: Instant,
}

impl Archived<'_> {
    /// The archive's record, with `consumed[i]` for each included dump.
    fn record(&self, publisher: &Publisher, claim: &Claim, consumed: &[bool]) -> Record {
        let mut record = publisher.record(claim, self.written.bytes, &self.written.sha256);
        encryption_section(&mut record, self.written);
        record.set(
            "members",
            members_summary(self.manifest, self.plan, self.written, consumed),
        );
        if let Some(g) = &self.manifest.git {
            record.set("git", serde_json::to_value(g).unwrap_or(Value::Null));
        }
        if !self.manifest.meta.is_empty() {
            record.set("meta", json!(self.manifest.meta));
        }
        record.set(
            "stats",
            json!({
                "duration_ms": self.started.elapsed().as_millis() as u64,
                "raw_bytes": self.written.raw_bytes,
                "entries": self.plan.entries.len() as u64 + 2,
            }),
        );
        record
    }
}

/// Into the store's journal: the archive when it is in the store, and the
/// dumps it consumed (also for one written elsewhere with --output).
fn journal_events(
    req: &Request,
    publisher: &Publisher,
    archived: &Archived<'_>,
    record: &Record,
    consumed: &[bool],
    ui: &Ui,
) {
    if !publisher.in_store() && !consumed.contains(&true) {
        return;
    }
    let counts = &archived.manifest.counts;
    let n = |r: Role| counts.get(&r).map_or(0, |c| c.count);
    let id = record.id().unwrap_or_default();
    let ev = Event::new(
        ui.tool(),
        "archive",
        true,
        format!(
            "archived {} dumps, {} media files, {} config files",
            n(Role::Db),
            n(Role::Media),
            n(Role::Config)
        ),
    )
    .id(Some(id))
    .bytes(Some(archived.written.bytes))
    .duration(archived.started.elapsed());
    journal::note(&req.store, &ev, ui);
    for (r, done) in archived.plan.dump_records.iter().zip(consumed) {
        if *done {
            let ev = Event::new(ui.tool(), "consume", true, format!("included in {id}"))
                .id(r.id())
                .bytes(r.bytes());
            journal::note(&req.store, &ev, ui);
        }
    }
}

/// The record format: `tar+gzip`, or `tar+gzip+age` when encrypted (the
/// whole archive is one age stream; its members inside are plain).
fn format() -> Format {
    match lfb_core::crypt::encryption() {
        Ok(Some(_)) => Format::TAR_GZIP.age(),
        _ => Format::TAR_GZIP,
    }
}

fn encryption_section(record: &mut Record, written: &stream::Written) {
    if let (Ok(Some(enc)), Some((sha, bytes))) = (lfb_core::crypt::encryption(), &written.plain) {
        let mut sec = enc.section();
        sec["plaintext_sha256"] = json!(sha);
        sec["plaintext_bytes"] = json!(bytes);
        record.set("encryption", sec);
    }
}

/// The name of the first included dump, else "app".
fn default_name(dumps: &[Record]) -> String {
    let Some(path) = dumps.first().and_then(Record::path) else {
        return "app".to_string();
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ArtifactName::parse(&file) {
        Some(n) => n.name,
        None => naming::sanitize_name(file.split('.').next().unwrap_or("app")),
    }
}

fn manifest(
    req: &Request,
    plan: &Plan,
    name: &str,
    created_at: DateTime<Utc>,
    git: Option<archive::Git>,
) -> Manifest {
    let mut counts: BTreeMap<Role, Count> = BTreeMap::new();
    for e in &plan.entries {
        if e.member.kind == EntryKind::File {
            let c = counts.entry(e.member.role).or_default();
            c.count += 1;
            c.bytes += e.member.size.unwrap_or(0);
        }
    }
    Manifest {
        schema: archive::MANIFEST_SCHEMA.to_string(),
        created_at: format_time(created_at),
        name: name.to_string(),
        env: req.env.clone(),
        tag: req.tag.clone(),
        host: lfb_core::sys::hostname(),
        tool: format!("lfb-archive {}", env!("CARGO_PKG_VERSION")),
        git,
        meta: req.meta.clone(),
        hashes: archive::HASHES.to_string(),
        counts,
        sources: plan.sources.clone(),
        dumps: plan.dumps.clone(),
        members: plan.entries.iter().map(|e| e.member.clone()).collect(),
        skipped: plan.skipped.clone(),
    }
}

/// The record's `members` section: files and bytes per role, the included
/// dumps, and the files that changed while they were read.
fn members_summary(
    manifest: &Manifest,
    plan: &Plan,
    written: &stream::Written,
    consumed: &[bool],
) -> Value {
    let mut m = serde_json::Map::new();
    for role in [Role::Db, Role::Media, Role::Config] {
        let c = manifest.counts.get(&role).copied().unwrap_or_default();
        m.insert(
            role.as_str().into(),
            json!({"count": c.count, "bytes": c.bytes}),
        );
    }
    m.insert(
        Role::Meta.as_str().into(),
        json!({"count": 2, "bytes": written.manifest_bytes + written.hashes_bytes}),
    );
    let sha_of = |path: &str| {
        written
            .hashes
            .members
            .iter()
            .find(|h| h.path == path)
            .map(|h| h.sha256.clone())
    };
    let dumps: Vec<Value> = plan
        .dump_records
        .iter()
        .zip(consumed)
        .map(|(r, consumed)| {
            let member = plan
                .dumps
                .iter()
                .find(|d| d.record.get("path") == r.get("path"))
                .map(|d| d.member.clone())
                .unwrap_or_default();
            let mut d = serde_json::Map::new();
            d.insert("role".into(), json!("db"));
            d.insert("path".into(), json!(member));
            d.insert("bytes".into(), json!(r.bytes()));
            d.insert("sha256".into(), json!(sha_of(&member)));
            d.insert("id".into(), json!(r.id()));
            d.insert("from".into(), json!(r.get("path")));
            // What the dump is a backup of: lfb-restore --latest matches
            // archives to their target by it.
            if let Some(src) = r.get("source") {
                d.insert("engine".into(), json!(src.get("engine")));
                d.insert("database".into(), json!(src.get("database")));
            }
            if *consumed {
                d.insert("consumed".into(), json!(true));
            }
            Value::Object(d)
        })
        .collect();
    m.insert("dumps".into(), Value::Array(dumps));
    let changed: Vec<&str> = written
        .hashes
        .members
        .iter()
        .filter(|h| h.changed_while_read)
        .map(|h| h.path.as_str())
        .collect();
    if !changed.is_empty() {
        m.insert("changed_while_read".into(), json!(changed));
    }
    if !manifest.skipped.is_empty() {
        m.insert("skipped".into(), json!(manifest.skipped.len()));
    }
    Value::Object(m)
}

/// The store artifacts behind the dumps `--consume` is to remove; any
/// dump that is not one is refused, naming it, before anything is written.
fn confine_consumed(store: &Store, dumps: &[Record]) -> Result<Vec<OwnedArtifact>> {
    let mut owned = Vec::new();
    let mut refused = Vec::new();
    for r in dumps {
        let Some(path) = r.path() else {
            refused.push(format!("{}: the record names no path", r.label()));
            continue;
        };
        match store.confine(&path) {
            Ok(o) => owned.push(o),
            Err(e) => refused.push(e.to_string()),
        }
    }
    if refused.is_empty() {
        return Ok(owned);
    }
    Err(Error::input(format!(
        "--consume removes only artifacts of the store '{}' (--store, LFB_STORE): {}; nothing was archived or removed",
        store.root().display(),
        refused.join("; ")
    )))
}

/// Fails when a dump to consume is gone (another run consumed it). Called
/// under the store lock, before anything is published.
fn still_there(owned: &[OwnedArtifact]) -> Result<()> {
    let gone: Vec<String> = owned
        .iter()
        .filter(|o| !o.path.is_file())
        .map(|o| format!("'{}'", o.path.display()))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "--consume: {} no longer there (another run archived and removed it while this \
         archive was written): this archive was not kept and nothing was removed",
        gone.join(", ")
    )))
}

/// Removes an included dump and its sidecar (durably), checking again
/// that it is still the store's artifact.
fn consume(store: &Store, o: &OwnedArtifact) -> Result<()> {
    let o = store.confine(&o.path)?;
    let path = o.path;
    fs::remove_file(&path).map_err(|e| Error::io_path("remove", &path, e))?;
    let side = store::sidecar_path(&path);
    match fs::remove_file(&side) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io_path("remove", &side, e)),
    }
    if let Some(dir) = path.parent() {
        fsutil::sync_dir(dir)?;
    }
    Ok(())
}
