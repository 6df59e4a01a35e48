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

/// One prune of a bucket: the plan, and what was done so far.
struct Run<'a> {
    opts: Options,
    store: &'a RemoteStore,
    ui: &'a Ui,
    /// The input records that failed upstream (then nothing is deleted).
    failed: Vec<usize>,
    /// Deletions are carried out (not a dry run, no failed input).
    carry_out: bool,
    /// Held from the listing to the last deletion when carrying out.
    lease: Option<lfb_core::remote::Lease<'a>>,
    /// In scope, oldest first; `keys`, `candidates` and `decisions` are
    /// indexed alike.
    arts: Vec<RemoteArtifact>,
    keys: Vec<String>,
    candidates: Vec<Candidate>,
    decisions: Vec<Decision>,
    /// A pause after each deletion (`LFB_PRUNE_DELETE_DELAY_MS`).
    delay: Option<std::time::Duration>,
    /// Artifacts and bytes deleted.
    deleted: (usize, u64),
    code: u8,
}

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
    let mut run = Run::start(opts, &store, &input, ui)?;
    run.carry_out_and_print(&input, &mut out)?;
    if let Some(l) = run.lease.take() {
        l.release()?;
    }
    run.summary()
}

impl<'a> Run<'a> {
    /// Takes the bucket's lease when deletions will be carried
    /// out, lists what is in scope and plans it.
    fn start(opts: Options, store: &'a RemoteStore, input: &[Record], ui: &'a Ui) -> Result<Self> {
        let failed: Vec<usize> = (0..input.len()).filter(|&i| input[i].failed()).collect();
        let carry_out = !opts.dry_run && failed.is_empty();
        let lease = match carry_out {
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
        let keys: Vec<String> = arts.iter().map(|a| opts.group_by.key(&meta(a))).collect();
        let candidates = candidates(store, &arts, &keys, input);
        let decisions = plan::plan(&candidates, &opts.policy, opts.now.timestamp());
        let delay = std::env::var("LFB_PRUNE_DELETE_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis);
        Ok(Run {
            opts,
            store,
            ui,
            failed,
            carry_out,
            lease,
            arts,
            keys,
            candidates,
            decisions,
            delay,
            deleted: (0, 0),
            code: 0,
        })
    }

    /// Carries out the decision on artifact `i` when due; the error line
    /// of a deletion that failed.
    fn act(&mut self, i: usize) -> Option<String> {
        if !self.carry_out || self.decisions[i].keep {
            return None;
        }
        let lease = self.lease.as_mut().expect("held when carrying out");
        let res = lease
            .check()
            .and_then(|()| self.store.delete(&self.arts[i]));
        match res {
            Ok(()) => {
                // A pause after each deletion, for the test of two prunes at
                // once; not part of the documented interface.
                if let Some(d) = self.delay {
                    std::thread::sleep(d);
                }
                self.deleted.0 += 1;
                self.deleted.1 += self.candidates[i].bytes;
                self.ui.debug(format!(
                    "deleted {} ({})",
                    self.store.url(&self.arts[i].key),
                    self.decisions[i].reasons.names().join(", ")
                ));
                None
            }
            Err(e) => {
                self.ui.error(format!(
                    "{}: {}",
                    self.store.url(&self.arts[i].key),
                    e.line()
                ));
                self.code = 1;
                Some(e.line())
            }
        }
    }

    /// The `prune` section of artifact `i`, after acting on it.
    fn act_and_section(&mut self, i: usize) -> Value {
        let err = self.act(i);
        section(
            &self.opts,
            &self.failed,
            &self.decisions[i],
            err,
            &self.keys[i],
        )
    }

    /// Acts on the input records' artifacts in input order, printing each
    /// input record, then on the rest of the scope, printing their records.
    fn carry_out_and_print(&mut self, input: &[Record], out: &mut RecordWriter) -> Result<()> {
        let mut printed = vec![false; self.arts.len()];
        let by_url: HashMap<String, usize> = self
            .arts
            .iter()
            .enumerate()
            .map(|(i, a)| (self.store.url(&a.key), i))
            .collect();
        for rec in input {
            let mut rec = rec.clone();
            let hit = rec
                .get("path")
                .and_then(Value::as_str)
                .and_then(|p| by_url.get(p).copied());
            match hit {
                Some(i) => {
                    rec.set("prune", self.act_and_section(i));
                    printed[i] = true;
                }
                None => {
                    let why = match rec.failed() {
                        true => Reason::InputFailed.name(),
                        false => "not-considered",
                    };
                    rec.set(
                        "prune",
                        json!({"action": "none", "reasons": [why], "dry_run": self.opts.dry_run}),
                    );
                }
            }
            out.write(&rec)?;
        }
        for (i, done) in printed.into_iter().enumerate() {
            if done {
                continue;
            }
            let section = self.act_and_section(i);
            let mut rec = self.arts[i].record.clone();
            rec.set("prune", section);
            out.write(&rec)?;
        }
        Ok(())
    }

    /// The closing line on stderr, and the exit code.
    fn summary(&self) -> Result<u8> {
        let (arts, ui, store) = (&self.arts, self.ui, &self.store);
        let planned: Vec<usize> = (0..arts.len())
            .filter(|&i| !self.decisions[i].keep)
            .collect();
        let n_groups = self
            .candidates
            .iter()
            .map(|c| c.group)
            .collect::<BTreeSet<_>>()
            .len();
        if !self.failed.is_empty() {
            ui.error(format!(
                "not pruning {}: {} input record{} failed; nothing was deleted ({} deletion{} planned)",
                store.describe(),
                self.failed.len(),
                if self.failed.len() == 1 { "" } else { "s" },
                planned.len(),
                if planned.len() == 1 { "" } else { "s" },
            ));
            return Ok(1);
        }
        let bytes: u64 = planned.iter().map(|&i| self.candidates[i].bytes).sum();
        ui.info(match self.opts.dry_run {
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
                self.deleted.0,
                arts.len(),
                format_size(self.deleted.1),
                store.describe(),
                if n_groups == 1 { "" } else { "s" }
            ),
        });
        Ok(self.code)
    }
}

/// The planner's view of each artifact: its group (numbered in order of
/// first appearance), times, verification (the input record's, else the
/// sidecar's) and size.
fn candidates(
    store: &RemoteStore,
    arts: &[RemoteArtifact],
    keys: &[String],
    input: &[Record],
) -> Vec<Candidate> {
    let mut groups: HashMap<String, usize> = HashMap::new();
    let inputs: HashMap<String, usize> = input
        .iter()
        .enumerate()
        .filter_map(|(j, r)| Some((r.get("path")?.as_str()?.to_string(), j)))
        .collect();
    arts.iter()
        .zip(keys)
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
                group: group as u32,
                time: time.timestamp(),
                wall,
                verified: upstream.or(a.record.verify_ok()),
                bytes: match a.derived {
                    false => a.record.bytes().unwrap_or(a.size),
                    true => a.size,
                },
            }
        })
        .collect()
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
