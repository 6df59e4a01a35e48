//! lfb-restore: restore a dump into a database, atomically, with a safety
//! backup first and a guard in front of production.
//!
//! The original `restore_db_clean.sh` dropped the `public` schema and then
//! restored in a separate step, so a restore that failed half-way left an
//! empty database. Here the clean-up and the restore are one transaction
//! (PostgreSQL) or one atomic rename (SQLite): a restore that fails at any
//! point leaves the target exactly as it was.

mod archived;
mod files;
mod pg;
mod sqlite;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::dump::{self, Compress, DumpRequest, Format};
use lfb_core::engine::url::{Database, ServerConn};
use lfb_core::journal::{self, Event};
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::record::format_time;
use lfb_core::verify::{self, Options};
use lfb_core::{Error, Record, Result, Store, store};
use serde_json::json;

/// Restore a dump or archive into a database, atomically, with a safety backup.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-restore",
    version,
    about = "Restore a backup into a database, atomically, with a safety backup first",
    long_about = "Restore a dump into a database so that afterwards it holds exactly the \
backup's contents, with nothing left over from before; a restore that fails at any \
point leaves the database exactly as it was.\n\n\
What to restore: -f FILE (a relative name is also looked up in the store), a record \
on stdin, or --latest (the newest artifact of --env/--tag that passes verification). \
Before the target is touched the artifact must pass the checksum, decode and complete \
checks. Then a safety backup of the target as it is now is taken (tag pre-restore, \
verified; its path is printed so the restore can be undone) unless --no-safety-backup.\n\n\
PostgreSQL: the schemas of the target are dropped and the dump is loaded in one \
transaction (psql --single-transaction with ON_ERROR_STOP; custom-format archives are \
turned into SQL by pg_restore). SQLite: the new database is built beside the target, \
checked, and renamed over it; its -wal/-shm files are dealt with first.\n\n\
Restoring into environment prod needs --confirm NAME naming the target database. \
Elsewhere lfb-restore asks on a terminal, and needs --yes when not on one.",
    after_help = "Examples:\n  \
lfb-restore -f ledgerflow_db_hourly_20261127T020000Z.sql.gz postgresql:///ledgerflow_dev\n  \
lfb-restore -e prod -f FILE -u app -d ledgerflow --confirm ledgerflow\n  \
lfb-restore --latest --tag hourly --yes sqlite:///db.sqlite3"
)]
pub struct Cli {
    /// Database to restore into [default: $DATABASE_URL, or -u/-d]
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Artifact to restore (a path, or a file name in the store)
    #[arg(short, long, value_name = "FILE", conflicts_with = "latest")]
    pub file: Option<PathBuf>,

    /// Restore the newest artifact of --env (and --tag) that passes verification
    #[arg(long)]
    pub latest: bool,

    /// With --latest: only artifacts with this tag
    #[arg(short, long)]
    pub tag: Option<String>,

    /// PostgreSQL user (as restore_db_clean.sh -u); host and port from PGHOST/PGPORT
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,

    /// PostgreSQL database name (as restore_db_clean.sh -d)
    #[arg(short, long, value_name = "DATABASE")]
    pub database: Option<String>,

    /// Confirm a production restore by naming the target database
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,

    /// Do not ask (outside prod): needed when not on a terminal
    #[arg(short, long)]
    pub yes: bool,

    /// Skip the safety backup of the target (not recommended)
    #[arg(long)]
    pub no_safety_backup: bool,

    /// Run the PostgreSQL client programs through a command prefix (default: a stdin record's source.exec)
    #[arg(long, value_name = "PREFIX")]
    pub exec: Option<String>,

    /// Full archives: also extract media/ and config/ into DIR
    ///
    /// Extraction never writes outside DIR: absolute member names, `..`,
    /// symbolic or hard links that escape, and writes through links are
    /// refused. Files go into a new folder that is moved into place when
    /// complete; an existing non-empty DIR is moved aside first.
    #[arg(long, value_name = "DIR")]
    pub files_to: Option<PathBuf>,

    /// Full archives: restore only the files (with --files-to), no database
    #[arg(long, requires = "files_to")]
    pub files_only: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }
}

/// The target database from TARGET, -u/-d and $DATABASE_URL.
fn target(cli: &Cli) -> Result<Database> {
    let base = match (
        &cli.target,
        std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()),
    ) {
        (Some(t), _) => Some(Database::parse(t)?),
        (None, Some(url)) if cli.database.is_none() => Some(Database::parse(&url)?),
        _ => None,
    };
    match base {
        Some(Database::Postgres(mut c)) => {
            if cli.user.is_some() {
                c.user = cli.user.clone();
            }
            if cli.database.is_some() {
                c.database = cli.database.clone();
            }
            Ok(Database::Postgres(c))
        }
        Some(other) => {
            if cli.user.is_some() || cli.database.is_some() {
                return Err(Error::usage("-u/-d apply to PostgreSQL targets only"));
            }
            Ok(other)
        }
        None => match &cli.database {
            Some(db) => Ok(Database::Postgres(ServerConn {
                user: cli.user.clone(),
                database: Some(db.clone()),
                ..Default::default()
            })),
            None => Err(Error::usage(
                "no target database: give TARGET, -d DATABASE, or set DATABASE_URL",
            )),
        },
    }
}

/// The record of the artifact to restore.
fn artifact(cli: &Cli, store: &Store, env: &str, ui: &Ui) -> Result<Record> {
    if let Some(f) = &cli.file {
        let candidates = [
            f.clone(),
            store.root().join(f),
            store.root().join(env).join(f),
            store.root().join(store::MIGRATIONS).join(f),
        ];
        let found = if f.is_absolute() {
            f.exists().then(|| f.clone())
        } else {
            candidates.into_iter().find(|p| p.is_file())
        };
        let path = found.ok_or_else(|| {
            Error::usage(format!(
                "no such backup '{}' (looked in the current folder and in {})",
                f.display(),
                store.root().display()
            ))
        })?;
        return store::record_for_path(&path);
    }
    if cli.latest {
        let mut arts: Vec<_> = store
            .artifacts()?
            .into_iter()
            .filter(|a| {
                a.folder == env
                    || (a.folder == store::MIGRATIONS
                        && cli.tag.as_deref() == Some("pre-migration"))
            })
            .filter(|a| cli.tag.as_deref().is_none_or(|t| a.name.tag == t))
            .collect();
        arts.sort_by_key(|a| a.name.time);
        let quick = quick_checks();
        for a in arts.into_iter().rev() {
            let outcome = verify::verify(&a.record, &quick);
            if outcome.ok() {
                return Ok(a.record);
            }
            ui.warn(format!(
                "skipping {}: {}",
                a.record.label(),
                outcome.summary()
            ));
        }
        return Err(Error::failed(format!(
            "no artifact in '{}' passes verification",
            store.root().join(env).display()
        )));
    }
    match ndjson::stdin_records()? {
        Some(mut recs) if recs.len() == 1 => Ok(recs.remove(0)),
        Some(recs) if recs.len() > 1 => Err(Error::usage(format!(
            "{} records on stdin: restore takes exactly one",
            recs.len()
        ))),
        _ => Err(Error::usage(
            "nothing to restore: give -f FILE, --latest, or a record on stdin",
        )),
    }
}

fn quick_checks() -> Options {
    Options {
        checks: ["exists", "checksum", "decode", "complete"]
            .into_iter()
            .collect(),
        min_size: 0,
        scratch: None,
    }
}

/// The name a production restore must be confirmed with.
fn target_name(db: &Database) -> String {
    match db {
        Database::Sqlite(p) => p
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => db.name().unwrap_or_default(),
    }
}

fn confirm(cli: &Cli, env: &str, db: &Database, artifact: &Record) -> Result<()> {
    let name = target_name(db);
    if env == "prod" {
        return match &cli.confirm {
            Some(c) if *c == name => Ok(()),
            Some(c) => Err(Error::usage(format!(
                "--confirm '{c}' does not name the target database '{name}': nothing was changed"
            ))),
            None => Err(Error::usage(format!(
                "restoring into prod needs --confirm {name}: nothing was changed"
            ))),
        };
    }
    if cli.yes || cli.confirm.as_deref() == Some(name.as_str()) {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::usage(format!(
            "not on a terminal: pass --yes to restore into '{name}': nothing was changed"
        )));
    }
    eprint!(
        "Restore {} into '{}' ({})? Everything in it will be replaced. Type yes: ",
        artifact.label(),
        name,
        db.redacted()
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::io("cannot read the answer", e))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::usage("not confirmed: nothing was changed"))
    }
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct Restored {
    pub counts: Option<std::collections::BTreeMap<String, u64>>,
}

/// Runs lfb-restore.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let started = Instant::now();
    let env = cli.store.env()?;
    let store = cli.store.store()?;
    if let Some(t) = &cli.tag {
        lfb_core::cli::check_tag(t)?;
    }
    let mut record = artifact(&cli, &store, &env, ui)?;
    // A record on stdin (from lfb-dump --exec … | lfb-verify) carries its
    // --exec prefix; a sidecar's is never used.
    let mut cli = cli;
    if cli.exec.is_none() && cli.file.is_none() && !cli.latest {
        cli.exec = record.exec().map(str::to_string);
    }
    if cli.files_only {
        return restore_files_only(&cli, &store, record, ui, started);
    }
    let db = target(&cli)?;
    if record.failed() {
        return Err(Error::failed(format!(
            "{} is a failed record: refusing to restore it",
            record.label()
        )));
    }
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;

    // 1. The artifact must be whole before anything is touched. A plain
    // PostgreSQL dump is checked in full while it is loaded (one read, and
    // the transaction commits only if it passes): here only what is cheap.
    let streamed =
        matches!(db, Database::Postgres(_)) && matches!(record.format(), Some("sql" | "sql+gzip"));
    let pre = if streamed {
        Options {
            checks: ["exists", "size"].into_iter().collect(),
            ..quick_checks()
        }
    } else {
        quick_checks()
    };
    let outcome = verify::verify(&record, &pre);
    if !outcome.ok() {
        return Err(Error::failed(format!(
            "{} fails verification, nothing was changed: {}",
            path.display(),
            outcome.summary()
        )));
    }
    // 2. Confirmation.
    confirm(&cli, &env, &db, &record)?;
    // 3. Safety backup of the target as it is now.
    let safety = if cli.no_safety_backup {
        ui.warn("no safety backup (--no-safety-backup)");
        None
    } else {
        safety_backup(&cli, &store, &env, &db, ui)?
    };
    // 4. Atomic clean restore (of the archive's dump, for a full archive).
    let is_archive = record.format() == Some(lfb_core::archive::FORMAT);
    let scratch = if is_archive {
        Some(lfb_core::fsutil::ScratchDir::new("restore")?)
    } else {
        None
    };
    let dump_record = match &scratch {
        Some(s) => archived::dump_for(&path, &db, s)?,
        None => record.clone(),
    };
    let dump_path = dump_record.path().unwrap_or_else(|| path.clone());
    let format = dump_record.format().unwrap_or("unknown").to_string();
    let res = match &db {
        Database::Postgres(conn) => pg::restore(conn, cli.exec.as_deref(), &dump_record, ui),
        Database::Sqlite(target) => sqlite::restore(target, &dump_path, &format, ui),
        Database::Mysql(_) => Err(Error::usage("restoring MySQL/MariaDB is not supported yet")),
    };
    drop(scratch);
    let files = match (&res, &cli.files_to) {
        (Ok(_), Some(dir)) if is_archive => {
            Some(files::extract(archived::tar_stream(&path)?, dir, ui))
        }
        (Ok(_), Some(_)) => Some(Err(Error::usage("--files-to needs a full archive"))),
        _ => None,
    };
    let ok;
    let mut section = json!({
        "at": format_time(Utc::now()),
        "target": db.redacted(),
        "safety_backup": safety.as_ref().map(|p| p.to_string_lossy().into_owned()),
    });
    match &res {
        Ok(done) => {
            let (counts_ok, detail) = match (&done.counts, dump_record.tables()) {
                (Some(found), Some(want)) => match verify::compare_counts(&want, found) {
                    None => (
                        true,
                        format!("{} tables, row counts as recorded", want.len()),
                    ),
                    Some(d) => (false, format!("row counts differ from the record: {d}")),
                },
                (Some(found), None) => {
                    (true, format!("{} tables (no recorded counts)", found.len()))
                }
                _ => (true, String::new()),
            };
            ok = counts_ok;
            section["ok"] = json!(counts_ok);
            section["counts"] = json!(done.counts);
            section["detail"] = json!(detail);
            if counts_ok {
                ui.info(format!(
                    "restored {} into {}: {detail}",
                    record.label(),
                    db.redacted()
                ));
            } else {
                ui.error(format!(
                    "restored {} into {}, but {detail}",
                    record.label(),
                    db.redacted()
                ));
            }
        }
        Err(e) => {
            ok = false;
            section["ok"] = json!(false);
            section["error"] = json!(e.line());
        }
    }
    let mut files_failed = None;
    match files {
        Some(Ok((n, moved))) => {
            ui.info(format!(
                "extracted {n} files to {}",
                cli.files_to.as_ref().expect("given").display()
            ));
            section["files"] = json!({"to": cli.files_to, "members": n, "moved_aside": moved});
        }
        Some(Err(e)) => {
            ui.error(format!("files not restored: {}", e.line()));
            section["files"] = json!({"to": cli.files_to, "error": e.line()});
            section["ok"] = json!(false);
            files_failed = Some(e);
        }
        None => {}
    }
    section["duration_ms"] = json!(started.elapsed().as_millis() as u64);
    record.set("restore", section);
    if let Some(p) = &safety {
        ui.info(format!(
            "to undo: lfb-restore -f {} {}",
            p.display(),
            shell_target(&db)
        ));
    }
    let ev = Event::new(
        ui.tool(),
        "restore",
        ok,
        match &res {
            Ok(_) => format!("restored into {}", db.redacted()),
            Err(e) => e.line(),
        },
    )
    .id(record.id())
    .bytes(record.bytes())
    .duration(started.elapsed());
    if store.root().is_dir()
        && let Err(e) = journal::append(&store, &ev)
    {
        ui.warn(e.line());
    }
    RecordWriter::new().write(&record)?;
    match res {
        Err(e) => Err(Error::failed(format!(
            "{}; the target is unchanged",
            e.line()
        ))),
        Ok(_) if files_failed.is_some() => Ok(1),
        Ok(_) => Ok(if ok { 0 } else { 1 }),
    }
}

/// `--files-only`: extract an archive's media and config, no database.
fn restore_files_only(
    cli: &Cli,
    store: &Store,
    mut record: Record,
    ui: &Ui,
    started: Instant,
) -> Result<u8> {
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    if record.format() != Some(lfb_core::archive::FORMAT) {
        return Err(Error::usage("--files-only needs a full archive"));
    }
    let outcome = verify::verify(&record, &quick_checks());
    if !outcome.ok() {
        return Err(Error::failed(format!(
            "{} fails verification, nothing was changed: {}",
            path.display(),
            outcome.summary()
        )));
    }
    let dir = cli.files_to.as_ref().expect("required by clap");
    let res = files::extract(archived::tar_stream(&path)?, dir, ui);
    let ok = res.is_ok();
    let mut section = json!({"at": format_time(Utc::now()), "ok": ok, "files": {"to": dir}});
    match &res {
        Ok((n, moved)) => {
            ui.info(format!("extracted {n} files to {}", dir.display()));
            section["files"]["members"] = json!(n);
            section["files"]["moved_aside"] = json!(moved);
        }
        Err(e) => section["files"]["error"] = json!(e.line()),
    }
    section["duration_ms"] = json!(started.elapsed().as_millis() as u64);
    record.set("restore", section);
    if store.root().is_dir() {
        let msg = match &res {
            Ok(_) => format!("restored files to {}", dir.display()),
            Err(e) => e.line(),
        };
        let _ = journal::append(
            store,
            &Event::new(ui.tool(), "restore", ok, msg).id(record.id()),
        );
    }
    RecordWriter::new().write(&record)?;
    match res {
        Ok(_) => Ok(0),
        Err(e) => Err(Error::failed(format!(
            "{}; nothing was written to {}",
            e.line(),
            dir.display()
        ))),
    }
}

fn shell_target(db: &Database) -> String {
    let s = db.redacted();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/:@._-?=&%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Dumps the target as it is now (tag pre-restore) and verifies it. `None`
/// when the target does not exist yet (nothing to lose).
fn safety_backup(
    cli: &Cli,
    store: &Store,
    env: &str,
    db: &Database,
    ui: &Ui,
) -> Result<Option<PathBuf>> {
    if let Database::Sqlite(p) = db
        && !p.exists()
    {
        ui.info(format!(
            "{} does not exist yet: no safety backup needed",
            p.display()
        ));
        return Ok(None);
    }
    if let Database::Postgres(conn) = db
        && !pg::database_exists(conn, cli.exec.as_deref())?
    {
        ui.info("the target database does not exist yet: no safety backup needed");
        return Ok(None);
    }
    let req = DumpRequest {
        database: db.clone(),
        store: store.clone(),
        env: env.to_string(),
        tag: "pre-restore".to_string(),
        name: None,
        format: Format::Sql,
        compress: Compress::Gzip,
        level: lfb_core::gzip::DEFAULT_LEVEL,
        output: None,
        exec: cli.exec.clone(),
    };
    let rec = dump::dump(&req, ui).map_err(|e| {
        Error::failed(format!(
            "safety backup failed, nothing was changed: {}",
            e.line()
        ))
    })?;
    let outcome = verify::verify(&rec, &quick_checks());
    let path = rec.path().unwrap_or_default();
    if !outcome.ok() {
        return Err(Error::failed(format!(
            "safety backup {} fails verification, nothing was changed: {}",
            path.display(),
            outcome.summary()
        )));
    }
    ui.info(format!("safety backup: {}", path.display()));
    Ok(Some(path))
}
