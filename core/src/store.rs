//! The store: where artifacts live, and how to find them.
//!
//! ```text
//! STORE/
//!   dev/ test/ prod/      one folder per environment
//!   migrations/           pre-migration backups
//!   logs/journal.ndjson   one event per line
//!   quarantine/           artifacts that failed verification, moved aside
//! ```
//!
//! STORE comes from `--store`, else `LFB_STORE`, else on macOS the iCloud
//! Drive folder the original scripts used (when iCloud Drive exists), else
//! `$XDG_DATA_HOME/lfb/backups` (`~/.local/share/lfb/backups`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, PARTIAL_SUFFIX};
use crate::naming::{self, ArtifactName};
use crate::record::{self, Record};

mod names;
mod spill;
mod summary;
pub use names::{ArtifactFiles, FileId, FolderListing, NameId, Names};
pub use spill::{LineRef, LineSpill};
pub use summary::Sidecar;

/// Folder of pre-migration backups.
pub const MIGRATIONS: &str = "migrations";
/// Folder of the journal.
pub const LOGS: &str = "logs";
/// Folder failed artifacts are moved to.
pub const QUARANTINE: &str = "quarantine";
/// Names that are store folders, not environments.
const RESERVED: &[&str] = &[MIGRATIONS, LOGS, QUARANTINE];

/// The iCloud Drive folder of the original scripts, relative to `$HOME`.
pub const ICLOUD_STORE: &str =
    "Library/Mobile Documents/com~apple~CloudDocs/repos/LedgerFlow_Archive/backups";

/// Picks the environment: `--env`, `LFB_ENV`, `LEDGER_ENV`, else `dev`.
pub fn resolve_env(flag: Option<&str>) -> Result<String> {
    let (env, from) = match flag {
        Some(e) => (e.to_string(), "--env"),
        None => match std::env::var("LFB_ENV").ok().filter(|s| !s.is_empty()) {
            Some(e) => (e, "LFB_ENV"),
            None => match std::env::var("LEDGER_ENV").ok().filter(|s| !s.is_empty()) {
                Some(e) => (e, "LEDGER_ENV"),
                None => match crate::config::current()?.and_then(|c| c.file.default_env.as_ref()) {
                    Some(e) => (e.get_ref().clone(), "the config file's default_env"),
                    None => ("dev".to_string(), "default"),
                },
            },
        },
    };
    if !naming::valid_tag(&env) || RESERVED.contains(&env.as_str()) {
        return Err(Error::usage(format!(
            "invalid environment '{env}' (from {from}): use lower-case letters, digits and '-', not one of {}",
            RESERVED.join(", ")
        )));
    }
    Ok(env)
}

/// An artifact found in the store, with its record (from the sidecar, or
/// derived from the file name when there is none).
#[derive(Debug, Clone)]
pub struct StoredArtifact {
    pub path: PathBuf,
    pub name: ArtifactName,
    /// The environment folder it lives in (`migrations` for that folder).
    pub folder: String,
    pub record: Record,
    /// True when the record was derived from the file name (no sidecar).
    pub derived: bool,
}

impl StoredArtifact {
    /// The environment this artifact belongs to ([`artifact_env`]).
    pub fn env(&self) -> &str {
        artifact_env(&self.folder, &self.record)
    }

    /// True when environment `env` covers this artifact ([`artifact_env`]).
    pub fn in_env(&self, env: &str) -> bool {
        self.env() == env
    }
}

/// The environment an artifact belongs to, the same in every tool (verify
/// `--all --env`, prune's scope, guard's groups, restore `--latest`): an
/// environment folder's artifacts belong to that environment, whatever a
/// copied sidecar says; `migrations/` holds the pre-migration backups of
/// every environment, each belonging to the environment its record names
/// (one without a sidecar was made by the original `safe_migrate.sh`, which
/// only ran in prod). So an environment covers its own folder and its share
/// of `migrations/`.
pub fn artifact_env<'a>(folder: &'a str, record: &'a Record) -> &'a str {
    env_of(folder, record.env())
}

/// [`artifact_env`] from the folder and the `env` the record names, for
/// tools that read only a few fields of each sidecar (lfb-list).
pub fn env_of<'a>(folder: &'a str, record_env: Option<&'a str>) -> &'a str {
    if folder == MIGRATIONS {
        record_env
            .filter(|e| naming::valid_tag(e) && !RESERVED.contains(e))
            .unwrap_or("prod")
    } else {
        folder
    }
}

/// A backup store rooted at an absolute path.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Resolves the store from the flag, the environment, or the default.
    pub fn resolve(flag: Option<&Path>) -> Result<Store> {
        let root = match flag {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("LFB_STORE").filter(|s| !s.is_empty()) {
                Some(p) => PathBuf::from(p),
                None => default_root()?,
            },
        };
        Ok(Store::at(&root))
    }

    /// A store at `root` (made absolute).
    pub fn at(root: &Path) -> Store {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder artifacts of `env` and `tag` go to.
    pub fn dir_for(&self, env: &str, tag: &str) -> PathBuf {
        if tag == "pre-migration" {
            self.root.join(MIGRATIONS)
        } else {
            self.root.join(env)
        }
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join(LOGS)
    }
    pub fn journal_path(&self) -> PathBuf {
        self.logs_dir().join("journal.ndjson")
    }
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join(QUARANTINE)
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(".lfb.lock")
    }

    /// Creates `dir` (inside the store) 0700, as a start-up step: failure
    /// means the store is not writable (exit 2).
    pub fn ensure_dir(&self, dir: &Path) -> Result<()> {
        fsutil::create_private_dir(dir).map_err(|e| {
            Error::unavailable(format!(
                "store '{}' is not writable: {}",
                self.root.display(),
                e.line()
            ))
        })
    }

    /// The folder a new artifact is written in: beside `output` when given
    /// (which must not exist: lfb never overwrites a backup), else the
    /// store folder of `env` and `tag`. Created 0700; failure means the tool
    /// cannot start (exit 2).
    pub fn target_dir(&self, output: Option<&Path>, env: &str, tag: &str) -> Result<PathBuf> {
        match output {
            Some(o) => {
                if o.exists() {
                    return Err(Error::usage(format!(
                        "output '{}' already exists; lfb never overwrites a backup",
                        o.display()
                    )));
                }
                let parent = fsutil::parent_dir(o);
                fsutil::create_private_dir(parent).map_err(Error::at_start)?;
                Ok(parent.to_path_buf())
            }
            None => {
                let d = self.dir_for(env, tag);
                self.ensure_dir(&d)?;
                Ok(d)
            }
        }
    }

    /// The environment folders and `migrations/` that exist.
    pub fn artifact_dirs(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut dirs = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dirs),
            Err(e) => return Err(Error::io_path("read", &self.root, e).at_start()),
        };
        for entry in entries {
            let entry = entry.with_path("read", &self.root)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == LOGS || name == QUARANTINE || name.starts_with('.') {
                continue;
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                dirs.push((name, entry.path()));
            }
        }
        dirs.sort();
        Ok(dirs)
    }

    /// Every artifact in the store, oldest first. Files lfb does not
    /// recognise (and `*.partial`, sidecars) are not artifacts.
    pub fn artifacts(&self) -> Result<Vec<StoredArtifact>> {
        let mut out = Vec::new();
        self.visit_artifacts(|a| {
            out.push(a);
            Ok(())
        })?;
        out.sort_by(|a, b| {
            a.name
                .time
                .cmp(&b.name.time)
                .then_with(|| a.path.cmp(&b.path))
        });
        Ok(out)
    }

    /// The artifacts `keep` accepts, oldest first (the order of
    /// [`Store::artifacts`]), each by its path and time with its record not
    /// read yet: a store-wide run (`lfb-verify --all`, `lfb-copy --all`)
    /// holds these, about 150 bytes each, instead of every parsed record
    /// (~4.6 KB each), and reads a record when it gets to it
    /// ([`ArtifactRef::load`]). Found with [`Store::visit_sidecars`]: a
    /// sidecar that is not a valid record stops it with the same error.
    pub fn artifact_refs(&self, mut keep: impl FnMut(&Found) -> bool) -> Result<Vec<ArtifactRef>> {
        let mut out = Vec::new();
        self.visit_sidecars(|found| {
            if keep(&found) {
                out.push(ArtifactRef {
                    time: found.name.time,
                    path: found.path,
                    folder: found.folder,
                });
            }
            Ok(())
        })?;
        out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.path.cmp(&b.path)));
        Ok(out)
    }

    /// Hands every artifact to `f` one at a time, folder by folder in name
    /// order, so a tool that keeps only a summary of each never holds all
    /// the records at once (100,000 parsed sidecars are ~460 MB).
    pub fn visit_artifacts(&self, mut f: impl FnMut(StoredArtifact) -> Result<()>) -> Result<()> {
        for (folder, dir) in self.artifact_dirs()? {
            let mut names: Vec<String> = fs::read_dir(&dir)
                .with_path("read", &dir)?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for file in names {
                let Some(name) = ArtifactName::parse(&file) else {
                    continue;
                };
                let path = dir.join(&file);
                let (record, derived) = load_record(&path, &name, &folder)?;
                f(StoredArtifact {
                    path,
                    name,
                    folder: folder.clone(),
                    record,
                    derived,
                })?;
            }
        }
        Ok(())
    }

    /// Hands every artifact to `f` with the few fields of its sidecar that
    /// listing and planning read ([`Sidecar`]), never building its record:
    /// the fast way to go through a large store. Sidecars are read and
    /// parsed on every core, a bounded batch at a time, and handed over in
    /// the order [`Store::visit_artifacts`] uses. A sidecar that is not a
    /// valid record stops the walk with the same error.
    pub fn visit_sidecars(&self, f: impl FnMut(Found) -> Result<()>) -> Result<()> {
        self.visit(false, f).map(drop)
    }

    /// [`Store::visit_sidecars`] for a tool that prints records too: each
    /// [`Found`] also carries its record line ([`record_line`]) from the
    /// same read of its sidecar, so no sidecar is read twice. Returns what
    /// killed runs left in the folders ([`Store::leftovers`]), seen in the
    /// same listing.
    pub fn visit_records(&self, f: impl FnMut(Found) -> Result<()>) -> Result<Leftovers> {
        self.visit(true, f)
    }

    fn visit(&self, lines: bool, mut f: impl FnMut(Found) -> Result<()>) -> Result<Leftovers> {
        let mut leftovers = Leftovers::default();
        for (folder, dir) in self.artifact_dirs()? {
            let files = FolderListing::read_hashing_sidecars(&dir)?;
            leftovers.add(&dir, &files)?;
            // Sidecars are half the names and never artifact names (no
            // artifact format ends in `.json`).
            let names = files
                .iter()
                .filter(|(file, is_file)| *is_file && !file.ends_with(".json"))
                .map(|(file, _)| file);
            visit_names(&dir, &folder, names, lines, &mut f)?;
        }
        leftovers.sort();
        Ok(leftovers)
    }

    /// Checks, for tools that only read the store, that it exists: they
    /// never create it (exit 2 when it does not exist).
    pub fn require_existing(&self) -> Result<()> {
        if self.root.is_dir() {
            return Ok(());
        }
        Err(Error::usage(format!(
            "store '{}' does not exist (give --store DIR or set LFB_STORE; lfb-dump creates it)",
            self.root.display()
        )))
    }

    /// `--env ENV`, given on the command line, must name an environment the
    /// store has: its folder, or the env of a pre-migration backup (exit 2
    /// naming the environments there are).
    pub fn require_env(&self, env: &str) -> Result<()> {
        if self.root.join(env).is_dir() {
            return Ok(());
        }
        let mut envs = std::collections::BTreeSet::new();
        for (folder, _) in self.artifact_dirs()? {
            if folder != MIGRATIONS {
                envs.insert(folder);
            }
        }
        let migrations = self.root.join(MIGRATIONS);
        if migrations.is_dir() {
            let mut found = false;
            self.visit_folder_sidecars(&migrations, |a| {
                let e = env_of(MIGRATIONS, a.sidecar.env.as_deref());
                found |= e == env;
                envs.insert(e.to_string());
                Ok(())
            })?;
            if found {
                return Ok(());
            }
        }
        let have = if envs.is_empty() {
            "none yet".to_string()
        } else {
            envs.into_iter().collect::<Vec<_>>().join(", ")
        };
        Err(Error::usage(format!(
            "no environment '{env}' in store '{}' (it has: {have})",
            self.root.display()
        )))
    }

    fn visit_folder_sidecars(
        &self,
        dir: &Path,
        mut f: impl FnMut(Found) -> Result<()>,
    ) -> Result<()> {
        let folder = dir
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let names: Vec<String> = fs::read_dir(dir)
            .with_path("read", dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        visit_names(
            dir,
            &folder,
            names.iter().map(String::as_str),
            false,
            &mut f,
        )
    }

    /// `*.partial` files left in artifact folders.
    pub fn partials(&self) -> Result<Vec<PathBuf>> {
        Ok(self.leftovers()?.partials)
    }

    /// What killed runs leave in the artifact folders, from one listing of
    /// each: `*.partial` files, and sidecars whose artifact is gone
    /// ([`Store::orphan_sidecars`]).
    pub fn leftovers(&self) -> Result<Leftovers> {
        let mut out = Leftovers::default();
        for (_, dir) in self.artifact_dirs()? {
            out.add(&dir, &FolderListing::read_hashing_sidecars(&dir)?)?;
        }
        out.sort();
        Ok(out)
    }
}

/// An artifact found by [`Store::visit_sidecars`]: where it is, its name,
/// and what its sidecar says (empty when it has none).
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub name: ArtifactName,
    /// The environment folder it lives in (`migrations` for that folder),
    /// shared by the folder's artifacts.
    pub folder: std::sync::Arc<str>,
    pub sidecar: Sidecar,
    /// True when it has no sidecar (its record is derived from the name).
    pub derived: bool,
    /// Its record line ([`record_line`]), read with its sidecar, when the
    /// walk was [`Store::visit_records`] and the sidecar is one plain line.
    pub line: Option<String>,
}

impl Found {
    /// The environment this artifact belongs to ([`artifact_env`]), from
    /// the `env` its sidecar names.
    pub fn env(&self) -> &str {
        env_of(&self.folder, self.sidecar.env.as_deref())
    }
}

/// An artifact of the store by where it is and when it was made, its record
/// not read yet ([`Store::artifact_refs`]).
#[derive(Debug, Clone)]
pub struct ArtifactRef {
    pub path: PathBuf,
    pub time: chrono::DateTime<chrono::Utc>,
    folder: std::sync::Arc<str>,
}

impl ArtifactRef {
    /// The artifact with its record, read now ([`load_record`]): one
    /// deleted since it was listed has the record its name gives.
    pub fn load(&self) -> Result<StoredArtifact> {
        let file = self
            .path
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default();
        let name = ArtifactName::parse(&file)
            .ok_or_else(|| Error::input(format!("'{}' is not an artifact name", file)))?;
        let (record, derived) = load_record(&self.path, &name, &self.folder)?;
        Ok(StoredArtifact {
            path: self.path.clone(),
            name,
            folder: self.folder.to_string(),
            record,
            derived,
        })
    }
}

/// Records to work through one at a time: the ones given (arguments,
/// stdin), or a store's artifacts ([`Store::artifact_refs`]) whose records
/// are read as they are reached, so a store-wide run holds one record at a
/// time.
#[derive(Debug)]
pub enum Records {
    Given(std::vec::IntoIter<Record>),
    Stored(std::vec::IntoIter<ArtifactRef>),
}

impl Records {
    pub fn given(records: Vec<Record>) -> Records {
        Records::Given(records.into_iter())
    }

    pub fn stored(refs: Vec<ArtifactRef>) -> Records {
        Records::Stored(refs.into_iter())
    }

    /// How many are left.
    pub fn len(&self) -> usize {
        match self {
            Records::Given(r) => r.len(),
            Records::Stored(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        match self {
            Records::Given(r) => r.next().map(Ok),
            Records::Stored(r) => r.next().map(|a| a.load().map(|a| a.record)),
        }
    }
}

/// What the sidecar of `artifact` says ([`Sidecar`]), `None` when it has
/// none; a sidecar that is not a valid record is an error naming it, as
/// [`load_record`] has it.
pub fn read_sidecar(artifact: &Path) -> Result<Option<Sidecar>> {
    let sidecar = sidecar_path(artifact);
    match with_small_text(&sidecar, |text| text.and_then(|t| Sidecar::parse(t).ok())) {
        Ok(Some(summary)) => return Ok(Some(summary)),
        Ok(None) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_path("read", &sidecar, e)),
    }
    // Not valid as read: read again the ordinary way, for the error (or in
    // case the quick read was short, see fsutil::read_small).
    match fs::read_to_string(&sidecar) {
        Ok(text) => Sidecar::parse(&text)
            .map(Some)
            .map_err(|e| Error::input(format!("sidecar '{}': {}", sidecar.display(), e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io_path("read", &sidecar, e)),
    }
}

/// [`read_sidecar`] and [`record_line`] from one read of the sidecar.
fn read_sidecar_and_line(artifact: &Path) -> Result<Option<(Sidecar, Option<String>)>> {
    let both = with_small_text(&sidecar_path(artifact), |text| {
        let text = text?;
        let summary = Sidecar::parse(text).ok()?;
        Some((summary, line_of_valid(artifact, text)))
    });
    match both {
        Ok(Some(both)) => Ok(Some(both)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Not valid as read, or not read: read_sidecar says why.
        _ => Ok(read_sidecar(artifact)?.map(|s| (s, None))),
    }
}

/// [`read_sidecar`], with the sidecar's metadata taken from the file it
/// read (`fstat`), for a tool that checks sidecars' permissions without
/// a `stat` of each by path. The metadata is `None` when there is no
/// sidecar, and from `stat` when it could not be opened (an unreadable
/// sidecar still has an owner and a mode).
pub fn read_sidecar_and_meta(artifact: &Path) -> (Result<Option<Sidecar>>, Option<fs::Metadata>) {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let sidecar = sidecar_path(artifact);
    let read = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let (bytes, meta) = crate::fsutil::read_small_with_meta(&sidecar, &mut buf)?;
        let summary = std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| Sidecar::parse(t).ok());
        Ok::<_, std::io::Error>((summary, meta))
    });
    match read {
        Ok((Some(summary), meta)) => (Ok(Some(summary)), Some(meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Ok(None), None),
        // Not valid as read, or not opened: read_sidecar says why.
        Ok((None, meta)) => (read_sidecar(artifact), Some(meta)),
        Err(_) => (read_sidecar(artifact), fs::metadata(&sidecar).ok()),
    }
}

/// Calls `f` with the text of the small file at `path` (`None` when it is
/// not UTF-8), read with [`crate::fsutil::read_small`] into a buffer kept
/// per thread: sidecars are read by the 100,000 when a tool goes through a
/// whole store.
pub fn with_small_text<T>(path: &Path, f: impl FnOnce(Option<&str>) -> T) -> std::io::Result<T> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let bytes = crate::fsutil::read_small(path, &mut buf)?;
        Ok(f(std::str::from_utf8(bytes).ok()))
    })
}

/// Hands `f` the artifacts among `files` (names in `dir`) in order, their
/// sidecars read on every core a batch at a time. Names that are not
/// artifact names are passed over. (Reading the next batch while `f`
/// takes this one was slower: the sidecars' strings, allocated by the
/// readers and freed by `f`'s thread, then contend for malloc's locks.)
fn visit_names<'a>(
    dir: &Path,
    folder: &str,
    mut files: impl Iterator<Item = &'a str>,
    lines: bool,
    mut f: impl FnMut(Found) -> Result<()>,
) -> Result<()> {
    /// Artifacts read between two hand-overs: bounds memory.
    const BATCH: usize = 4096;
    let folder: std::sync::Arc<str> = folder.into();
    let mut batch: Vec<&str> = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        batch.extend(files.by_ref().take(BATCH));
        if batch.is_empty() {
            return Ok(());
        }
        for found in crate::par::map(&batch, |file| found_in(dir, &folder, file, lines)) {
            if let Some(found) = found? {
                f(found)?;
            }
        }
    }
}

/// The artifact `file` in `dir` with what its sidecar says, `None` when
/// `file` is not an artifact name.
fn found_in(
    dir: &Path,
    folder: &std::sync::Arc<str>,
    file: &str,
    lines: bool,
) -> Result<Option<Found>> {
    let Some(name) = ArtifactName::parse(file) else {
        return Ok(None);
    };
    let path = dir.join(file);
    let read = if lines {
        read_sidecar_and_line(&path)?
    } else {
        read_sidecar(&path)?.map(|s| (s, None))
    };
    let (sidecar, derived, line) = match read {
        Some((s, line)) => (s, false, line),
        None => {
            // What a derived record says: the folder's environment.
            let env = if &**folder == MIGRATIONS {
                "prod"
            } else {
                folder
            };
            let sidecar = Sidecar {
                id: Some(name.id()),
                env: Some(env.to_string()),
                tag: Some(name.tag.clone()),
                created_at: Some(name.time),
                ..Sidecar::default()
            };
            (sidecar, true, None)
        }
    };
    Ok(Some(Found {
        path,
        name,
        folder: folder.clone(),
        sidecar,
        derived,
        line,
    }))
}

/// What [`Store::leftovers`] finds.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// `*.partial` files, sorted.
    pub partials: Vec<PathBuf>,
    /// Sidecars without their artifact, each with its artifact's name,
    /// sorted by path.
    pub orphans: Vec<(PathBuf, ArtifactName)>,
}

impl Leftovers {
    /// Adds what the listing `files` of `dir` shows.
    fn add(&mut self, dir: &Path, files: &FolderListing) -> Result<()> {
        for (file, _) in files.iter() {
            if file.ends_with(PARTIAL_SUFFIX) {
                self.partials.push(dir.join(file));
            }
        }
        self.orphans.extend(orphans_in(dir, files)?);
        Ok(())
    }

    fn sort(&mut self) {
        self.partials.sort();
        self.orphans.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The orphan sidecars of `dir`, from its [`FolderListing`]: no `stat` per
/// sidecar (a store of 100,000 artifacts is checked in a blink). A sidecar
/// whose artifact the listing lacks is confirmed with `lstat` before it is
/// called an orphan, so an artifact renamed into place while the folder was
/// read is not missed.
fn orphans_in(dir: &Path, files: &FolderListing) -> Result<Vec<(PathBuf, ArtifactName)>> {
    let mut out = Vec::new();
    // An artifact a cloud client evicted is still there, as `.NAME.icloud`:
    // its sidecar is no orphan (lone_sidecars knows).
    for file in files.lone_sidecars(dir)? {
        let artifact = file.strip_suffix(".json").unwrap_or(&file);
        let evicted = format!(".{artifact}.icloud");
        if let Some((name, naming::LeftoverKind::Sidecar)) = naming::leftover(&file)
            && fs::symlink_metadata(dir.join(artifact)).is_err()
            && fs::symlink_metadata(dir.join(&evicted)).is_err()
        {
            out.push((dir.join(&file), name));
        }
    }
    Ok(out)
}

fn default_root() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if cfg!(target_os = "macos")
        && let Some(h) = &home
    {
        let drive = h.join("Library/Mobile Documents/com~apple~CloudDocs");
        if drive.is_dir() {
            return Ok(h.join(ICLOUD_STORE));
        }
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(x).join("lfb/backups"));
    }
    match home {
        Some(h) => Ok(h.join(".local/share/lfb/backups")),
        None => Err(Error::usage(
            "no store: pass --store DIR or set LFB_STORE (HOME is not set)",
        )),
    }
}

/// A free path for a new artifact in `dir`: `name` as given, else one
/// second later, and so on, so two runs in the same second never collide.
/// Call it under the store lock.
pub fn free_path(dir: &Path, mut name: ArtifactName) -> PathBuf {
    loop {
        let p = dir.join(name.file_name());
        if !p.exists() && !sidecar_path(&p).exists() {
            return p;
        }
        name.time += chrono::Duration::seconds(1);
    }
}

/// The sidecar path of an artifact: `<artifact>.json`.
pub fn sidecar_path(artifact: &Path) -> PathBuf {
    let mut s = artifact.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// The record of an artifact: its sidecar (with `path` set to where the file
/// is now), or one derived from the name, marked `"derived": true`.
pub fn load_record(path: &Path, name: &ArtifactName, folder: &str) -> Result<(Record, bool)> {
    let sidecar = sidecar_path(path);
    match fs::read_to_string(&sidecar) {
        Ok(text) => {
            let mut r = Record::from_json(&text)
                .map_err(|e| Error::input(format!("sidecar '{}': {}", sidecar.display(), e)))?;
            r.set("path", json!(path.to_string_lossy()));
            Ok((r, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok((derived_record(path, name, folder), true))
        }
        Err(e) => Err(Error::io_path("read", &sidecar, e)),
    }
}

/// The record line of an artifact straight from its one-line sidecar, with
/// `path` set to where the artifact is now, without building the record:
/// the sidecar as it is when its `path` is current (the usual case), else
/// with its one `"path":"…"` member replaced. `None` when the sidecar is not
/// that simple (several lines, the same `path` string elsewhere too, a
/// `prune` member a tool would replace): the caller then parses it whole.
pub fn record_line(artifact: &Path) -> Option<String> {
    with_small_text(&sidecar_path(artifact), |text| {
        text.and_then(|t| record_line_of(artifact, t))
    })
    .ok()?
}

/// [`record_line`] of a sidecar already read: `text` is its contents.
///
/// The top-level `path` member is found by [`top_level_member`] (one pass,
/// no allocation), the line proven to be JSON by a parse that builds
/// nothing, and the member's value replaced when it is not where the
/// artifact is now.
fn record_line_of(artifact: &Path, text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    line_of_valid(artifact, text)
}

/// [`record_line_of`] of a text already known to be JSON (it parsed as a
/// [`Sidecar`]).
fn line_of_valid(artifact: &Path, text: &str) -> Option<String> {
    let text = text.trim_end();
    if text.contains('\n') || !text.ends_with('}') {
        return None;
    }
    let members = top_level_members(text)?;
    if members.prune {
        return None;
    }
    let (start, end) = members.path?;
    let stored: String = serde_json::from_str(&text[start..end]).ok()?;
    let now = artifact.to_str()?;
    if stored == now {
        return Some(text.to_string());
    }
    let now = serde_json::to_string(now).ok()?;
    let mut line = String::with_capacity(text.len() + now.len());
    line.push_str(&text[..start]);
    line.push_str(&now);
    line.push_str(&text[end..]);
    Some(line)
}

/// What [`record_line_of`] needs to know of a record's top-level members.
struct TopLevel {
    /// The byte range of the `path` member's value (a JSON string).
    path: Option<(usize, usize)>,
    /// A `prune` member is there.
    prune: bool,
}

/// Scans a one-line JSON object for its top-level `path` and `prune`
/// members, tracking strings (with escapes) and nesting. `None` when the
/// text is not one object, a key repeats, or `path` is not a string.
fn top_level_members(text: &str) -> Option<TopLevel> {
    let b = text.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut out = TopLevel {
        path: None,
        prune: false,
    };
    let mut depth = 0usize;
    let mut i = 0;
    // The last string seen at depth 1 was a key (an object's members
    // alternate key, value).
    let mut expect_key = false;
    let mut key: Option<(usize, usize)> = None;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if i >= b.len() {
                    return None;
                }
                if depth == 1 {
                    if expect_key {
                        // An escaped key could spell `path`: parse whole.
                        if text[start + 1..i].contains('\\') {
                            return None;
                        }
                        key = Some((start + 1, i));
                        expect_key = false;
                    } else if let Some((ks, ke)) = key.take() {
                        match &text[ks..ke] {
                            "path" if out.path.is_some() => return None,
                            "path" => out.path = Some((start, i + 1)),
                            "prune" => out.prune = true,
                            _ => {}
                        }
                    }
                }
            }
            b'{' | b'[' => {
                if depth == 1 {
                    check_key(text, key.take(), &mut out)?;
                }
                depth += 1;
                if depth == 1 {
                    if i != 0 {
                        return None;
                    }
                    expect_key = true;
                }
            }
            b'}' | b']' => {
                if depth == 1 {
                    check_key(text, key.take(), &mut out)?;
                }
                depth = depth.checked_sub(1)?;
                if depth == 0 && i + 1 != b.len() {
                    return None;
                }
            }
            b',' if depth == 1 => {
                check_key(text, key.take(), &mut out)?;
                expect_key = true;
            }
            _ => {}
        }
        i += 1;
    }
    (depth == 0).then_some(out)
}

/// A key whose value was not a string: `prune` is noted; a `path` that is
/// not a string makes the line one to parse whole.
fn check_key(text: &str, key: Option<(usize, usize)>, out: &mut TopLevel) -> Option<()> {
    if let Some((ks, ke)) = key {
        match &text[ks..ke] {
            "path" => return None,
            "prune" => out.prune = true,
            _ => {}
        }
    }
    Some(())
}

/// What can be said of an artifact from its name and folder alone.
pub fn derived_record(path: &Path, name: &ArtifactName, folder: &str) -> Record {
    let env = if folder == MIGRATIONS { "prod" } else { folder };
    let mut m = serde_json::Map::new();
    m.insert("schema".into(), json!(record::SCHEMA));
    m.insert("id".into(), json!(name.id()));
    m.insert("kind".into(), json!(name.kind.as_str()));
    m.insert("env".into(), json!(env));
    m.insert("tag".into(), json!(name.tag));
    m.insert("path".into(), json!(path.to_string_lossy()));
    m.insert("created_at".into(), json!(record::format_time(name.time)));
    m.insert("format".into(), json!(name.format()));
    m.insert("derived".into(), json!(true));
    Record::from_object(m).expect("derived records are well-formed")
}

/// The record for a path given on the command line: the sidecar when there
/// is one, else what the name tells, else only the path.
pub fn record_for_path(path: &Path) -> Result<Record> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let file = abs
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = abs
        .parent()
        .and_then(Path::file_name)
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dev".into());
    match ArtifactName::parse(&file) {
        Some(name) => Ok(load_record(&abs, &name, &folder)?.0),
        None => {
            let sidecar = sidecar_path(&abs);
            if let Ok(text) = fs::read_to_string(&sidecar) {
                let mut r = Record::from_json(&text)
                    .map_err(|e| Error::input(format!("sidecar '{}': {}", sidecar.display(), e)))?;
                r.set("path", json!(abs.to_string_lossy()));
                return Ok(r);
            }
            let mut m = serde_json::Map::new();
            m.insert("schema".into(), json!(record::SCHEMA));
            m.insert("path".into(), json!(abs.to_string_lossy()));
            m.insert("derived".into(), json!(true));
            Record::from_object(m)
        }
    }
}

/// An artifact a tool may move, delete or overwrite: see [`Store::confine`].
#[derive(Debug, Clone)]
pub struct OwnedArtifact {
    /// Its real path (symlinks and `..` resolved), inside the store.
    pub path: PathBuf,
    pub name: ArtifactName,
    /// The store folder it is in (an environment, or `migrations`).
    pub folder: String,
}

impl OwnedArtifact {
    /// Its sidecar's path.
    pub fn sidecar(&self) -> PathBuf {
        sidecar_path(&self.path)
    }
}

/// The confinement rule (README, "Guarantees"): a tool only ever moves,
/// deletes or overwrites files it recognises as artifacts (or their
/// sidecars, partials, locks) under the store's own folders, whatever a
/// record says. Every tool that does so asks here first.
impl Store {
    /// Checks that `path` is an artifact this store owns: its name parses
    /// as an artifact name, it is a regular file (not a symlink), and its
    /// real folder (symlinks and `..` resolved) is one of the store's
    /// artifact folders (`STORE/<env>/` or `STORE/migrations/`, the
    /// folders [`Store::artifact_dirs`] lists). Anything else is refused
    /// with a message naming the path and why (exit 2).
    pub fn confine(&self, path: &Path) -> Result<OwnedArtifact> {
        let refuse = |why: String| {
            Error::input(format!(
                "refusing to move or delete '{}': {why}",
                path.display()
            ))
        };
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or_else(|| refuse("it does not end in a file name".into()))?;
        let name = ArtifactName::parse(file)
            .ok_or_else(|| refuse("not an artifact name lfb writes or recognises".into()))?;
        let root = fs::canonicalize(&self.root).map_err(|e| {
            refuse(format!(
                "the store '{}' cannot be resolved: {}",
                self.root.display(),
                crate::error::describe_io(&e)
            ))
        })?;
        let abs = std::path::absolute(path).map_err(|e| refuse(crate::error::describe_io(&e)))?;
        let parent = fsutil::parent_dir(&abs);
        let real_parent = fs::canonicalize(parent).map_err(|e| {
            refuse(format!(
                "its folder cannot be resolved: {}",
                crate::error::describe_io(&e)
            ))
        })?;
        let outside = || {
            refuse(format!(
                "it is not in one of the store's artifact folders ('{}/<env>/', '{}/{MIGRATIONS}/')",
                root.display(),
                root.display()
            ))
        };
        let rel = real_parent.strip_prefix(&root).map_err(|_| outside())?;
        let mut comps = rel.components();
        let folder = match (comps.next(), comps.next()) {
            (Some(std::path::Component::Normal(f)), None) => f.to_string_lossy().into_owned(),
            _ => return Err(outside()),
        };
        if folder.starts_with('.') || folder == LOGS || folder == QUARANTINE {
            return Err(outside());
        }
        let real = real_parent.join(file);
        match fs::symlink_metadata(&real) {
            Ok(m) if m.file_type().is_file() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse("it is a symbolic link, not an artifact file".into()));
            }
            Ok(_) => return Err(refuse("not a regular file".into())),
            Err(e) => return Err(refuse(crate::error::describe_io(&e))),
        }
        Ok(OwnedArtifact {
            path: real,
            name,
            folder,
        })
    }

    /// Sidecars whose artifact is gone (`X.json` without `X`): what a kill
    /// between a sidecar's write and its artifact's rename (or between a
    /// deletion's two steps) leaves. Each with its artifact's name.
    pub fn orphan_sidecars(&self) -> Result<Vec<(PathBuf, ArtifactName)>> {
        Ok(self.leftovers()?.orphans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_checked() {
        assert_eq!(resolve_env(Some("prod")).unwrap(), "prod");
        assert!(resolve_env(Some("../x")).is_err());
        assert!(resolve_env(Some("logs")).is_err());
    }

    #[test]
    fn an_environment_covers_its_folder_and_its_share_of_migrations() {
        let rec = |env: &str| {
            Record::from_json(&format!(
                r#"{{"schema":"lfb/1","path":"/p","env":"{env}"}}"#
            ))
            .unwrap()
        };
        assert_eq!(artifact_env("dev", &rec("prod")), "dev");
        assert_eq!(artifact_env(MIGRATIONS, &rec("dev")), "dev");
        assert_eq!(artifact_env(MIGRATIONS, &rec("migrations")), "prod");
        let derived = Record::from_json(r#"{"schema":"lfb/1","path":"/p"}"#).unwrap();
        assert_eq!(artifact_env(MIGRATIONS, &derived), "prod");
    }

    #[test]
    fn listing_skips_foreign_partial_and_sidecar_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let dev = dir.path().join("dev");
        fs::create_dir_all(&dev).unwrap();
        for f in [
            "a_db_hourly_20261127T020000Z.sql.gz",
            "a_db_hourly_20261127T030000Z.sql.gz.partial",
            "notes.txt",
            "ledgerflow_backup_20261120_010000.sql.gz",
        ] {
            fs::write(dev.join(f), b"x").unwrap();
        }
        let arts = store.artifacts().unwrap();
        assert_eq!(arts.len(), 2);
        assert!(arts[0].derived && arts[1].derived);
        assert_eq!(arts[0].record.env(), Some("dev"));
        assert_eq!(store.partials().unwrap().len(), 1);
    }

    #[test]
    fn artifact_refs_are_the_artifacts_in_order_with_records_read_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        for folder in ["dev", "prod", MIGRATIONS] {
            fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        let files = [
            "prod/a_db_hourly_20261127T030000Z.sql.gz",
            "dev/a_db_hourly_20261127T030000Z.sql.gz",
            "dev/a_db_hourly_20261127T020000Z.sql.gz",
            "migrations/a_db_pre-migrate_20261127T010000Z.sql.gz",
            "dev/notes.txt",
        ];
        for f in files {
            fs::write(dir.path().join(f), b"x").unwrap();
        }
        // A pre-migration backup of dev: its sidecar names the environment.
        let m = dir.path().join(files[3]);
        fs::write(
            sidecar_path(&m),
            format!(
                r#"{{"schema":"lfb/1","id":"m1","env":"dev","path":"{}"}}"#,
                m.display()
            ),
        )
        .unwrap();
        let all = store.artifact_refs(|_| true).unwrap();
        let rel = |r: &ArtifactRef| {
            r.path
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        // Oldest first; the same moment in path order, as artifacts() has it.
        let order: Vec<String> = all.iter().map(rel).collect();
        let old: Vec<String> = store
            .artifacts()
            .unwrap()
            .iter()
            .map(|a| {
                a.path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(order, [files[3], files[2], files[1], files[0]]);
        assert_eq!(order, old);
        // --env dev covers its folder and its share of migrations/.
        let dev = store.artifact_refs(|a| a.env() == "dev").unwrap();
        assert_eq!(dev.len(), 3);
        assert_eq!(store.artifact_refs(|a| a.env() == "prod").unwrap().len(), 1);
        // The record is read when loaded: the sidecar as it is then.
        let loaded = dev[0].load().unwrap();
        assert_eq!(loaded.record.id(), Some("m1"));
        assert!(!loaded.derived);
        fs::remove_file(sidecar_path(&m)).unwrap();
        let again = dev[0].load().unwrap();
        assert!(again.derived);
        let records: Vec<Record> = Records::stored(dev).collect::<Result<_>>().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].env(), Some("dev"));
    }

    #[test]
    fn a_record_line_is_the_sidecar_with_only_its_top_level_path_changed() {
        let now = Path::new("/s/dev/a_db_hourly_20261127T020000Z.sql.gz");
        let same =
            r#"{"schema":"lfb/1","path":"/s/dev/a_db_hourly_20261127T020000Z.sql.gz","bytes":3}"#;
        assert_eq!(record_line_of(now, same).as_deref(), Some(same));
        assert_eq!(
            record_line_of(now, &format!("{same}\n")).as_deref(),
            Some(same)
        );
        // Moved: the top-level path is replaced, and only it (the source
        // names the same old path, and strings hold braces and quotes).
        let moved = r#"{"a":"} \"path\":{","source":{"path":"/old/x","n":[1,{"path":"/old/x"}]},"path":"/old/x","z":null}"#;
        let line = record_line_of(now, moved).unwrap();
        let want = {
            let mut v: serde_json::Value = serde_json::from_str(moved).unwrap();
            v["path"] = json!(now.to_str().unwrap());
            v
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            want
        );
        assert!(line.contains(r#""source":{"path":"/old/x","n":[1,{"path":"/old/x"}]}"#));
        // A nested prune member is data; a top-level one is replaced by the
        // tool, so such a line is parsed whole, as is anything unusual.
        let nested = r#"{"path":"/old/x","source":{"tables":{"prune":1}}}"#;
        assert!(record_line_of(now, nested).is_some());
        for whole in [
            r#"{"path":"/old/x","prune":{"action":"keep"}}"#,
            r#"{"prune":"x","path":"/old/x"}"#,
            r#"{"path":"/old/x","prune":1}"#,
            r#"{"path":1}"#,
            r#"{"path":{"a":1}}"#,
            r#"{"path":"/a","path":"/b"}"#,
            r#"{"pa\u0074h":"/a"}"#,
            r#"{"bytes":3}"#,
            r#"{"path":"/old/x","bytes":tru}"#,
            r#"{"path":"/old/x"}{}"#,
            r#"{"path":"/old/x""#,
            "{\"path\":\"/old/x\",\n\"bytes\":3}",
            r#"["path","/old/x"]"#,
        ] {
            assert_eq!(record_line_of(now, whole), None, "{whole}");
        }
    }

    #[test]
    fn orphan_sidecars_are_those_whose_artifact_is_not_there_in_any_form() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let dev = dir.path().join("dev");
        fs::create_dir_all(&dev).unwrap();
        let name = |h: u32| format!("a_db_hourly_20261127T{h:02}0000Z.sql.gz");
        // 0: artifact and sidecar; 1: sidecar only; 2: evicted by iCloud;
        // 3: the artifact is a symlink (still there); 4: a "sidecar" that is
        // a folder; 5: a sidecar of a name that is not an artifact name.
        for h in 0..5 {
            if h == 4 {
                fs::create_dir(dev.join(format!("{}.json", name(h)))).unwrap();
            } else {
                fs::write(dev.join(format!("{}.json", name(h))), b"{}").unwrap();
            }
        }
        fs::write(dev.join(name(0)), b"x").unwrap();
        fs::write(dev.join(format!(".{}.icloud", name(2))), b"x").unwrap();
        std::os::unix::fs::symlink("/nonexistent", dev.join(name(3))).unwrap();
        fs::write(dev.join("notes.json"), b"{}").unwrap();
        let orphans = store.orphan_sidecars().unwrap();
        let files: Vec<String> = orphans
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, [format!("{}.json", name(1))]);
        assert_eq!(orphans[0].1.file_name(), name(1));
    }

    #[test]
    fn confine_accepts_only_artifacts_in_the_stores_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = Store::at(&root);
        let dev = root.join("dev");
        let elsewhere = dir.path().join("elsewhere");
        for d in [
            &dev,
            &root.join("quarantine"),
            &elsewhere,
            &root.join("logs"),
        ] {
            fs::create_dir_all(d).unwrap();
        }
        let name = "a_db_hourly_20261127T020000Z.sql.gz";
        for d in [
            &dev,
            &elsewhere,
            &root.join("quarantine"),
            &root.join("logs"),
            &root,
        ] {
            fs::write(d.join(name), b"x").unwrap();
        }
        fs::write(dev.join("notes.txt"), b"x").unwrap();
        let owned = store.confine(&dev.join(name)).unwrap();
        assert_eq!(owned.folder, "dev");
        // Through `..` and a symlinked folder, it is still the same file.
        let via = root.join("quarantine/../dev").join(name);
        assert_eq!(store.confine(&via).unwrap().path, owned.path);
        std::os::unix::fs::symlink(&elsewhere, root.join("prod")).unwrap();
        std::os::unix::fs::symlink(
            elsewhere.join(name),
            dev.join("b_db_hourly_20261127T020000Z.sql.gz"),
        )
        .unwrap();
        for bad in [
            elsewhere.join(name),
            dev.join("../../elsewhere").join(name),
            root.join("prod").join(name),
            root.join("quarantine").join(name),
            root.join("logs").join(name),
            root.join(name),
            dev.join("notes.txt"),
            dev.join("b_db_hourly_20261127T020000Z.sql.gz"),
            dev.join("a_db_hourly_20261127T030000Z.sql.gz"),
            PathBuf::from("/"),
        ] {
            let e = store.confine(&bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{}", bad.display());
            assert!(e.to_string().contains("refusing"), "{e}");
        }
    }
}
