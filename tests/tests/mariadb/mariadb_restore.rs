//! lfb-restore into a real, throwaway MariaDB server: a restore that fails
//! or is killed leaves the target as it was; production needs --confirm;
//! archive, prune and guard handle MariaDB dumps like any other.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lfb_tests::mariadb::MariaDb;
use lfb_tests::{bin, run, store};
use serde_json::Value;

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("MYSQL_PWD")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

fn dump(store: &Path, args: &[&str], url: &str) -> Value {
    let out = run(lfb("lfb-dump", store).args(args).arg(url));
    out.assert_ok();
    out.records().remove(0)
}

const SEED: &str = "CREATE TABLE acct (id INT PRIMARY KEY, owner VARCHAR(40), pad VARCHAR(200)) ENGINE=InnoDB;\n\
CREATE TABLE moves (id INT AUTO_INCREMENT PRIMARY KEY, acct_id INT, CONSTRAINT fk_moves FOREIGN KEY (acct_id) REFERENCES acct(id)) ENGINE=InnoDB;\n\
INSERT INTO acct SELECT seq, CONCAT('owner ', seq), REPEAT('z', 200) FROM seq_1_to_60000;\n\
INSERT INTO moves (acct_id) SELECT seq FROM seq_1_to_60000;\n\
CREATE VIEW rich AS SELECT id FROM acct WHERE id < 10;\n\
CREATE TRIGGER acct_bi BEFORE INSERT ON acct FOR EACH ROW SET NEW.owner = TRIM(NEW.owner);\n\
CREATE FUNCTION f1() RETURNS INT DETERMINISTIC RETURN 1;";

/// A different state of the same database: what the target holds before
/// the restore.
const DRIFT: &str = "DELETE FROM moves WHERE id > 100; DELETE FROM acct WHERE id > 200;\n\
INSERT INTO acct VALUES (999999, 'drift', '');\n\
CREATE TABLE only_in_target (x INT); INSERT INTO only_in_target VALUES (1);\n\
DROP VIEW rich; CREATE VIEW poor AS SELECT id FROM acct WHERE id > 5;\n\
CREATE TRIGGER moves_bi BEFORE INSERT ON moves FOR EACH ROW SET @m = 1;\n\
CREATE EVENT ev ON SCHEDULE EVERY 1 DAY STARTS '2031-01-01 00:00:00' DO SET @e = 1;";

/// Waits until no other client is connected (a swap client that lfb-restore
/// left running after being killed finishes its script).
fn wait_idle(my: &MariaDb) {
    let start = Instant::now();
    loop {
        let n: u32 = my
            .sql(
                None,
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon';",
            )
            .trim()
            .parse()
            .unwrap();
        if n == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "clients still connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lfb_dbs(my: &MariaDb) -> Vec<String> {
    my.sql(None, "SHOW DATABASES;")
        .lines()
        .filter(|l| l.starts_with("lfb_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_restore_that_fails_while_loading_leaves_the_target_identical() {
    let Some(my) = MariaDb::start("mariadb_failing_restore") else {
        return;
    };
    my.create_db("shop");
    my.sql(Some("shop"), SEED);
    let st = store();
    let rec = dump(st.path(), &[], &my.url("shop"));
    // A dump that is complete (trailer last) but whose SQL fails half-way:
    // written by hand, so it has no recorded checksum.
    let text = my.dump("shop");
    let bad_dir = st.path().join("dev");
    let bad = bad_dir.join("shop_db_manual_20260101T000000Z.sql");
    let mut body = String::from(
        "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n",
    );
    let cut = text.find("INSERT INTO `moves`").unwrap();
    body.push_str(&text[..cut]);
    body.push_str("INSERT INTO `moves` VALUES (1,1),(1,2);\n");
    body.push_str("\n-- Dump completed on 2026-01-01  0:00:00\n");
    std::fs::write(&bad, body).unwrap();
    my.sql(Some("shop"), DRIFT);
    let before = my.dump("shop");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--yes", "-f"])
        .arg(&bad)
        .arg(my.url("shop")));
    out.assert_code(1);
    assert!(
        out.stderr.contains("SQL error: ERROR") && out.stderr.contains("the target is unchanged"),
        "{}",
        out.stderr
    );
    assert_eq!(my.dump("shop"), before);
    assert!(lfb_dbs(&my).is_empty(), "{:?}", lfb_dbs(&my));
    // A corrupt artifact is refused before anything is touched.
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    let mut data = std::fs::read(&path).unwrap();
    let n = data.len();
    data.truncate(n - 40);
    std::fs::write(&path, data).unwrap();
    let out = run(lfb("lfb-restore", st.path())
        .args(["--yes", "-f"])
        .arg(&path)
        .arg(my.url("shop")));
    out.assert_code(1);
    assert_eq!(my.dump("shop"), before);
    assert!(lfb_dbs(&my).is_empty());
}

#[test]
fn a_restore_killed_at_any_point_leaves_the_old_or_the_new_database_never_a_mix() {
    let Some(my) = MariaDb::start("mariadb_killed_restore") else {
        return;
    };
    my.create_db("shop");
    my.sql(Some("shop"), SEED);
    let want_after = my.dump("shop");
    let st = store();
    let rec = dump(st.path(), &[], &my.url("shop"));
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    my.sql(Some("shop"), DRIFT);
    let before = my.dump("shop");
    // How long a whole restore takes, to spread the kills over it.
    let t0 = Instant::now();
    run(lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "--from", "shop", "-f"])
        .arg(&path)
        .arg(my.url("probe")))
    .assert_ok();
    let full = t0.elapsed();
    let tmp = tempfile::tempdir().unwrap();
    let mut seen_old = 0;
    let mut seen_new = 0;
    for i in 0..6u32 {
        // Back to the drifted state.
        if my.dump("shop") != before {
            my.sql(None, "DROP DATABASE shop; CREATE DATABASE shop;");
            my.sql(Some("shop"), SEED);
            my.sql(Some("shop"), DRIFT);
            assert_eq!(my.dump("shop"), before);
        }
        let at = full.mul_f64(0.1 + 0.17 * f64::from(i));
        let mut child = lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup", "-f"])
            .arg(&path)
            .arg(my.url("shop"))
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        wait_idle(&my);
        let now = my.dump("shop");
        if now == before {
            seen_old += 1;
        } else {
            assert_eq!(now, want_after, "killed after {at:?}: neither old nor new");
            seen_new += 1;
        }
        // Leftover shadow databases (kill -9 cannot clean up) are never
        // the target; the next run drops them.
        for db in lfb_dbs(&my) {
            assert!(db.starts_with("lfb_new_"), "{db}");
        }
    }
    assert!(seen_old > 0, "no kill landed before the swap");
    // A run after the kills cleans up what they left: shadow databases and
    // private option-file folders.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    let r = run(lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "-f"])
        .arg(&path)
        .arg(my.url("shop"))
        .env("TMPDIR", tmp.path()));
    r.assert_ok();
    assert_eq!(my.dump("shop"), want_after);
    assert!(lfb_dbs(&my).is_empty(), "{:?}", lfb_dbs(&my));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?} (before: {leftovers:?})");
    eprintln!("killed restores: {seen_old} left the old database, {seen_new} the new one");
}

#[test]
fn sigterm_during_a_restore_drops_the_shadow_and_changes_nothing() {
    let Some(my) = MariaDb::start("mariadb_sigterm_restore") else {
        return;
    };
    my.create_db("shop");
    my.sql(Some("shop"), SEED);
    let st = store();
    let rec = dump(st.path(), &[], &my.url("shop"));
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    my.sql(Some("shop"), DRIFT);
    let before = my.dump("shop");
    let child = lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "-f"])
        .arg(&path)
        .arg(my.url("shop"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the shadow database, then interrupt.
    let start = Instant::now();
    while lfb_dbs(&my).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no shadow seen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
    wait_idle(&my);
    assert_eq!(my.dump("shop"), before);
    assert!(lfb_dbs(&my).is_empty(), "{:?}", lfb_dbs(&my));
}

#[test]
fn production_restore_needs_confirm_naming_the_database() {
    let Some(my) = MariaDb::start("mariadb_prod_confirm") else {
        return;
    };
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE t (x INT); INSERT INTO t VALUES (1);",
    );
    let st = store();
    let rec = dump(st.path(), &["--env", "prod"], &my.url("shop"));
    my.sql(Some("shop"), "INSERT INTO t VALUES (2);");
    let before = my.dump("shop");
    for extra in [vec![], vec!["--confirm", "other"]] {
        let out = run(lfb("lfb-restore", st.path())
            .args(["--env", "prod", "-f"])
            .arg(rec["path"].as_str().unwrap())
            .args(extra)
            .arg(my.url("shop")));
        out.assert_code(2);
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
        assert_eq!(my.dump("shop"), before);
    }
}

#[test]
fn archive_prune_and_guard_handle_mariadb_dumps() {
    let Some(my) = MariaDb::start("mariadb_tools") else {
        return;
    };
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE t (x INT PRIMARY KEY, pad VARCHAR(200)); INSERT INTO t SELECT seq, SHA2(seq, 256) FROM seq_1_to_3000;",
    );
    let st = store();
    let first = dump(st.path(), &["--tag", "daily"], &my.url("shop"));
    std::thread::sleep(Duration::from_millis(1100));
    let second = dump(st.path(), &["--tag", "daily"], &my.url("shop"));
    // Archive: the dump goes in with its record; its restore test works
    // from inside the archive.
    let arch = run(lfb("lfb-archive", st.path())
        .arg(second["path"].as_str().unwrap())
        .stdin(Stdio::null()));
    arch.assert_ok();
    let arec = arch.records().pop().unwrap();
    assert_eq!(arec["kind"], "full");
    let v = run(lfb("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(arec["path"].as_str().unwrap()));
    v.assert_ok();
    let v = run(lfb("lfb-verify", st.path()).arg(first["path"].as_str().unwrap()));
    v.assert_ok();
    let v = run(lfb("lfb-verify", st.path()).arg(second["path"].as_str().unwrap()));
    v.assert_ok();
    // Prune: keep the newest db dump of the group, delete the older one.
    let plan = run(lfb("lfb-prune", st.path())
        .args(["--kind", "db", "--keep-last", "1"])
        .stdin(Stdio::null()));
    plan.assert_ok();
    assert!(!Path::new(first["path"].as_str().unwrap()).exists());
    assert!(Path::new(second["path"].as_str().unwrap()).exists());
    // Guard: the store is healthy.
    let g = run(lfb("lfb-guard", st.path())
        .args(["--expect", "daily"])
        .stdin(Stdio::null()));
    g.assert_ok();
    // Restore from the archive into another database.
    let r = run(lfb("lfb-restore", st.path())
        .args(["--yes", "--from", "shop", "-f"])
        .arg(arec["path"].as_str().unwrap())
        .arg(my.url("from_archive")));
    r.assert_ok();
    assert_eq!(
        my.sql(Some("from_archive"), "SELECT COUNT(*) FROM t;")
            .trim(),
        "3000"
    );
}

#[test]
fn a_dump_that_switches_databases_is_never_loaded_and_scratch_is_never_the_source() {
    let Some(my) = MariaDb::start("mariadb_switching_dump") else {
        return;
    };
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE t (x INT); INSERT INTO t VALUES (1);",
    );
    let st = store();
    let rec = dump(st.path(), &[], &my.url("shop"));
    // A dump made with --databases: it says USE `shop` and would write into
    // shop whatever database it is loaded into.
    let out = run(my.command("mariadb-dump").args(["--databases", "shop"]));
    out.assert_ok();
    let text = out.stdout.replace(
        "INSERT INTO `t` VALUES (1)",
        "INSERT INTO `t` VALUES (1),(2)",
    );
    let path = st.path().join("dev/shop_db_manual_20260101T000000Z.sql");
    std::fs::write(&path, text).unwrap();
    let before = my.dump("shop");
    let v = run(lfb("lfb-verify", st.path())
        .args(["--checks", "restore"])
        .arg(&path));
    v.assert_code(1);
    assert!(v.stderr.contains("--databases"), "{}", v.stderr);
    // lfb-verify remembered the failure in a sidecar, and lfb-restore would
    // refuse the failed record at once; without it, the restore itself must
    // find the statement.
    std::fs::remove_file(format!("{}.json", path.display())).unwrap();
    let r = run(lfb("lfb-restore", st.path())
        .args(["--yes", "--from", "shop", "-f"])
        .arg(&path)
        .arg(my.url("other")));
    r.assert_code(1);
    assert!(r.stderr.contains("--databases"), "{}", r.stderr);
    assert_eq!(my.dump("shop"), before);
    assert!(lfb_dbs(&my).is_empty());
    // The same deep inside a large dump: the client is cut off before it
    // has the line, so the other database is never touched.
    my.create_db("victim");
    my.sql(
        Some("victim"),
        "CREATE TABLE keep (x INT); INSERT INTO keep VALUES (7);",
    );
    my.sql(
        Some("shop"),
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200));\n\
         INSERT INTO big SELECT seq, SHA2(seq, 256) FROM seq_1_to_40000;",
    );
    let big = my.dump("shop");
    let cut = big.find("INSERT INTO `t`").expect("t's data");
    let evil = format!(
        "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n{}USE `victim`;\nDROP TABLE `keep`;\n{}\n-- Dump completed on 2026-01-01  0:00:00\n",
        &big[..cut],
        &big[cut..]
    );
    assert!(cut > 1 << 20, "the switch must come after the first blocks");
    let path2 = st.path().join("dev/shop_db_manual_20260102T000000Z.sql");
    std::fs::write(&path2, evil).unwrap();
    let before_shop = my.dump("shop");
    let r = run(lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "-f"])
        .arg(&path2)
        .arg(my.url("shop")));
    r.assert_code(1);
    assert!(
        r.stderr.contains("selects or creates a database"),
        "{}",
        r.stderr
    );
    assert_eq!(my.sql(Some("victim"), "SELECT x FROM keep;").trim(), "7");
    assert_eq!(my.dump("shop"), before_shop);
    assert!(lfb_dbs(&my).is_empty());
    my.sql(Some("shop"), "DROP TABLE big;");

    // --scratch naming the source database is refused; another name works
    // and is dropped afterwards.
    let p = rec["path"].as_str().unwrap();
    let v = run(lfb("lfb-verify", st.path())
        .args(["--min-size", "0", "--restore-test", "--scratch"])
        .arg(my.url("shop"))
        .arg(p));
    v.assert_code(1);
    assert!(v.stdout.contains("source database itself"), "{}", v.stdout);
    let v = run(lfb("lfb-verify", st.path())
        .args(["--min-size", "0", "--restore-test", "--scratch"])
        .arg(my.url("my_scratch"))
        .arg(p));
    v.assert_ok();
    assert!(!my.sql(None, "SHOW DATABASES;").contains("my_scratch"));
    assert_eq!(my.dump("shop"), before);
}

#[test]
fn a_swap_that_cannot_get_its_locks_puts_back_the_old_triggers_and_views() {
    let Some(my) = MariaDb::start("mariadb_swap_rollback") else {
        return;
    };
    my.create_db("shop");
    my.sql(Some("shop"), SEED);
    let st = store();
    let rec = dump(st.path(), &[], &my.url("shop"));
    my.sql(Some("shop"), DRIFT);
    let before = my.dump("shop");
    // A transaction that has read `only_in_target` holds a metadata lock on
    // it until it ends: the swap's RENAME TABLE waits for it in vain, after
    // the triggers of `acct` and `moves` and the view `poor` were dropped.
    let mut holder = my
        .command("mariadb")
        .args(["--database=shop", "--batch", "--unbuffered"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    {
        use std::io::{BufRead, Write};
        let stdin = holder.stdin.as_mut().unwrap();
        stdin
            .write_all(b"START TRANSACTION;\nSELECT COUNT(*) FROM only_in_target;\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("COUNT"), "{line:?}");
    }
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the lock holder exited"
    );
    let out = run(lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "-f"])
        .arg(rec["path"].as_str().unwrap())
        .arg(my.url("shop"))
        .env("LFB_MYSQL_LOCK_WAIT", "2"));
    drop(holder.stdin.take());
    let _ = holder.wait();
    out.assert_code(1);
    assert!(
        out.stderr.contains("the swap failed") && out.stderr.contains("the target is unchanged"),
        "{}",
        out.stderr
    );
    assert_eq!(my.dump("shop"), before);
    assert!(lfb_dbs(&my).is_empty(), "{:?}", lfb_dbs(&my));
}
