//! MySQL and MariaDB behind [`Engine`]: mysqldump or mariadb-dump in one
//! consistent snapshot.

use serde_json::Value;

use super::mysql::{self, Mysql};
use super::url::ServerConn;
use super::{DumpJob, Dumped, Dumper, Engine};
use crate::cli::Ui;
use crate::error::Result;
use crate::record::Source;

pub(super) struct MysqlEngine(pub ServerConn);

impl Engine for MysqlEngine {
    fn name(&self) -> &'static str {
        mysql::ENGINE
    }

    fn connect(&self, exec: Option<&str>, _ui: &Ui) -> Result<Box<dyn Dumper>> {
        Ok(Box::new(MysqlDumper(Mysql::connect(&self.0, exec)?)))
    }
}

struct MysqlDumper(Mysql);

impl Dumper for MysqlDumper {
    fn default_name(&self) -> String {
        self.0.database().to_string()
    }

    fn describe(&self) -> Option<String> {
        let my = &self.0;
        Some(format!(
            "{} server, dumping '{}' with {}",
            my.server.version,
            my.database(),
            my.tool()
        ))
    }

    fn dump(&mut self, job: DumpJob<'_>) -> Result<Dumped> {
        let stats = self.0.dump(job.out, job.progress)?;
        for (t, engine) in &stats.non_transactional {
            job.ui.warn(format!(
                "table '{t}' uses {engine}, which is not transactional: it is not part of the consistent snapshot, so writes during the dump may leave it inconsistent with the other tables"
            ));
        }
        Ok(Dumped {
            tables: stats.tables,
            raw_bytes: stats.raw_bytes,
        })
    }

    fn source(&self, dumped: &Dumped) -> Value {
        let my = &self.0;
        Source {
            engine: mysql::ENGINE.into(),
            database: my.database().to_string(),
            host: Some(my.host()),
            port: my.conn.port.or(if my.host().starts_with('/') {
                None
            } else {
                Some(3306)
            }),
            user: Some(my.user()),
            server_version: Some(my.server.version.clone()),
            tool: Some(my.tool().to_string()),
            tables: dumped.tables.clone(),
        }
        .to_value()
    }
}
