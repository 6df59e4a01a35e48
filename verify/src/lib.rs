//! lfb-verify: prove a backup is whole and really restores.
//!
//! Replaces the checks of every original script (a size, `pg_restore
//! --list`, a "test restore" through a `psql` that exits 0 on SQL errors)
//! with named checks that fail loudly, and a restore test that compares
//! every table's row count with the record.
//!
//! How a run goes ([`run`]):
//!
//! 1. the records to verify: the PATHs' sidecars, `--all` (the store), or
//!    records on stdin ([`read_records`]);
//! 2. each is verified ([`verify_one`]): lfb-core's checks
//!    (`lfb_core::verify`: exists, size, checksum, encryption, decode,
//!    complete, permissions, restore), then this tool's own judgement: the
//!    size against its group's history (`size_history.rs`), group/other
//!    access on a file lfb did not create as a warning (`permissions.rs`);
//! 3. the result is remembered in the artifact's sidecar when it proves
//!    something (`remember.rs`), a failure moved to quarantine when asked
//!    (`quarantine.rs`), and the verification journaled;
//! 4. the record is printed with its `verify` section.
//!
//! The flags are in `cli.rs`.

mod cli;
mod permissions;
mod quarantine;
mod remember;
pub mod remote;
mod size_history;

use std::path::Path;
use std::time::{Duration, Instant};

use lfb_core::cli::Ui;
use lfb_core::journal::{self, Event};
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::store::Records;
use lfb_core::verify::{self, Options, Outcome};
use lfb_core::{Error, Record, Result, Store, store};

pub use cli::{CheckList, Cli};
pub use size_history::{SHRINK_MIN_HISTORY, SHRINK_WINDOW};

use size_history::History;

/// Runs lfb-verify.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    if let Some(location) = lfb_core::remote::location(&cli.store)? {
        return remote::run(cli, location, ui);
    }
    let opts = cli::options(&cli);
    let configured = cli.store.store()?;
    // A named identity that cannot be read stops the run (exit 2); none at
    // all only skips the checks of encrypted artifacts that need it.
    lfb_core::crypt::load_keys(&cli.identity)?;
    let from_stdin = cli.paths.is_empty() && !cli.all;
    let records = read_records(&cli, &configured, ui)?;

    let mut out = RecordWriter::new();
    let mut failures = 0usize;
    let mut could_not_run = 0usize;
    let mut history = History::default();
    for record in records {
        let mut record = record?;
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
        if !verify_one(&cli, &opts, &configured, &mut history, &mut record, ui) {
            failures += 1;
            // The restore test could not start: exit 2, as for an
            // unreachable database (the artifact is not judged).
            could_not_run += usize::from(remember::restore_could_not_run(&record));
        }
        out.write(&record)?;
    }
    Ok(if could_not_run > 0 {
        2
    } else if failures > 0 {
        1
    } else {
        0
    })
}

/// The records to verify: the PATHs given (each with its sidecar's record,
/// or one made from its name), else every artifact of the store (`--all`,
/// limited by `--env`, each record read when it is verified), else the
/// records on stdin.
fn read_records(cli: &Cli, configured: &Store, ui: &Ui) -> Result<Records> {
    if !cli.paths.is_empty() {
        return cli
            .paths
            .iter()
            .map(|p| store::record_for_path(p))
            .collect::<Result<_>>()
            .map(Records::given);
    }
    if cli.all {
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
        return Ok(Records::stored(
            configured.artifact_refs(|a| env.as_deref().is_none_or(|e| a.env() == e))?,
        ));
    }
    match ndjson::stdin_records()? {
        Some(r) if !r.is_empty() => Ok(Records::given(r)),
        _ => Err(Error::usage(
            "nothing to verify: give artifact paths, --all, or records on stdin",
        )),
    }
}

/// Verifies one artifact's record and acts on the result: sets its `verify`
/// section, remembers it in the sidecar, quarantines a failure when asked,
/// says so on stderr and journals it. True when every check passed.
fn verify_one(
    cli: &Cli,
    opts: &Options,
    configured: &Store,
    history: &mut History,
    record: &mut Record,
    ui: &Ui,
) -> bool {
    let started = Instant::now();
    let path = record
        .path()
        .expect("records without a path are not verified");
    if record.get("derived").is_some() {
        ui.debug(format!(
            "{}: no sidecar; checks needing a record are skipped",
            path.display()
        ));
    }
    if cli.fix_permissions && record.id().is_some() {
        permissions::fix_permissions(&path, ui);
    }
    let mut outcome = verify::verify(record, opts);
    size_history::judge_size(&mut outcome, &path, history);
    permissions::soften_permissions(&mut outcome, record, &path, ui);
    let ok = outcome.ok();
    record.set("verify", outcome.section());
    let st = store_of(&path, configured);
    if remember::worth_remembering(record, ok, opts) {
        remember::remember(&path, record, &st, ui);
    }
    // Remembering carries a failed restore test over (quick checks cannot
    // clear it): the artifact then stays failed.
    let ok = ok && record.verify_ok() != Some(false);
    if ok {
        ui.info(format!("{}: {}", record.label(), outcome.summary()));
    } else {
        let why = if outcome.ok() {
            "its last restore test failed; run lfb-verify --restore-test to test it again"
                .to_string()
        } else {
            outcome.summary()
        };
        ui.error(format!("{}: {why}", record.label()));
        if cli.quarantine && path.exists() {
            quarantine::quarantine_failed(&path, &st, record, ui);
        }
    }
    journal_verification(&st, record, ok, &outcome, started.elapsed(), ui);
    ok
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

/// One `verify` event in the store's journal, with the artifact's group,
/// when the store exists.
fn journal_verification(
    st: &Store,
    record: &Record,
    ok: bool,
    outcome: &Outcome,
    took: Duration,
    ui: &Ui,
) {
    if !(st.root().join(store::LOGS).is_dir() || st.root().is_dir()) {
        return;
    }
    let ev = Event::new(ui.tool(), "verify", ok, outcome.summary())
        .id(record.id())
        .bytes(record.bytes())
        .duration(took);
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
    if let Err(e) = journal::append(st, &ev) {
        ui.warn(e.line());
    }
}
