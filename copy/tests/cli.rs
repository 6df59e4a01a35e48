//! lfb-copy's command line: help, version and its man page. (Being an
//! integration test, this also makes `cargo test --workspace` build the
//! `lfb-copy` binary the end-to-end tests run.)

use assert_cmd::Command;
use clap::CommandFactory;

#[test]
fn help_version_and_man_page() {
    let out = Command::cargo_bin("lfb-copy")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    assert!(help.contains("--to"), "{help}");
    Command::cargo_bin("lfb-copy")
        .unwrap()
        .arg("--version")
        .assert()
        .success();
    let ws = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    lfb_core::cli::check_man_page(lfb_copy::Cli::command(), ws).unwrap();
}

#[test]
fn a_bad_destination_is_a_usage_error_with_a_failure_record() {
    let out = Command::cargo_bin("lfb-copy")
        .unwrap()
        .env_remove("LFB_STORE")
        .args(["--to", "ftp://nowhere/x", "--all"])
        .write_stdin("")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"error\""), "a failure record: {stdout}");
}
