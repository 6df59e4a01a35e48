//! Making one archive: plan, write, (verify), publish, (consume).
//!
//! The archive streams into `ARTIFACT.partial` in its final folder and is
//! renamed to its final name only when complete and synced, under the store
//! lock, with a free name (as `lfb-dump` does). With `--consume` the partial
//! file is first read back and verified (every member against the manifest,
//! embedded dumps complete), and only then are the included dumps removed,
//! under the same lock as the rename.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, DurationRound, Utc};
use lfb_core::archive::{self, Count, EntryKind, Manifest, Role};
use lfb_core::cli::Ui;
use lfb_core::dump::LOCK_WAIT;
use lfb_core::error::{Error, Result};
use lfb_core::fsutil::{self, AtomicFile};
use lfb_core::journal::{self, Event};
use lfb_core::lock::StoreLock;
use lfb_core::naming::{self, ArtifactName};
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
    let created_at = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or_else(|_| Utc::now());

    let plan = plan::build(dumps, &req.sources, ui)?;
    // --consume deletes only artifacts of the store (never a file a record
    // merely names): all are checked before anything is written.
    let owned = if req.consume {
        confine_consumed(&req.store, &plan.dump_records)?
    } else {
        Vec::new()
    };
    let dir = target_dir(req)?;
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| default_name(&plan.dump_records));
    let git = crate::git::state(&req.git.0, req.git.1, ui);
    let manifest = manifest(req, &plan, &name, created_at, git);

    let first = first_choice(req, &dir, &name, created_at);
    let file = AtomicFile::create(&first).map_err(Error::at_start)?;
    let partial = file.partial_path().to_path_buf();
    let owner = stream::owner_of(&partial, created_at.timestamp().max(0) as u64);
    let (file, written) = stream::write(file, &partial, &manifest, &plan, req.level, owner, ui)?;

    if req.consume {
        // The dumps are about to go: prove what is on disk first.
        let mut probe = Record::new(
            "new-archive",
            Kind::Full,
            &req.env,
            &req.tag,
            &partial,
            created_at,
            written.bytes,
            &written.sha256,
            &format(),
        );
        encryption_section(&mut probe, &written);
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
    }

    // Publish under the lock: a free name, the rename, then --consume.
    let mut problems = 0;
    let mut consumed = vec![false; plan.dump_records.len()];
    // The lock is held until the sidecar is written: no other run sees the
    // archive without its record.
    let (final_path, lock) = {
        let lock = if req.output.is_none() || (req.consume && req.store.root().is_dir()) {
            Some(StoreLock::acquire(&req.store, LOCK_WAIT)?)
        } else {
            None
        };
        let p = match &req.output {
            Some(o) => {
                file.commit(o)?;
                std::path::absolute(o).unwrap_or_else(|_| o.clone())
            }
            None => {
                let p = store::free_path(&dir, artifact_name(&name, &req.tag, created_at));
                file.commit(&p)?;
                p
            }
        };
        if req.consume {
            for (i, r) in owned.iter().enumerate() {
                match consume(&req.store, r) {
                    Ok(()) => consumed[i] = true,
                    Err(e) => {
                        problems += 1;
                        ui.error(format!("--consume: {}", e.line()));
                    }
                }
            }
        }
        (p, lock)
    };

    let id = naming::artifact_id(&final_path, &ext());
    let mut record = Record::new(
        &id,
        Kind::Full,
        &req.env,
        &req.tag,
        &final_path,
        created_at,
        written.bytes,
        &written.sha256,
        &format(),
    );
    encryption_section(&mut record, &written);
    record.set(
        "members",
        members_summary(&manifest, &plan, &written, &consumed),
    );
    if let Some(g) = &manifest.git {
        record.set("git", serde_json::to_value(g).unwrap_or(Value::Null));
    }
    if !manifest.meta.is_empty() {
        record.set("meta", json!(manifest.meta));
    }
    record.set(
        "stats",
        json!({
            "duration_ms": started.elapsed().as_millis() as u64,
            "raw_bytes": written.raw_bytes,
            "entries": plan.entries.len() as u64 + 2,
        }),
    );
    let mut sidecar = record.to_line();
    sidecar.push('\n');
    fsutil::write_atomic(&store::sidecar_path(&final_path), sidecar.as_bytes())?;
    drop(lock);

    // Into the store's journal: always for an archive in the store; for one
    // written elsewhere (--output), only to record dumps it consumed from a
    // store that keeps a journal.
    let journal_it = req.output.is_none()
        || (consumed.contains(&true) && req.store.root().join(store::LOGS).is_dir());
    if journal_it {
        let counts = &manifest.counts;
        let n = |r: Role| counts.get(&r).map_or(0, |c| c.count);
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
        .id(Some(&id))
        .bytes(Some(written.bytes))
        .duration(started.elapsed());
        let mut events = vec![ev];
        for (r, done) in plan.dump_records.iter().zip(&consumed) {
            if *done {
                events.push(
                    Event::new(ui.tool(), "consume", true, format!("included in {id}"))
                        .id(r.id())
                        .bytes(r.bytes()),
                );
            }
        }
        for ev in events {
            if let Err(e) = journal::append(&req.store, &ev) {
                ui.warn(e.line());
            }
        }
    }
    Ok(Outcome { record, problems })
}

/// The record format: `tar+gzip`, or `tar+gzip+age` when encrypted (the
/// whole archive is one age stream; its members inside are plain).
fn format() -> String {
    match lfb_core::crypt::encryption() {
        Ok(Some(_)) => format!("{}{}", archive::FORMAT, lfb_core::crypt::FORMAT_SUFFIX),
        _ => archive::FORMAT.to_string(),
    }
}

fn ext() -> String {
    match lfb_core::crypt::encryption() {
        Ok(Some(_)) => format!("tar.gz.{}", lfb_core::crypt::EXT_SUFFIX),
        _ => "tar.gz".to_string(),
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

/// The folder the archive goes to (created 0700); an existing `--output`
/// is refused.
fn target_dir(req: &Request) -> Result<PathBuf> {
    req.store
        .target_dir(req.output.as_deref(), &req.env, &req.tag)
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

fn artifact_name(name: &str, tag: &str, t: DateTime<Utc>) -> ArtifactName {
    ArtifactName {
        name: name.to_string(),
        kind: Kind::Full,
        tag: tag.to_string(),
        time: t,
        ext: ext(),
        legacy: false,
    }
}

/// The path the partial file is written beside (the final name is settled
/// under the lock at the end).
fn first_choice(req: &Request, dir: &Path, name: &str, t: DateTime<Utc>) -> PathBuf {
    if let Some(o) = &req.output {
        return o.clone();
    }
    let file = artifact_name(name, &req.tag, t).file_name();
    let mut p = dir.join(&file);
    // A unique suffix keeps two concurrent runs from sharing a partial file.
    if fsutil::partial_path(&p).exists() {
        p = dir.join(format!("{file}.{}", std::process::id()));
    }
    p
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
