//! The check vocabulary: the names users select, the result of one check,
//! and how what a read of the file found becomes `checksum`, `encryption`,
//! `decode` and `complete` checks (with pg_restore for custom-format dumps
//! and the manifest for archives).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::compare_counts;
use super::content::Content;
use super::scan::{ContentScan, Tee, scan_reader};
use crate::archive::{self, ArchiveReport};
use crate::crypt;
use crate::engine::postgres;
use crate::load;
use crate::record::Record;

/// The name of a check: what users select with `--checks`/`--skip`, and
/// the `name` of each entry of a record's `verify.checks`. Declared in the
/// order the checks run (so a set of them iterates in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckName {
    Exists,
    Size,
    Checksum,
    Encryption,
    Decode,
    Complete,
    Permissions,
    Restore,
}

impl CheckName {
    /// The name as users type it and records carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Exists => "exists",
            CheckName::Size => "size",
            CheckName::Checksum => "checksum",
            CheckName::Encryption => "encryption",
            CheckName::Decode => "decode",
            CheckName::Complete => "complete",
            CheckName::Permissions => "permissions",
            CheckName::Restore => "restore",
        }
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every check, in the order they run.
pub const ALL_CHECKS: &[CheckName] = &[
    CheckName::Exists,
    CheckName::Size,
    CheckName::Checksum,
    CheckName::Encryption,
    CheckName::Decode,
    CheckName::Complete,
    CheckName::Permissions,
    CheckName::Restore,
];

/// Checks run when none are selected (`restore` only with --restore-test).
pub const DEFAULT_CHECKS: &[CheckName] = &[
    CheckName::Exists,
    CheckName::Size,
    CheckName::Checksum,
    CheckName::Encryption,
    CheckName::Decode,
    CheckName::Complete,
    CheckName::Permissions,
];

/// The result of one check: one entry of a record's `verify.checks`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: CheckName,
    /// `None`: not applicable to this artifact (e.g. no recorded checksum).
    pub ok: Option<bool>,
    pub detail: String,
    /// Passed, but with something a person should fix (`"warning": true`):
    /// lfb-verify's permissions of a file lfb did not create.
    pub warning: bool,
}

/// A [`Check`] as records carry it: `"ok": BOOL`, or `"skipped": true` when
/// the check did not apply; `"warning": true` only when set.
#[derive(Serialize)]
struct CheckJson<'a> {
    name: CheckName,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<bool>,
    detail: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    warning: bool,
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        CheckJson {
            name: self.name,
            ok: self.ok,
            skipped: self.ok.is_none().then_some(true),
            detail: &self.detail,
            warning: self.warning,
        }
        .serialize(s)
    }
}

impl Check {
    pub(super) fn pass(name: CheckName, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: Some(true),
            detail: detail.into(),
            warning: false,
        }
    }
    pub(super) fn fail(name: CheckName, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: Some(false),
            detail: detail.into(),
            warning: false,
        }
    }
    pub(super) fn skip(name: CheckName, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: None,
            detail: detail.into(),
            warning: false,
        }
    }
}

/// Parses a comma-separated check list.
pub fn parse_checks(list: &str) -> std::result::Result<Vec<CheckName>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            ALL_CHECKS
                .iter()
                .copied()
                .find(|c| c.as_str() == s)
                .ok_or_else(|| {
                    let names: Vec<&str> = ALL_CHECKS.iter().map(|c| c.as_str()).collect();
                    format!("unknown check '{s}' (checks: {})", names.join(", "))
                })
        })
        .collect()
}

/// `exists`: a regular file that can be opened for reading. Its metadata,
/// or the failed check.
pub(super) fn exists_check(path: &Path) -> std::result::Result<fs::Metadata, Check> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => match fs::File::open(path) {
            Ok(_) => Ok(m),
            Err(e) => Err(Check::fail(
                CheckName::Exists,
                format!("cannot read: {}", crate::error::describe_io(&e)),
            )),
        },
        Ok(_) => Err(Check::fail(CheckName::Exists, "not a regular file")),
        Err(e) => Err(Check::fail(
            CheckName::Exists,
            crate::error::describe_io(&e),
        )),
    }
}

/// `size`: at least `min_size`, and the size the record says.
pub(super) fn size_check(record: &Record, size: u64, min_size: u64) -> Check {
    match record.bytes() {
        _ if size < min_size => Check::fail(
            CheckName::Size,
            format!("{size} bytes is under the minimum of {min_size} bytes"),
        ),
        Some(b) if b != size => Check::fail(
            CheckName::Size,
            format!("{size} bytes, the record says {b}"),
        ),
        Some(_) => Check::pass(CheckName::Size, format!("{size} bytes, as recorded")),
        None => Check::pass(CheckName::Size, format!("{size} bytes (no recorded size)")),
    }
}

/// `permissions`: no group/other access, owned by the current user.
pub(super) fn permissions_check(meta: &fs::Metadata) -> Check {
    let mode = meta.mode() & 0o777;
    let uid = crate::sys::euid();
    if mode & 0o077 != 0 {
        Check::fail(
            CheckName::Permissions,
            format!("mode {mode:04o} gives group/other access (want 0600)"),
        )
    } else if meta.uid() != uid {
        Check::fail(
            CheckName::Permissions,
            format!(
                "owned by uid {}, not the current user (uid {uid})",
                meta.uid()
            ),
        )
    } else {
        Check::pass(
            CheckName::Permissions,
            format!("mode {mode:04o}, owned by the current user"),
        )
    }
}

pub(super) type EncScan = (ContentScan, Option<Tee>, Option<io::Error>);

/// Reads an encrypted artifact once: the ciphertext is hashed as stored
/// (`checksum`), its age header is matched with the record (`encryption`),
/// and, with a key, the plaintext is decrypted, hashed against the
/// record's `encryption.plaintext_sha256` and scanned like any artifact
/// (`decode`, `complete`). Without a key those two are skipped, saying so.
pub(super) fn encrypted_scan(
    record: &Record,
    path: &Path,
    gzip: bool,
    tee: Option<Tee>,
    want: &BTreeSet<CheckName>,
) -> (Option<EncScan>, Vec<Check>) {
    let mut checks = Vec::new();
    let opened = fs::File::open(path).and_then(|f| crypt::Decrypting::new(f, crypt::keys()));
    let d = match opened {
        Ok(d) => d,
        Err(e) => {
            checks.push(Check::fail(
                CheckName::Checksum,
                format!("cannot read: {}", crate::error::describe_io(&e)),
            ));
            return (None, checks);
        }
    };
    let handle = d.report_handle();
    let scanned = scan_reader(d, gzip, tee);
    let rep = handle.get();
    let mut scanned = match scanned {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::fail(
                CheckName::Checksum,
                format!("cannot read: {}", crate::error::describe_io(&e)),
            ));
            return (None, checks);
        }
    };
    let plain_sha = std::mem::replace(&mut scanned.0.sha256, rep.cipher_sha256.clone());
    checks.extend(ciphertext_checks(record, &rep, want));
    checks.extend(plaintext_checks(
        record,
        path,
        gzip,
        &rep,
        &plain_sha,
        &mut scanned.0,
        want,
    ));
    (Some(scanned), checks)
}

/// What an encrypted artifact shows without its key: `checksum` (of the
/// ciphertext as stored) and `encryption` (the age header against the
/// record's recipients).
fn ciphertext_checks(
    record: &Record,
    rep: &crypt::Report,
    want: &BTreeSet<CheckName>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let section = record.get("encryption");
    if want.contains(&CheckName::Checksum) {
        checks.push(match record.sha256() {
            Some(h) if h == rep.cipher_sha256 => Check::pass(
                CheckName::Checksum,
                "SHA-256 of the ciphertext matches the record",
            ),
            Some(h) => Check::fail(
                CheckName::Checksum,
                format!("SHA-256 is {}, the record says {h}", rep.cipher_sha256),
            ),
            None => Check::skip(
                CheckName::Checksum,
                format!("no recorded checksum (SHA-256 {})", rep.cipher_sha256),
            ),
        });
    }
    if want.contains(&CheckName::Encryption) {
        checks.push(match &rep.header {
            Some(Ok(stanzas)) => match crypt::match_recipients(stanzas, section) {
                Ok(d) => Check::pass(CheckName::Encryption, d),
                Err(d) => Check::fail(CheckName::Encryption, d),
            },
            Some(Err(e)) => Check::fail(CheckName::Encryption, e.clone()),
            None => Check::fail(CheckName::Encryption, "the age header was not read"),
        });
    }
    checks
}

/// `decode` and `complete` of an encrypted artifact without its key:
/// skipped, saying what is needed.
fn needs_key(want: &BTreeSet<CheckName>) -> Vec<Check> {
    let needs_key = format!(
        "needs the key: encrypted with age; {}",
        crypt::IDENTITY_HINT
    );
    [CheckName::Decode, CheckName::Complete]
        .into_iter()
        .filter(|c| want.contains(c))
        .map(|c| Check::skip(c, needs_key.clone()))
        .collect()
}

/// `decode` and `complete` of an encrypted artifact: skipped without the
/// key; with it, the decrypted content must match the record's plaintext
/// SHA-256 and pass the checks of any artifact. A decryption failure or a
/// plaintext that is not the recorded one becomes the scan's decode error.
fn plaintext_checks(
    record: &Record,
    path: &Path,
    gzip: bool,
    rep: &crypt::Report,
    plain_sha: &str,
    scanned: &mut ContentScan,
    want: &BTreeSet<CheckName>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let section = record.get("encryption");
    if rep.no_key {
        return needs_key(want);
    }
    if let Some(e) = &rep.error {
        if want.contains(&CheckName::Decode) {
            checks.push(Check::fail(CheckName::Decode, format!("age: {e}")));
        }
        if want.contains(&CheckName::Complete) {
            checks.push(Check::fail(
                CheckName::Complete,
                "cannot tell: the artifact does not decrypt",
            ));
        }
        scanned.decode_error = Some(format!("age: {e}"));
        return checks;
    }
    let recorded_plain = section
        .and_then(|s| s.get("plaintext_sha256"))
        .and_then(Value::as_str);
    if let Some(p) = recorded_plain
        && p != plain_sha
    {
        let msg = format!("the decrypted content's SHA-256 is {plain_sha}, the record says {p}");
        if want.contains(&CheckName::Decode) {
            checks.push(Check::fail(CheckName::Decode, msg.clone()));
        }
        scanned.decode_error = Some(msg);
        if want.contains(&CheckName::Complete) {
            checks.push(Check::fail(
                CheckName::Complete,
                "cannot tell: the decrypted content is not the recorded one",
            ));
        }
        return checks;
    }
    let inner: BTreeSet<CheckName> = want
        .iter()
        .copied()
        .filter(|c| *c == CheckName::Decode || *c == CheckName::Complete)
        .collect();
    for mut c in content_checks(record, path, gzip, scanned, &inner) {
        if c.name == CheckName::Decode && c.ok != Some(false) {
            c.ok = Some(true);
            c.detail = format!(
                "age stream decrypts ({} bytes{}); {}",
                rep.plain_bytes,
                if recorded_plain.is_some() {
                    ", SHA-256 as recorded"
                } else {
                    ", no recorded plaintext SHA-256"
                },
                if gzip {
                    c.detail.clone()
                } else {
                    "not compressed".to_string()
                }
            );
        }
        checks.push(c);
    }
    checks
}

/// The checks of one content scan: checksum, decode and complete.
pub(super) fn content_checks(
    record: &Record,
    path: &Path,
    gzip: bool,
    s: &ContentScan,
    want: &BTreeSet<CheckName>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if want.contains(&CheckName::Checksum) {
        checks.push(match record.sha256() {
            Some(h) if h == s.sha256 => {
                Check::pass(CheckName::Checksum, "SHA-256 matches the record")
            }
            Some(h) => Check::fail(
                CheckName::Checksum,
                format!("SHA-256 is {}, the record says {h}", s.sha256),
            ),
            None => Check::skip(
                CheckName::Checksum,
                format!("no recorded checksum (SHA-256 {})", s.sha256),
            ),
        });
    }
    if want.contains(&CheckName::Decode) {
        checks.push(if !gzip {
            Check::skip(CheckName::Decode, "not compressed")
        } else {
            match &s.decode_error {
                Some(e) => Check::fail(CheckName::Decode, format!("gzip: {e}")),
                None => Check::pass(
                    CheckName::Decode,
                    format!("gzip stream decodes ({} bytes)", s.decoded_bytes),
                ),
            }
        });
    }
    if want.contains(&CheckName::Complete) {
        checks.push(complete_check(record, path, s));
    }
    checks
}

fn complete_check(record: &Record, path: &Path, s: &ContentScan) -> Check {
    if s.decode_error.is_some() {
        return Check::fail(
            CheckName::Complete,
            "cannot tell: the stream does not decode",
        );
    }
    let content = s.content.unwrap_or(Content::Unknown);
    match content {
        Content::PgCustom => return custom_toc(path),
        Content::Tar => {
            return match &s.archive {
                Some(report) => archive_check(record, report),
                None => tar_complete(record, path),
            };
        }
        _ => {}
    }
    match s.complete.clone().unwrap_or(Err("not scanned".into())) {
        Err(e) => Check::fail(CheckName::Complete, e),
        Ok(detail) => {
            // The rows in the stream must be the rows the record promises.
            if let (Some(found), Some(recorded)) = (&s.stream_tables, record.tables())
                && let Some(diff) = compare_counts(&recorded, found)
            {
                return Check::fail(
                    CheckName::Complete,
                    format!("row counts in the dump differ from the record: {diff}"),
                );
            }
            Check::pass(CheckName::Complete, detail)
        }
    }
}

/// The `complete` check of an archive on its own read of the file (the
/// verifier normally gets the same report from its shared read).
pub fn tar_complete(record: &Record, path: &Path) -> Check {
    match load::open_decoded(path, archive::FORMAT) {
        Ok(r) => archive_check(record, &archive::check_stream(r)),
        Err(e) => Check::fail(CheckName::Complete, e.line()),
    }
}

/// Judges an archive's report: every problem names its member. An archive
/// without `manifest.json` passes only when its record was derived from a
/// file name (the original scripts' `*_full_backup_*.tar.gz`), and then only
/// for reading to its end, as `tar tzf` did.
fn archive_check(record: &Record, report: &ArchiveReport) -> Check {
    let mut problems = report.problems.clone();
    if let Some(e) = &report.stream_error {
        problems.push(e.clone());
    }
    if report.manifest.is_none() && problems.is_empty() {
        return if record.get("derived").is_some() {
            Check::pass(
                CheckName::Complete,
                format!(
                    "tar stream reads to its end ({} members; no lfb manifest to check them against)",
                    report.entries
                ),
            )
        } else {
            Check::fail(
                CheckName::Complete,
                format!("no {} as the first member", archive::MANIFEST),
            )
        };
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(3);
        problems.truncate(3);
        let mut detail = problems.join("; ");
        if more > 0 {
            detail.push_str(&format!(" (and {more} more)"));
        }
        return Check::fail(CheckName::Complete, detail);
    }
    let mut detail = format!(
        "{} members match the manifest (sizes and SHA-256)",
        report.entries
    );
    if !report.dumps.is_empty() {
        detail.push_str(&format!("; {}", report.dumps.join("; ")));
    }
    if !report.changed.is_empty() {
        detail.push_str(&format!(
            "; {} changed while archived: {}",
            report.changed.len(),
            report.changed.join(", ")
        ));
    }
    Check::pass(CheckName::Complete, detail)
}

/// Reads a whole custom-format archive as a restore would, writing the SQL
/// to /dev/null: `pg_restore --list` reads only the table of contents, so a
/// truncated file or a damaged compressed data block passes it. Bounded in
/// memory (pg_restore streams) and in output (its stderr is drained).
fn custom_read_all(pg_restore: &Path, path: &Path) -> std::result::Result<(), String> {
    let out = std::process::Command::new(pg_restore)
        .arg("--file")
        .arg("/dev/null")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output();
    match out {
        Err(e) => Err(format!(
            "cannot run pg_restore: {}",
            crate::error::describe_io(&e)
        )),
        Ok(o) if !o.status.success() => Err(format!(
            "pg_restore cannot read the whole archive: {}",
            postgres::first_error_line(&String::from_utf8_lossy(&o.stderr))
        )),
        Ok(_) => Ok(()),
    }
}

/// A custom-format archive is complete when pg_restore reads a non-empty
/// table of contents and then every data block.
fn custom_toc(path: &Path) -> Check {
    let installed = postgres::installed_clients();
    let Some(newest) = postgres::newest_client(&installed) else {
        return Check::fail(
            CheckName::Complete,
            "cannot check: pg_restore is not installed",
        );
    };
    let out = std::process::Command::new(newest.1.join("pg_restore"))
        .arg("--list")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Err(e) => Check::fail(
            CheckName::Complete,
            format!("cannot run pg_restore: {}", crate::error::describe_io(&e)),
        ),
        Ok(o) if !o.status.success() => Check::fail(
            CheckName::Complete,
            format!(
                "pg_restore --list: {}",
                postgres::first_error_line(&String::from_utf8_lossy(&o.stderr))
            ),
        ),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let entries = text
                .lines()
                .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
                .count();
            if entries == 0 {
                return Check::fail(
                    CheckName::Complete,
                    "pg_restore --list: the table of contents is empty",
                );
            }
            // The table of contents is only the start: a truncated file or a
            // damaged data block shows only when every block is read.
            match custom_read_all(&newest.1.join("pg_restore"), path) {
                Ok(()) => Check::pass(
                    CheckName::Complete,
                    format!("table of contents has {entries} entries; every data block reads"),
                ),
                Err(e) => Check::fail(CheckName::Complete, e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire form of a check is the one records have always carried:
    /// same keys, same order, `skipped` for a check that did not apply,
    /// `warning` only when set.
    #[test]
    fn a_check_serializes_as_records_carry_it() {
        let text = |c: &Check| serde_json::to_string(c).unwrap();
        assert_eq!(
            text(&Check::pass(CheckName::Checksum, "matches")),
            r#"{"name":"checksum","ok":true,"detail":"matches"}"#
        );
        assert_eq!(
            text(&Check::fail(CheckName::Complete, "truncated")),
            r#"{"name":"complete","ok":false,"detail":"truncated"}"#
        );
        assert_eq!(
            text(&Check::skip(CheckName::Decode, "not compressed")),
            r#"{"name":"decode","skipped":true,"detail":"not compressed"}"#
        );
        let mut warned = Check::pass(CheckName::Permissions, "mode 0644");
        warned.warning = true;
        assert_eq!(
            text(&warned),
            r#"{"name":"permissions","ok":true,"detail":"mode 0644","warning":true}"#
        );
    }

    #[test]
    fn check_names_are_the_strings_users_type() {
        for c in ALL_CHECKS {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(c.to_string(), c.as_str());
            let back: CheckName = serde_json::from_value(c.as_str().into()).unwrap();
            assert_eq!(back, *c);
        }
        assert_eq!(
            parse_checks(" checksum,,restore ").unwrap(),
            [CheckName::Checksum, CheckName::Restore]
        );
        assert_eq!(
            parse_checks("checksum,restor").unwrap_err(),
            "unknown check 'restor' (checks: exists, size, checksum, encryption, decode, \
             complete, permissions, restore)"
        );
    }
}
