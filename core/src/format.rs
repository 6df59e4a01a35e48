//! The artifact format, typed: what a record's `format` says and what an
//! artifact's extension implies, in one table.
//!
//! A format is a body (plain SQL, PostgreSQL custom, a SQLite database
//! file, a tar archive), whether it is one gzip stream, and whether it is
//! wrapped in an age stream. The record strings and extensions are exactly
//! those lfb has always written:
//!
//! | format            | extension        |
//! |-------------------|------------------|
//! | `sql+gzip`        | `sql.gz`         |
//! | `sql`             | `sql`            |
//! | `pg-custom`       | `dump`           |
//! | `sqlite+gzip`     | `sqlite3.gz`     |
//! | `sqlite`          | `sqlite3`        |
//! | `tar+gzip`        | `tar.gz`         |
//!
//! and each of them `+age` / `.age` when encrypted ([`crate::crypt`]).

use std::fmt;
use std::str::FromStr;

/// What is inside the compression and encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// SQL text (PostgreSQL plain, SQLite SQL, MySQL/MariaDB).
    Sql,
    /// PostgreSQL custom format (`pg_dump -Fc`), compressed inside.
    PgCustom,
    /// A page-exact copy of a SQLite database file.
    Sqlite,
    /// An lfb-archive tar stream.
    Tar,
}

/// An artifact format. Only the combinations lfb writes exist: build one
/// with [`Format::new`], [`FromStr`], [`Format::from_ext`] or the constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    body: Body,
    gzip: bool,
    age: bool,
}

/// Every format with its record string and extension. Encrypted ones come
/// first so that the longest extension matches first where it matters.
const TABLE: [(Format, &str, &str); 12] = [
    (Format::SQL_GZIP.age(), "sql+gzip+age", "sql.gz.age"),
    (Format::SQL.age(), "sql+age", "sql.age"),
    (Format::PG_CUSTOM.age(), "pg-custom+age", "dump.age"),
    (
        Format::SQLITE_GZIP.age(),
        "sqlite+gzip+age",
        "sqlite3.gz.age",
    ),
    (Format::SQLITE.age(), "sqlite+age", "sqlite3.age"),
    (Format::TAR_GZIP.age(), "tar+gzip+age", "tar.gz.age"),
    (Format::SQL_GZIP, "sql+gzip", "sql.gz"),
    (Format::SQL, "sql", "sql"),
    (Format::PG_CUSTOM, "pg-custom", "dump"),
    (Format::SQLITE_GZIP, "sqlite+gzip", "sqlite3.gz"),
    (Format::SQLITE, "sqlite", "sqlite3"),
    (Format::TAR_GZIP, "tar+gzip", "tar.gz"),
];

impl Format {
    pub const SQL: Format = Format::plain(Body::Sql, false);
    pub const SQL_GZIP: Format = Format::plain(Body::Sql, true);
    pub const PG_CUSTOM: Format = Format::plain(Body::PgCustom, false);
    pub const SQLITE: Format = Format::plain(Body::Sqlite, false);
    pub const SQLITE_GZIP: Format = Format::plain(Body::Sqlite, true);
    pub const TAR_GZIP: Format = Format::plain(Body::Tar, true);

    const fn plain(body: Body, gzip: bool) -> Format {
        Format {
            body,
            gzip,
            age: false,
        }
    }

    /// The same format inside an age stream.
    pub const fn age(self) -> Format {
        Format { age: true, ..self }
    }

    /// The format of `body`, gzip-compressed or not; `None` for the
    /// combinations lfb never writes (a gzipped custom dump, an
    /// uncompressed tar).
    pub fn new(body: Body, gzip: bool) -> Option<Format> {
        let f = Format::plain(body, gzip);
        TABLE.iter().any(|(t, _, _)| *t == f).then_some(f)
    }

    /// Every format, encrypted ones first.
    pub fn all() -> impl Iterator<Item = Format> {
        TABLE.iter().map(|(f, _, _)| *f)
    }

    fn row(self) -> &'static (Format, &'static str, &'static str) {
        TABLE
            .iter()
            .find(|(f, _, _)| *f == self)
            .expect("every constructible format is in the table")
    }

    /// The record string: `sql+gzip`, `pg-custom+age`, …
    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    /// The file extension without its dot: `sql.gz`, `dump.age`, …
    pub fn ext(self) -> &'static str {
        self.row().2
    }

    /// The format an extension (without its dot) implies.
    pub fn from_ext(ext: &str) -> Option<Format> {
        TABLE.iter().find(|(_, _, e)| *e == ext).map(|(f, _, _)| *f)
    }

    /// The format a file name implies by its longest known extension, and
    /// the name without it (`a.sql.gz` → `("a", sql+gzip)`).
    pub fn split_file_name(file: &str) -> Option<(&str, Format)> {
        let mut best: Option<(&str, &'static (Format, &'static str, &'static str))> = None;
        for row in &TABLE {
            if let Some(stem) = file.strip_suffix(row.2).and_then(|s| s.strip_suffix('.'))
                && best.is_none_or(|(_, b)| b.2.len() < row.2.len())
            {
                best = Some((stem, row));
            }
        }
        best.map(|(stem, row)| (stem, row.0))
    }

    /// What is inside.
    pub fn body(self) -> Body {
        self.body
    }

    /// True when the (decrypted) artifact is one gzip stream.
    pub fn is_gzip(self) -> bool {
        self.gzip
    }

    /// True when the artifact is an age stream.
    pub fn is_encrypted(self) -> bool {
        self.age
    }

    /// The format inside the age stream (itself when not encrypted).
    pub fn inner(self) -> Format {
        Format { age: false, ..self }
    }

    /// True for the archive format (encrypted or not).
    pub fn is_archive(self) -> bool {
        self.body == Body::Tar
    }
}

/// A record `format` lfb does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown artifact format '{}'", self.0)
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        TABLE
            .iter()
            .find(|(_, name, _)| *name == s)
            .map(|(f, _, _)| *f)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_extensions_are_the_ones_records_hold() {
        let expect = [
            ("sql+gzip", "sql.gz"),
            ("sql", "sql"),
            ("pg-custom", "dump"),
            ("sqlite+gzip", "sqlite3.gz"),
            ("sqlite", "sqlite3"),
            ("tar+gzip", "tar.gz"),
        ];
        for (s, e) in expect {
            let f: Format = s.parse().unwrap();
            assert_eq!((f.as_str(), f.ext()), (s, e));
            assert!(!f.is_encrypted());
            assert_eq!(f.is_gzip(), s.ends_with("+gzip"), "{s}");
            let a = f.age();
            assert_eq!(a.as_str(), format!("{s}+age"));
            assert_eq!(a.ext(), format!("{e}.age"));
            assert_eq!(a.inner(), f);
            assert_eq!(Format::from_ext(a.ext()), Some(a));
            assert_eq!(a.to_string().parse::<Format>(), Ok(a));
        }
        assert_eq!(Format::all().count(), 12);
        assert!("sql+gzip+gzip".parse::<Format>().is_err());
        assert!("restor".parse::<Format>().is_err());
    }

    #[test]
    fn only_written_combinations_exist() {
        assert_eq!(Format::new(Body::PgCustom, true), None);
        assert_eq!(Format::new(Body::Tar, false), None);
        assert_eq!(Format::new(Body::Sql, true), Some(Format::SQL_GZIP));
        assert!(Format::TAR_GZIP.is_archive() && Format::TAR_GZIP.age().is_archive());
    }

    #[test]
    fn file_names_split_on_the_longest_extension() {
        assert_eq!(
            Format::split_file_name("a_db_x_1.sql.gz"),
            Some(("a_db_x_1", Format::SQL_GZIP))
        );
        assert_eq!(
            Format::split_file_name("a.sqlite3.gz.age"),
            Some(("a", Format::SQLITE_GZIP.age()))
        );
        assert_eq!(Format::split_file_name("a.sql"), Some(("a", Format::SQL)));
        assert_eq!(Format::split_file_name("sql.gz"), None);
        assert_eq!(Format::split_file_name("a.txt"), None);
    }
}
