//! The quick version of the fault-injection suite, inside `cargo test`:
//! a few dozen kills, mutations and malformed inputs, a full and a
//! read-only store (when tmpfs can be mounted) and concurrent runs, all
//! against the built binaries. Every figure with a target must meet it.

use lfb_torture::{Bins, Config, run_all};

/// Figures that depend on issue 12.1 (a killed lfb-restore or
/// lfb-verify --restore-test must roll back and take its children and
/// scratch database with it), fixed on another branch. They are printed
/// but not asserted until that fix is merged: then empty this list.
const PENDING_12_1: &[&str] = &[];

#[test]
fn quick_fault_injection_meets_every_target() {
    let bins = Bins::beside_exe();
    let missing = bins.missing();
    assert!(
        missing.is_empty(),
        "binaries not built in {}: {missing:?}; run `cargo build --workspace` first",
        bins.dir.display()
    );
    let cfg = Config::quick(7);
    let report = run_all(&cfg, &bins, &mut |m| eprintln!("lfb-torture: {m}"));
    let table = report.markdown();
    eprintln!("{table}");
    let missed: Vec<String> = report
        .figures
        .iter()
        .filter(|f| !f.ok && !PENDING_12_1.contains(&f.name.as_str()))
        .map(|f| format!("{} / {}: {} (want {})", f.section, f.name, f.value, f.want))
        .collect();
    assert!(
        missed.is_empty(),
        "figures missed their target: {missed:?}\n{table}"
    );
    assert!(report.figures.len() > 20, "every section ran:\n{table}");
}
