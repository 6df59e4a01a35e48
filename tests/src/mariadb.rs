//! Throwaway MariaDB servers for tests: `mariadb-install-db` + `mariadbd` in a
//! temporary folder, listening on a Unix socket only (`--skip-networking`),
//! with real authentication (root@localhost without a password, other users
//! with passwords), killed and removed when the [`MariaDb`] is dropped.
//!
//! Every server and client program is run with `--no-defaults` first: the
//! system's `/etc/mysql/my.cnf` names the system server's socket and data
//! folder, which a throwaway server or client must never pick up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Output, Watchdog, percent_encode, sh_quote, skip, wait_until};

/// How long to wait for the socket to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Folders searched besides `PATH` (`mariadbd` lives in `/usr/sbin`).
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/sbin"];

/// A running throwaway MariaDB server. Dropping it kills the server and
/// removes its folder.
pub struct MariaDb {
    watchdog: Option<Watchdog>,
    child: Option<Child>,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    socket: PathBuf,
    log_file: PathBuf,
}

impl std::fmt::Debug for MariaDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDb")
            .field("dir", &self.dir.path())
            .field("socket", &self.socket)
            .finish()
    }
}

impl MariaDb {
    /// Runs `mariadb-install-db --auth-root-authentication-method=normal` in a
    /// temporary folder, then `mariadbd --skip-networking` on a socket in it
    /// (`--user=root` when running as root), and waits (up to 30 s) until the
    /// socket accepts `select 1`. Returns `None` (via [`skip()`]) when
    /// `mariadbd`, `mariadb-install-db` or the `mariadb` client are missing;
    /// panics, quoting the server log, when the server does not start.
    pub fn start(test_name: &str) -> Option<MariaDb> {
        let Some((server, install)) = find_programs() else {
            return skip(
                test_name,
                "MariaDB programs (mariadbd, mariadb-install-db, mariadb) are not installed",
            );
        };

        let dir = crate::server_tempdir("my", test_name);
        let root = dir.path().to_path_buf();
        let data_dir = root.join("data");
        let socket = root.join("mysqld.sock");
        let pid_file = root.join("mysqld.pid");
        let log_file = root.join("error.log");
        let install_log = root.join("install.log");
        // Its own tmpdir: at start, mariadbd deletes every `#sql*` file in
        // its tmpdir, which would destroy the temporary tables of any other
        // MariaDB server (or bootstrap) sharing /tmp.
        let tmp_dir = root.join("tmp");
        std::fs::create_dir(&tmp_dir).expect("create the server's tmpdir");
        let tmp_arg = format!("--tmpdir={}", tmp_dir.display());
        crate::check_socket_path(&socket);
        let user_arg = crate::is_root().then_some("--user=root");

        let watchdog = Watchdog::spawn(&format!(
            "p=$(cat {pidf} 2>/dev/null)\n\
             [ -n \"$p\" ] && kill -KILL \"$p\" 2>/dev/null && sleep 1\n\
             rm -rf {root}",
            pidf = sh_quote(&pid_file.to_string_lossy()),
            root = sh_quote(&root.to_string_lossy()),
        ));
        let mut db = MariaDb {
            watchdog: Some(watchdog),
            child: None,
            dir,
            data_dir,
            socket,
            log_file,
        };

        let started = Instant::now();
        let out = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", db.data_dir.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ])
            .arg(&tmp_arg)
            .args(user_arg)
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb-install-db");
        if !out.status.success() {
            let _ = std::fs::write(&install_log, [&out.stdout[..], &out.stderr[..]].concat());
            panic!(
                "mariadb-install-db failed ({}) in {}:\n{}\n{}",
                out.status,
                root.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let child = Command::new(&server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", db.data_dir.display()))
            .arg(format!("--socket={}", db.socket.display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(format!("--log-error={}", db.log_file.display()))
            .arg(&tmp_arg)
            .args(user_arg)
            .args([
                "--skip-networking",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-buffer-pool-dump-at-shutdown=0",
                "--innodb-buffer-pool-load-at-startup=0",
            ])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mariadbd");
        db.child = Some(child);

        let mut exited = None;
        let ready = wait_until(START_TIMEOUT, || {
            if let Some(status) = db.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                exited = Some(status);
                return true;
            }
            db.socket.exists() && db.ping()
        });
        if let Some(status) = exited {
            panic!(
                "mariadbd exited ({status}) before accepting connections\n--- {} ---\n{}",
                db.log_file.display(),
                db.log()
            );
        }
        if !ready {
            panic!(
                "MariaDB did not accept connections on {} within {} s (after {:.1} s in all)\n--- {} ---\n{}",
                db.socket.display(),
                START_TIMEOUT.as_secs(),
                started.elapsed().as_secs_f64(),
                db.log_file.display(),
                db.log()
            );
        }
        Some(db)
    }

    fn ping(&self) -> bool {
        self.command("mariadb")
            .args(["--connect-timeout=2", "-e", "select 1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The server's temporary folder (data, socket, `error.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's error log, for failure messages.
    pub fn log(&self) -> String {
        crate::read_log(&self.log_file)
    }

    /// Path of the server's Unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `mysql://root@localhost/DB?socket=SOCKET` (percent-encoded).
    pub fn url(&self, db: &str) -> String {
        format!(
            "mysql://root@localhost/{}?socket={}",
            percent_encode(db),
            percent_encode(&self.socket.to_string_lossy())
        )
    }

    /// `mysql://USER:PASSWORD@localhost/DB?socket=SOCKET` (percent-encoded).
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "mysql://{}:{}@localhost/{}?socket={}",
            percent_encode(user),
            percent_encode(password),
            percent_encode(db),
            percent_encode(&self.socket.to_string_lossy())
        )
    }

    /// Runs SQL (from stdin) with the `mariadb` client as root over the socket,
    /// `--batch --skip-column-names` (rows separated by `\n`, columns by tabs);
    /// panics with the client's stderr on failure; returns stdout.
    #[track_caller]
    pub fn sql(&self, db: Option<&str>, sql: &str) -> String {
        let out = self.try_sql(db, sql);
        if !out.success() {
            panic!(
                "mariadb on database {db:?} failed (exit {}):\n{}\n--- SQL ---\n{}",
                out.code,
                out.stderr,
                crate::shorten(sql)
            );
        }
        out.stdout
    }

    /// Like [`MariaDb::sql`], but returns the [`Output`] instead of panicking.
    pub fn try_sql(&self, db: Option<&str>, sql: &str) -> Output {
        let mut cmd = self.command("mariadb");
        cmd.args(["--batch", "--skip-column-names"]);
        if let Some(db) = db {
            cmd.arg(format!("--database={db}"));
        }
        crate::run_with_input(&mut cmd, sql)
    }

    /// `CREATE DATABASE`.
    #[track_caller]
    pub fn create_db(&self, db: &str) {
        self.sql(None, &format!("CREATE DATABASE {};", quote_ident(db)));
    }

    /// Creates `USER@localhost` identified by a password, with all privileges
    /// on every database (but no GRANT OPTION).
    #[track_caller]
    pub fn create_user(&self, user: &str, password: &str) {
        let account = format!("{}@'localhost'", quote_literal(user));
        self.sql(
            None,
            &format!(
                "CREATE USER {account} IDENTIFIED BY {};\nGRANT ALL PRIVILEGES ON *.* TO {account};",
                quote_literal(password)
            ),
        );
    }

    /// The server version, e.g. `10.11.6-MariaDB-0+deb12u1`.
    #[track_caller]
    pub fn version(&self) -> String {
        self.sql(None, "SELECT VERSION();").trim().to_string()
    }

    /// `mariadb-dump --skip-comments --routines --events` of a database as
    /// root (no dates or versions in it), for equality comparisons.
    #[track_caller]
    pub fn dump(&self, db: &str) -> String {
        let out = crate::run(
            self.command("mariadb-dump")
                .args(["--skip-comments", "--routines", "--events", "--"])
                .arg(db),
        );
        if !out.success() {
            panic!(
                "mariadb-dump of {db:?} failed (exit {}):\n{}",
                out.code, out.stderr
            );
        }
        out.stdout
    }

    /// A command for a MariaDB client program (`mariadb`, `mariadb-dump`,
    /// `mariadb-admin`, ...) whose first arguments are `--no-defaults
    /// --socket=SOCKET --user=root`, without `MYSQL_*` variables from the
    /// environment. Add further options after these.
    pub fn command(&self, program: &str) -> Command {
        let path =
            crate::find_program(program, EXTRA_DIRS).unwrap_or_else(|| PathBuf::from(program));
        let mut cmd = Command::new(path);
        cmd.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--user=root");
        for key in [
            "MYSQL_PWD",
            "MYSQL_HOST",
            "MYSQL_TCP_PORT",
            "MYSQL_UNIX_PORT",
            "MYSQL_HISTFILE",
        ] {
            cmd.env_remove(key);
        }
        cmd
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // A throwaway server: SIGKILL is instant, and its folder goes anyway.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.watchdog.take();
    }
}

/// True when the MariaDB server programs are installed (`mariadbd`,
/// `mariadb-install-db` and the `mariadb` client).
pub fn installed() -> bool {
    find_programs().is_some()
}

/// Paths of `mariadbd` and `mariadb-install-db`, when those and the `mariadb`
/// client are installed.
fn find_programs() -> Option<(PathBuf, PathBuf)> {
    let server = crate::find_program("mariadbd", EXTRA_DIRS)?;
    let install = crate::find_program("mariadb-install-db", EXTRA_DIRS)?;
    crate::find_program("mariadb", EXTRA_DIRS)?;
    Some((server, install))
}

/// Quotes a MariaDB identifier: `` `name` ``, doubling inner backticks.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quotes a MariaDB string literal: `'text'`, escaping `\` and `'`.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}
