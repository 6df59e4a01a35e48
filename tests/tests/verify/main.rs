//! lfb-verify: the checks, verification remembered in sidecars, encryption
//! with age, and gzip members read by stock tools.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod encryption;
mod gzip_members;
mod verify;
mod verify_remembered;
