//! lfb-list: the inventory of a store built file by file (artifacts with
//! and without sidecars, verified, failed and never verified, several
//! environments, names and tags, migrations/), listed as a table and as
//! records, with every filter, and the errors that name what is wrong.

use assert_cmd::Command;
use clap::CommandFactory;
use lfb_core::chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::path::Path;

fn list(store: &Path) -> Command {
    let mut c = Command::cargo_bin("lfb-list").unwrap();
    c.env_remove("LFB_STORE")
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .arg("--store")
        .arg(store);
    c
}

/// Writes an artifact (a few bytes) and, when `sidecar` is given, its
/// sidecar with `path`, `id` and `bytes` filled in.
fn artifact(store: &Path, folder: &str, file: &str, sidecar: Option<Value>) {
    let dir = store.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, b"0123456789").unwrap();
    if let Some(mut s) = sidecar {
        s["path"] = json!(path.to_string_lossy());
        s["bytes"] = json!(10);
        std::fs::write(dir.join(format!("{file}.json")), s.to_string()).unwrap();
    }
}

fn stamp(hours_ago: i64) -> (String, String) {
    let t = Utc::now() - Duration::hours(hours_ago);
    (
        t.format("%Y%m%dT%H%M%SZ").to_string(),
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn record(env: &str, tag: &str, created: &str, verify: Option<bool>) -> Value {
    let mut r = json!({"schema":"lfb/1","kind":"db","env":env,"tag":tag,
        "created_at":created,"format":"sql+gzip","sha256":"00"});
    if let Some(ok) = verify {
        r["verify"] = json!({"at": created, "ok": ok, "checks": []});
    }
    r
}

/// dev: shop hourly x3 (verified, failed, never), blog daily (no sidecar,
/// legacy name); prod: shop hourly; migrations/: a prod pre-migration dump.
fn sample_store() -> tempfile::TempDir {
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    for (h, v) in [(1, Some(true)), (2, Some(false)), (3, None)] {
        let (st, c) = stamp(h);
        let f = format!("shop_db_hourly_{st}.sql.gz");
        artifact(s, "dev", &f, Some(record("dev", "hourly", &c, v)));
    }
    let (st, c) = stamp(30);
    artifact(
        s,
        "prod",
        &format!("shop_db_hourly_{st}.sql.gz"),
        Some(record("prod", "hourly", &c, Some(true))),
    );
    let (st, c) = stamp(50);
    artifact(
        s,
        "migrations",
        &format!("shop_db_pre-migration_{st}.sql.gz"),
        Some(record("prod", "pre-migration", &c, None)),
    );
    artifact(s, "dev", "blog_backup_20200101_120000.sql.gz", None);
    // Not artifacts: never listed.
    std::fs::write(s.join("dev/notes.txt"), "x").unwrap();
    std::fs::write(
        s.join("dev/shop_db_hourly_20200101T000000Z.sql.gz.partial"),
        "x",
    )
    .unwrap();
    std::fs::create_dir_all(s.join("logs")).unwrap();
    store
}

fn records(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect()
}

fn ids(cmd: &mut Command) -> Vec<String> {
    let out = cmd.assert().success().get_output().stdout.clone();
    records(&out)
        .iter()
        .map(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn pipe_gets_every_artifact_record_newest_first() {
    let store = sample_store();
    let out = list(store.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let recs = records(&out);
    assert_eq!(recs.len(), 6, "{recs:?}");
    let times: Vec<&str> = recs
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    // Sidecar records come whole (unknown fields too); the legacy file gets
    // a derived record.
    assert!(recs.iter().any(|r| r["sha256"] == "00"));
    let legacy = recs
        .iter()
        .find(|r| r["path"].as_str().unwrap().contains("blog_backup"))
        .unwrap();
    assert_eq!(legacy["derived"], true);
    assert_eq!(legacy["tag"], "hourly");
}

/// More artifacts than one batch of records (4096), some with sidecars
/// larger than the reader's first buffer: every record comes out whole,
/// exactly as its sidecar holds it, newest first.
#[test]
fn a_store_of_many_artifacts_and_large_sidecars_lists_every_record_whole() {
    let store = tempfile::tempdir().unwrap();
    let n = 4100;
    let mut expected = Vec::new();
    for i in 0..n {
        let (st, c) = stamp(i + 1);
        let f = format!("shop_db_hourly_{st}.sql.gz");
        let mut r = record("dev", "hourly", &c, Some(true));
        if i % 1000 == 7 {
            let tables: serde_json::Map<String, Value> = (0..3000)
                .map(|t| (format!("public.table_number_{t}"), json!(t)))
                .collect();
            r["source"] = json!({"engine": "postgres", "tables": tables});
        }
        artifact(store.path(), "dev", &f, Some(r.clone()));
        r["path"] = json!(store.path().join("dev").join(&f).to_string_lossy());
        r["bytes"] = json!(10);
        expected.push(r);
    }
    let big = store.path().join("dev").read_dir().unwrap().flatten();
    assert!(
        big.filter(|e| e.metadata().unwrap().len() > 32 * 1024)
            .count()
            >= 4,
        "some sidecars are larger than 32 KiB"
    );
    let out = list(store.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(records(&out), expected);
}

#[test]
fn filters() {
    let store = sample_store();
    let s = store.path();
    assert_eq!(ids(list(s).args(["-e", "dev"])).len(), 4);
    // prod covers prod/ and its pre-migration dumps in migrations/.
    let prod = ids(list(s).args(["-e", "prod"]));
    assert_eq!(prod.len(), 2, "{prod:?}");
    assert!(prod.iter().any(|f| f.contains("pre-migration")));
    assert_eq!(ids(list(s).args(["--name", "blog"])).len(), 1);
    assert_eq!(ids(list(s).args(["--tag", "hourly", "-e", "dev"])).len(), 4);
    assert_eq!(ids(list(s).args(["--tag", "pre-migration"])).len(), 1);
    assert_eq!(ids(list(s).args(["--kind", "full"])).len(), 0);
    assert_eq!(ids(list(s).args(["--verified"])).len(), 2);
    assert_eq!(ids(list(s).args(["--failed"])).len(), 1);
    assert_eq!(ids(list(s).args(["--unverified"])).len(), 3);
    assert_eq!(
        ids(list(s).args(["--since", "150m", "-e", "dev", "--name", "shop"])).len(),
        2
    );
    assert_eq!(ids(list(s).args(["--since", "2021-01-01"])).len(), 5);
}

#[test]
fn table_for_people() {
    let store = sample_store();
    let out = list(store.path())
        .args(["--format", "table"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("ENV") && lines[0].contains("VERIFIED"),
        "{text}"
    );
    // Newest first: the 1-hour-old verified dev dump, then the failed one.
    assert!(
        lines[1].starts_with("dev") && lines[1].contains(" ok "),
        "{text}"
    );
    assert!(lines[2].contains("FAILED"), "{text}");
    assert!(lines[3].contains("never"), "{text}");
    // Totals per environment and name.
    assert!(
        text.lines().any(|l| l.starts_with("dev")
            && l.contains("shop")
            && l.split_whitespace().nth(2) == Some("3")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("total") && l.split_whitespace().nth(1) == Some("6")),
        "{text}"
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let store = sample_store();
    let out = list(store.path())
        .args(["-e", "production"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no environment 'production'") && err.contains("dev, prod"),
        "{err}"
    );

    let out = list(Path::new("/nonexistent/store"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'/nonexistent/store' does not exist"), "{err}");
    assert!(
        !Path::new("/nonexistent/store").exists(),
        "a reading tool creates nothing"
    );

    let out = list(store.path())
        .args(["--tag", "hourlyy"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no artifact has tag 'hourlyy'") && err.contains("hourly, pre-migration"),
        "{err}"
    );
    let out = list(store.path())
        .args(["--name", "shopp"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no artifact is named 'shopp' (names in the store: blog, shop)"),
        "{err}"
    );

    list(store.path())
        .args(["--tag", "Hourly"])
        .assert()
        .code(2);
    list(store.path())
        .args(["--since", "yesterday"])
        .assert()
        .code(2);
}

#[test]
fn malformed_sidecar_is_named() {
    let store = sample_store();
    let bad = store
        .path()
        .join("dev/zz_db_hourly_20260101T000000Z.sql.gz");
    std::fs::write(&bad, "x").unwrap();
    std::fs::write(
        store
            .path()
            .join("dev/zz_db_hourly_20260101T000000Z.sql.gz.json"),
        "{not json",
    )
    .unwrap();
    let out = list(store.path()).assert().code(2).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zz_db_hourly_20260101T000000Z.sql.gz.json"),
        "{err}"
    );
}

#[test]
fn listed_records_feed_lfb_verify() {
    // A real dump, listed and piped into lfb-verify: the record it checks is
    // the one lfb-list printed.
    let store = tempfile::tempdir().unwrap();
    let dump = Command::cargo_bin("lfb-dump")
        .unwrap()
        .env("HOME", store.path())
        .args(["--demo", "--tag", "hourly", "--store"])
        .arg(store.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let made = &records(&dump)[0];
    let listed = list(store.path())
        .args(["--tag", "hourly"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(&records(&listed)[0]["sha256"], &made["sha256"]);
    let verified = Command::cargo_bin("lfb-verify")
        .unwrap()
        .env_remove("LFB_STORE")
        .write_stdin(listed)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = &records(&verified)[0];
    assert_eq!(v["verify"]["ok"], true, "{v}");
    assert_eq!(v["id"], made["id"]);
}

#[test]
fn help_version_and_man_page() {
    let help = Command::cargo_bin("lfb-list")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(help).unwrap();
    for flag in [
        "--tag <TAG>",
        "--since <AGE|DATE>",
        "--verified",
        "--format <FORMAT>",
        "--env <ENV>",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    Command::cargo_bin("lfb-list")
        .unwrap()
        .arg("--version")
        .assert()
        .success();
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb_core::cli::check_man_page(lfb_list::Cli::command(), ws).unwrap();
}

#[test]
fn a_moved_store_lists_where_artifacts_are_now() {
    // Sidecars remember the path an artifact was written at; after the store
    // folder moved (a new machine, a restored copy), records say where the
    // artifact is now.
    let old = sample_store();
    let new = tempfile::tempdir().unwrap();
    let moved = new.path().join("store");
    std::fs::rename(old.path(), &moved).unwrap();
    let out = list(&moved).assert().success().get_output().stdout.clone();
    let recs = records(&out);
    assert_eq!(recs.len(), 6);
    for r in &recs {
        let p = r["path"].as_str().unwrap();
        assert!(p.starts_with(&moved.display().to_string()), "{p}");
        assert!(Path::new(p).is_file(), "{p}");
    }
    // Everything else is the sidecar as written.
    assert!(recs.iter().filter(|r| r["sha256"] == "00").count() == 5);
}

#[test]
fn records_are_the_same_with_or_without_a_temporary_folder() {
    // lfb-list keeps each record line read with its sidecar in a temporary
    // file until it prints; with no usable TMPDIR it reads the sidecars
    // again. Both print the same, also after the store moved.
    let old = sample_store();
    let new = tempfile::tempdir().unwrap();
    let moved = new.path().join("store");
    std::fs::rename(old.path(), &moved).unwrap();
    let run = |tmpdir: &str| {
        list(&moved)
            .env("TMPDIR", tmpdir)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let spilled = run(&std::env::temp_dir().to_string_lossy());
    let again = run("/nonexistent-lfb-tmp");
    assert_eq!(
        String::from_utf8_lossy(&spilled),
        String::from_utf8_lossy(&again)
    );
    assert_eq!(records(&spilled).len(), 6);
}

/// Artifacts made at the same moment are listed by their paths' bytes,
/// newest path first: `prod/` after `prod-eu/` (`/` sorts after `-`),
/// although the folder `prod` sorts before `prod-eu` by name. (The listing
/// keeps folders as indexes and names as series and times; the order must
/// still be that of the paths.) A lone sidecar is no artifact.
#[test]
fn artifacts_of_the_same_moment_are_listed_by_path() {
    let store = tempfile::tempdir().unwrap();
    let s = store.path();
    let (st, c) = stamp(1);
    for folder in ["prod", "prod-eu", "prod0"] {
        for name in ["shop", "blog"] {
            let f = format!("{name}_db_hourly_{st}.sql.gz");
            artifact(s, folder, &f, Some(record(folder, "hourly", &c, None)));
        }
    }
    std::fs::write(
        s.join("prod/gone_db_hourly_20200101T000000Z.sql.gz.json"),
        "{}",
    )
    .unwrap();
    let out = list(s)
        .args(["--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let paths: Vec<String> = records(&out)
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    let mut expected = paths.clone();
    expected.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    assert_eq!(paths, expected);
    assert_eq!(paths.len(), 6);
    assert!(paths[0].contains("/prod0/shop_"), "{paths:?}");
    assert!(paths[2].contains("/prod/shop_"), "{paths:?}");
    assert!(paths[4].contains("/prod-eu/shop_"), "{paths:?}");
}
