//! MySQL and MariaDB through their own client programs: `mariadb-dump` or
//! `mysqldump`, and `mariadb` or `mysql`.
//!
//! **Passwords.** Every client gets its connection settings from a private
//! option file, given as its first argument `--defaults-file=FILE`: a 0600
//! file in a private (0700) temporary folder, removed when the work is done
//! and when the tool is interrupted (SIGINT/SIGTERM/SIGHUP; a `kill -9`
//! leaves the folder in the temporary directory). The password is never in
//! argv and never in `MYSQL_PWD`. `--defaults-file` (rather than
//! `--defaults-extra-file`) replaces the global option files, so a
//! `/etc/mysql/my.cnf` written for another server (its socket, its
//! character set) cannot redirect lfb; when the URL has no password the user's
//! `~/.my.cnf` is still read (the private file `!include`s it first, so the
//! URL's settings win).
//!
//! **Clients.** The dump tool must match the server: MariaDB's
//! `mariadb-dump` for a MariaDB server, MySQL's `mysqldump` for a MySQL
//! server, of the server's major.minor version or newer. Where several are
//! installed the closest match is chosen; when none fits, lfb refuses and
//! names the package to install. `--exec PREFIX` runs the clients through a
//! command prefix (`docker compose exec -T db`); the option text is then
//! handed to the client on its standard input (`--defaults-extra-file=/dev/stdin`),
//! which works for dumps and queries, not for loading a dump.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc;

use chrono::Utc;

use crate::cleanup;
use crate::engine::mysqlscan::MysqlScanner;
use crate::engine::postgres::{capture_stderr, split_words};
use crate::engine::url::{Database, MYSQL_PARAMS, ServerConn};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, ScratchDir};
use crate::progress::Progress;
use crate::record::Record;

/// Row counts per table, keyed by the table's name (unquoted).
pub type TableCounts = BTreeMap<String, u64>;

/// The engine name records carry for MySQL and MariaDB alike
/// (`source.server_version` tells which server it was).
pub const ENGINE: &str = "mysql";

/// Which server family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    Mysql,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::MariaDb => "MariaDB",
            Flavor::Mysql => "MySQL",
        }
    }
    fn package(self, v: (u32, u32)) -> String {
        match self {
            Flavor::MariaDb => format!("mariadb-client {}.{} or newer", v.0, v.1),
            Flavor::Mysql => format!(
                "MySQL's mysql-client {}.{} or newer (MariaDB's mysqldump cannot dump MySQL {}.{})",
                v.0, v.1, v.0, v.1
            ),
        }
    }
}

/// One installed dump tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientInfo {
    pub flavor: Flavor,
    /// major.minor of the client's own server version.
    pub version: (u32, u32),
    /// Folder of the programs (`None`: through `--exec`).
    pub dir: Option<PathBuf>,
    /// `mariadb-dump` or `mysqldump`.
    pub dump: String,
    /// `mariadb` or `mysql`.
    pub query: String,
    /// The tool's `--version` line.
    pub tool: String,
}

/// Parses a dump tool's `--version` line: flavor and major.minor.
///
/// `mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)`,
/// `mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)`,
/// `mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)`,
/// `mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)`.
pub fn parse_tool_version(out: &str) -> Option<(Flavor, (u32, u32), String)> {
    let line = out.lines().next()?.split_whitespace().collect::<Vec<_>>();
    let tool = line.join(" ");
    let words: Vec<&str> = line
        .iter()
        .map(|w| w.trim_end_matches(','))
        .collect::<Vec<_>>();
    let mm = |v: &str| -> Option<(u32, u32)> {
        let mut it = v.split(|c: char| !c.is_ascii_digit());
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    };
    if let Some(w) = words.iter().find(|w| w.contains("-MariaDB")) {
        return Some((Flavor::MariaDb, mm(w)?, tool));
    }
    if tool.contains("MariaDB") {
        return None;
    }
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    let v = after("Distrib").or_else(|| after("Ver"))?;
    Some((Flavor::Mysql, mm(v)?, tool))
}

/// Folders searched for the client programs, in order.
fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(d) = std::env::var_os("LFB_MYSQL_BINDIR").filter(|s| !s.is_empty()) {
        return vec![PathBuf::from(d)];
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for base in ["/opt/homebrew/opt", "/usr/local/opt"] {
        for sub in ["mariadb", "mysql-client", "mysql"] {
            dirs.push(Path::new(base).join(sub).join("bin"));
        }
    }
    dirs.push(PathBuf::from("/usr/local/mysql/bin"));
    dirs
}

/// Every installed dump tool (probed once per process).
pub fn installed_clients() -> Vec<ClientInfo> {
    static CLIENTS: std::sync::OnceLock<Vec<ClientInfo>> = std::sync::OnceLock::new();
    CLIENTS.get_or_init(probe_clients).clone()
}

fn probe_clients() -> Vec<ClientInfo> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in candidate_dirs() {
        for dump in ["mariadb-dump", "mysqldump"] {
            let exe = dir.join(dump);
            let Ok(real) = std::fs::canonicalize(&exe) else {
                continue;
            };
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            let Ok(o) = Command::new(&exe)
                .arg("--no-defaults")
                .arg("--version")
                .stdin(Stdio::null())
                .output()
            else {
                continue;
            };
            let Some((flavor, version, tool)) =
                parse_tool_version(&String::from_utf8_lossy(&o.stdout))
            else {
                continue;
            };
            let query = if flavor == Flavor::MariaDb && dir.join("mariadb").exists() {
                "mariadb"
            } else {
                "mysql"
            };
            out.push(ClientInfo {
                flavor,
                version,
                dir: Some(dir.clone()),
                dump: dump.to_string(),
                query: query.to_string(),
                tool,
            });
        }
    }
    out
}

/// The client for a server: same flavor, the same major.minor, else the
/// oldest newer one. `None` when only older or other-flavor clients exist.
pub fn choose_client(
    installed: &[ClientInfo],
    flavor: Flavor,
    version: (u32, u32),
) -> Option<&ClientInfo> {
    let same: Vec<&ClientInfo> = installed.iter().filter(|c| c.flavor == flavor).collect();
    same.iter()
        .find(|c| c.version == version)
        .or_else(|| {
            same.iter()
                .filter(|c| c.version > version)
                .min_by_key(|c| c.version)
        })
        .copied()
}

/// What the server says about itself.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `VERSION()`, e.g. "10.11.19-MariaDB-0+deb12u1".
    pub version: String,
    pub flavor: Flavor,
    pub major_minor: (u32, u32),
    /// `DATABASE()` (empty without one).
    pub database: String,
    /// `CURRENT_USER()`, e.g. "app@localhost".
    pub user: String,
}

/// A private option file with the connection settings (and the password).
struct OptionFile {
    /// `None` with `--exec`: the text goes to the client's stdin.
    dir: Option<ScratchDir>,
    /// Holds the password: never printed (`Debug` leaves it out).
    text: String,
}

impl std::fmt::Debug for OptionFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptionFile")
            .field("dir", &self.dir)
            .field("text", &"***")
            .finish()
    }
}

impl OptionFile {
    fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("client.cnf"))
    }
}

/// Quotes an option-file value: double quotes, with `\` and `"` escaped.
fn option_value(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The `[client]` settings of a connection (the password included).
fn option_text(conn: &ServerConn, include_home: bool) -> String {
    let mut t = String::new();
    if include_home
        && conn.password.is_none()
        && let Some(home) = std::env::var_os("HOME")
    {
        let my = Path::new(&home).join(".my.cnf");
        if my.is_file() {
            t.push_str(&format!("!include {}\n", my.display()));
        }
    }
    t.push_str("[client]\n");
    if let Some(u) = &conn.user {
        t.push_str(&format!("user={}\n", option_value(u)));
    }
    if let Some(p) = &conn.password {
        t.push_str(&format!("password={}\n", option_value(p.expose())));
    }
    match conn.host.as_deref() {
        Some(h) if h.starts_with('/') => {
            t.push_str(&format!("socket={}\nprotocol=SOCKET\n", option_value(h)));
        }
        Some(h) => {
            t.push_str(&format!("host={}\n", option_value(h)));
            if let Some(p) = conn.port {
                t.push_str(&format!("port={p}\n"));
            }
            // `localhost` means the socket to the clients; an explicit port
            // means TCP (as for Python drivers and Docker port mappings).
            if h != "localhost" || conn.port.is_some() {
                t.push_str("protocol=TCP\n");
            }
        }
        None => {
            if let Some(p) = conn.port {
                t.push_str(&format!("host=127.0.0.1\nport={p}\nprotocol=TCP\n"));
            }
        }
    }
    for (k, v) in &conn.params {
        if let Some((_, Some(opt))) = MYSQL_PARAMS.iter().find(|(p, _)| p == k) {
            if v.is_empty() || v == "true" || v == "1" {
                t.push_str(&format!("{opt}\n"));
            } else {
                t.push_str(&format!("{opt}={}\n", option_value(v)));
            }
        }
    }
    if conn.param("connect_timeout").is_none() {
        t.push_str("loose-connect-timeout=10\n");
    }
    t.push_str("default-character-set=utf8mb4\n");
    t
}

/// A connection to a MySQL/MariaDB server: settings, chosen client
/// programs, what the server said. Clones share the option file.
#[derive(Debug, Clone)]
pub struct Mysql {
    pub conn: ServerConn,
    pub client: ClientInfo,
    pub server: ServerInfo,
    prefix: Vec<String>,
    options: Arc<OptionFile>,
}

/// The `ERROR nnnn` code of a client message, if any.
fn error_code(msg: &str) -> Option<u32> {
    let (i, skip) = match msg.find("ERROR ") {
        Some(i) => (i, 6),
        None => (msg.find("Got error: ")?, 11),
    };
    msg[i + skip..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The first useful line of a client's stderr, as one line.
pub fn first_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning") && !l.starts_with("---"))
        .collect();
    let pick = lines
        .iter()
        .find(|l| l.contains("ERROR") || l.contains("error"))
        .or(lines.first())
        .copied()
        .unwrap_or("no message");
    let mut s = pick.to_string();
    for prefix in ["mariadb-dump: ", "mysqldump: ", "mariadb: ", "mysql: "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_string();
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Connection problems (the tool could not start: exit 2) as opposed to
/// SQL errors: client errors (2000-2999), access denied, unknown database.
fn is_connection_error(msg: &str) -> bool {
    error_code(msg)
        .is_some_and(|c| (2000..3000).contains(&c) || [1044, 1045, 1049, 1698].contains(&c))
}

fn describe_status(program: &str, status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("{program} exited with status {c}"),
        (None, Some(s)) => format!("{program} was killed by signal {s}"),
        _ => format!("{program} failed"),
    }
}

/// Quotes an identifier: `` `name` ``.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quotes a string literal (backslash-escaping, the server default).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Undoes the `--batch` escaping of a field (`\t`, `\n`, `\0`, `\\`).
fn unescape_batch(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A feeder's verdict, and the client's input if it kept it open.
pub type Fed = (Result<()>, Option<Box<dyn Write + Send>>);

/// What a dump produced besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct DumpStats {
    pub raw_bytes: u64,
    pub tables: TableCounts,
    /// Tables outside the transactional snapshot (MyISAM, ...): name, engine.
    pub non_transactional: Vec<(String, String)>,
}

impl Mysql {
    /// Connects: picks the client programs, asks the server who it is, and
    /// checks the dump tool can dump it. Every failure here means the tool
    /// could not start (exit 2).
    // Long: the connection ladder tried in order (client programs, option file, ask the server, a dump tool that fits it), each step's exit-2 message inline.
    pub fn connect(conn: &ServerConn, exec: Option<&str>) -> Result<Mysql> {
        let (prefix, provisional) = match exec {
            Some(p) => {
                let prefix = split_words(p)?;
                let info = probe_exec(&prefix)?;
                (prefix, info)
            }
            None => {
                let installed = installed_clients();
                let first = installed
                    .iter()
                    .max_by_key(|c| (c.flavor == Flavor::MariaDb, c.version))
                    .cloned()
                    .ok_or_else(|| {
                        Error::unavailable(
                            "MySQL/MariaDB client programs not found (mariadb-dump or mysqldump, mariadb or mysql): install mariadb-client or mysql-client",
                        )
                    })?;
                (Vec::new(), first)
            }
        };
        let options = if prefix.is_empty() {
            remove_stale_option_dirs();
            let dir = ScratchDir::new("mysql")?;
            let text = option_text(conn, true);
            let path = dir.path().join("client.cnf");
            let mut f = fsutil::create_private_file(&path)?;
            f.write_all(text.as_bytes()).with_path("write", &path)?;
            OptionFile {
                dir: Some(dir),
                text,
            }
        } else {
            OptionFile {
                dir: None,
                text: option_text(conn, false),
            }
        };
        let mut my = Mysql {
            conn: conn.clone(),
            client: provisional,
            server: ServerInfo {
                version: String::new(),
                flavor: Flavor::MariaDb,
                major_minor: (0, 0),
                database: String::new(),
                user: String::new(),
            },
            prefix,
            options: Arc::new(options),
        };
        let rows = my.rows(
            conn.database.as_deref(),
            "SELECT VERSION(), IFNULL(DATABASE(), ''), CURRENT_USER(), @@version_comment",
        )?;
        let row = rows
            .first()
            .filter(|r| r.len() == 4)
            .ok_or_else(|| Error::unavailable("unexpected answer from the MySQL server"))?;
        let version = row[0].clone();
        let flavor = if version.contains("MariaDB") || row[3].contains("MariaDB") {
            Flavor::MariaDb
        } else {
            Flavor::Mysql
        };
        let major_minor = {
            let mut it = version.split(|c: char| !c.is_ascii_digit());
            let a = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let b = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            (a, b)
        };
        my.server = ServerInfo {
            version,
            flavor,
            major_minor,
            database: row[1].clone(),
            user: row[2].clone(),
        };
        let fits = |c: &ClientInfo| c.flavor == flavor && c.version >= major_minor;
        if my.prefix.is_empty() {
            let installed = installed_clients();
            let chosen = choose_client(&installed, flavor, major_minor).ok_or_else(|| {
                let found: Vec<String> = installed
                    .iter()
                    .map(|c| {
                        format!(
                            "{} in {}",
                            c.tool,
                            c.dir.as_deref().unwrap_or(Path::new("?")).display()
                        )
                    })
                    .collect();
                Error::unavailable(format!(
                    "no installed dump tool can dump this {} {}.{} server (found: {}): install {}",
                    flavor.name(),
                    major_minor.0,
                    major_minor.1,
                    found.join(", "),
                    flavor.package(major_minor)
                ))
            })?;
            my.client = chosen.clone();
        } else if !fits(&my.client) {
            return Err(Error::unavailable(format!(
                "{} cannot dump this {} {}.{} server: the container needs {}",
                my.client.tool,
                flavor.name(),
                major_minor.0,
                major_minor.1,
                flavor.package(major_minor)
            )));
        }
        Ok(my)
    }

    /// A client command: the program, then the option file first.
    fn command(&self, program: &str) -> Command {
        let mut c = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => match &self.client.dir {
                Some(d) => Command::new(d.join(program)),
                None => Command::new(program),
            },
        };
        match self.options.path() {
            Some(p) => {
                c.arg(format!("--defaults-file={}", p.display()));
            }
            None => {
                c.arg("--defaults-extra-file=/dev/stdin");
            }
        }
        c.env_remove("MYSQL_PWD");
        c
    }

    /// Spawns a client; with `--exec` its stdin first gets the option text
    /// (and then nothing else).
    fn spawn(&self, mut cmd: Command, what: &str) -> Result<Child> {
        let exec = self.options.path().is_none();
        cmd.stdin(if exec { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().map_err(|e| {
            Error::unavailable(format!(
                "cannot run {what}: {}",
                crate::error::describe_io(&e)
            ))
        })?;
        if exec && let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(self.options.text.as_bytes());
        }
        Ok(child)
    }

    /// The dump tool's version line.
    pub fn tool(&self) -> &str {
        &self.client.tool
    }

    /// The database given, else what the server reported.
    pub fn database(&self) -> &str {
        self.conn
            .database
            .as_deref()
            .unwrap_or(self.server.database.as_str())
    }

    /// Host for records: the URL's host or socket path, else "localhost".
    pub fn host(&self) -> String {
        self.conn
            .host
            .clone()
            .unwrap_or_else(|| "localhost".to_string())
    }

    /// The user for records (`CURRENT_USER()` without the host part).
    pub fn user(&self) -> String {
        self.conn.user.clone().unwrap_or_else(|| {
            self.server
                .user
                .rsplit_once('@')
                .map_or(self.server.user.clone(), |(u, _)| u.to_string())
        })
    }

    /// Runs SQL with the query client in batch mode and returns the rows
    /// (tab-separated fields, unescaped). Connection failures are exit-2
    /// errors, SQL errors exit-1.
    pub fn rows(&self, db: Option<&str>, sql: &str) -> Result<Vec<Vec<String>>> {
        let out = self.query(db, sql)?;
        Ok(out
            .lines()
            .map(|l| l.split('\t').map(unescape_batch).collect())
            .collect())
    }

    /// Runs SQL and returns the rows after a first row of column names.
    pub fn query_with_headers(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        let out = self.query_as(None, sql, true)?;
        Ok(out
            .lines()
            .map(|l| l.split('\t').map(unescape_batch).collect())
            .collect())
    }

    /// Runs SQL (`-e`) and returns the raw batch output.
    pub fn query(&self, db: Option<&str>, sql: &str) -> Result<String> {
        self.query_as(db, sql, false)
    }

    fn query_as(&self, db: Option<&str>, sql: &str, headers: bool) -> Result<String> {
        let mut cmd = self.command(&self.client.query);
        cmd.arg("--batch");
        if !headers {
            cmd.arg("--skip-column-names");
        }
        if let Some(db) = db {
            cmd.arg(format!("--database={db}"));
        }
        cmd.arg("-e").arg(sql);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = self.spawn(cmd, &self.client.query)?;
        let out = child
            .wait_with_output()
            .context("cannot wait for the mysql client")?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let msg = first_error_line(&String::from_utf8_lossy(&out.stderr));
        if is_connection_error(&msg) {
            let what = match error_code(&msg) {
                Some(c) if (2000..3000).contains(&c) => "cannot connect to the MySQL server",
                Some(1044) => "MySQL denied access",
                _ => "MySQL refused the connection",
            };
            Err(Error::unavailable(format!("{what}: {msg}")))
        } else {
            Err(Error::failed(format!("query failed: {msg}")))
        }
    }

    /// Base tables of a database with their engines.
    pub fn base_tables(&self, db: &str) -> Result<Vec<(String, String)>> {
        self.tables_of(db, "'BASE TABLE'")
    }

    /// Tables of the given `TABLE_TYPE`s (an SQL list) with their engines.
    pub fn tables_of(&self, db: &str, types: &str) -> Result<Vec<(String, String)>> {
        let rows = self.rows(
            None,
            &format!(
                "SELECT TABLE_NAME, IFNULL(ENGINE, '') FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = {} AND TABLE_TYPE IN ({types}) ORDER BY TABLE_NAME",
                quote_literal(db)
            ),
        )?;
        Ok(rows
            .into_iter()
            .filter(|r| r.len() == 2)
            .map(|mut r| {
                let e = r.pop().unwrap_or_default();
                (r.pop().unwrap_or_default(), e)
            })
            .collect())
    }

    /// Exact row counts of every base table of `db`.
    pub fn count_tables(&self, db: &str) -> Result<TableCounts> {
        let tables = self.base_tables(db)?;
        let mut counts = TableCounts::new();
        // Batches keep the statement a sane size.
        for chunk in tables.chunks(200) {
            let sql = chunk
                .iter()
                .map(|(t, _)| {
                    format!(
                        "SELECT HEX({}), COUNT(*) FROM {}.{}",
                        quote_literal(t),
                        quote_ident(db),
                        quote_ident(t)
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            for r in self.rows(None, &sql)? {
                if r.len() != 2 {
                    continue;
                }
                let name = decode_hex(&r[0])
                    .ok_or_else(|| Error::failed(format!("unexpected row count line {r:?}")))?;
                let n = r[1]
                    .parse()
                    .map_err(|_| Error::failed(format!("unexpected row count line {r:?}")))?;
                counts.insert(name, n);
            }
        }
        Ok(counts)
    }

    /// Dumps the database as SQL into `out`, counting rows and checking the
    /// completion trailer from the stream itself.
    // Long: one child's lifecycle (command line, spawn, the copy loop through the scanner, wait, explain the exit, judge completeness), in order.
    pub fn dump(&self, out: &mut dyn Write, progress: &mut Progress) -> Result<DumpStats> {
        let db = self.database().to_string();
        if db.is_empty() {
            return Err(Error::usage("the MySQL URL names no database to dump"));
        }
        let non_transactional: Vec<(String, String)> = self
            .base_tables(&db)?
            .into_iter()
            .filter(|(_, e)| {
                !e.eq_ignore_ascii_case("InnoDB") && !e.eq_ignore_ascii_case("ROCKSDB")
            })
            .collect();
        let mut cmd = self.command(&self.client.dump);
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--quick",
            "--no-tablespaces",
            "--default-character-set=utf8mb4",
        ]);
        if self.client.flavor == Flavor::Mysql {
            // GTID-neutral: no SET @@GLOBAL.GTID_PURGED in the dump, so it
            // loads into any server (mariadb-dump writes none by default).
            cmd.arg("--set-gtid-purged=OFF");
        }
        cmd.arg("--").arg(&db);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.spawn(cmd, &self.client.dump)?;
        let stderr = capture_stderr(&mut child);
        let mut stdout: ChildStdout = child.stdout.take().expect("stdout is piped");
        let mut scanner = MysqlScanner::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        let copy: Result<()> = (|| {
            loop {
                let n = match stdout.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io("cannot read the dump tool's output", e)),
                };
                scanner.feed(&buf[..n]);
                out.write_all(&buf[..n]).context("cannot write the dump")?;
                total += n as u64;
                progress.add(n as u64);
            }
        })();
        if copy.is_err() {
            let _ = child.kill();
        }
        drop(stdout);
        let status = child.wait().context("cannot wait for the dump tool")?;
        let err_text = stderr.join().unwrap_or_default();
        copy?;
        if !status.success() {
            let msg = first_error_line(&err_text);
            let text = format!("{}: {msg}", describe_status(&self.client.dump, status));
            return Err(if is_connection_error(&msg) {
                Error::unavailable(text)
            } else {
                Error::failed(text)
            });
        }
        if total == 0 {
            return Err(Error::failed(format!(
                "{} produced no output",
                self.client.dump
            )));
        }
        let (tables, complete) = scanner.finish();
        if !complete {
            return Err(Error::failed(format!(
                "{} output is incomplete: it does not end with the '-- Dump completed' trailer",
                self.client.dump
            )));
        }
        Ok(DumpStats {
            raw_bytes: total,
            tables,
            non_transactional,
        })
    }

    /// Runs a client reading SQL on stdin against `db`; `feed` writes the
    /// SQL. Stops at the first error. With `--exec`, refused when a
    /// password must be passed (stdin carries the SQL).
    pub fn load(&self, db: &str, feed: impl FnOnce(ChildStdin) -> Result<()>) -> Result<()> {
        self.run_sql(Some(db), false, |stdin| (feed(stdin), None))
    }

    /// Like [`Self::load`], for a feeder that may decide against its input
    /// after writing some of it: it returns the client's stdin with its
    /// verdict, and on an error the client is killed *before* its stdin
    /// closes, so a statement it holds unfinished is never run.
    pub fn load_checked(&self, db: &str, feed: impl FnOnce(ChildStdin) -> Fed) -> Result<()> {
        self.run_sql(Some(db), false, feed)
    }

    /// Runs a SQL script (statements, `DELIMITER`, `USE`) with the query
    /// client, stopping at the first error. `detached`: the client runs in
    /// its own process group and gets the whole script before this waits, so
    /// neither a Ctrl-C to lfb's group nor lfb being killed stops it half-way.
    pub fn run_script(&self, db: Option<&str>, script: &str, detached: bool) -> Result<()> {
        self.run_sql(db, detached, |mut stdin| {
            let r = stdin
                .write_all(script.as_bytes())
                .map_err(|e| Error::io("cannot write to the mysql client", e));
            (r, None)
        })
    }

    // Long: one client's lifecycle (its command line with or without --exec, spawn, feed, wait, map the exit to an error), in order.
    fn run_sql(
        &self,
        db: Option<&str>,
        detached: bool,
        feed: impl FnOnce(ChildStdin) -> Fed,
    ) -> Result<()> {
        if self.options.path().is_none() && self.conn.password.is_some() {
            return Err(Error::usage(
                "--exec with a password in the URL: loading a dump needs the client's stdin, so the password cannot be passed; let the prefix provide it (e.g. docker compose exec -e MYSQL_PWD=... -T db)",
            ));
        }
        let mut cmd = match self.options.path() {
            Some(_) => self.command(&self.client.query),
            None => {
                let mut c = match self.prefix.split_first() {
                    Some((first, rest)) => {
                        let mut c = Command::new(first);
                        c.args(rest).arg(&self.client.query);
                        c
                    }
                    None => Command::new(&self.client.query),
                };
                if let Some(u) = &self.conn.user {
                    c.arg(format!("--user={u}"));
                }
                match self.conn.host.as_deref() {
                    Some(h) if h.starts_with('/') => {
                        c.arg(format!("--socket={h}"));
                    }
                    Some(h) => {
                        c.arg(format!("--host={h}"));
                    }
                    None => {}
                }
                if let Some(p) = self.conn.port {
                    c.arg(format!("--port={p}"));
                }
                c
            }
        };
        cmd.args([
            "--batch",
            "--silent",
            "--max-allowed-packet=1073741824",
            "--default-character-set=utf8mb4",
        ]);
        if let Some(db) = db {
            cmd.arg(format!("--database={db}"));
        }
        if detached {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::unavailable(format!(
                    "cannot run {}: {}",
                    self.client.query,
                    crate::error::describe_io(&e)
                ))
            })?;
        let err_thread = capture_stderr(&mut child);
        let stdin = child.stdin.take().expect("piped");
        let (fed, input) = feed(stdin);
        if fed.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(input);
        let status = child.wait().context("cannot wait for the mysql client")?;
        let err = err_thread.join().unwrap_or_default();
        if let Some(c) = status.code()
            && c != 0
        {
            return Err(Error::failed(format!(
                "SQL error: {}",
                first_error_line(&err)
            )));
        }
        fed?;
        if !status.success() {
            return Err(Error::failed(describe_status(&self.client.query, status)));
        }
        Ok(())
    }

    /// Creates a database with the character set and collation of `like`
    /// (utf8mb4 without one).
    pub fn create_database(&self, name: &str, like: Option<&str>) -> Result<()> {
        let sql = self.create_database_sql(name, like)?;
        self.query(None, &sql)?;
        Ok(())
    }

    /// The `CREATE DATABASE` statement [`Self::create_database`] runs.
    pub fn create_database_sql(&self, name: &str, like: Option<&str>) -> Result<String> {
        let mut spec = String::new();
        if let Some(l) = like
            && let Some(r) = self
                .rows(
                    None,
                    &format!(
                        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                        quote_literal(l)
                    ),
                )?
                .into_iter()
                .find(|r| r.len() == 2)
        {
            spec = format!(" CHARACTER SET {} COLLATE {}", r[0], r[1]);
        }
        if spec.is_empty() {
            spec = " CHARACTER SET utf8mb4".to_string();
        }
        Ok(format!("CREATE DATABASE {}{spec}", quote_ident(name)))
    }

    /// Drops the scratch and shadow databases (`lfb_scratch_*`,
    /// `lfb_new_*`) that runs on this machine left when they were killed
    /// with SIGKILL; returns their names. An `lfb_old_*` database is dropped
    /// only when empty: with tables it holds the old tables of a swap that
    /// did not finish.
    pub fn drop_stale(&self) -> Result<Vec<String>> {
        let names = self.rows(
            None,
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'lfb\\_%'",
        )?;
        let mut dropped = Vec::new();
        for n in names.into_iter().filter_map(|r| r.into_iter().next()) {
            let drop = is_stale(&n, &["new", "scratch"])
                || (is_stale(&n, &["old"])
                    && self
                        .tables_of(&n, "'BASE TABLE', 'SEQUENCE', 'VIEW'")?
                        .is_empty());
            if drop {
                self.query(
                    None,
                    &format!("DROP DATABASE IF EXISTS {}", quote_ident(&n)),
                )?;
                dropped.push(n);
            }
        }
        Ok(dropped)
    }

    /// True when the database exists.
    pub fn database_exists(&self, name: &str) -> Result<bool> {
        let out = self.query(
            None,
            &format!(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                quote_literal(name)
            ),
        )?;
        Ok(!out.trim().is_empty())
    }
}

fn decode_hex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Removes the private option-file folders (`$TMPDIR/lfb-mysql-PID-*`,
/// ours) of runs that were killed with SIGKILL and so could not remove
/// them: their process no longer exists.
fn remove_stale_option_dirs() {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("lfb-mysql-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if meta.is_dir()
            && meta.uid() == crate::sys::euid()
            && pid != std::process::id()
            && !crate::sys::process_exists(pid)
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The dump tool inside an `--exec` prefix.
fn probe_exec(prefix: &[String]) -> Result<ClientInfo> {
    let mut last_err = String::new();
    for (dump, query) in [("mariadb-dump", "mariadb"), ("mysqldump", "mysql")] {
        let mut c = Command::new(&prefix[0]);
        c.args(&prefix[1..]).args([dump, "--version"]);
        match c.stdin(Stdio::null()).output() {
            Ok(o) => {
                if let Some((flavor, version, tool)) =
                    parse_tool_version(&String::from_utf8_lossy(&o.stdout))
                {
                    return Ok(ClientInfo {
                        flavor,
                        version,
                        dir: None,
                        dump: dump.to_string(),
                        query: query.to_string(),
                        tool,
                    });
                }
                last_err = first_error_line(&String::from_utf8_lossy(&o.stderr));
            }
            Err(e) => last_err = crate::error::describe_io(&e),
        }
    }
    Err(Error::unavailable(format!(
        "'{} mariadb-dump --version' (or mysqldump) did not print a version: {last_err}",
        prefix.join(" ")
    )))
}

/// The server a MySQL artifact came from, as a connection: the record's
/// host (or socket), port and user, with a password from `$DATABASE_URL`
/// when that URL names the same server.
pub fn source_conn(record: &Record) -> ServerConn {
    super::url::record_source(record, |d| match d {
        Database::Mysql(c) => Some(c),
        _ => None,
    })
}

static SCRATCH_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// This machine, as 8 hex digits (FNV-1a of the host name), so a leftover
/// database names the machine whose process made it.
fn host_tag() -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in crate::sys::hostname().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// A unique name for a scratch or shadow database (at most 64 bytes):
/// `lfb_KIND_HOST_PID_TIME_N`.
pub fn scratch_name(kind: &str) -> String {
    let n = SCRATCH_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "lfb_{kind}_{}_{}_{}_{n}",
        host_tag(),
        std::process::id(),
        Utc::now().timestamp()
    )
}

/// For a database name made by [`scratch_name`] with one of `kinds` on
/// this machine by a process that no longer exists: true. Such a database
/// was left by a run killed with SIGKILL (which cannot clean up).
pub fn is_stale(name: &str, kinds: &[&str]) -> bool {
    let parts: Vec<&str> = name.split('_').collect();
    let [lfb, kind, host, pid, _time, _n] = parts.as_slice() else {
        return false;
    };
    *lfb == "lfb"
        && kinds.contains(kind)
        && *host == host_tag()
        && pid
            .parse::<u32>()
            .is_ok_and(|p| p != std::process::id() && !crate::sys::process_exists(p))
}

/// `lfb-verify --restore-test` of a MySQL dump: loads it into a new scratch
/// database on the source server (or the `--scratch` URL's), compares the
/// row counts, and drops the scratch database whatever happens (also on
/// SIGINT/SIGTERM/SIGHUP). Never touches the source database.
pub fn restore_test(
    record: &Record,
    content: &mut dyn Read,
    scratch: Option<&str>,
) -> Result<(TableCounts, String)> {
    let src = source_conn(record);
    let (server, scratch_db) = match scratch {
        Some(url) => match Database::parse(url)? {
            Database::Mysql(c) => {
                let db = c
                    .database
                    .clone()
                    .ok_or_else(|| Error::usage("--scratch URL must name the scratch database"))?;
                (c, db)
            }
            _ => {
                return Err(Error::usage(
                    "--scratch must be a mysql:// URL for a MySQL/MariaDB dump",
                ));
            }
        },
        None => (src.clone(), scratch_name("scratch")),
    };
    if let Some(src_db) = &src.database
        && server.host == src.host
        && server.port.unwrap_or(3306) == src.port.unwrap_or(3306)
        && &scratch_db == src_db
    {
        return Err(Error::usage(format!(
            "refusing to restore-test into '{scratch_db}': it is the source database itself"
        )));
    }
    let mut admin_conn = server.clone();
    admin_conn.database = None;
    let my = Mysql::connect(&admin_conn, None)?;
    let _ = my.drop_stale();
    if my.database_exists(&scratch_db)? {
        return Err(Error::usage(format!(
            "scratch database '{scratch_db}' already exists; lfb creates and drops its scratch database itself"
        )));
    }
    my.create_database(&scratch_db, None)?;
    let dropper = {
        let my = my.clone();
        let ident = quote_ident(&scratch_db);
        cleanup::on_interrupt(move || {
            let _ = my.query(None, &format!("DROP DATABASE IF EXISTS {ident}"));
        })
    };
    let res = (|| {
        my.load(&scratch_db, |mut w| {
            std::io::copy(content, &mut w)
                .map(|_| ())
                .map_err(|e| Error::io("cannot feed the dump to the mysql client", e))
        })?;
        let found = my.count_tables(&scratch_db)?;
        Ok((found, format!("scratch database {scratch_db}")))
    })();
    dropper.run_now();
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::url::Secret;

    #[test]
    fn tool_versions() {
        let v = parse_tool_version(
            "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n",
        )
        .unwrap();
        assert_eq!((v.0, v.1), (Flavor::MariaDb, (10, 11)));
        let v =
            parse_tool_version("mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)")
                .unwrap();
        assert_eq!((v.0, v.1), (Flavor::MariaDb, (11, 4)));
        let v = parse_tool_version(
            "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
        )
        .unwrap();
        assert_eq!((v.0, v.1), (Flavor::Mysql, (8, 0)));
        let v =
            parse_tool_version("mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)").unwrap();
        assert_eq!((v.0, v.1), (Flavor::Mysql, (5, 7)));
        assert!(parse_tool_version("garbage").is_none());
    }

    #[test]
    fn client_choice_needs_the_same_flavor_and_a_new_enough_version() {
        let c = |f: Flavor, a: u32, b: u32| ClientInfo {
            flavor: f,
            version: (a, b),
            dir: None,
            dump: String::new(),
            query: String::new(),
            tool: format!("{a}.{b}"),
        };
        let inst = vec![
            c(Flavor::MariaDb, 10, 11),
            c(Flavor::MariaDb, 11, 4),
            c(Flavor::Mysql, 8, 0),
        ];
        assert_eq!(
            choose_client(&inst, Flavor::MariaDb, (10, 11))
                .unwrap()
                .version,
            (10, 11)
        );
        assert_eq!(
            choose_client(&inst, Flavor::MariaDb, (10, 6))
                .unwrap()
                .version,
            (10, 11)
        );
        assert_eq!(
            choose_client(&inst, Flavor::MariaDb, (11, 2))
                .unwrap()
                .version,
            (11, 4)
        );
        assert!(choose_client(&inst, Flavor::MariaDb, (11, 8)).is_none());
        assert_eq!(
            choose_client(&inst, Flavor::Mysql, (5, 7)).unwrap().version,
            (8, 0)
        );
        assert!(choose_client(&inst, Flavor::Mysql, (8, 4)).is_none());
        let only_maria = vec![c(Flavor::MariaDb, 10, 11)];
        assert!(choose_client(&only_maria, Flavor::Mysql, (8, 0)).is_none());
        assert!(Flavor::Mysql.package((8, 0)).contains("mysql-client 8.0"));
    }

    #[test]
    fn option_files_quote_and_carry_the_password() {
        let conn = ServerConn {
            user: Some("app".into()),
            password: Some(Secret::new("p\"a\\ss #w'd".into())),
            host: Some("/run/mysqld/mysqld.sock".into()),
            ..Default::default()
        };
        let t = option_text(&conn, false);
        assert!(t.starts_with("[client]\n"));
        assert!(t.contains("password=\"p\\\"a\\\\ss #w'd\"\n"), "{t}");
        assert!(t.contains("socket=\"/run/mysqld/mysqld.sock\"\nprotocol=SOCKET\n"));
        let tcp = ServerConn {
            host: Some("localhost".into()),
            port: Some(3307),
            ..Default::default()
        };
        assert!(option_text(&tcp, false).contains("protocol=TCP"));
    }

    #[test]
    fn debug_output_never_shows_the_option_text() {
        let o = OptionFile {
            dir: None,
            text: "[client]\npassword=\"hunter2\"\n".into(),
        };
        assert!(!format!("{o:?}").contains("hunter2"));
    }

    #[test]
    fn batch_fields_and_errors() {
        assert_eq!(unescape_batch("a\\tb\\nc\\\\d"), "a\tb\nc\\d");
        let e =
            "ERROR 1045 (28000): Access denied for user 'app'@'localhost' (using password: YES)\n";
        assert!(is_connection_error(&first_error_line(e)));
        assert!(!is_connection_error("ERROR 1064 (42000) at line 3: syntax"));
        assert_eq!(
            first_error_line(
                "mariadb-dump: Got error: 1049: \"Unknown database 'x'\" when selecting the database\n"
            ),
            "Got error: 1049: \"Unknown database 'x'\" when selecting the database"
        );
        assert!(is_connection_error(
            "Got error: 1049: \"Unknown database 'x'\""
        ));
        assert_eq!(decode_hex("6162").as_deref(), Some("ab"));
    }

    #[test]
    fn leftover_databases_of_dead_runs_on_this_machine_are_stale() {
        let mine = scratch_name("new");
        assert!(mine.len() <= 64);
        assert!(!is_stale(&mine, &["new"]), "this process is alive");
        let dead = format!("lfb_new_{}_999999999_1_0", host_tag());
        assert!(is_stale(&dead, &["new", "scratch"]));
        assert!(!is_stale(&dead, &["scratch"]));
        assert!(
            !is_stale("lfb_new_00000000_999999999_1_0", &["new"]),
            "another machine"
        );
        assert!(!is_stale("lfb_new_x", &["new"]));
        assert!(!is_stale("shop", &["new"]));
    }
}
