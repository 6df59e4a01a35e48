//! Findings: what lfb-guard says about the store, one per line of NDJSON.
//!
//! A finding has a severity, the group of artifacts it concerns, the name of
//! the check that made it, a message for people and the values behind the
//! message for machines. The JSON shape is a stable contract (documented in
//! the README): fields are only ever added, check names never renamed.
//!
//! ```json
//! {"schema":"lfb/1","finding":{"severity":"crit","check":"freshness",
//!  "group":{"env":"prod","name":"ledgerflow","kind":"db","tag":"hourly"},
//!  "message":"newest hourly backup is 3h12m old (limit 2h00m)",
//!  "values":{"id":"…","created_at":"…","age_seconds":11520,"limit_seconds":7200}}}
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

/// How bad a finding is. Ordered: `Ok < Warn < Crit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Ok,
    Warn,
    Crit,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warn => "warn",
            Severity::Crit => "crit",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The artifacts a finding concerns: a group is every artifact sharing
/// environment, name, kind and tag (`prod/ledgerflow/db/hourly`). Fields are
/// `None` when the finding is wider: a missing tag names only the tag, a
/// store-wide finding (free space) names nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    pub env: Option<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub tag: Option<String>,
}

impl Group {
    /// The whole store.
    pub fn store() -> Group {
        Group::default()
    }

    /// Every artifact of one tag (an expected tag that is absent).
    pub fn tag(env: Option<&str>, tag: &str) -> Group {
        Group {
            env: env.map(str::to_string),
            tag: Some(tag.to_string()),
            ..Group::default()
        }
    }

    /// One environment folder.
    pub fn env(env: &str) -> Group {
        Group {
            env: Some(env.to_string()),
            ..Group::default()
        }
    }

    /// A full group key.
    pub fn of(env: &str, name: &str, kind: &str, tag: &str) -> Group {
        Group {
            env: Some(env.to_string()),
            name: Some(name.to_string()),
            kind: Some(kind.to_string()),
            tag: Some(tag.to_string()),
        }
    }

    /// True for a full group key (all four parts known).
    pub fn is_full(&self) -> bool {
        self.env.is_some() && self.name.is_some() && self.kind.is_some() && self.tag.is_some()
    }

    pub fn to_value(&self) -> Value {
        json!({"env": self.env, "name": self.name, "kind": self.kind, "tag": self.tag})
    }
}

impl fmt::Display for Group {
    /// `prod/ledgerflow/db/hourly`, `*/*/*/daily`, or `store`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Group::default() {
            return f.write_str("store");
        }
        let part = |p: &Option<String>| p.clone().unwrap_or_else(|| "*".to_string());
        write!(
            f,
            "{}/{}/{}/{}",
            part(&self.env),
            part(&self.name),
            part(&self.kind),
            part(&self.tag)
        )
    }
}

/// One thing lfb-guard found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub check: &'static str,
    pub group: Group,
    pub message: String,
    pub values: Map<String, Value>,
}

impl Finding {
    pub fn new(
        severity: Severity,
        check: &'static str,
        group: Group,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity,
            check,
            group,
            message: message.into(),
            values: Map::new(),
        }
    }
    pub fn ok(check: &'static str, group: Group, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Ok, check, group, message)
    }
    pub fn warn(check: &'static str, group: Group, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Warn, check, group, message)
    }
    pub fn crit(check: &'static str, group: Group, message: impl Into<String>) -> Finding {
        Finding::new(Severity::Crit, check, group, message)
    }

    /// Adds one value (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Finding {
        self.values.insert(key.to_string(), value.into());
        self
    }

    /// The inner object: severity, check, group, message, values.
    pub fn body(&self) -> Value {
        json!({
            "severity": self.severity.as_str(),
            "check": self.check,
            "group": self.group.to_value(),
            "message": self.message,
            "values": Value::Object(self.values.clone()),
        })
    }

    /// The NDJSON line: `{"schema":"lfb/1","finding":{…}}`.
    pub fn to_line(&self) -> String {
        json!({"schema": lfb_core::record::SCHEMA, "finding": self.body()}).to_string()
    }
}

/// Counts of findings by severity (every severity present, zero included).
pub fn counts(findings: &[Finding]) -> BTreeMap<&'static str, u64> {
    let mut c: BTreeMap<&'static str, u64> =
        [("ok", 0), ("warn", 0), ("crit", 0)].into_iter().collect();
    for f in findings {
        *c.entry(f.severity.as_str()).or_default() += 1;
    }
    c
}

/// The worst severity among the findings (`Ok` when there are none).
pub fn worst(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_format_is_stable() {
        let f = Finding::crit(
            "freshness",
            Group::of("prod", "app", "db", "hourly"),
            "stale",
        )
        .with("age_seconds", 10);
        assert_eq!(
            f.to_line(),
            r#"{"schema":"lfb/1","finding":{"severity":"crit","check":"freshness","group":{"env":"prod","name":"app","kind":"db","tag":"hourly"},"message":"stale","values":{"age_seconds":10}}}"#
        );
        let g = Finding::warn("space", Group::store(), "low");
        assert!(
            g.to_line()
                .contains(r#""group":{"env":null,"name":null,"kind":null,"tag":null}"#)
        );
    }

    #[test]
    fn groups_print_as_paths() {
        assert_eq!(
            Group::of("prod", "app", "db", "hourly").to_string(),
            "prod/app/db/hourly"
        );
        assert_eq!(Group::tag(None, "daily").to_string(), "*/*/*/daily");
        assert_eq!(Group::store().to_string(), "store");
    }

    #[test]
    fn severities_order_and_count() {
        let fs = vec![
            Finding::ok("a", Group::store(), ""),
            Finding::warn("b", Group::store(), ""),
        ];
        assert_eq!(worst(&fs), Severity::Warn);
        assert_eq!(counts(&fs)["crit"], 0);
        assert_eq!(counts(&fs)["warn"], 1);
        assert!(Severity::Crit > Severity::Warn);
    }
}
