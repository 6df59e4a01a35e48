//! Housekeeping beside retention: what killed runs leave, and the journal.
//!
//! - A `*.partial` is what a dump was writing when it was killed. One not
//!   written to for a day is left over, never a backup (DESIGN.md,
//!   invariant 1), and is removed. Only partials whose name parses back to
//!   an artifact name in scope ([`naming::leftover`]: `NAME.partial`,
//!   `NAME.<pid>.partial`, `NAME.json.partial`) are considered: anything
//!   else is not ours to touch. A sidecar whose artifact is gone is removed
//!   the same way.
//! - `logs/journal.ndjson` is renamed to `journal-YYYYmmddTHHMMSSZ.ndjson`
//!   once larger than a threshold, and rotated segments older than
//!   `--keep-logs` are removed, by the time in their names.
//!
//! These functions only find what to do; the caller does it (or, in a dry
//! run, reports it), so everything prune removes goes through one place.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use lfb_core::chrono::{DateTime, NaiveDateTime, Utc};
use lfb_core::error::IoContext;
use lfb_core::naming::{self, ArtifactName};
use lfb_core::store::{self, Leftovers, Store};
use lfb_core::{Error, Result};

use crate::scope::{Meta, Scope};

/// How long a `*.partial` must have gone unwritten to count as left over.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(86_400);

/// Layout of the rotation time in a rotated segment's name.
const SEGMENT_STAMP: &str = "%Y%m%dT%H%M%SZ";

/// `*.partial` files in scope not written to for [`PARTIAL_MAX_AGE`], and
/// sidecars whose artifact is gone, as old.
///
/// Their age is taken from the modification time, unlike artifacts' ages:
/// a partial is our own file being written, and a dump that is still
/// running keeps its mtime fresh, while the time in its name only says when
/// it started. The real clock is used (not `--now`), since mtimes are real.
///
/// A sidecar without its artifact is what a kill leaves between a dump's
/// sidecar write and its artifact's rename, or between a deletion's two
/// steps; it describes nothing and is removed once as old as a stale
/// partial (a dump publishing right now has its artifact a moment later).
pub fn stale_partials(leftovers: Leftovers, scope: &Scope) -> Result<Vec<PathBuf>> {
    let now = SystemTime::now();
    let mut found: Vec<(PathBuf, ArtifactName)> = Vec::new();
    for path in leftovers.partials {
        let Some(file) = path.file_name().map(|f| f.to_string_lossy().into_owned()) else {
            continue;
        };
        // NAME.partial, NAME.<pid>.partial, NAME.json.partial.
        if let Some((name, _)) = naming::leftover(&file) {
            found.push((path, name));
        }
    }
    found.extend(leftovers.orphans);
    let mut out = Vec::new();
    for (path, name) in found {
        let folder = path
            .parent()
            .and_then(Path::file_name)
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The same environment a derived record would name.
        let derived = store::derived_record(&path, &name, &folder);
        let meta = Meta {
            folder: &folder,
            env: derived.env().unwrap_or(&folder),
            name: &name.name,
            kind: name.kind,
            tag: &name.tag,
        };
        if !scope.matches(&meta) {
            continue;
        }
        let Ok(md) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !md.is_file() {
            continue;
        }
        let age = md
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age > PARTIAL_MAX_AGE {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The name the journal gets when rotated at `now`.
pub fn segment_name(now: DateTime<Utc>) -> String {
    format!("journal-{}.ndjson", now.format(SEGMENT_STAMP))
}

/// The rotation time in a segment's name, `None` for any other file.
pub fn segment_time(file: &str) -> Option<DateTime<Utc>> {
    let stamp = file.strip_prefix("journal-")?.strip_suffix(".ndjson")?;
    Some(
        NaiveDateTime::parse_from_str(stamp, SEGMENT_STAMP)
            .ok()?
            .and_utc(),
    )
}

/// Where the journal should be rotated to, when it is larger than
/// `threshold` bytes: a segment name not yet taken.
pub fn journal_rotation(
    store: &Store,
    threshold: u64,
    now: DateTime<Utc>,
) -> Result<Option<PathBuf>> {
    let journal = store.journal_path();
    let len = match fs::metadata(&journal) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_path("read", &journal, e)),
    };
    if len <= threshold {
        return Ok(None);
    }
    let mut t = now;
    loop {
        let target = store.logs_dir().join(segment_name(t));
        if !target.exists() {
            return Ok(Some(target));
        }
        t += lfb_core::chrono::Duration::seconds(1);
    }
}

/// Rotated segments whose rotation time is more than `keep` before `now`.
pub fn old_segments(store: &Store, keep: Duration, now: DateTime<Utc>) -> Result<Vec<PathBuf>> {
    let dir = store.logs_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io_path("read", &dir, e)),
    };
    let keep =
        lfb_core::chrono::Duration::from_std(keep).unwrap_or(lfb_core::chrono::Duration::MAX);
    let cutoff = now.checked_sub_signed(keep);
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_path("read", &dir)?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(t) = segment_time(&file) else {
            continue;
        };
        if cutoff.is_some_and(|c| t < c) && entry.file_type().is_ok_and(|t| t.is_file()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_parse_back() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T02:03:04Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = segment_name(t);
        assert_eq!(n, "journal-20261127T020304Z.ndjson");
        assert_eq!(segment_time(&n), Some(t));
        assert_eq!(segment_time("journal.ndjson"), None);
        assert_eq!(segment_time("journal-old.ndjson"), None);
    }
}
