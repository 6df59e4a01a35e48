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

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lfb_core::fsutil::PARTIAL_SUFFIX;
use lfb_core::naming::{self, ArtifactName, LeftoverKind};
use lfb_core::store::{self, LOGS, MIGRATIONS, QUARANTINE};
use lfb_core::{Record, Store};

use crate::finding::Group;

/// What the guard needs to know of one file.
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

/// One artifact and everything known about it.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub file: FileInfo,
    /// Its name was written by the original shell scripts. (The parsed
    /// name is not kept: [`Artifact::name`] parses it again from the path;
    /// its three strings were a third of a 100,000-artifact store's
    /// memory.)
    pub legacy: bool,
    /// The record's id when it is not the name's. The record itself is not
    /// kept: [`Artifact::record`] reads it again for the few artifacts
    /// verified.
    id: Option<Box<str>>,
    /// The store folder it is in (shared by the folder's artifacts).
    pub folder: Arc<str>,
    /// The record was derived from the name (no sidecar, or a broken one).
    pub derived: bool,
    pub sidecar: Option<SidecarMeta>,
    /// Why the sidecar could not be used.
    pub sidecar_error: Option<Box<str>>,
    /// Shared by the artifacts of a group.
    pub group: Arc<Group>,
    /// From the record's `created_at`, else the name: never the mtime, which
    /// cloud clients and copies rewrite.
    pub created: DateTime<Utc>,
    /// When its last restore test passed (`verify.restore_test`).
    pub restore_test: Option<DateTime<Utc>>,
    /// Its remembered verification failed (`verify.ok` false).
    pub verify_failed: bool,
}

impl Artifact {
    /// Its name, parsed again from its path.
    pub fn name(&self) -> ArtifactName {
        self.file
            .path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(ArtifactName::parse)
            .expect("artifacts have artifact names")
    }

    /// The record's id, else the name's.
    pub fn id(&self) -> String {
        match &self.id {
            Some(id) => id.to_string(),
            None => self.name().id(),
        }
    }

    /// Encrypted with age (its name ends in `.age`).
    pub fn encrypted(&self) -> bool {
        self.file
            .path
            .as_os_str()
            .as_encoded_bytes()
            .ends_with(b".age")
    }

    /// The record, read again from the sidecar (or derived from the name
    /// when there is none, or it was unusable).
    pub fn record(&self) -> Record {
        let name = self.name();
        let derived = || store::derived_record(&self.file.path, &name, &self.folder);
        if self.derived {
            return derived();
        }
        store::load_record(&self.file.path, &name, &self.folder)
            .map(|(r, _)| r)
            .unwrap_or_else(|_| derived())
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
    /// Oldest first.
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
}

/// A folder entry. Its path is `dir.join(name)`, made only where it is
/// kept: a folder of 60,000 files would hold 60,000 paths for nothing.
struct Listed {
    name: String,
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

/// Reads a folder: every entry with its metadata (symlinks followed).
/// With `defer_sidecars`, a regular file `X.json` beside an `X` is not
/// stat'ed ([`Listed::deferred`]): half of an artifact folder's entries,
/// whose metadata comes with reading them.
fn list(dir: &Path, errors: &mut Vec<(PathBuf, String)>, defer_sidecars: bool) -> Vec<Listed> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                errors.push((dir.to_path_buf(), lfb_core::error::describe_io(&e)));
            }
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    for entry in rd {
        match entry {
            Ok(e) => entries.push(e),
            Err(e) => errors.push((dir.to_path_buf(), lfb_core::error::describe_io(&e))),
        }
    }
    let deferred: Vec<bool> = if defer_sidecars {
        let names: std::collections::HashSet<std::ffi::OsString> =
            entries.iter().map(|e| e.file_name()).collect();
        entries
            .iter()
            .map(|e| {
                let name = e.file_name();
                name.to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .is_some_and(|base| names.contains(std::ffi::OsStr::new(base)))
                    && e.file_type().is_ok_and(|t| t.is_file())
            })
            .collect()
    } else {
        vec![false; entries.len()]
    };
    let entries: Vec<(fs::DirEntry, bool)> = entries.into_iter().zip(deferred).collect();
    // The stat calls are most of a large folder's listing: on every core.
    let stated = lfb_core::par::map(&entries, |(e, deferred)| stat(e, *deferred));
    drop(entries);
    let mut out = Vec::with_capacity(stated.len());
    for r in stated {
        match r {
            Ok(l) => out.push(l),
            Err(e) => errors.push(e),
        }
    }
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One folder entry with its metadata (symlinks followed: a linked
/// artifact is judged by what it points at; DirEntry::metadata does not
/// follow them).
fn stat(entry: &fs::DirEntry, deferred: bool) -> Result<Listed, (PathBuf, String)> {
    if deferred {
        return Ok(Listed {
            name: entry.file_name().to_string_lossy().into_owned(),
            meta: Meta::DEFERRED,
            deferred: true,
        });
    }
    let meta = match entry.metadata() {
        Ok(m) if m.file_type().is_symlink() => fs::metadata(entry.path()),
        other => other,
    };
    match meta {
        Ok(meta) => Ok(Listed {
            name: entry.file_name().to_string_lossy().into_owned(),
            meta: Meta::of(&meta),
            deferred: false,
        }),
        Err(e) => Err((entry.path(), lfb_core::error::describe_io(&e))),
    }
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
    let names: BTreeSet<&str> = top.iter().map(|l| l.name.as_str()).collect();
    let mut artifact_dirs = Vec::new();
    for l in &top {
        if let Some(d) = debris(&l.name, &names, "", root) {
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
                Group::env(folder_env(&l.name))
            };
            inv.folders.push(Folder {
                path: root.join(&l.name),
                mode: l.meta.mode,
                uid: l.meta.uid,
                group,
            });
            if l.name != LOGS && l.name != QUARANTINE {
                artifact_dirs.push((l.name.clone(), root.join(&l.name)));
            }
        } else if l.name.ends_with(PARTIAL_SUFFIX) {
            inv.partials.push(partial(l, root, ""));
        }
    }

    // Artifacts found, before their records are read: a folder at a time,
    // so only one folder's listing is held beside the artifacts.
    let mut per_folder: Vec<Vec<Artifact>> = Vec::new();
    for (folder, dir) in &artifact_dirs {
        let mut found: Vec<Option<Found>> = Vec::new();
        let shared: Arc<str> = Arc::from(folder.as_str());
        let entries = list(dir, &mut inv.errors, true);
        let names: BTreeSet<&str> = entries.iter().map(|l| l.name.as_str()).collect();
        let mut sidecars: BTreeMap<&str, &Listed> = BTreeMap::new();
        for l in &entries {
            if let Some(base) = l.name.strip_suffix(".json")
                && names.contains(base)
            {
                sidecars.insert(base, l);
            }
        }
        found.reserve_exact(entries.len() - sidecars.len());
        for l in &entries {
            if !l.meta.is_file {
                continue;
            }
            if l.name.ends_with(PARTIAL_SUFFIX) {
                inv.partials.push(partial(l, dir, folder));
                continue;
            }
            if let Some(d) = debris(&l.name, &names, folder, dir) {
                inv.debris.push(d);
                continue;
            }
            if let Some((_, LeftoverKind::Sidecar)) = naming::leftover(&l.name) {
                let artifact = l.name.strip_suffix(".json").unwrap_or(&l.name);
                if !names.contains(artifact)
                    && !names.contains(format!(".{artifact}.icloud").as_str())
                {
                    let mut p = partial(l, dir, folder);
                    p.orphan_sidecar = true;
                    inv.partials.push(p);
                }
                continue;
            }
            let Some(name) = ArtifactName::parse(&l.name) else {
                continue;
            };
            let file = FileInfo::from_meta(dir.join(&l.name), &l.meta);
            if file.dataless {
                inv.debris.push(Debris {
                    path: file.path.clone(),
                    kind: DebrisKind::Placeholder,
                    service: "icloud",
                    original: l.name.clone(),
                    group: group_of_name(&l.name, folder),
                });
            }
            let side = sidecars.get(l.name.as_str()).map(|s| Side {
                meta: SidecarMeta {
                    mode: s.meta.mode,
                    uid: s.meta.uid,
                },
                deferred: s.deferred,
            });
            found.push(Some((file, name, shared.clone(), side)));
        }
        drop(sidecars);
        drop(names);
        drop(entries);
        for mut loaded in load_records(found) {
            if let Some(env) = env {
                let before = loaded.len();
                loaded.retain(|a| a.group.env.as_deref() == Some(env));
                inv.filtered_out += before - loaded.len();
            }
            per_folder.push(loaded);
        }
    }
    // Joined into one vector of the exact size (the parts are each
    // reading thread's share of a folder): growing it part by part would
    // hold the old and the new copy at once.
    inv.artifacts = Vec::with_capacity(per_folder.iter().map(Vec::len).sum());
    for loaded in per_folder {
        inv.artifacts.extend(loaded);
    }
    // Paths are unique: an unstable sort orders the same, without a buffer.
    // (Paths are compared only for equal times: comparing them component
    // by component was a tenth of a 100,000-artifact run.)
    inv.artifacts.sort_unstable_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then_with(|| a.file.path.cmp(&b.file.path))
    });

    let logs = store.logs_dir();
    let log_entries = list(&logs, &mut inv.errors, false);
    let names: BTreeSet<&str> = log_entries.iter().map(|l| l.name.as_str()).collect();
    for l in &log_entries {
        if let Some(d) = debris(&l.name, &names, "", &logs) {
            inv.debris.push(d);
        } else if l.meta.is_file && logs.join(&l.name) == store.journal_path() {
            inv.store_files
                .push(FileInfo::from_meta(logs.join(&l.name), &l.meta));
        }
    }
    // Quarantine keeps same-named artifacts apart in quarantine/<env>/ and
    // quarantine/<env>/<n>/: every file below counts.
    let mut dirs = vec![(store.quarantine_dir(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for l in list(&dir, &mut inv.errors, false) {
            if l.meta.is_dir && depth < 2 {
                dirs.push((dir.join(&l.name), depth + 1));
            } else {
                inv.quarantine.push(dir.join(&l.name));
            }
        }
    }
    inv.quarantine.sort();
    inv
}

fn partial(l: &Listed, dir: &Path, folder: &str) -> Partial {
    // NAME.partial, NAME.<pid>.partial, NAME.json.partial, NAME.json.
    let started = naming::leftover(&l.name).map(|(n, _)| n.time);
    let group = if folder.is_empty() {
        Group::store()
    } else {
        group_of_name(&l.name, folder)
    };
    Partial {
        file: FileInfo::from_meta(dir.join(&l.name), &l.meta),
        started,
        group,
        orphan_sidecar: false,
    }
}

/// An artifact listed, before its sidecar is read.
type Found = (FileInfo, ArtifactName, Arc<str>, Option<Side>);

/// A sidecar listed: its metadata, unless it is to be taken when it is
/// read ([`Listed::deferred`]).
struct Side {
    meta: SidecarMeta,
    deferred: bool,
}

/// Reads the sidecars, on every core: parsing 10,000 of them one after the
/// other would be most of the run. What was listed is moved into the
/// artifacts, never copied (a store of 100,000 artifacts is held once).
fn load_records(mut found: Vec<Option<Found>>) -> Vec<Vec<Artifact>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = found.len().div_ceil(workers).max(256);
    let parts = found.chunks_mut(chunk);
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    let mut groups = BTreeMap::new();
                    part.iter_mut()
                        .filter_map(Option::take)
                        .map(|f| load_one(f, &mut groups))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sidecar loading does not panic"))
            .collect()
    })
}

fn load_one(
    (file, name, folder, sidecar): Found,
    groups: &mut BTreeMap<Group, Arc<Group>>,
) -> Artifact {
    // Only the few fields the checks read, not the whole record.
    let (read, sidecar) = match sidecar {
        Some(Side { deferred: true, .. }) => {
            let (read, meta) = store::read_sidecar_and_meta(&file.path);
            let meta = meta.map(|m| SidecarMeta {
                mode: m.mode() & 0o7777,
                uid: m.uid(),
            });
            (Some(read), meta)
        }
        Some(side) => (Some(store::read_sidecar(&file.path)), Some(side.meta)),
        None => (None, None),
    };
    let (summary, sidecar_error) = match read {
        Some(Ok(s)) => (s, None),
        Some(Err(e)) => (None, Some(e.line().into_boxed_str())),
        None => (None, None),
    };
    let derived = summary.is_none();
    let summary = summary.unwrap_or_default();
    // A derived record names the folder's environment (prod for migrations/).
    let env = store::env_of(&folder, summary.env.as_deref()).to_string();
    let group = Group::of(&env, &name.name, name.kind.as_str(), &name.tag);
    let group = match groups.get(&group) {
        Some(g) => g.clone(),
        None => {
            let g = Arc::new(group.clone());
            groups.insert(group, g.clone());
            g
        }
    };
    let created = summary.created_at.unwrap_or(name.time);
    let id = summary
        .id
        .filter(|id| *id != name.id())
        .map(String::into_boxed_str);
    Artifact {
        file,
        legacy: name.legacy,
        id,
        folder,
        derived,
        sidecar,
        sidecar_error,
        group,
        created,
        restore_test: summary.restore_test_at,
        verify_failed: summary.verify_ok == Some(false),
    }
}

/// Recognises cloud-sync debris by name: iCloud placeholders
/// (`.NAME.icloud`) and conflict copies of iCloud (`NAME 2.EXT`), Dropbox
/// (`NAME (HOST's conflicted copy DATE).EXT`), Nextcloud (`NAME (conflicted
/// copy DATE TIME).EXT`) and Syncthing (`NAME.sync-conflict-DATE-TIME-ID.EXT`).
/// `dir` is the folder the file is in.
fn debris(file: &str, siblings: &BTreeSet<&str>, folder: &str, dir: &Path) -> Option<Debris> {
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
        let known = siblings.contains(original.as_str())
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
        let s: BTreeSet<&str> = siblings.iter().copied().collect();
        debris(file, &s, "prod", Path::new("/x")).map(|d| (d.kind, d.service, d.original))
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
