//! The ledger database in SQLite: the same tables, row counts and kinds of
//! values as the PostgreSQL one (text, numbers, UUIDs, timestamps, JSON and
//! blobs), written with rusqlite (bundled SQLite) in one transaction.

use std::path::Path;

use rusqlite::{Connection, params};

use super::{Rng, Shape, WORDS};

const SCHEMA: &str = "
PRAGMA journal_mode = DELETE;
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  currency TEXT NOT NULL,
  balance NUMERIC NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE transactions (
  id INTEGER PRIMARY KEY,
  uuid TEXT NOT NULL,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  amount NUMERIC NOT NULL,
  currency TEXT NOT NULL,
  kind TEXT NOT NULL,
  description TEXT NOT NULL,
  reference TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE attachments (
  id INTEGER PRIMARY KEY,
  transaction_id INTEGER NOT NULL REFERENCES transactions(id),
  file_name TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  content BLOB NOT NULL
);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX transactions_account_created ON transactions (account_id, created_at);
CREATE INDEX attachments_transaction ON attachments (transaction_id);
";

const NAMES: &[&str] = &[
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell",
];
const SUFFIXES: &[&str] = &["Holdings", "Ltd", "GmbH", "Inc", "LLC", "Group"];
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF"];
const KINDS: &[&str] = &["payment", "refund", "transfer", "fee", "payout"];
const MONTHS: &[&str] = &["January", "February", "March", "April", "May", "June"];

fn timestamp(rng: &mut Rng, base_year: u64) -> String {
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}+00",
        base_year + rng.below(5),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

fn money(rng: &mut Rng, lo: f64, span: f64) -> f64 {
    ((lo + rng.unit() * span) * 100.0).round() / 100.0
}

/// Writes the ledger at `shape` into a new SQLite file at `path`.
pub fn generate(path: &Path, shape: &Shape) -> Result<(), String> {
    let err = |e: rusqlite::Error| format!("{}: {e}", path.display());
    let mut conn = Connection::open(path).map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    let mut rng = Rng::new(42);
    // A pool of random blobs, reused every 500 rows: far beyond gzip's window.
    let blobs: Vec<Vec<u8>> = (0..500)
        .map(|_| {
            let mut b = vec![0u8; 1536];
            rng.fill(&mut b);
            b
        })
        .collect();
    let tx = conn.transaction().map_err(err)?;
    {
        let mut st = tx
            .prepare("INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .map_err(err)?;
        for id in 1..=shape.accounts {
            let name = format!("{} {} {id}", rng.pick(NAMES), rng.pick(SUFFIXES));
            st.execute(params![
                id as i64,
                rng.uuid(),
                name,
                format!("billing+{id}@example.com"),
                rng.pick(CURRENCIES),
                money(&mut rng, -50_000.0, 200_000.0),
                timestamp(&mut rng, 2019),
            ])
            .map_err(err)?;
        }
        let mut st = tx
            .prepare("INSERT INTO transactions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
            .map_err(err)?;
        for id in 1..=shape.transactions {
            let mut description = format!(
                "{} {} #{}",
                rng.pick(WORDS),
                rng.pick(MONTHS),
                rng.below(1_000_000)
            );
            if rng.unit() < 0.3 {
                description.push_str(" - ");
                description.push_str(rng.pick(WORDS));
            }
            let reference = (rng.unit() < 0.7).then(|| format!("REF-{:010X}", rng.below(1 << 40)));
            st.execute(params![
                id as i64,
                rng.uuid(),
                (1 + rng.below(shape.accounts)) as i64,
                money(&mut rng, -1000.0, 5000.0),
                rng.pick(CURRENCIES),
                rng.pick(KINDS),
                description,
                reference,
                timestamp(&mut rng, 2020),
            ])
            .map_err(err)?;
        }
        let mut st = tx
            .prepare("INSERT INTO attachments VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(err)?;
        for id in 1..=shape.attachments {
            let blob = &blobs[(id % 500) as usize];
            let start = rng.below(512) as usize;
            st.execute(params![
                id as i64,
                (1 + rng.below(shape.transactions)) as i64,
                format!("receipt_{id}.pdf"),
                "application/pdf",
                &blob[start..],
            ])
            .map_err(err)?;
        }
        let mut st = tx
            .prepare("INSERT INTO audit_log VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(err)?;
        for id in 1..=shape.audit_log {
            let detail = format!(
                "{{\"ip\": \"10.{}.{}.{}\", \"account\": {}, \"ok\": {}}}",
                rng.below(255),
                rng.below(255),
                rng.below(255),
                1 + rng.below(shape.accounts),
                rng.unit() < 0.97
            );
            st.execute(params![
                id as i64,
                timestamp(&mut rng, 2020),
                rng.pick(&["alice", "bob", "carol", "system"]),
                rng.pick(&["login", "export", "approve_payment", "create_invoice"]),
                detail,
            ])
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)?;
    conn.execute_batch("ANALYZE;").map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_ledger_has_the_promised_rows() {
        let dir = std::env::temp_dir().join(format!("lfb-bench-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("ledger.sqlite3");
        let _ = std::fs::remove_file(&db);
        let shape = Shape::at(0.0001);
        generate(&db, &shape).unwrap();
        let conn = Connection::open(&db).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as u64, shape.transactions);
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
