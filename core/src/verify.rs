//! Checking artifacts: is a backup whole, and does it really restore?
//!
//! Each check has a name users select with `--checks`/`--skip`:
//! `exists`, `size`, `checksum`, `decode`, `complete`, `permissions`, and
//! `restore` (a test restore into a scratch database). `checksum`, `decode`
//! and `complete` share one read of the file: a reader thread hands each
//! block to a hashing thread and a decoding thread, so the file is read once
//! and memory stays bounded whatever its size. An archive (`lfb-archive`'s
//! `.tar.gz`) gets one more thread in that same read: the decoded tar stream
//! flows to [`crate::archive::check_stream`], which checks every member
//! against the manifest and each embedded dump's completeness.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::archive::{self, ArchiveReport};
use crate::cleanup;
use crate::crypt;
use crate::digest::hex;
use crate::engine::mysqlscan::{self, MysqlScanner};
use crate::engine::pgscan::PlainScanner;
use crate::engine::postgres::{self, Postgres, TableCounts};
use crate::engine::sqlite;
use crate::engine::url::{Database, ServerConn};
use crate::error::{Error, Result};
use crate::load;
use crate::record::{Record, format_time};

/// Every check, in the order they run.
pub const ALL_CHECKS: &[&str] = &[
    "exists",
    "size",
    "checksum",
    "encryption",
    "decode",
    "complete",
    "permissions",
    "restore",
];

/// Checks run when none are selected (`restore` only with --restore-test).
pub const DEFAULT_CHECKS: &[&str] = &[
    "exists",
    "size",
    "checksum",
    "encryption",
    "decode",
    "complete",
    "permissions",
];

/// The original scripts' minimum backup size.
pub const DEFAULT_MIN_SIZE: u64 = 10 * 1024;

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: &'static str,
    /// `None`: not applicable to this artifact (e.g. no recorded checksum).
    pub ok: Option<bool>,
    pub detail: String,
    /// Passed, but with something a person should fix (`"warning": true`):
    /// lfb-verify's permissions of a file lfb did not create.
    pub warning: bool,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: Some(true),
            detail: detail.into(),
            warning: false,
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: Some(false),
            detail: detail.into(),
            warning: false,
        }
    }
    fn skip(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: None,
            detail: detail.into(),
            warning: false,
        }
    }
    fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), json!(self.name));
        match self.ok {
            Some(ok) => m.insert("ok".into(), json!(ok)),
            None => m.insert("skipped".into(), json!(true)),
        };
        m.insert("detail".into(), json!(self.detail));
        if self.warning {
            m.insert("warning".into(), json!(true));
        }
        Value::Object(m)
    }
}

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub checks: BTreeSet<&'static str>,
    pub min_size: u64,
    /// `--scratch URL`: the exact scratch database for PostgreSQL restore tests.
    pub scratch: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            checks: DEFAULT_CHECKS.iter().copied().collect(),
            min_size: DEFAULT_MIN_SIZE,
            scratch: None,
        }
    }
}

/// The outcome of verifying one artifact.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub checks: Vec<Check>,
}

impl Outcome {
    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok != Some(false))
    }
    /// The checks that failed.
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.ok == Some(false)).collect()
    }
    /// The record's `verify` section.
    pub fn section(&self) -> Value {
        json!({
            "at": format_time(Utc::now()),
            "ok": self.ok(),
            "checks": self.checks.iter().map(Check::to_value).collect::<Vec<_>>(),
        })
    }
    /// One line for people: `ok` or the failing checks with details.
    pub fn summary(&self) -> String {
        let failed = self.failed();
        if failed.is_empty() {
            let names: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| c.ok == Some(true))
                .map(|c| c.name)
                .collect();
            format!("ok ({})", names.join(", "))
        } else {
            failed
                .iter()
                .map(|c| format!("{} failed: {}", c.name, c.detail))
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

/// Parses a comma-separated check list.
pub fn parse_checks(list: &str) -> std::result::Result<Vec<&'static str>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            ALL_CHECKS
                .iter()
                .copied()
                .find(|c| *c == s)
                .ok_or_else(|| format!("unknown check '{s}' (checks: {})", ALL_CHECKS.join(", ")))
        })
        .collect()
}

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

/// What one read of the content found.
#[derive(Debug, Default)]
struct ContentScan {
    sha256: String,
    /// Decompression error (gzip formats), with the decoded offset.
    decode_error: Option<String>,
    decoded_bytes: u64,
    content: Option<Content>,
    /// Completeness verdict for streamed content kinds, with detail.
    complete: Option<std::result::Result<String, String>>,
    /// Row counts found in the stream (PostgreSQL plain dumps).
    stream_tables: Option<TableCounts>,
    /// What the check of an archive's tar stream found.
    archive: Option<ArchiveReport>,
}

/// A `Read` over blocks arriving on a channel.
struct ChannelReader {
    rx: Receiver<Arc<Vec<u8>>>,
    cur: Arc<Vec<u8>>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Bytes of decoded content looked at to tell what it is.
const HEAD: usize = 8192;

/// Judges completeness of decoded content as it streams.
pub(crate) struct Completeness {
    head: Vec<u8>,
    content: Option<Content>,
    pg: PlainScanner,
    my: MysqlScanner,
    /// Last non-empty line seen (SQLite SQL dumps end with `COMMIT;`).
    tail: Vec<u8>,
    total: u64,
    /// An archive's tar stream goes to a checking thread.
    tar: Option<TarFeed>,
}

/// The decoded tar stream on its way to [`archive::check_stream`].
struct TarFeed {
    tx: SyncSender<Arc<Vec<u8>>>,
    check: std::thread::JoinHandle<ArchiveReport>,
}

/// What a completeness scan concluded.
pub(crate) struct Verdict {
    pub content: Content,
    pub complete: std::result::Result<String, String>,
    /// Row counts found in the stream (PostgreSQL plain dumps).
    pub tables: Option<TableCounts>,
    pub archive: Option<ArchiveReport>,
}

impl Completeness {
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
            let (tx, rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
            let check = std::thread::spawn(move || {
                archive::check_stream(ChannelReader {
                    rx,
                    cur: Arc::new(Vec::new()),
                    pos: 0,
                })
            });
            self.tar = Some(TarFeed { tx, check });
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
                if let Some(t) = &self.tar {
                    // A checker that stopped early drains its input, so a
                    // failed send only means it is gone; its report says why.
                    let _ = t.tx.send(Arc::new(b.to_vec()));
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

    pub(crate) fn finish(mut self) -> Verdict {
        if self.content.is_none() {
            self.decide();
        }
        let archive = self.tar.take().map(|t| {
            drop(t.tx);
            t.check.join().unwrap_or_else(|_| ArchiveReport {
                stream_error: Some("the archive check failed unexpectedly".into()),
                ..Default::default()
            })
        });
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

/// A writer that decoded content is copied to while it is checked (psql's
/// stdin during a restore). It comes back afterwards, still open.
pub type Tee = Box<dyn Write + Send>;

/// Reads the file once: SHA-256 in one thread, decompression in another,
/// completeness in a third (and the copy to `tee`, if any), so a large
/// artifact is checked at the speed of its slowest stage.
fn scan_content(path: &Path, gzip: bool) -> io::Result<ContentScan> {
    let f = fs::File::open(path)?;
    scan_reader(f, gzip, None).map(|(scan, _, _)| scan)
}

/// [`scan_content`] over any reader, copying the decoded content to `tee`.
/// Returns the scan, the tee (so the caller decides when to close it) and
/// the first error writing to it.
fn scan_reader(
    mut f: impl Read,
    gzip: bool,
    tee: Option<Tee>,
) -> io::Result<(ContentScan, Option<Tee>, Option<io::Error>)> {
    let (htx, hrx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
    let (dtx, drx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
    // Up to 2 pieces of decoded content queued (a piece is a whole gzip
    // member's output, 4 MiB, or a serial batch): memory stays bounded.
    let (ctx, crx) = mpsc::sync_channel::<Vec<u8>>(2);
    let hasher = std::thread::spawn(move || {
        let mut h = Sha256::new();
        for b in hrx {
            h.update(&b[..]);
        }
        hex(&h.finalize())
    });
    let scanner = std::thread::spawn(move || {
        let mut comp = Completeness::new();
        let mut tee = tee;
        let mut tee_err = None;
        // Nothing is copied before the content is known (its first 8 KiB),
        // and content that must never reach a database stops the copy
        // before the block that completes it.
        let mut pending: Vec<u8> = Vec::new();
        let mut copy = |bytes: &[u8], comp: &Completeness, tee_err: &mut Option<io::Error>| {
            if tee_err.is_none()
                && let Some(why) = comp.fatal()
            {
                *tee_err = Some(io::Error::other(why));
            }
            if let Some(t) = tee.as_mut().filter(|_| tee_err.is_none())
                && let Err(e) = t.write_all(bytes)
            {
                *tee_err = Some(e);
            }
        };
        for block in crx {
            comp.feed(&block);
            if !comp.decided() {
                pending.extend_from_slice(&block);
                continue;
            }
            if !pending.is_empty() {
                pending.extend_from_slice(&block);
                copy(&std::mem::take(&mut pending), &comp, &mut tee_err);
            } else {
                copy(&block, &comp, &mut tee_err);
            }
        }
        comp.settle();
        if !pending.is_empty() {
            copy(&pending, &comp, &mut tee_err);
        }
        (comp.finish(), tee, tee_err)
    });
    let decoder = std::thread::spawn(move || {
        let mut err = None;
        let mut decoded = 0u64;
        let src = ChannelReader {
            rx: drx,
            cur: Arc::new(Vec::new()),
            pos: 0,
        };
        if gzip {
            // lfb's gzip members inflate on all cores and come whole, with
            // no copy; other gzip decodes serially in pieces of 1 MiB.
            let mut input = crate::gzip::members::Decoder::new(src);
            loop {
                match input.next_chunk(1 << 20) {
                    Ok(Some(chunk)) => {
                        decoded += chunk.len() as u64;
                        if ctx.send(chunk).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(describe_gzip_error(&e, decoded));
                        break;
                    }
                }
            }
            drop(input);
            if decoded == 0 && err.is_none() {
                err = Some("not a gzip stream (empty)".to_string());
            }
            return (err, decoded);
        }
        let mut input = src;
        // One zeroed buffer, reused: pieces are gathered here and sent on
        // in batches of 256 KiB or more.
        let mut buf = vec![0u8; 1 << 20];
        let mut filled = 0;
        loop {
            match input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    decoded += n as u64;
                    filled += n;
                    if filled >= 256 * 1024 {
                        if ctx.send(buf[..filled].to_vec()).is_err() {
                            filled = 0;
                            break;
                        }
                        filled = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    err = Some(describe_gzip_error(&e, decoded));
                    break;
                }
            }
        }
        if filled > 0 {
            let _ = ctx.send(buf[..filled].to_vec());
        }
        // Drain what is left so the reader thread is never blocked.
        drop(input);
        (err, decoded)
    });
    let mut read_err = None;
    loop {
        let mut block = vec![0u8; 1 << 20];
        let n = match f.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_err = Some(e);
                break;
            }
        };
        block.truncate(n);
        let block = Arc::new(block);
        if htx.send(Arc::clone(&block)).is_err() {
            break;
        }
        // A decoder that stopped (corrupt stream) no longer reads; the hash
        // still needs every byte.
        let _ = dtx.send(block);
    }
    drop(htx);
    drop(dtx);
    let sha256 = hasher
        .join()
        .map_err(|_| io::Error::other("hash thread failed"))?;
    let (decode_error, decoded) = decoder
        .join()
        .map_err(|_| io::Error::other("decode thread failed"))?;
    let (verdict, tee, tee_err) = scanner
        .join()
        .map_err(|_| io::Error::other("scan thread failed"))?;
    if let Some(e) = read_err {
        return Err(e);
    }
    let scan = ContentScan {
        sha256,
        decode_error,
        decoded_bytes: decoded,
        content: Some(verdict.content),
        complete: Some(verdict.complete),
        stream_tables: verdict.tables,
        archive: verdict.archive,
    };
    Ok((scan, tee, tee_err))
}

/// What [`verify_while_copying`] found, and the copy's writer back.
pub struct Streamed {
    pub outcome: Outcome,
    /// Row counts read from the stream (plain PostgreSQL dumps).
    pub tables: Option<TableCounts>,
    pub tee: Option<Tee>,
    pub tee_error: Option<io::Error>,
}

/// Runs `checksum`, `decode` and `complete` on the artifact while copying
/// its decoded content to `tee`, in the same single read: a restore can load
/// exactly the bytes that were checked, and commit only if they passed.
pub fn verify_while_copying(record: &Record, tee: Tee) -> Result<Streamed> {
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let format = record.format().unwrap_or("unknown").to_string();
    if crypt::is_encrypted_format(&format) {
        return verify_encrypted_while_copying(record, &path, &format, tee);
    }
    let gzip = load::is_gzip_format(&format);
    let f = fs::File::open(&path).map_err(|e| Error::io_path("open", &path, e))?;
    let (scan, tee, tee_error) = scan_reader(crate::progress::Counting(f), gzip, Some(tee))
        .map_err(|e| Error::io_path("read", &path, e))?;
    let want: BTreeSet<&str> = ["checksum", "decode", "complete"].into_iter().collect();
    let checks = content_checks(record, &path, gzip, &scan, &want);
    Ok(Streamed {
        tables: scan.stream_tables.clone(),
        outcome: Outcome { checks },
        tee,
        tee_error,
    })
}

/// [`verify_while_copying`] for an age-encrypted artifact: the plaintext
/// flows to `tee` as it is decrypted. Without a key nothing can be loaded:
/// that is a usage error (exit 2), found before anything is read.
fn verify_encrypted_while_copying(
    record: &Record,
    path: &Path,
    format: &str,
    tee: Tee,
) -> Result<Streamed> {
    if crypt::keys().is_none() {
        return Err(Error::usage(format!(
            "'{}' is encrypted with age: {}",
            path.display(),
            crypt::IDENTITY_HINT
        )));
    }
    let gzip = load::is_gzip_format(crypt::inner_format(format));
    let want: BTreeSet<&str> = ["checksum", "encryption", "decode", "complete"]
        .into_iter()
        .collect();
    let (scan, checks) = encrypted_scan(record, path, gzip, Some(tee), &want);
    let (tables, tee, tee_error) = match scan {
        Some((content, tee, err)) => (content.stream_tables, tee, err),
        None => (None, None, None),
    };
    Ok(Streamed {
        outcome: Outcome { checks },
        tables,
        tee,
        tee_error,
    })
}

type EncScan = (ContentScan, Option<Tee>, Option<io::Error>);

/// Reads an encrypted artifact once: the ciphertext is hashed as stored
/// (`checksum`), its age header is matched with the record (`encryption`),
/// and, with a key, the plaintext is decrypted, hashed against the
/// record's `encryption.plaintext_sha256` and scanned like any artifact
/// (`decode`, `complete`). Without a key those two are skipped, saying so.
fn encrypted_scan(
    record: &Record,
    path: &Path,
    gzip: bool,
    tee: Option<Tee>,
    want: &BTreeSet<&'static str>,
) -> (Option<EncScan>, Vec<Check>) {
    let mut checks = Vec::new();
    let opened = fs::File::open(path).and_then(|f| crypt::Decrypting::new(f, crypt::keys()));
    let d = match opened {
        Ok(d) => d,
        Err(e) => {
            checks.push(Check::fail(
                "checksum",
                format!("cannot read: {}", crate::error::describe_io(&e)),
            ));
            return (None, checks);
        }
    };
    let handle = d.report_handle();
    let scanned = scan_reader(d, gzip, tee);
    let rep = handle.get();
    let mut scanned = match scanned {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::fail(
                "checksum",
                format!("cannot read: {}", crate::error::describe_io(&e)),
            ));
            return (None, checks);
        }
    };
    let plain_sha = std::mem::replace(&mut scanned.0.sha256, rep.cipher_sha256.clone());
    let section = record.get("encryption");
    if want.contains("checksum") {
        checks.push(match record.sha256() {
            Some(h) if h == rep.cipher_sha256 => {
                Check::pass("checksum", "SHA-256 of the ciphertext matches the record")
            }
            Some(h) => Check::fail(
                "checksum",
                format!("SHA-256 is {}, the record says {h}", rep.cipher_sha256),
            ),
            None => Check::skip(
                "checksum",
                format!("no recorded checksum (SHA-256 {})", rep.cipher_sha256),
            ),
        });
    }
    if want.contains("encryption") {
        checks.push(match &rep.header {
            Some(Ok(stanzas)) => match crypt::match_recipients(stanzas, section) {
                Ok(d) => Check::pass("encryption", d),
                Err(d) => Check::fail("encryption", d),
            },
            Some(Err(e)) => Check::fail("encryption", e.clone()),
            None => Check::fail("encryption", "the age header was not read"),
        });
    }
    let needs_key = format!(
        "needs the key: encrypted with age; {}",
        crypt::IDENTITY_HINT
    );
    if rep.no_key {
        for c in ["decode", "complete"] {
            if want.contains(c) {
                checks.push(Check::skip(c, needs_key.clone()));
            }
        }
        return (Some(scanned), checks);
    }
    if let Some(e) = &rep.error {
        if want.contains("decode") {
            checks.push(Check::fail("decode", format!("age: {e}")));
        }
        if want.contains("complete") {
            checks.push(Check::fail(
                "complete",
                "cannot tell: the artifact does not decrypt",
            ));
        }
        scanned.0.decode_error = Some(format!("age: {e}"));
        return (Some(scanned), checks);
    }
    let recorded_plain = section
        .and_then(|s| s.get("plaintext_sha256"))
        .and_then(Value::as_str);
    if let Some(p) = recorded_plain
        && p != plain_sha
    {
        let msg = format!("the decrypted content's SHA-256 is {plain_sha}, the record says {p}");
        if want.contains("decode") {
            checks.push(Check::fail("decode", msg.clone()));
        }
        scanned.0.decode_error = Some(msg);
        if want.contains("complete") {
            checks.push(Check::fail(
                "complete",
                "cannot tell: the decrypted content is not the recorded one",
            ));
        }
        return (Some(scanned), checks);
    }
    let inner: BTreeSet<&'static str> = want
        .iter()
        .copied()
        .filter(|c| *c == "decode" || *c == "complete")
        .collect();
    for mut c in content_checks(record, path, gzip, &scanned.0, &inner) {
        if c.name == "decode" && c.ok != Some(false) {
            c.ok = Some(true);
            c.detail = format!(
                "age stream decrypts ({} bytes{}); {}",
                rep.plain_bytes,
                if recorded_plain.is_some() {
                    ", SHA-256 as recorded"
                } else {
                    ", no recorded plaintext SHA-256"
                },
                if gzip {
                    c.detail.clone()
                } else {
                    "not compressed".to_string()
                }
            );
        }
        checks.push(c);
    }
    (Some(scanned), checks)
}

/// The checks of one content scan: checksum, decode and complete.
fn content_checks(
    record: &Record,
    path: &Path,
    gzip: bool,
    s: &ContentScan,
    want: &BTreeSet<&'static str>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if want.contains("checksum") {
        checks.push(match record.sha256() {
            Some(h) if h == s.sha256 => Check::pass("checksum", "SHA-256 matches the record"),
            Some(h) => Check::fail(
                "checksum",
                format!("SHA-256 is {}, the record says {h}", s.sha256),
            ),
            None => Check::skip(
                "checksum",
                format!("no recorded checksum (SHA-256 {})", s.sha256),
            ),
        });
    }
    if want.contains("decode") {
        checks.push(if !gzip {
            Check::skip("decode", "not compressed")
        } else {
            match &s.decode_error {
                Some(e) => Check::fail("decode", format!("gzip: {e}")),
                None => Check::pass(
                    "decode",
                    format!("gzip stream decodes ({} bytes)", s.decoded_bytes),
                ),
            }
        });
    }
    if want.contains("complete") {
        checks.push(complete_check(record, path, s));
    }
    checks
}

fn describe_gzip_error(e: &io::Error, decoded: u64) -> String {
    // The member decoder's errors name the member's byte offset already.
    let s = e.to_string();
    if s.starts_with("gzip member at byte offset")
        || s.starts_with("the gzip stream ends at byte offset")
        || s.starts_with("data after the gzip stream")
    {
        return format!("{s}, after {decoded} decoded bytes");
    }
    let what = match e.kind() {
        io::ErrorKind::UnexpectedEof => "unexpected end of file: the file is truncated".to_string(),
        _ => {
            let s = e.to_string();
            if s.contains("crc") || s.contains("CRC") {
                "CRC mismatch: the data is corrupt".to_string()
            } else {
                format!("corrupt gzip stream ({s})")
            }
        }
    };
    format!("{what}, after {decoded} decoded bytes")
}

/// Verifies one artifact record.
pub fn verify(record: &Record, opts: &Options) -> Outcome {
    let mut checks = Vec::new();
    let want = |n: &str| opts.checks.contains(n);
    let Some(path) = record.path() else {
        checks.push(Check::fail("exists", "the record names no artifact path"));
        return Outcome { checks };
    };
    let format = record
        .format()
        .map(str::to_string)
        .or_else(|| {
            let f = path.file_name()?.to_string_lossy().into_owned();
            crate::naming::EXTENSIONS
                .iter()
                .find(|(e, _)| f.ends_with(&format!(".{e}")))
                .map(|(_, fmt)| fmt.to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());

    // exists: everything else needs it.
    let meta = match fs::metadata(&path) {
        Ok(m) if m.is_file() => match fs::File::open(&path) {
            Ok(_) => m,
            Err(e) => {
                checks.push(Check::fail(
                    "exists",
                    format!("cannot read: {}", crate::error::describe_io(&e)),
                ));
                return Outcome { checks };
            }
        },
        Ok(_) => {
            checks.push(Check::fail("exists", "not a regular file"));
            return Outcome { checks };
        }
        Err(e) => {
            checks.push(Check::fail("exists", crate::error::describe_io(&e)));
            return Outcome { checks };
        }
    };
    if want("exists") {
        checks.push(Check::pass("exists", "regular, readable file"));
    }
    let size = meta.len();
    if want("size") {
        checks.push(match record.bytes() {
            _ if size < opts.min_size => Check::fail(
                "size",
                format!(
                    "{size} bytes is under the minimum of {} bytes",
                    opts.min_size
                ),
            ),
            Some(b) if b != size => {
                Check::fail("size", format!("{size} bytes, the record says {b}"))
            }
            Some(_) => Check::pass("size", format!("{size} bytes, as recorded")),
            None => Check::pass("size", format!("{size} bytes (no recorded size)")),
        });
    }

    let need_scan = want("checksum") || want("decode") || want("complete") || want("restore");
    let gzip = load::is_gzip_format(&format);
    let mut scan = None;
    if crypt::is_encrypted_format(&format) && (need_scan || want("encryption")) {
        let inner_gzip = load::is_gzip_format(crypt::inner_format(&format));
        let (s, c) = encrypted_scan(record, &path, inner_gzip, None, &opts.checks);
        checks.extend(c);
        scan = s.map(|(s, _, _)| s);
    } else if need_scan {
        match scan_content(&path, gzip) {
            Ok(s) => scan = Some(s),
            Err(e) => checks.push(Check::fail(
                "checksum",
                format!("cannot read: {}", crate::error::describe_io(&e)),
            )),
        }
    }
    if let Some(s) = scan
        .as_ref()
        .filter(|_| !crypt::is_encrypted_format(&format))
    {
        checks.extend(content_checks(record, &path, gzip, s, &opts.checks));
    }
    if want("permissions") {
        let mode = meta.mode() & 0o777;
        let uid = crate::sys::euid();
        checks.push(if mode & 0o077 != 0 {
            Check::fail(
                "permissions",
                format!("mode {mode:04o} gives group/other access (want 0600)"),
            )
        } else if meta.uid() != uid {
            Check::fail(
                "permissions",
                format!(
                    "owned by uid {}, not the current user (uid {uid})",
                    meta.uid()
                ),
            )
        } else {
            Check::pass(
                "permissions",
                format!("mode {mode:04o}, owned by the current user"),
            )
        });
    }
    if want("restore") {
        let content_ok = checks.iter().all(|c| c.ok != Some(false));
        checks.push(if !content_ok {
            Check::fail(
                "restore",
                "not attempted: the artifact failed the checks above",
            )
        } else if crypt::is_encrypted_format(&format) && crypt::keys().is_none() {
            Check::fail(
                "restore",
                format!(
                    "needs the key: encrypted with age; {}",
                    crypt::IDENTITY_HINT
                ),
            )
        } else {
            let content = scan
                .as_ref()
                .and_then(|s| s.content)
                .unwrap_or(Content::Unknown);
            let stream = scan.as_ref().and_then(|s| s.stream_tables.clone());
            // A MySQL dump that would switch databases is never loaded,
            // whichever checks were selected.
            let unsafe_mysql = scan
                .as_ref()
                .filter(|_| content == Content::MysqlSql)
                .and_then(|s| s.complete.clone())
                .and_then(|c| c.err());
            match unsafe_mysql {
                Some(e) => Check::fail("restore", format!("not attempted: {e}")),
                None => match restore_test(record, &path, &format, content, stream, opts) {
                    Ok(detail) => Check::pass("restore", detail),
                    Err(e) => Check::fail("restore", e.line()),
                },
            }
        });
    }
    Outcome { checks }
}

fn complete_check(record: &Record, path: &Path, s: &ContentScan) -> Check {
    if s.decode_error.is_some() {
        return Check::fail("complete", "cannot tell: the stream does not decode");
    }
    let content = s.content.unwrap_or(Content::Unknown);
    match content {
        Content::PgCustom => return custom_toc(path),
        Content::Tar => {
            return match &s.archive {
                Some(report) => archive_check(record, report),
                None => tar_complete(record, path),
            };
        }
        _ => {}
    }
    match s.complete.clone().unwrap_or(Err("not scanned".into())) {
        Err(e) => Check::fail("complete", e),
        Ok(detail) => {
            // The rows in the stream must be the rows the record promises.
            if let (Some(found), Some(recorded)) = (&s.stream_tables, record.tables())
                && let Some(diff) = compare_counts(&recorded, found)
            {
                return Check::fail(
                    "complete",
                    format!("row counts in the dump differ from the record: {diff}"),
                );
            }
            Check::pass("complete", detail)
        }
    }
}

/// The `complete` check of an archive on its own read of the file (the
/// verifier normally gets the same report from its shared read).
pub fn tar_complete(record: &Record, path: &Path) -> Check {
    match load::open_decoded(path, archive::FORMAT) {
        Ok(r) => archive_check(record, &archive::check_stream(r)),
        Err(e) => Check::fail("complete", e.line()),
    }
}

/// Judges an archive's report: every problem names its member. An archive
/// without `manifest.json` passes only when its record was derived from a
/// file name (the original scripts' `*_full_backup_*.tar.gz`), and then only
/// for reading to its end, as `tar tzf` did.
fn archive_check(record: &Record, report: &ArchiveReport) -> Check {
    let mut problems = report.problems.clone();
    if let Some(e) = &report.stream_error {
        problems.push(e.clone());
    }
    if report.manifest.is_none() && problems.is_empty() {
        return if record.get("derived").is_some() {
            Check::pass(
                "complete",
                format!(
                    "tar stream reads to its end ({} members; no lfb manifest to check them against)",
                    report.entries
                ),
            )
        } else {
            Check::fail(
                "complete",
                format!("no {} as the first member", archive::MANIFEST),
            )
        };
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(3);
        problems.truncate(3);
        let mut detail = problems.join("; ");
        if more > 0 {
            detail.push_str(&format!(" (and {more} more)"));
        }
        return Check::fail("complete", detail);
    }
    let mut detail = format!(
        "{} members match the manifest (sizes and SHA-256)",
        report.entries
    );
    if !report.dumps.is_empty() {
        detail.push_str(&format!("; {}", report.dumps.join("; ")));
    }
    if !report.changed.is_empty() {
        detail.push_str(&format!(
            "; {} changed while archived: {}",
            report.changed.len(),
            report.changed.join(", ")
        ));
    }
    Check::pass("complete", detail)
}

/// The restore test of an archive: each embedded dump is extracted to a
/// private temporary folder and restore-tested exactly like a standalone
/// dump, with its record from the manifest.
fn archive_restore_test(path: &Path, opts: &Options) -> Result<String> {
    let scratch = crate::fsutil::ScratchDir::new("verify")?;
    let dir = scratch.path();
    (|| {
        let dumps = archive::extract_dumps(path, dir)?;
        if dumps.is_empty() {
            return Ok("no database dumps in the archive: nothing to restore".to_string());
        }
        let inner = Options {
            checks: ["restore"].into_iter().collect(),
            ..opts.clone()
        };
        let mut details = Vec::new();
        for record in dumps {
            let member = format!(
                "db/{}",
                record
                    .path()
                    .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                    .unwrap_or_default()
            );
            let outcome = verify(&record, &inner);
            let _ = fs::remove_file(record.path().unwrap_or_default());
            match outcome.checks.iter().find(|c| c.name == "restore") {
                Some(c) if c.ok == Some(true) => details.push(format!("{member}: {}", c.detail)),
                Some(c) => {
                    return Err(Error::failed(format!("member {member}: {}", c.detail)));
                }
                None => return Err(Error::failed(format!("member {member}: not restored"))),
            }
        }
        Ok(details.join("; "))
    })()
}

/// Reads a whole custom-format archive as a restore would, writing the SQL
/// to /dev/null: `pg_restore --list` reads only the table of contents, so a
/// truncated file or a damaged compressed data block passes it. Bounded in
/// memory (pg_restore streams) and in output (its stderr is drained).
fn custom_read_all(pg_restore: &Path, path: &Path) -> std::result::Result<(), String> {
    let out = std::process::Command::new(pg_restore)
        .arg("--file")
        .arg("/dev/null")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output();
    match out {
        Err(e) => Err(format!(
            "cannot run pg_restore: {}",
            crate::error::describe_io(&e)
        )),
        Ok(o) if !o.status.success() => Err(format!(
            "pg_restore cannot read the whole archive: {}",
            postgres::first_error_line(&String::from_utf8_lossy(&o.stderr))
        )),
        Ok(_) => Ok(()),
    }
}

/// A custom-format archive is complete when pg_restore reads a non-empty
/// table of contents and then every data block.
fn custom_toc(path: &Path) -> Check {
    let installed = postgres::installed_clients();
    let Some(newest) = postgres::newest_client(&installed) else {
        return Check::fail("complete", "cannot check: pg_restore is not installed");
    };
    let out = std::process::Command::new(newest.1.join("pg_restore"))
        .arg("--list")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Err(e) => Check::fail(
            "complete",
            format!("cannot run pg_restore: {}", crate::error::describe_io(&e)),
        ),
        Ok(o) if !o.status.success() => Check::fail(
            "complete",
            format!(
                "pg_restore --list: {}",
                postgres::first_error_line(&String::from_utf8_lossy(&o.stderr))
            ),
        ),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let entries = text
                .lines()
                .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
                .count();
            if entries == 0 {
                return Check::fail(
                    "complete",
                    "pg_restore --list: the table of contents is empty",
                );
            }
            // The table of contents is only the start: a truncated file or a
            // damaged data block shows only when every block is read.
            match custom_read_all(&newest.1.join("pg_restore"), path) {
                Ok(()) => Check::pass(
                    "complete",
                    format!("table of contents has {entries} entries; every data block reads"),
                ),
                Err(e) => Check::fail("complete", e),
            }
        }
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

/// The server a PostgreSQL artifact came from, as a connection: the record's
/// host, port and user, with a password from `$DATABASE_URL` when that URL
/// names the same server (else libpq's PGPASSWORD / .pgpass).
pub fn source_server(record: &Record) -> ServerConn {
    let src = record.get("source");
    let s = |k: &str| {
        src.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut conn = ServerConn {
        host: s("host"),
        port: src
            .and_then(|v| v.get("port"))
            .and_then(Value::as_u64)
            .map(|p| p as u16),
        user: s("user"),
        database: s("database"),
        ..Default::default()
    };
    if let Ok(url) = std::env::var("DATABASE_URL")
        && let Ok(Database::Postgres(env)) = Database::parse(&url)
        && (env.host == conn.host || conn.host.is_none())
    {
        if conn.host.is_none() {
            conn.host = env.host.clone();
            conn.port = env.port;
        }
        if conn.user.is_none() || conn.user == env.user {
            conn.user = env.user.clone();
            conn.password = env.password.clone();
        }
        conn.params = env.params.clone();
    }
    conn
}

static SCRATCH_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn restore_test(
    record: &Record,
    path: &Path,
    format: &str,
    content: Content,
    stream_tables: Option<TableCounts>,
    opts: &Options,
) -> Result<String> {
    let want = record.tables().or(stream_tables);
    match content {
        Content::SqliteSql | Content::SqliteNative => {
            let scratch = crate::fsutil::ScratchDir::new("verify")?;
            let db = scratch.path().join("scratch.sqlite3");
            (|| {
                let mut r = load::open_decoded(path, format)?;
                if content == Content::SqliteSql {
                    load::sqlite_load(&db, &mut r)?;
                } else {
                    let mut f = crate::fsutil::create_private_file(&db)?;
                    io::copy(&mut r, &mut f)
                        .map_err(|e| Error::io("cannot write scratch database", e))?;
                }
                let conn = rusqlite::Connection::open(&db).map_err(|e| {
                    Error::failed(format!("cannot open the restored database: {e}"))
                })?;
                let ic: String = conn
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .map_err(|e| Error::failed(format!("integrity_check: {e}")))?;
                if ic != "ok" {
                    return Err(Error::failed(format!("PRAGMA integrity_check: {ic}")));
                }
                drop(conn);
                let found = sqlite::table_counts(&db)?;
                finish_compare(want.as_ref(), &found, "scratch SQLite database")
            })()
        }
        Content::PgPlain | Content::PgCustom
            if record
                .get("source")
                .and_then(|s| s.get("globals"))
                .and_then(Value::as_bool)
                == Some(true) =>
        {
            // Roles and tablespaces are the server's, not a database's: a
            // scratch database cannot hold them.
            Ok(
                "an lfb-dump --globals artifact (roles, tablespaces): complete, \
                not loaded (roles are server-wide; see lfb-restore --globals)"
                    .to_string(),
            )
        }
        Content::PgPlain | Content::PgCustom => {
            let (server, scratch_db) = match &opts.scratch {
                Some(url) => match Database::parse(url)? {
                    Database::Postgres(c) => {
                        let db = c.database.clone().ok_or_else(|| {
                            Error::usage("--scratch URL must name the scratch database")
                        })?;
                        (c, db)
                    }
                    _ => return Err(Error::usage("--scratch must be a postgresql:// URL")),
                },
                None => {
                    let c = source_server(record);
                    let n = SCRATCH_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let db = format!(
                        "lfb_scratch_{}_{}_{n}",
                        std::process::id(),
                        Utc::now().timestamp()
                    );
                    (c, db)
                }
            };
            let src = source_server(record);
            if let Some(src_db) = &src.database {
                let same_server = server.host == src.host
                    && server.port.unwrap_or(5432) == src.port.unwrap_or(5432);
                if same_server && &scratch_db == src_db {
                    return Err(Error::usage(format!(
                        "refusing to restore-test into '{scratch_db}': it is the source database itself"
                    )));
                }
            }
            let mut maint = server.clone();
            maint.database = Some("postgres".into());
            // Through the record's `--exec` prefix (lfb-verify --exec, or
            // lfb-dump --exec upstream in the pipeline).
            let pg = Postgres::connect(&maint, record.exec())?;
            let exists = pg.psql_query(&format!(
                "SELECT 1 FROM pg_database WHERE datname = '{}'",
                scratch_db.replace('\'', "''")
            ))?;
            if !exists.trim().is_empty() {
                return Err(Error::usage(format!(
                    "scratch database '{scratch_db}' already exists; lfb creates and drops its scratch database itself"
                )));
            }
            let ident = format!("\"{}\"", scratch_db.replace('"', "\"\""));
            let drop_sql = if pg.server.version_num >= 130000 {
                format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
            } else {
                format!("DROP DATABASE IF EXISTS {ident}")
            };
            // Armed before the database exists: no scratch database outlives
            // this process, however it ends. SIGINT/SIGTERM/SIGHUP drop it
            // through `cleanup`; SIGKILL and the like through the watcher.
            let watch = {
                let mut cmd = pg.command("psql");
                cmd.args(["-X", "-q", "-d", "postgres", "-c", &drop_sql]);
                crate::watchdog::DeathWatch::spawn(&cmd)?
            };
            pg.psql_query(&format!("CREATE DATABASE {ident}"))?;
            let dropper = {
                let pg = pg.clone();
                let drop_sql = drop_sql.clone();
                cleanup::on_interrupt(move || {
                    let _ = pg.psql_query(&drop_sql);
                })
            };
            let res = (|| {
                if content == Content::PgPlain {
                    let mut r = load::open_decoded(path, format)?;
                    load::psql_load(&pg, &scratch_db, "", &mut r)?;
                } else {
                    load::pg_custom_load(&pg, &scratch_db, "", path, None)?;
                }
                let found = pg.count_tables(Some(&scratch_db))?;
                finish_compare(
                    want.as_ref(),
                    &found,
                    &format!("scratch database {scratch_db}"),
                )
            })();
            dropper.run_now();
            drop(watch);
            res
        }
        Content::MysqlSql => {
            let mut r = load::open_decoded(path, format)?;
            let (found, into) =
                crate::engine::mysql::restore_test(record, &mut r, opts.scratch.as_deref())?;
            finish_compare(want.as_ref(), &found, &into)
        }
        Content::Tar => archive_restore_test(path, opts),
        Content::Unknown => Err(Error::failed("not a dump lfb can restore")),
    }
}

fn finish_compare(want: Option<&TableCounts>, found: &TableCounts, into: &str) -> Result<String> {
    match want {
        None => Ok(format!(
            "restored into a {into}; {} tables (no recorded counts to compare)",
            found.len()
        )),
        Some(w) => match compare_counts(w, found) {
            Some(d) => Err(Error::failed(format!(
                "row counts differ after restore: {d}"
            ))),
            None => Ok(format!(
                "restored into a {into}: {} tables, {} rows, as recorded",
                w.len(),
                w.values().sum::<u64>()
            )),
        },
    }
}
