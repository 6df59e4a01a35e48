//! The project's git state, as the original daily job wrote it into its
//! manifest (commit and branch), plus whether the checkout was dirty.
//!
//! Asking git is best effort: no git, or a folder that is not a checkout,
//! means no git section, never a failed backup.

use std::path::Path;
use std::process::{Command, Stdio};

use lfb_core::archive::Git;
use lfb_core::cli::Ui;

/// The state of the checkout at `dir`, or `None` when there is none.
/// `explicit`: the user named the folder (`--git`), so its absence is worth
/// a warning rather than a debug line.
pub fn state(dir: &Path, explicit: bool, ui: &Ui) -> Option<Git> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty()) else {
        let msg = format!(
            "'{}' is not a git checkout (or git is not installed): no git section",
            dir.display()
        );
        if explicit {
            ui.warn(msg);
        } else {
            ui.debug(msg);
        }
        return None;
    };
    // Fails on a detached HEAD: no branch then.
    let branch = git(&["symbolic-ref", "--short", "HEAD"]).filter(|b| !b.is_empty());
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    let top = git(&["rev-parse", "--show-toplevel"]).unwrap_or_else(|| {
        std::path::absolute(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .to_string_lossy()
            .into_owned()
    });
    Some(Git {
        commit,
        branch,
        dirty,
        dir: top,
    })
}
