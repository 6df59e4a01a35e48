//! lfb-bench: measures the lfb tools against the shell pipelines they
//! replace, on data sets it generates itself, and writes the report to
//! `bench/RESULTS.md`.
//!
//! One command does everything: `cargo run --release -p lfb-bench -- [--scale
//! 0.1] [--runs 5]` builds the release binaries (`cargo build --release
//! --workspace --bins`), generates or reuses the data under `bench/data/`,
//! starts a throwaway PostgreSQL server, runs every comparison in
//! [`comparisons::ALL`] (lfb and baselines alternating, every run checked),
//! probes what bounds the times, and prints the Markdown report on stdout.
//! Progress goes to stderr. `--quick` is a smoke test of it all.

mod bounds;
mod checks;
mod comparisons;
mod data;
mod measure;
mod report;
mod runner;
mod rusage;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Parser;

use crate::comparisons::{ALL, Comparison, Data};
use crate::runner::{Ctx, Outcome, Status};

/// Benchmark the lfb tools against the pipelines they replace.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-bench",
    about = "Benchmark the lfb tools against the shell pipelines they replace",
    long_about = "Benchmark the lfb tools against the shell pipelines they replace, on data \
sets generated here (cached under bench/data/), and write a Markdown report of medians \
and ratios (wall time, CPU, output size, peak RSS) with the targets marked met or missed.\n\n\
Builds the release binaries first (cargo build --release --workspace --bins). Tools that \
are not built yet are reported as \"n/a (not built)\". Every run's output is checked \
(decompressed, checksummed, row counts compared), so a fast but broken tool cannot look good.",
    after_help = "Examples:\n  \
cargo run --release -p lfb-bench                      # the full benchmark (scale 1, 5 runs)\n  \
cargo run --release -p lfb-bench -- --quick           # smoke test, a minute or two\n  \
cargo run --release -p lfb-bench -- --scale 0.1 --runs 3 --only dump-pg,verify"
)]
struct Cli {
    /// Data set size: 1 is a ~250 MB PostgreSQL dump, a ~400 MB media tree,
    /// 100,000 artifacts for lfb-prune [default: 1; 0.01 with --quick]
    #[arg(long, value_name = "FACTOR")]
    scale: Option<f64>,

    /// Timed runs of every command [default: 5; 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    runs: Option<u32>,

    /// Smoke test: scale 0.01, 1 run, no warm-up; report to bench/work/RESULTS-quick.md
    #[arg(long)]
    quick: bool,

    /// Only these comparisons (dump-pg, dump-mariadb, dump-sqlite, archive, verify, restore-test, restore, restore-mariadb, prune, guard, list, copy)
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    only: Vec<String>,

    /// Run every comparison at a quarter of the scale too, and print the
    /// growth table (wall time ≤ 4.4x and peak RSS ≤ 64 MiB for 4x the data)
    #[arg(long)]
    growth: bool,

    /// Do not run `cargo build --release --workspace --bins` first
    #[arg(long)]
    no_build: bool,

    /// No untimed warm-up run before the timed ones
    #[arg(long)]
    no_warmup: bool,

    /// Skip the probes (single pipeline steps measured alone)
    #[arg(long)]
    no_probes: bool,

    /// Write the report here [default: bench/RESULTS.md; with --quick bench/work/RESULTS-quick.md]
    #[arg(long, value_name = "PATH")]
    results: Option<PathBuf>,
}

/// A progress line on stderr.
pub fn log(msg: &str) {
    eprintln!("lfb-bench: {msg}");
}

fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = if o.stdout.is_empty() {
        o.stderr
    } else {
        o.stdout
    };
    let line = String::from_utf8_lossy(&text)
        .lines()
        .next()?
        .trim()
        .to_string();
    (!line.is_empty()).then_some(line)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!(
        "nproc {cores}, {model}, {mem_gib:.0} GiB RAM, Linux {}",
        read("/proc/sys/kernel/osrelease").trim()
    )
}

fn load1() -> f64 {
    read("/proc/loadavg")
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0.0)
}

fn versions(root: &Path, ctx: &Ctx) -> Vec<(String, String)> {
    let mut v = Vec::new();
    let commit = first_line(
        "git",
        &[
            "-C",
            &root.to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
    .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args([
            "-C",
            &root.to_string_lossy(),
            "status",
            "--porcelain",
            "--untracked-files=no",
        ])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let dump = ctx.bin.join("lfb-dump");
    let lfb = first_line(&dump.to_string_lossy(), &["--version"]).unwrap_or_else(|| "lfb".into());
    v.push((
        "lfb".into(),
        format!(
            "{lfb} (git {commit}{})",
            if dirty { ", uncommitted changes" } else { "" }
        ),
    ));
    if let Some(r) = first_line("rustc", &["-V"]) {
        v.push(("rustc".into(), r));
    }
    let pg_dump = ctx
        .pg_started()
        .map(|pg| {
            pg.server
                .bin_dir()
                .join("pg_dump")
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "pg_dump".into());
    for (name, prog, args) in [
        ("pg_dump", pg_dump.as_str(), &["--version"][..]),
        ("gzip", "gzip", &["--version"][..]),
        ("tar", "tar", &["--version"][..]),
        ("pigz", "pigz", &["--version"][..]),
        ("sqlite3", "sqlite3", &["--version"][..]),
    ] {
        let found = first_line(prog, args).unwrap_or_else(|| "not installed".into());
        let found = if name == "sqlite3" {
            found
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            found
        };
        v.push((name.into(), found));
    }
    v
}

fn build(root: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    log("building: cargo build --release --workspace --bins");
    let status = Command::new(cargo)
        .args(["build", "--release", "--workspace", "--bins"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release --workspace --bins failed".into());
    }
    Ok(())
}

/// `target/release` of the target folder this binary was built into, or
/// `$LFB_BENCH_BIN_DIR` (CI's smoke test runs `--quick` on the debug
/// binaries its tests built: it proves the harness works on a fresh machine;
/// its ratios mean nothing).
fn release_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LFB_BENCH_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    match profile_dir.parent() {
        Some(target) => target.join("release"),
        None => profile_dir,
    }
}

fn selected(only: &[String]) -> Result<Vec<&'static Comparison>, String> {
    if only.is_empty() {
        return Ok(ALL.iter().collect());
    }
    only.iter()
        .map(|id| {
            comparisons::by_id(id).ok_or_else(|| {
                let ids: Vec<&str> = ALL.iter().map(|c| c.id).collect();
                format!("unknown comparison '{id}' (known: {})", ids.join(", "))
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            log(&format!("error: {e}"));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let scale = cli.scale.unwrap_or(if cli.quick { 0.01 } else { 1.0 });
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(format!("--scale must be a positive number, not {scale}"));
    }
    let runs = cli.runs.unwrap_or(if cli.quick { 1 } else { 5 }) as usize;
    let warmup = !(cli.quick || cli.no_warmup);
    let comparisons = selected(&cli.only)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace folder")?
        .to_path_buf();
    if !cli.no_build {
        build(&root)?;
    }
    let bin = release_dir();
    let mut ctx = Ctx::new(root.clone(), bin, runs, warmup);
    std::fs::create_dir_all(&ctx.work).map_err(|e| format!("{}: {e}", ctx.work.display()))?;
    let started = chrono::Utc::now();
    let mut loads = vec![load1()];
    let mut notes = Vec::new();
    if comparisons.iter().any(|c| c.id == "archive") && first_line("pigz", &["--version"]).is_none()
    {
        log("pigz is not installed: its baseline is skipped (apt-get install pigz)");
        notes.push(
            "pigz was not installed: its baseline was skipped (`apt-get install pigz`).".into(),
        );
    }

    let mut outcomes: Vec<Outcome> = Vec::new();
    for c in &comparisons {
        let scales: Vec<f64> = if c.quarter_too || cli.growth {
            vec![scale / 4.0, scale]
        } else {
            vec![scale]
        };
        for s in scales {
            outcomes.push(runner::run_comparison(&mut ctx, c, s));
            loads.push(load1());
        }
    }

    let mut probes = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !cli.no_probes {
        if cfg!(debug_assertions) {
            log("not a release build of lfb-bench: in-process probes skipped (use --release)");
        } else {
            probes = run_probes(&mut ctx, &outcomes, scale, cores);
        }
    }
    loads.push(load1());
    let bounds = bounds::explain(&outcomes, &probes, cores);

    let max_load = loads.iter().copied().fold(0.0, f64::max);
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        args.push(String::new());
    }
    let header = report::Header {
        date: started.format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: machine(),
        load: format!(
            "{:.1} at the start, {:.1} at the end, {:.1} at most between comparisons",
            loads[0],
            loads[loads.len() - 1],
            max_load
        ),
        scale,
        runs,
        warmup,
        command: format!("cargo run --release -p lfb-bench -- {}", args.join(" "))
            .trim_end()
            .to_string(),
        versions: versions(&root, &ctx),
        notes,
    };
    let text = report::render(&header, &outcomes, &probes, &bounds);
    println!("{text}");
    let results = cli.results.unwrap_or_else(|| {
        if cli.quick {
            ctx.work.join("RESULTS-quick.md")
        } else {
            root.join("bench/RESULTS.md")
        }
    });
    let old = std::fs::read_to_string(&results).ok();
    std::fs::write(&results, report::merge_kept(&text, old.as_deref()))
        .map_err(|e| format!("{}: {e}", results.display()))?;
    log(&format!("report written to {}", results.display()));
    let _ = std::fs::remove_dir_all(ctx.work.join("artifacts"));

    let failed: Vec<String> = outcomes
        .iter()
        .flat_map(|o| {
            o.variants
                .iter()
                .zip(o.comparison.variants)
                .filter_map(move |(r, v)| match &r.status {
                    Status::Failed(why) => {
                        Some(format!("{} / {}: {why}", o.comparison.id, v.shown))
                    }
                    _ => None,
                })
        })
        .collect();
    for f in &failed {
        log(&format!("FAILED: {f}"));
    }
    drop(ctx);
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Probes of the dump and verify pipelines at full scale, when those
/// comparisons ran.
fn run_probes(ctx: &mut Ctx, outcomes: &[Outcome], scale: f64, cores: usize) -> Vec<bounds::Probe> {
    let ran = |id: &str| {
        outcomes.iter().any(|o| {
            o.comparison.id == id && o.scale == scale && o.variants[0].status == Status::Ok
        })
    };
    let mut probes = Vec::new();
    let dir = ctx.work.join("probes");
    if ran("dump-pg") {
        log("probes: dump pipeline steps");
        match ctx
            .prepare(Data::PgLedger, scale)
            .and_then(|p| bounds::dump(&p.vars, &dir, cores))
        {
            Ok(p) => probes.extend(p),
            Err(e) => log(&format!("dump probes failed: {e}")),
        }
    }
    if ran("verify") {
        log("probes: verify pipeline steps");
        let art = ctx.prepare(Data::PgArtifact, scale).and_then(|p| {
            p.vars
                .iter()
                .find(|(k, _)| k == "ART")
                .map(|(_, v)| PathBuf::from(v))
                .ok_or_else(|| "no artifact".to_string())
        });
        match art.and_then(|a| bounds::verify(&a, &dir)) {
            Ok(p) => probes.extend(p),
            Err(e) => log(&format!("verify probes failed: {e}")),
        }
    }
    if ran("archive") {
        log("probes: size cost of gzip members on the media tree");
        let media = ctx.prepare(Data::Media, scale).and_then(|p| {
            p.vars
                .iter()
                .find(|(k, _)| k == "MEDIA")
                .map(|(_, v)| PathBuf::from(v))
                .ok_or_else(|| "no media tree".to_string())
        });
        match media.and_then(|m| bounds::archive(&m, cores)) {
            Ok(p) => probes.extend(p),
            Err(e) => log(&format!("archive probes failed: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    probes
}
