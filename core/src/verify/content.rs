//! What decoded content is, from its first bytes ([`Content`]), and whether
//! it is whole ([`Completeness`]): pg_dump's and mariadb-dump's completion
//! trailers, SQLite's final COMMIT or whole pages, row counts found in the
//! stream ([`compare_counts`]).
//!
//! The bottom of the verify layer: it uses only the engines' stream
//! scanners. `crate::archive` uses it to judge the dumps inside an archive,
//! and the rest of `verify` uses `crate::archive` to check an archive's tar
//! stream, so the dependencies run one way:
//!
//! ```text
//! verify (mod, checks, scan, restore_test) -> archive -> verify::content
//! ```
//!
//! What happens to an archive's tar stream is therefore not decided here:
//! the caller chooses a [`TarCheck`] (the verifier's runs
//! `archive::check_stream` on a thread of its own; archive's own check of
//! its embedded dumps runs none).

use std::collections::BTreeMap;

use crate::engine::mysqlscan::{self, MysqlScanner};
use crate::engine::pgscan::PlainScanner;
use crate::engine::postgres::TableCounts;

/// What the content of an artifact is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    PgPlain,
    PgCustom,
    /// A mariadb-dump / mysqldump SQL dump.
    MysqlSql,
    SqliteSql,
    SqliteNative,
    Tar,
    Unknown,
}

fn sniff(head: &[u8]) -> Content {
    if head.starts_with(b"PGDMP") {
        Content::PgCustom
    } else if head.starts_with(b"SQLite format 3\0") {
        Content::SqliteNative
    } else if head.len() > 262 && &head[257..262] == b"ustar" {
        Content::Tar
    } else {
        let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
        if text.contains("-- PostgreSQL database dump")
            || text.contains("-- PostgreSQL database cluster dump")
            || text.starts_with("\\restrict ")
        {
            Content::PgPlain
        } else if mysqlscan::looks_like(&text) {
            Content::MysqlSql
        } else if text.starts_with("PRAGMA foreign_keys=OFF;")
            || text.starts_with("BEGIN TRANSACTION;")
        {
            Content::SqliteSql
        } else {
            Content::Unknown
        }
    }
}

/// Bytes of decoded content looked at to tell what it is.
const HEAD: usize = 8192;

/// Where the decoded stream of an archive (content [`Content::Tar`]) goes
/// while its completeness is judged, and what comes back at the end.
pub(crate) trait TarCheck {
    type Report;
    /// Called once, when the content turns out to be a tar stream.
    fn start() -> Self;
    /// Every decoded byte of the tar stream, in order, from its first.
    fn feed(&mut self, b: &[u8]);
    fn finish(self) -> Self::Report;
}

/// No check of tar streams: an archive found inside an archive is not
/// looked into.
pub(crate) struct NoTarCheck;

impl TarCheck for NoTarCheck {
    type Report = ();
    fn start() -> Self {
        NoTarCheck
    }
    fn feed(&mut self, _: &[u8]) {}
    fn finish(self) {}
}

/// Judges completeness of decoded content as it streams.
pub(crate) struct Completeness<T: TarCheck = NoTarCheck> {
    head: Vec<u8>,
    content: Option<Content>,
    pg: PlainScanner,
    my: MysqlScanner,
    /// Last non-empty line seen (SQLite SQL dumps end with `COMMIT;`).
    tail: Vec<u8>,
    total: u64,
    /// An archive's tar stream goes to its check.
    tar: Option<T>,
}

/// What a completeness scan concluded.
pub(crate) struct Verdict<R = ()> {
    pub content: Content,
    pub complete: std::result::Result<String, String>,
    /// Row counts found in the stream (PostgreSQL plain dumps).
    pub tables: Option<TableCounts>,
    pub archive: Option<R>,
}

impl<T: TarCheck> Completeness<T> {
    pub(crate) fn new() -> Self {
        Completeness {
            head: Vec::new(),
            content: None,
            pg: PlainScanner::new(),
            my: MysqlScanner::new(),
            tail: Vec::new(),
            total: 0,
            tar: None,
        }
    }

    pub(crate) fn feed(&mut self, b: &[u8]) {
        self.total += b.len() as u64;
        if self.content.is_none() {
            let take = b.len().min(HEAD - self.head.len());
            self.head.extend_from_slice(&b[..take]);
            if self.head.len() >= HEAD {
                self.decide();
                self.feed_known(&b[take..]);
            }
            return;
        }
        self.feed_known(b);
    }

    fn decide(&mut self) {
        let c = sniff(&self.head);
        self.content = Some(c);
        if c == Content::Tar {
            self.tar = Some(T::start());
        }
        let head = std::mem::take(&mut self.head);
        self.feed_known(&head);
        self.head = head;
    }

    fn feed_known(&mut self, b: &[u8]) {
        match self.content {
            Some(Content::PgPlain) => self.pg.feed(b),
            Some(Content::MysqlSql) => self.my.feed(b),
            Some(Content::Tar) => {
                if let Some(t) = self.tar.as_mut() {
                    t.feed(b);
                }
            }
            Some(Content::SqliteSql) => {
                self.tail
                    .extend_from_slice(&b[b.len().saturating_sub(64)..]);
                let keep = self.tail.len().saturating_sub(64);
                self.tail.drain(..keep);
            }
            _ => {}
        }
    }

    /// True once the kind of content is known.
    pub(crate) fn decided(&self) -> bool {
        self.content.is_some()
    }

    /// Decides what the content is now, however little of it came.
    pub(crate) fn settle(&mut self) {
        if self.content.is_none() {
            self.decide();
        }
    }

    /// Why the content must not be loaded anywhere, as soon as that is
    /// known: a MySQL dump that selects or creates a database.
    pub(crate) fn fatal(&self) -> Option<String> {
        (self.content == Some(Content::MysqlSql))
            .then(|| self.my.switches_database())
            .flatten()
            .map(|stmt| format!("the dump selects or creates a database ({stmt})"))
    }

    pub(crate) fn finish(mut self) -> Verdict<T::Report> {
        if self.content.is_none() {
            self.decide();
        }
        let archive = self.tar.take().map(T::finish);
        let (content, complete, tables) = self.verdict();
        Verdict {
            content,
            complete,
            tables,
            archive,
        }
    }

    fn verdict(
        &mut self,
    ) -> (
        Content,
        std::result::Result<String, String>,
        Option<TableCounts>,
    ) {
        let content = self.content.unwrap_or(Content::Unknown);
        match content {
            Content::PgPlain => {
                let (tables, complete) = std::mem::take(&mut self.pg).finish();
                let verdict = if complete {
                    Ok(format!(
                        "ends with pg_dump's completion trailer ({} tables)",
                        tables.len()
                    ))
                } else {
                    Err(
                        "no pg_dump completion trailer at the end: the dump is truncated"
                            .to_string(),
                    )
                };
                (content, verdict, Some(tables))
            }
            Content::MysqlSql => {
                let scanner = std::mem::take(&mut self.my);
                let switches = scanner.switches_database().map(str::to_string);
                let (tables, complete) = scanner.finish();
                let verdict = if let Some(stmt) = switches {
                    Err(format!(
                        "the dump selects or creates a database ({stmt}): made with --databases or --all-databases; lfb checks and restores single-database dumps only"
                    ))
                } else if complete {
                    Ok(format!(
                        "ends with the dump tool's '-- Dump completed' trailer ({} tables)",
                        tables.len()
                    ))
                } else {
                    Err(
                        "no '-- Dump completed' trailer at the end: the dump is truncated"
                            .to_string(),
                    )
                };
                (content, verdict, Some(tables))
            }
            Content::SqliteSql => {
                let text = String::from_utf8_lossy(&self.tail);
                let last = text.trim_end().rsplit('\n').next().unwrap_or("");
                let verdict = if last.trim() == "COMMIT;" {
                    Ok("ends with COMMIT".to_string())
                } else {
                    Err("does not end with COMMIT: the dump is truncated".to_string())
                };
                (content, verdict, None)
            }
            Content::SqliteNative => (
                content,
                sqlite_native_complete(&self.head, self.total),
                None,
            ),
            Content::PgCustom => (content, Ok(String::new()), None),
            Content::Tar => (content, Ok(String::new()), None),
            Content::Unknown if self.total == 0 => (content, Err("empty".to_string()), None),
            Content::Unknown => (content, Err("not a dump lfb recognises".to_string()), None),
        }
    }
}

/// A SQLite file is whole when its size is page size × page count.
fn sqlite_native_complete(head: &[u8], total: u64) -> std::result::Result<String, String> {
    if head.len() < 100 {
        return Err("shorter than a SQLite header".into());
    }
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65536u64,
        n => n as u64,
    };
    let counter = u32::from_be_bytes([head[24], head[25], head[26], head[27]]);
    let pages = u32::from_be_bytes([head[28], head[29], head[30], head[31]]) as u64;
    let valid_for = u32::from_be_bytes([head[92], head[93], head[94], head[95]]);
    if counter != valid_for || pages == 0 {
        return if total.is_multiple_of(page_size) && total > 0 {
            Ok(format!("{} pages (size from file)", total / page_size))
        } else {
            Err(format!(
                "{total} bytes is not a whole number of {page_size}-byte pages"
            ))
        };
    }
    if pages * page_size == total {
        Ok(format!("{pages} pages of {page_size} bytes"))
    } else {
        Err(format!(
            "truncated: the header says {} bytes ({pages} pages), the file has {total}",
            pages * page_size
        ))
    }
}

/// Describes how `found` differs from `want`, or `None` when every wanted
/// table exists with exactly its count.
pub fn compare_counts(
    want: &BTreeMap<String, u64>,
    found: &BTreeMap<String, u64>,
) -> Option<String> {
    let mut diffs = Vec::new();
    for (t, n) in want {
        match found.get(t) {
            None => diffs.push(format!("{t} is missing")),
            Some(m) if m != n => diffs.push(format!("{t} has {m} rows, expected {n}")),
            _ => {}
        }
    }
    if diffs.is_empty() {
        None
    } else {
        let more = diffs.len().saturating_sub(3);
        diffs.truncate(3);
        let mut s = diffs.join(", ");
        if more > 0 {
            s.push_str(&format!(" (and {more} more)"));
        }
        Some(s)
    }
}
