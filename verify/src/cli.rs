//! lfb-verify's command line: the flags, and the [`Options`] of
//! `lfb_core::verify` they select.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Verbosity};
use lfb_core::verify::{self, CheckName, DEFAULT_CHECKS, Options};

/// Check artifacts; optionally test-restore them into a scratch database.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-verify",
    version,
    about = "Check backup artifacts; optionally test-restore them into a scratch database",
    long_about = "Check backup artifacts and print each record back with a \"verify\" section: \
ok, and one entry per check with its name, result and a short detail.\n\n\
Artifacts come from the PATHs given, else --all (every artifact in the store, \
including files of the original scripts that have no sidecar), else records on \
stdin (from lfb-dump). Checks:\n\n  \
exists       a regular, readable file\n  \
size         the size the record says; not under half the median of the group's 10 \
artifacts before it (a sudden shrink); at least --min-size when given\n  \
checksum     SHA-256 equals the record's\n  \
decode       the whole gzip stream decodes (CRC and length)\n  \
complete     the dump is whole: pg_dump's completion trailer (and the row counts \
the record promises), a custom-format archive whose table of contents and every data block \
read (pg_restore -f /dev/null), SQLite's final COMMIT, \
a SQLite file of whole pages\n  \
permissions  no group/other access, owned by the current user (on a file lfb did not \
create, group/other access is a warning naming the chmod; --fix-permissions fixes it)\n  \
restore      (--restore-test) restore into a scratch database: any SQL error fails, \
every recorded table must exist with exactly its recorded row count (rows stored in \
the table itself, FROM ONLY), SQLite also passes PRAGMA integrity_check. The PostgreSQL \
scratch database is dropped however lfb-verify ends, SIGKILL included (a watcher \
process drops it); lfb-dump --globals artifacts are checked but not loaded\n\n\
checksum, decode and complete share one read of the file, hashing and decompressing \
in parallel. A PostgreSQL plain dump's restore test loads that same read into the \
scratch database, which commits only if every check passed.\n\n\
The latest verify section is remembered in the artifact's sidecar (written atomically \
under the store lock; verify.restore_test keeps the latest restore test), so lfb-prune, \
lfb-guard and lfb-restore --latest know it later. A file of the original scripts gets a \
sidecar made from its name. Exit status: 0 all artifacts passed, 1 any failed, 2 bad \
arguments or input, or a restore test that could not start (a role without CREATEDB, \
a MariaDB user without its password: not a verdict on the artifact, not remembered).",
    after_help = "Examples:\n  \
lfb-dump postgresql:///ledgerflow | lfb-verify --restore-test | jq .verify.ok\n  \
lfb-verify --all --quarantine\n  \
lfb-verify --checks checksum,decode,complete backups/prod/*.sql.gz"
)]
pub struct Cli {
    /// Artifacts to check (their sidecars supply the records)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Check every artifact in the store (limited by --env when given)
    #[arg(long, conflicts_with = "paths")]
    pub all: bool,

    /// Run only these checks (comma-separated)
    #[arg(long, value_name = "LIST", value_parser = parse_list)]
    pub checks: Option<CheckList>,

    /// Leave out these checks (comma-separated)
    #[arg(long, value_name = "LIST", value_parser = parse_list)]
    pub skip: Option<CheckList>,

    /// Also fail artifacts under SIZE: --min-size 10KiB is the original scripts' check
    ///
    /// Without it there is no absolute floor (a fresh project's database
    /// dumps to a few KiB): the size check compares the artifact with its
    /// group's history instead, failing it when it is under half the median
    /// of the group's 10 artifacts before it (with at least 3), and the
    /// complete check proves the dump whole.
    #[arg(long, value_name = "SIZE", value_parser = lfb_core::cli::parse_size_arg)]
    pub min_size: Option<u64>,

    /// chmod 600 artifacts (and sidecars) lfb recognises that give group/other access
    ///
    /// Without it, such permissions on a file lfb did not create (a file of
    /// the original scripts, made with umask 022) are a warning naming the
    /// exact chmod; on files lfb made they fail the permissions check.
    #[arg(long)]
    pub fix_permissions: bool,

    /// Also restore each dump into a scratch database and compare row counts
    ///
    /// PostgreSQL: a temporary database on the server the dump came from
    /// (host, port and user from the record; the password from $DATABASE_URL
    /// when it names that server, else PGPASSWORD or ~/.pgpass), created and
    /// always dropped, even on failure or Ctrl-C. MariaDB/MySQL: the same,
    /// a temporary lfb_scratch_* database on the source server (password
    /// from a mysql:// $DATABASE_URL naming that server). The role needs
    /// CREATEDB (MariaDB: CREATE and DROP), or give --scratch; a restore
    /// test that cannot start exits 2 and is not remembered. SQLite: a file in
    /// a private lfb-verify-PID-… folder under $TMPDIR, removed at the end
    /// and on Ctrl-C/SIGTERM; one a SIGKILL left is removed by the next lfb
    /// run.
    #[arg(long)]
    pub restore_test: bool,

    /// PostgreSQL or MariaDB/MySQL scratch database to create, restore into and drop
    ///
    /// A postgresql:// (or, for MySQL dumps, mysql://) URL naming a database
    /// that does not exist yet. The source database itself is refused.
    #[arg(long, value_name = "URL")]
    pub scratch: Option<String>,

    /// Run the PostgreSQL client programs of the restore test through a command prefix
    ///
    /// For a server in a container: --exec 'docker compose exec -T postgres'.
    /// Without it, a record on stdin from `lfb-dump --exec PREFIX` carries
    /// the prefix (source.exec), so a pipeline names it once; a sidecar's
    /// is never used (a file in the store does not choose commands to run).
    /// Plain-SQL dumps stream through the prefix; a custom-format archive
    /// is read by pg_restore from its path, which must then be visible
    /// where the prefix runs it.
    #[arg(long, value_name = "PREFIX")]
    pub exec: Option<String>,

    /// Move failed artifacts (and their sidecars) to STORE/quarantine/
    ///
    /// Only artifacts of the store are moved: a file whose name lfb does not
    /// recognise, or whose real folder (symlinks and `..` resolved) is not
    /// one of the store's environment folders or migrations/, is refused and
    /// left where it is. Nothing in quarantine is replaced: a second
    /// artifact of the same name goes to quarantine/<env>/ (then
    /// quarantine/<env>/2/, ...), its sidecar with it.
    #[arg(long)]
    pub quarantine: bool,

    #[command(flatten, next_help_heading = "Encryption")]
    pub identity: lfb_core::crypt::IdentityArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// A comma-separated list of check names, as one flag value.
#[derive(Debug, Clone)]
pub struct CheckList(pub Vec<CheckName>);

fn parse_list(s: &str) -> std::result::Result<CheckList, String> {
    verify::parse_checks(s).map(CheckList)
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }
}

/// The checks and limits the flags select.
pub(crate) fn options(cli: &Cli) -> Options {
    let mut checks: BTreeSet<CheckName> = match &cli.checks {
        Some(list) => list.0.iter().copied().collect(),
        None => DEFAULT_CHECKS.iter().copied().collect(),
    };
    if cli.restore_test {
        checks.insert(CheckName::Restore);
    }
    if let Some(skip) = &cli.skip {
        for s in &skip.0 {
            checks.remove(s);
        }
    }
    Options {
        checks,
        min_size: cli.min_size.unwrap_or(0),
        scratch: cli.scratch.clone(),
    }
}
