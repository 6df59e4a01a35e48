//! `lfb-guard --store s3://bucket/prefix`: the health of a store in object
//! storage, with the same findings, summary, Nagios line and metrics as a
//! folder store. The checks that make sense for a bucket:
//!
//! - `missing`: a tag named by `--max-age`/`--expect` has no artifact; an
//!   empty bucket (crit);
//! - `freshness`: the newest artifact of each group is younger than its
//!   tag's limit (crit), as on disk;
//! - `gaps`: within the last 7 days, two consecutive artifacts of a group
//!   further apart than its tag's limit (warn): copies that did not arrive
//!   although the group is fresh again now;
//! - `size`: under `--min-size` (crit);
//! - `integrity`: the newest artifact of each group (every one with
//!   `--deep`) is downloaded into a private scratch folder and re-read:
//!   checksum, decode, complete (crit);
//! - `sidecar`: an artifact without its sidecar object (warn);
//! - `verification`: the newest artifact's remembered verification failed
//!   (crit);
//! - `encryption`: with `--require-encryption`, artifacts not age-encrypted.
//!
//! Files, permissions, space, the journal and sync debris do not exist in
//! a bucket and are not reported.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use lfb_core::chrono::{DateTime, Duration, Utc};
use lfb_core::cli::Ui;
use lfb_core::ndjson::RecordWriter;
use lfb_core::remote::{self, RemoteArtifact, RemoteStore};
use lfb_core::s3::Location;
use lfb_core::units::{format_duration, format_size};
use lfb_core::{Result, verify};

use crate::Cli;
use crate::checks::Config;
use crate::finding::{self, Finding, Group, Severity};
use crate::report::{self, GroupStat, Report};

/// How far back `gaps` looks.
const GAP_WINDOW_DAYS: i64 = 7;

fn created(a: &RemoteArtifact) -> DateTime<Utc> {
    a.record.created_at().unwrap_or(a.name.time)
}

/// The artifacts of one group, oldest first.
type Groups<'a> = BTreeMap<Group, Vec<&'a RemoteArtifact>>;

/// One look at a bucket: what it holds and what was found so far.
struct Run<'a> {
    cfg: &'a Config,
    store: &'a RemoteStore,
    now: DateTime<Utc>,
    findings: Vec<Finding>,
    /// The artifacts re-read by `integrity`, by key: whether they passed.
    verified: BTreeMap<String, bool>,
}

/// Runs lfb-guard against a bucket.
pub fn run(cli: Cli, location: Location, ui: &Ui) -> Result<u8> {
    let started = Instant::now();
    let now = match &cli.now {
        Some(s) => crate::parse_now(s)?,
        None => Utc::now(),
    };
    let cfg = crate::config(&cli, now)?;
    let store = RemoteStore::open(location)?;
    let inv: Vec<RemoteArtifact> = store
        .inventory()?
        .into_iter()
        .filter(|a| cfg.env.as_deref().is_none_or(|e| a.in_env(e)))
        .collect();
    let groups = groups(&inv);
    let mut run = Run {
        cfg: &cfg,
        store: &store,
        now,
        findings: Vec::new(),
        verified: BTreeMap::new(),
    };
    run.missing(inv.is_empty(), &groups);
    for (g, arts) in &groups {
        run.check_group(g, arts);
    }
    run.findings.retain(|f| cfg.runs(f.check));
    let stats = run.stats(&groups);
    let Run {
        findings, verified, ..
    } = run;
    let report = Report {
        status: finding::worst(&findings),
        findings: findings.clone(),
        store: PathBuf::from(store.describe()),
        checked_at: now,
        groups: stats,
        artifacts: inv.len(),
        verified: verified.len(),
        sync: None,
        space: None,
        min_free: cfg.min_free,
        restore_tests: BTreeMap::new(),
        duration: started.elapsed(),
    };
    emit(&cli, &report, &findings, ui)
}

/// The artifacts grouped by environment, name, kind and tag, oldest first.
fn groups(inv: &[RemoteArtifact]) -> Groups<'_> {
    let mut groups: Groups = BTreeMap::new();
    for a in inv {
        let tag = a.record.tag().unwrap_or(&a.name.tag);
        groups
            .entry(Group::of(a.env(), &a.name.name, a.name.kind.as_str(), tag))
            .or_default()
            .push(a);
    }
    for v in groups.values_mut() {
        v.sort_by_key(|a| created(a));
    }
    groups
}

impl Run<'_> {
    /// `missing`: an empty bucket, and each tag named explicitly that has
    /// no artifact.
    fn missing(&mut self, empty: bool, groups: &Groups) {
        if empty {
            self.findings.push(Finding::crit(
                "missing",
                Group::store(),
                format!("no artifacts in {}", self.store.describe()),
            ));
        }
        for (tag, exp) in &self.cfg.tags {
            if exp.explicit && !groups.keys().any(|g| g.tag.as_deref() == Some(tag)) {
                self.findings.push(Finding::crit(
                    "missing",
                    Group::tag(self.cfg.env.as_deref(), tag),
                    format!("no artifact with tag '{tag}' in {}", self.store.describe()),
                ));
            }
        }
    }

    /// Every check of one group, in the order of its findings.
    fn check_group(&mut self, g: &Group, arts: &[&RemoteArtifact]) {
        let limit = g
            .tag
            .as_deref()
            .and_then(|t| self.cfg.tags.get(t))
            .and_then(|e| e.max_age)
            .and_then(|d| Duration::from_std(d).ok());
        if let Some(limit) = limit {
            self.freshness(g, arts, limit);
            self.gaps(g, arts, limit);
        }
        for a in arts {
            self.per_artifact(g, a);
        }
        let newest = arts.last().expect("groups are never empty");
        if newest.record.verify_ok() == Some(false) {
            self.findings.push(Finding::crit(
                "verification",
                g.clone(),
                format!(
                    "{}: its last verification failed",
                    self.store.url(&newest.key)
                ),
            ));
        }
        if self.cfg.runs("integrity") {
            self.integrity(g, arts);
        }
    }

    /// `freshness`: the newest artifact is younger than the tag's limit.
    fn freshness(&mut self, g: &Group, arts: &[&RemoteArtifact], limit: Duration) {
        let newest = arts.last().expect("groups are never empty");
        let age = self.now - created(newest);
        let fresh = age <= limit;
        let msg = format!(
            "newest copy is {} old (limit {})",
            format_duration(age.to_std().unwrap_or_default()),
            format_duration(limit.to_std().unwrap_or_default())
        );
        self.findings.push(
            match fresh {
                true => Finding::ok("freshness", g.clone(), msg),
                false => Finding::crit("freshness", g.clone(), msg),
            }
            .with("age_seconds", age.num_seconds().max(0))
            .with("newest", self.store.url(&newest.key)),
        );
    }

    /// `gaps`: consecutive artifacts further apart than the limit within
    /// the last [`GAP_WINDOW_DAYS`].
    fn gaps(&mut self, g: &Group, arts: &[&RemoteArtifact], limit: Duration) {
        let since = self.now - Duration::days(GAP_WINDOW_DAYS);
        let mut gaps = Vec::new();
        for w in arts.windows(2) {
            let (a, b) = (created(w[0]), created(w[1]));
            if b >= since && b - a > limit {
                gaps.push(format!(
                    "{} .. {} ({})",
                    lfb_core::record::format_time(a),
                    lfb_core::record::format_time(b),
                    format_duration((b - a).to_std().unwrap_or_default())
                ));
            }
        }
        if !gaps.is_empty() {
            self.findings.push(
                Finding::warn(
                    "gaps",
                    g.clone(),
                    format!(
                        "{} gap{} longer than {} in the last {GAP_WINDOW_DAYS} days: {}",
                        gaps.len(),
                        if gaps.len() == 1 { "" } else { "s" },
                        format_duration(limit.to_std().unwrap_or_default()),
                        gaps.join(", ")
                    ),
                )
                .with("gaps", gaps.len()),
            );
        }
    }

    /// `size`, `sidecar` and `encryption` of one artifact.
    fn per_artifact(&mut self, g: &Group, a: &RemoteArtifact) {
        let (cfg, store) = (self.cfg, self.store);
        if a.size < cfg.min_size {
            self.findings.push(Finding::crit(
                "size",
                g.clone(),
                format!(
                    "{} is {} (under {})",
                    store.url(&a.key),
                    format_size(a.size),
                    format_size(cfg.min_size)
                ),
            ));
        }
        if a.derived {
            self.findings.push(Finding::warn(
                "sidecar",
                g.clone(),
                format!("{} has no sidecar object", store.url(&a.key)),
            ));
        }
        if cfg.require_encryption && !a.name.ext.ends_with("age") {
            self.findings.push(Finding::crit(
                "encryption",
                g.clone(),
                format!("{} is not encrypted with age", store.url(&a.key)),
            ));
        }
    }

    /// `integrity`: the newest artifact (every one with `--deep`) re-read.
    fn integrity(&mut self, g: &Group, arts: &[&RemoteArtifact]) {
        let reread: Vec<&&RemoteArtifact> = match self.cfg.deep {
            true => arts.iter().collect(),
            false => arts.iter().rev().take(1).collect(),
        };
        for a in reread {
            let (ok, msg) = reread_one(self.store, a);
            self.verified.insert(a.key.clone(), ok);
            self.findings.push(match ok {
                true => Finding::ok("integrity", g.clone(), msg),
                false => Finding::crit("integrity", g.clone(), msg),
            });
        }
    }

    /// Each group's line of the summary.
    fn stats(&self, groups: &Groups) -> Vec<GroupStat> {
        groups
            .iter()
            .map(|(g, arts)| {
                let newest = arts.last().expect("groups are never empty");
                GroupStat {
                    group: g.clone(),
                    artifacts: arts.len(),
                    newest_created: created(newest),
                    newest_bytes: newest.size,
                    last_success: arts
                        .iter()
                        .rev()
                        .find(|a| {
                            a.size >= self.cfg.min_size
                                && self.verified.get(&a.key) != Some(&false)
                                && a.record.verify_ok() != Some(false)
                        })
                        .map(|a| created(a)),
                    worst: self
                        .findings
                        .iter()
                        .filter(|f| &f.group == g)
                        .map(|f| f.severity)
                        .max()
                        .unwrap_or(Severity::Ok),
                }
            })
            .collect()
    }
}

/// Prints the report (NDJSON or the Nagios line), the problems on stderr,
/// writes the metrics, runs `--on-failure`; the exit code.
fn emit(cli: &Cli, report: &Report, findings: &[Finding], ui: &Ui) -> Result<u8> {
    let summary = report.summary();
    if cli.nagios {
        print!("{}", report.nagios());
    } else {
        let mut out = RecordWriter::new();
        for f in findings {
            out.write_value(&f.to_line())?;
        }
        out.write_value(&summary.to_string())?;
    }
    if !ui.quiet() && (!cli.nagios || std::io::stderr().is_terminal()) {
        for f in report.problems() {
            eprintln!(
                "{}: {}: {} {}: {}",
                ui.tool(),
                f.severity,
                f.check,
                f.group,
                f.message
            );
        }
    }
    let mut trouble = false;
    if let Some(path) = &cli.prometheus
        && let Err(e) = report::write_prometheus(path, &report.prometheus())
    {
        ui.error(e.line());
        trouble = true;
    }
    if report.status > Severity::Ok
        && let Some(cmd) = &cli.on_failure
        && let Err(e) = report::on_failure(cmd, &summary)
    {
        ui.error(e.line());
    }
    Ok(match (cli.nagios, report.status) {
        (true, Severity::Ok) => 0,
        (true, Severity::Warn) => 1,
        (true, Severity::Crit) => 2,
        (false, _) if trouble => 2,
        (false, Severity::Crit) => 1,
        (false, Severity::Warn) if cli.strict => 1,
        _ => 0,
    })
}

/// Downloads one artifact and runs the quick checks on it.
fn reread_one(store: &RemoteStore, a: &RemoteArtifact) -> (bool, String) {
    let url = store.url(&a.key);
    let spool = match remote::spool_dir() {
        Ok(s) => s,
        Err(e) => return (false, format!("{url}: {}", e.line())),
    };
    let local = match store.spool(a, spool.path()) {
        Ok(p) => p,
        Err(e) => return (false, format!("{url}: {}", e.line())),
    };
    let mut rec = a.record.clone();
    rec.set("path", serde_json::json!(local.to_string_lossy()));
    let opts = verify::Options {
        checks: [
            verify::CheckName::Exists,
            verify::CheckName::Checksum,
            verify::CheckName::Decode,
            verify::CheckName::Complete,
        ]
        .into_iter()
        .collect(),
        min_size: 0,
        scratch: None,
    };
    let outcome = verify::verify(&rec, &opts);
    let summary = outcome.summary().replace(&*local.to_string_lossy(), &url);
    (outcome.ok(), format!("{url}: {summary}"))
}
