//! Safe extraction of an archive's media and config members.
//!
//! An archive is data from the past, possibly tampered with: nothing it says
//! may write outside the destination. Member paths must be relative without
//! `..`; symbolic links may only point inside the destination; hard links only
//! to members already extracted; no member is written through a symbolic link;
//! devices and FIFOs are skipped. Everything goes into a new folder beside
//! the destination, which is moved into place only when extraction completed.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use lfb_core::cli::Ui;
use lfb_core::error::IoContext;
use lfb_core::{Error, Result, cleanup};

/// Member folders that `--files-to` extracts.
pub const ROLES: &[&str] = &["media", "config"];

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

/// Resolves a symbolic link target lexically from the link's folder; the
/// result must stay inside the root.
fn link_stays_inside(link_rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = link_rel
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for c in target.components() {
        match c {
            Component::Normal(n) => depth.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
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

/// Extracts the `media/` and `config/` members of a tar stream into `dest`
/// (created new; an existing non-empty `dest` is moved aside first and its
/// new name returned). Nothing is written outside `dest`'s parent folder.
pub fn extract(tar_stream: impl Read, dest: &Path, ui: &Ui) -> Result<(usize, Option<PathBuf>)> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .ok_or_else(|| Error::usage(format!("--files-to '{}' names no folder", dest.display())))?
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(parent).with_path("create", parent)?;
    let staging = parent.join(format!(".{name}.lfb-extract.partial"));
    if staging.exists() {
        fs::remove_dir_all(&staging).with_path("remove", &staging)?;
    }
    fs::create_dir(&staging).with_path("create", &staging)?;
    fs::set_permissions(&staging, fs::Permissions::from_mode(0o700))
        .with_path("set permissions of", &staging)?;
    let st2 = staging.clone();
    let guard = cleanup::on_interrupt(move || {
        let _ = fs::remove_dir_all(&st2);
    });
    let res = extract_into(tar_stream, &staging, ui);
    let count = match res {
        Ok(n) => n,
        Err(e) => {
            guard.run_now();
            return Err(e);
        }
    };
    let mut moved = None;
    if dest.exists() {
        let empty = fs::read_dir(dest)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if empty {
            fs::remove_dir(dest).with_path("remove", dest)?;
        } else {
            let aside = parent.join(format!(
                "{name}.before-restore-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ));
            fs::rename(dest, &aside).with_path("move aside", dest)?;
            ui.info(format!(
                "moved the existing '{}' to '{}'",
                dest.display(),
                aside.display()
            ));
            moved = Some(aside);
        }
    }
    fs::rename(&staging, dest).with_path("move into place", dest)?;
    drop(guard);
    lfb_core::fsutil::sync_dir(parent)?;
    Ok((count, moved))
}

fn extract_into(tar_stream: impl Read, root: &Path, ui: &Ui) -> Result<usize> {
    let mut archive = tar::Archive::new(tar_stream);
    let mut count = 0;
    let mut dir_times = Vec::new();
    for entry in archive.entries().context("cannot read the archive")? {
        let mut entry = entry.context("cannot read the archive")?;
        let raw = entry
            .path()
            .context("cannot read a member name")?
            .into_owned();
        let rel = strip_top_folder(safe_relative(&raw)?);
        let role = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        if !role.as_deref().is_some_and(|r| ROLES.contains(&r)) {
            continue;
        }
        no_symlink_ancestors(root, &rel)?;
        let out = root.join(&rel);
        if let Some(p) = out.parent() {
            fs::create_dir_all(p).with_path("create", p)?;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o600) & 0o7777;
        let mtime = header.mtime().ok();
        let kind = header.entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&out).with_path("create", &out)?;
            fs::set_permissions(&out, fs::Permissions::from_mode(mode | 0o700))
                .with_path("set permissions of", &out)?;
            dir_times.push((out, mtime));
        } else if kind.is_file() {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .with_path("create", &out)?;
            io::copy(&mut entry, &mut f).with_path("write", &out)?;
            f.set_permissions(fs::Permissions::from_mode(mode))
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
            if !link_stays_inside(&rel, &target) {
                return Err(Error::failed(format!(
                    "symbolic link '{}' -> '{}' points outside the destination: refused",
                    rel.display(),
                    target.display()
                )));
            }
            std::os::unix::fs::symlink(&target, &out).with_path("create link", &out)?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name()
                .context("cannot read a link target")?
                .ok_or_else(|| {
                    Error::failed(format!("hard link '{}' has no target", rel.display()))
                })?
                .into_owned();
            let target_rel = strip_top_folder(safe_relative(&target)?);
            no_symlink_ancestors(root, &target_rel)?;
            let src = root.join(&target_rel);
            let ok = fs::symlink_metadata(&src)
                .map(|m| m.is_file())
                .unwrap_or(false);
            if !ok {
                return Err(Error::failed(format!(
                    "hard link '{}' -> '{}' does not point to an extracted file: refused",
                    rel.display(),
                    target.display()
                )));
            }
            fs::hard_link(&src, &out).with_path("create link", &out)?;
        } else {
            ui.warn(format!(
                "skipping '{}': not a file, folder or link",
                rel.display()
            ));
            continue;
        }
        count += 1;
    }
    // Folder times last: creating entries inside them changes them.
    for (d, t) in dir_times.into_iter().rev() {
        if let Some(t) = t
            && let Ok(f) = fs::File::open(&d)
        {
            let _ = f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t));
        }
    }
    Ok(count)
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
    fn links_must_stay_inside() {
        assert!(link_stays_inside(
            Path::new("media/a/l"),
            Path::new("../b.jpg")
        ));
        assert!(link_stays_inside(
            Path::new("media/l"),
            Path::new("../config/x")
        ));
        assert!(!link_stays_inside(
            Path::new("media/l"),
            Path::new("../../x")
        ));
        assert!(!link_stays_inside(
            Path::new("media/l"),
            Path::new("/etc/passwd")
        ));
    }
}
