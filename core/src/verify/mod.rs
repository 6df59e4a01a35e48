//! Checking artifacts: is a backup whole, and does it really restore?
//!
//! Each check has a name users select with `--checks`/`--skip`:
//! `exists`, `size`, `checksum`, `encryption`, `decode`, `complete`,
//! `permissions`, and `restore` (a test restore into a scratch database).
//! `checksum`, `decode` and `complete` share one read of the file: a reader
//! thread hands each block to a hashing thread and a decoding thread, so the
//! file is read once and memory stays bounded whatever its size. An archive
//! (`lfb-archive`'s `.tar.gz`) gets one more thread in that same read: the
//! decoded tar stream flows to [`crate::archive::check_stream`], which checks
//! every member against the manifest and each embedded dump's completeness.
//!
//! This file is the public API (what to check, [`verify`],
//! [`verify_while_copying`], the [`Outcome`]); the work is in its parts:
//!
//! - `checks.rs`: the check vocabulary and how a scan becomes checks;
//! - `content.rs`: what decoded content is and whether it is whole;
//! - `scan.rs`: the one streaming read (reader, hash, decode, scan threads);
//! - `restore_test.rs`: restoring into a scratch database.
//!
//! Dependencies run one way: `content` is the bottom (engines' stream
//! scanners only); [`crate::archive`] uses it for the dumps inside an
//! archive; `checks`, `scan`, `restore_test` and this file use
//! [`crate::archive`] for an archive's tar stream, never the reverse.

mod checks;
pub(crate) mod content;
mod restore_test;
mod scan;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use crate::crypt;
use crate::engine::postgres::TableCounts;
use crate::error::{Error, Result};
use crate::load;
use crate::record::{Record, format_time};

pub use checks::{ALL_CHECKS, Check, CheckName, DEFAULT_CHECKS, parse_checks, tar_complete};
pub use content::{Content, compare_counts};
pub use restore_test::{COULD_NOT_RUN, could_not_run, source_server};
pub use scan::Tee;

use checks::{content_checks, encrypted_scan, exists_check, permissions_check, size_check};
use restore_test::restore_test;
use scan::{ContentScan, scan_reader};

/// The original scripts' minimum backup size.
pub const DEFAULT_MIN_SIZE: u64 = 10 * 1024;

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub checks: BTreeSet<CheckName>,
    pub min_size: u64,
    /// `--scratch URL`: the exact scratch database for PostgreSQL restore tests.
    pub scratch: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            checks: DEFAULT_CHECKS.iter().copied().collect(),
            min_size: DEFAULT_MIN_SIZE,
            scratch: None,
        }
    }
}

/// The outcome of verifying one artifact.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub checks: Vec<Check>,
}

/// A record's `verify` section: when, whether every check passed, and each
/// check in the order it ran.
#[derive(Serialize)]
struct VerifySection<'a> {
    at: String,
    ok: bool,
    checks: &'a [Check],
}

impl Outcome {
    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok != Some(false))
    }
    /// The checks that failed.
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.ok == Some(false)).collect()
    }
    /// The record's `verify` section.
    pub fn section(&self) -> Value {
        let section = VerifySection {
            at: format_time(Utc::now()),
            ok: self.ok(),
            checks: &self.checks,
        };
        serde_json::to_value(section).expect("a verify section always serializes")
    }
    /// One line for people: `ok` or the failing checks with details.
    pub fn summary(&self) -> String {
        let failed = self.failed();
        if failed.is_empty() {
            let names: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| c.ok == Some(true))
                .map(|c| c.name.as_str())
                .collect();
            format!("ok ({})", names.join(", "))
        } else {
            failed
                .iter()
                .map(|c| format!("{} failed: {}", c.name, c.detail))
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

/// What [`verify_while_copying`] found, and the copy's writer back.
pub struct Streamed {
    pub outcome: Outcome,
    /// Row counts read from the stream (plain PostgreSQL dumps).
    pub tables: Option<TableCounts>,
    pub tee: Option<Tee>,
    pub tee_error: Option<io::Error>,
}

/// Runs `checksum`, `decode` and `complete` on the artifact while copying
/// its decoded content to `tee`, in the same single read: a restore can load
/// exactly the bytes that were checked, and commit only if they passed.
pub fn verify_while_copying(record: &Record, tee: Tee) -> Result<Streamed> {
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let format = record.format().unwrap_or("unknown").to_string();
    let mut want: BTreeSet<CheckName> =
        [CheckName::Checksum, CheckName::Decode, CheckName::Complete]
            .into_iter()
            .collect();
    if crypt::is_encrypted_format(&format) {
        // Without a key nothing can be loaded: a usage error (exit 2),
        // found before anything is read.
        if crypt::keys().is_none() {
            return Err(Error::usage(format!(
                "'{}' is encrypted with age: {}",
                path.display(),
                crypt::IDENTITY_HINT
            )));
        }
        want.insert(CheckName::Encryption);
    }
    let read = scan_checks(record, &path, &format, &want, Some(tee));
    Ok(Streamed {
        tables: read.scan.and_then(|s| s.stream_tables),
        outcome: Outcome {
            checks: read.checks,
        },
        tee: read.tee,
        tee_error: read.tee_error,
    })
}

/// Verifies one artifact record: the selected checks, in the order of
/// [`ALL_CHECKS`]. `exists` runs whatever was selected (everything else
/// needs it); a file that fails it gets that one check and no other.
pub fn verify(record: &Record, opts: &Options) -> Outcome {
    let want = |n: CheckName| opts.checks.contains(&n);
    let Some(path) = record.path() else {
        let failed = Check::fail(CheckName::Exists, "the record names no artifact path");
        return Outcome {
            checks: vec![failed],
        };
    };
    let format = format_of(record, &path);
    let meta = match exists_check(&path) {
        Ok(meta) => meta,
        Err(failed) => {
            return Outcome {
                checks: vec![failed],
            };
        }
    };
    let mut checks = Vec::new();
    if want(CheckName::Exists) {
        checks.push(Check::pass(CheckName::Exists, "regular, readable file"));
    }
    if want(CheckName::Size) {
        checks.push(size_check(record, meta.len(), opts.min_size));
    }
    let permissions = want(CheckName::Permissions).then(|| permissions_check(&meta));
    let passed = |c: &Check| c.ok != Some(false);
    if want(CheckName::Restore)
        && checks.iter().all(passed)
        && permissions.iter().all(passed)
        && restore_test::loads_while_scanning(record, &format)
    {
        // A PostgreSQL plain dump is restore-tested in the same read as
        // the other checks: psql loads exactly the bytes they prove, and the
        // scratch load commits only if they all passed.
        let (read, restore) = restore_test::pg_restore_test_while_scanning(record, opts, |tee| {
            scan_checks(record, &path, &format, &opts.checks, tee)
        });
        checks.extend(read);
        checks.extend(permissions);
        checks.push(restore);
        return Outcome { checks };
    }
    let (scan, read) = read_checks(record, &path, &format, opts);
    checks.extend(read);
    checks.extend(permissions);
    if want(CheckName::Restore) {
        let content_ok = checks.iter().all(passed);
        let restore = restore_check(record, &path, &format, scan.as_ref(), content_ok, opts);
        checks.push(restore);
    }
    Outcome { checks }
}

/// The record's format, else the one its file name's extension implies,
/// else `unknown`.
fn format_of(record: &Record, path: &Path) -> String {
    record
        .format()
        .map(str::to_string)
        .or_else(|| {
            let f = path.file_name()?.to_string_lossy().into_owned();
            crate::format::Format::split_file_name(&f).map(|(_, fmt)| fmt.to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The checks of the one read of the file (`checksum`, `encryption`,
/// `decode`, `complete`), when any of them or the restore test needs it;
/// returns what the read found for the restore test.
fn read_checks(
    record: &Record,
    path: &Path,
    format: &str,
    opts: &Options,
) -> (Option<ContentScan>, Vec<Check>) {
    let want = |n: CheckName| opts.checks.contains(&n);
    let need_scan = want(CheckName::Checksum)
        || want(CheckName::Decode)
        || want(CheckName::Complete)
        || want(CheckName::Restore)
        || (crypt::is_encrypted_format(format) && want(CheckName::Encryption));
    if !need_scan {
        return (None, Vec::new());
    }
    let read = scan_checks(record, path, format, &opts.checks, None);
    (read.scan, read.checks)
}

/// What the one read of a file found: the scan, the checks it decided (of
/// those in `want`), and the copy's writer back with its first error.
struct ReadOnce {
    scan: Option<ContentScan>,
    checks: Vec<Check>,
    tee: Option<Tee>,
    tee_error: Option<io::Error>,
}

/// Reads the file once for the checks in `want` (decrypting an encrypted
/// artifact with the process's keys), copying the decoded content to `tee`
/// when given.
fn scan_checks(
    record: &Record,
    path: &Path,
    format: &str,
    want: &BTreeSet<CheckName>,
    tee: Option<Tee>,
) -> ReadOnce {
    if crypt::is_encrypted_format(format) {
        let inner_gzip = load::is_gzip_format(crypt::inner_format(format));
        let (scanned, checks) = encrypted_scan(record, path, inner_gzip, tee, want);
        let (scan, tee, tee_error) = match scanned {
            Some((s, tee, e)) => (Some(s), tee, e),
            None => (None, None, None),
        };
        return ReadOnce {
            scan,
            checks,
            tee,
            tee_error,
        };
    }
    let gzip = load::is_gzip_format(format);
    let scanned =
        fs::File::open(path).and_then(|f| scan_reader(crate::progress::Counting(f), gzip, tee));
    match scanned {
        Ok((scan, tee, tee_error)) => ReadOnce {
            checks: content_checks(record, path, gzip, &scan, want),
            scan: Some(scan),
            tee,
            tee_error,
        },
        Err(e) => ReadOnce {
            scan: None,
            checks: vec![Check::fail(
                CheckName::Checksum,
                format!("cannot read: {}", crate::error::describe_io(&e)),
            )],
            tee: None,
            tee_error: None,
        },
    }
}

/// The `restore` check: a test restore into a scratch database, attempted
/// only when every check before it passed, with the key for an encrypted
/// artifact, and never for a MySQL dump that would switch databases.
fn restore_check(
    record: &Record,
    path: &Path,
    format: &str,
    scan: Option<&ContentScan>,
    content_ok: bool,
    opts: &Options,
) -> Check {
    if !content_ok {
        return Check::fail(
            CheckName::Restore,
            "not attempted: the artifact failed the checks above",
        );
    }
    if crypt::is_encrypted_format(format) && crypt::keys().is_none() {
        return Check::fail(
            CheckName::Restore,
            format!(
                "needs the key: encrypted with age; {}",
                crypt::IDENTITY_HINT
            ),
        );
    }
    let content = scan.and_then(|s| s.content).unwrap_or(Content::Unknown);
    let stream = scan.and_then(|s| s.stream_tables.clone());
    // A MySQL dump that would switch databases is never loaded,
    // whichever checks were selected.
    let unsafe_mysql = scan
        .filter(|_| content == Content::MysqlSql)
        .and_then(|s| s.complete.clone())
        .and_then(|c| c.err());
    match unsafe_mysql {
        Some(e) => Check::fail(CheckName::Restore, format!("not attempted: {e}")),
        None => match restore_test(record, path, format, content, stream, opts) {
            Ok(detail) => Check::pass(CheckName::Restore, detail),
            Err(e) => Check::fail(CheckName::Restore, e.line()),
        },
    }
}
