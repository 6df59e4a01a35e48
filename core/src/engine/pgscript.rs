//! The SQL lfb wraps around a PostgreSQL dump when it loads one, and the
//! filter the dump passes through on its way to psql.
//!
//! The protocol (see [`crate::load::psql_transaction`]): psql runs without
//! `--single-transaction`, so it never commits on its own. lfb opens the
//! transaction ([`prologue`]), arms a *commit guard* (a deferred constraint
//! trigger on a temporary table that makes any COMMIT fail unless the
//! transaction-local setting `lfb.restore` says `commit`), sends the dump,
//! and only once every check passed sends the [`epilogue`]: the row-count
//! comparison, which alone sets `lfb.restore`, then `COMMIT`. Whatever cuts
//! the input short (lfb killed, a truncated stream, a stray `COMMIT` in the
//! dump) ends the session without a successful commit, and PostgreSQL rolls
//! the transaction back when psql disconnects.
//!
//! pg_dump's plain output wraps large-object data in its own `BEGIN;` ...
//! `COMMIT;`, which inside lfb's transaction would try to commit early (and
//! be refused by the guard): [`ScriptFilter`] removes exactly those two lines.

use std::io::{self, Write};

use crate::engine::postgres::{COUNT_TABLES_SQL, TableCounts};

/// Opens the transaction and arms the commit guard. `AUTOCOMMIT off` makes
/// psql open a transaction of its own before any statement run outside
/// one: should a dump end lfb's transaction (a stray `ROLLBACK`), what
/// follows still never commits by itself.
pub fn prologue() -> &'static str {
    "\\set AUTOCOMMIT off\n\
     BEGIN;\n\
     CREATE TEMPORARY TABLE lfb_commit_guard (x bigint);\n\
     CREATE FUNCTION pg_temp.lfb_commit_guard() RETURNS trigger LANGUAGE plpgsql AS $lfb$\n\
     BEGIN\n\
       IF pg_catalog.current_setting('lfb.restore', true) IS DISTINCT FROM 'commit' THEN\n\
         RAISE EXCEPTION 'lfb: COMMIT refused: the load did not reach its end and checks';\n\
       END IF;\n\
       RETURN NULL;\n\
     END $lfb$;\n\
     CREATE CONSTRAINT TRIGGER lfb_commit_guard AFTER INSERT ON pg_temp.lfb_commit_guard\n\
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE PROCEDURE pg_temp.lfb_commit_guard();\n\
     INSERT INTO pg_temp.lfb_commit_guard VALUES (pg_catalog.txid_current());\n"
}

/// The marker of a row-count failure in psql's error output.
pub const COUNTS_DIFFER: &str = "lfb: row counts differ from the record: ";

/// Checks that the dump did not end lfb's transaction (a `ROLLBACK` in it
/// would have removed the guard table and row), counts the rows stored in
/// each table itself (`FROM ONLY`, every table of the database, once) and
/// compares them with `expect` inside the transaction, then allows and
/// sends the COMMIT, and after it prints `marker` followed by the counts
/// (`name|rows`, [`crate::engine::postgres::parse_counts`]), which psql
/// only runs when the COMMIT succeeded: lfb counts a load as committed
/// only when it reads the marker back, and takes the counts from there
/// instead of counting again in another session.
pub fn epilogue(expect: Option<&TableCounts>, marker: &str) -> String {
    let mut values = String::new();
    for (name, n) in expect.into_iter().flatten() {
        if !values.is_empty() {
            values.push_str(",\n  ");
        }
        values.push_str(&format!("({}, {n}::bigint)", literal(name)));
    }
    let check = if values.is_empty() {
        String::new()
    } else {
        format!(
            "  FOR r IN SELECT v.name, v.want, c.n FROM (VALUES\n  {values}) AS v(name, want)\n\
             \x20   LEFT JOIN pg_temp.lfb_counts c ON c.name = v.name ORDER BY v.name LOOP\n\
             \x20   IF r.n IS NULL THEN\n\
             \x20     bad := bad || pg_catalog.format('%s is missing, ', r.name);\n\
             \x20   ELSIF r.n <> r.want THEN\n\
             \x20     bad := bad || pg_catalog.format('%s has %s rows, expected %s, ', r.name, r.n, r.want);\n\
             \x20   END IF;\n\
             \x20 END LOOP;\n\
             \x20 IF bad <> '' THEN\n\
             \x20   RAISE EXCEPTION '{COUNTS_DIFFER}%', pg_catalog.rtrim(bad, ', ');\n\
             \x20 END IF;\n"
        )
    };
    format!(
        "\nCREATE TEMPORARY TABLE lfb_counts AS\n\
         \x20 SELECT q.name, q.n::bigint AS n FROM ({COUNT_TABLES_SQL}) AS q(name, n);\n\
         DO $lfb$ DECLARE r record; bad text := ''; BEGIN\n\
         \x20 IF pg_catalog.to_regclass('pg_temp.lfb_commit_guard') IS NULL OR NOT EXISTS\n\
         \x20    (SELECT 1 FROM pg_temp.lfb_commit_guard WHERE x = pg_catalog.txid_current()) THEN\n\
         \x20   RAISE EXCEPTION 'lfb: the dump ended the restore''s transaction itself';\n\
         \x20 END IF;\n\
         {check}\
         \x20 PERFORM pg_catalog.set_config('lfb.restore', 'commit', true);\n\
         END $lfb$;\n\
         COMMIT;\n\
         \\pset format unaligned\n\
         \\pset tuples_only on\n\
         \\pset fieldsep '|'\n\
         SELECT {};\n\
         SELECT name, n FROM pg_temp.lfb_counts ORDER BY name;\n",
        literal(marker)
    )
}

/// An SQL string literal that means the same whatever
/// `standard_conforming_strings` says.
fn literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Longest line kept whole for inspection; longer lines pass through.
const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blobs {
    /// Not in a large-object data section.
    No,
    /// After the `-- Data for Name: ...; Type: BLOBS` header comment.
    Header,
    /// After the section's `BEGIN;`, until its `COMMIT;`.
    Inside,
}

/// Passes a pg_dump script through, without the `BEGIN;`/`COMMIT;` lines
/// that wrap large-object data. Memory is bounded: at most one line
/// ([`MAX_LINE`]) is held.
pub struct ScriptFilter<W: Write> {
    inner: io::BufWriter<W>,
    line: Vec<u8>,
    /// The current line outgrew [`MAX_LINE`] and is being passed through.
    spilled: bool,
    copying: bool,
    blobs: Blobs,
}

impl<W: Write> ScriptFilter<W> {
    pub fn new(inner: W) -> Self {
        ScriptFilter {
            inner: io::BufWriter::with_capacity(256 * 1024, inner),
            line: Vec::new(),
            spilled: false,
            copying: false,
            blobs: Blobs::No,
        }
    }

    /// Writes any unfinished last line and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.line.is_empty() {
            self.inner.write_all(&self.line)?;
            self.line.clear();
        }
        self.inner.into_inner().map_err(|e| e.into_error())
    }

    fn end_line(&mut self) -> io::Result<()> {
        let spilled = std::mem::replace(&mut self.spilled, false);
        if spilled {
            // A long line is data or a long statement: nothing to decide.
            return Ok(());
        }
        let full = std::mem::take(&mut self.line);
        let text = full.strip_suffix(b"\n").unwrap_or(&full);
        let keep = self.classify(text);
        if keep {
            self.inner.write_all(&full)?;
        }
        self.line = full;
        self.line.clear();
        Ok(())
    }

    /// Updates the state for one whole line; false drops it.
    fn classify(&mut self, line: &[u8]) -> bool {
        if self.copying {
            if line == b"\\." {
                self.copying = false;
            }
            return true;
        }
        if line.starts_with(b"COPY ") && line.ends_with(b" FROM stdin;") {
            self.copying = true;
            self.blobs = Blobs::No;
            return true;
        }
        if line.starts_with(b"--") {
            if line.starts_with(b"-- Data for Name: ")
                && (contains(line, b"; Type: BLOBS;") || contains(line, b"; Type: LARGE OBJECTS;"))
            {
                self.blobs = Blobs::Header;
            }
            return true;
        }
        if line.is_empty() {
            return true;
        }
        match (self.blobs, line) {
            (Blobs::Header, b"BEGIN;") => {
                self.blobs = Blobs::Inside;
                false
            }
            (Blobs::Header, _) => {
                self.blobs = Blobs::No;
                true
            }
            (Blobs::Inside, b"COMMIT;") => {
                self.blobs = Blobs::No;
                false
            }
            _ => true,
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl<W: Write> Write for ScriptFilter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let (part, ends) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            if self.spilled {
                self.inner.write_all(part)?;
            } else if self.line.len() + part.len() > MAX_LINE {
                self.inner.write_all(&self.line)?;
                self.inner.write_all(part)?;
                self.line.clear();
                self.spilled = true;
            } else {
                self.line.extend_from_slice(part);
            }
            if ends {
                self.end_line()?;
            }
            rest = &rest[part.len()..];
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(input: &str, chunk: usize) -> String {
        let mut f = ScriptFilter::new(Vec::new());
        for c in input.as_bytes().chunks(chunk) {
            f.write_all(c).unwrap();
        }
        String::from_utf8(f.finish().unwrap()).unwrap()
    }

    const LO: &str = "SET x = 1;\n\n--\n-- Data for Name: BLOBS; Type: BLOBS; Schema: -; Owner: -\n--\n\nBEGIN;\n\nSELECT pg_catalog.lo_open('16385', 131072);\nSELECT pg_catalog.lo_close(0);\n\nCOMMIT;\n\nCOPY public.t (a) FROM stdin;\nBEGIN;\nCOMMIT;\n\\.\n\nCREATE FUNCTION f() AS $$\nBEGIN;\nCOMMIT;\n$$;\n";

    #[test]
    fn drops_only_the_large_object_transaction_lines() {
        for chunk in [1, 3, 7, 4096] {
            let out = filter(LO, chunk);
            assert_eq!(
                out,
                LO.replacen("\nBEGIN;\n\nSELECT", "\n\nSELECT", 1).replacen(
                    "\nCOMMIT;\n\nCOPY",
                    "\n\nCOPY",
                    1
                ),
                "chunk {chunk}"
            );
            assert_eq!(
                out.matches("BEGIN;").count(),
                2,
                "COPY data and function bodies stay"
            );
        }
    }

    #[test]
    fn long_lines_pass_through() {
        let long = format!(
            "COPY public.t (a) FROM stdin;\n{}\n\\.\n",
            "x".repeat(3 << 20)
        );
        assert_eq!(filter(&long, 65536), long);
    }

    #[test]
    fn epilogue_quotes_names() {
        let mut t = TableCounts::new();
        t.insert("public.\"it's\\\"".into(), 3);
        let e = epilogue(Some(&t), "m1");
        assert!(e.contains("(E'public.\"it\\'s\\\\\"', 3::bigint)"), "{e}");
        assert!(e.contains("COMMIT;\n"), "{e}");
        // The marker, then the counts: only once the COMMIT succeeded.
        let after = &e[e.find("COMMIT;\n").expect("commit")..];
        assert!(
            after.contains("SELECT E'm1';\nSELECT name, n FROM pg_temp.lfb_counts"),
            "{e}"
        );
        assert!(!epilogue(None, "m2").contains("VALUES"));
    }
}
