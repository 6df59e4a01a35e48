//! The `restore` section lfb-restore adds to the record it prints: typed,
//! so each field is named once and its order is the order below (the JSON
//! contract in docs/record.schema.json; the golden-output test pins it).

use serde::Serialize;
use serde_json::Value;

/// The section of a database restore.
#[derive(Debug, Serialize)]
pub struct Database {
    pub at: String,
    /// The target, password removed.
    pub target: String,
    pub production: bool,
    /// The safety backup's path; `null` when none was made.
    pub safety_backup: Option<String>,
    pub ok: bool,
    /// Row counts found after the load (`null` when the engine gave none);
    /// absent when the load failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Value>,
    /// The counts compared with the record, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why the load failed (the target is unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An archive's files (`--files-to`), or why they were not restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Value>,
    pub duration_ms: u64,
    /// The command that puts the safety backup back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
}

/// The section of `lfb-restore --globals`.
#[derive(Debug, Serialize)]
pub struct Globals {
    pub at: String,
    pub target: String,
    /// Always true: tells this section from a database restore's.
    pub globals: bool,
    pub ok: bool,
    /// Roles restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The section of `lfb-restore --files-only`.
#[derive(Debug, Serialize)]
pub struct FilesOnly {
    pub at: String,
    pub ok: bool,
    pub files: Value,
    pub duration_ms: u64,
}

/// A section as the record's JSON value.
pub fn value(section: &impl Serialize) -> Value {
    serde_json::to_value(section).expect("a restore section always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_serialize_key_for_key_as_before() {
        let s = Database {
            at: "T".into(),
            target: "db".into(),
            production: false,
            safety_backup: None,
            ok: true,
            counts: Some(json!({"t": 1})),
            detail: Some("1 tables".into()),
            error: None,
            files: None,
            duration_ms: 5,
            undo: None,
        };
        assert_eq!(
            value(&s).to_string(),
            r#"{"at":"T","target":"db","production":false,"safety_backup":null,"ok":true,"counts":{"t":1},"detail":"1 tables","duration_ms":5}"#
        );
        let g = Globals {
            at: "T".into(),
            target: "db".into(),
            globals: true,
            ok: false,
            roles: None,
            error: Some("boom".into()),
            duration_ms: 1,
        };
        assert_eq!(
            value(&g).to_string(),
            r#"{"at":"T","target":"db","globals":true,"ok":false,"error":"boom","duration_ms":1}"#
        );
    }
}
