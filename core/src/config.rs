//! The optional config file, for people who don't want eight flags on every
//! cron line.
//!
//! ```toml
//! store = "~/Backups/lfb"            # else $LFB_STORE, else the default
//! default_env = "dev"                # else $LFB_ENV / $LEDGER_ENV, else dev
//! production = ["ledgerflow"]        # restores into these need --confirm NAME
//!
//! [env.prod]
//! database = "postgresql://app@db.internal/ledgerflow"
//! password_file = "~/.config/lfb/prod.password"   # or password_env = "VAR"
//! name = "ledgerflow"
//! media = ["/srv/ledgerflow/media"]
//! config = ["/srv/ledgerflow/.env"]
//!
//! [retention.hourly]
//! keep_within = "2d"
//!
//! [encryption]
//! recipients = ["age1..."]
//!
//! [notify]
//! ping = "https://hc-ping.com/UUID"
//! ```
//!
//! Where it is found: `--config-file FILE`, else `$LFB_CONFIG` (both must
//! exist), else `$XDG_CONFIG_HOME/lfb/config.toml` (`~/.config/lfb/...`),
//! else `/etc/lfb/config.toml`; none at all is fine. Precedence everywhere:
//! flags, then environment variables, then the file. A malformed file, an
//! unknown key or a value that does not parse is an error naming the file,
//! the line and the key (exit 2). Passwords are never in the file itself:
//! `password_file`, `password_env`, or the clients' own `~/.pgpass`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

use crate::engine::url::{Database, Secret};
use crate::error::{Error, Result};

/// The system-wide file, read when no other is found.
pub const SYSTEM_FILE: &str = "/etc/lfb/config.toml";

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub store: Option<Spanned<String>>,
    pub default_env: Option<Spanned<String>>,
    #[serde(default)]
    pub production: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, EnvSection>,
    #[serde(default)]
    pub retention: BTreeMap<String, Retention>,
    pub encryption: Option<Encryption>,
    pub notify: Option<Notify>,
}

/// `[env.NAME]`: one environment's database and files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    pub database: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_env: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub media: Vec<String>,
    #[serde(default)]
    pub config: Vec<String>,
}

/// `[retention.TAG]`: lfb-prune's policy for one tag (the flags' names).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep_within: Option<Spanned<String>>,
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
}

/// `[encryption]`: age recipients for new artifacts, the identity to read them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    #[serde(default)]
    pub recipients: Vec<String>,
    pub recipients_file: Option<String>,
    pub identity_file: Option<String>,
}

/// `[notify]`: where runs report.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub ping: Option<String>,
    pub on_failure: Option<String>,
}

/// A loaded config file: where it came from and what it says.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    /// How it was found: `--config-file`, `LFB_CONFIG`, or `search`.
    pub from: &'static str,
    text: String,
    pub file: File,
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Where to look, in order, with whether a missing file is an error.
fn candidates(flag: Option<&Path>) -> Vec<(PathBuf, &'static str, bool)> {
    if let Some(f) = flag {
        return vec![(f.to_path_buf(), "--config-file", true)];
    }
    if let Some(f) = std::env::var_os("LFB_CONFIG").filter(|s| !s.is_empty()) {
        return vec![(PathBuf::from(f), "LFB_CONFIG", true)];
    }
    let mut out = Vec::new();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(x) = xdg {
        out.push((x.join("lfb/config.toml"), "search", false));
    }
    out.push((PathBuf::from(SYSTEM_FILE), "search", false));
    out
}

impl Config {
    /// Finds and parses the config file; `None` when there is none.
    pub fn load(flag: Option<&Path>) -> Result<Option<Config>> {
        for (path, from, required) in candidates(flag) {
            match std::fs::read_to_string(&path) {
                Ok(text) => return Config::parse(path, from, text).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
                Err(e) => {
                    return Err(Error::usage(format!(
                        "config file '{}' (from {from}): {}",
                        path.display(),
                        crate::error::describe_io(&e)
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Parses `text` as the config file at `path`, checking every value.
    pub fn parse(path: PathBuf, from: &'static str, text: String) -> Result<Config> {
        let file: File = toml::from_str(&text).map_err(|e| {
            let msg = e.message().replace('\n', " ");
            let Some(span) = e.span() else {
                return Error::usage(format!("config file '{}': {msg}", path.display()));
            };
            let line = line_of(&text, span.start);
            let key = match key_on_line(&text, line) {
                Some(k) => format!(", key '{k}'"),
                None => String::new(),
            };
            Error::usage(format!(
                "config file '{}', line {line}{key}: {msg}",
                path.display()
            ))
        })?;
        let cfg = Config {
            path,
            from,
            text,
            file,
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// An error about the value at `span`, naming the file, line and key.
    pub fn error_at(&self, span: std::ops::Range<usize>, key: &str, msg: &str) -> Error {
        Error::usage(format!(
            "config file '{}', line {}, key '{key}': {msg}",
            self.path.display(),
            line_of(&self.text, span.start)
        ))
    }

    fn check(&self) -> Result<()> {
        if let Some(env) = &self.file.default_env
            && !crate::naming::valid_tag(env.get_ref())
        {
            return Err(self.error_at(
                env.span(),
                "default_env",
                "use lower-case letters, digits and '-'",
            ));
        }
        for (name, sec) in &self.file.env {
            if !crate::naming::valid_tag(name) {
                return Err(Error::usage(format!(
                    "config file '{}': [env.{name}]: environment names use lower-case letters, digits and '-'",
                    self.path.display()
                )));
            }
            if let Some(db) = &sec.database {
                Database::parse(db.get_ref()).map_err(|e| {
                    self.error_at(db.span(), &format!("env.{name}.database"), &e.line())
                })?;
            }
        }
        for (tag, r) in &self.file.retention {
            if let Some(w) = &r.keep_within {
                crate::units::parse_duration(w.get_ref()).map_err(|e| {
                    self.error_at(w.span(), &format!("retention.{tag}.keep_within"), &e)
                })?;
            }
        }
        Ok(())
    }

    /// The store folder the file names.
    pub fn store(&self) -> Option<PathBuf> {
        self.file.store.as_ref().map(|s| expand_home(s.get_ref()))
    }

    /// The environment section of `env`, if any.
    pub fn env(&self, env: &str) -> Option<&EnvSection> {
        self.file.env.get(env)
    }

    /// The database of `env`, with its password read from where the file
    /// points (never from the file itself).
    pub fn database(&self, env: &str) -> Result<Option<Database>> {
        let Some(sec) = self.env(env) else {
            return Ok(None);
        };
        let Some(url) = &sec.database else {
            return Ok(None);
        };
        let mut db = Database::parse(url.get_ref())?;
        if let Some(pw) = self.password(env, sec)?
            && let Database::Postgres(conn) | Database::Mysql(conn) = &mut db
            && conn.password.is_none()
        {
            conn.password = Some(pw);
        }
        Ok(Some(db))
    }

    fn password(&self, env: &str, sec: &EnvSection) -> Result<Option<Secret>> {
        if let Some(f) = &sec.password_file {
            let path = expand_home(f.get_ref());
            let text = std::fs::read_to_string(&path).map_err(|e| {
                self.error_at(
                    f.span(),
                    &format!("env.{env}.password_file"),
                    &format!(
                        "cannot read '{}': {}",
                        path.display(),
                        crate::error::describe_io(&e)
                    ),
                )
            })?;
            let pw = text.lines().next().unwrap_or("").to_string();
            return Ok(Some(Secret::new(pw)));
        }
        if let Some(var) = &sec.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(Secret::new(v))),
                Err(_) => Err(Error::usage(format!(
                    "config file '{}': env.{env}.password_env names ${var}, which is not set",
                    self.path.display()
                ))),
            };
        }
        Ok(None)
    }

    /// The media folders `[env.ENV] media` names, `~/` expanded; relative
    /// paths are relative to the current folder, as on the command line.
    /// lfb-archive uses them when no `--media` is given.
    pub fn media(&self, env: &str) -> Vec<PathBuf> {
        self.env(env)
            .map(|s| s.media.iter().map(|m| expand_home(m)).collect())
            .unwrap_or_default()
    }

    /// The configuration files and globs `[env.ENV] config` names, `~/`
    /// expanded. lfb-archive uses them when no `--config` is given.
    pub fn config_files(&self, env: &str) -> Vec<String> {
        self.env(env)
            .map(|s| {
                s.config
                    .iter()
                    .map(|c| match c.strip_prefix("~/") {
                        Some(_) => expand_home(c).to_string_lossy().into_owned(),
                        None => c.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Production databases the file names (besides `$LFB_PROD_DATABASES`).
    pub fn production(&self) -> &[String] {
        &self.file.production
    }
}

/// The key a line sets (`store = ...` → `store`), or the table it opens.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?.trim();
    if let Some((k, _)) = l.split_once('=') {
        return Some(k.trim().trim_matches('"').to_string());
    }
    l.strip_prefix('[')
        .map(|t| t.trim_end_matches(']').trim().to_string())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The config file of this process, loaded once (from `--config-file`, set
/// by [`set_flag`] before the first call, or the search order).
pub fn current() -> Result<Option<&'static Config>> {
    static LOADED: OnceLock<std::result::Result<Option<Config>, String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let flag = FLAG.get().cloned().flatten();
        Config::load(flag.as_deref()).map_err(|e| e.line())
    });
    match loaded {
        Ok(c) => Ok(c.as_ref()),
        Err(msg) => Err(Error::usage(msg.clone())),
    }
}

static FLAG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records `--config-file` for [`current`]; the first call wins.
pub fn set_flag(flag: Option<PathBuf>) {
    let _ = FLAG.set(flag);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(
            PathBuf::from("/x/config.toml"),
            "--config-file",
            text.to_string(),
        )
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(
            r#"
store = "/srv/backups"
default_env = "prod"
production = ["ledgerflow"]
[env.prod]
database = "postgresql://app@db/ledgerflow"
password_env = "LFB_TEST_NOT_SET_ANYWHERE"
name = "ledgerflow"
media = ["/srv/media"]
[retention.hourly]
keep_within = "2d"
keep_last = 3
[encryption]
recipients = ["age1xyz"]
[notify]
ping = "https://hc-ping.com/abc"
"#,
        )
        .unwrap();
        assert_eq!(c.store(), Some(PathBuf::from("/srv/backups")));
        assert_eq!(c.env("prod").unwrap().media, vec!["/srv/media"]);
        let e = c.database("prod").unwrap_err().line();
        assert!(e.contains("$LFB_TEST_NOT_SET_ANYWHERE"), "{e}");
        assert!(c.database("dev").unwrap().is_none());
    }

    #[test]
    fn archive_sources_per_environment() {
        let c = parse(
            "[env.prod]\nmedia = [\"~/media\", \"/srv/m\"]\nconfig = [\"~/.env*\", \"compose.yml\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.media("prod"),
            vec![expand_home("~/media"), PathBuf::from("/srv/m")]
        );
        assert_eq!(
            c.config_files("prod"),
            vec![
                expand_home("~/.env*").to_string_lossy().into_owned(),
                "compose.yml".to_string()
            ]
        );
        assert!(c.media("dev").is_empty() && c.config_files("dev").is_empty());
        let e = parse("[env.prod]\nmedias = [\"/m\"]\n").unwrap_err().line();
        assert!(
            e.contains("'/x/config.toml', line 2") && e.contains("medias"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("store = \"/a\"\n\n[env.prod]\ndatbase = \"x\"\n").unwrap_err();
        assert!(
            e.line().contains("'/x/config.toml', line 4") && e.line().contains("datbase"),
            "{}",
            e.line()
        );
        assert_eq!(e.exit_code(), 2);
        let e = parse("[env.prod]\ndatabase = \"nosuch://x\"\n")
            .unwrap_err()
            .line();
        assert!(e.contains("line 2, key 'env.prod.database'"), "{e}");
        let e = parse("[retention.hourly]\nkeep_within = \"soon\"\n")
            .unwrap_err()
            .line();
        assert!(
            e.contains("line 2, key 'retention.hourly.keep_within'"),
            "{e}"
        );
        let e = parse("store = [\n").unwrap_err().line();
        assert!(e.contains("line "), "{e}");
        let e = parse("[env.Prod]\n").unwrap_err().line();
        assert!(e.contains("[env.Prod]"), "{e}");
    }
}
