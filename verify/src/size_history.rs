//! The size check against the group's own history: lfb-verify's judgement
//! on top of `lfb_core::verify`'s size check, reading each folder once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lfb_core::chrono::{DateTime, Utc};
use lfb_core::naming;
use lfb_core::units::format_size;
use lfb_core::verify::{CheckName, Outcome};

/// Artifacts before the newest that a size is compared with.
pub const SHRINK_WINDOW: usize = 10;
/// Fewest earlier artifacts for the comparison to mean anything.
pub const SHRINK_MIN_HISTORY: usize = 3;

/// A group within a folder: name, kind, tag.
type GroupKey = (String, lfb_core::Kind, String);
/// Creation times and sizes of a group's artifacts, oldest first.
type Sizes = Vec<(DateTime<Utc>, u64)>;

/// The sizes of every folder's artifacts by group, oldest first, read once
/// per folder.
#[derive(Default)]
pub(crate) struct History {
    folders: HashMap<PathBuf, HashMap<GroupKey, Sizes>>,
}

impl History {
    /// Sizes of the artifacts of the same group (folder, name, kind, tag)
    /// made before the one at `path`, oldest first, at most SHRINK_WINDOW.
    fn before(&mut self, path: &Path) -> Vec<u64> {
        let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
            return Vec::new();
        };
        let Some(me) = naming::ArtifactName::parse(&file.to_string_lossy()) else {
            return Vec::new();
        };
        let groups = self.folders.entry(dir.to_path_buf()).or_insert_with(|| {
            let mut g: HashMap<GroupKey, Sizes> = HashMap::new();
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let Some(n) = naming::ArtifactName::parse(&e.file_name().to_string_lossy()) else {
                    continue;
                };
                let Some(m) = e.metadata().ok().filter(|m| m.is_file()) else {
                    continue;
                };
                g.entry((n.name, n.kind, n.tag))
                    .or_default()
                    .push((n.time, m.len()));
            }
            for v in g.values_mut() {
                v.sort_unstable();
            }
            g
        });
        let Some(list) = groups.get(&(me.name, me.kind, me.tag)) else {
            return Vec::new();
        };
        let end = list.partition_point(|(t, _)| *t < me.time);
        list[end.saturating_sub(SHRINK_WINDOW)..end]
            .iter()
            .map(|(_, b)| *b)
            .collect()
    }
}

/// The size check against the group's own history: an artifact under half
/// the median of the group's artifacts before it has shrunk suddenly (a
/// dump of the wrong or an emptied database). Young groups (fewer than
/// SHRINK_MIN_HISTORY earlier artifacts) are not judged this way.
pub(crate) fn judge_size(outcome: &mut Outcome, path: &Path, history: &mut History) {
    let Some(check) = outcome
        .checks
        .iter_mut()
        .find(|c| c.name == CheckName::Size && c.ok == Some(true))
    else {
        return;
    };
    let Ok(size) = std::fs::metadata(path).map(|m| m.len()) else {
        return;
    };
    if size == 0 {
        check.ok = Some(false);
        check.detail = "the artifact is empty (0 bytes)".into();
        return;
    }
    let mut before = history.before(path);
    if before.len() < SHRINK_MIN_HISTORY {
        return;
    }
    before.sort_unstable();
    let median = before[before.len() / 2];
    if size.saturating_mul(2) < median {
        check.ok = Some(false);
        check.detail = format!(
            "{} is under half the median size ({}) of the {} artifacts of its group before it: \
             a sudden shrink",
            format_size(size),
            format_size(median),
            before.len()
        );
    } else {
        check.detail = format!(
            "{}; the median of the {} before it is {}",
            check.detail,
            before.len(),
            format_size(median)
        );
    }
}
