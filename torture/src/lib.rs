//! lfb-torture: the attacks of issue 12, made permanent.
//!
//! It drives the real, built binaries (found next to its own executable,
//! as the end-to-end tests find them) against throwaway stores, a
//! throwaway PostgreSQL server (`lfb_tests::pg::PgServer`) and SQLite
//! files, and counts what went wrong:
//!
//! - [`kills`]: `kill -9` and SIGTERM at random points of every tool that
//!   writes; afterwards incomplete artifacts counted good, targets left
//!   half-restored, stuck locks, scratch databases left, leftovers guard
//!   does not report;
//! - [`mutations`]: bit flips, truncations, appended garbage and zeroed
//!   4 KiB blocks over every artifact format, with and without sidecar;
//! - [`malformed`]: malformed NDJSON and argument vectors for every tool:
//!   panics, hangs, exit codes other than 0/1/2, files touched outside the
//!   store;
//! - [`disk`]: a full store (a 2 MiB tmpfs) and a read-only one;
//! - [`concurrent`]: two runs at once on one store.
//!
//! Every figure is a count over runs with a seed; `Report` prints them as a
//! table. The binary (`cargo run --release -p lfb-torture`) runs the full
//! counts, `--quick` a few dozen of each; `tests/quick.rs` runs the quick
//! version inside `cargo test`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod concurrent;
pub mod disk;
pub mod fixtures;
pub mod kills;
pub mod malformed;
pub mod mutations;

/// How much to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Kills per scenario (each with SIGKILL or SIGTERM).
    pub kills_per_scenario: usize,
    /// Mutations in all.
    pub mutations: usize,
    /// Malformed inputs per tool.
    pub malformed_per_tool: usize,
    /// Rounds of each concurrent pair.
    pub concurrent_rounds: usize,
    /// Rows in the PostgreSQL source (its size sets how long a dump runs).
    pub pg_rows: usize,
    /// Sections to run (empty: all).
    pub only: Vec<String>,
}

impl Config {
    /// The full run: at least the minima.
    pub fn full(seed: u64) -> Config {
        Config {
            seed,
            kills_per_scenario: 12,
            mutations: 1200,
            malformed_per_tool: 1000,
            concurrent_rounds: 6,
            pg_rows: 100_000,
            only: Vec::new(),
        }
    }

    /// A smoke run for `cargo test`: a few dozen of each.
    pub fn quick(seed: u64) -> Config {
        Config {
            seed,
            kills_per_scenario: 2,
            mutations: 60,
            malformed_per_tool: 25,
            concurrent_rounds: 1,
            pg_rows: 30_000,
            only: Vec::new(),
        }
    }

    pub fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// A small deterministic PRNG (splitmix64): a failure names its seed.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// One line of the report: a figure, what it should be, and examples of
/// what went wrong.
#[derive(Debug, Clone)]
pub struct Figure {
    pub section: String,
    pub name: String,
    pub value: String,
    /// The value the issue asks for ("0", "100%"), or "" for information.
    pub want: String,
    pub ok: bool,
}

/// Everything measured, in the order measured.
#[derive(Debug, Default)]
pub struct Report {
    pub figures: Vec<Figure>,
    /// Problems worth reading, per section (a few examples each).
    pub notes: BTreeMap<String, Vec<String>>,
}

impl Report {
    /// A count that must be zero.
    pub fn zero(&mut self, section: &str, name: &str, n: usize) {
        self.figures.push(Figure {
            section: section.into(),
            name: name.into(),
            value: n.to_string(),
            want: "0".into(),
            ok: n == 0,
        });
    }
    /// A plain figure (no target).
    pub fn info(&mut self, section: &str, name: &str, value: impl ToString) {
        self.figures.push(Figure {
            section: section.into(),
            name: name.into(),
            value: value.to_string(),
            want: String::new(),
            ok: true,
        });
    }
    /// A rate that must be 100% (or is information when `must` is false).
    pub fn rate(&mut self, section: &str, name: &str, hit: usize, of: usize, must: bool) {
        let pct = if of == 0 {
            100.0
        } else {
            hit as f64 * 100.0 / of as f64
        };
        self.figures.push(Figure {
            section: section.into(),
            name: name.into(),
            value: format!("{hit}/{of} ({pct:.1}%)"),
            want: if must { "100%".into() } else { String::new() },
            ok: !must || hit == of,
        });
    }
    pub fn note(&mut self, section: &str, text: impl Into<String>) {
        let v = self.notes.entry(section.into()).or_default();
        if v.len() < 12 {
            v.push(text.into());
        }
    }
    /// True when every figure with a target met it.
    pub fn all_ok(&self) -> bool {
        self.figures.iter().all(|f| f.ok)
    }
    /// The figures as a Markdown table, then the notes.
    pub fn markdown(&self) -> String {
        let mut s =
            String::from("| section | figure | measured | wanted | |\n|---|---|---:|---:|---|\n");
        for f in &self.figures {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                f.section,
                f.name,
                f.value,
                f.want,
                if f.want.is_empty() {
                    ""
                } else if f.ok {
                    "ok"
                } else {
                    "**FAIL**"
                }
            ));
        }
        for (section, notes) in &self.notes {
            s.push_str(&format!("\n{section}:\n"));
            for n in notes {
                s.push_str(&format!("- {}\n", n.replace('\n', " ")));
            }
        }
        s
    }
}

/// What a finished (or stopped) program did.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Run {
    pub fn panicked(&self) -> bool {
        self.code == Some(101) || self.stderr.contains("panicked")
    }
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The lfb binaries.
#[derive(Debug, Clone)]
pub struct Bins {
    pub dir: PathBuf,
}

impl Bins {
    /// The folder of the running executable (and its parent, for a test
    /// binary in `deps/`).
    pub fn beside_exe() -> Bins {
        let exe = std::env::current_exe().expect("current_exe");
        let mut dir = exe.parent().expect("exe folder").to_path_buf();
        if dir.file_name() == Some(OsStr::new("deps")) {
            dir.pop();
        }
        Bins { dir }
    }

    pub fn missing(&self) -> Vec<String> {
        TOOLS
            .iter()
            .filter(|t| !self.dir.join(t).is_file())
            .map(|t| t.to_string())
            .collect()
    }

    /// A command for `tool` with no inherited lfb or libpq settings.
    pub fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(self.dir.join(tool));
        for v in [
            "DATABASE_URL",
            "LFB_STORE",
            "LFB_ENV",
            "LEDGER_ENV",
            "PGPASSWORD",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
        ] {
            c.env_remove(v);
        }
        c
    }
}

/// The tools, as their binaries are named.
pub const TOOLS: &[&str] = &[
    "lfb-dump",
    "lfb-archive",
    "lfb-verify",
    "lfb-prune",
    "lfb-restore",
    "lfb-guard",
];

/// Runs `cmd` with `input` on stdin, stopping it after `timeout`.
pub fn run(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Run {
    run_and_signal(cmd, input, None, timeout)
}

/// Runs `cmd`; when `signal` is given as `(after, SIG)`, sends it SIG after
/// that long (unless it finished), then waits up to `timeout` in all.
pub fn run_and_signal(
    cmd: &mut Command,
    input: Option<&[u8]>,
    signal: Option<(Duration, i32)>,
    timeout: Duration,
) -> Run {
    let start = Instant::now();
    let mut child = match cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Run {
                code: Some(-1),
                stderr: format!("cannot start: {e}"),
                ..Run::default()
            };
        }
    };
    let stdin = child.stdin.take();
    let data = input.map(<[u8]>::to_vec);
    let writer = std::thread::spawn(move || {
        if let (Some(mut s), Some(d)) = (stdin, data) {
            let _ = s.write_all(&d);
        }
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let r_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let r_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut signalled = false;
    let mut timed_out = false;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        let t = start.elapsed();
        if let Some((after, sig)) = signal
            && !signalled
            && t >= after
        {
            send_signal(child.id(), sig);
            signalled = true;
        }
        if t >= timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let stdout = r_out.join().unwrap_or_default();
    let stderr = r_err.join().unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    Run {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
        elapsed: start.elapsed(),
    }
}

pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// Sends a signal through kill(1) (no unsafe code in lfb).
pub fn send_signal(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every file below `dir` with its size and modification time (a
/// fingerprint of a folder that must not change).
pub fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>, bool)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, (m.len(), m.modified().ok(), m.is_dir()));
        }
    }
    out
}

/// SHA-256 of a file's bytes, hex (empty for an unreadable file).
pub fn sha256_file(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    match fs::read(p) {
        Ok(b) => Sha256::digest(&b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect(),
        Err(_) => String::new(),
    }
}

/// A content fingerprint of a folder: relative paths and file hashes.
pub fn tree_fingerprint(dir: &Path) -> String {
    let mut parts = Vec::new();
    for (p, (_, _, is_dir)) in listing(dir) {
        let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
        if is_dir {
            parts.push(format!("{rel}/"));
        } else {
            parts.push(format!("{rel}={}", sha256_file(&p)));
        }
    }
    parts.join("\n")
}

/// A new private, empty store folder.
pub fn new_store(parent: &Path, name: &str) -> PathBuf {
    let p = parent.join(name);
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).expect("create store");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).expect("chmod store");
    p
}

/// Runs every section the config asks for.
pub fn run_all(cfg: &Config, bins: &Bins, log: &mut dyn FnMut(&str)) -> Report {
    let mut report = Report::default();
    let work = tempfile::Builder::new()
        .prefix("lfb-torture-")
        .tempdir()
        .expect("work folder");
    log("starting a throwaway PostgreSQL server and making the fixtures");
    let fx = fixtures::Fixtures::make(work.path(), bins, cfg);
    if let Some(why) = &fx.pg_missing {
        report.note("setup", format!("PostgreSQL parts skipped: {why}"));
    }
    if cfg.wants("kills") {
        log("kills");
        kills::section(cfg, bins, &fx, &mut report, log);
    }
    if cfg.wants("mutations") {
        log("mutations");
        mutations::section(cfg, bins, &fx, &mut report);
    }
    if cfg.wants("malformed") {
        log("malformed input");
        malformed::section(cfg, bins, &fx, &mut report, log);
    }
    if cfg.wants("disk") {
        log("full and read-only store");
        disk::section(cfg, bins, &fx, &mut report);
    }
    if cfg.wants("concurrent") {
        log("concurrent runs");
        concurrent::section(cfg, bins, &fx, &mut report);
    }
    report
}

/// SHA-256 of a text, hex.
pub fn sha_text(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// SHA-256 of bytes, hex.
pub fn sha_text_bytes(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
