//! Database engines: how lfb talks to PostgreSQL, SQLite and MySQL/MariaDB.

pub mod pgscan;
pub mod pgscript;
pub mod postgres;
pub mod sqlite;
pub mod url;
