//! lfb-guard's command line: help, version and the committed man page.

use assert_cmd::Command;
use clap::CommandFactory;
use std::path::Path;

fn guard() -> Command {
    Command::cargo_bin("lfb-guard").unwrap()
}

#[test]
fn help_and_version() {
    let out = guard()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for flag in [
        "--max-age <TAG=DURATION>",
        "--expect <TAG>",
        "--nagios",
        "--prometheus <FILE>",
        "--on-failure <CMD>",
        "--deep",
        "--sample <N>",
        "--now <TIME>",
        "--store <DIR>",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    // Every check is explained.
    for check in lfb_guard::checks::CHECKS {
        assert!(
            help.contains(&format!("\n  {check} ")),
            "{check} missing from --help"
        );
    }
    let out = guard()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("lfb-guard "));
}

#[test]
fn man_page_is_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb_core::cli::check_man_page(lfb_guard::Cli::command(), ws).unwrap();
}

#[test]
fn a_bad_command_line_is_unknown_for_nagios_and_2_otherwise() {
    let out = guard()
        .args(["--nagios", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("LFB UNKNOWN - "), "{line}");
    let out = guard().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
