//! lfb-restore: restore a dump into a database, atomically, with a safety
//! backup first and a guard in front of production.
//!
//! The original `restore_db_clean.sh` dropped the `public` schema and then
//! restored in a separate step, so a restore that failed half-way left an
//! empty database. Here the clean-up and the restore are one transaction
//! (PostgreSQL) or one atomic rename (SQLite): a restore that fails at any
//! point leaves the target exactly as it was.

mod archived;
mod dry_run;
mod files;
mod mysql;
mod pg;
mod remote;
mod section;
mod select;
mod sqlite;
mod target_lock;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::dump::{self, Compress, DumpFormat, DumpRequest};
use lfb_core::engine::url::{Database, ServerConn};
use lfb_core::journal::{self, Event};
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::record::format_time;
use lfb_core::verify::{self, CheckName, Options};
use lfb_core::{Error, Record, Result, Store, store};
use serde_json::json;

use select::Identity;

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
on stdin, or --latest. A backup is of one database (its record's source: engine and \
database name, for SQLite the file's real path); it is only restored into that \
database unless --from NAME names it. A backup of another engine (a PostgreSQL dump for \
a SQLite file) is always refused, before anything is touched.\n\n\
--latest takes the newest backup of the target's database (or of --from) in every \
folder of the environment (ENV/ and its pre-migration backups in migrations/) that \
passed verification (the sidecar's verify section, and checked again now); it never \
takes the pre-restore safety backups unless --tag pre-restore. --dry-run shows what \
would be restored and replaced, with row counts, and changes nothing.\n\n\
Before the target is touched the artifact must pass the checksum, decode and complete \
checks. Then a safety backup of the target as it is now is taken (tag pre-restore, into \
the target's environment folder, verified) unless --no-safety-backup, and the complete \
command that undoes the restore is printed.\n\n\
PostgreSQL: the old contents of the target (schemas, large objects, publications, \
foreign servers, event triggers, ...) are removed and the dump is loaded in one \
transaction that lfb opens itself and commits only after every check passed, row \
counts (FROM ONLY) included; psql dies with lfb, so a killed restore rolls back \
(custom-format archives are turned into SQL by pg_restore). A dump holds no roles: \
--globals restores an `lfb-dump --globals` artifact first. SQLite: the new database is \
built beside the target and checked (integrity, row counts), then written into the \
existing target in one SQLite transaction (the backup API), so the file keeps its owner, \
group, mode, extended attributes and journal mode (WAL stays WAL), and other connections \
see the old or the new database, never a mix; a missing target is created by rename. \
MariaDB/MySQL: the dump is loaded into a new shadow database on the same server and \
checked (row counts); then one RENAME TABLE statement swaps every table in atomically, \
after which routines, triggers, views and events are re-created (that last step is not \
atomic; users and grants are not touched).\n\n\
A production restore (environment prod, a backup taken in prod, or a target listed in \
LFB_PROD_DATABASES, a comma list of database names, paths or URLs, or in production of \
the config file) needs --confirm NAME \
naming the target database; --yes is never enough. Elsewhere lfb-restore asks on a \
terminal, and needs --yes (or --confirm NAME) when not on one.",
    after_help = "Examples:\n  \
lfb-restore --latest --dry-run postgresql:///ledgerflow\n  \
lfb-restore --latest --yes postgresql:///ledgerflow\n  \
lfb-restore -f ledgerflow_db_hourly_20261127T020000Z.sql.gz --from ledgerflow --yes postgresql:///ledgerflow_dev\n  \
lfb-restore -e prod --latest -u app -d ledgerflow --confirm ledgerflow\n  \
lfb-restore --latest --tag daily --files-to /srv/app --yes sqlite:////srv/app/db.sqlite3"
)]
pub struct Cli {
    /// Database to restore into [default: $DATABASE_URL, else the config file's [env.ENV] database, or -u/-d]
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Artifact to restore (a path, or a file name in the store)
    #[arg(short, long, value_name = "FILE", conflicts_with = "latest")]
    pub file: Option<PathBuf>,

    /// Restore the newest verified backup of the target's database in the environment
    ///
    /// Looks in ENV/ and in migrations/ (the environment's pre-migration
    /// backups), newest first; skips backups whose recorded verification
    /// failed or that fail the checks now, and pre-restore safety backups
    /// (unless --tag pre-restore).
    #[arg(long)]
    pub latest: bool,

    /// With --latest: only backups with this tag (pre-restore to undo a restore)
    #[arg(short, long)]
    pub tag: Option<String>,

    /// Restore a backup of another database: NAME (its database name, or
    /// SQLite file name) or ID (an artifact id)
    ///
    /// Without it, a backup is only restored into the database it was taken
    /// of. A backup of another engine is refused whatever --from says.
    #[arg(long, value_name = "NAME|ID")]
    pub from: Option<String>,

    /// Show which backup would be restored, from when, its verification, its
    /// row counts against the target's, and what would be replaced; change nothing
    ///
    /// The report goes to stderr; a record with a `restore` section
    /// (`dry_run: true`) goes to stdout when it is not a terminal.
    #[arg(long)]
    pub dry_run: bool,

    /// PostgreSQL user (as restore_db_clean.sh -u); host and port from PGHOST/PGPORT
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,

    /// PostgreSQL database name (as restore_db_clean.sh -d)
    #[arg(short, long, value_name = "DATABASE")]
    pub database: Option<String>,

    /// Confirm a restore by naming the target database (needed for production)
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,

    /// Do not ask, outside production (needed when not on a terminal); never
    /// enough for a production restore
    #[arg(short, long)]
    pub yes: bool,

    /// Skip the safety backup of the target (not recommended)
    #[arg(long)]
    pub no_safety_backup: bool,

    /// Run the database client programs through a command prefix (default: a stdin record's source.exec; MySQL: no password in the URL then)
    #[arg(long, value_name = "PREFIX")]
    pub exec: Option<String>,

    /// How long to wait for another lfb-restore into the same target, and (SQLite) while another connection holds a lock
    ///
    /// Two lfb-restore runs into one target database (same engine, host,
    /// port and database, or the same SQLite file) with the same store run
    /// one after the other: the second waits, saying so after a second, and
    /// after DURATION gives up with exit 2 naming the holder, nothing
    /// changed. SQLite: the restore then writes through SQLite's own
    /// locking and gives up after DURATION (e.g. 30s, 5m) with exit 1, the
    /// target unchanged.
    #[arg(long, value_name = "DURATION", default_value = sqlite::DEFAULT_WAIT,
          value_parser = lfb_core::cli::parse_duration_arg)]
    pub wait: std::time::Duration,

    /// Full archives: also restore media folders and configuration under DIR
    /// (the project folder)
    ///
    /// Each media folder goes back to its path relative to the folder
    /// lfb-archive ran in (--media media → DIR/media), or DIR/NAME when
    /// that is not known; configuration files go to DIR/config (mode 0600),
    /// never inside a media folder. File modes are masked to 0777 (no
    /// setuid/setgid/sticky bits). Extraction never writes outside its
    /// destinations: absolute names, `..`, links that lead outside (chains
    /// included, resolved on disk) and writes through links are refused.
    /// Each destination is built beside it and moved into place when
    /// complete; an existing non-empty one is moved aside
    /// (NAME.before-restore-TIMESTAMP).
    #[arg(long, value_name = "DIR")]
    pub files_to: Option<PathBuf>,

    /// Full archives: put media folder FOLDER (its name or relative path in
    /// the archive) exactly at DEST (repeatable)
    #[arg(long, value_name = "FOLDER=DEST", value_parser = files::parse_media_to)]
    pub media_to: Vec<(String, PathBuf)>,

    /// Full archives: put configuration files in DIR (default DIR/config of
    /// --files-to)
    #[arg(long, value_name = "DIR")]
    pub config_to: Option<PathBuf>,

    /// Full archives: restore only the files (with --files-to), no database
    #[arg(long)]
    pub files_only: bool,

    /// Restore an `lfb-dump --globals` artifact: roles and tablespaces
    ///
    /// Into the target's server (TARGET names any database on it, else
    /// `postgres`). Adds and updates roles (one that already exists is
    /// kept, with the dumped attributes set) and creates missing
    /// tablespaces; drops nothing. Needed before restoring a database into
    /// a fresh server, where its roles do not exist yet.
    #[arg(long, conflicts_with_all = ["files_to", "files_only"])]
    pub globals: bool,

    #[command(flatten, next_help_heading = "Encryption")]
    pub identity: lfb_core::crypt::IdentityArgs,

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

/// The target database from TARGET, -u/-d, $DATABASE_URL and the config
/// file's `[env.ENV] database`.
fn target(cli: &Cli) -> Result<Database> {
    let base = match (
        &cli.target,
        std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()),
    ) {
        (Some(t), _) => Some(Database::parse(t)?),
        (None, Some(url)) if cli.database.is_none() => Some(Database::parse(&url)?),
        // The environment's database in the config file, as lfb-dump uses
        // it: `lfb-restore -e dev --latest --yes` restores what
        // `lfb-dump -e dev` backed up (a production target still needs
        // --confirm).
        (None, None) if cli.database.is_none() => {
            // env() records --config-file before the file is read.
            let env = cli.store.env()?;
            match lfb_core::config::current()? {
                Some(c) => c.database(&env)?,
                None => None,
            }
        }
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
                "no target database: give TARGET, -d DATABASE, set DATABASE_URL, or give \
                 [env.ENV] database in the config file",
            )),
        },
    }
}

/// The artifact to restore and, when `--latest` chose it, how it was
/// verified.
fn artifact(
    cli: &Cli,
    store: &Store,
    env: &str,
    target: Option<&Identity>,
    ui: &Ui,
) -> Result<(Record, Option<String>)> {
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
                "no such backup '{}' (looked in the current folder and in {}); \
                 `lfb-guard` or `lfb-verify --all` lists the store's backups, \
                 and --latest picks the newest good one",
                f.display(),
                store.root().display()
            ))
        })?;
        return Ok((store::record_for_path(&path)?, None));
    }
    if cli.latest {
        // Only read: a store or an --env that does not exist is a mistake.
        store.require_existing()?;
        if cli.store.env.is_some() {
            store.require_env(env)?;
        }
        let want = select::Wanted {
            env,
            tag: cli.tag.as_deref(),
            target,
            from: cli.from.as_deref(),
            archives_only: cli.files_only,
            globals: cli.globals,
        };
        let chosen = select::latest(store, &want, &quick_checks(), ui)?;
        return Ok((chosen.record, Some(chosen.verification)));
    }
    match ndjson::stdin_records()? {
        Some(mut recs) if recs.len() == 1 => Ok((recs.remove(0), None)),
        Some(recs) if recs.len() > 1 => Err(Error::usage(format!(
            "{} records on stdin: restore takes exactly one (pick one with `jq -c 'select(...)'` \
             or use -f FILE)",
            recs.len()
        ))),
        _ => Err(Error::usage(
            "nothing to restore: give -f FILE, --latest, or a record on stdin",
        )),
    }
}

fn quick_checks() -> Options {
    Options {
        checks: [
            CheckName::Exists,
            CheckName::Checksum,
            CheckName::Decode,
            CheckName::Complete,
        ]
        .into_iter()
        .collect(),
        min_size: 0,
        scratch: None,
    }
}

/// The name a restore is confirmed with: the database name, for SQLite
/// the file name.
fn target_name(db: &Database) -> String {
    match db {
        Database::Sqlite(p) => p
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        _ => db.name().unwrap_or_default(),
    }
}

/// True when an `LFB_PROD_DATABASES` entry (a database name, a SQLite path
/// or file name, or a URL) is the target.
fn listed_as_prod(entry: &str, db: &Database) -> bool {
    let entry = entry.trim();
    if entry.is_empty() {
        return false;
    }
    let url_like = entry.contains("://") || entry.starts_with("sqlite:");
    if url_like || entry.contains('/') {
        let Ok(other) = Database::parse(entry) else {
            return false;
        };
        return match (&other, db) {
            (Database::Sqlite(a), Database::Sqlite(b)) => {
                select::real_path(a) == select::real_path(b)
            }
            (Database::Postgres(a), Database::Postgres(b))
            | (Database::Mysql(a), Database::Mysql(b)) => {
                let same =
                    |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
                a.database.is_some()
                    && a.database == b.database
                    && same(&a.host, &b.host)
                    && (a.port.is_none() || b.port.is_none() || a.port == b.port)
            }
            _ => false,
        };
    }
    entry == target_name(db) || db.name().as_deref() == Some(entry)
}

/// Why a restore is a production restore, if it is (DESIGN.md, safety
/// invariant 4): the target environment is prod, the backup was taken in
/// prod, or the target is a database configured as production.
fn production(env: &str, record: &Record, db: &Database) -> Result<Option<String>> {
    if env == "prod" {
        return Ok(Some("the target environment is prod".into()));
    }
    if record.env() == Some("prod") {
        return Ok(Some(format!("{} is a backup from prod", record.label())));
    }
    configured_prod(db)
}

/// Why the target is a configured production database, if it is: listed
/// in `$LFB_PROD_DATABASES`, or in `production` of the config file (either
/// is enough: a list can only add production databases, never remove one).
fn configured_prod(db: &Database) -> Result<Option<String>> {
    if std::env::var("LFB_PROD_DATABASES")
        .ok()
        .is_some_and(|list| list.split(',').any(|e| listed_as_prod(e, db)))
    {
        return Ok(Some("the target is listed in LFB_PROD_DATABASES".into()));
    }
    if let Some(c) = lfb_core::config::current()?
        && c.production().iter().any(|e| listed_as_prod(e, db))
    {
        return Ok(Some(format!(
            "the target is listed in production of the config file '{}'",
            c.path.display()
        )));
    }
    Ok(None)
}

fn confirm(cli: &Cli, prod: Option<&str>, db: &Database, artifact: &Record) -> Result<()> {
    let name = target_name(db);
    if let Some(why) = prod {
        return match &cli.confirm {
            Some(c) if *c == name => Ok(()),
            Some(c) => Err(Error::usage(format!(
                "--confirm '{c}' does not name the target database '{name}': nothing was changed \
                 (this is a production restore: {why}; pass --confirm {name})"
            ))),
            None => Err(Error::usage(format!(
                "this is a production restore ({why}): it needs --confirm {name}{}: nothing was changed",
                if cli.yes {
                    " (--yes is not enough)"
                } else {
                    ""
                }
            ))),
        };
    }
    if cli.yes || cli.confirm.as_deref() == Some(name.as_str()) {
        return Ok(());
    }
    if let Some(c) = &cli.confirm {
        return Err(Error::usage(format!(
            "--confirm '{c}' does not name the target database '{name}': nothing was changed"
        )));
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Error::usage(format!(
            "not on a terminal: pass --yes (or --confirm {name}) to restore into '{name}': nothing was changed"
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

fn layout(cli: &Cli) -> files::Layout {
    files::Layout {
        files_to: cli.files_to.clone(),
        media_to: cli.media_to.clone(),
        config_to: cli.config_to.clone(),
    }
}

/// An encrypted artifact cannot be restored without its key: said before
/// anything is read or touched (exit 2).
fn need_key(record: &Record) -> Result<()> {
    if lfb_core::crypt::record_is_encrypted(record) && lfb_core::crypt::keys().is_none() {
        return Err(Error::usage(format!(
            "{} is encrypted with age: {}; nothing was changed",
            record.label(),
            lfb_core::crypt::IDENTITY_HINT
        )));
    }
    Ok(())
}

/// Runs lfb-restore.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    if let Some(location) = lfb_core::remote::location(&cli.store)? {
        return remote::run(cli, location, ui);
    }
    let started = Instant::now();
    let env = cli.store.env()?;
    let store = cli.store.store()?;
    lfb_core::crypt::load_keys(&cli.identity)?;
    if let Some(t) = &cli.tag {
        lfb_core::cli::check_tag(t)?;
    }
    if cli.globals {
        let (record, _) = artifact(&cli, &store, &env, None, ui)?;
        return restore_globals(&cli, &store, &env, record, ui, started);
    }
    if cli.files_only {
        if !layout(&cli).wanted() {
            return Err(Error::usage(
                "--files-only needs --files-to DIR (or --media-to FOLDER=DEST / --config-to DIR)",
            ));
        }
        let (record, verified) = artifact(&cli, &store, &env, None, ui)?;
        need_key(&record)?;
        return restore_files_only(&cli, &store, record, verified, ui, started);
    }
    let db = target(&cli)?;
    let identity = Identity::of_target(&db);
    let (record, verified) = artifact(&cli, &store, &env, Some(&identity), ui)?;
    if record.is_globals() {
        // Refused with a hint to use --globals.
        return restore_globals(&cli, &store, &env, record, ui, started);
    }
    // A record on stdin (from lfb-dump --exec … | lfb-verify) carries its
    // --exec prefix; a sidecar's is never used.
    let mut cli = cli;
    if cli.exec.is_none() && cli.file.is_none() && !cli.latest {
        cli.exec = record.exec().map(str::to_string);
    }
    let job = Job {
        cli: &cli,
        store: &store,
        env: &env,
        db: &db,
        identity: &identity,
        ui,
        started,
    };
    job.restore(record, verified)
}

/// A database restore: what it restores into, and from where.
struct Job<'a> {
    cli: &'a Cli,
    store: &'a Store,
    env: &'a str,
    db: &'a Database,
    identity: &'a Identity,
    ui: &'a Ui,
    started: Instant,
}

/// The backup chosen and checked, before anything is touched.
struct Checked {
    record: Record,
    path: PathBuf,
    /// For people: how the backup is known to be good.
    verification: String,
    /// An archive's dump, extracted into `scratch`; else the record itself.
    dump_record: Record,
    scratch: Option<lfb_core::fsutil::ScratchDir>,
    is_archive: bool,
    /// Where an archive's files would go.
    file_dests: Option<Vec<(PathBuf, bool)>>,
}

impl Job<'_> {
    /// The steps of a database restore: check, (dry run or) confirm,
    /// safety backup, load, report.
    fn restore(&self, record: Record, verified: Option<String>) -> Result<u8> {
        let mut checked = self.check(record, verified)?;
        let prod = production(self.env, &checked.record, self.db)?;
        // The safety backup belongs to the target's environment.
        let target_env = if self.env == "prod" || configured_prod(self.db)?.is_some() {
            "prod".to_string()
        } else {
            self.env.to_string()
        };
        if self.cli.dry_run {
            return dry_run::report(
                &dry_run::Plan {
                    cli: self.cli,
                    store: self.store,
                    db: self.db,
                    identity: self.identity,
                    record: checked.record.clone(),
                    dump_record: &checked.dump_record,
                    verification: &checked.verification,
                    production: prod.as_deref(),
                    target_env: &target_env,
                    files: checked.file_dests.as_deref(),
                },
                self.ui,
            );
        }
        // 3. Confirmation.
        confirm(self.cli, prod.as_deref(), self.db, &checked.record)?;
        let _one_at_a_time = target_lock::acquire(self.store, self.db, self.cli.wait, self.ui)?;
        // A PostgreSQL target is asked once whether it exists (under the
        // lock): the safety backup and the load both go by the answer.
        let pg_target = match self.db {
            Database::Postgres(conn) => Some(pg::Target::probe(conn, self.cli.exec.as_deref())?),
            _ => None,
        };
        // 4. Safety backup of the target as it is now.
        let safety = if self.cli.no_safety_backup {
            self.ui.warn("no safety backup (--no-safety-backup)");
            None
        } else {
            safety_backup(
                self.cli,
                self.store,
                &target_env,
                self.db,
                pg_target.as_ref(),
                self.ui,
            )?
        };
        // 5. Atomic clean restore (of the archive's dump, for a full archive).
        let (res, files) = self.load(&mut checked, pg_target.as_ref())?;
        self.report(
            checked.record,
            &checked.dump_record,
            res,
            files,
            Outcome {
                prod: prod.as_deref(),
                safety: safety.as_deref(),
                target_env: &target_env,
            },
        )
    }

    /// Steps 1 and 2: the record is one to restore, of the right database,
    /// and its artifact is whole; an archive's dump is extracted and its
    /// files' destinations checked. Nothing is touched yet.
    // Long: the checks that must all pass before anything is touched, in the order they run.
    fn check(&self, record: Record, verified: Option<String>) -> Result<Checked> {
        let (cli, db) = (self.cli, self.db);
        need_key(&record)?;
        if record.failed() {
            return Err(Error::failed(format!(
                "{} is a failed record: refusing to restore it; nothing was changed (choose another with -f FILE, or --latest for the newest good one)",
                record.label()
            )));
        }
        // The right database, before anything else.
        select::check(&record, self.identity, cli.from.as_deref())?;
        let path = record
            .path()
            .ok_or_else(|| Error::input("the record names no artifact path"))?;

        // 1. The artifact must be whole before anything is touched. A plain
        // PostgreSQL dump is checked in full while it is loaded (one read, and
        // the transaction commits only if it passes): here only what is cheap.
        let sql = record
            .typed_format()
            .filter(|f| f.body() == lfb_core::format::Body::Sql);
        let streamed = (matches!(db, Database::Postgres(_)) && sql.is_some())
            || (matches!(db, Database::Mysql(_)) && sql.is_some_and(|f| !f.is_encrypted()));
        let pre = if streamed || verified.is_some() {
            Options {
                checks: [CheckName::Exists, CheckName::Size].into_iter().collect(),
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
        let verification = verified.unwrap_or_else(|| describe_verification(&record, streamed));
        // 2. An archive's dump, extracted now: an archive without a dump for
        // this engine is refused before anything is touched.
        let is_archive = record.typed_format().is_some_and(|f| f.is_archive());
        let scratch = if is_archive {
            Some(lfb_core::fsutil::ScratchDir::new("restore")?)
        } else {
            None
        };
        let dump_record = match &scratch {
            Some(s) => {
                let d = archived::dump_for(&path, db, s)?;
                select::check(&d, self.identity, cli.from.as_deref())?;
                d
            }
            None => record.clone(),
        };
        if !is_archive && layout(cli).wanted() {
            return Err(Error::usage(format!(
                "--files-to/--media-to/--config-to need a full archive; {} is a database dump",
                record.label()
            )));
        }
        // Where an archive's files would go: a layout that would nest them is
        // refused now, before anything is touched.
        let file_dests = if is_archive && layout(cli).wanted() {
            Some(files::destinations(
                archived::tar_stream(&path)?,
                &layout(cli),
            )?)
        } else {
            None
        };
        Ok(Checked {
            record,
            path,
            verification,
            dump_record,
            scratch,
            is_archive,
            file_dests,
        })
    }

    /// Step 5: loads the dump into the target (a live progress line on a
    /// terminal), then an archive's files. The scratch copy of an
    /// archive's dump is removed once loaded.
    #[allow(clippy::type_complexity)]
    fn load(
        &self,
        checked: &mut Checked,
        pg_target: Option<&pg::Target>,
    ) -> Result<(Result<Restored>, Option<Result<Vec<files::Done>>>)> {
        let (cli, db, ui) = (self.cli, self.db, self.ui);
        let scratch = checked.scratch.take();
        let (record, dump_record) = (&checked.record, &checked.dump_record);
        let dump_path = dump_record.path().unwrap_or_else(|| checked.path.clone());
        let format = dump_record.format().unwrap_or("unknown").to_string();
        ui.info(format!(
            "restoring {} ({}) into {}",
            record.label(),
            lfb_core::units::format_size(dump_record.bytes().unwrap_or(0)),
            db.redacted()
        ));
        let ticker = Ticker::start(
            format!("restoring {}", record.label()),
            dump_record.bytes(),
            !ui.quiet() && std::io::stderr().is_terminal(),
        );
        let res = match db {
            Database::Postgres(conn) => pg::restore(
                conn,
                pg_target.expect("a PostgreSQL target is probed before the safety backup"),
                dump_record,
                ui,
            ),
            Database::Sqlite(target) => sqlite::restore(
                target,
                &dump_path,
                &format,
                dump_record.tables().as_ref(),
                cli.wait,
                ui,
            ),
            Database::Mysql(conn) => mysql::restore(conn, cli.exec.as_deref(), dump_record, ui),
        };
        drop(ticker);
        drop(scratch);
        let files = match &res {
            Ok(_) if checked.is_archive && layout(cli).wanted() => Some(files::extract(
                archived::tar_stream(&checked.path)?,
                &layout(cli),
                ui,
            )),
            _ => None,
        };
        Ok((res, files))
    }

    /// Step 6: the record's `restore` section, the journal event, the
    /// record on stdout and the exit code.
    fn report(
        &self,
        mut record: Record,
        dump_record: &Record,
        res: Result<Restored>,
        files: Option<Result<Vec<files::Done>>>,
        how: Outcome,
    ) -> Result<u8> {
        let (cli, store, db, ui) = (self.cli, self.store, self.db, self.ui);
        let mut section = section::Database {
            at: format_time(Utc::now()),
            target: db.redacted(),
            production: how.prod.is_some(),
            safety_backup: how.safety.map(|p| p.to_string_lossy().into_owned()),
            ok: false,
            counts: None,
            detail: None,
            error: None,
            files: None,
            duration_ms: 0,
            undo: None,
        };
        let ok = match &res {
            Ok(done) => loaded(&mut section, done, dump_record, &record, db, ui),
            Err(e) => {
                section.error = Some(e.line());
                false
            }
        };
        section.ok = ok;
        let mut files_failed = None;
        match files {
            Some(Ok(done)) => {
                report_files(&done, ui);
                section.files = Some(files_section(&done));
            }
            Some(Err(e)) => {
                ui.error(format!("files not restored: {}", e.line()));
                section.files = Some(json!({"to": cli.files_to, "error": e.line()}));
                section.ok = false;
                files_failed = Some(e);
            }
            None => {}
        }
        section.duration_ms = self.started.elapsed().as_millis() as u64;
        if let Some(p) = how.safety {
            let undo = undo_command(cli, store, how.target_env, p, db, how.prod.is_some());
            ui.info(format!("to undo: {undo}"));
            if let Some(note) = undo_password_note(cli, db) {
                ui.info(note);
            }
            section.undo = Some(undo);
        }
        record.set("restore", section::value(&section));
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
        .duration(self.started.elapsed());
        journal::note(store, &ev, ui);
        RecordWriter::new().write(&record)?;
        match res {
            Err(e) if e.line().contains(mysql::PARTLY) => Err(e),
            Err(e) => Err(Error::failed(format!(
                "{}; the target is unchanged",
                e.line()
            ))),
            Ok(_) if files_failed.is_some() => Ok(1),
            Ok(_) => Ok(if ok { 0 } else { 1 }),
        }
    }
}

/// What the report says besides the load: production, the safety backup.
struct Outcome<'a> {
    prod: Option<&'a str>,
    safety: Option<&'a Path>,
    target_env: &'a str,
}

/// How a backup not chosen by `--latest` is known to be good.
fn describe_verification(record: &Record, streamed: bool) -> String {
    let recorded = match (
        record.verify_ok(),
        record.get("verify").and_then(|v| v.get("at")),
    ) {
        (Some(true), Some(at)) => format!("verified at {}; ", at.as_str().unwrap_or("?")),
        _ => String::new(),
    };
    if streamed {
        format!("{recorded}checked while it is loaded (checksum, contents)")
    } else {
        format!("{recorded}checked now (checksum, contents)")
    }
}

/// A load that succeeded: its row counts against the record's, into the
/// section; true when they match.
fn loaded(
    section: &mut section::Database,
    done: &Restored,
    dump_record: &Record,
    record: &Record,
    db: &Database,
    ui: &Ui,
) -> bool {
    let (counts_ok, detail) = match (&done.counts, dump_record.tables()) {
        (Some(found), Some(want)) => match verify::compare_counts(&want, found) {
            None => (
                true,
                format!("{} tables, row counts as recorded", want.len()),
            ),
            Some(d) => (false, format!("row counts differ from the record: {d}")),
        },
        (Some(found), None) => (true, format!("{} tables (no recorded counts)", found.len())),
        _ => (true, String::new()),
    };
    section.counts = Some(json!(done.counts));
    section.detail = Some(detail.clone());
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
    counts_ok
}

fn report_files(done: &[files::Done], ui: &Ui) {
    for d in done {
        ui.info(format!(
            "restored {} {} to {}",
            d.members,
            if d.config {
                "configuration files (mode 0600)"
            } else {
                "media files"
            },
            d.dest.display()
        ));
    }
}

fn files_section(done: &[files::Done]) -> serde_json::Value {
    json!(
        done.iter()
            .map(|d| json!({
                "to": d.dest,
                "role": if d.config { "config" } else { "media" },
                "members": d.members,
                "moved_aside": d.moved_aside,
            }))
            .collect::<Vec<_>>()
    )
}

/// `--globals`: roles and tablespaces from an `lfb-dump --globals` artifact.
fn restore_globals(
    cli: &Cli,
    store: &Store,
    env: &str,
    mut record: Record,
    ui: &Ui,
    started: Instant,
) -> Result<u8> {
    if !cli.globals {
        return Err(Error::usage(format!(
            "{} holds roles and tablespaces, not a database: restore it with --globals",
            record.label()
        )));
    }
    if !record.is_globals() {
        return Err(Error::usage(format!(
            "{} is not an `lfb-dump --globals` artifact",
            record.label()
        )));
    }
    let db = target(cli)?;
    let Database::Postgres(conn) = &db else {
        return Err(Error::usage("--globals restores into a PostgreSQL server"));
    };
    let outcome = verify::verify(&record, &quick_checks());
    if !outcome.ok() {
        return Err(Error::failed(format!(
            "{} fails verification, nothing was changed: {}",
            record.label(),
            outcome.summary()
        )));
    }
    let prod = production(env, &record, &db)?;
    confirm(cli, prod.as_deref(), &db, &record)?;
    let res = pg::restore_globals(conn, cli.exec.as_deref(), &record);
    let mut section = section::Globals {
        at: format_time(Utc::now()),
        target: db.redacted(),
        globals: true,
        ok: res.is_ok(),
        roles: None,
        error: None,
        duration_ms: 0,
    };
    match &res {
        Ok(n) => {
            ui.info(format!(
                "restored {n} roles and the tablespaces into {}",
                db.redacted()
            ));
            section.roles = Some(*n);
        }
        Err(e) => section.error = Some(e.line()),
    }
    section.duration_ms = started.elapsed().as_millis() as u64;
    record.set("restore", section::value(&section));
    let msg = match &res {
        Ok(_) => format!("restored globals into {}", db.redacted()),
        Err(e) => e.line(),
    };
    journal::note(
        store,
        &Event::new(ui.tool(), "restore", res.is_ok(), msg).id(record.id()),
        ui,
    );
    RecordWriter::new().write(&record)?;
    res.map(|_| 0)
}

/// `--files-only`: extract an archive's media and config, no database.
// Long: the whole --files-only path: check, dry run, extract, report.
fn restore_files_only(
    cli: &Cli,
    store: &Store,
    mut record: Record,
    verified: Option<String>,
    ui: &Ui,
    started: Instant,
) -> Result<u8> {
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    if !record.typed_format().is_some_and(|f| f.is_archive()) {
        return Err(Error::usage(format!(
            "--files-only needs a full archive; {} is a database dump",
            record.label()
        )));
    }
    if verified.is_none() {
        let outcome = verify::verify(&record, &quick_checks());
        if !outcome.ok() {
            return Err(Error::failed(format!(
                "{} fails verification, nothing was changed: {}",
                path.display(),
                outcome.summary()
            )));
        }
    }
    let dests = files::destinations(archived::tar_stream(&path)?, &layout(cli))?;
    if cli.dry_run {
        ui.info(format!(
            "dry run: nothing is changed; the files of {} ({}) would go to:",
            record.label(),
            path.display()
        ));
        for (d, config) in &dests {
            ui.info(format!(
                "  {} {}",
                d.display(),
                if *config {
                    "(configuration, 0600)"
                } else {
                    "(media)"
                }
            ));
        }
        record.set(
            "restore",
            json!({"dry_run": true, "files_only": true,
                   "files": dests.iter().map(|(d, c)| json!({"to": d, "role": if *c { "config" } else { "media" }})).collect::<Vec<_>>()}),
        );
        if !std::io::stdout().is_terminal() {
            RecordWriter::new().write(&record)?;
        }
        return Ok(0);
    }
    let res = files::extract(archived::tar_stream(&path)?, &layout(cli), ui);
    let ok = res.is_ok();
    let files = match &res {
        Ok(done) => {
            report_files(done, ui);
            files_section(done)
        }
        Err(e) => json!({"error": e.line()}),
    };
    let section = section::FilesOnly {
        at: format_time(Utc::now()),
        ok,
        files,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    record.set("restore", section::value(&section));
    let msg = match &res {
        Ok(_) => "restored files".to_string(),
        Err(e) => e.line(),
    };
    journal::note(
        store,
        &Event::new(ui.tool(), "restore", ok, msg).id(record.id()),
        ui,
    );
    RecordWriter::new().write(&record)?;
    match res {
        Ok(_) => Ok(0),
        Err(e) => Err(Error::failed(format!("{}; nothing was written", e.line()))),
    }
}

/// A live "restoring …  12s" line on a terminal while the database loads
/// (the engines report their own details when done); cleared when dropped.
/// `120.3 MiB of 250.0 MiB read, 12 tables, 42.0s`: what the load has
/// read of the artifact (and, for PostgreSQL dumps, the tables whose data
/// it has begun), from the counters the loading code keeps.
fn load_line(total: Option<u64>, elapsed: std::time::Duration) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let read = lfb_core::progress::LOAD_BYTES.load(Relaxed);
    let tables = lfb_core::progress::LOAD_TABLES.load(Relaxed);
    let size = lfb_core::units::format_size;
    let mut line = match total {
        Some(t) if t > 0 => format!("{} of {} read", size(read.min(t)), size(t)),
        _ => format!("{} read", size(read)),
    };
    if tables > 0 {
        line.push_str(&format!(
            ", {tables} {}",
            if tables == 1 { "table" } else { "tables" }
        ));
    }
    line.push_str(&format!(", {}", lfb_core::units::format_duration(elapsed)));
    line
}

struct Ticker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(label: String, total: Option<u64>, enabled: bool) -> Ticker {
        lfb_core::progress::reset_load();
        if !enabled {
            return Ticker {
                stop: None,
                thread: None,
            };
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut drawn = false;
            // First draw after a second: quick restores show nothing.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_secs(1))
            {
                eprint!("\r\x1b[2K{label}: {}", load_line(total, started.elapsed()));
                drawn = true;
            }
            if drawn {
                eprint!("\r\x1b[2K");
            }
        });
        Ticker {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Quotes a word for `sh` when it needs it.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/:@._-=,+%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The target as a command-line argument that still works from another
/// folder or shell: an absolute SQLite path; a PostgreSQL URL with the host
/// and port that PGHOST/PGPORT supplied made explicit (never a password).
fn undo_target(db: &Database) -> String {
    match db {
        Database::Sqlite(p) => std::path::absolute(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
        Database::Postgres(c) => {
            let mut c = c.clone();
            if c.host.is_none() {
                c.host = std::env::var("PGHOST").ok().filter(|h| !h.is_empty());
            }
            if c.port.is_none() {
                c.port = std::env::var("PGPORT").ok().and_then(|p| p.parse().ok());
            }
            if c.user.is_none() {
                c.user = std::env::var("PGUSER").ok().filter(|u| !u.is_empty());
            }
            Database::Postgres(c).redacted()
        }
        other => other.redacted(),
    }
}

/// The complete command that restores the safety backup: store,
/// environment, artifact path, confirmation, exec prefix, target.
fn undo_command(
    cli: &Cli,
    store: &Store,
    env: &str,
    safety: &Path,
    db: &Database,
    prod: bool,
) -> String {
    let mut w: Vec<String> = vec!["lfb-restore".into()];
    w.push("--store".into());
    w.push(sh_quote(&store.root().to_string_lossy()));
    w.push("-e".into());
    w.push(sh_quote(env));
    w.push("-f".into());
    w.push(sh_quote(&safety.to_string_lossy()));
    if let Some(x) = &cli.exec {
        w.push("--exec".into());
        w.push(sh_quote(x));
    }
    // The safety backup is from the target's environment: a production
    // one needs the confirmation again.
    // `prod` covers a configured production database too.
    if prod || env == "prod" {
        w.push("--confirm".into());
        w.push(sh_quote(&target_name(db)));
    } else {
        w.push("--yes".into());
    }
    // A MySQL password never goes on argv, and the clients read none from
    // the environment: the undo takes its target, password included, from
    // $DATABASE_URL as this restore did (see `undo_password_note`).
    if !mysql_password(db) {
        w.push(sh_quote(&undo_target(db)));
    }
    w.join(" ")
}

/// A MySQL target whose password came from its URL (not `~/.my.cnf`).
fn mysql_password(db: &Database) -> bool {
    matches!(db, Database::Mysql(c) if c.password.is_some())
}

/// Where the undo command's MySQL password comes from, said after it.
fn undo_password_note(cli: &Cli, db: &Database) -> Option<String> {
    if !mysql_password(db) {
        return None;
    }
    let from_env = std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty());
    Some(if cli.target.is_none() && from_env {
        "password: the undo command takes the target and its password from $DATABASE_URL, \
         as this restore did"
            .to_string()
    } else if cli.target.is_none() {
        "password: the undo command takes the target and its password from the config \
         file's database of the environment (password_file/password_env), as this restore did"
            .to_string()
    } else {
        format!(
            "password: set DATABASE_URL as for this restore ({}, with its password): \
             the undo command takes the target from it",
            db.redacted()
        )
    })
}

/// Dumps the target as it is now (tag pre-restore) and verifies it. `None`
/// when the target does not exist yet (nothing to lose).
fn safety_backup(
    cli: &Cli,
    store: &Store,
    env: &str,
    db: &Database,
    pg_target: Option<&pg::Target>,
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
    if let Database::Postgres(_) = db
        && !pg_target.is_some_and(pg::Target::exists)
    {
        ui.info("the target database does not exist yet: no safety backup needed");
        return Ok(None);
    }
    if let Database::Mysql(conn) = db
        && !mysql::database_exists(conn, cli.exec.as_deref())?
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
        format: DumpFormat::Sql,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_databases_are_matched_by_name_path_or_url() {
        let pg = Database::parse("postgresql://app@db:5432/ledger").unwrap();
        assert!(listed_as_prod("ledger", &pg));
        assert!(listed_as_prod(" ledger ", &pg));
        assert!(!listed_as_prod("ledger_dev", &pg));
        assert!(listed_as_prod("postgresql://db/ledger", &pg));
        assert!(!listed_as_prod("postgresql://other/ledger", &pg));
        assert!(!listed_as_prod("postgresql://db:6543/ledger", &pg));
        let sq = Database::parse("/srv/app/db.sqlite3").unwrap();
        assert!(listed_as_prod("db.sqlite3", &sq));
        assert!(listed_as_prod("/srv/app/db.sqlite3", &sq));
        assert!(listed_as_prod("sqlite:////srv/app/db.sqlite3", &sq));
        assert!(!listed_as_prod("/srv/other/db.sqlite3", &sq));
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(sh_quote("/a/b_c.sql.gz"), "/a/b_c.sql.gz");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
