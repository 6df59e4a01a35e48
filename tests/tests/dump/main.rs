//! lfb-dump: PostgreSQL and SQLite dumps, file modes, the --exec prefix, the store lock.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod dump_postgres;
mod dump_sqlite;
mod exec_prefix;
mod lock;
mod output_in_store;
mod size_and_permissions;
