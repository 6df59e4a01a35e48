//! The drop-in scripts in examples/ against a throwaway PostgreSQL: the
//! migration runs only behind a verified backup, and the crontab lines work
//! in cron's minimal environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, store};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples")
}

/// PATH with the lfb binaries first.
fn path_with_tools() -> String {
    let dir = bin("lfb-dump").parent().unwrap().to_path_buf();
    format!("{}:/usr/local/bin:/usr/bin:/bin", dir.display())
}

/// A script run with only the variables given (plus PATH and HOME).
fn script(name: &str, vars: &[(&str, String)]) -> Command {
    let mut c = Command::new("bash");
    c.arg(examples().join(name))
        .env_clear()
        .env("PATH", path_with_tools())
        .env("HOME", std::env::temp_dir());
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn artifacts(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|n| !n.ends_with(".json"));
    v.sort();
    v
}

fn seed(pg: &PgServer, db: &str, owner: Option<&str>) {
    match owner {
        Some(o) => pg.create_db_owned_by(db, o),
        None => pg.create_db(db),
    }
    pg.psql(db, "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT md5(g::text) FROM generate_series(1, 500) g;");
    if let Some(o) = owner {
        pg.psql(
            db,
            &format!("ALTER TABLE t OWNER TO {o}; ALTER SEQUENCE t_id_seq OWNER TO {o};"),
        );
    }
}

#[test]
fn safe_migrate_runs_the_migration_only_after_a_verified_backup() {
    let Some(pg) = PgServer::start("safe_migrate") else {
        return;
    };
    seed(&pg, "ledger", None);
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("migrated");
    let migrate = ["touch", marker.to_str().unwrap()];
    let vars = |env: &str, url: String| {
        vec![
            ("LEDGER_ENV", env.to_string()),
            ("DATABASE_URL", url),
            ("LFB_STORE", st.path().to_string_lossy().into_owned()),
        ]
    };

    // Not prod: refused, nothing dumped, nothing run.
    let out = run(script("safe_migrate.sh", &vars("dev", pg.url("ledger"))).args(migrate));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not prod"), "{}", out.stderr);
    assert!(!marker.exists());
    assert!(artifacts(&st.path().join("migrations")).is_empty());

    // The dump fails (no such database): the migration never runs.
    let out = run(script("safe_migrate.sh", &vars("prod", pg.url("missing"))).args(migrate));
    assert_ne!(out.code, 0);
    assert!(!marker.exists());

    // The dump works but the test restore fails (the role may not create
    // the scratch database): the migration never runs.
    pg.create_role("app", "app-pw-1");
    pg.psql("postgres", "ALTER ROLE app NOCREATEDB");
    seed(&pg, "owned", Some("app"));
    let out = run(script(
        "safe_migrate.sh",
        &vars("prod", pg.url_as("app", "app-pw-1", "owned")),
    )
    .args(migrate));
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("restore failed"), "{}", out.stderr);
    assert!(!marker.exists());

    // All good: a verified custom-format dump in migrations/, then the migration.
    let out = run(script("safe_migrate.sh", &vars("prod", pg.url("ledger"))).args(migrate));
    out.assert_ok();
    assert!(marker.exists());
    let made: Vec<String> = artifacts(&st.path().join("migrations"))
        .into_iter()
        .filter(|n| n.starts_with("ledger_db_pre-migration_") && n.ends_with(".dump"))
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
}

#[test]
fn hourly_script_dumps_verifies_and_never_prunes_after_a_failure() {
    let Some(pg) = PgServer::start("hourly_script") else {
        return;
    };
    seed(&pg, "ledger", None);
    let st = store();
    let vars = |url: String| {
        vec![
            ("DATABASE_URL", url),
            ("LFB_STORE", st.path().to_string_lossy().into_owned()),
            ("LEDGER_ENV", "dev".to_string()),
        ]
    };
    // An old backup that retention would delete once a new good one exists.
    let out = run(&mut script("backup_dev_db.sh", &vars(pg.url("ledger"))));
    out.assert_ok();
    let dev = st.path().join("dev");
    let first = artifacts(&dev);
    assert_eq!(first.len(), 1, "{first:?}");
    let old = dev.join("ledger_db_hourly_20200101T000000Z.sql.gz");
    std::fs::copy(dev.join(&first[0]), &old).unwrap();

    // A failing dump: the script fails and retention deletes nothing.
    let out = run(&mut script("backup_dev_db.sh", &vars(pg.url("missing"))));
    assert_ne!(out.code, 0);
    assert!(old.exists(), "retention ran after a failed backup");

    // A good run: the old one goes, the new ones stay.
    let out = run(&mut script("backup_dev_db.sh", &vars(pg.url("ledger"))));
    out.assert_ok();
    assert!(!old.exists());
    assert_eq!(artifacts(&dev).len(), 2);
}

#[test]
fn safe_db_test_prints_the_exact_restore_command_and_it_works() {
    let Some(pg) = PgServer::start("safe_db_test") else {
        return;
    };
    seed(&pg, "ledger", None);
    let st = store();
    let out = run(&mut script(
        "safe_db_test.sh",
        &[
            ("DATABASE_URL", pg.url("ledger")),
            ("LFB_STORE", st.path().to_string_lossy().into_owned()),
            ("LEDGER_ENV", "dev".to_string()),
        ],
    ));
    out.assert_ok();
    let cmd = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("lfb-restore"))
        .unwrap()
        .trim()
        .to_string();
    assert!(cmd.contains("-e test"), "{cmd}");
    pg.psql("ledger", "DELETE FROM t WHERE id > 10;");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{cmd} --store {} '{}'",
            st.path().display(),
            pg.url("ledger")
        ))
        .env("PATH", path_with_tools()));
    out.assert_ok();
    assert_eq!(pg.psql("ledger", "SELECT count(*) FROM t").trim(), "500");
}

#[test]
fn restore_db_clean_keeps_the_original_flags() {
    let Some(pg) = PgServer::start("restore_db_clean") else {
        return;
    };
    seed(&pg, "ledger", None);
    let st = store();
    let out = run(Command::new(bin("lfb-dump"))
        .arg("--store")
        .arg(st.path())
        .args(["--env", "prod"])
        .arg(pg.url("ledger")));
    out.assert_ok();
    let file = out.records()[0]["path"].as_str().unwrap().to_string();
    let name = Path::new(&file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    pg.psql("ledger", "DROP TABLE t;");
    let mut c = script(
        "restore_db_clean.sh",
        &[
            ("LFB_STORE", st.path().to_string_lossy().into_owned()),
            ("PGHOST", pg.socket_dir().to_string_lossy().into_owned()),
            ("PGPORT", pg.port().to_string()),
        ],
    );
    // Without --confirm, prod is refused.
    let out = run(c.args(["-e", "prod", "-f", &name, "-u", "postgres", "-d", "ledger"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let mut c = script(
        "restore_db_clean.sh",
        &[
            ("LFB_STORE", st.path().to_string_lossy().into_owned()),
            ("PGHOST", pg.socket_dir().to_string_lossy().into_owned()),
            ("PGPORT", pg.port().to_string()),
        ],
    );
    let out = run(c.args([
        "-e",
        "prod",
        "-f",
        &name,
        "-u",
        "postgres",
        "-d",
        "ledger",
        "--confirm",
        "ledger",
    ]));
    out.assert_ok();
    assert_eq!(pg.psql("ledger", "SELECT count(*) FROM t").trim(), "500");
}

#[test]
fn the_crontab_lines_work_in_crons_minimal_environment() {
    let Some(pg) = PgServer::start("crontab_lines") else {
        return;
    };
    seed(&pg, "ledger", None);
    let st = store();
    let work = tempfile::tempdir().unwrap();
    let crontab = std::fs::read_to_string(examples().join("crontab")).unwrap();
    // The job lines, made to run here: real paths, private locks, and the
    // failure ping (no network here) turned into a file.
    let jobs: Vec<String> = crontab
        .lines()
        .filter(|l| {
            l.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '*')
        })
        .map(|l| {
            l.splitn(6, char::is_whitespace)
                .nth(5)
                .unwrap()
                .trim()
                .replace("/opt/lfb/examples", &examples().to_string_lossy())
                .replace("/tmp/lfb-", &work.path().join("lock-").to_string_lossy())
                .replace(
                    "curl -fsS -m 10 https://hc-ping.com/YOUR-UUID/fail >/dev/null",
                    &format!("touch {}", work.path().join("pinged").display()),
                )
        })
        .collect();
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    let cron = |line: &str, url: String| {
        run(Command::new("env")
            .arg("-i")
            .arg(format!("PATH={}", path_with_tools()))
            .arg(format!("HOME={}", work.path().display()))
            .arg(format!("LFB_STORE={}", st.path().display()))
            .arg(format!("DATABASE_URL={url}"))
            .args(["sh", "-c", line]))
    };
    for line in &jobs {
        let out = cron(line, pg.url("ledger"));
        out.assert_ok();
        assert!(
            !work.path().join("pinged").exists(),
            "{line}: {}",
            out.stderr
        );
    }
    let made = artifacts(&st.path().join("dev"));
    assert!(made.iter().any(|n| n.contains("_db_hourly_")), "{made:?}");
    assert!(made.iter().any(|n| n.contains("_full_daily_")), "{made:?}");
    // A failing hourly run fails loudly (cron mails it; the script pings
    // LFB_PING_URL/fail, tested in examples_schedule.rs).
    let out = cron(&jobs[0], pg.url("missing"));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
}

#[test]
fn daily_full_script_and_guard_script() {
    let Some(pg) = PgServer::start("full_and_guard") else {
        return;
    };
    seed(&pg, "ledger", None);
    let st = store();
    let project = tempfile::tempdir().unwrap();
    let media = project.path().join("media");
    std::fs::create_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("uploads/receipt.pdf"), vec![3u8; 40_000]).unwrap();
    std::fs::write(project.path().join(".env"), "DEBUG=0\n").unwrap();
    std::fs::write(project.path().join("docker-compose.yml"), "services: {}\n").unwrap();
    let vars = vec![
        ("DATABASE_URL", pg.url("ledger")),
        ("LFB_STORE", st.path().to_string_lossy().into_owned()),
        ("LEDGER_ENV", "dev".to_string()),
        ("LFB_MEDIA_DIR", media.to_string_lossy().into_owned()),
        (
            "LFB_CONFIG_FILES",
            format!(
                "{}/.env {}/docker-compose.yml",
                project.path().display(),
                project.path().display()
            ),
        ),
    ];
    let out = run(script("backup_dev_full.sh", &vars).current_dir(project.path()));
    out.assert_ok();
    let dev = artifacts(&st.path().join("dev"));
    assert_eq!(dev.len(), 1, "one archive, the dump consumed: {dev:?}");
    assert!(dev[0].starts_with("ledger_full_daily_") && dev[0].ends_with(".tar.gz"));
    let listing = run(Command::new("tar")
        .arg("tzf")
        .arg(st.path().join("dev").join(&dev[0])));
    listing.assert_ok();
    assert!(
        listing.stdout.lines().next() == Some("manifest.json"),
        "{}",
        listing.stdout
    );
    assert!(listing.stdout.contains("config/.env"));
    assert!(listing.stdout.contains("receipt.pdf"));

    // The guard script: healthy, then loud (with the alert command) once
    // the newest backup is damaged.
    let alert = project.path().join("alert.json");
    let mut gvars = vars.clone();
    gvars.push(("LFB_ALERT_CMD", format!("cat > {}", alert.display())));
    let out = run(&mut script("backup_guard.sh", &gvars));
    out.assert_ok();
    assert!(
        !alert.exists(),
        "{}",
        std::fs::read_to_string(&alert).unwrap_or_default()
    );
    let archive = st.path().join("dev").join(&dev[0]);
    let mut data = std::fs::read(&archive).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&archive, &data).unwrap();
    let out = run(&mut script("backup_guard.sh", &gvars));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let summary = std::fs::read_to_string(&alert).unwrap();
    assert!(summary.contains("\"crit\""), "{summary}");
}
