//! MariaDB/MySQL: dumps, restores, the example scripts, a Django app's round trip.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod mariadb_django;
mod mariadb_dump;
mod mariadb_examples;
mod mariadb_restore;
mod mariadb_undo;
