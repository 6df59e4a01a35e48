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

#[test]
fn man_pages_have_the_usual_sections_and_cite_only_pages_that_exist() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut pages: Vec<String> = lfb::tools()
        .iter()
        .map(|(n, _)| format!("lfb-{n}"))
        .collect();
    pages.push("lfb".into());
    for page in &pages {
        let text = std::fs::read_to_string(ws.join("man").join(format!("{page}.1"))).unwrap();
        for sec in [
            ".SH SYNOPSIS",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
            ".SH \"SEE ALSO\"",
        ] {
            let sec = sec.replace(".SH \"SEE ALSO\"", ".SH SEE ALSO");
            assert!(text.contains(&sec), "{page}.1 has no {sec}");
        }
        // Every lfb page it cites exists.
        let see = text.split(".SH SEE ALSO").nth(1).unwrap();
        for cited in see.split("\\fB").skip(1) {
            let name = cited.split("\\fR").next().unwrap().replace("\\-", "-");
            assert!(
                ws.join("man").join(format!("{name}.1")).is_file(),
                "{page}.1 cites {name}(1), which does not exist"
            );
        }
    }
    // Options show their values in the synopsis.
    let dump = std::fs::read_to_string(ws.join("man/lfb-dump.1")).unwrap();
    let synopsis = dump
        .split(".SH SYNOPSIS")
        .nth(1)
        .unwrap()
        .split(".SH")
        .next()
        .unwrap();
    assert!(synopsis.contains("\\-\\-tag\\fR \\fITAG\\fR"), "{synopsis}");
    let umbrella = std::fs::read_to_string(ws.join("man/lfb.1")).unwrap();
    assert!(!umbrella.contains("lfb\\-completions(1)") && !umbrella.contains("lfb\\-help(1)"));
}

#[test]
fn lfb_help_tool_prints_the_tools_help() {
    for (name, _) in lfb::tools() {
        let umbrella = Command::new(assert_cmd::cargo::cargo_bin("lfb"))
            .args(["help", name])
            .output()
            .unwrap();
        let own = Command::new(bin_dir().join(format!("lfb-{name}")))
            .arg("--help")
            .output()
            .unwrap();
        assert!(umbrella.status.success());
        assert_eq!(umbrella.stdout, own.stdout, "lfb help {name}");
    }
}

#[test]
fn umbrella_completions_know_each_tools_flags() {
    let bash = lfb::completions("bash")
        .into_iter()
        .find(|(f, _)| f == "lfb.bash")
        .unwrap()
        .1;
    let bash = String::from_utf8(bash).unwrap();
    // The case arm that completes `lfb dump ...` offers --tag.
    let dump_arm = bash.split("lfb__subcmd__dump)").nth(1).expect("a dump arm");
    let dump_arm = dump_arm.split(";;").next().unwrap();
    assert!(dump_arm.contains("--tag"), "{dump_arm}");
    let fish = lfb::completions("fish")
        .into_iter()
        .find(|(f, _)| f == "lfb.fish")
        .unwrap()
        .1;
    let fish = String::from_utf8(fish).unwrap();
    assert!(
        fish.contains("__fish_lfb_using_subcommand dump\" -s t -l tag"),
        "fish"
    );
}
