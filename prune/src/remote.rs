//! `lfb-prune --store s3://bucket/prefix`: retention in object storage, with
//! the same planner ([`crate::plan`]), scope and grouping as on disk, and
//! the same invariants: the newest verified artifact of a group is never
//! deleted, and nothing is deleted after a failed upstream record.
//!
//! The store lock is the bucket's lease ([`lfb_core::remote::Lease`]), held
//! from the listing to the last deletion and checked (extended when due)
//! before each deletion. Each deletion removes the artifact, then its
//! sidecar. Housekeeping of a folder store (the journal, `*.partial`) has no
//! counterpart: a bucket never shows an incomplete object under its name.

use std::collections::{BTreeSet, HashMap};

use lfb_core::chrono::Local;
use lfb_core::cli::Ui;
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::remote::{RemoteArtifact, RemoteStore};
use lfb_core::s3::Location;
use lfb_core::units::format_size;
use lfb_core::{Record, Result};
use serde_json::{Value, json};

use crate::plan::{self, Candidate, Decision, Reason, Reasons};
use crate::scope::Meta;
use crate::{Cli, Options};

/// Runs lfb-prune against a bucket.
pub fn run(cli: Cli, location: Location, ui: &Ui) -> Result<u8> {
    let opts = Options::from_cli(&cli)?;
    let piped = !cli.no_stdin && ndjson::stdin_kind() == ndjson::StdinKind::Records;
    let input = if piped {
        ndjson::RecordReader::new(std::io::stdin().lock(), "stdin").read_all()?
    } else {
        Vec::new()
    };
    let mut out = RecordWriter::new();
    if piped && input.is_empty() {
        let msg = "not pruning: stdin delivered no records, so the stage before lfb-prune \
                   failed or printed nothing; nothing was deleted (to prune the whole store, \
                   run with --no-stdin or </dev/null)";
        ui.error(msg);
        out.write(&Record::tool_failure(ui.tool(), msg, 1))?;
        return Ok(1);
    }
    let store = RemoteStore::open(location)?;
    let failed: Vec<usize> = (0..input.len()).filter(|&i| input[i].failed()).collect();
    let carry_out = !opts.dry_run && failed.is_empty();
    let mut lease = match carry_out {
        true => Some(store.lock(ui.tool(), lfb_core::publish::LOCK_WAIT)?),
        false => None,
    };

    // In scope, grouped, oldest first.
    let mut arts: Vec<RemoteArtifact> = store
        .inventory()?
        .into_iter()
        .filter(|a| opts.scope.matches(&meta(a)))
        .collect();
    arts.sort_by(|a, b| a.name.time.cmp(&b.name.time).then(a.key.cmp(&b.key)));
    let mut groups: HashMap<String, usize> = HashMap::new();
    let keys: Vec<String> = arts.iter().map(|a| opts.group_by.key(&meta(a))).collect();
    let inputs: HashMap<String, usize> = input
        .iter()
        .enumerate()
        .filter_map(|(j, r)| Some((r.get("path")?.as_str()?.to_string(), j)))
        .collect();
    let candidates: Vec<Candidate> = arts
        .iter()
        .zip(&keys)
        .map(|(a, k)| {
            let n = groups.len();
            let group = *groups.entry(k.clone()).or_insert(n);
            let time = a.record.created_at().unwrap_or(a.name.time);
            let wall = match a.name.legacy {
                true => time
                    .with_timezone(&Local)
                    .naive_local()
                    .and_utc()
                    .timestamp(),
                false => time.timestamp(),
            };
            let upstream = inputs
                .get(&store.url(&a.key))
                .and_then(|&j| input[j].verify_ok());
            Candidate {
                group,
                time: time.timestamp(),
                wall,
                verified: upstream.or(a.record.verify_ok()),
                bytes: match a.derived {
                    false => a.record.bytes().unwrap_or(a.size),
                    true => a.size,
                },
            }
        })
        .collect();
    let decisions = plan::plan(&candidates, &opts.policy, opts.now.timestamp());

    let mut deleted = (0usize, 0u64);
    let mut code = 0u8;
    let mut printed = vec![false; arts.len()];
    let by_url: HashMap<String, usize> = arts
        .iter()
        .enumerate()
        .map(|(i, a)| (store.url(&a.key), i))
        .collect();
    let delay = std::env::var("LFB_PRUNE_DELETE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_millis);
    let mut act = |i: usize, lease: &mut Option<_>| -> Option<String> {
        if !carry_out || decisions[i].keep {
            return None;
        }
        let lease: &mut lfb_core::remote::Lease = lease.as_mut().expect("held when carrying out");
        let res = lease.check().and_then(|()| store.delete(&arts[i]));
        match res {
            Ok(()) => {
                // A pause after each deletion, for the test of two prunes at
                // once; not part of the documented interface.
                if let Some(d) = delay {
                    std::thread::sleep(d);
                }
                deleted.0 += 1;
                deleted.1 += candidates[i].bytes;
                ui.debug(format!(
                    "deleted {} ({})",
                    store.url(&arts[i].key),
                    decisions[i].reasons.names().join(", ")
                ));
                None
            }
            Err(e) => {
                ui.error(format!("{}: {}", store.url(&arts[i].key), e.line()));
                code = 1;
                Some(e.line())
            }
        }
    };
    for rec in &input {
        let mut rec = rec.clone();
        let hit = rec
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| by_url.get(p).copied());
        match hit {
            Some(i) => {
                let err = act(i, &mut lease);
                rec.set(
                    "prune",
                    section(&opts, &failed, &decisions[i], err, &keys[i]),
                );
                printed[i] = true;
            }
            None => {
                let why = match rec.failed() {
                    true => Reason::InputFailed.name(),
                    false => "not-considered",
                };
                rec.set(
                    "prune",
                    json!({"action": "none", "reasons": [why], "dry_run": opts.dry_run}),
                );
            }
        }
        out.write(&rec)?;
    }
    for i in 0..arts.len() {
        if printed[i] {
            continue;
        }
        let err = act(i, &mut lease);
        let mut rec = arts[i].record.clone();
        rec.set(
            "prune",
            section(&opts, &failed, &decisions[i], err, &keys[i]),
        );
        out.write(&rec)?;
    }
    if let Some(l) = lease {
        l.release()?;
    }
    let planned: Vec<usize> = (0..arts.len()).filter(|&i| !decisions[i].keep).collect();
    let n_groups = candidates
        .iter()
        .map(|c| c.group)
        .collect::<BTreeSet<_>>()
        .len();
    if !failed.is_empty() {
        ui.error(format!(
            "not pruning {}: {} input record{} failed; nothing was deleted ({} deletion{} planned)",
            store.describe(),
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            planned.len(),
            if planned.len() == 1 { "" } else { "s" },
        ));
        return Ok(1);
    }
    let bytes: u64 = planned.iter().map(|&i| candidates[i].bytes).sum();
    ui.info(match opts.dry_run {
        true => format!(
            "dry run: would delete {} of {} artifacts ({}) in {} in {n_groups} group{}",
            planned.len(),
            arts.len(),
            format_size(bytes),
            store.describe(),
            if n_groups == 1 { "" } else { "s" }
        ),
        false => format!(
            "deleted {} of {} artifacts ({}) in {} in {n_groups} group{}",
            deleted.0,
            arts.len(),
            format_size(deleted.1),
            store.describe(),
            if n_groups == 1 { "" } else { "s" }
        ),
    });
    Ok(code)
}

fn meta(a: &RemoteArtifact) -> Meta<'_> {
    Meta {
        folder: &a.folder,
        env: a.env(),
        name: &a.name.name,
        kind: a.name.kind,
        tag: &a.name.tag,
    }
}

/// The `prune` section, as on disk.
fn section(
    opts: &Options,
    failed: &[usize],
    d: &Decision,
    error: Option<String>,
    group: &str,
) -> Value {
    if !failed.is_empty() && !d.keep {
        return json!({
            "action": "keep",
            "reasons": Reasons::of(Reason::InputFailed).names(),
            "dry_run": opts.dry_run,
            "group": group,
            "planned": {"action": "delete", "reasons": d.reasons.names()},
        });
    }
    let mut s = json!({
        "action": if d.keep { "keep" } else { "delete" },
        "reasons": d.reasons.names(),
        "dry_run": opts.dry_run,
        "group": group,
    });
    if let Some(e) = error {
        s["error"] = json!(e);
    }
    s
}
