//! `lfb-restore --dry-run`: what a restore would do, with nothing changed.
//!
//! People get a short report on stderr: the backup (id, path, when, tag,
//! environment, what it is a backup of), how it was verified, the target
//! and whether this is a production restore, what would be replaced (with
//! the target's current row counts next to the backup's), where the safety
//! backup would go, and where an archive's files would go. When stdout is
//! not a terminal the record goes there too, with a `restore` section
//! holding the same facts (`"dry_run": true`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;

use chrono::Utc;
use lfb_core::cli::Ui;
use lfb_core::engine::url::Database;
use lfb_core::ndjson::RecordWriter;
use lfb_core::record::format_time;
use lfb_core::units::format_size;
use lfb_core::{Record, Result, Store};
use serde_json::json;

use crate::select::Identity;
use crate::{Cli, pg};

/// Everything the dry run reports on.
pub struct Plan<'a> {
    pub cli: &'a Cli,
    pub store: &'a Store,
    pub db: &'a Database,
    pub identity: &'a Identity,
    pub record: Record,
    /// The dump that would be loaded (the archive's, for an archive).
    pub dump_record: &'a Record,
    pub verification: &'a str,
    pub production: Option<&'a str>,
    pub target_env: &'a str,
    /// Where an archive's files would go (destination, is configuration).
    pub files: Option<&'a [(PathBuf, bool)]>,
}

/// The target as it is now: `None` when it does not exist.
fn current_counts(cli: &Cli, db: &Database) -> Result<Option<BTreeMap<String, u64>>> {
    match db {
        Database::Sqlite(p) => {
            if !p.exists() {
                return Ok(None);
            }
            Ok(Some(lfb_core::engine::sqlite::table_counts(p)?))
        }
        Database::Postgres(conn) => {
            let target = pg::Target::probe(conn, cli.exec.as_deref())?;
            if !target.exists() {
                return Ok(None);
            }
            Ok(Some(
                target
                    .session(conn)
                    .count_tables(conn.database.as_deref())?,
            ))
        }
        Database::Mysql(_) => Ok(None),
    }
}

fn ago(t: chrono::DateTime<Utc>) -> String {
    let d = Utc::now().signed_duration_since(t);
    let m = d.num_minutes();
    if m < 0 {
        "in the future".into()
    } else if m < 120 {
        format!("{m} minutes ago")
    } else if m < 48 * 60 {
        format!("{} hours ago", m / 60)
    } else {
        format!("{} days ago", m / (24 * 60))
    }
}

/// Prints the report (and the record) and returns exit code 0.
// Long: one line per fact of the plan, in the order people read them.
pub fn report(plan: &Plan, ui: &Ui) -> Result<u8> {
    let r = &plan.record;
    let now = current_counts(plan.cli, plan.db)?;
    let want = plan.dump_record.tables();
    let backup_of = Identity::of_record(plan.dump_record);
    let mut lines = vec!["dry run: nothing is changed".to_string()];
    lines.push(format!(
        "  backup:        {} ({})",
        r.label(),
        r.path()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    ));
    if let Some(t) = r.created_at() {
        lines.push(format!(
            "  taken:         {} ({}), tag {}, environment {}",
            format_time(t),
            ago(t),
            r.tag().unwrap_or("?"),
            r.env().unwrap_or("?")
        ));
    }
    let at = match (&backup_of.host, backup_of.port) {
        (Some(h), Some(p)) => format!(" on {h}:{p}"),
        (Some(h), None) => format!(" on {h}"),
        _ => String::new(),
    };
    lines.push(format!("  backup of:     {}{at}", backup_of.describe()));
    lines.push(format!("  verification:  {}", plan.verification));
    lines.push(format!(
        "  target:        {} ({})",
        plan.db.redacted(),
        plan.identity.describe()
    ));
    lines.push(match plan.production {
        Some(why) => format!(
            "  production:    yes ({why}): needs --confirm {}",
            crate::target_name(plan.db)
        ),
        None => "  production:    no".to_string(),
    });
    let replaced = match (&now, plan.db) {
        (None, _) => "nothing: the target does not exist yet (it would be created)".to_string(),
        (Some(c), Database::Sqlite(p)) => format!(
            "the file {} ({}, {} tables, {} rows)",
            p.display(),
            format_size(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)),
            c.len(),
            c.values().sum::<u64>()
        ),
        (Some(c), _) => format!(
            "every schema of database '{}' ({} tables, {} rows)",
            crate::target_name(plan.db),
            c.len(),
            c.values().sum::<u64>()
        ),
    };
    lines.push(format!("  would replace: {replaced}"));
    lines.push(if plan.cli.no_safety_backup || now.is_none() {
        "  safety backup: none".to_string()
    } else {
        format!(
            "  safety backup: into {} (tag pre-restore)",
            plan.store.root().join(plan.target_env).display()
        )
    });
    // Row counts, backup against target.
    let mut tables: BTreeSet<&String> = BTreeSet::new();
    if let Some(w) = &want {
        tables.extend(w.keys());
    }
    if let Some(n) = &now {
        tables.extend(n.keys());
    }
    if !tables.is_empty() {
        let width = tables.iter().map(|t| t.len()).max().unwrap_or(5).max(5);
        lines.push(format!(
            "  {:width$}  {:>12}  {:>12}",
            "table", "backup", "target now"
        ));
        let cell = |m: &Option<BTreeMap<String, u64>>, t: &str| match m {
            Some(m) => m.get(t).map_or("-".to_string(), |n| n.to_string()),
            None => "-".to_string(),
        };
        for t in &tables {
            lines.push(format!(
                "  {:width$}  {:>12}  {:>12}",
                t,
                cell(&want, t),
                cell(&now, t)
            ));
        }
    }
    let files = plan.files.map(|dests| {
        let f: Vec<String> = dests
            .iter()
            .map(|(d, config)| {
                format!(
                    "{} {}",
                    d.display(),
                    if *config {
                        "(configuration, 0600)"
                    } else {
                        "(media)"
                    }
                )
            })
            .collect();
        lines.push(format!("  files to:      {}", f.join("; ")));
        f
    });
    for l in &lines {
        ui.info(l);
    }
    let mut record = plan.record.clone();
    record.set(
        "restore",
        json!({
            "dry_run": true,
            "at": format_time(Utc::now()),
            "target": plan.db.redacted(),
            "production": plan.production.is_some(),
            "production_reason": plan.production,
            "verification": plan.verification,
            "backup_counts": want,
            "target_counts": now,
            "would_replace": replaced,
            "safety_backup_dir": (!plan.cli.no_safety_backup && now.is_some())
                .then(|| plan.store.root().join(plan.target_env)),
            "files": files,
        }),
    );
    if !std::io::stdout().is_terminal() {
        RecordWriter::new().write(&record)?;
    }
    Ok(0)
}
