//! A run that has to wait for the store lock says what it waits for (after a
//! moment, once), then goes on when the lock is released.

use std::process::Command;
use std::time::{Duration, Instant};

use lfb_tests::{bin, run, store};

#[test]
fn a_waiting_run_says_who_holds_the_lock() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let lock = st.path().join(".lfb.lock");
    // What a holder records (the lock is the flock, not the text).
    std::fs::write(&lock, "lfb-prune pid 4242 since 2026-11-30T02:00:00Z\n").unwrap();
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "2.5"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let out = run(Command::new(bin("lfb-dump"))
        .env_remove("LFB_CONFIG")
        .env("HOME", home.path())
        .arg("--store")
        .arg(st.path())
        .arg("--demo"));
    holder.wait().unwrap();
    out.assert_ok();
    assert!(started.elapsed() >= Duration::from_secs(1), "it did wait");
    assert_eq!(
        out.stderr.matches("waiting for the store lock").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("held by lfb-prune pid 4242"),
        "{}",
        out.stderr
    );
    // The lock file now names this run.
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.starts_with("lfb-dump pid "), "{text}");
}
