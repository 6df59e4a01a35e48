//! `--quarantine`: a failed artifact and its sidecar are moved to
//! STORE/quarantine/, never replacing anything there.

use std::path::{Path, PathBuf};

use lfb_core::cli::Ui;
use lfb_core::{Error, Record, Result, Store, fsutil, store};
use serde_json::json;

/// Moves a failed artifact aside, saying where (or why not) on stderr and in
/// the record's `quarantine` section.
pub(crate) fn quarantine_failed(path: &Path, st: &Store, record: &mut Record, ui: &Ui) {
    match quarantine(path, st) {
        Ok(dest) => {
            ui.info(format!("moved {} to {}", path.display(), dest.display()));
            record.set("quarantine", json!({"path": dest.to_string_lossy()}));
        }
        Err(e) => {
            ui.error(e.line());
            record.set("quarantine", json!({"error": e.line()}));
        }
    }
}

/// Moves a failed artifact and its sidecar aside; returns the new path.
///
/// Only an artifact of the store is moved ([`Store::confine`]): a record
/// naming a file elsewhere (or escaping with `..` or a symlink) is refused
/// and the file left where it is. Nothing in quarantine is ever replaced:
/// the artifact goes to `quarantine/NAME`, else (a file of that name from
/// another environment is already there) `quarantine/<env>/NAME`, else
/// `quarantine/<env>/<n>/NAME`, its sidecar beside it.
fn quarantine(path: &Path, st: &Store) -> Result<PathBuf> {
    let owned = st.confine(path)?;
    let file = owned
        .path
        .file_name()
        .ok_or_else(|| Error::failed("artifact has no file name"))?
        .to_owned();
    let base = st.quarantine_dir();
    let side = owned.sidecar();
    let has_side = std::fs::symlink_metadata(&side).is_ok();
    let mut n = 1u32;
    let dest = loop {
        let dir = match n {
            1 => base.clone(),
            2 => base.join(&owned.folder),
            _ => base.join(&owned.folder).join((n - 1).to_string()),
        };
        n += 1;
        st.ensure_dir(&dir)?;
        let dest = dir.join(&file);
        if std::fs::symlink_metadata(store::sidecar_path(&dest)).is_ok() {
            continue;
        }
        match fsutil::move_noreplace(&owned.path, &dest) {
            Ok(()) => break dest,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => continue,
            Err(e) => return Err(Error::io_path("move to quarantine", &owned.path, e)),
        }
    };
    if has_side {
        fsutil::move_noreplace(&side, &store::sidecar_path(&dest))
            .map_err(|e| Error::io_path("move to quarantine", &side, e))?;
    }
    fsutil::sync_dir(fsutil::parent_dir(&dest))?;
    fsutil::sync_dir(fsutil::parent_dir(&owned.path))?;
    Ok(dest)
}
