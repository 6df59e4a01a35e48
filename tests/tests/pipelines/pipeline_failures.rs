//! Failures travel down the pipe (issue 15.1): every tool whose stdout is
//! not a terminal prints a failure record for any failure, usage errors and
//! missing configuration included, and lfb-prune deletes nothing when its
//! pipe delivers no records or only failed ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::{bin, run, run_with_input, store};

/// Three hourly dumps from October, named as lfb names them (no sidecars:
/// prune derives their age from the name). A 7-day retention would delete
/// the two older ones.
fn old_hourlies(store: &Path) -> PathBuf {
    let dev = store.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    for day in ["01", "02", "03"] {
        let p = dev.join(format!("ledgerflow_db_hourly_202610{day}T020000Z.sql.gz"));
        std::fs::write(&p, b"not really gzip").unwrap();
    }
    dev
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// A minimal PATH: the tools' folder and the system's.
fn min_path() -> String {
    format!(
        "{}:/usr/bin:/bin",
        bin("lfb-dump").parent().unwrap().display()
    )
}

/// Runs `script` with `sh -c` under `env -i`, as the issue did.
fn env_i(store: &Path, extra: &[(&str, &str)], script: &str) -> lfb_tests::Output {
    let mut cmd = Command::new("env");
    cmd.arg("-i")
        .arg(format!("PATH={}", min_path()))
        .arg(format!("LFB_STORE={}", store.display()))
        .arg("HOME=/nonexistent");
    for (k, v) in extra {
        cmd.arg(format!("{k}={v}"));
    }
    run(cmd.arg("sh").arg("-c").arg(script))
}

#[test]
fn the_issue_pipeline_without_database_url_deletes_nothing() {
    let st = store();
    let dev = old_hourlies(st.path());
    let out = env_i(
        st.path(),
        &[],
        "lfb-dump --tag hourly | lfb-verify --restore-test | lfb-prune --tag hourly --keep-within 7d",
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert_eq!(count(&dev), 3, "something was deleted: {}", out.stderr);
    // The failure arrived at the end of the pipe as a record.
    let recs = out.records();
    assert!(
        recs.iter().all(|r| r["prune"]["action"] != "delete"),
        "{}",
        out.stdout
    );
    let msg = recs[0]["error"]["message"].as_str().unwrap();
    // clap's "required arguments … <DATABASE>", or "no database to dump"
    // when a config file could have named one.
    assert!(msg.to_lowercase().contains("database"), "{msg}");
    assert_eq!(recs[0]["error"]["tool"], "lfb-dump");
    assert!(out.stderr.contains("not pruning"), "{}", out.stderr);
}

#[test]
fn an_invalid_tag_upstream_deletes_nothing() {
    let st = store();
    let dev = old_hourlies(st.path());
    let db = st.path().join("app.sqlite3");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let url = format!("sqlite://{}", db.display());
    let out = env_i(
        st.path(),
        &[("DATABASE_URL", &url)],
        "lfb-dump --tag Hourly | lfb-verify | lfb-prune --tag hourly --keep-within 7d",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(count(&dev), 3, "something was deleted: {}", out.stderr);
    let recs = out.records();
    assert!(
        recs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid tag 'Hourly'"),
        "{}",
        out.stdout
    );
}

#[test]
fn usage_errors_and_missing_configuration_print_a_failure_record() {
    let st = store();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("lfb-dump", vec![], "atabase"),
        (
            "lfb-dump",
            vec!["--tag", "Hourly", "x.sqlite3"],
            "invalid tag",
        ),
        ("lfb-dump", vec!["--no-such-flag"], "--no-such-flag"),
        ("lfb-verify", vec!["--checks", "nonsense"], "nonsense"),
        ("lfb-verify", vec!["--env", "Bad Env", "--all"], "Bad Env"),
        ("lfb-prune", vec!["--keep-within", "0s"], "0s"),
        ("lfb-prune", vec![], "no retention policy"),
        ("lfb-restore", vec!["--bogus"], "--bogus"),
        ("lfb-archive", vec!["--bogus"], "--bogus"),
        ("lfb-guard", vec!["--bogus"], "--bogus"),
        ("lfb-guard", vec!["--min-size", "ten"], "ten"),
    ];
    for (tool, args, want) in cases {
        let out = run(Command::new(bin(tool))
            .args(&args)
            .env("LFB_STORE", st.path())
            .env_remove("DATABASE_URL"));
        assert_eq!(out.code, 2, "{tool} {args:?}: {}", out.stderr);
        let recs = out.records();
        assert_eq!(recs.len(), 1, "{tool} {args:?}: stdout {}", out.stdout);
        let err = &recs[0]["error"];
        assert_eq!(err["tool"], tool);
        assert_eq!(err["exit_code"], 2);
        assert!(
            err["message"].as_str().unwrap().contains(want),
            "{tool} {args:?}: {err}"
        );
        assert_eq!(recs[0]["schema"], "lfb/1");
    }
    // Help and version are no failures.
    let out = run(Command::new(bin("lfb-dump")).arg("--version"));
    out.assert_ok();
    assert!(!out.stdout.contains("\"error\""));
}

#[test]
fn prune_reading_an_empty_pipe_deletes_nothing_and_says_why() {
    let st = store();
    let dev = old_hourlies(st.path());
    let prune = || {
        let mut c = Command::new(bin("lfb-prune"));
        c.args(["--tag", "hourly", "--keep-within", "7d"])
            .env("LFB_STORE", st.path());
        c
    };
    let out = run_with_input(&mut prune(), "");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("stdin delivered no records"),
        "{}",
        out.stderr
    );
    assert_eq!(count(&dev), 3);
    assert!(out.records()[0]["error"]["message"].is_string());

    // Only failed records: nothing deleted either.
    let failed =
        r#"{"schema":"lfb/1","kind":"db","env":"dev","tag":"hourly","error":{"message":"boom"}}"#;
    let out = run_with_input(&mut prune(), failed);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(count(&dev), 3);

    // Whole-store pruning: stdin /dev/null, or --no-stdin with a pipe.
    let out = run(prune().arg("--dry-run"));
    out.assert_ok();
    let deletes = out
        .records()
        .iter()
        .filter(|r| r["prune"]["action"] == "delete")
        .count();
    assert_eq!(deletes, 2, "{}", out.stdout);
    let out = run_with_input(prune().arg("--no-stdin"), "");
    out.assert_ok();
    assert_eq!(count(&dev), 1, "{}", out.stderr);
}
