//! `lfb-restore -f FILE` on a file that is not a dump lfb recognises says
//! so, instead of calling it "a backup of unknown engine database".

use lfb_tests::{bin, run, store};

#[test]
fn a_file_lfb_does_not_recognise_is_named_as_such() {
    let st = store();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "shopping list\n").unwrap();
    let target = dir.path().join("app.sqlite3");
    let out = run(std::process::Command::new(bin("lfb-restore"))
        .arg("--store")
        .arg(st.path())
        .env_remove("DATABASE_URL")
        .env_remove("LFB_ENV")
        .args(["--yes", "-f"])
        .arg(&file)
        .arg(&target));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("is not a dump lfb recognises"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("notes.txt"), "{}", out.stderr);
    assert!(!out.stderr.contains("unknown engine"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(!target.exists());
}
