//! Restoring from a `full` archive: its database dump goes into the target
//! like any dump, its media and config (with `--files-to`) into a folder.
//!
//! lfb archives name their dumps and records in `manifest.json`; archives of
//! the original `backup_dev_full.sh` (one top folder holding
//! `db/database.sql.gz`, `media/`, `config/`) are read by layout.

use std::io::{self, Read};
use std::path::Path;

use lfb_core::engine::url::Database;
use lfb_core::fsutil::ScratchDir;
use lfb_core::{Error, Record, Result, archive, load, store};

/// The dump inside the archive to restore into `target`: extracted into
/// `scratch`, with its record (path pointing at the extracted file).
pub fn dump_for(artifact: &Path, target: &Database, scratch: &ScratchDir) -> Result<Record> {
    let records = match archive::extract_dumps(artifact, scratch.path()) {
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
        0 => Err(Error::usage(format!(
            "the archive holds no {engine} dump to restore into this {engine} database: refused, nothing was changed"
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
fn legacy_dump(artifact: &Path, scratch: &ScratchDir) -> Result<Record> {
    let mut tar = tar::Archive::new(load::open_decoded(artifact, archive::FORMAT)?);
    let bad =
        |e: io::Error| Error::failed(format!("cannot read archive '{}': {e}", artifact.display()));
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let file = name.rsplit('/').next().unwrap_or("").to_string();
        let in_db = name.starts_with("db/") || name.split('/').nth(1) == Some("db");
        let format = lfb_core::format::Format::split_file_name(&file)
            .map(|(_, f)| f)
            .filter(|f| !f.is_archive());
        if !(in_db && entry.header().entry_type().is_file())
            || format.is_none()
            || file.contains("..")
        {
            continue;
        }
        let out = scratch.path().join(&file);
        let mut f = lfb_core::fsutil::create_private_file(&out)?;
        io::copy(&mut entry, &mut f).map_err(|e| Error::io_path("write", &out, e))?;
        let mut rec = store::record_for_path(&out)?;
        rec.set(
            "format",
            serde_json::json!(format.expect("checked").as_str()),
        );
        return Ok(rec);
    }
    Err(Error::failed("the archive holds no database dump (db/…)"))
}

/// The decoded tar stream of an archive, for extracting its files.
pub fn tar_stream(artifact: &Path) -> Result<Box<dyn Read + Send>> {
    load::open_decoded(artifact, archive::FORMAT)
}
