//! The "to undo" command lfb-restore prints after a MariaDB restore works
//! as printed, without a password on argv: the password comes from
//! `$DATABASE_URL` as it did for the restore (whether the restore's target
//! came from DATABASE_URL or from TARGET on the command line).

use std::path::Path;
use std::process::Command;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::{bin, run, store};

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("MYSQL_PWD")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

/// Runs the printed undo command as a user would paste it, with the
/// DATABASE_URL of the restore in the environment.
fn run_undo(undo: &str, database_url: &str) -> lfb_tests::Output {
    let dir = bin("lfb-restore").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    run(Command::new("sh")
        .arg("-c")
        .arg(undo)
        .env("PATH", path)
        .env("DATABASE_URL", database_url)
        .env_remove("MYSQL_PWD")
        .env_remove("LFB_ENV"))
}

#[test]
fn the_mariadb_undo_command_works_as_printed_without_a_password_on_argv() {
    let Some(my) = MariaDb::start("mariadb_undo") else {
        return;
    };
    my.create_user("app", "s3cret-pw");
    my.create_db("shop");
    my.sql(
        Some("shop"),
        "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t SELECT seq FROM seq_1_to_100;",
    );
    let url = my.url_as("app", "s3cret-pw", "shop");
    let st = store();
    let dumped = run(lfb("lfb-dump", st.path()).arg(&url));
    dumped.assert_ok();
    let rec = dumped.records().remove(0);
    let artifact = rec["path"].as_str().unwrap().to_string();

    for target_on_argv in [false, true] {
        my.sql(Some("shop"), "INSERT INTO t VALUES (1000);");
        let mut cmd = lfb("lfb-restore", st.path());
        cmd.args(["--yes", "-f", &artifact]);
        if target_on_argv {
            cmd.arg(&url);
        } else {
            cmd.env("DATABASE_URL", &url);
        }
        let out = run(&mut cmd);
        out.assert_ok();
        assert_eq!(
            my.sql(Some("shop"), "SELECT COUNT(*) FROM t;").trim(),
            "100"
        );
        let undo = out.records()[0]["restore"]["undo"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!undo.contains("s3cret-pw"), "{undo}");
        assert!(!out.stderr.contains("s3cret-pw"), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("to undo: {undo}")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("password: "), "{}", out.stderr);
        if target_on_argv {
            assert!(out.stderr.contains("set DATABASE_URL"), "{}", out.stderr);
        }
        // As printed: the row added before the restore comes back.
        let u = run_undo(&undo, &url);
        assert_eq!(u.code, 0, "{undo}\n{}", u.stderr);
        assert_eq!(
            my.sql(Some("shop"), "SELECT COUNT(*) FROM t;").trim(),
            "101"
        );
        my.sql(Some("shop"), "DELETE FROM t WHERE id = 1000;");
    }
}
