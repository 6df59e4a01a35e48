//! Reads a `mariadb-dump`/`mysqldump` SQL dump as it streams past: exact row
//! counts per table (the row tuples of every `INSERT INTO ... VALUES`
//! statement) and whether the dump is complete (the `-- Dump completed`
//! trailer, last). Memory stays bounded: rows are counted by a byte state
//! machine that understands quoted strings and their backslash escapes (so a
//! string holding `),(` or `;` is not a row boundary), and only the start of
//! other lines is kept.

use std::collections::BTreeMap;

/// How the line the trailer is on starts (`-- Dump completed on DATE`, or
/// `-- Dump completed` with `--skip-dump-date`).
pub const TRAILER: &str = "-- Dump completed";

/// Longest line prefix kept for lines that are not INSERT data.
const MAX_HEAD: usize = 64 * 1024;

/// Bytes of a line looked at for an INSERT's table name.
const LOOKAHEAD: usize = 4096;

/// True when the first bytes of a dump are a MariaDB/MySQL dump's header.
pub fn looks_like(head: &str) -> bool {
    head.lines()
        .take(5)
        .any(|l| l.starts_with("-- MariaDB dump ") || l.starts_with("-- MySQL dump "))
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Collecting a line into `head`.
    #[default]
    Line,
    /// After `INSERT INTO name`, before the `VALUES` keyword (a column list
    /// may come first).
    PreValues,
    /// Inside the VALUES list of an INSERT.
    Values,
}

/// Incremental scanner over a MySQL/MariaDB SQL dump.
#[derive(Debug, Default)]
pub struct MysqlScanner {
    mode: Mode,
    head: Vec<u8>,
    head_truncated: bool,
    /// Table of the current INSERT, and rows counted in it so far.
    table: String,
    /// Inside a quoted string (the quote byte), after a backslash.
    quote: Option<u8>,
    escaped: bool,
    depth: u32,
    /// Last bytes seen in PreValues, to find `VALUES`.
    recent: [u8; 6],
    tables: BTreeMap<String, u64>,
    complete: bool,
    /// An INSERT statement was not well formed (counts cannot be trusted).
    malformed: bool,
    /// The first statement that selects or creates another database.
    switches_db: Option<String>,
}

impl MysqlScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the dump.
    pub fn feed(&mut self, buf: &[u8]) {
        const INSERT: &[u8] = b"INSERT INTO `";
        let mut i = 0;
        while i < buf.len() {
            match self.mode {
                Mode::Line => {
                    let nl = memchr::memchr(b'\n', &buf[i..]).map(|n| i + n);
                    let seg_end = nl.unwrap_or(buf.len());
                    let maybe_insert = self.head.len() < LOOKAHEAD
                        && (INSERT.starts_with(&self.head[..self.head.len().min(INSERT.len())])
                            || self.head.starts_with(INSERT));
                    if maybe_insert {
                        // An INSERT's data must never land in `head`: look
                        // at its start in small steps and switch to counting
                        // as soon as its table name is known.
                        let take = (seg_end - i).min(LOOKAHEAD - self.head.len());
                        self.push_head(&buf[i..i + take]);
                        i += take;
                        if self.maybe_start_insert() || i < seg_end {
                            continue;
                        }
                    } else {
                        self.push_head(&buf[i..seg_end]);
                        i = seg_end;
                    }
                    if nl.is_some() {
                        i += 1;
                        self.end_line();
                    }
                }
                Mode::PreValues => {
                    let b = buf[i];
                    i += 1;
                    self.pre_values(b);
                }
                Mode::Values => {
                    i += self.values(&buf[i..]);
                }
            }
        }
    }

    fn push_head(&mut self, bytes: &[u8]) {
        let room = MAX_HEAD.saturating_sub(self.head.len());
        if bytes.len() > room {
            self.head_truncated = true;
        }
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// If the unfinished line is the start of an INSERT whose table name is
    /// complete, leaves line mode for it and goes on with the rest of the
    /// line so far. True when it did.
    fn maybe_start_insert(&mut self) -> bool {
        if !self.head.starts_with(b"INSERT INTO `") {
            return false;
        }
        let Some((name, used)) = backtick_name(&self.head[12..]) else {
            return false;
        };
        let rest = self.head[12 + used..].to_vec();
        self.head.clear();
        self.head_truncated = false;
        self.start_insert(name);
        self.feed_rest(&rest);
        true
    }

    fn start_insert(&mut self, name: String) {
        self.tables.entry(name.clone()).or_insert(0);
        self.table = name;
        self.mode = Mode::PreValues;
        self.recent = [0; 6];
        self.quote = None;
        self.escaped = false;
        self.depth = 0;
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.head);
        let truncated = std::mem::replace(&mut self.head_truncated, false);
        if line.starts_with(b"INSERT INTO `") {
            // Its table name never ended: not a dump tool's INSERT.
            self.malformed = true;
        }
        if !line.is_empty() {
            if line.starts_with(b"--") {
                if line.starts_with(TRAILER.as_bytes()) {
                    self.complete = true;
                } else if let Some(rest) = line.strip_prefix(b"-- Dumping data for table `")
                    && let Some((name, _)) = backtick_name_after_open(&[rest, b"\n"].concat())
                {
                    self.tables.entry(name).or_insert(0);
                }
            } else {
                // Anything after the trailer means the trailer was not last.
                self.complete = false;
                if self.switches_db.is_none() && switches_database(&line) {
                    let text = String::from_utf8_lossy(&line[..line.len().min(80)]);
                    self.switches_db = Some(text.trim().to_string());
                }
                if let Some(rest) = line.strip_prefix(b"LOCK TABLES `")
                    && !truncated
                    && let Some((name, _)) = backtick_name_after_open(rest)
                {
                    self.tables.entry(name).or_insert(0);
                }
            }
        }
        self.head = line;
        self.head.clear();
    }

    /// Feeds bytes that follow an INSERT's table name on the same line.
    fn feed_rest(&mut self, rest: &[u8]) {
        let mut i = 0;
        while i < rest.len() {
            match self.mode {
                Mode::PreValues => {
                    self.pre_values(rest[i]);
                    i += 1;
                }
                Mode::Values => i += self.values(&rest[i..]),
                Mode::Line => {
                    // The statement ended; the rest of the line is line
                    // text again.
                    self.push_head(&rest[i..]);
                    return;
                }
            }
        }
    }

    fn pre_values(&mut self, b: u8) {
        match self.quote {
            Some(q) => {
                if b == q {
                    self.quote = None;
                }
                return;
            }
            None if b == b'`' => {
                self.quote = Some(b);
                return;
            }
            None => {}
        }
        self.recent.rotate_left(1);
        self.recent[5] = b.to_ascii_uppercase();
        if &self.recent == b"VALUES" {
            self.mode = Mode::Values;
        } else if b == b';' {
            // INSERT ... SELECT or something else without VALUES.
            self.malformed = true;
            self.mode = Mode::Line;
        }
    }

    /// Counts rows in VALUES data; returns how many bytes were used (all,
    /// unless the statement ended).
    fn values(&mut self, buf: &[u8]) -> usize {
        let mut rows = 0u64;
        let mut i = 0;
        let n = buf.len();
        while i < n {
            let b = buf[i];
            i += 1;
            if let Some(q) = self.quote {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == q {
                    // `''` inside a string closes and reopens it: the same.
                    self.quote = None;
                } else {
                    // Skip ahead to the next quote or backslash.
                    if let Some(k) = memchr::memchr2(q, b'\\', &buf[i..]) {
                        i += k;
                    } else {
                        i = n;
                    }
                }
                continue;
            }
            match b {
                b'\'' | b'"' => self.quote = Some(b),
                b'(' => {
                    if self.depth == 0 {
                        rows += 1;
                    }
                    self.depth += 1;
                }
                b')' => {
                    if self.depth == 0 {
                        self.malformed = true;
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                b';' if self.depth == 0 => {
                    self.mode = Mode::Line;
                    break;
                }
                _ => {}
            }
        }
        if let Some(c) = self.tables.get_mut(&self.table) {
            *c += rows;
        }
        i
    }

    /// The first statement that selects or creates a database (`USE`,
    /// `CREATE DATABASE`: a dump made with `--databases` or
    /// `--all-databases`). Loading such a dump would write into that
    /// database rather than the one it is loaded into.
    pub fn switches_database(&self) -> Option<&str> {
        self.switches_db.as_deref()
    }

    /// Row counts of every table seen, and whether the dump ended with the
    /// completion trailer (not inside a statement, all statements well
    /// formed).
    pub fn finish(mut self) -> (BTreeMap<String, u64>, bool) {
        if self.mode != Mode::Line {
            return (self.tables, false);
        }
        if !self.head.is_empty() {
            // The dump tools end every line with a newline.
            self.end_line();
            self.complete = false;
        }
        let complete = self.complete && !self.malformed;
        (self.tables, complete)
    }
}

/// True for a line that selects or creates a database: `USE db`, the
/// client's `\u` and `connect` commands, `CREATE DATABASE`/`SCHEMA` (also
/// inside a `/*!NNNNN ... */` comment).
fn switches_database(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&line[..line.len().min(200)]).to_ascii_lowercase();
    let mut t = text.trim_start();
    if let Some(rest) = t.strip_prefix("/*!") {
        t = rest
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
    }
    let word = |w: &str| {
        t.strip_prefix(w)
            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '`', ';', '\t']))
    };
    word("use")
        || word("connect")
        || t.starts_with("\\u")
        || t.starts_with("\\r")
        || t.starts_with("create database")
        || t.starts_with("create schema")
}

/// Parses a backtick-quoted name at the start of `b` (`` `a``b` `` is
/// "a`b"): the name and the bytes used.
fn backtick_name(b: &[u8]) -> Option<(String, usize)> {
    let rest = b.strip_prefix(b"`")?;
    backtick_name_after_open(rest).map(|(n, used)| (n, used + 1))
}

/// Like [`backtick_name`] after the opening backtick. The closing backtick
/// must be followed by something (a line's text always is).
fn backtick_name_after_open(b: &[u8]) -> Option<(String, usize)> {
    let mut name = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'`' {
            // A backtick last in the input may be the first of a doubled
            // one: not known yet.
            let next = b.get(i + 1)?;
            if *next == b'`' {
                name.push(b'`');
                i += 2;
                continue;
            }
            return String::from_utf8(name).ok().map(|n| (n, i + 1));
        }
        name.push(b[i]);
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "/*M!999999\\- enable the sandbox mode */ \n\
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n\
--\n\
/*!40101 SET NAMES utf8mb4 */;\n\
\n\
--\n\
-- Dumping data for table `c`\n\
--\n\
\n\
LOCK TABLES `c` WRITE;\n\
/*!40000 ALTER TABLE `c` DISABLE KEYS */;\n\
INSERT INTO `c` VALUES\n\
(1,1,0x00FF0A),\n\
(2,2,NULL);\n\
INSERT INTO `c` VALUES (3,'a\\'),(b;',NULL),(4,'x\\\\',\"q\\\"),(\"),(5,'it''s (',0x28);\n\
/*!40000 ALTER TABLE `c` ENABLE KEYS */;\n\
UNLOCK TABLES;\n\
LOCK TABLES `e` WRITE;\n\
UNLOCK TABLES;\n\
-- Dumping data for table `only_comment`\n\
-- Dumping data for table `we``ird ✓`\n\
LOCK TABLES `we``ird ✓` WRITE;\n\
INSERT INTO `we``ird ✓` (`a`, `(b`) VALUES (1,2),(3,4);\n\
UNLOCK TABLES;\n\
\n\
-- Dump completed on 2026-11-30 23:43:19\n";

    fn scan(data: &[u8], chunk: usize) -> (BTreeMap<String, u64>, bool) {
        let mut s = MysqlScanner::new();
        for c in data.chunks(chunk) {
            s.feed(c);
        }
        s.finish()
    }

    #[test]
    fn counts_rows_and_sees_the_trailer_at_any_chunking() {
        assert!(looks_like(DUMP));
        for chunk in [1, 2, 3, 5, 7, 13, 64, 4096] {
            let (t, complete) = scan(DUMP.as_bytes(), chunk);
            assert!(complete, "chunk {chunk}");
            assert_eq!(t["c"], 5, "chunk {chunk}");
            assert_eq!(t["e"], 0, "chunk {chunk}");
            assert_eq!(t["we`ird ✓"], 2, "chunk {chunk}");
            assert_eq!(t["only_comment"], 0, "chunk {chunk}");
            assert_eq!(t.len(), 4);
        }
    }

    #[test]
    fn dumps_that_switch_databases_are_noticed() {
        assert!(scan_whole(DUMP).is_none());
        for bad in [
            "USE `other`;\n",
            "use other\n",
            "/*!40000 CREATE DATABASE IF NOT EXISTS `x` */;\n",
            "CREATE SCHEMA y;\n",
            "\\u other\n",
        ] {
            let d = DUMP.replace(
                "LOCK TABLES `e` WRITE;\n",
                &format!("{bad}LOCK TABLES `e` WRITE;\n"),
            );
            assert!(scan_whole(&d).is_some(), "{bad:?}");
        }
        // Data that merely looks like it is fine.
        let d = DUMP.replace("(2,2,NULL);", "(2,2,'\nUSE x;\n');");
        assert!(scan_whole(&d).is_none());
    }

    fn scan_whole(d: &str) -> Option<String> {
        let mut s = MysqlScanner::new();
        s.feed(d.as_bytes());
        s.switches_database().map(str::to_string)
    }

    #[test]
    fn truncated_dumps_are_incomplete() {
        for cut in [DUMP.len() - 5, DUMP.find("(2,2").unwrap(), 100] {
            assert!(!scan(&DUMP.as_bytes()[..cut], 7).1, "cut at {cut}");
        }
        let more = format!("{DUMP}DROP TABLE x;\n");
        assert!(!scan(more.as_bytes(), 9).1);
        assert!(!scan(b"SELECT 1;\n", 3).1);
    }
}
