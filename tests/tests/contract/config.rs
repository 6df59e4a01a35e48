//! The config file: `lfb-dump -e prod` needs nothing else; flags beat
//! environment variables beat the file; passwords come by reference (a
//! file, a variable) and never show; a malformed file names its line and
//! key (exit 2); `lfb config check` prints the resolved configuration with
//! secrets masked.

use std::path::Path;
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, store};

/// A tool with a clean environment: no store, env or database variables,
/// and `HOME` in `home` so no user config file is found.
fn tool(name: &str, home: &Path) -> Command {
    let mut c = Command::new(bin(name));
    for v in [
        "LFB_STORE",
        "LFB_ENV",
        "LEDGER_ENV",
        "DATABASE_URL",
        "LFB_CONFIG",
        "XDG_CONFIG_HOME",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", home);
    c
}

fn sqlite_db(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    let c = rusqlite::Connection::open(&p).unwrap();
    c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
        .unwrap();
    p
}

#[test]
fn dump_with_only_the_config_file() {
    let home = tempfile::tempdir().unwrap();
    let st = store();
    let db = sqlite_db(home.path(), "app.sqlite3");
    let cfg_dir = home.path().join(".config/lfb");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "store = \"{}\"\n[env.prod]\ndatabase = \"sqlite:///{}\"\nname = \"myapp\"\n",
            st.path().display(),
            db.display()
        ),
    )
    .unwrap();
    // Found through ~/.config/lfb/config.toml: the store, the database and
    // the name all come from the file.
    let out = run(tool("lfb-dump", home.path()).args(["-e", "prod"]));
    out.assert_ok();
    let rec = &out.records()[0];
    assert_eq!(rec["env"], "prod");
    assert!(
        rec["id"].as_str().unwrap().starts_with("myapp_db_manual_"),
        "{rec}"
    );
    assert!(
        rec["path"]
            .as_str()
            .unwrap()
            .starts_with(&st.path().join("prod").display().to_string())
    );
    assert_eq!(rec["source"]["tables"]["t"], 3);

    // An environment the file does not describe: the message says where a
    // database can come from, and a failure record still goes down the pipe.
    let out = run(tool("lfb-dump", home.path()).args(["-e", "dev"]));
    out.assert_code(2);
    assert!(
        out.stderr.contains("$DATABASE_URL") && out.stderr.contains("[env.dev]"),
        "{}",
        out.stderr
    );
    assert!(out.records()[0]["error"].is_object());
}

#[test]
fn flags_beat_environment_beat_the_file() {
    let home = tempfile::tempdir().unwrap();
    let (file_store, env_store, flag_store) = (store(), store(), store());
    let db = sqlite_db(home.path(), "app.sqlite3");
    let cfg = home.path().join("lfb.toml");
    std::fs::write(
        &cfg,
        format!(
            "store = \"{st}\"\ndefault_env = \"test\"\n[env.test]\ndatabase = \"{db}\"\n\
             [env.dev]\ndatabase = \"{db}\"\n[env.prod]\ndatabase = \"{db}\"\n",
            db = db.display(),
            st = file_store.path().display(),
        ),
    )
    .unwrap();
    let dump = |extra: &[&str], vars: &[(&str, &Path)]| {
        let mut c = tool("lfb-dump", home.path());
        c.arg("--config-file").arg(&cfg).args(extra);
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = run(&mut c);
        out.assert_ok();
        out.records()[0].clone()
    };
    let r = dump(&[], &[]);
    assert!(
        r["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/test/", file_store.path().display())),
        "{r}"
    );
    let r = dump(
        &[],
        &[
            ("LFB_STORE", env_store.path()),
            ("LFB_ENV", Path::new("dev")),
        ],
    );
    assert!(
        r["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/dev/", env_store.path().display())),
        "{r}"
    );
    let mut flag = vec!["--store", flag_store.path().to_str().unwrap(), "-e", "prod"];
    let r = dump(
        &flag,
        &[
            ("LFB_STORE", env_store.path()),
            ("LFB_ENV", Path::new("dev")),
        ],
    );
    assert!(
        r["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/prod/", flag_store.path().display())),
        "{r}"
    );
    // DATABASE_URL beats the file's database; the argument beats both.
    let other = sqlite_db(home.path(), "other.sqlite3");
    let r = dump(&[], &[("DATABASE_URL", &other)]);
    assert!(
        r["source"]["database"]
            .as_str()
            .unwrap()
            .ends_with("other.sqlite3"),
        "{r}"
    );
    flag.truncate(0);
    flag.push(db.to_str().unwrap());
    let r = dump(&flag, &[("DATABASE_URL", &other)]);
    assert!(
        r["source"]["database"]
            .as_str()
            .unwrap()
            .ends_with("app.sqlite3"),
        "{r}"
    );
    // LFB_CONFIG is the file when --config-file is not given.
    let out = run(tool("lfb-dump", home.path()).env("LFB_CONFIG", &cfg));
    out.assert_ok();
    assert_eq!(out.records()[0]["env"], "test");
}

#[test]
fn malformed_files_name_the_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        (
            "store = \"/x\"\n\n[env.prod]\ndatbase = \"sqlite:///x\"\n",
            "line 4",
            "datbase",
        ),
        (
            "[env.prod]\ndatabase = \"nosuch://x\"\n",
            "line 2",
            "env.prod.database",
        ),
        (
            "[retention.hourly]\nkeep_within = \"a while\"\n",
            "line 2",
            "retention.hourly.keep_within",
        ),
        ("store = \"/x\"\nstore = \"/y\"\n", "line 2", "store"),
        ("[env.prod\n", "line 1", ""),
    ];
    for (text, line, key) in cases {
        let cfg = home.path().join("c.toml");
        std::fs::write(&cfg, text).unwrap();
        let out = run(tool("lfb-dump", home.path())
            .arg("--config-file")
            .arg(&cfg)
            .arg("x.sqlite3"));
        out.assert_code(2);
        let want = format!("config file '{}', {line}", cfg.display());
        assert!(
            out.stderr.contains(&want) && out.stderr.contains(key),
            "{text:?}: {}",
            out.stderr
        );
        let check = run(tool("lfb", home.path())
            .args(["config", "check", "--config-file"])
            .arg(&cfg));
        check.assert_code(2);
        assert!(check.stderr.contains(&want), "{}", check.stderr);
    }
    // A named file that does not exist is an error, not "no config".
    let out = run(tool("lfb-dump", home.path())
        .env("LFB_CONFIG", home.path().join("nope.toml"))
        .arg("x.sqlite3"));
    out.assert_code(2);
    assert!(
        out.stderr.contains("nope.toml") && out.stderr.contains("LFB_CONFIG"),
        "{}",
        out.stderr
    );
}

#[test]
fn passwords_by_reference_never_shown() {
    let Some(pg) = PgServer::start("config_passwords") else {
        return;
    };
    pg.create_role("app", "s3cret-Pw!");
    pg.create_db("shop");
    pg.psql(
        "shop",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1); GRANT SELECT ON t TO app;",
    );
    let home = tempfile::tempdir().unwrap();
    let st = store();
    let pw = home.path().join("prod.password");
    std::fs::write(&pw, "s3cret-Pw!\n").unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // The URL without its password, the password from the file.
    let url = pg.url_as("app", "x", "shop").replacen("app:x@", "app@", 1);
    let cfg = home.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "store = \"{}\"\n[env.prod]\ndatabase = \"{url}\"\npassword_file = \"{}\"\n[notify]\nping = \"https://hc-ping.com/0a1b2c3d-secret\"\n",
            st.path().display(),
            pw.display()
        ),
    )
    .unwrap();
    let out = run(tool("lfb-dump", home.path())
        .arg("--config-file")
        .arg(&cfg)
        .args(["-e", "prod"]));
    out.assert_ok();
    assert_eq!(
        out.records()[0]["source"]["tables"]["public.t"],
        1,
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"));
    let journal = std::fs::read_to_string(st.path().join("logs/journal.ndjson")).unwrap();
    assert!(!journal.contains("s3cret"));

    // Without the file's password the server refuses: the password really
    // came from password_file.
    std::fs::write(&pw, "wrong\n").unwrap();
    let out = run(tool("lfb-dump", home.path())
        .arg("--config-file")
        .arg(&cfg)
        .args(["-e", "prod"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("wrong"));

    let check = run(tool("lfb", home.path())
        .args(["config", "check", "--config-file"])
        .arg(&cfg));
    check.assert_ok();
    assert!(
        check.stdout.contains("password: *** (from file"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("https://hc-ping.com/***"),
        "{}",
        check.stdout
    );
    for secret in ["s3cret", "wrong", "0a1b2c3d"] {
        assert!(
            !check.stdout.contains(secret) && !check.stderr.contains(secret),
            "{secret} shown"
        );
    }
}
