//! `lfb-dump --globals` / `lfb-restore --globals`: a database restored into
//! a fresh server needs its roles; the globals artifact brings them, and a
//! restore that lacks them says so.

use std::path::Path;
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, run_with_input, store};

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

#[test]
fn globals_make_a_fresh_server_ready_for_the_database() {
    let Some(pg1) = PgServer::start("globals_src") else {
        return;
    };
    let Some(pg2) = PgServer::start("globals_fresh") else {
        return;
    };
    pg1.psql(
        "postgres",
        "CREATE ROLE app LOGIN PASSWORD 'secret-app' CREATEDB;
         CREATE ROLE reader NOLOGIN;
         GRANT reader TO app;
         ALTER ROLE app SET statement_timeout = '5min';
         CREATE DATABASE shop OWNER app;",
    );
    pg1.psql(
        "shop",
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         ALTER TABLE items OWNER TO reader;
         GRANT SELECT ON items TO app;
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g;",
    );
    let st = store();
    let out = run(lfb("lfb-dump", st.path())
        .args(["--globals", "--tag", "daily"])
        .arg(pg1.url("shop")));
    out.assert_ok();
    let recs = out.records();
    assert_eq!(recs.len(), 2, "{}", out.stdout);
    let (db_rec, globals) = (&recs[0], &recs[1]);
    assert_eq!(globals["source"]["globals"], true);
    assert_eq!(globals["format"], "sql+gzip");
    let gpath = globals["path"].as_str().unwrap();
    assert!(gpath.contains("/shop-globals_db_daily_"), "{gpath}");
    assert!(Path::new(&format!("{gpath}.json")).is_file(), "sidecar");
    // No password hashes by default.
    let text = run(Command::new("gzip").args(["-dc", gpath])).stdout;
    assert!(text.contains("CREATE ROLE app;"), "{text}");
    assert!(!text.contains("SCRAM-SHA-256"), "{text}");
    // The globals artifact passes verification (not loaded into a scratch database).
    let v = run_with_input(
        lfb("lfb-verify", st.path()).args(["--restore-test", "--min-size", "0"]),
        globals.to_string(),
    );
    v.assert_ok();
    let source = pg1.dump("shop");

    // Into a fresh server the database alone fails, says why, changes nothing.
    let restore_db = || {
        run_with_input(
            lfb("lfb-restore", st.path())
                .args(["--yes", "--no-safety-backup"])
                .arg(pg2.url("shop")),
            db_rec.to_string(),
        )
    };
    let out = restore_db();
    out.assert_code(1);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(
        out.stderr.contains("lfb-restore --globals"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("lfb-dump --globals"), "{}", out.stderr);
    // A globals artifact is not restored as a database by mistake.
    let out = run_with_input(
        lfb("lfb-restore", st.path())
            .arg("--yes")
            .arg(pg2.url("shop")),
        globals.to_string(),
    );
    out.assert_code(2);
    assert!(out.stderr.contains("--globals"), "{}", out.stderr);

    // Globals first (twice: roles that exist are kept), then the database.
    for _ in 0..2 {
        let out = run_with_input(
            lfb("lfb-restore", st.path())
                .args(["--globals", "--yes"])
                .arg(pg2.url("postgres")),
            globals.to_string(),
        );
        out.assert_ok();
        assert_eq!(out.records()[0]["restore"]["ok"], true);
    }
    assert_eq!(
        pg2.psql(
            "postgres",
            "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('app', 'reader')"
        )
        .trim(),
        "app:true,reader:false"
    );
    assert_eq!(
        pg2.psql("postgres", "SELECT pg_has_role('app', 'reader', 'MEMBER')")
            .trim(),
        "t"
    );
    restore_db().assert_ok();
    assert!(
        pg2.dump("shop") == source,
        "the database came back as it was"
    );
}
