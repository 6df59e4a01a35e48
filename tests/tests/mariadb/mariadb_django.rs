//! A Django app on MariaDB (Django with PyMySQL, as its DATABASE_URL says):
//! dumped by lfb-dump, broken, restored by lfb-restore, and `manage.py
//! migrate --check` is clean afterwards with the data back.
//!
//! Needs Python with Django and PyMySQL (`pip install django pymysql`;
//! `.ci/run` installs them). Without them the test prints SKIPPED, unless
//! LFB_REQUIRE_DB=1.

use std::path::Path;
use std::process::Command;

use lfb_tests::mariadb::MariaDb;
use lfb_tests::{bin, run, skip_if_allowed, store};

const SETTINGS: &str = r#"
import os
import pymysql
pymysql.install_as_MySQLdb()
SECRET_KEY = "test-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "shop"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.mysql",
    "NAME": os.environ["DB_NAME"],
    "USER": "root",
    "HOST": os.environ["DB_SOCKET"],
    "OPTIONS": {"charset": "utf8mb4"},
}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"#;

const MODELS: &str = r#"
from django.db import models

class Customer(models.Model):
    name = models.CharField(max_length=100, unique=True)
    notes = models.TextField(blank=True)
    photo = models.BinaryField(null=True)

class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    placed = models.DateTimeField(auto_now_add=True)
"#;

fn python_has_django() -> bool {
    Command::new("python3")
        .args(["-c", "import django, pymysql"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn manage(dir: &Path, my: &MariaDb, db: &str, args: &[&str]) -> lfb_tests::Output {
    run(Command::new("python3")
        .arg(dir.join("manage.py"))
        .args(args)
        .current_dir(dir)
        .env("DJANGO_SETTINGS_MODULE", "settings")
        .env("DB_NAME", db)
        .env("DB_SOCKET", my.socket()))
}

#[test]
fn a_django_app_on_mariadb_is_dumped_broken_restored_and_migrate_check_is_clean() {
    if !python_has_django() {
        let _: Option<()> = skip_if_allowed(
            lfb_tests::require_db(),
            "mariadb_django",
            "Python with django and pymysql is not installed (pip install django pymysql)",
        );
        return;
    }
    let Some(my) = MariaDb::start("mariadb_django") else {
        return;
    };
    my.create_db("djapp");
    let app = tempfile::tempdir().unwrap();
    let dir = app.path();
    std::fs::write(dir.join("settings.py"), SETTINGS).unwrap();
    std::fs::create_dir_all(dir.join("shop/migrations")).unwrap();
    std::fs::write(dir.join("shop/__init__.py"), "").unwrap();
    std::fs::write(dir.join("shop/migrations/__init__.py"), "").unwrap();
    std::fs::write(dir.join("shop/models.py"), MODELS).unwrap();
    std::fs::write(
        dir.join("manage.py"),
        "import sys\nfrom django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    )
    .unwrap();
    manage(dir, &my, "djapp", &["makemigrations", "shop"]).assert_ok();
    manage(dir, &my, "djapp", &["migrate", "--noinput"]).assert_ok();
    manage(
        dir,
        &my,
        "djapp",
        &[
            "shell",
            "-c",
            "from shop.models import Customer, Order\n\
             from django.contrib.auth.models import User\n\
             User.objects.create_user('ada', password='x')\n\
             for i in range(50):\n    c = Customer.objects.create(name=f'c{i} 😀', notes='a),(b;\\'', photo=bytes(range(256)))\n    Order.objects.create(customer=c, total='12.34')\n",
        ],
    )
    .assert_ok();
    manage(dir, &my, "djapp", &["migrate", "--check"]).assert_ok();
    let before = my.dump("djapp");

    // The app's own URL form, as in its DATABASE_URL.
    let url = format!(
        "mysql+pymysql://root@localhost/djapp?unix_socket={}",
        lfb_tests::percent_encode(&my.socket().to_string_lossy())
    );
    let st = store();
    let mut dump = Command::new(bin("lfb-dump"));
    dump.arg("--store")
        .arg(st.path())
        .args(["--tag", "pre-migration"])
        .env("DATABASE_URL", &url);
    let out = run(&mut dump);
    out.assert_ok();
    let rec = &out.records()[0];
    assert_eq!(rec["source"]["tables"]["shop_customer"], 50);
    assert_eq!(rec["source"]["tables"]["auth_user"], 1);

    // Break it: a migration rolled back by hand, a table gone, data wrong.
    my.sql(
        Some("djapp"),
        "SET foreign_key_checks = 0; DROP TABLE shop_order;\n\
         DELETE FROM django_migrations WHERE app = 'sessions';\n\
         UPDATE shop_customer SET name = CONCAT(name, ' broken');",
    );
    assert_ne!(
        manage(dir, &my, "djapp", &["migrate", "--check"]).code,
        0,
        "the app should be broken now"
    );

    let mut restore = Command::new(bin("lfb-restore"));
    restore
        .arg("--store")
        .arg(st.path())
        .args(["--latest", "--tag", "pre-migration", "--yes"])
        .env("DATABASE_URL", &url);
    run(&mut restore).assert_ok();
    assert_eq!(my.dump("djapp"), before);
    manage(dir, &my, "djapp", &["migrate", "--check"]).assert_ok();
    let n = manage(
        dir,
        &my,
        "djapp",
        &[
            "shell",
            "-c",
            "from shop.models import Order; print(Order.objects.filter(customer__name__endswith='😀').count())",
        ],
    );
    n.assert_ok();
    assert_eq!(n.stdout.trim().lines().last(), Some("50"), "{}", n.stdout);
}
