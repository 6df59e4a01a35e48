//! The contract: the record schema, the golden records of every tool, the config file, and the test support itself.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod config;
mod golden;
mod schema;
mod support;
