//! A backup store holding many tiny artifacts, for the tools whose cost
//! grows with the number of artifacts rather than their size (`lfb-prune`,
//! `lfb-guard`): `dev/`, `test/` and `prod/` folders of hourly, daily and
//! manual dumps going back in time, each a small but whole gzip'd plain
//! dump (with pg_dump's completion trailer) and a sidecar holding its
//! record, as `lfb-dump` writes them (files 0600, folders 0700).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use lfb_core::naming::ArtifactName;
use lfb_core::{Kind, Record};
use serde_json::json;
use sha2::{Digest, Sha256};

const ENVS: &[&str] = &["dev", "test", "prod"];
const TAGS: &[&str] = &["hourly", "daily", "manual"];

/// The tiny plain dump every artifact holds, gzip'd.
fn tiny_dump() -> Vec<u8> {
    let sql = "--\n-- PostgreSQL database dump\n--\n\n\
               CREATE TABLE public.t (x integer);\n\n\
               COPY public.t (x) FROM stdin;\n1\n\\.\n\n\
               --\n-- PostgreSQL database dump complete\n--\n\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(sql.as_bytes()).expect("writing to a Vec");
    gz.finish().expect("writing to a Vec")
}

fn create_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn mkdir_private(path: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a store of `artifacts` artifacts (plus sidecars) into `dir`.
pub fn generate(dir: &Path, artifacts: u64) -> Result<(), String> {
    let body = tiny_dump();
    let sha = format!("{:x}", Sha256::digest(&body));
    let newest: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for folder in ENVS.iter().chain(&["logs"]) {
        mkdir_private(&dir.join(folder))?;
    }
    let groups = (ENVS.len() * TAGS.len()) as u64;
    for i in 0..artifacts {
        let env = ENVS[(i % ENVS.len() as u64) as usize];
        let tag = TAGS[((i / ENVS.len() as u64) % TAGS.len() as u64) as usize];
        // Each group's artifacts are an hour apart, newest first.
        let time = newest - Duration::hours((i / groups) as i64);
        let name = ArtifactName {
            name: "ledgerflow".into(),
            kind: Kind::Db,
            tag: tag.into(),
            time,
            ext: "sql.gz".into(),
            legacy: false,
        };
        let path = dir.join(env).join(name.file_name());
        create_private(&path, &body)?;
        let mut record = Record::new(
            &name.id(),
            Kind::Db,
            env,
            tag,
            &path,
            time,
            body.len() as u64,
            &sha,
            "sql+gzip",
        );
        record.set(
            "source",
            json!({"engine": "postgres", "database": "ledgerflow",
                   "tables": {"public.t": 1}}),
        );
        record.set(
            "verify",
            json!({"at": lfb_core::record::format_time(time), "ok": true, "checks": []}),
        );
        let mut line = record.to_line();
        line.push('\n');
        create_private(&lfb_core::store::sidecar_path(&path), line.as_bytes())?;
    }
    Ok(())
}

/// Number of artifacts (files with a sidecar) in a generated store.
pub fn count_artifacts(dir: &Path) -> u64 {
    ENVS.iter()
        .flat_map(|e| {
            std::fs::read_dir(dir.join(e))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sql.gz"))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_parse_back_and_have_sidecars() {
        let dir = std::env::temp_dir().join(format!("lfb-bench-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, 30).unwrap();
        assert_eq!(count_artifacts(&dir), 30);
        let store = lfb_core::Store::at(&dir);
        let found = store.artifacts().unwrap();
        assert_eq!(found.len(), 30);
        assert!(found.iter().all(|a| a.record.sha256().is_some()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
