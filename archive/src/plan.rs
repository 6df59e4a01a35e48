//! What goes into an archive, decided before a single file is read: a walk
//! over metadata only (`lstat`, `readdir`, `readlink`), so `manifest.json`
//! can be written first while every file is still read exactly once later.
//!
//! Member order is deterministic: `db/` (dumps by file name), `media/` (each
//! folder by its member name, then depth-first with entries sorted by their
//! byte names, a folder before its contents), `config/` (by member name).
//! Paths named on the command line are followed when they are symlinks (as
//! `cp -H` does: the user named the thing, not the link); symlinks inside
//! folders are stored as links, never followed. FIFOs, sockets and devices
//! are skipped with a warning and listed in the manifest's `skipped`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use lfb_core::archive::{Dump, EntryKind, Member, Role, Skipped, SourceDir, mode_string};
use lfb_core::cli::Ui;
use lfb_core::error::{Error, IoContext, Result};
use lfb_core::{Kind, Record};

/// A member to write, with where its data comes from.
#[derive(Debug, Clone)]
pub struct Entry {
    pub member: Member,
    /// The file to read (regular files only).
    pub source: PathBuf,
    pub uid: u64,
    pub gid: u64,
    /// What the walk saw, to tell whether the file changed before or while
    /// it was read.
    pub seen: Identity,
}

/// The facts that change when a file's content does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
}

impl Identity {
    pub fn of(m: &Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// `--exclude` patterns. A pattern leaves out an entry (and everything
/// under a folder) when it matches its name, its path below the folder
/// given (`cache/x.tmp`), or its path in the archive (`media/m/cache/x.tmp`).
/// `*` matches across `/` too, so `*.tmp` works at any depth.
#[derive(Debug, Clone, Default)]
pub struct Excludes(pub Vec<glob::Pattern>);

impl Excludes {
    fn matches(&self, name: &str, below: &str, member: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        self.0.iter().any(|p| {
            p.matches_with(name, opts)
                || p.matches_with(below, opts)
                || p.matches_with(member, opts)
        })
    }
}

/// Everything the archive will hold, in order.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<Entry>,
    pub sources: Vec<SourceDir>,
    pub dumps: Vec<Dump>,
    /// The dumps' records, in the order they arrived.
    pub dump_records: Vec<Record>,
    pub skipped: Vec<Skipped>,
}

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub media: Vec<PathBuf>,
    pub config: Vec<String>,
    pub exclude: Excludes,
    /// Where `media` and `config` came from, for messages: `--media`,
    /// `--config`, or the config file's section and key.
    pub media_from: String,
    pub config_from: String,
}

/// Walks everything the archive will hold. Sources that do not exist stop
/// the run before anything is written (exit 2); dumps that do not match
/// their records stop it as failed backups (exit 1).
pub fn build(dumps: &[Record], src: &Sources, ui: &Ui) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut taken = Claims::default();
    plan_dumps(dumps, &mut taken, &mut plan)?;
    plan_media(src, &mut taken, &mut plan, ui)?;
    plan_config(src, &mut taken, &mut plan, ui)?;
    Ok(plan)
}

/// Member paths already taken, and by which source.
#[derive(Default)]
struct Claims(BTreeMap<String, String>);

impl Claims {
    /// Claims a member path; false when the same source already has it (two
    /// globs matching one file), an error when another source does.
    fn claim(&mut self, member: &str, from: &Path, what: &str) -> Result<bool> {
        // The same thing named twice (`m` and `./m`, two matching globs) is
        // one source.
        let from = fs::canonicalize(from)
            .unwrap_or_else(|_| from.to_path_buf())
            .display()
            .to_string();
        match self.0.insert(member.to_string(), from.clone()) {
            None => Ok(true),
            Some(other) if other == from => Ok(false),
            Some(other) => Err(Error::usage(format!(
                "{what} '{from}' and '{other}' would both be stored as '{member}': rename one or leave one out"
            ))),
        }
    }
}

/// The dumps, as db/NAME, each checked against its record's size.
fn plan_dumps(dumps: &[Record], taken: &mut Claims, plan: &mut Plan) -> Result<()> {
    let mut db = Vec::new();
    for r in dumps {
        if r.kind() == Some(Kind::Full) {
            return Err(Error::input(format!(
                "record {}: lfb-archive bundles dumps (kind db), not archives (kind full)",
                r.label()
            )));
        }
        let path = r
            .path()
            .ok_or_else(|| Error::input(format!("record {}: no path", r.label())))?;
        let meta = fs::metadata(&path).map_err(|e| {
            Error::failed(format!(
                "dump '{}': {}",
                path.display(),
                lfb_core::error::describe_io(&e)
            ))
        })?;
        if !meta.is_file() {
            return Err(Error::failed(format!(
                "dump '{}': not a regular file",
                path.display()
            )));
        }
        if let Some(b) = r.bytes()
            && b != meta.len()
        {
            return Err(Error::failed(format!(
                "dump '{}': {} bytes, its record says {b}: the dump changed since it was made; not archiving it",
                path.display(),
                meta.len()
            )));
        }
        let name = file_name_utf8(&path)?;
        let member = format!("db/{name}");
        if !taken.claim(&member, &path, "dump")? {
            continue;
        }
        let mut entry = entry_for(&member, Role::Db, EntryKind::File, &meta, &path);
        entry.member.sha256 = r.sha256().map(str::to_string);
        db.push((
            entry,
            Dump {
                member,
                record: serde_json::Value::Object(r.as_object().clone()),
            },
        ));
        plan.dump_records.push(r.clone());
    }
    db.sort_by(|a, b| a.0.member.path.cmp(&b.0.member.path));
    for (e, d) in db {
        plan.entries.push(e);
        plan.dumps.push(d);
    }
    Ok(())
}

/// Where a source folder or file came from, for restoring it in place.
fn source_dir(role: Role, member: &str, path: &Path) -> SourceDir {
    SourceDir {
        role,
        member: member.to_string(),
        from: absolute(path),
        relative: std::env::current_dir()
            .ok()
            .and_then(|cwd| lfb_core::archive::relative_to(path, &cwd)),
    }
}

/// The media folders, as media/NAME/..., sorted.
fn plan_media(src: &Sources, taken: &mut Claims, plan: &mut Plan, ui: &Ui) -> Result<()> {
    let mut roots = Vec::new();
    for dir in &src.media {
        let meta = fs::metadata(dir).map_err(|e| {
            Error::usage(format!(
                "{} '{}': {}",
                src.media_from,
                dir.display(),
                lfb_core::error::describe_io(&e)
            ))
        })?;
        if !meta.is_dir() {
            return Err(Error::usage(format!(
                "{} '{}': not a folder",
                src.media_from,
                dir.display()
            )));
        }
        let name = root_name(dir)?;
        let member = format!("media/{name}");
        if !taken.claim(&member, dir, &src.media_from)? {
            continue;
        }
        roots.push((member, dir.clone(), meta));
    }
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    for (member, dir, meta) in roots {
        plan.sources.push(source_dir(Role::Media, &member, &dir));
        plan.entries
            .push(entry_for(&member, Role::Media, EntryKind::Dir, &meta, &dir));
        walk(&dir, &member, "", Role::Media, &src.exclude, plan, ui)?;
    }
    Ok(())
}

/// The configuration files (and folders), as config/NAME, sorted.
fn plan_config(src: &Sources, taken: &mut Claims, plan: &mut Plan, ui: &Ui) -> Result<()> {
    let mut configs = Vec::new();
    for arg in &src.config {
        for path in expand(arg, &src.config_from, ui)? {
            let name = root_name(&path)?;
            let member = format!("config/{name}");
            if src.exclude.matches(&name, &name, &member) {
                ui.debug(format!("excluded {}", path.display()));
                continue;
            }
            let meta = fs::metadata(&path).map_err(|e| {
                Error::usage(format!(
                    "{} '{}': {}",
                    src.config_from,
                    path.display(),
                    lfb_core::error::describe_io(&e)
                ))
            })?;
            if !(meta.is_file() || meta.is_dir()) {
                skip(plan, ui, &member, &path, kind_name(&meta));
                continue;
            }
            if taken.claim(&member, &path, &src.config_from)? {
                configs.push((member, path, meta));
            }
        }
    }
    configs.sort_by(|a, b| a.0.cmp(&b.0));
    for (member, path, meta) in configs {
        plan.sources.push(source_dir(Role::Config, &member, &path));
        let kind = if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        plan.entries
            .push(entry_for(&member, Role::Config, kind, &meta, &path));
        if meta.is_dir() {
            walk(&path, &member, "", Role::Config, &src.exclude, plan, ui)?;
        }
    }
    Ok(())
}

/// The paths a `--config` argument names: a glob's matches (sorted; none is
/// a warning), or the path itself, which must exist.
fn expand(arg: &str, from: &str, ui: &Ui) -> Result<Vec<PathBuf>> {
    if !arg.contains(['*', '?', '[']) {
        let p = PathBuf::from(arg);
        return match fs::symlink_metadata(&p) {
            Ok(_) => Ok(vec![p]),
            Err(e) => Err(Error::usage(format!(
                "{from} '{arg}': {}",
                lfb_core::error::describe_io(&e)
            ))),
        };
    }
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut out = Vec::new();
    for m in glob::glob_with(arg, opts)
        .map_err(|e| Error::usage(format!("{from} '{arg}': invalid pattern: {e}")))?
    {
        match m {
            Ok(p) => out.push(p),
            Err(e) => ui.warn(format!("{from} '{arg}': {e}")),
        }
    }
    if out.is_empty() {
        ui.warn(format!("{from} '{arg}' matches nothing"));
    }
    out.sort();
    Ok(out)
}

/// Adds everything below `dir` (member `member`), sorted, depth-first.
fn walk(
    dir: &Path,
    member: &str,
    below: &str,
    role: Role,
    ex: &Excludes,
    plan: &mut Plan,
    ui: &Ui,
) -> Result<()> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
        .with_path("read folder", dir)?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(&name);
        let Some(name) = name.to_str() else {
            // The manifest is JSON, which cannot hold arbitrary bytes.
            skip(plan, ui, member, &path, "name is not valid UTF-8");
            continue;
        };
        let m = format!("{member}/{name}");
        let b = if below.is_empty() {
            name.to_string()
        } else {
            format!("{below}/{name}")
        };
        if ex.matches(name, &b, &m) {
            ui.debug(format!("excluded {}", path.display()));
            continue;
        }
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Gone between readdir and lstat: it is simply not there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io_path("read", &path, e)),
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            plan.entries
                .push(entry_for(&m, role, EntryKind::Dir, &meta, &path));
            walk(&path, &m, &b, role, ex, plan, ui)?;
        } else if ft.is_file() {
            plan.entries
                .push(entry_for(&m, role, EntryKind::File, &meta, &path));
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).with_path("read link", &path)?;
            let Some(target) = target.to_str() else {
                skip(plan, ui, &m, &path, "link target is not valid UTF-8");
                continue;
            };
            let mut e = entry_for(&m, role, EntryKind::Symlink, &meta, &path);
            e.member.target = Some(target.to_string());
            plan.entries.push(e);
        } else {
            skip(plan, ui, &m, &path, kind_name(&meta));
        }
    }
    Ok(())
}

fn skip(plan: &mut Plan, ui: &Ui, member: &str, path: &Path, reason: &str) {
    ui.warn(format!("skipping '{}': {reason}", path.display()));
    plan.skipped.push(Skipped {
        path: member.to_string(),
        reason: reason.to_string(),
    });
}

fn kind_name(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a file, folder or symlink"
    }
}

pub(crate) fn entry_for(
    member: &str,
    role: Role,
    kind: EntryKind,
    meta: &Metadata,
    src: &Path,
) -> Entry {
    Entry {
        member: Member {
            path: member.to_string(),
            role,
            kind,
            size: (kind == EntryKind::File).then_some(meta.len()),
            mode: mode_string(meta.mode()),
            // tar keeps whole seconds from the epoch; earlier times become 0.
            mtime: meta.mtime().max(0) as u64,
            target: None,
            sha256: None,
        },
        source: src.to_path_buf(),
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        seen: Identity::of(meta),
    }
}

/// The name a command-line path is stored under: its last component (of the
/// absolute, normalised path for `.`, `..` or a trailing `/`).
fn root_name(p: &Path) -> Result<String> {
    let name = match p.file_name() {
        Some(n) if !p.ends_with("..") => Some(n.to_os_string()),
        _ => fs::canonicalize(p)
            .ok()
            .and_then(|c| c.file_name().map(|n| n.to_os_string())),
    };
    let name = name.ok_or_else(|| {
        Error::usage(format!(
            "'{}' has no name to store it under; name a folder inside it",
            p.display()
        ))
    })?;
    name.into_string().map_err(|n| {
        Error::usage(format!(
            "'{}': the name is not valid UTF-8",
            n.to_string_lossy()
        ))
    })
}

fn file_name_utf8(p: &Path) -> Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::input(format!(
                "dump '{}': the file name is not valid UTF-8",
                p.display()
            ))
        })
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}
