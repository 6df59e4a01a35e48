//! Record lines kept out of memory between reading a store and printing it.
//!
//! A tool that prints every record of a large store in an order it learns
//! only once all of it is read (prune's plan, list's newest-first) would
//! otherwise read every sidecar twice, or hold every record at once (tens
//! of MiB for 100,000 artifacts). Instead each record line is appended, as
//! its sidecar is read, to an unlinked temporary file, and read back by
//! offset when it is printed: one read of each sidecar, and memory that
//! does not grow with the store.
//!
//! The spill is only a cache: when the temporary file cannot be made or
//! written (no space in `TMPDIR`), it is dropped and every line reads as
//! `None`, which callers answer by reading the sidecar again.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;

/// Where one line is in a [`LineSpill`]. (Its length is never 0, so an
/// `Option<LineRef>` takes no more room than a `LineRef`: 16 bytes, held
/// per artifact by the tools that list a whole store.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef {
    offset: u64,
    len: NonZeroU32,
}

/// Record lines in an unlinked temporary file (module docs).
pub struct LineSpill {
    file: Option<BufWriter<File>>,
    end: u64,
    /// Flushed: the lines are ready to be read back.
    finished: bool,
}

impl Default for LineSpill {
    fn default() -> Self {
        Self::new()
    }
}

impl LineSpill {
    /// A spill in the temporary folder (`TMPDIR`), or a disabled one when
    /// no file can be made there.
    pub fn new() -> LineSpill {
        LineSpill {
            file: tempfile::tempfile()
                .ok()
                .map(|f| BufWriter::with_capacity(1 << 16, f)),
            end: 0,
            finished: false,
        }
    }

    /// A spill that keeps nothing (every line is read again).
    pub fn disabled() -> LineSpill {
        LineSpill {
            file: None,
            end: 0,
            finished: false,
        }
    }

    /// Appends `line`; `None` when the spill is disabled or the write
    /// failed (which disables it: no line written before is trusted), and
    /// for an empty line (nothing to keep).
    pub fn push(&mut self, line: &str) -> Option<LineRef> {
        let w = self.file.as_mut()?;
        let len = u32::try_from(line.len()).ok().and_then(NonZeroU32::new)?;
        if self.finished || w.write_all(line.as_bytes()).is_err() {
            self.file = None;
            return None;
        }
        let at = LineRef {
            offset: self.end,
            len,
        };
        self.end += u64::from(len.get());
        Some(at)
    }

    /// Ends the writing: what was pushed can be read back. A flush that
    /// fails disables the spill.
    pub fn finish(&mut self) {
        if let Some(w) = self.file.as_mut()
            && w.flush().is_err()
        {
            self.file = None;
        }
        self.finished = true;
    }

    /// The line at `at`; `None` when the spill is disabled, not finished,
    /// or the read fails. Safe to call from many threads at once.
    pub fn read(&self, at: LineRef) -> Option<String> {
        if !self.finished {
            return None;
        }
        let file = self.file.as_ref()?.get_ref();
        let mut buf = vec![0u8; at.len.get() as usize];
        file.read_exact_at(&mut buf, at.offset).ok()?;
        String::from_utf8(buf).ok()
    }
}

impl LineSpill {
    /// The lines at `at` (`None` where `at` is), in the order asked: one
    /// `pread` per run of lines that lie close together in the file rather
    /// than one per line (lines printed in time order are mostly runs of
    /// one group each, spilled in name order).
    pub fn read_many(&self, at: &[Option<LineRef>]) -> Vec<Option<String>> {
        /// Bytes between two lines read through rather than skipped.
        const GAP: u64 = 4096;
        /// The largest read.
        const RUN: u64 = 1 << 20;
        let mut out: Vec<Option<String>> = vec![None; at.len()];
        let Some(file) = self.file.as_ref().filter(|_| self.finished) else {
            return out;
        };
        let file = file.get_ref();
        let mut order: Vec<(LineRef, usize)> = at
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (r, i)))
            .collect();
        order.sort_unstable_by_key(|(r, _)| r.offset);
        let mut buf = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let start = order[i].0.offset;
            let mut end = start + u64::from(order[i].0.len.get());
            let mut j = i + 1;
            while j < order.len() {
                let r = order[j].0;
                let r_end = r.offset + u64::from(r.len.get());
                if r.offset > end + GAP || r_end.max(end) - start > RUN {
                    break;
                }
                end = end.max(r_end);
                j += 1;
            }
            buf.resize((end - start) as usize, 0);
            if file.read_exact_at(&mut buf, start).is_ok() {
                for &(r, k) in &order[i..j] {
                    let from = (r.offset - start) as usize;
                    out[k] = std::str::from_utf8(&buf[from..from + r.len.get() as usize])
                        .ok()
                        .map(str::to_string);
                }
            }
            i = j;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_in_any_order_from_many_threads() {
        let mut spill = LineSpill::new();
        let lines: Vec<String> = (0..1000).map(|i| format!("{{\"n\":{i}}}")).collect();
        let refs: Vec<LineRef> = lines.iter().map(|l| spill.push(l).unwrap()).collect();
        // Not readable until finished (the tail is still buffered).
        assert_eq!(spill.read(refs[999]), None);
        spill.finish();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (spill, refs, lines) = (&spill, &refs, &lines);
                s.spawn(move || {
                    for i in (t..1000).rev().step_by(4) {
                        assert_eq!(spill.read(refs[i]).as_deref(), Some(lines[i].as_str()));
                    }
                });
            }
        });
        assert_eq!(
            spill.read(LineRef {
                offset: 1 << 40,
                len: NonZeroU32::new(3).unwrap()
            }),
            None
        );
    }

    #[test]
    fn many_lines_read_at_once_come_in_the_order_asked() {
        let mut spill = LineSpill::new();
        // Lines of very different lengths, some far apart.
        let lines: Vec<String> = (0..3000)
            .map(|i| format!("{{\"n\":\"{}\"}}", "x".repeat((i * 37) % 9000)))
            .collect();
        let refs: Vec<LineRef> = lines.iter().map(|l| spill.push(l).unwrap()).collect();
        spill.finish();
        // Every third line, in a scrambled order, with holes.
        let ask: Vec<Option<LineRef>> = (0..3000)
            .map(|i| (i * 7919) % 3000)
            .map(|i| (i % 3 != 1).then_some(refs[i]))
            .collect();
        let got = spill.read_many(&ask);
        for (k, i) in (0..3000).map(|i| (i * 7919) % 3000).enumerate() {
            let want = (i % 3 != 1).then(|| lines[i].clone());
            assert_eq!(got[k], want, "line {i}");
        }
        assert_eq!(
            LineSpill::disabled().read_many(&[Some(refs[0])]),
            vec![None]
        );
    }

    #[test]
    fn a_disabled_spill_keeps_nothing() {
        let mut spill = LineSpill::disabled();
        assert_eq!(spill.push("{}"), None);
        spill.finish();
    }
}
