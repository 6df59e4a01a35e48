//! The artifacts a run considers, one [`Item`] each: where it is, its
//! group, what the planner sees of it, what was decided and what happened.
//!
//! Records are not kept in memory (100,000 parsed sidecars are ~460 MB):
//! the few fields planning reads are taken while the store is listed, and
//! each record line, read in the same pass, goes to a [`LineSpill`] to be
//! printed from (a record that is not one plain line is read again when
//! it is printed).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lfb_core::chrono::{DateTime, Local, Utc};
use lfb_core::naming::ArtifactName;
use lfb_core::store::{self, Leftovers, LineRef, LineSpill};
use lfb_core::{Record, Result, Store};

use crate::Options;
use crate::plan::{Candidate, Decision, Reasons};
use crate::scope::Meta;

/// One artifact in scope and everything prune knows and did about it. Kept
/// small (a store of 100,000 artifacts is held whole): its name is parsed
/// again from the path when it is needed, and its group is an index into
/// [`Listing::groups`].
pub struct Item {
    pub path: PathBuf,
    /// The time in its name, which orders the listing.
    pub time: DateTime<Utc>,
    /// The store folder it is in; shared by all artifacts of a folder.
    pub folder: Arc<str>,
    /// Its record was derived from the name (no sidecar).
    pub derived: bool,
    /// Its sidecar is a failed record (`verify.ok` false, or an `error`).
    pub failed: bool,
    /// Its record line in [`Listing::spill`], when it is one plain line.
    pub line: Option<LineRef>,
    /// The input record describing it, if any.
    pub input: Option<usize>,
    /// What the planner sees (`candidate.group` indexes the group keys).
    pub candidate: Candidate,
    /// What the planner decided.
    pub decision: Decision,
    /// Why its deletion failed.
    pub error: Option<String>,
}

impl Item {
    /// Its name, parsed again from its path.
    pub fn name(&self) -> ArtifactName {
        self.path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(ArtifactName::parse)
            .expect("listed artifacts have artifact names")
    }
}

/// The artifacts in scope and what is known about the store around them.
pub struct Listing {
    /// Oldest first.
    pub items: Vec<Item>,
    /// Each group's key (`prod/ledgerflow/db/hourly`), by index.
    pub groups: Vec<String>,
    /// The tags of every artifact in the store, in scope or not, so a
    /// `--tag` that matches nothing can say which tags there are.
    pub tags: BTreeSet<String>,
    /// The record lines of the items, read while listing.
    pub spill: LineSpill,
    /// What killed runs left in the store's folders, from the same listing.
    pub leftovers: Leftovers,
}

/// What scope and grouping see of an artifact (`env` from its record, which
/// for `migrations/` is not the folder).
pub fn meta<'a>(folder: &'a str, name: &'a ArtifactName, env: &'a str) -> Meta<'a> {
    Meta {
        folder,
        env,
        name: &name.name,
        kind: name.kind,
        tag: &name.tag,
    }
}

/// Lists the artifacts in scope, oldest first (as the store lists them),
/// each matched with its input record and made a planner candidate. A
/// malformed sidecar stops the run here, before anything is deleted.
pub fn list(store: &Store, opts: &Options, input: &[Record]) -> Result<Listing> {
    let inputs = InputPaths::new(store, input);
    let mut tags = BTreeSet::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups = Vec::new();
    let mut out = Vec::new();
    let mut spill = LineSpill::new();
    let leftovers = store.visit_records(|found| {
        if !tags.contains(&found.name.tag) {
            tags.insert(found.name.tag.clone());
        }
        let env = store::env_of(&found.folder, found.sidecar.env.as_deref());
        let m = meta(&found.folder, &found.name, env);
        if !opts.scope.matches(&m) {
            return Ok(());
        }
        let key = opts.group_by.key(&m);
        let group = match index.get(&key) {
            Some(&g) => g,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(key);
                groups.len() - 1
            }
        };
        let j = inputs.find(&found.path);
        let candidate = candidate(&found, group, j.and_then(|j| input[j].verify_ok()));
        let folder = found.folder.clone();
        let failed = found.sidecar.failed();
        // Failed and derived records are printed as records (built again).
        let line = match &found.line {
            Some(l) if !failed && !found.derived => spill.push(l),
            _ => None,
        };
        out.push(Item {
            time: found.name.time,
            path: found.path,
            folder,
            derived: found.derived,
            failed,
            line,
            input: j,
            candidate,
            decision: Decision {
                keep: true,
                reasons: Reasons::NONE,
            },
            error: None,
        });
        Ok(())
    })?;
    // Paths are unique: an unstable sort orders the same, without a buffer.
    out.sort_unstable_by(|a, b| a.time.cmp(&b.time).then_with(|| a.path.cmp(&b.path)));
    out.shrink_to_fit();
    spill.finish();
    Ok(Listing {
        items: out,
        groups,
        tags,
        spill,
        leftovers,
    })
}

/// Input records name artifacts by absolute path; the store may have been
/// reached through another spelling (a symlink, `..`), so both sides are
/// compared canonically.
struct InputPaths<'a> {
    root: PathBuf,
    store_root: &'a Path,
    paths: HashMap<PathBuf, usize>,
}

impl<'a> InputPaths<'a> {
    fn new(store: &'a Store, input: &[Record]) -> InputPaths<'a> {
        let mut paths = HashMap::new();
        for (j, r) in input.iter().enumerate() {
            if let Some(p) = r.path() {
                paths.entry(canonical(&p)).or_insert(j);
            }
        }
        InputPaths {
            root: fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf()),
            store_root: store.root(),
            paths,
        }
    }

    fn find(&self, path: &Path) -> Option<usize> {
        if self.paths.is_empty() {
            return None;
        }
        let p = match path.strip_prefix(self.store_root) {
            Ok(rel) => self.root.join(rel),
            Err(_) => canonical(path),
        };
        self.paths.get(&p).copied()
    }
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p)
        .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// What the planner needs of an artifact. `input_verified` is `verify.ok`
/// of its record on stdin, which may know more than the sidecar:
/// `lfb-verify` just checked the artifact upstream.
fn candidate(found: &store::Found, group: usize, input_verified: Option<bool>) -> Candidate {
    let name = &found.name;
    // The record's creation time, else the name's: never the file's mtime.
    let time = found.sidecar.created_at().unwrap_or(name.time);
    // lfb names carry UTC; the original scripts wrote local time, and their
    // days and months are the local ones.
    let wall = if name.legacy {
        time.with_timezone(&Local)
            .naive_local()
            .and_utc()
            .timestamp()
    } else {
        time.timestamp()
    };
    let bytes = match (found.derived, found.sidecar.bytes) {
        (false, Some(b)) => b,
        _ => fs::metadata(&found.path).map(|m| m.len()).unwrap_or(0),
    };
    Candidate {
        group,
        time: time.timestamp(),
        wall,
        verified: input_verified.or(found.sidecar.verify_ok()),
        bytes,
    }
}

/// When an artifact dated in the future is, for the warning about it.
pub fn time_of(c: &Candidate) -> String {
    DateTime::<Utc>::from_timestamp(c.time, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}
