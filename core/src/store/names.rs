//! File names by the hundred thousand, kept in one buffer.
//!
//! A tool that goes through a whole store holds one name per artifact (and,
//! while a folder is read, one per file in it). As `String`s or `PathBuf`s
//! each costs its text plus a 24-byte header and an allocation of its own,
//! about twice the text: at 400,000 artifacts that alone was over 60 MiB.
//! [`Names`] keeps the texts end to end in one `String`, each name a
//! 4-byte [`NameId`]; [`FolderListing`] is a folder's entries sorted that
//! way. [`ArtifactFiles`] goes further for artifact names, which differ
//! mostly in their time: each is its series (name, kind, tag, extension,
//! kept once) and its time, 12 bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::path::Path;

use chrono::DateTime;

use crate::error::{Error, IoContext, Result};
use crate::naming::ArtifactName;

/// A name in a [`Names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameId(u32);

/// Names end to end in one buffer (module docs).
#[derive(Debug)]
pub struct Names {
    text: String,
    /// Where each name starts in `text`, and last where the last one ends:
    /// name `i` is `bounds[i]..bounds[i + 1]`.
    bounds: Vec<u32>,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            text: String::new(),
            bounds: vec![0],
        }
    }
}

impl Names {
    pub fn new() -> Names {
        Names::default()
    }

    /// Adds `name`; an error once the names fill 4 GiB (tens of millions
    /// of names: far beyond any store).
    pub fn push(&mut self, name: &str) -> Result<NameId> {
        let id = u32::try_from(self.len()).ok();
        let end = u32::try_from(self.text.len() + name.len()).ok();
        let (Some(id), Some(end)) = (id, end) else {
            return Err(Error::input(
                "too many file names to hold (over 4 GiB of them)",
            ));
        };
        self.text.push_str(name);
        self.bounds.push(end);
        Ok(NameId(id))
    }

    /// The name `id` stands for.
    pub fn get(&self, id: NameId) -> &str {
        let i = id.0 as usize;
        &self.text[self.bounds[i] as usize..self.bounds[i + 1] as usize]
    }

    /// The bytes of the name `id` stands for: what sorting and searching
    /// compare (the order of UTF-8 bytes is the order of the strings),
    /// without [`Names::get`]'s checks that the bounds fall between
    /// characters, which were a tenth of listing a large folder.
    pub fn bytes(&self, id: NameId) -> &[u8] {
        let i = id.0 as usize;
        &self.text.as_bytes()[self.bounds[i] as usize..self.bounds[i + 1] as usize]
    }

    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back what was reserved beyond the names held.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.bounds.shrink_to_fit();
    }
}

/// A folder's entries, sorted by name: each name with whether it is a
/// regular file. Names that are not UTF-8 are left out (no artifact has
/// one). Read with [`FolderListing::read_hashing_sidecars`], sidecars
/// (regular files `X.json`), half of an artifact folder, are kept only as a
/// hash of `X`: a walk of the artifacts never needs them by name, except
/// those whose `X` is missing ([`FolderListing::lone_sidecars`]).
#[derive(Debug, Default)]
pub struct FolderListing {
    names: Names,
    /// Indexes into `names`, in name order.
    order: Vec<u32>,
    /// By index into `names`: the entry is a regular file.
    is_file: Vec<bool>,
    /// The sidecars, as [`hash`] of the name they are the sidecar of.
    sidecars: Vec<u64>,
}

/// A name's hash for [`FolderListing::sidecars`] (SipHash with fixed keys:
/// the same in every run).
fn hash(name: &str) -> u64 {
    use std::hash::BuildHasher;
    std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(name)
}

impl FolderListing {
    /// Reads `dir`, every entry by name (an error naming `dir` when it
    /// cannot be read).
    pub fn read(dir: &Path) -> Result<FolderListing> {
        Self::read_with(dir, false)
    }

    /// Reads `dir`, its sidecars as hashes (type docs).
    pub fn read_hashing_sidecars(dir: &Path) -> Result<FolderListing> {
        Self::read_with(dir, true)
    }

    fn read_with(dir: &Path, hash_sidecars: bool) -> Result<FolderListing> {
        let mut out = FolderListing::default();
        for entry in fs::read_dir(dir).with_path("read", dir)?.flatten() {
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if let Ok(name) = entry.file_name().into_string() {
                match name.strip_suffix(".json") {
                    Some(of) if is_file && hash_sidecars => out.sidecars.push(hash(of)),
                    _ => {
                        out.names.push(&name)?;
                        out.is_file.push(is_file);
                    }
                }
            }
        }
        out.names.shrink_to_fit();
        out.is_file.shrink_to_fit();
        out.sidecars.shrink_to_fit();
        let names = &out.names;
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| names.bytes(NameId(a)).cmp(names.bytes(NameId(b))));
        out.order = order;
        Ok(out)
    }

    /// The entries in name order (but hashed sidecars): (name, is a
    /// regular file).
    pub fn iter(&self) -> impl Iterator<Item = (&str, bool)> + '_ {
        self.order
            .iter()
            .map(|&i| (self.names.get(NameId(i)), self.is_file[i as usize]))
    }

    /// True when the folder has an entry called `name` (not a hashed
    /// sidecar).
    pub fn contains(&self, name: &str) -> bool {
        self.order
            .binary_search_by(|&i| self.names.bytes(NameId(i)).cmp(name.as_bytes()))
            .is_ok()
    }

    /// The sidecars `X.json` of `dir` (this listing's folder) that have
    /// neither an `X` nor a cloud placeholder `.X.icloud` beside them in
    /// the listing, by name, sorted. The folder is read again for the
    /// names of hashed ones only when the hashes say there may be any.
    pub fn lone_sidecars(&self, dir: &Path) -> Result<Vec<String>> {
        let lone_by_name = |(name, is_file): (&str, bool)| {
            let of = name.strip_suffix(".json")?;
            (is_file && !self.contains(of) && !self.contains(&format!(".{of}.icloud")))
                .then(|| name.to_string())
        };
        let mut out: Vec<String> = self.iter().filter_map(lone_by_name).collect();
        if self.sidecars.is_empty() {
            return Ok(out);
        }
        let mut have: Vec<u64> = Vec::with_capacity(self.names.len());
        for (name, _) in self.iter() {
            have.push(hash(name));
            if let Some(evicted) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".icloud"))
            {
                have.push(hash(evicted));
            }
        }
        have.sort_unstable();
        let mut lone: Vec<u64> = self
            .sidecars
            .iter()
            .filter(|h| have.binary_search(h).is_err())
            .copied()
            .collect();
        drop(have);
        if lone.is_empty() {
            return Ok(out);
        }
        lone.sort_unstable();
        for entry in fs::read_dir(dir).with_path("read", dir)?.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(of) = name.strip_suffix(".json")
                && entry.file_type().is_ok_and(|t| t.is_file())
                && lone.binary_search(&hash(of)).is_ok()
                && !self.contains(of)
                && !self.contains(&format!(".{of}.icloud"))
            {
                out.push(name);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Entries, sidecars included.
    pub fn len(&self) -> usize {
        self.order.len() + self.sidecars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An artifact's file name in an [`ArtifactFiles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(u32);

/// Artifact file names by the hundred thousand, about 12 bytes each
/// (module docs). A name its series and time do not spell again exactly
/// (none lfb writes; perhaps a hand-made one) is kept as text.
#[derive(Debug, Default)]
pub struct ArtifactFiles {
    /// Each series once, its time unused.
    series: Vec<ArtifactName>,
    /// Where each series is in `series`, by [`series_key`].
    index: HashMap<String, u32>,
    /// By file: its series, or with [`ODD`] set its index in `odd`.
    spelled: Vec<u32>,
    /// By file: the time in its name (seconds since the epoch).
    times: Vec<i64>,
    /// The names kept as text.
    odd: Names,
}

/// Marks an [`ArtifactFiles::spelled`] entry that indexes `odd`.
const ODD: u32 = 1 << 31;

fn series_key(n: &ArtifactName) -> String {
    format!("{}/{}/{}/{}/{}", n.name, n.kind, n.tag, n.ext, n.legacy)
}

fn same_series(a: &ArtifactName, b: &ArtifactName) -> bool {
    a.name == b.name && a.kind == b.kind && a.tag == b.tag && a.ext == b.ext && a.legacy == b.legacy
}

impl ArtifactFiles {
    pub fn new() -> ArtifactFiles {
        ArtifactFiles::default()
    }

    /// Adds the artifact `file`, whose parsed name is `name`.
    pub fn push(&mut self, file: &str, name: &ArtifactName) -> Result<FileId> {
        let id = u32::try_from(self.spelled.len())
            .ok()
            .filter(|&i| i < ODD)
            .ok_or_else(|| Error::input("too many artifacts to hold (over 2 billion)"))?;
        let time = name.time.timestamp();
        // Whole seconds give the time back, and the name spells the file.
        let respelled =
            DateTime::from_timestamp(time, 0) == Some(name.time) && name.file_name() == file;
        let spelled = if respelled {
            self.series_of(name)
        } else {
            // Fewer names kept as text than files (`id` < ODD): the mark
            // is free.
            self.odd.push(file)?.0 | ODD
        };
        self.spelled.push(spelled);
        self.times.push(time);
        Ok(FileId(id))
    }

    fn series_of(&mut self, name: &ArtifactName) -> u32 {
        // Files come folder by folder in name order: mostly the series
        // just seen.
        if let Some(last) = self.spelled.last().filter(|&&s| s & ODD == 0)
            && same_series(&self.series[*last as usize], name)
        {
            return *last;
        }
        let key = series_key(name);
        if let Some(&s) = self.index.get(&key) {
            return s;
        }
        let s = self.series.len() as u32;
        self.series.push(name.clone());
        self.index.insert(key, s);
        s
    }

    /// The file name `id` stands for.
    pub fn file_name(&self, id: FileId) -> Cow<'_, str> {
        let s = self.spelled[id.0 as usize];
        if s & ODD != 0 {
            return Cow::Borrowed(self.odd.get(NameId(s & !ODD)));
        }
        Cow::Owned(self.name(id).file_name())
    }

    /// The parsed name `id` stands for.
    pub fn name(&self, id: FileId) -> ArtifactName {
        let s = self.spelled[id.0 as usize];
        if s & ODD != 0 {
            return ArtifactName::parse(self.odd.get(NameId(s & !ODD)))
                .expect("only artifact names are pushed");
        }
        let mut name = self.series[s as usize].clone();
        name.time = DateTime::from_timestamp(self.times[id.0 as usize], 0)
            .expect("a time that spelled its name");
        name
    }

    /// The time in the name `id` stands for, in seconds since the epoch.
    pub fn time(&self, id: FileId) -> i64 {
        self.times[id.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.spelled.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spelled.is_empty()
    }

    /// Gives back what was reserved beyond the names held.
    pub fn shrink_to_fit(&mut self) {
        self.spelled.shrink_to_fit();
        self.times.shrink_to_fit();
        self.odd.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_as_pushed() {
        let mut names = Names::new();
        let ids: Vec<NameId> = ["b", "", "ledgerflow_db_daily_20260101T000000Z.sql.gz", "é"]
            .iter()
            .map(|n| names.push(n).unwrap())
            .collect();
        assert_eq!(names.get(ids[0]), "b");
        assert_eq!(names.get(ids[1]), "");
        assert_eq!(
            names.get(ids[2]),
            "ledgerflow_db_daily_20260101T000000Z.sql.gz"
        );
        assert_eq!(names.get(ids[3]), "é");
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn artifact_files_come_back_as_pushed() {
        let mut files = ArtifactFiles::new();
        let names = [
            "ledgerflow_db_daily_20260101T000000Z.sql.gz",
            "ledgerflow_db_daily_20260102T000000Z.sql.gz",
            "ledgerflow_full_daily_20260102T000000Z.tar.gz",
            "ledgerflow_db_daily_20260103T000000Z.sql.gz",
            "ledgerflow_backup_20261127_020000.sql.gz",
            "other_db_manual_20250101T101010Z.dump.age",
        ];
        let ids: Vec<FileId> = names
            .iter()
            .map(|f| files.push(f, &ArtifactName::parse(f).unwrap()).unwrap())
            .collect();
        for (id, f) in ids.iter().zip(names) {
            assert_eq!(files.file_name(*id), f);
            assert_eq!(files.name(*id), ArtifactName::parse(f).unwrap());
            assert_eq!(
                files.time(*id),
                ArtifactName::parse(f).unwrap().time.timestamp()
            );
        }
        // Three lfb series (the legacy name is one more, or kept as text
        // where the local clock cannot spell it again).
        assert!(files.series.len() >= 3 && files.series.len() <= 4);
        assert_eq!(files.len(), names.len());
    }

    #[test]
    fn a_name_its_time_does_not_spell_again_is_kept_as_text() {
        let mut files = ArtifactFiles::new();
        let f = "ledgerflow_db_daily_20260101T000000Z.sql.gz";
        let mut name = ArtifactName::parse(f).unwrap();
        // As if parsing had read a time the name does not show.
        name.time += chrono::Duration::milliseconds(500);
        let id = files.push(f, &name).unwrap();
        assert_eq!(files.file_name(id), f);
        assert_eq!(files.odd.len(), 1);
    }

    #[test]
    fn a_listing_is_sorted_and_knows_files_from_folders() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["c.sql.gz", "a.sql.gz", "a.sql.gz.json"] {
            fs::write(dir.path().join(f), "x").unwrap();
        }
        fs::create_dir(dir.path().join("b")).unwrap();
        fs::create_dir(dir.path().join("d.json")).unwrap();
        let all = FolderListing::read(dir.path()).unwrap();
        assert_eq!(all.iter().nth(1), Some(("a.sql.gz.json", true)));
        assert!(all.contains("a.sql.gz.json"));
        assert_eq!(all.len(), 5);
        let l = FolderListing::read_hashing_sidecars(dir.path()).unwrap();
        let got: Vec<(&str, bool)> = l.iter().collect();
        // The sidecar is not listed by name; a folder called *.json is.
        assert_eq!(
            got,
            [
                ("a.sql.gz", true),
                ("b", false),
                ("c.sql.gz", true),
                ("d.json", false)
            ]
        );
        assert!(l.contains("b") && l.contains("d.json"));
        assert!(!l.contains("a.sql") && !l.contains("e"));
        assert_eq!(l.len(), 5);
    }

    #[test]
    fn lone_sidecars_are_those_without_their_file_or_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "a.sql.gz",
            "a.sql.gz.json",
            "b.sql.gz.json",
            ".c.sql.gz.icloud",
            "c.sql.gz.json",
            "e.sql.gz.json",
        ] {
            fs::write(dir.path().join(f), "x").unwrap();
        }
        fs::create_dir(dir.path().join("e.sql.gz")).unwrap();
        for read in [FolderListing::read, FolderListing::read_hashing_sidecars] {
            let l = read(dir.path()).unwrap();
            assert_eq!(l.lone_sidecars(dir.path()).unwrap(), ["b.sql.gz.json"]);
        }
        fs::remove_file(dir.path().join("b.sql.gz.json")).unwrap();
        for read in [FolderListing::read, FolderListing::read_hashing_sidecars] {
            let l = read(dir.path()).unwrap();
            assert!(l.lone_sidecars(dir.path()).unwrap().is_empty());
        }
    }

    #[test]
    fn an_unreadable_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let e = FolderListing::read(&missing).unwrap_err();
        assert!(e.to_string().contains("gone"), "{e}");
    }
}
