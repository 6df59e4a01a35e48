//! lfb-dump's command line: help, version, man page, and the errors that
//! need no database.

use assert_cmd::Command;
use clap::CommandFactory;
use std::path::Path;

fn dump() -> Command {
    Command::cargo_bin("lfb-dump").unwrap()
}

#[test]
fn help_and_version() {
    let out = dump()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    assert!(help.contains("--exec <PREFIX>"));
    assert!(help.contains("DATABASE_URL"));
    let out = dump()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("lfb-dump "));
}

#[test]
fn man_page_is_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb_core::cli::check_man_page(lfb_dump::Cli::command(), ws).unwrap();
}

#[test]
fn database_url_value_is_never_shown_in_help() {
    let out = dump()
        .env("DATABASE_URL", "postgresql://app:hunter2@h/db")
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let store = tempfile::tempdir().unwrap();
    for args in [
        vec!["--tag", "Bad Tag", "x.db"],
        vec!["--level", "12", "x.db"],
        vec!["--format", "custom", "x.db"],
        vec!["--env", "../etc", "x.db"],
        vec!["redis://localhost/0"],
        vec!["--bogus", "x.db"],
        vec!["--tga", "hourly", "x.db"],
    ] {
        let out = dump()
            .env_remove("DATABASE_URL")
            .arg("--store")
            .arg(store.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}");
        // One line, clap's errors included (they were several: error, tip,
        // usage, help hint).
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("lfb-dump: error: "), "{args:?}: {err}");
    }
}

#[test]
fn missing_sqlite_file_is_named_and_leaves_nothing() {
    let store = tempfile::tempdir().unwrap();
    let out = dump()
        .arg("--store")
        .arg(store.path())
        .arg("/nonexistent/app.sqlite3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/app.sqlite3"), "{err}");
    // The failure still travels as a record.
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rec["error"]["message"]
            .as_str()
            .unwrap()
            .contains("app.sqlite3")
    );
    let dev = store.path().join("dev");
    let left: Vec<_> = std::fs::read_dir(&dev)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn output_to_a_bare_file_name_in_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = dump()
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", home.path())
        .args(["--demo", "-o", "bare.sql.gz"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("bare.sql.gz").exists());
    assert!(dir.path().join("bare.sql.gz.json").exists());
}
