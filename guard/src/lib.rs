//! lfb-guard: watch the whole backup store and say loudly when it is
//! unhealthy.
//!
//! Replaces `backup_guard.sh`, which checked one file's size, that
//! `pg_restore -l` read it and that the folder was writable, and noticed
//! nothing when cron stopped, backups shrank or the cloud folder stopped
//! syncing. lfb-guard lists the store once, runs its checks (freshness,
//! sizes, re-verification of the newest artifacts, permissions, space,
//! leftovers, the journal, cloud-sync debris) and reports each finding as
//! one NDJSON line, then a summary; or a Nagios status line; or Prometheus
//! textfile metrics.

pub mod alarms;
pub mod checks;
pub mod common;
pub mod drills;
pub mod finding;
pub mod history;
pub mod inventory;
pub mod remote;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::journal::{self, Event};
use lfb_core::ndjson::RecordWriter;
use lfb_core::{Error, Result, Store, units};

use crate::checks::{CHECKS, Config, DEFAULT_MAX_AGE, Expectation};
use crate::finding::{Finding, Severity};
use crate::report::Report;

/// The tool's name, as it appears in the journal.
pub const TOOL: &str = "lfb-guard";

/// Check the health of the whole backup store.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-guard",
    version,
    about = "Check the health of the whole backup store and say loudly when it is unhealthy",
    long_about = "Check the health of the whole backup store and say loudly when it is unhealthy.\n\n\
Each finding has a severity (ok, warn, crit), the group of artifacts it concerns \
(environment/name/kind/tag), a check name, a message and its values. Checks:\n\n  \
missing      a tag named by --max-age or --expect has no artifacts (crit); an empty store (crit)\n  \
freshness    the newest artifact of each group is younger than its tag's limit (crit)\n  \
size         every artifact is at least --min-size, when given (crit)\n  \
shrink       the newest artifact is under half the median of the 10 before it (warn)\n  \
integrity    the newest artifact of each group re-reads: checksum, decode, complete (crit)\n  \
sidecar      an artifact lfb wrote has no usable sidecar record (warn)\n  \
permissions  group/other access or another owner (warn), world-writable (crit)\n  \
writable     a file can be created in the store, owned by the current user (crit)\n  \
space        free space, and days until full at last week's growth (warn <14, crit <2)\n  \
partial      leftovers of killed runs: *.partial files, sidecars without artifact (warn; crit after a day)\n  \
quarantine   files in quarantine/ (warn)\n  \
verification the newest artifact's last lfb-verify run (remembered in its sidecar) \
failed (crit)\n  \
drill        the newest successful restore test of a group is older than \
--max-drill-age (31d) (warn)\n  \
journal      failed events in logs/journal.ndjson that no later success of the same \
group resolved, in the last --journal-window (crit; --ack ID silences one)\n  \
placeholder  evicted iCloud files: the backup is not on this disk (warn)\n  \
conflict     conflict copies of iCloud, Dropbox, Nextcloud, Syncthing (warn)\n  \
encryption   with --require-encryption: artifacts not encrypted with age (crit)\n  \
gaps         store in a bucket: two artifacts of a group further apart than its tag's \
limit in the last 7 days (warn)\n  \
scan         a folder or file of the store cannot be read (crit)\n\n\
Times come from records (created_at) or file names, never from modification times, \
which cloud clients rewrite. Output: one JSON finding per line on stdout, then a \
summary record; a table on stderr when it is a terminal (-v adds ok findings). \
Exit status: 0 healthy (warnings allowed unless --strict), 1 a critical finding \
(or a warning with --strict), 2 it could not run (no store, bad flag value). \
With --nagios: one status line and the monitoring-plugin codes 0 OK, 1 WARNING, \
2 CRITICAL, 3 UNKNOWN.",
    after_help = "Examples:\n  \
lfb-guard --store /srv/backups\n  \
lfb-guard --env prod --expect daily --max-age hourly=90m\n  \
lfb-guard --nagios\n  \
lfb-guard -q --prometheus /var/lib/node_exporter/textfile/lfb.prom\n  \
lfb-guard -q --on-failure 'mail -s \"backups: $LFB_GUARD_STATUS\" ops@example.com'\n  \
lfb-guard | jq -c 'select(.finding.severity == \"crit\") | .finding'"
)]
pub struct Cli {
    /// Freshness limit of a tag: TAG=DURATION (hourly=2h, daily=26h, weekly=8d)
    ///
    /// Repeatable. Without it, hourly=2h and daily=26h apply to those tags
    /// when the store has them. A tag named here is expected: when the store
    /// has no artifact of that tag, that is a critical `missing` finding.
    #[arg(long, value_name = "TAG=DURATION")]
    pub max_age: Vec<String>,

    /// A tag that must exist in the store (its absence is critical)
    ///
    /// Repeatable. Its limit is the one from --max-age, else the default
    /// (hourly 2h, daily 26h), else only presence is required. Combine with
    /// --env to expect it in one environment.
    #[arg(long, value_name = "TAG")]
    pub expect: Vec<String>,

    /// Also report artifacts under SIZE as critical: --min-size 10KiB is the original check
    ///
    /// Without it there is no absolute floor (a fresh project's database
    /// dumps to a few KiB): sizes are judged against each group's history
    /// (shrink) and dumps' completeness (integrity).
    #[arg(long, value_name = "SIZE")]
    pub min_size: Option<String>,

    /// Free space on the store's filesystem under which it is critical
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub min_free: String,

    /// Re-read every artifact, not only the newest of each group
    #[arg(long)]
    pub deep: bool,

    /// Also re-read N artifacts picked at random among the older ones
    #[arg(long, value_name = "N", conflicts_with = "deep")]
    pub sample: Option<String>,

    /// Leave out these checks (comma-separated check names)
    #[arg(long, value_name = "LIST")]
    pub skip: Option<String>,

    /// Judge ages as of this time (RFC 3339) instead of now
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

    /// How long an unresolved failed journal event stays critical [default: 7d]
    ///
    /// A failed event (a dump, verify, archive… that failed) is resolved by
    /// a later success of the same tool in the same group (env, name, tag):
    /// one failed hour is quiet again once the next hour succeeds. A
    /// failure nothing resolved is critical for this long.
    #[arg(long, value_name = "DURATION", default_value = "7d",
          value_parser = lfb_core::cli::parse_duration_arg)]
    pub journal_window: Duration,

    /// How old a group's newest successful restore test may be [default: 31d]
    ///
    /// lfb-verify --restore-test remembers each result in the sidecar; a
    /// group whose newest successful restore test is older (or that is
    /// older and never had one) is a warning (check `drill`).
    #[arg(long, value_name = "DURATION", default_value = drills::DEFAULT_MAX_DRILL_AGE,
          value_parser = lfb_core::cli::parse_duration_arg)]
    pub max_drill_age: Duration,

    /// Silence the unresolved failed journal event ID (journal finding's ack_id)
    ///
    /// Appends an `ack` event to the journal (who and when), then checks the
    /// store as usual. Repeatable. An ID that names no unresolved failure in
    /// the window is an error (exit 2).
    #[arg(long, value_name = "ID")]
    pub ack: Vec<String>,

    /// Exit 1 on warnings too
    #[arg(long)]
    pub strict: bool,

    /// Report every artifact not encrypted with age (critical)
    ///
    /// For a store in a synced folder that must hold only ciphertext: any
    /// artifact without `.age` (lfb-dump/lfb-archive --encrypt-to) is listed.
    #[arg(long)]
    pub require_encryption: bool,

    /// Print one monitoring-plugin status line instead of NDJSON
    ///
    /// `LFB OK - 12 groups fresh, … | perfdata`, then one line per problem;
    /// exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (could not run).
    #[arg(long)]
    pub nagios: bool,

    /// Write node-exporter textfile metrics to FILE, atomically
    ///
    /// Every series is labelled with the store; per group (labels store, env,
    /// name, kind, tag): lfb_last_success_timestamp_seconds,
    /// lfb_last_restore_test_timestamp_seconds,
    /// lfb_last_age_seconds, lfb_last_size_bytes, lfb_artifacts, lfb_ok; and
    /// lfb_guard_status (0 ok, 1 warn, 2 crit), lfb_guard_findings,
    /// lfb_store_free_bytes, lfb_guard_last_run_timestamp_seconds.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,

    /// Run CMD (with sh -c) when the store is not healthy
    ///
    /// The summary record is on its stdin; $LFB_GUARD_STATUS is warn or crit
    /// and $LFB_GUARD_STORE the store. For a mail or a ping URL.
    #[arg(long, value_name = "CMD")]
    pub on_failure: Option<String>,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// With `--nagios`, a bad command line is the plugin's UNKNOWN (3),
    /// with its status line, not clap's exit 2 (which Nagios shows as
    /// CRITICAL).
    fn on_usage_error(err: &clap::Error) -> Option<u8> {
        if !std::env::args().any(|a| a == "--nagios") {
            return None;
        }
        let msg = err.to_string();
        let first = msg.lines().next().unwrap_or("bad arguments");
        let first = first.trim_start_matches("error: ");
        println!("LFB UNKNOWN - {first}");
        eprint!("{msg}");
        Some(3)
    }

    /// A run that worked printed its findings and summary, which say why
    /// it failed.
    fn failure_record_after_work() -> bool {
        false
    }
}

/// Runs lfb-guard. With `--nagios`, a run that cannot start prints
/// `LFB UNKNOWN - …` and exits 3.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    lfb_core::sys::return_large_buffers();
    let nagios = cli.nagios;
    match guard(cli, ui) {
        Err(e) if nagios && !e.is_broken_pipe() => {
            println!("LFB UNKNOWN - {}", e.line().replace('|', "/"));
            ui.error(e.line());
            Ok(3)
        }
        other => other,
    }
}

/// Turns the flags into the checks' configuration (errors are usage
/// errors: exit 2, or UNKNOWN with --nagios).
// Long: checks every flag in turn, each with its own message.
pub fn config(cli: &Cli, now: DateTime<Utc>) -> Result<Config> {
    let mut tags: BTreeMap<String, Expectation> = DEFAULT_MAX_AGE
        .iter()
        .map(|(t, s)| {
            (
                t.to_string(),
                Expectation {
                    max_age: Some(Duration::from_secs(*s)),
                    explicit: false,
                },
            )
        })
        .collect();
    for spec in &cli.max_age {
        let (tag, dur) = spec.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "invalid --max-age '{spec}': expected TAG=DURATION, like hourly=2h"
            ))
        })?;
        lfb_core::cli::check_tag(tag)?;
        let d = units::parse_duration(dur).map_err(Error::usage)?;
        if d.is_zero() {
            return Err(Error::usage(format!(
                "invalid --max-age '{spec}': the limit must be more than 0"
            )));
        }
        tags.insert(
            tag.to_string(),
            Expectation {
                max_age: Some(d),
                explicit: true,
            },
        );
    }
    for tag in &cli.expect {
        lfb_core::cli::check_tag(tag)?;
        tags.entry(tag.clone())
            .or_insert(Expectation {
                max_age: None,
                explicit: true,
            })
            .explicit = true;
    }
    let size = |flag: &str, v: &str| {
        units::parse_size(v).map_err(|e| Error::usage(format!("{flag}: {e}")))
    };
    let sample = match &cli.sample {
        None => 0,
        Some(s) => s.trim().parse::<usize>().map_err(|_| {
            Error::usage(format!(
                "invalid --sample '{s}': expected a number of artifacts"
            ))
        })?,
    };
    let mut skip = BTreeSet::new();
    for name in cli.skip.iter().flat_map(|s| s.split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let check = CHECKS.iter().find(|c| **c == name).ok_or_else(|| {
            Error::usage(format!(
                "unknown check '{name}' in --skip (checks: {})",
                CHECKS.join(", ")
            ))
        })?;
        skip.insert(*check);
    }
    let env = match &cli.store.env {
        Some(_) => Some(cli.store.env()?),
        None => None,
    };
    Ok(Config {
        now,
        tags,
        min_size: match &cli.min_size {
            Some(v) => size("--min-size", v)?,
            // Only an empty artifact is too small by itself.
            None => 1,
        },
        min_free: size("--min-free", &cli.min_free)?,
        deep: cli.deep,
        sample,
        skip,
        env,
        journal_window: cli.journal_window,
        max_drill_age: cli.max_drill_age,
        require_encryption: cli.require_encryption,
    })
}

/// Records `--ack ID`s in the journal after checking each names a failure
/// that is still unresolved.
fn acknowledge(store: &Store, cfg: &Config, ids: &[String], ui: &Ui) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let since =
        cfg.now - chrono::Duration::from_std(cfg.journal_window).unwrap_or(chrono::Duration::MAX);
    let tail = history::events_since(&store.journal_path(), since)
        .map_err(|e| Error::io_path("read", &store.journal_path(), e))?;
    let open = alarms::unresolved(&tail.events);
    for id in ids {
        let Some(u) = open.iter().find(|u| &u.id == id) else {
            return Err(Error::usage(format!(
                "--ack {id}: no unresolved failed event with that id in the last {} \
                 (the journal finding lists them as ack_id)",
                units::format_duration(cfg.journal_window)
            )));
        };
        let what = |k: &str| {
            u.event
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
        };
        let msg = format!(
            "acknowledged {} {} {} at {}: {}",
            what("tool"),
            what("action"),
            id,
            what("time"),
            what("message")
        );
        let ev =
            Event::new(TOOL, alarms::ACK, true, msg.clone()).field("ack", serde_json::json!(id));
        journal::append(store, &ev)?;
        ui.info(msg);
    }
    Ok(())
}

fn parse_now(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::usage(format!(
                "invalid --now '{s}': expected an RFC 3339 time like 2026-11-27T02:00:00Z"
            ))
        })
}

/// Checks the store: every finding, in check order.
pub fn inspect(store: &Store, cfg: &Config, ui: &Ui) -> (Vec<Finding>, Report) {
    let started = Instant::now();
    let inv = inventory::scan(store, cfg.env.as_deref());
    ui.debug(format!(
        "listed {} artifacts, {} leftovers, {} sync files in {} ms",
        inv.artifacts.len(),
        inv.partials.len(),
        inv.debris.len(),
        started.elapsed().as_millis()
    ));
    let mut findings = checks::scan_errors(&inv);
    findings.extend(checks::freshness(&inv, cfg));
    findings.extend(checks::sizes(&inv, cfg));
    let t = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ ((std::process::id() as u64) << 32);
    let (integrity, verified) = checks::integrity(&inv, cfg, seed);
    findings.extend(integrity);
    ui.debug(format!(
        "re-read {} artifacts in {} ms",
        verified.len(),
        t.elapsed().as_millis()
    ));
    findings.extend(checks::sidecars(&inv));
    findings.extend(checks::permissions(&inv));
    if cfg.runs("writable") {
        findings.push(checks::writable(store));
    }
    let mut space = None;
    if cfg.runs("space") {
        let (f, s) = checks::space(store, &inv, cfg);
        findings.push(f);
        space = s;
    }
    findings.extend(checks::partials(&inv, cfg));
    findings.push(checks::quarantine(&inv));
    if cfg.runs("journal") {
        findings.push(checks::journal(store, cfg));
    }
    let drills = drills::scan(&inv);
    if cfg.runs("drill") {
        findings.extend(drills::check(&drills, cfg));
    }
    if cfg.runs("verification") {
        findings.extend(drills::remembered(&drills));
    }
    findings.extend(checks::sync(&inv, cfg));
    if cfg.require_encryption {
        findings.extend(checks::encryption(&inv));
    }
    findings.retain(|f| cfg.runs(f.check));

    let groups = checks::groups(&inv);
    let stats = report::group_stats(&groups, &findings, &verified, cfg.min_size);
    let report = Report {
        status: finding::worst(&findings),
        findings: findings.clone(),
        store: store.root().to_path_buf(),
        checked_at: cfg.now,
        groups: stats,
        artifacts: inv.artifacts.len(),
        verified: verified.len(),
        sync: inventory::sync_service(store.root()),
        space,
        min_free: cfg.min_free,
        restore_tests: drills.into_iter().map(|(g, d)| (g, d.last_ok)).collect(),
        duration: started.elapsed(),
    };
    (findings, report)
}

// Long: the tool's steps in order (store, inspect, print, alarms, exit code), each a call.
fn guard(cli: Cli, ui: &Ui) -> Result<u8> {
    if let Some(location) = lfb_core::remote::location(&cli.store)? {
        return remote::run(cli, location, ui);
    }
    let now = match &cli.now {
        Some(s) => parse_now(s)?,
        None => Utc::now(),
    };
    let cfg = config(&cli, now)?;
    let store = cli.store.store()?;
    match std::fs::metadata(store.root()) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::unavailable(format!(
                "store '{}' is not a folder",
                store.root().display()
            )));
        }
        // A read-only tool: it never creates the store.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => store.require_existing()?,
        Err(e) => {
            return Err(Error::unavailable(format!(
                "cannot read store '{}': {}",
                store.root().display(),
                lfb_core::error::describe_io(&e)
            )));
        }
    }
    if let Some(env) = &cfg.env {
        store.require_env(env)?;
    }
    acknowledge(&store, &cfg, &cli.ack, ui)?;
    let (findings, report) = inspect(&store, &cfg, ui);
    let summary = report.summary();

    if cli.nagios {
        print!("{}", report.nagios());
    } else {
        let mut out = RecordWriter::new();
        for f in &findings {
            out.write_value(&f.to_line())?;
        }
        out.write_value(&summary.to_string())?;
    }
    tell_people(&report, ui, cli.nagios);

    let mut trouble = None;
    if let Some(path) = &cli.prometheus
        && let Err(e) = report::write_prometheus(path, &report.prometheus())
    {
        ui.error(e.line());
        trouble = Some(e);
    }
    if report.status > Severity::Ok
        && let Some(cmd) = &cli.on_failure
        && let Err(e) = report::on_failure(cmd, &summary)
    {
        ui.error(e.line());
    }
    let ev = Event::new(
        TOOL,
        "guard",
        report.status == Severity::Ok,
        report.closing_line(),
    )
    .duration(report.duration);
    if let Err(e) = journal::append(&store, &ev) {
        ui.warn(e.line());
    }

    Ok(if cli.nagios {
        match report.status {
            Severity::Ok => 0,
            Severity::Warn => 1,
            Severity::Crit => 2,
        }
    } else if trouble.is_some() {
        // The metrics the monitoring reads are stale: that needs a human.
        2
    } else {
        match report.status {
            Severity::Crit => 1,
            Severity::Warn if cli.strict => 1,
            _ => 0,
        }
    })
}

/// The table on a terminal; otherwise (cron) only the problems, one line
/// each, so a healthy store sends no mail. Nothing with `--nagios`: its
/// stdout already says it all, and some agents merge the two streams.
fn tell_people(report: &Report, ui: &Ui, nagios: bool) {
    if ui.quiet() || (nagios && !std::io::stderr().is_terminal()) {
        return;
    }
    if std::io::stderr().is_terminal() {
        eprint!("{}", report.table(ui.verbose() > 0));
        return;
    }
    let problems = report.problems();
    for f in &problems {
        eprintln!(
            "{}: {}: {} {}: {}",
            ui.tool(),
            f.severity,
            f.check,
            f.group,
            f.message
        );
    }
    if !problems.is_empty() || ui.verbose() > 0 {
        eprintln!("{}: {}", ui.tool(), report.closing_line());
    }
}
