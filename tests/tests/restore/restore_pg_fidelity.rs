//! PostgreSQL round trips: a clean restore makes the target hold exactly
//! what the dump holds (compared with `pg_dump` of source and target), over
//! an empty database, over another database and over the source itself, in
//! both formats; row counts mean the rows stored in a table itself.

use std::path::Path;
use std::process::Command;

use lfb_tests::pg::PgServer;
use lfb_tests::{bin, run, run_with_input, store};
use serde_json::Value;

fn lfb(tool: &str, store: &Path) -> Command {
    let mut c = Command::new(bin(tool));
    c.arg("--store")
        .arg(store)
        .env_remove("DATABASE_URL")
        .env_remove("LEDGER_ENV")
        .env_remove("LFB_ENV");
    c
}

fn dump(store: &Path, args: &[&str], db: &str) -> Value {
    let out = run(lfb("lfb-dump", store).args(args).arg(db));
    out.assert_ok();
    out.records().remove(0)
}

#[track_caller]
fn restore(pg: &PgServer, st: &Path, rec: &Value, target: &str) -> Value {
    let out = run_with_input(
        lfb("lfb-restore", st)
            .args(["--yes", "--no-safety-backup"])
            .args(["--from", rec["id"].as_str().unwrap()])
            .arg(pg.url(target)),
        rec.to_string(),
    );
    out.assert_ok();
    out.records().remove(0)
}

#[track_caller]
fn restore_test(st: &Path, rec: &Value) {
    let out = run_with_input(
        lfb("lfb-verify", st).args(["--restore-test", "--min-size", "0"]),
        rec.to_string(),
    );
    out.assert_ok();
    assert_eq!(out.records()[0]["verify"]["ok"], true, "{}", out.stdout);
}

/// Lines that differ between two dumps, for a readable failure.
fn diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let only_a: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).take(20).collect();
    let only_b: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).take(20).collect();
    format!("only in source: {only_a:#?}\nonly in target: {only_b:#?}")
}

#[track_caller]
fn assert_same_dump(pg: &PgServer, source: &str, target: &str, what: &str) {
    let t = pg.dump(target);
    assert!(t == source, "{what}:\n{}", diff(source, &t));
}

/// Issue 14.1: inheritance. Counts are rows stored in the table itself,
/// equal in plain and custom records, and restore tests and restores agree.
#[test]
fn inheritance_counts_mean_rows_of_the_table_itself() {
    let Some(pg) = PgServer::start("inherit_counts") else {
        return;
    };
    pg.create_db("src");
    pg.psql(
        "src",
        "create table parent(a int); create table child(b int) inherits (parent);
         insert into parent values (1); insert into child values (2,2),(3,3);",
    );
    let st = store();
    let plain = dump(st.path(), &["-F", "sql"], &pg.url("src"));
    let custom = dump(st.path(), &["-F", "custom"], &pg.url("src"));
    for rec in [&plain, &custom] {
        assert_eq!(rec["source"]["tables"]["public.parent"], 1, "{rec}");
        assert_eq!(rec["source"]["tables"]["public.child"], 2, "{rec}");
    }
    assert_eq!(plain["source"]["tables"], custom["source"]["tables"]);
    let source = pg.dump("src");
    for (i, rec) in [&plain, &custom].into_iter().enumerate() {
        restore_test(st.path(), rec);
        let target = format!("t{i}");
        let done = restore(&pg, st.path(), rec, &target);
        assert_eq!(done["restore"]["ok"], true);
        assert_eq!(done["restore"]["counts"]["public.parent"], 1);
        assert_same_dump(&pg, &source, &target, "inheritance");
    }
}

/// Objects that live outside schemas, one set per database.
fn seed_outside_schemas(pg: &PgServer, db: &str, n: u32) {
    let sql = if n == 1 {
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g;
         SELECT lo_from_bytea(424242, 'first large object');
         SELECT lo_from_bytea(424243, '');
         COMMENT ON LARGE OBJECT 424242 IS 'a commented large object';
         ALTER LARGE OBJECT 424242 OWNER TO app;
         GRANT SELECT ON LARGE OBJECT 424242 TO reader;
         CREATE PUBLICATION pub_t FOR TABLE t;
         CREATE FOREIGN DATA WRAPPER fdw1;
         CREATE SERVER srv1 FOREIGN DATA WRAPPER fdw1 OPTIONS (host 'x');
         CREATE USER MAPPING FOR app SERVER srv1;
         CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
         CREATE EVENT TRIGGER et1 ON ddl_command_end EXECUTE FUNCTION public.on_ddl();
         CREATE CAST (bytea AS text) WITHOUT FUNCTION;
         CREATE ACCESS METHOD am1 TYPE TABLE HANDLER heap_tableam_handler;
         ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO reader;
         ALTER DEFAULT PRIVILEGES FOR ROLE app REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO reader;"
    } else {
        "CREATE TABLE other (x int);
         SELECT lo_from_bytea(777, 'the other database''s large object');
         SELECT lo_from_bytea(424242, 'same oid, other contents');
         COMMENT ON LARGE OBJECT 777 IS 'other comment';
         CREATE PUBLICATION pub_t FOR ALL TABLES;
         CREATE PUBLICATION pub_other;
         CREATE FOREIGN DATA WRAPPER fdw2;
         CREATE SERVER srv2 FOREIGN DATA WRAPPER fdw2;
         CREATE FUNCTION public.block_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
         CREATE EVENT TRIGGER et2 ON ddl_command_start EXECUTE FUNCTION public.block_ddl();
         CREATE CAST (text AS bytea) WITHOUT FUNCTION;
         CREATE EXTENSION pg_trgm SCHEMA pg_catalog;
         CREATE ACCESS METHOD am2 TYPE TABLE HANDLER heap_tableam_handler;
         ALTER DEFAULT PRIVILEGES FOR ROLE reader GRANT USAGE ON SEQUENCES TO app;
         ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO app;
         GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text) TO app;
         REVOKE EXECUTE ON FUNCTION pg_catalog.version() FROM PUBLIC;
         GRANT SELECT ON pg_catalog.pg_authid TO reader;"
    };
    pg.create_db(db);
    pg.psql(db, sql);
}

/// Issues 14.2 and 14.3: restored over an empty database, over another
/// database with other objects outside schemas, and over itself, the
/// target's pg_dump equals the source's, in both formats.
#[test]
fn clean_restore_leaves_exactly_the_dump_also_over_itself() {
    let Some(pg) = PgServer::start("clean_restore") else {
        return;
    };
    pg.psql(
        "postgres",
        "CREATE ROLE app LOGIN; CREATE ROLE reader LOGIN;",
    );
    seed_outside_schemas(&pg, "src", 1);
    let st = store();
    let source = pg.dump("src");
    assert!(
        source.contains("lo_open('424242'"),
        "the dump holds the large object"
    );
    for format in ["sql", "custom"] {
        let rec = dump(st.path(), &["-F", format], &pg.url("src"));
        // (a) an empty database
        let empty = format!("empty_{format}");
        pg.create_db(&empty);
        restore(&pg, st.path(), &rec, &empty);
        assert_same_dump(
            &pg,
            &source,
            &empty,
            &format!("{format} over an empty database"),
        );
        // (b) another database with other such objects
        let other = format!("other_{format}");
        seed_outside_schemas(&pg, &other, 2);
        restore(&pg, st.path(), &rec, &other);
        assert_same_dump(
            &pg,
            &source,
            &other,
            &format!("{format} over another database"),
        );
        // (c) the database it came from
        restore(&pg, st.path(), &rec, "src");
        assert_same_dump(&pg, &source, "src", &format!("{format} over itself"));
        restore_test(st.path(), &rec);
    }
}

/// Every kind of object of issue 14.5, owned by several roles.
const EVERYTHING: &str = r#"
CREATE SCHEMA ext;
CREATE EXTENSION hstore SCHEMA ext;
CREATE EXTENSION pg_trgm SCHEMA ext;
CREATE EXTENSION citext SCHEMA ext;
CREATE EXTENSION "uuid-ossp" SCHEMA ext;
CREATE EXTENSION btree_gist SCHEMA ext;
CREATE SCHEMA app AUTHORIZATION owner1;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.posint AS int CHECK (VALUE > 0);
CREATE TYPE app.floatrange AS RANGE (subtype = float8);
CREATE TABLE app.measure (city_id int NOT NULL, logdate date NOT NULL, peaktemp int)
  PARTITION BY RANGE (logdate);
CREATE TABLE app.measure_2025 PARTITION OF app.measure
  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY LIST (city_id);
CREATE TABLE app.measure_2025_c1 PARTITION OF app.measure_2025 FOR VALUES IN (1);
CREATE TABLE app.measure_2025_other PARTITION OF app.measure_2025 DEFAULT;
CREATE TABLE app.measure_other PARTITION OF app.measure DEFAULT;
INSERT INTO app.measure SELECT g % 3, date '2024-12-25' + g, g FROM generate_series(1, 400) g;
CREATE TABLE app.people (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name ext.citext NOT NULL UNIQUE,
  mood app.mood,
  age app.posint,
  tags text[],
  attrs ext.hstore,
  uid uuid DEFAULT ext.uuid_generate_v4(),
  score app.floatrange,
  shout text GENERATED ALWAYS AS (upper(name::text)) STORED
);
INSERT INTO app.people (name, mood, age, tags, attrs, score) VALUES
  ('Ann', 'happy', 30, ARRAY['a', 'b'], 'x=>1, y=>2', '[1.5,2.5)'),
  ('Bob', 'sad', NULL, '{}', NULL, 'empty'),
  ('Çé "quoted"', 'ok', 41, ARRAY['ü', '"q"', NULL], 'k=>NULL', '(,3]');
CREATE INDEX people_name_trgm ON app.people USING gin ((name::text) ext.gin_trgm_ops);
CREATE TABLE app.booking (room int, during tsrange,
  EXCLUDE USING gist (room WITH =, during WITH &&));
INSERT INTO app.booking VALUES (1, '[2026-01-01 10:00, 2026-01-01 11:00)'),
  (1, '[2026-01-01 11:00, 2026-01-01 12:00)');
CREATE TABLE app.parent (a int);
CREATE TABLE app.child (b int) INHERITS (app.parent);
INSERT INTO app.parent VALUES (1);
INSERT INTO app.child VALUES (2, 2), (3, 3);
CREATE TABLE app.secrets (owner name, v text);
ALTER TABLE app.secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON app.secrets USING (owner = current_user);
INSERT INTO app.secrets VALUES ('postgres', 's1'), ('owner1', 's2');
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.v := upper(NEW.v); RETURN NEW; END$$;
CREATE TRIGGER secrets_touch BEFORE INSERT ON app.secrets FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE PROCEDURE app.batch() LANGUAGE plpgsql AS $$
BEGIN
COMMIT;
END
$$;
CREATE MATERIALIZED VIEW app.mood_counts AS SELECT mood, count(*) FROM app.people GROUP BY mood;
CREATE VIEW app.adults AS SELECT * FROM app.people WHERE age >= 18;
CREATE SEQUENCE app.invoice_no START 1000 INCREMENT 7;
SELECT nextval('app.invoice_no') FROM generate_series(1, 5);
CREATE TABLE app."select" ("from" int, "we""ird" text, "ünï" text);
INSERT INTO app."select" VALUES (1, 'a''b', 'ü'), (2, E'tab\there', E'new\nline');
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."T x" (id int);
INSERT INTO "Odd Schema"."T x" VALUES (1);
ALTER TABLE app.people OWNER TO owner1;
ALTER TABLE app.booking OWNER TO owner2;
ALTER TYPE app.mood OWNER TO owner2;
ALTER MATERIALIZED VIEW app.mood_counts OWNER TO owner1;
ALTER SCHEMA "Odd Schema" OWNER TO owner2;
GRANT SELECT ON app.people TO owner2;
GRANT USAGE ON SCHEMA app TO owner2;
COMMENT ON TABLE app.people IS 'people, ''quoted''';
COMMENT ON COLUMN app.people.name IS 'case-insensitive';
COMMENT ON EXTENSION hstore IS 'key/value';
SELECT lo_from_bytea(5001, 'large object one');
COMMENT ON LARGE OBJECT 5001 IS 'the first';
ALTER LARGE OBJECT 5001 OWNER TO owner1;
SELECT lo_from_bytea(5002, decode(repeat('00ff', 5000), 'hex'));
ALTER LARGE OBJECT 5002 OWNER TO owner2;
CREATE PUBLICATION pub_people FOR TABLE app.people, app.booking;
"#;

fn round_trip_everywhere(pg: &PgServer, src: &str, what: &str) {
    let st = store();
    let source = pg.dump(src);
    for format in ["sql", "custom"] {
        let rec = dump(st.path(), &["-F", format], &pg.url(src));
        restore_test(st.path(), &rec);
        let empty = format!("{src}_empty_{format}");
        pg.create_db(&empty);
        restore(pg, st.path(), &rec, &empty);
        assert_same_dump(
            pg,
            &source,
            &empty,
            &format!("{what}, {format}, into an empty database"),
        );
        let other = format!("{src}_other_{format}");
        seed_outside_schemas(pg, &other, 2);
        pg.psql(
            &other,
            "CREATE SCHEMA app; CREATE TABLE app.people (x int);",
        );
        restore(pg, st.path(), &rec, &other);
        assert_same_dump(
            pg,
            &source,
            &other,
            &format!("{what}, {format}, over another database"),
        );
        restore(pg, st.path(), &rec, src);
        assert_same_dump(pg, &source, src, &format!("{what}, {format}, over itself"));
    }
}

/// Issue 14.5: every kind of object, both formats, into an empty database,
/// over another one and over itself.
#[test]
fn every_kind_of_object_round_trips() {
    let Some(pg) = PgServer::start("every_object") else {
        return;
    };
    pg.psql(
        "postgres",
        "CREATE ROLE owner1; CREATE ROLE owner2; CREATE ROLE app LOGIN; CREATE ROLE reader;",
    );
    pg.create_db("everything");
    pg.psql("everything", EVERYTHING);
    let rec = dump(store().path(), &["-F", "sql"], &pg.url("everything"));
    let t = &rec["source"]["tables"];
    assert_eq!(t["app.parent"], 1, "{t}");
    assert_eq!(t["app.measure_2025_c1"], 122, "{t}");
    assert_eq!(t["app.\"select\""], 2, "{t}");
    round_trip_everywhere(&pg, "everything", "every kind of object");
}

/// Data nobody on the project designed: pgbench's tables.
#[test]
fn pgbench_round_trips() {
    let Some(pg) = PgServer::start("pgbench_rt") else {
        return;
    };
    pg.psql("postgres", "CREATE ROLE app LOGIN; CREATE ROLE reader;");
    pg.create_db("bench");
    let out = run(pg.command("pgbench").args(["-i", "-s", "2", "-q", "bench"]));
    out.assert_ok();
    pg.psql("bench", "SELECT 1"); // the server answers after the load
    round_trip_everywhere(&pg, "bench", "pgbench -s 2");
}

/// The usual web application setup: a role that owns its database but is
/// no superuser puts its database back as it was, large objects and
/// publication included.
#[test]
fn a_database_owner_restores_over_its_own_database() {
    let Some(pg) = PgServer::start("owner_restore") else {
        return;
    };
    pg.create_role("app", "app-Pa55");
    pg.create_db_owned_by("shop", "app");
    let as_app = |sql: &str| {
        let out = run_with_input(
            pg.command("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
                .arg(pg.url_as("app", "app-Pa55", "shop")),
            sql,
        );
        out.assert_ok();
    };
    as_app(
        "CREATE TABLE items (id int PRIMARY KEY, v text);
         INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 30) g;
         SELECT lo_from_bytea(31337, 'owned by app');
         CREATE PUBLICATION shop_pub FOR TABLE items;",
    );
    let source = pg.dump("shop");
    let st = store();
    let url = pg.url_as("app", "app-Pa55", "shop");
    for format in ["sql", "custom"] {
        let rec = dump(st.path(), &["-F", format], &url);
        as_app("INSERT INTO items VALUES (999, 'late'); SELECT lo_from_bytea(4040, 'late');");
        let out = run_with_input(
            lfb("lfb-restore", st.path())
                .args(["--yes", "--no-safety-backup"])
                .args(["--from", rec["id"].as_str().unwrap()])
                .arg(&url),
            rec.to_string(),
        );
        out.assert_ok();
        assert_same_dump(
            &pg,
            &source,
            "shop",
            &format!("{format}, as the owner, over itself"),
        );
    }
}
