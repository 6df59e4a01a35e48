//! lfb-dump: dump one database into the store and print its record.
//!
//! Replaces `backup_dev_db.sh`'s `pg_dump | gzip > file`: the dump streams
//! through compression and hashing into a `.partial` file that becomes the
//! artifact only when complete, checked and synced; a failed dump leaves no
//! artifact and still prints a record (with an `error` section) so the rest
//! of a pipeline knows.

use std::path::PathBuf;

use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::dump::{self, Compress, DumpFormat, DumpRequest};
use lfb_core::engine::url::Database;
use lfb_core::journal::Event;
use lfb_core::run::Run;
use lfb_core::{Error, Kind, Result, demo};

/// Dump one database into the backup store and print its record.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-dump",
    version,
    about = "Dump one database into the backup store and print its record",
    long_about = "Dump one database (PostgreSQL, MariaDB/MySQL or SQLite) into the backup store and print \
its record as one line of JSON on stdout.\n\n\
The dump streams straight through compression and SHA-256 into \
STORE/ENV/NAME_db_TAG_TIMESTAMP.EXT.PID.partial, which is renamed to its final name only \
when the dump tool succeeded, the dump is complete and the file is synced to disk. \
A sidecar NAME.EXT.json holds the record (written first, so an artifact never exists \
without it), and logs/journal.ndjson gets an event.\n\n\
On failure nothing is left under a final name, a record with an \"error\" section is \
still printed (so `lfb-verify` and `lfb-prune` downstream see the failure), and the \
exit code is 1 (the dump failed) or 2 (it could not start: bad arguments, database \
unreachable, store not writable).",
    after_help = "Examples:\n  \
lfb-dump postgresql://app@db.internal/ledgerflow --tag hourly\n  \
lfb-dump sqlite:///db.sqlite3 --env prod --tag daily\n  \
lfb-dump 'mysql+pymysql://app:secret@localhost/shop?socket=/run/mysqld/mysqld.sock'\n  \
lfb-dump --exec 'docker compose exec -T postgres' postgresql://postgres@/ledgerflow\n  \
lfb-dump --tag pre-migration | lfb-verify --restore-test\n  \
lfb-dump --globals postgresql://postgres@db.internal/ledgerflow --tag daily"
)]
pub struct Cli {
    /// Database to dump: postgresql://…, mysql://…, mariadb://…, sqlite:…, or a SQLite file path
    ///
    /// PostgreSQL URLs may leave out parts that libpq's PG* variables supply
    /// (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD). A password in the URL
    /// reaches pg_dump only through its environment, never its arguments.
    ///
    /// MySQL/MariaDB: mysql://USER:PASSWORD@HOST:PORT/DB, also mariadb:// and
    /// driver forms such as mysql+pymysql://; a socket as ?socket=/path. The
    /// dump is mariadb-dump/mysqldump --single-transaction with routines,
    /// triggers and events; the password reaches it only through a private
    /// 0600 option file (--defaults-file), never argv or MYSQL_PWD.
    #[arg(env = "DATABASE_URL", hide_env_values = true, value_name = "DATABASE")]
    pub database: Option<String>,

    /// Why this backup is made: hourly, daily, pre-migration, safety, manual, …
    ///
    /// Any [a-z0-9-]+ name. pre-migration backups go to STORE/migrations/.
    #[arg(short, long, default_value = "manual")]
    pub tag: String,

    /// Base name of the artifact [default: the database name]
    #[arg(short, long)]
    pub name: Option<String>,

    /// Dump format: sql (both engines), custom (PostgreSQL), native (SQLite)
    #[arg(short = 'F', long, value_enum, default_value_t = DumpFormat::Sql)]
    pub format: DumpFormat,

    /// Compression of the artifact (custom format compresses internally)
    #[arg(short = 'c', long, value_enum, default_value_t = Compress::Gzip)]
    pub compress: Compress,

    /// gzip level, 0 (store) to 9 (smallest)
    ///
    /// The default, 4, makes files no larger than GNU gzip -6 does, with
    /// under a third of its CPU time (lfb compresses with libdeflate, on all
    /// cores; bench/RESULTS.md has the numbers).
    #[arg(short = 'l', long, default_value_t = lfb_core::gzip::DEFAULT_LEVEL,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,

    /// Write the artifact to PATH (outside the store) instead
    ///
    /// Its sidecar is written beside it; no journal event is written. A PATH
    /// inside the store is refused (exit 2): no tool would count that file;
    /// use --store/--env/--tag.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Run the database client programs through a command prefix
    ///
    /// For a server in a container: --exec 'docker compose exec -T postgres'
    /// runs `docker compose exec -T postgres pg_dump …`. A PostgreSQL password
    /// must then be passed on by the prefix (docker compose exec -e
    /// PGPASSWORD …); a MySQL password is handed to mariadb-dump on its
    /// stdin as an option file (--defaults-extra-file=/dev/stdin).
    #[arg(long, value_name = "PREFIX")]
    pub exec: Option<String>,

    /// PostgreSQL: also dump the server's roles and tablespaces
    ///
    /// A second artifact of the same run, NAME-globals_db_TAG_TIME.sql.gz
    /// (pg_dumpall --globals-only: roles, their memberships and settings,
    /// tablespaces; role passwords left out unless --role-passwords), whose
    /// record is printed after the database's. A database dump holds no
    /// roles: restoring it into a fresh server needs them first, with
    /// `lfb-restore --globals`.
    #[arg(long, conflicts_with = "output")]
    pub globals: bool,

    /// With --globals: keep the roles' password hashes in the artifact
    #[arg(long, requires = "globals")]
    pub role_passwords: bool,

    /// Dump a small built-in sample SQLite database (to try lfb out)
    ///
    /// Takes the place of DATABASE and $DATABASE_URL.
    #[arg(long)]
    pub demo: bool,

    #[command(flatten, next_help_heading = "Encryption")]
    pub encrypt: lfb_core::crypt::EncryptArgs,

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

/// Runs lfb-dump.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let mut run = Run::start(&cli.store, ui, Kind::Db, &cli.tag, cli.name.as_deref())?;
    let env = run.env.clone();
    lfb_core::crypt::set_encrypt_args(cli.encrypt.clone());
    lfb_core::crypt::encryption()?;
    let result = request(&cli, &run, ui).and_then(|req| {
        if cli.globals && !matches!(req.database, Database::Postgres(_)) {
            return Err(Error::usage("--globals is for PostgreSQL databases"));
        }
        Ok((dump::dump(&req, ui)?, req))
    });
    match result {
        Ok((record, req)) => {
            ui.info(format!(
                "wrote {} ({})",
                record.path().unwrap_or_default().display(),
                lfb_core::units::format_size(record.bytes().unwrap_or(0))
            ));
            run.out.write(&record)?;
            if cli.globals {
                globals(&cli, &mut run, &req)?;
            }
            Ok(0)
        }
        Err(e) => {
            // The failure travels down the pipeline as a record, and into
            // the journal when the store can take it.
            let rec = run.failure(&e).tool(ui.tool()).record();
            run.out.write(&rec)?;
            if cli.output.is_none() {
                let ev = Event::new(ui.tool(), "dump", false, e.line()).group(
                    &env,
                    cli.name.as_deref(),
                    &cli.tag,
                );
                run.journal(&ev);
            }
            Err(e)
        }
    }
}

/// What to dump, where: the database from the argument, `$DATABASE_URL`
/// or the config file (or the demo database).
fn request(cli: &Cli, run: &Run<'_>, ui: &Ui) -> Result<DumpRequest> {
    let env = &run.env;
    let database = if cli.demo {
        let p = demo::ensure(&demo::default_path())?;
        ui.info(format!("demo database: {}", p.display()));
        Database::Sqlite(p)
    } else {
        database(cli, env)?
    };
    Ok(DumpRequest {
        database,
        store: run.store.clone(),
        env: env.clone(),
        tag: cli.tag.clone(),
        // The config file's name goes with the config file's database.
        name: cli.name.clone().or_else(|| {
            (cli.database.is_none() && !cli.demo)
                .then(|| config_name(env))
                .flatten()
        }),
        format: cli.format,
        compress: cli.compress,
        level: cli.level,
        output: cli.output.clone(),
        exec: cli.exec.clone(),
    })
}

/// `--globals`: the server's roles and tablespaces, after the database. A
/// failure prints its own failure record and fails the run.
fn globals(cli: &Cli, run: &mut Run<'_>, req: &DumpRequest) -> Result<()> {
    match dump::dump_globals(req, cli.role_passwords, run.ui) {
        Ok(g) => {
            run.ui.info(format!(
                "wrote {} (roles and tablespaces)",
                g.path().unwrap_or_default().display()
            ));
            run.out.write(&g)
        }
        Err(e) => {
            let rec = run
                .failure(&e)
                .message(format!("globals: {}", e.line()))
                .record();
            run.out.write(&rec)?;
            Err(Error::failed(format!(
                "the database dump succeeded, the globals dump failed: {}",
                e.line()
            )))
        }
    }
}

/// The database to dump: the argument, else `$DATABASE_URL` (clap reads
/// both), else the config file's `[env.ENV] database`.
fn database(cli: &Cli, env: &str) -> Result<Database> {
    if let Some(url) = &cli.database {
        return Database::parse(url);
    }
    let config = lfb_core::config::current()?;
    if let Some(db) = config.map(|c| c.database(env)).transpose()?.flatten() {
        return Ok(db);
    }
    let file = match config {
        Some(c) => format!("database in [env.{env}] of {}", c.path.display()),
        None => format!(
            "database in [env.{env}] of a config file ({})",
            "~/.config/lfb/config.toml"
        ),
    };
    Err(Error::usage(format!(
        "no database to dump: give DATABASE (a postgresql://, mysql:// or sqlite: URL, \
         or a SQLite file), set $DATABASE_URL, or set {file}"
    )))
}

/// The artifact base name the config file gives the environment.
fn config_name(env: &str) -> Option<String> {
    let config = lfb_core::config::current().ok().flatten()?;
    config.env(env)?.name.clone()
}
