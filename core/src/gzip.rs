//! gzip compression on all cores, as a sequence of standard gzip members.
//!
//! The stream is cut into blocks; worker threads deflate them independently
//! (raw deflate, each primed with the previous block's last 32 KiB as its
//! dictionary, as pigz does, so the ratio stays within a fraction of a
//! percent of single-threaded gzip), ending each with a sync flush so the
//! pieces concatenate into one valid deflate stream. Every few MiB
//! ([`MEMBER_BLOCKS`] blocks) the deflate stream ends and a new gzip member
//! begins, unprimed: each member decodes on its own, and its header records
//! its compressed size ([`members`]), so a reader inflates members on all
//! cores ([`members::Decoder`]). Concatenated members are plain gzip, which
//! `gzip -d`, `zcat`, `tar xzf` and every library read.
//!
//! Blocks that do not compress (JPEG, ZIP, video, random bytes) are detected
//! with a cheap sample and written as stored blocks instead of being deflated
//! for nothing: copying them costs little more than `cat`.
//!
//! A writer that knows more than a sample can tell (an archive writer that
//! sees a file's name and first bytes) says so with [`GzWriter::hint`]: bytes
//! written under [`Hint::Incompressible`] are stored without sampling, and a
//! block that mixes them with other data is cut at the hint boundaries, so
//! the text around a photo is still deflated and the photo is not. Stored
//! pieces are written as deflate stored blocks by hand (no zlib call at all);
//! deflated pieces are primed with the 32 KiB before them, as blocks are.

pub mod members;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Default compression level: with zlib-rs, level 4 gives files as small as
/// GNU `gzip -6` at about 20% less CPU than level 6 (bench/RESULTS.md).
pub const DEFAULT_LEVEL: u32 = 4;

/// Bytes per block handed to a worker.
const BLOCK: usize = 1 << 20;
/// Blocks per gzip member: the member size, chosen from the size cost
/// measured in bench/RESULTS.md (members are unprimed: each costs a header,
/// a trailer and the first 32 KiB compressed without a dictionary).
pub const MEMBER_BLOCKS: usize = 2;
/// Deflate's window: the dictionary carried from block to block.
const WINDOW: usize = 32 * 1024;
/// Bytes of a block compressed at level 1 to decide whether it compresses.
const SAMPLE: usize = 64 * 1024;
/// A hinted run shorter than this is deflated with its neighbours: cutting
/// the block for it would cost more (a fresh compressor primed with a 32 KiB
/// dictionary) than storing a few KiB saves.
const MIN_STORED: usize = 16 * 1024;
/// Gaps shorter than this between hinted runs (tar headers and padding
/// between two photos) are stored with them rather than deflated alone.
const MIN_GAP: usize = 4 * 1024;
/// Largest payload of one deflate stored block.
const STORED_MAX: usize = 65_535;

/// What the caller knows about the bytes it writes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hint {
    /// Nothing: a sample of each block decides whether to deflate it.
    #[default]
    Auto,
    /// Already compressed (JPEG, PNG, ZIP, video, gzip): stored as is.
    Incompressible,
}

struct Job {
    data: Vec<u8>,
    dict: Option<Vec<u8>>,
    /// Byte ranges of `data` written under [`Hint::Incompressible`].
    stored: Vec<(usize, usize)>,
    /// The last block of its member: its deflate stream ends here.
    last: bool,
    reply: SyncSender<io::Result<Done>>,
}

struct Done {
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

/// Number of compression threads to use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
}

/// A writer producing a sequence of gzip members, compressing on worker
/// threads.
pub struct GzWriter<W: Write> {
    inner: Option<W>,
    level: u32,
    buf: Vec<u8>,
    dict: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Blocks in flight: their replies, and whether each ends a member
    /// (and the stream).
    pending: VecDeque<(Receiver<io::Result<Done>>, bool, bool)>,
    max_pending: usize,
    member_blocks: usize,
    /// Blocks submitted to the member being written.
    blocks_in_member: usize,
    /// The current member's compressed blocks, collected until it ends
    /// (its header records its size).
    member: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
    hint: Hint,
    /// Closed incompressible ranges of `buf`.
    stored: Vec<(usize, usize)>,
    /// Start of the open incompressible range of `buf`, under that hint.
    stored_from: Option<usize>,
}

impl<W: Write> GzWriter<W> {
    /// A compressing writer with as many threads as cores.
    pub fn new(inner: W, level: u32) -> Self {
        Self::with_threads(inner, level, default_threads())
    }

    /// A compressing writer with `threads` worker threads.
    pub fn with_threads(inner: W, level: u32, threads: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("lfb-gzip-{i}"))
                    .spawn(move || worker(rx, level))
                    .expect("spawning a compression thread")
            })
            .collect();
        GzWriter {
            inner: Some(inner),
            level: level.min(9),
            buf: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            jobs: Some(tx),
            workers,
            pending: VecDeque::new(),
            max_pending: threads * 2 + 1,
            member_blocks: MEMBER_BLOCKS,
            blocks_in_member: 0,
            member: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
            hint: Hint::Auto,
            stored: Vec::new(),
            stored_from: None,
        }
    }

    /// Says what the bytes written from now on are, until the next hint.
    /// A hint only changes how the data is encoded, never the data: a wrong
    /// one costs ratio (text stored) or time (noise deflated), not bytes.
    pub fn hint(&mut self, hint: Hint) {
        if hint == self.hint {
            return;
        }
        self.hint = hint;
        match hint {
            Hint::Incompressible => self.stored_from = Some(self.buf.len()),
            Hint::Auto => self.close_stored_range(),
        }
    }

    fn close_stored_range(&mut self) {
        if let Some(from) = self.stored_from.take()
            && self.buf.len() > from
        {
            self.stored.push((from, self.buf.len()));
        }
    }

    fn inner(&mut self) -> &mut W {
        self.inner.as_mut().expect("writer is open")
    }

    /// Sets the member size in blocks of 1 MiB (default [`MEMBER_BLOCKS`]);
    /// for measuring the size cost of members.
    pub fn with_member_blocks(mut self, blocks: usize) -> Self {
        self.member_blocks = blocks.max(1);
        self
    }

    fn xfl(&self) -> u8 {
        match self.level {
            9 => 2,
            0 | 1 => 4,
            _ => 0,
        }
    }

    /// Hands the buffered block to a worker; `end` ends the member with it,
    /// `last` the stream.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        self.blocks_in_member += 1;
        let end = last || self.blocks_in_member == self.member_blocks;
        // A member's first block has no dictionary: members are independent.
        if self.blocks_in_member == 1 {
            self.dict.clear();
        }
        self.close_stored_range();
        let stored = std::mem::take(&mut self.stored);
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK));
        if self.hint == Hint::Incompressible {
            self.stored_from = Some(0);
        }
        let dict = if self.dict.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.dict))
        };
        self.dict = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let (reply, rx) = mpsc::sync_channel(1);
        let job = Job {
            data,
            dict,
            stored,
            last: end,
            reply,
        };
        if end {
            self.blocks_in_member = 0;
        }
        self.jobs
            .as_ref()
            .expect("writer is open")
            .send(job)
            .map_err(|_| io::Error::other("compression thread stopped"))?;
        self.pending.push_back((rx, end, last));
        while self.pending.len() >= self.max_pending {
            self.collect_one()?;
        }
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let Some((rx, end, last)) = self.pending.pop_front() else {
            return Ok(());
        };
        let done = rx
            .recv()
            .map_err(|_| io::Error::other("compression thread stopped"))??;
        self.member.extend_from_slice(&done.out);
        self.crc.combine(&done.crc);
        self.total += done.len;
        if end {
            self.write_member(last)?;
        }
        Ok(())
    }

    /// Writes the collected member: header with its size, blocks, trailer.
    fn write_member(&mut self, last: bool) -> io::Result<()> {
        let size = members::HEADER_LEN + self.member.len() + 8;
        let size = u32::try_from(size).map_err(|_| io::Error::other("gzip member over 4 GiB"))?;
        let header = members::header(size, last, self.xfl());
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let isize = (self.total & 0xffff_ffff) as u32;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&crc.to_le_bytes());
        trailer[4..].copy_from_slice(&isize.to_le_bytes());
        let body = std::mem::take(&mut self.member);
        let w = self.inner();
        w.write_all(&header)?;
        w.write_all(&body)?;
        w.write_all(&trailer)?;
        self.member = body;
        self.member.clear();
        self.total = 0;
        Ok(())
    }

    /// Writes the last block and the gzip trailer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.collect_one()?;
        }
        self.shutdown();
        Ok(self.inner.take().expect("writer is open"))
    }

    fn shutdown(&mut self) {
        self.jobs.take();
        self.pending.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = BLOCK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for GzWriter<W> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>, level: u32) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let res = compress_block(&job.data, job.dict.as_deref(), &job.stored, job.last, level);
        let _ = job.reply.send(res);
    }
}

/// True when a sample of `data` shrinks by less than 3% at level 1.
fn incompressible(data: &[u8]) -> bool {
    if data.len() < 4096 {
        return false;
    }
    let sample = &data[..data.len().min(SAMPLE)];
    match deflate(sample, None, Compression::fast(), FlushCompress::Finish) {
        Ok(out) => out.len() as f64 > sample.len() as f64 * 0.97,
        Err(_) => false,
    }
}

fn compress_block(
    data: &[u8],
    dict: Option<&[u8]>,
    hinted: &[(usize, usize)],
    last: bool,
    level: u32,
) -> io::Result<Done> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    let pieces = plan_pieces(data.len(), hinted);
    let n = pieces.len();
    for (i, &(from, to, hinted)) in pieces.iter().enumerate() {
        let piece = &data[from..to];
        let finish = last && i + 1 == n;
        let store = level == 0 || hinted || incompressible(piece);
        if store {
            // After a sync flush the stream is byte-aligned, so stored blocks
            // can follow directly.
            write_stored(&mut out, piece, finish);
        } else {
            // The decompressor's window holds the 32 KiB before this piece,
            // however they were encoded: prime the compressor with them.
            let window = preceding_window(dict, data, from);
            let flush = if finish {
                FlushCompress::Finish
            } else {
                FlushCompress::Sync
            };
            let level = Compression::new(level);
            out.extend_from_slice(&deflate(piece, window.as_deref(), level, flush)?);
        }
    }
    Ok(Done {
        out,
        crc,
        len: data.len() as u64,
    })
}

/// Cuts a block of `len` bytes into pieces `(from, to, hinted)`: hinted
/// runs long enough to be worth storing on their own, short gaps between
/// them absorbed, everything else one deflated piece. Always at least one
/// piece (an empty block still ends the stream).
fn plan_pieces(len: usize, hinted: &[(usize, usize)]) -> Vec<(usize, usize, bool)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in hinted {
        match runs.last_mut() {
            Some(prev) if a.saturating_sub(prev.1) < MIN_GAP => prev.1 = b,
            _ => runs.push((a, b)),
        }
    }
    runs.retain(|&(a, b)| b - a >= MIN_STORED);
    let mut pieces = Vec::with_capacity(runs.len() * 2 + 1);
    let mut at = 0;
    for (a, b) in runs {
        if a > at {
            pieces.push((at, a, false));
        }
        pieces.push((a, b, true));
        at = b;
    }
    if at < len || pieces.is_empty() {
        pieces.push((at, len, false));
    }
    pieces
}

/// The (up to) 32 KiB of uncompressed data before offset `from` of a block.
fn preceding_window<'a>(
    dict: Option<&'a [u8]>,
    data: &'a [u8],
    from: usize,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    use std::borrow::Cow;
    if from >= WINDOW {
        return Some(Cow::Borrowed(&data[from - WINDOW..from]));
    }
    match dict {
        None if from == 0 => None,
        None => Some(Cow::Borrowed(&data[..from])),
        Some(d) if from == 0 => Some(Cow::Borrowed(d)),
        Some(d) => {
            let need = WINDOW - from;
            let mut w = d[d.len().saturating_sub(need)..].to_vec();
            w.extend_from_slice(&data[..from]);
            Some(Cow::Owned(w))
        }
    }
}

/// Appends `data` as deflate stored blocks (the stream must be at a byte
/// boundary); `last` sets BFINAL on the final one.
fn write_stored(out: &mut Vec<u8>, data: &[u8], last: bool) {
    if data.is_empty() {
        if last {
            out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        return;
    }
    let mut chunks = data.chunks(STORED_MAX).peekable();
    while let Some(chunk) = chunks.next() {
        let bfinal = last && chunks.peek().is_none();
        // BFINAL bit, BTYPE 00, then padding to the byte boundary.
        out.push(u8::from(bfinal));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
}

/// True when a file's data is already compressed, judged by its name and
/// first bytes: what an archive writer passes to [`GzWriter::hint`]. The
/// extension list covers formats whose own compression leaves nothing for
/// deflate to find; the magic numbers catch such files under other names.
pub fn known_incompressible(file_name: &str, head: &[u8]) -> bool {
    const EXTENSIONS: &[&str] = &[
        "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "heic", "heif", "avif", "jxl", "mp4",
        "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv", "3gp", "mp3", "m4a", "aac", "ogg", "oga",
        "ogv", "opus", "flac", "wma", "zip", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "lz4",
        "lzma", "7z", "rar", "jar", "apk", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub",
        "pdf", "woff", "woff2",
    ];
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if EXTENSIONS.contains(&ext.as_str()) {
        return true;
    }
    const MAGIC: &[&[u8]] = &[
        b"\xff\xd8\xff",      // JPEG
        b"\x89PNG\r\n\x1a\n", // PNG
        b"GIF87a",
        b"GIF89a",
        b"PK\x03\x04",         // ZIP and the office formats
        b"\x1f\x8b",           // gzip
        b"BZh",                // bzip2
        b"\xfd7zXZ\x00",       // xz
        b"\x28\xb5\x2f\xfd",   // zstd
        b"7z\xbc\xaf\x27\x1c", // 7-Zip
        b"Rar!\x1a\x07",
        b"OggS",
        b"fLaC",
        b"ID3",              // MP3
        b"\x1a\x45\xdf\xa3", // Matroska / WebM
        b"wOF2",
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // ISO media (MP4, MOV, HEIC, AVIF): a size, then "ftyp"; RIFF WEBP.
    (head.len() >= 12 && &head[4..8] == b"ftyp")
        || (head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP"))
}

/// Raw-deflates `data` in one go, primed with `dict`.
fn deflate(
    data: &[u8],
    dict: Option<&[u8]>,
    level: Compression,
    flush: FlushCompress,
) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    if let Some(d) = dict {
        c.set_dictionary(d).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity() / 2 + 1024);
        }
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => break,
            // Sync flush is complete once all input is in and output room
            // was left over (zlib wrote everything it had).
            Status::Ok | Status::BufError
                if all_in && flush == FlushCompress::Sync && out.len() < out.capacity() =>
            {
                break;
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample_data(n: usize, seed: u64) -> Vec<u8> {
        // Text-like lines mixed with pseudo-random runs.
        let mut x = seed;
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(5) {
                v.extend_from_slice(&x.to_le_bytes());
            } else {
                v.extend_from_slice(
                    format!(
                        "{}\taccount {}\t{}.{:02}\n",
                        x % 1000,
                        x % 37,
                        x % 999,
                        x % 100
                    )
                    .as_bytes(),
                );
            }
        }
        v.truncate(n);
        v
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut d = flate2::read::MultiGzDecoder::new(data);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_as_members_at_all_sizes() {
        for (n, threads) in [
            (0, 1),
            (1, 2),
            (BLOCK - 1, 2),
            (BLOCK, 2),
            (3 * BLOCK + 17, 2),
            (5 * BLOCK / 2, 3),
        ] {
            let data = sample_data(n, n as u64 + 1);
            let mut w = GzWriter::with_threads(Vec::new(), 6, threads);
            for chunk in data.chunks(100_000) {
                w.write_all(chunk).unwrap();
            }
            let gz = w.finish().unwrap();
            assert_eq!(gunzip(&gz), data, "n={n}");
            let mut par = Vec::new();
            members::Decoder::with_threads(std::io::Cursor::new(gz.clone()), threads)
                .read_to_end(&mut par)
                .unwrap();
            assert_eq!(par, data, "n={n}");
        }
    }

    #[test]
    fn ratio_is_close_to_single_threaded_and_random_is_stored() {
        let data = sample_data(4 * BLOCK, 7);
        let mut w = GzWriter::with_threads(Vec::new(), 6, 2);
        w.write_all(&data).unwrap();
        let par = w.finish().unwrap();
        let mut single = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap();
        assert!(
            (par.len() as f64) < single.len() as f64 * 1.01,
            "{} vs {}",
            par.len(),
            single.len()
        );
        let mut x = 1u64;
        let random: Vec<u8> = (0..2 * BLOCK)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect();
        let mut w = GzWriter::with_threads(Vec::new(), 6, 2);
        w.write_all(&random).unwrap();
        let gz = w.finish().unwrap();
        assert!(gz.len() < random.len() + random.len() / 100);
        assert_eq!(gunzip(&gz), random);
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn hinted_runs_are_stored_and_the_text_around_them_deflated() {
        // text | photo | tar-header-sized text | photo | text, in odd writes
        // that straddle block boundaries.
        let text = sample_data(BLOCK / 2 + 3, 11);
        let photo = noise(BLOCK + 5000, 5);
        let header = sample_data(512, 2);
        let mut w = GzWriter::with_threads(Vec::new(), 6, 2);
        let mut want = Vec::new();
        for (part, hint) in [
            (&text, Hint::Auto),
            (&photo, Hint::Incompressible),
            (&header, Hint::Auto),
            (&photo, Hint::Incompressible),
            (&text, Hint::Auto),
            (&Vec::new(), Hint::Incompressible),
        ] {
            w.hint(hint);
            for c in part.chunks(77_777) {
                w.write_all(c).unwrap();
            }
            want.extend_from_slice(part);
        }
        let gz = w.finish().unwrap();
        assert_eq!(gunzip(&gz), want);
        // The photos cost their size plus stored-block headers; the text
        // compresses as it would alone.
        let mut t = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        t.write_all(&text).unwrap();
        let text_gz = t.finish().unwrap().len();
        let bound = 2 * photo.len() + 2 * photo.len() / 1000 + 2 * text_gz + 4096;
        assert!(gz.len() < bound, "{} >= {bound}", gz.len());
    }

    #[test]
    fn a_hint_is_obeyed_even_when_a_sample_would_disagree() {
        // Text under the incompressible hint is stored (the hint is trusted:
        // no sample is spent on it), and gzip -t accepts the mix.
        let text = sample_data(3 * BLOCK / 2, 4);
        let mut w = GzWriter::with_threads(Vec::new(), 6, 2);
        w.hint(Hint::Incompressible);
        w.write_all(&text).unwrap();
        w.hint(Hint::Auto);
        w.write_all(&text).unwrap();
        let gz = w.finish().unwrap();
        assert!(gz.len() > text.len() && gz.len() < text.len() + text.len() / 2);
        assert_eq!(gunzip(&gz).len(), 2 * text.len());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gz");
        std::fs::write(&p, &gz).unwrap();
        if let Ok(st) = std::process::Command::new("gzip")
            .arg("-t")
            .arg(&p)
            .status()
        {
            assert!(st.success());
        }
    }

    #[test]
    fn pieces_absorb_small_gaps_and_ignore_small_runs() {
        assert_eq!(plan_pieces(100, &[]), vec![(0, 100, false)]);
        assert_eq!(plan_pieces(0, &[]), vec![(0, 0, false)]);
        let k = 1024;
        assert_eq!(
            plan_pieces(
                200 * k,
                &[(10 * k, 60 * k), (61 * k, 120 * k), (150 * k, 151 * k)]
            ),
            vec![
                (0, 10 * k, false),
                (10 * k, 120 * k, true),
                (120 * k, 200 * k, false)
            ]
        );
        assert_eq!(
            plan_pieces(100 * k, &[(0, 100 * k)]),
            vec![(0, 100 * k, true)]
        );
    }

    #[test]
    fn compressed_formats_are_known_by_name_or_magic() {
        assert!(known_incompressible("IMG_0001.JPG", b""));
        assert!(known_incompressible("x.sql.gz", b""));
        assert!(known_incompressible("photo", b"\xff\xd8\xff\xe0"));
        assert!(known_incompressible("clip", b"\0\0\0\x20ftypisom"));
        assert!(!known_incompressible("data.csv", b"id,name\n"));
        assert!(!known_incompressible("Makefile", b""));
    }

    #[test]
    fn gnu_gzip_accepts_it() {
        let data = sample_data(2 * BLOCK + 5, 3);
        let mut w = GzWriter::with_threads(Vec::new(), 6, 2);
        w.write_all(&data).unwrap();
        let gz = w.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gz");
        std::fs::write(&p, &gz).unwrap();
        let st = std::process::Command::new("gzip")
            .arg("-t")
            .arg(&p)
            .status();
        if let Ok(st) = st {
            assert!(st.success());
        }
    }
}
