//! lfb-restore chooses the right backup for the right database (issue 13,
//! items 1-5): backups are matched to their target by identity, `--latest`
//! looks at every folder of the environment and never at pre-restore
//! safety backups, a SQLite target never gets a PostgreSQL dump, production
//! is recognised by identity, and the printed undo command works as printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, store};
use serde_json::Value;

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV")
        .env_remove("LFB_PROD_DATABASES");
    c
}

fn dump(store: &Path, args: &[&str], db: &str) -> Value {
    let out = run(lfb("lfb-dump", store).args(args).arg(db));
    out.assert_ok();
    out.records().remove(0)
}

/// Names carry whole seconds: backups taken in different seconds sort.
fn next_second() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn sqlite(path: &Path, sql: &str) -> String {
    let out = run(Command::new("sqlite3").arg(path).arg(sql));
    out.assert_ok();
    out.stdout
}

/// Issue 13.1, and two applications sharing one store: `--latest` into
/// `victim` restored `mysite`'s newer backup, even with `-e prod --confirm
/// victim`. Each application gets its own backups; another database's needs
/// `--from`.
#[test]
fn latest_restores_only_backups_of_the_target_database() {
    let Some(pg) = PgServer::start("restore_identity_latest") else {
        return;
    };
    pg.create_db("victim");
    pg.psql(
        "victim",
        "CREATE TABLE v (x int); INSERT INTO v SELECT generate_series(1, 7);",
    );
    pg.create_db("mysite");
    pg.psql(
        "mysite",
        "CREATE TABLE m (y text); INSERT INTO m VALUES ('mysite');",
    );
    let st = store();
    dump(
        st.path(),
        &["-e", "prod", "--tag", "hourly"],
        &pg.url("victim"),
    );
    next_second();
    // The other application's backup is newer.
    dump(
        st.path(),
        &["-e", "prod", "--tag", "hourly"],
        &pg.url("mysite"),
    );
    pg.psql(
        "victim",
        "DELETE FROM v WHERE x > 2; CREATE TABLE junk (z int);",
    );
    pg.psql("mysite", "DELETE FROM m;");

    let out = run(lfb("lfb-restore", st.path())
        .args([
            "-e",
            "prod",
            "--latest",
            "--tag",
            "hourly",
            "--confirm",
            "victim",
        ])
        .arg(pg.url("victim")));
    out.assert_ok();
    assert_eq!(pg.psql("victim", "SELECT count(*) FROM v").trim(), "7");
    assert!(
        pg.try_psql("victim", "SELECT * FROM m").code != 0,
        "mysite's table came in"
    );
    assert!(
        out.records()[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("victim_db_hourly_")
    );

    // The other application, same store: its own backup.
    let out = run(lfb("lfb-restore", st.path())
        .args(["-e", "prod", "--latest", "--confirm", "mysite"])
        .arg(pg.url("mysite")));
    out.assert_ok();
    assert_eq!(pg.psql("mysite", "SELECT y FROM m").trim(), "mysite");
    assert!(pg.try_psql("mysite", "SELECT * FROM v").code != 0);

    // Another database's backup by file: refused, saying what to do.
    let mysite_file = std::fs::read_dir(st.path().join("prod"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("mysite_db_hourly_") && !n.ends_with(".json")
        })
        .unwrap();
    let before = pg.dump("victim");
    let out = run(lfb("lfb-restore", st.path())
        .args(["-e", "prod", "--confirm", "victim", "-f"])
        .arg(&mysite_file)
        .arg(pg.url("victim")));
    out.assert_code(2);
    assert!(out.stderr.contains("--from mysite"), "{}", out.stderr);
    assert_eq!(pg.dump("victim"), before);
    // With --from it is deliberate.
    let out = run(lfb("lfb-restore", st.path())
        .args([
            "-e",
            "prod",
            "--latest",
            "--from",
            "mysite",
            "--confirm",
            "victim",
        ])
        .arg(pg.url("victim")));
    out.assert_ok();
    assert_eq!(pg.psql("victim", "SELECT y FROM m").trim(), "mysite");
}

/// Issue 13.2: with no `--tag`, `--latest` picked the pre-restore safety
/// backup of the previous restore (the broken state).
#[test]
fn latest_never_picks_a_pre_restore_safety_backup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite3");
    sqlite(
        &db,
        "CREATE TABLE t (state text); INSERT INTO t VALUES ('good');",
    );
    let st = store();
    dump(st.path(), &["--tag", "hourly"], &db.to_string_lossy());
    next_second();
    sqlite(&db, "UPDATE t SET state = 'broken';");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(sqlite(&db, "SELECT state FROM t").trim(), "good");
    // The safety backup of 'broken' is now the newest file in dev/.
    assert!(
        files_in(&st.path().join("dev"))
            .iter()
            .any(|f| f.contains("_db_pre-restore_")),
        "{:?}",
        files_in(&st.path().join("dev"))
    );
    next_second();
    sqlite(&db, "UPDATE t SET state = 'broken again';");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(sqlite(&db, "SELECT state FROM t").trim(), "good");
    // Asked for, a safety backup is restored: the newest one.
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--tag", "pre-restore", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(sqlite(&db, "SELECT state FROM t").trim(), "broken again");
}

/// Issue 13.3: after a bad migration `--latest` restored an older hourly
/// dump instead of the pre-migration dump in `migrations/`; and
/// `lfb-verify --all --env dev` left `migrations/` out while prune counts it.
#[test]
fn latest_and_verify_cover_the_environments_pre_migration_backups() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite3");
    sqlite(&db, "CREATE TABLE t (v int); INSERT INTO t VALUES (1);");
    let st = store();
    dump(st.path(), &["--tag", "hourly"], &db.to_string_lossy());
    next_second();
    sqlite(&db, "INSERT INTO t VALUES (2);");
    let pre = dump(
        st.path(),
        &["--tag", "pre-migration"],
        &db.to_string_lossy(),
    );
    assert!(pre["path"].as_str().unwrap().contains("/migrations/"));
    // The bad migration.
    sqlite(&db, "DROP TABLE t; CREATE TABLE t2 (broken int);");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(out.records()[0]["id"], pre["id"]);
    assert_eq!(sqlite(&db, "SELECT count(*) FROM t").trim(), "2");

    // Every tool agrees on what dev covers: verify --all --env dev sees the
    // pre-migration backup as prune does.
    let out = run(lfb("lfb-verify", st.path()).args(["--all", "--env", "dev", "--min-size", "0"]));
    out.assert_ok();
    let ids: Vec<String> = out
        .records()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        ids.contains(&pre["id"].as_str().unwrap().to_string()),
        "{ids:?}"
    );
    let out =
        run(lfb("lfb-prune", st.path()).args(["--env", "dev", "--keep-last", "100", "--dry-run"]));
    out.assert_ok();
    let pruned: Vec<String> = out
        .records()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_string())
        .collect();
    for id in &ids {
        assert!(
            pruned.contains(id),
            "prune and verify disagree: {pruned:?} vs {ids:?}"
        );
    }
    assert_eq!(pruned.len(), ids.len(), "{pruned:?} vs {ids:?}");
}

/// Issue 13.4: a SQLite target got a PostgreSQL dump ("SQL error at line
/// 1: unrecognized token"). `--latest` only considers dumps of the target's
/// engine, and an explicit one of another engine is refused before anything
/// is touched, whatever `--from` says.
#[test]
fn a_sqlite_target_never_gets_a_postgres_dump() {
    let Some(pg) = PgServer::start("restore_identity_engine") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite3");
    sqlite(
        &db,
        "CREATE TABLE notes (n int); INSERT INTO notes VALUES (1), (2);",
    );
    let st = store();
    dump(st.path(), &["--tag", "hourly"], &db.to_string_lossy());
    next_second();
    // A PostgreSQL database of the same name, backed up later.
    pg.create_db("app");
    pg.psql("app", "CREATE TABLE pgonly (x int);");
    let pg_rec = dump(st.path(), &["--tag", "hourly"], &pg.url("app"));
    sqlite(&db, "DELETE FROM notes;");

    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(sqlite(&db, "SELECT count(*) FROM notes").trim(), "2");

    let before = std::fs::read(&db).unwrap();
    for extra in [vec![], vec!["--from", "app"]] {
        let out = run(lfb("lfb-restore", st.path())
            .args(["--yes", "-f", pg_rec["path"].as_str().unwrap()])
            .args(&extra)
            .arg(&db));
        out.assert_code(2);
        assert!(
            out.stderr.contains("postgres") && out.stderr.contains("refused"),
            "{}",
            out.stderr
        );
        assert_eq!(std::fs::read(&db).unwrap(), before);
    }
    // Nothing was touched: no safety backup either.
    assert_eq!(
        files_in(&st.path().join("dev"))
            .iter()
            .filter(|f| f.contains("pre-restore"))
            .count(),
        1,
        "only the first (real) restore took one"
    );
}

fn undo_line(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.split_once("to undo: ").map(|(_, c)| c.trim().to_string()))
        .unwrap_or_else(|| panic!("no undo command in: {stderr}"))
}

fn path_with_bins() -> String {
    let bins = bin("lfb-restore").parent().unwrap().to_path_buf();
    format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Issue 13.5: the undo command printed after a production restore had no
/// `-e prod`; run with `--yes` it overwrote production without `--confirm`,
/// and its safety backup went into `dev/`. Now the safety backup is in
/// `prod/`, the printed line works exactly as printed, and production is
/// recognised by the backup's origin and by LFB_PROD_DATABASES too.
#[test]
fn production_is_recognised_by_identity_and_the_undo_command_works_as_printed() {
    let Some(pg) = PgServer::start("restore_identity_prod") else {
        return;
    };
    pg.create_db("victim");
    pg.psql(
        "victim",
        "CREATE TABLE v (x int); INSERT INTO v SELECT generate_series(1, 10);",
    );
    let st = store();
    dump(
        st.path(),
        &["-e", "prod", "--tag", "hourly"],
        &pg.url("victim"),
    );
    pg.psql(
        "victim",
        "INSERT INTO v VALUES (11), (12); CREATE TABLE later (y int);",
    );
    let drifted = pg.dump("victim");

    let out = run(lfb("lfb-restore", st.path())
        .args(["-e", "prod", "--latest", "--confirm", "victim"])
        .arg(pg.url("victim")));
    out.assert_ok();
    assert_eq!(pg.psql("victim", "SELECT count(*) FROM v").trim(), "10");
    let safety = out.records()[0]["restore"]["safety_backup"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        Path::new(&safety).starts_with(st.path().join("prod")),
        "the safety backup of a production database goes to prod/: {safety}"
    );
    let undo = undo_line(&out.stderr);
    assert!(undo.contains("-e prod"), "{undo}");
    assert!(undo.contains("--confirm victim"), "{undo}");
    assert!(undo.contains(&safety), "{undo}");

    // The safety backup comes from prod: --yes without -e prod is not enough.
    let restored = pg.dump("victim");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--yes", "-f", &safety])
        .arg(pg.url("victim")));
    out.assert_code(2);
    assert!(out.stderr.contains("--confirm victim"), "{}", out.stderr);
    assert_eq!(pg.dump("victim"), restored);

    // The exact printed line, from another folder, with no store setting.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(Command::new("sh")
        .arg("-c")
        .arg(&undo)
        .current_dir(elsewhere.path())
        .env("PATH", path_with_bins())
        .env_remove("LFB_STORE")
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .env_remove("DATABASE_URL"));
    out.assert_ok();
    assert_eq!(pg.dump("victim"), drifted, "the undo put the database back");

    // A database configured as production, restored in dev: needs --confirm.
    let st2 = store();
    dump(st2.path(), &[], &pg.url("victim"));
    let before = pg.dump("victim");
    let out = run(lfb("lfb-restore", st2.path())
        .args(["--latest", "--yes"])
        .env("LFB_PROD_DATABASES", "other, victim")
        .arg(pg.url("victim")));
    out.assert_code(2);
    assert!(out.stderr.contains("LFB_PROD_DATABASES"), "{}", out.stderr);
    assert_eq!(pg.dump("victim"), before);
    let out = run(lfb("lfb-restore", st2.path())
        .args(["--latest", "--confirm", "victim"])
        .env("LFB_PROD_DATABASES", pg.url("victim"))
        .arg(pg.url("victim")));
    out.assert_ok();
    let safety = out.records()[0]["restore"]["safety_backup"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        Path::new(&safety).starts_with(st2.path().join("prod")),
        "{safety}"
    );
}

/// `--dry-run` reports which backup, from when, its verification, its row
/// counts against the target's, and what would be replaced; it changes
/// nothing (no restore, no safety backup).
#[test]
fn dry_run_reports_and_changes_nothing() {
    let Some(pg) = PgServer::start("restore_identity_dry_run") else {
        return;
    };
    pg.create_db("shop");
    pg.psql(
        "shop",
        "CREATE TABLE items (x int); INSERT INTO items SELECT generate_series(1, 30);",
    );
    let st = store();
    let rec = dump(st.path(), &["--tag", "hourly"], &pg.url("shop"));
    pg.psql("shop", "INSERT INTO items SELECT generate_series(31, 45);");
    let before = pg.dump("shop");
    let listing = files_in(&st.path().join("dev"));
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--dry-run"])
        .arg(pg.url("shop")));
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["id"], rec["id"]);
    assert_eq!(r["restore"]["dry_run"], true);
    assert_eq!(r["restore"]["backup_counts"]["public.items"], 30);
    assert_eq!(r["restore"]["target_counts"]["public.items"], 45);
    assert_eq!(r["restore"]["production"], false);
    for want in ["dry run", "public.items", "would replace", "verif"] {
        assert!(out.stderr.contains(want), "{want}: {}", out.stderr);
    }
    assert_eq!(pg.dump("shop"), before);
    assert_eq!(files_in(&st.path().join("dev")), listing);
}

/// `--latest` takes the newest backup that passed verification: one whose
/// sidecar records a failed verification is skipped without reading it, and
/// one damaged since is skipped after the check on the spot. `--from ID`
/// names a backup's identity by one of its artifact ids.
#[test]
fn latest_skips_backups_that_failed_verification() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite3");
    sqlite(
        &db,
        "CREATE TABLE t (state text); INSERT INTO t VALUES ('good');",
    );
    let st = store();
    let good = dump(st.path(), &["--tag", "hourly"], &db.to_string_lossy());
    next_second();
    sqlite(&db, "UPDATE t SET state = 'recorded as failed';");
    let failed = dump(st.path(), &["--tag", "hourly"], &db.to_string_lossy());
    next_second();
    sqlite(&db, "UPDATE t SET state = 'damaged';");
    let damaged = dump(
        st.path(),
        &["--tag", "hourly", "-c", "none"],
        &db.to_string_lossy(),
    );
    // The durable verification state of lfb-verify, in the sidecar.
    let side = format!("{}.json", failed["path"].as_str().unwrap());
    let mut rec: Value = serde_json::from_str(&std::fs::read_to_string(&side).unwrap()).unwrap();
    rec["verify"] = serde_json::json!({"at": "2026-11-30T00:00:00Z", "ok": false,
        "checks": [{"name": "restore", "ok": false}]});
    std::fs::write(&side, format!("{rec}\n")).unwrap();
    // Damaged after it was made: same size, other bytes.
    let p = PathBuf::from(damaged["path"].as_str().unwrap());
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replace("'damaged'", "'DAMAGED'")).unwrap();

    sqlite(&db, "UPDATE t SET state = 'now';");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(out.records()[0]["id"], good["id"], "{}", out.stderr);
    assert_eq!(sqlite(&db, "SELECT state FROM t").trim(), "good");
    assert!(out.stderr.contains("failed verification"), "{}", out.stderr);

    // Another file, the same database's backups by --from ID.
    let other = dir.path().join("copy.sqlite3");
    sqlite(&other, "CREATE TABLE z (q int);");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes", "--from", good["id"].as_str().unwrap()])
        .arg(&other));
    out.assert_ok();
    assert_eq!(sqlite(&other, "SELECT state FROM t").trim(), "good");
}

/// Two Django projects, each with its `db.sqlite3`, backing up into one
/// store: the same artifact name, told apart by the file's real path.
#[test]
fn two_sqlite_projects_with_the_same_file_name_share_a_store() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (da, db) = (a.path().join("db.sqlite3"), b.path().join("db.sqlite3"));
    sqlite(
        &da,
        "CREATE TABLE t (who text); INSERT INTO t VALUES ('project a');",
    );
    sqlite(
        &db,
        "CREATE TABLE t (who text); INSERT INTO t VALUES ('project b');",
    );
    let st = store();
    dump(st.path(), &["--tag", "hourly"], &db.to_string_lossy());
    next_second();
    dump(st.path(), &["--tag", "hourly"], &da.to_string_lossy());
    sqlite(&db, "DELETE FROM t;");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(sqlite(&db, "SELECT who FROM t").trim(), "project b");
    sqlite(&da, "DELETE FROM t;");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--latest", "--yes"])
        .arg(&da));
    out.assert_ok();
    assert_eq!(sqlite(&da, "SELECT who FROM t").trim(), "project a");
}
