//! Which backup a restore may use: backup identity and `--latest`.
//!
//! A backup is *of* something: an engine and a database (for SQLite, a file
//! found by its real path or, on another machine, its file name). A restore
//! only takes a backup of its target's own identity unless `--from NAME|ID`
//! names another one, and never one of another engine: restoring
//! `mysite`'s dump over `victim`, or a PostgreSQL dump into a SQLite file,
//! is refused before anything is touched.
//!
//! `--latest` looks through every folder the environment covers (its own
//! and its pre-migration backups in `migrations/`, see
//! [`lfb_core::store::artifact_env`]), newest first, leaves out the
//! `pre-restore` safety backups (the state a previous restore replaced)
//! unless `--tag pre-restore` asks for them, and takes the first backup that
//! passed verification: its sidecar's `verify` section when it has one
//! (a recorded failure is skipped without reading the file), checked again
//! on the spot so that a file damaged since is skipped too.

use std::path::{Path, PathBuf};

use lfb_core::cli::Ui;
use lfb_core::engine::url::Database;
use lfb_core::format::Body;
use lfb_core::naming::ArtifactName;
use lfb_core::record::Kind;
use lfb_core::verify;
use lfb_core::{Error, Record, Result, Store};
use serde_json::Value;

/// The tag of the safety backups lfb-restore takes.
pub const PRE_RESTORE: &str = "pre-restore";

/// What a backup is of, or what a target is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// `postgres`, `sqlite`, `mysql`; `None` when a record does not say
    /// and its format does not tell.
    pub engine: Option<String>,
    /// The database name; for SQLite the file name without extension
    /// (what lfb-dump names its artifacts after).
    pub name: Option<String>,
    /// SQLite: the database file's real path.
    pub real_path: Option<PathBuf>,
    /// Server databases: where the database lives (informative).
    pub host: Option<String>,
    pub port: Option<u64>,
}

fn stem(p: &str) -> Option<String> {
    Path::new(p)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
}

/// A path with symlinks resolved as far as it exists.
pub fn real_path(p: &Path) -> PathBuf {
    if let Ok(r) = std::fs::canonicalize(p) {
        return r;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(f)) => std::fs::canonicalize(dir)
            .map(|d| d.join(f))
            .unwrap_or(abs.clone()),
        _ => abs,
    }
}

impl Identity {
    /// The identity of a restore target.
    pub fn of_target(db: &Database) -> Identity {
        match db {
            Database::Sqlite(p) => Identity {
                engine: Some("sqlite".into()),
                name: db.name(),
                real_path: Some(real_path(p)),
                ..Default::default()
            },
            Database::Postgres(c) | Database::Mysql(c) => Identity {
                engine: Some(db.engine().into()),
                name: c.database.clone(),
                host: c.host.clone(),
                port: c.port.map(u64::from),
                ..Default::default()
            },
        }
    }

    /// The identity of the backup a record describes: its `source`
    /// section; for an archive, the dumps it holds; for a file without a
    /// sidecar, what its name and format tell.
    pub fn of_record(r: &Record) -> Identity {
        let file_name = r
            .path()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        let parsed = file_name.as_deref().and_then(ArtifactName::parse);
        let mut id = Identity::default();
        if let Some(src) = r.get("source") {
            let s = |k: &str| src.get(k).and_then(Value::as_str).map(str::to_string);
            id.engine = s("engine");
            id.host = s("host");
            id.port = src.get("port").and_then(Value::as_u64);
            if id.engine.as_deref() == Some("sqlite") {
                id.real_path = s("path").map(PathBuf::from);
                id.name = s("database").as_deref().and_then(stem);
            } else {
                id.name = s("database");
            }
        } else if r.kind() == Some(Kind::Full) {
            // An archive: the identity of the dumps it holds, when they
            // agree.
            let dumps: Vec<&Value> = r
                .get("members")
                .and_then(|m| m.get("dumps"))
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let one = |f: &dyn Fn(&Value) -> Option<String>| {
                let mut all: Vec<String> = dumps.iter().filter_map(|d| f(d)).collect();
                all.dedup();
                (all.len() == 1).then(|| all.remove(0))
            };
            id.engine = one(&|d| d.get("engine")?.as_str().map(str::to_string));
            id.name = one(&|d| {
                let db = d.get("database")?.as_str()?;
                Some(if d.get("engine")?.as_str()? == "sqlite" {
                    stem(db)?
                } else {
                    db.to_string()
                })
            })
            .or_else(|| {
                one(&|d| {
                    let i = d.get("id")?.as_str()?;
                    Some(ArtifactName::parse(&format!("{i}.sql"))?.name)
                })
            });
        }
        if id.engine.is_none() {
            let format = r.typed_format().filter(|f| !f.is_encrypted());
            id.engine = match format.map(|f| f.body()) {
                Some(Body::PgCustom) => Some("postgres".into()),
                Some(Body::Sqlite) => Some("sqlite".into()),
                // The original scripts only ever dumped PostgreSQL.
                _ if parsed.as_ref().is_some_and(|n| n.legacy) => Some("postgres".into()),
                _ => None,
            };
        }
        if id.name.is_none() {
            // The original safe_migrate.sh / safe_db_test.sh names do not
            // say which database they hold.
            id.name = parsed
                .filter(|n| !(n.legacy && (n.name == "pre_migration" || n.name == "pre_test")))
                .map(|n| n.name);
        }
        id
    }

    /// For people: `postgres database 'victim'`, `sqlite file '/srv/db.sqlite3'`.
    pub fn describe(&self) -> String {
        let engine = self.engine.as_deref().unwrap_or("unknown engine");
        match (&self.real_path, &self.name) {
            (Some(p), _) => format!("{engine} database '{}'", p.display()),
            (None, Some(n)) => format!("{engine} database '{n}'"),
            (None, None) => format!("{engine} database (name unknown)"),
        }
    }

    /// The name to give `--from` to choose this identity.
    pub fn name_for_from(&self) -> Option<String> {
        self.name.clone()
    }
}

/// How a backup's identity compares with a target's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Same,
    OtherEngine,
    OtherName,
}

/// Compares a backup's identity with the target's. An unknown engine is
/// not a mismatch (nothing says it differs); an unknown name is.
pub fn compare(backup: &Identity, target: &Identity) -> Match {
    if let (Some(a), Some(b)) = (&backup.engine, &target.engine)
        && a != b
    {
        return Match::OtherEngine;
    }
    // SQLite: the real path decides when both sides know it (two Django
    // projects both have a `db.sqlite3`); the file name only when a backup
    // does not record its path.
    if let (Some(a), Some(b)) = (&backup.real_path, &target.real_path) {
        return if a == b {
            Match::Same
        } else {
            Match::OtherName
        };
    }
    match (&backup.name, &target.name) {
        (Some(a), Some(b)) if a == b => Match::Same,
        _ => Match::OtherName,
    }
}

/// True when `--from VALUE` names this backup: its id, its database name,
/// its SQLite file (path or file name), or the name in its file name.
pub fn named_by(from: &str, r: &Record, id: &Identity) -> bool {
    if r.id() == Some(from) || id.name.as_deref() == Some(from) {
        return true;
    }
    if let Some(p) = &id.real_path
        && (p.as_os_str() == from || p.file_name().is_some_and(|f| f == from))
    {
        return true;
    }
    let file = r
        .path()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    // A file whose name lfb cannot parse (and that has no sidecar) is named
    // by its file name or its stem.
    if file
        .as_deref()
        .is_some_and(|f| f == from || f.split('.').next() == Some(from))
    {
        return true;
    }
    file.and_then(|f| ArtifactName::parse(&f))
        .is_some_and(|n| n.name == from || n.id() == from)
}

/// Whether a backup may be restored into the target: `Ok` when it is of
/// the target's identity or `--from` names it; otherwise the refusal, which
/// says what to do. An engine mismatch is refused whatever `--from` says.
pub fn check(r: &Record, target: &Identity, from: Option<&str>) -> Result<()> {
    let id = Identity::of_record(r);
    match compare(&id, target) {
        Match::Same => Ok(()),
        Match::OtherEngine => Err(Error::usage(format!(
            "{} is a backup of a {} database and the target is {}: refused, nothing was changed \
             (restore it into a {} database)",
            r.label(),
            id.engine.as_deref().unwrap_or("?"),
            target.describe(),
            id.engine.as_deref().unwrap_or("?"),
        ))),
        Match::OtherName => match from {
            Some(f) if named_by(f, r, &id) => Ok(()),
            Some(f) => Err(Error::usage(format!(
                "{} is a backup of {}, which --from '{f}' does not name: refused, nothing was changed{}",
                r.label(),
                id.describe(),
                id.name_for_from()
                    .map(|n| format!(" (use --from {n} to restore it into {})", target.describe()))
                    .unwrap_or_default()
            ))),
            None if id.engine.is_none() && id.name.is_none() && id.real_path.is_none() => {
                Err(not_recognised(r))
            }
            None => Err(Error::usage(format!(
                "{} is a backup of {}, not of the target {}: refused, nothing was changed; \
                 use --from {} to restore another database's backup into it",
                r.label(),
                id.describe(),
                target.describe(),
                id.name_for_from()
                    .or_else(|| r.id().map(str::to_string))
                    .unwrap_or_else(|| "NAME".into())
            ))),
        },
    }
}

/// A file with no sidecar whose name and format say nothing of what it
/// holds: not "a backup of unknown engine database".
fn not_recognised(r: &Record) -> Error {
    let stem = r
        .path()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .and_then(|f| f.split('.').next().map(str::to_string))
        .unwrap_or_else(|| "NAME".into());
    Error::usage(format!(
        "{} is not a dump lfb recognises (no sidecar, and its name is not an lfb backup name): \
         refused, nothing was changed; if it is a dump of the target's engine made by \
         another tool, --from {stem} restores it anyway",
        r.label()
    ))
}

/// The backup `--latest` chose, and how it is known to be good.
#[derive(Debug)]
pub struct Chosen {
    pub record: Record,
    /// For people: `verified at 2026-11-27T03:00:00Z, checked again now`.
    pub verification: String,
}

/// What `--latest` looks for.
pub struct Wanted<'a> {
    pub env: &'a str,
    pub tag: Option<&'a str>,
    /// `None` for `--files-only` (no database target).
    pub target: Option<&'a Identity>,
    pub from: Option<&'a str>,
    /// Only archives (`--files-only`).
    pub archives_only: bool,
    /// `--globals`: only `lfb-dump --globals` artifacts; otherwise never one.
    pub globals: bool,
}

/// `--latest`: the newest backup of the wanted identity in the folders of
/// the environment that passes verification.
// Long: the filters of --latest and the message that explains an empty choice belong together.
pub fn latest(store: &Store, want: &Wanted, quick: &verify::Options, ui: &Ui) -> Result<Chosen> {
    // `--from ID`: the identity of that artifact (a first, cheap pass).
    let mut from_identity = None;
    if let Some(f) = want.from {
        store.visit_artifacts(|a| {
            if from_identity.is_none() && a.in_env(want.env) && a.record.id() == Some(f) {
                from_identity = Some(Identity::of_record(&a.record));
            }
            Ok(())
        })?;
    }
    let mut other_names: std::collections::BTreeMap<String, usize> = Default::default();
    let mut pre_restore_skipped = 0usize;
    // Clocks drift; a day ahead is not "the future" yet.
    let horizon = chrono::Utc::now() + chrono::Duration::days(1);
    // Only the candidates are kept, not every record of the store.
    let mut candidates = Vec::new();
    // The tags the environment's backups have, for `--tag` matching none.
    let mut tags = std::collections::BTreeSet::new();
    store.visit_artifacts(|a| {
        if !a.in_env(want.env) {
            return Ok(());
        }
        let tag = a.record.tag().unwrap_or(&a.name.tag).to_string();
        if want.tag.is_some() && !tags.contains(&tag) {
            tags.insert(tag.clone());
        }
        if want.tag.is_some_and(|t| tag != t) {
            return Ok(());
        }
        if want.archives_only && a.name.kind != Kind::Full {
            return Ok(());
        }
        if a.record.is_globals() != want.globals {
            return Ok(());
        }
        let id = Identity::of_record(&a.record);
        let ok = match (want.target, want.from) {
            (Some(t), _) if compare(&id, t) == Match::OtherEngine => false,
            (_, Some(f)) => {
                named_by(f, &a.record, &id)
                    || from_identity
                        .as_ref()
                        .is_some_and(|fi| compare(&id, fi) == Match::Same)
            }
            (Some(t), None) => compare(&id, t) == Match::Same,
            (None, None) => true,
        };
        if !ok {
            if want
                .target
                .is_none_or(|t| compare(&id, t) != Match::OtherEngine)
            {
                *other_names
                    .entry(id.name.clone().unwrap_or_else(|| "(unknown)".into()))
                    .or_default() += 1;
            }
            return Ok(());
        }
        if tag == PRE_RESTORE && want.tag.is_none() {
            pre_restore_skipped += 1;
            return Ok(());
        }
        // An artifact from the future (a wrong clock, a crafted name) must
        // not displace the real newest backup.
        if a.record.created_at().unwrap_or(a.name.time) > horizon {
            ui.warn(format!(
                "skipping {}: it is dated in the future",
                a.record.label()
            ));
            return Ok(());
        }
        candidates.push(a);
        Ok(())
    })?;
    candidates.sort_by_key(|a| a.record.created_at().unwrap_or(a.name.time));
    let mut failed = 0usize;
    for a in candidates.into_iter().rev() {
        let recorded = a.record.get("verify").and_then(|v| {
            Some((
                v.get("ok")?.as_bool()?,
                v.get("at")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
            ))
        });
        if let Some((false, at)) = &recorded {
            ui.warn(format!(
                "skipping {}: it failed verification at {at}",
                a.record.label()
            ));
            failed += 1;
            continue;
        }
        let outcome = verify::verify(&a.record, quick);
        if !outcome.ok() {
            ui.warn(format!(
                "skipping {}: {}",
                a.record.label(),
                outcome.summary()
            ));
            failed += 1;
            continue;
        }
        let verification = match recorded {
            Some((_, at)) => format!("verified at {at}; checksum and contents checked again now"),
            None => "verified now (checksum and contents)".to_string(),
        };
        return Ok(Chosen {
            record: a.record,
            verification,
        });
    }
    let folders = format!(
        "{}/ and {}/",
        store.root().join(want.env).display(),
        lfb_core::store::MIGRATIONS
    );
    let what = match (want.from, want.target) {
        (Some(f), _) => format!("of '{f}'"),
        (None, Some(t)) => format!("of {}", t.describe()),
        (None, None) => String::new(),
    };
    if let Some(t) = want.tag
        && !tags.contains(t)
    {
        let have: Vec<&str> = tags.iter().map(String::as_str).collect();
        return Err(Error::usage(format!(
            "no artifact in {folders} has tag '{t}' (tags there: {}): nothing was changed",
            if have.is_empty() {
                "none".to_string()
            } else {
                have.join(", ")
            }
        )));
    }
    let tag = want.tag.map(|t| format!(" tagged {t}")).unwrap_or_default();
    if failed > 0 {
        return Err(Error::failed(format!(
            "no backup {what}{tag} in {folders} passes verification ({failed} failed): nothing was changed"
        )));
    }
    let mut hint = String::new();
    if !other_names.is_empty() {
        let names: Vec<String> = other_names
            .iter()
            .map(|(n, c)| format!("{n} ({c})"))
            .collect();
        let example = if other_names.len() == 1 {
            other_names.keys().next().cloned().unwrap_or_default()
        } else {
            "NAME".into()
        };
        hint.push_str(&format!(
            "; there are backups of {}: use --from {example} to restore another database's backup",
            names.join(", ")
        ));
    }
    if pre_restore_skipped > 0 {
        hint.push_str(&format!(
            "; {pre_restore_skipped} pre-restore safety backup(s) were left out: use --tag pre-restore to restore one"
        ));
    }
    Err(Error::usage(format!(
        "no backup {what}{tag} in {folders}{hint}: nothing was changed"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(text: &str) -> Record {
        Record::from_json(text).unwrap()
    }

    #[test]
    fn identities_compare_by_engine_then_name() {
        let victim = Identity::of_target(&Database::parse("postgresql:///victim").unwrap());
        let mysite = rec(
            r#"{"schema":"lfb/1","path":"/s/dev/mysite_db_hourly_20261127T020000Z.sql.gz","source":{"engine":"postgres","database":"mysite"}}"#,
        );
        assert_eq!(
            compare(&Identity::of_record(&mysite), &victim),
            Match::OtherName
        );
        assert!(check(&mysite, &victim, None).is_err());
        assert!(check(&mysite, &victim, Some("mysite")).is_ok());
        assert!(check(&mysite, &victim, Some("mysite_db_hourly_20261127T020000Z")).is_ok());
        assert!(check(&mysite, &victim, Some("other")).is_err());
        let sqlite = Identity::of_target(&Database::parse("/tmp/x/mysite.sqlite3").unwrap());
        assert_eq!(
            compare(&Identity::of_record(&mysite), &sqlite),
            Match::OtherEngine
        );
        // --from cannot override an engine mismatch.
        assert!(check(&mysite, &sqlite, Some("mysite")).is_err());
        // Two projects' db.sqlite3: the real path tells them apart.
        let a = rec(
            r#"{"schema":"lfb/1","path":"/s/dev/db_db_hourly_20261127T020000Z.sql.gz","source":{"engine":"sqlite","database":"/srv/a/db.sqlite3","path":"/srv/a/db.sqlite3"}}"#,
        );
        let b = Identity::of_target(&Database::parse("/nonexistent-lfb/b/db.sqlite3").unwrap());
        assert_eq!(compare(&Identity::of_record(&a), &b), Match::OtherName);
        assert!(check(&a, &b, Some("db.sqlite3")).is_ok());
        let no_path = rec(
            r#"{"schema":"lfb/1","path":"/s/dev/db_db_hourly_20261127T020000Z.sqlite3","format":"sqlite"}"#,
        );
        assert_eq!(compare(&Identity::of_record(&no_path), &b), Match::Same);
    }

    #[test]
    fn files_without_sidecars_tell_what_they_can() {
        let legacy = rec(
            r#"{"schema":"lfb/1","path":"/s/prod/ledgerflow_backup_20261120_010000.sql.gz","format":"sql+gzip"}"#,
        );
        let id = Identity::of_record(&legacy);
        assert_eq!(id.engine.as_deref(), Some("postgres"));
        assert_eq!(id.name.as_deref(), Some("ledgerflow"));
        let pm = rec(
            r#"{"schema":"lfb/1","path":"/s/migrations/pre_migration_20261120_010000.dump","format":"pg-custom"}"#,
        );
        let id = Identity::of_record(&pm);
        assert_eq!(id.engine.as_deref(), Some("postgres"));
        assert_eq!(id.name, None);
    }
}
