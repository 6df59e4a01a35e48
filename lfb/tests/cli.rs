//! The umbrella command: `lfb TOOL` is `lfb-TOOL`, its help lists every tool,
//! and the man pages and completions in the tree are current.

use std::path::Path;
use std::process::Command;

fn bin_dir() -> std::path::PathBuf {
    let lfb = assert_cmd::cargo::cargo_bin("lfb");
    lfb.parent().unwrap().to_path_buf()
}

#[test]
fn help_lists_every_tool_with_one_line() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("lfb"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (name, cmd) in lfb::tools() {
        let about = cmd.get_about().unwrap().to_string();
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_default();
        assert!(line.ends_with(&about), "{name} missing from:\n{help}");
    }
}

#[test]
fn lfb_tool_help_equals_the_tools_own_help() {
    for (name, _) in lfb::tools() {
        let tool = bin_dir().join(format!("lfb-{name}"));
        if !tool.exists() {
            eprintln!("SKIPPED lfb {name}: lfb-{name} not built (cargo build --workspace)");
            continue;
        }
        let via = Command::new(assert_cmd::cargo::cargo_bin("lfb"))
            .args([name, "--help"])
            .output()
            .unwrap();
        let direct = Command::new(&tool).arg("--help").output().unwrap();
        assert_eq!(via.stdout, direct.stdout, "{name}");
        assert!(via.status.success());
    }
}

#[test]
fn unknown_tools_exit_2() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("lfb"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_and_completions_are_current() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    lfb::check_generated(ws).unwrap();
}

#[test]
fn man_pages_render() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    if Command::new("man").arg("--version").output().is_err() {
        eprintln!("SKIPPED man_pages_render: man not installed");
        return;
    }
    for (name, _) in lfb::tools() {
        let page = ws.join("man").join(format!("lfb-{name}.1"));
        let out = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", page.display());
        assert!(String::from_utf8_lossy(&out.stdout).contains("SYNOPSIS"));
    }
}
