//! PostgreSQL behind [`Engine`]: pg_dump (plain or custom) and pg_dumpall
//! `--globals-only`, with the client that matches the server.

use serde_json::Value;

use super::postgres::{self, Postgres};
use super::url::ServerConn;
use super::{Compress, DumpFormat, DumpJob, Dumped, Dumper, Engine};
use crate::cli::Ui;
use crate::error::Result;
use crate::format::Format;
use crate::record::Source;

pub(super) struct PostgresEngine(pub ServerConn);

impl Engine for PostgresEngine {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn dump_format(&self, choice: DumpFormat, compress: Compress) -> Result<Format> {
        match choice {
            // pg_dump compresses a custom-format archive itself.
            DumpFormat::Custom => Ok(Format::PG_CUSTOM),
            DumpFormat::Sql => Ok(if compress == Compress::Gzip {
                Format::SQL_GZIP
            } else {
                Format::SQL
            }),
            DumpFormat::Native => Err(crate::Error::usage(
                "--format native is for SQLite, not postgres",
            )),
        }
    }

    fn connect(&self, exec: Option<&str>, _ui: &Ui) -> Result<Box<dyn Dumper>> {
        Ok(Box::new(PostgresDumper(Postgres::connect(&self.0, exec)?)))
    }
}

struct PostgresDumper(Postgres);

impl Dumper for PostgresDumper {
    fn default_name(&self) -> String {
        self.0.database().to_string()
    }

    fn describe(&self) -> Option<String> {
        let pg = &self.0;
        Some(format!(
            "PostgreSQL {} server, dumping '{}' with {}",
            pg.server.version,
            pg.database(),
            postgres::describe_clients(&pg.clients)
        ))
    }

    fn dump(&mut self, job: DumpJob<'_>) -> Result<Dumped> {
        let pg = &self.0;
        let stats = match (job.globals, job.choice) {
            (Some(passwords), _) => pg.dump_globals(job.out, passwords, job.progress)?,
            (None, DumpFormat::Custom) => {
                let level = if job.compress == Compress::Gzip {
                    job.level
                } else {
                    0
                };
                pg.dump_custom(job.out, level, job.progress)?
            }
            (None, _) => pg.dump_plain(job.out, job.progress)?,
        };
        Ok(Dumped {
            tables: stats.tables,
            raw_bytes: stats.raw_bytes,
        })
    }

    fn source(&self, dumped: &Dumped) -> Value {
        let pg = &self.0;
        Source {
            engine: "postgres".into(),
            database: pg.database().to_string(),
            host: Some(pg.host()),
            port: pg
                .conn
                .port
                .or_else(|| std::env::var("PGPORT").ok().and_then(|p| p.parse().ok()))
                .or(Some(5432)),
            user: Some(pg.server.user.clone()),
            server_version: Some(pg.server.version.clone()),
            tool: Some(pg.clients.tool.clone()),
            tables: dumped.tables.clone(),
        }
        .to_value()
    }
}
