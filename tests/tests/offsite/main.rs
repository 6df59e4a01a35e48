//! Offsite: lfb-copy to a folder and to S3, and a store in a bucket (list,
//! verify, prune, guard, restore) against moto_server and s3rver.
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod copy_folder;
mod copy_s3;
mod offsite;
mod s3_support;
