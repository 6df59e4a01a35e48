//! Issue 15's "done when": the README's pipeline recipes copied verbatim
//! and run under `env -i` with a minimal PATH, and a simulated week of the
//! cron examples (under faketime) with one injected failure: exactly one
//! alert and one recovery per check, no mail on success, nothing pruned
//! after the failure.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use lfb_tests::{bin, require_db, run, skip_if_allowed, store};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tools_dir() -> PathBuf {
    bin("lfb-dump").parent().unwrap().to_path_buf()
}

fn sqlite_db(path: &Path, rows: u32) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO t(v) SELECT hex(randomblob(16)) FROM n;"
    ))
    .unwrap();
}

/// The recipes of a README section: each `# comment` line in an indented
/// block starts one, the lines up to the next comment or the block's end
/// are its commands, exactly as printed.
fn recipes(readme: &str, heading: &str) -> Vec<(String, String)> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading}"));
    let mut out: Vec<(String, String)> = Vec::new();
    for line in section.lines() {
        let Some(code) = line.strip_prefix("    ") else {
            continue;
        };
        if let Some(title) = code.strip_prefix("# ") {
            out.push((title.to_string(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(code);
            last.1.push('\n');
        }
    }
    out
}

#[test]
fn the_readme_recipes_run_verbatim_under_env_i() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let recipes = recipes(&readme, "Pipeline recipes");
    assert!(recipes.len() >= 6, "{recipes:?}");
    let st = store();
    let project = tempfile::tempdir().unwrap();
    let db = project.path().join("db.sqlite3");
    sqlite_db(&db, 300);
    // Django's manage.py, as far as the recipe needs it.
    let manage = project.path().join("manage.py");
    std::fs::write(&manage, "#!/bin/sh\ntouch migrated-\"$1\"\n").unwrap();
    std::fs::set_permissions(&manage, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A store with some history.
    for _ in 0..2 {
        run(Command::new(bin("lfb-dump"))
            .arg("--store")
            .arg(st.path())
            .args(["--tag", "hourly"])
            .arg(&db))
        .assert_ok();
    }
    for (title, code) in &recipes {
        let out = run(Command::new("env")
            .arg("-i")
            .arg(format!("PATH={}:/usr/bin:/bin", tools_dir().display()))
            .arg(format!("HOME={}", project.path().display()))
            .arg(format!("LFB_STORE={}", st.path().display()))
            .arg(format!("DATABASE_URL={}", db.display()))
            .args(["bash", "-c", code])
            .current_dir(project.path()));
        assert_eq!(
            out.code, 0,
            "recipe '{title}':\n{code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.stdout, out.stderr
        );
    }
    assert!(project.path().join("migrated-migrate").exists());
}

/// One request the ping server received: (path, body).
type Pings = Arc<Mutex<Vec<(String, String)>>>;

fn ping_server() -> (String, Pings) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Pings = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            log.lock()
                .unwrap()
                .push((path, String::from_utf8_lossy(&body).into_owned()));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
        }
    });
    (url, seen)
}

/// Whether a crontab field (`*`, `*/N`, `N`) matches a value.
fn field_matches(field: &str, v: u32) -> bool {
    match field {
        "*" => true,
        f if f.starts_with("*/") => v.is_multiple_of(f[2..].parse::<u32>().unwrap()),
        f => f.parse::<u32>().unwrap() == v,
    }
}

fn faketime() -> bool {
    Command::new("faketime")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_simulated_week_of_the_cron_examples_with_one_failure() {
    if !faketime() {
        return skip_if_allowed(
            require_db(),
            "a_simulated_week_of_the_cron_examples_with_one_failure",
            "faketime is not installed (apt-get install faketime)",
        )
        .unwrap_or(());
    }
    let crontab = std::fs::read_to_string(workspace().join("examples/crontab")).unwrap();
    let jobs: Vec<(Vec<String>, String, String)> = crontab
        .lines()
        .filter(|l| {
            l.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '*')
        })
        .map(|l| {
            let parts: Vec<&str> = l
                .splitn(6, char::is_whitespace)
                .filter(|s| !s.is_empty())
                .collect();
            let f: Vec<&str> = l.split_whitespace().take(5).collect();
            let cmd = l[l.find(parts[5].trim()).unwrap()..].trim().to_string();
            let name = cmd
                .split('/')
                .next_back()
                .unwrap()
                .trim_end_matches(".sh")
                .to_string();
            (f.iter().map(|s| s.to_string()).collect(), name, cmd)
        })
        .collect();
    assert_eq!(jobs.len(), 4);

    let st = store();
    let home = tempfile::tempdir().unwrap();
    let cargo_bin = home.path().join(".cargo/bin");
    std::fs::create_dir_all(&cargo_bin).unwrap();
    for t in [
        "lfb-dump",
        "lfb-verify",
        "lfb-prune",
        "lfb-archive",
        "lfb-guard",
        "lfb-restore",
    ] {
        std::os::unix::fs::symlink(bin(t), cargo_bin.join(t)).unwrap();
    }
    let db = home.path().join("app.sqlite3");
    sqlite_db(&db, 400);
    let missing = home.path().join("moved-away.sqlite3");
    let examples = workspace().join("examples");
    let (url, pings) = ping_server();

    let start: lfb_core::chrono::DateTime<lfb_core::chrono::Utc> =
        "2026-11-02T00:00:00Z".parse().unwrap();
    let failure_at = start + lfb_core::chrono::Duration::hours(2 * 24 + 5); // Wednesday 05:00
    let dev = st.path().join("dev");
    let listing = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dev)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    // (time, job, exit code, output) of every run.
    let mut runs: Vec<(String, String, i32, String)> = Vec::new();
    let mut before_failure = Vec::new();
    let mut after_failure = Vec::new();
    let mut t = start;
    while t < start + lfb_core::chrono::Duration::days(7) {
        use lfb_core::chrono::{Datelike, Timelike};
        for (f, name, cmd) in &jobs {
            let due = field_matches(&f[0], t.minute())
                && field_matches(&f[1], t.hour())
                && field_matches(&f[2], t.day())
                && field_matches(&f[3], t.month())
                && field_matches(&f[4], t.weekday().num_days_from_sunday());
            if !due {
                continue;
            }
            let line = cmd
                .replace("/opt/lfb/examples", &examples.to_string_lossy())
                .replace("/tmp/lfb-", &home.path().join("lock-").to_string_lossy());
            let broken = t == failure_at && name == "backup_dev_db";
            if broken {
                before_failure = listing();
            }
            let out = run(Command::new("env")
                .arg("-i")
                .arg("PATH=/usr/local/bin:/usr/bin:/bin")
                .arg(format!("HOME={}", home.path().display()))
                .arg(format!("LFB_STORE={}", st.path().display()))
                .arg(format!(
                    "DATABASE_URL={}",
                    if broken { &missing } else { &db }.display()
                ))
                .arg(format!("LFB_PING_URL={url}/{name}"))
                .arg("faketime")
                .arg(t.format("%Y-%m-%d %H:%M:%S").to_string())
                .args(["sh", "-c", &line]));
            if broken {
                after_failure = listing();
            }
            runs.push((
                lfb_core::record::format_time(t),
                name.clone(),
                out.code,
                format!("{}{}", out.stdout, out.stderr),
            ));
        }
        t += lfb_core::chrono::Duration::minutes(30);
    }

    // Mail: cron mails a job's output; only failed runs print anything.
    let mailed: Vec<&(String, String, i32, String)> =
        runs.iter().filter(|r| !r.3.is_empty()).collect();
    let failed: Vec<&(String, String, i32, String)> = runs.iter().filter(|r| r.2 != 0).collect();
    assert_eq!(
        mailed.iter().map(|r| (&r.0, &r.1)).collect::<Vec<_>>(),
        failed.iter().map(|r| (&r.0, &r.1)).collect::<Vec<_>>(),
        "mail on success: {mailed:#?}"
    );
    // The injected failure, and the guard's runs until the next hourly
    // backup succeeded (a failure is resolved by a later success of its
    // group): the only failures of the week.
    let failure_time = lfb_core::record::format_time(failure_at);
    let guard_times: Vec<String> = [0, 30]
        .iter()
        .map(|m| {
            lfb_core::record::format_time(failure_at + lfb_core::chrono::Duration::minutes(*m))
        })
        .collect();
    assert_eq!(
        failed
            .iter()
            .map(|r| (r.0.clone(), r.1.clone()))
            .collect::<Vec<_>>(),
        vec![
            (failure_time.clone(), "backup_dev_db".to_string()),
            (guard_times[0].clone(), "backup_guard".to_string()),
            (guard_times[1].clone(), "backup_guard".to_string()),
        ],
        "{failed:#?}"
    );
    assert!(
        failed[1].3.contains("journal"),
        "the guard says why: {}",
        failed[1].3
    );

    // Pings per check: every run starts, then succeeds or fails; each
    // check goes down exactly once and comes back exactly once.
    let pings = pings.lock().unwrap().clone();
    let mut states: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (path, _) in &pings {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let check = parts.next().unwrap().to_string();
        match parts.next() {
            Some("start") => {}
            Some("fail") => states.entry(check).or_default().push("down"),
            None => states.entry(check).or_default().push("up"),
            Some(other) => panic!("unexpected ping {other}"),
        }
    }
    let starts = pings.iter().filter(|(p, _)| p.ends_with("/start")).count();
    assert_eq!(starts, runs.len(), "one start ping per run");
    for (check, s) in &states {
        let mut transitions = Vec::new();
        for w in s.windows(2) {
            if w[0] != w[1] {
                transitions.push(w[1]);
            }
        }
        let expected: &[&str] = if check == "backup_dev_db" || check == "backup_guard" {
            &["down", "up"]
        } else {
            &[]
        };
        assert_eq!(transitions, expected, "{check}: {s:?}");
    }
    let fail_body = &pings
        .iter()
        .find(|(p, _)| p == "/backup_dev_db/fail")
        .unwrap()
        .1;
    assert!(fail_body.contains("moved-away.sqlite3"), "{fail_body}");

    // Nothing was pruned (nor added) by the failed run.
    assert!(!before_failure.is_empty());
    assert_eq!(before_failure, after_failure);
    let journal = std::fs::read_to_string(st.path().join("logs/journal.ndjson")).unwrap();
    assert!(
        !journal
            .lines()
            .any(|l| l.contains(&format!("\"time\":\"{failure_time}")) && l.contains("\"delete\"")),
        "a deletion at the failure"
    );
}
