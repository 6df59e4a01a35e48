//! Artifact file names: they sort by time and parse back.
//!
//! lfb writes `{name}_{kind}_{tag}_{UTC timestamp}.{ext}`, for example
//! `ledgerflow_db_hourly_20261127T020000Z.sql.gz`. The original scripts'
//! names are recognised too, with their local-time stamps:
//! `ledgerflow_backup_YYYYmmdd_HHMMSS.sql.gz`,
//! `ledgerflow_full_backup_YYYYmmdd_HHMMSS.tar.gz`,
//! `pre_migration_YYYYmmdd_HHMMSS.dump`, `pre_test_YYYYmmdd_HHMMSS.dump`.

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};

use crate::format::Format;
use crate::record::Kind;

/// Timestamp layout inside lfb names.
pub const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// `time` as [`STAMP`] has it, written by hand for years 0 to 9999 (the
/// tools that hold a large store spell its names again from their times,
/// and chrono's formatting reads the layout anew each time), else by
/// chrono.
fn stamp(time: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let year = time.year();
    if !(0..=9999).contains(&year) {
        return time.format(STAMP).to_string();
    }
    format!(
        "{year:04}{:02}{:02}T{:02}{:02}{:02}Z",
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// The time in an lfb name ([`STAMP`], `20261127T020000Z`): read by hand
/// when it has exactly that shape (a store of 100,000 artifacts has its
/// names parsed on every listing), else by chrono, which decides the rest.
fn parse_stamp(stamp: &str) -> Option<NaiveDateTime> {
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 16 && b[8] == b'T' && b[15] == b'Z' {
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(digits(0..4)?).ok()?,
            digits(4..6)?,
            digits(6..8)?,
        );
        let time =
            chrono::NaiveTime::from_hms_opt(digits(9..11)?, digits(11..13)?, digits(13..15)?);
        if let (Some(d), Some(t)) = (date, time) {
            return Some(d.and_time(t));
        }
    }
    NaiveDateTime::parse_from_str(stamp, STAMP).ok()
}

/// A parsed artifact file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactName {
    pub name: String,
    pub kind: Kind,
    pub tag: String,
    pub time: DateTime<Utc>,
    pub ext: String,
    /// Written by the original shell scripts (local-time stamp).
    pub legacy: bool,
}

/// True for tags lfb accepts: `[a-z0-9-]+`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True for artifact base names: letters, digits, `-`, `_` and `.` (not first).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Makes a safe base name from anything (a database name, a file stem).
pub fn sanitize_name(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "db".to_string() } else { s }
}

/// The id of the artifact at `path`: its parsed name's id, else (an
/// `--output` file named freely) the file name without `.ext`.
pub fn artifact_id(path: &std::path::Path, ext: &str) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ArtifactName::parse(&file) {
        Some(n) => n.id(),
        None => file
            .strip_suffix(&format!(".{ext}"))
            .unwrap_or(&file)
            .to_string(),
    }
}

fn split_ext(file: &str) -> Option<(&str, &'static str)> {
    // Longest match first: "sql.gz" before "gz"-less "sql".
    Format::split_file_name(file).map(|(stem, f)| (stem, f.ext()))
}

impl ArtifactName {
    /// The file name: `{name}_{kind}_{tag}_{stamp}.{ext}`.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.id(), self.ext)
    }

    /// The artifact id: the file name without extension.
    pub fn id(&self) -> String {
        if self.legacy {
            // Legacy ids are their original stems; rebuilt here for symmetry.
            return self.legacy_stem();
        }
        format!(
            "{}_{}_{}_{}",
            self.name,
            self.kind,
            self.tag,
            stamp(&self.time)
        )
    }

    fn legacy_stem(&self) -> String {
        let local = self.time.with_timezone(&Local).format("%Y%m%d_%H%M%S");
        match (self.kind, self.tag.as_str()) {
            (Kind::Full, _) => format!("{}_full_backup_{local}", self.name),
            (Kind::Db, "pre-migration") => format!("pre_migration_{local}"),
            (Kind::Db, "safety") if self.name == "pre_test" => format!("pre_test_{local}"),
            _ => format!("{}_backup_{local}", self.name),
        }
    }

    /// The record `format` implied by the extension.
    pub fn format(&self) -> &'static str {
        self.typed_format().map_or("unknown", Format::as_str)
    }

    /// The format implied by the extension.
    pub fn typed_format(&self) -> Option<Format> {
        Format::from_ext(&self.ext)
    }

    /// Parses a file name (no folder). `None` for anything lfb did not write
    /// and does not recognise: such files are never touched.
    pub fn parse(file: &str) -> Option<ArtifactName> {
        let (stem, ext) = split_ext(file)?;
        Self::parse_lfb(stem, ext).or_else(|| Self::parse_legacy(stem, ext))
    }

    fn parse_lfb(stem: &str, ext: &str) -> Option<ArtifactName> {
        let mut parts = stem.rsplitn(4, '_');
        let stamp = parts.next()?;
        let tag = parts.next()?;
        let kind = Kind::parse(parts.next()?)?;
        let name = parts.next()?;
        if !valid_tag(tag) || !valid_name(name) {
            return None;
        }
        let time = parse_stamp(stamp)?.and_utc();
        let ext_ok = match kind {
            Kind::Full => ext.starts_with("tar.gz"),
            Kind::Db => !ext.starts_with("tar.gz"),
        };
        ext_ok.then(|| ArtifactName {
            name: name.to_string(),
            kind,
            tag: tag.to_string(),
            time,
            ext: ext.to_string(),
            legacy: false,
        })
    }

    fn parse_legacy(stem: &str, ext: &str) -> Option<ArtifactName> {
        // Every legacy name ends in _YYYYmmdd_HHMMSS (local time).
        if stem.len() < 16 {
            return None;
        }
        let (head, stamp) = stem.split_at(stem.len() - 15);
        let head = head.strip_suffix('_')?;
        let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S").ok()?;
        let time = Local
            .from_local_datetime(&naive)
            .earliest()?
            .with_timezone(&Utc);
        let (name, kind, tag) = match (head, ext) {
            ("pre_migration", "dump") => ("pre_migration", Kind::Db, "pre-migration"),
            ("pre_test", "dump") => ("pre_test", Kind::Db, "safety"),
            (h, "tar.gz") => (h.strip_suffix("_full_backup")?, Kind::Full, "daily"),
            (h, "sql.gz") => (h.strip_suffix("_backup")?, Kind::Db, "hourly"),
            _ => return None,
        };
        if !valid_name(name) {
            return None;
        }
        Some(ArtifactName {
            name: name.to_string(),
            kind,
            tag: tag.to_string(),
            time,
            ext: ext.to_string(),
            legacy: true,
        })
    }
}

/// What a file beside the artifacts is, when it is one of lfb's own
/// leftovers: see [`leftover`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverKind {
    /// `ARTIFACT.partial` or `ARTIFACT.<pid>.partial`: an artifact being
    /// written (the `<pid>` form when two runs started in the same second).
    Partial,
    /// `ARTIFACT.json.partial`: a sidecar being written.
    SidecarPartial,
    /// `ARTIFACT.json`: a sidecar. A leftover only when `ARTIFACT` is gone
    /// (the caller checks that).
    Sidecar,
}

/// The writer's process id in a partial's name (`ARTIFACT.<pid>.partial`).
pub fn partial_pid(file: &str) -> Option<u32> {
    let stem = file.strip_suffix(crate::fsutil::PARTIAL_SUFFIX)?;
    let (_, pid) = stem.rsplit_once('.')?;
    if pid.is_empty() || pid.len() > 10 || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Parses the name of a file lfb writes beside an artifact (a partial, a
/// partial sidecar, a sidecar) back to the artifact's name. `None` for
/// anything else: such files are never touched.
///
/// Partial names are `ARTIFACT.partial`, or `ARTIFACT.<pid>.partial` when
/// a second run picked the same name in the same second (the process id
/// keeps the two partials apart).
pub fn leftover(file: &str) -> Option<(ArtifactName, LeftoverKind)> {
    if let Some(stem) = file.strip_suffix(crate::fsutil::PARTIAL_SUFFIX) {
        if let Some(artifact) = stem.strip_suffix(".json") {
            let n = ArtifactName::parse(artifact)?;
            return Some((n, LeftoverKind::SidecarPartial));
        }
        if let Some(n) = ArtifactName::parse(stem) {
            return Some((n, LeftoverKind::Partial));
        }
        // ARTIFACT.<pid>
        partial_pid(file)?;
        let (artifact, _) = stem.rsplit_once('.')?;
        return ArtifactName::parse(artifact).map(|n| (n, LeftoverKind::Partial));
    }
    let artifact = file.strip_suffix(".json")?;
    ArtifactName::parse(artifact).map(|n| (n, LeftoverKind::Sidecar))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_by_hand_read_as_chrono_reads_them() {
        for s in [
            "20261127T020000Z",
            "20240229T235959Z",
            "20230229T000000Z",
            "20261327T020000Z",
            "20261127T240000Z",
            "20261127T026000Z",
            "2026112TT020000Z",
            "20261127X020000Z",
            "20261127T020000",
            "+2026127T020000Z",
            "",
        ] {
            assert_eq!(
                parse_stamp(s),
                NaiveDateTime::parse_from_str(s, STAMP).ok(),
                "{s}"
            );
        }
    }

    #[test]
    fn partial_names_give_their_writer() {
        let n = "ledger_db_hourly_20261127T020000Z.sql.gz";
        assert_eq!(partial_pid(&format!("{n}.4242.partial")), Some(4242));
        assert_eq!(partial_pid(&format!("{n}.partial")), None);
        assert_eq!(partial_pid(&format!("{n}.42x.partial")), None);
        assert_eq!(partial_pid(&format!("{n}.4242")), None);
    }

    #[test]
    fn lfb_names_round_trip() {
        let n = ArtifactName::parse("ledger_flow_db_hourly_20261127T020000Z.sql.gz").unwrap();
        assert_eq!(n.name, "ledger_flow");
        assert_eq!(n.kind, Kind::Db);
        assert_eq!(n.tag, "hourly");
        assert_eq!(n.ext, "sql.gz");
        assert_eq!(n.format(), "sql+gzip");
        assert_eq!(n.time.to_rfc3339(), "2026-11-27T02:00:00+00:00");
        assert_eq!(
            n.file_name(),
            "ledger_flow_db_hourly_20261127T020000Z.sql.gz"
        );
        let f = ArtifactName::parse("app_full_pre-migration_20260101T000000Z.tar.gz").unwrap();
        assert_eq!((f.kind, f.tag.as_str()), (Kind::Full, "pre-migration"));
    }

    #[test]
    fn stamps_are_written_as_chrono_writes_them() {
        for t in [
            "2026-11-27T02:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T12:34:56Z",
        ] {
            let t = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(stamp(&t), t.format(STAMP).to_string());
        }
        let far = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(stamp(&far), far.format(STAMP).to_string());
    }

    #[test]
    fn legacy_names_are_recognised() {
        let n = ArtifactName::parse("ledgerflow_backup_20261127_020000.sql.gz").unwrap();
        assert!(n.legacy);
        assert_eq!(
            (n.kind, n.tag.as_str(), n.name.as_str()),
            (Kind::Db, "hourly", "ledgerflow")
        );
        assert_eq!(n.id(), "ledgerflow_backup_20261127_020000");
        let f = ArtifactName::parse("ledgerflow_full_backup_20261127_020000.tar.gz").unwrap();
        assert_eq!((f.kind, f.name.as_str()), (Kind::Full, "ledgerflow"));
        let m = ArtifactName::parse("pre_migration_20261127_020000.dump").unwrap();
        assert_eq!((m.tag.as_str(), m.format()), ("pre-migration", "pg-custom"));
        let t = ArtifactName::parse("pre_test_20261127_020000.dump").unwrap();
        assert_eq!(t.id(), "pre_test_20261127_020000");
    }

    #[test]
    fn ids_of_store_names_and_free_output_names() {
        let p = std::path::Path::new("/s/dev/app_db_hourly_20261127T020000Z.sql.gz");
        assert_eq!(artifact_id(p, "sql.gz"), "app_db_hourly_20261127T020000Z");
        let legacy = std::path::Path::new("ledgerflow_backup_20261127_020000.sql.gz");
        assert_eq!(
            artifact_id(legacy, "sql.gz"),
            "ledgerflow_backup_20261127_020000"
        );
        assert_eq!(
            artifact_id(std::path::Path::new("/tmp/nightly.tar.gz"), "tar.gz"),
            "nightly"
        );
    }

    #[test]
    fn foreign_files_are_not_artifacts() {
        for f in [
            "notes.txt",
            "x_db_hourly_20261127T020000Z.sql.gz.partial",
            "x_db_hourly_20261127T020000Z.sql.gz.json",
            "x_db_Hourly_20261127T020000Z.sql.gz",
            "x_db_hourly_2026.sql.gz",
            "x_full_daily_20261127T020000Z.sql.gz",
            "backup_20261127_020000.sql",
            ".x_db_hourly_20261127T020000Z.sql.gz.icloud",
        ] {
            assert!(ArtifactName::parse(f).is_none(), "{f}");
        }
    }

    #[test]
    fn leftovers_parse_back_to_their_artifact() {
        let a = "x_db_hourly_20261127T020000Z.sql.gz";
        for (f, kind) in [
            (format!("{a}.partial"), LeftoverKind::Partial),
            (format!("{a}.4242.partial"), LeftoverKind::Partial),
            (format!("{a}.json.partial"), LeftoverKind::SidecarPartial),
            (format!("{a}.json"), LeftoverKind::Sidecar),
            (
                "app_full_daily_20261127T020000Z.tar.gz.17.partial".to_string(),
                LeftoverKind::Partial,
            ),
        ] {
            let (n, k) = leftover(&f).unwrap_or_else(|| panic!("{f}"));
            assert_eq!(k, kind, "{f}");
            assert_eq!(n.time.to_rfc3339(), "2026-11-27T02:00:00+00:00", "{f}");
        }
        for f in [
            a.to_string(),
            format!("{a}.x1.partial"),
            format!("{a}..partial"),
            format!("{a}.12345678901.partial"),
            "notes.txt.partial".to_string(),
            "notes.json".to_string(),
        ] {
            assert!(leftover(&f).is_none(), "{f}");
        }
    }
}
