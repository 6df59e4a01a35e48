//! Newline-delimited JSON: how records travel between tools.
//!
//! One record per line on stdout and nothing else there. The reader reports
//! malformed input as `line N: ...`; blank lines are ignored. The writer
//! flushes after every record so a pipeline shows each artifact as soon as it
//! exists, and a closed pipe (`| head`) is not an error for the tool.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, IoContext, Result};
use crate::record::Record;

/// Reads records, one per line, naming the line of any malformed one.
pub struct RecordReader<R> {
    input: R,
    line_no: usize,
    buf: String,
    origin: String,
}

impl<R: BufRead> RecordReader<R> {
    /// `origin` names the input in errors (`stdin`, a file name).
    pub fn new(input: R, origin: &str) -> Self {
        RecordReader {
            input,
            line_no: 0,
            buf: String::new(),
            origin: origin.to_string(),
        }
    }

    /// Reads every record, or fails at the first malformed line.
    pub fn read_all(self) -> Result<Vec<Record>> {
        self.collect()
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            self.line_no += 1;
            match self.input.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    let msg = if e.kind() == io::ErrorKind::InvalidData {
                        format!("{}: line {}: not UTF-8 text", self.origin, self.line_no)
                    } else {
                        format!("{}: line {}: {}", self.origin, self.line_no, e)
                    };
                    return Some(Err(Error::input(msg)));
                }
            }
            let line = self.buf.trim();
            if line.is_empty() {
                continue;
            }
            return Some(Record::from_json(line).map_err(|e| {
                Error::input(format!("{}: line {}: {}", self.origin, self.line_no, e))
            }));
        }
    }
}

/// Records from stdin when stdin is not a terminal; `None` when it is.
pub fn stdin_records() -> Result<Option<Vec<Record>>> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    RecordReader::new(stdin.lock(), "stdin")
        .read_all()
        .map(Some)
}

/// What stdin is connected to, which decides whether a tool expects records
/// on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinKind {
    /// A terminal: nobody pipes records in.
    Terminal,
    /// A pipe, a socket or a regular file: records are expected, and an
    /// input that delivers none means the stage before failed.
    Records,
    /// `/dev/null` or another device, or stdin closed: no input at all.
    Nothing,
}

/// What stdin is (from `fstat` of descriptor 0).
pub fn stdin_kind() -> StdinKind {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return StdinKind::Terminal;
    }
    let Ok(fd) = stdin.as_fd().try_clone_to_owned() else {
        return StdinKind::Nothing;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => {
            let t = m.file_type();
            if t.is_fifo() || t.is_socket() || t.is_file() {
                StdinKind::Records
            } else {
                StdinKind::Nothing
            }
        }
        Err(_) => StdinKind::Nothing,
    }
}

/// Set once this process has printed a failed record (one with an `error`
/// section or `verify.ok` false), so the failure record printed for a tool
/// that exits non-zero is not printed twice.
static FAILURE_PRINTED: AtomicBool = AtomicBool::new(false);

/// True when this process has printed a failed record on stdout.
pub fn failure_printed() -> bool {
    FAILURE_PRINTED.load(Ordering::Relaxed)
}

/// Writes records as NDJSON to stdout.
#[derive(Debug, Default)]
pub struct RecordWriter {
    closed: bool,
}

impl RecordWriter {
    pub fn new() -> Self {
        RecordWriter { closed: false }
    }

    /// Prints one record as one line. Once the reader has gone away, further
    /// records are dropped silently: the work itself still completes.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        if record.failed() {
            FAILURE_PRINTED.store(true, Ordering::Relaxed);
        }
        self.write_value(&record.to_line())
    }

    /// Prints one pre-serialized JSON line.
    pub fn write_value(&mut self, line: &str) -> Result<()> {
        self.write_lines(std::iter::once(line))
    }

    /// Prints pre-serialized JSON lines and flushes once, after the last:
    /// for a tool that has a batch of records ready at once (lfb-list), one
    /// write per batch instead of one per record.
    pub fn write_lines<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        let res = lines
            .into_iter()
            .try_for_each(|line| {
                out.write_all(line.as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
            })
            .and_then(|_| out.flush());
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(e).context("cannot write to stdout"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_named() {
        let input = "{\"schema\":\"lfb/1\",\"path\":\"/a\"}\n\n{not json}\n";
        let mut r = RecordReader::new(input.as_bytes(), "stdin");
        assert!(r.next().unwrap().is_ok());
        let err = r.next().unwrap().unwrap_err();
        assert!(
            err.to_string().starts_with("stdin: line 3: invalid JSON"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn blank_input_is_no_records() {
        let r = RecordReader::new("\n  \n".as_bytes(), "stdin");
        assert!(r.read_all().unwrap().is_empty());
    }
}
