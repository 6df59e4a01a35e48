//! lfb-prune and the config file (issue 20): `[retention.TAG]` is the
//! policy of `--tag TAG` when no policy flag is given (flags win, whole);
//! an unknown `--env` is an error naming the environments there are; a
//! `--tag` no artifact has says so; a store that does not exist is not
//! created by a run that only reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;

const NOW: &str = "2026-11-27T12:00:00Z";

fn prune(store: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("lfb-prune")
        .unwrap()
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_STORE")
        .env_remove("LFB_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-lfb-test")
        .env("TZ", "UTC")
        .arg("--store")
        .arg(store)
        .arg("--now")
        .arg(NOW)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Five hourly dumps in dev/ (no sidecars: their records are derived).
fn store() -> (tempfile::TempDir, PathBuf) {
    let st = tempfile::tempdir().unwrap();
    let dev = st.path().join("dev");
    fs::create_dir_all(&dev).unwrap();
    for h in 1..=5 {
        fs::write(
            dev.join(format!("app_db_hourly_20261127T0{h}0000Z.sql.gz")),
            b"x",
        )
        .unwrap();
    }
    (st, dev)
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

fn config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("config.toml");
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn retention_per_tag_comes_from_the_config_file_unless_flags_give_one() {
    let (st, dev) = store();
    let home = tempfile::tempdir().unwrap();
    let cfg = config(home.path(), "[retention.hourly]\nkeep_last = 2\n");
    let cfg = cfg.to_str().unwrap();
    // A flag policy replaces the file's whole: keep 4, delete 1.
    let out = prune(
        st.path(),
        &["--config-file", cfg, "--tag", "hourly", "--keep-last", "4"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(count(&dev), 4);
    // No flag: the file's keep_last 2.
    let out = prune(st.path(), &["--config-file", cfg, "--tag", "hourly"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(count(&dev), 2);
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kept: Vec<_> = records
        .iter()
        .filter(|r| r["prune"]["action"] == "keep")
        .collect();
    assert_eq!(kept.len(), 2, "{records:?}");
    assert!(
        kept.iter().all(|r| r["prune"]["reasons"][0] == "keep-last"),
        "{records:?}"
    );
    // A tag the file has no policy for, or no tag at all: no policy (exit
    // 2), and the message says where one can come from.
    for args in [vec!["--tag", "daily"], vec![]] {
        let mut a = vec!["--config-file", cfg];
        a.extend(args);
        let out = prune(st.path(), &a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        assert!(stderr(&out).contains("[retention.TAG]"), "{}", stderr(&out));
    }
    assert_eq!(count(&dev), 2);
    // A policy in the file that does not parse names the file, line, key.
    let bad = config(home.path(), "[retention.hourly]\nkeep_within = \"0d\"\n");
    let out = prune(
        st.path(),
        &["--config-file", bad.to_str().unwrap(), "--tag", "hourly"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 2, key 'retention.hourly.keep_within'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_env_is_an_error_and_an_unknown_tag_says_so() {
    let (st, dev) = store();
    let out = prune(st.path(), &["--env", "production", "--keep-last", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no environment 'production' in store") && err.contains("(it has: dev)"),
        "{err}"
    );
    assert_eq!(count(&dev), 5);
    // The environment of the default (nothing given) may have no backups.
    let out = prune(
        st.path(),
        &["--keep-last", "1", "--env", "dev", "--tag", "hourlyy"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no artifact has tag 'hourlyy' (tags in the store: hourly)"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(count(&dev), 5);
}

#[test]
fn a_store_that_does_not_exist_is_not_created() {
    let st = tempfile::tempdir().unwrap();
    let gone = st.path().join("nope");
    for args in [
        vec!["--keep-last", "1", "--dry-run"],
        vec!["--keep-last", "1"],
        vec!["--keep-last", "1", "--env", "dev"],
    ] {
        let out = prune(&gone, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(&format!("store '{}' does not exist", gone.display())),
            "{}",
            stderr(&out)
        );
        assert!(!gone.exists(), "{args:?}");
    }
}
