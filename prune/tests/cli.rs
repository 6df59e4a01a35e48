//! lfb-prune's command line: help, version, the man page, and what the help
//! promises about the invariants.

use assert_cmd::Command;
use clap::CommandFactory;
use std::path::Path;

fn prune() -> Command {
    Command::cargo_bin("lfb-prune").unwrap()
}

#[test]
fn help_and_version() {
    let out = prune()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for flag in [
        "--keep-within <DURATION>",
        "--keep-last <N>",
        "--keep-hourly <N>",
        "--keep-daily <N>",
        "--keep-weekly <N>",
        "--keep-monthly <N>",
        "--keep-yearly <N>",
        "--max-total-size <SIZE>",
        "--min-keep <N>",
        "--group-by <FIELDS>",
        "--dry-run",
        "--now <TIME>",
        "--rotate-logs-at <SIZE>",
        "--keep-logs <DURATION>",
        "--store <DIR>",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
    // The fallback for groups nobody verified is explained (whatever the
    // width help was wrapped at).
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("In a group where no artifact has a verify section at all"));
    assert!(help.contains("newest-unverified"));
    let out = prune()
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(out).unwrap().starts_with("lfb-prune "));
    prune().arg("-h").assert().success();
}

#[test]
fn man_page_is_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb_core::cli::check_man_page(lfb_prune::Cli::command(), ws).unwrap();
}

#[test]
fn clap_definition_is_consistent() {
    lfb_prune::Cli::command().debug_assert();
}
