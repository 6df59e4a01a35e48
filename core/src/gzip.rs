//! gzip compression on all cores, as one standard gzip member.
//!
//! The stream is cut into blocks; worker threads deflate them independently
//! (raw deflate, each primed with the previous block's last 32 KiB as its
//! dictionary, as pigz does, so the ratio stays within a fraction of a
//! percent of single-threaded gzip), ending each with a sync flush so the
//! pieces concatenate into one valid deflate stream. The CRC-32s of the blocks
//! are combined for the trailer. The result is a single ordinary gzip member
//! that `gzip -d`, `zcat` and every library read.
//!
//! Blocks that do not compress (JPEG, ZIP, video, random bytes) are detected
//! with a cheap sample and written as stored blocks instead of being deflated
//! for nothing: copying them costs little more than `cat`.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Default compression level, as GNU gzip.
pub const DEFAULT_LEVEL: u32 = 6;

/// Bytes per block handed to a worker.
const BLOCK: usize = 1 << 20;
/// Deflate's window: the dictionary carried from block to block.
const WINDOW: usize = 32 * 1024;
/// Bytes of a block compressed at level 1 to decide whether it compresses.
const SAMPLE: usize = 64 * 1024;

struct Job {
    data: Vec<u8>,
    dict: Option<Vec<u8>>,
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

/// A writer producing one gzip member, compressing on worker threads.
pub struct GzWriter<W: Write> {
    inner: Option<W>,
    level: u32,
    buf: Vec<u8>,
    dict: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    pending: VecDeque<Receiver<io::Result<Done>>>,
    max_pending: usize,
    crc: crc32fast::Hasher,
    total: u64,
    header_written: bool,
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
            crc: crc32fast::Hasher::new(),
            total: 0,
            header_written: false,
        }
    }

    fn inner(&mut self) -> &mut W {
        self.inner.as_mut().expect("writer is open")
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=unix
            let xfl = match self.level {
                9 => 2,
                0 | 1 => 4,
                _ => 0,
            };
            let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3];
            self.inner().write_all(&header)?;
        }
        Ok(())
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK));
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
        let done = rx
            .recv()
            .map_err(|_| io::Error::other("compression thread stopped"))??;
        self.write_header()?;
        self.inner().write_all(&done.out)?;
        self.crc.combine(&done.crc);
        self.total += done.len;
        Ok(())
    }

    /// Writes the last block and the gzip trailer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.collect_one()?;
        }
        self.write_header()?;
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let isize = (self.total & 0xffff_ffff) as u32;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&crc.to_le_bytes());
        trailer[4..].copy_from_slice(&isize.to_le_bytes());
        self.inner().write_all(&trailer)?;
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
        let res = compress_block(&job.data, job.dict.as_deref(), job.last, level);
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

fn compress_block(data: &[u8], dict: Option<&[u8]>, last: bool, level: u32) -> io::Result<Done> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let level = if level > 0 && incompressible(data) {
        0
    } else {
        level
    };
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let out = deflate(data, dict, Compression::new(level), flush)?;
    Ok(Done {
        out,
        crc,
        len: data.len() as u64,
    })
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
        let mut d = flate2::read::GzDecoder::new(data);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_as_one_member_at_all_sizes() {
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
            // GzDecoder (not MultiGzDecoder) reads only the first member.
            assert_eq!(gunzip(&gz), data, "n={n}");
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
