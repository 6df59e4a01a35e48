//! Confinement and crash leftovers (issue 12): a tool moves or deletes only
//! the store's own artifacts, whatever a record says; what a killed run
//! leaves is reported and cleaned; a future-dated artifact never displaces
//! real ones; a damaged custom-format dump without sidecar is caught; the
//! record schema is exactly `lfb/1`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, run_with_input, store};
use serde_json::{Value, json};

const DUMP: &str = "app_db_hourly_20261127T020000Z.sql.gz";

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV");
    c
}

/// A gzip file that is not a whole dump (fails `complete`).
fn bad_gzip(path: &Path) {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b"not a dump\n").unwrap();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, e.finish().unwrap()).unwrap();
}

fn sidecar(path: &Path, extra: Value) {
    let mut r = json!({
        "schema": "lfb/1",
        "id": path.file_name().unwrap().to_string_lossy().trim_end_matches(".sql.gz"),
        "kind": "db",
        "path": path.to_string_lossy(),
        "format": "sql+gzip",
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    fs::write(format!("{}.json", path.display()), format!("{r}\n")).unwrap();
}

fn set_mtime(p: &Path, secs_ago: u64) {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn quarantine_refuses_files_outside_the_store() {
    let st = store();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("precious.txt");
    fs::write(&victim, "keep me").unwrap();
    let named = outside.path().join(DUMP);
    bad_gzip(&named);
    fs::create_dir_all(st.path().join("dev")).unwrap();
    // `dev/../../<outside>/NAME`: an escape with `..`.
    let rel = outside.path().strip_prefix("/").unwrap();
    let mut escape = st.path().join("dev");
    for _ in st.path().join("dev").components().skip(1) {
        escape.push("..");
    }
    let escape = escape.join(rel).join(DUMP);
    // A symlink in the store pointing out.
    std::os::unix::fs::symlink(
        &named,
        st.path()
            .join("dev")
            .join("b_db_hourly_20261127T020000Z.sql.gz"),
    )
    .unwrap();
    let input = [
        json!({"schema":"lfb/1","path": victim.to_string_lossy(),"sha256":"00"}),
        json!({"schema":"lfb/1","path": named.to_string_lossy(),"sha256":"00"}),
        json!({"schema":"lfb/1","path": escape.to_string_lossy(),"sha256":"00"}),
        json!({"schema":"lfb/1","path": st.path().join("dev/b_db_hourly_20261127T020000Z.sql.gz").to_string_lossy(),"sha256":"00"}),
    ]
    .iter()
    .map(|v| format!("{v}\n"))
    .collect::<String>();
    let out = run_with_input(lfb("lfb-verify", st.path()).arg("--quarantine"), input);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(named.exists(), "{}", out.stderr);
    assert!(
        fs::symlink_metadata(st.path().join("dev/b_db_hourly_20261127T020000Z.sql.gz")).is_ok()
    );
    let q = st.path().join("quarantine");
    assert!(
        !q.exists() || fs::read_dir(&q).unwrap().next().is_none(),
        "nothing moved into quarantine"
    );
    assert_eq!(
        out.stderr.matches("refusing to move or delete").count(),
        4,
        "{}",
        out.stderr
    );
    for r in out.records() {
        assert!(r["quarantine"]["error"].is_string(), "{r}");
    }
}

#[test]
fn quarantine_never_replaces_a_file_already_there() {
    let st = store();
    for env in ["dev", "prod"] {
        let p = st.path().join(env).join(DUMP);
        bad_gzip(&p);
        sidecar(&p, json!({"env": env}));
    }
    // A third of the same name, quarantined earlier from dev.
    let out = run(lfb("lfb-verify", st.path()).args(["--all", "--quarantine"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let p = st.path().join("dev").join(DUMP);
    bad_gzip(&p);
    sidecar(&p, json!({"env": "dev", "note": "third"}));
    let out = run(lfb("lfb-verify", st.path()).args(["--all", "--quarantine"]));
    assert_eq!(out.code, 1, "{}", out.stderr);

    let mut found = Vec::new();
    let mut stack = vec![st.path().join("quarantine")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy() == DUMP {
                let side = fs::read_to_string(format!("{}.json", e.path().display()))
                    .expect("the sidecar moved with its artifact");
                found.push(serde_json::from_str::<Value>(&side).unwrap());
            }
        }
    }
    assert_eq!(found.len(), 3, "all three kept: {found:?}");
    let envs: Vec<&str> = found.iter().map(|r| r["env"].as_str().unwrap()).collect();
    assert!(envs.contains(&"prod") && envs.iter().filter(|e| **e == "dev").count() == 2);
    assert!(found.iter().any(|r| r["note"] == "third"));
}

#[test]
fn consume_refuses_dumps_outside_the_store() {
    let st = store();
    let outside = tempfile::tempdir().unwrap();
    let db = outside.path().join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    drop(c);
    // A dump written elsewhere with --output: its record points outside.
    let elsewhere = outside.path().join("app_db_daily_20261127T020000Z.sql.gz");
    let out = run(lfb("lfb-dump", st.path())
        .arg("--output")
        .arg(&elsewhere)
        .arg(&db));
    out.assert_ok();
    let line = out.stdout.clone();
    let proj = outside.path().join("proj");
    fs::create_dir_all(proj.join("media")).unwrap();
    fs::write(proj.join("media/a.txt"), "a").unwrap();
    let out = run_with_input(
        lfb("lfb-archive", st.path())
            .current_dir(&proj)
            .args(["--media", "media", "--consume"]),
        line,
    );
    assert!(
        out.code == 1 || out.code == 2,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    assert!(elsewhere.exists(), "the dump outside the store was deleted");
    assert!(
        out.stderr.contains(&elsewhere.display().to_string()) && out.stderr.contains("refusing"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_future_dated_artifact_does_not_displace_the_real_newest() {
    let st = store();
    let dev = st.path().join("dev");
    let mut paths = Vec::new();
    for stamp in ["20261120T020000Z", "20261121T020000Z", "20990101T000000Z"] {
        let p = dev.join(format!("app_db_hourly_{stamp}.sql.gz"));
        bad_gzip(&p);
        sidecar(
            &p,
            json!({"env": "dev", "tag": "hourly", "verify": {"ok": true}}),
        );
        paths.push(p);
    }
    let out = run(lfb("lfb-prune", st.path()).args([
        "--keep-last",
        "1",
        "--min-keep",
        "1",
        "--now",
        "2026-11-22T00:00:00Z",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        paths[1].exists(),
        "the real newest verified backup was deleted"
    );
    assert!(paths[2].exists(), "the future-dated one is kept");
    assert!(!paths[0].exists());
    assert!(
        out.stderr.contains("kept: dated in the future"),
        "{}",
        out.stderr
    );
    let recs = out.records();
    let future = recs
        .iter()
        .find(|r| r["path"].as_str().unwrap().contains("2099"))
        .unwrap();
    assert_eq!(future["prune"]["reasons"], json!(["future-dated"]));
}

#[test]
fn orphan_sidecars_and_pid_partials_are_reported_and_cleaned() {
    let st = store();
    let dev = st.path().join("dev");
    let keep = dev.join(DUMP);
    bad_gzip(&keep);
    let orphan = dev.join("app_db_hourly_20261126T020000Z.sql.gz.json");
    fs::write(&orphan, "{\"schema\":\"lfb/1\"}\n").unwrap();
    let pid_partial = dev.join("app_db_hourly_20261125T020000Z.sql.gz.4242.partial");
    fs::write(&pid_partial, "half").unwrap();
    let foreign = dev.join("notes.json");
    fs::write(&foreign, "{}").unwrap();
    for p in [&orphan, &pid_partial, &foreign] {
        set_mtime(p, 3 * 86_400);
    }

    let out = run(lfb("lfb-guard", st.path()).stdin(std::process::Stdio::null()));
    let leftovers: Vec<Value> = out
        .records()
        .into_iter()
        .filter_map(|v| v.get("finding").cloned())
        .filter(|f| f["check"] == "partial" && f["severity"] != "ok")
        .collect();
    let paths: Vec<&str> = leftovers
        .iter()
        .map(|f| f["values"]["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&orphan.to_str().unwrap()), "{}", out.stdout);
    assert!(
        paths.contains(&pid_partial.to_str().unwrap()),
        "{}",
        out.stdout
    );
    // Dated from its name, not unknown.
    assert!(
        leftovers
            .iter()
            .all(|f| f["values"]["age_seconds"].is_u64()),
        "{leftovers:?}"
    );

    let out = run(lfb("lfb-verify", st.path()).args(["--all", "--checks", "exists"]));
    assert!(
        out.stderr.contains("sidecar without its artifact"),
        "{}",
        out.stderr
    );

    let out = run(lfb("lfb-prune", st.path()).args(["--keep-last", "5"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!orphan.exists(), "orphan sidecar not cleaned");
    assert!(!pid_partial.exists(), "NAME.<pid>.partial not cleaned");
    assert!(
        foreign.exists(),
        "a file lfb does not recognise was touched"
    );
    assert!(keep.exists());
}

#[test]
fn only_schema_lfb_1_is_read_and_a_newer_one_says_so() {
    let st = store();
    let verify = |schema: &str| {
        let line = format!("{{\"schema\":{schema},\"path\":\"/nonexistent/x.sql.gz\"}}\n");
        run_with_input(&mut lfb("lfb-verify", st.path()), line)
    };
    let newer = verify("\"lfb/2\"");
    assert_eq!(newer.code, 2, "{}", newer.stderr);
    assert!(newer.stderr.contains("newer lfb"), "{}", newer.stderr);
    for bad in ["\"lfb/0\"", "\"lfb/1 \"", "\"lfb/01\""] {
        let out = verify(bad);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains("expected \\\"lfb/1\\\"")
                || out.stderr.contains("expected \"lfb/1\""),
            "{bad}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("newer"), "{bad}: {}", out.stderr);
    }
}

/// The mutations of a custom-format dump without sidecar that must fail
/// `complete` (in lfb-verify and in lfb-guard's integrity check).
#[test]
fn damaged_custom_dumps_without_sidecar_fail_complete() {
    let Some(pg) = PgServer::start("confine_custom") else {
        return;
    };
    pg.create_db("app");
    pg.psql(
        "app",
        "CREATE TABLE t (id int, memo text);
         INSERT INTO t SELECT g, md5(g::text) || repeat('x', g % 50) FROM generate_series(1, 20000) g;
         CREATE TABLE u (id int);
         INSERT INTO u SELECT generate_series(1, 5000);",
    );
    let st = store();
    let out = run(lfb("lfb-dump", st.path())
        .args(["-F", "custom", "--tag", "pre-migration"])
        .arg(pg.url("app")));
    out.assert_ok();
    let rec = out.records().remove(0);
    let good = fs::read(rec["path"].as_str().unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mig = work.path().join("store/migrations");
    fs::create_dir_all(&mig).unwrap();
    let mut mutants: Vec<(String, Vec<u8>)> = Vec::new();
    let n = good.len();
    for frac in [10, 30, 50, 70, 90, 99] {
        mutants.push((
            format!("truncated to {frac}%"),
            good[..n * frac / 100].to_vec(),
        ));
    }
    mutants.push(("last byte cut".into(), good[..n - 1].to_vec()));
    for frac in [40, 60, 80, 95] {
        let mut b = good.clone();
        b[n * frac / 100] ^= 0x5a;
        mutants.push((format!("byte flipped at {frac}%"), b));
    }
    for frac in [40, 70] {
        let mut b = good.clone();
        let at = n * frac / 100;
        let end = (at + 4096).min(n);
        b[at..end].fill(0);
        mutants.push((format!("4 KiB zeroed at {frac}%"), b));
    }
    let mut missed = Vec::new();
    for (i, (what, bytes)) in mutants.iter().enumerate() {
        // The original scripts' name: no sidecar, record derived.
        let p = mig.join(format!("pre_migration_20261127_02{i:02}00.dump"));
        fs::write(&p, bytes).unwrap();
        let out = run(lfb("lfb-verify", &work.path().join("store"))
            .args(["--checks", "complete"])
            .arg(&p));
        if out.code != 1 {
            missed.push(format!("{what}: exit {}", out.code));
        }
        fs::remove_file(&p).unwrap();
    }
    assert!(missed.is_empty(), "undetected: {missed:?}");
    // The good one passes.
    let p = mig.join("pre_migration_20261127_030000.dump");
    fs::write(&p, &good).unwrap();
    let out = run(lfb("lfb-verify", &work.path().join("store"))
        .args(["--checks", "complete"])
        .arg(&p));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Guard re-reads the newest of its group: cut it and it is critical.
    fs::write(&p, &good[..n / 2]).unwrap();
    let out = run(lfb("lfb-guard", &work.path().join("store")).stdin(std::process::Stdio::null()));
    let integrity: Vec<Value> = out
        .records()
        .into_iter()
        .filter_map(|v| v.get("finding").cloned())
        .filter(|f| f["check"] == "integrity" && f["severity"] == "crit")
        .collect();
    assert!(!integrity.is_empty(), "{}", out.stdout);
    let _: PathBuf = p;
}
