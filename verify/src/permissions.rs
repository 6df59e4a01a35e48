//! Permissions of files lfb did not create: a warning naming the fix rather
//! than a failure, and `--fix-permissions`.

use std::path::Path;

use lfb_core::cli::Ui;
use lfb_core::verify::{CheckName, Outcome};
use lfb_core::{Error, Record, naming, store};

/// Group/other access on a file lfb did not create (no sidecar, or a name
/// of the original scripts, made under umask 022) is a warning naming the
/// fix, not a failure: a user's first `lfb-verify --all` over old backups
/// must not fail everything. lfb-guard still reports it.
pub(crate) fn soften_permissions(outcome: &mut Outcome, record: &Record, path: &Path, ui: &Ui) {
    let legacy = path
        .file_name()
        .and_then(|f| naming::ArtifactName::parse(&f.to_string_lossy()))
        .is_some_and(|n| n.legacy);
    if !(legacy || record.get("derived").is_some()) {
        return;
    }
    for c in outcome.checks.iter_mut() {
        if c.name == CheckName::Permissions
            && c.ok == Some(false)
            && c.detail.contains("group/other")
        {
            c.ok = Some(true);
            c.warning = true;
            c.detail = format!(
                "{}; lfb did not create this file: chmod 600 '{}' (or lfb-verify --fix-permissions)",
                c.detail,
                path.display()
            );
            ui.warn(format!("{}: {}", path.display(), c.detail));
        }
    }
}

/// `--fix-permissions`: takes group/other access away from an artifact lfb
/// recognises and its sidecar, when owned by the current user.
pub(crate) fn fix_permissions(path: &Path, ui: &Ui) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for p in [path.to_path_buf(), store::sidecar_path(path)] {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !m.is_file() || m.mode() & 0o077 == 0 || m.uid() != lfb_core::sys::euid() {
            continue;
        }
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => ui.info(format!(
                "{}: mode {:04o} changed to 0600",
                p.display(),
                m.mode() & 0o777
            )),
            Err(e) => ui.warn(Error::io_path("chmod", &p, e).line()),
        }
    }
}
