//! The archive format of `lfb-archive`, shared by its writer and by the
//! checks of `lfb-verify`: a standard `.tar.gz` that GNU tar and Python's
//! `tarfile` read, with two lfb members that describe the rest.
//!
//! ```text
//! manifest.json            first: everything known before any file is read
//! db/<dump file name>      the included dumps
//! media/<folder>/...       each --media folder, sorted
//! config/<file name>       each --config file (or folder)
//! manifest-hashes.json     last: the SHA-256 of every file as it was stored
//! ```
//!
//! Why two members: the manifest must come first (so a reader knows what to
//! expect before it meets a member), yet every file is read exactly once,
//! hashed as it goes into the tar stream. The SHA-256 of a file is therefore
//! known only after its member is written. `manifest.json` holds what a
//! cheap metadata walk knows up front (path, role, type, size, mode, mtime,
//! link target; for dumps also the SHA-256 their record promises) and
//! `manifest-hashes.json` holds what reading found (the SHA-256 of each
//! member's stored bytes, files that changed while they were read, and the
//! SHA-256 of `manifest.json` itself). Together they are the manifest; the
//! verifier checks every member against both.
//!
//! A file that changes between the walk and its read keeps the size the
//! manifest promised: it is zero-padded when it shrank, cut when it grew, and
//! flagged `changed_while_read` in `manifest-hashes.json`, so the archive is
//! always valid and always says which members are not a faithful copy.
//!
//! Dependencies: this module judges embedded dumps with
//! `crate::verify::content` (the bottom of the verify layer) and is used by
//! the rest of [`crate::verify`]; it never imports `verify`'s top level.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::digest::{HashingReader, hex};
use crate::error::{Error, IoContext, Result};
use crate::record::Record;
use crate::verify::content::{Completeness, Content, compare_counts};

/// The first member.
pub const MANIFEST: &str = "manifest.json";
/// The last member.
pub const HASHES: &str = "manifest-hashes.json";
/// `schema` of `manifest.json`.
pub const MANIFEST_SCHEMA: &str = "lfb-manifest/1";
/// `schema` of `manifest-hashes.json`.
pub const HASHES_SCHEMA: &str = "lfb-manifest-hashes/1";
/// The record `format` of an archive.
pub const FORMAT: &str = "tar+gzip";
/// The largest manifest member read into memory (a hostile header cannot
/// make the verifier allocate more).
const MAX_MANIFEST: u64 = 1 << 30;

/// What a member is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Db,
    Media,
    Config,
    Meta,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Db => "db",
            Role::Media => "media",
            Role::Config => "config",
            Role::Meta => "meta",
        }
    }
}

/// What kind of entry a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "a file",
            EntryKind::Dir => "a folder",
            EntryKind::Symlink => "a symlink",
        }
    }
}

/// One member as `manifest.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Path inside the archive (folders without a trailing `/`).
    pub path: String,
    pub role: Role,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Bytes of a file member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Permission bits in octal, as `ls -l` users read them: `"0644"`.
    pub mode: String,
    /// Modification time, seconds since the epoch (what tar keeps).
    pub mtime: u64,
    /// Where a symlink points, exactly as `readlink` returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Known before reading only for dumps: the SHA-256 their record holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Formats permission bits the way the manifest holds them.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Parses a manifest mode (`"0644"`).
pub fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s, 8).ok()
}

/// Files and bytes of one role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Count {
    /// Regular files.
    pub count: u64,
    pub bytes: u64,
}

/// The git state of the project folder when the archive was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Git {
    pub commit: String,
    /// `None` on a detached HEAD.
    pub branch: Option<String>,
    /// Uncommitted changes or untracked files (`git status --porcelain`).
    pub dirty: bool,
    pub dir: String,
}

/// Where a top-level member came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDir {
    pub role: Role,
    /// The member path it became.
    pub member: String,
    /// The absolute path it was read from.
    pub from: String,
    /// Its path relative to the folder `lfb-archive` ran in (the project
    /// folder), when it was inside it: `media`, `static/uploads`. Where
    /// `lfb-restore --files-to DIR` puts it back (`DIR/media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<String>,
}

/// The path of `dir` relative to `base` when it is inside it (symlinks
/// resolved on both sides), for [`SourceDir::relative`].
pub fn relative_to(dir: &Path, base: &Path) -> Option<String> {
    let dir = fs::canonicalize(dir).ok()?;
    let base = fs::canonicalize(base).ok()?;
    let rel = dir.strip_prefix(&base).ok()?;
    let s = rel.to_str()?;
    (!s.is_empty()).then(|| s.to_string())
}

/// An included dump: its member and its record as it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    pub member: String,
    pub record: Value,
}

/// Something in a source folder that was left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub created_at: String,
    pub name: String,
    pub env: String,
    pub tag: String,
    pub host: String,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<Git>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// The member holding the SHA-256 of every file ([`HASHES`]).
    #[serde(default)]
    pub hashes: String,
    #[serde(default)]
    pub counts: BTreeMap<Role, Count>,
    #[serde(default)]
    pub sources: Vec<SourceDir>,
    #[serde(default)]
    pub dumps: Vec<Dump>,
    pub members: Vec<Member>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl Manifest {
    /// The record of the dump stored as `member`, with its `path` pointing
    /// where the caller put the extracted file.
    pub fn dump_record(&self, member: &str, path: &Path) -> Option<Record> {
        let d = self.dumps.iter().find(|d| d.member == member)?;
        let mut r = Record::from_object(d.record.as_object()?.clone()).ok()?;
        r.set("path", serde_json::json!(path.to_string_lossy()));
        Some(r)
    }
}

/// One line of `manifest-hashes.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashEntry {
    pub path: String,
    /// SHA-256 of the bytes stored in the member.
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changed_while_read: bool,
    /// What happened to a changed file: shrank, grew, vanished, modified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `manifest-hashes.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hashes {
    pub schema: String,
    /// SHA-256 of the `manifest.json` member.
    pub manifest_sha256: String,
    pub members: Vec<HashEntry>,
}

/// What one read of an archive's tar stream found.
#[derive(Debug, Default)]
pub struct ArchiveReport {
    /// `manifest.json`, when the first member is one (else a foreign or
    /// legacy archive).
    pub manifest: Option<Manifest>,
    /// Members read (GNU long-name entries not counted).
    pub entries: u64,
    /// Each problem, naming its member: `member media/a.jpg: …`.
    pub problems: Vec<String>,
    /// One verdict per embedded dump that passed, for the check detail.
    pub dumps: Vec<String>,
    /// Members flagged `changed_while_read`.
    pub changed: Vec<String>,
    /// The tar stream itself is unreadable from here on.
    pub stream_error: Option<String>,
}

/// Reads a decoded tar stream to its end once, checking every member
/// against the manifest: type, size, mode, mtime, link target and SHA-256;
/// that nothing listed is missing and nothing unlisted is present; and that
/// each embedded dump is complete. The reader is always drained, so a
/// producer feeding it through a channel is never left blocked.
pub fn check_stream<R: Read>(reader: R) -> ArchiveReport {
    let mut report = ArchiveReport::default();
    let mut archive = tar::Archive::new(reader);
    if let Err(e) = check_entries(&mut archive, &mut report) {
        report.stream_error = Some(e);
    }
    let mut rest = archive.into_inner();
    let _ = io::copy(&mut rest, &mut io::sink());
    report
}

/// What reading a member's data found.
struct Seen {
    sha256: String,
}

/// A tar stream that could not be read on, after member `after`.
fn tar_err(e: io::Error, after: &str) -> String {
    format!(
        "tar stream unreadable after {after}: {}",
        crate::error::describe_io(&e)
    )
}

/// Reads the whole stream: the manifest first, then every member checked
/// against it, then the recorded hashes against what was read. `Err` is a
/// stream that cannot be read on; everything else goes into `report`.
fn check_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    report: &mut ArchiveReport,
) -> std::result::Result<(), String> {
    let mut entries = archive
        .entries()
        .map_err(|e| format!("tar stream: {}", crate::error::describe_io(&e)))?;

    // manifest.json first, or this is not an lfb archive.
    let Some(first) = entries.next() else {
        return Err("no members: the tar stream is empty".into());
    };
    let mut first = first.map_err(|e| tar_err(e, "the start"))?;
    report.entries += 1;
    let manifest_sha = check_manifest(&mut first, report)?;
    let mut last = member_path(&first);
    drop(first);

    let Some(manifest) = report.manifest.clone() else {
        // A foreign or legacy archive: all that can be said is whether
        // the tar stream reads to its end.
        for entry in entries {
            let mut entry = entry.map_err(|e| tar_err(e, &last))?;
            report.entries += 1;
            last = member_path(&entry);
            drain(&mut entry).map_err(|e| tar_err(e, &last))?;
        }
        return Ok(());
    };
    let (seen, hashes) = check_members(entries, &manifest, last, report)?;
    for m in &manifest.members {
        if !seen.contains_key(&m.path) {
            report
                .problems
                .push(format!("member {}: missing from the archive", m.path));
        }
    }
    let Some(hashes) = hashes else {
        report.problems.push(format!(
            "member {HASHES}: missing, so the archive is truncated (the SHA-256 of its files cannot be checked)"
        ));
        return Ok(());
    };
    check_hashes(&manifest, &seen, &hashes, &manifest_sha, report);
    Ok(())
}

/// The first member: the manifest, parsed into `report.manifest` when it
/// is one (else drained). The SHA-256 of its bytes, empty when it is not.
fn check_manifest<R: Read>(
    first: &mut tar::Entry<'_, R>,
    report: &mut ArchiveReport,
) -> std::result::Result<String, String> {
    let first_path = member_path(first);
    if first_path == MANIFEST && first.header().entry_type().is_file() {
        let bytes = read_small(first).map_err(|e| tar_err(e, MANIFEST))?;
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => report.manifest = Some(m),
            Err(e) => {
                report
                    .problems
                    .push(format!("member {MANIFEST}: not a valid manifest ({e})"));
            }
        }
        Ok(hex(&Sha256::digest(&bytes)))
    } else {
        drain(first).map_err(|e| tar_err(e, &first_path))?;
        Ok(String::new())
    }
}

/// Every member after the manifest, checked against it as it is read
/// (listed, once, header, SHA-256 of the dump record, a dump's
/// completeness); what was read of each, and the hashes member.
fn check_members<R: Read>(
    entries: tar::Entries<'_, R>,
    manifest: &Manifest,
    mut last: String,
    report: &mut ArchiveReport,
) -> std::result::Result<(BTreeMap<String, Seen>, Option<Hashes>), String> {
    let listed: BTreeMap<&str, &Member> = manifest
        .members
        .iter()
        .map(|m| (m.path.as_str(), m))
        .collect();
    let dumps: BTreeMap<&str, &Dump> = manifest
        .dumps
        .iter()
        .map(|d| (d.member.as_str(), d))
        .collect();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut hashes: Option<Hashes> = None;
    let mut after_hashes = false;

    for entry in entries {
        let mut entry = entry.map_err(|e| tar_err(e, &last))?;
        report.entries += 1;
        let path = member_path(&entry);
        last = path.clone();
        if after_hashes {
            report.problems.push(format!(
                "member {path}: follows {HASHES}, which must be last"
            ));
        }
        if path == HASHES {
            let bytes = read_small(&mut entry).map_err(|e| tar_err(e, HASHES))?;
            match serde_json::from_slice::<Hashes>(&bytes) {
                Ok(h) => hashes = Some(h),
                Err(e) => report
                    .problems
                    .push(format!("member {HASHES}: not valid ({e})")),
            }
            after_hashes = true;
            continue;
        }
        let Some(member) = listed.get(path.as_str()) else {
            report
                .problems
                .push(format!("member {path}: not listed in the manifest"));
            drain(&mut entry).map_err(|e| tar_err(e, &path))?;
            continue;
        };
        if seen.contains_key(&path) {
            report
                .problems
                .push(format!("member {path}: appears more than once"));
        }
        check_header(&entry, member, report);
        let sha256 = if member.kind == EntryKind::File && entry.header().entry_type().is_file() {
            match dumps.get(path.as_str()) {
                Some(d) => read_dump(&mut entry, d, report).map_err(|e| tar_err(e, &path))?,
                None => hash_entry(&mut entry).map_err(|e| tar_err(e, &path))?,
            }
        } else {
            drain(&mut entry).map_err(|e| tar_err(e, &path))?;
            String::new()
        };
        if let (Some(want), EntryKind::File) = (&member.sha256, member.kind)
            && *want != sha256
            && !sha256.is_empty()
        {
            report.problems.push(format!(
                "member {path}: SHA-256 differs from the one its dump record holds"
            ));
        }
        seen.insert(path, Seen { sha256 });
    }
    Ok((seen, hashes))
}

/// The hashes member against the manifest and what was read.
fn check_hashes(
    manifest: &Manifest,
    seen: &BTreeMap<String, Seen>,
    hashes: &Hashes,
    manifest_sha: &str,
    report: &mut ArchiveReport,
) {
    let listed: BTreeMap<&str, &Member> = manifest
        .members
        .iter()
        .map(|m| (m.path.as_str(), m))
        .collect();
    if hashes.manifest_sha256 != manifest_sha {
        report.problems.push(format!(
            "member {MANIFEST}: SHA-256 differs from the one {HASHES} holds"
        ));
    }
    let mut hashed = BTreeSet::new();
    for h in &hashes.members {
        hashed.insert(h.path.as_str());
        if h.changed_while_read {
            report.changed.push(h.path.clone());
        }
        match (listed.get(h.path.as_str()), seen.get(&h.path)) {
            (None, _) => report.problems.push(format!(
                "member {}: in {HASHES} but not in the manifest",
                h.path
            )),
            (Some(_), None) => {} // already reported missing
            (Some(m), Some(s)) => {
                if m.size.is_some_and(|size| size != h.size) {
                    report.problems.push(format!(
                        "member {}: {HASHES} says {} bytes, the manifest {}",
                        h.path,
                        h.size,
                        m.size.unwrap_or(0)
                    ));
                }
                if !s.sha256.is_empty() && s.sha256 != h.sha256 {
                    report.problems.push(format!(
                        "member {}: SHA-256 differs from the manifest",
                        h.path
                    ));
                }
            }
        }
    }
    for m in &manifest.members {
        if m.kind == EntryKind::File && !hashed.contains(m.path.as_str()) {
            report
                .problems
                .push(format!("member {}: no SHA-256 in {HASHES}", m.path));
        }
    }
}

/// A member's path as the manifest spells it (no trailing `/`).
fn member_path<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    let bytes = entry.path_bytes();
    let s = String::from_utf8_lossy(&bytes);
    s.trim_end_matches('/').to_string()
}

fn check_header<R: Read>(entry: &tar::Entry<'_, R>, m: &Member, report: &mut ArchiveReport) {
    let h = entry.header();
    let et = h.entry_type();
    let kind = if et.is_dir() {
        Some(EntryKind::Dir)
    } else if et.is_symlink() {
        Some(EntryKind::Symlink)
    } else if et.is_file() {
        Some(EntryKind::File)
    } else {
        None
    };
    let path = &m.path;
    if kind != Some(m.kind) {
        let is = kind.map_or("a special entry", EntryKind::as_str);
        report.problems.push(format!(
            "member {path}: is {is}, the manifest says {}",
            m.kind.as_str()
        ));
        return;
    }
    if let Some(want) = m.size {
        let size = h.size().unwrap_or(u64::MAX);
        if size != want {
            report.problems.push(format!(
                "member {path}: {size} bytes, the manifest says {want}"
            ));
        }
    }
    if let (Ok(mode), Some(want)) = (h.mode(), parse_mode(&m.mode))
        && mode & 0o7777 != want
        && m.kind != EntryKind::Symlink
    {
        report.problems.push(format!(
            "member {path}: mode {}, the manifest says {}",
            mode_string(mode),
            m.mode
        ));
    }
    if let Ok(mtime) = h.mtime()
        && mtime != m.mtime
    {
        report.problems.push(format!(
            "member {path}: modified at {mtime}, the manifest says {}",
            m.mtime
        ));
    }
    if m.kind == EntryKind::Symlink {
        let target = entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        if target != m.target {
            report.problems.push(format!(
                "member {path}: links to '{}', the manifest says '{}'",
                target.unwrap_or_default(),
                m.target.clone().unwrap_or_default()
            ));
        }
    }
}

fn read_small<R: Read>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    r.take(MAX_MANIFEST).read_to_end(&mut bytes)?;
    drain(r)?;
    Ok(bytes)
}

fn drain<R: Read>(r: &mut R) -> io::Result<()> {
    io::copy(r, &mut io::sink()).map(|_| ())
}

fn hash_entry<R: Read>(r: &mut R) -> io::Result<String> {
    let mut h = HashingReader::new(r);
    io::copy(&mut h, &mut io::sink())?;
    Ok(h.finish().1)
}

/// Hashes an embedded dump and judges its completeness in the same read:
/// the bytes go through SHA-256 and, decompressed when the dump is gzip,
/// through the same completeness scan as a standalone dump.
fn read_dump<R: Read>(r: &mut R, dump: &Dump, report: &mut ArchiveReport) -> io::Result<String> {
    let path = &dump.member;
    let record = dump.record.as_object().cloned().map(Record::from_object);
    let record = match record {
        Some(Ok(r)) => Some(r),
        _ => None,
    };
    // An encrypted dump inside an archive is ciphertext here: its SHA-256
    // (against the manifest) is what can be checked without the key.
    let encrypted = record
        .as_ref()
        .and_then(|r| r.format())
        .map(crate::crypt::is_encrypted_format)
        .unwrap_or_else(|| path.ends_with(".age"));
    if encrypted {
        let sha256 = hash_entry(r)?;
        report.dumps.push(format!(
            "{path}: encrypted with age (SHA-256 checked; its content needs the key)"
        ));
        return Ok(sha256);
    }
    let gzip = record
        .as_ref()
        .and_then(|r| r.format())
        .map(crate::load::is_gzip_format)
        .unwrap_or_else(|| path.ends_with(".gz"));
    let mut hashing = HashingReader::new(r);
    let mut comp: Completeness = Completeness::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut decode_error = None;
    if gzip {
        let mut dec =
            flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 16, &mut hashing));
        loop {
            match dec.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => comp.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    decode_error = Some(crate::error::describe_io(&e));
                    break;
                }
            }
        }
    } else {
        loop {
            match hashing.read(&mut buf)? {
                0 => break,
                n => comp.feed(&buf[..n]),
            }
        }
    }
    // Whatever the decoder left unread still counts for the SHA-256.
    io::copy(&mut hashing, &mut io::sink())?;
    let sha256 = hashing.finish().1;
    if let Some(e) = decode_error {
        report
            .problems
            .push(format!("member {path}: gzip stream does not decode ({e})"));
        return Ok(sha256);
    }
    report_verdict(path, comp.finish(), record.as_ref(), report);
    Ok(sha256)
}

/// What the completeness scan of an embedded dump found, as a line of
/// `report` (row counts compared with its record's when both have them).
fn report_verdict(
    path: &str,
    verdict: crate::verify::content::Verdict,
    record: Option<&Record>,
    report: &mut ArchiveReport,
) {
    match (verdict.content, verdict.complete) {
        (Content::PgCustom, _) => report
            .dumps
            .push(format!("{path}: PostgreSQL custom-format header")),
        (_, Err(e)) => report.problems.push(format!("member {path}: {e}")),
        (_, Ok(detail)) => {
            let recorded = record.and_then(Record::tables);
            match (verdict.tables, recorded) {
                (Some(found), Some(want)) => match compare_counts(&want, &found) {
                    Some(diff) => report.problems.push(format!(
                        "member {path}: row counts differ from its record: {diff}"
                    )),
                    None => report.dumps.push(format!("{path}: {detail}")),
                },
                _ => report.dumps.push(format!("{path}: {detail}")),
            }
        }
    }
}

/// Extracts the embedded dumps of the archive at `path` (a `.tar.gz`) into
/// the private folder `dir`, reading only as far as the last of them.
/// Returns each dump's record from the manifest, its `path` set to the
/// extracted file.
pub fn extract_dumps(path: &Path, dir: &Path) -> Result<Vec<Record>> {
    let r = crate::load::open_decoded(path, FORMAT)?;
    let mut archive = tar::Archive::new(r);
    let bad = |e: io::Error| {
        Error::failed(format!(
            "cannot read archive '{}': {}",
            path.display(),
            crate::error::describe_io(&e)
        ))
    };
    let mut entries = archive.entries().map_err(bad)?;
    let mut first = entries
        .next()
        .ok_or_else(|| Error::failed("the archive is empty"))?
        .map_err(bad)?;
    if member_path(&first) != MANIFEST {
        return Err(Error::failed(format!(
            "no {MANIFEST} as the first member: not an lfb archive"
        )));
    }
    let bytes = read_small(&mut first).map_err(bad)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::failed(format!("{MANIFEST} is not valid: {e}")))?;
    let mut wanted: BTreeSet<&str> = manifest.dumps.iter().map(|d| d.member.as_str()).collect();
    let mut out = Vec::new();
    for entry in entries {
        if wanted.is_empty() {
            break;
        }
        let mut entry = entry.map_err(bad)?;
        let member = member_path(&entry);
        if !wanted.remove(member.as_str()) {
            continue;
        }
        let name = Path::new(&member)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "dump".into());
        let dest = dir.join(name);
        let mut f = crate::fsutil::create_private_file(&dest)?;
        io::copy(&mut entry, &mut f).with_path("extract to", &dest)?;
        let record = manifest
            .dump_record(&member, &dest)
            .ok_or_else(|| Error::failed(format!("member {member}: its record is not valid")))?;
        out.push(record);
    }
    if let Some(m) = wanted.into_iter().next() {
        return Err(Error::failed(format!(
            "member {m}: missing from the archive"
        )));
    }
    Ok(out)
}

/// Reads only `manifest.json` of an archive (for tools that list or choose
/// members).
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let f = fs::File::open(path).with_path("open", path)?;
    let gz = flate2::read::MultiGzDecoder::new(io::BufReader::new(f));
    let mut archive = tar::Archive::new(gz);
    let mut entries = archive.entries().with_path("read", path)?;
    let mut first = entries
        .next()
        .ok_or_else(|| Error::failed(format!("'{}' is an empty archive", path.display())))?
        .with_path("read", path)?;
    if member_path(&first) != MANIFEST {
        return Err(Error::failed(format!(
            "'{}' has no {MANIFEST} as its first member",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    (&mut first)
        .take(MAX_MANIFEST)
        .read_to_end(&mut bytes)
        .with_path("read", path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::failed(format!("{MANIFEST} of '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\nCOPY public.t (id) FROM stdin;\n1\n2\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    fn file(path: &str, role: Role, data: &[u8]) -> Member {
        Member {
            path: path.into(),
            role,
            kind: EntryKind::File,
            size: Some(data.len() as u64),
            mode: "0644".into(),
            mtime: 1000,
            target: None,
            sha256: None,
        }
    }

    /// A tar of `files` (path, bytes), with a manifest listing `listed` and
    /// hashes for every listed file found in `files`, unless `hashes` is off.
    fn tar_of(
        files: &[(&str, Vec<u8>)],
        listed: Vec<Member>,
        dumps: Vec<Dump>,
        hashes: bool,
    ) -> Vec<u8> {
        let manifest = Manifest {
            schema: MANIFEST_SCHEMA.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            name: "t".into(),
            env: "dev".into(),
            tag: "daily".into(),
            host: "h".into(),
            tool: "t".into(),
            git: None,
            meta: BTreeMap::new(),
            hashes: HASHES.into(),
            counts: BTreeMap::new(),
            sources: vec![],
            dumps,
            members: listed.clone(),
            skipped: vec![],
        };
        let mj = serde_json::to_vec(&manifest).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1000);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, data).unwrap();
        };
        add(&mut b, MANIFEST, &mj);
        for (p, d) in files {
            add(&mut b, p, d);
        }
        if hashes {
            let h = Hashes {
                schema: HASHES_SCHEMA.into(),
                manifest_sha256: sha(&mj),
                members: listed
                    .iter()
                    .filter_map(|m| {
                        let d = &files.iter().find(|(p, _)| *p == m.path)?.1;
                        Some(HashEntry {
                            path: m.path.clone(),
                            sha256: sha(d),
                            size: d.len() as u64,
                            changed_while_read: false,
                            note: None,
                        })
                    })
                    .collect(),
            };
            add(&mut b, HASHES, &serde_json::to_vec(&h).unwrap());
        }
        b.into_inner().unwrap()
    }

    fn dump_entry(member: &str, data: &[u8], rows: u64) -> Dump {
        Dump {
            member: member.into(),
            record: serde_json::json!({"schema": "lfb/1", "path": "/x", "format": "sql+gzip",
                "sha256": sha(data), "source": {"engine": "postgres", "tables": {"public.t": rows}}}),
        }
    }

    #[test]
    fn a_whole_archive_passes_with_its_dump_judged() {
        let d = gz(DUMP.as_bytes());
        let files = [("db/x.sql.gz", d.clone()), ("media/m/a", b"abc".to_vec())];
        let listed = vec![
            file("db/x.sql.gz", Role::Db, &d),
            file("media/m/a", Role::Media, b"abc"),
        ];
        let r =
            check_stream(&tar_of(&files, listed, vec![dump_entry("db/x.sql.gz", &d, 2)], true)[..]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.entries, 4);
        assert!(r.dumps[0].contains("completion trailer"), "{:?}", r.dumps);
    }

    #[test]
    fn unlisted_missing_and_unhashed_members_are_named() {
        let files = [
            ("media/m/a", b"abc".to_vec()),
            ("media/m/extra", b"x".to_vec()),
        ];
        let listed = vec![
            file("media/m/a", Role::Media, b"abc"),
            file("media/m/gone", Role::Media, b"zz"),
        ];
        let r = check_stream(&tar_of(&files, listed.clone(), vec![], true)[..]);
        assert!(
            r.problems
                .contains(&"member media/m/extra: not listed in the manifest".to_string()),
            "{:?}",
            r.problems
        );
        assert!(
            r.problems
                .contains(&"member media/m/gone: missing from the archive".to_string()),
            "{:?}",
            r.problems
        );
        let r = check_stream(&tar_of(&files[..1], listed[..1].to_vec(), vec![], false)[..]);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].starts_with("member manifest-hashes.json: missing"));
    }

    #[test]
    fn a_truncated_or_miscounted_embedded_dump_is_named() {
        let cut = gz(&DUMP.as_bytes()[..DUMP.len() - 30]);
        let files = [("db/x.sql.gz", cut.clone())];
        let listed = vec![file("db/x.sql.gz", Role::Db, &cut)];
        let r = check_stream(
            &tar_of(
                &files,
                listed.clone(),
                vec![dump_entry("db/x.sql.gz", &cut, 2)],
                true,
            )[..],
        );
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].starts_with("member db/x.sql.gz: no pg_dump completion trailer"));
        let d = gz(DUMP.as_bytes());
        let files = [("db/x.sql.gz", d.clone())];
        let listed = vec![file("db/x.sql.gz", Role::Db, &d)];
        let r =
            check_stream(&tar_of(&files, listed, vec![dump_entry("db/x.sql.gz", &d, 5)], true)[..]);
        assert!(
            r.problems[0].contains("public.t has 2 rows, expected 5"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn an_archive_without_a_manifest_is_read_to_its_end_only() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_cksum();
        b.append_data(&mut h, "full_backup/db/database.sql.gz", &b"abc"[..])
            .unwrap();
        let r = check_stream(&b.into_inner().unwrap()[..]);
        assert!(r.manifest.is_none() && r.problems.is_empty() && r.stream_error.is_none());
        assert_eq!(r.entries, 1);
        let r = check_stream(&b"not a tar at all, just some bytes"[..]);
        assert!(r.stream_error.is_some(), "{r:?}");
    }
}
