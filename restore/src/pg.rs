//! Atomic clean restore into PostgreSQL.
//!
//! One psql session, one transaction (`--single-transaction`, stopping at
//! the first error): first every schema of the target is dropped and an
//! empty `public` schema made as `initdb` would, then the dump runs. If any
//! statement fails, PostgreSQL rolls the whole transaction back, drops
//! included: the target is exactly as it was. Custom-format archives are
//! turned into the same SQL script by `pg_restore --file=-`.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use lfb_core::cli::Ui;
use lfb_core::engine::postgres::{Postgres, first_error_line};
use lfb_core::engine::url::ServerConn;
use lfb_core::load::{self, Decision};
use lfb_core::verify;
use lfb_core::{Error, Record, Result};

use crate::Restored;

/// Drops every schema of the database and recreates `public` as a new
/// database has it (owner and privileges differ before PostgreSQL 15).
fn prelude(server_version_num: u32) -> String {
    let public = if server_version_num >= 150000 {
        "CREATE SCHEMA public AUTHORIZATION pg_database_owner;\n\
         GRANT USAGE ON SCHEMA public TO PUBLIC;\n"
    } else {
        "CREATE SCHEMA public;\nGRANT ALL ON SCHEMA public TO PUBLIC;\n"
    };
    format!(
        "DO $lfb$ DECLARE s record; BEGIN\n\
           FOR s IN SELECT nspname FROM pg_namespace\n\
                    WHERE nspname NOT IN ('pg_catalog', 'information_schema')\n\
                      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'\n\
           LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname); END LOOP;\n\
         END $lfb$;\n\
         {public}COMMENT ON SCHEMA public IS 'standard public schema';\n"
    )
}

/// True when the target database exists on its server.
pub fn database_exists(conn: &ServerConn, exec: Option<&str>) -> Result<bool> {
    let admin = admin(conn, exec)?;
    exists(&admin, &target_db(conn)?)
}

fn target_db(conn: &ServerConn) -> Result<String> {
    conn.database
        .clone()
        .ok_or_else(|| Error::usage("the target URL names no database"))
}

/// A connection to the server's `postgres` database, for catalog queries
/// and CREATE DATABASE.
fn admin(conn: &ServerConn, exec: Option<&str>) -> Result<Postgres> {
    let mut maint = conn.clone();
    maint.database = Some("postgres".into());
    Postgres::connect(&maint, exec)
}

fn exists(admin: &Postgres, db: &str) -> Result<bool> {
    let out = admin.psql_query(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{}'",
        db.replace('\'', "''")
    ))?;
    Ok(!out.trim().is_empty())
}

/// Restores `path` into the target database, atomically.
pub fn restore(
    conn: &ServerConn,
    exec: Option<&str>,
    record: &Record,
    ui: &Ui,
) -> Result<Restored> {
    let path = &record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let db = target_db(conn)?;
    let admin = admin(conn, exec)?;
    if !exists(&admin, &db)? {
        admin.psql_query(&format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\"")))?;
        ui.info(format!("created database '{db}'"));
    }
    // The same server and clients: no second probe.
    let pg = Postgres {
        conn: conn.clone(),
        ..admin
    };
    let prelude = prelude(pg.server.version_num);
    if record.format() == Some("pg-custom") {
        // pg_restore turns the archive into a SQL script; the transaction
        // commits only if pg_restore read the whole archive without error.
        load::psql_transaction(&pg, &db, &prelude, |mut input| {
            let mut child = pg_restore_script(&pg, path)?;
            let mut stdout = child.stdout.take().expect("piped");
            let copied = io::copy(&mut stdout, &mut input);
            drop(stdout);
            let out = child
                .wait_with_output()
                .map_err(|e| Error::io("cannot wait for pg_restore", e))?;
            if !out.status.success() {
                return Ok(Decision::RollBack(format!(
                    "pg_restore failed: {}",
                    first_error_line(&String::from_utf8_lossy(&out.stderr))
                )));
            }
            match copied {
                Ok(_) => Ok(Decision::Commit(input)),
                Err(e) => Ok(Decision::RollBack(format!("psql stopped reading: {e}"))),
            }
        })?;
    } else {
        // Checked while loaded, in one read: the bytes psql runs are the
        // bytes whose checksum, gzip stream and completeness were proven,
        // and the transaction commits only if they all pass.
        load::psql_transaction(&pg, &db, &prelude, |input| {
            let streamed = verify::verify_while_copying(record, input)?;
            if !streamed.outcome.ok() {
                return Ok(Decision::RollBack(format!(
                    "{} fails verification: {}",
                    path.display(),
                    streamed.outcome.summary()
                )));
            }
            match (streamed.tee, streamed.tee_error) {
                (Some(input), None) => Ok(Decision::Commit(input)),
                (_, e) => Ok(Decision::RollBack(format!(
                    "psql stopped reading: {}",
                    e.map(|e| e.to_string()).unwrap_or_default()
                ))),
            }
        })?;
    }
    let counts = pg.count_tables(Some(&db))?;
    Ok(Restored {
        counts: Some(counts),
    })
}

fn pg_restore_script(pg: &Postgres, path: &Path) -> Result<std::process::Child> {
    // No connection: pg_restore only converts the archive to SQL here.
    let mut cmd: Command = pg.clients.command("pg_restore");
    cmd.arg("--file=-").arg(path);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::unavailable(format!("cannot run pg_restore: {e}")))
}
