//! lfb-guard against real stores built here: gzip files holding complete
//! pg_dump plain dumps with sidecar records (correct SHA-256 and size), a
//! journal, and then one kind of damage at a time. Each damage must give
//! exactly its finding (check and severity) and exit code; the Nagios,
//! Prometheus and --on-failure outputs are checked the way their consumers
//! read them.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, Duration, Utc};
use lfb_core::{Kind, Record};
use serde_json::{Value, json};

const NOW: &str = "2026-11-27T12:00:00Z";

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

/// A store folder with helpers to fill it.
struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::Builder::new()
            .prefix("lfb-guard-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Store { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn folder(&self, name: &str) -> PathBuf {
        let d = self.root().join(name);
        if !d.exists() {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        d
    }

    /// Writes an artifact (a gzip'd complete plain dump of `rows` rows of
    /// random-looking text, ~70 bytes each before compression) and its
    /// sidecar. Returns the artifact's path.
    fn artifact(&self, env: &str, tag: &str, created: DateTime<Utc>, rows: usize) -> PathBuf {
        let stamp = created.format("%Y%m%dT%H%M%SZ");
        let id = format!("ledgerflow_db_{tag}_{stamp}");
        let path = self.folder(env).join(format!("{id}.sql.gz"));
        let gz = gzip(&dump_text(rows, created.timestamp() as u64));
        write_private(&path, &gz);
        let mut rec = Record::new(
            &id,
            Kind::Db,
            env,
            tag,
            &path,
            created,
            gz.len() as u64,
            &sha256(&gz),
            "sql+gzip",
        );
        rec.set(
            "source",
            json!({"engine":"postgres","database":"ledgerflow","tables":{"public.entries":rows}}),
        );
        write_private(
            &lfb_core::store::sidecar_path(&path),
            format!("{}\n", rec.to_line()).as_bytes(),
        );
        path
    }

    /// A healthy store: 12 hourly dumps (newest 30 minutes old) and 5 daily
    /// ones (newest today 02:00) in prod/, and a journal of successes.
    fn healthy() -> Store {
        let s = Store::new();
        for h in 0..12 {
            s.artifact(
                "prod",
                "hourly",
                now() - Duration::minutes(30) - Duration::hours(h),
                600,
            );
        }
        for d in 0..5 {
            s.artifact(
                "prod",
                "daily",
                now() - Duration::hours(10) - Duration::days(d),
                900,
            );
        }
        s.folder("logs");
        s.journal(now() - Duration::hours(2), "lfb-dump", true);
        s.journal(now() - Duration::minutes(30), "lfb-dump", true);
        s
    }

    fn journal(&self, time: DateTime<Utc>, tool: &str, ok: bool) {
        let path = self.folder("logs").join("journal.ndjson");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ev = json!({"time": lfb_core::record::format_time(time), "tool": tool,
            "action": "dump", "id": null, "ok": ok, "bytes": null, "duration_ms": 10,
            "user": "app", "host": "web1",
            "message": if ok { "dumped postgres database" } else { "pg_dump: connection refused" }});
        writeln!(f, "{ev}").unwrap();
    }

    fn newest(&self, tag: &str) -> PathBuf {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.root().join("prod"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.contains(&format!("_{tag}_")) && n.ends_with(".sql.gz")
            })
            .collect();
        v.sort();
        v.pop().unwrap()
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn dump_text(rows: usize, seed: u64) -> Vec<u8> {
    let mut s = String::from(
        "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n\n\
         CREATE TABLE public.entries (id bigint, memo text);\n\n\
         COPY public.entries (id, memo) FROM stdin;\n",
    );
    let mut x = seed | 1;
    for i in 0..rows {
        let mut memo = String::new();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memo.push_str(&format!("{x:016x}"));
        }
        s.push_str(&format!("{i}\t{memo}\n"));
    }
    s.push_str("\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
    s.into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    let mut w = lfb_core::digest::HashingWriter::new(std::io::sink());
    w.write_all(bytes).unwrap();
    w.finish().1
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
    fn findings(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter_map(|v| v.get("finding").cloned())
            .collect()
    }
    fn summary(&self) -> Value {
        let lines = self.lines();
        let last = lines.last().expect("a summary line");
        last["summary"].clone()
    }
    /// (check, severity) of every finding that is not ok, sorted.
    fn problems(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .findings()
            .iter()
            .filter(|f| f["severity"] != "ok")
            .map(|f| {
                (
                    f["check"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }
    fn finding(&self, check: &str) -> Value {
        self.findings()
            .into_iter()
            .find(|f| f["check"] == check && f["severity"] != "ok")
            .unwrap_or_else(|| panic!("no {check} problem in\n{}", self.stdout))
    }
}

fn guard_cmd(store: &Path, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("lfb-guard").unwrap();
    c.arg("--store")
        .arg(store)
        .arg("--now")
        .arg(NOW)
        .args(args)
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .stdin(std::process::Stdio::null());
    c
}

fn guard(store: &Path, args: &[&str]) -> Run {
    let out = guard_cmd(store, args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn expect(run: &Run, problems: &[(&str, &str)], code: i32) {
    let want: Vec<(String, String)> = problems
        .iter()
        .map(|(c, s)| (c.to_string(), s.to_string()))
        .collect();
    assert_eq!(
        run.problems(),
        want,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.code, code, "stderr:\n{}", run.stderr);
}

#[test]
fn a_healthy_store_is_ok() {
    let s = Store::healthy();
    let run = guard(s.root(), &[]);
    expect(&run, &[], 0);
    // Every line is an lfb/1 record; the summary comes last and adds up.
    let lines = run.lines();
    assert!(lines.iter().all(|l| l["schema"] == "lfb/1"));
    let sum = run.summary();
    assert_eq!(sum["status"], "ok");
    assert_eq!(sum["groups"], 2);
    assert_eq!(sum["artifacts"], 17);
    assert_eq!(sum["verified"], 2, "the newest of each group is re-read");
    assert_eq!(sum["checked_at"], NOW);
    let n = run.findings().len() as u64;
    assert_eq!(sum["counts"]["ok"].as_u64().unwrap(), n);
    assert_eq!(sum["problems"], json!([]));
    // The ok findings name their groups and values.
    let fresh: Vec<Value> = run
        .findings()
        .into_iter()
        .filter(|f| f["check"] == "freshness")
        .collect();
    assert_eq!(fresh.len(), 2);
    let hourly = fresh
        .iter()
        .find(|f| f["group"]["tag"] == "hourly")
        .unwrap();
    assert_eq!(
        hourly["group"],
        json!({"env":"prod","name":"ledgerflow","kind":"db","tag":"hourly"})
    );
    assert_eq!(hourly["values"]["age_seconds"], 1800);
    assert_eq!(hourly["values"]["limit_seconds"], 7200);
    // Healthy and not a terminal: nothing on stderr for cron to mail.
    assert_eq!(run.stderr, "");
    // The run is in the journal, and the probe file is gone.
    let journal = std::fs::read_to_string(s.root().join("logs/journal.ndjson")).unwrap();
    let last: Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(last["tool"], "lfb-guard");
    assert_eq!(last["ok"], true);
    let hidden: Vec<_> = std::fs::read_dir(s.root())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".lfb-guard")
        })
        .collect();
    assert!(hidden.is_empty());
}

#[test]
fn a_stale_hourly_group_is_critical() {
    let s = Store::healthy();
    // The last two and a half hours of hourly dumps never happened.
    for _ in 0..3 {
        let p = s.newest("hourly");
        std::fs::remove_file(lfb_core::store::sidecar_path(&p)).unwrap();
        std::fs::remove_file(p).unwrap();
    }
    let run = guard(s.root(), &[]);
    expect(&run, &[("freshness", "crit")], 1);
    let f = run.finding("freshness");
    assert_eq!(f["group"]["tag"], "hourly");
    assert_eq!(f["values"]["age_seconds"], 3 * 3600 + 1800);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("3h30m old (limit 2h00m)"),
        "{f}"
    );
    // Not a terminal: the problem is one line on stderr (cron mails it).
    assert!(
        run.stderr
            .contains("crit: freshness prod/ledgerflow/db/hourly")
    );
    // A looser limit makes it fresh again.
    expect(&guard(s.root(), &["--max-age", "hourly=4h"]), &[], 0);
}

#[test]
fn a_missing_daily_group_is_critical_only_when_expected() {
    let s = Store::new();
    for h in 0..5 {
        s.artifact("prod", "hourly", now() - Duration::hours(h), 600);
    }
    // Defaults apply only to tags the store has.
    expect(&guard(s.root(), &[]), &[], 0);
    for args in [&["--expect", "daily"][..], &["--max-age", "daily=26h"][..]] {
        let run = guard(s.root(), args);
        expect(&run, &[("missing", "crit")], 1);
        let f = run.finding("missing");
        assert_eq!(
            f["group"],
            json!({"env":null,"name":null,"kind":null,"tag":"daily"})
        );
    }
    // An empty store is not healthy either.
    let empty = Store::new();
    expect(&guard(empty.root(), &[]), &[("missing", "crit")], 1);
}

#[test]
fn a_shrunken_newest_backup_is_a_warning_naming_both_sizes() {
    let s = Store::new();
    for h in 1..12 {
        s.artifact("prod", "hourly", now() - Duration::hours(h), 1200);
    }
    let newest = s.artifact("prod", "hourly", now() - Duration::minutes(5), 400);
    let run = guard(s.root(), &[]);
    expect(&run, &[("shrink", "warn")], 0);
    let f = run.finding("shrink");
    let bytes = std::fs::metadata(&newest).unwrap().len();
    assert_eq!(f["values"]["bytes"], bytes);
    assert_eq!(f["values"]["compared"], 10);
    let median = f["values"]["median_bytes"].as_u64().unwrap();
    assert!(median > 2 * bytes);
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains(&format!("({bytes} bytes)")), "{msg}");
    assert!(msg.contains(&format!("({median} bytes)")), "{msg}");
    // --strict makes a warning fail the run.
    assert_eq!(guard(s.root(), &["--strict"]).code, 1);
}

#[test]
fn a_tiny_backup_shrank_and_fails_an_explicit_minimum() {
    let s = Store::healthy();
    s.artifact("prod", "hourly", now() - Duration::minutes(5), 10);
    // No absolute floor by default: it is judged against its group's history.
    expect(&guard(s.root(), &[]), &[("shrink", "warn")], 0);
    // The original scripts' 10 KiB minimum, when asked for.
    let run = guard(s.root(), &["--min-size", "10KiB"]);
    expect(&run, &[("shrink", "warn"), ("size", "crit")], 1);
    expect(
        &guard(s.root(), &["--min-size", "100", "--skip", "shrink"]),
        &[],
        0,
    );
}

#[test]
fn a_corrupted_newest_backup_is_critical_naming_the_check() {
    let s = Store::healthy();
    let p = s.newest("hourly");
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    write_private(&p, &bytes);
    let run = guard(s.root(), &[]);
    expect(&run, &[("integrity", "crit")], 1);
    let f = run.finding("integrity");
    assert!(
        f["values"]["failed"]
            .as_array()
            .unwrap()
            .contains(&json!("checksum"))
    );
    assert!(
        f["message"].as_str().unwrap().contains("checksum failed"),
        "{f}"
    );
    assert_eq!(f["group"]["tag"], "hourly");
}

#[test]
fn older_damage_needs_deep_or_a_sample() {
    let s = Store::healthy();
    let old = s.root().join(format!(
        "prod/ledgerflow_db_daily_{}.sql.gz",
        (now() - Duration::hours(10) - Duration::days(3)).format("%Y%m%dT%H%M%SZ")
    ));
    let bytes = std::fs::read(&old).unwrap();
    write_private(&old, &bytes[..bytes.len() - 100]);
    expect(&guard(s.root(), &[]), &[], 0);
    let run = guard(s.root(), &["--deep"]);
    expect(&run, &[("integrity", "crit")], 1);
    assert_eq!(run.summary()["verified"], 17);
    // A sample as large as the store finds it too.
    let run = guard(s.root(), &["--sample", "100"]);
    expect(&run, &[("integrity", "crit")], 1);
}

#[test]
fn a_group_writable_file_is_a_warning_and_world_writable_critical() {
    let s = Store::healthy();
    let p = s.newest("daily");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o660)).unwrap();
    let run = guard(s.root(), &[]);
    expect(&run, &[("permissions", "warn")], 0);
    let f = run.finding("permissions");
    assert_eq!(f["values"]["problem"], "group-other-access");
    assert_eq!(f["group"]["tag"], "daily");
    assert!(f["message"].as_str().unwrap().contains("(0660)"), "{f}");

    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    expect(&guard(s.root(), &[]), &[("permissions", "crit")], 1);

    // Folders too.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        s.root().join("prod"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let run = guard(s.root(), &[]);
    expect(&run, &[("permissions", "warn")], 0);
    assert_eq!(run.finding("permissions")["group"]["env"], "prod");
}

#[test]
fn a_sidecars_permissions_come_from_the_file_it_is_read_from() {
    // Sidecars are not stat'ed with their folder's listing: their mode and
    // owner come from the open file they are read from.
    let s = Store::healthy();
    let side = lfb_core::store::sidecar_path(&s.newest("daily"));
    std::fs::set_permissions(&side, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = guard(s.root(), &[]);
    expect(&run, &[("permissions", "crit")], 1);
    let f = run.finding("permissions");
    assert!(f["message"].as_str().unwrap().contains("(0666)"), "{f}");
    std::fs::set_permissions(&side, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = guard(s.root(), &[]);
    expect(&run, &[("permissions", "warn")], 0);
    assert!(
        run.finding("permissions")["message"]
            .as_str()
            .unwrap()
            .contains("(0640)")
    );
}

#[test]
fn a_leftover_partial_is_a_warning_and_critical_after_a_day() {
    let s = Store::healthy();
    let fresh = s.root().join(format!(
        "prod/ledgerflow_db_hourly_{}.sql.gz.partial",
        (now() - Duration::minutes(10)).format("%Y%m%dT%H%M%SZ")
    ));
    write_private(&fresh, b"partial data");
    // Still being written (modified just now): a run in progress, no finding.
    expect(&guard(s.root(), &[]), &[], 0);
    set_mtime(&fresh, 600);
    let run = guard(s.root(), &[]);
    expect(&run, &[("partial", "warn")], 0);
    assert_eq!(run.finding("partial")["values"]["age_seconds"], 600);
    // Not counted as a backup: the group is still the 12 real ones.
    assert_eq!(run.summary()["artifacts"], 17);

    std::fs::remove_file(&fresh).unwrap();
    let old = s.root().join(format!(
        "prod/ledgerflow_db_hourly_{}.sql.gz.partial",
        (now() - Duration::days(2)).format("%Y%m%dT%H%M%SZ")
    ));
    write_private(&old, b"partial data");
    set_mtime(&old, 2 * 86_400);
    expect(&guard(s.root(), &[]), &[("partial", "crit")], 1);
}

/// A `NAME.<pid>.partial` just written by a process that no longer runs
/// was left by a killed run: a warning naming the process, not "a run in
/// progress" (found by the user trial after a kill -9 of lfb-dump).
#[test]
fn a_fresh_partial_of_a_dead_process_is_a_leftover() {
    let s = Store::healthy();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let left = s.root().join(format!(
        "prod/ledgerflow_db_hourly_{}.sql.gz.{pid}.partial",
        now().format("%Y%m%dT%H%M%SZ")
    ));
    write_private(&left, b"partial data");
    let run = guard(s.root(), &[]);
    expect(&run, &[("partial", "warn")], 0);
    let msg = run.finding("partial")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains(&format!("process {pid}")), "{msg}");
    // The same name with a live writer (this test) is a run in progress.
    std::fs::remove_file(&left).unwrap();
    let live = s.root().join(format!(
        "prod/ledgerflow_db_hourly_{}.sql.gz.{}.partial",
        now().format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    ));
    write_private(&live, b"partial data");
    expect(&guard(s.root(), &[]), &[], 0);
}

/// Sets a file's modification time `secs_ago` seconds into the past.
fn set_mtime(p: &std::path::Path, secs_ago: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago))
        .unwrap();
}

#[test]
fn an_icloud_placeholder_and_a_dropbox_conflict_copy_are_warnings() {
    let s = Store::healthy();
    let newest = s.newest("daily");
    let name = newest.file_name().unwrap().to_string_lossy().into_owned();
    let older = s.root().join("prod").join(
        name.replace(
            &(now() - Duration::hours(10))
                .format("%Y%m%dT%H%M%SZ")
                .to_string(),
            &(now() - Duration::hours(10) - Duration::days(9))
                .format("%Y%m%dT%H%M%SZ")
                .to_string(),
        ),
    );
    // An evicted older daily dump: only its placeholder is on disk.
    let placeholder = s.root().join("prod").join(format!(
        ".{}.icloud",
        older.file_name().unwrap().to_string_lossy()
    ));
    write_private(&placeholder, b"bplist00");
    let stem = name.strip_suffix(".sql.gz").unwrap();
    let conflict = s
        .root()
        .join("prod")
        .join(format!("{stem} (web1's conflicted copy 2026-11-27).sql.gz"));
    std::fs::copy(&newest, &conflict).unwrap();
    std::fs::set_permissions(&conflict, std::fs::Permissions::from_mode(0o600)).unwrap();

    let run = guard(s.root(), &[]);
    expect(&run, &[("conflict", "warn"), ("placeholder", "warn")], 0);
    let p = run.finding("placeholder");
    assert_eq!(p["values"]["service"], "icloud");
    assert_eq!(
        p["values"]["original"],
        older.file_name().unwrap().to_string_lossy().as_ref()
    );
    assert_eq!(p["group"]["tag"], "daily");
    let c = run.finding("conflict");
    assert_eq!(c["values"]["service"], "dropbox");
    assert_eq!(c["values"]["original"], name);
    // Neither counts as an artifact.
    assert_eq!(run.summary()["artifacts"], 17);
}

#[test]
fn a_failed_journal_event_is_critical_until_a_later_success_resolves_it() {
    let s = Store::healthy();
    // A failure a later success of the same tool resolved (healthy() has
    // dumps succeeding 2 hours and 30 minutes ago), and the guard's own
    // verdicts, do not count: one failed hour is not a day of CRITICAL.
    s.journal(now() - Duration::hours(3), "lfb-dump", false);
    s.journal(now() - Duration::hours(1), "lfb-guard", false);
    expect(&guard(s.root(), &[]), &[], 0);

    // Nothing succeeded after this one: critical.
    s.journal(now() - Duration::minutes(10), "lfb-dump", false);
    let run = guard(s.root(), &[]);
    expect(&run, &[("journal", "crit")], 1);
    let f = run.finding("journal");
    assert_eq!(f["values"]["count"], 1);
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("pg_dump: connection refused"), "{msg}");
    let id = f["values"]["events"][0]["ack_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains(&format!("lfb-guard --ack {id}")), "{msg}");

    // Still loud on the next run; an unknown id is refused.
    expect(&guard(s.root(), &[]), &[("journal", "crit")], 1);
    let bad = guard(s.root(), &["--ack", "000000000000"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    // Acknowledged: quiet, and the journal says who did it.
    let run = guard(s.root(), &["--ack", &id]);
    expect(&run, &[], 0);
    let journal = std::fs::read_to_string(s.root().join("logs/journal.ndjson")).unwrap();
    assert!(journal.contains(&format!("\"ack\":\"{id}\"")), "{journal}");
    expect(&guard(s.root(), &[]), &[], 0);

    // The window is configurable: a failure older than it is forgotten.
    s.journal(now() - Duration::hours(5), "lfb-archive", false);
    expect(&guard(s.root(), &[]), &[("journal", "crit")], 1);
    expect(&guard(s.root(), &["--journal-window", "4h"]), &[], 0);
}

/// `--env prod` watches prod: a failure in another environment is not its
/// alarm (found by the user trial: dev's failed dumps made prod critical).
#[test]
fn the_journal_check_keeps_to_the_environment_given() {
    let s = Store::healthy();
    let path = s.root().join("logs/journal.ndjson");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let ev = json!({"time": lfb_core::record::format_time(now() - Duration::minutes(5)),
        "tool": "lfb-dump", "action": "dump", "env": "dev", "tag": "hourly", "ok": false,
        "message": "cannot open SQLite database 'db.sqlite3'"});
    writeln!(f, "{ev}").unwrap();
    drop(f);
    expect(&guard(s.root(), &[]), &[("journal", "crit")], 1);
    expect(&guard(s.root(), &["--env", "prod"]), &[], 0);
}

#[test]
fn a_non_empty_quarantine_is_a_warning() {
    let s = Store::healthy();
    write_private(
        &s.folder("quarantine")
            .join("ledgerflow_db_hourly_20261101T000000Z.sql.gz"),
        b"x",
    );
    expect(&guard(s.root(), &[]), &[("quarantine", "warn")], 0);
}

#[test]
fn env_limits_the_groups_checked() {
    let s = Store::healthy();
    s.artifact("dev", "hourly", now() - Duration::hours(9), 600);
    expect(&guard(s.root(), &[]), &[("freshness", "crit")], 1);
    let run = guard(s.root(), &["--env", "prod"]);
    expect(&run, &[], 0);
    assert_eq!(run.summary()["groups"], 2);
    let run = guard(s.root(), &["--env", "dev", "--expect", "daily"]);
    expect(&run, &[("freshness", "crit"), ("missing", "crit")], 1);
    // An environment the store does not have is a mistake, not a healthy
    // (empty) report.
    let run = guard(s.root(), &["--env", "production"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no environment 'production' in store")
            && run.stderr.contains("(it has: dev, prod)"),
        "{}",
        run.stderr
    );
}

#[test]
fn it_cannot_run_without_a_store_or_with_bad_values() {
    let s = Store::new();
    let gone = s.root().join("nope");
    let run = guard(&gone, &[]);
    assert_eq!(run.code, 2);
    // A read-only tool says so, and does not create it.
    assert!(
        run.stderr
            .contains(&format!("store '{}' does not exist", gone.display())),
        "{}",
        run.stderr
    );
    assert!(!gone.exists());
    // Only the failure record a failing tool prints for a pipe.
    assert!(
        run.stdout.starts_with("{\"schema\":\"lfb/1\",\"error\":"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1);
    for args in [
        &["--max-age", "hourly"][..],
        &["--max-age", "hourly=soon"][..],
        &["--max-age", "Hourly=2h"][..],
        &["--min-size", "ten"][..],
        &["--skip", "nonsense"][..],
        &["--sample", "x"][..],
        &["--now", "yesterday"][..],
        &["--bogus"][..],
    ] {
        let run = guard(s.root(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stdout.contains("\"error\":"),
            "{args:?}: {}",
            run.stdout
        );
        assert_eq!(run.stdout.lines().count(), 1, "{args:?}");
    }
}

#[test]
fn nagios_codes_and_status_lines() {
    let s = Store::healthy();
    let run = guard(s.root(), &["--nagios"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let first = run.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("LFB OK - 2 groups fresh, 17 artifacts"),
        "{first}"
    );
    assert!(first.contains(" | groups=2;;;0 artifacts=17;;;0 warnings=0;0;;0 criticals=0;;0;0 max_age=36000s;;;0 free="), "{first}");
    assert_eq!(run.stdout.lines().count(), 1);

    // A warning.
    let p = s.newest("daily");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = guard(s.root(), &["--nagios"]);
    assert_eq!(run.code, 1);
    let mut lines = run.stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("LFB WARNING - 1 warning: prod/ledgerflow/db/daily permissions: ")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("WARN permissions prod/ledgerflow/db/daily: ")
    );

    // A critical finding.
    let run = guard(s.root(), &["--nagios", "--expect", "weekly"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.starts_with(
            "LFB CRITICAL - 1 critical, 1 warning: */*/*/weekly missing: no weekly backups"
        ),
        "{}",
        run.stdout
    );

    // It could not run: UNKNOWN.
    let run = guard(&s.root().join("nope"), &["--nagios"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stdout.starts_with("LFB UNKNOWN - store '"),
        "{}",
        run.stdout
    );
    let run = guard(s.root(), &["--nagios", "--max-age", "hourly=soon"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stdout.starts_with("LFB UNKNOWN - invalid duration"),
        "{}",
        run.stdout
    );
}

/// Parses the metrics with the real Prometheus parser (prometheus_client),
/// returning `family sample{labels} value` lines. `None` when the module
/// is missing and the test may skip.
fn parse_prometheus(path: &Path) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let reason = "python3 module prometheus_client is missing (python3 -m pip install prometheus-client)";
        if std::env::var_os("LFB_REQUIRE_DB").is_some_and(|v| v == "1") {
            panic!("{reason} (LFB_REQUIRE_DB=1, so this test fails instead of skipping)");
        }
        eprintln!("SKIPPED prometheus parse check: {reason}");
        return None;
    }
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))
        print(fam.name, fam.type, s.name + '{' + labels + '}', float(s.value))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prometheus_client cannot parse {}:\n{}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn prometheus_metrics_parse_and_replace_the_old_file_atomically() {
    let s = Store::healthy();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("lfb.prom");
    std::fs::write(&prom, "old metrics that must go\n").unwrap();
    let run = guard(s.root(), &["-q", "--prometheus", prom.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(!text.contains("old metrics"));
    // Nothing else is left beside it (no *.partial).
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["lfb.prom".to_string()]);
    // node_exporter runs as another user.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&prom).unwrap().mode() & 0o777, 0o644);
    for h in [
        "# HELP lfb_last_success_timestamp_seconds ",
        "# TYPE lfb_last_success_timestamp_seconds gauge",
        "# TYPE lfb_guard_status gauge",
    ] {
        assert!(text.contains(h), "{h}\n{text}");
    }
    let Some(parsed) = parse_prometheus(&prom) else {
        return;
    };
    let root = s.root().display().to_string();
    let hourly = format!("env=prod,kind=db,name=ledgerflow,store={root},tag=hourly");
    let newest = (now() - Duration::minutes(30)).timestamp() as f64;
    for want in [
        format!(
            "lfb_last_success_timestamp_seconds gauge lfb_last_success_timestamp_seconds{{{hourly}}} {newest:?}"
        ),
        format!("lfb_last_age_seconds gauge lfb_last_age_seconds{{{hourly}}} 1800.0"),
        format!("lfb_artifacts gauge lfb_artifacts{{{hourly}}} 12.0"),
        format!("lfb_ok gauge lfb_ok{{{hourly}}} 1.0"),
        format!("lfb_guard_status gauge lfb_guard_status{{store={root}}} 0.0"),
    ] {
        assert!(parsed.lines().any(|l| l == want), "{want}\nin\n{parsed}");
    }
    assert!(parsed.contains("lfb_last_size_bytes gauge lfb_last_size_bytes{"));

    // A critical store: the status and the group say so.
    std::fs::remove_file(s.newest("hourly")).unwrap();
    std::fs::remove_file(s.newest("hourly")).unwrap();
    let run = guard(
        s.root(),
        &[
            "-q",
            "--prometheus",
            prom.to_str().unwrap(),
            "--max-age",
            "hourly=1h",
        ],
    );
    assert_eq!(run.code, 1);
    let parsed = parse_prometheus(&prom).unwrap();
    assert!(
        parsed.contains(&format!("lfb_guard_status{{store={root}}} 2.0")),
        "{parsed}"
    );
    assert!(
        parsed.contains(&format!("lfb_ok{{{hourly}}} 0.0")),
        "{parsed}"
    );
}

#[test]
fn on_failure_gets_the_summary_on_stdin() {
    let s = Store::healthy();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alert.json");
    let cmd = format!(
        "cat > '{}'; echo \"$LFB_GUARD_STATUS\" >> '{}'",
        out.display(),
        out.display()
    );
    // Healthy: not run.
    let run = guard(s.root(), &["--on-failure", &cmd]);
    assert_eq!(run.code, 0);
    assert!(!out.exists());
    // Unhealthy: run with the summary on stdin.
    let run = guard(s.root(), &["--on-failure", &cmd, "--expect", "weekly"]);
    assert_eq!(run.code, 1);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let summary: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(summary, run.lines().last().unwrap().clone());
    assert_eq!(summary["summary"]["status"], "crit");
    assert_eq!(summary["summary"]["problems"][0]["check"], "missing");
    assert_eq!(lines.next(), Some("crit"));

    // A failing command is reported, and the verdict stands.
    let run = guard(s.root(), &["--on-failure", "exit 7", "--expect", "weekly"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--on-failure command failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn legacy_files_without_sidecars_are_checked_by_content() {
    let s = Store::healthy();
    let dev = s.folder("dev");
    // backup_dev_db.sh's name (local time); no sidecar, no checksum.
    let p = dev.join("ledgerflow_backup_20261127_113000.sql.gz");
    write_private(&p, &gzip(&dump_text(600, 7)));
    let run = guard(s.root(), &["--skip", "freshness"]);
    expect(&run, &[], 0);
    let ok = run
        .findings()
        .into_iter()
        .find(|f| f["check"] == "integrity" && f["group"]["env"] == "dev")
        .unwrap();
    assert_eq!(ok["severity"], "ok");
    // The same file cut short is caught without a record.
    let bytes = std::fs::read(&p).unwrap();
    write_private(&p, &bytes[..bytes.len() - 200]);
    let run = guard(s.root(), &["--skip", "freshness"]);
    expect(&run, &[("integrity", "crit")], 1);
}

/// Builds a store of 10,000 artifacts with sidecars and runs the guard on
/// it once, printing the time. Not a timing assertion (machines differ):
/// `cargo test --release -p lfb-guard --test store -- --ignored --nocapture`.
#[test]
#[ignore]
fn ten_thousand_artifacts() {
    let s = Store::new();
    let envs = ["prod", "test", "dev", "staging"];
    let tags = ["hourly", "daily"];
    let per_group = 10_000 / (envs.len() * tags.len() * 5);
    let template = gzip(&dump_text(300, 1));
    let sha = sha256(&template);
    let t = std::time::Instant::now();
    for env in envs {
        let dir = s.folder(env);
        for tag in tags {
            for name in 0..5 {
                for i in 0..per_group {
                    let step = if tag == "hourly" { 3600 } else { 86_400 };
                    let created = now() - Duration::seconds(600 + step * i as i64);
                    let id = format!("app{name}_db_{tag}_{}", created.format("%Y%m%dT%H%M%SZ"));
                    let path = dir.join(format!("{id}.sql.gz"));
                    write_private(&path, &template);
                    let rec = Record::new(
                        &id,
                        Kind::Db,
                        env,
                        tag,
                        &path,
                        created,
                        template.len() as u64,
                        &sha,
                        "sql+gzip",
                    );
                    write_private(
                        &lfb_core::store::sidecar_path(&path),
                        rec.to_line().as_bytes(),
                    );
                }
            }
        }
    }
    eprintln!("built 10,000 artifacts in {:?}", t.elapsed());
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let run = guard(s.root(), &["-v", "--skip", "freshness"]);
        eprintln!(
            "lfb-guard: exit {} in {:?}; {}",
            run.code,
            t.elapsed(),
            run.stderr
                .lines()
                .filter(|l| l.contains(" in "))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        assert_eq!(run.summary()["artifacts"], 10_000);
    }
}
