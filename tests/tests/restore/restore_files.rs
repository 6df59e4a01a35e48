//! lfb-restore puts an archive's files back where they were, safely (issue
//! 13.8, issue 12.4 and 12.5): media folders at their original relative
//! path, configuration apart and private, no chain of links leading out,
//! no setuid/setgid/sticky bits.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every path below `dir` (relative), links not followed.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A project folder as lfb-archive users have it, archived from inside it
/// with `--media media --config .env` (no database).
fn archived_project(st: &Path) -> (tempfile::TempDir, String) {
    let project = tempfile::tempdir().unwrap();
    let media = project.path().join("media");
    std::fs::create_dir_all(media.join("photos")).unwrap();
    std::fs::write(media.join("photos/a.jpg"), vec![1u8; 3000]).unwrap();
    std::fs::write(media.join("index.txt"), "hello\n").unwrap();
    std::fs::write(project.path().join(".env"), "SECRET_KEY=s3cret\n").unwrap();
    let out = run(lfb("lfb-archive", st)
        .args(["--media", "media", "--config", ".env"])
        .current_dir(project.path()));
    out.assert_ok();
    let path = out.records()[0]["path"].as_str().unwrap().to_string();
    (project, path)
}

/// Issue 13.8: `--files-to media` produced `media/media/media/photos` and put
/// `.env` inside the (web-served) media folder.
#[test]
fn media_goes_back_to_its_path_and_configuration_stays_apart() {
    let st = store();
    let (_project, archive) = archived_project(st.path());

    // What the user typed: refused, saying what to type instead.
    let place = tempfile::tempdir().unwrap();
    let out = run(lfb("lfb-restore", st.path())
        .args([
            "--files-only",
            "--yes",
            "--files-to",
            "media",
            "-f",
            &archive,
        ])
        .current_dir(place.path()));
    out.assert_code(2);
    assert!(out.stderr.contains("--media-to"), "{}", out.stderr);
    assert!(
        !place.path().join("media/media/media").exists(),
        "{:?}",
        tree(place.path())
    );
    assert!(
        !tree(place.path()).iter().any(|p| p.ends_with(".env")),
        "{:?}",
        tree(place.path())
    );

    // The project folder: media where it was, configuration apart, 0600.
    let out = run(lfb("lfb-restore", st.path())
        .args([
            "--files-only",
            "--yes",
            "--files-to",
            "restored",
            "-f",
            &archive,
        ])
        .current_dir(place.path()));
    out.assert_ok();
    let dir = place.path().join("restored");
    assert_eq!(
        std::fs::read(dir.join("media/photos/a.jpg")).unwrap(),
        vec![1u8; 3000],
        "{:?}",
        tree(&dir)
    );
    assert!(!dir.join("media/media").exists(), "{:?}", tree(&dir));
    assert_eq!(
        std::fs::read_to_string(dir.join("config/.env")).unwrap(),
        "SECRET_KEY=s3cret\n"
    );
    assert_eq!(mode(&dir.join("config/.env")), 0o600);
    assert!(
        !tree(&dir.join("media")).iter().any(|p| p.contains(".env")),
        "{:?}",
        tree(&dir)
    );

    // Explicit places.
    let out = run(lfb("lfb-restore", st.path())
        .args(["--files-only", "--yes", "-f", &archive])
        .args(["--media-to", "media=www/uploads", "--config-to", "secrets"])
        .current_dir(place.path()));
    out.assert_ok();
    assert!(place.path().join("www/uploads/photos/a.jpg").is_file());
    assert!(place.path().join("secrets/.env").is_file());
    // Configuration inside a media folder is refused.
    let out = run(lfb("lfb-restore", st.path())
        .args(["--files-only", "--yes", "-f", &archive])
        .args(["--media-to", "media=pub", "--config-to", "pub/conf"])
        .current_dir(place.path()));
    out.assert_code(2);
    assert!(out.stderr.contains("--config-to"), "{}", out.stderr);
}

/// A legacy-named archive (no manifest) built by Python's tarfile.
fn crafted(store: &Path, name: &str, members: &str) -> PathBuf {
    let dev = store.join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    let path = dev.join(name);
    let script = format!(
        r#"
import io, tarfile, sys
t = tarfile.open(sys.argv[1], "w:gz")
def add(name, data=b"x", kind=tarfile.REGTYPE, link="", mode=0o644):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.mode = mode
    i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("full_backup_1/db/database.sql.gz", b"")
add("full_backup_1/media/ok.txt", b"fine")
{members}
t.close()
"#
    );
    let out = run(Command::new("python3").arg("-c").arg(script).arg(&path));
    out.assert_ok();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Issue 12.4: the "link stays inside" check was textual. Chains of links,
/// each harmless-looking alone, led outside the destination.
#[test]
fn chains_of_symlinks_cannot_escape() {
    let cases = [
        (
            "issue 12.4",
            r#"add("full_backup_1/media/a/b/c/x", b"x")
add("full_backup_1/media/a/b/c/d", kind=tarfile.SYMTYPE, link="../../../..")
add("full_backup_1/media/esc", kind=tarfile.SYMTYPE, link="a/b/c/d/../../outside/file")"#,
        ),
        (
            "each link inside the media folder alone",
            r#"add("full_backup_1/media/a/b/c/x", b"x")
add("full_backup_1/media/a/b/c/d", kind=tarfile.SYMTYPE, link="../..")
add("full_backup_1/media/esc", kind=tarfile.SYMTYPE, link="a/b/c/d/../../../../outside/file")"#,
        ),
        (
            "a link made harmful by a later one",
            r#"add("full_backup_1/media/x/esc", kind=tarfile.SYMTYPE, link="b/c/../../../../outside/file")
add("full_backup_1/media/x/b/y", b"y")
add("full_backup_1/media/x/b/c", kind=tarfile.SYMTYPE, link="..")"#,
        ),
    ];
    for (i, (what, members)) in cases.iter().enumerate() {
        let st = store();
        let archive = crafted(
            st.path(),
            &format!("ledgerflow_full_backup_2026010{}_000000.tar.gz", i + 1),
            members,
        );
        // DIR = T/p/q/files: the chain of the issue reaches T/p/outside/file.
        let t = tempfile::tempdir().unwrap();
        let q = t.path().join("p/q");
        std::fs::create_dir_all(&q).unwrap();
        std::fs::create_dir_all(t.path().join("p/outside")).unwrap();
        std::fs::write(t.path().join("p/outside/file"), "outside secret").unwrap();
        let dest = q.join("files");
        let out = run(lfb("lfb-restore", st.path())
            .args(["--files-only", "--yes", "--files-to"])
            .arg(&dest)
            .arg("-f")
            .arg(&archive));
        let leaked = std::fs::read_to_string(dest.join("media/esc")).ok();
        assert_eq!(
            out.code, 1,
            "{what}: read through it: {leaked:?}; {}",
            out.stderr
        );
        assert!(out.stderr.contains("refused"), "{what}: {}", out.stderr);
        let left: Vec<_> = std::fs::read_dir(&q)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{what}: {left:?}");
    }
}

/// Issue 12.5: `--files-to` kept setuid/setgid/sticky bits from the archive.
#[test]
fn setuid_setgid_and_sticky_bits_are_masked() {
    let st = store();
    let archive = crafted(
        st.path(),
        "ledgerflow_full_backup_20260101_000000.tar.gz",
        r#"add("full_backup_1/media/tool", b"echo hi", mode=0o4755)
add("full_backup_1/media/group", b"g", mode=0o2750)
add("full_backup_1/media/shared", kind=tarfile.DIRTYPE, mode=0o1777)
add("full_backup_1/config/.env", b"K=V", mode=0o4777)"#,
    );
    let place = tempfile::tempdir().unwrap();
    let dest = place.path().join("files");
    let out = run(lfb("lfb-restore", st.path())
        .args(["--files-only", "--yes", "--files-to"])
        .arg(&dest)
        .arg("-f")
        .arg(&archive));
    out.assert_ok();
    assert_eq!(mode(&dest.join("media/tool")), 0o755);
    assert_eq!(mode(&dest.join("media/group")), 0o750);
    assert_eq!(mode(&dest.join("media/shared")), 0o777);
    assert_eq!(mode(&dest.join("config/.env")), 0o600);
    assert_eq!(mode(&dest.join("media/ok.txt")), 0o644);
}
