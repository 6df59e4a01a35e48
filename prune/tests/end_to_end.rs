//! lfb-prune end to end: the real binary on stores made of real files and
//! sidecars, the way lfb-dump and the original scripts leave them, with
//! mtimes scrambled the way sync clients scramble them.
//!
//! Every run passes `--now`, and `TZ` is set in the child's environment, so
//! ages and local-time names do not depend on when or where tests run.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use lfb_core::Record;
use lfb_core::chrono::{DateTime, Utc};
use lfb_core::naming::ArtifactName;
use lfb_core::store::sidecar_path;
use serde_json::{Value, json};

const NOW: &str = "2026-11-27T12:00:00Z";

fn prune(store: &Path) -> Command {
    prune_at(store, NOW)
}

/// Feeds records on stdin (a pipe). Without it the std `Command` runs with
/// stdin `/dev/null`: whole-store pruning.
trait WriteStdin {
    fn write_stdin(&mut self, input: impl Into<Vec<u8>>) -> Piped<'_>;
}

struct Piped<'a>(&'a mut Command, Vec<u8>);

impl WriteStdin for Command {
    fn write_stdin(&mut self, input: impl Into<Vec<u8>>) -> Piped<'_> {
        Piped(self, input.into())
    }
}

impl Piped<'_> {
    fn output(self) -> std::io::Result<std::process::Output> {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .0
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let input = self.1;
        let t = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output();
        let _ = t.join();
        out
    }
}

fn prune_at(store: &Path, now: &str) -> Command {
    let mut c = Command::cargo_bin("lfb-prune").unwrap();
    c.env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_STORE")
        .env_remove("LFB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-lfb-test")
        .env("TZ", "UTC")
        .arg("--store")
        .arg(store)
        .arg("--now")
        .arg(now);
    c
}

/// Writes an artifact file (its content is its name, padded to `bytes`).
fn artifact(dir: &Path, file: &str) -> PathBuf {
    artifact_sized(dir, file, 0)
}

fn artifact_sized(dir: &Path, file: &str, bytes: usize) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let p = dir.join(file);
    let mut content = file.as_bytes().to_vec();
    content.resize(content.len().max(bytes), b'.');
    fs::write(&p, content).unwrap();
    p
}

/// Writes the sidecar lfb-dump would have written, optionally with the
/// verify section lfb-verify adds.
fn sidecar(path: &Path, verify_ok: Option<bool>) -> Record {
    let file = path.file_name().unwrap().to_str().unwrap();
    let name = ArtifactName::parse(file).unwrap();
    let env = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let mut r = Record::new(
        &name.id(),
        name.kind,
        env,
        &name.tag,
        path,
        name.time,
        fs::metadata(path).unwrap().len(),
        "0123abcd",
        name.format(),
    );
    if let Some(ok) = verify_ok {
        r.set(
            "verify",
            json!({"at": "2026-11-27T00:00:00Z", "ok": ok, "checks": [{"name": "checksum", "ok": ok}]}),
        );
    }
    fs::write(sidecar_path(path), format!("{}\n", r.to_line())).unwrap();
    r
}

/// What a sync client does: every file looks modified just now.
fn touch_now(path: &Path) {
    set_mtime(path, SystemTime::now());
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn records(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout is NDJSON"))
        .collect()
}

/// `id -> (action, reasons)` for every printed record.
fn plan_of(records: &[Value]) -> Vec<(String, String, Vec<String>)> {
    records
        .iter()
        .map(|r| {
            let p = &r["prune"];
            (
                r["id"].as_str().unwrap_or("").to_string(),
                p["action"].as_str().unwrap().to_string(),
                p["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn reasons_of(records: &[Value], id: &str) -> (String, Vec<String>) {
    let (_, a, r) = plan_of(records)
        .into_iter()
        .find(|(i, _, _)| i == id)
        .unwrap_or_else(|| panic!("no record for {id}"));
    (a, r)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A dev folder with two expired artifacts (one with a sidecar), two recent
/// ones, and foreign files; every mtime says the opposite of the truth.
fn mixed_store() -> tempfile::TempDir {
    let store = tempfile::tempdir().unwrap();
    let dev = store.path().join("dev");
    let old = artifact(&dev, "app_db_hourly_20261101T000000Z.sql.gz");
    sidecar(&old, Some(true));
    let old2 = artifact(&dev, "app_db_hourly_20261110T000000Z.sql.gz");
    let recent = artifact(&dev, "app_db_hourly_20261125T000000Z.sql.gz");
    let newest = artifact(&dev, "app_db_hourly_20261126T000000Z.sql.gz");
    sidecar(&newest, Some(true));
    let notes = artifact(&dev, "notes.txt");
    let random = artifact(&dev, "random.sql.gz");
    for p in [&old, &old2, &sidecar_path(&old)] {
        touch_now(p);
    }
    let long_ago = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for p in [&recent, &newest, &notes, &random] {
        set_mtime(p, long_ago);
    }
    store
}

#[test]
fn ages_come_from_names_and_records_not_mtimes() {
    let store = mixed_store();
    let dev = store.path().join("dev");
    let out = prune(store.path())
        .args(["--keep-within", "7d"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out.stdout);
    assert_eq!(
        plan_of(&recs),
        [
            (
                "app_db_hourly_20261101T000000Z".into(),
                "delete".into(),
                strs(&["expired"])
            ),
            (
                "app_db_hourly_20261110T000000Z".into(),
                "delete".into(),
                strs(&["expired"])
            ),
            (
                "app_db_hourly_20261125T000000Z".into(),
                "keep".into(),
                strs(&["keep-within"])
            ),
            (
                "app_db_hourly_20261126T000000Z".into(),
                "keep".into(),
                strs(&["keep-within", "newest-verified", "min-keep"])
            ),
        ]
    );
    // Sidecar records pass through with their fields; derived ones say so.
    assert_eq!(recs[0]["sha256"], "0123abcd");
    assert_eq!(recs[1]["derived"], true);
    assert_eq!(recs[0]["prune"]["dry_run"], false);
    assert_eq!(recs[0]["prune"]["group"], "dev/app/db/hourly");
    // Deleted with their sidecars; foreign files untouched.
    assert_eq!(
        files(&dev),
        [
            "app_db_hourly_20261125T000000Z.sql.gz",
            "app_db_hourly_20261126T000000Z.sql.gz",
            "app_db_hourly_20261126T000000Z.sql.gz.json",
            "notes.txt",
            "random.sql.gz",
        ]
    );
    // One journal event per deletion, then a summary.
    let journal = fs::read_to_string(store.path().join("logs/journal.ndjson")).unwrap();
    let events: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "delete", "prune"]);
    assert_eq!(events[0]["id"], "app_db_hourly_20261101T000000Z");
    assert_eq!(events[0]["tool"], "lfb-prune");
    assert!(events.iter().all(|e| e["ok"] == true));

    // A second run has nothing left to do.
    let out = prune(store.path())
        .args(["--keep-within", "7d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        plan_of(&records(&out.stdout))
            .iter()
            .all(|(_, a, _)| a == "keep")
    );
}

#[test]
fn a_failed_record_on_stdin_deletes_nothing_and_exits_1() {
    let store = mixed_store();
    let dev = store.path().join("dev");
    let before = files(&dev);
    // What `lfb-dump | lfb-verify` prints when the new backup is bad.
    let good = fs::read_to_string(sidecar_path(
        &dev.join("app_db_hourly_20261126T000000Z.sql.gz"),
    ))
    .unwrap();
    let mut bad = Record::from_json(good.trim()).unwrap();
    bad.set("id", json!("app_db_hourly_20261127T110000Z"));
    bad.set(
        "path",
        json!(dev.join("app_db_hourly_20261127T110000Z.sql.gz")),
    );
    bad.set(
        "verify",
        json!({"ok": false, "checks": [{"name": "gzip", "ok": false}]}),
    );
    let stdin = format!("{}{}\n", good, bad.to_line());
    let out = prune(store.path())
        .args(["--keep-within", "7d"])
        .write_stdin(stdin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("app_db_hourly_20261127T110000Z"), "{err}");
    assert!(err.contains("nothing was deleted"), "{err}");
    assert_eq!(files(&dev), before);

    let recs = records(&out.stdout);
    // The input first, in order, annotated; then the other artifacts.
    assert_eq!(recs[0]["id"], "app_db_hourly_20261126T000000Z");
    assert_eq!(recs[1]["id"], "app_db_hourly_20261127T110000Z");
    assert_eq!(recs[1]["verify"]["ok"], false);
    assert_eq!(recs[1]["prune"]["action"], "none");
    assert_eq!(recs.len(), 5, "each artifact once");
    let (action, reasons) = reasons_of(&recs, "app_db_hourly_20261101T000000Z");
    assert_eq!(
        (action.as_str(), reasons),
        ("keep", strs(&["input-failed"]))
    );
    let planned = &recs
        .iter()
        .find(|r| r["id"] == "app_db_hourly_20261110T000000Z")
        .unwrap()["prune"]["planned"];
    assert_eq!(
        planned,
        &json!({"action": "delete", "reasons": ["expired"]})
    );
    assert!(plan_of(&recs).iter().all(|(_, a, _)| a != "delete"));

    // A failed dump (no artifact at all) stops it the same way.
    let failure = Record::failure(
        lfb_core::Kind::Db,
        "dev",
        "hourly",
        "pg_dump exited with status 1",
    );
    let out = prune(store.path())
        .args(["--keep-within", "7d"])
        .write_stdin(failure.to_line())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump exited with status 1"));
    assert_eq!(files(&dev), before);
}

#[test]
fn garbage_on_stdin_exits_2_naming_the_line() {
    let store = mixed_store();
    let dev = store.path().join("dev");
    let before = files(&dev);
    let good = fs::read_to_string(sidecar_path(
        &dev.join("app_db_hourly_20261126T000000Z.sql.gz"),
    ))
    .unwrap();
    let out = prune(store.path())
        .args(["--keep-within", "7d"])
        .write_stdin(format!("{good}\nthis is not a record\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    // Only the failure record (DESIGN: a failing tool prints one).
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 1);
    assert!(
        recs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 3")
    );
    assert_eq!(files(&dev), before);
}

#[test]
fn dry_run_prints_the_plan_and_deletes_nothing() {
    let store = mixed_store();
    let dev = store.path().join("dev");
    let before = files(&dev);
    let out = prune(store.path())
        .args(["--keep-within", "7d", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = records(&out.stdout);
    assert_eq!(
        reasons_of(&recs, "app_db_hourly_20261101T000000Z").0,
        "delete"
    );
    assert!(recs.iter().all(|r| r["prune"]["dry_run"] == true));
    assert_eq!(files(&dev), before);
    assert!(
        !store.path().join("logs").exists(),
        "a dry run writes no journal"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("would delete 2 of 4"));
}

#[test]
fn no_policy_exits_2_and_deletes_nothing() {
    let store = mixed_store();
    let dev = store.path().join("dev");
    let before = files(&dev);
    for args in [vec![], vec!["--min-keep", "3"], vec!["--tag", "hourly"]] {
        let out = prune(store.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no retention policy given: "), "{err}");
        let recs = records(&out.stdout);
        assert_eq!(recs.len(), 1, "{args:?}");
        assert_eq!(recs[0]["error"]["exit_code"], 2);
    }
    for args in [
        vec!["--keep-last", "0"],
        vec!["--keep-within", "0d"],
        vec!["--keep-within", "soon"],
        vec!["--keep-last", "1", "--group-by", "env,size"],
        vec!["--keep-last", "1", "--now", "yesterday"],
        vec!["--keep-last", "1", "--tag", "Hourly"],
        vec!["--keep-last", "1", "--all-envs", "--env", "dev"],
    ] {
        let out = prune(store.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(files(&dev), before);
    let out = prune(&store.path().join("nope"))
        .args(["--keep-last", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!store.path().join("nope").exists());
}

#[test]
fn the_newest_verified_survives_and_stdin_verification_counts() {
    let store = tempfile::tempdir().unwrap();
    let prod = store.path().join("prod");
    let v1 = artifact(&prod, "ledgerflow_db_hourly_20261101T000000Z.sql.gz");
    sidecar(&v1, Some(true));
    let n2 = artifact(&prod, "ledgerflow_db_hourly_20261120T000000Z.sql.gz");
    sidecar(&n2, Some(false));
    let n3 = artifact(&prod, "ledgerflow_db_hourly_20261126T000000Z.sql.gz");
    let n3_record = sidecar(&n3, None);
    let args = ["--env", "prod", "--keep-within", "3d", "--min-keep", "0"];

    let out = prune(store.path())
        .args(args)
        .arg("--dry-run")
        .output()
        .unwrap();
    let recs = records(&out.stdout);
    assert_eq!(
        reasons_of(&recs, "ledgerflow_db_hourly_20261101T000000Z"),
        ("keep".into(), strs(&["newest-verified"]))
    );
    assert_eq!(
        reasons_of(&recs, "ledgerflow_db_hourly_20261120T000000Z").0,
        "delete"
    );
    assert_eq!(
        reasons_of(&recs, "ledgerflow_db_hourly_20261126T000000Z"),
        ("keep".into(), strs(&["keep-within"]))
    );

    // lfb-verify just checked n3 upstream: its record on stdin says so, and
    // n3 becomes the newest verified artifact; v1 is no longer needed.
    let mut verified = n3_record.clone();
    verified.set("verify", json!({"ok": true, "checks": []}));
    let out = prune(store.path())
        .args(args)
        .write_stdin(verified.to_line())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 3, "the input record stands for its artifact");
    assert_eq!(recs[0]["id"], "ledgerflow_db_hourly_20261126T000000Z");
    assert_eq!(recs[0]["verify"]["ok"], true);
    assert_eq!(
        recs[0]["prune"]["reasons"],
        json!(["keep-within", "newest-verified"])
    );
    assert_eq!(
        files(&prod),
        [
            "ledgerflow_db_hourly_20261126T000000Z.sql.gz",
            "ledgerflow_db_hourly_20261126T000000Z.sql.gz.json"
        ]
    );
}

#[test]
fn legacy_names_are_pruned_by_their_local_time() {
    // TZ=XST-5 is UTC+5 (POSIX counts west-positive). With --now
    // 2026-11-27T00:00Z and --keep-within 7d the cutoff is
    // 2026-11-20T00:00Z = 05:00 local on the 20th.
    let make = || {
        let store = tempfile::tempdir().unwrap();
        let dev = store.path().join("dev");
        for f in [
            "ledgerflow_backup_20261120_030000.sql.gz", // 19th 22:00Z
            "ledgerflow_backup_20261120_060000.sql.gz", // 20th 01:00Z
            "ledgerflow_backup_20261126_120000.sql.gz", // newest
            "ledgerflow_full_backup_20261113_120000.tar.gz", // old
            "ledgerflow_full_backup_20261126_120000.tar.gz",
            "pre_test_20261101_000000.dump",
            "pre_test_20261126_000000.dump",
        ] {
            touch_now(&artifact(&dev, f));
        }
        let migrations = store.path().join("migrations");
        touch_now(&artifact(&migrations, "pre_migration_20261001_000000.dump"));
        touch_now(&artifact(&migrations, "pre_migration_20261125_000000.dump"));
        store
    };
    let run = |store: &Path, tz: &str| {
        let out = prune_at(store, "2026-11-27T00:00:00Z")
            .env("TZ", tz)
            .args(["--all-envs", "--keep-within", "7d"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        records(&out.stdout)
    };

    let store = make();
    let recs = run(store.path(), "XST-5");
    assert_eq!(
        reasons_of(&recs, "ledgerflow_backup_20261120_030000"),
        ("delete".into(), strs(&["expired"]))
    );
    let r = recs
        .iter()
        .find(|r| r["id"] == "ledgerflow_backup_20261120_030000")
        .unwrap();
    assert_eq!(r["created_at"], "2026-11-19T22:00:00Z");
    assert_eq!(r["derived"], true);
    assert_eq!(
        reasons_of(&recs, "ledgerflow_backup_20261120_060000").0,
        "keep"
    );
    assert_eq!(
        reasons_of(&recs, "ledgerflow_full_backup_20261113_120000").0,
        "delete"
    );
    assert_eq!(reasons_of(&recs, "pre_test_20261101_000000").0, "delete");
    assert_eq!(
        reasons_of(&recs, "pre_migration_20261001_000000").0,
        "delete"
    );
    assert_eq!(reasons_of(&recs, "pre_migration_20261125_000000").0, "keep");
    assert_eq!(
        files(&store.path().join("dev")),
        [
            "ledgerflow_backup_20261120_060000.sql.gz",
            "ledgerflow_backup_20261126_120000.sql.gz",
            "ledgerflow_full_backup_20261126_120000.tar.gz",
            "pre_test_20261126_000000.dump",
        ]
    );
    assert_eq!(
        files(&store.path().join("migrations")),
        ["pre_migration_20261125_000000.dump"]
    );

    // The same names read as UTC would have kept 03:00 on the 20th.
    let utc = make();
    let recs = run(utc.path(), "UTC");
    assert_eq!(
        reasons_of(&recs, "ledgerflow_backup_20261120_030000").0,
        "keep"
    );
}

#[test]
fn legacy_days_are_the_local_days_their_names_were_written_in() {
    // UTC+5: 23:00 on the 19th, 00:00 and 23:00 on the 20th (local) are
    // 18:00, 19:00 on the 19th and 18:00 on the 20th (UTC). Local days keep
    // the 19th's 23:00; UTC days would keep the 20th's 00:00 instead.
    let store = tempfile::tempdir().unwrap();
    let dev = store.path().join("dev");
    for f in [
        "ledgerflow_backup_20261119_230000.sql.gz",
        "ledgerflow_backup_20261120_000000.sql.gz",
        "ledgerflow_backup_20261120_230000.sql.gz",
    ] {
        artifact(&dev, f);
    }
    let out = prune(store.path())
        .env("TZ", "XST-5")
        .args(["--keep-daily", "2", "--dry-run"])
        .output()
        .unwrap();
    let recs = records(&out.stdout);
    let actions: Vec<String> = plan_of(&recs).into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(actions, ["keep", "delete", "keep"]);
}

#[test]
fn hourly_daily_weekly_keeps_exactly_the_hand_derived_set() {
    // Hourly dumps from Thu 2026-11-19 12:00Z to Sun 2026-11-29 11:00Z: 240
    // of them, ten days. ISO weeks: Mon 16 – Sun 22 (W47), Mon 23 – Sun 29
    // (W48).
    let store = tempfile::tempdir().unwrap();
    let prod = store.path().join("prod");
    let start = DateTime::parse_from_rfc3339("2026-11-19T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for h in 0..240 {
        let t = start + lfb_core::chrono::Duration::hours(h);
        artifact(
            &prod,
            &format!("app_db_hourly_{}.sql.gz", t.format("%Y%m%dT%H%M%SZ")),
        );
    }
    let out = prune_at(store.path(), "2026-11-29T11:30:00Z")
        .args(["--env", "prod"])
        .args([
            "--keep-hourly",
            "24",
            "--keep-daily",
            "7",
            "--keep-weekly",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 240);

    // By hand:
    // - keep-hourly 24: the 24 newest hours, 28th 12:00 … 29th 11:00;
    // - keep-daily 7: the newest of the 29th (11:00), and 23:00 of the 28th,
    //   27th, 26th, 25th, 24th, 23rd;
    // - keep-weekly 4: only two weeks have dumps: W48's newest (29th 11:00)
    //   and W47's newest (Sun 22nd 23:00);
    // - invariants: the newest (29th 11:00), unverified group, min-keep 1.
    let mut want: Vec<(String, Vec<&str>)> = Vec::new();
    for day in [23, 24, 25, 26, 27] {
        want.push((format!("202611{day}T230000Z"), vec!["keep-daily"]));
    }
    want.insert(0, ("20261122T230000Z".into(), vec!["keep-weekly"]));
    for h in 12..24 {
        let r = if h == 23 {
            vec!["keep-hourly", "keep-daily"]
        } else {
            vec!["keep-hourly"]
        };
        want.push((format!("20261128T{h:02}0000Z"), r));
    }
    for h in 0..11 {
        want.push((format!("20261129T{h:02}0000Z"), vec!["keep-hourly"]));
    }
    want.push((
        "20261129T110000Z".into(),
        vec![
            "keep-hourly",
            "keep-daily",
            "keep-weekly",
            "newest-unverified",
            "min-keep",
        ],
    ));
    assert_eq!(want.len(), 30);

    let got: Vec<(String, Vec<String>)> = plan_of(&recs)
        .into_iter()
        .filter(|(_, a, _)| a == "keep")
        .map(|(id, _, r)| (id.trim_start_matches("app_db_hourly_").to_string(), r))
        .collect();
    let want: Vec<(String, Vec<String>)> = want.into_iter().map(|(id, r)| (id, strs(&r))).collect();
    assert_eq!(got, want);
    assert_eq!(files(&prod).len(), 30);
}

#[test]
fn only_the_scope_is_considered() {
    let store = tempfile::tempdir().unwrap();
    let dev = store.path().join("dev");
    let prod = store.path().join("prod");
    for dir in [&dev, &prod] {
        for f in [
            "app_db_hourly_20261101T000000Z.sql.gz",
            "app_db_hourly_20261126T000000Z.sql.gz",
            "app_db_daily_20261101T000000Z.sql.gz",
            "app_db_daily_20261126T000000Z.sql.gz",
        ] {
            artifact(dir, f);
        }
    }
    let out = prune(store.path())
        .args(["--env", "prod", "--tag", "daily", "--keep-last", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 2, "out of scope: not printed");
    assert!(
        recs.iter()
            .all(|r| r["env"] == "prod" && r["tag"] == "daily")
    );
    assert_eq!(files(&dev).len(), 4);
    assert_eq!(files(&prod).len(), 3);
    assert!(!prod.join("app_db_daily_20261101T000000Z.sql.gz").exists());

    // LFB_ENV picks the environment when --env is not given.
    let out = prune(store.path())
        .env("LFB_ENV", "dev")
        .args(["--keep-last", "1", "--dry-run"])
        .output()
        .unwrap();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r["env"] == "dev"));

    // One group per environment with --group-by env.
    let out = prune(store.path())
        .args([
            "--all-envs",
            "--group-by",
            "env",
            "--keep-last",
            "1",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let recs = records(&out.stdout);
    let kept: Vec<&str> = recs
        .iter()
        .filter(|r| r["prune"]["action"] == "keep")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(recs[0]["prune"]["group"], "dev/*/*/*");
}

#[test]
fn the_size_budget_deletes_the_oldest_first() {
    let store = tempfile::tempdir().unwrap();
    let dev = store.path().join("dev");
    for d in 20..25 {
        artifact_sized(&dev, &format!("app_db_daily_202611{d}T000000Z.sql.gz"), 100);
    }
    let out = prune(store.path())
        .args(["--max-total-size", "250B"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = records(&out.stdout);
    let actions: Vec<(String, Vec<String>)> =
        plan_of(&recs).into_iter().map(|(_, a, r)| (a, r)).collect();
    let del = ("delete".to_string(), strs(&["max-total-size"]));
    let keep = ("keep".to_string(), strs(&["max-total-size"]));
    assert_eq!(actions[..4], [del.clone(), del.clone(), del, keep]);
    assert_eq!(
        actions[4].1,
        ["max-total-size", "newest-unverified", "min-keep"]
    );
    assert_eq!(files(&dev).len(), 2);

    // Protected artifacts stay even beyond the budget, with a warning.
    let out = prune(store.path())
        .args(["--max-total-size", "10B"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(files(&dev), ["app_db_daily_20261124T000000Z.sql.gz"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than --max-total-size"));
}

#[test]
fn housekeeping_removes_stale_partials_and_rotates_the_journal() {
    let store = tempfile::tempdir().unwrap();
    let dev = store.path().join("dev");
    artifact(&dev, "app_db_hourly_20261126T000000Z.sql.gz");
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    let stale = artifact(&dev, "app_db_hourly_20261125T000000Z.sql.gz.partial");
    let stale_sidecar = artifact(&dev, "app_db_hourly_20261124T000000Z.sql.gz.json.partial");
    let foreign = artifact(&dev, "notes.txt.partial");
    let other_env = artifact(
        &store.path().join("prod"),
        "app_db_hourly_20261125T000000Z.sql.gz.partial",
    );
    for p in [&stale, &stale_sidecar, &foreign, &other_env] {
        set_mtime(p, two_days_ago);
    }
    // A dump still writing: its name is old, its mtime is fresh.
    let running = artifact(&dev, "app_db_hourly_20261120T000000Z.sql.gz.partial");

    let logs = store.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("journal.ndjson"), "{}\n".repeat(1000)).unwrap();
    fs::write(logs.join("journal-20250101T000000Z.ndjson"), "{}\n").unwrap();
    fs::write(logs.join("journal-20261120T000000Z.ndjson"), "{}\n").unwrap();
    fs::write(logs.join("notes.ndjson"), "{}\n").unwrap();

    // A dry run says what it would do and does none of it.
    let args = [
        "--keep-last",
        "5",
        "--rotate-logs-at",
        "1KiB",
        "--keep-logs",
        "30d",
    ];
    let out = prune(store.path())
        .args(args)
        .arg("--dry-run")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("would rotate the journal"), "{err}");
    assert!(
        err.contains("would remove") && err.contains("journal-20250101T000000Z"),
        "{err}"
    );
    assert!(stale.exists());

    let out = prune(store.path()).args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stale.exists() && !stale_sidecar.exists());
    assert!(foreign.exists(), "not ours: untouched");
    assert!(other_env.exists(), "out of scope: untouched");
    assert!(running.exists(), "still being written");
    assert_eq!(
        files(&logs),
        [
            "journal-20261120T000000Z.ndjson",
            "journal-20261127T120000Z.ndjson",
            "journal.ndjson",
            "notes.ndjson"
        ]
    );
    assert_eq!(
        fs::read_to_string(logs.join("journal-20261127T120000Z.ndjson"))
            .unwrap()
            .len(),
        3000
    );
    // The new journal starts with this run's summary.
    let journal = fs::read_to_string(logs.join("journal.ndjson")).unwrap();
    assert_eq!(journal.lines().count(), 1);
    assert!(journal.contains("\"action\":\"prune\""));
}

#[test]
fn a_malformed_sidecar_stops_the_run_before_anything_is_deleted() {
    let store = mixed_store();
    let dev = store.path().join("dev");
    let broken = artifact(&dev, "app_db_hourly_20261105T000000Z.sql.gz");
    fs::write(
        sidecar_path(&broken),
        "{\"schema\":\"lfb/1\",\"bytes\":\"many\"}",
    )
    .unwrap();
    let before = files(&dev);
    let out = prune(store.path())
        .args(["--keep-within", "7d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app_db_hourly_20261105T000000Z.sql.gz.json"),
        "{err}"
    );
    assert_eq!(files(&dev), before);
}

#[test]
fn records_printed_from_the_spill_are_those_read_again_without_one() {
    // Record lines are kept in a temporary file while the store is read
    // (one read of each sidecar); with no usable TMPDIR they are read again
    // from the sidecars. Both print the same, also for a store that moved
    // (the sidecars name the old path) and a deletion run.
    let store = mixed_store();
    let dev = store.path().join("dev");
    for h in 0..300 {
        let p = artifact(
            &dev,
            &format!(
                "web_db_hourly_202611{:02}T{:02}0000Z.sql.gz",
                1 + h / 24,
                h % 24
            ),
        );
        let ok = (h % 7 != 3).then_some(h % 11 != 5);
        sidecar(&p, ok);
    }
    let moved = tempfile::tempdir().unwrap();
    let root = moved.path().join("store");
    fs::rename(store.path(), &root).unwrap();
    let run = |tmpdir: &str, dry: bool| {
        let mut c = prune(&root);
        c.env("TMPDIR", tmpdir)
            .args(["--keep-within", "7d", "--keep-daily", "3"]);
        if dry {
            c.arg("--dry-run");
        }
        let out = c.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let spilled = run(&std::env::temp_dir().to_string_lossy(), true);
    let again = run("/nonexistent-lfb-tmp", true);
    assert_eq!(
        String::from_utf8_lossy(&spilled),
        String::from_utf8_lossy(&again)
    );
    let recs = records(&spilled);
    assert_eq!(recs.len(), 304);
    for r in &recs {
        let p = r["path"].as_str().unwrap();
        assert!(p.starts_with(&root.to_string_lossy().into_owned()), "{p}");
    }
    // Carried out: the same records, each read before its artifact went.
    let deleted = run(&std::env::temp_dir().to_string_lossy(), false);
    let mut expect = records(&again);
    for r in expect.iter_mut() {
        r["prune"]["dry_run"] = json!(false);
    }
    assert_eq!(records(&deleted), expect);
}
