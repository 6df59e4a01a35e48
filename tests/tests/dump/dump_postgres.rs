//! lfb-dump against a real, throwaway PostgreSQL server: the dump restores
//! to an identical database, counts are exact, failures leave nothing, and a
//! password never leaks.

use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, gzip_test, run, sha256sum, store};

const SCHEMA: &str = r#"
CREATE SCHEMA ledger;
CREATE SCHEMA "Audit Trail";
CREATE TABLE ledger.accounts (id serial PRIMARY KEY, name text NOT NULL, meta jsonb, avatar bytea);
CREATE TABLE ledger.transactions (id bigserial PRIMARY KEY, account_id int REFERENCES ledger.accounts(id),
    amount numeric(12,2), memo text, booked_at timestamptz DEFAULT now(), uid uuid);
CREATE TABLE "Audit Trail"."Event Log" ("When" timestamptz, "What" text);
CREATE TABLE public.empty_table (x int);
CREATE SEQUENCE public.invoice_no START 1000;
SELECT nextval('public.invoice_no') FROM generate_series(1, 5);
CREATE VIEW ledger.balances AS SELECT account_id, sum(amount) AS balance FROM ledger.transactions GROUP BY account_id;
INSERT INTO ledger.accounts (name, meta, avatar)
  SELECT 'acct ' || g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b\"q')), decode(md5(g::text), 'hex')
  FROM generate_series(1, 300) g;
INSERT INTO ledger.transactions (account_id, amount, memo, uid)
  SELECT 1 + g % 300, (g % 1000) / 7.0, E'line\twith tab\nand newline \\ backslash ' || g, md5(g::text)::uuid
  FROM generate_series(1, 5000) g;
INSERT INTO "Audit Trail"."Event Log" VALUES (now(), 'l''été – “quoted”'), (NULL, NULL);
"#;

fn ledger(pg: &PgServer, db: &str) {
    pg.create_db(db);
    pg.psql(db, SCHEMA);
}

fn dump_cmd(store: &Path) -> Command {
    let mut c = Command::new(bin("lfb-dump"));
    c.arg("--store").arg(store).env_remove("DATABASE_URL");
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

/// No artifact, no sidecar, no partial: only logs may exist.
fn assert_no_artifacts(store: &Path) {
    let left: Vec<PathBuf> = files_under(store)
        .into_iter()
        .filter(|p| !p.starts_with(store.join("logs")) && !p.ends_with(".lfb.lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn plain_dump_restores_to_an_identical_database_with_exact_counts() {
    let Some(pg) = PgServer::start("plain_dump_restores") else {
        return;
    };
    ledger(&pg, "ledger");
    let st = store();
    let out = run(dump_cmd(st.path())
        .args(["--tag", "hourly", "--env", "prod"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    let recs = out.records();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["schema"], "lfb/1");
    assert_eq!(r["kind"], "db");
    assert_eq!(r["env"], "prod");
    assert_eq!(r["tag"], "hourly");
    assert_eq!(r["format"], "sql+gzip");
    assert_eq!(r["source"]["engine"], "postgres");
    assert_eq!(r["source"]["database"], "ledger");
    assert!(
        r["source"]["tool"]
            .as_str()
            .unwrap()
            .starts_with("pg_dump (PostgreSQL) ")
    );
    assert!(
        r["source"]["server_version"]
            .as_str()
            .unwrap()
            .starts_with(&pg.major().to_string())
    );
    let path = PathBuf::from(r["path"].as_str().unwrap());
    assert!(path.starts_with(st.path().join("prod")));
    let fname = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        fname.starts_with("ledger_db_hourly_") && fname.ends_with("Z.sql.gz"),
        "{fname}"
    );

    // The programs users would use agree with the record.
    gzip_test(&path);
    assert_eq!(sha256sum(&path), r["sha256"].as_str().unwrap());
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        r["bytes"].as_u64().unwrap()
    );
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", path.display())).unwrap())
            .unwrap();
    assert_eq!(&sidecar, r);

    // Exact row counts, keyed as pg_dump names the tables.
    let tables = r["source"]["tables"].as_object().unwrap();
    assert_eq!(tables["ledger.accounts"], 300);
    assert_eq!(tables["ledger.transactions"], 5000);
    assert_eq!(tables["\"Audit Trail\".\"Event Log\""], 2);
    assert_eq!(tables["public.empty_table"], 0);
    assert_eq!(tables.len(), 4);

    // Restore with psql, stopping at the first error, into a new database.
    pg.create_db("restored");
    let sql = run(Command::new("gzip").arg("-dc").arg(&path));
    sql.assert_ok();
    let mut psql = pg.command("psql");
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "restored"]);
    lfb_tests::run_with_input(&mut psql, sql.stdout.as_bytes()).assert_ok();
    assert_eq!(pg.dump("ledger"), pg.dump("restored"));
    assert_eq!(
        pg.psql("restored", "SELECT last_value FROM public.invoice_no")
            .trim(),
        "1004"
    );
}

#[test]
fn custom_format_lists_with_pg_restore_and_counts_in_the_dump_snapshot() {
    let Some(pg) = PgServer::start("custom_format") else {
        return;
    };
    ledger(&pg, "ledger");
    let st = store();
    let out = run(dump_cmd(st.path())
        .args(["-F", "custom", "--tag", "pre-migration"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["format"], "pg-custom");
    let path = PathBuf::from(r["path"].as_str().unwrap());
    assert!(path.starts_with(st.path().join("migrations")), "{path:?}");
    assert!(path.to_string_lossy().ends_with(".dump"));
    assert_eq!(sha256sum(&path), r["sha256"].as_str().unwrap());
    let list = run(pg.command("pg_restore").arg("--list").arg(&path));
    list.assert_ok();
    assert!(list.stdout.contains("TABLE DATA ledger transactions"));
    let tables = r["source"]["tables"].as_object().unwrap();
    assert_eq!(tables["ledger.transactions"], 5000);
    assert_eq!(tables["\"Audit Trail\".\"Event Log\""], 2);

    pg.create_db("restored");
    run(pg
        .command("pg_restore")
        .args(["--exit-on-error", "-d", "restored"])
        .arg(&path))
    .assert_ok();
    assert_eq!(pg.dump("ledger"), pg.dump("restored"));
}

#[test]
fn unreachable_server_nonexistent_database_and_wrong_password_exit_2() {
    let Some(pg) = PgServer::start("connect_failures") else {
        return;
    };
    ledger(&pg, "ledger");
    pg.create_role("app", "s3cr3t-Pa55");
    let st = store();
    let nowhere = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!(
                "postgresql://postgres@/ledger?host={}&port=5999",
                nowhere.path().display()
            ),
            "cannot connect",
        ),
        (pg.url("no_such_db"), "no_such_db"),
        (
            pg.url_as("app", "wrong-Pa55", "ledger"),
            "password authentication failed",
        ),
    ];
    for (url, needle) in cases {
        let out = run(dump_cmd(st.path()).arg(&url));
        out.assert_code(2);
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
        assert!(!out.stderr.contains("wrong-Pa55"));
        let rec = &out.records()[0];
        assert!(rec["error"]["message"].is_string());
        assert!(!out.stdout.contains("wrong-Pa55"));
        assert_no_artifacts(st.path());
    }
    let journal = std::fs::read_to_string(st.path().join("logs/journal.ndjson")).unwrap();
    assert_eq!(journal.lines().count(), 3);
    assert!(!journal.contains("wrong-Pa55"));
    assert!(journal.lines().all(|l| l.contains("\"ok\":false")));
}

/// A wrapper used as `--exec` prefix: records the argv and environment of
/// every client call, then runs it.
fn spy_script(dir: &Path, pg: &PgServer, body: &str) -> PathBuf {
    let p = dir.join("spy.sh");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprog=\"$1\"; shift\necho \"$prog $*\" >> {log}\nexport PATH={bin}:$PATH\n{body}\n",
            log = dir.join("argv.log").display(),
            bin = pg.bin_dir().display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_password_in_the_url_reaches_no_argv_record_journal_or_message() {
    let Some(pg) = PgServer::start("password_secrecy") else {
        return;
    };
    ledger(&pg, "ledger");
    pg.create_role("app", "Zq9-very-secret");
    pg.psql("ledger", "GRANT USAGE ON SCHEMA ledger, \"Audit Trail\" TO app; GRANT SELECT ON ALL TABLES IN SCHEMA ledger, \"Audit Trail\", public TO app; GRANT SELECT ON ALL SEQUENCES IN SCHEMA ledger, public TO app;");
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let spy = spy_script(work.path(), &pg, "exec \"$prog\" \"$@\"");
    let out = run(dump_cmd(st.path()).arg("--exec").arg(&spy).arg(pg.url_as(
        "app",
        "Zq9-very-secret",
        "ledger",
    )));
    out.assert_ok();
    let argv = std::fs::read_to_string(work.path().join("argv.log")).unwrap();
    assert!(argv.contains("pg_dump"), "{argv}");
    assert!(!argv.contains("Zq9-very-secret"), "{argv}");
    for text in [
        out.stdout.clone(),
        out.stderr.clone(),
        std::fs::read_to_string(st.path().join("logs/journal.ndjson")).unwrap(),
    ] {
        assert!(!text.contains("Zq9-very-secret"));
    }
    let r = &out.records()[0];
    assert_eq!(r["source"]["user"], "app");
    let side = std::fs::read_to_string(format!("{}.json", r["path"].as_str().unwrap())).unwrap();
    assert!(!side.contains("Zq9-very-secret"));
}

#[test]
fn pg_dump_killed_mid_way_leaves_no_artifact_and_exits_1() {
    let Some(pg) = PgServer::start("pg_dump_killed") else {
        return;
    };
    ledger(&pg, "ledger");
    let st = store();
    let work = tempfile::tempdir().unwrap();
    // pg_dump's output stops after 20 kB and the client is killed (SIGKILL).
    let spy = spy_script(
        work.path(),
        &pg,
        "if [ \"$prog\" = pg_dump ] && [ \"$1\" != --version ]; then \"$prog\" \"$@\" | head -c 20000; kill -9 $$; fi\nexec \"$prog\" \"$@\"",
    );
    let out = run(dump_cmd(st.path())
        .arg("--exec")
        .arg(&spy)
        .arg(pg.url("ledger")));
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("killed by signal 9"), "{}", out.stderr);
    assert!(out.records()[0]["error"].is_object());
    assert_no_artifacts(st.path());

    // pg_dump exiting 0 with a truncated stream is caught by the trailer.
    let spy = spy_script(
        work.path(),
        &pg,
        "if [ \"$prog\" = pg_dump ] && [ \"$1\" != --version ]; then \"$prog\" \"$@\" | head -c 20000; exit 0; fi\nexec \"$prog\" \"$@\"",
    );
    let out = run(dump_cmd(st.path())
        .arg("--exec")
        .arg(&spy)
        .arg(pg.url("ledger")));
    out.assert_code(1);
    assert!(out.stderr.contains("incomplete"), "{}", out.stderr);
    assert_no_artifacts(st.path());
}

#[test]
fn interrupting_lfb_dump_removes_its_partial_file() {
    let Some(pg) = PgServer::start("interrupt_dump") else {
        return;
    };
    ledger(&pg, "ledger");
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let spy = spy_script(
        work.path(),
        &pg,
        "if [ \"$prog\" = pg_dump ] && [ \"$1\" != --version ]; then \"$prog\" \"$@\" | { head -c 3000000; sleep 30; cat; }; exit 0; fi\nexec \"$prog\" \"$@\"",
    );
    let mut child = dump_cmd(st.path())
        .arg("--exec")
        .arg(&spy)
        .arg(pg.url("ledger"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let dev = st.path().join("dev");
    let start = std::time::Instant::now();
    while !files_under(&dev)
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".partial"))
    {
        assert!(start.elapsed().as_secs() < 20, "no partial file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run(Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string()))
    .assert_ok();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    assert_no_artifacts(st.path());
}

#[test]
fn an_unwritable_store_exits_2_before_touching_the_database() {
    let Some(pg) = PgServer::start("unwritable_store") else {
        return;
    };
    ledger(&pg, "ledger");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let out = run(dump_cmd(&file.join("store")).arg(pg.url("ledger")));
    out.assert_code(2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("not writable"), "{}", out.stderr);
}

#[test]
fn an_older_pg_dump_is_refused_with_the_version_to_install() {
    let Some(pg) = PgServer::start("older_pg_dump") else {
        return;
    };
    ledger(&pg, "ledger");
    let st = store();
    // A client folder holding only an old pg_dump (and the real psql).
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(pg.bin_dir().join("psql"), bin.path().join("psql")).unwrap();
    let out = run(dump_cmd(st.path())
        .env("LFB_PG_BINDIR", bin.path())
        .arg(pg.url("ledger")));
    out.assert_code(2);
    let want = format!("no pg_dump can dump this PostgreSQL {} server", pg.major());
    assert!(out.stderr.contains(&want), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("postgresql-client-{}", pg.major())),
        "{}",
        out.stderr
    );
    assert_no_artifacts(st.path());
}
