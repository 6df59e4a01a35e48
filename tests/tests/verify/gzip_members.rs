//! lfb writes gzip as a sequence of members of a few MiB, each carrying its
//! size in an "LF" extra subfield (README, "The gzip format"). These tests
//! prove that stock tools read such files whole: GNU `gzip -t` and
//! `gunzip -c`, Python's `gzip` and `tarfile` modules, GNU `tar xzf`, and
//! `psql` fed by `gunzip -c`; and that the files really are several members.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lfb_core::gzip::members;
use lfb_tests::pg::PgServer;
use lfb_tests::{bin, gzip_test, run, sha256sum, store};

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LFB_CONFIG");
    c
}

/// Offsets and "last" flags of the members of an lfb gzip file, read from
/// their headers alone; asserts they tile the file exactly.
fn members_of(path: &Path) -> Vec<(u64, bool)> {
    let data = std::fs::read(path).unwrap();
    let mut at = 0usize;
    let mut v = Vec::new();
    while at < data.len() {
        let info = members::parse_header(&data[at..])
            .unwrap_or_else(|| panic!("no lfb member header at offset {at} of {}", path.display()));
        v.push((at as u64, info.last));
        at += info.size as usize;
    }
    assert_eq!(at, data.len(), "members end exactly at the end of the file");
    v
}

fn assert_several_members(path: &Path) {
    let m = members_of(path);
    assert!(m.len() >= 2, "{} has {} member(s)", path.display(), m.len());
    let lasts: Vec<bool> = m.iter().map(|x| x.1).collect();
    assert_eq!(lasts.iter().filter(|l| **l).count(), 1);
    assert!(lasts[lasts.len() - 1], "the last member is flagged last");
}

/// `gunzip -c FILE > OUT`.
fn gunzip_to(path: &Path, out: &Path) {
    let f = std::fs::File::create(out).unwrap();
    let st = Command::new("gunzip")
        .arg("-c")
        .arg(path)
        .stdout(f)
        .status()
        .unwrap();
    assert!(st.success(), "gunzip -c {}", path.display());
}

/// SHA-256 of the decompressed content as Python's gzip module reads it.
fn python_gzip_sha256(path: &Path) -> String {
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(
            "import gzip, hashlib, sys\n\
         h = hashlib.sha256()\n\
         with gzip.open(sys.argv[1], 'rb') as f:\n\
         \x20   for b in iter(lambda: f.read(1 << 20), b''):\n\
         \x20       h.update(b)\n\
         print(h.hexdigest())\n",
        )
        .arg(path));
    out.assert_ok();
    out.stdout.trim().to_string()
}

fn seed_big(pg: &PgServer, db: &str) {
    pg.create_db(db);
    // About 12 MB of plain dump: three members or more.
    pg.psql(
        db,
        "CREATE TABLE accounts (id serial PRIMARY KEY, name text);
         CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts, amount numeric, memo text);
         INSERT INTO accounts (name) SELECT 'account ' || g FROM generate_series(1, 100) g;
         INSERT INTO entries (account, amount, memo)
           SELECT 1 + g % 100, g / 7.0, md5(g::text) || md5((g * 31)::text)
           FROM generate_series(1, 120000) g;",
    );
}

#[test]
fn a_postgres_dump_is_members_that_gzip_python_and_psql_read() {
    let Some(pg) = PgServer::start("a_postgres_dump_is_members_that_gzip_python_and_psql_read")
    else {
        return;
    };
    seed_big(&pg, "ledger");
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let art = work.path().join("ledger.sql.gz");
    let out = run(lfb("lfb-dump", st.path())
        .arg("-q")
        .arg("-o")
        .arg(&art)
        .arg(pg.url("ledger")));
    out.assert_ok();
    assert_several_members(&art);

    gzip_test(&art);
    let plain = work.path().join("ledger.sql");
    gunzip_to(&art, &plain);
    let text = std::fs::read_to_string(&plain).unwrap();
    assert!(text.contains("PostgreSQL database dump complete"));
    assert_eq!(python_gzip_sha256(&art), sha256sum(&plain));

    // psql restores what gunzip -c yields, every row.
    pg.create_db("copy");
    let mut psql = pg.command("psql");
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "copy"])
        .stdin(std::fs::File::open(&plain).unwrap())
        .stdout(Stdio::null());
    let st_psql = psql.status().unwrap();
    assert!(st_psql.success());
    assert_eq!(
        pg.psql("copy", "SELECT count(*), sum(amount) FROM entries")
            .trim(),
        pg.psql("ledger", "SELECT count(*), sum(amount) FROM entries")
            .trim()
    );

    // And lfb's own reader agrees with all of them.
    let mut d = members::Decoder::new(std::fs::File::open(&art).unwrap());
    let mut mine = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut mine).unwrap();
    assert_eq!(mine, text.as_bytes());

    // lfb-verify passes it, and fails a copy cut exactly at a member
    // boundary (which gzip -t cannot tell from a whole file) in its decode
    // check, naming the offset.
    let v = run(lfb("lfb-verify", st.path()).arg(&art));
    v.assert_ok();
    let m = members_of(&art);
    let cut_at = m[1].0;
    let cut = work.path().join("cut.sql.gz");
    let bytes = std::fs::read(&art).unwrap();
    std::fs::write(&cut, &bytes[..cut_at as usize]).unwrap();
    gzip_test(&cut);
    let v = run(lfb("lfb-verify", st.path()).arg(&cut));
    v.assert_code(1);
    let rec = v.records().remove(0);
    let decode = rec["verify"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "decode")
        .unwrap_or_else(|| panic!("no decode check: {rec}"))
        .clone();
    assert_eq!(decode["ok"], false, "{rec}");
    assert!(
        decode.to_string().contains(&format!(
            "ends at byte offset {cut_at} without its last member"
        )),
        "{decode}"
    );
}

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn media_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for i in 0..6u64 {
        let dir = root.join(format!("d{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        // A photo that does not compress and a text file that does.
        let photo = noise(1_500_000 + i as usize * 1000, i + 1);
        let text: Vec<u8> = (0..40_000)
            .flat_map(|k| format!("line {k} of file {i}: some words\n").into_bytes())
            .collect();
        files.push((dir.join(format!("p{i}.jpg")), photo));
        files.push((dir.join(format!("t{i}.txt")), text));
    }
    for (p, b) in &files {
        std::fs::write(p, b).unwrap();
    }
    files
}

#[test]
fn an_archive_is_members_that_gnu_tar_and_python_extract() {
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let media = work.path().join("media");
    let files = media_tree(&media);
    let art = work.path().join("full.tar.gz");
    let out = run(lfb("lfb-archive", st.path())
        .arg("-q")
        .arg("--media")
        .arg(&media)
        .arg("-o")
        .arg(&art)
        .stdin(Stdio::null()));
    out.assert_ok();
    assert_several_members(&art);
    gzip_test(&art);

    // GNU tar extracts every file, byte for byte.
    let x = work.path().join("x");
    std::fs::create_dir_all(&x).unwrap();
    let tar = run(Command::new("tar").arg("xzf").arg(&art).arg("-C").arg(&x));
    tar.assert_ok();
    for (p, bytes) in &files {
        let rel = p.strip_prefix(work.path()).unwrap();
        let found = walk_find(&x, rel.file_name().unwrap().to_str().unwrap())
            .unwrap_or_else(|| panic!("{} not extracted", rel.display()));
        assert_eq!(
            &std::fs::read(&found).unwrap(),
            bytes,
            "{}",
            found.display()
        );
    }

    // Python's tarfile (through its gzip module) lists the same files.
    let py = run(Command::new("python3")
        .arg("-c")
        .arg(
            "import tarfile, sys\n\
             with tarfile.open(sys.argv[1], 'r:gz') as t:\n\
             \x20   print(sum(1 for m in t.getmembers() if m.isfile() and m.name.split('/')[-1][0] in 'pt'))\n",
        )
        .arg(&art));
    py.assert_ok();
    assert_eq!(py.stdout.trim(), files.len().to_string());
}

fn walk_find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.is_dir() {
            if let Some(f) = walk_find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
