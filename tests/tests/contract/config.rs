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

/// lfb-archive takes the environment's `media` and `config` from the file;
/// `--media` and `--config` replace them (each list as a whole); the
/// environment chosen by `LFB_ENV` or `-e` picks the section.
#[test]
fn archive_sources_come_from_the_environment_section() {
    let home = tempfile::tempdir().unwrap();
    let st = store();
    let media = home.path().join("media");
    std::fs::create_dir_all(media.join("uploads")).unwrap();
    std::fs::write(media.join("uploads/a.txt"), b"a").unwrap();
    std::fs::write(media.join("b.txt"), b"b").unwrap();
    let other = home.path().join("other-media");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("c.txt"), b"c").unwrap();
    std::fs::write(home.path().join(".env"), b"SECRET=1\n").unwrap();
    let cfg = home.path().join("lfb.toml");
    std::fs::write(
        &cfg,
        format!(
            "store = \"{st}\"\n[env.prod]\nmedia = [\"{media}\"]\nconfig = [\"~/.env\"]\n",
            st = st.path().display(),
            media = media.display(),
        ),
    )
    .unwrap();
    let archive = |args: &[&str], vars: &[(&str, &str)]| {
        let mut c = tool("lfb-archive", home.path());
        c.arg("--config-file").arg(&cfg).args(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = lfb_tests::run_with_input(&mut c, "");
        out.assert_ok();
        out.records()[0].clone()
    };
    // The file's media folder and config file, for the environment given
    // by the flag or by LFB_ENV.
    for (args, vars) in [
        (&["-e", "prod"][..], &[][..]),
        (&[][..], &[("LFB_ENV", "prod")][..]),
    ] {
        let r = archive(args, vars);
        assert_eq!(r["env"], "prod", "{r}");
        assert_eq!(r["members"]["media"]["count"], 2, "{r}");
        assert_eq!(r["members"]["config"]["count"], 1, "{r}");
    }
    // The flag replaces the file's list; the other list still comes from
    // the file.
    let r = archive(&["-e", "prod", "--media", other.to_str().unwrap()], &[]);
    assert_eq!(r["members"]["media"]["count"], 1, "{r}");
    assert_eq!(r["members"]["config"]["count"], 1, "{r}");
    // An environment the file has no section for: nothing but the dumps.
    let r = archive(&["-e", "dev"], &[]);
    assert_eq!(r["members"]["media"]["count"], 0, "{r}");
    assert_eq!(r["members"]["config"]["count"], 0, "{r}");
    // A media folder the file names that does not exist stops the run.
    std::fs::write(
        &cfg,
        format!(
            "store = \"{}\"\n[env.prod]\nmedia = [\"/nonexistent/lfb-media\"]\n",
            st.path().display()
        ),
    )
    .unwrap();
    let out = lfb_tests::run_with_input(
        tool("lfb-archive", home.path())
            .arg("--config-file")
            .arg(&cfg)
            .args(["-e", "prod"]),
        "",
    );
    out.assert_code(2);
    // The message says where the folder was named: the file, not a flag.
    assert!(
        out.stderr.contains("media of [env.prod] in '")
            && out.stderr.contains("lfb.toml' '/nonexistent/lfb-media'"),
        "{}",
        out.stderr
    );
}

/// A bad config file stops every tool, also when the store comes from
/// `--store` (lfb-list, lfb-guard and lfb-copy used to read the file only
/// when it gave the store, and ran on with a broken one).
#[test]
fn every_tool_refuses_a_bad_file_even_with_store_given() {
    let home = tempfile::tempdir().unwrap();
    let st = home.path().join("store");
    std::fs::create_dir_all(st.join("dev")).unwrap();
    let cfg = home.path().join("c.toml");
    std::fs::write(&cfg, "[env.prod]\ndatbase = \"sqlite:///x\"\n").unwrap();
    let dest = home.path().join("offsite");
    let cases: [(&str, &[&str]); 7] = [
        ("lfb-list", &[]),
        ("lfb-guard", &[]),
        ("lfb-verify", &["--all"]),
        (
            "lfb-prune",
            &["--keep-last", "1", "--no-stdin", "--dry-run"],
        ),
        (
            "lfb-restore",
            &["--latest", "--dry-run", "sqlite:///x.sqlite3"],
        ),
        ("lfb-copy", &["--all", "--to"]),
        ("lfb-archive", &["--media"]),
    ];
    for (name, args) in cases {
        let mut c = tool(name, home.path());
        c.arg("--store")
            .arg(&st)
            .arg("--config-file")
            .arg(&cfg)
            .args(args);
        if name == "lfb-copy" {
            c.arg(&dest);
        }
        if name == "lfb-archive" {
            c.arg(home.path());
        }
        let out = run(&mut c);
        out.assert_code(2);
        assert!(
            out.stderr.contains("line 2") && out.stderr.contains("datbase"),
            "{name}: {}",
            out.stderr
        );
    }
    assert!(!dest.exists(), "lfb-copy created its destination");
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

/// Issue 20: `production` of the config file makes a restore into that
/// database a production restore (as `$LFB_PROD_DATABASES` does): `--yes`
/// is not enough, `--confirm NAME` is.
#[test]
fn production_databases_come_from_the_config_file_too() {
    let home = tempfile::tempdir().unwrap();
    let st = store();
    let db = sqlite_db(home.path(), "shop.sqlite3");
    let cfg = home.path().join("lfb.toml");
    std::fs::write(&cfg, "production = [\"shop.sqlite3\"]\n").unwrap();
    let out = run(tool("lfb-dump", home.path())
        .arg("--store")
        .arg(st.path())
        .arg(&db));
    out.assert_ok();
    let restore = |extra: &[&str], with_cfg: bool| {
        let mut c = tool("lfb-restore", home.path());
        c.env_remove("LFB_PROD_DATABASES")
            .arg("--store")
            .arg(st.path())
            .args(["--latest", "--no-safety-backup"])
            .args(extra)
            .arg(&db);
        if with_cfg {
            c.arg("--config-file").arg(&cfg);
        }
        run(&mut c)
    };
    // Without the file it is an ordinary restore.
    restore(&["--yes"], false).assert_ok();
    let out = restore(&["--yes"], true);
    out.assert_code(2);
    assert!(
        out.stderr.contains("production restore")
            && out
                .stderr
                .contains("listed in production of the config file")
            && out.stderr.contains("--confirm shop.sqlite3"),
        "{}",
        out.stderr
    );
    restore(&["--confirm", "shop.sqlite3"], true).assert_ok();
}

/// Issue 20: tools that only read never create the store, and say it does
/// not exist; an unknown `--env` is an error naming the environments there
/// are; a `--tag` no backup has says so.
#[test]
fn read_only_tools_refuse_a_missing_store_an_unknown_env_and_tag() {
    let home = tempfile::tempdir().unwrap();
    let st = store();
    let db = sqlite_db(home.path(), "app.sqlite3");
    let gone = st.path().join("nope");
    let tools: [&[&str]; 5] = [
        &["lfb-verify", "--all"],
        &["lfb-guard"],
        &["lfb-list"],
        &["lfb-prune", "--keep-last", "1", "--dry-run", "--no-stdin"],
        &["lfb-restore", "--latest", "--yes"],
    ];
    for t in tools {
        let mut c = tool(t[0], home.path());
        c.arg("--store").arg(&gone).args(&t[1..]);
        if t[0] == "lfb-restore" {
            c.arg(&db);
        }
        let out = run(&mut c);
        out.assert_code(2);
        assert!(
            out.stderr
                .contains(&format!("store '{}' does not exist", gone.display())),
            "{t:?}: {}",
            out.stderr
        );
        assert!(!gone.exists(), "{t:?} created the store");
    }
    run(tool("lfb-dump", home.path())
        .arg("--store")
        .arg(st.path())
        .args(["--tag", "hourly"])
        .arg(&db))
    .assert_ok();
    let tools: [&[&str]; 5] = [
        &["lfb-verify", "--all"],
        &["lfb-guard"],
        &["lfb-list"],
        &["lfb-prune", "--keep-last", "1", "--dry-run", "--no-stdin"],
        &["lfb-restore", "--latest", "--yes"],
    ];
    for t in tools {
        let mut c = tool(t[0], home.path());
        c.arg("--store")
            .arg(st.path())
            .args(&t[1..])
            .args(["--env", "production"]);
        if t[0] == "lfb-restore" {
            c.arg(&db);
        }
        let out = run(&mut c);
        out.assert_code(2);
        assert!(
            out.stderr.contains("no environment 'production' in store")
                && out.stderr.contains("(it has: dev)"),
            "{t:?}: {}",
            out.stderr
        );
    }
    let out = run(tool("lfb-restore", home.path())
        .arg("--store")
        .arg(st.path())
        .args(["--latest", "--yes", "--tag", "hourlyy"])
        .arg(&db));
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("has tag 'hourlyy' (tags there: hourly)"),
        "{}",
        out.stderr
    );
    for t in [
        &["lfb-list", "--tag", "hourlyy"][..],
        &[
            "lfb-prune",
            "--keep-last",
            "1",
            "--no-stdin",
            "--tag",
            "hourlyy",
        ],
    ] {
        let out = run(tool(t[0], home.path())
            .arg("--store")
            .arg(st.path())
            .args(&t[1..]));
        out.assert_ok();
        assert!(
            out.stderr.contains("no artifact has tag 'hourlyy'") && out.stderr.contains("hourly)"),
            "{t:?}: {}",
            out.stderr
        );
    }
}

/// `lfb-restore --latest --yes` with no target restores into the
/// environment's database from the config file, as `lfb-dump` backs it up;
/// a target given (or $DATABASE_URL) wins.
#[test]
fn restore_takes_its_target_from_the_environment_section() {
    let home = tempfile::tempdir().unwrap();
    let st = home.path().join("backups");
    let db = sqlite_db(home.path(), "app.sqlite3");
    let cfg_dir = home.path().join(".config/lfb");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!(
            "store = \"{}\"\ndefault_env = \"dev\"\n[env.dev]\ndatabase = \"sqlite:///{}\"\nname = \"app\"\n",
            st.display(),
            db.display()
        ),
    )
    .unwrap();
    run(tool("lfb-dump", home.path()).args(["--tag", "manual"])).assert_ok();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DELETE FROM t;").unwrap();
    drop(conn);
    let out = run(tool("lfb-restore", home.path()).args(["--latest", "--yes"]));
    out.assert_ok();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3, "restored into the config file's database");

    // Without the section's database, the message says where one can come from.
    std::fs::write(
        cfg_dir.join("config.toml"),
        format!("store = \"{}\"\n", st.display()),
    )
    .unwrap();
    let out = run(tool("lfb-restore", home.path()).args(["--latest", "--yes"]));
    out.assert_code(2);
    assert!(out.stderr.contains("[env.ENV] database"), "{}", out.stderr);
}
