//! The artifacts a run considers, one [`Item`] each: where it is, its
//! group and what the planner sees of it.
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
use lfb_core::store::{self, ArtifactFiles, FileId, Leftovers, LineRef, LineSpill};
use lfb_core::{Record, Result, Store};

use crate::Options;
use crate::plan::Candidate;
use crate::scope::Meta;

/// One artifact in scope and what the planner sees of it. Kept small (a
/// store of 400,000 artifacts is held whole, at about 70 bytes each): its
/// path is its folder and its name in [`Listing::files`], and what the
/// plan decides and what its deletion did are kept beside the items, not
/// in them.
pub struct Item {
    /// What the planner sees (`candidate.group` indexes the group keys).
    pub candidate: Candidate,
    /// Its record line in [`Listing::spill`], when it is one plain line.
    pub line: Option<LineRef>,
    /// Its file name, in [`Listing::files`].
    pub file: FileId,
    /// Its store folder, an index into [`Listing::folders`].
    pub folder: u16,
    /// Its record was derived from the name (no sidecar).
    pub derived: bool,
    /// Its sidecar is a failed record (`verify.ok` false, or an `error`).
    pub failed: bool,
}

impl AsRef<Candidate> for Item {
    fn as_ref(&self) -> &Candidate {
        &self.candidate
    }
}

/// The artifacts in scope and what is known about the store around them.
pub struct Listing {
    /// In the store's order (folder by folder, by name); `order` has them
    /// oldest first.
    pub items: Vec<Item>,
    /// Indexes into `items`, oldest first (by the time in the name, then
    /// by path).
    pub order: Vec<u32>,
    /// The items' file names.
    pub files: ArtifactFiles,
    /// The store folders items are in: name and path.
    pub folders: Vec<(Arc<str>, PathBuf)>,
    /// By input record: the item it describes (the last, should two
    /// spellings of one path be listed).
    pub by_input: Vec<Option<u32>>,
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

impl Listing {
    /// The path of item `i`.
    pub fn path(&self, i: usize) -> PathBuf {
        let item = &self.items[i];
        self.folders[item.folder as usize]
            .1
            .join(&*self.files.file_name(item.file))
    }

    /// The store folder item `i` is in (`migrations` for that folder).
    pub fn folder(&self, i: usize) -> &str {
        &self.folders[self.items[i].folder as usize].0
    }

    /// The parsed name of item `i`.
    pub fn name(&self, i: usize) -> ArtifactName {
        self.files.name(self.items[i].file)
    }
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
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut groups = Vec::new();
    let mut items = Vec::new();
    let mut files = ArtifactFiles::new();
    let mut folders: Vec<(Arc<str>, PathBuf)> = Vec::new();
    let mut by_input = vec![None; input.len()];
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
                let g = u32::try_from(groups.len()).expect("fewer groups than artifacts");
                index.insert(key.clone(), g);
                groups.push(key);
                g
            }
        };
        let i = u32::try_from(items.len())
            .map_err(|_| lfb_core::Error::input("more artifacts in scope than prune can hold"))?;
        let j = inputs.find(&found.path);
        if let Some(j) = j {
            by_input[j] = Some(i);
        }
        let candidate = candidate(&found, group, j.and_then(|j| input[j].verify_ok()));
        if folders.last().is_none_or(|(f, _)| *f != found.folder) {
            let dir = lfb_core::fsutil::parent_dir(&found.path).to_path_buf();
            folders.push((found.folder.clone(), dir));
        }
        let folder = u16::try_from(folders.len() - 1)
            .map_err(|_| lfb_core::Error::input("more store folders than prune can hold"))?;
        let file = found
            .path
            .file_name()
            .and_then(|f| f.to_str())
            .expect("listed artifacts have UTF-8 names");
        let failed = found.sidecar.failed();
        // Failed and derived records are printed as records (built again).
        let line = match &found.line {
            Some(l) if !failed && !found.derived => spill.push(l),
            _ => None,
        };
        items.push(Item {
            candidate,
            line,
            file: files.push(file, &found.name)?,
            folder,
            derived: found.derived,
            failed,
        });
        Ok(())
    })?;
    items.shrink_to_fit();
    files.shrink_to_fit();
    // The store's order is the paths' order, so ties in time are broken by
    // the index (paths are unique: an unstable sort orders the same).
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (files.time(items[i as usize].file), i));
    spill.finish();
    Ok(Listing {
        items,
        order,
        files,
        folders,
        by_input,
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
fn candidate(found: &store::Found, group: u32, input_verified: Option<bool>) -> Candidate {
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
