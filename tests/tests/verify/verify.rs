//! lfb-verify on real artifacts: good dumps pass every check including a
//! test restore; each kind of damage fails naming its check.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, run_with_input, store};
use serde_json::Value;

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store").arg(store).env_remove("DATABASE_URL");
    c
}

fn dump(store: &Path, args: &[&str], db: &str) -> Value {
    let out = run(lfb("lfb-dump", store).args(args).arg(db));
    out.assert_ok();
    out.records().remove(0)
}

fn verify_records(store: &Path, args: &[&str], input: &str) -> (i32, Vec<Value>, String) {
    let out = run_with_input(lfb("lfb-verify", store).args(args), input);
    (out.code, out.records(), out.stderr)
}

fn check<'a>(rec: &'a Value, name: &str) -> &'a Value {
    rec["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {rec}"))
}

fn failed_checks(rec: &Value) -> Vec<String> {
    rec["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn seed(pg: &PgServer, db: &str) {
    pg.create_db(db);
    pg.psql(
        db,
        "CREATE TABLE accounts (id serial PRIMARY KEY, name text);
         CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, amount numeric, memo text);
         INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 50) g;
         INSERT INTO entries (account, amount, memo) SELECT 1 + g % 50, g / 3.0, md5(g::text) FROM generate_series(1, 4000) g;",
    );
}

/// Writes a new artifact with a fresh sidecar describing it (so only the
/// damage under test can fail).
fn artifact_with_record(dir: &Path, name: &str, bytes: &[u8], template: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut rec = template.clone();
    rec["path"] = Value::String(path.to_string_lossy().into_owned());
    rec["id"] = Value::String(name.split('.').next().unwrap().to_string());
    rec["bytes"] = Value::from(bytes.len() as u64);
    rec["sha256"] = Value::String(sha256_hex(bytes));
    std::fs::write(format!("{}.json", path.display()), rec.to_string()).unwrap();
    rec.to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut w = lfb_core::digest::HashingWriter::new(std::io::sink());
    w.write_all(bytes).unwrap();
    w.finish().1
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(path: &str) -> Vec<u8> {
    let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn good_postgres_artifacts_pass_every_check_including_a_restore_test() {
    let Some(pg) = PgServer::start("verify_good_pg") else {
        return;
    };
    seed(&pg, "ledger");
    let st = store();
    for format in ["sql", "custom"] {
        let rec = dump(st.path(), &["-F", format], &pg.url("ledger"));
        let (code, out, err) = verify_records(st.path(), &["--restore-test"], &rec.to_string());
        assert_eq!(code, 0, "{format}: {err}");
        let v = &out[0];
        assert_eq!(v["verify"]["ok"], true, "{v}");
        for c in [
            "exists",
            "size",
            "checksum",
            "complete",
            "permissions",
            "restore",
        ] {
            assert_eq!(check(v, c)["ok"], true, "{format} {c}: {v}");
        }
        // Fields from upstream pass through unchanged.
        assert_eq!(v["source"], rec["source"]);
        assert!(
            check(v, "restore")["detail"]
                .as_str()
                .unwrap()
                .contains("4050 rows")
        );
    }
    // The scratch databases are gone.
    let dbs = pg.psql(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'lfb_scratch%'",
    );
    assert_eq!(dbs.trim(), "");
}

#[test]
fn the_pipeline_prints_true() {
    let Some(pg) = PgServer::start("verify_pipeline") else {
        return;
    };
    seed(&pg, "ledger");
    let st = store();
    let script = format!(
        "set -o pipefail; {} --store {s} {url} | {} --store {s} --restore-test | jq .verify.ok",
        bin("lfb-dump").display(),
        bin("lfb-verify").display(),
        s = st.path().display(),
        url = lfb_tests::pg::quote_literal(&pg.url("ledger")),
    );
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env_remove("DATABASE_URL"));
    out.assert_ok();
    assert_eq!(out.stdout, "true\n");
}

#[test]
fn damaged_postgres_artifacts_fail_naming_the_check() {
    let Some(pg) = PgServer::start("verify_damage") else {
        return;
    };
    seed(&pg, "ledger");
    let st = store();
    let rec = dump(st.path(), &["--tag", "hourly"], &pg.url("ledger"));
    let good = std::fs::read(rec["path"].as_str().unwrap()).unwrap();
    let sql = gunzip(rec["path"].as_str().unwrap());
    let dev = st.path().join("dev");
    let mut cases: Vec<(&str, String, &str)> = Vec::new();

    // One byte flipped in the middle (sidecar describes the original).
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let p = dev.join("flip_db_hourly_20260101T000000Z.sql.gz");
    std::fs::write(&p, &flipped).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut r = rec.clone();
    r["path"] = Value::String(p.to_string_lossy().into_owned());
    cases.push(("flipped", r.to_string(), "checksum"));

    // Truncated: the record describes the truncated file, only content checks can tell.
    cases.push((
        "truncated",
        artifact_with_record(
            &dev,
            "trunc_db_hourly_20260101T000000Z.sql.gz",
            &good[..good.len() * 2 / 3],
            &rec,
        ),
        "decode",
    ));
    // Empty.
    cases.push((
        "empty",
        artifact_with_record(&dev, "empty_db_hourly_20260101T000000Z.sql.gz", b"", &rec),
        "size",
    ));
    // Cut exactly at a gzip member boundary: decodes, but the trailer is missing.
    let half = &sql[..sql.len() / 2];
    cases.push((
        "member boundary",
        artifact_with_record(
            &dev,
            "cut_db_hourly_20260101T000000Z.sql.gz",
            &gz(half),
            &rec,
        ),
        "complete",
    ));
    // A sidecar whose checksum was edited.
    let mut edited = rec.clone();
    edited["sha256"] = Value::String("0".repeat(64));
    cases.push(("edited checksum", edited.to_string(), "checksum"));
    // Row counts edited in the record.
    let mut counts = rec.clone();
    counts["source"]["tables"]["public.entries"] = Value::from(4001);
    cases.push(("edited counts", counts.to_string(), "complete"));
    // A dump whose last statement fails (trailer intact).
    let text = String::from_utf8(sql.clone()).unwrap();
    let pos = text
        .rfind("--\n-- PostgreSQL database dump complete")
        .unwrap();
    let bad = format!(
        "{}INSERT INTO public.accounts (id, name) VALUES (1, 'duplicate key');\n\n{}",
        &text[..pos],
        &text[pos..]
    );
    cases.push((
        "failing statement",
        artifact_with_record(
            &dev,
            "badsql_db_hourly_20260101T000000Z.sql.gz",
            &gz(bad.as_bytes()),
            &rec,
        ),
        "restore",
    ));

    for (what, input, failing) in cases {
        let (code, out, err) = verify_records(st.path(), &["--restore-test"], &input);
        assert_eq!(code, 1, "{what}: {err}");
        let v = &out[0];
        assert_eq!(v["verify"]["ok"], false, "{what}");
        assert!(
            failed_checks(v).contains(&failing.to_string()),
            "{what}: {:?} {v}",
            failed_checks(v)
        );
        assert!(err.contains(&format!("{failing} failed")), "{what}: {err}");
        // A plain dump is loaded into the scratch database in the same read
        // as the checks: a failed check stops the load, which rolls back.
        if failing != "restore" && failing != "size" {
            let detail = check(v, "restore")["detail"].as_str().unwrap();
            assert!(
                detail.starts_with("stopped: the artifact failed the checks above"),
                "{what}: {detail}"
            );
        }
    }
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'lfb_scratch%'"
        )
        .trim(),
        "0"
    );
}

#[test]
fn a_legacy_pg_dump_gzip_file_verifies_without_a_sidecar() {
    let Some(pg) = PgServer::start("verify_legacy") else {
        return;
    };
    seed(&pg, "ledger");
    let st = store();
    let dev = st.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let legacy = dev.join("ledgerflow_backup_20261120_020000.sql.gz");
    let script = format!(
        "{} -h {} -p {} -U postgres ledger | gzip > {}",
        pg.bin_dir().join("pg_dump").display(),
        pg.socket_dir().display(),
        pg.port(),
        legacy.display()
    );
    run(Command::new("sh").arg("-c").arg(&script)).assert_ok();
    std::fs::set_permissions(&legacy, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = run(lfb("lfb-verify", st.path())
        .arg("--all")
        .env("DATABASE_URL", pg.url("ledger"))
        .arg("--restore-test"));
    out.assert_ok();
    let v = &out.records()[0];
    assert_eq!(v["derived"], true);
    assert_eq!(v["tag"], "hourly");
    assert_eq!(check(v, "checksum")["skipped"], true);
    assert_eq!(check(v, "complete")["ok"], true);
    assert_eq!(check(v, "restore")["ok"], true, "{v}");
}

#[test]
fn the_source_database_is_refused_as_scratch() {
    let Some(pg) = PgServer::start("verify_scratch_source") else {
        return;
    };
    seed(&pg, "ledger");
    let st = store();
    let rec = dump(st.path(), &[], &pg.url("ledger"));
    let (code, out, _) = verify_records(
        st.path(),
        &["--restore-test", "--scratch", &pg.url("ledger")],
        &rec.to_string(),
    );
    assert_eq!(code, 1);
    assert!(
        check(&out[0], "restore")["detail"]
            .as_str()
            .unwrap()
            .contains("source database itself")
    );
    assert_eq!(
        pg.psql("ledger", "SELECT count(*) FROM entries").trim(),
        "4000"
    );
    // A named scratch database is created, used and dropped.
    let (code, _, err) = verify_records(
        st.path(),
        &["--restore-test", "--scratch", &pg.url("my_scratch")],
        &rec.to_string(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'my_scratch'"
        )
        .trim(),
        "0"
    );
    // A scratch database that exists already is someone else's: refused
    // (found by the connection's own query) and kept as it was.
    pg.create_db("taken");
    pg.psql(
        "taken",
        "CREATE TABLE keep (x int); INSERT INTO keep VALUES (1);",
    );
    let (code, out, _) = verify_records(
        st.path(),
        &["--restore-test", "--scratch", &pg.url("taken")],
        &rec.to_string(),
    );
    assert_eq!(code, 1);
    let detail = check(&out[0], "restore")["detail"].as_str().unwrap();
    assert!(
        detail.contains("scratch database 'taken' already exists"),
        "{detail}"
    );
    assert_eq!(pg.psql("taken", "SELECT count(*) FROM keep").trim(), "1");
}

#[test]
fn sqlite_artifacts_pass_and_edited_counts_fail_the_restore_test() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let demo = |args: &[&str]| {
        let out = run(lfb("lfb-dump", st.path())
            .env("XDG_DATA_HOME", home.path())
            .arg("--demo")
            .args(args));
        out.assert_ok();
        out.records().remove(0)
    };
    for args in [&[][..], &["-F", "native"][..]] {
        let rec = demo(args);
        let (code, out, err) = verify_records(st.path(), &["--restore-test"], &rec.to_string());
        assert_eq!(code, 0, "{err}");
        assert_eq!(check(&out[0], "restore")["ok"], true);
        let mut edited = rec.clone();
        edited["source"]["tables"]["transactions"] = Value::from(4999);
        let (code, out, _) = verify_records(st.path(), &["--restore-test"], &edited.to_string());
        assert_eq!(code, 1);
        assert_eq!(failed_checks(&out[0]), vec!["restore"]);
    }
    // A truncated SQL dump loses its final COMMIT.
    let rec = demo(&["-c", "none"]);
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    let data = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = artifact_with_record(
        dir.path(),
        "cut_db_manual_20260101T000000Z.sql",
        &data[..data.len() - 200],
        &rec,
    );
    let (code, out, _) = verify_records(st.path(), &[], &input);
    assert_eq!(code, 1);
    assert_eq!(failed_checks(&out[0]), vec!["complete"]);
}

#[test]
fn garbage_on_stdin_exits_2_naming_the_line_and_changes_nothing() {
    let st = store();
    let out = run_with_input(
        &mut lfb("lfb-verify", st.path()),
        "{\"schema\":\"lfb/1\",\"path\":\"/x\"}\nnot json\n",
    );
    out.assert_code(2);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    // Only the failure record, which a failing tool prints for the pipe.
    let recs = out.records();
    assert_eq!(recs.len(), 1, "{}", out.stdout);
    assert!(recs[0]["error"]["message"].is_string());
    assert!(!st.path().join("logs").exists());
}

#[test]
fn quarantine_moves_failed_artifacts_and_sidecars_aside() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let out = run(lfb("lfb-dump", st.path())
        .env("XDG_DATA_HOME", home.path())
        .arg("--demo"));
    out.assert_ok();
    let rec = out.records().remove(0);
    let path = PathBuf::from(rec["path"].as_str().unwrap());
    let mut data = std::fs::read(&path).unwrap();
    let n = data.len();
    data[n / 2] ^= 1;
    std::fs::write(&path, &data).unwrap();
    let out = run(lfb("lfb-verify", st.path())
        .arg("--all")
        .arg("--quarantine"));
    out.assert_code(1);
    assert!(!path.exists());
    let q = st.path().join("quarantine").join(path.file_name().unwrap());
    assert!(q.exists());
    assert!(PathBuf::from(format!("{}.json", q.display())).exists());
    assert_eq!(
        out.records()[0]["quarantine"]["path"],
        q.to_string_lossy().as_ref()
    );
}
