//! Database engines: how lfb talks to PostgreSQL, SQLite and MySQL/MariaDB.
//!
//! The dump side is one trait pair: an [`Engine`] knows its formats and
//! connects; the [`Dumper`] it returns writes the dump and describes its
//! source. lfb-dump (core/src/dump.rs) only ever sees these traits, so
//! adding an engine is adding a module that implements them and a line in
//! [`for_database`].

pub mod mysql;
mod mysql_dump;
pub mod mysqlscan;
pub mod pgscan;
pub mod pgscript;
pub mod postgres;
mod postgres_dump;
pub mod sqlite;
mod sqlite_dump;
pub mod url;

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::cli::Ui;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::progress::Progress;
use url::Database;

/// The dump format asked for (`lfb-dump --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// Plain SQL (PostgreSQL: pg_dump --format=plain; SQLite: SQL text that
    /// keeps page size, auto_vacuum, encoding, WAL mode and statistics)
    Sql,
    /// PostgreSQL custom format (pg_dump -Fc), for pg_restore
    Custom,
    /// SQLite: a page-exact copy of the database file (backup API), one file
    /// also for WAL databases (whose copy says WAL in its header)
    Native,
}

/// Compression of the artifact (`lfb-dump --compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compress {
    Gzip,
    None,
}

/// Table name → exact row count, as contained in a dump.
pub type TableCounts = std::collections::BTreeMap<String, u64>;

/// A database engine lfb can dump.
pub trait Engine {
    /// The record's `source.engine`: `postgres`, `sqlite`, `mysql`.
    fn name(&self) -> &'static str;

    /// The artifact format of a dump asked for as `choice`, `compress`
    /// (before encryption); a choice the engine has no format for is a
    /// usage error.
    fn dump_format(&self, choice: DumpFormat, compress: Compress) -> Result<Format> {
        let gzip = compress == Compress::Gzip;
        match choice {
            DumpFormat::Sql => {
                Ok(Format::new(crate::format::Body::Sql, gzip).expect("sql is written both ways"))
            }
            DumpFormat::Custom => Err(Error::usage(format!(
                "--format custom is for PostgreSQL, not {}",
                self.name()
            ))),
            DumpFormat::Native => Err(Error::usage(format!(
                "--format native is for SQLite, not {}",
                self.name()
            ))),
        }
    }

    /// Connects to the database (or opens its file), so that nothing is
    /// written for a database that cannot be read.
    fn connect(&self, exec: Option<&str>, ui: &Ui) -> Result<Box<dyn Dumper>>;
}

/// What a dump is asked to do.
pub struct DumpJob<'a> {
    /// Where the dump's bytes go (compression, hashing, the partial file).
    pub out: &'a mut dyn Write,
    pub choice: DumpFormat,
    pub compress: Compress,
    /// The gzip level, for engines that compress inside their format.
    pub level: u32,
    /// `Some(passwords)` for a PostgreSQL globals dump.
    pub globals: Option<bool>,
    /// The partial file's path: scratch files go beside it.
    pub beside: &'a Path,
    pub progress: &'a mut Progress,
    pub ui: &'a Ui,
}

/// What a finished dump tells its record.
#[derive(Debug, Default)]
pub struct Dumped {
    pub tables: TableCounts,
    /// Bytes of the dump before compression.
    pub raw_bytes: u64,
}

/// A connected database, ready to dump.
pub trait Dumper {
    /// The artifact base name when `--name` is not given (to be sanitised).
    fn default_name(&self) -> String;

    /// A line for `-v`: the server and the client tool.
    fn describe(&self) -> Option<String> {
        None
    }

    /// Writes the dump.
    fn dump(&mut self, job: DumpJob<'_>) -> Result<Dumped>;

    /// The record's `source` section for the finished dump.
    fn source(&self, dumped: &Dumped) -> Value;
}

/// The engine of `db`.
pub fn for_database(db: &Database) -> Box<dyn Engine> {
    match db {
        Database::Postgres(c) => Box::new(postgres_dump::PostgresEngine(c.clone())),
        Database::Sqlite(p) => Box::new(sqlite_dump::SqliteEngine(p.clone())),
        Database::Mysql(c) => Box::new(mysql_dump::MysqlEngine(c.clone())),
    }
}
