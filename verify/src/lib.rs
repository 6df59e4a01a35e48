//! lfb-verify: prove a backup is whole and really restores.
//!
//! Replaces the checks of every original script (a size, `pg_restore
//! --list`, a "test restore" through a `psql` that exits 0 on SQL errors)
//! with named checks that fail loudly, and a restore test that compares
//! every table's row count with the record.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::journal::{self, Event};
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::verify::{self, ALL_CHECKS, DEFAULT_CHECKS, Options};
use lfb_core::{Error, Record, Result, Store, fsutil, store};
use serde_json::json;

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
size         at least --min-size, and the size the record says\n  \
checksum     SHA-256 equals the record's\n  \
decode       the whole gzip stream decodes (CRC and length)\n  \
complete     the dump is whole: pg_dump's completion trailer (and the row counts \
the record promises), a readable custom-format table of contents, SQLite's final COMMIT, \
a SQLite file of whole pages\n  \
permissions  no group/other access, owned by the current user\n  \
restore      (--restore-test) restore into a scratch database: any SQL error fails, \
every recorded table must exist with exactly its recorded row count, SQLite also \
passes PRAGMA integrity_check\n\n\
checksum, decode and complete share one read of the file, hashing and decompressing \
in parallel. Exit status: 0 all artifacts passed, 1 any failed, 2 bad arguments or input.",
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

    /// Smallest acceptable artifact (10KiB, 5MB, …)
    #[arg(long, value_name = "SIZE", default_value = "10KiB", value_parser = lfb_core::cli::parse_size_arg)]
    pub min_size: u64,

    /// Also restore each dump into a scratch database and compare row counts
    ///
    /// PostgreSQL: a temporary database on the server the dump came from
    /// (host, port and user from the record; the password from $DATABASE_URL
    /// when it names that server, else PGPASSWORD or ~/.pgpass), created and
    /// always dropped, even on failure or Ctrl-C. SQLite: a file in a private
    /// lfb-verify-PID-… folder under $TMPDIR, removed at the end and on
    /// Ctrl-C/SIGTERM; one a SIGKILL left is removed by the next lfb run.
    #[arg(long)]
    pub restore_test: bool,

    /// PostgreSQL scratch database to create, restore into and drop
    ///
    /// A postgresql:// URL naming a database that does not exist yet. The
    /// source database itself is refused.
    #[arg(long, value_name = "URL")]
    pub scratch: Option<String>,

    /// Move failed artifacts (and their sidecars) to STORE/quarantine/
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
pub struct CheckList(pub Vec<&'static str>);

fn parse_list(s: &str) -> std::result::Result<CheckList, String> {
    verify::parse_checks(s).map(CheckList)
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }
}

fn options(cli: &Cli) -> Options {
    let mut checks: BTreeSet<&'static str> = match &cli.checks {
        Some(list) => list.0.iter().copied().collect(),
        None => DEFAULT_CHECKS.iter().copied().collect(),
    };
    if cli.restore_test {
        checks.insert("restore");
    }
    if let Some(skip) = &cli.skip {
        for s in &skip.0 {
            checks.remove(s);
        }
    }
    debug_assert!(checks.iter().all(|c| ALL_CHECKS.contains(c)));
    Options {
        checks,
        min_size: cli.min_size,
        scratch: cli.scratch.clone(),
    }
}

/// The store an artifact lives in: the configured one when it is inside it,
/// else the folder above its environment folder.
fn store_of(path: &Path, configured: &Store) -> Store {
    if path.starts_with(configured.root()) {
        return configured.clone();
    }
    match path.parent().and_then(Path::parent) {
        Some(root) if root.join(store::LOGS).is_dir() => Store::at(root),
        _ => configured.clone(),
    }
}

/// Moves a failed artifact and its sidecar aside; returns the new path.
fn quarantine(path: &Path, st: &Store) -> Result<PathBuf> {
    let dir = st.quarantine_dir();
    st.ensure_dir(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::failed("artifact has no file name"))?;
    let dest = dir.join(name);
    std::fs::rename(path, &dest).map_err(|e| Error::io_path("move to quarantine", path, e))?;
    let side = store::sidecar_path(path);
    if side.exists() {
        std::fs::rename(&side, store::sidecar_path(&dest))
            .map_err(|e| Error::io_path("move to quarantine", &side, e))?;
    }
    fsutil::sync_dir(&dir)?;
    Ok(dest)
}

/// Runs lfb-verify.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let opts = options(&cli);
    let configured = cli.store.store()?;
    // A named identity that cannot be read stops the run (exit 2); none at
    // all only skips the checks of encrypted artifacts that need it.
    lfb_core::crypt::load_keys(&cli.identity)?;
    let records: Vec<Record> = if !cli.paths.is_empty() {
        cli.paths
            .iter()
            .map(|p| store::record_for_path(p))
            .collect::<Result<_>>()?
    } else if cli.all {
        let env = match &cli.store.env {
            Some(_) => Some(cli.store.env()?),
            None => None,
        };
        configured
            .artifacts()?
            .into_iter()
            .filter(|a| env.as_deref().is_none_or(|e| a.in_env(e)))
            .map(|a| a.record)
            .collect()
    } else {
        match ndjson::stdin_records()? {
            Some(r) if !r.is_empty() => r,
            _ => {
                return Err(Error::usage(
                    "nothing to verify: give artifact paths, --all, or records on stdin",
                ));
            }
        }
    };

    let mut out = RecordWriter::new();
    let mut failures = 0usize;
    for mut record in records {
        if record.get("error").is_some() || record.path().is_none() {
            // A failure upstream: it passes through and still counts.
            ui.warn(format!("{}: failed upstream, not verified", record.label()));
            failures += 1;
            out.write(&record)?;
            continue;
        }
        let started = Instant::now();
        let path = record.path().expect("checked above");
        if record.get("derived").is_some() {
            ui.debug(format!(
                "{}: no sidecar; checks needing a record are skipped",
                path.display()
            ));
        }
        let outcome = verify::verify(&record, &opts);
        let ok = outcome.ok();
        record.set("verify", outcome.section());
        let st = store_of(&path, &configured);
        if ok {
            ui.info(format!("{}: {}", record.label(), outcome.summary()));
        } else {
            failures += 1;
            ui.error(format!("{}: {}", record.label(), outcome.summary()));
            if cli.quarantine && path.exists() {
                match quarantine(&path, &st) {
                    Ok(dest) => {
                        ui.info(format!("moved {} to {}", path.display(), dest.display()));
                        record.set("quarantine", json!({"path": dest.to_string_lossy()}));
                    }
                    Err(e) => ui.error(e.line()),
                }
            }
        }
        if st.root().join(store::LOGS).is_dir() || st.root().is_dir() {
            let ev = Event::new(ui.tool(), "verify", ok, outcome.summary())
                .id(record.id())
                .bytes(record.bytes())
                .duration(started.elapsed());
            if let Err(e) = journal::append(&st, &ev) {
                ui.warn(e.line());
            }
        }
        out.write(&record)?;
    }
    Ok(if failures > 0 { 1 } else { 0 })
}
