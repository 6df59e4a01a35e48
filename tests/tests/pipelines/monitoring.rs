//! lfb-guard for monitoring systems: Nagios perfdata thresholds in the
//! Monitoring Plugins range syntax (issue 15.6), Prometheus textfile
//! metrics labelled with the store so two stores on one host do not
//! collide, checked by promtool (issue 15.7).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use lfb_tests::{bin, run, store};

fn sqlite_store() -> tempfile::TempDir {
    let st = store();
    let db = st.path().join("app.sqlite3");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    run(Command::new(bin("lfb-dump"))
        .arg("--store")
        .arg(st.path())
        .args(["--tag", "daily"])
        .arg(&db))
    .assert_ok();
    st
}

fn guard(store: &Path) -> Command {
    let mut c = Command::new(bin("lfb-guard"));
    c.arg("--store")
        .arg(store)
        .env_remove("LFB_ENV")
        .env_remove("LEDGER_ENV");
    c
}

/// A Monitoring Plugins threshold range: `[@][start:][end]`, `~` for
/// negative infinity. Returns whether `value` alerts, or None when the
/// range is malformed.
fn alerts(range: &str, value: f64) -> Option<bool> {
    let (inside, r) = match range.strip_prefix('@') {
        Some(r) => (true, r),
        None => (false, range),
    };
    let num = |s: &str| s.parse::<f64>().ok();
    let (lo, hi) = match r.split_once(':') {
        Some((a, b)) => {
            let lo = match a {
                "~" => f64::NEG_INFINITY,
                "" => 0.0,
                a => num(a)?,
            };
            let hi = if b.is_empty() { f64::INFINITY } else { num(b)? };
            (lo, hi)
        }
        None => (0.0, num(r)?),
    };
    if lo > hi {
        return None;
    }
    let within = lo <= value && value <= hi;
    Some(if inside { within } else { !within })
}

/// (label, value, warn, crit) of each perfdata item.
fn perfdata(status_line: &str) -> Vec<(String, f64, String, String)> {
    let (_, perf) = status_line.split_once(" | ").expect("perfdata after ' | '");
    perf.split_whitespace()
        .map(|item| {
            let (label, rest) = item.split_once('=').unwrap();
            let fields: Vec<&str> = rest.split(';').collect();
            let v = fields[0].trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
            (
                label.to_string(),
                v.parse().unwrap_or_else(|_| panic!("value of {item}")),
                fields.get(1).unwrap_or(&"").to_string(),
                fields.get(2).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

#[test]
fn nagios_thresholds_follow_the_range_syntax_and_agree_with_the_status() {
    let st = sqlite_store();
    for (args, status, code) in [
        (vec![], "OK", 0),
        (vec!["--min-free", "1000000GiB"], "CRITICAL", 2),
    ] {
        let out = run(guard(st.path()).arg("--nagios").args(&args));
        assert_eq!(out.code, code, "{}", out.stdout);
        let line = out.stdout.lines().next().unwrap();
        assert!(line.starts_with(&format!("LFB {status} - ")), "{line}");
        let perf = perfdata(line);
        let mut alerting = Vec::new();
        for (label, value, warn, crit) in &perf {
            for (which, t) in [("warn", warn), ("crit", crit)] {
                if t.is_empty() {
                    continue;
                }
                let a = alerts(t, *value)
                    .unwrap_or_else(|| panic!("{label}: malformed {which} range '{t}'"));
                if a {
                    alerting.push(format!("{label}:{which}"));
                }
            }
        }
        if status == "OK" {
            assert!(alerting.is_empty(), "{line}: {alerting:?}");
        } else {
            // The free-space threshold says why, and the count agrees.
            assert!(alerting.contains(&"free:crit".to_string()), "{line}");
            assert!(alerting.contains(&"criticals:crit".to_string()), "{line}");
        }
        let free = perf.iter().find(|p| p.0 == "free").expect("free perfdata");
        assert!(free.3.ends_with(':'), "critical below the minimum: {line}");
    }
}

fn series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect()
}

#[test]
fn prometheus_metrics_of_two_stores_merge_without_collisions() {
    let (a, b) = (sqlite_store(), sqlite_store());
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (st, name) in [(&a, "a.prom"), (&b, "b.prom")] {
        let f = dir.path().join(name);
        run(guard(st.path()).arg("-q").arg("--prometheus").arg(&f)).assert_ok();
        files.push(std::fs::read_to_string(&f).unwrap());
    }
    let promtool = Command::new("promtool").arg("--version").output().is_ok();
    for text in &files {
        // Every series names its store.
        for s in series(text) {
            assert!(s.contains("{store=\""), "{s}");
            let name = s.split('{').next().unwrap();
            if name.contains("size") || name.contains("free") {
                assert!(name.ends_with("_bytes"), "{name}");
            }
            if name.contains("age") || name.contains("timestamp") || name.contains("run") {
                assert!(name.ends_with("_seconds"), "{name}");
            }
        }
        if promtool {
            let f = dir.path().join("check.prom");
            std::fs::write(&f, text).unwrap();
            let out = run(Command::new("sh")
                .arg("-c")
                .arg(format!("promtool check metrics < '{}'", f.display())));
            out.assert_ok();
        } else {
            let f = dir.path().join("check.prom");
            std::fs::write(&f, text).unwrap();
            let out = run(Command::new("python3").arg("-c").arg(format!(
                "from prometheus_client.parser import text_string_to_metric_families as p\n\
                 list(p(open('{}').read()))",
                f.display()
            )));
            out.assert_ok();
        }
    }
    // What node_exporter's textfile collector sees: the series of both
    // files together, none twice.
    let all: Vec<String> = files.iter().flat_map(|t| series(t)).collect();
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "duplicate series: {all:#?}");
}

#[test]
fn guard_reports_a_group_whose_newest_restore_test_is_over_a_month_old() {
    let st = sqlite_store();
    let now = lfb_core::chrono::Utc::now();
    let at =
        |days: i64| lfb_core::record::format_time(now + lfb_core::chrono::Duration::days(days));
    let drill = |days: i64, extra: &[&str]| {
        let out = run(guard(st.path())
            .args(["--skip", "freshness,journal", "--now", &at(days)])
            .args(extra));
        out.records()
            .into_iter()
            .filter(|r| r["finding"]["check"] == "drill")
            .map(|r| r["finding"]["severity"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // Never restore-tested: not due while the group is young, a warning
    // once it is older than the window.
    assert_eq!(drill(0, &[]), ["ok"]);
    assert_eq!(drill(40, &[]), ["warn"]);
    // A restore test is remembered and counts for a month.
    let dump = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.to_string_lossy().ends_with(".json"))
        .unwrap();
    run(Command::new(bin("lfb-verify"))
        .arg("--store")
        .arg(st.path())
        .arg("--restore-test")
        .arg(&dump))
    .assert_ok();
    assert_eq!(drill(20, &[]), ["ok"]);
    assert_eq!(drill(40, &[]), ["warn"]);
    assert_eq!(drill(40, &["--max-drill-age", "60d"]), ["ok"]);
    // And it is in the metrics.
    let prom = st.path().join("m.prom");
    run(guard(st.path()).arg("-q").arg("--prometheus").arg(&prom)).assert_ok();
    let text = std::fs::read_to_string(&prom).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("lfb_last_restore_test_timestamp_seconds{"))
        .unwrap();
    assert!(!line.ends_with(" 0"), "{line}");
}

#[test]
fn guard_reports_a_newest_backup_whose_remembered_verification_failed() {
    let st = sqlite_store();
    let dump = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.to_string_lossy().ends_with(".json"))
        .unwrap();
    let sidecar = format!("{}.json", dump.display());
    let good = std::fs::read_to_string(&sidecar).unwrap();
    let verification = |st: &Path| {
        run(guard(st).args(["--skip", "journal"]))
            .records()
            .into_iter()
            .filter(|r| r["finding"]["check"] == "verification")
            .map(|r| r["finding"]["severity"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(verification(st.path()).is_empty());
    // The record promises rows the dump does not hold: the restore test
    // fails, and lfb-verify remembers it.
    std::fs::write(&sidecar, good.replace("\"t\":2", "\"t\":5")).unwrap();
    let out = run(Command::new(bin("lfb-verify"))
        .arg("--store")
        .arg(st.path())
        .arg("--restore-test")
        .arg(&dump));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(verification(st.path()), ["crit"]);
    // Verified again and passing: quiet.
    let fixed = std::fs::read_to_string(&sidecar)
        .unwrap()
        .replace("\"t\":5", "\"t\":2");
    std::fs::write(&sidecar, fixed).unwrap();
    run(Command::new(bin("lfb-verify"))
        .arg("--store")
        .arg(st.path())
        .arg("--restore-test")
        .arg(&dump))
    .assert_ok();
    assert!(verification(st.path()).is_empty());
}
