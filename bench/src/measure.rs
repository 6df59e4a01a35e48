//! Running one timed command and summarising repeated runs.
//!
//! Every command, lfb's or a baseline's, runs the same way: `bash -c` with
//! `set -o pipefail` (so a failing `pg_dump` in `pg_dump | gzip` fails the
//! run), stdin from /dev/null, stdout and stderr into files (no pipe-reading
//! threads in the harness competing for CPU), timed from spawn to `wait4`,
//! which also yields the CPU time of the whole process tree.
//!
//! Peak RSS comes from GNU time (`/usr/bin/time -f %M`) wrapped around the
//! `bash`: Linux carries the peak RSS of a process's memory image from
//! before `execve` into the new program's `ru_maxrss`, and a child spawned by
//! the harness (vfork) starts from the harness's own image, so `wait4` on it
//! would report at least the harness's RSS. GNU time is a tiny process whose
//! `wait4` on `bash` sees only the pipeline: `bash` itself (about 3 MiB) and
//! the programs it runs. Without `/usr/bin/time`, `wait4`'s value is used.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::rusage;

/// One finished run of a command.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub wall: Duration,
    pub cpu: Duration,
    pub max_rss_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last non-empty stderr line, for one-line failure reports.
    /// The line that says what went wrong: psql's `ERROR:` line when there
    /// is one (its last lines are the statement and a `^` under it), else
    /// the last line.
    pub fn error_line(&self) -> String {
        let lines = || self.stderr.lines().rev().map(str::trim);
        lines()
            .find(|l| l.contains("ERROR:") || l.contains("FATAL:"))
            .or_else(|| lines().find(|l| !l.is_empty()))
            .unwrap_or("(no message)")
            .to_string()
    }
}

/// GNU time, when installed.
pub fn gnu_time() -> Option<&'static Path> {
    static TIME: OnceLock<Option<&'static Path>> = OnceLock::new();
    *TIME.get_or_init(|| {
        let p = Path::new("/usr/bin/time");
        let ok = Command::new(p)
            .args(["-f", "%M", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .is_ok_and(|o| o.status.success() && !o.stderr.is_empty());
        ok.then_some(p)
    })
}

/// The peak RSS (KiB) GNU time wrote: the last line of its `-o` file (a
/// first line may say "Command exited with non-zero status N").
fn parse_time_rss(text: &str) -> Option<u64> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())?
        .trim()
        .parse()
        .ok()
}

/// Runs `script` with `bash -c` in `dir` with `env` added, timing it.
pub fn run_script(script: &str, env: &[(String, String)], dir: &Path) -> std::io::Result<Run> {
    std::fs::create_dir_all(dir)?;
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let rss_path = dir.join("maxrss");
    let mut cmd = match gnu_time() {
        Some(time) => {
            let _ = std::fs::remove_file(&rss_path);
            let mut c = Command::new(time);
            c.args(["-f", "%M", "-o"]).arg(&rss_path).arg("bash");
            c
        }
        None => Command::new("bash"),
    };
    cmd.arg("-c")
        .arg(format!("set -o pipefail\n{script}"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let child = cmd.spawn()?;
    let usage = rusage::wait(child)?;
    let wall = started.elapsed();
    let max_rss_kib = match gnu_time() {
        Some(_) => std::fs::read_to_string(&rss_path)
            .ok()
            .and_then(|t| parse_time_rss(&t))
            .unwrap_or(usage.max_rss_kib),
        None => usage.max_rss_kib,
    };
    Ok(Run {
        code: usage.code,
        wall,
        cpu: usage.cpu,
        max_rss_kib,
        stdout: String::from_utf8_lossy(&std::fs::read(&out_path)?).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err_path)?).into_owned(),
    })
}

/// Median, minimum and maximum of a series of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for an empty series. The median of an even count is the mean
    /// of the middle two.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// The measurements of one variant: one sample per timed run.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub wall_s: Vec<f64>,
    pub cpu_s: Vec<f64>,
    pub rss_mib: Vec<f64>,
    pub bytes: Vec<f64>,
}

impl Samples {
    pub fn push(&mut self, run: &Run, bytes: Option<u64>) {
        self.wall_s.push(run.wall.as_secs_f64());
        self.cpu_s.push(run.cpu.as_secs_f64());
        self.rss_mib.push(run.max_rss_kib as f64 / 1024.0);
        if let Some(b) = bytes {
            self.bytes.push(b as f64);
        }
    }
    pub fn wall(&self) -> Option<Summary> {
        Summary::of(&self.wall_s)
    }
    pub fn cpu(&self) -> Option<Summary> {
        Summary::of(&self.cpu_s)
    }
    pub fn rss(&self) -> Option<Summary> {
        Summary::of(&self.rss_mib)
    }
    pub fn bytes(&self) -> Option<Summary> {
        Summary::of(&self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_series() {
        assert_eq!(Summary::of(&[]), None);
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
    }

    #[test]
    fn reads_gnu_time_output() {
        assert_eq!(parse_time_rss("3000\n"), Some(3000));
        assert_eq!(
            parse_time_rss("Command exited with non-zero status 3\n2920\n"),
            Some(2920)
        );
        assert_eq!(parse_time_rss(""), None);
    }

    #[test]
    fn runs_with_pipefail_and_captures_output() {
        let dir = tempfile_dir();
        let ok = run_script("echo out; echo err >&2", &[], &dir).unwrap();
        assert_eq!((ok.code, ok.stdout.as_str()), (0, "out\n"));
        assert_eq!(ok.error_line(), "err");
        let env = [("X".to_string(), "7".to_string())];
        let failed = run_script("exit $X | cat", &env, &dir).unwrap();
        assert_eq!(failed.code, 7, "pipefail makes the pipeline fail");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("lfb-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
