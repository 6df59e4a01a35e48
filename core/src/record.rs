//! The record: one JSON object describing one artifact, the pipeline contract.
//!
//! A record is kept as the JSON object it was read as (field order preserved),
//! so fields a tool does not know pass through untouched. Typed accessors read
//! the fields lfb knows; tools add their own section (`verify`, `prune`,
//! `restore`) with [`Record::set`]. Fields are only ever added, never renamed.
//!
//! ```json
//! {"schema":"lfb/1","id":"ledgerflow_db_hourly_20261127T020000Z","kind":"db",
//!  "env":"prod","tag":"hourly","path":"/abs/store/prod/….sql.gz",
//!  "created_at":"2026-11-27T02:00:00Z","bytes":48213377,"sha256":"9f2c…",
//!  "format":"sql+gzip","source":{…},"stats":{…}}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The schema tag every record carries.
pub const SCHEMA: &str = "lfb/1";

/// True for `lfb/N` with N a plain decimal greater than this lfb's
/// version: a record from a newer lfb, refused with a message saying so
/// (a newer schema may change what a field means, so it is never read as
/// `lfb/1`). Anything else that is not exactly [`SCHEMA`] is malformed.
fn newer_schema(s: &str) -> bool {
    let Some(n) = s.strip_prefix("lfb/") else {
        return false;
    };
    let plain = !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
    plain && n.len() <= 9 && n.parse::<u32>().is_ok_and(|v| v > 1)
}

/// One artifact record. Serializes to exactly the object it holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record(Map<String, Value>);

impl serde::Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// What kind of artifact a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A database dump.
    Db,
    /// An archive bundle (dumps + media + config + metadata).
    Full,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Db => "db",
            Kind::Full => "full",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "db" => Some(Kind::Db),
            "full" => Some(Kind::Full),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a dump came from: the `source` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    pub engine: String,
    pub database: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub server_version: Option<String>,
    pub tool: Option<String>,
    /// Exact row counts per table as contained in the dump.
    pub tables: BTreeMap<String, u64>,
}

impl Source {
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("engine".into(), json!(self.engine));
        m.insert("database".into(), json!(self.database));
        if let Some(h) = &self.host {
            m.insert("host".into(), json!(h));
        }
        if let Some(p) = self.port {
            m.insert("port".into(), json!(p));
        }
        if let Some(u) = &self.user {
            m.insert("user".into(), json!(u));
        }
        if let Some(v) = &self.server_version {
            m.insert("server_version".into(), json!(v));
        }
        if let Some(t) = &self.tool {
            m.insert("tool".into(), json!(t));
        }
        m.insert("tables".into(), json!(self.tables));
        Value::Object(m)
    }
}

/// Formats a time the way records carry it: RFC 3339, UTC, whole seconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// serde_json's message without its own "at line 1 column N" (the reader
/// names the line): `invalid JSON at column 3: expected value`.
fn describe_json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    format!("invalid JSON at column {}: {msg}", e.column())
}

impl Record {
    /// A new record with the fields every artifact has.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        kind: Kind,
        env: &str,
        tag: &str,
        path: &Path,
        created_at: DateTime<Utc>,
        bytes: u64,
        sha256: &str,
        format: &str,
    ) -> Record {
        let mut m = Map::new();
        m.insert("schema".into(), json!(SCHEMA));
        m.insert("id".into(), json!(id));
        m.insert("kind".into(), json!(kind.as_str()));
        m.insert("env".into(), json!(env));
        m.insert("tag".into(), json!(tag));
        m.insert("path".into(), json!(path.to_string_lossy()));
        m.insert("created_at".into(), json!(format_time(created_at)));
        m.insert("bytes".into(), json!(bytes));
        m.insert("sha256".into(), json!(sha256));
        m.insert("format".into(), json!(format));
        Record(m)
    }

    /// A record for work that failed before an artifact existed (a dump whose
    /// database was unreachable). Downstream tools see it as failed.
    pub fn failure(kind: Kind, env: &str, tag: &str, message: &str) -> Record {
        let mut m = Map::new();
        m.insert("schema".into(), json!(SCHEMA));
        m.insert("kind".into(), json!(kind.as_str()));
        m.insert("env".into(), json!(env));
        m.insert("tag".into(), json!(tag));
        m.insert("error".into(), json!({ "message": message }));
        Record(m)
    }

    /// The record a tool prints when it fails before (or instead of)
    /// printing the record of its work: a usage error, missing
    /// configuration, an input that delivered nothing. Downstream tools see
    /// it as failed (it carries `error`).
    pub fn tool_failure(tool: &str, message: &str, exit_code: u8) -> Record {
        let mut m = Map::new();
        m.insert("schema".into(), json!(SCHEMA));
        m.insert(
            "error".into(),
            json!({ "tool": tool, "message": message, "exit_code": exit_code }),
        );
        Record(m)
    }

    /// Wraps a JSON object, checking the fields lfb relies on have the right
    /// types. The error names the field.
    pub fn from_object(m: Map<String, Value>) -> Result<Record> {
        let r = Record(m);
        r.check()?;
        Ok(r)
    }

    /// Parses one JSON text into a record.
    pub fn from_json(text: &str) -> Result<Record> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| Error::input(describe_json_error(&e)))?;
        match v {
            Value::Object(m) => Record::from_object(m),
            _ => Err(Error::input("expected a JSON object")),
        }
    }

    fn check(&self) -> Result<()> {
        let field_type = |name: &str, ok: fn(&Value) -> bool, what: &str| -> Result<()> {
            match self.0.get(name) {
                Some(v) if !ok(v) => Err(Error::input(format!("field '{name}': expected {what}"))),
                _ => Ok(()),
            }
        };
        match self.0.get("schema") {
            None => return Err(Error::input("field 'schema': missing")),
            Some(Value::String(s)) if s == SCHEMA => {}
            Some(Value::String(s)) if newer_schema(s) => {
                return Err(Error::input(format!(
                    "field 'schema': \"{s}\" was written by a newer lfb; this one understands \"{SCHEMA}\" (upgrade lfb to read it)"
                )));
            }
            Some(_) => {
                return Err(Error::input(format!(
                    "field 'schema': expected \"{SCHEMA}\""
                )));
            }
        }
        for f in ["id", "env", "tag", "path", "sha256", "format"] {
            field_type(f, Value::is_string, "a string")?;
        }
        field_type("bytes", Value::is_u64, "a non-negative integer")?;
        field_type("source", Value::is_object, "an object")?;
        if let Some(k) = self.0.get("kind")
            && k.as_str().and_then(Kind::parse).is_none()
        {
            return Err(Error::input("field 'kind': expected \"db\" or \"full\""));
        }
        if let Some(v) = self.0.get("created_at") {
            let ok = v
                .as_str()
                .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok());
            if !ok {
                return Err(Error::input(
                    "field 'created_at': expected an RFC 3339 time",
                ));
            }
        }
        if let Some(t) = self.0.get("source").and_then(|s| s.get("tables")) {
            let ok = t.as_object().is_some_and(|m| m.values().all(Value::is_u64));
            if !ok {
                return Err(Error::input(
                    "field 'source.tables': expected an object of row counts",
                ));
            }
        }
        if !self.0.contains_key("path") && !self.0.contains_key("error") {
            return Err(Error::input("field 'path': missing"));
        }
        Ok(())
    }

    pub fn as_object(&self) -> &Map<String, Value> {
        &self.0
    }
    pub fn into_object(self) -> Map<String, Value> {
        self.0
    }
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
    /// Adds or replaces a top-level field (a tool's section).
    pub fn set(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_string(), value);
    }
    fn str_field(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    pub fn id(&self) -> Option<&str> {
        self.str_field("id")
    }
    pub fn kind(&self) -> Option<Kind> {
        self.str_field("kind").and_then(Kind::parse)
    }
    pub fn env(&self) -> Option<&str> {
        self.str_field("env")
    }
    pub fn tag(&self) -> Option<&str> {
        self.str_field("tag")
    }
    pub fn path(&self) -> Option<PathBuf> {
        self.str_field("path").map(PathBuf::from)
    }
    pub fn format(&self) -> Option<&str> {
        self.str_field("format")
    }
    /// The `format`, typed; `None` when missing or not one lfb writes.
    pub fn typed_format(&self) -> Option<crate::format::Format> {
        self.format()?.parse().ok()
    }
    pub fn sha256(&self) -> Option<&str> {
        self.str_field("sha256")
    }
    pub fn bytes(&self) -> Option<u64> {
        self.0.get("bytes").and_then(Value::as_u64)
    }
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.str_field("created_at")
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    }
    /// The recorded row counts (`source.tables`).
    pub fn tables(&self) -> Option<BTreeMap<String, u64>> {
        let t = self.0.get("source")?.get("tables")?.as_object()?;
        Some(
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect(),
        )
    }
    /// `source.engine`, when the record has one.
    pub fn engine(&self) -> Option<&str> {
        self.0.get("source")?.get("engine")?.as_str()
    }

    /// True for the record of an `lfb-dump --globals` artifact (roles and
    /// tablespaces, `source.globals`).
    pub fn is_globals(&self) -> bool {
        self.0
            .get("source")
            .and_then(|s| s.get("globals"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// `source.exec`: the command prefix the PostgreSQL client programs ran
    /// through (`lfb-dump --exec`). Tools honour it only in records read
    /// from stdin (a pipeline names it once), never from a sidecar: a file
    /// in the store must not choose commands to run.
    pub fn exec(&self) -> Option<&str> {
        self.0.get("source")?.get("exec")?.as_str()
    }

    /// Sets (or with `None` removes) `source.exec`, when there is a
    /// `source` section (or a prefix to set).
    pub fn set_exec(&mut self, exec: Option<&str>) {
        match (
            self.0.get_mut("source").and_then(Value::as_object_mut),
            exec,
        ) {
            (Some(src), Some(e)) => {
                src.insert("exec".into(), json!(e));
            }
            (Some(src), None) => {
                src.remove("exec");
            }
            (None, Some(e)) => {
                self.0.insert("source".into(), json!({ "exec": e }));
            }
            (None, None) => {}
        }
    }

    /// `verify.ok`, when the record has been verified.
    pub fn verify_ok(&self) -> Option<bool> {
        self.0.get("verify")?.get("ok")?.as_bool()
    }

    /// A failed record: `verify.ok` is false, or it carries an `error`.
    pub fn failed(&self) -> bool {
        self.0.contains_key("error") || self.verify_ok() == Some(false)
    }

    /// A short name for messages: the id, else the path, else the kind.
    pub fn label(&self) -> String {
        if let Some(id) = self.id() {
            return id.to_string();
        }
        if let Some(p) = self.str_field("path") {
            return p.to_string();
        }
        format!("{} record", self.str_field("kind").unwrap_or("unknown"))
    }

    /// Serializes to one line of JSON (no trailing newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON map always serializes")
    }
}

/// What [`remember_verify`] did to a sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidecarWrite {
    /// The existing sidecar got the new `verify` section.
    Updated,
    /// There was no sidecar (a file of the original scripts): one was
    /// written from what the file name tells (`"derived": true`) plus the
    /// `verify` section.
    Created,
}

/// The `verify` section to remember: `new`, plus `restore_test`
/// (`{"at","ok"}` of the latest restore test) from this run when it ran
/// one, else carried over from `old`, so a later run of only the quick
/// checks does not forget when the artifact last restored.
pub fn merge_verify(old: Option<&Value>, new: &Value) -> Value {
    let mut section = new.clone();
    let ran = new
        .get("checks")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("name") == Some(&json!("restore"))))
        .and_then(|c| c.get("ok"))
        .and_then(Value::as_bool);
    let restore = match ran {
        Some(ok) => Some(json!({ "at": new.get("at").cloned().unwrap_or(Value::Null), "ok": ok })),
        None => old.and_then(|o| o.get("restore_test")).cloned(),
    };
    let Some(m) = section.as_object_mut() else {
        return section;
    };
    if let Some(r) = restore {
        // A failed restore test stands until a restore test passes: quick
        // checks cannot clear it (the file can be whole and still not
        // restore), so the section fails with the reason as its check.
        if ran.is_none() && r.get("ok") == Some(&json!(false)) {
            let at = r
                .get("at")
                .and_then(Value::as_str)
                .unwrap_or("an earlier run");
            m.insert("ok".into(), json!(false));
            if let Some(checks) = m.get_mut("checks").and_then(Value::as_array_mut) {
                checks.push(json!({
                    "name": "restore",
                    "ok": false,
                    "detail": format!(
                        "not run now; the last restore test ({at}) failed, and only a passing \
                         one (--restore-test) clears that"
                    ),
                }));
            }
        }
        m.insert("restore_test".into(), r);
    }
    section
}

/// Makes a verification durable: writes `verify` (see [`merge_verify`])
/// into the sidecar `<path>.json` of the artifact at `path`, atomically
/// (temporary file, fsync, rename, fsync of the folder). Every other field
/// of the sidecar is kept as it is; fields are only added. Without a
/// sidecar, `record` (what was derived from the name) becomes one. The
/// caller holds the store lock. Returns the section written.
pub fn remember_verify(
    path: &Path,
    record: &Record,
    verify: &Value,
) -> Result<(SidecarWrite, Value)> {
    let sidecar = {
        let mut s = path.as_os_str().to_owned();
        s.push(".json");
        PathBuf::from(s)
    };
    let (mut stored, how) = match std::fs::read_to_string(&sidecar) {
        Ok(text) => (
            Record::from_json(&text)
                .map_err(|e| Error::input(format!("sidecar '{}': {e}", sidecar.display())))?,
            SidecarWrite::Updated,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut r = record.clone();
            r.0.remove("verify");
            r.0.remove("quarantine");
            (r, SidecarWrite::Created)
        }
        Err(e) => return Err(Error::io_path("read", &sidecar, e)),
    };
    let section = merge_verify(stored.get("verify"), verify);
    stored.set("verify", section.clone());
    let mut text = stored.to_line();
    text.push('\n');
    crate::fsutil::write_atomic(&sidecar, text.as_bytes())?;
    Ok((how, section))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip_in_order() {
        let text = r#"{"schema":"lfb/1","zeta":1,"id":"x","path":"/p","kind":"db","nested":{"b":[1,2,{"c":null}],"a":"é"},"source":{"engine":"postgres","extra":true,"tables":{"t":3}},"big":18446744073709551615}"#;
        let r = Record::from_json(text).unwrap();
        assert_eq!(r.to_line(), text);
        assert_eq!(r.tables().unwrap()["t"], 3);
    }

    #[test]
    fn sections_are_added_not_renamed() {
        let mut r = Record::from_json(r#"{"schema":"lfb/1","path":"/p"}"#).unwrap();
        r.set("verify", json!({"ok": false}));
        assert!(r.failed());
        assert_eq!(
            r.to_line(),
            r#"{"schema":"lfb/1","path":"/p","verify":{"ok":false}}"#
        );
    }

    #[test]
    fn a_quick_verification_keeps_the_last_restore_test() {
        let drill = json!({"at":"2026-11-01T00:00:00Z","ok":true,
            "checks":[{"name":"checksum","ok":true},{"name":"restore","ok":true}]});
        let first = merge_verify(None, &drill);
        assert_eq!(
            first["restore_test"],
            json!({"at":"2026-11-01T00:00:00Z","ok":true})
        );
        let quick =
            json!({"at":"2026-11-02T00:00:00Z","ok":true,"checks":[{"name":"checksum","ok":true}]});
        let second = merge_verify(Some(&first), &quick);
        assert_eq!(second["at"], "2026-11-02T00:00:00Z");
        assert_eq!(second["restore_test"]["at"], "2026-11-01T00:00:00Z");
        assert!(merge_verify(None, &quick).get("restore_test").is_none());
    }

    #[test]
    fn a_failed_restore_test_stands_until_one_passes() {
        let failed = json!({"at":"2026-11-01T00:00:00Z","ok":false,
            "checks":[{"name":"checksum","ok":true},{"name":"restore","ok":false}]});
        let first = merge_verify(None, &failed);
        let quick =
            json!({"at":"2026-11-02T00:00:00Z","ok":true,"checks":[{"name":"checksum","ok":true}]});
        let second = merge_verify(Some(&first), &quick);
        assert_eq!(second["ok"], false, "{second}");
        assert_eq!(second["restore_test"]["ok"], false);
        let last = &second["checks"].as_array().unwrap()[1];
        assert_eq!(last["name"], "restore");
        assert!(
            last["detail"]
                .as_str()
                .unwrap()
                .contains("2026-11-01T00:00:00Z")
        );
        // Another quick run keeps it failed; a passing restore test clears it.
        let third = merge_verify(Some(&second), &quick);
        assert_eq!(third["ok"], false);
        let drill = json!({"at":"2026-11-03T00:00:00Z","ok":true,
            "checks":[{"name":"checksum","ok":true},{"name":"restore","ok":true}]});
        let fourth = merge_verify(Some(&third), &drill);
        assert_eq!(fourth["ok"], true);
        assert_eq!(fourth["restore_test"]["ok"], true);
    }

    #[test]
    fn bad_fields_are_named() {
        let e = Record::from_json(r#"{"schema":"lfb/1","path":"/p","bytes":"12"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field 'bytes': expected a non-negative integer"
        );
        let e = Record::from_json(r#"{"path":"/p"}"#).unwrap_err();
        assert_eq!(e.to_string(), "field 'schema': missing");
        let e = Record::from_json(r#"[1]"#).unwrap_err();
        assert_eq!(e.to_string(), "expected a JSON object");
        let e = Record::from_json(r#"{"schema":"lfb/1","path":"/p","created_at":"yesterday"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("created_at"));
    }

    #[test]
    fn schema_must_be_exactly_lfb_1() {
        let rec =
            |schema: &str| Record::from_json(&format!(r#"{{"schema":{schema},"path":"/p"}}"#));
        assert!(rec(r#""lfb/1""#).is_ok());
        let newer = rec(r#""lfb/2""#).unwrap_err();
        assert_eq!(newer.exit_code(), 2);
        assert!(newer.to_string().contains("newer lfb"), "{newer}");
        assert!(newer.to_string().contains("\"lfb/1\""), "{newer}");
        assert!(
            rec(r#""lfb/17""#)
                .unwrap_err()
                .to_string()
                .contains("newer lfb")
        );
        for bad in [
            r#""lfb/0""#,
            r#""lfb/1 ""#,
            r#"" lfb/1""#,
            r#""lfb/01""#,
            r#""lfb/2a""#,
            r#""lfb/""#,
            r#""LFB/1""#,
            "1",
            "null",
        ] {
            let e = rec(bad).unwrap_err().to_string();
            assert_eq!(e, "field 'schema': expected \"lfb/1\"", "{bad}");
        }
    }
}
