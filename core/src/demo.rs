//! A small built-in ledger database in SQLite, so a new user can try the
//! tools before pointing them at their own database (`lfb-dump --demo`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;

/// Where the demo database lives: `$XDG_DATA_HOME/lfb/demo` (or the
/// `~/.local/share` equivalent), else the temporary folder.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("lfb/demo/ledgerflow.sqlite3")
}

/// Creates the demo database at `path` unless it exists. Returns the path.
pub fn ensure(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir(dir).map_err(Error::at_start)?;
    }
    let tmp = fsutil::partial_path(path);
    let _ = std::fs::remove_file(&tmp);
    let fail = |e: rusqlite::Error| {
        Error::unavailable(format!(
            "cannot create demo database '{}': {e}",
            path.display()
        ))
    };
    let conn = rusqlite::Connection::open(&tmp).map_err(fail)?;
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE;
         BEGIN;
         CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
                                kind TEXT NOT NULL CHECK (kind IN ('asset','liability','income','expense')),
                                opened_at TEXT NOT NULL);
         CREATE TABLE transactions (id INTEGER PRIMARY KEY AUTOINCREMENT,
                                    account_id INTEGER NOT NULL REFERENCES accounts(id),
                                    amount REAL NOT NULL, memo TEXT, booked_at TEXT NOT NULL, receipt BLOB);
         CREATE INDEX transactions_account ON transactions(account_id, booked_at);
         CREATE VIEW balances AS SELECT a.name, round(sum(t.amount), 2) AS balance
             FROM accounts a JOIN transactions t ON t.account_id = a.id GROUP BY a.id;
         INSERT INTO accounts (name, kind, opened_at) VALUES
             ('Checking', 'asset', '2024-01-02'), ('Savings', 'asset', '2024-01-02'),
             ('Credit card', 'liability', '2024-02-10'), ('Salary', 'income', '2024-01-02'),
             ('Groceries', 'expense', '2024-01-02'), ('Rent', 'expense', '2024-01-02');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO transactions (account_id, amount, memo, booked_at, receipt)
             SELECT 1 + (i * 7) % 6, round(((i * 7919) % 20000) / 100.0 - 100.0, 2),
                    'entry ' || i || CASE WHEN i % 97 = 0 THEN ' – “café”, l''été' ELSE '' END,
                    date('2024-01-01', '+' || (i % 700) || ' days'),
                    CASE WHEN i % 50 = 0 THEN randomblob(64) END
             FROM n;
         COMMIT;",
    )
    .map_err(fail)?;
    drop(conn);
    std::fs::rename(&tmp, path).map_err(|e| Error::io_path("create", path, e).at_start())?;
    Ok(path.to_path_buf())
}
