//! lfb-verify: prove a backup is whole and really restores.
//!
//! Replaces the checks of every original script (a size, `pg_restore
//! --list`, a "test restore" through a `psql` that exits 0 on SQL errors)
//! with named checks that fail loudly, and a restore test that compares
//! every table's row count with the record.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use lfb_core::chrono::{DateTime, Utc};
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::journal::{self, Event};
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::units::format_size;
use lfb_core::verify::{self, ALL_CHECKS, DEFAULT_CHECKS, Options, Outcome};
use lfb_core::{Error, Record, Result, Store, fsutil, naming, store};
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
in parallel.\n\n\
The latest verify section is remembered in the artifact's sidecar (written atomically \
under the store lock; verify.restore_test keeps the latest restore test), so lfb-prune, \
lfb-guard and lfb-restore --latest know it later. A file of the original scripts gets a \
sidecar made from its name. Exit status: 0 all artifacts passed, 1 any failed, 2 bad \
arguments or input.",
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
    /// from a mysql:// $DATABASE_URL naming that server). SQLite: a file in
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
        min_size: cli.min_size.unwrap_or(0),
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
///
/// Only an artifact of the store is moved ([`Store::confine`]): a record
/// naming a file elsewhere (or escaping with `..` or a symlink) is refused
/// and the file left where it is. Nothing in quarantine is ever replaced:
/// the artifact goes to `quarantine/NAME`, else (a file of that name from
/// another environment is already there) `quarantine/<env>/NAME`, else
/// `quarantine/<env>/<n>/NAME`, its sidecar beside it.
fn quarantine(path: &Path, st: &Store) -> Result<PathBuf> {
    let owned = st.confine(path)?;
    let file = owned
        .path
        .file_name()
        .ok_or_else(|| Error::failed("artifact has no file name"))?
        .to_owned();
    let base = st.quarantine_dir();
    let side = owned.sidecar();
    let has_side = std::fs::symlink_metadata(&side).is_ok();
    let mut n = 1u32;
    let dest = loop {
        let dir = match n {
            1 => base.clone(),
            2 => base.join(&owned.folder),
            _ => base.join(&owned.folder).join((n - 1).to_string()),
        };
        n += 1;
        st.ensure_dir(&dir)?;
        let dest = dir.join(&file);
        if std::fs::symlink_metadata(store::sidecar_path(&dest)).is_ok() {
            continue;
        }
        match fsutil::move_noreplace(&owned.path, &dest) {
            Ok(()) => break dest,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => continue,
            Err(e) => return Err(Error::io_path("move to quarantine", &owned.path, e)),
        }
    };
    if has_side {
        fsutil::move_noreplace(&side, &store::sidecar_path(&dest))
            .map_err(|e| Error::io_path("move to quarantine", &side, e))?;
    }
    fsutil::sync_dir(fsutil::parent_dir(&dest))?;
    fsutil::sync_dir(fsutil::parent_dir(&owned.path))?;
    Ok(dest)
}

/// Makes the verification durable: the latest `verify` section goes into
/// the artifact's sidecar, rewritten atomically under the store lock, so
/// lfb-prune's newest-verified rule, lfb-guard and `lfb-restore --latest`
/// know it later. A file of the original scripts (no sidecar) gets one made
/// from its name; a file whose name lfb does not recognise gets none. The
/// record printed carries the same section. A sidecar that cannot be
/// written is a warning: the checks' result stands.
fn remember(path: &Path, record: &mut Record, st: &Store, ui: &Ui) {
    if !path.is_file() {
        return;
    }
    // Confinement: only an artifact the store owns (a regular file with an
    // artifact name in one of its folders, symlinks resolved) gets its
    // sidecar written; a file elsewhere is verified but not remembered.
    if let Err(e) = st.confine(path) {
        ui.debug(format!("verification not remembered: {}", e.line()));
        return;
    }
    let has_sidecar = store::sidecar_path(path).is_file();
    if !has_sidecar && record.id().is_none() {
        ui.debug(format!(
            "{}: not an lfb artifact name, so no sidecar is written",
            path.display()
        ));
        return;
    }
    let _lock = if st.root().is_dir() {
        match lfb_core::lock::StoreLock::acquire(st, lfb_core::dump::LOCK_WAIT) {
            Ok(l) => Some(l),
            Err(e) => {
                ui.warn(format!("verification not remembered: {}", e.line()));
                return;
            }
        }
    } else {
        None
    };
    let section = record.get("verify").cloned().unwrap_or_default();
    match lfb_core::record::remember_verify(path, record, &section) {
        Ok((how, merged)) => {
            if how == lfb_core::record::SidecarWrite::Created {
                ui.info(format!(
                    "{}: no sidecar (not made by lfb); wrote {} from the file name, \
                     with this verification",
                    path.display(),
                    store::sidecar_path(path).display()
                ));
            }
            record.set("verify", merged);
        }
        Err(e) => ui.warn(format!("verification not remembered: {}", e.line())),
    }
}

/// Artifacts before the newest that a size is compared with.
pub const SHRINK_WINDOW: usize = 10;
/// Fewest earlier artifacts for the comparison to mean anything.
pub const SHRINK_MIN_HISTORY: usize = 3;

/// A group within a folder: name, kind, tag.
type GroupKey = (String, lfb_core::Kind, String);
/// Creation times and sizes of a group's artifacts, oldest first.
type Sizes = Vec<(DateTime<Utc>, u64)>;

/// The sizes of every folder's artifacts by group, oldest first, read once
/// per folder.
#[derive(Default)]
struct History {
    folders: HashMap<PathBuf, HashMap<GroupKey, Sizes>>,
}

impl History {
    /// Sizes of the artifacts of the same group (folder, name, kind, tag)
    /// made before the one at `path`, oldest first, at most SHRINK_WINDOW.
    fn before(&mut self, path: &Path) -> Vec<u64> {
        let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
            return Vec::new();
        };
        let Some(me) = naming::ArtifactName::parse(&file.to_string_lossy()) else {
            return Vec::new();
        };
        let groups = self.folders.entry(dir.to_path_buf()).or_insert_with(|| {
            let mut g: HashMap<GroupKey, Sizes> = HashMap::new();
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let Some(n) = naming::ArtifactName::parse(&e.file_name().to_string_lossy()) else {
                    continue;
                };
                let Some(m) = e.metadata().ok().filter(|m| m.is_file()) else {
                    continue;
                };
                g.entry((n.name, n.kind, n.tag))
                    .or_default()
                    .push((n.time, m.len()));
            }
            for v in g.values_mut() {
                v.sort_unstable();
            }
            g
        });
        let Some(list) = groups.get(&(me.name, me.kind, me.tag)) else {
            return Vec::new();
        };
        let end = list.partition_point(|(t, _)| *t < me.time);
        list[end.saturating_sub(SHRINK_WINDOW)..end]
            .iter()
            .map(|(_, b)| *b)
            .collect()
    }
}

/// The size check against the group's own history: an artifact under half
/// the median of the group's artifacts before it has shrunk suddenly (a
/// dump of the wrong or an emptied database). Young groups (fewer than
/// SHRINK_MIN_HISTORY earlier artifacts) are not judged this way.
fn judge_size(outcome: &mut Outcome, path: &Path, history: &mut History) {
    let Some(check) = outcome
        .checks
        .iter_mut()
        .find(|c| c.name == "size" && c.ok == Some(true))
    else {
        return;
    };
    let Ok(size) = std::fs::metadata(path).map(|m| m.len()) else {
        return;
    };
    if size == 0 {
        check.ok = Some(false);
        check.detail = "the artifact is empty (0 bytes)".into();
        return;
    }
    let mut before = history.before(path);
    if before.len() < SHRINK_MIN_HISTORY {
        return;
    }
    before.sort_unstable();
    let median = before[before.len() / 2];
    if size.saturating_mul(2) < median {
        check.ok = Some(false);
        check.detail = format!(
            "{} is under half the median size ({}) of the {} artifacts of its group before it: \
             a sudden shrink",
            format_size(size),
            format_size(median),
            before.len()
        );
    } else {
        check.detail = format!(
            "{}; the median of the {} before it is {}",
            check.detail,
            before.len(),
            format_size(median)
        );
    }
}

/// Group/other access on a file lfb did not create (no sidecar, or a name
/// of the original scripts, made under umask 022) is a warning naming the
/// fix, not a failure: a user's first `lfb-verify --all` over old backups
/// must not fail everything. lfb-guard still reports it.
fn soften_permissions(outcome: &mut Outcome, record: &Record, path: &Path, ui: &Ui) {
    let legacy = path
        .file_name()
        .and_then(|f| naming::ArtifactName::parse(&f.to_string_lossy()))
        .is_some_and(|n| n.legacy);
    if !(legacy || record.get("derived").is_some()) {
        return;
    }
    for c in outcome.checks.iter_mut() {
        if c.name == "permissions" && c.ok == Some(false) && c.detail.contains("group/other") {
            c.ok = Some(true);
            c.warning = true;
            c.detail = format!(
                "{}; lfb did not create this file: chmod 600 '{}' (or lfb-verify --fix-permissions)",
                c.detail,
                path.display()
            );
            ui.warn(format!("{}: {}", path.display(), c.detail));
        }
    }
}

/// `--fix-permissions`: takes group/other access away from an artifact lfb
/// recognises and its sidecar, when owned by the current user.
fn fix_permissions(path: &Path, ui: &Ui) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for p in [path.to_path_buf(), store::sidecar_path(path)] {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if !m.is_file() || m.mode() & 0o077 == 0 || m.uid() != lfb_core::sys::euid() {
            continue;
        }
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => ui.info(format!(
                "{}: mode {:04o} changed to 0600",
                p.display(),
                m.mode() & 0o777
            )),
            Err(e) => ui.warn(Error::io_path("chmod", &p, e).line()),
        }
    }
}

/// Runs lfb-verify.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let opts = options(&cli);
    let configured = cli.store.store()?;
    // A named identity that cannot be read stops the run (exit 2); none at
    // all only skips the checks of encrypted artifacts that need it.
    lfb_core::crypt::load_keys(&cli.identity)?;
    let from_stdin = cli.paths.is_empty() && !cli.all;
    let records: Vec<Record> = if !cli.paths.is_empty() {
        cli.paths
            .iter()
            .map(|p| store::record_for_path(p))
            .collect::<Result<_>>()?
    } else if cli.all {
        // Only reads: a store or an --env that does not exist is a mistake.
        configured.require_existing()?;
        let env = match &cli.store.env {
            Some(_) => Some(cli.store.env()?),
            None => None,
        };
        if let Some(e) = &env {
            configured.require_env(e)?;
        }
        // What a killed run left: not an artifact, but worth saying.
        for (side, _) in configured.orphan_sidecars()? {
            ui.warn(format!(
                "'{}' is a sidecar without its artifact (left by a killed run; lfb-prune removes it after a day)",
                side.display()
            ));
        }
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
    let mut history = History::default();
    for mut record in records {
        // The prefix: --exec, else the one a record on stdin carries; never
        // a sidecar's.
        match (&cli.exec, from_stdin) {
            (Some(e), _) => record.set_exec(Some(e)),
            (None, false) if record.exec().is_some() => record.set_exec(None),
            _ => {}
        }
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
        if cli.fix_permissions && record.id().is_some() {
            fix_permissions(&path, ui);
        }
        let mut outcome = verify::verify(&record, &opts);
        judge_size(&mut outcome, &path, &mut history);
        soften_permissions(&mut outcome, &record, &path, ui);
        let ok = outcome.ok();
        record.set("verify", outcome.section());
        let st = store_of(&path, &configured);
        // Remembered when it proves something: a failure, or a pass that
        // read the whole content (a pass of `--checks exists` does not make
        // an artifact "verified" for prune).
        // A failure that only says the key given does not open the file is
        // about the key, not the artifact: not remembered (a good backup
        // must not become "failed" for prune and restore).
        let key_only = !ok && only_the_key_failed(&record);
        if (!ok && !key_only)
            || (ok
                && ["checksum", "decode", "complete"]
                    .iter()
                    .all(|c| opts.checks.contains(c)))
        {
            remember(&path, &mut record, &st, ui);
        }
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
                    Err(e) => {
                        ui.error(e.line());
                        record.set("quarantine", json!({"error": e.line()}));
                    }
                }
            }
        }
        if st.root().join(store::LOGS).is_dir() || st.root().is_dir() {
            let ev = Event::new(ui.tool(), "verify", ok, outcome.summary())
                .id(record.id())
                .bytes(record.bytes())
                .duration(started.elapsed());
            let ev = match (record.env(), record.tag()) {
                (Some(env), Some(tag)) => {
                    let name = record
                        .id()
                        .and_then(|id| lfb_core::naming::ArtifactName::parse(&format!("{id}.sql")))
                        .map(|n| n.name);
                    ev.group(env, name.as_deref(), tag)
                }
                _ => ev,
            };
            if let Err(e) = journal::append(&st, &ev) {
                ui.warn(e.line());
            }
        }
        out.write(&record)?;
    }
    Ok(if failures > 0 { 1 } else { 0 })
}

/// True when every failed check of the record's `verify` section failed
/// because no identity given opens the file (a wrong key).
fn only_the_key_failed(record: &Record) -> bool {
    let Some(checks) = record
        .get("verify")
        .and_then(|v| v.get("checks"))
        .and_then(|c| c.as_array())
    else {
        return false;
    };
    let failed: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c.get("ok") == Some(&json!(false)))
        .collect();
    !failed.is_empty()
        && failed.iter().all(|c| {
            c.get("detail").and_then(|d| d.as_str()).is_some_and(|d| {
                d.contains("no identity matches") || d.contains("does not decrypt")
            })
        })
        && failed.iter().any(|c| {
            c.get("detail")
                .and_then(|d| d.as_str())
                .is_some_and(|d| d.contains("no identity matches"))
        })
}
