//! The ledger database in PostgreSQL, generated server-side in one psql
//! session (`generate_series`, `setseed` so that it is the same every time):
//! accounts, transactions (numbers, UUIDs, short texts, timestamps),
//! attachments (bytea, not compressible within gzip's window) and an audit
//! log (jsonb), with primary keys, foreign keys and indexes, so that a
//! restore has the usual work of a real one.

use lfb_tests::pg::{PgServer, quote_ident};

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
SELECT setseed(0.42);
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  name text NOT NULL,
  email text NOT NULL,
  currency char(3) NOT NULL,
  balance numeric(14,2) NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE transactions (
  id bigint PRIMARY KEY,
  uuid uuid NOT NULL,
  account_id bigint NOT NULL REFERENCES accounts(id),
  amount numeric(12,2) NOT NULL,
  currency char(3) NOT NULL,
  kind text NOT NULL,
  description text NOT NULL,
  reference text,
  created_at timestamptz NOT NULL
);
CREATE TABLE attachments (
  id bigint PRIMARY KEY,
  transaction_id bigint NOT NULL REFERENCES transactions(id),
  file_name text NOT NULL,
  mime_type text NOT NULL,
  content bytea NOT NULL
);
CREATE TABLE audit_log (
  id bigint PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  detail jsonb NOT NULL
);
INSERT INTO accounts
SELECT g, md5(random()::text)::uuid,
  (ARRAY['Acme','Globex','Initech','Umbrella','Stark','Wayne','Wonka','Tyrell','Cyberdyne','Hooli'])[1+floor(random()*10)::int] || ' ' ||
  (ARRAY['Holdings','Ltd','GmbH','Inc','SARL','LLC','Partners','Group'])[1+floor(random()*8)::int] || ' ' || g,
  'billing+' || g || '@' || (ARRAY['example.com','example.org','mail.test','corp.invalid'])[1+floor(random()*4)::int],
  (ARRAY['EUR','USD','GBP','CHF'])[1+floor(random()*4)::int],
  round((random()*200000 - 50000)::numeric, 2),
  timestamptz '2019-01-01' + random() * interval '2000 days'
FROM generate_series(1, {accounts}) g;
INSERT INTO transactions
SELECT g, md5(random()::text)::uuid, 1 + floor(random() * {accounts})::bigint,
  round((random()*5000 - 1000)::numeric, 2),
  (ARRAY['EUR','USD','GBP','CHF'])[1+floor(random()*4)::int],
  (ARRAY['payment','refund','transfer','fee','payout','adjustment'])[1+floor(random()*6)::int],
  (ARRAY['Invoice','Subscription','Order','Payroll','Rent','Utilities','Consulting','Hosting','Travel','Office supplies'])[1+floor(random()*10)::int]
    || ' ' || (ARRAY['January','February','March','April','May','June','July','August','September','October','November','December'])[1+floor(random()*12)::int]
    || ' #' || floor(random()*1000000)::int
    || CASE WHEN random() < 0.3 THEN ' - ' || (ARRAY['net 30','paid by card','partial','late fee waived','see attachment','approved by finance'])[1+floor(random()*6)::int] ELSE '' END,
  CASE WHEN random() < 0.7 THEN 'REF-' || upper(substr(md5(random()::text), 1, 10)) END,
  timestamptz '2020-01-01' + random() * interval '1800 days'
FROM generate_series(1, {transactions}) g;
CREATE TEMP TABLE blobs AS
SELECT i, decode(string_agg(md5(i::text || ':' || j::text || random()::text), '' ORDER BY j), 'hex') AS b
FROM generate_series(0, 499) i, generate_series(1, 96) j GROUP BY i;
INSERT INTO attachments
SELECT g, 1 + floor(random() * {transactions})::bigint,
  'receipt_' || g || (ARRAY['.pdf','.png','.jpg'])[1+floor(random()*3)::int],
  (ARRAY['application/pdf','image/png','image/jpeg'])[1+floor(random()*3)::int],
  substr(b.b, 1 + floor(random()*512)::int)
FROM generate_series(1, {attachments}) g JOIN blobs b ON b.i = g % 500;
INSERT INTO audit_log
SELECT g, timestamptz '2020-01-01' + g * interval '37 seconds',
  (ARRAY['alice','bob','carol','dave','erin','system'])[1+floor(random()*6)::int],
  (ARRAY['login','export','update_account','approve_payment','create_invoice','delete_draft'])[1+floor(random()*6)::int],
  jsonb_build_object('ip', '10.' || floor(random()*255)::int || '.' || floor(random()*255)::int || '.' || floor(random()*255)::int,
                     'account', 1 + floor(random() * {accounts})::int, 'ok', random() < 0.97)
FROM generate_series(1, {audit_log}) g;
CREATE INDEX transactions_account_created ON transactions (account_id, created_at);
CREATE INDEX attachments_transaction ON attachments (transaction_id);
VACUUM ANALYZE;
"#
    )
}

/// Creates database `db` on `server` and fills it with the ledger at `shape`.
pub fn generate(server: &PgServer, db: &str, shape: &Shape) -> Result<(), String> {
    let out = server.try_psql("postgres", &format!("CREATE DATABASE {};", quote_ident(db)));
    if !out.success() {
        return Err(format!("CREATE DATABASE {db}: {}", out.stderr.trim()));
    }
    let out = server.try_psql(db, &ledger_sql(shape));
    if !out.success() {
        return Err(format!("generating {db}: {}", out.stderr.trim()));
    }
    Ok(())
}

/// Exact row counts of the ledger tables in `db`, `schema.table` → rows.
pub fn count_rows(server: &PgServer, db: &str) -> Result<Vec<(String, u64)>, String> {
    let sql = "SELECT 'public.accounts', count(*) FROM accounts UNION ALL \
               SELECT 'public.attachments', count(*) FROM attachments UNION ALL \
               SELECT 'public.audit_log', count(*) FROM audit_log UNION ALL \
               SELECT 'public.transactions', count(*) FROM transactions ORDER BY 1;";
    let out = server.try_psql(db, sql);
    if !out.success() {
        return Err(format!("counting rows in {db}: {}", out.stderr.trim()));
    }
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (t, n) = l
                .split_once('|')
                .ok_or_else(|| format!("unexpected psql line {l:?}"))?;
            let n = n
                .parse()
                .map_err(|_| format!("unexpected psql line {l:?}"))?;
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
        assert!(sql.contains("generate_series(1, 1250) g"));
        assert!(sql.contains("setseed"));
    }
}
