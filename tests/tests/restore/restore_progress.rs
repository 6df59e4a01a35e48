//! A restore that takes more than a moment shows, on a terminal, how much of
//! the artifact it has loaded and how many tables (PostgreSQL); nothing of
//! that when stderr is not a terminal (cron).

use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, store};

#[test]
fn a_long_restore_shows_bytes_and_tables_loaded_on_a_terminal() {
    let Some(pg) = PgServer::start("restore_progress") else {
        return;
    };
    if Command::new("script").arg("--version").output().is_err() {
        panic!("script (util-linux) is needed to give the restore a terminal");
    }
    pg.create_db("shop");
    pg.psql(
        "shop",
        "CREATE TABLE a (id int, pad text); \
         INSERT INTO a SELECT g, md5(g::text) || repeat('x', 200) FROM generate_series(1, 1500000) g; \
         CREATE TABLE b (id int); INSERT INTO b SELECT generate_series(1, 1000);",
    );
    let st = store();
    let out = run(Command::new(bin("lfb-dump"))
        .env_remove("LFB_CONFIG")
        .arg("--store")
        .arg(st.path())
        .args(["--tag", "hourly"])
        .arg(pg.url("shop")));
    out.assert_ok();
    let rec = &out.records()[0];
    let path = rec["path"].as_str().unwrap();
    // Under script(1) stderr is a terminal. The restore must take more
    // than the second after which the line first appears: 1.5 million rows.
    let cmd = format!(
        "{} --store {} --yes --no-safety-backup -f {} '{}'",
        bin("lfb-restore").display(),
        st.path().display(),
        path,
        pg.url("shop")
    );
    let tty = run(Command::new("script").args(["-qec", &cmd, "/dev/null"]));
    assert_eq!(tty.code, 0, "{}", tty.stdout);
    assert!(
        tty.stdout.contains(" read") && tty.stdout.contains("tables"),
        "no progress line on a terminal: {}",
        tty.stdout
    );
    // Not a terminal: no progress line at all.
    let plain = run(Command::new(bin("lfb-restore"))
        .env_remove("LFB_CONFIG")
        .arg("--store")
        .arg(st.path())
        .args(["--yes", "--no-safety-backup", "-f", path])
        .arg(pg.url("shop")));
    plain.assert_ok();
    assert!(!plain.stderr.contains(" read,"), "{}", plain.stderr);
}
