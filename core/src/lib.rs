//! lfb-core: everything two lfb tools share.
//!
//! The record type and its NDJSON reader/writer, the store and its naming,
//! the atomic writer, hashing and compression streams, the database engines,
//! the journal, the lock, and the error type with its exit codes.

pub mod archive;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod crypt;
pub mod demo;
pub mod digest;
pub mod dump;
pub mod engine;
pub mod error;
pub mod format;
pub mod fsutil;
pub mod gzip;
pub mod journal;
pub mod load;
pub mod lock;
pub mod manpage;
pub mod naming;
pub mod ndjson;
pub mod progress;
pub mod publish;
pub mod record;
pub mod run;
#[cfg(feature = "s3")]
pub mod s3;
pub mod store;
pub mod sys;
pub mod units;
pub mod verify;
pub mod watchdog;

pub use error::{Error, Result};
// Re-exported so tools use the same chrono as the records they read, without
// each naming it as a dependency of their own.
pub use chrono;
pub use record::{Kind, Record};
pub use store::Store;
