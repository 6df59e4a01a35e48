//! Encryption at rest with age (issue 17): lfb encrypts so that stock `age`
//! decrypts, stock `age` encrypts so that lfb verifies and restores; a
//! wrong key, a truncated or bit-flipped ciphertext, a swapped header and a
//! missing identity each fail naming the check and leave a restore target
//! untouched; keys never reach argv, records, the journal or messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
        .env_remove("LFB_AGE_RECIPIENTS")
        .env_remove("LFB_AGE_RECIPIENTS_FILE")
        .env_remove("LFB_AGE_PASSPHRASE_FILE")
        .env_remove("LFB_AGE_IDENTITY_FILE")
        .env_remove("LFB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    c
}

fn have_age() -> bool {
    let ok = Command::new("age")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("stock age is not installed (apt-get install age)");
    }
    ok
}

/// A new age identity in `dir`: (identity file, recipient).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = run(Command::new(bin("lfb")).arg("keygen").arg(dir.join(name)));
    out.assert_ok();
    let recipient = out.stdout.trim().to_string();
    assert!(recipient.starts_with("age1"), "{}", out.stdout);
    (dir.join(name), recipient)
}

/// A SQLite database with 3 tables and known rows.
fn sqlite_db(dir: &Path) -> PathBuf {
    let p = dir.join("app.sqlite3");
    let c = rusqlite::Connection::open(&p).unwrap();
    c.execute_batch(
        "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE ledger(id INTEGER PRIMARY KEY, account INT, amount REAL);
         CREATE TABLE notes(t TEXT);
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM g WHERE n < 500)
         INSERT INTO accounts SELECT n, 'acct' || n FROM g;
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM g WHERE n < 3000)
         INSERT INTO ledger SELECT n, 1 + n % 500, n * 1.5 FROM g;
         INSERT INTO notes VALUES ('hello');",
    )
    .unwrap();
    p
}

fn count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn check<'a>(rec: &'a Value, name: &str) -> &'a Value {
    rec["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {rec}"))
}

fn encrypted_dump(st: &Path, db: &Path, recipient: &str) -> Value {
    let out = run(lfb("lfb-dump", st)
        .args(["--encrypt-to", recipient])
        .arg(db));
    out.assert_ok();
    out.records().remove(0)
}

/// Where an age file's header ends (after the `--- MAC` line).
fn header_len(data: &[u8]) -> usize {
    let at = data
        .windows(4)
        .position(|w| w == b"\n---")
        .expect("age header");
    at + 1 + data[at + 1..].iter().position(|&b| b == b'\n').unwrap() + 1
}

#[test]
fn lfb_encrypts_and_stock_age_decrypts_into_sqlite3() {
    if !have_age() {
        return;
    }
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let db = sqlite_db(work.path());
    let rec = encrypted_dump(st.path(), &db, &recipient);
    let path = rec["path"].as_str().unwrap();
    assert!(path.ends_with(".sql.gz.age"), "{path}");
    assert_eq!(rec["format"], "sql+gzip+age");
    assert_eq!(rec["encryption"]["scheme"], "age");
    assert_eq!(rec["encryption"]["recipients"][0], recipient.as_str());
    assert_eq!(rec["sha256"], lfb_tests::sha256sum(path).as_str());
    assert!(rec["encryption"]["plaintext_sha256"].is_string());
    let secret = std::fs::read_to_string(&key).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    assert!(!rec.to_string().contains(secret));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The file is ciphertext: no SQL, no gzip magic.
    let raw = std::fs::read(path).unwrap();
    assert!(raw.starts_with(b"age-encryption.org/v1\n"));
    assert!(!raw.windows(6).any(|w| w == b"ledger"));

    // age -d -i key.txt F | gunzip | sqlite3 restored.sqlite3
    let restored = work.path().join("restored.sqlite3");
    let sh = format!(
        "age -d -i '{}' '{}' | gunzip | sqlite3 '{}'",
        key.display(),
        path,
        restored.display()
    );
    let out = run(Command::new("sh").args(["-c", &sh]));
    out.assert_ok();
    assert_eq!(count(&restored, "ledger"), 3000);
    assert_eq!(count(&restored, "accounts"), 500);
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn stock_age_encrypts_and_lfb_verifies_and_restores_with_the_identity() {
    if !have_age() {
        return;
    }
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let db = sqlite_db(work.path());
    let out = run(lfb("lfb-dump", st.path()).arg(&db));
    out.assert_ok();
    let plain = out.records()[0]["path"].as_str().unwrap().to_string();
    let enc = format!("{plain}.age");
    run(Command::new("age").args(["-r", &recipient, "-o", &enc, &plain])).assert_ok();
    std::fs::set_permissions(&enc, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&plain).unwrap();
    std::fs::remove_file(format!("{plain}.json")).unwrap();

    // Without the key: what can be checked is, and the rest says it needs it.
    let out = run(lfb("lfb-verify", st.path()).arg(&enc));
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["format"], "sql+gzip+age");
    assert_eq!(check(r, "encryption")["ok"], true, "{r}");
    assert!(
        check(r, "decode")["detail"]
            .as_str()
            .unwrap()
            .contains("--identity"),
        "{r}"
    );
    // --restore-test without the key fails naming the identity.
    let out = run(lfb("lfb-verify", st.path()).arg("--restore-test").arg(&enc));
    out.assert_code(1);
    assert!(out.stderr.contains("restore failed"), "{}", out.stderr);
    assert!(out.stderr.contains("--identity"), "{}", out.stderr);

    // With it: decode, complete and a restore test.
    let out = run(lfb("lfb-verify", st.path())
        .arg("--identity")
        .arg(&key)
        .arg("--restore-test")
        .arg(&enc));
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(check(r, "decode")["ok"], true, "{r}");
    assert_eq!(check(r, "complete")["ok"], true, "{r}");
    assert_eq!(check(r, "restore")["ok"], true, "{r}");

    // And lfb-restore, from LFB_AGE_IDENTITY_FILE.
    let target = work.path().join("target.sqlite3");
    let out = run(lfb("lfb-restore", st.path())
        .env("LFB_AGE_IDENTITY_FILE", &key)
        .args(["--yes", "--from", "app", "-f", &enc])
        .arg(&target));
    out.assert_ok();
    assert_eq!(count(&target, "ledger"), 3000);
}

/// Every failure names its check, exits 1 (2 for a missing identity), and
/// lfb-restore leaves the target as it was.
#[test]
fn wrong_key_corruption_swapped_header_and_missing_identity_fail_and_change_nothing() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let (other, _) = keygen(work.path(), "other.txt");
    let db = sqlite_db(work.path());
    let a = encrypted_dump(st.path(), &db, &recipient);
    let a_path = a["path"].as_str().unwrap().to_string();
    let good = std::fs::read(&a_path).unwrap();

    let target = work.path().join("target.sqlite3");
    {
        let c = rusqlite::Connection::open(&target).unwrap();
        c.execute_batch("CREATE TABLE keep(x); INSERT INTO keep VALUES (42);")
            .unwrap();
    }
    let untouched = || {
        assert_eq!(count(&target, "keep"), 1);
        let c = rusqlite::Connection::open(&target).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'ledger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "the target was changed");
    };
    let restore = |identity: &Path, file: &str| {
        run(lfb("lfb-restore", st.path())
            .arg("--identity")
            .arg(identity)
            .args(["--yes", "--no-safety-backup", "--from", "app", "-f", file])
            .arg(&target))
    };
    let verify = |identity: &Path, file: &str| {
        run(lfb("lfb-verify", st.path())
            .arg("--identity")
            .arg(identity)
            .arg(file))
    };

    // Wrong key.
    let out = verify(&other, &a_path);
    out.assert_code(1);
    let r = &out.records()[0];
    assert_eq!(check(r, "decode")["ok"], false);
    assert!(
        check(r, "decode")["detail"]
            .as_str()
            .unwrap()
            .contains("no identity matches"),
        "{r}"
    );
    assert_eq!(check(r, "checksum")["ok"], true, "{r}");
    let out = restore(&other, &a_path);
    out.assert_code(1);
    assert!(out.stderr.contains("decode failed"), "{}", out.stderr);
    untouched();

    // Missing and unreadable identities: exit 2.
    let out = verify(&work.path().join("nope.txt"), &a_path);
    out.assert_code(2);
    assert!(out.stderr.contains("identity file"), "{}", out.stderr);
    let out = restore(&work.path().join("nope.txt"), &a_path);
    out.assert_code(2);
    untouched();
    let notkey = work.path().join("notkey.txt");
    std::fs::write(&notkey, "hello\n").unwrap();
    verify(&notkey, &a_path).assert_code(2);
    // No identity at all: restore refuses (2), nothing changed.
    let out = run(lfb("lfb-restore", st.path())
        .args([
            "--yes",
            "--no-safety-backup",
            "--from",
            "app",
            "-f",
            &a_path,
        ])
        .arg(&target));
    out.assert_code(2);
    assert!(
        out.stderr.contains("LFB_AGE_IDENTITY_FILE"),
        "{}",
        out.stderr
    );
    untouched();

    // A bit flipped in the payload: checksum and decode fail.
    let mut flipped = good.clone();
    let at = good.len() - 40;
    flipped[at] ^= 0x04;
    std::fs::write(&a_path, &flipped).unwrap();
    let out = verify(&key, &a_path);
    out.assert_code(1);
    let r = &out.records()[0];
    assert_eq!(check(r, "checksum")["ok"], false, "{r}");
    assert_eq!(check(r, "decode")["ok"], false, "{r}");
    assert!(
        check(r, "decode")["detail"]
            .as_str()
            .unwrap()
            .contains("does not authenticate"),
        "{r}"
    );
    restore(&key, &a_path).assert_code(1);
    untouched();

    // Truncated in the payload.
    std::fs::write(&a_path, &good[..good.len() - 100]).unwrap();
    let out = verify(&key, &a_path);
    out.assert_code(1);
    let r = &out.records()[0];
    assert_eq!(check(r, "size")["ok"], false, "{r}");
    assert_eq!(check(r, "decode")["ok"], false, "{r}");
    restore(&key, &a_path).assert_code(1);
    untouched();

    // Another dump's header (same key) on this payload: the header's MAC is
    // fine, the payload does not authenticate under its file key.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = encrypted_dump(st.path(), &db, &recipient);
    let b_data = std::fs::read(b["path"].as_str().unwrap()).unwrap();
    let mut swapped = b_data[..header_len(&b_data)].to_vec();
    swapped.extend_from_slice(&good[header_len(&good)..]);
    std::fs::write(&a_path, &swapped).unwrap();
    let out = verify(&key, &a_path);
    out.assert_code(1);
    let r = &out.records()[0];
    assert_eq!(check(r, "decode")["ok"], false, "{r}");
    restore(&key, &a_path).assert_code(1);
    untouched();

    // Put back: it restores.
    std::fs::write(&a_path, &good).unwrap();
    verify(&key, &a_path).assert_ok();
    restore(&key, &a_path).assert_ok();
    assert_eq!(count(&target, "ledger"), 3000);
}

/// The record lists one X25519 recipient; a header with two does not match.
#[test]
fn header_recipients_must_match_the_record() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (_, r1) = keygen(work.path(), "k1.txt");
    let (_, r2) = keygen(work.path(), "k2.txt");
    let db = sqlite_db(work.path());
    let rec = encrypted_dump(st.path(), &db, &r1);
    let two = run(lfb("lfb-dump", st.path())
        .args(["--encrypt-to", &r1, "--encrypt-to", &r2, "--name", "two"])
        .arg(&db));
    two.assert_ok();
    let two = two.records().remove(0);
    assert_eq!(two["encryption"]["recipients"].as_array().unwrap().len(), 2);
    // The two-recipient file under the one-recipient record.
    std::fs::copy(two["path"].as_str().unwrap(), rec["path"].as_str().unwrap()).unwrap();
    let out = run(lfb("lfb-verify", st.path())
        .args(["--checks", "encryption"])
        .arg(rec["path"].as_str().unwrap()));
    out.assert_code(1);
    let r = &out.records()[0];
    assert!(
        check(r, "encryption")["detail"]
            .as_str()
            .unwrap()
            .contains("2 X25519 stanzas, the record lists 1"),
        "{r}"
    );
    // A bad recipient is a usage error.
    run(lfb("lfb-dump", st.path())
        .args(["--encrypt-to", "age1notakey"])
        .arg(&db))
    .assert_code(2);
}

/// Passphrases and identities travel in files only: never in any process's
/// argv, the records, sidecars, the journal, stderr or the temp folder.
#[cfg(target_os = "linux")]
#[test]
fn secrets_never_reach_argv_records_journal_or_messages() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pass = "correct-horse-battery-staple-4711";
    let pass_file = work.path().join("pass.txt");
    std::fs::write(&pass_file, format!("{pass}\n")).unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let key_text = std::fs::read_to_string(&key).unwrap();
    let secret = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let db = sqlite_db(work.path());

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let (pass, secret) = (pass.to_string(), secret.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut samples = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                        let c = String::from_utf8_lossy(&c).into_owned();
                        if c.contains(&pass) || c.contains(&secret) {
                            seen.push(c);
                        }
                    }
                }
                samples += 1;
            }
            (seen, samples)
        })
    };
    let mut outputs = Vec::new();
    let tmp_path = tmp.path().to_path_buf();
    let with_tmp = move |mut c: Command| {
        c.env("TMPDIR", &tmp_path);
        c
    };
    // A passphrase dump, verified and restore-tested with the passphrase.
    let out = run(with_tmp(lfb("lfb-dump", st.path()))
        .arg("--passphrase-file")
        .arg(&pass_file)
        .arg(&db));
    out.assert_ok();
    let p = out.records()[0]["path"].as_str().unwrap().to_string();
    assert_eq!(out.records()[0]["encryption"]["passphrase"], true);
    outputs.push(out);
    let out = run(with_tmp(lfb("lfb-verify", st.path()))
        .env("LFB_AGE_PASSPHRASE_FILE", &pass_file)
        .arg("--restore-test")
        .arg(&p));
    out.assert_ok();
    outputs.push(out);
    // A wrong passphrase fails without quoting either.
    let wrong = work.path().join("wrong.txt");
    std::fs::write(&wrong, "not-it\n").unwrap();
    let out = run(with_tmp(lfb("lfb-verify", st.path()))
        .arg("--passphrase-file")
        .arg(&wrong)
        .arg(&p));
    out.assert_code(1);
    outputs.push(out);
    // A recipient dump, restored with the identity.
    let out = run(with_tmp(lfb("lfb-dump", st.path()))
        .env("LFB_AGE_RECIPIENTS", &recipient)
        .args(["--name", "viaenv"])
        .arg(&db));
    out.assert_ok();
    assert_eq!(out.records()[0]["format"], "sql+gzip+age");
    let p2 = out.records()[0]["path"].as_str().unwrap().to_string();
    outputs.push(out);
    let target = work.path().join("t.sqlite3");
    let out = run(with_tmp(lfb("lfb-restore", st.path()))
        .arg("--identity")
        .arg(&key)
        .args(["--yes", "--from", "app", "-f", &p2])
        .arg(&target));
    out.assert_ok();
    outputs.push(out);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, samples) = sampler.join().unwrap();
    assert!(samples > 0);
    assert!(seen.is_empty(), "a secret in a command line: {seen:?}");

    for o in &outputs {
        for s in [&o.stdout, &o.stderr] {
            assert!(!s.contains(pass) && !s.contains(&secret), "{s}");
        }
    }
    // Nothing in the store or the temp folder holds them.
    let mut todo = vec![st.path().to_path_buf(), tmp.path().to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                let data = std::fs::read(e.path()).unwrap();
                let text = String::from_utf8_lossy(&data);
                assert!(
                    !text.contains(pass) && !text.contains(&secret),
                    "{}",
                    e.path().display()
                );
            }
        }
    }
}

/// An encrypted archive: the whole .tar.gz is one age stream; it verifies
/// with the key and `--files-to` restores from it with the identity.
#[test]
fn encrypted_archive_verifies_and_restores_files_with_the_identity() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let project = work.path().join("project");
    std::fs::create_dir_all(project.join("media/photos")).unwrap();
    std::fs::write(project.join("media/photos/a.jpg"), vec![7u8; 5000]).unwrap();
    std::fs::write(project.join(".env"), "SECRET_KEY=s3cret\n").unwrap();
    let out = run(lfb("lfb-archive", st.path())
        .args([
            "--media",
            "media",
            "--config",
            ".env",
            "--encrypt-to",
            &recipient,
        ])
        .current_dir(&project));
    out.assert_ok();
    let rec = out.records().remove(0);
    let path = rec["path"].as_str().unwrap().to_string();
    assert!(path.ends_with(".tar.gz.age"), "{path}");
    assert_eq!(rec["format"], "tar+gzip+age");
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.windows(6).any(|w| w == b"s3cret"));

    let out = run(lfb("lfb-verify", st.path())
        .args(["--min-size", "0", "--identity"])
        .arg(&key)
        .arg(&path));
    out.assert_ok();
    assert_eq!(check(&out.records()[0], "complete")["ok"], true);

    // Without the identity --files-to refuses, with it the files come back.
    let dest = work.path().join("restored");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--files-only", "--yes", "--files-to"])
        .arg(&dest)
        .args(["-f", &path]));
    out.assert_code(2);
    assert!(!dest.join("media").exists());
    let out = run(lfb("lfb-restore", st.path())
        .arg("--identity")
        .arg(&key)
        .args(["--files-only", "--yes", "--files-to"])
        .arg(&dest)
        .args(["-f", &path]));
    out.assert_ok();
    assert_eq!(
        std::fs::read(dest.join("media/photos/a.jpg")).unwrap(),
        vec![7u8; 5000]
    );
}

/// `lfb-guard --require-encryption` reports the unencrypted artifact only.
#[test]
fn guard_require_encryption_reports_plain_artifacts() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (_, recipient) = keygen(work.path(), "key.txt");
    let db = sqlite_db(work.path());
    encrypted_dump(st.path(), &db, &recipient);
    let out = run(lfb("lfb-guard", st.path()).arg("--require-encryption"));
    assert!(!out.stdout.contains("not encrypted"), "{}", out.stdout);
    let plain = run(lfb("lfb-dump", st.path())
        .args(["--name", "clear"])
        .arg(&db));
    plain.assert_ok();
    let out = run(lfb("lfb-guard", st.path()).arg("--require-encryption"));
    out.assert_code(1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("not encrypted"), "{all}");
    assert!(all.contains("clear_db_manual"), "{all}");
}

/// PostgreSQL: lfb-dump --encrypt-to, `age -d | gunzip | psql` loads it,
/// and lfb-restore --identity restores it.
#[test]
fn postgres_round_trip_through_stock_age() {
    if !have_age() {
        return;
    }
    let Some(pg) = PgServer::start("encryption_pg") else {
        return;
    };
    pg.create_db("app");
    pg.psql(
        "app",
        "CREATE TABLE accounts (id serial PRIMARY KEY, name text);
         INSERT INTO accounts (name) SELECT 'acct' || g FROM generate_series(1, 700) g;",
    );
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let out = run(lfb("lfb-dump", st.path())
        .args(["--encrypt-to", &recipient])
        .arg(pg.url("app")));
    out.assert_ok();
    let rec = out.records().remove(0);
    let path = rec["path"].as_str().unwrap().to_string();
    assert_eq!(rec["format"], "sql+gzip+age");

    pg.create_db("copy");
    let mut psql = pg.command("psql");
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "copy"]);
    let sh = format!("age -d -i '{}' '{path}' | gunzip", key.display());
    let mut dec = Command::new("sh")
        .args(["-c", &sh])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = psql
        .stdin(dec.stdout.take().unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(dec.wait().unwrap().success());
    assert!(status.success());
    assert_eq!(
        pg.psql("copy", "SELECT count(*) FROM accounts").trim(),
        "700"
    );

    // lfb-restore with the identity, after a change to undo.
    pg.psql("app", "DELETE FROM accounts WHERE id > 100");
    let out = run(lfb("lfb-restore", st.path())
        .arg("--identity")
        .arg(&key)
        .args(["--yes", "-f", &path])
        .arg(pg.url("app")));
    out.assert_ok();
    assert_eq!(
        pg.psql("app", "SELECT count(*) FROM accounts").trim(),
        "700"
    );
    // The safety backup it took follows the environment: plain here.
    // A wrong key changes nothing.
    let (other, _) = keygen(work.path(), "other.txt");
    pg.psql("app", "DELETE FROM accounts WHERE id > 200");
    let out = run(lfb("lfb-restore", st.path())
        .arg("--identity")
        .arg(&other)
        .args(["--yes", "-f", &path])
        .arg(pg.url("app")));
    out.assert_code(1);
    assert_eq!(
        pg.psql("app", "SELECT count(*) FROM accounts").trim(),
        "200"
    );
}

/// An encrypted dump piped into `lfb-archive --consume --encrypt-to`: the
/// archive checks its encrypted member by its SHA-256, the dump is
/// consumed, the archive is an artifact like any other for lfb-list and
/// lfb-prune, and its restore test decrypts the member with the identity.
#[test]
fn encrypted_dumps_archive_consume_and_prune_like_any_other() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(work.path(), "key.txt");
    let db = sqlite_db(work.path());
    let rec = encrypted_dump(st.path(), &db, &recipient);
    let dump_path = rec["path"].as_str().unwrap().to_string();
    let out = lfb_tests::run_with_input(
        lfb("lfb-archive", st.path())
            .env("LFB_AGE_IDENTITY_FILE", &key)
            .args(["--consume", "--encrypt-to", &recipient]),
        rec.to_string(),
    );
    out.assert_ok();
    let arch = out.records().remove(0);
    assert_eq!(arch["format"], "tar+gzip+age");
    assert!(!Path::new(&dump_path).exists(), "the dump was not consumed");
    let list = run(&mut lfb("lfb-list", st.path()));
    list.assert_ok();
    assert_eq!(list.records().len(), 1, "{}", list.stdout);
    assert_eq!(list.records()[0]["id"], arch["id"]);

    let out = run(lfb("lfb-verify", st.path())
        .arg("--identity")
        .arg(&key)
        .args(["--all", "--min-size", "0", "--restore-test"]));
    out.assert_ok();
    let r = &out.records()[0];
    assert!(
        check(r, "restore")["detail"]
            .as_str()
            .unwrap()
            .contains("3501 rows, as recorded"),
        "{r}"
    );

    // lfb-prune sees it as an artifact of its group (kept: the newest).
    let out = run(lfb("lfb-prune", st.path()).args(["--keep-last", "1", "--dry-run"]));
    out.assert_ok();
    let recs = out.records();
    assert_eq!(recs.len(), 1, "{}", out.stdout);
    assert_eq!(recs[0]["format"], "tar+gzip+age");
    assert_eq!(recs[0]["prune"]["action"], "keep", "{}", out.stdout);
}

/// An SSH ed25519 recipient: stock age decrypts with the private key, lfb
/// records the public key, matches its tag in the header and decrypts with
/// the key as --identity.
#[test]
fn ssh_ed25519_recipient_round_trip() {
    if !have_age() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .status();
    if !ok.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED ssh_ed25519_recipient_round_trip: no ssh-keygen");
        return;
    }
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let st = store();
    let db = sqlite_db(work.path());
    let out = run(lfb("lfb-dump", st.path())
        .arg("--encrypt-to-file")
        .arg(key.with_extension("pub"))
        .arg(&db));
    out.assert_ok();
    let rec = out.records().remove(0);
    let recorded = rec["encryption"]["recipients"][0].as_str().unwrap();
    assert!(recorded.starts_with("ssh-ed25519 "), "{rec}");
    assert!(!recorded.contains("me@host"), "the comment is not recorded");
    assert!(public.starts_with(recorded));
    let path = rec["path"].as_str().unwrap();
    let out = run(lfb("lfb-verify", st.path()).arg(path));
    out.assert_ok();
    let r = &out.records()[0];
    assert!(
        check(r, "encryption")["detail"]
            .as_str()
            .unwrap()
            .contains("ssh-ed25519 (key tag"),
        "{r}"
    );
    let out = run(lfb("lfb-verify", st.path())
        .arg("--identity")
        .arg(&key)
        .arg(path));
    out.assert_ok();
    assert_eq!(check(&out.records()[0], "complete")["ok"], true);
    let sh = format!(
        "age -d -i '{}' '{path}' | gunzip | grep -c 'INSERT INTO'",
        key.display()
    );
    let out = run(Command::new("sh").args(["-c", &sh]));
    out.assert_ok();
}
