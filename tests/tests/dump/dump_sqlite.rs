//! lfb-dump of SQLite databases, checked with the `sqlite3` shell: the SQL
//! dump reproduces the database exactly, the native copy is page-exact, and
//! a database being written to is dumped as one consistent snapshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lfb_tests::{bin, gzip_test, run, run_with_input, sha256sum, store};

fn sqlite3_available() -> bool {
    Command::new("sqlite3").arg("-version").output().is_ok()
}

fn tricky_db(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        r#"
        PRAGMA user_version = 42;
        CREATE TABLE "odd ""name""" ("select" INTEGER PRIMARY KEY AUTOINCREMENT, "a b" TEXT, r REAL, b BLOB, n);
        CREATE TABLE plain (x TEXT, y INTEGER);
        CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
        CREATE INDEX plain_y ON plain(y);
        CREATE VIEW v_plain AS SELECT x, y * 2 AS yy FROM plain;
        CREATE TRIGGER plain_ins AFTER INSERT ON plain BEGIN INSERT INTO kv VALUES ('last', NEW.x) ON CONFLICT(k) DO UPDATE SET v = excluded.v; END;
        "#,
    )
    .unwrap();
    let mut ins = c
        .prepare(r#"INSERT INTO "odd ""name""" ("a b", r, b, n) VALUES (?1, ?2, ?3, ?4)"#)
        .unwrap();
    let texts = [
        "it's",
        "two\nlines\r\n",
        "nul\0inside",
        "ünïcødé ✓",
        "",
        "'; DROP TABLE plain; --",
    ];
    let reals = [
        0.1,
        -0.0,
        1e300,
        5e-324,
        f64::MAX,
        3.0,
        f64::INFINITY,
        -1.5e-7,
    ];
    for i in 0..200usize {
        ins.execute(rusqlite::params![
            texts[i % texts.len()],
            reals[i % reals.len()],
            if i % 3 == 0 {
                Some(vec![0u8, 1, 2, 255, i as u8])
            } else {
                None
            },
            if i % 2 == 0 {
                rusqlite::types::Value::Integer(i64::MIN + i as i64)
            } else {
                rusqlite::types::Value::Null
            },
        ])
        .unwrap();
    }
    c.execute_batch("DELETE FROM \"odd \"\"name\"\"\" WHERE \"select\" % 7 = 0;")
        .unwrap();
    for i in 0..50 {
        c.execute(
            "INSERT INTO plain (x, y) VALUES (?1, ?2)",
            rusqlite::params![format!("x{i}"), i],
        )
        .unwrap();
    }
    // Gaps in plain rowids must survive too.
    c.execute_batch("DELETE FROM plain WHERE y % 5 = 1;")
        .unwrap();
}

fn shell_dump(db: &Path) -> String {
    let out = run(Command::new("sqlite3").arg(db).arg(".dump"));
    out.assert_ok();
    out.stdout
}

fn lfb_dump(store: &Path, args: &[&str], db: &Path) -> serde_json::Value {
    let out = run(Command::new(bin("lfb-dump"))
        .arg("--store")
        .arg(store)
        .args(args)
        .arg(db));
    out.assert_ok();
    let mut recs = out.records();
    assert_eq!(recs.len(), 1);
    recs.remove(0)
}

fn gunzip_to(src: &Path, dest: &Path) {
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(src)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(dest, out.stdout).unwrap();
}

#[test]
fn sql_dump_loads_in_the_sqlite3_shell_and_reproduces_the_database() {
    if !sqlite3_available() {
        lfb_tests::skip::<()>(
            "sql_dump_loads_in_the_sqlite3_shell",
            "sqlite3 shell not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.sqlite3");
    tricky_db(&db);
    let st = store();
    let r = lfb_dump(st.path(), &["--tag", "daily"], &db);
    assert_eq!(r["format"], "sql+gzip");
    assert_eq!(r["source"]["engine"], "sqlite");
    let path = PathBuf::from(r["path"].as_str().unwrap());
    gzip_test(&path);
    assert_eq!(sha256sum(&path), r["sha256"].as_str().unwrap());
    let tables = r["source"]["tables"].as_object().unwrap();
    assert_eq!(tables["plain"], 40);
    assert_eq!(tables["odd \"name\""], 200 - 200 / 7);

    let sql = dir.path().join("dump.sql");
    gunzip_to(&path, &sql);
    let text = std::fs::read_to_string(&sql).unwrap_or_default();
    assert!(text.trim_end().ends_with("COMMIT;"));
    let restored = dir.path().join("restored.sqlite3");
    let out = run_with_input(
        Command::new("sqlite3").arg("-bail").arg(&restored),
        std::fs::read(&sql).unwrap(),
    );
    out.assert_ok();
    assert_eq!(out.stderr, "");
    assert_eq!(shell_dump(&db), shell_dump(&restored));
    let pragma = |p: &Path, q: &str| run(Command::new("sqlite3").arg(p).arg(q)).stdout;
    assert_eq!(pragma(&restored, "PRAGMA user_version"), "42\n");
    for q in [
        "SELECT * FROM sqlite_sequence",
        "SELECT rowid, x, y FROM plain",
        "SELECT \"select\", hex(CAST(\"a b\" AS BLOB)), hex(r), typeof(r), hex(b), n FROM \"odd \"\"name\"\"\"",
    ] {
        assert_eq!(pragma(&db, q), pragma(&restored, q), "{q}");
    }
}

#[test]
fn native_copy_is_a_whole_database() {
    if !sqlite3_available() {
        lfb_tests::skip::<()>(
            "native_copy_is_a_whole_database",
            "sqlite3 shell not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    tricky_db(&db);
    let st = store();
    let r = lfb_dump(st.path(), &["-F", "native"], &db);
    assert_eq!(r["format"], "sqlite+gzip");
    let path = PathBuf::from(r["path"].as_str().unwrap());
    assert!(path.to_string_lossy().ends_with(".sqlite3.gz"));
    gzip_test(&path);
    let copy = dir.path().join("copy.db");
    gunzip_to(&path, &copy);
    assert_eq!(
        run(Command::new("sqlite3")
            .arg(&copy)
            .arg("PRAGMA integrity_check"))
        .stdout,
        "ok\n"
    );
    assert_eq!(shell_dump(&db), shell_dump(&copy));

    let r = lfb_dump(
        st.path(),
        &["-F", "native", "-c", "none", "--name", "raw"],
        &db,
    );
    let path = PathBuf::from(r["path"].as_str().unwrap());
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("raw_db_manual_")
    );
    assert_eq!(shell_dump(&db), shell_dump(&path));
}

#[test]
fn a_wal_database_being_written_is_dumped_as_one_snapshot() {
    if !sqlite3_available() {
        lfb_tests::skip::<()>(
            "a_wal_database_being_written",
            "sqlite3 shell not installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("busy.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE a (id INTEGER PRIMARY KEY, pad TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, pad TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60000)
             INSERT INTO a SELECT i, printf('%0200d', i) FROM n;
             INSERT INTO b SELECT * FROM a;",
        )
        .unwrap();
    }
    // A writer keeps adding one row to both tables per transaction.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let db = db.clone();
        std::thread::spawn(move || {
            let c = rusqlite::Connection::open(&db).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                c.execute_batch("BEGIN IMMEDIATE; INSERT INTO a (pad) VALUES ('w'); INSERT INTO b (pad) VALUES ('w'); COMMIT;")
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let st = store();
    let r = lfb_dump(st.path(), &[], &db);
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 0);
    let t = r["source"]["tables"].as_object().unwrap();
    assert_eq!(t["a"], t["b"], "counts come from one snapshot");

    let sql = dir.path().join("dump.sql");
    gunzip_to(&PathBuf::from(r["path"].as_str().unwrap()), &sql);
    let restored = dir.path().join("restored.db");
    run_with_input(
        Command::new("sqlite3").arg("-bail").arg(&restored),
        std::fs::read(&sql).unwrap(),
    )
    .assert_ok();
    let count = |q: &str| {
        run(Command::new("sqlite3").arg(&restored).arg(q))
            .stdout
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let a = count("SELECT count(*) FROM a");
    assert_eq!(a, count("SELECT count(*) FROM b"));
    assert_eq!(a, t["a"].as_u64().unwrap());
    assert!(a >= 60000);
}

#[test]
fn the_demo_dumps_without_any_database() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let out = run(Command::new(bin("lfb-dump"))
        .env("XDG_DATA_HOME", home.path())
        .arg("--store")
        .arg(st.path())
        .arg("--demo"));
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["source"]["tables"]["transactions"], 5000);
    assert_eq!(r["source"]["tables"]["accounts"], 6);
    gzip_test(r["path"].as_str().unwrap());
}
