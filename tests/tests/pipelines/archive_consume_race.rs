//! Two `lfb-archive --consume` runs of the same dump record at once: the
//! dumps are checked again under the store lock before publishing, so one
//! run keeps its archive and removes the dump, and the other keeps nothing
//! and fails (exit 1) without printing a record of an archive.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lfb_tests::{bin, run, store};

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_ending(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out
}

#[test]
fn two_consumes_of_one_dump_keep_one_archive() {
    let st = store();
    let proj = tempfile::tempdir().unwrap();
    let db = proj.path().join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    drop(c);
    fs::create_dir_all(proj.path().join("media")).unwrap();
    fs::write(proj.path().join("media/a.txt"), "a").unwrap();
    let dumped = run(lfb("lfb-dump", st.path()).arg(&db));
    dumped.assert_ok();
    let record = dumped.stdout.clone();
    let dump_path = PathBuf::from(dumped.records()[0]["path"].as_str().unwrap());

    // The test holds the store lock, so both runs write their archive and
    // then wait for the lock to publish.
    let lock = File::options()
        .read(true)
        .write(true)
        .open(st.path().join(".lfb.lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut child = lfb("lfb-archive", st.path())
            .current_dir(proj.path())
            .args(["--media", "media", "--consume"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(record.as_bytes())
            .unwrap();
        let err = Arc::new(Mutex::new(String::new()));
        let reader = {
            let err = Arc::clone(&err);
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let mut e = err.lock().unwrap();
                    e.push_str(&line.unwrap());
                    e.push('\n');
                }
            })
        };
        runs.push((child, err, reader));
    }
    let start = Instant::now();
    while !runs
        .iter()
        .all(|(_, e, _)| e.lock().unwrap().contains("waiting for the store lock"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "runs never waited"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    lock.unlock().unwrap();

    let mut codes = Vec::new();
    for (mut child, err, reader) in runs {
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let err = err.lock().unwrap().clone();
        let code = status.code().unwrap();
        if code == 0 {
            assert!(stdout.contains("\"kind\":\"full\""), "{stdout}");
        } else {
            assert_eq!(code, 1, "{err}");
            assert!(err.contains("no longer there"), "{err}");
            assert!(err.contains("not kept"), "{err}");
            // No record of an archive that does not exist.
            for line in stdout.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(p) = v["path"].as_str() {
                    assert!(v.get("error").is_some() || Path::new(p).exists(), "{line}");
                }
            }
        }
        codes.push(code);
    }
    codes.sort();
    assert_eq!(codes, vec![0, 1]);
    assert!(!dump_path.exists(), "the dump was consumed");
    let archives = files_ending(st.path(), ".tar.gz");
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert!(files_ending(st.path(), ".partial").is_empty());
}
