//! Which failed journal events still need a human.
//!
//! A failed event (`"ok":false`) is resolved by a later successful event of
//! the same tool and action in the same group (`env`, `name`, `tag` of the
//! event, or what its artifact id tells); a field the failure does not know
//! matches anything. One failed hour is therefore quiet again as soon as
//! the next hour succeeds, while a failure nothing has fixed stays loud for
//! the whole window. `lfb-guard --ack ID` appends an `ack` event that
//! silences one failure someone has looked at. lfb-guard's own verdicts are
//! not failures of the backups and are left out.

use std::io::Write;

use lfb_core::digest::HashingWriter;
use lfb_core::naming::ArtifactName;
use serde_json::{Map, Value};

/// The journal action of an acknowledgement.
pub const ACK: &str = "ack";

type Event = Map<String, Value>;

/// A failed event nothing has resolved, with its id for `--ack`.
#[derive(Debug, Clone)]
pub struct Unresolved<'a> {
    pub id: String,
    pub event: &'a Event,
}

/// The id of an event: the first 12 hex digits of the SHA-256 of its JSON
/// line as lfb wrote it (keys in order), stable across runs.
pub fn event_id(e: &Event) -> String {
    let line = serde_json::to_string(e).expect("a JSON map always serializes");
    let mut w = HashingWriter::new(std::io::sink());
    w.write_all(line.as_bytes())
        .expect("writing to a sink cannot fail");
    let (_, hex, _) = w.finish();
    hex[..12].to_string()
}

fn text<'e>(e: &'e Event, k: &str) -> Option<&'e str> {
    e.get(k).and_then(Value::as_str)
}

/// `(env, name, tag)` of an event: its fields, else what its id says.
fn group(e: &Event) -> [Option<String>; 3] {
    let from_id = text(e, "id").and_then(|id| {
        ArtifactName::parse(&format!("{id}.sql"))
            .or_else(|| ArtifactName::parse(&format!("{id}.tar.gz")))
    });
    [
        text(e, "env").map(str::to_string),
        text(e, "name")
            .map(str::to_string)
            .or_else(|| from_id.as_ref().map(|n| n.name.clone())),
        text(e, "tag")
            .map(str::to_string)
            .or_else(|| from_id.as_ref().map(|n| n.tag.clone())),
    ]
}

/// True when the successful event `s` resolves the failure `f`.
fn resolves(s: &Event, f: &Event) -> bool {
    if text(s, "tool") != text(f, "tool") || text(s, "action") != text(f, "action") {
        return false;
    }
    let (gs, gf) = (group(s), group(f));
    gf.iter()
        .zip(gs.iter())
        .all(|(want, have)| want.is_none() || want == have)
}

fn is_guard(e: &Event) -> bool {
    text(e, "tool") == Some(crate::TOOL)
}

/// The failures among `events` (newest first, as the journal tail gives
/// them) that no later success resolved and no `ack` silenced, newest
/// first.
pub fn unresolved(events: &[Event]) -> Vec<Unresolved<'_>> {
    // Acknowledgements count wherever they are; the rest in time order
    // (the file's order among equal times).
    let acked: Vec<&str> = events
        .iter()
        .filter(|e| is_guard(e) && text(e, "action") == Some(ACK))
        .filter_map(|e| text(e, "ack"))
        .collect();
    let mut order: Vec<&Event> = events.iter().rev().filter(|e| !is_guard(e)).collect();
    order.sort_by(|a, b| text(a, "time").cmp(&text(b, "time")));
    let mut open: Vec<Unresolved> = Vec::new();
    for e in order {
        match e.get("ok") {
            Some(Value::Bool(false)) => open.push(Unresolved {
                id: event_id(e),
                event: e,
            }),
            Some(Value::Bool(true)) => open.retain(|u| !resolves(e, u.event)),
            _ => {}
        }
    }
    open.retain(|u| !acked.contains(&u.id.as_str()));
    open.reverse();
    open
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value) -> Event {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_later_success_of_the_same_group_resolves_a_failure() {
        // Newest first.
        let events = vec![
            ev(
                json!({"time":"t4","tool":"lfb-dump","action":"dump","ok":true,"env":"prod","name":"app","tag":"hourly"}),
            ),
            ev(
                json!({"time":"t3","tool":"lfb-dump","action":"dump","ok":true,"env":"prod","name":"app","tag":"daily"}),
            ),
            ev(
                json!({"time":"t2","tool":"lfb-dump","action":"dump","ok":false,"env":"prod","tag":"weekly"}),
            ),
            ev(
                json!({"time":"t1","tool":"lfb-dump","action":"dump","ok":false,"env":"prod","tag":"hourly"}),
            ),
        ];
        let open = unresolved(&events);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].event["tag"], "weekly");
        // The id is stable and an ack silences it.
        let id = open[0].id.clone();
        assert_eq!(id, event_id(&events[2]));
        let mut acked = vec![ev(
            json!({"time":"t5","tool":"lfb-guard","action":"ack","ok":true,"ack":id}),
        )];
        acked.extend(events.clone());
        assert!(unresolved(&acked).is_empty());
    }

    #[test]
    fn a_success_of_another_group_or_tool_does_not() {
        let events = vec![
            ev(
                json!({"time":"t3","tool":"lfb-verify","action":"verify","ok":true,"id":"app_db_hourly_20261127T030000Z"}),
            ),
            ev(
                json!({"time":"t2","tool":"lfb-dump","action":"dump","ok":true,"env":"dev","name":"app","tag":"hourly"}),
            ),
            ev(
                json!({"time":"t1","tool":"lfb-dump","action":"dump","ok":false,"env":"prod","name":"app","tag":"hourly"}),
            ),
            ev(
                json!({"time":"t0","tool":"lfb-verify","action":"verify","ok":false,"id":"app_db_daily_20261127T000000Z"}),
            ),
        ];
        assert_eq!(unresolved(&events).len(), 2);
        // An old-style verify failure is resolved by a later success of the
        // same name and tag (from the ids).
        let mut more = vec![ev(
            json!({"time":"t4","tool":"lfb-verify","action":"verify","ok":true,"id":"app_db_daily_20261128T000000Z"}),
        )];
        more.extend(events);
        assert_eq!(unresolved(&more).len(), 1);
    }
}
