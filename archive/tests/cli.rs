//! lfb-archive's command line: help, version, man page, and the ways it
//! refuses to start (exit 2) or to archive (exit 1) without leaving anything
//! behind.

use assert_cmd::Command;
use clap::CommandFactory;
use lfb_core::{Kind, Record};
use std::path::Path;

fn archive() -> Command {
    let mut c = Command::cargo_bin("lfb-archive").unwrap();
    c.env_remove("LFB_STORE")
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV");
    c
}

/// Every file under `dir`, recursively (the store must hold nothing new).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn help_and_version() {
    let out = archive()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for flag in [
        "--media <DIR>",
        "--config <PATH_OR_GLOB>",
        "--exclude <GLOB>",
        "--meta <KEY=VALUE>",
        "--git <DIR>",
        "--consume",
        "--output <PATH>",
        "manifest.json",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    let out = archive()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("lfb-archive "));
}

#[test]
fn man_page_is_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb_core::cli::check_man_page(lfb_archive::Cli::command(), ws).unwrap();
}

#[test]
fn bad_arguments_exit_2_with_one_line_and_no_archive() {
    let store = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    let m = media.path().to_str().unwrap();
    // Two different folders that would both be media/m.
    let (m1, m2) = (media.path().join("a/m"), media.path().join("b/m"));
    std::fs::create_dir_all(&m1).unwrap();
    std::fs::create_dir_all(&m2).unwrap();
    let (m1, m2) = (m1.to_str().unwrap(), m2.to_str().unwrap());
    for args in [
        vec!["--tag", "Bad Tag", "--media", m],
        vec!["--level", "12", "--media", m],
        vec!["--meta", "novalue", "--media", m],
        vec!["--meta", "a b=c", "--media", m],
        vec!["--exclude", "[", "--media", m],
        vec!["--name", "../x", "--media", m],
        vec!["--env", "logs", "--media", m],
        vec!["--config", "/nonexistent/.env", "--media", m],
        vec!["--media", m1, "--media", m2],
    ] {
        let out = archive()
            .arg("--store")
            .arg(store.path())
            .args(&args)
            .write_stdin("")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}");
        assert!(
            files(store.path()).iter().all(|f| !f.contains(".tar.gz")),
            "{args:?}"
        );
    }
}

#[test]
fn a_missing_media_folder_exits_2_naming_it() {
    let store = tempfile::tempdir().unwrap();
    let out = archive()
        .arg("--store")
        .arg(store.path())
        .args(["--media", "/nonexistent/media-folder"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/media-folder"), "{err}");
    // The failure still travels down the pipeline as a record.
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["kind"], "full");
    assert_eq!(rec["error"]["tool"], "lfb-archive", "{rec}");
    assert!(
        rec["error"]["message"]
            .as_str()
            .unwrap()
            .contains("media-folder")
    );
    assert!(files(store.path()).iter().all(|f| !f.contains(".tar.gz")));
}

#[test]
fn a_failed_record_on_stdin_makes_no_archive_and_passes_records_through() {
    let store = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    std::fs::write(media.path().join("a.txt"), "a").unwrap();
    let dump = store
        .path()
        .join("dev/app_db_daily_20260101T000000Z.sql.gz");
    std::fs::create_dir_all(dump.parent().unwrap()).unwrap();
    std::fs::write(&dump, b"not read").unwrap();
    let good = Record::new(
        "app_db_daily_20260101T000000Z",
        Kind::Db,
        "dev",
        "daily",
        &dump,
        chrono::Utc::now(),
        8,
        "00",
        "sql+gzip",
    );
    let bad = Record::failure(Kind::Db, "dev", "daily", "pg_dump: connection refused");
    let input = format!("{}\n{}\n", good.to_line(), bad.to_line());
    let out = archive()
        .arg("--store")
        .arg(store.path())
        .args(["--media", media.path().to_str().unwrap()])
        .write_stdin(input.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to archive"), "{err}");
    let left = files(store.path());
    assert!(left.iter().all(|f| !f.contains(".tar.gz")), "{left:?}");
    assert!(dump.exists());
}
