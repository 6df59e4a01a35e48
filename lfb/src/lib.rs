//! The `lfb` umbrella command and the documentation generated from every
//! tool's clap definition.
//!
//! `lfb dump ...` runs `lfb-dump ...` (git-style: the tool next to `lfb`, else
//! on PATH), so `lfb dump --help` is exactly `lfb-dump --help`. Man pages and
//! shell completions for every tool come from the same `clap::Command`s that
//! parse the flags, so help, man page and completion cannot drift apart.

pub mod config_check;

use std::path::Path;

use clap::{Command, CommandFactory};

/// Every tool: its subcommand name and clap definition.
pub fn tools() -> Vec<(&'static str, Command)> {
    vec![
        ("dump", lfb_dump::Cli::command()),
        ("archive", lfb_archive::Cli::command()),
        ("verify", lfb_verify::Cli::command()),
        ("prune", lfb_prune::Cli::command()),
        ("restore", lfb_restore::Cli::command()),
        ("guard", lfb_guard::Cli::command()),
        ("list", lfb_list::Cli::command()),
        ("copy", lfb_copy::Cli::command()),
    ]
}

/// The `lfb` command itself: its help lists the tools with one line each.
// Long: one clap builder chain (the umbrella's help text and one subcommand per tool).
pub fn umbrella() -> Command {
    let note = "`lfb TOOL ARGS...` runs `lfb-TOOL ARGS...`; `lfb TOOL --help` shows its options.\n\
                `lfb completions SHELL` prints completions for lfb and every tool (bash, zsh, fish).";
    Command::new("lfb")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Local-first backups: dump, archive, verify, prune, restore, guard")
        .long_about(
            "Local-first backups for web applications: small tools that dump databases, \
             bundle media and configuration, verify that backups really restore, keep them \
             under a retention policy, restore them safely and watch the store. Each tool \
             prints one JSON record per artifact on stdout, so they chain with | and jq.",
        )
        .after_help(note)
        .subcommand_required(false)
        .arg_required_else_help(true)
        .allow_external_subcommands(true)
        .subcommands(tools().into_iter().map(|(name, cmd)| {
            Command::new(name)
                .about(cmd.get_about().cloned().unwrap_or_default())
                .disable_help_flag(true)
        }))
        .subcommand(
            Command::new("config")
                .about("Show the configuration the tools will use (secrets masked)")
                .subcommand_required(true)
                .subcommand(
                    Command::new("check")
                        .about(
                            "Check the config file and print the resolved configuration, \
                             saying where each value comes from; secrets are masked",
                        )
                        .arg(
                            clap::Arg::new("config-file")
                                .long("config-file")
                                .value_name("FILE")
                                .value_parser(clap::value_parser!(std::path::PathBuf))
                                .help("Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]"),
                        ),
                )
                .subcommand(
                    Command::new("get")
                        .about(
                            "Print one value of the config file, unmasked, for scripts \
                             (e.g. notify.ping, env.prod.database); exit 1 when it is not set",
                        )
                        .arg(
                            clap::Arg::new("key")
                                .required(true)
                                .value_name("KEY")
                                .help("Dotted key: store, notify.ping, env.NAME.media, retention.TAG.keep_daily, ..."),
                        )
                        .arg(
                            clap::Arg::new("config-file")
                                .long("config-file")
                                .value_name("FILE")
                                .value_parser(clap::value_parser!(std::path::PathBuf))
                                .help("Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]"),
                        ),
                ),
        )
        .subcommand(
            Command::new("keygen")
                .about("Create an age identity (0600) for encrypted backups; print its recipient")
                .long_about(
                    "Create a new age X25519 identity in FILE (mode 0600; an existing file is \
                     never overwritten) and print its recipient (age1…) on stdout, for \
                     --encrypt-to or the config file's [encryption] recipients. The file is \
                     the format of age-keygen: stock `age -d -i FILE` reads it. Keep it out of \
                     the synced backup folder, and keep a copy offline: without it, encrypted \
                     backups cannot be read.",
                )
                .arg(
                    clap::Arg::new("file")
                        .required(true)
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(std::path::PathBuf)),
                ),
        )
        .subcommand(
            Command::new("completions")
                .about("Print shell completions for lfb and every tool")
                .arg(
                    clap::Arg::new("shell")
                        .required(true)
                        .value_parser(["bash", "zsh", "fish"]),
                ),
        )
}

/// `lfb` with every tool's whole definition as its subcommand, so that
/// completion of `lfb dump --ta<TAB>` knows the tool's own flags. (Parsing
/// does not use it: `lfb TOOL` hands its arguments to `lfb-TOOL`.)
pub fn umbrella_for_completion() -> Command {
    let mut cmd = umbrella();
    for (name, tool) in tools() {
        cmd = cmd.mut_subcommand(name, |_| tool.name(name));
    }
    cmd
}

/// Shell completion scripts for every tool and `lfb`: (file name, contents).
pub fn completions(shell: &str) -> Vec<(String, Vec<u8>)> {
    use clap_complete::Shell;
    let sh = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    let mut cmds: Vec<Command> = tools().into_iter().map(|(_, c)| c).collect();
    cmds.push(umbrella_for_completion());
    cmds.into_iter()
        .map(|mut cmd| {
            let name = cmd.get_name().to_string();
            let mut out = Vec::new();
            clap_complete::generate(sh, &mut cmd, name.clone(), &mut out);
            let file = match shell {
                "bash" => format!("{name}.bash"),
                "zsh" => format!("_{name}"),
                _ => format!("{name}.fish"),
            };
            (file, out)
        })
        .collect()
}

/// Checks (or with `LFB_UPDATE_MAN=1` rewrites) `man/` and `completions/`.
pub fn check_generated(workspace: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut cmds: Vec<Command> = tools().into_iter().map(|(_, c)| c).collect();
    cmds.push(umbrella());
    for cmd in cmds {
        if let Err(e) = lfb_core::cli::check_man_page(cmd, workspace) {
            problems.push(e);
        }
    }
    let update = std::env::var_os("LFB_UPDATE_MAN").is_some();
    for shell in ["bash", "zsh", "fish"] {
        for (file, want) in completions(shell) {
            let path = workspace.join("completions").join(shell).join(&file);
            if update {
                std::fs::create_dir_all(path.parent().expect("has a parent"))
                    .map_err(|e| e.to_string())?;
                std::fs::write(&path, &want).map_err(|e| e.to_string())?;
            } else if std::fs::read(&path).ok().as_deref() != Some(&want[..]) {
                problems.push(format!("{} is out of date", path.display()));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; run `LFB_UPDATE_MAN=1 cargo test -p lfb` and commit",
            problems.join("; ")
        ))
    }
}

/// `lfb keygen FILE`: writes a new identity, returns its recipient.
pub fn keygen(file: &Path) -> Result<String, String> {
    use lfb_core::crypt;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (text, recipient) = crypt::generate();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| {
            format!(
                "cannot create '{}': {}",
                file.display(),
                lfb_core::error::describe_io(&e)
            )
        })?;
    use lfb_core::crypt::ExposeSecret as _;
    f.write_all(text.expose_secret().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write '{}': {e}", file.display()))?;
    Ok(recipient)
}
