//! Database engines: how each kind of database is dumped, copied and counted.

pub mod sqlite;
