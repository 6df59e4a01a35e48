//! `cargo run --release -p lfb-torture [-- --quick] [--seed N] [--only LIST]`
//!
//! Builds the lfb binaries of the same profile, runs the fault-injection
//! suite against them and prints a table of figures. A full run (no
//! `--quick`, no `--only`) also writes `torture/RESULTS.md`. Exit 1 when a
//! figure missed its target.

use std::process::ExitCode;
use std::time::Instant;

use lfb_torture::{Bins, Config, run_all};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut quick = false;
    let mut build = true;
    let mut seed = 1u64;
    let mut only = Vec::new();
    let mut write = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--no-build" => build = false,
            "--seed" => match it.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => return usage("--seed needs a number"),
            },
            "--only" => match it.next() {
                Some(l) => only = l.split(',').map(str::to_string).collect(),
                None => return usage("--only needs a list"),
            },
            "--write" => match it.next() {
                Some(p) => write = Some(std::path::PathBuf::from(p)),
                None => return usage("--write needs a path"),
            },
            "-h" | "--help" => {
                println!(
                    "lfb-torture [--quick] [--seed N] [--only kills,mutations,malformed,disk,concurrent] [--no-build] [--write FILE]"
                );
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument '{other}'")),
        }
    }
    let mut cfg = if quick {
        Config::quick(seed)
    } else {
        Config::full(seed)
    };
    cfg.only = only;
    let bins = Bins::beside_exe();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if build {
        let release = bins.dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = std::process::Command::new(cargo);
        c.current_dir(&root).args(["build", "--bins"]);
        for p in [
            "lfb-dump",
            "lfb-archive",
            "lfb-verify",
            "lfb-prune",
            "lfb-restore",
            "lfb-guard",
        ] {
            c.args(["-p", p]);
        }
        if release {
            c.arg("--release");
        }
        eprintln!(
            "lfb-torture: building the tools ({})",
            if release { "release" } else { "debug" }
        );
        if !c.status().is_ok_and(|s| s.success()) {
            eprintln!("lfb-torture: cargo build failed");
            return ExitCode::from(2);
        }
    }
    let missing = bins.missing();
    if !missing.is_empty() {
        eprintln!(
            "lfb-torture: not built in {}: {}",
            bins.dir.display(),
            missing.join(", ")
        );
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let report = run_all(&cfg, &bins, &mut |m| eprintln!("lfb-torture: {m}"));
    let took = started.elapsed();
    let table = report.markdown();
    println!("{table}");
    eprintln!("lfb-torture: done in {:.0}s", took.as_secs_f64());
    let full = !quick && cfg.only.is_empty();
    let write = write.or_else(|| full.then(|| root.join("torture/RESULTS.md")));
    if let Some(path) = write {
        let mut extra = Vec::new();
        if quick {
            extra.push("--quick".to_string());
        }
        if seed != 1 {
            extra.push(format!("--seed {seed}"));
        }
        let cmd = if extra.is_empty() {
            "cargo run --release -p lfb-torture".to_string()
        } else {
            format!("cargo run --release -p lfb-torture -- {}", extra.join(" "))
        };
        let machine = std::process::Command::new("uname")
            .arg("-srm")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let text = format!(
            "# lfb-torture results\n\nProduced by `{cmd}` (seed {seed}) in {:.0} s on {machine}, {cores} cores \
(shared with other work while it ran).\n\nWhat each section does is described in `torture/src/*.rs`; \
\"wanted\" is the figure issue 12 asks for.\n\n{table}\n{UNDETECTABLE}",
            took.as_secs_f64()
        );
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("lfb-torture: cannot write {}: {e}", path.display());
        } else {
            eprintln!("lfb-torture: wrote {}", path.display());
        }
    }
    if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("lfb-torture: {msg} (see --help)");
    ExitCode::from(2)
}

/// What no check can see without a sidecar, and why (the figures above
/// show which of these the random mutations hit).
const UNDETECTABLE: &str = "## What cannot be detected without a sidecar, and why

With a sidecar every mutation is caught: the size and SHA-256 in the record
cover every byte. Without one (the original scripts' files, `--output`
files whose sidecar was lost) lfb can only check what the format itself
protects:

- **Bytes appended to a custom-format archive** (`.dump`). `pg_restore`
  reads the table of contents and then each data block it lists; it never
  reads to the end of the file, and nothing in the format records the
  file's length. Garbage after the last block is invisible to it, and so to
  `complete`.
- **Changes inside uncompressed content.** The default formats are
  compressed (gzip for `.sql.gz`, `.sqlite3.gz`, `.tar.gz`; zlib inside
  custom archives), and the CRC-32/Adler-32 of the compressed stream
  catches any change to it. Uncompressed artifacts (`-c none`, custom
  archives made with `-Z0`) carry no checksum: a flipped byte inside a
  row's data reads as other, well-formed data. `complete` still catches
  truncation (pg_dump's trailer, SQLite's final COMMIT or page count);
  `--restore-test` (row counts, `PRAGMA integrity_check`) catches some of
  the rest.
- **A flipped byte in an uncompressed string of a custom archive's header or
  table of contents** (the dump's timestamp, a comment, an object's owner)
  may still parse, and then restores with that string changed.
- **A flipped bit in a gzip header's MTIME, XFL or OS field** (bytes 4 to
  9 of `.sql.gz`, `.sqlite3.gz`, `.tar.gz`): no checksum covers them (the
  CRC-32 covers the decompressed data) and they change nothing in the
  content, so the artifact decodes to exactly the same dump. Harmless, and
  invisible without the sidecar's SHA-256.
- **A SQLite file grown by whole pages** (garbage appended in multiples of
  the page size to an uncompressed `.sqlite3`) keeps a whole number of pages;
  only a header whose page count is valid reveals it.
";
