//! `lfb-restore --store s3://bucket/prefix`: a restore straight from the
//! bucket, on a machine that has nothing local.
//!
//! The backup is chosen from the bucket's inventory by the same rules as
//! `--latest` on disk (the environment and its share of `migrations/`, the
//! target's database or `--from`, `--tag`, no pre-restore safety backups
//! unless asked, nothing dated in the future, newest first, skipping what
//! failed its remembered verification), or named with `-f` (`ENV/NAME`, a
//! file name, or its `s3://` URL). It is spooled with its sidecar into a
//! private scratch folder (0700, removed on exit and on a signal; see
//! [`lfb_core::remote`] for why spooled and not streamed), the quick checks
//! run on the spooled copy (a corrupt newest one is skipped for the one
//! before, as on disk), and the restore proper runs on it unchanged:
//! checked again while loaded, committed only when whole.
//!
//! The safety backup of the target is local: it goes to the local store
//! (`$LFB_LOCAL_STORE`, else `$XDG_DATA_HOME/lfb/backups`, else
//! `~/.local/share/lfb/backups`), never to the bucket.

use std::path::PathBuf;

use lfb_core::cli::Ui;
use lfb_core::remote::{self, RemoteArtifact, RemoteStore};
use lfb_core::s3::Location;
use lfb_core::{Error, Kind, Result, chrono, ndjson, verify};

use crate::Cli;
use crate::select::{self, Identity, Match, PRE_RESTORE};

/// The local store for safety backups when the store is a bucket.
fn local_store() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("LFB_LOCAL_STORE").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(x).join("lfb/backups"));
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/lfb/backups")),
        None => Err(Error::usage(
            "no local store for the safety backup: set LFB_LOCAL_STORE (HOME is not set)",
        )),
    }
}

/// Runs lfb-restore from a bucket.
pub fn run(mut cli: Cli, location: Location, ui: &Ui) -> Result<u8> {
    if cli.globals {
        return Err(Error::usage(
            "--globals from a bucket: fetch it first (lfb-copy --from s3://... --to DIR), then --store DIR",
        ));
    }
    if let Some(t) = &cli.tag {
        lfb_core::cli::check_tag(t)?;
    }
    let env = cli.store.env()?;
    // What to look for, before any request: a bad target is exit 2 at once.
    let identity = match cli.files_only {
        true => None,
        false => Some(Identity::of_target(&crate::target(&cli)?)),
    };
    let store = RemoteStore::open(location)?;
    let inv = store.inventory()?;
    let candidates = candidates(&cli, &env, identity.as_ref(), &inv, &store, ui)?;
    let spool = remote::spool_dir()?;
    let local = fetch_first_good(&cli, candidates, &store, spool.path(), ui)?;
    cli.file = Some(local);
    cli.latest = false;
    cli.store.store = Some(local_store()?);
    let code = crate::run(cli, ui);
    drop(spool);
    code
}

/// The backups to try, in order: the one named by `-f`, the candidates of
/// `--latest`, or the one record on stdin.
fn candidates<'a>(
    cli: &Cli,
    env: &str,
    identity: Option<&Identity>,
    inv: &'a [RemoteArtifact],
    store: &RemoteStore,
    ui: &Ui,
) -> Result<Vec<&'a RemoteArtifact>> {
    if let Some(f) = &cli.file {
        let f = f.to_string_lossy();
        let found: Vec<&RemoteArtifact> = inv
            .iter()
            .filter(|a| {
                store.url(&a.key) == f
                    || a.rel == f
                    || a.key == f
                    || (a.name.file_name() == f && a.in_env(env))
            })
            .collect();
        if found.is_empty() {
            return Err(Error::usage(format!(
                "no backup '{f}' in {} (lfb-list --store {} lists them)",
                store.describe(),
                store.describe()
            )));
        }
        return Ok(found);
    }
    if cli.latest {
        return latest(cli, env, identity, inv, store, ui);
    }
    match ndjson::stdin_records()? {
        Some(recs) if recs.len() == 1 => {
            let p = recs[0]
                .get("path")
                .and_then(|p| p.as_str())
                .unwrap_or_default()
                .to_string();
            match remote::find(inv, &p, store) {
                Some(a) => Ok(vec![a]),
                None => Err(Error::usage(format!(
                    "the record on stdin names '{p}', which is not in {}",
                    store.describe()
                ))),
            }
        }
        _ => Err(Error::usage(
            "nothing to restore: give -f NAME, --latest, or one record on stdin",
        )),
    }
}

/// Spools the candidates in order into `spool` and returns the first that
/// passes the quick checks (a named one that fails is an error).
fn fetch_first_good(
    cli: &Cli,
    candidates: Vec<&RemoteArtifact>,
    store: &RemoteStore,
    spool: &std::path::Path,
    ui: &Ui,
) -> Result<PathBuf> {
    let quick = crate::quick_checks();
    for a in candidates {
        let url = store.url(&a.key);
        ui.info(format!("fetching {url} ({} bytes)", a.size));
        let local = match store.spool(a, spool) {
            Ok(p) => p,
            Err(e) => {
                ui.warn(format!("skipping {url}: {}", e.line()));
                continue;
            }
        };
        let mut rec = a.record.clone();
        rec.set("path", serde_json::json!(local.to_string_lossy()));
        let outcome = verify::verify(&rec, &quick);
        if !outcome.ok() {
            let why = outcome.summary().replace(&*local.to_string_lossy(), &url);
            if cli.file.is_some() {
                return Err(Error::failed(format!(
                    "{url} fails its checks, not restored; nothing was changed: {why}"
                )));
            }
            ui.warn(format!("skipping {url}: {why}"));
            let _ = std::fs::remove_file(&local);
            continue;
        }
        return Ok(local);
    }
    Err(Error::failed(format!(
        "no backup in {} passes its checks; nothing was changed",
        store.describe()
    )))
}

/// The candidates of `--latest`, newest first.
fn latest<'a>(
    cli: &Cli,
    env: &str,
    target: Option<&Identity>,
    inv: &'a [RemoteArtifact],
    store: &RemoteStore,
    ui: &Ui,
) -> Result<Vec<&'a RemoteArtifact>> {
    let from = cli.from.as_deref();
    let from_identity = from.and_then(|f| {
        inv.iter()
            .find(|a| a.in_env(env) && a.record.id() == Some(f))
            .map(|a| Identity::of_record(&a.record))
    });
    let horizon = chrono::Utc::now() + chrono::Duration::days(1);
    let mut out: Vec<&RemoteArtifact> = inv
        .iter()
        .filter(|a| {
            let tag = a.record.tag().unwrap_or(&a.name.tag);
            if !a.in_env(env)
                || cli.tag.as_deref().is_some_and(|t| tag != t)
                || (cli.tag.is_none() && tag == PRE_RESTORE)
                || (cli.files_only && a.name.kind != Kind::Full)
                || a.record.is_globals()
                || a.record.failed()
            {
                return false;
            }
            let id = Identity::of_record(&a.record);
            let ok = match (target, from) {
                (Some(t), _) if select::compare(&id, t) == Match::OtherEngine => false,
                (_, Some(f)) => {
                    select::named_by(f, &a.record, &id)
                        || from_identity
                            .as_ref()
                            .is_some_and(|fi| select::compare(&id, fi) == Match::Same)
                }
                (Some(t), None) => select::compare(&id, t) == Match::Same,
                (None, None) => true,
            };
            ok && a.record.created_at().unwrap_or(a.name.time) <= horizon
        })
        .collect();
    out.sort_by_key(|a| std::cmp::Reverse(a.record.created_at().unwrap_or(a.name.time)));
    out.retain(|a| {
        let failed = a.record.verify_ok() == Some(false);
        if failed {
            ui.warn(format!(
                "skipping {}: it failed verification",
                store.url(&a.key)
            ));
        }
        !failed
    });
    if out.is_empty() {
        return Err(Error::failed(format!(
            "no backup in {} for environment '{env}'{} to restore; nothing was changed",
            store.describe(),
            match (from, target.and_then(|t| t.name.clone())) {
                (Some(f), _) => format!(" named by --from {f}"),
                (None, Some(n)) => format!(" of database '{n}'"),
                _ => String::new(),
            }
        )));
    }
    Ok(out)
}
