//! Reads a PostgreSQL plain-format dump as it streams past: exact row counts
//! per table (the lines of each `COPY ... FROM stdin;` block) and whether the
//! dump is complete (pg_dump's closing trailer). Memory stays bounded: only
//! the start of the current line is kept.

use std::collections::BTreeMap;

/// The line pg_dump writes last in a complete plain dump.
pub const TRAILER: &str = "-- PostgreSQL database dump complete";

/// The line pg_dumpall writes last (`lfb-dump --globals` artifacts).
pub const CLUSTER_TRAILER: &str = "-- PostgreSQL database cluster dump complete";

/// Longest line prefix kept (COPY headers with many columns fit).
const MAX_HEAD: usize = 1 << 20;

/// Incremental scanner over a plain dump.
#[derive(Debug, Default)]
pub struct PlainScanner {
    /// Start of the current (unfinished) line.
    head: Vec<u8>,
    head_truncated: bool,
    /// Table whose COPY data is being read, and its rows so far.
    copying: Option<(String, u64)>,
    tables: BTreeMap<String, u64>,
    complete: bool,
}

impl PlainScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the dump.
    pub fn feed(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    if self.copying.is_some() && self.head.is_empty() {
                        // Fast path inside COPY data: count whole lines in
                        // place, stopping at the `\.` terminator line.
                        let rest = self.count_copy_lines(buf);
                        buf = rest;
                        continue;
                    }
                    self.push_head(&buf[..i]);
                    self.end_line();
                    buf = &buf[i + 1..];
                }
                None => {
                    self.push_head(buf);
                    break;
                }
            }
        }
    }

    /// Counts COPY data lines at the start of `buf` (which begins a line);
    /// returns what follows the last whole line handled.
    fn count_copy_lines<'a>(&mut self, buf: &'a [u8]) -> &'a [u8] {
        let mut start = 0;
        let mut rows = 0u64;
        let mut rest = buf;
        for nl in memchr::memchr_iter(b'\n', buf) {
            let line = &buf[start..nl];
            if line == b"\\." {
                if let Some((name, n)) = self.copying.take() {
                    self.tables.insert(name, n + rows);
                }
                return &buf[nl + 1..];
            }
            rows += 1;
            start = nl + 1;
            rest = &buf[start..];
        }
        if let Some((_, n)) = self.copying.as_mut() {
            *n += rows;
        }
        rest
    }

    fn push_head(&mut self, bytes: &[u8]) {
        let room = MAX_HEAD.saturating_sub(self.head.len());
        if bytes.len() > room {
            self.head_truncated = true;
        }
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.head);
        let truncated = std::mem::replace(&mut self.head_truncated, false);
        if let Some((name, n)) = self.copying.as_mut() {
            if line == b"\\." && !truncated {
                let name = std::mem::take(name);
                let n = *n;
                self.copying = None;
                self.tables.insert(name, n);
            } else {
                *n += 1;
            }
            return;
        }
        if !line.is_empty() {
            // Anything after the trailer means the trailer was not last.
            if line.starts_with(b"--") {
                if line == TRAILER.as_bytes() || line == CLUSTER_TRAILER.as_bytes() {
                    self.complete = true;
                }
            } else if !line.starts_with(b"\\unrestrict ") {
                // pg_dump 15.14+ closes with `\unrestrict KEY` after the trailer.
                self.complete = false;
            }
        }
        if line.starts_with(b"COPY ")
            && line.ends_with(b" FROM stdin;")
            && !truncated
            && let Some(name) = copy_table(&line)
        {
            crate::progress::LOAD_TABLES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.copying = Some((name, 0));
        }
        self.head = line;
        self.head.clear();
    }

    /// Row counts of every table seen, and whether the dump ended with the
    /// completion trailer (and not inside a COPY block).
    pub fn finish(mut self) -> (BTreeMap<String, u64>, bool) {
        if !self.head.is_empty() {
            // A final line without newline: pg_dump always ends lines.
            self.end_line();
            self.complete = false;
        }
        let complete = self.complete && self.copying.is_none();
        (self.tables, complete)
    }
}

/// The table name of `COPY name (cols) FROM stdin;`, as pg_dump wrote it
/// (schema-qualified, quoted where needed).
fn copy_table(line: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(line).ok()?;
    let body = s.strip_prefix("COPY ")?.strip_suffix(" FROM stdin;")?;
    // The name ends at the first space outside double quotes.
    let mut in_quotes = false;
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ' ' if !in_quotes => return Some(body[..i].to_string()),
            _ => {}
        }
    }
    Some(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\nCOPY public.accounts (id, name) FROM stdin;\n1\ta\n2\tb\n\\.\n\nCOPY \"My Schema\".\"T x\" (id) FROM stdin;\n\\.\n\nCOPY public.t2 (a) FROM stdin;\n\\\\.\n7\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

    fn scan_in_chunks(data: &[u8], chunk: usize) -> (BTreeMap<String, u64>, bool) {
        let mut s = PlainScanner::new();
        for c in data.chunks(chunk) {
            s.feed(c);
        }
        s.finish()
    }

    #[test]
    fn counts_rows_and_sees_trailer_at_any_chunking() {
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let (t, complete) = scan_in_chunks(DUMP.as_bytes(), chunk);
            assert!(complete, "chunk {chunk}");
            assert_eq!(t["public.accounts"], 2);
            assert_eq!(t["\"My Schema\".\"T x\""], 0);
            assert_eq!(t["public.t2"], 2, "an escaped \\\\. line is data");
        }
    }

    #[test]
    fn unrestrict_after_the_trailer_is_complete() {
        let d = format!("\\restrict abc\n{DUMP}\\unrestrict abc\n\n");
        assert!(scan_in_chunks(d.as_bytes(), 4).1);
    }

    #[test]
    fn pg_dumpall_output_is_complete_with_its_own_trailer() {
        let d = "--\n-- PostgreSQL database cluster dump\n--\n\nCREATE ROLE app;\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n";
        assert!(scan_in_chunks(d.as_bytes(), 3).1);
        assert!(!scan_in_chunks(&d.as_bytes()[..40], 3).1);
    }

    #[test]
    fn truncated_dumps_are_incomplete() {
        let cut = DUMP.find("COPY public.t2").unwrap() + 30;
        let (_, complete) = scan_in_chunks(&DUMP.as_bytes()[..cut], 5);
        assert!(!complete);
        let (_, complete) = scan_in_chunks(b"SELECT 1;\n", 5);
        assert!(!complete);
        let more = format!("{DUMP}SELECT 1;\n");
        assert!(!scan_in_chunks(more.as_bytes(), 9).1);
    }
}
