//! The tools chained as users chain them: failures through pipelines, confinement, monitoring, the simulated week of cron jobs.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod archive_consume_race;
mod confinement;
mod done_when;
mod monitoring;
mod pipeline_failures;
mod pipelines;
