//! Database URLs: what users put in `DATABASE_URL`.
//!
//! `postgres://` and `postgresql://` (libpq's URI form, including
//! `?host=/socket/dir`), `sqlite:` URLs (`sqlite:///relative.db`,
//! `sqlite:////absolute.db`, `sqlite:path`) and plain paths to SQLite files,
//! `mysql://` and `mariadb://` (also with a driver: `mysql+pymysql://`;
//! the socket as `?socket=/path`, `?unix_socket=/path` or a host that is a
//! path). A password in a URL is kept apart from everything that is printed:
//! [`Database::redacted`] never shows it; it reaches a PostgreSQL client only
//! through its environment and a MySQL client only through a private option
//! file.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::record::Record;
use serde_json::Value;

/// A secret that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
    /// The secret itself, for a child's environment only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Connection settings of a server database (PostgreSQL or MySQL/MariaDB).
/// `None` fields fall back to the client's own defaults and variables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerConn {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub database: Option<String>,
    /// Other query parameters (`sslmode=require`, `socket=/path`).
    pub params: Vec<(String, String)>,
}

impl ServerConn {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The server a record's `source` section names (host, port, user,
/// database), with the password and parameters of `$DATABASE_URL` when that
/// URL is of the same engine (`same_engine` takes its connection out of the
/// parsed URL) and names the same server.
pub fn record_source(
    record: &Record,
    same_engine: fn(Database) -> Option<ServerConn>,
) -> ServerConn {
    let src = record.get("source");
    let s = |k: &str| {
        src.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut conn = ServerConn {
        host: s("host"),
        port: src
            .and_then(|v| v.get("port"))
            .and_then(Value::as_u64)
            .map(|p| p as u16),
        user: s("user"),
        database: s("database"),
        ..Default::default()
    };
    if let Ok(url) = std::env::var("DATABASE_URL")
        && let Some(env) = Database::parse(&url).ok().and_then(same_engine)
        && (env.host == conn.host || conn.host.is_none())
    {
        if conn.host.is_none() {
            conn.host = env.host.clone();
            conn.port = env.port;
        }
        if conn.user.is_none() || conn.user == env.user {
            conn.user = env.user.clone();
            conn.password = env.password.clone();
        }
        conn.params = env.params.clone();
    }
    conn
}

/// A database lfb can dump or restore.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    Postgres(ServerConn),
    Sqlite(PathBuf),
    Mysql(ServerConn),
}

fn percent_decode(s: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::input(format!("invalid percent-encoding in the {what}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::input(format!("the {what} is not UTF-8")))
}

fn parse_server(rest: &str, scheme: &str) -> Result<ServerConn> {
    let bad = |what: &str| Error::input(format!("invalid {scheme} URL: {what}"));
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.find('/') {
        Some(i) => (&main[..i], Some(&main[i + 1..])),
        None => (main, None),
    };
    let mut conn = ServerConn::default();
    let hostport = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                conn.user = Some(percent_decode(user, "user name")?);
            }
            if let Some(p) = pass {
                conn.password = Some(Secret::new(percent_decode(p, "password")?));
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    if !hostport.is_empty() {
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let end = h.find(']').ok_or_else(|| bad("unclosed '[' in host"))?;
            (&h[..end], h[end + 1..].strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if !host.is_empty() {
            conn.host = Some(percent_decode(host, "host")?);
        }
        if let Some(p) = port.filter(|p| !p.is_empty()) {
            conn.port = Some(p.parse().map_err(|_| bad(&format!("port '{p}'")))?);
        }
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        conn.database = Some(percent_decode(p, "database name")?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k, "query")?;
        let v = percent_decode(v, "query")?;
        match k.as_str() {
            "host" => conn.host = Some(v),
            "port" => conn.port = Some(v.parse().map_err(|_| bad(&format!("port '{v}'")))?),
            "user" => conn.user = Some(v),
            "password" => conn.password = Some(Secret::new(v)),
            "dbname" => conn.database = Some(v),
            _ => conn.params.push((k, v)),
        }
    }
    Ok(conn)
}

/// What follows the scheme of a MySQL/MariaDB URL: `mysql://`,
/// `mariadb://`, and the SQLAlchemy / Django driver forms
/// (`mysql+pymysql://`, `mysql+mysqldb://`, `mariadb+mariadbconnector://`,
/// any `mysql+DRIVER://`): the driver only matters to Python, lfb always
/// uses the server's own client programs.
fn mysql_rest(s: &str) -> Option<&str> {
    rest_after_scheme(s, &["mysql", "mariadb"])
}

/// What follows `BASE://` or `BASE+DRIVER://` when BASE is one of `bases`
/// and DRIVER a plain word.
fn rest_after_scheme<'a>(s: &'a str, bases: &[&str]) -> Option<&'a str> {
    let (scheme, rest) = s.split_once("://")?;
    let base = scheme.split_once('+').map_or(scheme, |(b, _)| b);
    let driver_ok = scheme.split_once('+').is_none_or(|(_, d)| {
        !d.is_empty()
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    (bases.contains(&base) && driver_ok).then_some(rest)
}

/// What follows the scheme of a PostgreSQL URL: `postgresql://`,
/// `postgres://`, and the SQLAlchemy driver forms (`postgresql+psycopg2://`,
/// `postgresql+psycopg://`, `postgresql+asyncpg://`, any
/// `postgresql+DRIVER://`): the driver only matters to Python.
fn postgres_rest(s: &str) -> Option<&str> {
    rest_after_scheme(s, &["postgresql", "postgres"])
}

/// URL parameters a MySQL/MariaDB URL may carry, with the client option
/// each becomes (`None`: accepted and ignored).
pub const MYSQL_PARAMS: &[(&str, Option<&str>)] = &[
    ("socket", None),
    ("unix_socket", None),
    ("charset", None),
    ("ssl_ca", Some("ssl-ca")),
    ("ssl_cert", Some("ssl-cert")),
    ("ssl_key", Some("ssl-key")),
    ("ssl_capath", Some("ssl-capath")),
    ("ssl_cipher", Some("ssl-cipher")),
    ("ssl_verify_server_cert", Some("ssl-verify-server-cert")),
    ("ssl_verify_cert", Some("ssl-verify-server-cert")),
    ("ssl", Some("ssl")),
    ("connect_timeout", Some("loose-connect-timeout")),
];

/// MySQL specifics: the socket comes from `?socket=` or `?unix_socket=`, or
/// a host that is a path (`mysql://u@%2Frun%2Fmysqld%2Fmysqld.sock/db`), and
/// is kept in `host` (as for PostgreSQL: a host starting with `/`). Unknown
/// parameters are refused rather than ignored.
fn normalize_mysql(conn: &mut ServerConn) -> Result<()> {
    for (k, _) in &conn.params {
        if !MYSQL_PARAMS.iter().any(|(p, _)| p == k) {
            return Err(Error::input(format!(
                "unsupported MySQL URL parameter '{k}' (known: {})",
                MYSQL_PARAMS
                    .iter()
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let socket = conn
        .param("socket")
        .or_else(|| conn.param("unix_socket"))
        .map(str::to_string);
    if let Some(sock) = socket {
        if !sock.starts_with('/') {
            return Err(Error::input(format!(
                "invalid MySQL URL: socket '{sock}' is not an absolute path"
            )));
        }
        conn.params
            .retain(|(k, _)| k != "socket" && k != "unix_socket");
        conn.host = Some(sock);
    }
    Ok(())
}

impl Database {
    /// Parses a URL or a path. A bare word that is not an existing file is
    /// an error naming it, so a typo is not taken for a new SQLite file.
    pub fn parse(s: &str) -> Result<Database> {
        if let Some(rest) = postgres_rest(s) {
            return Ok(Database::Postgres(parse_server(rest, "PostgreSQL")?));
        }
        if let Some(rest) = mysql_rest(s) {
            let mut conn = parse_server(rest, "MySQL")?;
            normalize_mysql(&mut conn)?;
            return Ok(Database::Mysql(conn));
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            // SQLAlchemy / dj-database-url: sqlite:///rel.db, sqlite:////abs.db
            let path = match rest.strip_prefix("//") {
                Some(r) => r.strip_prefix('/').unwrap_or(r),
                None => rest,
            };
            let path = path.split('?').next().unwrap_or("");
            if path.is_empty() || path == ":memory:" {
                return Err(Error::input(format!(
                    "invalid SQLite URL '{s}': it names no database file"
                )));
            }
            return Ok(Database::Sqlite(PathBuf::from(percent_decode(
                path, "path",
            )?)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(Error::input(format!(
                "unsupported database URL scheme '{scheme}://': use postgresql://, sqlite:, mysql:// or mariadb://"
            )));
        }
        Ok(Database::Sqlite(PathBuf::from(s)))
    }

    /// The engine name as records carry it.
    pub fn engine(&self) -> &'static str {
        match self {
            Database::Postgres(_) => "postgres",
            Database::Sqlite(_) => "sqlite",
            Database::Mysql(_) => "mysql",
        }
    }

    /// The database name: for SQLite the file stem.
    pub fn name(&self) -> Option<String> {
        match self {
            Database::Postgres(c) | Database::Mysql(c) => c.database.clone(),
            Database::Sqlite(p) => p.file_stem().map(|s| s.to_string_lossy().into_owned()),
        }
    }

    /// A printable form with no password.
    pub fn redacted(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(c) | Database::Mysql(c) => {
                let scheme = if matches!(self, Database::Postgres(_)) {
                    "postgresql"
                } else {
                    "mysql"
                };
                let user = c
                    .user
                    .as_deref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                let host = c.host.as_deref().unwrap_or("");
                let host = if host.starts_with('/') { "" } else { host };
                let port = c.port.map(|p| format!(":{p}")).unwrap_or_default();
                let mut s = format!(
                    "{scheme}://{user}{host}{port}/{}",
                    c.database.as_deref().unwrap_or("")
                );
                if let Some(h) = c.host.as_deref().filter(|h| h.starts_with('/')) {
                    let key = if scheme == "mysql" { "socket" } else { "host" };
                    s.push_str(&format!("?{key}={h}"));
                }
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(s: &str) -> ServerConn {
        match Database::parse(s).unwrap() {
            Database::Postgres(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn postgres_urls() {
        let c = pg("postgresql://app:s%40cret@db.internal:6543/ledger?sslmode=require");
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!(c.host.as_deref(), Some("db.internal"));
        assert_eq!(c.port, Some(6543));
        assert_eq!(c.database.as_deref(), Some("ledger"));
        assert_eq!(c.param("sslmode"), Some("require"));
        let c = pg("postgres://postgres@/x?host=/tmp/sock&port=5433");
        assert_eq!((c.host.as_deref(), c.port), (Some("/tmp/sock"), Some(5433)));
        let c = pg("postgresql://%2Fvar%2Frun%2Fpostgresql/db");
        assert_eq!(c.host.as_deref(), Some("/var/run/postgresql"));
        let c = pg("postgresql://[::1]:5432/db");
        assert_eq!(c.host.as_deref(), Some("::1"));
        let c = pg("postgresql://");
        assert_eq!(c, ServerConn::default());
        assert!(Database::parse("postgresql://h:notaport/db").is_err());
    }

    #[test]
    fn redaction_hides_the_password() {
        let d = Database::parse("postgresql://app:hunter2@h:1/db").unwrap();
        assert_eq!(d.redacted(), "postgresql://app@h:1/db");
        assert!(!format!("{d:?}").contains("hunter2"));
    }

    fn my(s: &str) -> ServerConn {
        match Database::parse(s).unwrap() {
            Database::Mysql(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mysql_urls() {
        let c = my("mysql://app:p%40ss@db.internal:3307/shop?charset=utf8mb4");
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.password.as_ref().unwrap().expose(), "p@ss");
        assert_eq!(c.host.as_deref(), Some("db.internal"));
        assert_eq!(c.port, Some(3307));
        assert_eq!(c.database.as_deref(), Some("shop"));
        for scheme in [
            "mariadb",
            "mysql+pymysql",
            "mysql+mysqldb",
            "mariadb+mariadbconnector",
            "mysql+mysqlconnector",
        ] {
            let c = my(&format!("{scheme}://u@h/db"));
            assert_eq!(c.database.as_deref(), Some("db"), "{scheme}");
        }
        let c = my("mysql://root@localhost/db?socket=%2Frun%2Fmysqld%2Fmysqld.sock");
        assert_eq!(c.host.as_deref(), Some("/run/mysqld/mysqld.sock"));
        assert!(c.params.is_empty());
        let c = my("mysql+pymysql://root@/db?unix_socket=/tmp/my.sock");
        assert_eq!(c.host.as_deref(), Some("/tmp/my.sock"));
        let c = my("mysql://root@%2Ftmp%2Fmy.sock/db");
        assert_eq!(c.host.as_deref(), Some("/tmp/my.sock"));
        assert!(Database::parse("mysql://h/db?sslmode=require").is_err());
        assert!(Database::parse("mysql://h/db?socket=relative").is_err());
        assert!(Database::parse("mysql+://h/db").is_err());
        assert!(Database::parse("mysqlx://h/db").is_err());
        let d = Database::parse("mysql://app:hunter2@h:3306/db").unwrap();
        assert_eq!(d.redacted(), "mysql://app@h:3306/db");
        assert!(!format!("{d:?}").contains("hunter2"));
        let d = Database::parse("mariadb://root:x@localhost/db?socket=/s.sock").unwrap();
        assert_eq!(d.redacted(), "mysql://root@/db?socket=/s.sock");
        assert_eq!(d.engine(), "mysql");
    }

    #[test]
    fn sqlite_urls_and_paths() {
        let p = |s: &str| match Database::parse(s).unwrap() {
            Database::Sqlite(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(p("sqlite:///db.sqlite3"), PathBuf::from("db.sqlite3"));
        assert_eq!(
            p("sqlite:////abs/db.sqlite3"),
            PathBuf::from("/abs/db.sqlite3")
        );
        assert_eq!(p("sqlite:app.db"), PathBuf::from("app.db"));
        assert_eq!(p("./app.db"), PathBuf::from("./app.db"));
        assert!(Database::parse("sqlite://").is_err());
        assert!(Database::parse("redis://x").is_err());
    }

    #[test]
    fn postgres_driver_suffixes() {
        for scheme in [
            "postgresql+psycopg2",
            "postgresql+psycopg",
            "postgres+asyncpg",
        ] {
            let d = Database::parse(&format!("{scheme}://app:pw@db.internal:5433/shop")).unwrap();
            let Database::Postgres(c) = d else {
                panic!("{scheme} is PostgreSQL")
            };
            assert_eq!(c.database.as_deref(), Some("shop"));
            assert_eq!(c.port, Some(5433));
            assert_eq!(c.password.as_ref().unwrap().expose(), "pw");
        }
        assert!(Database::parse("postgresql+://h/db").is_err());
        assert!(Database::parse("postgresql+a b://h/db").is_err());
    }
}
