//! lfb-restore against real PostgreSQL servers and SQLite files: a clean
//! restore reproduces the backed-up state exactly, a failing one changes
//! nothing, production needs confirmation, and the safety backup undoes it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, run_with_input, store};
use serde_json::Value;

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

fn dump(store: &Path, args: &[&str], db: &str) -> Value {
    let out = run(lfb("lfb-dump", store).args(args).arg(db));
    out.assert_ok();
    out.records().remove(0)
}

fn seed(pg: &PgServer, db: &str) {
    pg.create_db(db);
    pg.psql(
        db,
        "CREATE SCHEMA billing;
         CREATE TABLE accounts (id serial PRIMARY KEY, name text UNIQUE);
         CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, account int REFERENCES accounts, total numeric(10,2));
         CREATE VIEW billing.totals AS SELECT account, sum(total) FROM billing.invoices GROUP BY account;
         INSERT INTO accounts (name) SELECT 'acct' || g FROM generate_series(1, 40) g;
         INSERT INTO billing.invoices (account, total) SELECT 1 + g % 40, g * 1.25 FROM generate_series(1, 900) g;",
    );
}

/// Changes made after the backup: new tables, new rows, a dropped table.
fn drift(pg: &PgServer, db: &str) {
    pg.psql(
        db,
        "CREATE TABLE leftover (x int); INSERT INTO leftover VALUES (1);
         CREATE SCHEMA scratchpad; CREATE TABLE scratchpad.t (y text);
         INSERT INTO accounts (name) VALUES ('late');
         DROP VIEW billing.totals;",
    );
}

#[test]
fn restore_over_a_drifted_database_reproduces_the_backup_exactly() {
    let Some(pg) = PgServer::start("restore_drift") else {
        return;
    };
    seed(&pg, "app");
    let st = store();
    for format in ["sql", "custom"] {
        let rec = dump(st.path(), &["-F", format], &pg.url("app"));
        let backed_up = pg.dump("app");
        drift(&pg, "app");
        let drifted = pg.dump("app");
        assert_ne!(backed_up, drifted);
        let out = run_with_input(
            lfb("lfb-restore", st.path())
                .arg("--yes")
                .arg(pg.url("app")),
            rec.to_string(),
        );
        out.assert_ok();
        assert_eq!(pg.dump("app"), backed_up, "{format}");
        let r = &out.records()[0];
        assert_eq!(r["restore"]["ok"], true);
        assert_eq!(r["restore"]["counts"]["billing.invoices"], 900);
        // The safety backup holds the drifted state and restores it.
        let safety = r["restore"]["safety_backup"].as_str().unwrap().to_string();
        assert!(safety.contains("_db_pre-restore_"), "{safety}");
        assert!(out.stderr.contains(&safety), "path printed: {}", out.stderr);
        let undo = run(lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup", "-f", &safety])
            .arg(pg.url("app")));
        undo.assert_ok();
        assert_eq!(pg.dump("app"), drifted, "{format}: undo");
        // Back to the backed-up state for the next format.
        run_with_input(
            lfb("lfb-restore", st.path())
                .args(["--yes", "--no-safety-backup"])
                .arg(pg.url("app")),
            rec.to_string(),
        )
        .assert_ok();
    }
}

#[test]
fn a_backup_whose_last_statement_fails_leaves_the_target_byte_identical() {
    let Some(pg) = PgServer::start("restore_failing") else {
        return;
    };
    seed(&pg, "app");
    let st = store();
    let rec = dump(st.path(), &["-c", "none"], &pg.url("app"));
    // Make the last statement fail: append a bad one before the trailer.
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    let pos = text
        .rfind("--\n-- PostgreSQL database dump complete")
        .unwrap();
    let bad = format!(
        "{}ALTER TABLE public.accounts ADD CONSTRAINT broken CHECK (id < 0);\n\n{}",
        &text[..pos],
        &text[pos..]
    );
    let bad_path = path.with_file_name("app_db_manual_20260101T000000Z.sql");
    std::fs::write(&bad_path, &bad).unwrap();
    let mut bad_rec = rec.clone();
    bad_rec["path"] = Value::String(bad_path.to_string_lossy().into_owned());
    bad_rec["bytes"] = Value::from(bad.len() as u64);
    bad_rec["sha256"] = Value::String(lfb_tests::sha256sum(&bad_path));

    drift(&pg, "app");
    let before = pg.dump("app");
    let out = run_with_input(
        lfb("lfb-restore", st.path())
            .arg("--yes")
            .arg(pg.url("app")),
        bad_rec.to_string(),
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("broken") || out.stderr.contains("violated"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("unchanged"), "{}", out.stderr);
    assert_eq!(pg.dump("app"), before, "a failed restore changes nothing");
    assert_eq!(out.records()[0]["restore"]["ok"], false);
}

#[test]
fn a_damaged_artifact_is_refused_before_the_target_is_touched() {
    let Some(pg) = PgServer::start("restore_damaged") else {
        return;
    };
    seed(&pg, "app");
    let st = store();
    let rec = dump(st.path(), &[], &pg.url("app"));
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    let mut data = std::fs::read(&path).unwrap();
    data.truncate(data.len() - 100);
    std::fs::write(&path, &data).unwrap();
    drift(&pg, "app");
    let before = pg.dump("app");
    let out = run_with_input(
        lfb("lfb-restore", st.path())
            .arg("--yes")
            .arg(pg.url("app")),
        rec.to_string(),
    );
    out.assert_code(1);
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert_eq!(pg.dump("app"), before);
    // No safety backup was taken either.
    let pre: Vec<_> = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("pre-restore"))
        .collect();
    assert!(pre.is_empty());
}

#[test]
fn production_needs_the_database_named_in_confirm() {
    let Some(pg) = PgServer::start("restore_prod_guard") else {
        return;
    };
    seed(&pg, "ledger");
    let st = store();
    let rec = dump(st.path(), &["--env", "prod"], &pg.url("ledger"));
    drift(&pg, "ledger");
    let before = pg.dump("ledger");
    let file = rec["path"].as_str().unwrap().to_string();
    for extra in [vec![], vec!["--confirm", "other"], vec!["--yes"]] {
        let out = run(lfb("lfb-restore", st.path())
            .args(["-e", "prod", "-f", &file])
            .args(&extra)
            .arg(pg.url("ledger")));
        out.assert_code(2);
        assert!(
            out.stderr.contains("--confirm") || out.stderr.contains("does not name"),
            "{}",
            out.stderr
        );
        assert_eq!(pg.dump("ledger"), before);
    }
    // `yes |` cannot answer for production.
    let out = run_with_input(
        lfb("lfb-restore", st.path())
            .args(["-e", "prod", "-f", &file])
            .arg(pg.url("ledger")),
        "yes\nyes\n",
    );
    out.assert_code(2);
    assert_eq!(pg.dump("ledger"), before);
    // The original script's flags: -e prod -f FILE -u USER -d DB, host/port from PG* variables.
    let name = Path::new(&file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = run(lfb("lfb-restore", st.path())
        .args([
            "-e",
            "prod",
            "-f",
            &name,
            "-u",
            "postgres",
            "-d",
            "ledger",
            "--confirm",
            "ledger",
        ])
        .env("PGHOST", pg.socket_dir())
        .env("PGPORT", pg.port().to_string()));
    out.assert_ok();
    assert_ne!(pg.dump("ledger"), before);
    assert_eq!(
        pg.psql("ledger", "SELECT count(*) FROM accounts").trim(),
        "40"
    );
}

#[test]
fn outside_prod_no_terminal_needs_yes() {
    let Some(pg) = PgServer::start("restore_needs_yes") else {
        return;
    };
    seed(&pg, "app");
    let st = store();
    let rec = dump(st.path(), &[], &pg.url("app"));
    let out = run(lfb("lfb-restore", st.path())
        .arg("-f")
        .arg(rec["path"].as_str().unwrap())
        .arg(pg.url("app")));
    out.assert_code(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
}

fn sqlite_db(path: &Path, rows: usize) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT);")
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO notes (body) VALUES (?1)",
            [format!("note {i} {}", "x".repeat(100))],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn sqlite_dump_text(path: &Path) -> String {
    let out = run(Command::new("sqlite3").arg(path).arg(".dump"));
    out.assert_ok();
    out.stdout
}

#[test]
fn sqlite_restore_swaps_the_file_and_handles_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite3");
    sqlite_db(&db, 300);
    let st = store();
    let rec = dump(st.path(), &[], &db.to_string_lossy());
    let backed_up = sqlite_dump_text(&db);
    // Drift, in WAL mode, with the WAL left behind by an open connection.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE extra (x); INSERT INTO notes (body) VALUES ('late');").unwrap();
    let out = run_with_input(
        lfb("lfb-restore", st.path()).arg("--yes").arg(&db),
        rec.to_string(),
    );
    out.assert_ok();
    drop(c);
    assert_eq!(sqlite_dump_text(&db), backed_up);
    assert!(
        !dir.path().join("db.sqlite3-wal").exists()
            || std::fs::metadata(dir.path().join("db.sqlite3-wal"))
                .unwrap()
                .len()
                == 0
    );
    assert_eq!(out.records()[0]["restore"]["counts"]["notes"], 300);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains("lfb-restore"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn killing_a_sqlite_restore_mid_way_leaves_the_old_database_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.sqlite3");
    sqlite_db(&db, 400_000);
    let st = store();
    let rec = dump(st.path(), &["-c", "none"], &db.to_string_lossy());
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    assert!(path.exists());
    // The database changes after the backup; that state must survive.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE marker (x); INSERT INTO marker VALUES (42);")
        .unwrap();
    drop(c);
    let before = std::fs::read(&db).unwrap();
    let mut child = lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "-f"])
        .arg(&path)
        .arg(&db)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let partial = dir.path().join("big.sqlite3.lfb-restore.partial");
    let start = std::time::Instant::now();
    while !(partial.exists()
        && std::fs::metadata(&partial)
            .map(|m| m.len() > 1 << 20)
            .unwrap_or(false))
    {
        assert!(
            start.elapsed().as_secs() < 30,
            "the restore never started building"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the restore finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    run(Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string()))
    .assert_ok();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the old database is untouched"
    );
    assert!(!partial.exists(), "the partial database was removed");
    let out = run(Command::new("sqlite3").arg(&db).arg("SELECT x FROM marker"));
    assert_eq!(out.stdout, "42\n");
    let _ = std::io::stderr().flush();
}

#[test]
fn corruption_found_while_loading_rolls_the_whole_restore_back() {
    let Some(pg) = PgServer::start("restore_corrupt_mid_load") else {
        return;
    };
    seed(&pg, "app");
    let st = store();
    // An uncompressed dump whose bytes change in place (same size): the
    // cheap pre-check passes, the checksum computed while loading does not.
    let rec = dump(st.path(), &["-c", "none"], &pg.url("app"));
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen("acct1\n", "acctX\n", 1);
    assert_ne!(text, tampered);
    std::fs::write(&path, &tampered).unwrap();
    drift(&pg, "app");
    let before = pg.dump("app");
    let out = run_with_input(
        lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup"])
            .arg(pg.url("app")),
        rec.to_string(),
    );
    out.assert_code(1);
    assert!(out.stderr.contains("checksum failed"), "{}", out.stderr);
    assert!(out.stderr.contains("unchanged"), "{}", out.stderr);
    assert_eq!(pg.dump("app"), before, "nothing was committed");
}
