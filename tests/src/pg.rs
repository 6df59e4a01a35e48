//! Throwaway PostgreSQL servers for tests: `initdb` + `pg_ctl start` in a
//! temporary folder, listening on a Unix socket only (`listen_addresses = ''`),
//! tuned for speed (no fsync), stopped (`pg_ctl stop -m immediate`) and removed
//! when the [`PgServer`] is dropped, even when the test panicked.
//!
//! When the tests run as root, the folder is given to the `postgres` OS user
//! and the server programs run through `runuser -u postgres --` (or `setpriv`),
//! since PostgreSQL refuses to run as root. The cluster superuser is always
//! `postgres`, trusted on the socket; other roles authenticate with
//! `scram-sha-256` passwords.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::{Output, Watchdog, kill, percent_encode, process_alive, sh_quote, skip, wait_until};

/// Seconds `pg_ctl` waits for the server to start.
const START_TIMEOUT_SECS: u32 = 60;

/// The cluster superuser.
pub const SUPERUSER: &str = "postgres";

/// A running throwaway PostgreSQL server. Dropping it stops the server and
/// removes its folder.
pub struct PgServer {
    /// Drops after the server is stopped in `Drop::drop`; declared first so
    /// the watchdog is killed before the folder disappears.
    watchdog: Option<Watchdog>,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
    bin_dir: PathBuf,
    major: u32,
    /// `Some((runner, args))` when server programs must run as the `postgres` OS user.
    run_as: Option<(PathBuf, Vec<String>)>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("dir", &self.dir.path())
            .field("socket_dir", &self.socket_dir)
            .field("port", &self.port)
            .field("bin_dir", &self.bin_dir)
            .field("major", &self.major)
            .finish()
    }
}

impl PgServer {
    /// Starts a throwaway PostgreSQL server (initdb + `pg_ctl -w start`) in a
    /// temporary folder, Unix socket only. Returns `None` (via [`skip()`]) when
    /// the PostgreSQL server programs are not installed, or when running as
    /// root without a `postgres` OS user or `runuser`/`setpriv`. Panics, quoting
    /// the server log, when the server is installed but does not start.
    ///
    /// Uses `LFB_PG_BINDIR` when set, else the newest `/usr/lib/postgresql/N/bin`
    /// with the server programs, else `pg_config --bindir`, else `initdb` in `PATH`.
    pub fn start(test_name: &str) -> Option<PgServer> {
        let Some(bin_dir) = find_bin_dir() else {
            return skip(
                test_name,
                "PostgreSQL server programs (initdb, pg_ctl, postgres) are not installed",
            );
        };
        let run_as = if crate::is_root() {
            let Some(runner) = runner_for(SUPERUSER) else {
                return skip(
                    test_name,
                    "running as root, but there is no `postgres` OS user or no runuser/setpriv \
                     to run the PostgreSQL server programs as it",
                );
            };
            Some(runner)
        } else {
            None
        };

        let dir = crate::server_tempdir("pg", test_name);
        let root = dir.path().to_path_buf();
        let data_dir = root.join("data");
        let socket_dir = root.join("sock");
        let log_file = root.join("server.log");
        crate::check_socket_path(&socket_dir.join(".s.PGSQL.65535"));
        std::fs::create_dir(&socket_dir).expect("create the socket folder");
        for path in [&root, &socket_dir] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod a server folder");
        }
        if run_as.is_some() {
            let (uid, gid) = user_ids(SUPERUSER).expect("uid and gid of the postgres OS user");
            for path in [&root, &socket_dir] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
            }
        }

        // Cleans up if this process dies without dropping the server: an
        // immediate shutdown (SIGQUIT) of the postmaster, then the folder goes.
        let pid_file = data_dir.join("postmaster.pid");
        let watchdog = Watchdog::spawn(&format!(
            "p=$(head -n 1 {pidf} 2>/dev/null)\n\
             if [ -n \"$p\" ]; then kill -QUIT \"$p\" 2>/dev/null; i=0; \
             while [ -e {pidf} ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; \
             [ -e {pidf} ] && kill -KILL \"$p\" 2>/dev/null; fi\n\
             rm -rf {root}",
            pidf = sh_quote(&pid_file.to_string_lossy()),
            root = sh_quote(&root.to_string_lossy()),
        ));

        let mut server = PgServer {
            watchdog: Some(watchdog),
            dir,
            data_dir,
            socket_dir,
            log_file,
            port: pick_port(),
            bin_dir,
            major: 0,
            run_as,
        };
        server.init_and_start();
        Some(server)
    }

    fn init_and_start(&mut self) {
        let out = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", SUPERUSER, "-A", "trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C")
            .output()
            .expect("run initdb");
        if !out.status.success() {
            panic!(
                "initdb failed ({}) in {}:\n{}\n{}",
                out.status,
                self.dir.path().display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let version = std::fs::read_to_string(self.data_dir.join("PG_VERSION"))
            .expect("read PG_VERSION after initdb");
        self.major = version
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("unexpected PG_VERSION: {version:?}"));

        let conf = format!(
            "\n# lfb test server\n\
             listen_addresses = ''\n\
             port = {port}\n\
             unix_socket_directories = '{sock}'\n\
             unix_socket_permissions = 0777\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             shared_buffers = 16MB\n\
             password_encryption = 'scram-sha-256'\n\
             timezone = 'UTC'\n\
             lc_messages = 'C'\n",
            port = self.port,
            sock = self.socket_dir.to_string_lossy().replace('\'', "''"),
        );
        append(&self.data_dir.join("postgresql.conf"), &conf);
        // Overwriting keeps the file's owner (postgres) and mode.
        std::fs::write(
            self.data_dir.join("pg_hba.conf"),
            format!("local all {SUPERUSER} trust\nlocal all all scram-sha-256\n"),
        )
        .expect("write pg_hba.conf");

        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", &START_TIMEOUT_SECS.to_string(), "-s", "start"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        if !out.status.success() {
            panic!(
                "PostgreSQL did not start (pg_ctl start -w -t {START_TIMEOUT_SECS}: {}):\n{}{}\n--- server log {} ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_file.display(),
                crate::read_log(&self.log_file)
            );
        }
    }

    /// A command for a server program (initdb, pg_ctl) in `bin_dir`, run as
    /// the `postgres` OS user when we are root, in the server folder, with
    /// no `PG*` variables from the environment.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin_dir.join(program);
        let mut cmd = match &self.run_as {
            Some((runner, args)) => {
                let mut cmd = Command::new(runner);
                cmd.args(args).arg(path);
                cmd
            }
            None => Command::new(path),
        };
        cmd.current_dir(self.dir.path());
        remove_pg_env(&mut cmd);
        cmd
    }

    /// The server's temporary folder (data, socket folder, `server.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data folder (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log (`pg_ctl -l`), for failure messages.
    pub fn log(&self) -> String {
        crate::read_log(&self.log_file)
    }

    /// The folder holding the socket `.s.PGSQL.<port>` (the `host` to connect to).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The port: it only names the socket file; nothing listens on TCP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Folder of the PostgreSQL programs this server runs (and whose clients match it).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Major version, e.g. 15.
    pub fn major(&self) -> u32 {
        self.major
    }

    /// URL for the superuser: `postgresql://postgres@/DB?host=SOCKETDIR&port=PORT`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@/{}?host={}&port={}",
            percent_encode(db),
            percent_encode(&self.socket_dir.to_string_lossy()),
            self.port
        )
    }

    /// URL for a role with a password:
    /// `postgresql://USER:PASSWORD@/DB?host=SOCKETDIR&port=PORT`.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{}:{}@/{}?host={}&port={}",
            percent_encode(user),
            percent_encode(password),
            percent_encode(db),
            percent_encode(&self.socket_dir.to_string_lossy()),
            self.port
        )
    }

    /// Runs SQL (from stdin) through `psql -X -v ON_ERROR_STOP=1 -q -At` as
    /// the superuser; panics with psql's stderr on failure; returns stdout
    /// as is (rows separated by `\n`, columns by `|`, with a final `\n`).
    #[track_caller]
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        if !out.success() {
            panic!(
                "psql on database {db:?} failed (exit {}):\n{}\n--- SQL ---\n{}",
                out.code,
                out.stderr,
                crate::shorten(sql)
            );
        }
        out.stdout
    }

    /// Like [`PgServer::psql`], but returns the [`Output`] instead of panicking.
    pub fn try_psql(&self, db: &str, sql: &str) -> Output {
        crate::run_with_input(
            self.command("psql")
                .args(["-X", "-v", "ON_ERROR_STOP=1", "-q", "-At", "--dbname"])
                .arg(self.url(db)),
            sql,
        )
    }

    /// `CREATE DATABASE` (owned by the superuser).
    #[track_caller]
    pub fn create_db(&self, db: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {};", quote_ident(db)));
    }

    /// `CREATE DATABASE` owned by `owner`.
    #[track_caller]
    pub fn create_db_owned_by(&self, db: &str, owner: &str) {
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {} OWNER {};",
                quote_ident(db),
                quote_ident(owner)
            ),
        );
    }

    /// Creates a login role with a password (scram-sha-256) and CREATEDB,
    /// owning nothing.
    #[track_caller]
    pub fn create_role(&self, user: &str, password: &str) {
        self.psql(
            "postgres",
            &format!(
                "CREATE ROLE {} LOGIN CREATEDB PASSWORD {};",
                quote_ident(user),
                quote_literal(password)
            ),
        );
    }

    /// Plain `pg_dump` of a database as the superuser (the default plain
    /// format, owners and privileges included), without the lines that differ
    /// between dumps of equal databases (`-- Dumped from/by ...` and the
    /// `\restrict`/`\unrestrict` random-key lines), for equality comparisons.
    #[track_caller]
    pub fn dump(&self, db: &str) -> String {
        let out = crate::run(self.command("pg_dump").arg("--dbname").arg(self.url(db)));
        if !out.success() {
            panic!(
                "pg_dump of {db:?} failed (exit {}):\n{}",
                out.code, out.stderr
            );
        }
        normalize_dump(&out.stdout)
    }

    /// A command for a client program in [`bin_dir`](PgServer::bin_dir) (`psql`,
    /// `pg_dump`, `pg_restore`, ...) with `PGHOST`/`PGPORT`/`PGUSER` set; see
    /// [`PgServer::apply_env`].
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        self.apply_env(&mut cmd);
        cmd
    }

    /// Sets the libpq environment of this server on any command (an lfb binary,
    /// say): removes every inherited `PG*` variable, sets `PGHOST` (the socket
    /// folder), `PGPORT`, `PGUSER=postgres`, and `PGPASSFILE` to a file that
    /// does not exist (so `~/.pgpass` never supplies a password).
    pub fn apply_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        remove_pg_env(cmd);
        cmd.env("PGHOST", &self.socket_dir)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", SUPERUSER)
            .env("PGPASSFILE", self.dir.path().join("no-pgpass"))
    }

    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            let stopped = self
                .server_command("pg_ctl")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-m", "immediate", "-w", "-t", "20", "-s", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped || process_alive(pid) {
                kill(pid, "QUIT");
                if !wait_until(Duration::from_secs(10), || !process_alive(pid)) {
                    kill(pid, "KILL");
                    wait_until(Duration::from_secs(5), || !process_alive(pid));
                }
            }
        }
        // The folder is removed when `self.dir` drops; the watchdog goes first.
        self.watchdog.take();
    }
}

/// Quotes an SQL identifier: `"name"`, doubling inner double quotes.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal: `'text'`, doubling inner single quotes
/// (assumes `standard_conforming_strings = on`, the default).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Drops the lines of a plain `pg_dump` that differ between dumps of equal
/// databases: `-- Dumped from database version`, `-- Dumped by pg_dump version`,
/// and `\restrict KEY` / `\unrestrict KEY` (random keys, pg_dump 17.6/16.10/15.14 and later).
pub fn normalize_dump(dump: &str) -> String {
    dump.lines()
        .filter(|line| {
            !(line.starts_with("-- Dumped from database version")
                || line.starts_with("-- Dumped by pg_dump version")
                || line.starts_with("\\restrict ")
                || line.starts_with("\\unrestrict "))
        })
        .fold(String::with_capacity(dump.len()), |mut acc, line| {
            acc.push_str(line);
            acc.push('\n');
            acc
        })
}

/// True when the PostgreSQL server programs are installed (see [`find_bin_dir`]).
pub fn installed() -> bool {
    find_bin_dir().is_some()
}

/// The folder of the PostgreSQL server programs, see [`PgServer::start`].
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| crate::is_executable(&dir.join(p)))
    };
    if let Some(dir) = std::env::var_os("LFB_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return has_server(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Some(dir);
        }
    }
    let initdb = crate::find_program("initdb", &[])?;
    let dir = initdb.parent()?.to_path_buf();
    has_server(&dir).then_some(dir)
}

/// How to run a program as `user` from root: `runuser -u USER --` or
/// `setpriv --reuid USER --regid GROUP --init-groups --`.
fn runner_for(user: &str) -> Option<(PathBuf, Vec<String>)> {
    user_ids(user)?;
    let sbin = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];
    if let Some(runuser) = crate::find_program("runuser", &sbin) {
        return Some((runuser, vec!["-u".into(), user.into(), "--".into()]));
    }
    let setpriv = crate::find_program("setpriv", &sbin)?;
    Some((
        setpriv,
        vec![
            format!("--reuid={user}"),
            format!("--regid={user}"),
            "--init-groups".into(),
            "--".into(),
        ],
    ))
}

/// uid and primary gid of an OS user, from `id`.
pub(crate) fn user_ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .arg(flag)
            .arg(user)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// A port for the socket's name. Nothing listens on TCP, so ports cannot
/// collide; they still differ between servers, and avoid 5432, so that a tool
/// that wrongly ignores the socket folder fails instead of reaching the
/// system server.
fn pick_port() -> u16 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mix = std::process::id()
        .wrapping_mul(7919)
        .wrapping_add(n.wrapping_mul(104_729));
    20_000 + (mix % 40_000) as u16
}

fn remove_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("append to {}: {e}", path.display()));
}
