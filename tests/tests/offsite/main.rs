//! lfb-copy: offsite copies to a folder and to S3 (moto_server).
//!
//! One test binary per area (faster to link than one per file); each module
//! is one former test file.

mod copy_folder;
mod copy_s3;
