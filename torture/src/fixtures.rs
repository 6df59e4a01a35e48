//! What the attacks work on: a PostgreSQL source, a SQLite source, a
//! project with media, and one pristine artifact of every format.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lfb_tests::pg::PgServer;
use serde_json::Value;

use crate::{Bins, Config, Rng, new_store, run};

/// A pristine artifact: its file and its record.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub label: &'static str,
    pub path: PathBuf,
    pub record: Value,
}

/// Everything the sections share.
#[derive(Debug)]
pub struct Fixtures {
    pub work: PathBuf,
    pub pg: Option<PgServer>,
    pub pg_missing: Option<String>,
    /// The SQLite source database.
    pub sqlite: PathBuf,
    /// A project folder with `media/` (for lfb-archive), its cwd.
    pub project: PathBuf,
    /// Pristine artifacts, in a store of their own.
    pub artifacts: Vec<Artifact>,
}

/// The PostgreSQL source database.
pub const SRC_DB: &str = "src";

impl Fixtures {
    pub fn make(work: &Path, bins: &Bins, cfg: &Config) -> Fixtures {
        let mut rng = Rng(cfg.seed ^ 0xF1);
        let pg = PgServer::start("lfb-torture");
        let pg_missing = pg
            .is_none()
            .then(|| "no PostgreSQL server programs (or cannot run them)".to_string());
        if let Some(pg) = &pg {
            pg.create_db(SRC_DB);
            pg.psql(SRC_DB, &source_sql(cfg.pg_rows));
        }

        let sqlite = work.join("app.db");
        {
            let c = rusqlite::Connection::open(&sqlite).expect("sqlite source");
            c.execute_batch(
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n INTEGER);
                 CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);",
            )
            .expect("sqlite schema");
            let tx = c.unchecked_transaction().expect("tx");
            for i in 0..(cfg.pg_rows / 2).max(2000) {
                tx.execute(
                    "INSERT INTO notes (body, n) VALUES (?1, ?2)",
                    rusqlite::params![format!("note {i} {:x}", rng.next_u64()), i as i64],
                )
                .expect("insert");
            }
            tx.execute("INSERT INTO tags (name) VALUES ('a'), ('b')", [])
                .expect("insert");
            tx.commit().expect("commit");
        }

        let project = work.join("project");
        fs::create_dir_all(project.join("media/photos")).expect("media");
        for i in 0..6 {
            let n = if cfg.pg_rows >= 100_000 {
                4 << 20
            } else {
                128 << 10
            };
            fs::write(project.join(format!("media/photos/p{i}.bin")), rng.bytes(n))
                .expect("media file");
        }
        fs::write(project.join("media/readme.txt"), "hello\n".repeat(500)).expect("media");

        let pristine = new_store(work, "pristine");
        let mut artifacts = Vec::new();
        let mut dump = |label: &'static str, args: &[&str], source: &str| {
            let r = run(
                bins.cmd("lfb-dump")
                    .arg("--store")
                    .arg(&pristine)
                    .args(args)
                    .arg(source),
                None,
                Duration::from_secs(300),
            );
            let rec = r.records().into_iter().next();
            match rec {
                Some(rec) if r.code == Some(0) => {
                    let path = PathBuf::from(rec["path"].as_str().unwrap_or_default());
                    artifacts.push(Artifact {
                        label,
                        path,
                        record: rec,
                    });
                }
                _ => panic!("fixture dump {label} failed: {}", r.stderr),
            }
        };
        let sqlite_s = sqlite.to_string_lossy().into_owned();
        dump("sqlite sql.gz", &["--name", "lite"], &sqlite_s);
        dump(
            "sqlite native",
            &["--name", "litenative", "-F", "native"],
            &sqlite_s,
        );
        if let Some(pg) = &pg {
            let url = pg.url(SRC_DB);
            dump("pg sql.gz", &["--name", "app"], &url);
            dump(
                "pg custom",
                &["--name", "appc", "-F", "custom", "--tag", "pre-migration"],
                &url,
            );
        }
        // A full archive of the first dump and the media.
        let first = artifacts[0].record.to_string() + "\n";
        let r = run(
            bins.cmd("lfb-archive")
                .current_dir(&project)
                .arg("--store")
                .arg(&pristine)
                .args(["--name", "site", "--media", "media"]),
            Some(first.as_bytes()),
            Duration::from_secs(300),
        );
        match r.records().into_iter().find(|v| v["kind"] == "full") {
            Some(rec) if r.code == Some(0) => artifacts.push(Artifact {
                label: "full tar.gz",
                path: PathBuf::from(rec["path"].as_str().unwrap_or_default()),
                record: rec,
            }),
            _ => panic!("fixture archive failed: {}", r.stderr),
        }
        Fixtures {
            work: work.to_path_buf(),
            pg,
            pg_missing,
            sqlite,
            project,
            artifacts,
        }
    }

    pub fn artifact(&self, label: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.label == label)
    }
}

/// Copies an artifact (and, when `sidecar`, its sidecar with `path` set to
/// the copy) into `store/<folder>/`; returns the copy and its record.
pub fn install(a: &Artifact, store: &Path, folder: &str, sidecar: bool) -> (PathBuf, Value) {
    let dir = store.join(folder);
    fs::create_dir_all(&dir).expect("store folder");
    let dest = dir.join(a.path.file_name().expect("file name"));
    fs::copy(&a.path, &dest).expect("copy artifact");
    let mut rec = a.record.clone();
    rec["path"] = Value::String(dest.to_string_lossy().into_owned());
    if sidecar {
        fs::write(format!("{}.json", dest.display()), format!("{rec}\n")).expect("sidecar");
    }
    (dest, rec)
}

/// The source database: two related tables, big enough that a dump or a
/// restore takes a while.
pub fn source_sql(rows: usize) -> String {
    format!(
        "CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL);
         CREATE TABLE entries (id bigserial PRIMARY KEY, account int REFERENCES accounts,
                               amount numeric, memo text);
         INSERT INTO accounts (name) SELECT 'acct ' || g FROM generate_series(1, 100) g;
         INSERT INTO entries (account, amount, memo)
           SELECT 1 + g % 100, g / 7.0, md5(g::text) || md5((g * 3)::text)
           FROM generate_series(1, {rows}) g;"
    )
}

/// A restore target's state before a restore: something else entirely.
pub const TARGET_SQL: &str = "CREATE TABLE accounts (id int PRIMARY KEY, name text);
     INSERT INTO accounts VALUES (1, 'old'), (2, 'older');
     CREATE TABLE legacy (x int); INSERT INTO legacy SELECT generate_series(1, 50);";

/// A fingerprint of a PostgreSQL database's contents: its normalized dump.
pub fn pg_fingerprint(pg: &PgServer, db: &str) -> String {
    let out = lfb_tests::run(
        pg.command("pg_dump")
            .args(["--no-owner", "--dbname"])
            .arg(pg.url(db)),
    );
    if out.code != 0 {
        return format!("pg_dump failed: {}", out.stderr);
    }
    crate::sha_text(&lfb_tests::pg::normalize_dump(&out.stdout))
}

/// A fingerprint of a SQLite file's contents (missing: "missing").
pub fn sqlite_fingerprint(p: &Path) -> String {
    if !p.exists() {
        return "missing".into();
    }
    let out = lfb_tests::run(std::process::Command::new("sqlite3").arg(p).arg(".dump"));
    if out.code != 0 {
        return format!("unreadable: {}", out.stderr);
    }
    crate::sha_text(&out.stdout)
}
