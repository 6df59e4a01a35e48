//! Two lfb-restore runs into the same target database are serialised by a
//! per-target lock file in the store (`STORE/.lfb-locks/`): the second
//! waits for the first (within --wait) and then restores correctly, or
//! gives up with exit 2 naming the holder, the target unchanged.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

fn seeded(pg: &PgServer) -> String {
    pg.create_db("shop");
    pg.psql(
        "shop",
        "CREATE TABLE orders (id int PRIMARY KEY, note text);
         INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1, 150000) g;
         CREATE TABLE items (id int PRIMARY KEY, o int REFERENCES orders);
         INSERT INTO items SELECT g, g FROM generate_series(1, 150000) g;",
    );
    pg.url("shop")
}

fn dump(store: &Path, url: &str) -> Value {
    let out = run(lfb("lfb-dump", store).arg(url));
    out.assert_ok();
    out.records().remove(0)
}

#[test]
fn two_restores_into_one_database_run_one_after_the_other() {
    let Some(pg) = PgServer::start("restore_target_lock_race") else {
        return;
    };
    let url = seeded(&pg);
    let st = store();
    let rec = dump(st.path(), &url);
    pg.psql("shop", "DELETE FROM items WHERE id > 10;");
    let spawn = || {
        let mut child = lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup", "--wait", "5m"])
            .arg(&url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{rec}").unwrap();
        drop(stdin);
        child
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(!err.contains("differ"), "{err}");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["restore"]["ok"], true, "{r}");
        assert_eq!(r["restore"]["counts"]["public.items"], 150000, "{r}");
    }
    assert_eq!(
        pg.psql("shop", "SELECT count(*) FROM items").trim(),
        "150000"
    );
}

#[test]
fn a_restore_that_cannot_get_the_target_lock_is_exit_2_naming_the_holder() {
    let Some(pg) = PgServer::start("restore_target_lock_held") else {
        return;
    };
    let url = seeded(&pg);
    let st = store();
    let rec = dump(st.path(), &url);
    // A first restore makes the target's lock file.
    run_with_input(
        lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup"])
            .arg(&url),
        rec.to_string(),
    )
    .assert_ok();
    let locks: Vec<_> = std::fs::read_dir(st.path().join(".lfb-locks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert!(
        locks[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("restore-postgres-shop-")
    );
    // Someone else holds it now.
    let mut held = File::options().write(true).open(&locks[0]).unwrap();
    held.lock().unwrap();
    held.set_len(0).unwrap();
    writeln!(held, "lfb-restore pid 4242 since 2026-12-01T00:00:00Z").unwrap();
    pg.psql("shop", "DELETE FROM items WHERE id > 10;");
    let out = run_with_input(
        lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup", "--wait", "1s"])
            .arg(&url),
        rec.to_string(),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("pid 4242"), "{}", out.stderr);
    assert!(out.stderr.contains("being restored"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM items").trim(), "10");
    // Released: the same restore goes through.
    drop(held);
    std::thread::sleep(Duration::from_millis(50));
    run_with_input(
        lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup", "--wait", "1s"])
            .arg(&url),
        rec.to_string(),
    )
    .assert_ok();
    assert_eq!(
        pg.psql("shop", "SELECT count(*) FROM items").trim(),
        "150000"
    );
}
