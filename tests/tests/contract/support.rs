//! Tests of the test support itself (`lfb_tests`): throwaway PostgreSQL and
//! MariaDB servers start, accept the connections the lfb tests will make
//! (superuser and password-protected role by URL), compare dumps, run side by
//! side, and vanish when dropped; the skip logic, process runner, NDJSON
//! parsing and file checks behave as documented.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::pg::PgServer;
use lfb_tests::{Output, run};

fn postmaster_pid(pg: &PgServer) -> u32 {
    std::fs::read_to_string(pg.data_dir().join("postmaster.pid"))
        .expect("postmaster.pid")
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn pg_starts_and_runs_sql() {
    let t = Instant::now();
    let Some(pg) = PgServer::start("pg_starts_and_runs_sql") else {
        return;
    };
    eprintln!("PgServer started in {:?}", t.elapsed());
    assert!(pg.major() >= 10, "major {}", pg.major());
    assert!(
        pg.socket_dir()
            .join(format!(".s.PGSQL.{}", pg.port()))
            .exists()
    );
    assert_ne!(pg.port(), 5432);

    pg.create_db("shop");
    pg.psql(
        "shop",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);\n\
         INSERT INTO items VALUES (1, 'apple'), (2, 'pear');",
    );
    assert_eq!(
        pg.psql("shop", "SELECT id, name FROM items ORDER BY id;"),
        "1|apple\n2|pear\n"
    );
    assert_eq!(pg.psql("shop", "SHOW listen_addresses;"), "\n");
    assert_eq!(pg.psql("shop", "SELECT current_user;"), "postgres\n");

    // The superuser URL is accepted by libpq as psql's argument.
    let out = run(pg
        .command("psql")
        .args(["-X", "-At", "-w", "-c", "SELECT current_database()"])
        .arg(pg.url("shop")));
    out.assert_ok();
    assert_eq!(out.stdout, "shop\n");

    // Failures are reported, not swallowed.
    let out = pg.try_psql("shop", "SELECT * FROM missing_table;");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("missing_table"), "{}", out.stderr);
    let panic = std::panic::catch_unwind(|| pg.psql("shop", "SELEC 1;")).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("syntax error"), "{msg}");
}

#[test]
fn pg_password_role_by_url() {
    let Some(pg) = PgServer::start("pg_password_role_by_url") else {
        return;
    };
    // Characters that need percent-encoding in a URL.
    let password = "s3cret p@ss/wo:rd%?&=";
    pg.create_role("alice", password);
    pg.create_db_owned_by("alicedb", "alice");

    let psql = |url: &str| -> Output {
        run(pg
            .command("psql")
            .env_remove("PGPASSWORD")
            .args([
                "-X",
                "-At",
                "-w",
                "-c",
                "SELECT current_user, current_database()",
            ])
            .arg(url))
    };
    let out = psql(&pg.url_as("alice", password, "alicedb"));
    out.assert_ok();
    assert_eq!(out.stdout, "alice|alicedb\n");

    let out = psql(&pg.url_as("alice", "wrong", "alicedb"));
    assert_ne!(out.code, 0, "a wrong password must fail: {out:?}");
    assert!(
        out.stderr.contains("password authentication failed"),
        "{}",
        out.stderr
    );

    // Without a password, the role cannot log in either (scram on the socket).
    let out = psql(&format!(
        "postgresql://alice@/alicedb?host={}&port={}",
        lfb_tests::percent_encode(&pg.socket_dir().to_string_lossy()),
        pg.port()
    ));
    assert_ne!(out.code, 0, "no password must fail: {out:?}");

    // The role can create databases and owns what it creates.
    let out = run(pg
        .command("psql")
        .args(["-X", "-q", "-w", "-c", "CREATE DATABASE alice2"])
        .arg(pg.url_as("alice", password, "alicedb")));
    out.assert_ok();
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'alice2';"
        ),
        "alice\n"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'alice';"
        ),
        "t\n"
    );
}

#[test]
fn pg_dumps_of_equal_databases_are_equal() {
    let Some(pg) = PgServer::start("pg_dumps_equal") else {
        return;
    };
    let schema = "CREATE TABLE t (id serial PRIMARY KEY, v text, at timestamptz);\n\
                  CREATE INDEX t_v ON t (v);\n\
                  INSERT INTO t (v, at) VALUES ('a', '2026-01-01T00:00:00Z'), ('b', NULL);\n\
                  CREATE VIEW tv AS SELECT v FROM t;";
    for db in ["one", "two"] {
        pg.create_db(db);
        pg.psql(db, schema);
    }
    let one = pg.dump("one");
    let two = pg.dump("two");
    assert!(one.contains("CREATE TABLE public.t"), "{one}");
    assert!(!one.contains("-- Dumped from database version"));
    assert!(!one.lines().any(|l| l.starts_with("\\restrict")));
    assert_eq!(one, two);
    // Two dumps of the same database are equal too.
    assert_eq!(one, pg.dump("one"));

    pg.psql("two", "UPDATE t SET v = 'c' WHERE v = 'b';");
    assert_ne!(one, pg.dump("two"));
}

#[test]
fn two_pg_servers_at_once() {
    let (Some(a), Some(b)) = (
        PgServer::start("two_pg_servers_a"),
        PgServer::start("two_pg_servers_b"),
    ) else {
        return;
    };
    assert_ne!(a.socket_dir(), b.socket_dir());
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "CREATE TABLE only_in_a (x int);");
    b.psql("postgres", "CREATE TABLE only_in_b (x int);");
    let tables = |pg: &PgServer| {
        pg.psql(
            "postgres",
            "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public';",
        )
    };
    assert_eq!(tables(&a), "only_in_a\n");
    assert_eq!(tables(&b), "only_in_b\n");
}

#[test]
fn pg_drop_stops_the_server_and_removes_its_folder() {
    let Some(pg) = PgServer::start("pg_drop_stops") else {
        return;
    };
    let dir = pg.dir().to_path_buf();
    let pid = postmaster_pid(&pg);
    assert!(lfb_tests::process_alive(pid));
    drop(pg);
    assert!(
        !lfb_tests::process_alive(pid),
        "postmaster {pid} still running"
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn pg_server_is_stopped_when_the_test_panics() {
    if !lfb_tests::pg::installed() {
        lfb_tests::skip::<()>("pg_server_is_stopped_when_the_test_panics", "no PostgreSQL");
        return;
    }
    let seen = std::sync::Mutex::new(None::<(PathBuf, u32)>);
    let result = std::panic::catch_unwind(|| {
        let pg = PgServer::start("pg_panics").unwrap();
        *seen.lock().unwrap() = Some((pg.dir().to_path_buf(), postmaster_pid(&pg)));
        panic!("test failure while the server runs");
    });
    assert!(result.is_err());
    let (dir, pid) = seen.lock().unwrap().clone().unwrap();
    assert!(
        !lfb_tests::process_alive(pid),
        "postmaster {pid} still running"
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn mariadb_starts_and_runs_sql() {
    let t = Instant::now();
    let Some(my) = MariaDb::start("mariadb_starts_and_runs_sql") else {
        return;
    };
    eprintln!("MariaDb started in {:?}", t.elapsed());
    assert!(my.socket().exists());
    assert!(my.version().contains("MariaDB"), "{}", my.version());
    assert_eq!(
        my.sql(None, "SELECT @@skip_networking, CURRENT_USER();"),
        "1\troot@localhost\n"
    );

    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL);\n\
         INSERT INTO items VALUES (1, 'apple'), (2, 'pear');",
    );
    assert_eq!(
        my.sql(Some("shop"), "SELECT id, name FROM items ORDER BY id;"),
        "1\tapple\n2\tpear\n"
    );
    let dump = my.dump("shop");
    assert!(dump.contains("CREATE TABLE `items`"), "{dump}");
    assert!(dump.contains("'pear'"), "{dump}");

    let out = my.try_sql(Some("shop"), "SELECT * FROM missing_table;");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("missing_table"), "{}", out.stderr);

    // A user with a password (real authentication, no --skip-grant-tables).
    my.create_user("bob", "pa'ss wörd");
    let as_bob = |password: &str| {
        run(my
            .command("mariadb")
            .args(["--user=bob", "--batch", "--skip-column-names", "-e"])
            .arg("SELECT CURRENT_USER(), COUNT(*) FROM shop.items")
            .arg(format!("--password={password}")))
    };
    let out = as_bob("pa'ss wörd");
    out.assert_ok();
    assert_eq!(out.stdout, "bob@localhost\t2\n");
    let out = as_bob("wrong");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Access denied"), "{}", out.stderr);

    assert!(
        my.url("shop")
            .starts_with("mysql://root@localhost/shop?socket=%2F")
    );
}

#[test]
fn mariadb_drop_kills_the_server_and_removes_its_folder() {
    let Some(my) = MariaDb::start("mariadb_drop") else {
        return;
    };
    let dir = my.dir().to_path_buf();
    let pid: u32 = std::fs::read_to_string(dir.join("mysqld.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(lfb_tests::process_alive(pid));
    drop(my);
    assert!(
        !lfb_tests::process_alive(pid),
        "mariadbd {pid} still running"
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn skip_returns_none_when_not_required() {
    assert_eq!(
        lfb_tests::skip_if_allowed::<u8>(false, "t", "no server"),
        None
    );
}

#[test]
#[should_panic(expected = "no server")]
fn skip_panics_when_required() {
    let _: Option<u8> = lfb_tests::skip_if_allowed(true, "t", "no server");
}

/// Run only as a child of `skip_obeys_lfb_require_db`.
#[test]
#[ignore = "probe run by skip_obeys_lfb_require_db in a child process"]
fn skip_probe() {
    let skipped: Option<()> = lfb_tests::skip("skip_probe", "probe reason");
    assert!(skipped.is_none());
}

/// The full name the test harness gives test `name` of this module
/// (`support::NAME`: the path without the binary's crate name), for
/// `--exact` in a child run of this binary.
fn this_module_test(name: &str) -> String {
    let path = module_path!();
    match path.split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

#[test]
fn skip_obeys_lfb_require_db() {
    let probe = |require: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            &this_module_test("skip_probe"),
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        match require {
            Some(v) => cmd.env("LFB_REQUIRE_DB", v),
            None => cmd.env_remove("LFB_REQUIRE_DB"),
        };
        run(&mut cmd)
    };
    let out = probe(None);
    out.assert_ok();
    assert!(
        out.stderr.contains("SKIPPED skip_probe: probe reason"),
        "{out:?}"
    );
    let out = probe(Some("0"));
    out.assert_ok();
    let out = probe(Some("1"));
    assert_ne!(out.code, 0, "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("probe reason"), "{all}");
    assert!(!all.contains("SKIPPED skip_probe"), "{all}");
}

#[test]
fn run_captures_output_and_records() {
    let out = run(Command::new("sh").args([
        "-c",
        "printf '{\"a\":1}\\n\\n{\"b\":[2]}\\n'; echo oops >&2; exit 3",
    ]));
    assert_eq!(out.code, 3);
    assert_eq!(out.stderr, "oops\n");
    let records = out.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["a"], 1);
    assert_eq!(records[1]["b"][0], 2);

    // stdin is /dev/null: `cat` ends at once.
    let out = run(&mut Command::new("cat"));
    out.assert_ok();
    assert_eq!(out.stdout, "");

    let out = lfb_tests::run_with_input(Command::new("wc").arg("-c"), vec![b'x'; 1 << 20]);
    assert_eq!(out.stdout.trim(), "1048576");

    // Killed by a signal: 128 + signal.
    let out = run(Command::new("sh").args(["-c", "kill -9 $$"]));
    assert_eq!(out.code, 137);
}

#[test]
#[should_panic(expected = "stdout line 2 is not valid JSON")]
fn records_name_the_malformed_line() {
    let out = Output {
        code: 0,
        stdout: "{\"ok\":true}\n{not json\n".into(),
        stderr: String::new(),
    };
    out.records();
}

#[test]
#[should_panic(expected = "not an object")]
fn records_must_be_objects() {
    lfb_tests::parse_ndjson("[1,2]\n");
}

#[test]
fn gzip_and_sha256_use_the_real_tools() {
    let dir = lfb_tests::store();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let file = dir.path().join("abc.txt");
    std::fs::write(&file, "abc").unwrap();
    assert_eq!(
        lfb_tests::sha256sum(&file),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    run(Command::new("gzip").arg("-k").arg(&file)).assert_ok();
    let gz = dir.path().join("abc.txt.gz");
    lfb_tests::gzip_test(&gz);

    let truncated = dir.path().join("bad.gz");
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 4]).unwrap();
    let result = std::panic::catch_unwind(|| lfb_tests::gzip_test(&truncated));
    assert!(result.is_err(), "gzip -t must reject a truncated file");
}

#[test]
fn percent_encoding() {
    assert_eq!(
        lfb_tests::percent_encode("/tmp/a b:c@d%"),
        "%2Ftmp%2Fa%20b%3Ac%40d%25"
    );
    assert_eq!(lfb_tests::percent_encode("A-z_0.9~"), "A-z_0.9~");
    assert_eq!(lfb_tests::percent_encode("ö"), "%C3%B6");
}

#[test]
#[should_panic(expected = "cargo build --workspace")]
fn bin_names_the_fix_when_missing() {
    lfb_tests::bin("lfb-no-such-binary");
}

/// Run only as a child of `servers_are_cleaned_up_when_the_process_dies`:
/// starts both servers, prints their folders and pids, and exits without
/// running any `Drop`.
#[test]
#[ignore = "probe run by servers_are_cleaned_up_when_the_process_dies in a child process"]
fn abandon_servers_probe() {
    let pg = PgServer::start("abandon_pg");
    let my = MariaDb::start("abandon_my");
    if let Some(pg) = &pg {
        println!("DIR {} {}", pg.dir().display(), postmaster_pid(pg));
    }
    if let Some(my) = &my {
        let pid = std::fs::read_to_string(my.dir().join("mysqld.pid")).unwrap();
        println!("DIR {} {}", my.dir().display(), pid.trim());
    }
    std::process::exit(0);
}

#[test]
fn servers_are_cleaned_up_when_the_process_dies() {
    let out = run(Command::new(std::env::current_exe().unwrap()).args([
        "--exact",
        &this_module_test("abandon_servers_probe"),
        "--ignored",
        "--nocapture",
    ]));
    out.assert_ok();
    let servers: Vec<(PathBuf, u32)> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("DIR "))
        .map(|l| {
            let (dir, pid) = l.rsplit_once(' ').unwrap();
            (PathBuf::from(dir), pid.parse().unwrap())
        })
        .collect();
    let expected =
        usize::from(lfb_tests::pg::installed()) + usize::from(lfb_tests::mariadb::installed());
    assert_eq!(servers.len(), expected, "{out:?}");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    for (dir, pid) in servers {
        while (dir.exists() || lfb_tests::process_alive(pid)) && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(!lfb_tests::process_alive(pid), "server {pid} still running");
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

/// Servers started at the same moment must not disturb each other (MariaDB,
/// for one, deletes every `#sql*` file in its tmpdir when it starts).
#[test]
fn servers_start_concurrently() {
    std::thread::scope(|s| {
        for i in 0..3 {
            s.spawn(move || {
                let Some(pg) = PgServer::start(&format!("concurrent_pg_{i}")) else {
                    return;
                };
                pg.create_db("c");
                pg.psql(
                    "c",
                    &format!("CREATE TABLE t{i} (x int); INSERT INTO t{i} VALUES ({i});"),
                );
                assert_eq!(
                    pg.psql("c", &format!("SELECT x FROM t{i};")),
                    format!("{i}\n")
                );
            });
            s.spawn(move || {
                let Some(my) = MariaDb::start(&format!("concurrent_my_{i}")) else {
                    return;
                };
                my.create_db("c");
                my.sql(
                    Some("c"),
                    &format!("CREATE TABLE t{i} (x INT); INSERT INTO t{i} VALUES ({i});"),
                );
                assert_eq!(
                    my.sql(Some("c"), &format!("SELECT x FROM t{i};")),
                    format!("{i}\n")
                );
            });
        }
    });
}
