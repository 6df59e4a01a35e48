//! The checks: each looks at the inventory (or the store itself) and returns
//! findings. Their names are the `check` field of a finding and what
//! `--skip` takes; they are part of the output contract.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lfb_core::record::format_time;
use lfb_core::units::{format_duration, format_size};
use lfb_core::verify::{self, CheckName, Options};
use lfb_core::{Store, fsutil, sys};
use serde_json::{Value, json};

pub use crate::common::Verified;
use crate::common::plural;
use crate::finding::{Finding, Group};
use crate::history;
use crate::inventory::{Artifact, DebrisKind, FileInfo, Inventory};

/// Every check, in the order findings are printed.
pub const CHECKS: &[&str] = &[
    "scan",
    "missing",
    "freshness",
    "size",
    "shrink",
    "integrity",
    "sidecar",
    "permissions",
    "writable",
    "space",
    "partial",
    "quarantine",
    "journal",
    "verification",
    "drill",
    "placeholder",
    "conflict",
    "encryption",
    // Only for a store in a bucket (remote.rs).
    "gaps",
];

/// Freshness limits applied to tags present in the store unless told otherwise.
pub const DEFAULT_MAX_AGE: &[(&str, u64)] = &[("hourly", 2 * 3600), ("daily", 26 * 3600)];

/// Artifacts before the newest that its size is compared with.
pub const SHRINK_WINDOW: usize = 10;
/// Fewest earlier artifacts for a size comparison to mean anything.
pub const SHRINK_MIN_HISTORY: usize = 3;
/// How far back the growth rate looks.
pub const GROWTH_DAYS: i64 = 7;
/// Days of space left under which space is a warning / critical.
pub const SPACE_WARN_DAYS: f64 = 14.0;
pub const SPACE_CRIT_DAYS: f64 = 2.0;
/// The journal window for failed events (`--journal-window`): an
/// unresolved failure stays loud this long.
pub const JOURNAL_HOURS: i64 = 7 * 24;
/// A `*.partial` modified this recently belongs to a run in progress.
pub const PARTIAL_ACTIVE_SECS: i64 = 300;
/// A `*.partial` older than this is critical.
pub const PARTIAL_CRIT_SECS: i64 = 86_400;
/// Paths named in one aggregated finding.
const LIST_MAX: usize = 10;

/// The limit of one tag, and whether the user named the tag (then its
/// absence is critical).
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub max_age: Option<Duration>,
    pub explicit: bool,
}

/// What the checks are asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub now: DateTime<Utc>,
    pub tags: BTreeMap<String, Expectation>,
    pub min_size: u64,
    pub min_free: u64,
    pub deep: bool,
    pub sample: usize,
    pub skip: BTreeSet<&'static str>,
    pub env: Option<String>,
    /// How far back failed journal events count (`--journal-window`).
    pub journal_window: Duration,
    /// How old a group's newest successful restore test may be.
    pub max_drill_age: Duration,
    /// `--require-encryption`: every artifact must be age-encrypted.
    pub require_encryption: bool,
}

impl Config {
    pub fn runs(&self, check: &str) -> bool {
        !self.skip.contains(check)
    }
}

/// Artifacts by group, oldest first within each.
pub fn groups(inv: &Inventory) -> BTreeMap<Group, Vec<&Artifact>> {
    inv.by_group()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    (now - t).to_std().unwrap_or_default()
}

/// Folders or files that could not be read: the guard cannot vouch for them.
pub fn scan_errors(inv: &Inventory) -> Vec<Finding> {
    inv.errors
        .iter()
        .map(|(p, e)| {
            Finding::crit(
                "scan",
                Group::store(),
                format!("cannot read '{}': {e}", p.display()),
            )
            .with("path", p.to_string_lossy())
        })
        .collect()
}

/// Expected tags that have no group (`missing`), and the age of each
/// group's newest artifact against its tag's limit (`freshness`).
// Long: one pass over the groups with the tag limits, the clock-skew and future-dated cases side by side.
pub fn freshness(inv: &Inventory, cfg: &Config) -> Vec<Finding> {
    let groups = groups(inv);
    let mut out = Vec::new();
    if cfg.runs("missing") {
        let present: BTreeSet<&str> = groups.keys().filter_map(|g| g.tag.as_deref()).collect();
        for (tag, exp) in &cfg.tags {
            if !exp.explicit || present.contains(tag.as_str()) {
                continue;
            }
            let env = cfg.env.as_deref();
            let within = env.map(|e| format!(" of {e}")).unwrap_or_default();
            out.push(
                Finding::crit(
                    "missing",
                    Group::tag(env, tag),
                    format!("no {tag} backups{within} in the store, and {tag} is expected"),
                )
                .with("tag", tag.as_str()),
            );
        }
        if groups.is_empty() && out.is_empty() {
            let within = cfg
                .env
                .as_deref()
                .map(|e| format!(" for {e}"))
                .unwrap_or_default();
            out.push(Finding::crit(
                "missing",
                Group::store(),
                format!("the store holds no artifacts{within}"),
            ));
        }
    }
    if !cfg.runs("freshness") {
        return out;
    }
    for (g, arts) in &groups {
        let newest = arts.last().expect("groups are never empty");
        let tag = g.tag.as_deref().unwrap_or_default();
        let Some(limit) = cfg.tags.get(tag).and_then(|e| e.max_age) else {
            continue;
        };
        let skew = newest.created - cfg.now;
        let age_d = age(cfg.now, newest.created);
        let f = if skew > chrono::Duration::minutes(10) {
            Finding::warn(
                "freshness",
                g.clone(),
                format!(
                    "newest {tag} backup {} is dated {} in the future: a wrong clock makes its age unknowable",
                    inv.id(newest),
                    format_duration(skew.to_std().unwrap_or_default())
                ),
            )
        } else if age_d > limit {
            Finding::crit(
                "freshness",
                g.clone(),
                format!(
                    "newest {tag} backup is {} old (limit {}): {}",
                    format_duration(age_d),
                    format_duration(limit),
                    inv.id(newest)
                ),
            )
        } else {
            Finding::ok(
                "freshness",
                g.clone(),
                format!(
                    "newest {tag} backup is {} old (limit {})",
                    format_duration(age_d),
                    format_duration(limit)
                ),
            )
        };
        out.push(
            f.with("id", inv.id(newest))
                .with("created_at", format_time(newest.created))
                .with("age_seconds", age_d.as_secs())
                .with("limit_seconds", limit.as_secs()),
        );
    }
    out
}

/// Artifacts under the minimum size (`size`), and a newest artifact much
/// smaller than the ones before it (`shrink`).
// Long: the size floor, the shrink rule and their messages read best together.
pub fn sizes(inv: &Inventory, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (g, arts) in groups(inv) {
        let newest = arts.last().expect("groups are never empty");
        if cfg.runs("size") {
            let small: Vec<&&Artifact> = arts
                .iter()
                .filter(|a| a.bytes < cfg.min_size && !a.dataless)
                .collect();
            for a in &small {
                out.push(
                    Finding::crit(
                        "size",
                        g.clone(),
                        format!(
                            "{} is {} bytes, under the minimum of {}",
                            inv.id(a),
                            a.bytes,
                            format_size(cfg.min_size)
                        ),
                    )
                    .with("id", inv.id(a))
                    .with("path", inv.path(a).to_string_lossy())
                    .with("bytes", a.bytes)
                    .with("min_bytes", cfg.min_size),
                );
            }
            if small.is_empty() {
                out.push(
                    Finding::ok(
                        "size",
                        g.clone(),
                        format!(
                            "{}, all at least {}; newest is {}",
                            plural(arts.len(), "artifact"),
                            format_size(cfg.min_size),
                            format_size(newest.bytes)
                        ),
                    )
                    .with("id", inv.id(newest))
                    .with("bytes", newest.bytes)
                    .with("min_bytes", cfg.min_size),
                );
            }
        }
        if cfg.runs("shrink") && arts.len() > SHRINK_MIN_HISTORY {
            let before = &arts[..arts.len() - 1];
            let window = &before[before.len().saturating_sub(SHRINK_WINDOW)..];
            let mut sizes: Vec<u64> = window.iter().map(|a| a.bytes).collect();
            sizes.sort_unstable();
            let median = median(&sizes);
            let bytes = newest.bytes;
            let f = if (bytes as f64) < median / 2.0 {
                Finding::warn(
                    "shrink",
                    g.clone(),
                    format!(
                        "newest {} is {} ({bytes} bytes), less than half the median {} ({} bytes) of the {} before it",
                        inv.id(newest),
                        format_size(bytes),
                        format_size(median as u64),
                        median as u64,
                        window.len()
                    ),
                )
            } else {
                Finding::ok(
                    "shrink",
                    g.clone(),
                    format!(
                        "newest is {}, median of the {} before it {}",
                        format_size(bytes),
                        window.len(),
                        format_size(median as u64)
                    ),
                )
            };
            out.push(
                f.with("id", inv.id(newest))
                    .with("bytes", bytes)
                    .with("median_bytes", median as u64)
                    .with("compared", window.len()),
            );
        }
    }
    out
}

fn median(sorted: &[u64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        sorted[n / 2] as f64
    } else {
        (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
    }
}

/// Re-reads the newest artifact of each group (every artifact with
/// `--deep`, plus `--sample N` random others) with lfb-verify's own checks:
/// checksum, decode, complete.
pub fn integrity(inv: &Inventory, cfg: &Config, seed: u64) -> (Vec<Finding>, Verified) {
    let mut verified = Verified::new();
    if !cfg.runs("integrity") {
        return (Vec::new(), verified);
    }
    let groups = groups(inv);
    let mut picked: Vec<&Artifact> = Vec::new();
    let mut others: Vec<&Artifact> = Vec::new();
    for arts in groups.values() {
        let (newest, older) = arts.split_last().expect("groups are never empty");
        picked.push(newest);
        others.extend(older.iter().copied());
    }
    if cfg.deep {
        picked.append(&mut others);
    } else if cfg.sample > 0 {
        let mut rng = XorShift::new(seed);
        let n = cfg.sample.min(others.len());
        // Partial Fisher–Yates: the first n are a uniform sample.
        for i in 0..n {
            let j = i + (rng.next() % (others.len() - i) as u64) as usize;
            others.swap(i, j);
        }
        picked.extend(others.drain(..n));
    }
    // Evicted files would be downloaded by reading them; they are reported
    // as placeholders instead.
    picked.retain(|a| !a.dataless);
    let opts = Options {
        checks: [CheckName::Checksum, CheckName::Decode, CheckName::Complete]
            .into_iter()
            .collect(),
        ..Options::default()
    };
    let outcomes = parallel_verify(inv, &picked, &opts);
    let mut out = Vec::new();
    let mut passed: BTreeMap<Group, Vec<String>> = BTreeMap::new();
    for (a, outcome) in picked.iter().zip(outcomes) {
        verified.insert(a.file, outcome.ok());
        if outcome.ok() {
            passed
                .entry(inv.group(a).clone())
                .or_default()
                .push(inv.id(a));
            continue;
        }
        let failed: Vec<&str> = outcome.failed().iter().map(|c| c.name.as_str()).collect();
        out.push(
            Finding::crit(
                "integrity",
                inv.group(a).clone(),
                format!("{}: {}", inv.id(a), outcome.summary()),
            )
            .with("id", inv.id(a))
            .with("path", inv.path(a).to_string_lossy())
            .with("failed", json!(failed))
            .with("verify", outcome.section()),
        );
    }
    for (g, ids) in passed {
        let msg = if ids.len() == 1 {
            format!("{} passes checksum, decode and complete", ids[0])
        } else {
            format!(
                "{} artifacts re-read, all pass checksum, decode and complete",
                ids.len()
            )
        };
        out.push(
            Finding::ok("integrity", g, msg)
                .with("verified", ids.len())
                .with("ids", json!(ids.iter().take(LIST_MAX).collect::<Vec<_>>())),
        );
    }
    (out, verified)
}

/// Runs `verify` over the artifacts on a few threads (each verify already
/// reads, hashes and decodes in parallel, so a handful is plenty).
fn parallel_verify(inv: &Inventory, arts: &[&Artifact], opts: &Options) -> Vec<verify::Outcome> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; arts.len()]);
    std::thread::scope(|s| {
        for _ in 0..workers.min(arts.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(a) = arts.get(i) else { break };
                    let o = verify::verify(&inv.record(a), opts);
                    results.lock().expect("no poisoned lock")[i] = Some(o);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no poisoned lock")
        .into_iter()
        .map(|o| o.expect("every artifact verified"))
        .collect()
}

/// A small PRNG for `--sample` (no dependency for a few random picks).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Sidecars that exist but cannot be used, and lfb-named artifacts without
/// one: their checksum cannot be checked.
pub fn sidecars(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut missing: BTreeMap<&Group, Vec<&Artifact>> = BTreeMap::new();
    for a in &inv.artifacts {
        if let Some(e) = inv.sidecar_error(a) {
            out.push(
                Finding::warn(
                    "sidecar",
                    inv.group(a).clone(),
                    format!(
                        "{}: unusable sidecar ({e}); its checksum cannot be checked",
                        inv.id(a)
                    ),
                )
                .with("id", inv.id(a))
                .with("path", inv.path(a).to_string_lossy()),
            );
        } else if a.sidecar().is_none() && !a.legacy {
            missing.entry(inv.group(a)).or_default().push(a);
        }
    }
    for (g, arts) in missing {
        let names: Vec<String> = arts.iter().map(|a| inv.id(a)).collect();
        out.push(
            Finding::warn(
                "sidecar",
                g.clone(),
                format!(
                    "{} no sidecar record (no checksum to check against): {}",
                    if arts.len() == 1 {
                        "1 artifact has".to_string()
                    } else {
                        format!("{} artifacts have", arts.len())
                    },
                    list_text(&names)
                ),
            )
            .with("count", arts.len())
            .with(
                "ids",
                json!(names.iter().take(LIST_MAX).collect::<Vec<_>>()),
            ),
        );
    }
    out
}

fn list_text(items: &[String]) -> String {
    let mut s = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        s.push_str(&format!(" and {} more", items.len() - 3));
    }
    s
}

/// One permission problem of one file or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PermProblem {
    WorldWritable,
    Access,
    Owner,
}

fn perm_problems(mode: u32, uid: u32, euid: u32) -> Vec<PermProblem> {
    let mut p = Vec::new();
    if mode & 0o002 != 0 {
        p.push(PermProblem::WorldWritable);
    } else if mode & 0o077 != 0 {
        p.push(PermProblem::Access);
    }
    if uid != euid {
        p.push(PermProblem::Owner);
    }
    p
}

/// `--require-encryption`: every artifact not encrypted with age (its name
/// has no `.age`) is critical, listed by group.
pub fn encryption(inv: &Inventory) -> Vec<Finding> {
    let mut plain: BTreeMap<&Group, Vec<&Artifact>> = BTreeMap::new();
    let mut encrypted = 0usize;
    for a in &inv.artifacts {
        if inv.encrypted(a) {
            encrypted += 1;
        } else {
            plain.entry(inv.group(a)).or_default().push(a);
        }
    }
    if plain.is_empty() {
        return vec![Finding::ok(
            "encryption",
            Group::store(),
            format!("all {encrypted} artifacts are encrypted with age"),
        )];
    }
    plain
        .into_iter()
        .map(|(g, arts)| {
            let names: Vec<String> = arts.iter().map(|a| inv.id(a)).collect();
            Finding::crit(
                "encryption",
                g.clone(),
                format!(
                    "{} not encrypted: {}",
                    if arts.len() == 1 {
                        "1 artifact is".to_string()
                    } else {
                        format!("{} artifacts are", arts.len())
                    },
                    list_text(&names)
                ),
            )
            .with("count", arts.len())
            .with(
                "ids",
                json!(names.iter().take(LIST_MAX).collect::<Vec<_>>()),
            )
        })
        .collect()
}

/// A file whose mode and owner are checked.
#[derive(Clone, Copy)]
enum PermOf<'a> {
    Artifact(&'a Artifact),
    /// The artifact's sidecar.
    Sidecar(&'a Artifact),
    /// A store file (the journal).
    Store(&'a FileInfo),
}

/// A file with a permission problem.
struct PermFile {
    path: std::path::PathBuf,
    mode: u32,
    uid: u32,
}

/// Modes and owners of artifacts, sidecars, the journal and the store's
/// folders: group/other access or another owner is a warning, anything
/// world-writable critical (anyone could replace a backup).
// Long: one table of modes and owners for every kind of store file; splitting it scatters the policy.
pub fn permissions(inv: &Inventory) -> Vec<Finding> {
    let euid = sys::euid();
    let mut by: BTreeMap<(Group, PermProblem), Vec<PermFile>> = BTreeMap::new();
    let mut clean: BTreeMap<&Group, usize> = BTreeMap::new();
    // (group, file, mode, uid): a path is made only when it has a problem
    // to name.
    let files = inv
        .artifacts
        .iter()
        .flat_map(|a| {
            let g = inv.group(a);
            std::iter::once((g, PermOf::Artifact(a), a.mode(), a.uid))
                .chain(a.sidecar().map(|s| (g, PermOf::Sidecar(a), s.mode, s.uid)))
        })
        .chain(
            inv.store_files
                .iter()
                .map(|f| (&STORE_GROUP, PermOf::Store(f), f.mode, f.uid)),
        );
    for (g, f, mode, uid) in files {
        let problems = perm_problems(mode, uid, euid);
        if problems.is_empty() {
            *clean.entry(g).or_default() += 1;
        }
        for p in problems {
            let path = match f {
                PermOf::Artifact(a) => inv.path(a),
                PermOf::Sidecar(a) => lfb_core::store::sidecar_path(&inv.path(a)),
                PermOf::Store(f) => f.path.clone(),
            };
            by.entry((g.clone(), p))
                .or_default()
                .push(PermFile { path, mode, uid });
        }
    }
    let mut out = Vec::new();
    for ((g, problem), files) in &by {
        let items: Vec<String> = files
            .iter()
            .map(|f| match problem {
                PermProblem::Owner => format!("{} (uid {})", file_name(&f.path), f.uid),
                _ => format!("{} ({:04o})", file_name(&f.path), f.mode),
            })
            .collect();
        let (sev_crit, what) = match problem {
            PermProblem::WorldWritable => (true, "world-writable: anyone can replace a backup"),
            PermProblem::Access => (false, "readable by group/other (want 0600)"),
            PermProblem::Owner => (false, "owned by another user"),
        };
        let msg = format!(
            "{} {what}: {}",
            plural(files.len(), "file"),
            list_text(&items)
        );
        let f = if sev_crit {
            Finding::crit("permissions", g.clone(), msg)
        } else {
            Finding::warn("permissions", g.clone(), msg)
        };
        out.push(f.with("problem", problem_name(*problem)).with(
            "files",
            json!(
                files
                    .iter()
                    .take(LIST_MAX)
                    .map(|f| json!({"path": f.path.to_string_lossy(), "mode": format!("{:04o}", f.mode), "uid": f.uid}))
                    .collect::<Vec<_>>()
            ),
        ).with("count", files.len()));
    }
    for folder in &inv.folders {
        for problem in perm_problems(folder.mode, folder.uid, euid) {
            let (sev_crit, what) = match problem {
                PermProblem::WorldWritable => {
                    (true, "is world-writable: anyone can add or remove backups")
                }
                PermProblem::Access => (false, "is open to group/other (want 0700)"),
                PermProblem::Owner => (false, "is owned by another user"),
            };
            let msg = format!(
                "folder '{}' {what} (mode {:04o}, uid {})",
                folder.path.display(),
                folder.mode,
                folder.uid
            );
            let f = if sev_crit {
                Finding::crit("permissions", folder.group.clone(), msg)
            } else {
                Finding::warn("permissions", folder.group.clone(), msg)
            };
            out.push(
                f.with("problem", problem_name(problem))
                    .with("path", folder.path.to_string_lossy())
                    .with("mode", format!("{:04o}", folder.mode))
                    .with("uid", folder.uid),
            );
        }
    }
    let troubled: BTreeSet<&Group> = by.keys().map(|(g, _)| g).collect();
    for (g, n) in clean {
        if !troubled.contains(g) {
            out.push(
                Finding::ok(
                    "permissions",
                    g.clone(),
                    format!(
                        "{} private (no group/other access) and yours",
                        plural(n, "file")
                    ),
                )
                .with("count", n),
            );
        }
    }
    out
}

static STORE_GROUP: Group = Group {
    env: None,
    name: None,
    kind: None,
    tag: None,
};

fn problem_name(p: PermProblem) -> &'static str {
    match p {
        PermProblem::WorldWritable => "world-writable",
        PermProblem::Access => "group-other-access",
        PermProblem::Owner => "owner",
    }
}

/// Creates and removes a file in the store, as backup_guard.sh did: the
/// store must take new files, and they must be owned by the current user.
pub fn writable(store: &Store) -> Finding {
    let probe = store.root().join(format!(
        ".lfb-guard-probe-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    ));
    let res = fsutil::create_private_file(&probe).map(|f| f.metadata());
    let _ = std::fs::remove_file(&probe);
    let euid = sys::euid();
    match res {
        Err(e) => Finding::crit(
            "writable",
            Group::store(),
            format!("the store does not take new files: {}", e.line()),
        ),
        Ok(Err(e)) => Finding::crit(
            "writable",
            Group::store(),
            format!(
                "cannot stat a new file in the store: {}",
                lfb_core::error::describe_io(&e)
            ),
        ),
        Ok(Ok(meta)) => {
            use std::os::unix::fs::MetadataExt;
            if meta.uid() != euid {
                Finding::crit(
                    "writable",
                    Group::store(),
                    format!(
                        "new files in the store are owned by uid {}, not the current user (uid {euid})",
                        meta.uid()
                    ),
                )
                .with("uid", meta.uid())
            } else {
                Finding::ok(
                    "writable",
                    Group::store(),
                    "the store takes new files, owned by the current user",
                )
            }
        }
    }
    .with("euid", euid)
}

/// Free space on the store's filesystem, and how many days it lasts at the
/// rate artifacts were written in the last week. The rate ignores what
/// retention frees, so the estimate errs on the safe side.
pub fn space(store: &Store, inv: &Inventory, cfg: &Config) -> (Finding, Option<(u64, u64)>) {
    let (free, total) = match sys::disk_space(store.root()) {
        Ok(v) => v,
        Err(e) => {
            return (
                Finding::warn(
                    "space",
                    Group::store(),
                    format!(
                        "cannot tell the free space: {}",
                        lfb_core::error::describe_io(&e)
                    ),
                ),
                None,
            );
        }
    };
    let window_start = cfg.now - chrono::Duration::days(GROWTH_DAYS);
    let recent: u64 = inv
        .artifacts
        .iter()
        .filter(|a| a.created > window_start && a.created <= cfg.now)
        .map(|a| a.bytes)
        .sum();
    // A store younger than the window grows at its own (shorter) pace.
    let oldest = inv.artifacts.first().map(|a| a.created).unwrap_or(cfg.now);
    let span_days =
        ((cfg.now - oldest).num_seconds() as f64 / 86_400.0).clamp(1.0, GROWTH_DAYS as f64);
    let rate = recent as f64 / span_days;
    let days_left = (rate > 0.0).then(|| free as f64 / rate);
    let lasts = days_left
        .map(|d| format!(", {d:.0} days at {}/day", format_size(rate as u64)))
        .unwrap_or_default();
    let base = format!(
        "{} free of {}{lasts}",
        format_size(free),
        format_size(total)
    );
    let f = if free < cfg.min_free {
        Finding::crit(
            "space",
            Group::store(),
            format!("{base}: under the minimum of {}", format_size(cfg.min_free)),
        )
    } else if days_left.is_some_and(|d| d < SPACE_CRIT_DAYS) {
        Finding::crit(
            "space",
            Group::store(),
            format!("{base}: full within 2 days"),
        )
    } else if days_left.is_some_and(|d| d < SPACE_WARN_DAYS) {
        Finding::warn(
            "space",
            Group::store(),
            format!("{base}: full within 14 days"),
        )
    } else {
        Finding::ok("space", Group::store(), base)
    };
    (
        f.with("free_bytes", free)
            .with("total_bytes", total)
            .with("min_free_bytes", cfg.min_free)
            .with("growth_bytes_per_day", rate as u64)
            .with(
                "days_left",
                days_left.map_or(Value::Null, |d| json!((d * 10.0).round() / 10.0)),
            ),
        Some((free, total)),
    )
}

/// `*.partial` files: a write that did not finish. Old ones are critical: a
/// dump died and nobody noticed.
pub fn partials(inv: &Inventory, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in &inv.partials {
        // A partial file written to in the last minutes belongs to a run in
        // progress (a dump streaming right now), not to one that died.
        // `NAME.<pid>.partial` of a process that no longer runs here was
        // left by a killed run, however recent its last write.
        let dead_writer = p
            .file
            .path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(lfb_core::naming::partial_pid)
            .filter(|&pid| !lfb_core::sys::process_alive(pid));
        let active = dead_writer.is_none()
            && p.file.mtime.is_some_and(|m| {
                Utc::now()
                    .signed_duration_since(DateTime::<Utc>::from(m))
                    .num_seconds()
                    < PARTIAL_ACTIVE_SECS
            });
        if active {
            out.push(
                Finding::ok(
                    "partial",
                    p.group.clone(),
                    format!(
                        "'{}' is being written (a run in progress)",
                        p.file.path.display()
                    ),
                )
                .with("path", p.file.path.to_string_lossy()),
            );
            continue;
        }
        // The name says when the write started; the mtime is a fallback
        // for names lfb did not make.
        let started = p
            .started
            .or_else(|| p.file.mtime.map(DateTime::<Utc>::from));
        let age_s = started.map(|t| (cfg.now - t).num_seconds().max(0));
        let old = age_s.is_some_and(|s| s > PARTIAL_CRIT_SECS);
        let when = age_s
            .map(|s| format!(", {} old", format_duration(Duration::from_secs(s as u64))))
            .unwrap_or_default();
        let what = if p.orphan_sidecar {
            "a sidecar whose artifact is missing: a run killed between writing it and publishing the artifact, or between deleting the two"
        } else {
            "a write that did not finish"
        };
        let msg = format!(
            "leftover '{}' ({}{when}): {what}{}",
            p.file.path.display(),
            format_size(p.file.bytes),
            if old {
                " and was never cleaned up (lfb-prune removes it after a day)".to_string()
            } else if let Some(pid) = dead_writer {
                format!(" (its writer, process {pid}, no longer runs on this machine)")
            } else {
                " (or is still running)".to_string()
            }
        );
        let f = if old {
            Finding::crit("partial", p.group.clone(), msg)
        } else {
            Finding::warn("partial", p.group.clone(), msg)
        };
        out.push(
            f.with("path", p.file.path.to_string_lossy())
                .with("bytes", p.file.bytes)
                .with("age_seconds", age_s.map_or(Value::Null, |s| json!(s))),
        );
    }
    if out.is_empty() {
        out.push(Finding::ok(
            "partial",
            Group::store(),
            "no leftover *.partial files or sidecars without artifact",
        ));
    }
    out
}

/// A non-empty `quarantine/`: artifacts failed verification and wait for
/// someone to look.
pub fn quarantine(inv: &Inventory) -> Finding {
    if inv.quarantine.is_empty() {
        return Finding::ok("quarantine", Group::store(), "quarantine is empty");
    }
    let names: Vec<String> = inv.quarantine.iter().map(|p| file_name(p)).collect();
    Finding::warn(
        "quarantine",
        Group::store(),
        format!(
            "{} in quarantine/ (failed verification): {}",
            plural(names.len(), "file"),
            list_text(&names)
        ),
    )
    .with("count", names.len())
    .with(
        "files",
        json!(names.iter().take(LIST_MAX).collect::<Vec<_>>()),
    )
}

/// Failed events in the journal in the last 24 hours. lfb-guard's own
/// events are left out: they record its verdicts, and counting them would
/// keep the store critical a day after it was fixed.
pub fn journal(store: &Store, cfg: &Config) -> Finding {
    let window = lfb_core::units::format_duration(cfg.journal_window);
    let since =
        cfg.now - chrono::Duration::from_std(cfg.journal_window).unwrap_or(chrono::Duration::MAX);
    let tail = match history::events_since(&store.journal_path(), since) {
        Ok(t) => t,
        Err(e) => {
            return Finding::warn(
                "journal",
                Group::store(),
                format!(
                    "cannot read the journal '{}': {}",
                    store.journal_path().display(),
                    lfb_core::error::describe_io(&e)
                ),
            );
        }
    };
    let mut tail = tail;
    if let Some(env) = &cfg.env {
        // `--env prod` watches prod: other environments' failures are
        // theirs (events without an environment concern the whole store).
        tail.events.retain(|e| {
            e.get("env")
                .and_then(Value::as_str)
                .is_none_or(|v| v == env)
        });
    }
    let open = crate::alarms::unresolved(&tail.events);
    if open.is_empty() {
        return Finding::ok(
            "journal",
            Group::store(),
            format!("no unresolved failed events in the last {window}"),
        )
        .with("events", tail.events.len());
    }
    let s = |e: &serde_json::Map<String, Value>, k: &str| {
        e.get(k).and_then(Value::as_str).unwrap_or("?").to_string()
    };
    let latest = open[0].event;
    Finding::crit(
        "journal",
        Group::store(),
        format!(
            "{} in the last {window} (no later success of the same group); latest {} {} {}: {} \
             (after looking into it: lfb-guard --ack {})",
            plural(open.len(), "unresolved failed event"),
            s(latest, "time"),
            s(latest, "tool"),
            s(latest, "action"),
            s(latest, "message"),
            open[0].id
        ),
    )
    .with("count", open.len())
    .with(
        "events",
        json!(
            open.iter()
                .take(LIST_MAX)
                .map(|u| {
                    let mut e = u.event.clone();
                    e.insert("ack_id".into(), json!(u.id));
                    e
                })
                .collect::<Vec<_>>()
        ),
    )
}

/// Cloud debris: evicted placeholders (the backup is not on this disk) and
/// conflict copies (two machines wrote the same file), each a warning.
pub fn sync(inv: &Inventory, cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in &inv.debris {
        let (check, msg) = match d.kind {
            DebrisKind::Placeholder => (
                "placeholder",
                format!(
                    "'{}' is evicted by {}: '{}' is not on this disk (restoring needs a download)",
                    d.path.display(),
                    d.service,
                    d.original
                ),
            ),
            DebrisKind::Conflict => (
                "conflict",
                format!(
                    "'{}' is a {} conflict copy of '{}': two machines wrote it",
                    d.path.display(),
                    d.service,
                    d.original
                ),
            ),
        };
        if cfg.runs(check) {
            out.push(
                Finding::warn(check, d.group.clone(), msg)
                    .with("path", d.path.to_string_lossy())
                    .with("service", d.service)
                    .with("original", d.original.as_str()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[1, 2, 3]), 2.0);
        assert_eq!(median(&[1, 2, 3, 10]), 2.5);
    }

    #[test]
    fn permission_problems() {
        assert!(perm_problems(0o600, 5, 5).is_empty());
        assert_eq!(perm_problems(0o660, 5, 5), vec![PermProblem::Access]);
        assert_eq!(perm_problems(0o666, 5, 5), vec![PermProblem::WorldWritable]);
        assert_eq!(perm_problems(0o600, 6, 5), vec![PermProblem::Owner]);
    }

    #[test]
    fn samples_are_spread() {
        let mut r = XorShift::new(42);
        let v: BTreeSet<u64> = (0..100).map(|_| r.next() % 10).collect();
        assert_eq!(v.len(), 10);
    }
}
