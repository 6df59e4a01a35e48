//! The quick version of the fault-injection suite, inside `cargo test`:
//! a few dozen kills, mutations and malformed inputs, a full and a
//! read-only store (when tmpfs can be mounted) and concurrent runs, all
//! against the built binaries. Every figure with a target must meet it.

use lfb_torture::{Bins, Config, run_all};

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
    assert!(report.all_ok(), "a figure missed its target:\n{table}");
}
