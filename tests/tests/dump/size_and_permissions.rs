//! Sizes judged against a group's history, not an absolute floor (issue
//! 15.4), and permissions of files lfb did not create as a warning with the
//! fix (issue 15.5).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::{bin, run, run_with_input, store};
use serde_json::Value;

fn tool(name: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.arg("--store")
        .arg(store)
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .env_remove("DATABASE_URL");
    c
}

fn check<'a>(rec: &'a Value, name: &str) -> &'a Value {
    rec["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {rec}"))
}

/// What `django-admin startproject` + `migrate` leaves in db.sqlite3, in
/// miniature: a few empty tables and the migrations table.
fn fresh_project_db(dir: &Path) -> PathBuf {
    let db = dir.join("db.sqlite3");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE django_migrations(id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT);
             INSERT INTO django_migrations(app, name, applied) VALUES
               ('contenttypes','0001_initial','2026-11-30'),('auth','0001_initial','2026-11-30');
             CREATE TABLE auth_user(id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT);
             CREATE TABLE django_session(session_key TEXT PRIMARY KEY, session_data TEXT, expire_date TEXT);",
        )
        .unwrap();
    db
}

#[test]
fn a_fresh_project_database_verifies_without_a_size_floor() {
    let st = store();
    let db = fresh_project_db(st.path());
    let dump = run(tool("lfb-dump", st.path()).arg(&db));
    dump.assert_ok();
    let rec = &dump.records()[0];
    assert!(rec["bytes"].as_u64().unwrap() < 10 * 1024, "{rec}");

    let out = run_with_input(&mut tool("lfb-verify", st.path()), &dump.stdout);
    out.assert_ok();
    assert_eq!(check(&out.records()[0], "size")["ok"], true);

    // lfb-guard has no floor by default either.
    let g = run(tool("lfb-guard", st.path()).args(["--skip", "journal"]));
    assert!(
        !g.stdout.contains("\"severity\":\"crit\""),
        "{}\n{}",
        g.stdout,
        g.stderr
    );

    // The original scripts' floor is still there when asked for.
    let out = run_with_input(
        tool("lfb-verify", st.path()).args(["--min-size", "10KiB"]),
        &dump.stdout,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(check(&out.records()[0], "size")["ok"], false);
}

#[test]
fn a_sudden_shrink_fails_the_size_check() {
    let st = store();
    let db = st.path().join("app.sqlite3");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t(v) SELECT hex(randomblob(24)) FROM n;",
    )
    .unwrap();
    for _ in 0..3 {
        run(tool("lfb-dump", st.path())
            .args(["--tag", "hourly"])
            .arg(&db))
        .assert_ok();
    }
    // Someone emptied the table: the dump is complete, and a fraction of
    // the size of the ones before it.
    c.execute_batch("DELETE FROM t; VACUUM;").unwrap();
    let dump = run(tool("lfb-dump", st.path())
        .args(["--tag", "hourly"])
        .arg(&db));
    dump.assert_ok();
    let out = run_with_input(&mut tool("lfb-verify", st.path()), &dump.stdout);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let size = check(&out.records()[0], "size").clone();
    assert_eq!(size["ok"], false);
    assert!(
        size["detail"].as_str().unwrap().contains("sudden shrink"),
        "{size}"
    );
}

/// A gzipped SQL file as `backup_dev_db.sh` left it: umask 022, mode 0644.
fn legacy_file(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("ledgerflow_backup_20261120_010000.sql.gz");
    let sql = "CREATE TABLE t(x integer);\n".repeat(500);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, sql.as_bytes()).unwrap();
    std::fs::write(&p, gz.finish().unwrap()).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn legacy_permissions_are_a_warning_with_the_fix() {
    let st = store();
    let legacy = legacy_file(&st.path().join("dev"));
    let checks = ["--checks", "exists,size,decode,permissions"];
    let out = run(tool("lfb-verify", st.path()).args(checks).arg("--all"));
    out.assert_ok();
    let perm = check(&out.records()[0], "permissions").clone();
    assert_eq!(perm["ok"], true, "{perm}");
    assert_eq!(perm["warning"], true, "{perm}");
    let fix = format!("chmod 600 '{}'", legacy.display());
    assert!(perm["detail"].as_str().unwrap().contains(&fix), "{perm}");
    assert!(out.stderr.contains(&fix), "{}", out.stderr);
    assert_eq!(mode(&legacy), 0o644, "verify changed nothing");

    // The guard still reports it.
    let g = run(tool("lfb-guard", st.path()).args(["--skip", "journal"]));
    assert!(
        g.stdout.lines().any(|l| l.contains("\"permissions\"")
            && l.contains("\"warn\"")
            && l.contains("ledgerflow_backup_20261120_010000")),
        "{}",
        g.stdout
    );

    // --fix-permissions fixes it.
    let out = run(tool("lfb-verify", st.path())
        .args(checks)
        .arg("--fix-permissions")
        .arg(&legacy));
    out.assert_ok();
    assert_eq!(mode(&legacy), 0o600);
    assert!(
        check(&out.records()[0], "permissions")
            .get("warning")
            .is_none()
    );
}

#[test]
fn files_lfb_made_still_fail_on_permissions() {
    let st = store();
    let db = fresh_project_db(st.path());
    let dump = run(tool("lfb-dump", st.path()).arg(&db));
    dump.assert_ok();
    let path = PathBuf::from(dump.records()[0]["path"].as_str().unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(tool("lfb-verify", st.path()).arg(&path));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(check(&out.records()[0], "permissions")["ok"], false);
}
