//! Verification is remembered (issue 15.2): lfb-verify writes the latest
//! `verify` section into the artifact's sidecar, atomically under the store
//! lock, and lfb-prune's newest-verified rule uses it from the store.

use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::{bin, run, store};
use serde_json::Value;

/// A SQLite database whose gzipped dump is well over 10 KiB.
fn sqlite_db(dir: &Path) -> PathBuf {
    let db = dir.join("app.sqlite3");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t(v) SELECT hex(randomblob(24)) FROM n;",
    )
    .unwrap();
    db
}

fn tool(name: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.arg("--store")
        .arg(store)
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .env_remove("DATABASE_URL");
    c
}

fn dump(store: &Path, db: &Path) -> PathBuf {
    let out = run(tool("lfb-dump", store).args(["--tag", "hourly"]).arg(db));
    out.assert_ok();
    PathBuf::from(out.records()[0]["path"].as_str().unwrap())
}

fn sidecar(path: &Path) -> Value {
    let text = std::fs::read_to_string(format!("{}.json", path.display())).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_sidecar_gains_the_latest_verify_section_and_nothing_else_changes() {
    let st = store();
    let db = sqlite_db(st.path());
    let a = dump(st.path(), &db);
    let before = sidecar(&a);
    assert!(before.get("verify").is_none());

    run(tool("lfb-verify", st.path()).arg("--restore-test").arg(&a)).assert_ok();
    let after = sidecar(&a);
    assert_eq!(after["verify"]["ok"], true, "{after}");
    assert_eq!(after["verify"]["restore_test"]["ok"], true, "{after}");
    // Every field the sidecar had is still there, unchanged and in order.
    let mut without = after.as_object().unwrap().clone();
    without.remove("verify");
    assert_eq!(Value::Object(without), before);

    // A later quick verification replaces the section but remembers when
    // the artifact last restored.
    let drill_at = after["verify"]["restore_test"]["at"].clone();
    run(tool("lfb-verify", st.path()).arg(&a)).assert_ok();
    let quick = sidecar(&a);
    let names: Vec<&str> = quick["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"restore"), "{names:?}");
    assert_eq!(quick["verify"]["restore_test"]["at"], drill_at);

    // A pass that did not read the content proves little: not remembered.
    run(tool("lfb-verify", st.path())
        .args(["--checks", "exists"])
        .arg(&a))
    .assert_ok();
    assert_eq!(sidecar(&a)["verify"], quick["verify"]);

    // A failed verification is remembered too.
    std::fs::write(&a, b"garbage").unwrap();
    let out = run(tool("lfb-verify", st.path()).arg(&a));
    assert_eq!(out.code, 1);
    assert_eq!(sidecar(&a)["verify"]["ok"], false);
    // No temporary file is left beside it.
    let dev = a.parent().unwrap();
    for e in std::fs::read_dir(dev).unwrap().flatten() {
        assert!(
            !e.file_name().to_string_lossy().ends_with(".partial"),
            "{:?}",
            e.path()
        );
    }
}

#[test]
fn prune_from_cron_protects_the_newest_verified_artifact() {
    let st = store();
    let db = sqlite_db(st.path());
    // Hour 1: dumped and verified (a pipeline). Hour 2: dumped, its
    // verification never ran (the box rebooted).
    let a = dump(st.path(), &db);
    run(tool("lfb-verify", st.path()).arg(&a)).assert_ok();
    let b = dump(st.path(), &db);
    // cron's separate prune line, days later.
    let out = run(tool("lfb-prune", st.path()).args(["--keep-last", "1"]));
    out.assert_ok();
    assert!(a.exists(), "the newest verified artifact was deleted");
    assert!(b.exists());
    let recs = out.records();
    let of = |p: &Path| {
        recs.iter()
            .find(|r| r["path"] == p.to_string_lossy().as_ref())
            .unwrap()["prune"]["reasons"]
            .clone()
    };
    assert!(
        of(&a)
            .as_array()
            .unwrap()
            .contains(&Value::from("newest-verified")),
        "{}",
        out.stdout
    );
}

#[test]
fn a_legacy_file_gets_a_sidecar_from_its_name() {
    let st = store();
    let dev = st.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let legacy = dev.join("ledgerflow_backup_20261120_010000.sql.gz");
    // What backup_dev_db.sh's `pg_dump | gzip` wrote.
    let sql = format!(
        "--\n-- PostgreSQL database dump\n--\n\n{}\n--\n-- PostgreSQL database dump complete\n--\n\n",
        "CREATE TABLE public.t (x integer);\n".repeat(2000)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(0));
    std::io::Write::write_all(&mut gz, sql.as_bytes()).unwrap();
    std::fs::write(&legacy, gz.finish().unwrap()).unwrap();
    std::fs::set_permissions(&legacy, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let out = run(tool("lfb-verify", st.path()).arg(&legacy));
    out.assert_ok();
    assert!(out.stderr.contains("no sidecar"), "{}", out.stderr);
    let side = sidecar(&legacy);
    assert_eq!(side["derived"], true);
    assert_eq!(side["verify"]["ok"], true);
    assert_eq!(side["tag"], out.records()[0]["tag"]);

    // A file whose name lfb does not know gets no sidecar.
    let other = dev.join("random.sql.gz");
    std::fs::copy(&legacy, &other).unwrap();
    run(tool("lfb-verify", st.path()).arg(&other)).assert_ok();
    assert!(!Path::new(&format!("{}.json", other.display())).exists());
}

/// A failed restore test stands: quick checks afterwards (`--all`) cannot
/// make the artifact good again, so `lfb-restore --latest` still passes it
/// over for the older one that did restore.
#[test]
fn a_failed_restore_test_is_not_cleared_by_quick_checks() {
    let st = store();
    let db = sqlite_db(st.path());
    let good = dump(st.path(), &db);
    run(tool("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(&good))
    .assert_ok();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let bad = dump(st.path(), &db);
    // The record promises a row the dump does not hold: the file is whole
    // (checksum, decode, complete pass) but it does not restore as recorded.
    let side = format!("{}.json", bad.display());
    let mut rec = sidecar(&bad);
    rec["source"]["tables"]["t"] = serde_json::json!(3001);
    std::fs::write(&side, serde_json::to_string(&rec).unwrap()).unwrap();
    let out = run(tool("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(&bad));
    out.assert_code(1);
    assert_eq!(sidecar(&bad)["verify"]["restore_test"]["ok"], false);

    let out = run(tool("lfb-verify", st.path()).arg("--all"));
    out.assert_code(1);
    assert!(
        out.stderr.contains("its last restore test failed"),
        "{}",
        out.stderr
    );
    let after = sidecar(&bad);
    assert_eq!(after["verify"]["ok"], false, "{after}");
    assert_eq!(after["verify"]["restore_test"]["ok"], false);
    assert_eq!(sidecar(&good)["verify"]["ok"], true);

    let target = st.path().join("copy.sqlite3");
    let out = run(tool("lfb-restore", st.path())
        .args(["--latest", "--dry-run", "--from", "app"])
        .arg(format!("sqlite:///{}", target.display())));
    out.assert_ok();
    let chosen = out.records()[0]["path"].as_str().unwrap().to_string();
    assert_eq!(chosen, good.display().to_string(), "{}", out.stderr);
}
