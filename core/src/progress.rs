//! Progress for long work: a live line on stderr (bytes, rate, elapsed) only
//! when stderr is a terminal and the tool is not quiet. Nothing in cron.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::units::{format_duration, format_size};

/// Reports bytes processed. Cheap to call per block: it redraws at most ten
/// times a second.
#[derive(Debug)]
pub struct Progress {
    label: String,
    enabled: bool,
    start: Instant,
    last: Instant,
    bytes: u64,
    drawn: bool,
}

impl Progress {
    /// A bar labelled `label`, shown only if `wanted` and stderr is a terminal.
    pub fn new(label: &str, wanted: bool) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            enabled: wanted && std::io::stderr().is_terminal(),
            start: now,
            last: now,
            bytes: 0,
            drawn: false,
        }
    }

    /// A progress that never draws.
    pub fn hidden() -> Progress {
        Progress::new("", false)
    }

    /// Adds `n` bytes.
    pub fn add(&mut self, n: u64) {
        self.bytes += n;
        if self.enabled && self.last.elapsed() >= Duration::from_millis(100) {
            self.last = Instant::now();
            self.draw();
        }
    }

    fn draw(&mut self) {
        let el = self.start.elapsed();
        let rate = self.bytes as f64 / el.as_secs_f64().max(0.001);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{}: {}  {}/s  {}",
            self.label,
            format_size(self.bytes),
            format_size(rate as u64),
            format_duration(el)
        );
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What the running load has read so far (artifact bytes, and COPY blocks
/// of a PostgreSQL dump begun), for a progress line that another thread
/// draws (`lfb-restore` on a terminal). Reset with [`reset_load`].
pub static LOAD_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Tables whose data a PostgreSQL dump has started to load.
pub static LOAD_TABLES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Starts counting a new load from zero.
pub fn reset_load() {
    LOAD_BYTES.store(0, std::sync::atomic::Ordering::Relaxed);
    LOAD_TABLES.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// A reader that adds what it reads to [`LOAD_BYTES`].
#[derive(Debug)]
pub struct Counting<R>(pub R);

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        LOAD_BYTES.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn counting_reader_adds_what_it_reads() {
        let before = LOAD_BYTES.load(std::sync::atomic::Ordering::Relaxed);
        let mut r = Counting(&b"hello world"[..]);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert!(LOAD_BYTES.load(std::sync::atomic::Ordering::Relaxed) >= before + 11);
    }
}
