//! Database engines: how lfb talks to PostgreSQL, SQLite and MySQL/MariaDB.

pub mod mysql;
pub mod mysqlscan;
pub mod pgscan;
pub mod pgscript;
pub mod postgres;
pub mod sqlite;
pub mod url;
