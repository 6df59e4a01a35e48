//! The ledger database in MariaDB, generated server-side in one client
//! session from the Sequence engine's `seq_1_to_N` tables: the same four
//! tables and row counts as the PostgreSQL ledger (numbers, UUIDs, short
//! texts, timestamps, incompressible blobs, JSON), with primary keys,
//! foreign keys and indexes.

use lfb_tests::mariadb::{MariaDb, quote_ident};

use super::Shape;

/// The SQL that creates and fills the ledger tables.
pub fn ledger_sql(shape: &Shape) -> String {
    let Shape {
        accounts,
        transactions,
        attachments,
        audit_log,
    } = *shape;
    format!(
        r#"
SET SESSION foreign_key_checks = 0;
CREATE TABLE accounts (
  id BIGINT PRIMARY KEY,
  uuid CHAR(36) NOT NULL UNIQUE,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(100) NOT NULL,
  currency CHAR(3) NOT NULL,
  balance DECIMAL(14,2) NOT NULL,
  created_at DATETIME NOT NULL
) ENGINE=InnoDB;
CREATE TABLE transactions (
  id BIGINT PRIMARY KEY,
  uuid CHAR(36) NOT NULL,
  account_id BIGINT NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  currency CHAR(3) NOT NULL,
  kind VARCHAR(20) NOT NULL,
  description VARCHAR(200) NOT NULL,
  reference VARCHAR(20),
  created_at DATETIME NOT NULL,
  CONSTRAINT transactions_account FOREIGN KEY (account_id) REFERENCES accounts(id)
) ENGINE=InnoDB;
CREATE TABLE attachments (
  id BIGINT PRIMARY KEY,
  transaction_id BIGINT NOT NULL,
  file_name VARCHAR(100) NOT NULL,
  mime_type VARCHAR(50) NOT NULL,
  content MEDIUMBLOB NOT NULL,
  CONSTRAINT attachments_transaction FOREIGN KEY (transaction_id) REFERENCES transactions(id)
) ENGINE=InnoDB;
CREATE TABLE audit_log (
  id BIGINT PRIMARY KEY,
  at DATETIME NOT NULL,
  actor VARCHAR(20) NOT NULL,
  action VARCHAR(40) NOT NULL,
  detail JSON NOT NULL
) ENGINE=InnoDB;
INSERT INTO accounts
SELECT seq, CONCAT_WS('-', SUBSTR(MD5(seq), 1, 8), SUBSTR(MD5(seq), 9, 4), SUBSTR(MD5(seq), 13, 4), SUBSTR(MD5(seq), 17, 4), SUBSTR(MD5(seq), 21, 12)),
  CONCAT(ELT(1 + FLOOR(RAND(42) * 10), 'Acme','Globex','Initech','Umbrella','Stark','Wayne','Wonka','Tyrell','Cyberdyne','Hooli'), ' ',
         ELT(1 + FLOOR(RAND() * 8), 'Holdings','Ltd','GmbH','Inc','SARL','LLC','Partners','Group'), ' ', seq),
  CONCAT('billing+', seq, '@', ELT(1 + FLOOR(RAND() * 4), 'example.com','example.org','mail.test','corp.invalid')),
  ELT(1 + FLOOR(RAND() * 4), 'EUR','USD','GBP','CHF'),
  ROUND(RAND() * 200000 - 50000, 2),
  TIMESTAMP'2019-01-01 00:00:00' + INTERVAL FLOOR(RAND() * 2000 * 86400) SECOND
FROM seq_1_to_{accounts};
INSERT INTO transactions
SELECT seq, CONCAT_WS('-', SUBSTR(MD5(seq * 7), 1, 8), SUBSTR(MD5(seq * 7), 9, 4), SUBSTR(MD5(seq * 7), 13, 4), SUBSTR(MD5(seq * 7), 17, 4), SUBSTR(MD5(seq * 7), 21, 12)),
  1 + FLOOR(RAND(7) * {accounts}),
  ROUND(RAND() * 5000 - 1000, 2),
  ELT(1 + FLOOR(RAND() * 4), 'EUR','USD','GBP','CHF'),
  ELT(1 + FLOOR(RAND() * 6), 'payment','refund','transfer','fee','payout','adjustment'),
  CONCAT(ELT(1 + FLOOR(RAND() * 10), 'Invoice','Subscription','Order','Payroll','Rent','Utilities','Consulting','Hosting','Travel','Office supplies'), ' ',
         ELT(1 + FLOOR(RAND() * 12), 'January','February','March','April','May','June','July','August','September','October','November','December'),
         ' #', FLOOR(RAND() * 1000000),
         IF(RAND() < 0.3, CONCAT(' - ', ELT(1 + FLOOR(RAND() * 6), 'net 30','paid by card','partial','late fee waived','see attachment','approved by finance')), '')),
  IF(RAND() < 0.7, CONCAT('REF-', UPPER(SUBSTR(MD5(RAND()), 1, 10))), NULL),
  TIMESTAMP'2020-01-01 00:00:00' + INTERVAL FLOOR(RAND() * 1800 * 86400) SECOND
FROM seq_1_to_{transactions};
INSERT INTO attachments
SELECT seq, 1 + FLOOR(RAND(3) * {transactions}),
  CONCAT('receipt_', seq, ELT(1 + FLOOR(RAND() * 3), '.pdf','.png','.jpg')),
  ELT(1 + FLOOR(RAND() * 3), 'application/pdf','image/png','image/jpeg'),
  CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1 + FLOOR(RAND() * 1000)))
FROM seq_1_to_{attachments};
INSERT INTO audit_log
SELECT seq, TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq * 37 SECOND,
  ELT(1 + FLOOR(RAND(5) * 6), 'alice','bob','carol','dave','erin','system'),
  ELT(1 + FLOOR(RAND() * 6), 'login','export','update_account','approve_payment','create_invoice','delete_draft'),
  JSON_OBJECT('ip', CONCAT('10.', FLOOR(RAND() * 255), '.', FLOOR(RAND() * 255), '.', FLOOR(RAND() * 255)),
              'account', 1 + FLOOR(RAND() * {accounts}), 'ok', RAND() < 0.97)
FROM seq_1_to_{audit_log};
CREATE INDEX transactions_account_created ON transactions (account_id, created_at);
ANALYZE TABLE accounts, transactions, attachments, audit_log;
"#
    )
}

/// Creates database `db` on `server` and fills it with the ledger at `shape`.
pub fn generate(server: &MariaDb, db: &str, shape: &Shape) -> Result<(), String> {
    let out = server.try_sql(None, &format!("CREATE DATABASE {};", quote_ident(db)));
    if !out.success() {
        return Err(format!("CREATE DATABASE {db}: {}", out.stderr.trim()));
    }
    let out = server.try_sql(Some(db), &ledger_sql(shape));
    if !out.success() {
        return Err(format!("generating {db}: {}", out.stderr.trim()));
    }
    Ok(())
}

/// Exact row counts of the ledger tables in `db`, `table` → rows.
pub fn count_rows(server: &MariaDb, db: &str) -> Result<Vec<(String, u64)>, String> {
    let sql = "SELECT 'accounts', COUNT(*) FROM accounts UNION ALL \
               SELECT 'attachments', COUNT(*) FROM attachments UNION ALL \
               SELECT 'audit_log', COUNT(*) FROM audit_log UNION ALL \
               SELECT 'transactions', COUNT(*) FROM transactions ORDER BY 1;";
    let out = server.try_sql(Some(db), sql);
    if !out.success() {
        return Err(format!("counting rows in {db}: {}", out.stderr.trim()));
    }
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (t, n) = l
                .split_once('\t')
                .ok_or_else(|| format!("unexpected mariadb line {l:?}"))?;
            let n = n
                .parse()
                .map_err(|_| format!("unexpected mariadb line {l:?}"))?;
            Ok((t.to_string(), n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_carries_the_row_counts() {
        let sql = ledger_sql(&Shape::at(0.001));
        assert!(sql.contains("FROM seq_1_to_1250;"));
    }
}
