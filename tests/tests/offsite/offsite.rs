//! A store in object storage (`--store s3://bucket/prefix`) against a real S3
//! implementation: the `moto` server (s3_support.rs), started per test. The
//! backups are real (lfb-dump of SQLite and PostgreSQL), copied with
//! lfb-copy; the bucket's contents are checked with boto3, not with lfb's
//! own client.
//!
//! Covered: list, verify (and its remembered result in the sidecar object),
//! guard (freshness, gaps, integrity), prune (the planner's invariants, a
//! failed upstream record, the lease with two prunes at once and an expired
//! lease), a corrupted object, a restore straight from the bucket into a
//! real PostgreSQL on a machine with nothing local, wrong credentials, a
//! missing bucket, and throttling.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::s3_support::{Front, Moto, SECRET};
use lfb_tests::pg::PgServer;
use lfb_tests::{bin, parse_ndjson, run, run_with_input, store};
use serde_json::Value;

/// An lfb tool with the test's S3 configuration, a private HOME and no
/// local store.
fn tool(name: &str, home: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.env_remove("LFB_CONFIG")
        .env_remove("LFB_STORE")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("DATABASE_URL")
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("AWS_ACCESS_KEY_ID", crate::s3_support::KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("LFB_S3_ENDPOINT", endpoint)
        .env("LFB_S3_BACKOFF_MS", "20");
    c
}

/// [`tool`] for the server `s`, with its credentials.
fn on(s: &Moto, name: &str, home: &Path) -> Command {
    let mut c = tool(name, home, &s.endpoint());
    c.env("AWS_ACCESS_KEY_ID", s.key)
        .env("AWS_SECRET_ACCESS_KEY", s.secret);
    c
}

/// `n` demo dumps (real SQLite dumps) in a local store, copied to
/// `s3://BUCKET/acme`; their records, oldest first.
fn backups_in_bucket(moto: &Moto, bucket: &str, home: &Path, n: usize) -> Vec<Value> {
    moto.create_bucket(bucket);
    let st = store();
    let mut recs = Vec::new();
    for i in 0..n {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(2100));
        }
        let out = run(on(moto, "lfb-dump", home)
            .arg("--store")
            .arg(st.path())
            .args(["-e", "prod", "--demo"]));
        out.assert_ok();
        recs.push(out.records().remove(0));
    }
    run(on(moto, "lfb-copy", home)
        .arg("--store")
        .arg(st.path())
        .args(["--all", "--to", &format!("s3://{bucket}/acme")]))
    .assert_ok();
    recs
}

fn file_name(rec: &Value) -> String {
    Path::new(rec["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The keys under `prefix`, sorted.
fn keys(moto: &Moto, bucket: &str, prefix: &str) -> Vec<String> {
    let out = moto.py(&format!(
        "r = s3.list_objects_v2(Bucket='{bucket}', Prefix='{prefix}')\n\
         print('\\n'.join(sorted(o['Key'] for o in r.get('Contents', []))))"
    ));
    out.lines().map(str::to_string).collect()
}

/// Flips one byte of an object (keeping its metadata), as bit rot would.
fn corrupt(moto: &Moto, bucket: &str, key: &str) {
    moto.py(&format!(
        "o = s3.get_object(Bucket='{bucket}', Key='{key}')\n\
         b = bytearray(o['Body'].read()); b[len(b) // 2] ^= 0xff\n\
         s3.put_object(Bucket='{bucket}', Key='{key}', Body=bytes(b), Metadata=o['Metadata'])"
    ));
}

#[test]
fn list_verify_guard_and_prune_work_on_the_bucket() {
    let Some(moto) = Moto::start("list_verify_guard_and_prune") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let e = moto.endpoint();
    let recs = backups_in_bucket(&moto, "offsite", h, 3);
    let url = |r: &Value| format!("s3://offsite/acme/prod/{}", file_name(r));

    // lfb-list: the records, newest first, naming the objects; LFB_STORE works too.
    let out = run(tool("lfb-list", h, &e).env("LFB_STORE", "s3://offsite/acme"));
    out.assert_ok();
    let listed = out.records();
    assert_eq!(listed.len(), 3, "{}", out.stdout);
    assert_eq!(listed[0]["id"], recs[2]["id"]);
    assert_eq!(listed[0]["path"], url(&recs[2]));
    assert_eq!(listed[0]["sha256"], recs[2]["sha256"]);
    let out =
        run(tool("lfb-list", h, &e).args(["--store", "s3://offsite/acme", "--format", "table"]));
    out.assert_ok();
    assert!(
        out.stdout.contains("ledgerflow") && out.stdout.contains("never"),
        "{}",
        out.stdout
    );

    // lfb-verify --all: every object read and checked; the result is
    // remembered in each sidecar object.
    let out = run(tool("lfb-verify", h, &e).args(["--store", "s3://offsite/acme", "--all"]));
    out.assert_ok();
    let verified = out.records();
    assert_eq!(verified.len(), 3);
    for v in &verified {
        assert_eq!(v["verify"]["ok"], true, "{v}");
        let names: Vec<&str> = v["verify"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == true)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for c in ["checksum", "decode", "complete"] {
            assert!(names.contains(&c), "{v}");
        }
    }
    let side = moto.py(&format!(
        "import json\nprint(json.loads(s3.get_object(Bucket='offsite', Key='acme/prod/{}.json')['Body'].read())['verify']['ok'])",
        file_name(&recs[0])
    ));
    assert_eq!(side, "True");
    // lfb-list | lfb-verify: records on stdin name objects.
    let list = run(tool("lfb-list", h, &e).args(["--store", "s3://offsite/acme", "--verified"]));
    let out = run_with_input(
        tool("lfb-verify", h, &e).args(["--store", "s3://offsite/acme"]),
        &list.stdout,
    );
    out.assert_ok();
    assert_eq!(out.records().len(), 3);

    // lfb-guard: fresh (limit 1h), the newest re-read; gaps between copies
    // further apart than a 1s limit; stale as of two days later.
    let out = run(tool("lfb-guard", h, &e).args([
        "--store",
        "s3://offsite/acme",
        "--max-age",
        "manual=1h",
    ]));
    out.assert_ok();
    let findings = parse_ndjson(&out.stdout);
    let by = |check: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|f| f["finding"]["check"] == check)
            .collect()
    };
    assert_eq!(
        by("freshness")[0]["finding"]["severity"],
        "ok",
        "{}",
        out.stdout
    );
    assert_eq!(
        by("integrity")[0]["finding"]["severity"],
        "ok",
        "{}",
        out.stdout
    );
    let summary = findings.last().unwrap();
    assert_eq!(summary["summary"]["store"], "s3://offsite/acme");
    assert_eq!(summary["summary"]["artifacts"], 3);
    let out = run(tool("lfb-guard", h, &e).args([
        "--store",
        "s3://offsite/acme",
        "--max-age",
        "manual=1s",
        // "Now" is the newest backup's own time: the newest copy is fresh
        // however slowly a loaded machine got here, and only the gaps show.
        "--now",
        recs[2]["created_at"].as_str().unwrap(),
    ]));
    let findings = parse_ndjson(&out.stdout);
    let gaps: Vec<&Value> = findings
        .iter()
        .filter(|f| f["finding"]["check"] == "gaps")
        .collect();
    assert_eq!(gaps.len(), 1, "{}", out.stdout);
    assert_eq!(gaps[0]["finding"]["severity"], "warn");
    // Dumps 2.1 s apart are 2 or 3 whole seconds apart: every interval is
    // a gap longer than 1 s (1.1 s apart could be 1 s apart twice: none).
    assert!(gaps[0]["finding"]["values"]["gaps"].as_u64().unwrap() >= 1);
    // `gaps` is a check like any other: --skip leaves it out.
    let out = run(tool("lfb-guard", h, &e).args([
        "--store",
        "s3://offsite/acme",
        "--max-age",
        "manual=1s",
        "--now",
        recs[2]["created_at"].as_str().unwrap(),
        "--skip",
        "gaps",
    ]));
    assert_ne!(out.code, 2, "{}", out.stderr);
    let findings = parse_ndjson(&out.stdout);
    assert!(
        findings.iter().all(|f| f["finding"]["check"] != "gaps"),
        "{}",
        out.stdout
    );
    let later = lfb_core::chrono::Utc::now() + lfb_core::chrono::Duration::days(2);
    let out = run(tool("lfb-guard", h, &e).args([
        "--store",
        "s3://offsite/acme",
        "--max-age",
        "manual=1h",
        "--now",
        &lfb_core::record::format_time(later),
    ]));
    out.assert_code(1);
    assert!(out.stderr.contains("crit: freshness"), "{}", out.stderr);

    // A corrupted object: named, exit 1, never reported good, and
    // remembered as failed in its sidecar.
    let newest_key = format!("acme/prod/{}", file_name(&recs[2]));
    corrupt(&moto, "offsite", &newest_key);
    let out = run(tool("lfb-verify", h, &e).args(["--store", "s3://offsite/acme", "--all"]));
    out.assert_code(1);
    assert!(out.stderr.contains(&url(&recs[2])), "{}", out.stderr);
    assert!(out.stderr.contains("checksum failed"), "{}", out.stderr);
    let results = out.records();
    let bad: Vec<&Value> = results
        .iter()
        .filter(|r| r["verify"]["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["path"], url(&recs[2]));
    assert!(!out.stdout.contains("/tmp/lfb-spool"), "{}", out.stdout);
    let out = run(tool("lfb-guard", h, &e).args(["--store", "s3://offsite/acme"]));
    out.assert_code(1);
    assert!(out.stderr.contains("crit: verification"), "{}", out.stderr);
    assert!(out.stderr.contains("crit: integrity"), "{}", out.stderr);

    // A failed upstream record: nothing is deleted.
    let failed = r#"{"schema":"lfb/1","kind":"db","env":"prod","tag":"manual","error":{"message":"pg_dump failed"}}"#;
    let out = run_with_input(
        tool("lfb-prune", h, &e).args([
            "--store",
            "s3://offsite/acme",
            "-e",
            "prod",
            "--keep-last",
            "1",
        ]),
        format!("{failed}\n"),
    );
    out.assert_code(1);
    assert!(out.stderr.contains("nothing was deleted"), "{}", out.stderr);
    assert_eq!(keys(&moto, "offsite", "acme/prod/").len(), 6);

    // Retention: keep-last 1 keeps the newest (failed its verification) and
    // never the newest verified copy; the oldest goes, with its sidecar.
    let out = run(tool("lfb-prune", h, &e)
        .args([
            "--store",
            "s3://offsite/acme",
            "-e",
            "prod",
            "--keep-last",
            "1",
        ])
        .stdin(Stdio::null()));
    out.assert_ok();
    let actions: Vec<(String, String)> = out
        .records()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["prune"]["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&(recs[0]["id"].as_str().unwrap().into(), "delete".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(recs[1]["id"].as_str().unwrap().into(), "keep".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(recs[2]["id"].as_str().unwrap().into(), "keep".into())),
        "{actions:?}"
    );
    let left = keys(&moto, "offsite", "acme/");
    assert_eq!(
        left,
        vec![
            format!("acme/prod/{}", file_name(&recs[1])),
            format!("acme/prod/{}.json", file_name(&recs[1])),
            format!("acme/prod/{}", file_name(&recs[2])),
            format!("acme/prod/{}.json", file_name(&recs[2])),
        ],
        "the lease is released too"
    );
}

#[test]
fn two_prunes_of_one_bucket_take_turns_and_an_expired_lease_is_taken_over() {
    let Some(moto) = Moto::start("two_prunes_of_one_bucket") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let e = moto.endpoint();
    let recs = backups_in_bucket(&moto, "shared", h, 5);
    let prune = || {
        let mut c = tool("lfb-prune", h, &e);
        c.args([
            "--store",
            "s3://shared/acme",
            "-e",
            "prod",
            "--keep-last",
            "1",
        ])
        .env("LFB_PRUNE_DELETE_DELAY_MS", "400")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c
    };
    // Two machines prune the same bucket at once: one holds the lease and
    // deletes, the other waits, then finds nothing left to delete.
    let first = prune().spawn().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let second = prune().spawn().unwrap();
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr).into_owned(),
        String::from_utf8_lossy(&b.stderr).into_owned(),
    );
    assert!(a.status.success(), "{ea}");
    assert!(b.status.success(), "{eb}");
    assert!(
        eb.contains("waiting for the lock of s3://shared/acme"),
        "{eb}"
    );
    let deletes = |o: &std::process::Output| {
        parse_ndjson(&String::from_utf8_lossy(&o.stdout))
            .iter()
            .filter(|r| r["prune"]["action"] == "delete")
            .count()
    };
    assert_eq!(deletes(&a), 4, "{ea}");
    assert_eq!(deletes(&b), 0, "{eb}");
    assert_eq!(
        keys(&moto, "shared", "acme/"),
        vec![
            format!("acme/prod/{}", file_name(&recs[4])),
            format!("acme/prod/{}.json", file_name(&recs[4])),
        ]
    );

    // A live lease of another machine: the prune waits, then stops (exit 2)
    // naming the holder, and deletes nothing.
    let lease = |expires: &str| {
        moto.py(&format!(
            "import json\ns3.put_object(Bucket='shared', Key='acme/.lfb/lock.json', Body=json.dumps(\
             {{'holder': 'db2.example:4242:0', 'tool': 'lfb-prune', 'acquired_at': '2026-01-01T00:00:00Z', \
             'expires_at': '{expires}'}}))"
        ));
    };
    lease("2999-01-01T00:00:00Z");
    let out = run(tool("lfb-prune", h, &e)
        .args([
            "--store",
            "s3://shared/acme",
            "-e",
            "prod",
            "--keep-within",
            "1s",
        ])
        .env("LFB_S3_LOCK_WAIT", "2s")
        .stdin(Stdio::null()));
    out.assert_code(2);
    assert!(
        out.stderr.contains("is locked by db2.example:4242:0"),
        "{}",
        out.stderr
    );
    assert_eq!(keys(&moto, "shared", "acme/prod/").len(), 2);

    // The same lease, expired (its holder died): taken over, the prune
    // runs, and the lease is gone afterwards. keep-within 1s deletes
    // nothing either: the newest verified copy... is the only one, kept.
    lease("2020-01-01T00:00:00Z");
    let out = run(tool("lfb-prune", h, &e)
        .args([
            "--store",
            "s3://shared/acme",
            "-e",
            "prod",
            "--keep-within",
            "1s",
        ])
        .env("LFB_S3_LOCK_WAIT", "2s")
        .stdin(Stdio::null()));
    out.assert_ok();
    assert!(
        out.stderr.contains("took over the expired lock"),
        "{}",
        out.stderr
    );
    assert_eq!(
        keys(&moto, "shared", "acme/"),
        vec![
            format!("acme/prod/{}", file_name(&recs[4])),
            format!("acme/prod/{}.json", file_name(&recs[4])),
        ]
    );
}

#[test]
fn a_restore_comes_straight_from_the_bucket_on_a_machine_with_nothing_local() {
    let Some(moto) = Moto::start("restore_from_the_bucket") else {
        return;
    };
    let Some(pg) = PgServer::start("restore_from_the_bucket") else {
        return;
    };
    moto.create_bucket("offsite");
    pg.create_db("ledger");
    pg.psql(
        "ledger",
        "CREATE TABLE accounts (id serial PRIMARY KEY, name text);
         INSERT INTO accounts (name) SELECT 'acct' || g FROM generate_series(1, 250) g;",
    );
    // The machine that took the backup.
    let origin = tempfile::tempdir().unwrap();
    let st = store();
    let e = moto.endpoint();
    let out = run(tool("lfb-dump", origin.path(), &e)
        .arg("--store")
        .arg(st.path())
        .args(["-e", "prod"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    let rec = out.records().remove(0);
    run(tool("lfb-copy", origin.path(), &e)
        .arg("--store")
        .arg(st.path())
        .args(["--all", "--to", "s3://offsite/acme"]))
    .assert_ok();
    let backed_up = pg.dump("ledger");
    drop(st);
    pg.psql(
        "ledger",
        "DELETE FROM accounts WHERE id > 10; CREATE TABLE drift (x int);",
    );
    assert_ne!(pg.dump("ledger"), backed_up);

    // A new machine: nothing local, only the bucket.
    let fresh = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tool("lfb-restore", fresh.path(), &e)
        .env("TMPDIR", tmp.path())
        .args(["--store", "s3://offsite/acme", "-e", "prod", "--latest"])
        .args(["--confirm", "ledger"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    assert_eq!(pg.dump("ledger"), backed_up);
    let r = &out.records()[0];
    assert_eq!(r["restore"]["ok"], true, "{r}");
    assert_eq!(r["id"], rec["id"]);
    assert_eq!(r["offsite"]["source"], "s3://offsite/acme", "{r}");
    assert_eq!(
        r["offsite"]["url"],
        format!("s3://offsite/acme/prod/{}", file_name(&rec))
    );
    assert_eq!(r["restore"]["counts"]["public.accounts"], 250, "{r}");
    // The safety backup is local (the new machine's store), the spool is gone.
    let safety = r["restore"]["safety_backup"].as_str().unwrap();
    assert!(
        safety.starts_with(fresh.path().join("data/lfb/backups").to_str().unwrap()),
        "{safety}"
    );
    let spools: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(spools.is_empty(), "{spools:?}");

    // A corrupted newest copy: not restored, the target untouched.
    corrupt(&moto, "offsite", &format!("acme/prod/{}", file_name(&rec)));
    pg.psql("ledger", "CREATE TABLE after_restore (x int);");
    let before = pg.dump("ledger");
    let out = run(tool("lfb-restore", fresh.path(), &e)
        .args(["--store", "s3://offsite/acme", "-e", "prod", "--latest"])
        .args(["--confirm", "ledger"])
        .arg(pg.url("ledger")));
    out.assert_code(1);
    assert!(out.stderr.contains("checksum failed"), "{}", out.stderr);
    assert!(
        out.stderr.contains("s3://offsite/acme/prod/"),
        "{}",
        out.stderr
    );
    assert_eq!(pg.dump("ledger"), before);
}

#[test]
fn wrong_credentials_a_missing_bucket_and_throttling() {
    let Some(moto) = Moto::start("offsite_wrong_credentials") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    backups_in_bucket(&moto, "offsite", h, 1);

    // A missing bucket: one line, exit 2, for every tool.
    for t in [
        "lfb-list",
        "lfb-verify",
        "lfb-guard",
        "lfb-prune",
        "lfb-restore",
    ] {
        let mut c = tool(t, h, &moto.endpoint());
        c.args(["--store", "s3://no-such-bucket/acme"]);
        match t {
            "lfb-verify" => c.arg("--all"),
            "lfb-prune" => c.args(["--keep-last", "1"]).stdin(Stdio::null()),
            "lfb-restore" => c.args(["--latest", "--yes", "postgresql:///ledger"]),
            _ => &mut c,
        };
        let out = run(&mut c);
        out.assert_code(2);
        assert!(
            out.stderr
                .contains("bucket 'no-such-bucket' does not exist"),
            "{t}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{t}: {}", out.stderr);
    }

    // Refused credentials: one line, exit 2, no secret in it.
    let front = Front::start(moto.port, 0, Some("AKIATHEGOODKEY000000"));
    let out = run(tool("lfb-verify", h, &front.endpoint()).args([
        "--store",
        "s3://offsite/acme",
        "--all",
    ]));
    out.assert_code(2);
    assert!(
        out.stderr.contains("refused the credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(SECRET) && !out.stdout.contains(SECRET));

    // Throttling: retried with backoff, then the run goes through.
    let front = Front::start(moto.port, 3, None);
    let out = run(tool("lfb-verify", h, &front.endpoint()).args([
        "--store",
        "s3://offsite/acme",
        "--all",
    ]));
    out.assert_ok();
    assert_eq!(front.refused.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Throttled for good: bounded retries, then a clear failure.
    let front = Front::start(moto.port, usize::MAX, None);
    let out = run(tool("lfb-list", h, &front.endpoint())
        .args(["--store", "s3://offsite/acme"])
        .env("LFB_S3_RETRIES", "2"));
    out.assert_code(2);
    assert!(
        out.stderr.contains("503 SlowDown") && out.stderr.contains("gave up after 3 attempts"),
        "{}",
        out.stderr
    );
}

/// The same tools against a second S3 implementation, s3rver (npm), which
/// differs from moto where services differ: it answers listings in another
/// XML namespace, checks signatures, and ignores conditional writes (so the
/// lease falls back to look-then-write and a read back).
#[test]
fn the_second_implementation_s3rver_copy_list_verify_prune_and_restore() {
    let Some(srv) = Moto::s3rver("s3rver_copy_list_verify_prune_and_restore") else {
        return;
    };
    let Some(pg) = PgServer::start("s3rver_restore") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let recs = backups_in_bucket(&srv, "second", h, 3);
    let out = run(on(&srv, "lfb-list", h).args(["--store", "s3://second/acme"]));
    out.assert_ok();
    assert_eq!(out.records().len(), 3, "{}", out.stderr);
    assert_eq!(out.records()[0]["id"], recs[2]["id"]);
    let out = run(on(&srv, "lfb-verify", h).args(["--store", "s3://second/acme", "--all"]));
    out.assert_ok();
    assert!(out.records().iter().all(|r| r["verify"]["ok"] == true));
    // A corrupted object is named and fails.
    corrupt(
        &srv,
        "second",
        &format!("acme/prod/{}", file_name(&recs[0])),
    );
    let out = run(on(&srv, "lfb-verify", h).args(["--store", "s3://second/acme", "--all"]));
    out.assert_code(1);
    assert!(
        out.stderr.contains(&file_name(&recs[0])) && out.stderr.contains("checksum failed"),
        "{}",
        out.stderr
    );

    // Two prunes at once: the second sees the live lease and waits.
    let prune = || {
        let mut c = on(&srv, "lfb-prune", h);
        c.args([
            "--store",
            "s3://second/acme",
            "-e",
            "prod",
            "--keep-last",
            "1",
        ])
        .env("LFB_PRUNE_DELETE_DELAY_MS", "400")
        .env("LFB_S3_LEASE_SETTLE", "300ms")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c
    };
    let first = prune().spawn().unwrap();
    std::thread::sleep(Duration::from_millis(900));
    let second = prune().spawn().unwrap();
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr).into_owned(),
        String::from_utf8_lossy(&b.stderr).into_owned(),
    );
    assert!(a.status.success() && b.status.success(), "{ea}\n{eb}");
    assert!(ea.contains("does not enforce conditional writes"), "{ea}");
    assert!(
        eb.contains("waiting for the lock of s3://second/acme"),
        "{eb}"
    );
    assert_eq!(keys(&srv, "second", "acme/").len(), 2, "{ea}\n{eb}");

    // Copy a PostgreSQL dump there, then restore it from the bucket only.
    pg.create_db("ledger");
    pg.psql(
        "ledger",
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 77);",
    );
    let st = store();
    let out = run(on(&srv, "lfb-dump", h)
        .arg("--store")
        .arg(st.path())
        .args(["-e", "prod"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    run(on(&srv, "lfb-copy", h).arg("--store").arg(st.path()).args([
        "--all",
        "--to",
        "s3://second/acme",
    ]))
    .assert_ok();
    let backed_up = pg.dump("ledger");
    pg.psql("ledger", "DELETE FROM t;");
    let fresh = tempfile::tempdir().unwrap();
    let out = run(on(&srv, "lfb-restore", fresh.path())
        .args(["--store", "s3://second/acme", "-e", "prod", "--latest"])
        .args(["--confirm", "ledger"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    assert_eq!(pg.dump("ledger"), backed_up);
}

/// A bucket given to a tool that needs a folder (lfb-dump, lfb-archive) is
/// refused with one line; before, it became a local folder named `s3:`.
#[test]
fn a_tool_that_needs_a_folder_refuses_a_bucket() {
    let home = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    for store in ["--store", "LFB_STORE"] {
        let mut c = tool("lfb-dump", home.path(), "http://127.0.0.1:9");
        c.current_dir(cwd.path()).args(["-e", "prod", "--demo"]);
        match store {
            "--store" => c.args(["--store", "s3://acme-backups/ledgerflow"]),
            _ => c.env("LFB_STORE", "s3://acme-backups/ledgerflow"),
        };
        let out = run(&mut c);
        out.assert_code(2);
        assert!(
            out.stderr
                .contains("the store 's3://acme-backups/ledgerflow' is a bucket: lfb-dump needs a store folder"),
            "{}",
            out.stderr
        );
        assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
    }
}
