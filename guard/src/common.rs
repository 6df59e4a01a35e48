//! Small types and helpers the checks and the report both use, kept here so
//! neither imports the other (`checks` finds, `report` presents).

use std::collections::BTreeMap;

use lfb_core::store::FileId;

/// Results of re-reading artifacts, by file (the inventory's
/// [`crate::inventory::Artifact::file`]): true when every check passed.
pub type Verified = BTreeMap<FileId, bool>;

/// `1 group`, `2 groups`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
