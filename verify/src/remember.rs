//! Remembering a verification: the rules for when a result is written into
//! the artifact's sidecar (so lfb-prune, lfb-guard and `lfb-restore
//! --latest` know it later), and the write itself.

use std::path::Path;

use lfb_core::cli::Ui;
use lfb_core::verify::{CheckName, Options};
use lfb_core::{Record, Store, store};
use serde_json::json;

/// Whether a verification is remembered: when it proves something. A
/// failure does, except one that only says the key given does not open the
/// file (that is about the key, not the artifact: a good backup must not
/// become "failed" for prune and restore). A pass does when it read the
/// whole content (a pass of `--checks exists` does not make an artifact
/// "verified" for prune). A restore test that could not run (no CREATEDB,
/// a refused password: see [`restore_could_not_run`]) is not a verdict on
/// the artifact either, so that verification is not remembered at all.
/// `record` carries the `verify` section already.
pub(crate) fn worth_remembering(record: &Record, ok: bool, opts: &Options) -> bool {
    if restore_could_not_run(record) {
        return false;
    }
    let key_only = !ok && only_the_key_failed(record);
    (!ok && !key_only)
        || (ok
            && [CheckName::Checksum, CheckName::Decode, CheckName::Complete]
                .iter()
                .all(|c| opts.checks.contains(c)))
}

/// Makes the verification durable: the latest `verify` section goes into
/// the artifact's sidecar, rewritten atomically under the store lock, so
/// lfb-prune's newest-verified rule, lfb-guard and `lfb-restore --latest`
/// know it later. A file of the original scripts (no sidecar) gets one made
/// from its name; a file whose name lfb does not recognise gets none. The
/// record printed carries the same section. A sidecar that cannot be
/// written is a warning: the checks' result stands.
pub(crate) fn remember(path: &Path, record: &mut Record, st: &Store, ui: &Ui) {
    if !path.is_file() {
        return;
    }
    // Confinement: only an artifact the store owns (a regular file with an
    // artifact name in one of its folders, symlinks resolved) gets its
    // sidecar written; a file elsewhere is verified but not remembered.
    if let Err(e) = st.confine(path) {
        ui.debug(format!("verification not remembered: {}", e.line()));
        return;
    }
    let has_sidecar = store::sidecar_path(path).is_file();
    if !has_sidecar && record.id().is_none() {
        ui.debug(format!(
            "{}: not an lfb artifact name, so no sidecar is written",
            path.display()
        ));
        return;
    }
    let _lock = if st.root().is_dir() {
        match lfb_core::lock::StoreLock::acquire(st, lfb_core::publish::LOCK_WAIT) {
            Ok(l) => Some(l),
            Err(e) => {
                ui.warn(format!("verification not remembered: {}", e.line()));
                return;
            }
        }
    } else {
        None
    };
    let section = record.get("verify").cloned().unwrap_or_default();
    match lfb_core::record::remember_verify(path, record, &section) {
        Ok((how, merged)) => {
            if how == lfb_core::record::SidecarWrite::Created {
                ui.info(format!(
                    "{}: no sidecar (not made by lfb); wrote {} from the file name, \
                     with this verification",
                    path.display(),
                    store::sidecar_path(path).display()
                ));
            }
            record.set("verify", merged);
        }
        Err(e) => ui.warn(format!("verification not remembered: {}", e.line())),
    }
}

/// True when the record's restore check could not run: the scratch
/// database could not be made (a role without CREATEDB, MariaDB access
/// denied). lfb-verify then exits 2 and remembers nothing.
pub(crate) fn restore_could_not_run(record: &Record) -> bool {
    record
        .get("verify")
        .and_then(|v| v.get("checks"))
        .and_then(|c| c.as_array())
        .is_some_and(|checks| {
            checks.iter().any(|c| {
                c.get("name") == Some(&json!("restore"))
                    && c.get("ok") == Some(&json!(false))
                    && c.get("detail")
                        .and_then(|d| d.as_str())
                        .is_some_and(lfb_core::verify::could_not_run)
            })
        })
}

/// True when every failed check of the record's `verify` section failed
/// because no identity given opens the file (a wrong key).
pub(crate) fn only_the_key_failed(record: &Record) -> bool {
    let Some(checks) = record
        .get("verify")
        .and_then(|v| v.get("checks"))
        .and_then(|c| c.as_array())
    else {
        return false;
    };
    let failed: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c.get("ok") == Some(&json!(false)))
        .collect();
    !failed.is_empty()
        && failed.iter().all(|c| {
            c.get("detail").and_then(|d| d.as_str()).is_some_and(|d| {
                d.contains("no identity matches") || d.contains("does not decrypt")
            })
        })
        && failed.iter().any(|c| {
            c.get("detail")
                .and_then(|d| d.as_str())
                .is_some_and(|d| d.contains("no identity matches"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lfb_core::verify::CheckName::*;

    fn with_checks(checks: serde_json::Value) -> Record {
        let mut r = Record::from_object(
            json!({"schema": "lfb/1", "path": "/x/a_db_manual_20260101T000000Z.sql"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        r.set("verify", json!({"checks": checks}));
        r
    }

    fn opts(checks: &[CheckName]) -> Options {
        Options {
            checks: checks.iter().copied().collect(),
            ..Options::default()
        }
    }

    #[test]
    fn a_pass_is_remembered_only_when_it_read_the_whole_content() {
        let r = with_checks(json!([{"name": "exists", "ok": true}]));
        assert!(worth_remembering(&r, true, &Options::default()));
        assert!(worth_remembering(
            &r,
            true,
            &opts(&[Checksum, Decode, Complete])
        ));
        assert!(!worth_remembering(&r, true, &opts(&[Exists])));
        assert!(!worth_remembering(&r, true, &opts(&[Checksum, Decode])));
    }

    #[test]
    fn a_failure_is_remembered_unless_only_the_key_failed() {
        let corrupt = with_checks(json!([{"name": "decode", "ok": false, "detail": "CRC"}]));
        assert!(worth_remembering(&corrupt, false, &opts(&[Exists])));
        let wrong_key = with_checks(json!([
            {"name": "decode", "ok": false, "detail": "age: no identity matches"},
            {"name": "complete", "ok": false, "detail": "cannot tell: the artifact does not decrypt"},
        ]));
        assert!(!worth_remembering(&wrong_key, false, &Options::default()));
        // "does not decrypt" with no "no identity matches" beside it is not
        // about the key given (a damaged file).
        let damaged = with_checks(json!([
            {"name": "complete", "ok": false, "detail": "cannot tell: the artifact does not decrypt"},
        ]));
        assert!(worth_remembering(&damaged, false, &Options::default()));
        // A key failure beside a failure of the artifact itself is remembered.
        let both = with_checks(json!([
            {"name": "checksum", "ok": false, "detail": "SHA-256 is 00, the record says 11"},
            {"name": "decode", "ok": false, "detail": "age: no identity matches"},
        ]));
        assert!(worth_remembering(&both, false, &Options::default()));
    }

    #[test]
    fn a_restore_test_that_could_not_run_is_not_remembered() {
        let denied = with_checks(json!([
            {"name": "decode", "ok": true, "detail": "ok"},
            {"name": "restore", "ok": false, "detail": "could not run: query failed: \
              ERROR:  permission denied to create database; the role needs CREATEDB"},
        ]));
        assert!(restore_could_not_run(&denied));
        assert!(!worth_remembering(&denied, false, &Options::default()));
        let differs = with_checks(json!([
            {"name": "restore", "ok": false, "detail": "row counts differ after restore: t 1 != 2"},
        ]));
        assert!(!restore_could_not_run(&differs));
        assert!(worth_remembering(&differs, false, &Options::default()));
    }
}
