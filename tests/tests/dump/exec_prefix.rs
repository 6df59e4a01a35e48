//! `--exec PREFIX` in lfb-verify and lfb-restore too, carried in the record
//! (`source.exec`) so a pipeline names it once (issue 15.9). The prefix is a
//! wrapper that runs the client programs as another OS user (`postgres`,
//! through runuser) and logs each one as that user, so the test proves the
//! prefix was really used.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, is_root, require_db, run, run_with_input, skip_if_allowed, store};

/// `wrap.sh CMD ARGS…`: runs CMD as the postgres OS user, appending
/// "USER: CMD" to `log` first.
fn wrapper(dir: &Path, log: &Path) -> String {
    let w = dir.join("wrap.sh");
    std::fs::write(
        &w,
        format!(
            "#!/bin/sh\nexec runuser -u postgres -- sh -c 'echo \"$(id -un): $1\" >> {log}; exec \"$@\"' sh \"$@\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The log is written by the postgres user.
    std::fs::write(log, "").unwrap();
    std::fs::set_permissions(log, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.display().to_string()
}

fn logged(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn verify_and_restore_use_the_prefix_from_the_record_or_their_flag() {
    if !is_root() || Command::new("runuser").arg("--help").output().is_err() {
        return skip_if_allowed(
            require_db(),
            "exec_prefix",
            "needs root and runuser to run the clients as the postgres OS user",
        )
        .unwrap_or(());
    }
    let Some(pg) = PgServer::start("exec_prefix") else {
        return;
    };
    pg.create_db("ledger");
    pg.psql(
        "ledger",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 3000) g;",
    );
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("calls.log");
    let wrap = wrapper(work.path(), &log);
    let lfb = |tool: &str| {
        let mut c = Command::new(bin(tool));
        c.arg("--store").arg(st.path()).env_remove("DATABASE_URL");
        c
    };

    // dump --exec: the record carries the prefix.
    let dump = run(lfb("lfb-dump")
        .args(["--tag", "hourly", "--exec", &wrap])
        .arg(pg.url("ledger")));
    dump.assert_ok();
    assert_eq!(dump.records()[0]["source"]["exec"], wrap.as_str());
    assert!(
        logged(&log).iter().any(|l| l == "postgres: pg_dump"),
        "{:?}",
        logged(&log)
    );

    // | lfb-verify --restore-test: no --exec, the record's prefix is used
    // for every client program of the restore test.
    std::fs::write(&log, "").unwrap();
    let verified = run_with_input(lfb("lfb-verify").arg("--restore-test"), &dump.stdout);
    verified.assert_ok();
    let calls = logged(&log);
    assert!(calls.iter().any(|l| l == "postgres: psql"), "{calls:?}");
    assert!(
        calls.iter().all(|l| l.starts_with("postgres: ")),
        "{calls:?}"
    );

    // lfb-verify PATH: the sidecar's prefix is not used (a file in the
    // store does not choose commands); --exec is.
    std::fs::write(&log, "").unwrap();
    let path = dump.records()[0]["path"].as_str().unwrap().to_string();
    run(lfb("lfb-verify").arg("--restore-test").arg(&path)).assert_ok();
    assert!(logged(&log).is_empty(), "{:?}", logged(&log));
    run(lfb("lfb-verify")
        .args(["--restore-test", "--exec", &wrap])
        .arg(&path))
    .assert_ok();
    assert!(logged(&log).iter().any(|l| l == "postgres: psql"));

    // | lfb-restore: the record on stdin carries the prefix.
    pg.create_db("copy");
    std::fs::write(&log, "").unwrap();
    let restored = run_with_input(
        lfb("lfb-restore")
            .args(["--yes", "--no-safety-backup", "--from", "ledger"])
            .arg(pg.url("copy")),
        &verified.stdout,
    );
    restored.assert_ok();
    let calls = logged(&log);
    assert!(calls.iter().any(|l| l == "postgres: psql"), "{calls:?}");
    assert_eq!(
        pg.psql("copy", "SELECT count(*) FROM t;").trim(),
        "3000",
        "restored through the prefix"
    );

    // A prefix holding an assignment (a password) never reaches a record.
    let secret = format!("env PGPASSWORD=hunter2 {wrap}");
    let out = run(lfb("lfb-dump")
        .args(["--exec", &secret])
        .arg(pg.url("ledger")));
    out.assert_ok();
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
}
