//! Placeholder until the SQLite engine lands (replaced by its branch).
use crate::error::{Error, Result};
pub type TableCounts = std::collections::BTreeMap<String, u64>;
pub fn dump_sql(_path: &std::path::Path, _out: &mut dyn std::io::Write) -> Result<TableCounts> {
    Err(Error::failed("SQLite dumps are not available yet"))
}
pub fn backup_native(_path: &std::path::Path, _dest: &std::path::Path) -> Result<TableCounts> {
    Err(Error::failed("SQLite dumps are not available yet"))
}
pub fn library_version() -> String {
    format!("SQLite {}", rusqlite::version())
}
pub fn table_counts(_path: &std::path::Path) -> Result<TableCounts> {
    Err(Error::failed("SQLite dumps are not available yet"))
}
