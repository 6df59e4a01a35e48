//! lfb-core: everything two lfb tools share, in layers. Each layer uses
//! the ones listed before it; the exceptions are named below.
//!
//! 1. **Plumbing** — streams and the operating system: [`error`] (one error
//!    type, one exit-code policy), [`gzip`] (parallel members, parallel
//!    decoding), [`digest`], [`fsutil`], [`par`], [`sys`], [`watchdog`], [`cleanup`],
//!    [`progress`], [`units`], [`manpage`].
//! 2. **The contract** — what the tools agree on and users' scripts read:
//!    [`record`] (the `lfb/1` record and its sections), [`format`] (the
//!    typed artifact format), [`naming`] (file names that sort and parse
//!    back), [`store`] (folders, inventory, confinement), [`ndjson`] (how
//!    records travel), [`config`] (the optional config file; it parses
//!    database URLs with `engine::url`).
//! 3. **Engines** — [`engine`]: PostgreSQL, SQLite and MariaDB/MySQL behind
//!    one `Engine`/`Dumper` trait; adding an engine is adding a module there.
//!    Engines feed dumps to clients through [`load`] and report through
//!    `cli::Ui`.
//! 4. **The artifact lifecycle** — how an artifact is born, checked, kept
//!    and read back: [`publish`] (partial name, lock wait, free name,
//!    sidecar-then-rename), [`run`] (one run's context and failure records),
//!    [`lock`], [`journal`], [`verify`] (the check vocabulary, content and
//!    completeness, the one-read scan, restore tests), [`archive`] (the
//!    `.tar.gz` format), [`load`], [`dump`] (the work of `lfb-dump`, also
//!    restore's safety backup), [`crypt`] (age), and a store in a bucket
//!    (`remote`, `s3`; feature `s3`).
//! 5. **The tools' common front** — [`cli`] (the options every tool shares,
//!    the UI, `main`) and [`demo`].
//!
//! Each tool's own logic lives in its crate (`verify/`, `prune/`, ...);
//! README.md's "Architecture" section says where each kind of change goes.

// 1. Plumbing.
pub mod cleanup;
pub mod digest;
pub mod error;
pub mod fsutil;
pub mod gzip;
pub mod manpage;
pub mod par;
pub mod progress;
pub mod sys;
pub mod units;
pub mod watchdog;

// 2. The contract.
pub mod config;
pub mod format;
pub mod naming;
pub mod ndjson;
pub mod record;
pub mod store;

// 3. Engines.
pub mod engine;

// 4. The artifact lifecycle.
pub mod archive;
pub mod crypt;
pub mod dump;
pub mod journal;
pub mod load;
pub mod lock;
pub mod publish;
#[cfg(feature = "s3")]
pub mod remote;
pub mod run;
#[cfg(feature = "s3")]
pub mod s3;
pub mod verify;

// 5. The tools' common front.
pub mod cli;
pub mod demo;

pub use error::{Error, Result};
// Re-exported so tools use the same chrono as the records they read, without
// each naming it as a dependency of their own.
pub use chrono;
pub use record::{Kind, Record};
pub use store::Store;
