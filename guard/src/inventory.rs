//! The store in one listing: every artifact with its record, size, mode and
//! owner, its sidecar, the leftovers (`*.partial`), the debris cloud clients
//! leave (evicted placeholders, conflict copies), the quarantine and the
//! store's own folders.
//!
//! Speed matters here (a store of 10,000 artifacts is checked in about a
//! second): each folder is read once, each file stat'ed once, a sidecar is
//! opened only when the listing shows it exists, and sidecars are parsed on
//! every core. Unlike `Store::artifacts`, a broken sidecar or an unreadable
//! folder does not stop the listing: the guard reports them as findings.
//!
//! So does memory (a store of 400,000 artifacts is held in about 25 MiB):
//! an [`Artifact`] is 48 bytes of what the checks read of every artifact;
//! its file name is series and time in core's [`ArtifactFiles`] (12 bytes),
//! its folder and group are indexes, and what few artifacts have (a record
//! id that is not the name's, an unusable sidecar, a restore test) is kept
//! beside them. The path and the rest are had from the [`Inventory`]
//! ([`Inventory::path`], [`Inventory::id`], ...). A folder is listed into
//! one buffer of names ([`Listing`]), not a `String` and a full metadata
//! per entry.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lfb_core::fsutil::PARTIAL_SUFFIX;
use lfb_core::naming::{self, ArtifactName, LeftoverKind};
use lfb_core::store::{self, ArtifactFiles, FileId, LOGS, MIGRATIONS, NameId, Names, QUARANTINE};
use lfb_core::{Record, Store};

use crate::finding::Group;

/// What the guard needs to know of one file (a leftover, the journal).
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub path: PathBuf,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub bytes: u64,
    pub mtime: Option<SystemTime>,
    /// macOS: an iCloud file whose content is not on this disk.
    pub dataless: bool,
}

impl FileInfo {
    fn from_meta(path: PathBuf, meta: &Meta) -> FileInfo {
        FileInfo {
            path,
            mode: meta.mode,
            uid: meta.uid,
            bytes: meta.bytes,
            mtime: meta.mtime,
            dataless: meta.dataless,
        }
    }
}

/// The part of a file's metadata the guard reads: a quarter of the size of
/// `fs::Metadata`, which matters when a folder holds 60,000 files.
#[derive(Debug, Clone, Copy)]
struct Meta {
    is_dir: bool,
    is_file: bool,
    dataless: bool,
    /// Permission bits (`0o7777`).
    mode: u32,
    uid: u32,
    bytes: u64,
    mtime: Option<SystemTime>,
}

impl Meta {
    fn of(meta: &fs::Metadata) -> Meta {
        Meta {
            is_dir: meta.is_dir(),
            is_file: meta.is_file(),
            dataless: dataless(meta),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            bytes: meta.len(),
            mtime: meta.modified().ok(),
        }
    }
}

/// A sidecar's mode and owner: all the checks need of it (its path is the
/// artifact's with `.json` added).
#[derive(Debug, Clone, Copy)]
pub struct SidecarMeta {
    pub mode: u32,
    pub uid: u32,
}

/// The dataless flag (`SF_DATALESS`) iCloud Drive sets on evicted files,
/// whose name stays the same while the content lives only in the cloud.
#[cfg(target_os = "macos")]
fn dataless(meta: &fs::Metadata) -> bool {
    use std::os::macos::fs::MetadataExt as _;
    const SF_DATALESS: u32 = 0x4000_0000;
    meta.st_flags() & SF_DATALESS != 0
}

#[cfg(not(target_os = "macos"))]
fn dataless(_meta: &fs::Metadata) -> bool {
    false
}

/// One artifact: what the checks read of every artifact, in 48 bytes (a
/// `PathBuf`, an `Arc`'d group and the rare fields inline were 168 plus the
/// path's text). Its path, name, id, group and folder, and what only a few
/// artifacts have, are read through the [`Inventory`] that holds it
/// ([`Inventory::path`] and the methods beside it).
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    pub bytes: u64,
    /// From the record's `created_at`, else the name: never the mtime, which
    /// cloud clients and copies rewrite.
    pub created: DateTime<Utc>,
    /// Its file name in the inventory's [`ArtifactFiles`]. Ids are given in
    /// the order of the artifacts' paths (see [`scan`]).
    pub file: FileId,
    /// Its group: an index into [`Inventory::groups`].
    group: u32,
    pub uid: u32,
    /// The sidecar's owner, when `has_sidecar`.
    sidecar_uid: u32,
    /// Permission bits (`0o7777`): [`Artifact::mode`].
    mode: u16,
    /// The sidecar's permission bits, when `has_sidecar`.
    sidecar_mode: u16,
    /// The store folder it is in: an index into
    /// [`Inventory::artifact_folders`].
    folder: u16,
    /// macOS: an iCloud file whose content is not on this disk.
    pub dataless: bool,
    /// Its name was written by the original shell scripts.
    pub legacy: bool,
    /// The record was derived from the name (no sidecar, or a broken one).
    pub derived: bool,
    /// Its remembered verification failed (`verify.ok` false).
    pub verify_failed: bool,
    /// It has a sidecar, whose mode and owner are known.
    has_sidecar: bool,
}

impl Artifact {
    /// Permission bits (`0o7777`).
    pub fn mode(&self) -> u32 {
        u32::from(self.mode)
    }

    /// Its sidecar's mode and owner, when it has one.
    pub fn sidecar(&self) -> Option<SidecarMeta> {
        self.has_sidecar.then(|| SidecarMeta {
            mode: u32::from(self.sidecar_mode),
            uid: self.sidecar_uid,
        })
    }
}

/// A `*.partial` file: a write that has not finished (or never will).
#[derive(Debug, Clone)]
pub struct Partial {
    pub file: FileInfo,
    /// When its write started, from the name it will get.
    pub started: Option<DateTime<Utc>>,
    pub group: Group,
    /// A sidecar whose artifact is gone (`NAME.json` without `NAME`), not a
    /// `*.partial`: what a kill between a sidecar's write and its artifact's
    /// rename (or between a deletion's two steps) leaves.
    pub orphan_sidecar: bool,
}

/// What a cloud client left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebrisKind {
    /// An evicted file (`.NAME.icloud`, or the dataless flag): the content
    /// is not on this disk.
    Placeholder,
    /// A second copy made when two machines changed a file.
    Conflict,
}

/// One file of cloud-sync debris.
#[derive(Debug, Clone)]
pub struct Debris {
    pub path: PathBuf,
    pub kind: DebrisKind,
    /// `icloud`, `dropbox`, `nextcloud`, `syncthing`.
    pub service: &'static str,
    /// The name of the file it stands for or copies.
    pub original: String,
    pub group: Group,
}

/// A store folder and its mode and owner.
#[derive(Debug, Clone)]
pub struct Folder {
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub group: Group,
}

/// Everything in the store the checks look at.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Oldest first (then by path).
    pub artifacts: Vec<Artifact>,
    pub partials: Vec<Partial>,
    pub debris: Vec<Debris>,
    pub folders: Vec<Folder>,
    /// Store files outside the groups (the journal).
    pub store_files: Vec<FileInfo>,
    pub quarantine: Vec<PathBuf>,
    /// Folders or files that could not be read, with why.
    pub errors: Vec<(PathBuf, String)>,
    /// Artifacts left out by `--env`.
    pub filtered_out: usize,
    /// The artifacts' file names ([`Artifact::file`]).
    files: ArtifactFiles,
    /// The store folders artifacts are in: name and path.
    artifact_folders: Vec<(Box<str>, PathBuf)>,
    /// The artifacts' groups, each once.
    groups: Vec<Group>,
    /// Record ids that are not the name's (the record itself is not kept:
    /// [`Inventory::record`] reads it again for the few artifacts verified).
    ids: HashMap<FileId, Box<str>>,
    /// Why a sidecar could not be used.
    sidecar_errors: HashMap<FileId, Box<str>>,
    /// When an artifact's last restore test passed (`verify.restore_test`).
    restore_tests: HashMap<FileId, DateTime<Utc>>,
}

impl Inventory {
    /// The group `a` belongs to.
    pub fn group(&self, a: &Artifact) -> &Group {
        &self.groups[a.group as usize]
    }

    /// The name of the store folder `a` is in (`prod`, `migrations`).
    pub fn folder(&self, a: &Artifact) -> &str {
        &self.artifact_folders[a.folder as usize].0
    }

    /// The file name of `a`.
    pub fn file_name(&self, a: &Artifact) -> Cow<'_, str> {
        self.files.file_name(a.file)
    }

    /// Where `a` is (made on each call: only where a path is shown or
    /// opened).
    pub fn path(&self, a: &Artifact) -> PathBuf {
        self.artifact_folders[a.folder as usize]
            .1
            .join(&*self.file_name(a))
    }

    /// The parsed name of `a`.
    pub fn name(&self, a: &Artifact) -> ArtifactName {
        self.files.name(a.file)
    }

    /// The record's id, else the name's.
    pub fn id(&self, a: &Artifact) -> String {
        match self.ids.get(&a.file) {
            Some(id) => id.to_string(),
            None => self.name(a).id(),
        }
    }

    /// Encrypted with age (its name ends in `.age`).
    pub fn encrypted(&self, a: &Artifact) -> bool {
        self.file_name(a).ends_with(".age")
    }

    /// Why the sidecar of `a` could not be used, if it could not.
    pub fn sidecar_error(&self, a: &Artifact) -> Option<&str> {
        self.sidecar_errors.get(&a.file).map(|e| &**e)
    }

    /// When the last restore test of `a` passed (`verify.restore_test`).
    pub fn restore_test(&self, a: &Artifact) -> Option<DateTime<Utc>> {
        self.restore_tests.get(&a.file).copied()
    }

    /// The record of `a`, read again from the sidecar (or derived from the
    /// name when there is none, or it was unusable).
    pub fn record(&self, a: &Artifact) -> Record {
        let name = self.name(a);
        let path = self.path(a);
        let folder = self.folder(a);
        let derived = || store::derived_record(&path, &name, folder);
        if a.derived {
            return derived();
        }
        store::load_record(&path, &name, folder)
            .map(|(r, _)| r)
            .unwrap_or_else(|_| derived())
    }

    /// The artifacts by group, oldest first within each.
    pub fn by_group(&self) -> BTreeMap<Group, Vec<&Artifact>> {
        let mut by: Vec<Vec<&Artifact>> = vec![Vec::new(); self.groups.len()];
        for a in &self.artifacts {
            by[a.group as usize].push(a);
        }
        self.groups
            .iter()
            .zip(by)
            .filter(|(_, arts)| !arts.is_empty())
            .map(|(g, arts)| (g.clone(), arts))
            .collect()
    }
}

/// A folder's entries, sorted by name: the names end to end in one buffer,
/// the metadata only of the entries stat'ed. A folder of 270,000 files
/// (half of them sidecars, not stat'ed) is about 20 MiB this way; a
/// `String` and a metadata per entry, with a set of the names beside them,
/// were three times that.
#[derive(Default)]
struct Listing {
    names: Names,
    /// In name order (once listed): each entry's name and where its
    /// metadata is.
    entries: Vec<Entry>,
    /// The metadata of the entries stat'ed ([`Entry::meta`]).
    metas: Vec<Meta>,
}

#[derive(Clone, Copy)]
struct Entry {
    name: NameId,
    /// An index into [`Listing::metas`], or one of the markers below.
    meta: u32,
}

/// [`Entry::meta`] of a deferred sidecar ([`Listed::deferred`]).
const DEFERRED: u32 = u32::MAX;
/// [`Entry::meta`] while listing: the stat failed (the entry is left out).
const FAILED: u32 = u32::MAX - 1;
/// [`Entry::meta`] while listing: a possible sidecar (`X.json`), stat'ed
/// once the whole folder is read only if no `X` is beside it.
const POSTPONED: u32 = u32::MAX - 2;
/// [`Entry::meta`] while listing: in a batch being stat'ed.
const PENDING: u32 = u32::MAX - 3;

/// A folder entry as the scan reads it. Its path is `dir.join(name)`, made
/// only where it is kept: a folder of 60,000 files would hold 60,000 paths
/// for nothing.
#[derive(Clone, Copy)]
struct Listed<'a> {
    name: &'a str,
    meta: Meta,
    /// A sidecar beside its artifact, not stat'ed here: its metadata is
    /// taken when it is read ([`store::read_sidecar_and_meta`]); `meta`
    /// only says it is a regular file.
    deferred: bool,
}

impl Meta {
    /// What a deferred sidecar's listing says: a regular file.
    const DEFERRED: Meta = Meta {
        is_dir: false,
        is_file: true,
        dataless: false,
        mode: 0,
        uid: 0,
        bytes: 0,
        mtime: None,
    };
}

impl Listing {
    fn listed(&self, e: Entry) -> Listed<'_> {
        let name = self.names.get(e.name);
        if e.meta == DEFERRED {
            Listed {
                name,
                meta: Meta::DEFERRED,
                deferred: true,
            }
        } else {
            Listed {
                name,
                meta: self.metas[e.meta as usize],
                deferred: false,
            }
        }
    }

    /// The entries in name order.
    fn iter(&self) -> impl Iterator<Item = Listed<'_>> + '_ {
        self.entries.iter().map(|&e| self.listed(e))
    }

    /// The entry called `name`.
    fn get(&self, name: &str) -> Option<Listed<'_>> {
        self.entries
            .binary_search_by(|e| self.names.bytes(e.name).cmp(name.as_bytes()))
            .ok()
            .map(|i| self.listed(self.entries[i]))
    }

    /// True when the folder has an entry called `name`.
    fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// [`Listing::get`], looking first right beside the entry at `near`
    /// in name order: an artifact's sidecar sorts just after it, and a
    /// binary search of a large folder's names misses the cache at every
    /// step (they were a quarter of lfb-guard's time at 400,000
    /// artifacts).
    fn get_near(&self, name: &str, near: usize) -> Option<Listed<'_>> {
        for at in [near.wrapping_sub(1), near + 1] {
            if let Some(&e) = self.entries.get(at)
                && self.names.bytes(e.name) == name.as_bytes()
            {
                return Some(self.listed(e));
            }
        }
        self.get(name)
    }
}

/// Entries stat'ed at a time: a large folder's `DirEntry`s (a path each)
/// are never all held at once.
const STAT_BATCH: usize = 8192;

/// Reads a folder: every entry with its metadata (symlinks followed).
/// With `defer_sidecars`, a regular file `X.json` beside an `X` is not
/// stat'ed ([`Listed::deferred`]): half of an artifact folder's entries,
/// whose metadata comes with reading them. Errors are added in the order of
/// reading: the folder's, then the stat calls' in the order the folder gave
/// the entries.
// Long: reading, stat'ing by batch, sorting and deciding the deferred sidecars are one listing.
fn list(dir: &Path, errors: &mut Vec<(PathBuf, String)>, defer_sidecars: bool) -> Listing {
    let mut rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push((dir.to_path_buf(), lfb_core::error::describe_io(&e)));
            }
            return Listing::default();
        }
    };
    let mut out = Listing::default();
    // Stat errors with the position read, to be put in that order.
    let mut stat_errors: Vec<(usize, (PathBuf, String))> = Vec::new();
    let mut batch: Vec<(fs::DirEntry, usize)> = Vec::with_capacity(STAT_BATCH);
    let mut done = false;
    while !done {
        batch.clear();
        while batch.len() < STAT_BATCH {
            let Some(entry) = rd.next() else {
                done = true;
                break;
            };
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push((dir.to_path_buf(), lfb_core::error::describe_io(&e)));
                    continue;
                }
            };
            let file_name = entry.file_name();
            let name = match out.names.push(&file_name.to_string_lossy()) {
                Ok(name) => name,
                Err(e) => {
                    errors.push((dir.to_path_buf(), e.line()));
                    done = true;
                    break;
                }
            };
            let postpone = defer_sidecars
                && file_name.to_str().is_some_and(|n| n.ends_with(".json"))
                && entry.file_type().is_ok_and(|t| t.is_file());
            let at = out.entries.len();
            out.entries.push(Entry {
                name,
                meta: if postpone { POSTPONED } else { PENDING },
            });
            if !postpone {
                batch.push((entry, at));
            }
        }
        // The stat calls are most of a large folder's listing: on every core.
        let stated = lfb_core::par::map(&batch, |(e, _)| stat(e));
        for ((_, at), r) in batch.iter().zip(stated) {
            out.entries[*at].meta = match r {
                Ok(meta) => {
                    out.metas.push(meta);
                    (out.metas.len() - 1) as u32
                }
                Err(e) => {
                    stat_errors.push((*at, e));
                    FAILED
                }
            };
        }
    }
    drop(batch);
    let names = &out.names;
    let mut order: Vec<u32> = (0..out.entries.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        names
            .bytes(out.entries[a as usize].name)
            .cmp(names.bytes(out.entries[b as usize].name))
    });
    // A possible sidecar whose artifact is beside it (listed, stat'ed or
    // not) is deferred; any other is stat'ed now (a few: orphans, hand-made
    // files). Its listing said it is a regular file: no symlink to follow.
    // In name order, an artifact comes right before its sidecar: looked at
    // first, before a search of the whole folder.
    for (pos, at) in order.iter().map(|&i| i as usize).enumerate() {
        if out.entries[at].meta != POSTPONED {
            continue;
        }
        let name = out.names.get(out.entries[at].name);
        let base = name.strip_suffix(".json").unwrap_or(name);
        let named = |i: u32| out.names.bytes(out.entries[i as usize].name);
        let beside = pos
            .checked_sub(1)
            .is_some_and(|p| named(order[p]) == base.as_bytes())
            || order
                .binary_search_by(|&i| named(i).cmp(base.as_bytes()))
                .is_ok();
        out.entries[at].meta = if beside {
            DEFERRED
        } else {
            let path = dir.join(name);
            match fs::metadata(&path) {
                Ok(meta) => {
                    out.metas.push(Meta::of(&meta));
                    (out.metas.len() - 1) as u32
                }
                Err(e) => {
                    stat_errors.push((at, (path, lfb_core::error::describe_io(&e))));
                    FAILED
                }
            }
        };
    }
    let entries = &out.entries;
    let sorted: Vec<Entry> = order
        .iter()
        .map(|&i| entries[i as usize])
        .filter(|e| e.meta != FAILED)
        .collect();
    drop(order);
    out.entries = sorted;
    out.names.shrink_to_fit();
    out.metas.shrink_to_fit();
    stat_errors.sort_unstable_by_key(|(at, _)| *at);
    errors.extend(stat_errors.into_iter().map(|(_, e)| e));
    out
}

/// One folder entry's metadata (symlinks followed: a linked artifact is
/// judged by what it points at; DirEntry::metadata does not follow them).
fn stat(entry: &fs::DirEntry) -> Result<Meta, (PathBuf, String)> {
    let meta = match entry.metadata() {
        Ok(m) if m.file_type().is_symlink() => fs::metadata(entry.path()),
        other => other,
    };
    meta.map(|m| Meta::of(&m))
        .map_err(|e| (entry.path(), lfb_core::error::describe_io(&e)))
}

/// The environment an artifact folder stands for (as `derived_record` has it).
fn folder_env(folder: &str) -> &str {
    if folder == MIGRATIONS { "prod" } else { folder }
}

/// The group an lfb file name belongs to, for leftovers and debris.
fn group_of_name(file: &str, folder: &str) -> Group {
    match ArtifactName::parse(file).or_else(|| naming::leftover(file).map(|(n, _)| n)) {
        Some(n) => Group::of(folder_env(folder), &n.name, n.kind.as_str(), &n.tag),
        None => Group::env(folder_env(folder)),
    }
}

/// Lists the store. `env` keeps only the artifacts of that environment.
// Long: one walk of the store folder by folder: each folder is read once and every file sorted into its kind here.
pub fn scan(store: &Store, env: Option<&str>) -> Inventory {
    let mut inv = Inventory::default();
    let root = store.root();
    if let Ok(meta) = fs::metadata(root) {
        inv.folders.push(Folder {
            path: root.to_path_buf(),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            group: Group::store(),
        });
    }
    let top = list(root, &mut inv.errors, false);
    let mut artifact_dirs = Vec::new();
    for l in top.iter() {
        if let Some(d) = debris(l.name, |n| top.contains(n), "", root) {
            inv.debris.push(d);
            continue;
        }
        if l.meta.is_dir {
            if l.name.starts_with('.') {
                continue;
            }
            let group = if l.name == LOGS || l.name == QUARANTINE {
                Group::store()
            } else {
                Group::env(folder_env(l.name))
            };
            inv.folders.push(Folder {
                path: root.join(l.name),
                mode: l.meta.mode,
                uid: l.meta.uid,
                group,
            });
            if l.name != LOGS && l.name != QUARANTINE {
                artifact_dirs.push((Box::<str>::from(l.name), root.join(l.name)));
            }
        } else if l.name.ends_with(PARTIAL_SUFFIX) {
            inv.partials.push(partial(&l, root, ""));
        }
    }
    drop(top);

    // A folder at a time: its artifacts found (only its listing held beside
    // the artifacts), then their sidecars read. Folders come in name order
    // and each one's files in name order, so file ids are given in the
    // order of the artifacts' paths.
    let mut group_index = HashMap::new();
    for (folder, dir) in artifact_dirs {
        let Ok(folder_no) = u16::try_from(inv.artifact_folders.len()) else {
            inv.errors
                .push((dir, "too many folders in the store to hold".to_string()));
            continue;
        };
        let start = inv.artifacts.len();
        let sidecars = find_artifacts(&mut inv, folder_no, &folder, &dir);
        inv.artifact_folders.push((folder, dir));
        load_records(&mut inv, start, &sidecars, &mut group_index);
        if let Some(env) = env {
            let before = inv.artifacts.len();
            let groups = &inv.groups;
            inv.artifacts
                .retain(|a| groups[a.group as usize].env.as_deref() == Some(env));
            inv.filtered_out += before - inv.artifacts.len();
        }
    }
    // By time, then path: file ids are in path order (above), so comparing
    // them orders as comparing the paths would, without making them. Ids
    // are unique: an unstable sort orders the same, without a buffer.
    inv.artifacts
        .sort_unstable_by(|a, b| a.created.cmp(&b.created).then_with(|| a.file.cmp(&b.file)));
    inv.artifacts.shrink_to_fit();
    inv.files.shrink_to_fit();

    let logs = store.logs_dir();
    let log_entries = list(&logs, &mut inv.errors, false);
    for l in log_entries.iter() {
        if let Some(d) = debris(l.name, |n| log_entries.contains(n), "", &logs) {
            inv.debris.push(d);
        } else if l.meta.is_file && logs.join(l.name) == store.journal_path() {
            inv.store_files
                .push(FileInfo::from_meta(logs.join(l.name), &l.meta));
        }
    }
    // Quarantine keeps same-named artifacts apart in quarantine/<env>/ and
    // quarantine/<env>/<n>/: every file below counts.
    let mut dirs = vec![(store.quarantine_dir(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let listing = list(&dir, &mut inv.errors, false);
        for l in listing.iter() {
            if l.meta.is_dir && depth < 2 {
                dirs.push((dir.join(l.name), depth + 1));
            } else {
                inv.quarantine.push(dir.join(l.name));
            }
        }
    }
    inv.quarantine.sort();
    inv
}

/// How an artifact's sidecar was listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SidecarListed {
    None,
    /// Stat'ed: its mode and owner are in the artifact.
    Stated,
    /// Not stat'ed: its metadata is taken when it is read.
    Deferred,
}

/// Lists the artifact folder `folder` (at `dir`, number `folder_no` in
/// [`Inventory::artifact_folders`]): its artifacts are added, their records
/// not yet read (`created` is the name's time, the group unknown), and so
/// are its leftovers and debris. Gives how each new artifact's sidecar was
/// listed.
fn find_artifacts(
    inv: &mut Inventory,
    folder_no: u16,
    folder: &str,
    dir: &Path,
) -> Vec<SidecarListed> {
    let listing = list(dir, &mut inv.errors, true);
    // At most every file stat'ed is an artifact.
    inv.artifacts.reserve_exact(listing.metas.len());
    let mut sidecars = Vec::with_capacity(listing.metas.len());
    let mut sidecar_name = String::new();
    for (at, l) in listing.iter().enumerate() {
        if !l.meta.is_file {
            continue;
        }
        if l.name.ends_with(PARTIAL_SUFFIX) {
            inv.partials.push(partial(&l, dir, folder));
            continue;
        }
        if let Some(d) = debris(l.name, |n| listing.contains(n), folder, dir) {
            inv.debris.push(d);
            continue;
        }
        if let Some((_, LeftoverKind::Sidecar)) = naming::leftover(l.name) {
            let artifact = l.name.strip_suffix(".json").unwrap_or(l.name);
            if listing.get_near(artifact, at).is_none()
                && !listing.contains(format!(".{artifact}.icloud").as_str())
            {
                let mut p = partial(&l, dir, folder);
                p.orphan_sidecar = true;
                inv.partials.push(p);
            }
            continue;
        }
        let Some(name) = ArtifactName::parse(l.name) else {
            continue;
        };
        let file = match inv.files.push(l.name, &name) {
            Ok(file) => file,
            Err(e) => {
                inv.errors.push((dir.join(l.name), e.line()));
                continue;
            }
        };
        if l.meta.dataless {
            inv.debris.push(Debris {
                path: dir.join(l.name),
                kind: DebrisKind::Placeholder,
                service: "icloud",
                original: l.name.to_string(),
                group: group_of_name(l.name, folder),
            });
        }
        sidecar_name.clear();
        sidecar_name.push_str(l.name);
        sidecar_name.push_str(".json");
        let (listed, side) = match listing.get_near(&sidecar_name, at) {
            Some(s) if s.deferred => (SidecarListed::Deferred, Meta::DEFERRED),
            Some(s) => (SidecarListed::Stated, s.meta),
            None => (SidecarListed::None, Meta::DEFERRED),
        };
        inv.artifacts.push(Artifact {
            bytes: l.meta.bytes,
            created: name.time,
            file,
            group: 0,
            uid: l.meta.uid,
            sidecar_uid: side.uid,
            mode: l.meta.mode as u16,
            sidecar_mode: side.mode as u16,
            folder: folder_no,
            dataless: l.meta.dataless,
            legacy: name.legacy,
            derived: true,
            verify_failed: false,
            has_sidecar: listed == SidecarListed::Stated,
        });
        sidecars.push(listed);
    }
    sidecars
}

fn partial(l: &Listed, dir: &Path, folder: &str) -> Partial {
    // NAME.partial, NAME.<pid>.partial, NAME.json.partial, NAME.json.
    let started = naming::leftover(l.name).map(|(n, _)| n.time);
    let group = if folder.is_empty() {
        Group::store()
    } else {
        group_of_name(l.name, folder)
    };
    Partial {
        file: FileInfo::from_meta(dir.join(l.name), &l.meta),
        started,
        group,
        orphan_sidecar: false,
    }
}

/// What one thread's share of a folder's artifacts gave beside them.
#[derive(Default)]
struct Loaded {
    /// Their groups, each once: an artifact's `group` indexes this until
    /// [`load_records`] makes it the inventory's.
    groups: Vec<Group>,
    ids: Vec<(FileId, Box<str>)>,
    sidecar_errors: Vec<(FileId, Box<str>)>,
    restore_tests: Vec<(FileId, DateTime<Utc>)>,
}

/// Reads the sidecars of the artifacts from `start` on (the last folder's,
/// their sidecars listed as `sidecars` says), on every core: parsing 10,000
/// of them one after the other would be most of the run. The artifacts are
/// filled in where they are, never copied.
fn load_records(
    inv: &mut Inventory,
    start: usize,
    sidecars: &[SidecarListed],
    group_index: &mut HashMap<Group, u32>,
) {
    let Inventory {
        artifacts,
        files,
        artifact_folders,
        groups,
        ids,
        sidecar_errors,
        restore_tests,
        ..
    } = inv;
    let (folder, dir) = artifact_folders.last().expect("the folder was added");
    let (folder, dir, files) = (&**folder, dir.as_path(), &*files);
    let arts = &mut artifacts[start..];
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = arts.len().div_ceil(workers).max(256);
    let loaded: Vec<Loaded> = std::thread::scope(|s| {
        let handles: Vec<_> = arts
            .chunks_mut(chunk)
            .zip(sidecars.chunks(chunk))
            .map(|(part, side)| {
                s.spawn(move || {
                    let mut out = Loaded::default();
                    let mut index = HashMap::new();
                    for (a, side) in part.iter_mut().zip(side) {
                        load_one(a, *side, files, folder, dir, &mut out, &mut index);
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sidecar loading does not panic"))
            .collect()
    });
    for (part, loaded) in arts.chunks_mut(chunk).zip(loaded) {
        let global: Vec<u32> = loaded
            .groups
            .into_iter()
            .map(|g| {
                *group_index.entry(g).or_insert_with_key(|g| {
                    groups.push(g.clone());
                    (groups.len() - 1) as u32
                })
            })
            .collect();
        for a in part {
            a.group = global[a.group as usize];
        }
        ids.extend(loaded.ids);
        sidecar_errors.extend(loaded.sidecar_errors);
        restore_tests.extend(loaded.restore_tests);
    }
}

/// Reads the sidecar of `a` (only the few fields the checks read, not the
/// whole record) into it; its group is added to `out.groups` by `index`.
fn load_one(
    a: &mut Artifact,
    sidecar: SidecarListed,
    files: &ArtifactFiles,
    folder: &str,
    dir: &Path,
    out: &mut Loaded,
    index: &mut HashMap<Group, u32>,
) {
    let path = dir.join(&*files.file_name(a.file));
    let name = files.name(a.file);
    let read = match sidecar {
        SidecarListed::Deferred => {
            let (read, meta) = store::read_sidecar_and_meta(&path);
            if let Some(m) = meta {
                a.sidecar_mode = (m.mode() & 0o7777) as u16;
                a.sidecar_uid = m.uid();
                a.has_sidecar = true;
            }
            Some(read)
        }
        SidecarListed::Stated => Some(store::read_sidecar(&path)),
        SidecarListed::None => None,
    };
    let summary = match read {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            out.sidecar_errors.push((a.file, e.line().into_boxed_str()));
            None
        }
        None => None,
    };
    a.derived = summary.is_none();
    let summary = summary.unwrap_or_default();
    // A derived record names the folder's environment (prod for migrations/).
    let env = store::env_of(folder, summary.env.as_deref());
    let group = Group::of(env, &name.name, name.kind.as_str(), &name.tag);
    a.group = match index.get(&group) {
        Some(&g) => g,
        None => {
            out.groups.push(group.clone());
            let g = (out.groups.len() - 1) as u32;
            index.insert(group, g);
            g
        }
    };
    a.created = summary.created_at.unwrap_or(name.time);
    if let Some(id) = summary.id.filter(|id| *id != name.id()) {
        out.ids.push((a.file, id.into_boxed_str()));
    }
    if let Some(t) = summary.restore_test_at {
        out.restore_tests.push((a.file, t));
    }
    a.verify_failed = summary.verify_ok == Some(false);
}

/// Recognises cloud-sync debris by name: iCloud placeholders
/// (`.NAME.icloud`) and conflict copies of iCloud (`NAME 2.EXT`), Dropbox
/// (`NAME (HOST's conflicted copy DATE).EXT`), Nextcloud (`NAME (conflicted
/// copy DATE TIME).EXT`) and Syncthing (`NAME.sync-conflict-DATE-TIME-ID.EXT`).
/// `dir` is the folder the file is in; `sibling` says whether a name is
/// beside it.
fn debris(file: &str, sibling: impl Fn(&str) -> bool, folder: &str, dir: &Path) -> Option<Debris> {
    let make = |kind, service, original: String| {
        let group = if folder.is_empty() {
            Group::store()
        } else {
            group_of_name(&original, folder)
        };
        Some(Debris {
            path: dir.join(file),
            kind,
            service,
            original,
            group,
        })
    };
    if let Some(inner) = file
        .strip_prefix('.')
        .and_then(|f| f.strip_suffix(".icloud"))
        .filter(|f| !f.is_empty())
    {
        return make(DebrisKind::Placeholder, "icloud", inner.to_string());
    }
    if let Some(i) = file.find(".sync-conflict-") {
        // NAME.sync-conflict-YYYYMMDD-HHMMSS-DEVICE.EXT
        let rest = &file[i + ".sync-conflict-".len()..];
        let ext = rest.find('.').map(|j| &rest[j..]).unwrap_or("");
        return make(
            DebrisKind::Conflict,
            "syncthing",
            format!("{}{ext}", &file[..i]),
        );
    }
    let lower = file.to_ascii_lowercase();
    if let Some(open) = lower.find(" (")
        && lower[open..].contains("conflicted copy")
    {
        let close = file[open..].find(')').map(|j| open + j + 1);
        let rest = close.map(|c| &file[c..]).unwrap_or("");
        let service = if lower[open..].starts_with(" (conflicted copy") {
            "nextcloud"
        } else {
            "dropbox"
        };
        return make(
            DebrisKind::Conflict,
            service,
            format!("{}{rest}", &file[..open]),
        );
    }
    // iCloud: " 2" (any number) before an extension or at the end. Names
    // lfb writes never contain spaces; only call it a conflict copy when the
    // name without the number is an lfb file or a file beside it.
    let bytes = file.as_bytes();
    for (i, _) in file.match_indices(' ') {
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = i + 1 + digits;
        if digits == 0 || !(end == bytes.len() || bytes[end] == b'.') {
            continue;
        }
        let original = format!("{}{}", &file[..i], &file[end..]);
        let known = sibling(original.as_str())
            || ArtifactName::parse(&original).is_some()
            || original
                .strip_suffix(".json")
                .is_some_and(|b| ArtifactName::parse(b).is_some())
            || original == "journal.ndjson";
        if known {
            return make(DebrisKind::Conflict, "icloud", original);
        }
    }
    None
}

/// The sync client whose folder holds the store, from its path.
pub fn sync_service(root: &Path) -> Option<&'static str> {
    let s = root.to_string_lossy();
    if s.contains("Mobile Documents") || s.contains("CloudDocs") {
        return Some("icloud");
    }
    if s.contains("Dropbox") {
        return Some("dropbox");
    }
    if s.contains("Nextcloud") {
        return Some("nextcloud");
    }
    if s.contains("Syncthing") || root.ancestors().any(|a| a.join(".stfolder").exists()) {
        return Some("syncthing");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(file: &str, siblings: &[&str]) -> Option<(DebrisKind, &'static str, String)> {
        debris(file, |n| siblings.contains(&n), "prod", Path::new("/x"))
            .map(|d| (d.kind, d.service, d.original))
    }

    #[test]
    fn cloud_debris_is_recognised() {
        let a = "app_db_hourly_20261127T020000Z.sql.gz";
        assert_eq!(
            d(&format!(".{a}.icloud"), &[]),
            Some((DebrisKind::Placeholder, "icloud", a.to_string()))
        );
        assert_eq!(
            d("app_db_hourly_20261127T020000Z 2.sql.gz", &[]),
            Some((DebrisKind::Conflict, "icloud", a.to_string()))
        );
        assert_eq!(
            d("app_db_hourly_20261127T020000Z.sql 2.gz", &[]),
            Some((DebrisKind::Conflict, "icloud", a.to_string()))
        );
        assert_eq!(
            d(
                "app_db_hourly_20261127T020000Z (web1's conflicted copy 2026-11-27).sql.gz",
                &[]
            ),
            Some((DebrisKind::Conflict, "dropbox", a.to_string()))
        );
        assert_eq!(
            d(
                "app_db_hourly_20261127T020000Z (conflicted copy 2026-11-27 020312).sql.gz",
                &[]
            ),
            Some((DebrisKind::Conflict, "nextcloud", a.to_string()))
        );
        assert_eq!(
            d(
                "app_db_hourly_20261127T020000Z.sync-conflict-20261127-020312-ABCDEFG.sql.gz",
                &[]
            ),
            Some((DebrisKind::Conflict, "syncthing", a.to_string()))
        );
        assert_eq!(
            d("journal 2.ndjson", &[]).map(|x| x.2),
            Some("journal.ndjson".into())
        );
        assert_eq!(
            d("notes 2.txt", &["notes.txt"]).map(|x| x.1),
            Some("icloud")
        );
    }

    #[test]
    fn ordinary_files_are_not_debris() {
        for f in [
            "app_db_hourly_20261127T020000Z.sql.gz",
            "notes 2.txt",
            "Meeting 2024.txt",
            ".lfb.lock",
            ".icloud",
        ] {
            assert_eq!(d(f, &[]), None, "{f}");
        }
    }

    #[test]
    fn an_artifact_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Artifact>(), 48);
    }

    #[test]
    fn a_listing_is_sorted_and_defers_sidecars_beside_their_artifact() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.sql.gz", "b.sql.gz.json", "a.sql.gz.json", "c.txt"] {
            fs::write(dir.path().join(f), "x").unwrap();
        }
        fs::create_dir(dir.path().join("d")).unwrap();
        let mut errors = Vec::new();
        let l = list(dir.path(), &mut errors, true);
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(&str, bool, bool)> = l
            .iter()
            .map(|e| (e.name, e.deferred, e.meta.is_dir))
            .collect();
        assert_eq!(
            got,
            [
                ("a.sql.gz.json", false, false),
                ("b.sql.gz", false, false),
                ("b.sql.gz.json", true, false),
                ("c.txt", false, false),
                ("d", false, true)
            ]
        );
        assert_eq!(l.get("b.sql.gz").unwrap().meta.bytes, 1);
        assert!(l.contains("d") && !l.contains("b.sql") && !l.contains("e"));
        // Without deferring, every entry is stat'ed.
        let l = list(dir.path(), &mut errors, false);
        assert!(l.iter().all(|e| !e.deferred) && l.entries.len() == 5);
    }

    #[test]
    fn a_missing_folder_lists_empty_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut errors = Vec::new();
        assert!(
            list(&dir.path().join("gone"), &mut errors, true)
                .entries
                .is_empty()
        );
        assert!(errors.is_empty());
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        assert!(list(&file, &mut errors, true).entries.is_empty());
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn sync_folders_are_named() {
        assert_eq!(
            sync_service(Path::new(
                "/Users/a/Library/Mobile Documents/com~apple~CloudDocs/b"
            )),
            Some("icloud")
        );
        assert_eq!(
            sync_service(Path::new("/home/a/Dropbox/b")),
            Some("dropbox")
        );
        assert_eq!(sync_service(Path::new("/nonexistent/plain/b")), None);
    }
}
