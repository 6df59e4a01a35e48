//! PostgreSQL restores are all or nothing even when lfb is killed: lfb
//! opens the transaction itself and only sends COMMIT after every check
//! (row counts included) passed; psql dies with lfb; a killed
//! `lfb-verify --restore-test` leaves no scratch database behind.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A database whose load takes a while: ~300k rows, large objects between
/// tables, a second table after them.
fn seed_big(pg: &PgServer, db: &str) {
    pg.create_db(db);
    pg.psql(
        db,
        "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, payload text);
         INSERT INTO events SELECT g, '2026-01-01'::timestamptz + g * interval '1 second',
                repeat(md5(g::text), 2) FROM generate_series(1, 300000) g;
         SELECT lo_from_bytea(4242, 'large object data');
         SELECT lo_from_bytea(4343, repeat('x', 100000)::bytea);
         CREATE TABLE zz_after (id int PRIMARY KEY, note text);
         INSERT INTO zz_after SELECT g, 'n' || g FROM generate_series(1, 5000) g;",
    );
}

/// A target with contents of its own, different from the backup's.
fn seed_target(pg: &PgServer, db: &str) {
    pg.create_db(db);
    pg.psql(
        db,
        "CREATE TABLE precious (id int PRIMARY KEY, v text);
         INSERT INTO precious SELECT g, 'keep me ' || g FROM generate_series(1, 100) g;
         SELECT lo_from_bytea(99, 'the target''s own large object');",
    );
}

/// Backends of lfb's clients (application_name `lfb`) on `db`.
fn lfb_sessions(pg: &PgServer, db: &str, filter: &str) -> u32 {
    pg.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' \
             AND application_name = 'lfb' {filter}"
        ),
    )
    .trim()
    .parse()
    .unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// Starts a restore of `file` into `target` and kills it with `sig` at a
/// point: `None` 50 ms after the start (before the load), `Some(ms)` that
/// long after psql started loading table data (a COPY is running).
/// Returns false when the restore had already finished (a fast machine):
/// then nothing was killed.
fn kill_restore(
    pg: &PgServer,
    st: &Path,
    file: &str,
    target: &str,
    sig: &str,
    at: Option<u64>,
) -> bool {
    let mut child = lfb("lfb-restore", st)
        .args(["--yes", "--no-safety-backup", "-f", file])
        .args(["--from", &stem_id(file)])
        .arg(pg.url(target))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    match at {
        None => std::thread::sleep(Duration::from_millis(50)),
        Some(ms) => {
            wait_for("the load's COPY", Duration::from_secs(60), || {
                lfb_sessions(pg, target, "AND state = 'active' AND query LIKE 'COPY %'") > 0
                    || child.try_wait().unwrap().is_some()
            });
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    if child.try_wait().unwrap().is_some() {
        eprintln!("the restore finished before it could be killed ({sig} at {at:?})");
        return false;
    }
    signal(&child, sig);
    let status = child.wait().unwrap();
    assert!(!status.success(), "{sig} at {at:?}: {status:?}");
    // psql dies with lfb-restore: its session goes away at once.
    wait_for("lfb's psql session to end", Duration::from_secs(10), || {
        lfb_sessions(pg, target, "") == 0
    });
    true
}

#[test]
fn a_killed_restore_never_commits_anything() {
    let Some(pg) = PgServer::start("restore_killed") else {
        return;
    };
    seed_big(&pg, "src");
    // However fast the machine, the restore must still be running when it
    // is killed: every row of `slow` sleeps 1 ms in its CHECK constraint,
    // so loading it takes at least 3 s.
    pg.psql(
        "src",
        "CREATE FUNCTION slow_ok(x int) RETURNS boolean LANGUAGE sql
             AS 'SELECT pg_sleep(0.001) IS NOT NULL';
         CREATE TABLE slow (x int CHECK (slow_ok(x)));
         INSERT INTO slow SELECT generate_series(1, 3000);",
    );
    let st = store();
    let plain = dump(st.path(), &["-F", "sql"], &pg.url("src"));
    let custom = dump(st.path(), &["-F", "custom"], &pg.url("src"));
    let source = pg.dump("src");
    seed_target(&pg, "target");
    let before = pg.dump("target");
    let mut landed = 0;
    for rec in [&plain, &custom] {
        let file = rec["path"].as_str().unwrap();
        for (sig, at) in [
            ("KILL", None),
            ("KILL", Some(0)),
            ("KILL", Some(300)),
            ("KILL", Some(900)),
            ("TERM", Some(100)),
            ("TERM", Some(600)),
            ("INT", Some(400)),
        ] {
            if !kill_restore(&pg, st.path(), file, "target", sig, at) {
                // Too late to kill on this machine: put the target back.
                pg.psql("postgres", "DROP DATABASE IF EXISTS target WITH (FORCE)");
                seed_target(&pg, "target");
                continue;
            }
            // Not assert_eq: the dumps are megabytes long.
            let after = pg.dump("target");
            if after == source {
                // The signal came after lfb's COMMIT (the whole dump, not a
                // part of it): a restore that finished, not one cut off.
                pg.psql("postgres", "DROP DATABASE IF EXISTS target WITH (FORCE)");
                seed_target(&pg, "target");
                continue;
            }
            landed += 1;
            assert!(
                after == before,
                "{file}: the target changed after {sig} at {at:?} ({} bytes of dump, {} before)",
                after.len(),
                before.len()
            );
        }
    }
    assert!(
        landed >= 10,
        "only {landed} of 14 kills landed during the load"
    );
    // A database the restore created is gone again after a kill.
    let exists = |db: &str| {
        pg.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        )
        .trim()
            == "1"
    };
    for (i, rec) in [&plain, &custom].into_iter().enumerate() {
        let fresh = format!("fresh{i}");
        kill_restore(
            &pg,
            st.path(),
            rec["path"].as_str().unwrap(),
            &fresh,
            "KILL",
            Some(200),
        );
        wait_for(
            "the created database to be dropped",
            Duration::from_secs(20),
            || !exists(&fresh),
        );
    }
    // The same artifacts restore completely when left alone.
    for rec in [&plain, &custom] {
        let out = run_with_input(
            lfb("lfb-restore", st.path())
                .args(["--yes", "--no-safety-backup"])
                .args(["--from", rec["id"].as_str().unwrap()])
                .arg(pg.url("target")),
            rec.to_string(),
        );
        out.assert_ok();
        assert!(pg.dump("target") == source, "full restore of {rec}");
    }
}

/// Row counts are compared before COMMIT: a record whose counts cannot
/// match the dump fails the restore and leaves the target as it was.
#[test]
fn a_row_count_mismatch_rolls_the_restore_back() {
    let Some(pg) = PgServer::start("restore_counts") else {
        return;
    };
    pg.create_db("src");
    pg.psql(
        "src",
        "CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 10);
         CREATE TABLE u (b int); INSERT INTO u VALUES (1);",
    );
    let st = store();
    seed_target(&pg, "target");
    let before = pg.dump("target");
    for format in ["sql", "custom"] {
        let mut rec = dump(st.path(), &["-F", format], &pg.url("src"));
        assert_eq!(rec["source"]["tables"]["public.t"], 10);
        rec["source"]["tables"]["public.t"] = 11.into();
        let out = run_with_input(
            lfb("lfb-restore", st.path())
                .args(["--yes", "--no-safety-backup"])
                .args(["--from", rec["id"].as_str().unwrap()])
                .arg(pg.url("target")),
            rec.to_string(),
        );
        out.assert_code(1);
        assert!(
            out.stderr
                .contains("differ from the record: public.t has 10 rows, expected 11"),
            "{format}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("the target is unchanged"),
            "{}",
            out.stderr
        );
        assert_eq!(pg.dump("target"), before, "{format}: the target changed");
    }
}

fn scratch_databases(pg: &PgServer) -> Vec<String> {
    pg.psql(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'lfb\\_scratch\\_%'",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn a_killed_restore_test_leaves_no_scratch_database() {
    let Some(pg) = PgServer::start("verify_killed") else {
        return;
    };
    seed_big(&pg, "src");
    // However fast the machine, the restore must still be running when it
    // is killed: every row of `slow` sleeps 1 ms in its CHECK constraint,
    // so loading it takes at least 3 s.
    pg.psql(
        "src",
        "CREATE FUNCTION slow_ok(x int) RETURNS boolean LANGUAGE sql
             AS 'SELECT pg_sleep(0.001) IS NOT NULL';
         CREATE TABLE slow (x int CHECK (slow_ok(x)));
         INSERT INTO slow SELECT generate_series(1, 3000);",
    );
    let st = store();
    let plain = dump(st.path(), &["-F", "sql"], &pg.url("src"));
    let custom = dump(st.path(), &["-F", "custom"], &pg.url("src"));
    for rec in [&plain, &custom] {
        for (sig, ms) in [("KILL", 0), ("KILL", 500), ("TERM", 300)] {
            let mut child = lfb("lfb-verify", st.path())
                .arg("--restore-test")
                .arg(rec["path"].as_str().unwrap())
                .env("DATABASE_URL", pg.url("src"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            wait_for("the scratch database", Duration::from_secs(60), || {
                !scratch_databases(&pg).is_empty() || child.try_wait().unwrap().is_some()
            });
            std::thread::sleep(Duration::from_millis(ms));
            assert!(
                child.try_wait().unwrap().is_none(),
                "lfb-verify finished before it could be killed"
            );
            assert!(!scratch_databases(&pg).is_empty());
            signal(&child, sig);
            let _ = child.wait();
            wait_for(
                "the scratch database to be dropped",
                Duration::from_secs(20),
                || scratch_databases(&pg).is_empty(),
            );
        }
    }
    // Left alone, the restore test passes and drops its database itself.
    let out = run(lfb("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(plain["path"].as_str().unwrap())
        .env("DATABASE_URL", pg.url("src")));
    out.assert_ok();
    assert!(scratch_databases(&pg).is_empty());
}

/// A dump that ends the transaction itself (a stray `COMMIT;` or
/// `ROLLBACK;` between two tables) cannot commit part of a restore: lfb
/// commits only its own transaction, after its own checks.
#[test]
fn a_dump_that_ends_the_transaction_itself_commits_nothing() {
    let Some(pg) = PgServer::start("restore_stray_tx") else {
        return;
    };
    pg.create_db("src");
    pg.psql(
        "src",
        "CREATE TABLE a (x int); INSERT INTO a SELECT generate_series(1, 10);
         CREATE TABLE b (y int); INSERT INTO b SELECT generate_series(1, 10);",
    );
    let st = store();
    let rec = dump(st.path(), &["-F", "sql", "-c", "none"], &pg.url("src"));
    let path = std::path::PathBuf::from(rec["path"].as_str().unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    seed_target(&pg, "target");
    let before = pg.dump("target");
    for stray in ["COMMIT;", "ROLLBACK;", "END;"] {
        // An artifact without a sidecar (as the original scripts made them):
        // only the stream checks apply, and the trailer is intact.
        let crafted = st.path().join("dev/crafted_backup_20260101_000000.sql");
        let cut = text.find("COPY public.b").expect("b's data");
        std::fs::write(
            &crafted,
            format!("{}{stray}\n\n{}", &text[..cut], &text[cut..]),
        )
        .unwrap();
        let out = run(lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup", "-f"])
            .arg(&crafted)
            .args(["--from", &stem_id(&crafted.to_string_lossy())])
            .arg(pg.url("target")));
        out.assert_code(1);
        assert!(
            out.stderr.contains("the target is unchanged"),
            "{stray}: {}",
            out.stderr
        );
        assert!(pg.dump("target") == before, "{stray}: the target changed");
    }
}

/// The artifact id of a file path (its name up to the first dot): what
/// `--from` takes to restore a backup into another database than its own.
fn stem_id(file: &str) -> String {
    let name = std::path::Path::new(file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    name.split('.').next().unwrap().to_string()
}
