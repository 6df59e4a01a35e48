//! Atomic clean restore into PostgreSQL.
//!
//! One psql session, one transaction that lfb opens and only lfb commits
//! (see `lfb_core::load::psql_transaction`): first everything the old
//! contents hold is removed (every schema, and the objects that live
//! outside schemas: large objects, publications, foreign-data wrappers and
//! servers, event triggers, casts, transforms, access methods, procedural
//! languages, extensions installed into `pg_catalog`, global default
//! privileges, changed grants on catalog objects)
//! and an empty `public` schema made as `initdb` would; then the dump runs;
//! then its row counts are compared, still inside the transaction; then
//! COMMIT. If any statement or check fails, or lfb is killed at any point
//! before the COMMIT, PostgreSQL rolls the whole transaction back, drops
//! included: the target is exactly as it was. Custom-format archives are
//! turned into the same SQL script by `pg_restore --file=-`.

use lfb_core::cli::Ui;
use lfb_core::engine::postgres::Postgres;
use lfb_core::engine::url::ServerConn;
use lfb_core::load::{self, Decision};
use lfb_core::verify;
use lfb_core::watchdog::DeathWatch;
use lfb_core::{Error, Record, Result};

use crate::Restored;

/// Empties the database of everything a dump can hold, and recreates
/// `public` as a new database has it (owner and privileges differ before
/// PostgreSQL 15). Objects created by extensions go with their extension.
fn prelude(server_version_num: u32) -> String {
    let public = if server_version_num >= 150000 {
        "CREATE SCHEMA public AUTHORIZATION pg_database_owner;\n\
         GRANT USAGE ON SCHEMA public TO PUBLIC;\n"
    } else {
        "CREATE SCHEMA public;\nGRANT ALL ON SCHEMA public TO PUBLIC;\n"
    };
    format!("{CLEAN}{public}COMMENT ON SCHEMA public IS 'standard public schema';\n")
}

/// The clean-up before a load. Event triggers go first (they could act on
/// the drops), then schemas (with their contents and the extensions in
/// them), then what lives outside schemas. `16384` is PostgreSQL's first
/// user object id: built-in objects are never touched.
const CLEAN: &str = r#"DO $lfb$ DECLARE r record; g record; kinds text; BEGIN
  FOR r IN SELECT e.evtname FROM pg_catalog.pg_event_trigger e
           WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND d.objid = e.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP EVENT TRIGGER %I', r.evtname); END LOOP;
  FOR r IN SELECT nspname FROM pg_catalog.pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema')
             AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp\_%'
  LOOP EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', r.nspname); END LOOP;
  -- Extensions installed into pg_catalog survive the schema drops; plpgsql
  -- is initdb's own.
  FOR r IN SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'
  LOOP EXECUTE pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname); END LOOP;
  FOR r IN SELECT oid FROM pg_catalog.pg_largeobject_metadata
  LOOP PERFORM pg_catalog.lo_unlink(r.oid); END LOOP;
  FOR r IN SELECT pubname FROM pg_catalog.pg_publication
  LOOP EXECUTE pg_catalog.format('DROP PUBLICATION %I', r.pubname); END LOOP;
  FOR r IN SELECT s.srvname FROM pg_catalog.pg_foreign_server s
           WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_foreign_server'::pg_catalog.regclass AND d.objid = s.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP SERVER %I CASCADE', r.srvname); END LOOP;
  FOR r IN SELECT w.fdwname FROM pg_catalog.pg_foreign_data_wrapper w
           WHERE w.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass AND d.objid = w.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP FOREIGN DATA WRAPPER %I CASCADE', r.fdwname); END LOOP;
  FOR r IN SELECT c.castsource::pg_catalog.regtype AS s, c.casttarget::pg_catalog.regtype AS t FROM pg_catalog.pg_cast c
           WHERE c.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP CAST (%s AS %s) CASCADE', r.s, r.t); END LOOP;
  FOR r IN SELECT x.trftype::pg_catalog.regtype AS t, l.lanname FROM pg_catalog.pg_transform x JOIN pg_catalog.pg_language l ON l.oid = x.trflang
           WHERE x.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_transform'::pg_catalog.regclass AND d.objid = x.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP TRANSFORM FOR %s LANGUAGE %I CASCADE', r.t, r.lanname); END LOOP;
  FOR r IN SELECT a.amname FROM pg_catalog.pg_am a
           WHERE a.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_am'::pg_catalog.regclass AND d.objid = a.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP ACCESS METHOD %I CASCADE', r.amname); END LOOP;
  FOR r IN SELECT l.lanname FROM pg_catalog.pg_language l
           WHERE l.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_language'::pg_catalog.regclass AND d.objid = l.oid AND d.deptype = 'e')
  LOOP EXECUTE pg_catalog.format('DROP LANGUAGE %I CASCADE', r.lanname); END LOOP;
  -- Global default privileges back to the built-in defaults.
  FOR r IN SELECT a.defaclrole::pg_catalog.regrole AS owner, a.defaclobjtype AS k, a.defaclacl
           FROM pg_catalog.pg_default_acl a WHERE a.defaclnamespace = 0
  LOOP
    kinds := CASE r.k WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                      WHEN 'T' THEN 'TYPES' WHEN 'n' THEN 'SCHEMAS' ELSE NULL END;
    CONTINUE WHEN kinds IS NULL;
    FOR g IN SELECT DISTINCT x.grantee FROM pg_catalog.aclexplode(r.defaclacl) x LOOP
      EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE ALL ON %s FROM %s', r.owner, kinds,
        CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::pg_catalog.regrole::text END);
    END LOOP;
    EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO %s', r.owner, kinds, r.owner);
    IF r.k = 'f' THEN
      EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT EXECUTE ON FUNCTIONS TO PUBLIC', r.owner);
    ELSIF r.k = 'T' THEN
      EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT USAGE ON TYPES TO PUBLIC', r.owner);
    END IF;
  END LOOP;
  -- Grants on catalog objects back to what initdb set (pg_init_privs).
  FOR r IN
    SELECT 'TABLE ' || c.oid::pg_catalog.regclass::text AS obj, c.relacl AS acl,
           pg_catalog.acldefault('r', c.relowner) AS dflt, i.initprivs AS init
      FROM pg_catalog.pg_class c
      LEFT JOIN pg_catalog.pg_init_privs i ON i.objoid = c.oid AND i.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND i.objsubid = 0
     WHERE c.relnamespace IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace)
       AND c.relkind IN ('r', 'v', 'm', 'p') AND c.relacl IS DISTINCT FROM i.initprivs
    UNION ALL
    SELECT 'SEQUENCE ' || c.oid::pg_catalog.regclass::text, c.relacl,
           pg_catalog.acldefault('s', c.relowner), i.initprivs
      FROM pg_catalog.pg_class c
      LEFT JOIN pg_catalog.pg_init_privs i ON i.objoid = c.oid AND i.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND i.objsubid = 0
     WHERE c.relnamespace IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace)
       AND c.relkind = 'S' AND c.relacl IS DISTINCT FROM i.initprivs
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END || p.oid::pg_catalog.regprocedure::text, p.proacl,
           pg_catalog.acldefault('f', p.proowner), i.initprivs
      FROM pg_catalog.pg_proc p
      LEFT JOIN pg_catalog.pg_init_privs i ON i.objoid = p.oid AND i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND i.objsubid = 0
     WHERE p.pronamespace IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace)
       AND p.prokind <> 'a' AND p.proacl IS DISTINCT FROM i.initprivs
    UNION ALL
    SELECT 'SCHEMA ' || pg_catalog.quote_ident(n.nspname), n.nspacl,
           pg_catalog.acldefault('n', n.nspowner), i.initprivs
      FROM pg_catalog.pg_namespace n
      LEFT JOIN pg_catalog.pg_init_privs i ON i.objoid = n.oid AND i.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND i.objsubid = 0
     WHERE n.nspname IN ('pg_catalog', 'information_schema') AND n.nspacl IS DISTINCT FROM i.initprivs
  LOOP
    FOR g IN SELECT DISTINCT x.grantee FROM pg_catalog.aclexplode(COALESCE(r.acl, r.dflt)) x LOOP
      EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s CASCADE', r.obj,
        CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::pg_catalog.regrole::text END);
    END LOOP;
    FOR g IN SELECT x.grantee, x.privilege_type, x.is_grantable FROM pg_catalog.aclexplode(COALESCE(r.init, r.dflt)) x LOOP
      EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, r.obj,
        CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::pg_catalog.regrole::text END,
        CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
  END LOOP;
END $lfb$;
"#;

/// The target's server, asked once before a restore: a connection to its
/// `postgres` database (for catalog queries and CREATE DATABASE) and
/// whether the target database existed then.
pub struct Target {
    admin: Postgres,
    db: String,
    exists: bool,
}

impl Target {
    /// Connects and looks for the target database, in one psql.
    pub fn probe(conn: &ServerConn, exec: Option<&str>) -> Result<Target> {
        let db = target_db(conn)?;
        let mut maint = conn.clone();
        maint.database = Some("postgres".into());
        let (admin, exists) = Postgres::connect_and_find(&maint, exec, &db)?;
        Ok(Target { admin, db, exists })
    }

    /// True when the target database existed when probed.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The same server and clients, connected to the target database.
    pub fn session(&self, conn: &ServerConn) -> Postgres {
        Postgres {
            conn: conn.clone(),
            ..self.admin.clone()
        }
    }
}

fn target_db(conn: &ServerConn) -> Result<String> {
    conn.database
        .clone()
        .ok_or_else(|| Error::usage("the target URL names no database"))
}

/// Restores the record's artifact into the target database, atomically.
pub fn restore(conn: &ServerConn, target: &Target, record: &Record, ui: &Ui) -> Result<Restored> {
    record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let (admin, db) = (&target.admin, &target.db);
    // A database this restore creates is dropped again unless the restore
    // succeeds, however lfb ends (a watcher process covers SIGKILL): a
    // failed or killed restore leaves the server as it was. One that
    // appeared since the probe makes CREATE DATABASE fail: it is not ours
    // to drop, and the watcher is disarmed without running.
    let mut created = None;
    if !target.exists {
        let ident = format!("\"{}\"", db.replace('"', "\"\""));
        let drop_sql = if admin.server.version_num >= 130000 {
            format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {ident}")
        };
        let mut cmd = admin.command("psql");
        cmd.args(["-X", "-q", "-d", "postgres", "-c", &drop_sql]);
        let watch = DeathWatch::spawn(&cmd)?;
        admin.psql_query(&format!("CREATE DATABASE {ident}"))?;
        ui.info(format!("created database '{db}'"));
        created = Some((watch, drop_sql));
    }
    let res = load_into(target.session(conn), db, record);
    if let Some((watch, drop_sql)) = created {
        if res.is_err() {
            let _ = admin.psql_query(&drop_sql);
        }
        drop(watch);
    }
    res
}

/// The load proper, into an existing database.
fn load_into(pg: Postgres, db: &str, record: &Record) -> Result<Restored> {
    let path = &record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let db = db.to_string();
    let prelude = prelude(pg.server.version_num);
    // Counts mean rows stored in each table itself (`FROM ONLY`), for plain
    // and custom dumps alike; they are compared inside the transaction.
    let want = record.tables();
    // The counts come from the load's own session, after its COMMIT.
    let counts = if record.typed_format() == Some(lfb_core::format::Format::PG_CUSTOM) {
        load::pg_custom_load(&pg, &db, &prelude, path, want.as_ref())?
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
                (Some(input), None) => {
                    Ok(Decision::Commit(input, want.clone().or(streamed.tables)))
                }
                (_, e) => Ok(Decision::RollBack(format!(
                    "psql stopped reading: {}",
                    e.map(|e| e.to_string()).unwrap_or_default()
                ))),
            }
        })?
    };
    Ok(Restored {
        counts: Some(counts),
    })
}

/// Restores an `lfb-dump --globals` artifact (pg_dumpall --globals-only)
/// into the target's server. Roles, their memberships and settings run in
/// one transaction through the same protocol as a database restore; a role
/// that already exists is kept (its `CREATE ROLE` is skipped, the following
/// `ALTER ROLE` sets the dumped attributes). Tablespaces cannot be created
/// inside a transaction: their statements run afterwards one by one, and a
/// tablespace that already exists is kept. Nothing is ever dropped.
pub fn restore_globals(conn: &ServerConn, exec: Option<&str>, record: &Record) -> Result<usize> {
    use std::io::{BufRead, Write};
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let format = record.format().unwrap_or("sql").to_string();
    let mut maint = conn.clone();
    if maint.database.is_none() {
        maint.database = Some("postgres".into());
    }
    let pg = Postgres::connect(&maint, exec)?;
    let db = pg.database().to_string();
    let spaces: Vec<String> = pg
        .psql_query("SELECT spcname FROM pg_catalog.pg_tablespace")?
        .lines()
        .map(str::to_string)
        .collect();
    let mut later: Vec<String> = Vec::new();
    let mut roles = 0usize;
    load::psql_transaction(&pg, &db, "", |mut input| {
        let reader = load::open_decoded(&path, &format)?;
        let mut tablespaces = false;
        for line in std::io::BufReader::new(reader).lines() {
            let line = line.map_err(|e| Error::io("cannot read the globals dump", e))?;
            if line == "-- Tablespaces" {
                tablespaces = true;
            }
            if tablespaces {
                if !(line.is_empty() || line.starts_with("--") || line.starts_with('\\')) {
                    later.push(line);
                }
                continue;
            }
            let out = if line.starts_with("CREATE ROLE ") && line.ends_with(';') {
                roles += 1;
                format!(
                    "DO $lfb$ BEGIN {line} EXCEPTION WHEN duplicate_object THEN \
                     RAISE NOTICE 'lfb: role exists, kept'; END $lfb$;\n"
                )
            } else {
                format!("{line}\n")
            };
            if let Err(e) = input.write_all(out.as_bytes()) {
                return Ok(Decision::RollBack(format!("psql stopped reading: {e}")));
            }
        }
        Ok(Decision::Commit(input, None))
    })?;
    for stmt in later {
        if let Some(rest) = stmt.strip_prefix("CREATE TABLESPACE ") {
            let name = rest.split(" OWNER ").next().unwrap_or(rest);
            let bare = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .map(|n| n.replace("\"\"", "\""))
                .unwrap_or_else(|| name.to_string());
            if spaces.contains(&bare) {
                continue;
            }
        }
        pg.psql_query(&stmt)
            .map_err(|e| Error::failed(format!("tablespaces: {}", e.line())))?;
    }
    Ok(roles)
}
