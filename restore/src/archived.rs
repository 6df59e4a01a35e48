//! Restoring from a `full` archive: its database dump goes into the target
//! like any dump, its media and config (with `--files-to`) into a folder.
//!
//! lfb archives name their dumps and records in `manifest.json`; archives of
//! the original `backup_dev_full.sh` (one top folder holding
//! `db/database.sql.gz`, `media/`, `config/`) are read by layout.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use lfb_core::engine::url::Database;
use lfb_core::{Error, Record, Result, archive, cleanup, load, store};

/// A private scratch folder, removed on drop or interruption.
pub struct Scratch {
    pub dir: PathBuf,
    _guard: cleanup::CleanupGuard,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Scratch {
    pub fn new() -> Result<Scratch> {
        let base = std::env::temp_dir();
        for i in 0..100u32 {
            let d = base.join(format!("lfb-restore-{}-{i}", std::process::id()));
            if fs::create_dir(&d).is_ok() {
                fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .map_err(|e| Error::io_path("set permissions of", &d, e))?;
                let d2 = d.clone();
                let guard = cleanup::on_interrupt(move || {
                    let _ = fs::remove_dir_all(&d2);
                });
                return Ok(Scratch {
                    dir: d,
                    _guard: guard,
                });
            }
        }
        Err(Error::failed("cannot create a scratch folder"))
    }
}

/// The dump inside the archive to restore into `target`: extracted into
/// `scratch`, with its record (path pointing at the extracted file).
pub fn dump_for(artifact: &Path, target: &Database, scratch: &Scratch) -> Result<Record> {
    let records = match archive::extract_dumps(artifact, &scratch.dir) {
        Ok(r) => r,
        // Not an lfb archive: an archive of the original scripts.
        Err(e) if e.line().contains("not an lfb archive") => return legacy_dump(artifact, scratch),
        Err(e) => return Err(e),
    };
    let engine = target.engine();
    let matching: Vec<Record> = records
        .into_iter()
        .filter(|r| r.engine().is_none_or(|e| e == engine))
        .collect();
    match matching.len() {
        0 => Err(Error::failed(format!(
            "the archive holds no {engine} dump to restore"
        ))),
        1 => Ok(matching.into_iter().next().expect("one")),
        n => Err(Error::usage(format!(
            "the archive holds {n} {engine} dumps ({}); restore one with -f after `tar xzf`",
            matching
                .iter()
                .map(Record::label)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `full_backup_TS/db/database.sql.gz` of the original daily job.
fn legacy_dump(artifact: &Path, scratch: &Scratch) -> Result<Record> {
    let mut tar = tar::Archive::new(load::open_decoded(artifact, archive::FORMAT)?);
    let bad =
        |e: io::Error| Error::failed(format!("cannot read archive '{}': {e}", artifact.display()));
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let file = name.rsplit('/').next().unwrap_or("").to_string();
        let in_db = name.starts_with("db/") || name.split('/').nth(1) == Some("db");
        let format = lfb_core::naming::EXTENSIONS
            .iter()
            .find(|(ext, f)| file.ends_with(&format!(".{ext}")) && !f.starts_with("tar"))
            .map(|(_, f)| *f);
        if !(in_db && entry.header().entry_type().is_file())
            || format.is_none()
            || file.contains("..")
        {
            continue;
        }
        let out = scratch.dir.join(&file);
        let mut f = lfb_core::fsutil::create_private_file(&out)?;
        io::copy(&mut entry, &mut f).map_err(|e| Error::io_path("write", &out, e))?;
        let mut rec = store::record_for_path(&out)?;
        rec.set("format", serde_json::json!(format.expect("checked")));
        return Ok(rec);
    }
    Err(Error::failed("the archive holds no database dump (db/…)"))
}

/// The decoded tar stream of an archive, for extracting its files.
pub fn tar_stream(artifact: &Path) -> Result<Box<dyn Read + Send>> {
    load::open_decoded(artifact, archive::FORMAT)
}
