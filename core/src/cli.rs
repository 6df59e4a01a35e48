//! What every tool's command line shares: the store and environment options,
//! `-q`/`-v`, the messages printed for people on stderr, and `main`.
//!
//! Every tool's `main.rs` is one call to [`main`] with its `Cli` and `run`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::error::{Error, Result};
use crate::store::{self, Store};

/// `--store` and `--env`, the same in every tool.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Backup store folder [default: $LFB_STORE, else the platform default]
    ///
    /// The folder holding dev/, test/, prod/, migrations/, logs/ and
    /// quarantine/. Without this flag: $LFB_STORE, else on macOS the iCloud
    /// Drive folder of the original scripts when iCloud Drive exists, else
    /// $XDG_DATA_HOME/lfb/backups (~/.local/share/lfb/backups). lfb-list,
    /// lfb-verify, lfb-prune, lfb-guard and lfb-restore also take a bucket,
    /// s3://BUCKET/PREFIX (the layout lfb-copy writes; AWS_* configuration).
    #[arg(long, value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,

    /// Environment [default: $LFB_ENV, else $LEDGER_ENV, else dev]
    ///
    /// Names the store folder artifacts go to and come from (dev, test,
    /// prod, or any lower-case name).
    #[arg(short = 'e', long, value_name = "ENV", global = true)]
    pub env: Option<String>,

    /// Config file [default: $LFB_CONFIG, else ~/.config/lfb/config.toml, else /etc/lfb/config.toml]
    ///
    /// Optional settings (store, environments with their database, retention
    /// per tag, production databases, ...); flags and environment variables
    /// override it.
    #[arg(long, value_name = "FILE", global = true)]
    pub config_file: Option<PathBuf>,
}

impl StoreArgs {
    /// The store: `--store`, else `$LFB_STORE`, else the config file's
    /// `store`, else the platform default.
    pub fn store(&self) -> Result<Store> {
        crate::config::set_flag(self.config_file.clone());
        // The file is read (and a bad one refused) whether or not it gives
        // the store: every tool stops on a config file it cannot trust.
        let config = crate::config::current()?;
        let from_env = std::env::var_os("LFB_STORE").is_some_and(|s| !s.is_empty());
        let store = if self.store.is_none()
            && !from_env
            && let Some(root) = config.and_then(|c| c.store())
        {
            Store::at(&root)
        } else {
            Store::resolve(self.store.as_deref())?
        };
        refuse_bucket(&store)?;
        Ok(store)
    }
    /// The environment: `--env`, `$LFB_ENV`, `$LEDGER_ENV`, the config
    /// file's `default_env`, else `dev`.
    pub fn env(&self) -> Result<String> {
        crate::config::set_flag(self.config_file.clone());
        store::resolve_env(self.env.as_deref())
    }
}

/// A bucket (`s3://...`) where a tool needs a folder: without this, the
/// path would be taken as a relative folder named `s3:`. The tools that
/// take a bucket dispatch to their object-storage code before they ask for
/// a folder store.
fn refuse_bucket(store: &Store) -> Result<()> {
    let given = store.root().to_string_lossy();
    let Some(i) = given.find("/s3:/") else {
        return Ok(());
    };
    let bucket = format!("s3://{}", &given[i + "/s3:/".len()..]);
    Err(Error::usage(format!(
        "the store '{bucket}' is a bucket: {} needs a store folder (lfb-list, lfb-verify, \
         lfb-prune, lfb-guard and lfb-restore take a bucket; lfb-copy --to/--from moves \
         backups between a folder and a bucket)",
        tool_name_for_messages()
    )))
}

fn tool_name_for_messages() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "this tool".into())
}

/// `-q` and `-v`, the same in every tool.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct Verbosity {
    /// Print only errors on stderr (no progress, no summaries)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more on stderr: each step and the commands run (never secrets)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Messages for people, on stderr, prefixed with the tool's name.
#[derive(Debug, Clone)]
pub struct Ui {
    tool: String,
    quiet: bool,
    verbose: u8,
}

impl Ui {
    pub fn new(tool: &str, v: Verbosity) -> Ui {
        Ui {
            tool: tool.to_string(),
            quiet: v.quiet,
            verbose: v.verbose,
        }
    }
    pub fn tool(&self) -> &str {
        &self.tool
    }
    pub fn quiet(&self) -> bool {
        self.quiet
    }
    pub fn verbose(&self) -> u8 {
        self.verbose
    }
    /// A normal message (suppressed by `-q`).
    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{}: {msg}", self.tool);
        }
    }
    /// A detail shown with `-v`.
    pub fn debug(&self, msg: impl std::fmt::Display) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}: {msg}", self.tool);
        }
    }
    /// A warning (suppressed by `-q`).
    pub fn warn(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{}: warning: {msg}", self.tool);
        }
    }
    /// An error line; always printed.
    pub fn error(&self, msg: impl std::fmt::Display) {
        eprintln!("{}: error: {msg}", self.tool);
    }
}

/// A tool's command line: its clap definition and how it reports verbosity.
pub trait ToolCli: Parser {
    fn verbosity(&self) -> Verbosity;

    /// Called when the command line cannot be parsed (before clap prints
    /// its message and exits 2). A tool whose callers expect another
    /// convention (a monitoring plugin's UNKNOWN) handles it here and
    /// returns the exit code; `None` keeps clap's behaviour.
    fn on_usage_error(_err: &clap::Error) -> Option<u8> {
        None
    }

    /// When stdout is not a terminal, a run that fails without having
    /// printed a failed record (a usage error, missing configuration, an
    /// error before any work) prints one
    /// (`{"schema":"lfb/1","error":{"tool":…,"message":…,"exit_code":…}}`)
    /// so the rest of a pipeline knows. This says whether that also holds
    /// when the work ran and returned exit code 1 or more: lfb-guard's
    /// findings and summary already say why, and it says `false`.
    fn failure_record_after_work() -> bool {
        true
    }
}

/// Prints the failure record of a tool that is exiting non-zero, unless
/// stdout is a terminal or a failed record was printed already.
fn print_failure_record(tool: &str, message: &str, code: u8) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() || crate::ndjson::failure_printed() {
        return;
    }
    let rec = crate::record::Record::tool_failure(tool, message, code);
    let _ = crate::ndjson::RecordWriter::new().write(&rec);
}

/// clap's message on one line: `the following required arguments were not
/// provided: <DATABASE>` (without `error:`, the usage and the help hint).
fn usage_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if let Some(tip) = line.strip_prefix("tip: ") {
            parts.push(format!("(tip: {tip})"));
        } else if !line.is_empty() {
            parts.push(line.trim_start_matches("error: ").to_string());
        }
    }
    parts.join(" ")
}

/// Runs a tool: parses the command line, calls `run`, prints an error as one
/// line on stderr and returns the exit code (DESIGN.md: 0 ok, 1 failed, 2
/// called wrong or could not start). `run` returns the exit code of work that
/// ran (0 or 1).
pub fn main<C: ToolCli>(run: fn(C, &Ui) -> Result<u8>) -> ExitCode {
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let is_usage = !matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            if is_usage && let Some(code) = C::on_usage_error(&e) {
                return ExitCode::from(code);
            }
            if is_usage {
                // One line on stderr, like every other error, and the
                // failure record for the pipeline.
                let name = C::command().get_name().to_string();
                let msg = usage_message(&e);
                eprintln!("{name}: error: {msg}; see '{name} --help'");
                print_failure_record(&name, &msg, 2);
                return ExitCode::from(2);
            }
            e.exit()
        }
    };
    let name = C::command().get_name().to_string();
    let ui = Ui::new(&name, cli.verbosity());
    crate::cleanup::install();
    let result = run(cli, &ui);
    if let Some(code) = crate::cleanup::wait_if_interrupted() {
        return ExitCode::from(code);
    }
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) if !C::failure_record_after_work() => ExitCode::from(code),
        Ok(code) => {
            print_failure_record(
                &name,
                &format!("{name} failed (exit {code}); its messages are on stderr"),
                code,
            );
            ExitCode::from(code)
        }
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            ui.error(e.line());
            print_failure_record(&name, &e.line(), e.exit_code());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Parses a value with a `FromStr`-like function, for clap `value_parser`s
/// that need our error wording.
pub fn parse_size_arg(s: &str) -> std::result::Result<u64, String> {
    crate::units::parse_size(s)
}

/// Parses a duration for clap.
pub fn parse_duration_arg(s: &str) -> std::result::Result<std::time::Duration, String> {
    crate::units::parse_duration(s)
}

/// Renders the man page of a clap command (with its subcommands' pages
/// not included: lfb tools have none).
pub fn render_man(cmd: clap::Command) -> Vec<u8> {
    crate::manpage::render(cmd)
}

/// Checks a tag given on the command line.
pub fn check_tag(tag: &str) -> Result<()> {
    if crate::naming::valid_tag(tag) {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "invalid tag '{tag}': use lower-case letters, digits and '-'"
        )))
    }
}

/// Test helper for every tool: the committed man page `man/NAME.1` must be
/// what the clap definition renders. With `LFB_UPDATE_MAN=1` it is rewritten
/// instead. Returns an error message when it is out of date.
pub fn check_man_page(
    cmd: clap::Command,
    workspace: &std::path::Path,
) -> std::result::Result<(), String> {
    let name = cmd.get_name().to_string();
    let path = workspace.join("man").join(format!("{name}.1"));
    let want = render_man(cmd);
    if std::env::var_os("LFB_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(path.parent().expect("man/ has a parent"))
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, &want).map_err(|e| e.to_string())?;
        return Ok(());
    }
    match std::fs::read(&path) {
        Ok(have) if have == want => Ok(()),
        Ok(_) => Err(format!(
            "{} is out of date: run `LFB_UPDATE_MAN=1 cargo test` and commit it",
            path.display()
        )),
        Err(e) => Err(format!(
            "cannot read {}: {e}; run `LFB_UPDATE_MAN=1 cargo test`",
            path.display()
        )),
    }
}
