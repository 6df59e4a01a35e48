//! The drop-in scripts in examples/ take a mysql:// DATABASE_URL unchanged:
//! the hourly backup (dump, test restore, retention) and the pre-migration
//! backup that gates a migration, against a throwaway MariaDB.

use std::path::{Path, PathBuf};
use std::process::Command;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::{bin, run, store};

fn script(name: &str, vars: &[(&str, String)]) -> Command {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples");
    let dir = bin("lfb-dump").parent().unwrap().to_path_buf();
    let mut c = Command::new("bash");
    c.arg(examples.join(name))
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", dir.display()),
        )
        .env("HOME", std::env::temp_dir());
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| !p.to_string_lossy().ends_with(".json"));
    v.sort();
    v
}

#[test]
fn the_example_scripts_take_a_mysql_database_url_unchanged() {
    let Some(my) = MariaDb::start("mariadb_examples") else {
        return;
    };
    my.create_db("ledger");
    my.sql(
        Some("ledger"),
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64));\n\
         INSERT INTO t (v) SELECT SHA2(seq, 256) FROM seq_1_to_500;",
    );
    my.create_user("app", "s3cret pw");
    let url = my
        .url_as("app", "s3cret pw", "ledger")
        .replacen("mysql://", "mysql+pymysql://", 1);
    let st = store();
    let vars = |env: &str| {
        vec![
            ("LEDGER_ENV", env.to_string()),
            ("DATABASE_URL", url.clone()),
            ("LFB_STORE", st.path().to_string_lossy().into_owned()),
        ]
    };
    let out = run(&mut script("backup_dev_db.sh", &vars("dev")));
    out.assert_ok();
    let made = artifacts(&st.path().join("dev"));
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].to_string_lossy().ends_with(".sql.gz"));
    let side = std::fs::read_to_string(format!("{}.json", made[0].display())).unwrap();
    assert!(side.contains("\"engine\":\"mysql\""), "{side}");
    assert!(!side.contains("s3cret"));

    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("migrated");
    let out = run(script("safe_migrate.sh", &vars("prod"))
        .arg("touch")
        .arg(&marker));
    out.assert_ok();
    assert!(marker.exists(), "the migration did not run: {}", out.stderr);
    let pre = artifacts(&st.path().join("migrations"));
    assert_eq!(pre.len(), 1, "{pre:?}");
    assert!(pre[0].to_string_lossy().contains("_db_pre-migration_"));

    let out = run(&mut script("safe_db_test.sh", &vars("dev")));
    out.assert_ok();
    assert!(
        out.stdout.contains("lfb-restore -e test -f"),
        "{}",
        out.stdout
    );
    let dbs = my.sql(None, "SHOW DATABASES;");
    assert!(!dbs.contains("lfb_"), "{dbs}");
}
