//! The published record schema (`docs/record.schema.json`) against every
//! tool's real output: a week of work on a real PostgreSQL and a SQLite
//! database (dumps in every format, an archive, verification passed and
//! failed, a restore test, a restore, pruning, the guard, the inventory,
//! failures and usage errors), every stdout line validated with the
//! reference `jsonschema` validator (Python), so the contract cannot drift
//! from what the tools print.

use std::path::Path;
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, run_with_input, store};

fn tool(name: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV")
        .env_remove("DATABASE_URL")
        .env("LFB_STORE", store);
    c
}

/// Validates every line with Python's jsonschema (Draft 2020-12). Returns
/// one message per invalid line.
fn validate(lines: &[String]) -> Vec<String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/record.schema.json");
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
bad = 0
for n, line in enumerate(sys.stdin, 1):
    rec = json.loads(line)
    for e in v.iter_errors(rec):
        bad += 1
        print(f"line {n}: {'/'.join(map(str, e.absolute_path))}: {e.message}: {line.strip()[:300]}")
print(f"checked {n} records", file=sys.stderr)
"#;
    let input = lines.join("\n") + "\n";
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).arg(&schema);
    let out = run_with_input(&mut cmd, input);
    if out.stderr.contains("No module named 'jsonschema'") {
        panic!("python3 -m pip install jsonschema (.ci/run installs it)");
    }
    assert!(out.code == 0, "validator failed: {}", out.stderr);
    out.stdout.lines().map(String::from).collect()
}

fn lines(out: &lfb_tests::Output) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn every_tools_output_matches_the_published_schema() {
    let s = store();
    let st = s.path();
    let home = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut keep = |out: &lfb_tests::Output, what: &str| {
        let l = lines(out);
        assert!(!l.is_empty(), "{what} printed no record: {}", out.stderr);
        for line in &l {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for k in v.as_object().unwrap().keys() {
                seen.insert(k.clone());
            }
        }
        all.extend(l);
    };

    // SQLite: the demo database, SQL and native.
    let demo = run(tool("lfb-dump", st)
        .env("HOME", home.path())
        .args(["--demo", "--tag", "hourly"]));
    demo.assert_ok();
    keep(&demo, "dump --demo");
    let native = run(tool("lfb-dump", st)
        .env("HOME", home.path())
        .args(["--demo", "-F", "native"]));
    keep(&native, "dump native");
    let verified = run_with_input(tool("lfb-verify", st).arg("--restore-test"), &demo.stdout);
    verified.assert_ok();
    keep(&verified, "verify --restore-test");
    let target = home.path().join("copy.sqlite3");
    std::fs::copy(
        home.path().join(".local/share/lfb/demo/ledgerflow.sqlite3"),
        &target,
    )
    .unwrap();
    let restored = run_with_input(
        tool("lfb-restore", st)
            .args(["--yes", "--from", "ledgerflow"])
            .arg(&target),
        &demo.stdout,
    );
    restored.assert_ok();
    keep(&restored, "restore");
    let media = home.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("a.txt"), "a").unwrap();
    let archive = run_with_input(
        tool("lfb-archive", st).arg("--media").arg(&media),
        &demo.stdout,
    );
    archive.assert_ok();
    keep(&archive, "archive");

    // PostgreSQL: plain and custom.
    if let Some(pg) = PgServer::start("schema") {
        pg.create_db("shop");
        pg.psql(
            "shop",
            "CREATE TABLE t (x int); INSERT INTO t SELECT generate_series(1, 50);",
        );
        let plain = run(tool("lfb-dump", st)
            .args(["--tag", "daily"])
            .arg(pg.url("shop")));
        plain.assert_ok();
        keep(&plain, "pg dump");
        let custom = run(tool("lfb-dump", st)
            .args(["-F", "custom"])
            .arg(pg.url("shop")));
        custom.assert_ok();
        keep(&custom, "pg dump custom");
        let rt = run_with_input(tool("lfb-verify", st).arg("--restore-test"), &custom.stdout);
        keep(&rt, "pg restore-test");
    }

    // Failures: a damaged artifact, a failed dump, a usage error.
    let bad = run_with_input(
        &mut tool("lfb-verify", st),
        "{\"schema\":\"lfb/1\",\"path\":\"/nonexistent/x_db_hourly_20260101T000000Z.sql.gz\",\"sha256\":\"00\"}\n",
    );
    assert_eq!(bad.code, 1);
    keep(&bad, "verify failed");
    let failed =
        run(tool("lfb-dump", st).arg("postgresql://nobody@/nonexistent?host=/nonexistent"));
    assert_ne!(failed.code, 0);
    keep(&failed, "dump failed");

    // The store as a whole.
    keep(&run(tool("lfb-verify", st).arg("--all")), "verify --all");
    keep(&run(&mut tool("lfb-list", st)), "list");
    keep(&run(&mut tool("lfb-guard", st)), "guard");
    let pruned = run(tool("lfb-prune", st).args(["--keep-last", "1", "--dry-run"]));
    keep(&pruned, "prune");

    for section in [
        "source", "stats", "members", "verify", "restore", "prune", "error", "finding",
    ] {
        assert!(
            seen.contains(section),
            "no output carried a {section} section: {seen:?}"
        );
    }
    let problems = validate(&all);
    assert!(
        problems.is_empty(),
        "{} records do not match docs/record.schema.json:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_schema_rejects_what_the_contract_forbids() {
    let bad = [
        r#"{"schema":"lfb/2","id":"x"}"#,
        r#"{"schema":"lfb/1","id":"x","kind":"db","env":"dev","tag":"Hourly","path":"/p","created_at":"2026-01-01T00:00:00Z","format":"sql"}"#,
        r#"{"schema":"lfb/1","id":"x","kind":"dump","env":"dev","tag":"h","path":"/p","created_at":"2026-01-01T00:00:00Z","format":"sql"}"#,
        r#"{"schema":"lfb/1","id":"x","env":"dev"}"#,
        r#"{"schema":"lfb/1","verify":{"ok":"yes","at":"2026-01-01T00:00:00Z","checks":[]}}"#,
        r#"{"schema":"lfb/1","source":{"tables":{"t":-1}}}"#,
        r#"{"schema":"lfb/1","error":{}}"#,
    ];
    let lines: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
    let problems = validate(&lines);
    for n in 1..=bad.len() {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("line {n}:"))),
            "line {n} was accepted: {}",
            bad[n - 1]
        );
    }
}
