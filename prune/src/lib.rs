//! lfb-prune: apply retention to the store, safely.
//!
//! Replaces the original scripts' `find DIR -name PATTERN -mtime +7 -delete`,
//! which went by file modification times (that cloud clients rewrite) and
//! ran even after the new backup had failed, so a week of failures deleted
//! every good copy. Here ages come from records and names, never mtimes;
//! the newest verified artifact of each group is never deleted; a failed
//! record in the input stops all deletion; and nothing happens without a
//! retention policy.
//!
//! The rules live in [`plan`] (a pure function); this file lists the store,
//! feeds the planner, carries the plan out under the store lock and prints
//! one record per artifact considered.

pub mod housekeeping;
pub mod plan;
pub mod scope;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use lfb_core::chrono::{DateTime, Local, Utc};
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity, parse_duration_arg, parse_size_arg};
use lfb_core::journal::{self, Event};
use lfb_core::lock::StoreLock;
use lfb_core::naming;
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::publish::LOCK_WAIT;
use lfb_core::store::{self, StoredArtifact};
use lfb_core::units::format_size;
use lfb_core::{Error, Kind, Record, Result, Store, fsutil};
use serde_json::{Value, json};

use crate::plan::{Candidate, Decision, Policy, Reason, Reasons};
use crate::scope::{GroupBy, Meta, Scope};

/// Default size at which the journal is rotated: 10 MiB.
pub const ROTATE_LOGS_AT: &str = "10MiB";

/// Kinds for `--kind`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindArg {
    /// Database dumps
    Db,
    /// Archive bundles
    Full,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::Db => Kind::Db,
            KindArg::Full => Kind::Full,
        }
    }
}

/// Apply retention policies to the backup store, never deleting the last good backup.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-prune",
    version,
    about = "Apply retention policies to the backup store, never deleting the last good backup",
    long_about = "Apply retention policies to the backup store, group by group, and print one \
record per artifact considered, with a \"prune\" section saying what was done and why.\n\n\
A group is the artifacts of one environment folder, base name, kind and tag (see \
--group-by). An artifact is kept if ANY policy keeps it (as in restic and borg). Ages \
come from each artifact's record (created_at in its sidecar) or, without a sidecar, from \
its file name (the original scripts' names in local time, as they were written); never \
from file modification times, which sync clients rewrite.\n\n\
Whatever the policies say, prune never deletes:\n  \
- the newest artifact of a group whose verification passed (verify.ok true in its \
sidecar, or in its record on stdin): reason newest-verified. In a group where no artifact \
has a verify section at all, there is no way to tell a good copy from a bad one, so the \
newest artifact is protected instead: reason newest-unverified;\n  \
- the newest --min-keep artifacts of a group (default 1): reason min-keep;\n  \
- an artifact dated more than ten minutes after now (a wrong clock): it is kept with \
reason future-dated and left out of everything else, so it never counts as the newest \
or by a keep rule and never displaces a real backup (a warning names it);\n  \
- anything at all when a record on stdin failed (verify.ok false, or an error section): \
the plan is printed with action keep and reason input-failed, and the exit code is 1;\n  \
- anything at all when stdin is a pipe (or file) that delivered no records: the stage \
before failed; a failure record is printed and the exit code is 1 (whole-store pruning: \
--no-stdin, or stdin a terminal or </dev/null);\n  \
- anything at all when no retention policy was given (exit 2);\n  \
- files it does not recognise as artifacts (notes.txt, random.sql.gz, …).\n\n\
Records read on stdin (when it is not a terminal) are printed first, annotated; then the \
record (sidecar, or derived from the name) of every other artifact considered. The \
\"prune\" section is {\"action\":\"keep\"|\"delete\",\"reasons\":[…],\"dry_run\":bool,\
\"group\":\"ENV/NAME/KIND/TAG\"}. Reasons name each policy that kept the artifact \
(keep-within, keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly, \
max-total-size) or the invariant (newest-verified, newest-unverified, min-keep, \
future-dated); deleted \
artifacts say expired or max-total-size. Input records that are no artifact considered \
get action none.\n\n\
An artifact is deleted together with its sidecar. Housekeeping: *.partial files \
(NAME.partial, NAME.<pid>.partial, NAME.json.partial) and sidecars whose artifact is gone \
(NAME.json without NAME) of artifacts in scope not written to for a day are removed (by \
modification time: they are lfb's own leftovers of a run that was killed); logs/journal.ndjson is rotated when larger than \
--rotate-logs-at; rotated segments older than --keep-logs are removed. A run that deletes \
takes the store lock and writes one journal event per deletion and a summary.\n\n\
Exit codes: 0 done; 1 an input record failed or a deletion failed; 2 called wrong, no \
policy, malformed stdin or sidecar, store missing or locked (nothing is deleted).",
    after_help = "Examples:\n  \
lfb-dump --tag hourly postgresql:///ledgerflow | lfb-verify | lfb-prune --tag hourly --keep-within 7d\n  \
lfb-prune --env prod --keep-hourly 24 --keep-daily 7 --keep-weekly 4 --keep-monthly 12\n  \
lfb-prune --all-envs --keep-last 10 --max-total-size 20GiB --dry-run | jq -c '[.id, .prune.action]'\n  \
lfb-prune --tag pre-migration --keep-within 90d --keep-last 3"
)]
pub struct Cli {
    /// Keep every artifact made within DURATION before now: 7d, 36h, 1w2d
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub keep_within: Option<Duration>,

    /// Keep the N newest artifacts of each group
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,

    /// Keep the newest artifact of each of the N most recent hours
    ///
    /// Buckets are counted only where there are artifacts, as in restic:
    /// --keep-daily 7 keeps the newest artifact of each of the last 7 days
    /// that have one. Hours, days, ISO weeks (Monday to Sunday), months and
    /// years are taken in UTC for lfb names and records, and in local time
    /// ($TZ) for the original scripts' names, as they were written.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_hourly: Option<u32>,

    /// Keep the newest artifact of each of the N most recent days
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,

    /// Keep the newest artifact of each of the N most recent ISO weeks
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_weekly: Option<u32>,

    /// Keep the newest artifact of each of the N most recent months
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_monthly: Option<u32>,

    /// Keep the newest artifact of each of the N most recent years
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_yearly: Option<u32>,

    /// Then delete a group's oldest artifacts until it fits SIZE: 20GiB, 500MB
    ///
    /// Applied after the other policies, to what they keep; protected
    /// artifacts (newest-verified, newest-unverified, min-keep) stay even
    /// when they alone exceed SIZE (a warning says so). Given alone, every
    /// artifact that fits is kept.
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_total_size: Option<u64>,

    /// Never delete the N newest artifacts of a group
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_keep: u32,

    /// Fields that make a group: a comma list of env, name, kind, tag
    ///
    /// env is the store folder (prod, migrations, …). With --group-by
    /// env,kind all dumps of an environment form one group, whatever their
    /// name and tag.
    #[arg(long, value_name = "FIELDS", default_value = "env,name,kind,tag",
          value_parser = GroupBy::parse)]
    pub group_by: GroupBy,

    /// Consider only artifacts with this tag
    #[arg(short, long)]
    pub tag: Option<String>,

    /// Consider only artifacts of this kind
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,

    /// Consider only artifacts with this base name
    #[arg(short, long)]
    pub name: Option<String>,

    /// Consider every environment, not only --env's
    ///
    /// By default only artifacts of one environment are considered (--env,
    /// else $LFB_ENV, else $LEDGER_ENV, else dev): their record's env, so
    /// pre-migration backups in migrations/ count with the environment they
    /// were taken from.
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,

    /// Do not read stdin: prune the whole store (scope permitting) as it is
    ///
    /// Without it, records are read from stdin when stdin is a pipe, a
    /// socket or a file, and a stdin that delivers no records at all means
    /// the stage before failed: nothing is deleted and the exit code is 1.
    /// Whole-store pruning also works with stdin a terminal or /dev/null
    /// (`lfb-prune … </dev/null`); cron gives commands a pipe on stdin, so a
    /// crontab line pruning on its own needs </dev/null or this flag.
    #[arg(long)]
    pub no_stdin: bool,

    /// Print the plan and delete nothing (no lock, no journal events)
    #[arg(long)]
    pub dry_run: bool,

    /// Count ages from TIME instead of the clock: 2026-11-27T12:00:00Z
    ///
    /// For reproducible plans and tests. Also names a rotated journal.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,

    /// Rotate logs/journal.ndjson when larger than SIZE
    #[arg(long, value_name = "SIZE", default_value = ROTATE_LOGS_AT,
          value_parser = parse_size_arg)]
    pub rotate_logs_at: u64,

    /// Remove rotated journal segments older than DURATION (default: keep all)
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub keep_logs: Option<Duration>,

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

fn parse_positive_duration(s: &str) -> std::result::Result<Duration, String> {
    let d = parse_duration_arg(s)?;
    if d.is_zero() {
        return Err(format!("invalid duration '{s}': must be more than 0"));
    }
    Ok(d)
}

fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("invalid time '{s}': expected RFC 3339, like 2026-11-27T12:00:00Z"))
}

/// Everything a run needs besides the store and the input records.
#[derive(Debug, Clone)]
pub struct Options {
    pub policy: Policy,
    pub scope: Scope,
    pub group_by: GroupBy,
    pub dry_run: bool,
    pub now: DateTime<Utc>,
    pub rotate_logs_at: u64,
    pub keep_logs: Option<Duration>,
}

impl Options {
    /// Checks the command line and turns it into options (errors exit 2).
    pub fn from_cli(cli: &Cli) -> Result<Options> {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let policy = Policy {
            keep_within: cli.keep_within.map(secs),
            keep_last: cli.keep_last,
            keep_hourly: cli.keep_hourly,
            keep_daily: cli.keep_daily,
            keep_weekly: cli.keep_weekly,
            keep_monthly: cli.keep_monthly,
            keep_yearly: cli.keep_yearly,
            max_total_size: cli.max_total_size,
            min_keep: cli.min_keep,
        };
        if !policy.is_given() {
            return Err(Error::usage(
                "no retention policy given: pass at least one of --keep-within, --keep-last, \
                 --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, \
                 --max-total-size (nothing was deleted)",
            ));
        }
        if let Some(t) = &cli.tag {
            lfb_core::cli::check_tag(t)?;
        }
        if let Some(n) = &cli.name
            && !naming::valid_name(n)
        {
            return Err(Error::usage(format!(
                "invalid --name '{n}': use letters, digits, '-', '_' and '.'"
            )));
        }
        let env = if cli.all_envs {
            None
        } else {
            Some(cli.store.env()?)
        };
        Ok(Options {
            policy,
            scope: Scope {
                env,
                tag: cli.tag.clone(),
                kind: cli.kind.map(Kind::from),
                name: cli.name.clone(),
            },
            group_by: cli.group_by,
            dry_run: cli.dry_run,
            now: cli.now.unwrap_or_else(Utc::now),
            rotate_logs_at: cli.rotate_logs_at,
            keep_logs: cli.keep_logs,
        })
    }
}

/// Runs lfb-prune.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let opts = Options::from_cli(&cli)?;
    let store = cli.store.store()?;
    // All of stdin is read before anything else: a malformed line stops the
    // run (exit 2) before the store is looked at, and prune acts only once
    // the stages before it have finished.
    let piped = !cli.no_stdin && ndjson::stdin_kind() == ndjson::StdinKind::Records;
    let input = if piped {
        ndjson::RecordReader::new(std::io::stdin().lock(), "stdin").read_all()?
    } else {
        Vec::new()
    };
    let mut out = RecordWriter::new();
    if piped && input.is_empty() {
        let msg = "not pruning: stdin delivered no records, so the stage before lfb-prune \
                   failed or printed nothing; nothing was deleted (to prune the whole store, \
                   run with --no-stdin or </dev/null)";
        ui.error(msg);
        out.write(&Record::tool_failure(ui.tool(), msg, 1))?;
        return Ok(1);
    }
    prune(&store, &opts, input, ui, &mut |r| out.write(r))
}

/// One artifact in scope, with what the planner needs to know of it. Its
/// record is not kept (100,000 parsed sidecars are ~460 MB): the few fields
/// planning reads are, and the record is read again when it is printed.
struct Considered {
    artifact: Listed,
    /// The record's environment when it is not the folder (`migrations/`).
    env: Option<Box<str>>,
    created_at: Option<DateTime<Utc>>,
    verified: Option<bool>,
    recorded_bytes: Option<u64>,
    group: usize,
    /// The input record describing this artifact, if any.
    input: Option<usize>,
}

/// Where an artifact is, without its record.
struct Listed {
    path: PathBuf,
    name: naming::ArtifactName,
    /// Shared by all artifacts of a folder.
    folder: std::sync::Arc<str>,
    derived: bool,
}

impl Considered {
    fn env(&self) -> &str {
        self.env.as_deref().unwrap_or(&self.artifact.folder)
    }
}

/// Running totals of what the deletions did.
#[derive(Default)]
struct Deletions {
    count: usize,
    bytes: u64,
    dirs: BTreeSet<PathBuf>,
    failed: bool,
}

/// Applies retention to `store` and prints (through `out`) the input
/// records, then the record of every other artifact considered. Returns the
/// exit code of work that ran: 0, or 1 when an input record failed or a
/// removal failed.
pub fn prune(
    store: &Store,
    opts: &Options,
    input: Vec<Record>,
    ui: &Ui,
    out: &mut dyn FnMut(&Record) -> Result<()>,
) -> Result<u8> {
    let started = Instant::now();
    if !store.root().is_dir() {
        return Err(Error::unavailable(format!(
            "no store at '{}'",
            store.root().display()
        )));
    }
    let failed: Vec<usize> = (0..input.len()).filter(|&i| input[i].failed()).collect();
    let carry_out = !opts.dry_run && failed.is_empty();
    // Held from listing to the last deletion, so a dump publishing meanwhile
    // waits and the plan is made on the store it is carried out on. A run
    // that will delete nothing does not need it (and must not wait for it).
    let _lock = if carry_out {
        Some(StoreLock::acquire(store, LOCK_WAIT)?)
    } else {
        None
    };

    let t = Instant::now();
    let considered = consider(store, opts, &input)?;
    ui.debug(format!(
        "listed {} artifacts in scope in {:.1} ms",
        considered.len(),
        t.elapsed().as_secs_f64() * 1e3
    ));
    let candidates: Vec<Candidate> = considered.iter().map(|c| candidate(c, &input)).collect();
    let t = Instant::now();
    let decisions = plan::plan(&candidates, &opts.policy, opts.now.timestamp());
    ui.debug(format!(
        "planned {} artifacts in {:.1} ms",
        candidates.len(),
        t.elapsed().as_secs_f64() * 1e3
    ));
    warn_over_budget(opts, &considered, &candidates, &decisions, ui);
    for (i, d) in decisions.iter().enumerate() {
        if d.reasons.contains(Reason::FutureDated) {
            let when = lfb_core::chrono::DateTime::from_timestamp(candidates[i].time, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            ui.warn(format!(
                "{}: kept: dated in the future ({when}); not counted as the newest or by any keep rule",
                considered[i].artifact.path.display()
            ));
        }
    }

    let mut errors: Vec<Option<String>> = vec![None; considered.len()];
    let mut code = 0u8;
    let mut housekeeping_done = Vec::new();
    if carry_out {
        // Housekeeping problems are reported and make the exit code 1, but
        // never stop the run: the records of what was deleted must still be
        // printed.
        match housekeeping::journal_rotation(store, opts.rotate_logs_at, opts.now)
            .and_then(|t| t.map(|t| rotate(store, &t).map(|()| t)).transpose())
        {
            Ok(Some(t)) => {
                housekeeping_done.push(format!("rotated the journal to {}", t.display()))
            }
            Ok(None) => {}
            Err(e) => {
                ui.error(e.line());
                code = 1;
            }
        }
        let leftovers = housekeeping::stale_partials(store, &opts.scope).and_then(|mut v| {
            if let Some(keep) = opts.keep_logs {
                v.extend(housekeeping::old_segments(store, keep, opts.now)?);
            }
            Ok(v)
        });
        let leftovers = leftovers.unwrap_or_else(|e| {
            ui.error(e.line());
            code = 1;
            Vec::new()
        });
        for p in leftovers {
            match fs::remove_file(&p) {
                Ok(()) => housekeeping_done.push(format!("removed {}", p.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    ui.error(Error::io_path("remove", &p, e).line());
                    code = 1;
                }
            }
        }
        for h in &housekeeping_done {
            ui.debug(h);
        }
    } else if opts.dry_run
        && failed.is_empty()
        && let Err(e) = report_dry_housekeeping(store, opts, ui)
    {
        ui.warn(e.line());
    }

    // Records: the input first, then every other artifact considered. An
    // artifact is deleted just before its record is printed, its record
    // read again from its sidecar first (records are not held in memory).
    let mut del = Deletions::default();
    let delete = |i: usize, errors: &mut Vec<Option<String>>, del: &mut Deletions| {
        if !carry_out || decisions[i].keep {
            return;
        }
        let a = &considered[i].artifact;
        let res = delete_artifact(store, &a.path);
        let why = decisions[i].reasons.names().join(", ");
        let ev = match &res {
            Ok(()) => {
                del.count += 1;
                del.bytes += candidates[i].bytes;
                ui.debug(format!("deleted {} ({why})", a.path.display()));
                Event::new(ui.tool(), "delete", true, format!("deleted: {why}"))
            }
            Err(e) => {
                ui.error(e.line());
                errors[i] = Some(e.line());
                del.failed = true;
                Event::new(ui.tool(), "delete", false, e.line())
            }
        };
        journal_event(
            store,
            &ev.id(Some(&a.name.id())).bytes(Some(candidates[i].bytes)),
            ui,
        );
        del.dirs.insert(fsutil::parent_dir(&a.path).to_path_buf());
    };
    let by_input: HashMap<usize, usize> = considered
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.input.map(|j| (j, i)))
        .collect();
    for &i in by_input.values() {
        delete(i, &mut errors, &mut del);
    }
    let section = |i: usize, errors: &[Option<String>]| -> Value {
        prune_section(
            opts,
            &failed,
            &decisions[i],
            &errors[i],
            group_key(&considered[i], opts),
        )
    };
    let mut printed = vec![false; considered.len()];
    for (j, rec) in input.iter().enumerate() {
        let mut rec = rec.clone();
        match by_input.get(&j) {
            Some(&i) => {
                rec.set("prune", section(i, &errors));
                printed[i] = true;
            }
            None => {
                let why = if rec.failed() {
                    Reason::InputFailed.name()
                } else {
                    "not-considered"
                };
                rec.set(
                    "prune",
                    json!({"action": "none", "reasons": [why], "dry_run": opts.dry_run}),
                );
            }
        }
        out(&rec)?;
    }
    for (i, c) in considered.iter().enumerate() {
        if printed[i] {
            continue;
        }
        let a = &c.artifact;
        let (mut rec, _) = store::load_record(&a.path, &a.name, &a.folder)?;
        delete(i, &mut errors, &mut del);
        rec.set("prune", section(i, &errors));
        out(&rec)?;
    }
    // Deletions are durable once their folders are synced.
    for d in &del.dirs {
        if let Err(e) = fsutil::sync_dir(d) {
            ui.warn(e.line());
        }
    }
    if del.failed {
        code = 1;
    }
    let deleted = (del.count, del.bytes);

    let groups = considered
        .iter()
        .map(|c| c.group)
        .collect::<BTreeSet<_>>()
        .len();
    let planned_deletions: Vec<usize> = (0..considered.len())
        .filter(|&i| !decisions[i].keep)
        .collect();
    let planned_bytes: u64 = planned_deletions.iter().map(|&i| candidates[i].bytes).sum();
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|&j| describe_failure(&input[j]))
            .collect();
        let msg = format!(
            "not pruning: {} input record{} failed: {}; nothing was deleted ({} deletion{} planned)",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            names.join("; "),
            planned_deletions.len(),
            if planned_deletions.len() == 1 {
                ""
            } else {
                "s"
            },
        );
        ui.error(&msg);
        if !opts.dry_run {
            journal_event(
                store,
                &Event::new(ui.tool(), "prune", false, msg).duration(started.elapsed()),
                ui,
            );
        }
        return Ok(1);
    }
    let summary = if opts.dry_run {
        format!(
            "dry run: would delete {} of {} artifacts ({}) in {} group{}",
            planned_deletions.len(),
            considered.len(),
            format_size(planned_bytes),
            groups,
            if groups == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "deleted {} of {} artifacts ({}) in {} group{}{}",
            deleted.0,
            considered.len(),
            format_size(deleted.1),
            groups,
            if groups == 1 { "" } else { "s" },
            if housekeeping_done.is_empty() {
                String::new()
            } else {
                format!("; housekeeping: {}", housekeeping_done.len())
            }
        )
    };
    ui.info(&summary);
    if !opts.dry_run {
        journal_event(
            store,
            &Event::new(ui.tool(), "prune", code == 0, summary)
                .bytes(Some(deleted.1))
                .duration(started.elapsed()),
            ui,
        );
    }
    Ok(code)
}

/// What scope and grouping see of an artifact (`env` from its record, which
/// for `migrations/` is not the folder).
fn meta<'a>(folder: &'a str, name: &'a naming::ArtifactName, env: &'a str) -> Meta<'a> {
    Meta {
        folder,
        env,
        name: &name.name,
        kind: name.kind,
        tag: &name.tag,
    }
}

fn group_key(c: &Considered, opts: &Options) -> String {
    opts.group_by
        .key(&meta(&c.artifact.folder, &c.artifact.name, c.env()))
}

/// The artifacts in scope, grouped, each matched with its input record.
fn consider(store: &Store, opts: &Options, input: &[Record]) -> Result<Vec<Considered>> {
    // Input records name artifacts by absolute path; the store may have been
    // reached through another spelling (a symlink, `..`), so both sides are
    // compared canonically.
    let root = fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let mut inputs: HashMap<PathBuf, usize> = HashMap::new();
    for (j, r) in input.iter().enumerate() {
        if let Some(p) = r.path() {
            inputs.entry(canonical(&p)).or_insert(j);
        }
    }
    let mut groups: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    let mut folders: HashMap<String, std::sync::Arc<str>> = HashMap::new();
    store.visit_artifacts(|artifact| {
        let StoredArtifact {
            path,
            name,
            folder,
            record,
            derived,
        } = artifact;
        let env = store::artifact_env(&folder, &record).to_string();
        if !opts.scope.matches(&meta(&folder, &name, &env)) {
            return Ok(());
        }
        let key = opts.group_by.key(&meta(&folder, &name, &env));
        let n = groups.len();
        let group = *groups.entry(key).or_insert(n);
        let input = if inputs.is_empty() {
            None
        } else {
            let p = match path.strip_prefix(store.root()) {
                Ok(rel) => root.join(rel),
                Err(_) => canonical(&path),
            };
            inputs.get(&p).copied()
        };
        // Keep what planning reads; the record itself is dropped here.
        let shared = folders
            .entry(folder.clone())
            .or_insert_with(|| std::sync::Arc::from(folder.as_str()))
            .clone();
        out.push(Considered {
            env: (env != folder).then(|| env.into_boxed_str()),
            created_at: record.created_at(),
            verified: record.verify_ok(),
            recorded_bytes: record.bytes(),
            artifact: Listed {
                path,
                name,
                folder: shared,
                derived,
            },
            group,
            input,
        });
        Ok(())
    })?;
    // Oldest first, as the store lists them.
    out.sort_by(|a, b| {
        a.artifact
            .name
            .time
            .cmp(&b.artifact.name.time)
            .then(a.artifact.path.cmp(&b.artifact.path))
    });
    Ok(out)
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p)
        .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// What the planner needs of an artifact.
fn candidate(c: &Considered, input: &[Record]) -> Candidate {
    let a = &c.artifact;
    // The record's creation time, else the name's: never the file's mtime.
    let time = c.created_at.unwrap_or(a.name.time);
    // lfb names carry UTC; the original scripts wrote local time, and their
    // days and months are the local ones.
    let wall = if a.name.legacy {
        time.with_timezone(&Local)
            .naive_local()
            .and_utc()
            .timestamp()
    } else {
        time.timestamp()
    };
    // A record on stdin may know more than the sidecar: `lfb-verify` just
    // checked the artifact upstream.
    let verified = c.input.and_then(|j| input[j].verify_ok()).or(c.verified);
    let bytes = match (a.derived, c.recorded_bytes) {
        (false, Some(b)) => b,
        _ => fs::metadata(&a.path).map(|m| m.len()).unwrap_or(0),
    };
    Candidate {
        group: c.group,
        time: time.timestamp(),
        wall,
        verified,
        bytes,
    }
}

/// The `prune` section of a record.
fn prune_section(
    opts: &Options,
    failed: &[usize],
    d: &Decision,
    error: &Option<String>,
    group: String,
) -> Value {
    let names = |r: Reasons| json!(r.names());
    let mut s = serde_json::Map::new();
    if !failed.is_empty() && !d.keep {
        // The plan that was not carried out.
        s.insert("action".into(), json!("keep"));
        s.insert("reasons".into(), names(Reasons::of(Reason::InputFailed)));
        s.insert("dry_run".into(), json!(opts.dry_run));
        s.insert("group".into(), json!(group));
        s.insert(
            "planned".into(),
            json!({"action": "delete", "reasons": d.reasons.names()}),
        );
        return Value::Object(s);
    }
    s.insert(
        "action".into(),
        json!(if d.keep { "keep" } else { "delete" }),
    );
    s.insert("reasons".into(), names(d.reasons));
    s.insert("dry_run".into(), json!(opts.dry_run));
    s.insert("group".into(), json!(group));
    if let Some(e) = error {
        s.insert("error".into(), json!(e));
    }
    Value::Object(s)
}

/// Removes an artifact, then its sidecar. In that order: a crash between
/// the two leaves a sidecar without artifact, which no tool counts, while
/// the other order could leave an artifact that has lost its record (and
/// with it its verification).
///
/// Only an artifact of the store is deleted ([`Store::confine`]), even
/// though prune found it by listing the store itself: a folder swapped
/// for a symlink meanwhile must not lead it elsewhere.
fn delete_artifact(store: &Store, path: &Path) -> Result<()> {
    let owned = match store.confine(path) {
        Ok(o) => o,
        // Gone already (another prune): nothing to do.
        Err(_) if fs::symlink_metadata(path).is_err() => return Ok(()),
        Err(e) => return Err(e),
    };
    let path = owned.path.as_path();
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io_path("remove", path, e)),
    }
    let sidecar = store::sidecar_path(path);
    match fs::remove_file(&sidecar) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io_path("remove", &sidecar, e)),
    }
}

fn rotate(store: &Store, target: &Path) -> Result<()> {
    let journal = store.journal_path();
    fs::rename(&journal, target).map_err(|e| Error::io_path("rotate", &journal, e))?;
    fsutil::sync_dir(&store.logs_dir())
}

fn journal_event(store: &Store, ev: &Event, ui: &Ui) {
    // The journal is a log of what happened, not part of it: failing to
    // write it is worth a warning, not a failed prune.
    if let Err(e) = journal::append(store, ev) {
        ui.warn(e.line());
    }
}

fn report_dry_housekeeping(store: &Store, opts: &Options, ui: &Ui) -> Result<()> {
    if let Some(t) = housekeeping::journal_rotation(store, opts.rotate_logs_at, opts.now)? {
        ui.info(format!(
            "dry run: would rotate the journal to {}",
            t.display()
        ));
    }
    for p in housekeeping::stale_partials(store, &opts.scope)? {
        ui.info(format!("dry run: would remove {}", p.display()));
    }
    if let Some(keep) = opts.keep_logs {
        for p in housekeeping::old_segments(store, keep, opts.now)? {
            ui.info(format!("dry run: would remove {}", p.display()));
        }
    }
    Ok(())
}

fn warn_over_budget(
    opts: &Options,
    considered: &[Considered],
    candidates: &[Candidate],
    decisions: &[Decision],
    ui: &Ui,
) {
    let Some(budget) = opts.policy.max_total_size else {
        return;
    };
    let mut kept: HashMap<usize, (u64, usize)> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        if decisions[i].keep {
            let e = kept.entry(c.group).or_insert((0, i));
            e.0 += c.bytes;
        }
    }
    let mut over: Vec<_> = kept.into_iter().filter(|(_, (b, _))| *b > budget).collect();
    over.sort_by_key(|(g, _)| *g);
    for (_, (bytes, i)) in over {
        ui.warn(format!(
            "group {}: the artifacts it must keep take {}, more than --max-total-size {}",
            group_key(&considered[i], opts),
            format_size(bytes),
            format_size(budget)
        ));
    }
}

fn describe_failure(r: &Record) -> String {
    let why = match r
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
    {
        Some(m) => m.to_string(),
        None if r.get("error").is_some() => "it has an error section".to_string(),
        None => "verify.ok is false".to_string(),
    };
    format!("'{}' ({why})", r.label())
}
