//! `lfb TOOL ARGS...` runs `lfb-TOOL ARGS...`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

fn tool_path(tool: &str) -> PathBuf {
    let exe = format!("lfb-{tool}");
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
    {
        let beside = dir.join(&exe);
        if beside.is_file() {
            return beside;
        }
    }
    PathBuf::from(exe)
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let first = args.first().and_then(|a| a.to_str()).unwrap_or("");
    let names: Vec<&str> = lfb::tools().iter().map(|(n, _)| *n).collect();
    // `lfb help TOOL` is `lfb-TOOL --help`, not the one-line stub clap knows.
    if first == "help"
        && let Some(tool) = args.get(1).and_then(|a| a.to_str())
        && names.contains(&tool)
    {
        let err = std::process::Command::new(tool_path(tool))
            .arg("--help")
            .exec();
        eprintln!("lfb: error: cannot run 'lfb-{tool}': {err}");
        return ExitCode::from(2);
    }
    if names.contains(&first) {
        let err = std::process::Command::new(tool_path(first))
            .args(&args[1..])
            .exec();
        eprintln!("lfb: error: cannot run 'lfb-{first}': {err}");
        return ExitCode::from(2);
    }
    let m = lfb::umbrella().get_matches();
    match m.subcommand() {
        Some(("completions", sub)) => {
            let shell = sub.get_one::<String>("shell").expect("required");
            for (_, text) in lfb::completions(shell) {
                print!("{}", String::from_utf8_lossy(&text));
            }
            ExitCode::SUCCESS
        }
        Some(("keygen", sub)) => {
            let file = sub.get_one::<PathBuf>("file").expect("required");
            match lfb::keygen(file) {
                Ok(recipient) => {
                    eprintln!(
                        "lfb: wrote identity {} (keep it out of the synced folder)",
                        file.display()
                    );
                    println!("{recipient}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("lfb: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Some(("config", sub)) => {
            let (name, args) = sub.subcommand().expect("clap requires a config subcommand");
            let flag = args.get_one::<PathBuf>("config-file").cloned();
            let result = match name {
                "get" => {
                    let key = args.get_one::<String>("key").expect("required");
                    lfb::config_check::get(flag, key)
                }
                _ => lfb::config_check::run(flag),
            };
            match result {
                Ok(code) => ExitCode::from(code),
                Err(e) => ExitCode::from(lfb::config_check::report(&e)),
            }
        }
        Some((other, _)) => {
            eprintln!(
                "lfb: error: unknown tool '{other}' (tools: {})",
                names.join(", ")
            );
            ExitCode::from(2)
        }
        None => ExitCode::SUCCESS,
    }
}
