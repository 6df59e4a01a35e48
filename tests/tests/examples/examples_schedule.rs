//! The examples as shipped (issue 15.8, 15.10-15.14), with SQLite so they
//! need no server: quiet on success, pings to a dead-man's switch, the env
//! file as systemd reads it with the caller's environment winning, cron's
//! PATH, the systemd units and timers, the launchd plist, the monthly
//! restore drill, and safe_migrate/safe_db_test for SQLite.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use lfb_tests::{bin, run, store};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples")
}

fn tools_dir() -> PathBuf {
    bin("lfb-dump").parent().unwrap().to_path_buf()
}

/// A script run with only the variables given, PATH and HOME.
fn script(name: &str, home: &Path, vars: &[(&str, String)]) -> Command {
    let mut c = Command::new("bash");
    c.arg(examples().join(name))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", tools_dir().display()))
        .env("HOME", home);
    for (k, v) in vars {
        c.env(k, v);
    }
    c
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

/// One request a ping server received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    body: String,
}

/// A tiny HTTP server recording every request (healthchecks.io answers
/// 200 "OK" to any method on its ping URLs).
fn ping_server() -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ping-uuid", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
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
            log.lock().unwrap().push(Request {
                method,
                path,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
        }
    });
    (url, seen)
}

fn take(seen: &Arc<Mutex<Vec<Request>>>) -> Vec<Request> {
    std::mem::take(&mut *seen.lock().unwrap())
}

#[test]
fn quiet_on_success_pings_start_success_and_fail() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let db = st.path().join("app.sqlite3");
    sqlite_db(&db, 200);
    let (url, seen) = ping_server();
    let vars = |db: &Path| {
        vec![
            ("DATABASE_URL", db.display().to_string()),
            ("LFB_STORE", st.path().display().to_string()),
            ("LFB_PING_URL", url.clone()),
        ]
    };
    // Success: not a byte on stdout or stderr (cron mails nothing), and
    // the pings /start then the URL itself with the summary.
    let out = run(&mut script("backup_dev_db.sh", home.path(), &vars(&db)));
    out.assert_ok();
    assert_eq!(out.stdout, "", "stdout of a successful run");
    assert_eq!(out.stderr, "", "stderr of a successful run");
    let reqs = take(&seen);
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ping-uuid/start", "/ping-uuid"], "{reqs:?}");
    assert!(reqs[1].body.contains("backup_dev_db.sh"), "{reqs:?}");
    assert!(reqs[1].body.contains("exit 0"), "{reqs:?}");
    assert!(reqs.iter().all(|r| r.method == "POST"));

    // Failure: loud on stderr, and /fail carries the error.
    let missing = st.path().join("missing.sqlite3");
    let out = run(&mut script(
        "backup_dev_db.sh",
        home.path(),
        &vars(&missing),
    ));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("missing.sqlite3"), "{}", out.stderr);
    let reqs = take(&seen);
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ping-uuid/start", "/ping-uuid/fail"], "{reqs:?}");
    assert!(reqs[1].body.contains("missing.sqlite3"), "{reqs:?}");

    // -v shows the steps.
    let out = run(script("backup_dev_db.sh", home.path(), &vars(&db)).arg("-v"));
    out.assert_ok();
    assert!(out.stderr.contains("hourly backup"), "{}", out.stderr);
}

#[test]
fn the_config_file_gives_the_ping_url_and_the_store() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let db = st.path().join("app.sqlite3");
    sqlite_db(&db, 100);
    let (url, seen) = ping_server();
    let cfg = home.path().join(".config/lfb");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!(
            "store = \"{}\"\n[notify]\nping = \"{url}\"\n",
            st.path().display()
        ),
    )
    .unwrap();
    // Neither LFB_STORE nor LFB_PING_URL: both come from the file.
    let vars = [("DATABASE_URL", db.display().to_string())];
    let out = run(&mut script("backup_dev_db.sh", home.path(), &vars));
    out.assert_ok();
    let reqs = take(&seen);
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ping-uuid/start", "/ping-uuid"], "{reqs:?}");
    let dumps = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".gz"))
        .count();
    assert_eq!(dumps, 1, "the dump went to the config file's store");

    // `lfb config get` itself: a value, an unset key (exit 1), a section (2).
    let lfb = |args: &[&str]| {
        run(Command::new(bin("lfb"))
            .args(args)
            .env_clear()
            .env("HOME", home.path()))
    };
    let got = lfb(&["config", "get", "notify.ping"]);
    got.assert_ok();
    assert_eq!(got.stdout.trim(), url);
    assert_eq!(lfb(&["config", "get", "notify.on_failure"]).code, 1);
    let section = lfb(&["config", "get", "notify"]);
    assert_eq!(section.code, 2, "{}", section.stderr);
    assert!(
        section.stderr.contains("'notify' is a section"),
        "{}",
        section.stderr
    );
}

/// The assignments of an EnvironmentFile as systemd.exec(5) reads it:
/// lines starting with # or ; are comments, KEY=VALUE otherwise, a value in
/// quotes loses them, and nothing is expanded. Panics on a line systemd
/// would reject or misread.
fn systemd_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: no '=': {line}", i + 1));
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "line {}: bad name {k}",
            i + 1
        );
        let v = v.trim();
        assert!(
            !v.contains(" #") && !v.contains("\t#"),
            "line {}: systemd keeps an inline comment in the value: {line}",
            i + 1
        );
        assert!(
            !v.contains('$') && !v.starts_with('~'),
            "line {}: systemd does not expand {v}",
            i + 1
        );
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        out.push((k.to_string(), v.to_string()));
    }
    out
}

#[test]
fn the_env_file_reads_as_systemd_reads_it_and_the_caller_wins() {
    let text = std::fs::read_to_string(examples().join("lfb.env.example")).unwrap();
    let vars = systemd_env_file(&text);
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"DATABASE_URL"), "{names:?}");
    assert!(names.contains(&"LFB_STORE"), "{names:?}");

    // The file names one database; the caller another: the caller's wins.
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let (file_db, caller_db) = (
        st.path().join("file.sqlite3"),
        st.path().join("caller.sqlite3"),
    );
    sqlite_db(&file_db, 10);
    sqlite_db(&caller_db, 10);
    let env_file = home.path().join("lfb.env");
    let mine = text
        .lines()
        .map(|l| {
            if l.starts_with("DATABASE_URL=") {
                format!("DATABASE_URL={}", file_db.display())
            } else if l.starts_with("LFB_STORE=") {
                format!("LFB_STORE={}", st.path().display())
            } else if l.starts_with("LFB_MEDIA_DIR=") || l.starts_with("LFB_CONFIG_FILES=") {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&env_file, &mine).unwrap();
    let env_file_var = ("LFB_ENV_FILE", env_file.display().to_string());
    let out = run(&mut script(
        "backup_dev_db.sh",
        home.path(),
        &[
            env_file_var.clone(),
            ("DATABASE_URL", caller_db.display().to_string()),
        ],
    ));
    out.assert_ok();
    let sidecars: Vec<String> = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(sidecars.len(), 1);
    assert!(sidecars[0].contains("caller.sqlite3"), "{}", sidecars[0]);
    // Without the caller's variable, the file's.
    let out = run(&mut script(
        "backup_dev_db.sh",
        home.path(),
        &[env_file_var],
    ));
    out.assert_ok();
    let all = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("file.sqlite3"), "{all}");
}

#[test]
fn cron_finds_the_tools_in_cargo_bin() {
    let crontab = std::fs::read_to_string(examples().join("crontab")).unwrap();
    assert!(!crontab.contains("|| curl"), "pings belong to the scripts");
    assert!(crontab.contains("LFB_PING_URL="));
    assert!(crontab.contains("restore_drill.sh"), "a monthly drill");
    let jobs: Vec<&str> = crontab
        .lines()
        .filter(|l| {
            l.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '*')
        })
        .collect();
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    let drill = jobs.iter().find(|l| l.contains("restore_drill")).unwrap();
    let fields: Vec<&str> = drill.split_whitespace().take(5).collect();
    assert_eq!(fields[2], "1", "monthly: {drill}");

    // The tools where `cargo install` puts them, and cron's PATH without it.
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
    let db = st.path().join("app.sqlite3");
    sqlite_db(&db, 100);
    let line = jobs[0]
        .splitn(6, char::is_whitespace)
        .nth(5)
        .unwrap()
        .trim()
        .replace("/opt/lfb/examples", &examples().to_string_lossy())
        .replace("/tmp/lfb-", &home.path().join("lock-").to_string_lossy());
    let out = run(Command::new("env")
        .arg("-i")
        .arg("PATH=/usr/local/bin:/usr/bin:/bin")
        .arg(format!("HOME={}", home.path().display()))
        .arg(format!("LFB_STORE={}", st.path().display()))
        .arg(format!("DATABASE_URL={}", db.display()))
        .args(["sh", "-c", &line]));
    out.assert_ok();
    assert_eq!(out.stderr, "");
    assert!(
        std::fs::read_dir(st.path().join("dev")).unwrap().count() >= 2,
        "an artifact and its sidecar"
    );
}

#[test]
fn systemd_units_timers_and_the_launchd_plist() {
    let dir = examples().join("systemd");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    // Every service runs a script that exists; every timer's calendar parses.
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let text = read(&name);
        for l in text.lines().filter(|l| l.starts_with("ExecStart=")) {
            if let Some(i) = l.find("/opt/lfb/examples/") {
                let script = l[i + "/opt/lfb/examples/".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap();
                assert!(examples().join(script).is_file(), "{name}: {script}");
            }
        }
        if name.ends_with(".timer") {
            let service = name.replace(".timer", ".service");
            assert!(dir.join(&service).is_file(), "{name} has no {service}");
            for l in text.lines().filter(|l| l.starts_with("OnCalendar=")) {
                let spec = &l["OnCalendar=".len()..];
                if Command::new("systemd-analyze")
                    .arg("--version")
                    .output()
                    .is_ok()
                {
                    run(Command::new("systemd-analyze").args(["calendar", spec])).assert_ok();
                }
            }
        }
    }
    assert!(dir.join("lfb-guard.timer").is_file(), "a guard timer");
    assert!(
        read("lfb-drill.timer").contains("OnCalendar=*-*-01 "),
        "monthly"
    );
    let notify = read("lfb-notify@.service");
    assert!(notify.contains("systemctl $m status") && notify.contains("m=--user"));

    // launchd: a valid plist (Python's plistlib, as plutil -lint) running
    // an example script with the tools on PATH.
    let plist = examples().join("launchd/com.example.lfb.backup-db.plist");
    let out = run(Command::new("python3").arg("-c").arg(format!(
        "import plistlib, json\n\
         p = plistlib.load(open('{}', 'rb'))\n\
         print(json.dumps(p))",
        plist.display()
    )));
    out.assert_ok();
    let p: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(p["Label"], "com.example.lfb.backup-db");
    let script = p["ProgramArguments"][1].as_str().unwrap();
    let script = script.replace("/opt/lfb/examples/", "");
    assert!(examples().join(&script).is_file(), "{script}");
    assert!(
        p["EnvironmentVariables"]["PATH"]
            .as_str()
            .unwrap()
            .contains(".cargo/bin")
    );
    assert_eq!(p["StartCalendarInterval"]["Minute"], 0);
}

#[test]
fn sqlite_works_in_safe_migrate_and_safe_db_test() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let db = st.path().join("app.sqlite3");
    sqlite_db(&db, 100);
    let marker = home.path().join("migrated");
    let vars = |env: &str| {
        vec![
            ("DATABASE_URL", db.display().to_string()),
            ("LFB_STORE", st.path().display().to_string()),
            ("LEDGER_ENV", env.to_string()),
        ]
    };
    // Outside prod: refused, saying why and what to do instead.
    let out = run(script("safe_migrate.sh", home.path(), &vars("dev"))
        .arg("touch")
        .arg(&marker));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("guards production migrations"),
        "{}",
        out.stderr
    );
    assert!(!marker.exists());
    // In prod, with SQLite: backed up, verified, migrated.
    let out = run(script("safe_migrate.sh", home.path(), &vars("prod"))
        .arg("touch")
        .arg(&marker));
    out.assert_ok();
    assert!(marker.exists());
    assert!(
        std::fs::read_dir(st.path().join("migrations"))
            .unwrap()
            .count()
            >= 2
    );

    let out = run(&mut script("safe_db_test.sh", home.path(), &vars("dev")));
    out.assert_ok();
    assert!(
        out.stdout.contains("Safety backup verified: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("lfb-restore -e test -f "),
        "{}",
        out.stdout
    );
}

#[test]
fn the_monthly_drill_is_quiet_when_it_passes_and_loud_when_it_fails() {
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let db = st.path().join("app.sqlite3");
    sqlite_db(&db, 300);
    let vars = vec![
        ("DATABASE_URL", db.display().to_string()),
        ("LFB_STORE", st.path().display().to_string()),
    ];
    for tag in ["hourly", "daily"] {
        run(Command::new(bin("lfb-dump"))
            .arg("--store")
            .arg(st.path())
            .args(["--tag", tag])
            .arg(&db))
        .assert_ok();
    }
    let out = run(&mut script("restore_drill.sh", home.path(), &vars));
    out.assert_ok();
    assert_eq!(out.stderr, "");
    // Each group's newest artifact now remembers its restore test.
    let mut drilled = 0;
    for e in std::fs::read_dir(st.path().join("dev")).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".json") {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            assert_eq!(v["verify"]["restore_test"]["ok"], true, "{v}");
            drilled += 1;
        }
    }
    assert_eq!(drilled, 2);

    // The newest daily dump is damaged: the drill fails, loudly.
    let daily = std::fs::read_dir(st.path().join("dev"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains("_daily_") && !n.ends_with(".json")
        })
        .unwrap();
    let bytes = std::fs::read(&daily).unwrap();
    std::fs::write(&daily, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(&mut script("restore_drill.sh", home.path(), &vars));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("failed"), "{}", out.stderr);
}
