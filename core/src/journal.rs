//! The journal: `STORE/logs/journal.ndjson`, one event per line, appended.
//!
//! `{"time":"…","tool":"lfb-dump","action":"dump","id":"…","ok":true,
//!   "bytes":123,"duration_ms":45,"user":"app","host":"web1","message":"…"}`

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::error::{IoContext, Result};
use crate::record::format_time;
use crate::store::Store;
use crate::sys;

/// One journal event.
#[derive(Debug, Clone)]
pub struct Event {
    pub tool: String,
    pub action: String,
    pub id: Option<String>,
    pub ok: bool,
    pub bytes: Option<u64>,
    pub duration: Option<Duration>,
    pub message: String,
    /// More fields, written after `message` (`env`, `name`, `tag`, `ack`).
    pub fields: Vec<(String, Value)>,
}

impl Event {
    pub fn new(tool: &str, action: &str, ok: bool, message: impl Into<String>) -> Event {
        Event {
            tool: tool.to_string(),
            action: action.to_string(),
            id: None,
            ok,
            bytes: None,
            duration: None,
            message: message.into(),
            fields: Vec::new(),
        }
    }
    /// Adds a field.
    pub fn field(mut self, key: &str, value: Value) -> Self {
        self.fields.push((key.to_string(), value));
        self
    }
    /// The group the event concerns: `env`, `name` (when known) and `tag`.
    /// lfb-guard resolves a failed event by a later success of the same
    /// tool and action in the same group.
    pub fn group(self, env: &str, name: Option<&str>, tag: &str) -> Self {
        let ev = self.field("env", json!(env));
        let ev = match name {
            Some(n) => ev.field("name", json!(n)),
            None => ev,
        };
        ev.field("tag", json!(tag))
    }
    pub fn id(mut self, id: Option<&str>) -> Self {
        self.id = id.map(str::to_string);
        self
    }
    pub fn bytes(mut self, bytes: Option<u64>) -> Self {
        self.bytes = bytes;
        self
    }
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = Some(d);
        self
    }

    fn to_line(&self) -> String {
        let mut m = Map::new();
        m.insert("time".into(), json!(format_time(Utc::now())));
        m.insert("tool".into(), json!(self.tool));
        m.insert("action".into(), json!(self.action));
        m.insert(
            "id".into(),
            self.id.as_ref().map_or(Value::Null, |s| json!(s)),
        );
        m.insert("ok".into(), json!(self.ok));
        m.insert("bytes".into(), self.bytes.map_or(Value::Null, |b| json!(b)));
        m.insert(
            "duration_ms".into(),
            self.duration
                .map_or(Value::Null, |d| json!(d.as_millis() as u64)),
        );
        m.insert("user".into(), json!(sys::username()));
        m.insert("host".into(), json!(sys::hostname()));
        m.insert("message".into(), json!(self.message));
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        let mut s = serde_json::to_string(&m).expect("a JSON map always serializes");
        s.push('\n');
        s
    }
}

/// Appends one event. Each event is one `write` on an `O_APPEND` file, so
/// concurrent tools do not interleave lines.
pub fn append(store: &Store, event: &Event) -> Result<()> {
    let dir = store.logs_dir();
    store.ensure_dir(&dir)?;
    let path = store.journal_path();
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .with_path("open journal", &path)?;
    f.write_all(event.to_line().as_bytes())
        .with_path("append to journal", &path)
}

/// The journal policy every tool follows: `event` goes into the store's
/// journal when the store exists (no tool creates a store just to log in
/// it), and a journal that cannot be written is a warning, never a failed
/// run.
pub fn note(store: &Store, event: &Event, ui: &crate::cli::Ui) {
    if !store.root().is_dir() {
        return;
    }
    if let Err(e) = append(store, event) {
        ui.warn(e.line());
    }
}
