//! lfb-copy to another folder: the store's layout, private files, nothing
//! under a final name before it is complete and read back, identical copies
//! skipped, a damaged copy replaced, and `--verify` that finds damage.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use lfb_tests::{bin, run, run_with_input, sha256sum, store};

fn demo_dump(st: &Path, home: &Path) -> serde_json::Value {
    let out = run(Command::new(bin("lfb-dump"))
        .env_remove("LFB_CONFIG")
        .env("HOME", home)
        .arg("--store")
        .arg(st)
        .args(["-e", "prod", "--demo"]));
    out.assert_ok();
    out.records().remove(0)
}

fn copy(st: &Path, home: &Path) -> Command {
    let mut c = Command::new(bin("lfb-copy"));
    c.env_remove("LFB_CONFIG")
        .env("HOME", home)
        .arg("--store")
        .arg(st);
    c
}

#[test]
fn copies_to_another_folder_atomically_and_skips_identical_copies() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let to = dest.path().join("offsite");
    let dump = demo_dump(st.path(), home.path());
    let path = dump["path"].as_str().unwrap();
    let name = Path::new(path).file_name().unwrap().to_str().unwrap();

    let out = run(copy(st.path(), home.path())
        .args(["--all", "--to"])
        .arg(&to));
    out.assert_ok();
    let rec = &out.records()[0];
    assert_eq!(rec["offsite"]["verified"], true);
    assert_eq!(rec["offsite"]["skipped"], false);
    assert_eq!(rec["offsite"]["key"], format!("prod/{name}"));
    let copied = to.join("prod").join(name);
    assert_eq!(sha256sum(&copied), sha256sum(path));
    assert_eq!(
        sha256sum(to.join("prod").join(format!("{name}.json"))),
        sha256sum(format!("{path}.json"))
    );
    let mode = std::fs::metadata(&copied).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = std::fs::metadata(to.join("prod"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o700);
    let leftovers: Vec<_> = std::fs::read_dir(to.join("prod"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The copy went to the journal.
    let journal = std::fs::read_to_string(st.path().join("logs/journal.ndjson")).unwrap();
    assert!(journal.contains("\"tool\":\"lfb-copy\""), "{journal}");

    // Again: already there and identical.
    let again = run_with_input(
        copy(st.path(), home.path()).arg("--to").arg(&to),
        format!("{dump}\n"),
    );
    again.assert_ok();
    assert_eq!(again.records()[0]["offsite"]["skipped"], true);

    // Damage the copy: --verify finds it, a copy replaces it.
    let mut bytes = std::fs::read(&copied).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&copied, &bytes).unwrap();
    let verify = run(copy(st.path(), home.path())
        .args(["--verify", "--all", "--to"])
        .arg(&to));
    verify.assert_code(1);
    assert!(verify.stderr.contains("is corrupt"), "{}", verify.stderr);
    let fix = run(copy(st.path(), home.path())
        .args(["--all", "--to"])
        .arg(&to));
    fix.assert_ok();
    assert_eq!(fix.records()[0]["offsite"]["replaced"], true);
    assert_eq!(sha256sum(&copied), sha256sum(path));
}

#[test]
fn an_artifact_that_no_longer_matches_its_record_is_not_copied() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let path = dump["path"].as_str().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
    let out = run_with_input(
        copy(st.path(), home.path()).arg("--to").arg(dest.path()),
        format!("{dump}\n"),
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("does not match its record"),
        "{}",
        out.stderr
    );
    assert_eq!(out.records()[0]["offsite"]["ok"], false);
    assert!(
        !dest
            .path()
            .join("prod")
            .join(Path::new(path).file_name().unwrap())
            .exists()
    );
}

#[test]
fn bad_destinations_are_refused() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    demo_dump(st.path(), home.path());
    let inside = run(copy(st.path(), home.path())
        .args(["--all", "--to"])
        .arg(st.path().join("mirror")));
    inside.assert_code(2);
    assert!(
        inside.stderr.contains("overlaps the store"),
        "{}",
        inside.stderr
    );
    let bad = run(copy(st.path(), home.path()).args(["--all", "--to", "s3://A"]));
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("invalid object-storage location"),
        "{}",
        bad.stderr
    );
    // A URL lfb does not speak is refused, not made a folder named `http:`.
    let work = tempfile::tempdir().unwrap();
    for url in [
        "http://foo/bar",
        "S3://bucket/x",
        "s3:/bucket/x",
        "gs://b/x",
    ] {
        let out = run(copy(st.path(), home.path())
            .current_dir(work.path())
            .args(["--all", "--to", url]));
        out.assert_code(2);
        assert!(
            out.stderr.contains("unsupported location"),
            "{url}: {}",
            out.stderr
        );
    }
    let made: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(made.is_empty(), "folders made for URLs: {made:?}");

    // Bad input stops the run before the destination is made: an unknown
    // --env names the ones there are; garbage on stdin names its line.
    let dest = work.path().join("dest");
    let out = run(copy(st.path(), home.path())
        .args(["--all", "-e", "nosuch", "--to"])
        .arg(&dest));
    out.assert_code(2);
    assert!(
        out.stderr.contains("no environment 'nosuch'"),
        "{}",
        out.stderr
    );
    let out = run_with_input(
        copy(st.path(), home.path()).arg("--to").arg(&dest),
        "garbage\n",
    );
    out.assert_code(2);
    assert!(out.stderr.contains("line 1"), "{}", out.stderr);
    assert!(
        !dest.exists(),
        "a destination was made for a run that copied nothing"
    );
}
