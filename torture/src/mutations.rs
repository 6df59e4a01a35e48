//! Damaged artifacts: bit flips, truncations, appended garbage and zeroed
//! 4 KiB blocks over every artifact format, with and without a sidecar.
//! A mutation is detected when `lfb-verify --checks
//! checksum,decode,complete` exits 1 on it.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use crate::fixtures::Fixtures;
use crate::{Bins, Config, Report, Rng, new_store, run};

const CLASSES: [&str; 4] = [
    "bit flip",
    "truncation",
    "appended garbage",
    "zeroed 4 KiB block",
];

fn mutate(rng: &mut Rng, class: usize, orig: &[u8]) -> Vec<u8> {
    let mut b = orig.to_vec();
    let n = b.len();
    match class {
        0 => {
            let at = rng.below(n as u64) as usize;
            b[at] ^= 1 << rng.below(8);
        }
        1 => b.truncate(rng.below(n as u64) as usize),
        2 => {
            let k = 1 + rng.below(4096) as usize;
            b.extend(rng.bytes(k));
        }
        _ => {
            let blocks = n.div_ceil(4096);
            let at = 4096 * rng.below(blocks as u64) as usize;
            let end = (at + 4096).min(n);
            b[at..end].fill(0);
        }
    }
    b
}

pub fn section(cfg: &Config, bins: &Bins, fx: &Fixtures, report: &mut Report) {
    let mut rng = Rng(cfg.seed ^ 0x3077);
    let store = new_store(&fx.work, "store-mutations");
    // (format, sidecar, class) -> (detected, tried)
    let mut tally: BTreeMap<(&str, bool, usize), (usize, usize)> = BTreeMap::new();
    let mut wrong_exit = 0usize;
    let mut panics = 0usize;
    let originals: Vec<(usize, Vec<u8>)> = fx
        .artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| (i, fs::read(&a.path).expect("read artifact")))
        .collect();
    let mut k = 0usize;
    let mut tries = 0usize;
    while k < cfg.mutations && tries < cfg.mutations * 3 {
        tries += 1;
        let (ai, orig) = &originals[k % originals.len()];
        let a = &fx.artifacts[*ai];
        let sidecar = (k / originals.len()).is_multiple_of(2);
        let class = (k / (originals.len() * 2)) % CLASSES.len();
        let bytes = mutate(&mut rng, class, orig);
        if &bytes == orig {
            continue; // zeroing zeros changes nothing: not a mutation
        }
        k += 1;
        let folder = if a.path.to_string_lossy().contains("/migrations/") {
            "migrations"
        } else {
            "dev"
        };
        let dir = store.join(folder);
        fs::create_dir_all(&dir).expect("folder");
        let path = dir.join(a.path.file_name().expect("name"));
        fs::write(&path, &bytes).expect("write mutant");
        let side = format!("{}.json", path.display());
        if sidecar {
            let mut rec = a.record.clone();
            rec["path"] = serde_json::Value::String(path.to_string_lossy().into_owned());
            fs::write(&side, format!("{rec}\n")).expect("sidecar");
        } else {
            let _ = fs::remove_file(&side);
        }
        let r = run(
            bins.cmd("lfb-verify")
                .arg("--store")
                .arg(&store)
                .args(["--checks", "checksum,decode,complete", "--min-size", "0"])
                .arg(&path),
            None,
            Duration::from_secs(120),
        );
        if r.panicked() {
            panics += 1;
        }
        let detected = r.code == Some(1);
        if !matches!(r.code, Some(0) | Some(1)) {
            wrong_exit += 1;
            report.note(
                "mutations",
                format!(
                    "{} {}: exit {:?}: {}",
                    a.label,
                    CLASSES[class],
                    r.code,
                    r.stderr.trim()
                ),
            );
        }
        let e = tally.entry((a.label, sidecar, class)).or_default();
        e.1 += 1;
        if detected {
            e.0 += 1;
        }
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(&side);
    }
    let sec = "mutations";
    let sum = |with: bool| {
        tally
            .iter()
            .filter(|((_, s, _), _)| *s == with)
            .fold((0, 0), |acc, (_, v)| (acc.0 + v.0, acc.1 + v.1))
    };
    let (wd, wt) = sum(true);
    let (nd, nt) = sum(false);
    report.info(sec, "mutations", wt + nt);
    report.rate(sec, "detected, with sidecar", wd, wt, true);
    report.rate(
        sec,
        "detected, without sidecar (all formats)",
        nd,
        nt,
        false,
    );
    report.zero(sec, "panics", panics);
    report.zero(sec, "exit codes other than 0/1", wrong_exit);
    for a in &fx.artifacts {
        for (ci, c) in CLASSES.iter().enumerate() {
            let (d, t) = tally
                .get(&(a.label, false, ci))
                .copied()
                .unwrap_or_default();
            if t > 0 {
                report.rate(
                    sec,
                    &format!("  no sidecar: {} / {c}", a.label),
                    d,
                    t,
                    false,
                );
            }
            let (d, t) = tally.get(&(a.label, true, ci)).copied().unwrap_or_default();
            if t > 0 && d < t {
                report.note(
                    sec,
                    format!("with sidecar, {} / {c}: {d}/{t} detected", a.label),
                );
            }
        }
    }
    let _ = fs::remove_dir_all(&store);
}
