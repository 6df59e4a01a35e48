//! A restore test that cannot even start (a role without CREATEDB, MariaDB
//! access denied for want of a password) is not a verdict on the artifact:
//! lfb-verify exits 2 with one line naming the cause and the fix, and
//! remembers nothing in the sidecar, so `lfb-restore --latest` still takes
//! the good backup.

use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, store};
use serde_json::Value;

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("MYSQL_PWD")
        .env_remove("PGPASSWORD")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

fn sidecar(path: &Path) -> Value {
    let text = std::fs::read_to_string(format!("{}.json", path.display())).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn dumped(out: &lfb_tests::Output) -> PathBuf {
    out.assert_ok();
    PathBuf::from(out.records()[0]["path"].as_str().unwrap())
}

#[test]
fn a_role_without_createdb_is_exit_2_and_not_remembered() {
    let Some(pg) = PgServer::start("verify_no_createdb") else {
        return;
    };
    pg.psql(
        "postgres",
        "CREATE ROLE app LOGIN NOCREATEDB PASSWORD 'app-secret';",
    );
    pg.create_db_owned_by("shop", "app");
    let url = pg.url_as("app", "app-secret", "shop");
    let st = store();
    let psql = run(pg
        .command("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 500);")
        .arg(&url));
    psql.assert_ok();
    let a = dumped(&run(lfb("lfb-dump", st.path())
        .args(["--tag", "daily"])
        .arg(&url)));
    let before = sidecar(&a);

    let v = run(lfb("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(&a)
        .env("DATABASE_URL", &url));
    assert_eq!(v.code, 2, "{}", v.stderr);
    let lines: Vec<&str> = v.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{}", v.stderr);
    assert!(
        lines[0].contains("permission denied to create database"),
        "{}",
        v.stderr
    );
    assert!(lines[0].contains("CREATEDB"), "{}", v.stderr);
    assert!(lines[0].contains("--scratch"), "{}", v.stderr);
    assert!(!v.stderr.contains("app-secret"), "{}", v.stderr);
    // Nothing remembered: the sidecar is as lfb-dump wrote it.
    assert_eq!(sidecar(&a), before);

    // lfb-restore --latest still takes the good backup.
    let r = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--dry-run"])
        .arg(pg.url("shop")));
    assert!(
        r.stdout.contains(a.file_name().unwrap().to_str().unwrap())
            || r.stderr.contains(a.file_name().unwrap().to_str().unwrap()),
        "{} {}",
        r.stdout,
        r.stderr
    );

    // With CREATEDB granted the same command passes and is remembered.
    pg.psql("postgres", "ALTER ROLE app CREATEDB;");
    let v = run(lfb("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(&a)
        .env("DATABASE_URL", &url));
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(sidecar(&a)["verify"]["ok"], true);
}

#[test]
fn mariadb_access_denied_without_a_password_is_exit_2_and_not_remembered() {
    let Some(my) = MariaDb::start("verify_mariadb_denied") else {
        return;
    };
    my.create_user("app", "app-secret");
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t SELECT seq FROM seq_1_to_500;",
    );
    let st = store();
    let a = dumped(&run(lfb("lfb-dump", st.path())
        .args(["--tag", "daily"])
        .arg(my.url_as("app", "app-secret", "shop"))));
    let before = sidecar(&a);

    // No DATABASE_URL: the scratch connection has no password.
    let v = run(lfb("lfb-verify", st.path()).arg("--restore-test").arg(&a));
    assert_eq!(v.code, 2, "{}", v.stderr);
    let lines: Vec<&str> = v.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{}", v.stderr);
    assert!(lines[0].contains("using password: NO"), "{}", v.stderr);
    assert!(lines[0].contains("DATABASE_URL"), "{}", v.stderr);
    assert!(lines[0].contains("--scratch"), "{}", v.stderr);
    assert_eq!(sidecar(&a), before);

    // With the password in DATABASE_URL it runs and is remembered.
    let v = run(lfb("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(&a)
        .env("DATABASE_URL", my.url_as("app", "app-secret", "shop")));
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(sidecar(&a)["verify"]["ok"], true);
}
