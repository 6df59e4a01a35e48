//! The recent past from the journal (`logs/journal.ndjson`): which events
//! failed in the last day.
//!
//! The journal only grows (one line per dump, verify, prune… for years), so
//! it is read backwards from its end in blocks and reading stops at the
//! first event older than the window. Tools append with `O_APPEND` and stamp
//! the time just before, so lines are in time order up to the length of a
//! run; an hour of slack absorbs that.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

/// Bytes read per step backwards.
const BLOCK: u64 = 64 * 1024;

/// How far past the window reading goes, for lines slightly out of order.
const SLACK_SECS: i64 = 3600;

/// What the tail of the journal holds.
#[derive(Debug, Default)]
pub struct Tail {
    /// Events since the cut-off, newest first.
    pub events: Vec<Map<String, Value>>,
    /// Lines in the window that are not journal events.
    pub unreadable: usize,
    /// Bytes read from the end.
    pub bytes_read: u64,
}

/// The events at or after `since`, newest first. A missing journal is
/// empty.
pub fn events_since(path: &Path, since: DateTime<Utc>) -> io::Result<Tail> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Tail::default()),
        Err(e) => return Err(e),
    };
    let stop_before = since - Duration::seconds(SLACK_SECS);
    let mut tail = Tail::default();
    let mut pos = f.metadata()?.len();
    // Bytes after `pos` that start a line not yet complete (its start lies
    // in a block not read yet).
    let mut carry: Vec<u8> = Vec::new();
    loop {
        if pos == 0 {
            // `carry` is the journal's first line.
            take_line(&carry, since, &mut tail);
            return Ok(tail);
        }
        let start = pos.saturating_sub(BLOCK);
        let mut buf = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        tail.bytes_read += buf.len() as u64;
        pos = start;
        buf.extend_from_slice(&carry);
        // Before the first newline the line may begin in the previous block.
        let (head, body) = match (start, memchr::memchr(b'\n', &buf)) {
            (0, _) => (0, &buf[..]),
            (_, Some(i)) => (i + 1, &buf[i + 1..]),
            (_, None) => {
                carry = buf;
                continue;
            }
        };
        for line in body.rsplit(|&b| b == b'\n') {
            if let Some(t) = take_line(line, since, &mut tail)
                && t < stop_before
            {
                return Ok(tail);
            }
        }
        if start == 0 {
            return Ok(tail);
        }
        carry = buf[..head].to_vec();
        // The newline ending the carried fragment belongs to it.
        if carry.last() == Some(&b'\n') {
            carry.pop();
        }
    }
}

/// Parses one line; keeps it when in the window. Returns its time.
fn take_line(line: &[u8], since: DateTime<Utc>, tail: &mut Tail) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(line).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let time = serde_json::from_str::<Map<String, Value>>(text)
        .ok()
        .and_then(|m| {
            let t = m
                .get("time")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())?
                .with_timezone(&Utc);
            Some((t, m))
        });
    match time {
        Some((t, m)) => {
            if t >= since {
                tail.events.push(m);
            }
            Some(t)
        }
        None => {
            tail.unreadable += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn event(t: DateTime<Utc>, ok: bool, pad: usize) -> String {
        format!(
            "{{\"time\":\"{}\",\"tool\":\"lfb-dump\",\"action\":\"dump\",\"ok\":{ok},\"message\":\"{}\"}}\n",
            lfb_core::record::format_time(t),
            "x".repeat(pad)
        )
    }

    #[test]
    fn reads_only_the_window_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        let mut f = File::create(&path).unwrap();
        // 30 days of hourly events, long lines so they straddle blocks.
        for h in (0..24 * 30).rev() {
            let t = now - Duration::hours(h);
            f.write_all(event(t, h % 50 != 3, 700).as_bytes()).unwrap();
        }
        f.write_all(b"not json\n").unwrap();
        drop(f);
        let since = now - Duration::hours(24);
        let tail = events_since(&path, since).unwrap();
        assert_eq!(tail.events.len(), 25, "hours 0..=24");
        assert_eq!(tail.unreadable, 1);
        let failed: Vec<_> = tail.events.iter().filter(|e| e["ok"] == false).collect();
        assert_eq!(failed.len(), 1);
        // A day of events fits in one block: the rest of the month is not read.
        let total = std::fs::metadata(&path).unwrap().len();
        assert_eq!(tail.bytes_read, BLOCK, "of {total}");
    }

    #[test]
    fn a_short_journal_is_read_whole_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let now: DateTime<Utc> = "2026-11-27T12:00:00Z".parse().unwrap();
        assert!(events_since(&path, now).unwrap().events.is_empty());
        let text = format!("{}{}", event(now, false, 3), event(now, true, 3));
        std::fs::write(&path, text.trim_end()).unwrap();
        let tail = events_since(&path, now - Duration::hours(1)).unwrap();
        assert_eq!(tail.events.len(), 2);
        assert_eq!(tail.events[0]["ok"], true, "newest first");
    }
}
