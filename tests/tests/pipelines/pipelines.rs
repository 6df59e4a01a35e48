//! The tools chained as users chain them: records flow through, failures
//! stop deletions, and jq reads every line.

use std::path::Path;
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, store};

fn sh(script: &str) -> lfb_tests::Output {
    run(Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {script}"))
        .env_remove("DATABASE_URL"))
}

fn tool(name: &str, store: &Path) -> String {
    format!("{} --store {}", bin(name).display(), store.display())
}

#[test]
fn a_failed_dump_makes_prune_delete_nothing() {
    let Some(pg) = PgServer::start("pipeline_failed_dump") else {
        return;
    };
    pg.create_db("ledger");
    pg.psql(
        "ledger",
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 20000) g;",
    );
    let st = store();
    // Two good backups, the older one far outside any retention.
    for _ in 0..2 {
        sh(&format!(
            "{} --tag hourly '{}' >/dev/null",
            tool("lfb-dump", st.path()),
            pg.url("ledger")
        ))
        .assert_ok();
    }
    let dev = st.path().join("dev");
    let names: Vec<_> = std::fs::read_dir(&dev)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(names.len(), 4);
    let out = sh(&format!(
        "{} --tag hourly '{}' | {} | {} --tag hourly --keep-last 1",
        tool("lfb-dump", st.path()),
        pg.url("no_such_database"),
        tool("lfb-verify", st.path()),
        tool("lfb-prune", st.path()),
    ));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let after: Vec<_> = std::fs::read_dir(&dev)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(after.len(), 4, "nothing deleted");
    assert!(out.stderr.contains("no_such_database"), "{}", out.stderr);
    // Every record reached the end of the pipeline, the failed one first.
    let recs = out.records();
    assert!(recs[0]["error"].is_object());

    // The same pipeline with a good dump prunes down to the newest.
    let out = sh(&format!(
        "{} --tag hourly '{}' | {} | {} --tag hourly --keep-last 1 | jq -c .prune.action",
        tool("lfb-dump", st.path()),
        pg.url("ledger"),
        tool("lfb-verify", st.path()),
        tool("lfb-prune", st.path()),
    ));
    out.assert_ok();
    let left: Vec<_> = std::fs::read_dir(&dev).unwrap().flatten().collect();
    assert_eq!(left.len(), 2, "the newest artifact and its sidecar");
}
