//! PostgreSQL through its own client programs: `psql`, `pg_dump`,
//! `pg_restore`.
//!
//! Connection settings go to the clients as `-h/-p/-U/-d` flags; the
//! password and other libpq settings only through the child's environment
//! (`PGPASSWORD`, `PGSSLMODE`, ...), never argv. Where several client
//! versions are installed, the `pg_dump` whose major version matches the
//! server is chosen (a newer one can dump an older server; an older cannot).
//! `--exec PREFIX` runs every client through a command prefix instead, such
//! as `docker compose exec -T postgres`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use crate::engine::pgscan::PlainScanner;
use crate::engine::url::ServerConn;
use crate::error::{Error, IoContext, Result};
use crate::progress::Progress;

/// Row counts per table, keyed `schema.table` as `quote_ident` writes them.
pub type TableCounts = BTreeMap<String, u64>;

/// One query that counts the rows of every table pg_dump dumps data for,
/// exactly, in the current snapshot. Output: `name|count` lines. A count
/// is the rows stored in that table itself (`FROM ONLY`: an inheritance
/// parent's count leaves out its children's rows), which is what a plain
/// dump's `COPY` holds for it, so plain and custom records agree.
pub const COUNT_TABLES_SQL: &str = "SELECT format('%I.%I', n.nspname, c.relname), \
 (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text \
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
 WHERE c.relkind = 'r' AND c.relpersistence <> 't' \
 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') \
 ORDER BY 1";

/// libpq settings passed through the environment, by URL parameter name.
const ENV_PARAMS: &[(&str, &str)] = &[
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("sslcrl", "PGSSLCRL"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("passfile", "PGPASSFILE"),
    ("service", "PGSERVICE"),
    ("gssencmode", "PGGSSENCMODE"),
    ("channel_binding", "PGCHANNELBINDING"),
];

/// How to run the PostgreSQL client programs.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Folder of the client programs; `None` means "by name on PATH".
    pub bin_dir: Option<PathBuf>,
    /// Command prefix (`--exec`), split into words.
    pub prefix: Vec<String>,
    /// `pg_dump --version` as printed, e.g. "pg_dump (PostgreSQL) 15.20".
    pub tool: String,
    pub major: u32,
}

impl Clients {
    /// A command for a client program (`psql`, `pg_dump`, `pg_restore`).
    pub fn command(&self, program: &str) -> Command {
        if let Some((first, rest)) = self.prefix.split_first() {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            return c;
        }
        match &self.bin_dir {
            Some(d) => Command::new(d.join(program)),
            None => Command::new(program),
        }
    }
}

/// A connection to one PostgreSQL database: settings plus chosen clients.
#[derive(Debug, Clone)]
pub struct Postgres {
    pub conn: ServerConn,
    pub clients: Clients,
    /// Facts read from the server.
    pub server: ServerInfo,
}

/// What the server says about itself.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    pub version_num: u32,
    /// e.g. "15.20"
    pub version: String,
    pub database: String,
    pub user: String,
}

impl ServerInfo {
    pub fn major(&self) -> u32 {
        self.version_num / 10000
    }
}

/// Splits a `--exec` prefix into words (single and double quotes group).
pub fn split_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(Error::usage(format!("--exec '{s}': unclosed quote")));
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(Error::usage("--exec: empty command prefix"));
    }
    Ok(words)
}

/// Parses `pg_dump (PostgreSQL) 15.20 (Debian ...)` into ("pg_dump
/// (PostgreSQL) 15.20", 15).
pub fn parse_tool_version(out: &str) -> Option<(String, u32)> {
    let line = out.lines().next()?.trim();
    let mut words = line.split_whitespace();
    let prog = words.next()?;
    let product = words.next()?;
    let version = words.next()?;
    let major: u32 = version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((format!("{prog} {product} {version}"), major))
}

/// Folders that may hold PostgreSQL client programs, in the order tried.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("LFB_PG_BINDIR").filter(|s| !s.is_empty()) {
        dirs.push(PathBuf::from(d));
        return dirs;
    }
    let globs = [
        "/usr/lib/postgresql",                          // Debian, Ubuntu: N/bin
        "/usr/local/opt",                               // Homebrew (Intel): postgresql@N/bin
        "/opt/homebrew/opt",                            // Homebrew (Apple silicon)
        "/Applications/Postgres.app/Contents/Versions", // Postgres.app: N/bin
    ];
    for base in globs {
        let Ok(entries) = std::fs::read_dir(base) else {
            continue;
        };
        let homebrew = base.ends_with("/opt");
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
                let n = n.unwrap_or_default();
                !homebrew || n.starts_with("postgresql") || n == "libpq"
            })
            .map(|p| p.join("bin"))
            .collect();
        found.sort();
        dirs.extend(found);
    }
    for base in ["/usr"] {
        if let Ok(entries) = std::fs::read_dir(base) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().starts_with("/usr/pgsql-"))
                .map(|p| p.join("bin"))
                .collect();
            found.sort();
            dirs.extend(found);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// Every installed `pg_dump` with its major version: (major, folder, tool),
/// in the order of [`candidate_dirs`]: versioned folders before `PATH`, so
/// on a tie the real program wins over a wrapper script such as Debian's
/// `/usr/bin/pg_dump`. Probed once per process.
pub fn installed_clients() -> Vec<(u32, PathBuf, String)> {
    static CLIENTS: std::sync::OnceLock<Vec<(u32, PathBuf, String)>> = std::sync::OnceLock::new();
    CLIENTS.get_or_init(probe_clients).clone()
}

fn probe_clients() -> Vec<(u32, PathBuf, String)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in candidate_dirs() {
        let exe = dir.join("pg_dump");
        let Ok(real) = std::fs::canonicalize(&exe) else {
            continue;
        };
        if seen.contains(&real) {
            continue;
        }
        // Debian's and Ubuntu's /usr/bin/pg_dump is postgresql-common's
        // pg_wrapper, a Perl script (~0.1 s to start) that only ever runs
        // the programs of /usr/lib/postgresql/N/bin, which are probed above.
        if !out.is_empty() && real.file_name().is_some_and(|n| n == "pg_wrapper") {
            continue;
        }
        seen.push(real);
        let Ok(o) = Command::new(&exe)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
        else {
            continue;
        };
        if let Some((tool, major)) = parse_tool_version(&String::from_utf8_lossy(&o.stdout)) {
            out.push((major, dir, tool));
        }
    }
    out
}

/// The newest installed client; the first found among equals.
pub fn newest_client(installed: &[(u32, PathBuf, String)]) -> Option<&(u32, PathBuf, String)> {
    let top = installed.iter().map(|c| c.0).max()?;
    installed.iter().find(|c| c.0 == top)
}

/// Picks the client for a server major version: the same major, else the
/// oldest newer one. `None` when only older clients exist.
pub fn choose_client(
    installed: &[(u32, PathBuf, String)],
    server_major: u32,
) -> Option<&(u32, PathBuf, String)> {
    installed.iter().find(|c| c.0 == server_major).or_else(|| {
        installed
            .iter()
            .filter(|c| c.0 > server_major)
            .min_by_key(|c| c.0)
    })
}

/// Environment for a client child: password and libpq settings.
fn conn_env(conn: &ServerConn) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(p) = &conn.password {
        env.push(("PGPASSWORD".to_string(), p.expose().to_string()));
    }
    for (k, v) in &conn.params {
        if let Some((_, var)) = ENV_PARAMS.iter().find(|(p, _)| p == k) {
            env.push((var.to_string(), v.clone()));
        }
    }
    if std::env::var_os("PGCONNECT_TIMEOUT").is_none() && conn.param("connect_timeout").is_none() {
        env.push(("PGCONNECT_TIMEOUT".to_string(), "10".to_string()));
    }
    if std::env::var_os("PGAPPNAME").is_none() && conn.param("application_name").is_none() {
        env.push(("PGAPPNAME".to_string(), "lfb".to_string()));
    }
    env
}

/// `-h/-p/-U` flags (no secrets).
fn conn_args(conn: &ServerConn) -> Vec<String> {
    let mut a = Vec::new();
    if let Some(h) = &conn.host {
        a.push("-h".to_string());
        a.push(h.clone());
    }
    if let Some(p) = conn.port {
        a.push("-p".to_string());
        a.push(p.to_string());
    }
    if let Some(u) = &conn.user {
        a.push("-U".to_string());
        a.push(u.clone());
    }
    a
}

/// Unknown URL parameters are refused rather than silently ignored.
fn check_params(conn: &ServerConn) -> Result<()> {
    for (k, _) in &conn.params {
        if !ENV_PARAMS.iter().any(|(p, _)| p == k) {
            return Err(Error::input(format!(
                "unsupported PostgreSQL URL parameter '{k}'"
            )));
        }
    }
    Ok(())
}

/// The first line of a client's stderr, without the program prefix, for a
/// one-line error.
pub fn first_error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .find(|l| l.contains("error:") || l.contains("FATAL") || l.contains("ERROR"))
        .or(lines.first())
        .copied()
        .unwrap_or("no message");
    let mut s = pick.to_string();
    for prefix in ["psql: error: ", "pg_dump: error: ", "pg_restore: error: "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_string();
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn describe_status(program: &str, status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("{program} exited with status {c}"),
        (None, Some(s)) => format!("{program} was killed by signal {s}"),
        _ => format!("{program} failed"),
    }
}

/// Collects the tail of a child's stderr in a thread (bounded).
pub fn capture_stderr(child: &mut Child) -> JoinHandle<String> {
    let mut err = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = err.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 64 * 1024 {
                buf.drain(..buf.len() - 32 * 1024);
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

impl Postgres {
    /// Connects: picks client programs, asks the server who it is. Every
    /// failure here means the tool could not start (exit 2).
    pub fn connect(conn: &ServerConn, exec: Option<&str>) -> Result<Postgres> {
        Ok(Postgres::connect_asking(conn, exec, None)?.0)
    }

    /// [`Postgres::connect`], also asking whether database `db` exists on
    /// the server, in the same query: one psql instead of two before a
    /// restore (each costs a process and a backend, ~20-40 ms).
    pub fn connect_and_find(
        conn: &ServerConn,
        exec: Option<&str>,
        db: &str,
    ) -> Result<(Postgres, bool)> {
        let ask = format!(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = '{}')",
            db.replace('\'', "''")
        );
        let (pg, answer) = Postgres::connect_asking(conn, exec, Some(&ask))?;
        match answer.as_deref() {
            Some("t") => Ok((pg, true)),
            Some("f") => Ok((pg, false)),
            other => Err(Error::unavailable(format!(
                "unexpected answer from PostgreSQL server: {other:?}"
            ))),
        }
    }

    // Long: the connection ladder tried in order (client programs or the --exec probe, ask the server, a pg_dump that fits it), each step's exit-2 message inline.
    fn connect_asking(
        conn: &ServerConn,
        exec: Option<&str>,
        ask: Option<&str>,
    ) -> Result<(Postgres, Option<String>)> {
        check_params(conn)?;
        let (clients, installed) = match exec {
            Some(prefix) => {
                let prefix = split_words(prefix)?;
                let probe = Clients {
                    bin_dir: None,
                    prefix,
                    tool: String::new(),
                    major: 0,
                };
                let out = probe
                    .command("pg_dump")
                    .arg("--version")
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| {
                        Error::unavailable(format!(
                            "cannot run '{} pg_dump': {}",
                            probe.prefix.join(" "),
                            crate::error::describe_io(&e)
                        ))
                    })?;
                let (tool, major) = parse_tool_version(&String::from_utf8_lossy(&out.stdout))
                    .ok_or_else(|| {
                        Error::unavailable(format!(
                            "'{} pg_dump --version' did not print a version: {}",
                            probe.prefix.join(" "),
                            first_error_line(&String::from_utf8_lossy(&out.stderr))
                        ))
                    })?;
                (
                    Clients {
                        tool,
                        major,
                        ..probe
                    },
                    Vec::new(),
                )
            }
            None => {
                let installed = installed_clients();
                let newest = newest_client(&installed).ok_or_else(|| {
                    Error::unavailable(
                        "PostgreSQL client programs not found (pg_dump, psql): install postgresql-client",
                    )
                })?;
                (
                    Clients {
                        bin_dir: Some(newest.1.clone()),
                        prefix: Vec::new(),
                        tool: newest.2.clone(),
                        major: newest.0,
                    },
                    installed,
                )
            }
        };
        let mut pg = Postgres {
            conn: conn.clone(),
            clients,
            server: ServerInfo::default(),
        };
        let out = pg.psql_query(&format!(
            "SELECT current_setting('server_version_num'), current_setting('server_version'), current_database(), current_user{}",
            ask.map(|a| format!(", {a}")).unwrap_or_default()
        ))?;
        let fields: Vec<&str> = out.trim_end().split('|').collect();
        if fields.len() != 4 + usize::from(ask.is_some()) {
            return Err(Error::unavailable(format!(
                "unexpected answer from PostgreSQL server: {out:?}"
            )));
        }
        pg.server = ServerInfo {
            version_num: fields[0].parse().unwrap_or(0),
            version: fields[1]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
            database: fields[2].to_string(),
            user: fields[3].to_string(),
        };
        if exec.is_none() {
            let major = pg.server.major();
            let chosen = choose_client(&installed, major).ok_or_else(|| {
                let found: Vec<String> = installed
                    .iter()
                    .map(|c| format!("{} in {}", c.2, c.1.display()))
                    .collect();
                Error::unavailable(format!(
                    "no pg_dump can dump this PostgreSQL {major} server (found: {}); pg_dump must be version {major} or newer: install postgresql-client-{major}",
                    found.join(", ")
                ))
            })?;
            pg.clients = Clients {
                bin_dir: Some(chosen.1.clone()),
                prefix: Vec::new(),
                tool: chosen.2.clone(),
                major: chosen.0,
            };
        } else if pg.clients.major < pg.server.major() {
            return Err(Error::unavailable(format!(
                "{} cannot dump this PostgreSQL {} server: it needs pg_dump {} or newer",
                pg.clients.tool,
                pg.server.major(),
                pg.server.major()
            )));
        }
        let answer = ask.map(|_| fields[4].to_string());
        Ok((pg, answer))
    }

    /// A client command with connection flags and environment set.
    pub fn command(&self, program: &str) -> Command {
        let mut c = self.clients.command(program);
        c.args(conn_args(&self.conn));
        for (k, v) in conn_env(&self.conn) {
            c.env(k, v);
        }
        c
    }

    /// The database name given, else what the server reported.
    pub fn database(&self) -> &str {
        self.conn
            .database
            .as_deref()
            .unwrap_or(self.server.database.as_str())
    }

    /// Host for records: the URL's, else $PGHOST, else the local socket.
    pub fn host(&self) -> String {
        self.conn
            .host
            .clone()
            .or_else(|| std::env::var("PGHOST").ok())
            .unwrap_or_else(|| "localhost".to_string())
    }

    /// Runs one query with psql (`-XAtq`, fields separated by `|`) and
    /// returns its output. Connection failures are exit-2 errors.
    pub fn psql_query(&self, sql: &str) -> Result<String> {
        self.psql_query_on(self.conn.database.as_deref(), sql)
    }

    /// Like [`Self::psql_query`] against another database of the server.
    pub fn psql_query_on(&self, db: Option<&str>, sql: &str) -> Result<String> {
        let mut cmd = self.command("psql");
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", "|"]);
        if let Some(db) = db {
            cmd.args(["-d", db]);
        }
        cmd.args(["-c", sql]);
        let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
            Error::unavailable(format!(
                "cannot run psql: {}",
                crate::error::describe_io(&e)
            ))
        })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let msg = first_error_line(&String::from_utf8_lossy(&out.stderr));
        if out.status.code() == Some(2) {
            Err(Error::unavailable(format!(
                "cannot connect to PostgreSQL database '{}': {msg}",
                db.unwrap_or("(default)")
            )))
        } else {
            Err(Error::failed(format!("query failed: {msg}")))
        }
    }

    /// Exact row counts of every table, in one snapshot.
    pub fn count_tables(&self, db: Option<&str>) -> Result<TableCounts> {
        parse_counts(&self.psql_query_on(db, COUNT_TABLES_SQL)?)
    }

    /// Dumps in plain SQL format into `out`, counting rows and checking the
    /// completion trailer from the stream itself.
    pub fn dump_plain(&self, out: &mut dyn Write, progress: &mut Progress) -> Result<DumpStats> {
        let mut cmd = self.command("pg_dump");
        cmd.args(["--format=plain", "-d", self.database()]);
        let mut scanner = PlainScanner::new();
        let raw = run_dump(cmd, out, progress, |b| scanner.feed(b))?;
        let (tables, complete) = scanner.finish();
        if !complete {
            return Err(Error::failed(
                "pg_dump output is incomplete: it does not end with the completion trailer",
            ));
        }
        Ok(DumpStats {
            raw_bytes: raw,
            tables,
        })
    }

    /// Dumps the cluster's globals (roles, role memberships and settings,
    /// tablespaces) with `pg_dumpall --globals-only`, without role
    /// passwords unless `passwords`, checking pg_dumpall's completion
    /// trailer.
    pub fn dump_globals(
        &self,
        out: &mut dyn Write,
        passwords: bool,
        progress: &mut Progress,
    ) -> Result<DumpStats> {
        let mut cmd = self.command("pg_dumpall");
        cmd.args(["--globals-only", "-l", self.database()]);
        if !passwords {
            cmd.arg("--no-role-passwords");
        }
        let mut scanner = PlainScanner::new();
        let raw = run_dump(cmd, out, progress, |b| scanner.feed(b))?;
        let (_, complete) = scanner.finish();
        if !complete {
            return Err(Error::failed(
                "pg_dumpall output is incomplete: it does not end with the completion trailer",
            ));
        }
        Ok(DumpStats {
            raw_bytes: raw,
            tables: TableCounts::new(),
        })
    }

    /// Dumps in custom format into `out`; row counts come from a session that
    /// exports its snapshot to pg_dump, so they describe exactly the data
    /// dumped.
    pub fn dump_custom(
        &self,
        out: &mut dyn Write,
        level: u32,
        progress: &mut Progress,
    ) -> Result<DumpStats> {
        let session = SnapshotSession::open(self)?;
        let mut cmd = self.command("pg_dump");
        cmd.args([
            "--format=custom",
            &format!("--compress={level}"),
            &format!("--snapshot={}", session.snapshot),
            "-d",
            self.database(),
        ]);
        let mut head = Vec::with_capacity(5);
        let raw = run_dump(cmd, out, progress, |b| {
            if head.len() < 5 {
                head.extend_from_slice(&b[..b.len().min(5 - head.len())]);
            }
        })?;
        if head != b"PGDMP" {
            return Err(Error::failed(
                "pg_dump output is not a custom-format archive (no PGDMP header)",
            ));
        }
        let tables = session.count_and_close()?;
        Ok(DumpStats {
            raw_bytes: raw,
            tables,
        })
    }
}

/// What a dump produced besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct DumpStats {
    /// Bytes pg_dump wrote (before lfb's compression).
    pub raw_bytes: u64,
    pub tables: TableCounts,
}

/// Parses `name|count` lines.
pub fn parse_counts(out: &str) -> Result<TableCounts> {
    let mut t = TableCounts::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let (name, n) = line
            .rsplit_once('|')
            .ok_or_else(|| Error::failed(format!("unexpected row count line {line:?}")))?;
        let n = n
            .parse()
            .map_err(|_| Error::failed(format!("unexpected row count line {line:?}")))?;
        t.insert(name.to_string(), n);
    }
    Ok(t)
}

/// Runs pg_dump, streaming its stdout through `inspect` into `out`.
fn run_dump(
    mut cmd: Command,
    out: &mut dyn Write,
    progress: &mut Progress,
    mut inspect: impl FnMut(&[u8]),
) -> Result<u64> {
    // pg_dump dies with lfb rather than run on into a broken pipe.
    crate::sys::die_with_parent(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::unavailable(format!(
                "cannot run pg_dump: {}",
                crate::error::describe_io(&e)
            ))
        })?;
    let stderr = capture_stderr(&mut child);
    let mut stdout: ChildStdout = child.stdout.take().expect("stdout is piped");
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    let copy: Result<()> = (|| {
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("cannot read pg_dump output", e)),
            };
            inspect(&buf[..n]);
            out.write_all(&buf[..n]).context("cannot write the dump")?;
            total += n as u64;
            progress.add(n as u64);
        }
    })();
    if copy.is_err() {
        let _ = child.kill();
    }
    drop(stdout);
    let status = child.wait().context("cannot wait for pg_dump")?;
    let err_text = stderr.join().unwrap_or_default();
    copy?;
    if !status.success() {
        return Err(Error::failed(format!(
            "{}: {}",
            describe_status("pg_dump", status),
            first_error_line(&err_text)
        )));
    }
    if total == 0 {
        return Err(Error::failed("pg_dump produced no output"));
    }
    Ok(total)
}

/// A psql session holding a REPEATABLE READ transaction whose snapshot
/// pg_dump imports, so counts taken in it match the dump exactly.
struct SnapshotSession {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    snapshot: String,
}

impl SnapshotSession {
    fn open(pg: &Postgres) -> Result<SnapshotSession> {
        let mut cmd = pg.command("psql");
        cmd.args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-F",
            "|",
            "-d",
            pg.database(),
        ]);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::unavailable(format!(
                    "cannot run psql: {}",
                    crate::error::describe_io(&e)
                ))
            })?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        stdin
            .write_all(
                b"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\n",
            )
            .context("cannot talk to psql")?;
        stdin.flush().context("cannot talk to psql")?;
        let mut s = SnapshotSession {
            child,
            stdin: Some(stdin),
            stdout,
            snapshot: String::new(),
        };
        let mut line = String::new();
        s.stdout
            .read_line(&mut line)
            .context("cannot read from psql")?;
        let snap = line.trim().to_string();
        if snap.is_empty() {
            drop(s.stdin.take());
            let mut err = String::new();
            if let Some(mut e) = s.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = s.child.wait();
            return Err(Error::unavailable(format!(
                "cannot export a snapshot: {}",
                first_error_line(&err)
            )));
        }
        s.snapshot = snap;
        Ok(s)
    }

    fn count_and_close(mut self) -> Result<TableCounts> {
        let mut stdin = self.stdin.take().expect("open");
        let script = format!("{COUNT_TABLES_SQL};\nCOMMIT;\n\\q\n");
        stdin
            .write_all(script.as_bytes())
            .context("cannot talk to psql")?;
        drop(stdin);
        let mut out = String::new();
        self.stdout
            .read_to_string(&mut out)
            .context("cannot read from psql")?;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait().context("cannot wait for psql")?;
        if !status.success() {
            return Err(Error::failed(format!(
                "counting rows failed: {}",
                first_error_line(&err)
            )));
        }
        parse_counts(&out)
    }
}

impl Drop for SnapshotSession {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The folder of a client program, for messages.
pub fn describe_clients(c: &Clients) -> String {
    if !c.prefix.is_empty() {
        return format!("{} (through '{}')", c.tool, c.prefix.join(" "));
    }
    match &c.bin_dir {
        Some(d) => format!("{} in {}", c.tool, d.display()),
        None => c.tool.clone(),
    }
}

/// True when `path` looks like a PostgreSQL custom-format archive.
pub fn is_custom_archive(path: &Path) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"PGDMP"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_versions() {
        assert_eq!(
            parse_tool_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n"),
            Some(("pg_dump (PostgreSQL) 15.20".to_string(), 15))
        );
        assert_eq!(
            parse_tool_version("pg_dump (PostgreSQL) 17beta1"),
            Some(("pg_dump (PostgreSQL) 17beta1".to_string(), 17))
        );
        assert_eq!(parse_tool_version("garbage"), None);
    }

    #[test]
    fn client_choice_prefers_the_same_major_then_the_oldest_newer() {
        let c = |m: u32| (m, PathBuf::from(format!("/v{m}")), format!("pg_dump {m}"));
        let installed = vec![c(13), c(17), c(15), c(16)];
        assert_eq!(choose_client(&installed, 15).unwrap().0, 15);
        assert_eq!(choose_client(&installed, 14).unwrap().0, 15);
        assert_eq!(choose_client(&installed, 12).unwrap().0, 13);
        assert!(choose_client(&installed, 18).is_none());
    }

    #[test]
    fn exec_prefix_words() {
        assert_eq!(
            split_words("docker compose exec -T 'my pg'").unwrap(),
            vec!["docker", "compose", "exec", "-T", "my pg"]
        );
        assert!(split_words("  ").is_err());
        assert!(split_words("a 'b").is_err());
    }

    #[test]
    fn error_lines() {
        let e = "psql: error: connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL:  password authentication failed for user \"app\"\n";
        assert_eq!(
            first_error_line(e),
            "connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL: password authentication failed for user \"app\""
        );
    }

    #[test]
    fn passwords_go_to_the_environment_only() {
        let conn = ServerConn {
            host: Some("h".into()),
            user: Some("u".into()),
            password: Some(crate::engine::url::Secret::new("hunter2".into())),
            ..Default::default()
        };
        assert!(!conn_args(&conn).iter().any(|a| a.contains("hunter2")));
        assert!(conn_env(&conn).contains(&("PGPASSWORD".into(), "hunter2".into())));
    }
}
