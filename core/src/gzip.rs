//! gzip compression for artifacts: a standard gzip stream any `gzip -d` reads.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

/// Default compression level, as GNU gzip.
pub const DEFAULT_LEVEL: u32 = 6;

/// A gzip-compressing writer.
pub struct GzWriter<W: Write> {
    inner: GzEncoder<W>,
}

impl<W: Write> GzWriter<W> {
    pub fn new(inner: W, level: u32) -> Self {
        GzWriter {
            inner: GzEncoder::new(inner, Compression::new(level.min(9))),
        }
    }
    /// Writes the gzip trailer and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.inner.finish()
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
