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
/// "verified" for prune). `record` carries the `verify` section already.
pub(crate) fn worth_remembering(record: &Record, ok: bool, opts: &Options) -> bool {
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
        match lfb_core::lock::StoreLock::acquire(st, lfb_core::dump::LOCK_WAIT) {
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

/// True when every failed check of the record's `verify` section failed
/// because no identity given opens the file (a wrong key).
fn only_the_key_failed(record: &Record) -> bool {
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
