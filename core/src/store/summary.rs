//! The few fields of a sidecar that tools listing the whole store read
//! (lfb-prune plans with them, lfb-list shows them), without building the
//! record: on a store of 100,000 artifacts, parsing every sidecar into a
//! [`Record`] (an ordered map of JSON values) and dropping it again was
//! most of a run.
//!
//! A sidecar is read as text once. The fast path deserializes only the
//! fields below, checking every field [`Record`] checks (types, `schema`,
//! `kind`, `created_at`, `source.tables`, `path`), so it accepts exactly
//! what [`Record::from_json`] accepts or falls back to it: anything the
//! fast path does not take (an unusual but valid sidecar, or a broken one)
//! goes through [`Record::from_json`], which gives the same error messages
//! as every other tool.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::record::{self, Kind, Record};

/// What is known of an artifact's record without building it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sidecar {
    pub id: Option<String>,
    pub env: Option<String>,
    pub tag: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub bytes: Option<u64>,
    /// `verify.ok`, when it is a boolean.
    pub verify_ok: Option<bool>,
    /// `verify.at`, when it is a string.
    pub verify_at: Option<String>,
    /// The record has a `verify` section.
    pub has_verify: bool,
    /// When its last restore test passed: `verify.restore_test.at` when
    /// `verify.restore_test.ok` is true.
    pub restore_test_at: Option<DateTime<Utc>>,
    /// The record carries an `error` section.
    pub error: bool,
}

impl Sidecar {
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }
    pub fn verify_ok(&self) -> Option<bool> {
        self.verify_ok
    }
    /// A failed record: `verify.ok` is false, or it carries an `error`.
    pub fn failed(&self) -> bool {
        self.error || self.verify_ok == Some(false)
    }

    /// The summary of a record already built.
    pub fn of_record(r: &Record) -> Sidecar {
        let verify = r.get("verify");
        Sidecar {
            id: r.id().map(str::to_string),
            env: r.env().map(str::to_string),
            tag: r.tag().map(str::to_string),
            created_at: r.created_at(),
            bytes: r.bytes(),
            verify_ok: r.verify_ok(),
            verify_at: verify
                .and_then(|v| v.get("at"))
                .and_then(|a| a.as_str())
                .map(str::to_string),
            has_verify: verify.is_some(),
            restore_test_at: verify
                .and_then(|v| v.get("restore_test"))
                .and_then(passed_at),
            error: r.get("error").is_some(),
        }
    }

    /// Parses a sidecar's text: the fast path, else [`Record::from_json`]
    /// (whose error is returned for a sidecar that is not a valid record).
    pub fn parse(text: &str) -> crate::Result<Sidecar> {
        match fast(text) {
            Some(s) => Ok(s),
            None => Record::from_json(text).map(|r| Sidecar::of_record(&r)),
        }
    }
}

/// How a JSON object starts (a named constant, not a brace literal inside
/// [`fast`], so that brace-counting tools measure the function right).
const OBJECT_OPEN: char = '{';

/// The fast path: `None` when the text is anything but a plain, valid
/// record (the caller then parses it whole).
fn fast(text: &str) -> Option<Sidecar> {
    // A JSON array would deserialize into a struct too; records are objects.
    if !text.trim_start().starts_with(OBJECT_OPEN) {
        return None;
    }
    let raw: Raw = serde_json::from_str(text).ok()?;
    if raw.schema != record::SCHEMA {
        return None;
    }
    if raw
        .kind
        .as_deref()
        .is_some_and(|k| Kind::parse(k).is_none())
    {
        return None;
    }
    let created_at = match &raw.created_at {
        Some(s) => Some(DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc)),
        None => None,
    };
    if !raw.path && !raw.error {
        return None;
    }
    Some(Sidecar {
        id: raw.id,
        env: raw.env,
        tag: raw.tag,
        created_at,
        bytes: raw.bytes,
        verify_ok: raw.verify.as_ref().and_then(|v| v.ok),
        verify_at: raw.verify.as_ref().and_then(|v| v.at.clone()),
        has_verify: raw.verify.is_some(),
        restore_test_at: raw.verify.as_ref().and_then(|v| v.restore_test_at),
        error: raw.error,
    })
}

/// The fields read, each checked as [`Record`] checks it: a field that is
/// present must have its type (`null` is not a string). Fields only
/// checked, never read, are `_`-less but allowed to go unread.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Raw {
    schema: String,
    #[serde(default, deserialize_with = "present")]
    id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    env: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tag: Option<String>,
    #[serde(default, deserialize_with = "string_seen")]
    path: bool,
    #[serde(default, deserialize_with = "string_seen")]
    sha256: bool,
    #[serde(default, deserialize_with = "string_seen")]
    format: bool,
    #[serde(default, deserialize_with = "present")]
    created_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    bytes: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    source: Option<SourceChecked>,
    #[serde(default, deserialize_with = "present")]
    verify: Option<Verify>,
    #[serde(default, deserialize_with = "seen")]
    error: bool,
}

/// A field that, when present, must deserialize as `T` (never `null`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A string field whose value is not needed.
fn string_seen<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
            Ok(true)
        }
    }
    d.deserialize_str(V)
}

/// A field of any value (even `null`): only its presence counts.
fn seen<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// `source`: an object whose `tables`, when present, maps names to row
/// counts. Its values are checked, not kept.
struct SourceChecked;

impl<'de> Deserialize<'de> for SourceChecked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SourceChecked;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<SourceChecked, A::Error> {
                let mut tables = 0;
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    if k == "tables" {
                        // A repeated key: the whole parse decides which wins.
                        tables += 1;
                        if tables > 1 {
                            return Err(de::Error::custom("duplicate tables"));
                        }
                        m.next_value::<Counts>()?;
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(SourceChecked)
            }
        }
        d.deserialize_map(V)
    }
}

/// `source.tables`: an object of non-negative integers.
struct Counts;

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of row counts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Counts, A::Error> {
                while m.next_key::<IgnoredAny>()?.is_some() {
                    m.next_value::<u64>()?;
                }
                Ok(Counts)
            }
        }
        d.deserialize_map(V)
    }
}

/// `verify`, as far as it is read: an object, whose `ok` counts when it is
/// a boolean and `at` when it is a string (as [`Record::verify_ok`] reads
/// them). Anything else sends the sidecar down the slow path.
struct Verify {
    ok: Option<bool>,
    at: Option<String>,
    restore_test_at: Option<DateTime<Utc>>,
}

/// `at` of a section whose `ok` is true (a restore test that passed).
fn passed_at(t: &serde_json::Value) -> Option<DateTime<Utc>> {
    if !t.get("ok")?.as_bool()? {
        return None;
    }
    DateTime::parse_from_rfc3339(t.get("at")?.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl<'de> Deserialize<'de> for Verify {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Verify;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Verify, A::Error> {
                let (mut ok, mut at, mut seen) = (None, None, (false, false));
                let (mut restore_test_at, mut seen_test) = (None, false);
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "ok" if !seen.0 => {
                            seen.0 = true;
                            ok = m.next_value::<serde_json::Value>()?.as_bool();
                        }
                        "at" if !seen.1 => {
                            seen.1 = true;
                            at = m
                                .next_value::<serde_json::Value>()?
                                .as_str()
                                .map(str::to_string);
                        }
                        "restore_test" if !seen_test => {
                            seen_test = true;
                            restore_test_at = passed_at(&m.next_value::<serde_json::Value>()?);
                        }
                        "ok" | "at" | "restore_test" => {
                            return Err(de::Error::custom("duplicate key"));
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Verify {
                    ok,
                    at,
                    restore_test_at,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path and the whole parse agree on every sidecar, valid or
    /// not: same summary, or both refuse (with the whole parse's error).
    #[test]
    fn the_fast_path_agrees_with_the_record() {
        let base = r#""schema":"lfb/1","id":"a_db_hourly_20261127T020000Z","kind":"db","env":"prod","tag":"hourly","path":"/s/prod/a.sql.gz","created_at":"2026-11-27T02:00:00Z","bytes":12,"sha256":"ab","format":"sql+gzip""#;
        let cases = [
            format!("{{{base}}}"),
            format!(
                r#"{{{base},"source":{{"engine":"postgres","tables":{{"public.t":1}}}},"verify":{{"at":"2026-11-27T03:00:00Z","ok":true,"checks":[]}}}}"#
            ),
            format!(r#"{{{base},"verify":{{"ok":false}}}}"#),
            format!(
                r#"{{{base},"verify":{{"ok":true,"restore_test":{{"ok":true,"at":"2026-11-27T04:00:00Z"}}}}}}"#
            ),
            format!(
                r#"{{{base},"verify":{{"ok":true,"restore_test":{{"ok":false,"at":"2026-11-27T04:00:00Z"}}}}}}"#
            ),
            format!(r#"{{{base},"verify":{{"restore_test":{{"ok":true,"at":"soon"}}}}}}"#),
            format!(r#"{{{base},"verify":{{"restore_test":5,"restore_test":{{}}}}}}"#),
            format!(r#"{{{base},"verify":{{"ok":"yes","at":5}}}}"#),
            format!(r#"{{{base},"verify":null}}"#),
            format!(r#"{{{base},"verify":{{"ok":true,"ok":false}}}}"#),
            format!(r#"{{{base},"error":null}}"#),
            format!(r#"{{{base},"error":{{"message":"x"}}}}"#),
            format!(r#"{{{base},"source":{{"tables":{{"t":-1}}}}}}"#),
            format!(r#"{{{base},"source":{{"tables":{{"t":1}},"tables":{{}}}}}}"#),
            format!(r#"{{{base},"source":[]}}"#),
            format!(r#"{{{base},"source":null}}"#),
            format!(r#"{{{base},"bytes":null}}"#),
            format!(r#"{{{base},"bytes":1.5}}"#),
            format!(r#"{{{base},"env":"dev"}}"#),
            r#"{"schema":"lfb/1","path":null}"#.to_string(),
            r#"{"schema":"lfb/1","id":null,"path":"/p"}"#.to_string(),
            r#"{"schema":"lfb/1","kind":"tape","path":"/p"}"#.to_string(),
            r#"{"schema":"lfb/1","created_at":"yesterday","path":"/p"}"#.to_string(),
            r#"{"schema":"lfb/1","error":{"message":"m"}}"#.to_string(),
            r#"{"schema":"lfb/1"}"#.to_string(),
            r#"{"schema":"lfb/2","path":"/p"}"#.to_string(),
            r#"{"schema":"lfb/99","path":"/p"}"#.to_string(),
            r#"{"path":"/p"}"#.to_string(),
            r#"["lfb/1"]"#.to_string(),
            r#"{"schema":"lfb/1","path":"/p"} x"#.to_string(),
            "{\"schema\":\"lfb/1\",\n  \"path\": \"/p\", \"sha256\": 5}".to_string(),
            "not json".to_string(),
            String::new(),
        ];
        for text in &cases {
            let whole = Record::from_json(text);
            match (Sidecar::parse(text), whole) {
                (Ok(s), Ok(r)) => assert_eq!(s, Sidecar::of_record(&r), "{text}"),
                (Err(a), Err(b)) => assert_eq!(a.line(), b.line(), "{text}"),
                (a, b) => panic!("{text}: {a:?} vs {b:?}"),
            }
        }
        assert!(
            fast(&cases[1]).is_some(),
            "the usual sidecar takes the fast path"
        );
    }
}
