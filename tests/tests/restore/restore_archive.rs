//! lfb-restore of full archives: the database from the archive's dump, the
//! media and config into a folder, and crafted archives that try to write
//! outside it refused with nothing written.

use std::path::Path;
use std::process::Command;

use lfb_tests::{bin, run, run_with_input, store};

fn lfb(tool: &str, store: &Path, home: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env("XDG_DATA_HOME", home);
    c
}

fn diff_r(a: &Path, b: &Path) {
    let out = run(Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(a)
        .arg(b));
    assert!(out.success(), "{}{}", out.stdout, out.stderr);
}

#[test]
fn a_full_archive_restores_its_database_and_its_files() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let media = src.path().join("media");
    std::fs::create_dir_all(media.join("avatars/empty")).unwrap();
    std::fs::write(media.join("avatars/a.jpg"), vec![7u8; 50_000]).unwrap();
    std::fs::write(media.join("notes ü.txt"), "hello\n").unwrap();
    std::os::unix::fs::symlink("avatars/a.jpg", media.join("current.jpg")).unwrap();
    std::fs::write(src.path().join(".env"), "SECRET_KEY=x\n").unwrap();

    let dump = run(lfb("lfb-dump", st.path(), home.path()).args(["--demo", "--tag", "daily"]));
    dump.assert_ok();
    let out = run_with_input(
        lfb("lfb-archive", st.path(), home.path())
            .arg("--media")
            .arg(&media)
            .arg("--config")
            .arg(src.path().join(".env"))
            .arg("--git")
            .arg(src.path()),
        &dump.stdout,
    );
    out.assert_ok();
    let archive = out.records()[0].clone();
    assert_eq!(archive["kind"], "full");

    let target_dir = tempfile::tempdir().unwrap();
    let target = target_dir.path().join("app.sqlite3");
    let files = target_dir.path().join("restored-files");
    let out = run_with_input(
        lfb("lfb-restore", st.path(), home.path())
            .args(["--yes", "--from", "ledgerflow"])
            .arg("--files-to")
            .arg(&files)
            .arg(&target),
        archive.to_string(),
    );
    out.assert_ok();
    let r = &out.records()[0];
    assert_eq!(r["restore"]["ok"], true, "{r}");
    assert_eq!(r["restore"]["counts"]["transactions"], 5000);
    let count = run(Command::new("sqlite3")
        .arg(&target)
        .arg("SELECT count(*) FROM transactions"));
    assert_eq!(count.stdout.trim(), "5000");
    // The media folder goes back under its own name (it was not inside the
    // folder lfb-archive ran in).
    let media_back = files.join("media");
    diff_r(&media, &media_back);
    assert_eq!(
        std::fs::read_link(media_back.join("current.jpg")).unwrap(),
        Path::new("avatars/a.jpg")
    );
    assert!(files.join("config/.env").exists());
}

/// A legacy-named archive (no sidecar, no manifest) built by Python's
/// tarfile with whatever members the test wants.
fn crafted(store: &Path, name: &str, members: &str) -> std::path::PathBuf {
    let dev = store.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let path = dev.join(name);
    let script = format!(
        r#"
import io, tarfile, sys
t = tarfile.open(sys.argv[1], "w:gz")
def add(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("full_backup_1/db/database.sql.gz", b"")
add("full_backup_1/media/ok.txt", b"fine")
{members}
t.close()
"#
    );
    let out = run(Command::new("python3").arg("-c").arg(script).arg(&path));
    out.assert_ok();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

#[test]
fn crafted_archives_cannot_write_outside_the_folder() {
    let cases = [
        (
            "dotdot",
            r#"add("full_backup_1/media/../../../escaped.txt", b"evil")"#,
        ),
        (
            "absolute",
            r#"add("/tmp/lfb-escaped-absolute.txt", b"evil")"#,
        ),
        (
            "symlink out",
            r#"add("full_backup_1/media/l", kind=tarfile.SYMTYPE, link="../../../../escaped")"#,
        ),
        (
            "symlink abs",
            r#"add("full_backup_1/media/l", kind=tarfile.SYMTYPE, link="/etc")
add("full_backup_1/media/l/passwd", b"evil")"#,
        ),
        (
            "through a link",
            r#"add("full_backup_1/media/sub/x", b"a")
add("full_backup_1/media/l", kind=tarfile.SYMTYPE, link="sub")
add("full_backup_1/media/l/y", b"evil")"#,
        ),
        (
            "hard link out",
            r#"add("full_backup_1/media/h", kind=tarfile.LNKTYPE, link="../../etc/passwd")"#,
        ),
    ];
    for (i, (what, members)) in cases.iter().enumerate() {
        let st = store();
        let home = tempfile::tempdir().unwrap();
        let name = format!("ledgerflow_full_backup_2026010{}_000000.tar.gz", i + 1);
        let archive = crafted(st.path(), &name, members);
        let place = tempfile::tempdir().unwrap();
        let dest = place.path().join("files");
        let out = run(lfb("lfb-restore", st.path(), home.path())
            .args(["--files-only", "--yes", "--files-to"])
            .arg(&dest)
            .arg("-f")
            .arg(&archive));
        assert_eq!(out.code, 1, "{what}: {}", out.stderr);
        assert!(out.stderr.contains("refused"), "{what}: {}", out.stderr);
        // Nothing at all was left beside or inside the destination.
        let left: Vec<_> = std::fs::read_dir(place.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{what}: {left:?}");
        assert!(!Path::new("/tmp/lfb-escaped-absolute.txt").exists());
        assert!(!place.path().parent().unwrap().join("escaped.txt").exists());
    }
}

#[test]
fn a_harmless_legacy_archive_restores_its_files() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let archive = crafted(
        st.path(),
        "ledgerflow_full_backup_20260101_000000.tar.gz",
        r#"add("full_backup_1/media/sub/x", b"a")
add("full_backup_1/media/l", kind=tarfile.SYMTYPE, link="sub/x")
add("full_backup_1/config/.env", b"K=V")"#,
    );
    let place = tempfile::tempdir().unwrap();
    let dest = place.path().join("files");
    let out = run(lfb("lfb-restore", st.path(), home.path())
        .args(["--files-only", "--yes", "--files-to"])
        .arg(&dest)
        .arg("-f")
        .arg(&archive));
    out.assert_ok();
    assert_eq!(std::fs::read(dest.join("media/ok.txt")).unwrap(), b"fine");
    assert_eq!(std::fs::read(dest.join("config/.env")).unwrap(), b"K=V");
    assert_eq!(
        std::fs::read_link(dest.join("media/l")).unwrap(),
        Path::new("sub/x")
    );
}
