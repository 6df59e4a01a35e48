//! lfb-verify's command line: help, version and man page. (Every tool package
//! has such a test, which also makes `cargo test --workspace` build the
//! binary the end-to-end tests in tests/ run.)

use clap::CommandFactory;
use std::path::Path;
use std::process::Command;

fn tool() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("lfb-verify"))
}

#[test]
fn help_and_version() {
    let out = tool().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--store <DIR>"));
    let out = tool().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("lfb-verify "));
}

#[test]
fn bad_flags_exit_2() {
    let out = tool().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_is_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb_core::cli::check_man_page(lfb_verify::Cli::command(), ws).unwrap();
}

#[test]
fn check_lists_parse_and_unknown_checks_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x_db_manual_20260101T000000Z.sql");
    std::fs::write(&f, "BEGIN TRANSACTION;\nCOMMIT;\n").unwrap();
    let out = tool()
        .args([
            "--checks",
            "exists,size",
            "--min-size",
            "1",
            "--skip",
            "size",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rec["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exists"]);
    let out = tool()
        .args(["--checks", "exists,nope"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown check 'nope'"));
}
