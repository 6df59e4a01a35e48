//! lfb-dump, lfb-verify and lfb-restore against a real, throwaway MariaDB
//! server: a schema with every column type, views, triggers, routines,
//! events, foreign keys, AUTO_INCREMENT positions and odd identifiers
//! survives the round trip exactly; counts come from the dump stream;
//! failures to connect are exit 2 with clear messages; a password never
//! leaks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lfb_tests::mariadb::MariaDb;
use lfb_tests::{bin, gzip_test, run, sha256sum, store};
use serde_json::Value;

/// Every column type worth having, odd identifiers, and stored programs.
pub const SCHEMA: &str = r#"
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
CREATE TABLE parent (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE) ENGINE=InnoDB;
CREATE TABLE `types` (
  id INT AUTO_INCREMENT PRIMARY KEY,
  parent_id INT,
  dec_v DECIMAL(30,10), flt FLOAT, dbl DOUBLE, big BIGINT UNSIGNED, tiny TINYINT,
  bits BIT(10), en ENUM('a','b','c d'), st SET('x','y','z'),
  js JSON, geo GEOMETRY, pt POINT,
  bl BLOB, lbl LONGBLOB, vb VARBINARY(40), bn BINARY(4),
  tx TEXT, vc VARCHAR(200), ch CHAR(5),
  dt DATETIME(6), ts TIMESTAMP NULL DEFAULT NULL, dd DATE, tm TIME(3), yr YEAR,
  u UUID, ip INET6,
  CONSTRAINT fk_types_parent FOREIGN KEY (parent_id) REFERENCES parent(id) ON DELETE SET NULL
) ENGINE=InnoDB;
CREATE TABLE `we``ird ✓ "tbl"` (`col``q` INT, `Bücher` VARCHAR(20)) ENGINE=InnoDB;
CREATE TABLE `Bücher` (id INT PRIMARY KEY, title VARCHAR(100)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE empty_one (x INT) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB;
CREATE SEQUENCE invoice_no START WITH 1000 INCREMENT BY 5;
INSERT INTO parent (name) VALUES ('one'), ('two'), ('three');
DELETE FROM parent WHERE name = 'three';
ALTER TABLE parent AUTO_INCREMENT = 500;
INSERT INTO `types` (parent_id, dec_v, flt, dbl, big, tiny, bits, en, st, js, geo, pt, bl, lbl, vb, bn,
  tx, vc, ch, dt, ts, dd, tm, yr, u, ip) VALUES
 (1, 12345678901234567890.0123456789, 1.5, -2.25e-300, 18446744073709551615, -128, b'1010101010', 'c d', 'x,z',
  '{"k": [1, "two", null, {"q": "a\\"b"}]}', ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), POINT(1.5, -2),
  UNHEX('00FF00270A5C0D'), REPEAT(UNHEX('00'), 70000), UNHEX('2C28292C'), UNHEX('00000001'),
  'line\nwith ),( and \'quotes\' and ; and \\ backslash', 'emoji 😀 and ✓', 'abc',
  '2026-11-30 12:34:56.123456', '2026-11-30 12:00:00', '2026-01-31', '-838:59:59.000', 2026,
  '6ccd780c-baba-1026-9564-5b8c656024db', '2001:db8::1'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL,
  '', NULL, NULL, NULL, '', '),(', NULL, '0000-00-00 00:00:00', NULL, '0000-00-00', NULL, 0000, NULL, NULL),
 (NULL, 0.5, 0, 0, 0, 0, b'0', 'a', 'y', '[]', NULL, NULL, NULL, NULL, NULL, NULL, '(', ');', 'x', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO `types` (tx) SELECT CONCAT('row ', seq, ' (', seq, '),(x') FROM seq_1_to_2000;
ALTER TABLE `types` AUTO_INCREMENT = 90000;
INSERT INTO `we``ird ✓ "tbl"` VALUES (1, 'ä'), (NULL, '`'), (3, '\\');
INSERT INTO `Bücher` VALUES (1, 'Der Zauberberg'), (2, 'Ἰλιάς');
CREATE VIEW parent_names AS SELECT id, UPPER(name) AS n FROM parent;
CREATE VIEW v_of_v AS SELECT n FROM parent_names WHERE id > 0;
CREATE VIEW `Bücher view` AS SELECT title FROM `Bücher`;
CREATE TRIGGER types_ai AFTER INSERT ON `types` FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('types ', NEW.id));
CREATE TRIGGER types_ai2 AFTER INSERT ON `types` FOR EACH ROW FOLLOWS types_ai SET @last_types = NEW.id;
CREATE TRIGGER parent_bi BEFORE INSERT ON parent FOR EACH ROW SET NEW.name = LOWER(NEW.name);
DELIMITER //
CREATE PROCEDURE add_parent(IN n VARCHAR(50)) BEGIN INSERT INTO parent (name) VALUES (n); SELECT 'done; really'; END//
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2//
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DO DELETE FROM audit WHERE id < 0;
CREATE EVENT paused ON SCHEDULE EVERY 1 HOUR STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < 0;
"#;

pub fn seed(my: &MariaDb, db: &str) {
    my.create_db(db);
    my.sql(Some(db), SCHEMA);
}

pub fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("MYSQL_PWD");
    c
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn record_path(r: &Value) -> PathBuf {
    PathBuf::from(r["path"].as_str().expect("path"))
}

#[test]
fn every_type_and_object_survives_dump_verify_and_restore_exactly() {
    let Some(my) = MariaDb::start("mariadb_round_trip") else {
        return;
    };
    seed(&my, "shop");
    let before = my.dump("shop");
    let st = store();
    let out = run(lfb("lfb-dump", st.path())
        .args(["--tag", "hourly", "--env", "prod"])
        .arg(my.url("shop")));
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["format"], "sql+gzip");
    assert_eq!(r["source"]["engine"], "mysql");
    assert_eq!(r["source"]["database"], "shop");
    assert!(
        r["source"]["server_version"]
            .as_str()
            .unwrap()
            .contains("MariaDB"),
        "{r}"
    );
    assert!(
        r["source"]["tool"]
            .as_str()
            .unwrap()
            .starts_with("mariadb-dump"),
        "{r}"
    );
    let tables = &r["source"]["tables"];
    assert_eq!(tables["types"], 2003, "{tables}");
    assert_eq!(tables["audit"], 0, "the triggers came after the rows");
    assert_eq!(tables["parent"], 2);
    assert_eq!(tables["empty_one"], 0);
    assert_eq!(tables["we`ird ✓ \"tbl\""], 3);
    assert_eq!(tables["Bücher"], 2);
    assert!(tables.get("parent_names").is_none(), "views have no rows");
    let path = record_path(r);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("shop_db_hourly_") && name.ends_with(".sql.gz"),
        "{name}"
    );
    gzip_test(&path);
    assert_eq!(sha256sum(&path), r["sha256"].as_str().unwrap());
    // Verify with a restore test into a scratch database, always dropped.
    let v = run(lfb("lfb-verify", st.path())
        .arg("--restore-test")
        .arg(&path));
    v.assert_ok();
    let checks = &v.records()[0]["verify"]["checks"];
    let restore = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "restore")
        .unwrap();
    assert_eq!(restore["ok"], true, "{checks}");
    assert!(
        restore["detail"].as_str().unwrap().contains("as recorded"),
        "{restore}"
    );
    let dbs = my.sql(None, "SHOW DATABASES;");
    assert!(!dbs.contains("lfb_"), "scratch left behind: {dbs}");

    // Restore into a new database: identical.
    let res = run(lfb("lfb-restore", st.path())
        // A backup from prod: a production restore, whatever the target.
        .args(["--env", "dev", "--confirm", "copy", "--from", "shop", "-f"])
        .arg(&path)
        .arg(my.url("copy")));
    res.assert_ok();
    assert_eq!(my.dump("copy"), before, "restored copy differs");

    // Drift the source in every way, then restore over it: identical again.
    my.sql(
        Some("shop"),
        "INSERT INTO parent (name) VALUES ('DRIFT'); DELETE FROM `types` WHERE id = 3;\n\
         CREATE TABLE newer (x INT); DROP VIEW v_of_v; CREATE VIEW extra_v AS SELECT 1 AS one;\n\
         DROP TRIGGER parent_bi; CREATE TRIGGER newer_bi BEFORE INSERT ON newer FOR EACH ROW SET NEW.x = 1;\n\
         DROP PROCEDURE add_parent; CREATE PROCEDURE other() SELECT 1;\n\
         DROP EVENT paused; ALTER TABLE parent AUTO_INCREMENT = 7000;\n\
         ALTER TABLE `types` ADD COLUMN drift INT;",
    );
    assert_ne!(my.dump("shop"), before);
    let res = run(lfb("lfb-restore", st.path())
        .args(["--env", "prod", "--confirm", "shop", "-f"])
        .arg(&path)
        .arg(my.url("shop")));
    res.assert_ok();
    let rr = &res.records()[0]["restore"];
    assert_eq!(rr["ok"], true, "{rr}");
    let safety = rr["safety_backup"].as_str().expect("safety backup");
    assert!(Path::new(safety).is_file());
    assert_eq!(my.dump("shop"), before, "restore over drift differs");
    let dbs = my.sql(None, "SHOW DATABASES;");
    assert!(!dbs.contains("lfb_"), "shadow/old left behind: {dbs}");
    // The triggers work on the restored tables.
    my.sql(
        Some("shop"),
        "INSERT INTO parent (name) VALUES ('UPPER'); INSERT INTO `types` (tx) VALUES ('t');",
    );
    assert_eq!(
        my.sql(
            Some("shop"),
            "SELECT name FROM parent ORDER BY id DESC LIMIT 1;"
        )
        .trim(),
        "upper"
    );
    assert_eq!(
        my.sql(Some("shop"), "SELECT COUNT(*) FROM audit;").trim(),
        "1"
    );
    // The safety backup undoes the restore.
    let undo = run(lfb("lfb-restore", st.path())
        .args([
            "--env",
            "prod",
            "--confirm",
            "shop",
            "--no-safety-backup",
            "-f",
        ])
        .arg(safety)
        .arg(my.url("shop")));
    undo.assert_ok();
    assert!(my.dump("shop").contains("CREATE TABLE `newer`"));
}

#[test]
fn connection_failures_are_exit_2_with_clear_messages() {
    let Some(my) = MariaDb::start("mariadb_conn_failures") else {
        return;
    };
    my.create_db("shop");
    my.create_user("app", "right-pw");
    let st = store();
    let cases = [
        (my.url_as("app", "wrong-pw", "shop"), "Access denied"),
        (my.url("no_such_db"), "Unknown database"),
        (
            "mysql://root@localhost/shop?socket=/nonexistent/mysqld.sock".to_string(),
            "Can't connect",
        ),
        ("mysql://root@127.0.0.1:1/shop".to_string(), "Can't connect"),
    ];
    for (url, want) in cases {
        let out = run(lfb("lfb-dump", st.path()).arg(&url));
        out.assert_code(2);
        assert!(
            out.stderr.contains(want),
            "{url}: want {want:?} in: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        assert!(!out.stderr.contains("wrong-pw"));
        let rec = &out.records()[0];
        assert!(rec["error"].is_object());
    }
    assert!(
        files_under(st.path())
            .iter()
            .all(|p| p.starts_with(st.path().join("logs")) || p.ends_with(".lfb.lock")),
        "{:?}",
        files_under(st.path())
    );
    let bad = run(lfb("lfb-dump", st.path()).arg("mysql://h/db?sslmode=require"));
    bad.assert_code(2);
    assert!(bad.stderr.contains("sslmode"), "{}", bad.stderr);
}

/// Every process's command line and environment right now, as text.
fn all_cmdlines_and_environs() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            for f in ["cmdline", "environ"] {
                if let Ok(b) = std::fs::read(e.path().join(f)) {
                    out.push(String::from_utf8_lossy(&b).into_owned());
                }
            }
        }
    }
    out
}

/// Runs `cmd` while sampling every process's argv and environment; panics
/// if `secret` shows up in one. Returns the output.
fn run_sampling(cmd: &mut Command, secret: &str) -> lfb_tests::Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let sampler = {
        let secret = secret.to_string();
        std::thread::spawn(move || {
            let mut samples = 0;
            while lfb_tests::process_alive(pid) {
                for text in all_cmdlines_and_environs() {
                    assert!(
                        !text.contains(&secret),
                        "the password is visible in /proc: {text:?}"
                    );
                }
                samples += 1;
            }
            samples
        })
    };
    let out = child.wait_with_output().expect("wait");
    let samples = sampler.join().expect("password visible in /proc");
    assert!(samples > 0);
    lfb_tests::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_password_never_reaches_argv_environment_records_journal_or_messages() {
    let Some(my) = MariaDb::start("mariadb_password") else {
        return;
    };
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200));\n\
         INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_150000;",
    );
    let password = "s3cr#t \"pw\" 'q' \\ ;x";
    my.create_user("app", password);
    let url = my.url_as("app", password, "shop");
    let st = store();
    let tmp = tempfile::tempdir().unwrap();
    let dump = run_sampling(
        lfb("lfb-dump", st.path())
            .arg(&url)
            .env("TMPDIR", tmp.path()),
        password,
    );
    dump.assert_ok();
    let rec = &dump.records()[0];
    assert_eq!(rec["source"]["user"], "app");
    assert_eq!(rec["source"]["tables"]["big"], 150000);
    let path = record_path(rec);
    // Verify's restore test takes the password from $DATABASE_URL.
    let verify = run_sampling(
        lfb("lfb-verify", st.path())
            .args(["--restore-test"])
            .arg(&path)
            .env("DATABASE_URL", &url)
            .env("TMPDIR", tmp.path()),
        password,
    );
    verify.assert_ok();
    let restore = run_sampling(
        lfb("lfb-restore", st.path())
            .args(["--yes", "--from", "shop", "-f"])
            .arg(&path)
            .arg(my.url_as("app", password, "shop_copy"))
            .env("TMPDIR", tmp.path()),
        password,
    );
    restore.assert_ok();
    // A wrong password's message does not echo it either.
    let wrong = run(lfb("lfb-dump", st.path())
        .arg(my.url_as("app", "Wr0ng-Secret", "shop"))
        .env("TMPDIR", tmp.path()));
    wrong.assert_code(2);
    assert!(!wrong.stderr.contains("Wr0ng-Secret") && !wrong.stdout.contains("Wr0ng-Secret"));
    for out in [&dump, &verify, &restore] {
        assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
        assert!(!out.stdout.contains("s3cr#t"), "{}", out.stdout);
    }
    for f in files_under(st.path()) {
        let data = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&data);
        assert!(!text.contains("s3cr#t"), "password in {}", f.display());
    }
    // The private option files are gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

#[test]
fn a_dump_under_concurrent_writes_is_one_consistent_snapshot() {
    let Some(my) = MariaDb::start("mariadb_concurrent") else {
        return;
    };
    my.create_db("bank");
    my.sql(
        Some("bank"),
        "CREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB;\n\
         INSERT INTO counter VALUES (1, 0);\n\
         CREATE TABLE ledger (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(100)) ENGINE=InnoDB;\n\
         INSERT INTO ledger (pad) SELECT REPEAT('p', 100) FROM seq_1_to_50000;\n\
         UPDATE counter SET n = 50000;\n\
         DELIMITER //\n\
         CREATE PROCEDURE churn(k INT) BEGIN DECLARE i INT DEFAULT 0;\n\
           WHILE i < k DO START TRANSACTION; INSERT INTO ledger (pad) VALUES ('w');\n\
           UPDATE counter SET n = n + 1 WHERE id = 1; COMMIT; SET i = i + 1; END WHILE; END//\n\
         DELIMITER ;",
    );
    let mut writer = my
        .command("mariadb")
        .args(["--database=bank", "-e", "CALL churn(1000000)"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let the writer get going.
    let start = Instant::now();
    while my
        .sql(Some("bank"), "SELECT n FROM counter;")
        .trim()
        .parse::<u64>()
        .unwrap()
        < 50100
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "writer never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = store();
    let out = run(lfb("lfb-dump", st.path()).arg(my.url("bank")));
    let still_running = writer.try_wait().unwrap().is_none();
    let _ = writer.kill();
    let _ = writer.wait();
    out.assert_ok();
    assert!(still_running, "the writer finished before the dump did");
    let rec = &out.records()[0];
    let path = record_path(rec);
    let res = run(lfb("lfb-restore", st.path())
        .args(["--yes", "--from", "bank", "-f"])
        .arg(&path)
        .arg(my.url("bank_copy")));
    res.assert_ok();
    let n: u64 = my
        .sql(Some("bank_copy"), "SELECT n FROM counter;")
        .trim()
        .parse()
        .unwrap();
    let rows: u64 = my
        .sql(Some("bank_copy"), "SELECT COUNT(*) FROM ledger;")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(n, rows, "the dump is not one snapshot");
    assert_eq!(rec["source"]["tables"]["ledger"], rows);
    assert!(rows > 50000);
}

#[test]
fn myisam_tables_are_named_in_a_warning_and_exec_runs_the_clients_through_a_prefix() {
    let Some(my) = MariaDb::start("mariadb_myisam_exec") else {
        return;
    };
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE legacy (x INT) ENGINE=MyISAM; INSERT INTO legacy VALUES (1), (2);\n\
         CREATE TABLE modern (x INT) ENGINE=InnoDB;",
    );
    my.create_user("app", "pw with space");
    let st = store();
    let out = run(lfb("lfb-dump", st.path())
        .args(["--exec", "env"])
        .arg(my.url_as("app", "pw with space", "shop")));
    out.assert_ok();
    assert!(
        out.stderr.contains("'legacy' uses MyISAM") && !out.stderr.contains("'modern'"),
        "{}",
        out.stderr
    );
    assert_eq!(out.records()[0]["source"]["tables"]["legacy"], 2);
    let bad = run(lfb("lfb-dump", st.path())
        .args(["--exec", "/nonexistent-prefix"])
        .arg(my.url("shop")));
    bad.assert_code(2);
    assert!(bad.stderr.contains("/nonexistent-prefix"), "{}", bad.stderr);
}
