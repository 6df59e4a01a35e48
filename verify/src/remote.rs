//! `lfb-verify --store s3://bucket/prefix`: the checks of artifacts in
//! object storage, by the same code as on disk.
//!
//! Each artifact is spooled into a private scratch folder (one at a time,
//! removed after its checks; see [`lfb_core::remote`] for why spooled) and
//! checked there; the record printed names the object (`"path":
//! "s3://bucket/key"`). The result is remembered by rewriting the sidecar
//! object (conditional on the version read), under the same rule as on
//! disk: a failure, or a pass of the checks that read the whole content.
//! `--quarantine` and `--fix-permissions` concern files and are refused.

use lfb_core::cli::Ui;
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::remote::{self, RemoteArtifact, RemoteStore};
use lfb_core::s3::Location;
use lfb_core::{Error, Record, Result, verify};
use serde_json::json;

use crate::Cli;
use lfb_core::verify::CheckName;

/// What one input names: an artifact of the bucket, or a record to pass through.
enum Item {
    Object(Box<RemoteArtifact>),
    Passed(Record),
}

/// Runs lfb-verify against a bucket.
pub fn run(cli: Cli, location: Location, ui: &Ui) -> Result<u8> {
    if cli.quarantine || cli.fix_permissions {
        return Err(Error::usage(
            "--quarantine and --fix-permissions move and change files: not for a store in object storage",
        ));
    }
    let mut opts = crate::cli::options(&cli);
    // The spooled copy's permissions are the spool's, not the object's.
    opts.checks.remove(&CheckName::Permissions);
    lfb_core::crypt::load_keys(&cli.identity)?;
    let from_stdin = cli.paths.is_empty() && !cli.all;
    let stdin = match from_stdin {
        true => match ndjson::stdin_records()? {
            Some(r) if !r.is_empty() => r,
            _ => {
                return Err(Error::usage(
                    "nothing to verify: give objects (ENV/NAME or s3://...), --all, or records on stdin",
                ));
            }
        },
        false => Vec::new(),
    };
    let store = RemoteStore::open(location)?;
    let inv = store.inventory()?;
    let items = items(&cli, &store, inv, stdin)?;
    let mut out = RecordWriter::new();
    let mut failures = 0usize;
    let mut could_not_run = 0usize;
    for item in items {
        let a = match item {
            Item::Passed(rec) => {
                ui.warn(format!(
                    "{}: failed upstream or not in {}, not verified",
                    rec.label(),
                    store.describe()
                ));
                failures += 1;
                out.write(&rec)?;
                continue;
            }
            Item::Object(a) => a,
        };
        let (record, verdict) = verify_one(&cli, &opts, &store, &a, ui)?;
        failures += usize::from(verdict != Verdict::Passed);
        could_not_run += usize::from(verdict == Verdict::CouldNotRun);
        out.write(&record)?;
    }
    // A restore test that could not start is exit 2, as for a local store.
    Ok(if could_not_run > 0 {
        2
    } else if failures > 0 {
        1
    } else {
        0
    })
}

/// What to verify, in order: every artifact (`--all`, oldest first), the
/// objects named, or the records on stdin.
fn items(
    cli: &Cli,
    store: &RemoteStore,
    inv: Vec<RemoteArtifact>,
    stdin: Vec<Record>,
) -> Result<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    if cli.all {
        let env = match &cli.store.env {
            Some(_) => Some(cli.store.env()?),
            None => None,
        };
        let mut arts: Vec<RemoteArtifact> = inv
            .into_iter()
            .filter(|a| env.as_deref().is_none_or(|e| a.in_env(e)))
            .collect();
        arts.sort_by(|a, b| a.name.time.cmp(&b.name.time).then(a.key.cmp(&b.key)));
        items.extend(arts.into_iter().map(|a| Item::Object(Box::new(a))));
    } else if !cli.paths.is_empty() {
        for p in &cli.paths {
            let p = p.to_string_lossy();
            let found = inv.iter().find(|a| {
                store.url(&a.key) == p || a.rel == p || a.name.file_name() == p || a.key == p
            });
            match found {
                Some(a) => items.push(Item::Object(Box::new(a.clone()))),
                None => {
                    return Err(Error::usage(format!(
                        "no artifact '{p}' in {} (lfb-list --store {} lists them)",
                        store.describe(),
                        store.describe()
                    )));
                }
            }
        }
    } else {
        for rec in stdin {
            let hit = rec
                .get("path")
                .and_then(|p| p.as_str())
                .and_then(|p| remote::find(&inv, p, store));
            match hit {
                Some(a) if rec.get("error").is_none() => {
                    let mut a = a.clone();
                    if let Some(e) = rec.exec() {
                        a.record.set_exec(Some(e));
                    }
                    items.push(Item::Object(Box::new(a)));
                }
                _ => items.push(Item::Passed(rec)),
            }
        }
    }
    Ok(items)
}

/// What one object's verification counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    /// A restore test that could not start: says nothing of the artifact
    /// (exit 2, as for a local store).
    CouldNotRun,
}

/// Spools one object, checks it, remembers the result in its sidecar when
/// the rule allows, and reports it: the record to print, and its verdict.
fn verify_one(
    cli: &Cli,
    opts: &verify::Options,
    store: &RemoteStore,
    a: &RemoteArtifact,
    ui: &Ui,
) -> Result<(Record, Verdict)> {
    let url = store.url(&a.key);
    let mut record = a.record.clone();
    if let Some(e) = &cli.exec {
        record.set_exec(Some(e));
    }
    let spool = remote::spool_dir()?;
    let (section, ok, summary) = match store.spool(a, spool.path()) {
        Ok(local) => {
            let mut local_rec = record.clone();
            local_rec.set("path", json!(local.to_string_lossy()));
            let outcome = verify::verify(&local_rec, opts);
            let ok = outcome.ok();
            let section = outcome.section();
            // Details name the spooled copy: name the object instead.
            let text = section.to_string().replace(&*local.to_string_lossy(), &url);
            let section = serde_json::from_str(&text).unwrap_or(section);
            let summary = outcome.summary().replace(&*local.to_string_lossy(), &url);
            (section, ok, summary)
        }
        Err(e) => {
            let detail = e.line();
            (
                json!({
                    "at": lfb_core::record::format_time(lfb_core::chrono::Utc::now()),
                    "ok": false,
                    "checks": [{"name": "exists", "ok": false, "detail": detail}],
                }),
                false,
                format!("exists failed: {detail}"),
            )
        }
    };
    drop(spool);
    record.set("verify", section.clone());
    if crate::remember::worth_remembering(&record, ok, opts) {
        match store.remember_verify(a, &section) {
            Ok(s) => record.set("verify", s),
            Err(e) => ui.warn(format!(
                "{url}: the result could not be remembered in its sidecar: {}",
                e.line()
            )),
        }
    }
    // A failed restore test carried over by the sidecar stands.
    let verdict = if ok && record.verify_ok() == Some(false) {
        ui.error(format!(
            "{url}: its last restore test failed; run lfb-verify --restore-test to test it again"
        ));
        Verdict::Failed
    } else if ok {
        ui.info(format!("{url}: {summary}"));
        Verdict::Passed
    } else {
        ui.error(format!("{url}: {summary}"));
        if crate::remember::restore_could_not_run(&record) {
            Verdict::CouldNotRun
        } else {
            Verdict::Failed
        }
    };
    Ok((record, verdict))
}
