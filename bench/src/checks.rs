//! Correctness checks on what each run produced, so that a fast but broken
//! tool cannot look good: outputs are read back with the programs users
//! would use (`gzip`, `tar`, `sha256sum`, `psql`), lfb's records are held
//! to the files they describe, and `lfb-verify` must also fail a corrupted
//! artifact. Checks are not timed.

use std::path::Path;

use serde_json::Value;

use crate::comparisons::{Check, Comparison, Role, Variant};
use crate::measure;
use crate::runner::{Ctx, Prepared};

/// Everything a check may look at.
pub struct Run<'a> {
    pub ctx: &'a Ctx,
    pub comparison: &'a Comparison,
    pub variant: &'a Variant,
    pub prepared: &'a Prepared,
    pub run: &'a measure::Run,
    pub out: Option<&'a Path>,
    pub newdb: Option<&'a str>,
}

/// Runs a shell snippet (not timed) and returns its stdout, or why it failed.
fn sh(script: &str, vars: &[(String, String)], dir: &Path) -> Result<String, String> {
    let run = measure::run_script(script, vars, dir).map_err(|e| e.to_string())?;
    if run.code != 0 {
        return Err(format!(
            "`{script}` exit {}: {}",
            run.code,
            run.error_line()
        ));
    }
    Ok(run.stdout)
}

fn path_var(p: &Path) -> Vec<(String, String)> {
    vec![("F".to_string(), p.to_string_lossy().into_owned())]
}

/// The last JSON object lfb printed on stdout.
fn last_record(run: &measure::Run) -> Result<Value, String> {
    let line = run
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("no record on stdout")?;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("stdout is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("stdout is not a JSON object".into());
    }
    Ok(v)
}

/// Table names compared without PostgreSQL's `public.` (SQLite has none).
fn plain_table(name: &str) -> &str {
    name.strip_prefix("public.").unwrap_or(name)
}

fn same_counts(found: &[(String, u64)], want: &[(String, u64)]) -> Result<(), String> {
    let norm = |v: &[(String, u64)]| {
        let mut v: Vec<(String, u64)> = v
            .iter()
            .map(|(t, n)| (plain_table(t).to_string(), *n))
            .collect();
        v.sort();
        v
    };
    if norm(found) == norm(want) {
        Ok(())
    } else {
        Err(format!("row counts {found:?}, expected {want:?}"))
    }
}

/// Regular files under `dir`.
pub fn count_files(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// Checks one finished run (exit status already checked).
pub fn check(r: &Run) -> Result<(), String> {
    let dir = r.ctx.work.join("check");
    let lfb = r.variant.role == Role::Lfb;
    match r.comparison.check {
        Check::GzipDump { trailer } => {
            let Some(out) = r.out.filter(|_| r.variant.role != Role::Floor) else {
                return Ok(());
            };
            // Decompresses everything (CRC and length checked) and keeps the end.
            // An encrypted dump (`.age`) is decrypted with the identity its
            // run wrote beside it (`$OUT.key`), with stock age.
            let decode = if out.extension().is_some_and(|e| e == "age") {
                r#"age -d -i "$F.key" "$F" | gzip -dc | tail -c 512"#
            } else {
                r#"gzip -dc "$F" | tail -c 512"#
            };
            let tail = sh(decode, &path_var(out), &dir)?;
            if !tail.contains(trailer) {
                return Err(format!("the dump does not end with {trailer:?}"));
            }
            if lfb {
                let rec = last_record(r.run)?;
                let size = std::fs::metadata(out).map_err(|e| e.to_string())?.len();
                if rec["bytes"].as_u64() != Some(size) {
                    return Err(format!(
                        "record says {} bytes, file has {size}",
                        rec["bytes"]
                    ));
                }
                let sum = sh(r#"sha256sum < "$F""#, &path_var(out), &dir)?;
                let sum = sum.split_whitespace().next().unwrap_or_default();
                if rec["sha256"].as_str() != Some(sum) {
                    return Err(format!(
                        "record sha256 {} but sha256sum says {sum}",
                        rec["sha256"]
                    ));
                }
                let tables: Vec<(String, u64)> = rec["source"]["tables"]
                    .as_object()
                    .ok_or("record has no source.tables")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(u64::MAX)))
                    .collect();
                same_counts(&tables, &r.prepared.tables)?;
            }
            Ok(())
        }
        Check::Verify => {
            if lfb {
                let rec = last_record(r.run)?;
                if rec["verify"]["ok"] != Value::Bool(true) {
                    return Err(format!("verify.ok is not true: {}", rec["verify"]));
                }
                let checks = rec["verify"]["checks"].to_string();
                for name in ["checksum", "decode", "complete"] {
                    if !checks.contains(name) {
                        return Err(format!("check {name} did not run: {checks}"));
                    }
                }
            }
            Ok(())
        }
        Check::RestoreTest => {
            if lfb {
                let rec = last_record(r.run)?;
                if rec["verify"]["ok"] != Value::Bool(true) {
                    return Err(format!("verify.ok is not true: {}", rec["verify"]));
                }
                let checks = rec["verify"]["checks"].to_string();
                if !checks.contains("restore") {
                    return Err(format!("the restore check did not run: {checks}"));
                }
            }
            Ok(())
        }
        Check::Restore => {
            let db = r.newdb.ok_or("no target database")?;
            let found = if r.comparison.data == crate::comparisons::Data::MyArtifact {
                let my = r.ctx.my_started().ok_or("no MariaDB server")?;
                crate::data::mariadb::count_rows(&my.server, db)?
            } else {
                let pg = r.ctx.pg_started().ok_or("no PostgreSQL server")?;
                crate::data::pg::count_rows(&pg.server, db)?
            };
            same_counts(&found, &r.prepared.tables)?;
            if lfb {
                let rec = last_record(r.run)?;
                if rec["restore"]["ok"] != Value::Bool(true) {
                    return Err(format!("restore.ok is not true: {}", rec["restore"]));
                }
            }
            Ok(())
        }
        Check::Archive => {
            let out = r.out.ok_or("no output")?;
            let list = if r.variant.role == Role::Floor {
                r#"tar tf "$F""#
            } else {
                r#"tar tzf "$F""#
            };
            let listing = sh(list, &path_var(out), &dir)?;
            let files = listing
                .lines()
                .filter(|l| !l.ends_with('/') && !l.is_empty())
                .count() as u64;
            if files < r.prepared.media_files {
                return Err(format!(
                    "the archive lists {files} files, the media tree has {}",
                    r.prepared.media_files
                ));
            }
            Ok(())
        }
        Check::Prune => {
            let lines: Vec<&str> = r.run.stdout.lines().filter(|l| !l.is_empty()).collect();
            if lines.len() as u64 != r.prepared.store_artifacts {
                return Err(format!(
                    "{} records for {} artifacts",
                    lines.len(),
                    r.prepared.store_artifacts
                ));
            }
            for l in &lines {
                let v: Value = serde_json::from_str(l).map_err(|e| format!("bad record: {e}"))?;
                if !v["prune"].is_object() {
                    return Err(format!("record without a prune section: {l}"));
                }
            }
            let store = r
                .prepared
                .vars
                .iter()
                .find(|(k, _)| k == "STORE")
                .map(|(_, v)| v.clone())
                .ok_or("no store")?;
            let left = crate::data::store::count_artifacts(Path::new(&store));
            if left != r.prepared.store_artifacts {
                return Err(format!(
                    "--dry-run left {left} of {} artifacts",
                    r.prepared.store_artifacts
                ));
            }
            Ok(())
        }
        Check::List => {
            let lines: Vec<&str> = r.run.stdout.lines().filter(|l| !l.is_empty()).collect();
            if lines.len() as u64 != r.prepared.store_artifacts {
                return Err(format!(
                    "{} records for {} artifacts",
                    lines.len(),
                    r.prepared.store_artifacts
                ));
            }
            let mut last: Option<String> = None;
            for l in &lines {
                let v: Value = serde_json::from_str(l).map_err(|e| format!("bad record: {e}"))?;
                let t = v["created_at"]
                    .as_str()
                    .ok_or("record without created_at")?
                    .to_string();
                if last.as_deref().is_some_and(|p| p < t.as_str()) {
                    return Err(format!("not newest first at {l}"));
                }
                last = Some(t);
            }
            Ok(())
        }
        Check::Copy => {
            if lfb {
                let rec = last_record(r.run)?;
                let off = &rec["offsite"];
                if off["verified"] != Value::Bool(true) || off["skipped"] != Value::Bool(false) {
                    return Err(format!("not an uploaded, verified copy: {off}"));
                }
            }
            Ok(())
        }
        Check::Guard => {
            for l in r.run.stdout.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<Value>(l)
                    .map_err(|e| format!("stdout is not NDJSON: {e}"))?;
            }
            Ok(())
        }
    }
}

/// Checks run once per comparison before timing: `lfb-verify` must fail an
/// artifact with one byte flipped in the middle.
pub fn sanity(ctx: &Ctx, c: &Comparison, p: &Prepared, dir: &Path) -> Result<(), String> {
    if c.check != Check::Verify {
        return Ok(());
    }
    let art = p
        .vars
        .iter()
        .find(|(k, _)| k == "ART")
        .map(|(_, v)| std::path::PathBuf::from(v))
        .ok_or("no artifact")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let bad = dir.join("corrupted.sql.gz");
    let mut bytes = std::fs::read(&art).map_err(|e| e.to_string())?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&bad, &bytes).map_err(|e| e.to_string())?;
    std::fs::copy(
        lfb_core::store::sidecar_path(&art),
        lfb_core::store::sidecar_path(&bad),
    )
    .map_err(|e| e.to_string())?;
    let mut vars = p.vars.clone();
    vars.push(("ART".into(), bad.to_string_lossy().into_owned()));
    let run = measure::run_script(c.variants[0].script, &vars, &ctx.work.join("check"))
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&bad);
    if run.code != 1 {
        return Err(format!(
            "lfb-verify exited {} on a corrupted artifact (expected 1)",
            run.code
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_compare_without_schema_prefix_and_order() {
        let want = vec![("public.a".to_string(), 1), ("public.b".to_string(), 2)];
        let found = vec![("b".to_string(), 2), ("a".to_string(), 1)];
        assert!(same_counts(&found, &want).is_ok());
        let wrong = vec![("a".to_string(), 1), ("b".to_string(), 3)];
        assert!(same_counts(&wrong, &want).is_err());
    }
}
