//! Putting an archive's media folders and configuration files back where
//! they belong, safely.
//!
//! Where things go (`--files-to DIR`, `--media-to FOLDER=DEST`,
//! `--config-to DIR`):
//!
//! ```text
//! archive member                 goes to
//! media/<name>/...               DEST of --media-to <name>=DEST, else
//!                                DIR/<its path relative to the folder lfb-archive ran in>
//!                                (manifest `sources[].relative`, e.g. DIR/media), else DIR/<name>
//! config/<file>                  --config-to DIR2/<file>, else DIR/config/<file>  (0600, folders 0700)
//! full_backup_TS/media/...       (archives of the original scripts) DIR/media/...
//! full_backup_TS/config/...      DIR/config/...
//! ```
//!
//! Configuration never lands inside a media folder (media is often served
//! by the web server, `.env` holds secrets): such a layout is refused. File
//! modes are masked to 0777: no setuid, setgid or sticky bit comes back
//! from an archive. Owners are not restored (files belong to whoever runs
//! the restore).
//!
//! An archive is data from the past, possibly tampered with: nothing it says
//! may write outside a destination. Member paths must be relative without
//! `..`; nothing is written through a symbolic link; hard links only join
//! files already extracted into the same destination; devices and FIFOs are
//! skipped. Symbolic links are created last, and then every one of them is
//! resolved against what is on disk, following the links it meets one
//! component at a time (a portable resolver, the same on Linux and macOS):
//! a chain of links that leads outside its destination, however innocent
//! each link looks alone, refuses the whole extraction. Each destination is
//! built in a new folder beside it and moved into place only when
//! everything was extracted and checked; an existing non-empty destination
//! is moved aside first (`NAME.before-restore-TIMESTAMP`), never deleted.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use lfb_core::archive::{MANIFEST, Manifest, Role};
use lfb_core::cli::Ui;
use lfb_core::error::IoContext;
use lfb_core::progress::Progress;
use lfb_core::{Error, Result, cleanup};

/// Member folders that hold files to restore.
pub const ROLES: &[&str] = &["media", "config"];

/// How many links one path may pass through before it is refused.
const MAX_HOPS: usize = 40;

/// Where the user wants an archive's files.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `--files-to DIR`: the project folder media folders go back under.
    pub files_to: Option<PathBuf>,
    /// `--media-to FOLDER=DEST`.
    pub media_to: Vec<(String, PathBuf)>,
    /// `--config-to DIR`.
    pub config_to: Option<PathBuf>,
}

impl Layout {
    /// True when any files are to be restored.
    pub fn wanted(&self) -> bool {
        self.files_to.is_some() || !self.media_to.is_empty() || self.config_to.is_some()
    }
}

/// Parses `--media-to FOLDER=DEST`.
pub fn parse_media_to(s: &str) -> std::result::Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((f, d)) if !f.is_empty() && !d.is_empty() => {
            Ok((f.trim_end_matches('/').to_string(), PathBuf::from(d)))
        }
        _ => Err(format!(
            "'{s}': use FOLDER=DEST (e.g. media=/srv/app/media)"
        )),
    }
}

/// One place an extraction writes: a media folder, or the config folder.
#[derive(Debug)]
struct Place {
    /// Members below this archive path belong here (`media/photos`, `config`).
    prefix: PathBuf,
    /// Where it ends up.
    dest: PathBuf,
    /// Where it is built.
    staging: PathBuf,
    config: bool,
    files: usize,
    /// Symbolic links (path inside, target), created last.
    links: Vec<(PathBuf, PathBuf)>,
    root_mode: Option<u32>,
}

/// What an extraction did, per destination.
#[derive(Debug, Clone)]
pub struct Done {
    pub dest: PathBuf,
    pub members: usize,
    pub moved_aside: Option<PathBuf>,
    pub config: bool,
}

/// A relative path with only normal components, or an error naming it.
fn safe_relative(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::failed(format!(
                    "member '{}' contains '..': refused",
                    p.display()
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::failed(format!(
                    "member '{}' is an absolute path: refused",
                    p.display()
                )));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::failed(format!(
            "member '{}' has an empty path",
            p.display()
        )));
    }
    Ok(out)
}

/// Archives of the original `backup_dev_full.sh` hold everything under one
/// top folder (`full_backup_TS/media/...`): that folder is dropped.
fn strip_top_folder(rel: PathBuf) -> PathBuf {
    let mut comps = rel.components();
    let first = comps
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let second = comps
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    match (first, second) {
        (Some(f), Some(s)) if !ROLES.contains(&f.as_str()) && ROLES.contains(&s.as_str()) => {
            rel.components().skip(1).collect()
        }
        _ => rel,
    }
}

/// Resolves the symbolic link `root/link` against what is on disk, following
/// every link it meets one component at a time; an error says how it
/// leaves `root` (an absolute target, `..` above `root`, or a loop).
fn resolves_inside(root: &Path, link: &Path) -> std::result::Result<(), String> {
    let mut at: Vec<OsString> = link
        .parent()
        .map(|p| p.iter().map(|c| c.to_os_string()).collect())
        .unwrap_or_default();
    let first = fs::read_link(root.join(link)).map_err(|e| e.to_string())?;
    let mut todo: VecDeque<OsString> = VecDeque::new();
    let push_front = |todo: &mut VecDeque<OsString>, target: &Path| {
        if target.has_root() {
            return Err(format!("'{}' is an absolute path", target.display()));
        }
        for c in target
            .components()
            .rev()
            .filter(|c| !matches!(c, Component::CurDir))
        {
            todo.push_front(c.as_os_str().to_os_string());
        }
        Ok(())
    };
    push_front(&mut todo, &first)?;
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            if at.pop().is_none() {
                return Err("it leads above the destination".into());
            }
            continue;
        }
        at.push(c);
        let here: PathBuf = at.iter().collect();
        let p = root.join(&here);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            hops += 1;
            if hops > MAX_HOPS {
                return Err("too many levels of symbolic links".into());
            }
            let t = fs::read_link(&p).map_err(|e| e.to_string())?;
            at.pop();
            push_front(&mut todo, &t).map_err(|e| format!("through '{}', {e}", here.display()))?;
        }
    }
    Ok(())
}

/// Refuses to write where any existing ancestor inside `root` is a symlink.
fn no_symlink_ancestors(root: &Path, rel: &Path) -> Result<()> {
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        if let Ok(m) = fs::symlink_metadata(&cur)
            && m.file_type().is_symlink()
        {
            return Err(Error::failed(format!(
                "member '{}' would be written through the symbolic link '{}': refused",
                rel.display(),
                cur.strip_prefix(root).unwrap_or(&cur).display()
            )));
        }
    }
    Ok(())
}

fn abs(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// True when `a` is `b` or inside it (lexically, both absolute).
fn within(a: &Path, b: &Path) -> bool {
    a.starts_with(b)
}

/// The media folders an archive holds: (member prefix, name, original
/// relative path).
fn media_folders(manifest: Option<&Manifest>) -> Vec<(PathBuf, String, Option<String>)> {
    match manifest {
        Some(m) => m
            .sources
            .iter()
            .filter(|s| s.role == Role::Media)
            .map(|s| {
                let prefix = PathBuf::from(&s.member);
                let name = prefix
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (prefix, name, s.relative.clone())
            })
            .collect(),
        // The original scripts' archives: one media folder.
        None => vec![(PathBuf::from("media"), "media".into(), None)],
    }
}

/// Decides where each media folder and the configuration go, and refuses
/// layouts that would nest configuration inside media or one media folder
/// inside another.
// Long: the layout rules (files-to, media-to, config-to) and their conflicts in one place.
fn places(manifest: Option<&Manifest>, layout: &Layout) -> Result<Vec<Place>> {
    let mut out = Vec::new();
    let dir = layout.files_to.as_deref().map(abs);
    for (prefix, name, relative) in media_folders(manifest) {
        let prefix_s = prefix.to_string_lossy().into_owned();
        let mapped = layout
            .media_to
            .iter()
            .find(|(f, _)| *f == name || Some(f.as_str()) == relative.as_deref() || *f == prefix_s);
        let dest = match (mapped, &dir) {
            (Some((_, d)), _) => abs(d),
            (None, Some(dir)) => {
                let rel = match &relative {
                    Some(r) => safe_relative(Path::new(r)).map_err(|_| {
                        Error::failed(format!(
                            "the manifest gives media folder '{name}' the unsafe path '{r}': refused"
                        ))
                    })?,
                    None => safe_relative(Path::new(&name))?,
                };
                if dir.ends_with(&rel) {
                    return Err(Error::usage(format!(
                        "--files-to '{}' would put media folder '{}' at '{}': give the project folder \
                         it belongs under (e.g. --files-to {}), or --media-to {name}={} to put it exactly there",
                        dir.display(),
                        rel.display(),
                        dir.join(&rel).display(),
                        dir.ancestors()
                            .nth(rel.components().count())
                            .unwrap_or(Path::new("/"))
                            .display(),
                        dir.display()
                    )));
                }
                dir.join(rel)
            }
            (None, None) => {
                return Err(Error::usage(format!(
                    "the archive's media folder '{name}' has nowhere to go: add --files-to DIR \
                     or --media-to {name}=DEST"
                )));
            }
        };
        out.push(Place {
            prefix,
            dest,
            staging: PathBuf::new(),
            config: false,
            files: 0,
            links: Vec::new(),
            root_mode: None,
        });
    }
    let config_dest = match (&layout.config_to, &dir) {
        (Some(c), _) => Some(abs(c)),
        (None, Some(d)) => Some(d.join("config")),
        (None, None) => None,
    };
    if let Some(dest) = config_dest {
        for m in &out {
            if within(&dest, &m.dest) || within(&m.dest, &dest) {
                return Err(Error::usage(format!(
                    "configuration files would go to '{}', which overlaps the media folder '{}': \
                     refused (configuration is never restored inside a media folder); \
                     use --config-to DIR to put them elsewhere",
                    dest.display(),
                    m.dest.display()
                )));
            }
        }
        out.push(Place {
            prefix: PathBuf::from("config"),
            dest,
            staging: PathBuf::new(),
            config: true,
            files: 0,
            links: Vec::new(),
            root_mode: None,
        });
    }
    for (i, a) in out.iter().enumerate() {
        for b in &out[i + 1..] {
            if !a.config && !b.config && (within(&a.dest, &b.dest) || within(&b.dest, &a.dest)) {
                return Err(Error::usage(format!(
                    "media folders would go to '{}' and '{}', one inside the other: \
                     use --media-to FOLDER=DEST for each",
                    a.dest.display(),
                    b.dest.display()
                )));
            }
        }
    }
    Ok(out)
}

/// Reads the archive's manifest (its first member) and returns where each
/// media folder and the configuration would go, refusing a layout that
/// would nest them, before anything is extracted or restored.
pub fn destinations(tar_stream: impl Read, layout: &Layout) -> Result<Vec<(PathBuf, bool)>> {
    let mut archive = tar::Archive::new(tar_stream);
    let mut entries = archive.entries().context("cannot read the archive")?;
    let manifest = match entries.next() {
        None => return Err(Error::failed("the archive is empty")),
        Some(e) => read_manifest(e.context("cannot read the archive")?)?.0,
    };
    Ok(places(manifest.as_ref(), layout)?
        .into_iter()
        .map(|p| (p.dest, p.config))
        .collect())
}

/// The manifest when `e` is one; otherwise `e` handed back.
#[allow(clippy::type_complexity)]
fn read_manifest<R: Read>(
    mut e: tar::Entry<'_, R>,
) -> Result<(Option<Manifest>, Option<tar::Entry<'_, R>>)> {
    if e.path_bytes().as_ref() != MANIFEST.as_bytes() {
        return Ok((None, Some(e)));
    }
    let mut bytes = Vec::new();
    (&mut e)
        .take(1 << 30)
        .read_to_end(&mut bytes)
        .context("cannot read the manifest")?;
    let m = serde_json::from_slice::<Manifest>(&bytes)
        .map_err(|e| Error::failed(format!("{MANIFEST} is not valid: {e}")))?;
    Ok((Some(m), None))
}

/// Extracts an archive's media and configuration as `layout` says.
/// Nothing is in place unless everything was extracted and checked.
// Long: stage, check, then swap into place: splitting it would spread the rollback.
pub fn extract(tar_stream: impl Read, layout: &Layout, ui: &Ui) -> Result<Vec<Done>> {
    let mut archive = tar::Archive::new(tar_stream);
    let mut entries = archive.entries().context("cannot read the archive")?;
    // manifest.json first (lfb archives): it says where the media came from.
    let (manifest, mut pending) = match entries.next() {
        None => return Err(Error::failed("the archive is empty")),
        Some(e) => read_manifest(e.context("cannot read the archive")?)?,
    };
    let mut places = places(manifest.as_ref(), layout)?;
    // Folders created for the destinations, removed again (when still
    // empty) if the extraction fails: a refused archive leaves nothing.
    let mut created: Vec<PathBuf> = Vec::new();
    // Staging folders beside each destination.
    for p in &mut places {
        let parent = p.dest.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = p
            .dest
            .file_name()
            .ok_or_else(|| Error::usage(format!("'{}' names no folder", p.dest.display())))?
            .to_string_lossy()
            .into_owned();
        let mut missing: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|a| fs::symlink_metadata(a).is_err())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        created.extend(missing);
        fs::create_dir_all(&parent).with_path("create", &parent)?;
        p.staging = parent.join(format!(".{name}.lfb-extract.partial"));
    }
    let stagings: Vec<PathBuf> = places.iter().map(|p| p.staging.clone()).collect();
    for (s, p) in stagings.iter().zip(&places) {
        recover_interrupted_swap(s, &p.dest, ui)?;
        if s.exists() {
            fs::remove_dir_all(s).with_path("remove", s)?;
        }
    }
    let st2 = stagings.clone();
    let made = created.clone();
    let guard = cleanup::on_interrupt(move || {
        for s in &st2 {
            let _ = fs::remove_dir_all(s);
        }
        for d in made.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    });
    let res = (|| {
        for s in &stagings {
            fs::create_dir(s).with_path("create", s)?;
            fs::set_permissions(s, fs::Permissions::from_mode(0o700))
                .with_path("set permissions of", s)?;
        }
        let mut progress = Progress::new("restoring files", !ui.quiet());
        if let Some(e) = pending.take() {
            extract_entry(e, &mut places, ui, &mut progress)?;
        }
        for e in entries {
            let e = e.context("cannot read the archive")?;
            extract_entry(e, &mut places, ui, &mut progress)?;
        }
        progress.finish();
        finish_links(&mut places)
    })();
    if let Err(e) = res {
        guard.run_now();
        return Err(e);
    }
    // Everything is extracted and checked: move into place. From here the
    // interrupt action must never delete a staging folder that may hold the
    // old contents (after a swap): it is replaced by one that knows.
    drop(guard);
    let swapping: std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, PathBuf)>>> = Default::default();
    let sw = swapping.clone();
    let st3 = stagings.clone();
    let guard = cleanup::on_interrupt(move || {
        let marked = sw.lock().map(|v| v.clone()).unwrap_or_default();
        for s in &st3 {
            match marked.iter().find(|(staging, _)| staging == s) {
                // It may hold the old contents: keep them, aside.
                Some((staging, dest)) => {
                    let _ = fs::rename(staging, aside_name(dest));
                    let _ = fs::remove_file(swap_marker(staging));
                }
                None => {
                    let _ = fs::remove_dir_all(s);
                }
            }
        }
    });
    let mut done = Vec::new();
    for p in &places {
        // Nothing of it in the archive (an archive of the original scripts
        // without media, or without configuration): what is there stays.
        if p.files == 0 && p.root_mode.is_none() {
            let _ = fs::remove_dir_all(&p.staging);
            continue;
        }
        let moved = put_in_place(p, &swapping, ui)?;
        if let Some(m) = p.root_mode {
            let _ = fs::set_permissions(&p.dest, fs::Permissions::from_mode(m));
        }
        if let Some(parent) = p.dest.parent() {
            lfb_core::fsutil::sync_dir(parent)?;
        }
        done.push(Done {
            dest: p.dest.clone(),
            members: p.files,
            moved_aside: moved,
            config: p.config,
        });
    }
    drop(guard);
    Ok(done)
}

/// `NAME.before-restore-TIMESTAMP` beside `dest`.
fn aside_name(dest: &Path) -> PathBuf {
    let mut aside = dest.as_os_str().to_owned();
    aside.push(format!(
        ".before-restore-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    PathBuf::from(aside)
}

/// The file that says a staging folder is being swapped with its
/// destination (so after a kill it may hold the old contents).
fn swap_marker(staging: &Path) -> PathBuf {
    let mut m = staging.as_os_str().to_owned();
    m.push(".swapping");
    PathBuf::from(m)
}

/// Moves one extracted destination into place. An existing non-empty
/// destination is swapped with the new tree in one atomic step where the
/// system can (Linux renameat2 RENAME_EXCHANGE, macOS RENAME_SWAP), so at
/// every instant the destination is the old tree or the new one; the old
/// one then goes aside (`NAME.before-restore-TIMESTAMP`), never deleted.
/// A marker file beside the staging folder, written first, lets an
/// interrupted run (or the next one, after SIGKILL) put the old tree aside
/// instead of deleting it. Elsewhere: two renames (aside, then in place).
fn put_in_place(
    p: &Place,
    swapping: &std::sync::Mutex<Vec<(PathBuf, PathBuf)>>,
    ui: &Ui,
) -> Result<Option<PathBuf>> {
    let exists = fs::symlink_metadata(&p.dest).is_ok();
    if exists {
        let empty = p.dest.is_dir()
            && !p.dest.is_symlink()
            && fs::read_dir(&p.dest)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if empty {
            fs::remove_dir(&p.dest).with_path("remove", &p.dest)?;
        } else {
            let marker = swap_marker(&p.staging);
            fs::write(&marker, p.dest.as_os_str().as_encoded_bytes())
                .with_path("write", &marker)?;
            if let Ok(mut v) = swapping.lock() {
                v.push((p.staging.clone(), p.dest.clone()));
            }
            let aside = aside_name(&p.dest);
            // The swap and its renames happen whole or not at all with
            // respect to a signal: the interrupt action (which moves a
            // marked staging folder aside) waits for them, and once a
            // signal is being handled they do not start. Without this, an
            // action that moved the new tree aside first made the exchange
            // fail, and the two-rename fallback then moved the old tree
            // aside too, leaving no destination at all.
            let swapped = lfb_core::cleanup::start_undoable(|| -> Result<()> {
                match lfb_core::sys::exchange(&p.staging, &p.dest) {
                    Ok(()) => {
                        fs::rename(&p.staging, &aside).with_path("move aside", &p.staging)?;
                    }
                    Err(_) => {
                        fs::rename(&p.dest, &aside).with_path("move aside", &p.dest)?;
                        fs::rename(&p.staging, &p.dest).with_path("move into place", &p.dest)?;
                    }
                }
                Ok(())
            });
            match swapped {
                Some(r) => r?,
                None => return Err(Error::failed("interrupted before the swap")),
            }
            if let Ok(mut v) = swapping.lock() {
                v.retain(|(s, _)| s != &p.staging);
            }
            let _ = fs::remove_file(&marker);
            ui.info(format!(
                "moved the existing '{}' to '{}'",
                p.dest.display(),
                aside.display()
            ));
            return Ok(Some(aside));
        }
    }
    fs::rename(&p.staging, &p.dest).with_path("move into place", &p.dest)?;
    Ok(None)
}

/// After a run killed while swapping a destination (its marker is there):
/// the staging folder may hold the old contents, so it goes aside, never
/// away. Without a marker, a staging folder is a killed extraction's
/// partial new tree, which the caller removes.
fn recover_interrupted_swap(staging: &Path, dest: &Path, ui: &Ui) -> Result<()> {
    let marker = swap_marker(staging);
    if !marker.exists() {
        return Ok(());
    }
    if staging.exists() {
        let aside = aside_name(dest);
        fs::rename(staging, &aside).with_path("move aside", staging)?;
        ui.warn(format!(
            "an interrupted restore left '{}': kept as '{}'",
            dest.display(),
            aside.display()
        ));
    }
    fs::remove_file(&marker).with_path("remove", &marker)?;
    Ok(())
}

// Long: every tar entry type and its safety check side by side.
fn extract_entry<R: Read>(
    mut entry: tar::Entry<'_, R>,
    places: &mut [Place],
    ui: &Ui,
    progress: &mut Progress,
) -> Result<()> {
    let raw = entry
        .path()
        .context("cannot read a member name")?
        .into_owned();
    if raw == Path::new(MANIFEST) || raw == Path::new(lfb_core::archive::HASHES) {
        return Ok(());
    }
    let rel = strip_top_folder(safe_relative(&raw)?);
    let role = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    if !role.as_deref().is_some_and(|r| ROLES.contains(&r)) {
        return Ok(());
    }
    let Some(place) = places
        .iter_mut()
        .filter(|p| rel.starts_with(&p.prefix))
        .max_by_key(|p| p.prefix.components().count())
    else {
        if role.as_deref() == Some("config") {
            // No configuration wanted (--media-to only).
            return Ok(());
        }
        return Err(Error::failed(format!(
            "member '{}' is in no media folder the manifest lists: refused",
            rel.display()
        )));
    };
    let inner = rel
        .strip_prefix(&place.prefix)
        .expect("prefix matched")
        .to_path_buf();
    let header = entry.header();
    // No setuid, setgid or sticky bit from an archive; configuration private.
    let mode = header.mode().unwrap_or(0o600) & 0o777;
    let mtime = header.mtime().ok();
    let kind = header.entry_type();
    if inner.as_os_str().is_empty() {
        if kind.is_dir() {
            place.root_mode = Some(if place.config { 0o700 } else { mode | 0o700 });
            return Ok(());
        }
        return Err(Error::failed(format!(
            "member '{}' should be a folder: refused",
            rel.display()
        )));
    }
    let root = place.staging.clone();
    no_symlink_ancestors(&root, &inner)?;
    let out = root.join(&inner);
    if let Some(p) = out.parent() {
        fs::create_dir_all(p).with_path("create", p)?;
    }
    if kind.is_dir() {
        fs::create_dir_all(&out).with_path("create", &out)?;
        let m = if place.config { 0o700 } else { mode | 0o700 };
        fs::set_permissions(&out, fs::Permissions::from_mode(m))
            .with_path("set permissions of", &out)?;
    } else if kind.is_file() {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out)
            .with_path("create", &out)?;
        // Private from the first byte; the final mode once written.
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .with_path("set permissions of", &out)?;
        let mut counted = ProgressReader {
            inner: &mut entry,
            progress,
        };
        io::copy(&mut counted, &mut f).with_path("write", &out)?;
        let m = if place.config { 0o600 } else { mode };
        f.set_permissions(fs::Permissions::from_mode(m))
            .with_path("set permissions of", &out)?;
        if let Some(t) = mtime {
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
                .with_path("set the time of", &out)?;
        }
    } else if kind.is_symlink() {
        let target = entry
            .link_name()
            .context("cannot read a link target")?
            .ok_or_else(|| {
                Error::failed(format!("symbolic link '{}' has no target", rel.display()))
            })?
            .into_owned();
        if target.has_root() {
            return Err(Error::failed(format!(
                "symbolic link '{}' -> '{}' points outside the destination: refused",
                rel.display(),
                target.display()
            )));
        }
        // Created last, when every folder exists, and then checked on disk.
        place.links.push((inner.clone(), target));
    } else if kind.is_hard_link() {
        let target = entry
            .link_name()
            .context("cannot read a link target")?
            .ok_or_else(|| Error::failed(format!("hard link '{}' has no target", rel.display())))?
            .into_owned();
        let target_rel = strip_top_folder(safe_relative(&target)?);
        let src = target_rel
            .strip_prefix(&place.prefix)
            .ok()
            .filter(|t| !t.as_os_str().is_empty())
            .map(|t| root.join(t));
        let ok = src.as_ref().is_some_and(|s| {
            no_symlink_ancestors(&root, s.strip_prefix(&root).unwrap_or(s)).is_ok()
                && fs::symlink_metadata(s).is_ok_and(|m| m.is_file())
        });
        if !ok {
            return Err(Error::failed(format!(
                "hard link '{}' -> '{}' does not point to a file extracted into the same folder: refused",
                rel.display(),
                target.display()
            )));
        }
        fs::hard_link(src.expect("checked"), &out).with_path("create link", &out)?;
    } else {
        ui.warn(format!(
            "skipping '{}': not a file, folder or link",
            rel.display()
        ));
        return Ok(());
    }
    place.files += 1;
    Ok(())
}

/// Creates the symbolic links and checks that every one resolves inside
/// its destination, following the others on disk.
fn finish_links(places: &mut [Place]) -> Result<()> {
    for p in places.iter() {
        for (l, target) in &p.links {
            let out = p.staging.join(l);
            if fs::symlink_metadata(&out).is_ok() {
                return Err(Error::failed(format!(
                    "member '{}' is a symbolic link and also a file or folder (or something was to be written through it): refused",
                    p.prefix.join(l).display()
                )));
            }
            std::os::unix::fs::symlink(target, &out).with_path("create link", &out)?;
        }
    }
    for p in places.iter() {
        for (l, target) in &p.links {
            if let Err(why) = resolves_inside(&p.staging, l) {
                return Err(Error::failed(format!(
                    "symbolic link '{}' -> '{}' points outside the destination ({why}): refused",
                    p.prefix.join(l).display(),
                    target.display()
                )));
            }
        }
    }
    Ok(())
}

/// Reports bytes read to a progress line.
struct ProgressReader<'a, R: ?Sized> {
    inner: &'a mut R,
    progress: &'a mut Progress,
}

impl<R: Read + ?Sized> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_only() {
        assert!(safe_relative(Path::new("media/a.jpg")).is_ok());
        assert!(safe_relative(Path::new("./media/a.jpg")).is_ok());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("media/../../x")).is_err());
    }

    #[test]
    fn chains_of_links_are_resolved_on_disk() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a/b/c")).unwrap();
        std::os::unix::fs::symlink("../..", r.join("a/b/c/d")).unwrap();
        // Each alone stays inside; through d the second leads above r.
        assert!(resolves_inside(r, Path::new("a/b/c/d")).is_ok());
        std::os::unix::fs::symlink("a/b/c/d/../../../../x", r.join("esc")).unwrap();
        assert!(resolves_inside(r, Path::new("esc")).is_err());
        std::os::unix::fs::symlink("a/b/c/d/../x", r.join("ok")).unwrap();
        assert!(resolves_inside(r, Path::new("ok")).is_ok());
        std::os::unix::fs::symlink("loop2", r.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", r.join("loop2")).unwrap();
        assert!(resolves_inside(r, Path::new("loop1")).is_err());
        std::os::unix::fs::symlink("/etc", r.join("abs")).unwrap();
        assert!(resolves_inside(r, Path::new("abs")).is_err());
    }

    #[test]
    fn media_to_is_folder_equals_dest() {
        assert_eq!(
            parse_media_to("media=/srv/m").unwrap(),
            ("media".into(), PathBuf::from("/srv/m"))
        );
        assert!(parse_media_to("media").is_err());
        assert!(parse_media_to("=x").is_err());
    }
}
