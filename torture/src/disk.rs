//! A full store (ENOSPC: a 2 MiB tmpfs, nearly filled) and a read-only
//! store (the tmpfs remounted read-only), during a dump, an archive, a
//! restore's safety backup and a prune. Each must end in a clean error
//! (exit 1 or 2, a message, no panic) with nothing half-written: no
//! `*.partial` left, every artifact whole, a restore target untouched.
//! Needs root (mount); skipped with a note otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fixtures::{self, Fixtures, install};
use crate::kills::independent_ok;
use crate::{Bins, Config, Report, listing, run};

struct Mount(PathBuf);

impl Mount {
    /// A tmpfs of 2 MiB plus `extra` bytes (room for the fixtures).
    fn new(dir: &Path, extra: u64) -> Option<Mount> {
        fs::create_dir_all(dir).ok()?;
        let size = (2 << 20) + extra.div_ceil(4096) * 4096;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .ok()?
            .status
            .success();
        ok.then(|| Mount(dir.to_path_buf()))
    }
    fn read_only(&self) -> bool {
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// Fills the filesystem of `store` to within `leave` bytes.
fn fill(store: &Path, leave: u64) {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(store)
        .output();
    let avail: u64 = out
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .and_then(|l| l.trim().parse().ok())
        })
        .unwrap_or(0);
    if avail > leave {
        let _ = fs::write(
            store.join("filler.bin"),
            vec![0u8; (avail - leave) as usize],
        );
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    unclean: usize,
    half: usize,
    target_changed: usize,
    changed_ro: usize,
}

pub fn section(_cfg: &Config, bins: &Bins, fx: &Fixtures, report: &mut Report) {
    let sec = "full/read-only store";
    let probe = fx.work.join("mnt-probe");
    if Mount::new(&probe, 0).is_none() {
        report.note(sec, "skipped: cannot mount a tmpfs (needs root)");
        report.info(sec, "cases", "skipped (no tmpfs mount)");
        return;
    }
    let mut t = Tally::default();
    let lite = fx
        .artifact("sqlite sql.gz")
        .expect("sqlite artifact")
        .clone();
    for ro in [false, true] {
        for case in ["dump", "archive", "restore safety backup", "prune"] {
            let dir = fx.work.join(format!(
                "mnt-{}-{}",
                if ro { "ro" } else { "full" },
                case.replace(' ', "-")
            ));
            let extra = fs::metadata(&lite.path).map(|m| m.len()).unwrap_or(0);
            let Some(m) = Mount::new(&dir, extra) else {
                continue;
            };
            let store = dir.clone();
            let (art, rec) = install(&lite, &store, "dev", true);
            let target = fx
                .work
                .join(format!("disk-target-{}-{}.db", ro, case.len()));
            let _ = fs::copy(&fx.sqlite, &target);
            let target_before = fixtures::sqlite_fingerprint(&target);
            if ro {
                if !m.read_only() {
                    report.note(sec, "cannot remount read-only; read-only cases skipped");
                    break;
                }
            } else {
                fill(&store, 96 * 1024);
            }
            let before = listing(&store);
            let mut cmd = match case {
                "dump" => {
                    let mut c = bins.cmd("lfb-dump");
                    c.arg("--store").arg(&store).arg(&fx.sqlite);
                    c
                }
                "archive" => {
                    let mut c = bins.cmd("lfb-archive");
                    c.current_dir(&fx.project)
                        .arg("--store")
                        .arg(&store)
                        .args(["--media", "media"]);
                    c
                }
                "restore safety backup" => {
                    let mut c = bins.cmd("lfb-restore");
                    c.arg("--store")
                        .arg(&store)
                        .arg("-f")
                        .arg(&art)
                        .args(["-y", "--from", "app"])
                        .arg(&target);
                    c
                }
                _ => {
                    let mut c = bins.cmd("lfb-prune");
                    c.arg("--store")
                        .arg(&store)
                        .args(["--keep-last", "1", "--min-keep", "0"]);
                    c
                }
            };
            let input = format!("{rec}\n");
            let r = run(
                &mut cmd,
                (case == "archive").then_some(input.as_bytes()),
                Duration::from_secs(300),
            );
            t.cases += 1;
            let what = format!("{} store, {case}", if ro { "read-only" } else { "full" });
            // A prune on a full store frees space: success is fine there.
            let expect_fail = case != "prune" || ro;
            let clean = !r.panicked()
                && !r.timed_out
                && match r.code {
                    Some(0) => !expect_fail,
                    Some(1) | Some(2) => !r.stderr.trim().is_empty(),
                    _ => false,
                };
            if !clean {
                t.unclean += 1;
                report.note(
                    sec,
                    format!("{what}: exit {:?}: {}", r.code, r.stderr.trim()),
                );
            }
            // Nothing half-written.
            let mut half = Vec::new();
            for (p, (_, _, is_dir)) in listing(&store) {
                if is_dir {
                    continue;
                }
                let f = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                if f.ends_with(".partial") {
                    half.push(format!("{} left", p.display()));
                } else if !f.ends_with(".json")
                    && f != "filler.bin"
                    && f != ".lfb.lock"
                    && !p.starts_with(store.join("logs"))
                    && let Err(e) = independent_ok(&p, fx)
                {
                    half.push(format!("{}: {e}", p.display()));
                }
            }
            if !half.is_empty() {
                t.half += 1;
                report.note(sec, format!("{what}: {}", half.join("; ")));
            }
            if case == "restore safety backup"
                && fixtures::sqlite_fingerprint(&target) != target_before
            {
                t.target_changed += 1;
                report.note(
                    sec,
                    format!("{what}: the target changed although the safety backup failed"),
                );
            }
            if ro && listing(&store) != before {
                t.changed_ro += 1;
            }
            let _ = r;
            drop(m);
            let _ = fs::remove_dir_all(&dir);
            let _ = fs::remove_file(&target);
        }
    }
    report.info(
        sec,
        "cases (ENOSPC and read-only x dump, archive, restore safety backup, prune)",
        t.cases,
    );
    report.zero(
        sec,
        "unclean errors (panic, hang, exit 0 on failure, no message)",
        t.unclean,
    );
    report.zero(sec, "half-written files left", t.half);
    report.zero(
        sec,
        "restore targets changed when the safety backup failed",
        t.target_changed,
    );
    report.zero(sec, "read-only stores changed", t.changed_ro);
}
