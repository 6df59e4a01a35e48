//! gzip compression on all cores, as a sequence of standard gzip members.
//!
//! The stream is cut into members of a few MiB ([`MEMBER_SIZE`]); worker
//! threads compress them independently with libdeflate, each member whole
//! in one call (no dictionary carried across: each member decodes on its
//! own), and its header records its compressed size ([`members`]), so a
//! reader inflates members on all cores ([`members::Decoder`]).
//! Concatenated members are plain gzip, which `gzip -d`, `zcat`, `tar xzf`
//! and every library read.
//!
//! libdeflate and not zlib: it compresses a whole buffer at once, which is
//! what a member is, and at level 4 it is about 1.6 times as fast as
//! zlib-rs's level 4 with output 3% smaller (bench/RESULTS.md). Decoding
//! stays with zlib-rs (flate2), which also reads every other gzip.
//!
//! Data that does not compress (JPEG, ZIP, video, random bytes) is detected
//! with a cheap sample and written as stored deflate blocks instead of being
//! deflated for nothing: copying it costs little more than `cat`.
//!
//! A writer that knows more than a sample can tell (an archive writer that
//! sees a file's name and first bytes) says so with [`GzWriter::hint`]: bytes
//! written under [`Hint::Incompressible`] are stored without sampling, and a
//! member that mixes them with other data is cut at the hint boundaries into
//! several members, so the text around a photo is still deflated and the
//! photo is not. Stored members are written by hand (no compressor call at
//! all). Nothing is lost by the cut: the 32 KiB before a deflated piece that
//! follows a photo would be the photo's bytes, no use as a dictionary.

pub mod members;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Default compression level: with libdeflate, level 4 gives files about 5%
/// smaller than GNU `gzip -6` at a quarter of its CPU time
/// (bench/RESULTS.md).
pub const DEFAULT_LEVEL: u32 = 4;

/// Uncompressed bytes per gzip member: the member size, chosen from the
/// size cost measured in bench/RESULTS.md (members are independent: each
/// costs a header, a trailer and its first 32 KiB compressed without a
/// dictionary).
pub const MEMBER_SIZE: usize = 2 << 20;
/// Bytes of a piece compressed at level 1 to decide whether it compresses.
const SAMPLE: usize = 64 * 1024;
/// A hinted run shorter than this is deflated with its neighbours: cutting
/// the member for it would cost more (two more member headers and trailers,
/// and the text after it compressed without the text before it) than
/// storing a few KiB saves.
const MIN_STORED: usize = 16 * 1024;
/// Gaps shorter than this between hinted runs (tar headers and padding
/// between two photos) are stored with them rather than deflated alone.
const MIN_GAP: usize = 4 * 1024;
/// Nice steps the compression threads run below the rest of lfb (Linux).
pub const WORKER_NICE: i32 = 5;
/// Unhinted data is judged compressible or not per span of this many bytes
/// (a sample of each), so a member that mixes noise and text is cut.
const SAMPLE_SPAN: usize = 1 << 20;
/// Largest payload of one deflate stored block.
const STORED_MAX: usize = 65_535;

/// What the caller knows about the bytes it writes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hint {
    /// Nothing: a sample of each piece decides whether to deflate it.
    #[default]
    Auto,
    /// Already compressed (JPEG, PNG, ZIP, video, gzip): stored as is.
    Incompressible,
}

struct Job {
    data: Vec<u8>,
    /// Byte ranges of `data` written under [`Hint::Incompressible`].
    stored: Vec<(usize, usize)>,
    /// The stream ends with this job's last member.
    last: bool,
    reply: SyncSender<io::Result<Vec<u8>>>,
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
    buf: Vec<u8>,
    member_size: usize,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// Members in flight, in order: each reply is finished gzip members.
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    max_pending: usize,
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
        let level = level.min(9);
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
            buf: Vec::with_capacity(MEMBER_SIZE),
            member_size: MEMBER_SIZE,
            jobs: Some(tx),
            workers,
            pending: VecDeque::new(),
            max_pending: threads * 2 + 1,
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

    /// Sets the member size in bytes of input (default [`MEMBER_SIZE`]);
    /// for measuring the size cost of members.
    pub fn with_member_size(mut self, bytes: usize) -> Self {
        self.member_size = bytes.clamp(64 * 1024, members::MAX_MEMBER as usize / 2);
        self
    }

    /// Hands the buffered member to a worker; `last` ends the stream.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        self.close_stored_range();
        let stored = std::mem::take(&mut self.stored);
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.member_size));
        if self.hint == Hint::Incompressible {
            self.stored_from = Some(0);
        }
        let (reply, rx) = mpsc::sync_channel(1);
        let job = Job {
            data,
            stored,
            last,
            reply,
        };
        self.jobs
            .as_ref()
            .expect("writer is open")
            .send(job)
            .map_err(|_| io::Error::other("compression thread stopped"))?;
        self.pending.push_back(rx);
        while self.pending.len() >= self.max_pending {
            self.collect_one()?;
        }
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let out = rx
            .recv()
            .map_err(|_| io::Error::other("compression thread stopped"))??;
        self.inner.as_mut().expect("writer is open").write_all(&out)
    }

    /// Writes the last member; returns the inner writer.
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
        let room = self.member_size - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.member_size {
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
    // The database server and the dump client feeding this writer are the
    // critical path: compression takes the cores they leave (bench/RESULTS.md).
    crate::sys::lower_thread_priority(WORKER_NICE);
    // One compressor per thread, reused for every member; none at level 0,
    // which stores.
    let mut compressor = (level > 0).then(|| {
        let lvl = libdeflater::CompressionLvl::new(level as i32)
            .expect("gzip levels 1 to 9 are libdeflate levels");
        libdeflater::Compressor::new(lvl)
    });
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let res = encode_members(&job.data, &job.stored, job.last, level, compressor.as_mut());
        let _ = job.reply.send(res);
    }
}

/// True when a sample of `data` shrinks by less than 3% at level 1.
fn incompressible(data: &[u8]) -> bool {
    if data.len() < 4096 {
        return false;
    }
    let sample = &data[..data.len().min(SAMPLE)];
    match deflate(sample, Compression::fast()) {
        Ok(out) => out.len() as f64 > sample.len() as f64 * 0.97,
        Err(_) => false,
    }
}

/// The XFL byte of a member header: 2 for maximum compression, 4 for
/// fastest, as gzip writes it.
fn xfl(level: u32) -> u8 {
    match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    }
}

/// Encodes `data` as one gzip member, or several when hinted runs cut it
/// (one per piece of [`plan_pieces`]); `last` flags the final member as the
/// stream's last.
fn encode_members(
    data: &[u8],
    hinted: &[(usize, usize)],
    last: bool,
    level: u32,
    mut compressor: Option<&mut libdeflater::Compressor>,
) -> io::Result<Vec<u8>> {
    let mut pieces = Vec::new();
    for (from, to, hinted) in plan_pieces(data.len(), hinted) {
        if hinted || compressor.is_none() {
            pieces.push((from, to, true));
        } else {
            sampled_pieces(data, from, to, &mut pieces);
        }
    }
    let n = pieces.len();
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64 * n);
    for (i, &(from, to, store)) in pieces.iter().enumerate() {
        let piece = &data[from..to];
        let start = out.len();
        out.extend_from_slice(&[0u8; members::HEADER_LEN]);
        let body = out.len();
        match compressor.as_deref_mut().filter(|_| !store) {
            Some(c) => {
                out.resize(body + c.deflate_compress_bound(piece.len()), 0);
                let len = c
                    .deflate_compress(piece, &mut out[body..])
                    .map_err(|e| io::Error::other(format!("libdeflate: {e:?}")))?;
                out.truncate(body + len);
            }
            None => write_stored(&mut out, piece, true),
        }
        out.extend_from_slice(&crc32fast::hash(piece).to_le_bytes());
        out.extend_from_slice(&((piece.len() as u64 & 0xffff_ffff) as u32).to_le_bytes());
        let size = u32::try_from(out.len() - start)
            .map_err(|_| io::Error::other("gzip member over 4 GiB"))?;
        let header = members::header(size, last && i + 1 == n, xfl(level));
        out[start..body].copy_from_slice(&header);
    }
    Ok(out)
}

/// Cuts the unhinted piece `from..to` of `data` into runs to deflate and
/// runs to store `(from, to, store)`, judging each [`SAMPLE_SPAN`] by a
/// sample and merging neighbours judged alike; appends them to `pieces`.
fn sampled_pieces(data: &[u8], from: usize, to: usize, pieces: &mut Vec<(usize, usize, bool)>) {
    let mut at = from;
    loop {
        let end = (at + SAMPLE_SPAN).min(to);
        let store = incompressible(&data[at..end]);
        match pieces.last_mut() {
            Some(prev) if prev.1 == at && prev.2 == store && at > from => prev.1 = end,
            _ => pieces.push((at, end, store)),
        }
        at = end;
        if at >= to {
            break;
        }
    }
}

/// Cuts a member of `len` bytes into pieces `(from, to, hinted)`: hinted
/// runs long enough to be worth storing on their own, short gaps between
/// them absorbed, everything else one deflated piece. Always at least one
/// piece (an empty stream still has a member).
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

/// Raw-deflates `data` in one go (zlib-rs: the incompressibility sample).
fn deflate(data: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity() / 2 + 1024);
        }
        let status = c
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)
            .map_err(io::Error::other)?;
        if status == Status::StreamEnd {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const BLOCK: usize = 1 << 20;

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

    fn libdeflate_gzip(data: &[u8], level: i32) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let mut out = vec![0u8; c.gzip_compress_bound(data.len())];
        let n = c.gzip_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
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
        // Against the same compressor on the whole input in one call.
        let single = libdeflate_gzip(&data, 6);
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
        let text_gz = libdeflate_gzip(&text, 6).len();
        let bound = 2 * photo.len() + 2 * photo.len() / 1000 + 2 * text_gz + 4096;
        assert!(gz.len() < bound, "{} >= {bound}", gz.len());
    }

    #[test]
    fn unhinted_noise_and_text_in_one_member_are_judged_apart() {
        // One 2 MiB member, no hints: 1 MiB of noise, then 1 MiB of text.
        // Sampled per member, the noise would have stored the text too.
        let photo = noise(BLOCK, 9);
        let text = sample_data(BLOCK, 8);
        let mut w = GzWriter::with_threads(Vec::new(), 4, 1);
        w.write_all(&photo).unwrap();
        w.write_all(&text).unwrap();
        let gz = w.finish().unwrap();
        let text_gz = libdeflate_gzip(&text, 4).len();
        assert!(
            gz.len() < photo.len() + photo.len() / 500 + text_gz + 4096,
            "{} bytes: the text was stored",
            gz.len()
        );
        assert_eq!(gunzip(&gz), [photo, text].concat());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn compression_threads_yield_to_the_pipeline() {
        // The workers run WORKER_NICE steps below this thread (per-thread
        // nice on Linux), read from /proc as `ps -L -o nice` would.
        fn nice_of(stat: &str) -> i32 {
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            after.split(' ').nth(16).unwrap().parse().unwrap()
        }
        let mine = nice_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        let mut w = GzWriter::with_threads(Vec::new(), 4, 2);
        w.write_all(&sample_data(3 * BLOCK, 1)).unwrap();
        let mut found = Vec::new();
        for _ in 0..200 {
            found.clear();
            for t in std::fs::read_dir("/proc/self/task").unwrap() {
                let t = t.unwrap().path();
                let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
                if comm.starts_with("lfb-gzip-") {
                    let stat = std::fs::read_to_string(t.join("stat")).unwrap_or_default();
                    found.push(nice_of(&stat));
                }
            }
            if found.len() == 2 && found.iter().all(|&n| n == (mine + WORKER_NICE).min(19)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        w.finish().unwrap();
        assert_eq!(found, vec![(mine + WORKER_NICE).min(19); 2]);
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
