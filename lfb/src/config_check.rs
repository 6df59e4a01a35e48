//! `lfb config check`: the configuration as the tools will see it, with
//! where each value comes from (flag, environment variable, config file,
//! default) and every secret masked. Exit 2 naming the file, line and key
//! when the file is wrong; warnings for things that will bite later (a
//! password file others can read, a media folder that does not exist).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lfb_core::config::{Config, expand_home};
use lfb_core::engine::url::Database;
use lfb_core::{Error, Result, Store};

/// A URL with its path and query masked (`https://hc-ping.com/***`): ping
/// URLs carry their secret in the path.
fn mask_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/***")
        }
        None => "***".into(),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.is_empty())
}

/// Prints the resolved configuration; returns the exit code.
pub fn run(flag: Option<PathBuf>) -> Result<u8> {
    lfb_core::config::set_flag(flag.clone());
    let config = Config::load(flag.as_deref())?;
    let mut out = String::new();
    let mut warnings = Vec::new();
    match &config {
        Some(c) => {
            let _ = writeln!(out, "config file: {} (from {})", c.path.display(), c.from);
        }
        None => {
            let _ = writeln!(
                out,
                "config file: none ($LFB_CONFIG unset; no ~/.config/lfb/config.toml or {})",
                lfb_core::config::SYSTEM_FILE
            );
        }
    }
    let (store, from) = if let Some(s) = env_var("LFB_STORE") {
        (PathBuf::from(s), "$LFB_STORE")
    } else if let Some(s) = config.as_ref().and_then(Config::store) {
        (s, "the config file")
    } else {
        (Store::resolve(None)?.root().to_path_buf(), "the default")
    };
    let exists = if store.is_dir() {
        ""
    } else {
        ", does not exist yet"
    };
    let _ = writeln!(out, "store: {} (from {from}{exists})", store.display());
    let env = lfb_core::store::resolve_env(None)?;
    let _ = writeln!(out, "environment: {env} (--env overrides)");
    if let Some(p) = env_var("LFB_PROD_DATABASES") {
        let _ = writeln!(out, "production databases ($LFB_PROD_DATABASES): {p}");
    }
    if let Some(c) = &config {
        describe_file(c, &mut out, &mut warnings)?;
    }
    if let Some(url) = env_var("DATABASE_URL") {
        let shown = Database::parse(&url)
            .map(|d| d.redacted())
            .unwrap_or_else(|_| "(not a database URL)".into());
        let _ = writeln!(
            out,
            "$DATABASE_URL: {shown} (overrides the file's database)"
        );
    }
    print!("{out}");
    for w in &warnings {
        eprintln!("lfb: warning: {w}");
    }
    Ok(0)
}

// Long: one flat printout per section of the config file, in the file's order (env, retention, encryption, notify); nothing to factor out but writeln!s.
fn describe_file(c: &Config, out: &mut String, warnings: &mut Vec<String>) -> Result<()> {
    if !c.production().is_empty() {
        let _ = writeln!(
            out,
            "production databases (config file): {}",
            c.production().join(", ")
        );
    }
    for (name, sec) in &c.file.env {
        let _ = writeln!(out, "[env.{name}]");
        if let Some(db) = c.database(name)? {
            let _ = writeln!(out, "  database: {}", db.redacted());
        }
        if let Some(url) = &sec.database
            && let Ok(Database::Postgres(conn) | Database::Mysql(conn)) =
                Database::parse(url.get_ref())
            && conn.password.is_some()
        {
            warnings.push(format!(
                "[env.{name}] database has a password written in the config file: \
                 move it to a private file and point password_file at it"
            ));
        }
        if let Some(f) = &sec.password_file {
            let path = expand_home(f.get_ref());
            let _ = writeln!(out, "  password: *** (from file {})", path.display());
            check_private(&path, warnings);
        }
        if let Some(v) = &sec.password_env {
            let _ = writeln!(out, "  password: *** (from ${v})");
        }
        if let Some(n) = &sec.name {
            let _ = writeln!(out, "  name: {n}");
        }
        for (what, paths) in [("media", &sec.media), ("config", &sec.config)] {
            for p in paths {
                let path = expand_home(p);
                let _ = writeln!(out, "  {what}: {}", path.display());
                if !path.exists() {
                    warnings.push(format!(
                        "[env.{name}] {what} '{}' does not exist",
                        path.display()
                    ));
                }
            }
        }
    }
    for (tag, r) in &c.file.retention {
        let mut parts = Vec::new();
        if let Some(w) = &r.keep_within {
            parts.push(format!("keep_within={}", w.get_ref()));
        }
        for (k, v) in [
            ("keep_last", r.keep_last),
            ("keep_hourly", r.keep_hourly),
            ("keep_daily", r.keep_daily),
            ("keep_weekly", r.keep_weekly),
            ("keep_monthly", r.keep_monthly),
            ("keep_yearly", r.keep_yearly),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        let _ = writeln!(out, "[retention.{tag}] {}", parts.join(" "));
    }
    if let Some(e) = &c.file.encryption {
        let _ = writeln!(out, "[encryption] {} recipient(s)", e.recipients.len());
        for r in &e.recipients {
            let _ = writeln!(out, "  recipient: {r}");
        }
        if let Some(f) = &e.recipients_file {
            let _ = writeln!(out, "  recipients file: {}", expand_home(f).display());
        }
        if let Some(f) = &e.identity_file {
            let path = expand_home(f);
            let _ = writeln!(out, "  identity: *** (from file {})", path.display());
            check_private(&path, warnings);
        }
    }
    if let Some(n) = &c.file.notify {
        if let Some(p) = &n.ping {
            let _ = writeln!(out, "[notify] ping: {}", mask_url(p));
        }
        if n.on_failure.is_some() {
            let _ = writeln!(out, "[notify] on_failure: (a command; not shown)");
        }
    }
    Ok(())
}

/// A secret's file must exist and be private.
fn check_private(path: &Path, warnings: &mut Vec<String>) {
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => warnings.push(format!(
            "'{}' is readable by others (mode {:04o}): chmod 600 '{}'",
            path.display(),
            m.permissions().mode() & 0o7777,
            path.display()
        )),
        Ok(_) => {}
        Err(e) => warnings.push(format!(
            "cannot read '{}': {}",
            path.display(),
            lfb_core::error::describe_io(&e)
        )),
    }
}

/// `lfb config get KEY`: one value of the config file, unmasked, for
/// scripts (`notify.ping`, `env.prod.database`, `retention.daily.keep_daily`).
/// Prints a string as it is, a number or boolean in TOML form, an array one
/// element per line; exit 1 (nothing printed) when the key is not set or there
/// is no config file, 2 when the key names a whole section.
pub fn get(flag: Option<PathBuf>, key: &str) -> Result<u8> {
    lfb_core::config::set_flag(flag.clone());
    let Some(config) = Config::load(flag.as_deref())? else {
        return Ok(1);
    };
    let text = std::fs::read_to_string(&config.path).map_err(|e| {
        Error::usage(format!(
            "config file '{}': {}",
            config.path.display(),
            lfb_core::error::describe_io(&e)
        ))
    })?;
    // The file parsed as a Config above, so it is valid TOML.
    let root: toml::Value = toml::from_str(&text)
        .map_err(|e| Error::usage(format!("config file '{}': {e}", config.path.display())))?;
    let mut value = &root;
    for part in key.split('.') {
        match value.get(part) {
            Some(v) => value = v,
            None => return Ok(1),
        }
    }
    let line = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Table(_) => Err(Error::usage(format!(
            "config key '{key}' is a section, not a value (name one of its keys)"
        ))),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) => Err(Error::usage(format!(
            "config key '{key}' is an array of arrays"
        ))),
    };
    match value {
        toml::Value::Array(items) => {
            for item in items {
                println!("{}", line(item)?);
            }
        }
        v => println!("{}", line(v)?),
    }
    Ok(0)
}

/// Exit code and one-line message for an error, as every tool prints it.
pub fn report(e: &Error) -> u8 {
    eprintln!("lfb: error: {}", e.line());
    e.exit_code()
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    #[test]
    fn ping_urls_are_masked() {
        assert_eq!(
            mask_url("https://hc-ping.com/abc-123"),
            "https://hc-ping.com/***"
        );
        assert_eq!(
            mask_url("https://u:p@example.org/x?y"),
            "https://example.org/***"
        );
        assert_eq!(mask_url("nonsense"), "***");
    }
}
