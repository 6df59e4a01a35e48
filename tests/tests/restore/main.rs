//! lfb-restore: identity, atomic PostgreSQL restores, fidelity (PostgreSQL, SQLite), archives and files, globals, progress.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod restore;
mod restore_archive;
mod restore_files;
mod restore_identity;
mod restore_not_a_dump;
mod restore_pg_atomic;
mod restore_pg_fidelity;
mod restore_pg_globals;
mod restore_progress;
mod restore_target_lock;
mod sqlite_fidelity;
