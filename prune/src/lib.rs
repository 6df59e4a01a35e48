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
pub mod items;
pub mod plan;
pub mod remote;
pub mod retention;
pub mod scope;
pub mod section;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use lfb_core::chrono::{DateTime, Utc};
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity, parse_duration_arg, parse_size_arg};
use lfb_core::journal::{self, Event};
use lfb_core::lock::StoreLock;
use lfb_core::naming;
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::publish::LOCK_WAIT;
use lfb_core::store::{self, Leftovers, LineRef, LineSpill};
use lfb_core::units::format_size;
use lfb_core::{Error, Kind, Record, Result, Store, fsutil};
use serde_json::Value;

use crate::items::{Item, Listing};
use crate::plan::{Decision, Policy, Reason};
use crate::scope::{GroupBy, Scope};
use crate::section::PruneSection;

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
- anything at all when no retention policy was given (exit 2): policy flags, or for --tag TAG without them [retention.TAG] of the config file;\n  \
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
Each sidecar is read once: the record lines to print wait in a temporary file in \
$TMPDIR, unlinked as it is made (with no usable $TMPDIR the sidecars are read again).\n\n\
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
        if let Some(t) = &cli.tag {
            lfb_core::cli::check_tag(t)?;
        }
        // Flags win; without any, `--tag TAG` takes `[retention.TAG]` of
        // the config file.
        let policy = match (&cli.tag, policy.is_given()) {
            (Some(tag), false) => {
                lfb_core::config::set_flag(cli.store.config_file.clone());
                match lfb_core::config::current()? {
                    Some(cfg) => retention::from_file(cfg, tag, cli.min_keep)?.unwrap_or(policy),
                    None => policy,
                }
            }
            _ => policy,
        };
        if !policy.is_given() {
            return Err(Error::usage(
                "no retention policy given: pass at least one of --keep-within, --keep-last, \
                 --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, \
                 --max-total-size, or --tag TAG with [retention.TAG] in the config file \
                 (nothing was deleted)",
            ));
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
    lfb_core::sys::return_large_buffers();
    if let Some(location) = lfb_core::remote::location(&cli.store)? {
        return remote::run(cli, location, ui);
    }
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
    // Only an --env given on the command line must exist: the default
    // environment may simply have no backups yet.
    if cli.store.env.is_some()
        && let Some(env) = &opts.scope.env
    {
        store.require_existing()?;
        store.require_env(env)?;
    }
    if piped && input.is_empty() {
        let msg = "not pruning: stdin delivered no records, so the stage before lfb-prune \
                   failed or printed nothing; nothing was deleted (to prune the whole store, \
                   run with --no-stdin or </dev/null)";
        ui.error(msg);
        RecordWriter::new().write(&Record::tool_failure(ui.tool(), msg, 1))?;
        return Ok(1);
    }
    let mut out = Stdout::default();
    let code = prune(&store, &opts, input, ui, &mut out)?;
    out.flush()?;
    Ok(code)
}

/// Where the records go: [`prune`] hands each over as a record, or, for an
/// artifact whose one-line sidecar can be printed as it is (with its
/// `prune` section added), as that line, without building the record.
pub trait Output {
    fn record(&mut self, record: &Record) -> Result<()>;
    /// A record already serialized on one line.
    fn line(&mut self, line: &str) -> Result<()> {
        self.record(&Record::from_json(line)?)
    }
    /// The record just handed over is of an artifact just deleted: what was
    /// held back goes out now.
    fn deleted(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<F: FnMut(&Record) -> Result<()>> Output for F {
    fn record(&mut self, record: &Record) -> Result<()> {
        self(record)
    }
}

/// stdout, a block of lines at a time rather than a write per line (a
/// store of 100,000 artifacts is 100,000 lines). What is buffered goes out
/// before a failed record (printed by [`RecordWriter::write`], so the run
/// knows it printed one), after each deletion's record, and at the end.
#[derive(Default)]
pub struct Stdout {
    writer: RecordWriter,
    buf: String,
}

impl Stdout {
    /// Bytes buffered before they are written.
    const BLOCK: usize = 64 * 1024;

    pub fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // write_value adds the last newline.
        let block = std::mem::take(&mut self.buf);
        self.writer
            .write_value(block.strip_suffix('\n').unwrap_or(&block))
    }

    fn push(&mut self, line: &str) -> Result<()> {
        self.buf.push_str(line);
        self.buf.push('\n');
        if self.buf.len() >= Self::BLOCK {
            self.flush()?;
        }
        Ok(())
    }
}

impl Output for Stdout {
    fn record(&mut self, record: &Record) -> Result<()> {
        if record.failed() {
            self.flush()?;
            return self.writer.write(record);
        }
        self.push(&record.to_line())
    }
    fn line(&mut self, line: &str) -> Result<()> {
        self.push(line)
    }
    fn deleted(&mut self) -> Result<()> {
        self.flush()
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        let _ = self.flush();
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
    out: &mut dyn Output,
) -> Result<u8> {
    let started = Instant::now();
    store.require_existing()?;
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
    let mut listing = list_scope(store, opts, &input, ui)?;
    let leftovers = std::mem::take(&mut listing.leftovers);
    let decisions = plan_items(&listing, opts, ui);
    let mut code = 0u8;
    let housekeeping_done = if carry_out {
        housekeep(store, opts, leftovers, ui, &mut code)
    } else {
        if opts.dry_run
            && failed.is_empty()
            && let Err(e) = report_dry_housekeeping(store, opts, leftovers, ui)
        {
            ui.warn(e.line());
        }
        Vec::new()
    };
    let mut run = Run {
        store,
        opts,
        ui,
        carry_out,
        blocked: !failed.is_empty(),
        listing: &listing,
        decisions: &decisions,
        errors: HashMap::new(),
        del: Deletions::default(),
    };
    run.print_and_delete(&input, out)?;
    if run.del.failed {
        code = 1;
    }
    let del = run.del;
    if !failed.is_empty() {
        report_blocked(store, opts, &input, &failed, &decisions, ui, started);
        return Ok(1);
    }
    let summary = summary(
        opts,
        &listing.items,
        &decisions,
        &del,
        housekeeping_done.len(),
    );
    ui.info(&summary);
    if !opts.dry_run {
        journal_event(
            store,
            &Event::new(ui.tool(), "prune", code == 0, summary)
                .bytes(Some(del.bytes))
                .duration(started.elapsed()),
            ui,
        );
    }
    Ok(code)
}

/// Step 1: the artifacts in scope, oldest first.
fn list_scope(store: &Store, opts: &Options, input: &[Record], ui: &Ui) -> Result<Listing> {
    let t = Instant::now();
    let listing = items::list(store, opts, input)?;
    let (items, tags) = (&listing.items, &listing.tags);
    ui.debug(format!(
        "listed {} artifacts in scope in {:.1} ms",
        items.len(),
        t.elapsed().as_secs_f64() * 1e3
    ));
    // `--tag hourlyy` is not a silent empty success.
    if let Some(t) = &opts.scope.tag
        && !tags.contains(t)
    {
        let have: Vec<&str> = tags.iter().map(String::as_str).collect();
        ui.warn(format!(
            "no artifact has tag '{t}' (tags in the store: {}): nothing to prune",
            if have.is_empty() {
                "none".to_string()
            } else {
                have.join(", ")
            }
        ));
    }
    Ok(listing)
}

/// Step 2: the plan, one decision per artifact (by index into the
/// listing's items), with warnings about what the plan cannot honour (a
/// group over budget, artifacts from the future). The store's order breaks
/// ties in time, as the path does.
fn plan_items(listing: &Listing, opts: &Options, ui: &Ui) -> Vec<Decision> {
    let t = Instant::now();
    let items = &listing.items;
    let decisions = plan::plan(items, &opts.policy, opts.now.timestamp());
    ui.debug(format!(
        "planned {} artifacts in {:.1} ms",
        items.len(),
        t.elapsed().as_secs_f64() * 1e3
    ));
    warn_over_budget(opts, listing, &decisions, ui);
    for &i in &listing.order {
        let i = i as usize;
        if decisions[i].reasons.contains(Reason::FutureDated) {
            ui.warn(format!(
                "{}: kept: dated in the future ({}); not counted as the newest or by any keep rule",
                listing.path(i).display(),
                items::time_of(&items[i].candidate)
            ));
        }
    }
    decisions
}

/// Step 3 (a run that deletes): rotate the journal, remove stale partials,
/// orphan sidecars and old journal segments. Problems are reported and make
/// the exit code 1, but never stop the run: the records of what was
/// deleted must still be printed. Returns what was done.
fn housekeep(
    store: &Store,
    opts: &Options,
    leftovers: Leftovers,
    ui: &Ui,
    code: &mut u8,
) -> Vec<String> {
    let mut done = Vec::new();
    match housekeeping::journal_rotation(store, opts.rotate_logs_at, opts.now)
        .and_then(|t| t.map(|t| rotate(store, &t).map(|()| t)).transpose())
    {
        Ok(Some(t)) => done.push(format!("rotated the journal to {}", t.display())),
        Ok(None) => {}
        Err(e) => {
            ui.error(e.line());
            *code = 1;
        }
    }
    let leftovers = housekeeping::stale_partials(leftovers, &opts.scope).and_then(|mut v| {
        if let Some(keep) = opts.keep_logs {
            v.extend(housekeeping::old_segments(store, keep, opts.now)?);
        }
        Ok(v)
    });
    let leftovers = leftovers.unwrap_or_else(|e| {
        ui.error(e.line());
        *code = 1;
        Vec::new()
    });
    for p in leftovers {
        match fs::remove_file(&p) {
            Ok(()) => done.push(format!("removed {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                ui.error(Error::io_path("remove", &p, e).line());
                *code = 1;
            }
        }
    }
    for h in &done {
        ui.debug(h);
    }
    done
}

/// Step 4: carrying the plan out and printing, with what it needs.
struct Run<'a> {
    store: &'a Store,
    opts: &'a Options,
    ui: &'a Ui,
    /// Deletions happen (not a dry run, no input record failed).
    carry_out: bool,
    /// An input record failed: nothing is deleted.
    blocked: bool,
    /// The artifacts, their group keys and their record lines.
    listing: &'a Listing,
    /// The plan, by item.
    decisions: &'a [Decision],
    /// Why an item's deletion failed, by item.
    errors: HashMap<usize, String>,
    del: Deletions,
}

impl Run<'_> {
    /// Prints the input records first, then every other artifact
    /// considered. An artifact is deleted just before its record is
    /// printed, the record as it was read while listing (from the spill;
    /// records are not held in memory); artifacts named on stdin are
    /// deleted before anything is printed.
    fn print_and_delete(&mut self, input: &[Record], out: &mut dyn Output) -> Result<()> {
        let listing = self.listing;
        // The artifact each input record describes.
        let by_input = &listing.by_input;
        for &i in by_input.iter().flatten() {
            self.delete(i as usize);
        }
        out.deleted()?;
        let mut printed = vec![false; listing.items.len()];
        for (j, rec) in input.iter().enumerate() {
            let mut rec = rec.clone();
            let section = match by_input[j] {
                Some(i) => {
                    printed[i as usize] = true;
                    self.section(i as usize)
                }
                None => PruneSection::not_considered(rec.failed(), self.opts.dry_run),
            };
            rec.set("prune", section.to_value());
            out.record(&rec)?;
        }
        // The rest in order, their lines read ahead a batch at a time on
        // every core while the batch before is printed (a batch is read
        // before any of it is deleted).
        let mut rest = listing
            .order
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| !printed[i]);
        let mut batch: Vec<usize> = Vec::with_capacity(PRINT_BATCH);
        loop {
            batch.clear();
            batch.extend(rest.by_ref().take(PRINT_BATCH));
            if batch.is_empty() {
                break;
            }
            let reads: Vec<LineRead> = batch.iter().map(|&i| LineRead::of(listing, i)).collect();
            let lines = read_lines(&reads, &listing.spill);
            for (&i, line) in batch.iter().zip(lines) {
                self.print_one(i, line, out)?;
            }
        }
        // Deletions are durable once their folders are synced.
        for d in &self.del.dirs {
            if let Err(e) = fsutil::sync_dir(d) {
                self.ui.warn(e.line());
            }
        }
        Ok(())
    }

    /// Reads an artifact's record (before the deletion removes its
    /// sidecar), deletes the artifact if the plan says so, and prints the
    /// record with its `prune` section. A plain one-line sidecar, read
    /// ahead into `line`, is printed as it is with the section appended,
    /// without building the record; anything else is read whole here.
    fn print_one(&mut self, i: usize, line: Option<String>, out: &mut dyn Output) -> Result<()> {
        let listing = self.listing;
        let record = match line {
            Some(_) => None,
            None => {
                Some(store::load_record(&listing.path(i), &listing.name(i), listing.folder(i))?.0)
            }
        };
        let deleted = self.delete(i);
        let section = self.section(i);
        match (line, record) {
            (Some(line), _) => out.line(&with_section(&line, &section))?,
            (None, Some(mut rec)) => {
                rec.set("prune", section.to_value());
                out.record(&rec)?;
            }
            (None, None) => unreachable!("a line or a record was read"),
        }
        if deleted { out.deleted() } else { Ok(()) }
    }

    fn section(&self, i: usize) -> PruneSection {
        let group = self.listing.items[i].candidate.group as usize;
        PruneSection::considered(
            &self.decisions[i],
            self.blocked,
            self.opts.dry_run,
            self.listing.groups[group].clone(),
            self.errors.get(&i).cloned(),
        )
    }

    /// Deletes an artifact the plan does not keep (when deletions happen),
    /// with its journal event.
    fn delete(&mut self, i: usize) -> bool {
        let decision = self.decisions[i];
        if !self.carry_out || decision.keep {
            return false;
        }
        let (store, ui, listing) = (self.store, self.ui, self.listing);
        let path = listing.path(i);
        let res = delete_artifact(store, &path);
        let why = decision.reasons.names().join(", ");
        let bytes = listing.items[i].candidate.bytes;
        let ev = match &res {
            Ok(()) => {
                self.del.count += 1;
                self.del.bytes += bytes;
                ui.debug(format!("deleted {} ({why})", path.display()));
                Event::new(ui.tool(), "delete", true, format!("deleted: {why}"))
            }
            Err(e) => {
                ui.error(e.line());
                self.errors.insert(i, e.line());
                self.del.failed = true;
                Event::new(ui.tool(), "delete", false, e.line())
            }
        };
        journal_event(
            store,
            &ev.id(Some(&listing.name(i).id())).bytes(Some(bytes)),
            ui,
        );
        self.del
            .dirs
            .insert(fsutil::parent_dir(&path).to_path_buf());
        true
    }
}

/// Records read ahead of printing at a time: bounds memory.
const PRINT_BATCH: usize = 2048;

/// How an artifact's record line is had for printing.
enum LineRead {
    /// From the spill, read while listing.
    Spill(LineRef),
    /// From its sidecar, read again ([`store::record_line`]).
    Sidecar(PathBuf),
    /// None: its record is built (no sidecar, or a failed record, printed
    /// as a record so the run knows it printed one).
    Record,
}

/// The lines `reads` say how to have: the spilled ones in a few large
/// reads, the others from their sidecars on every core.
fn read_lines(reads: &[LineRead], spill: &LineSpill) -> Vec<Option<String>> {
    let refs: Vec<Option<LineRef>> = reads
        .iter()
        .map(|r| match r {
            LineRead::Spill(at) => Some(*at),
            _ => None,
        })
        .collect();
    let mut lines = spill.read_many(&refs);
    let again: Vec<usize> = (0..reads.len())
        .filter(|&i| lines[i].is_none() && !matches!(reads[i], LineRead::Record))
        .collect();
    let read = lfb_core::par::map(&again, |&i| reads[i].read_again());
    for (i, line) in again.into_iter().zip(read) {
        lines[i] = line;
    }
    lines
}

impl LineRead {
    fn of(listing: &Listing, i: usize) -> LineRead {
        let item = &listing.items[i];
        match item.line {
            _ if item.derived || item.failed => LineRead::Record,
            Some(at) => LineRead::Spill(at),
            None => LineRead::Sidecar(listing.path(i)),
        }
    }

    /// The record line of a [`LineRead::Sidecar`], read from the sidecar;
    /// `None` for the others: their record is built (as is that of a line
    /// the spill could not give back).
    fn read_again(&self) -> Option<String> {
        match self {
            LineRead::Spill(_) | LineRead::Record => None,
            LineRead::Sidecar(path) => store::record_line(path),
        }
    }
}

/// A record line with its `prune` section appended (the line holds no
/// `prune` member: [`store::record_line`] makes sure of that).
fn with_section(line: &str, section: &PruneSection) -> String {
    let body = line.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body);
    let section = serde_json::to_string(section).expect("a prune section always serializes");
    format!("{body},\"prune\":{section}}}")
}

/// Step 5, when an input record failed: say so (nothing was deleted).
fn report_blocked(
    store: &Store,
    opts: &Options,
    input: &[Record],
    failed: &[usize],
    decisions: &[Decision],
    ui: &Ui,
    started: Instant,
) {
    let planned = decisions.iter().filter(|d| !d.keep).count();
    let names: Vec<String> = failed
        .iter()
        .map(|&j| describe_failure(&input[j]))
        .collect();
    let msg = format!(
        "not pruning: {} input record{} failed: {}; nothing was deleted ({} deletion{} planned)",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        names.join("; "),
        planned,
        if planned == 1 { "" } else { "s" },
    );
    ui.error(&msg);
    if !opts.dry_run {
        journal_event(
            store,
            &Event::new(ui.tool(), "prune", false, msg).duration(started.elapsed()),
            ui,
        );
    }
}

/// Step 5: the one-line summary of the run.
fn summary(
    opts: &Options,
    items: &[Item],
    decisions: &[Decision],
    del: &Deletions,
    housekeeping: usize,
) -> String {
    let groups = items
        .iter()
        .map(|i| i.candidate.group)
        .collect::<BTreeSet<_>>()
        .len();
    let s = if groups == 1 { "" } else { "s" };
    if opts.dry_run {
        let planned = items.iter().zip(decisions).filter(|(_, d)| !d.keep);
        let (count, bytes) = planned.fold((0usize, 0u64), |(n, b), (i, _)| {
            (n + 1, b + i.candidate.bytes)
        });
        return format!(
            "dry run: would delete {} of {} artifacts ({}) in {groups} group{s}",
            count,
            items.len(),
            format_size(bytes),
        );
    }
    format!(
        "deleted {} of {} artifacts ({}) in {groups} group{s}{}",
        del.count,
        items.len(),
        format_size(del.bytes),
        if housekeeping == 0 {
            String::new()
        } else {
            format!("; housekeeping: {housekeeping}")
        }
    )
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

fn report_dry_housekeeping(
    store: &Store,
    opts: &Options,
    leftovers: Leftovers,
    ui: &Ui,
) -> Result<()> {
    if let Some(t) = housekeeping::journal_rotation(store, opts.rotate_logs_at, opts.now)? {
        ui.info(format!(
            "dry run: would rotate the journal to {}",
            t.display()
        ));
    }
    for p in housekeeping::stale_partials(leftovers, &opts.scope)? {
        ui.info(format!("dry run: would remove {}", p.display()));
    }
    if let Some(keep) = opts.keep_logs {
        for p in housekeeping::old_segments(store, keep, opts.now)? {
            ui.info(format!("dry run: would remove {}", p.display()));
        }
    }
    Ok(())
}

fn warn_over_budget(opts: &Options, listing: &Listing, decisions: &[Decision], ui: &Ui) {
    let Some(budget) = opts.policy.max_total_size else {
        return;
    };
    let groups = &listing.groups;
    let mut kept: HashMap<usize, (u64, usize)> = HashMap::new();
    for (i, item) in listing.items.iter().enumerate() {
        if decisions[i].keep {
            let e = kept.entry(item.candidate.group as usize).or_insert((0, i));
            e.0 += item.candidate.bytes;
        }
    }
    let mut over: Vec<_> = kept.into_iter().filter(|(_, (b, _))| *b > budget).collect();
    over.sort_by_key(|(g, _)| *g);
    for (g, (bytes, _)) in over {
        ui.warn(format!(
            "group {}: the artifacts it must keep take {}, more than --max-total-size {}",
            groups[g],
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
