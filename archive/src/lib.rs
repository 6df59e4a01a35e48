//! lfb-archive: the daily full backup as one verifiable `.tar.gz`.
//!
//! Replaces `backup_dev_full.sh`, which copied the dump, the media folder and
//! the `.env`/compose files into a folder with a `manifest.txt`, ran `tar czf`,
//! checked it with `tar tzf` and removed the folder. Here nothing is copied:
//! the dumps arriving on stdin (as records from `lfb-dump`) and the files are
//! read once, straight into a tar stream with a manifest first
//! (`manifest.json`) and the SHA-256 of every file last
//! (`manifest-hashes.json`), compressed on all cores into `.partial`, and
//! published under the store's naming only when complete.

mod create;
mod git;
mod plan;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::journal::Event;
use lfb_core::ndjson;
use lfb_core::run::Run;
use lfb_core::{Kind, Record, Result, store};

pub use create::{Outcome, Request, create};
pub use plan::{Excludes, Sources};

/// Bundle dumps, media and configuration into one verifiable .tar.gz.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-archive",
    version,
    about = "Bundle dumps, media and configuration into one verifiable .tar.gz",
    long_about = "Bundle the dumps whose records arrive on stdin (from lfb-dump), media folders, \
configuration files and metadata into one .tar.gz in the store, and print its record \
(kind \"full\") as one line of JSON on stdout.\n\n\
Layout: manifest.json first (time, environment, host, git commit/branch/dirty state, \
--meta values, the included dumps' records with their row counts, and every member with \
its role, path, size, mode and mtime), then db/DUMP, media/FOLDER/..., config/FILE, and \
last manifest-hashes.json with the SHA-256 of every file as it was stored. Every file \
is read once: hashed as it goes into the tar stream, compressed on all cores (one \
standard gzip member; JPEG, PNG, PDF, ZIP, video and gzip data are stored, not deflated) \
and hashed again as it lands in STORE/ENV/NAME_full_TAG_TIMESTAMP.tar.gz.PID.partial, \
renamed to its final name only when complete and synced, after its sidecar (NAME.tar.gz.json, \
the record) is written.\n\n\
Symlinks are stored as links; FIFOs, sockets and devices are skipped with a warning. A \
file that changes while it is read keeps the size the manifest promised, is flagged \
\"changed_while_read\" in manifest-hashes.json and reported on stderr.\n\n\
A failed record on stdin (an \"error\" section, or verify.ok false) makes lfb-archive \
refuse: no archive, the records printed through unchanged, exit 1. Exit status: 0 the \
archive was written, 1 it failed, 2 bad arguments, input, or sources.",
    after_help = "Examples:\n  \
lfb-dump --tag daily postgresql:///ledgerflow | lfb-archive --media media --config '.env*' \
--config compose.yml --consume | lfb-verify --restore-test\n  \
lfb-archive --media /srv/app/media --exclude '*.tmp' --meta release=2.4.1 </dev/null\n  \
tar tzf STORE/dev/ledgerflow_full_daily_20261127T020000Z.tar.gz | head"
)]
pub struct Cli {
    /// Dump artifacts to include, instead of records on stdin
    ///
    /// Their sidecars supply the records; without a sidecar what the file
    /// name tells is used.
    #[arg(value_name = "DUMP")]
    pub dumps: Vec<PathBuf>,

    /// Folder to include as media/NAME/ (repeatable)
    ///
    /// Stored with its modes, mtimes, empty folders and symlinks (as links).
    /// A folder that does not exist stops the run (exit 2). Without --media,
    /// the config file's `media` of the environment ([env.ENV]).
    #[arg(short, long, value_name = "DIR")]
    pub media: Vec<PathBuf>,

    /// File, folder or glob to include as config/NAME (repeatable)
    ///
    /// A glob ('.env*') that matches nothing is a warning; a plain path that
    /// does not exist stops the run (exit 2). Quote globs so the shell leaves
    /// them to lfb-archive. Without --config, the config file's `config` of
    /// the environment ([env.ENV]).
    #[arg(long, value_name = "PATH_OR_GLOB")]
    pub config: Vec<String>,

    /// Leave out entries matching GLOB (repeatable)
    ///
    /// Matched against an entry's name, its path below the folder given, and
    /// its path in the archive; '*' also matches '/'. An excluded folder is
    /// left out with everything in it.
    #[arg(short = 'x', long, value_name = "GLOB", value_parser = parse_glob)]
    pub exclude: Vec<glob::Pattern>,

    /// Metadata to record in the manifest and the record (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_meta)]
    pub meta: Vec<(String, String)>,

    /// Project folder whose git commit, branch and dirty state are recorded
    /// [default: the current folder]
    ///
    /// Not a git checkout, or git not installed: no git section, no error.
    #[arg(long, value_name = "DIR")]
    pub git: Option<PathBuf>,

    /// Why this backup is made: daily, pre-migration, manual, …
    #[arg(short, long, default_value = "daily")]
    pub tag: String,

    /// Base name of the artifact [default: the first dump's name, else app]
    #[arg(short, long)]
    pub name: Option<String>,

    /// gzip level, 0 (store) to 9 (smallest)
    ///
    /// The default, 4, makes files no larger than GNU gzip -6 does, with
    /// under a third of its CPU time (lfb compresses with libdeflate, on all
    /// cores; bench/RESULTS.md has the numbers).
    #[arg(short = 'l', long, default_value_t = lfb_core::gzip::DEFAULT_LEVEL,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,

    /// Remove the included dumps (and sidecars) once the archive is verified
    ///
    /// The new archive is read back and verified (every member against the
    /// manifest, the embedded dumps complete) before it gets its final name;
    /// only then are the dumps removed.
    ///
    /// Only dumps that are artifacts of the store (a name lfb recognises,
    /// a regular file in one of its environment folders or migrations/,
    /// symlinks and `..` resolved) are removed: a record naming any other
    /// file is refused before anything is written (exit 2).
    #[arg(long)]
    pub consume: bool,

    /// Write the archive to PATH (outside the store) instead
    ///
    /// Its sidecar is written beside it. A PATH inside the store is refused
    /// (exit 2): no tool would count that file; use --store/--env/--tag.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    #[command(flatten, next_help_heading = "Encryption")]
    pub encrypt: lfb_core::crypt::EncryptArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }
}

fn parse_glob(s: &str) -> std::result::Result<glob::Pattern, String> {
    glob::Pattern::new(s).map_err(|e| format!("invalid glob '{s}': {e}"))
}

fn parse_meta(s: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid --meta '{s}': expected KEY=VALUE"))?;
    let ok = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        return Err(format!(
            "invalid --meta key '{k}': use letters, digits, '_', '-' and '.'"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Runs lfb-archive.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    let mut run = Run::start(&cli.store, ui, Kind::Full, &cli.tag, cli.name.as_deref())?;
    let (env, store) = (run.env.clone(), run.store.clone());
    lfb_core::crypt::set_encrypt_args(cli.encrypt.clone());
    // Settled before anything is written: a bad recipient stops the run.
    lfb_core::crypt::encryption()?;
    // An identity from the environment or config lets --consume check the
    // encrypted archive's content before the dumps go.
    lfb_core::crypt::load_keys(&Default::default())?;
    let inputs: Vec<Record> = if !cli.dumps.is_empty() {
        cli.dumps
            .iter()
            .map(|p| store::record_for_path(p))
            .collect::<Result<_>>()?
    } else {
        ndjson::stdin_records()?.unwrap_or_default()
    };

    // Never bundle a failed dump: pass everything through untouched.
    if refuse_failed(&cli, &mut run, &inputs)? {
        return Ok(1);
    }

    let req = Request {
        store: store.clone(),
        env: env.clone(),
        tag: cli.tag.clone(),
        name: cli.name.clone(),
        sources: sources(&cli, &env)?,
        meta: cli.meta.iter().cloned().collect::<BTreeMap<_, _>>(),
        git: (
            cli.git.clone().unwrap_or_else(|| PathBuf::from(".")),
            cli.git.is_some(),
        ),
        consume: cli.consume,
        output: cli.output.clone(),
        level: cli.level,
    };
    match create(&req, &inputs, ui) {
        Ok(outcome) => {
            let r = &outcome.record;
            ui.info(format!(
                "wrote {} ({})",
                r.path().unwrap_or_default().display(),
                lfb_core::units::format_size(r.bytes().unwrap_or(0))
            ));
            run.out.write(r)?;
            Ok(if outcome.problems > 0 { 1 } else { 0 })
        }
        Err(e) => {
            // The dumps were not consumed: they pass through, and the
            // failure travels down the pipeline as a record of its own.
            // With --consume, one another run consumed meanwhile is gone
            // (it is in that run's archive): its record does not pass.
            for r in &inputs {
                if cli.consume && r.path().is_some_and(|p| !p.exists()) {
                    continue;
                }
                run.out.write(r)?;
            }
            run.out.write(&run.failure(&e).tool(ui.tool()).record())?;
            if cli.output.is_none() {
                run.journal(&Event::new(ui.tool(), "archive", false, e.line()));
            }
            Err(e)
        }
    }
}

/// What to include besides the dumps: `--media` and `--config`, else the
/// config file's `media` and `config` of the environment (flags beat the
/// file, each list as a whole).
fn sources(cli: &Cli, env: &str) -> Result<Sources> {
    let file = lfb_core::config::current()?;
    let from_file = |key: &str| match file {
        Some(c) => format!("{key} of [env.{env}] in '{}'", c.path.display()),
        None => key.to_string(),
    };
    let (media, media_from) = match (cli.media.is_empty(), file) {
        (true, Some(c)) => (c.media(env), from_file("media")),
        _ => (cli.media.clone(), "--media".to_string()),
    };
    let (config, config_from) = match (cli.config.is_empty(), file) {
        (true, Some(c)) => (c.config_files(env), from_file("config")),
        _ => (cli.config.clone(), "--config".to_string()),
    };
    Ok(Sources {
        media,
        config,
        exclude: Excludes(cli.exclude.clone()),
        media_from,
        config_from,
    })
}

/// A failed record on stdin: every record passes through untouched, the
/// refusal goes to stderr and the journal, and the run fails (true).
fn refuse_failed(cli: &Cli, run: &mut Run<'_>, inputs: &[Record]) -> Result<bool> {
    let failed: Vec<String> = inputs
        .iter()
        .filter(|r| r.failed())
        .map(Record::label)
        .collect();
    if failed.is_empty() {
        return Ok(false);
    }
    for r in inputs {
        run.out.write(r)?;
    }
    let msg = format!(
        "refusing to archive: {} failed upstream ({})",
        if failed.len() == 1 {
            "a record".to_string()
        } else {
            format!("{} records", failed.len())
        },
        failed.join(", ")
    );
    run.ui.error(&msg);
    if cli.output.is_none() {
        run.journal(&Event::new(run.ui.tool(), "archive", false, msg));
    }
    Ok(true)
}
