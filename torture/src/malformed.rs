//! Malformed NDJSON on stdin and random argument vectors, for every tool.
//!
//! Flags are taken from each tool's own `--help`, values from a vocabulary
//! of the plausible and the hostile (paths into a canary folder, `..`
//! escapes, huge numbers, bad sizes and times). Records on stdin point at
//! canary files, escape the store, carry newer schemas and wrong types.
//! Counted: panics (exit 101 or "panicked"), hangs (20 s), exit codes other
//! than 0/1/2, and any change to the canary folder (names, sizes, mtimes).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::fixtures::{Fixtures, install};
use crate::{Bins, Config, Report, Rng, TOOLS, listing, new_store, run};

/// Builds the canary folder: files that look like artifacts, sidecars and
/// plain files, outside the store.
fn make_canary(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("dev")).expect("canary");
    for f in [
        "app_db_hourly_20261127T020000Z.sql.gz",
        "app_db_hourly_20261127T020000Z.sql.gz.json",
        "app_db_hourly_20261127T030000Z.sql.gz.partial",
        "pre_migration_20261127_020000.dump",
        "site_full_daily_20261127T020000Z.tar.gz",
        "precious.txt",
        "dev/app_db_hourly_20261127T020000Z.sql.gz",
    ] {
        fs::write(dir.join(f), format!("canary {f}\n")).expect("canary file");
    }
}

/// Long flags a tool's `--help` lists.
fn flags_of(bins: &Bins, tool: &str) -> Vec<String> {
    let r = run(bins.cmd(tool).arg("--help"), None, Duration::from_secs(10));
    let mut out: Vec<String> = Vec::new();
    for word in r
        .stdout
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
    {
        let w = word.split('=').next().unwrap_or("");
        if w.starts_with("--")
            && w.len() > 3
            && w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
            && !out.iter().any(|o| o == w)
        {
            out.push(w.to_string());
        }
    }
    out
}

pub fn section(
    cfg: &Config,
    bins: &Bins,
    fx: &Fixtures,
    report: &mut Report,
    log: &mut dyn FnMut(&str),
) {
    let mut rng = Rng(cfg.seed ^ 0xBAD);
    let canary = fx.work.join("canary");
    let scratch = fx.work.join("malformed-scratch");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(scratch.join("home")).expect("scratch");
    fs::create_dir_all(scratch.join("media")).expect("scratch");
    fs::write(scratch.join("media/a.txt"), "a").expect("media");
    let store = new_store(&fx.work, "store-malformed");
    let mut store_records = Vec::new();
    for a in fx.artifacts.iter().take(3) {
        let (_, rec) = install(a, &store, "dev", true);
        store_records.push(rec);
    }
    // A symlink in the store pointing at the canary.
    make_canary(&canary);
    let _ = std::os::unix::fs::symlink(
        canary.join("app_db_hourly_20261127T020000Z.sql.gz"),
        store.join("dev/evil_db_hourly_20261127T020000Z.sql.gz"),
    );
    let mut canary_before = listing(&canary);

    let (mut panics, mut hangs, mut bad_exit, mut touched, mut runs) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut per_tool = Vec::new();
    for tool in TOOLS {
        let flags = flags_of(bins, tool);
        let mut n = 0;
        for _ in 0..cfg.malformed_per_tool {
            let argv = random_argv(&mut rng, &flags, &store, &canary, &scratch);
            let input = random_stdin(&mut rng, &store, &canary, &store_records);
            let mut cmd = bins.cmd(tool);
            cmd.current_dir(&scratch)
                .env("HOME", scratch.join("home"))
                .env_remove("XDG_DATA_HOME")
                .env("PGHOST", "/nonexistent-lfb-torture")
                .env("PGCONNECT_TIMEOUT", "2")
                .env("TMPDIR", &scratch)
                .args(&argv);
            if rng.chance(20) {
                cmd.env("LFB_STORE", &store);
            }
            let r = run(&mut cmd, Some(&input), Duration::from_secs(20));
            runs += 1;
            n += 1;
            let shown = || {
                format!(
                    "{tool} {}",
                    argv.iter()
                        .map(|a| shorten(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            if r.panicked() {
                panics += 1;
                report.note(
                    "malformed",
                    format!("panic: {}: {}", shown(), shorten(&r.stderr)),
                );
            }
            if r.timed_out {
                hangs += 1;
                report.note("malformed", format!("hang: {}", shown()));
            } else {
                let nagios = argv.iter().any(|a| a == "--nagios");
                let ok = match r.code {
                    Some(0..=2) => true,
                    Some(3) => nagios,
                    _ => false,
                };
                if !ok && !r.panicked() {
                    bad_exit += 1;
                    report.note(
                        "malformed",
                        format!(
                            "exit {:?}: {}: {}",
                            r.code.or(r.signal.map(|s| 128 + s)),
                            shown(),
                            shorten(&r.stderr)
                        ),
                    );
                }
            }
            let now = listing(&canary);
            if now != canary_before {
                // A file the command line names as the tool's own output
                // (`--prometheus FILE`, `-o FILE`) is written as asked, like
                // `> FILE` in a shell: not a confinement breach.
                let asked = argv.windows(2).any(|w| {
                    matches!(w[0].as_str(), "--prometheus" | "--output" | "-o")
                        && Path::new(&w[1]).starts_with(&canary)
                });
                if asked {
                    report.note(
                        "malformed",
                        format!("output written where asked: {}", shown()),
                    );
                } else {
                    touched += 1;
                    report.note("malformed", format!("canary touched by {}", shown()));
                }
                make_canary(&canary);
                // The new canary is the baseline from now on.
                canary_before = listing(&canary);
            }
            // Artifacts a run consumed or pruned come back, so later runs
            // still have work.
            if rng.chance(10) {
                for a in fx.artifacts.iter().take(3) {
                    let p = store.join("dev").join(a.path.file_name().expect("name"));
                    if !p.exists() {
                        install(a, &store, "dev", true);
                    }
                }
            }
        }
        per_tool.push(format!("{tool} {n}"));
        log(&format!("  {tool}: {n} runs"));
    }
    let sec = "malformed";
    report.info(
        sec,
        "runs (argv + stdin)",
        format!("{runs} ({})", per_tool.join(", ")),
    );
    report.zero(sec, "panics", panics);
    report.zero(sec, "hangs (20 s)", hangs);
    report.zero(sec, "exit codes other than 0/1/2", bad_exit);
    report.zero(
        sec,
        "runs that touched files outside the store (canary)",
        touched,
    );
}

fn shorten(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.len() > 160 {
        let mut end = 160;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

fn random_argv(
    rng: &mut Rng,
    flags: &[String],
    store: &Path,
    canary: &Path,
    scratch: &Path,
) -> Vec<String> {
    let read_paths: Vec<String> = vec![
        canary
            .join("app_db_hourly_20261127T020000Z.sql.gz")
            .display()
            .to_string(),
        canary.join("precious.txt").display().to_string(),
        canary
            .join("pre_migration_20261127_020000.dump")
            .display()
            .to_string(),
        store
            .join("dev/../../canary/app_db_hourly_20261127T020000Z.sql.gz")
            .display()
            .to_string(),
        store
            .join("dev/evil_db_hourly_20261127T020000Z.sql.gz")
            .display()
            .to_string(),
        canary.display().to_string(),
        "/".into(),
        "/dev/null".into(),
        "nonexistent.sql.gz".into(),
        "app_db_hourly_20261127T020000Z.sql.gz".into(),
    ];
    let write_paths: Vec<String> = vec![
        scratch
            .join("out/x_db_hourly_20261127T020000Z.sql.gz")
            .display()
            .to_string(),
        scratch.join("files").display().to_string(),
        scratch.join("target.db").display().to_string(),
        scratch.join("new.tar.gz").display().to_string(),
    ];
    let values: Vec<String> = [
        "dev",
        "prod",
        "../x",
        "",
        "logs",
        "quarantine",
        "Ü",
        "hourly",
        "pre-migration",
        "a,b",
        "sql",
        "custom",
        "native",
        "gzip",
        "none",
        "0",
        "1",
        "9",
        "10",
        "-1",
        "99999999999999999999",
        "10KiB",
        "1EB",
        "abc",
        "7d",
        "0s",
        "-1d",
        "1w2d",
        "2026-11-27T00:00:00Z",
        "yesterday",
        "checksum,decode",
        "nope",
        "env,name",
        "db",
        "full",
        "postgresql://u@/db?host=/nonexistent",
        "mysql://x@/y",
        "sqlite:///nonexistent.db",
        "%",
        "\u{7f}",
        "--",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut argv = Vec::new();
    if rng.chance(85) {
        argv.push("--store".into());
        argv.push(store.display().to_string());
    }
    let k = rng.below(6);
    for _ in 0..k {
        match rng.below(10) {
            0..=5 if !flags.is_empty() => {
                let f = rng.pick(flags).clone();
                let writes =
                    ["--output", "--files-to", "--exec", "--scratch"].contains(&f.as_str());
                argv.push(f);
                if rng.chance(70) {
                    let v = if writes {
                        if rng.chance(90) {
                            rng.pick(&write_paths).clone()
                        } else {
                            "false".into()
                        }
                    } else if rng.chance(30) {
                        rng.pick(&read_paths).clone()
                    } else {
                        rng.pick(&values).clone()
                    };
                    argv.push(v);
                }
            }
            6 => argv.push(rng.pick(&read_paths).clone()),
            7 => argv.push(rng.pick(&values).clone()),
            8 => {
                let n = 1 + rng.below(5000) as usize;
                argv.push("x".repeat(n));
            }
            _ => argv.push(format!("-{}", (b'a' + rng.below(26) as u8) as char)),
        }
    }
    // Never a help or version page only: those always succeed.
    argv.retain(|a| a != "--help" && a != "--version" && a != "-h" && a != "-V");
    argv
}

fn random_stdin(rng: &mut Rng, store: &Path, canary: &Path, good: &[serde_json::Value]) -> Vec<u8> {
    let canary_art = canary.join("app_db_hourly_20261127T020000Z.sql.gz");
    let escapes: Vec<PathBuf> = vec![
        canary_art.clone(),
        canary.join("precious.txt"),
        canary.join("pre_migration_20261127_020000.dump"),
        canary.join("dev/app_db_hourly_20261127T020000Z.sql.gz"),
        store.join("dev/../../canary/app_db_hourly_20261127T020000Z.sql.gz"),
        store.join("dev/evil_db_hourly_20261127T020000Z.sql.gz"),
        store.join("../canary/site_full_daily_20261127T020000Z.tar.gz"),
    ];
    let mut out = String::new();
    let lines = rng.below(5);
    for _ in 0..lines {
        let line = match rng.below(14) {
            0 => String::new(),
            1 => {
                let n = 1 + rng.below(300) as usize;
                String::from_utf8_lossy(&rng.bytes(n)).into_owned()
            }
            2 => rng.pick(&["[]", "1", "null", "\"x\"", "{", "}", "{\"schema\":\"lfb/1\",\"path\":"]).to_string(),
            3 => json!({"schema": rng.pick(&["lfb/0", "lfb/2", "lfb/1 ", "LFB/1", "lfb/99999999999"]).to_string(), "path": canary_art.to_string_lossy()}).to_string(),
            4..=6 => {
                let p = rng.pick(&escapes).clone();
                let mut v = json!({"schema": "lfb/1", "path": p.to_string_lossy(), "sha256": "00", "kind": "db", "env": "dev", "tag": "hourly", "format": "sql+gzip"});
                if rng.chance(30) {
                    v["verify"] = json!({"ok": rng.chance(50)});
                }
                if rng.chance(20) {
                    v["id"] = json!("app_db_hourly_20261127T020000Z");
                }
                v.to_string()
            }
            7 => json!({"schema": "lfb/1", "path": 5, "bytes": -1}).to_string(),
            8 => json!({"schema": "lfb/1", "path": "/x", "bytes": 1e30, "created_at": "yesterday", "kind": "tape"}).to_string(),
            9 => {
                let n = 200 + rng.below(5000) as usize;
                format!("{}{}", "[".repeat(n), "]".repeat(10))
            }
            10 => json!({"schema": "lfb/1", "path": "x".repeat(5000), "error": {"message": "upstream"}}).to_string(),
            11 => json!({"schema": "lfb/1", "path": "", "sha256": 7, "source": "pg"}).to_string(),
            _ => {
                if good.is_empty() {
                    "{}".into()
                } else {
                    let mut v = rng.pick(good).clone();
                    if rng.chance(30) {
                        v["sha256"] = json!("0".repeat(64));
                    }
                    v.to_string()
                }
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.into_bytes()
}
