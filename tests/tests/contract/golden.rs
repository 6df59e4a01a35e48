//! Golden output: every tool's NDJSON on one fixed scenario, field for field.
//!
//! The records are the contract between the tools (and with users' `jq`
//! lines), so a refactor must not change them by accident. This test runs
//! one scenario through every tool — PostgreSQL dumps in both formats, a
//! SQLite dump, a MariaDB dump, an archive, verification (with a test restore), a failed
//! dump flowing through the pipeline, prune, list, copy, guard, restore —
//! and compares each tool's records, with what legitimately differs between
//! runs masked (times, the temporary paths, checksums and sizes of
//! compressed files, durations, process ids), against
//! `tests/golden/scenario.ndjson`. Keys, their order, every stable value and
//! the types of the masked ones are compared.
//!
//! A deliberate change to the records: `LFB_UPDATE_GOLDEN=1 cargo test -p
//! lfb-tests --test contract golden`, then review the diff of the golden file.

use std::path::Path;
use std::process::Command;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::pg::PgServer;
use lfb_tests::{Output, bin, run, run_with_input, store};
use regex::Regex;
use serde_json::{Map, Value};

/// Number-valued keys whose values differ from run to run.
const VOLATILE_NUMBERS: &[&str] = &[
    "size",
    "bytes",
    "compressed_bytes",
    "duration_ms",
    "elapsed_ms",
    "ms",
    "seconds",
    "pid",
    "age_seconds",
    "free_bytes",
    "total_bytes",
    "mtime",
    "uid",
    "gid",
    "port",
    "uploaded_bytes",
    "growth_bytes_per_day",
    "days_left",
];

/// String-valued keys whose values differ from run to run (ids hashed from
/// times) or with the machine's installed servers.
const VOLATILE_STRINGS: &[&str] = &["ack_id", "server_version"];

/// Masks what legitimately varies between runs of the same scenario.
struct Masker {
    rules: Vec<(Regex, String)>,
}

impl Masker {
    fn new(paths: &[(&Path, &str)]) -> Masker {
        let mut rules: Vec<(Regex, String)> = paths
            .iter()
            .map(|(p, name)| {
                (
                    Regex::new(&regex::escape(&p.display().to_string())).unwrap(),
                    format!("<{name}>"),
                )
            })
            .collect();
        let host = hostname();
        if !host.is_empty() {
            rules.push((
                Regex::new(&format!(r"\b{}\b", regex::escape(&host))).unwrap(),
                "<host>".into(),
            ));
        }
        for (re, to) in [
            (r"\d{8}T\d{6}Z", "<stamp>"),
            (
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                "<time>",
            ),
            (r"\b[0-9a-f]{64}\b", "<sha256>"),
            (r"\.\d+\.partial", ".<pid>.partial"),
            (r"lfb_(scratch|verify|restore)_[0-9a-z_]+", "lfb_$1_<n>"),
            (
                r"\b\d+(\.\d+)? ?(B|KiB|MiB|GiB|kB|MB|GB|ms|s)\b",
                "<quantity>",
            ),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
            (r"port=\d+", "port=<port>"),
            (r"\.s\.PGSQL\.\d+", ".s.PGSQL.<port>"),
            (r"@:\d+/", "@:<port>/"),
            // pg_dump 15.14+ writes a random `\restrict` key into every dump,
            // so the compressed size of the same data differs by a few bytes.
            (r"\d+ bytes, as recorded", "<n> bytes, as recorded"),
            (r"\d+ days at", "<n> days at"),
            (r"--ack [0-9a-f]{12}", "--ack <id>"),
            (r"\(PostgreSQL\) [0-9.]+", "(PostgreSQL) <version>"),
            (r"Ver [0-9.]+ Distrib [^,]+", "Ver <version>"),
            (r"SQLite [0-9.]+", "SQLite <version>"),
        ] {
            rules.push((Regex::new(re).unwrap(), to.into()));
        }
        Masker { rules }
    }

    fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (re, to) in &self.rules {
            out = re.replace_all(&out, to.as_str()).into_owned();
        }
        out
    }

    fn value(&self, key: Option<&str>, v: &Value) -> Value {
        match v {
            Value::String(_) if key.is_some_and(|k| VOLATILE_STRINGS.contains(&k)) => {
                Value::String("<string>".into())
            }
            Value::String(s) => Value::String(self.text(s)),
            Value::Number(_) if key.is_some_and(|k| VOLATILE_NUMBERS.contains(&k)) => {
                Value::String("<number>".into())
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(key, i)).collect()),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(self.text(k), self.value(Some(k), v));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

fn hostname() -> String {
    let out = run(&mut Command::new("hostname"));
    out.stdout.trim().to_string()
}

/// One step of the scenario: its label, the exit code and the records.
struct Step {
    label: &'static str,
    out: Output,
}

fn tool(name: &str, st: &Path) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.arg("--store")
        .arg(st)
        .env_remove("DATABASE_URL")
        .env_remove("LFB_STORE")
        .env_remove("LFB_ENV")
        .env_remove("LFB_CONFIG")
        .env("XDG_CONFIG_HOME", st.join(".no-config"))
        .env("NO_COLOR", "1")
        // Not inside a git checkout: the archive's git section would name it.
        .current_dir(st.parent().unwrap());
    cmd
}

fn first_line(out: &Output) -> String {
    out.stdout.lines().next().unwrap_or_default().to_string()
}

#[test]
fn every_tools_records_match_the_golden_file() {
    let Some(pg) = PgServer::start("golden") else {
        return;
    };
    pg.create_db("shop");
    pg.psql(
        "shop",
        "CREATE TABLE customer (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO customer SELECT g, 'customer ' || g FROM generate_series(1, 3000) g;
         CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customer, total numeric(10,2));
         INSERT INTO orders (customer, total) SELECT 1 + g % 3000, g * 1.25 FROM generate_series(1, 12000) g;
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 1000;",
    );
    pg.create_db("shop_copy");
    let Some(my) = MariaDb::start("golden") else {
        return;
    };
    my.create_db("crm");
    my.sql(
        Some("crm"),
        "CREATE TABLE lead (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL) ENGINE=InnoDB;
         INSERT INTO lead SELECT seq, CONCAT('lead', seq, '@example.com') FROM seq_1_to_1500;",
    );
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let sqlite_db = work.path().join("app.sqlite3");
    {
        let conn = rusqlite::Connection::open(&sqlite_db).unwrap();
        conn.execute_batch(
            "CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO note SELECT i, 'note number ' || i FROM n;",
        )
        .unwrap();
    }
    let media = work.path().join("media");
    std::fs::create_dir_all(media.join("avatars")).unwrap();
    for i in 0..20 {
        std::fs::write(
            media.join("avatars").join(format!("u{i}.txt")),
            format!("avatar {i}\n").repeat(200),
        )
        .unwrap();
    }
    let settings = work.path().join("settings.env");
    std::fs::write(&settings, "DEBUG=0\nALLOWED_HOSTS=example.com\n").unwrap();
    let offsite = work.path().join("offsite");
    let sqlite_url = format!("sqlite:///{}", sqlite_db.display());

    let mut steps: Vec<Step> = Vec::new();
    let mut step = |label: &'static str, out: Output| {
        // The exit code is part of the golden text; a crash is not.
        assert!(out.code < 100, "{label}: exit {}\n{}", out.code, out.stderr);
        steps.push(Step {
            label,
            out: out.clone(),
        });
        out
    };

    let plain = step(
        "dump postgres plain",
        run(tool("lfb-dump", st.path())
            .args(["--tag", "daily"])
            .arg(pg.url("shop"))),
    );
    step(
        "dump postgres custom",
        run(tool("lfb-dump", st.path())
            .args(["--tag", "weekly", "--format", "custom"])
            .arg(pg.url("shop"))),
    );
    let sqlite = step(
        "dump sqlite",
        run(tool("lfb-dump", st.path())
            .args(["--tag", "daily"])
            .arg(&sqlite_url)),
    );
    step(
        "dump sqlite native",
        run(tool("lfb-dump", st.path())
            .args(["--tag", "daily", "--format", "native"])
            .arg(&sqlite_url)),
    );
    let mariadb = step(
        "dump mariadb",
        run(tool("lfb-dump", st.path())
            .args(["--tag", "daily"])
            .arg(my.url("crm"))),
    );
    let failed = step(
        "dump a database that does not exist",
        run(tool("lfb-dump", st.path())
            .args(["--tag", "daily"])
            .arg(pg.url("no_such_database"))),
    );
    step(
        "archive",
        run(tool("lfb-archive", st.path())
            .args(["--tag", "weekly", "--name", "site"])
            .arg("--media")
            .arg(&media)
            .arg("--config")
            .arg(&settings)),
    );
    step(
        "verify the postgres dump with a test restore",
        run_with_input(
            tool("lfb-verify", st.path()).arg("--restore-test"),
            first_line(&plain),
        ),
    );
    step(
        "verify the sqlite dump with a test restore",
        run_with_input(
            tool("lfb-verify", st.path()).arg("--restore-test"),
            first_line(&sqlite),
        ),
    );
    step(
        "verify the mariadb dump with a test restore",
        run_with_input(
            tool("lfb-verify", st.path()).arg("--restore-test"),
            first_line(&mariadb),
        ),
    );
    step(
        "verify passes a failure record on",
        run_with_input(&mut tool("lfb-verify", st.path()), first_line(&failed)),
    );
    step(
        "verify everything",
        run(tool("lfb-verify", st.path()).arg("--all")),
    );
    step(
        "prune after a failure deletes nothing",
        run_with_input(
            tool("lfb-prune", st.path()).args(["--tag", "daily", "--keep-last", "1"]),
            first_line(&failed),
        ),
    );
    step(
        "prune dry run",
        run(tool("lfb-prune", st.path()).args([
            "--tag",
            "daily",
            "--keep-last",
            "1",
            "--dry-run",
            "--no-stdin",
        ])),
    );
    step(
        "list",
        run(tool("lfb-list", st.path()).env("LFB_COLOR", "never")),
    );
    step(
        "copy to a folder",
        run(tool("lfb-copy", st.path())
            .arg("--all")
            .arg("--to")
            .arg(&offsite)),
    );
    step(
        "restore the plain dump into another database",
        run(tool("lfb-restore", st.path())
            .args(["--latest", "--tag", "daily", "--from", "shop", "--yes"])
            .arg(pg.url("shop_copy"))),
    );
    step(
        "guard",
        run(tool("lfb-guard", st.path()).args(["--max-age", "daily=1d"])),
    );

    let masker = Masker::new(&[
        (st.path(), "store"),
        (work.path(), "work"),
        (pg.dir(), "pg"),
        (my.dir(), "mariadb"),
    ]);
    let mut text = String::new();
    for s in &steps {
        text.push_str(&format!("# {} (exit {})\n", s.label, s.out.code));
        let mut lines: Vec<String> = s
            .out
            .records()
            .iter()
            .map(|r| serde_json::to_string(&masker.value(None, r)).unwrap())
            .collect();
        // Artifacts made in the same second tie on time, and `--all` walks
        // folders in the file system's order: compare each step's records
        // as a set (the order of a step's records is not what this pins).
        lines.sort();
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/scenario.ndjson");
    if std::env::var_os("LFB_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (LFB_UPDATE_GOLDEN=1 writes it)", golden.display()));
    if want != text {
        let mut report = String::new();
        for (i, (w, g)) in want.lines().zip(text.lines()).enumerate() {
            if w != g {
                report.push_str(&format!("line {}:\n  want {w}\n  got  {g}\n", i + 1));
            }
        }
        let (wn, gn) = (want.lines().count(), text.lines().count());
        if wn != gn {
            report.push_str(&format!("{wn} lines in the golden file, {gn} now\n"));
        }
        panic!("records differ from {}:\n{report}", golden.display());
    }
}
