//! The example scripts and their schedules.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod examples;
mod examples_schedule;
