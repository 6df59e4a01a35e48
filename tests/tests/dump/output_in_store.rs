//! `lfb-dump -o PATH` with PATH inside the store would write an artifact no
//! tool counts: refused with exit 2 before anything is written.

use std::path::Path;
use std::process::Command;

use lfb_tests::{bin, run, store};

fn sqlite_db(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("app.sqlite3");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        .unwrap();
    db
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn output_inside_the_store_is_exit_2_and_writes_nothing() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let db = sqlite_db(work.path());
    std::fs::create_dir_all(st.path().join("dev")).unwrap();
    let before = files_under(st.path());
    for o in [
        st.path().join("dev").join("mine.sql.gz"),
        st.path().join("somewhere").join("mine.sql.gz"),
    ] {
        let out = run(Command::new(bin("lfb-dump"))
            .arg("--store")
            .arg(st.path())
            .env_remove("DATABASE_URL")
            .env_remove("LFB_ENV")
            .arg("-o")
            .arg(&o)
            .arg(&db));
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("-o is for paths outside the store"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("--store/--env/--tag"), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(!o.exists());
    }
    assert!(!st.path().join("somewhere").exists());
    // Journal lines aside, nothing new in the store.
    let after: Vec<_> = files_under(st.path())
        .into_iter()
        .filter(|p| !p.starts_with(st.path().join("logs")))
        .collect();
    assert_eq!(after, before);
    // Outside the store it works as before.
    let o = work.path().join("out").join("mine.sql.gz");
    let out = run(Command::new(bin("lfb-dump"))
        .arg("--store")
        .arg(st.path())
        .env_remove("DATABASE_URL")
        .env_remove("LFB_ENV")
        .arg("-o")
        .arg(&o)
        .arg(&db));
    out.assert_ok();
    assert!(o.is_file());
}
