//! Two runs at once on one store: two dumps, a dump and a prune, two
//! prunes. Both must succeed, and the store must end whole: every
//! artifact verifies, nothing is left half-written, two dumps in the same
//! second get two names, and a prune keeps what its policy keeps.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::fixtures::Fixtures;
use crate::{Bins, Config, Report, new_store, run};

fn spawn_pair(a: Command, b: Command) -> (crate::Run, crate::Run) {
    let ta = std::thread::spawn(move || {
        let mut a = a;
        run(&mut a, None, Duration::from_secs(300))
    });
    let tb = std::thread::spawn(move || {
        let mut b = b;
        run(&mut b, None, Duration::from_secs(300))
    });
    (ta.join().unwrap_or_default(), tb.join().unwrap_or_default())
}

fn seed_small(store: &Path, n: u32) {
    let dev = store.join("dev");
    fs::create_dir_all(&dev).expect("dev");
    for k in 0..n {
        let name = format!(
            "old_db_hourly_202601{:02}T{:02}0000Z.sql.gz",
            1 + k / 24,
            k % 24
        );
        let body =
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        fs::write(dev.join(name), body).expect("artifact");
    }
}

fn count(store: &Path, prefix: &str) -> usize {
    fs::read_dir(store.join("dev"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with(prefix) && !n.ends_with(".json") && !n.ends_with(".partial")
                })
                .count()
        })
        .unwrap_or(0)
}

pub fn section(cfg: &Config, bins: &Bins, fx: &Fixtures, report: &mut Report) {
    let sec = "concurrent";
    let mut rounds = 0;
    let mut failed = 0;
    for i in 0..cfg.concurrent_rounds {
        for pair in ["two dumps", "dump + prune", "two prunes"] {
            let store = new_store(&fx.work, &format!("store-conc-{i}-{}", pair.len()));
            seed_small(&store, 30);
            let dump = || {
                let mut c = bins.cmd("lfb-dump");
                c.arg("--store")
                    .arg(&store)
                    .args(["--name", "conc"])
                    .arg(&fx.sqlite);
                c
            };
            let prune = || {
                let mut c = bins.cmd("lfb-prune");
                c.arg("--store")
                    .arg(&store)
                    .args(["--name", "old", "--keep-last", "3"]);
                c
            };
            let (a, b) = match pair {
                "two dumps" => spawn_pair(dump(), dump()),
                "dump + prune" => spawn_pair(dump(), prune()),
                _ => spawn_pair(prune(), prune()),
            };
            rounds += 1;
            let mut problems = Vec::new();
            for r in [&a, &b] {
                if r.code != Some(0) {
                    problems.push(format!("exit {:?}: {}", r.code, r.stderr.trim()));
                }
            }
            let dumps = count(&store, "conc_");
            let want_dumps = match pair {
                "two dumps" => 2,
                "dump + prune" => 1,
                _ => 0,
            };
            if dumps != want_dumps {
                problems.push(format!("{dumps} dumps, want {want_dumps}"));
            }
            let old = count(&store, "old_");
            if pair != "two dumps" && old != 3 {
                problems.push(format!("{old} old artifacts left, want 3"));
            }
            // The dumps, by path (the seeded artifacts are tiny stand-ins).
            let mut c = bins.cmd("lfb-verify");
            c.arg("--store")
                .arg(&store)
                .args(["--checks", "checksum,decode,complete"]);
            for e in fs::read_dir(store.join("dev"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("conc_") && n.ends_with(".sql.gz") {
                    c.arg(e.path());
                }
            }
            let v = if want_dumps > 0 {
                run(&mut c, None, Duration::from_secs(300))
            } else {
                crate::Run {
                    code: Some(0),
                    ..Default::default()
                }
            };
            if v.code != Some(0) {
                problems.push(format!("verify: exit {:?}: {}", v.code, v.stderr.trim()));
            }
            for e in fs::read_dir(store.join("dev"))
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.file_name().to_string_lossy().ends_with(".partial") {
                    problems.push(format!("{} left", e.path().display()));
                }
            }
            if !problems.is_empty() {
                failed += 1;
                report.note(sec, format!("{pair} (round {i}): {}", problems.join("; ")));
            }
            let _ = fs::remove_dir_all(&store);
        }
    }
    report.info(sec, "rounds (two dumps, dump + prune, two prunes)", rounds);
    report.zero(
        sec,
        "rounds with a failure, a lost or extra artifact, or a damaged store",
        failed,
    );
}
