//! Atomic clean restore into MySQL / MariaDB.
//!
//! MySQL DDL is not transactional, so the dump is never loaded into the
//! target itself:
//!
//! 1. A new **shadow** database (`lfb_new_PID_TIME_N`, with the target's
//!    character set and collation) is created on the target's server and the
//!    dump is loaded into it, checked while it streams (checksum, gzip,
//!    `-- Dump completed` trailer, row counts in the stream). Then the row
//!    counts of the shadow's tables are compared with the record's. Any
//!    failure, SIGINT/SIGTERM or `kill -9` up to here leaves the target
//!    untouched (the shadow is dropped; after `kill -9` a `lfb_new_*`
//!    database is left over, never the target, and the next run from the
//!    same machine drops it).
//! 2. **The swap**, one script run by one client in its own process group
//!    (so it completes even when lfb-restore is killed once it started): the
//!    target's old triggers and views are dropped (MariaDB cannot move a table
//!    with triggers to another database, and views cannot move at all), then
//!    one `RENAME TABLE` statement moves every old table out of the target
//!    into a new `lfb_old_*` database and every shadow table into the target.
//!    `RENAME TABLE` of many tables is atomic: no session ever sees a mix of
//!    old and new tables (and since MariaDB 10.6 it is crash-safe too).
//!    Foreign keys move with their tables. If the RENAME fails, the old
//!    triggers and views are re-created from their definitions and the
//!    target is as it was.
//! 3. In the same script, after the RENAME: the old routines and events are
//!    dropped, the backup's routines are created in the target, its events
//!    moved there (`ALTER EVENT ... RENAME TO`), its triggers and views
//!    created, and the `lfb_old_*` and shadow databases dropped. This part is
//!    not atomic: between the RENAME and its end (normally well under a
//!    second) the target has the new tables without all of their triggers,
//!    views or routines.
//!
//! Users and grants are not part of a database dump and are not touched:
//! table-level grants follow table names, so they apply to the new tables.

use std::collections::BTreeMap;

use lfb_core::cleanup;
use lfb_core::cli::Ui;
use lfb_core::engine::mysql::{self, Mysql, TableCounts, quote_ident, quote_literal};
use lfb_core::engine::url::ServerConn;
use lfb_core::verify;
use lfb_core::{Error, Record, Result};

use crate::Restored;

/// How an error after the swap begins: the target is not unchanged then.
pub const PARTLY: &str = "the target now holds the backup's tables";

/// The delimiter used around stored-program bodies in the swap script.
const DELIM: &str = "$$lfb_end$$";

/// Starts a script: remembers the session's settings.
const SESSION_SAVE: &str =
    "SET @lfb_sql_mode = @@SESSION.sql_mode, @lfb_time_zone = @@SESSION.time_zone;\n";

/// Back to the script's own settings after a definition.
const SESSION_RESET: &str = "SET SESSION sql_mode = @lfb_sql_mode, time_zone = @lfb_time_zone;\n\
SET SESSION character_set_client = utf8mb4;\n\
SET SESSION collation_connection = utf8mb4_general_ci;\n";

fn target_db(conn: &ServerConn) -> Result<String> {
    conn.database
        .clone()
        .ok_or_else(|| Error::usage("the target URL names no database"))
}

fn admin(conn: &ServerConn, exec: Option<&str>) -> Result<Mysql> {
    let mut c = conn.clone();
    c.database = None;
    Mysql::connect(&c, exec)
}

/// True when the target database exists on its server.
pub fn database_exists(conn: &ServerConn, exec: Option<&str>) -> Result<bool> {
    let my = admin(conn, exec)?;
    my.database_exists(&target_db(conn)?)
}

/// One stored object's definition, with the session settings it was made in.
#[derive(Debug, Clone)]
struct Definition {
    name: String,
    /// A trigger's table (empty for other objects).
    table: String,
    sql: String,
    sql_mode: Option<String>,
    charset: Option<String>,
    collation: Option<String>,
}

impl Definition {
    /// Script text that creates it in the current database.
    fn script(&self) -> Result<String> {
        if self.sql.contains(DELIM) {
            return Err(Error::failed(format!(
                "cannot re-create '{}': its definition contains {DELIM}",
                self.name
            )));
        }
        let mut s = String::new();
        if let Some(m) = &self.sql_mode {
            s.push_str(&format!("SET SESSION sql_mode = {};\n", quote_literal(m)));
        }
        if let Some(c) = &self.charset {
            s.push_str(&format!("SET SESSION character_set_client = {c};\n"));
        }
        if let Some(c) = &self.collation {
            s.push_str(&format!("SET SESSION collation_connection = {c};\n"));
        }
        s.push_str(&format!(
            "DELIMITER {DELIM}\n{}\n{DELIM}\nDELIMITER ;\n",
            self.sql
        ));
        s.push_str(SESSION_RESET);
        Ok(s)
    }
}

/// Everything but the tables of one database.
#[derive(Debug, Default)]
struct Objects {
    /// Base tables and sequences.
    tables: Vec<String>,
    views: Vec<Definition>,
    triggers: Vec<Definition>,
    routines: Vec<(String, Definition)>,
    /// Name, sql_mode, character_set_client, collation_connection, time zone.
    events: Vec<[String; 5]>,
}

/// Finds a column of a SHOW CREATE answer by its header.
fn show_create(my: &Mysql, what: &str, db: &str, name: &str) -> Result<BTreeMap<String, String>> {
    let out = my.query_with_headers(&format!(
        "SHOW CREATE {what} {}.{}",
        quote_ident(db),
        quote_ident(name)
    ))?;
    let mut lines = out.into_iter();
    let (Some(head), Some(row)) = (lines.next(), lines.next()) else {
        return Err(Error::failed(format!(
            "SHOW CREATE {what} {name}: no answer (missing privileges?)"
        )));
    };
    Ok(head.into_iter().zip(row).collect())
}

// Long: one query per kind of object, read the same way.
fn inventory(my: &Mysql, db: &str, with_definitions: bool) -> Result<Objects> {
    let lit = quote_literal(db);
    let mut o = Objects {
        tables: my
            .tables_of(db, "'BASE TABLE', 'SEQUENCE'")?
            .into_iter()
            .map(|(t, _)| t)
            .collect(),
        ..Default::default()
    };
    let views = my.rows(
        None,
        &format!("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {lit} ORDER BY TABLE_NAME"),
    )?;
    let triggers = my.rows(
        None,
        &format!(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {lit} \
             ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"
        ),
    )?;
    let routines = my.rows(
        None,
        &format!(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {lit} ORDER BY ROUTINE_TYPE, ROUTINE_NAME"
        ),
    )?;
    o.events = my
        .rows(
            None,
            &format!(
                "SELECT EVENT_NAME, SQL_MODE, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, TIME_ZONE \
                 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {lit} ORDER BY EVENT_NAME"
            ),
        )?
        .into_iter()
        .filter_map(|r| r.try_into().ok())
        .collect();
    for r in views {
        let name = r.into_iter().next().unwrap_or_default();
        let mut d = Definition {
            name: name.clone(),
            table: String::new(),
            sql: String::new(),
            sql_mode: None,
            charset: None,
            collation: None,
        };
        if with_definitions {
            let c = show_create(my, "VIEW", db, &name)?;
            d.sql = c.get("Create View").cloned().unwrap_or_default();
            d.charset = c.get("character_set_client").cloned();
            d.collation = c.get("collation_connection").cloned();
        }
        o.views.push(d);
    }
    for r in triggers {
        let mut r = r.into_iter();
        let name = r.next().unwrap_or_default();
        let table = r.next().unwrap_or_default();
        if !with_definitions {
            o.triggers.push(Definition {
                name,
                table,
                sql: String::new(),
                sql_mode: None,
                charset: None,
                collation: None,
            });
            continue;
        }
        let c = show_create(my, "TRIGGER", db, &name)?;
        o.triggers.push(Definition {
            name: name.clone(),
            table,
            sql: c.get("SQL Original Statement").cloned().unwrap_or_default(),
            sql_mode: c.get("sql_mode").cloned(),
            charset: c.get("character_set_client").cloned(),
            collation: c.get("collation_connection").cloned(),
        });
    }
    for r in routines {
        let (kind, name) = match r.as_slice() {
            [k, n] => (k.clone(), n.clone()),
            _ => continue,
        };
        if kind != "PROCEDURE" && kind != "FUNCTION" {
            return Err(Error::failed(format!(
                "{kind} {name}: lfb-restore can move procedures and functions, not {kind}s"
            )));
        }
        let mut d = Definition {
            name: name.clone(),
            table: String::new(),
            sql: String::new(),
            sql_mode: None,
            charset: None,
            collation: None,
        };
        if with_definitions {
            let c = show_create(my, &kind, db, &name)?;
            let key = if kind == "PROCEDURE" {
                "Create Procedure"
            } else {
                "Create Function"
            };
            d.sql = c
                .get(key)
                .filter(|s| !s.is_empty() && *s != "NULL")
                .cloned()
                .ok_or_else(|| {
                    Error::failed(format!(
                        "cannot read the definition of {kind} {name} (missing privileges?)"
                    ))
                })?;
            d.sql_mode = c.get("sql_mode").cloned();
            d.charset = c.get("character_set_client").cloned();
            d.collation = c.get("collation_connection").cloned();
        }
        o.routines.push((kind, d));
    }
    Ok(o)
}

/// Orders views so that each comes after the views it selects from.
fn order_views(views: &[Definition], shadow: &str) -> Vec<Definition> {
    let mut left: Vec<Definition> = views.to_vec();
    let mut out = Vec::new();
    let q = quote_ident(shadow);
    while !left.is_empty() {
        let names: Vec<String> = left.iter().map(|v| v.name.clone()).collect();
        let (ready, wait): (Vec<Definition>, Vec<Definition>) = left.into_iter().partition(|v| {
            !names
                .iter()
                .any(|n| *n != v.name && v.sql.contains(&format!("{q}.{}", quote_ident(n))))
        });
        if ready.is_empty() {
            // A cycle cannot exist among valid views; keep the order.
            out.extend(wait);
            break;
        }
        out.extend(ready);
        left = wait;
    }
    out
}

/// Restores the record's dump into the target database, atomically (see the
/// module documentation).
// Long: the shadow-database protocol step by step; its order is the atomicity argument.
pub fn restore(
    conn: &ServerConn,
    exec: Option<&str>,
    record: &Record,
    ui: &Ui,
) -> Result<Restored> {
    let path = record
        .path()
        .ok_or_else(|| Error::input("the record names no artifact path"))?;
    let db = target_db(conn)?;
    let my = admin(conn, exec)?;
    for d in my.drop_stale()? {
        ui.info(format!("dropped '{d}', left behind by a killed lfb run"));
    }
    if !my.database_exists(&db)? {
        my.create_database(&db, None)?;
        ui.info(format!("created database '{db}'"));
    }
    let shadow = mysql::scratch_name("new");
    my.create_database(&shadow, Some(&db))?;
    let dropper = {
        let my = my.clone();
        let ident = quote_ident(&shadow);
        cleanup::on_interrupt(move || {
            let _ = my.query(None, &format!("DROP DATABASE IF EXISTS {ident}"));
        })
    };
    let prepared = (|| {
        // 1. Load, checked while streamed: the checks see each block before
        // the client does, a dump that would switch databases is cut off
        // before the client has a whole line of it, and a failed check kills
        // the client before its input closes.
        my.load_checked(&shadow, |stdin| {
            let streamed = match verify::verify_while_copying(record, Box::new(stdin)) {
                Ok(s) => s,
                Err(e) => return (Err(e), None),
            };
            let verdict = if !streamed.outcome.ok() {
                Err(Error::failed(format!(
                    "{} fails verification: {}",
                    path.display(),
                    streamed.outcome.summary()
                )))
            } else if let Some(e) = streamed.tee_error {
                Err(Error::failed(format!(
                    "the mysql client stopped reading: {e}"
                )))
            } else {
                Ok(())
            };
            (verdict, streamed.tee)
        })?;
        // 2. Check the shadow.
        let found = my.count_tables(&shadow)?;
        if let Some(want) = record.tables()
            && let Some(d) = verify::compare_counts(&want, &found)
        {
            return Err(Error::failed(format!(
                "row counts in the loaded dump differ from the record: {d}"
            )));
        }
        let new = inventory(&my, &shadow, true)?;
        let old = inventory(&my, &db, true)?;
        Ok((new, old))
    })();
    let (new, old) = match prepared {
        Ok(x) => x,
        Err(e) => {
            dropper.run_now();
            return Err(e);
        }
    };
    // From here on the swap script owns the shadow: an interruption must not
    // drop it under the script's feet.
    drop(dropper);
    // The old tables' database is made by the swap script itself: nothing
    // is left between here and the script's start.
    let old_db = mysql::scratch_name("old");
    let script = my
        .create_database_sql(&old_db, Some(&db))
        .and_then(|create| swap_script(&create, &db, &shadow, &old_db, &new, &old));
    let script = match script {
        Ok(s) => s,
        Err(e) => {
            let _ = my.query(
                None,
                &format!("DROP DATABASE IF EXISTS {}", quote_ident(&shadow)),
            );
            return Err(e);
        }
    };
    ui.debug(format!(
        "swapping {} tables into '{db}' ({} old tables to '{old_db}')",
        new.tables.len(),
        old.tables.len()
    ));
    if let Err(e) = my.run_script(None, &script, true) {
        // Did the RENAME happen? Then the shadow's tables left it, or the
        // target's old tables arrived in the old database. When that cannot
        // be told, assume it did: nothing is undone or dropped then.
        let count = |d: &str| my.tables_of(d, "'BASE TABLE', 'SEQUENCE'").map(|t| t.len());
        let swapped = match (count(&shadow), count(&old_db)) {
            (Ok(in_shadow), Ok(in_old)) => (!new.tables.is_empty() && in_shadow == 0) || in_old > 0,
            _ => true,
        };
        if swapped {
            return Err(Error::failed(format!(
                "{PARTLY}, but re-creating its routines, triggers, views or events failed: {}; the old tables are kept in database '{old_db}'; restore again, or restore the safety backup",
                e.line()
            )));
        }
        // Put back what the script dropped before it failed; a lock it
        // cannot get yet is retried.
        let mut undone = Ok(());
        for _ in 0..3 {
            undone = inventory(&my, &db, false)
                .and_then(|now| rollback_script(&db, &old, &now))
                .and_then(|undo| match undo {
                    Some(undo) => my.run_script(None, &undo, true),
                    None => Ok(()),
                });
            if undone.is_ok() {
                break;
            }
        }
        let _ = my.query(
            None,
            &format!("DROP DATABASE IF EXISTS {}", quote_ident(&shadow)),
        );
        let _ = my.query(
            None,
            &format!("DROP DATABASE IF EXISTS {}", quote_ident(&old_db)),
        );
        return Err(match undone {
            Ok(()) => Error::failed(format!("the swap failed: {}", e.line())),
            Err(u) => Error::failed(format!(
                "the swap failed ({}), and re-creating the target's dropped triggers or views failed: {}; its tables and data are unchanged, the definitions are in the safety backup",
                e.line(),
                u.line()
            )),
        });
    }
    let counts: TableCounts = my.count_tables(&db)?;
    Ok(Restored {
        counts: Some(counts),
    })
}

/// How long the swap waits for transactions that use the target's tables
/// (`LFB_MYSQL_LOCK_WAIT` seconds, default 120) before it gives up and
/// leaves the target as it was.
fn lock_wait_secs() -> u64 {
    std::env::var("LFB_MYSQL_LOCK_WAIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(120)
}

/// The swap: drop old triggers and views, one RENAME TABLE, then the new
/// routines, events, triggers and views; the old tables' database and the
/// shadow dropped.
fn swap_script(
    create_old: &str,
    db: &str,
    shadow: &str,
    old_db: &str,
    new: &Objects,
    old: &Objects,
) -> Result<String> {
    let t = quote_ident(db);
    let s = quote_ident(shadow);
    let o = quote_ident(old_db);
    let mut sc = format!(
        "{SESSION_SAVE}SET SESSION lock_wait_timeout = {};\nSET SESSION foreign_key_checks = 0;\n{create_old};\n",
        lock_wait_secs()
    );
    for tr in &new.triggers {
        sc.push_str(&format!("DROP TRIGGER {s}.{};\n", quote_ident(&tr.name)));
    }
    for tr in &old.triggers {
        sc.push_str(&format!("DROP TRIGGER {t}.{};\n", quote_ident(&tr.name)));
    }
    for v in &old.views {
        sc.push_str(&format!("DROP VIEW {t}.{};\n", quote_ident(&v.name)));
    }
    let mut pairs: Vec<String> = old
        .tables
        .iter()
        .map(|n| format!("{t}.{q} TO {o}.{q}", q = quote_ident(n)))
        .collect();
    pairs.extend(
        new.tables
            .iter()
            .map(|n| format!("{s}.{q} TO {t}.{q}", q = quote_ident(n))),
    );
    if !pairs.is_empty() {
        sc.push_str(&format!("RENAME TABLE {};\n", pairs.join(", ")));
    }
    // After the swap: routines, events, triggers, views.
    for (kind, r) in &old.routines {
        sc.push_str(&format!("DROP {kind} {t}.{};\n", quote_ident(&r.name)));
    }
    for e in &old.events {
        sc.push_str(&format!("DROP EVENT {t}.{};\n", quote_ident(&e[0])));
    }
    sc.push_str(&format!("USE {t};\n"));
    for (_, r) in &new.routines {
        sc.push_str(&r.script()?);
    }
    for [name, mode, charset, collation, tz] in &new.events {
        // ALTER EVENT records the session's settings as the event's own.
        sc.push_str(&format!(
            "SET SESSION sql_mode = {};\nSET SESSION character_set_client = {charset};\n\
             SET SESSION collation_connection = {collation};\nSET SESSION time_zone = {};\n\
             ALTER EVENT {s}.{q} RENAME TO {t}.{q};\n{SESSION_RESET}",
            quote_literal(mode),
            quote_literal(tz),
            q = quote_ident(name)
        ));
    }
    for tr in &new.triggers {
        sc.push_str(&tr.script()?);
    }
    let from = format!("{s}.");
    let to = format!("{t}.");
    for v in order_views(&new.views, shadow) {
        let v = Definition {
            sql: v.sql.replace(&from, &to),
            ..v
        };
        sc.push_str(&v.script()?);
    }
    sc.push_str(&format!("DROP DATABASE {o};\nDROP DATABASE {s};\n"));
    Ok(sc)
}

/// Re-creates the target's old triggers and views after a failed swap.
fn rollback_script(db: &str, old: &Objects, now: &Objects) -> Result<Option<String>> {
    let t = quote_ident(db);
    let mut sc = format!(
        "{SESSION_SAVE}SET SESSION lock_wait_timeout = {};\nUSE {t};\n",
        lock_wait_secs()
    );
    let mut any = false;
    // A table whose triggers are not all there gets all of them back, in
    // their order (dropping the ones left first).
    let mut tables: Vec<&str> = old.triggers.iter().map(|tr| tr.table.as_str()).collect();
    tables.dedup();
    for table in tables {
        let want: Vec<&Definition> = old.triggers.iter().filter(|tr| tr.table == table).collect();
        let complete = want
            .iter()
            .all(|w| now.triggers.iter().any(|n| n.name == w.name));
        if complete {
            continue;
        }
        any = true;
        for tr in &want {
            sc.push_str(&format!(
                "DROP TRIGGER IF EXISTS {t}.{};\n",
                quote_ident(&tr.name)
            ));
        }
        for tr in want {
            sc.push_str(&tr.script()?);
        }
    }
    let missing: Vec<Definition> = old
        .views
        .iter()
        .filter(|v| !now.views.iter().any(|n| n.name == v.name))
        .cloned()
        .collect();
    for v in order_views(&missing, db) {
        any = true;
        sc.push_str(&v.script()?);
    }
    Ok(any.then_some(sc))
}
