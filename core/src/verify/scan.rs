//! The streaming one-read scan: a reader thread hands each block of the file
//! to a hashing thread and a decoding thread, and the decoded content flows
//! to a completeness thread (and, during a restore, to the database), so a
//! file is read once, at the speed of its slowest stage, in bounded memory.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};

use sha2::{Digest, Sha256};

use super::content::{Completeness, Content, TarCheck, Verdict};
use crate::archive::{self, ArchiveReport};
use crate::digest::hex;
use crate::engine::postgres::TableCounts;
use crate::gzip::members;

/// What one read of the content found.
#[derive(Debug, Default)]
pub(super) struct ContentScan {
    pub(super) sha256: String,
    /// Decompression error (gzip formats), with the decoded offset.
    pub(super) decode_error: Option<String>,
    pub(super) decoded_bytes: u64,
    pub(super) content: Option<Content>,
    /// Completeness verdict for streamed content kinds, with detail.
    pub(super) complete: Option<std::result::Result<String, String>>,
    /// Row counts found in the stream (PostgreSQL plain dumps).
    pub(super) stream_tables: Option<TableCounts>,
    /// What the check of an archive's tar stream found.
    pub(super) archive: Option<ArchiveReport>,
}

/// A `Read` over blocks arriving on a channel.
pub(super) struct ChannelReader {
    pub(super) rx: Receiver<Arc<Vec<u8>>>,
    pub(super) cur: Arc<Vec<u8>>,
    pub(super) pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The decoded tar stream on its way to [`archive::check_stream`], which
/// runs on a thread of its own.
pub(super) struct TarFeed {
    tx: SyncSender<Arc<Vec<u8>>>,
    check: std::thread::JoinHandle<ArchiveReport>,
}

impl TarCheck for TarFeed {
    type Report = ArchiveReport;

    fn start() -> Self {
        let (tx, rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
        let check = std::thread::spawn(move || {
            archive::check_stream(ChannelReader {
                rx,
                cur: Arc::new(Vec::new()),
                pos: 0,
            })
        });
        TarFeed { tx, check }
    }

    fn feed(&mut self, b: &[u8]) {
        // A checker that stopped early drains its input, so a failed send
        // only means it is gone; its report says why.
        let _ = self.tx.send(Arc::new(b.to_vec()));
    }

    fn finish(self) -> ArchiveReport {
        drop(self.tx);
        self.check.join().unwrap_or_else(|_| ArchiveReport {
            stream_error: Some("the archive check failed unexpectedly".into()),
            ..Default::default()
        })
    }
}

/// A writer that decoded content is copied to while it is checked (psql's
/// stdin during a restore). It comes back afterwards, still open.
pub type Tee = Box<dyn Write + Send>;

/// Reads the file once: SHA-256 in one thread, decompression in another,
/// completeness in a third, copying the decoded content to `tee` (if any),
/// so a large artifact is checked at the speed of its slowest stage.
/// Returns the scan, the tee (so the caller decides when to close it) and
/// the first error writing to it.
///
/// Four stages joined by bounded channels: this thread reads
/// ([`read_blocks`]) and hands each block to [`hash_blocks`] and
/// [`decode_blocks`]; the decoded content goes on to [`judge_and_copy`].
pub(super) fn scan_reader(
    f: impl Read,
    gzip: bool,
    tee: Option<Tee>,
) -> io::Result<(ContentScan, Option<Tee>, Option<io::Error>)> {
    let (htx, hrx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
    let (dtx, drx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
    // Up to 2 pieces of decoded content queued (a piece is a whole gzip
    // member's output, 2 MiB, or a batch): memory stays bounded.
    let (ctx, crx) = mpsc::sync_channel::<Vec<u8>>(2);
    let hasher = std::thread::spawn(move || hash_blocks(hrx));
    let scanner = std::thread::spawn(move || judge_and_copy(crx, tee));
    let decoder = std::thread::spawn(move || decode_blocks(drx, gzip, ctx));
    let read_err = read_blocks(f, htx, dtx);
    let sha256 = hasher
        .join()
        .map_err(|_| io::Error::other("hash thread failed"))?;
    let (decode_error, decoded) = decoder
        .join()
        .map_err(|_| io::Error::other("decode thread failed"))?;
    let (verdict, tee, tee_err) = scanner
        .join()
        .map_err(|_| io::Error::other("scan thread failed"))?;
    if let Some(e) = read_err {
        return Err(e);
    }
    let scan = ContentScan {
        sha256,
        decode_error,
        decoded_bytes: decoded,
        content: Some(verdict.content),
        complete: Some(verdict.complete),
        stream_tables: verdict.tables,
        archive: verdict.archive,
    };
    Ok((scan, tee, tee_err))
}

/// The reading stage: every block of the file to the hash and the decoder,
/// until the end or a read error (returned). Dropping the senders at the
/// end tells both stages the file is over.
fn read_blocks(
    mut f: impl Read,
    htx: SyncSender<Arc<Vec<u8>>>,
    dtx: SyncSender<Arc<Vec<u8>>>,
) -> Option<io::Error> {
    let mut read_err = None;
    loop {
        let mut block = vec![0u8; 1 << 20];
        let n = match f.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_err = Some(e);
                break;
            }
        };
        block.truncate(n);
        let block = Arc::new(block);
        if htx.send(Arc::clone(&block)).is_err() {
            break;
        }
        // A decoder that stopped (corrupt stream) no longer reads; the hash
        // still needs every byte.
        let _ = dtx.send(block);
    }
    drop(htx);
    drop(dtx);
    read_err
}

/// The hashing stage: SHA-256 of every byte as stored, in hex.
fn hash_blocks(hrx: Receiver<Arc<Vec<u8>>>) -> String {
    let mut h = Sha256::new();
    for b in hrx {
        h.update(&b[..]);
    }
    hex(&h.finalize())
}

/// The decoding stage: inflates the stored bytes (or passes them through)
/// and sends the content on in batches. Returns the decode error, if any,
/// and how many decoded bytes came before it.
fn decode_blocks(
    drx: Receiver<Arc<Vec<u8>>>,
    gzip: bool,
    ctx: SyncSender<Vec<u8>>,
) -> (Option<String>, u64) {
    let mut err = None;
    let mut decoded = 0u64;
    let src = ChannelReader {
        rx: drx,
        cur: Arc::new(Vec::new()),
        pos: 0,
    };
    if gzip {
        return decode_members(src, ctx);
    }
    let mut input = src;
    // One zeroed buffer, reused: the decoder returns pieces much smaller
    // than it, gathered here and sent on in batches of 256 KiB or more.
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                decoded += n as u64;
                filled += n;
                if filled >= 256 * 1024 {
                    if ctx.send(buf[..filled].to_vec()).is_err() {
                        filled = 0;
                        break;
                    }
                    filled = 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                err = Some(describe_gzip_error(&e, decoded));
                break;
            }
        }
    }
    if filled > 0 {
        let _ = ctx.send(buf[..filled].to_vec());
    }
    // Drain what is left so the reader thread is never blocked.
    drop(input);
    (err, decoded)
}

/// The decoding stage for gzip: lfb's members inflate on all cores and
/// their outputs go on whole, with no copy ([`members::Decoder`]); other
/// gzip decodes serially in pieces of 1 MiB. The decoder proves the whole
/// stream: every member's CRC-32 and length, the end of the data, nothing
/// trailing.
fn decode_members(src: ChannelReader, ctx: SyncSender<Vec<u8>>) -> (Option<String>, u64) {
    let mut err = None;
    let mut decoded = 0u64;
    let mut input = members::Decoder::new(src);
    loop {
        match input.next_chunk(1 << 20) {
            Ok(Some(chunk)) => {
                decoded += chunk.len() as u64;
                if ctx.send(chunk).is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                err = Some(describe_gzip_error(&e, decoded));
                break;
            }
        }
    }
    // Drain what is left so the reader thread is never blocked.
    drop(input);
    if decoded == 0 && err.is_none() {
        err = Some("not a gzip stream (empty)".to_string());
    }
    (err, decoded)
}

/// The completeness stage: judges the decoded content as it streams and
/// copies it to `tee`. Returns the verdict, the tee and the first error
/// writing to it.
fn judge_and_copy(
    crx: Receiver<Vec<u8>>,
    tee: Option<Tee>,
) -> (Verdict<ArchiveReport>, Option<Tee>, Option<io::Error>) {
    let mut comp = Completeness::<TarFeed>::new();
    let mut tee = tee;
    let mut tee_err = None;
    // Nothing is copied before the content is known (its first 8 KiB),
    // and content that must never reach a database stops the copy
    // before the block that completes it.
    let mut pending: Vec<u8> = Vec::new();
    let mut copy = |bytes: &[u8], comp: &Completeness<TarFeed>, tee_err: &mut Option<io::Error>| {
        if tee_err.is_none()
            && let Some(why) = comp.fatal()
        {
            *tee_err = Some(io::Error::other(why));
        }
        if let Some(t) = tee.as_mut().filter(|_| tee_err.is_none())
            && let Err(e) = t.write_all(bytes)
        {
            *tee_err = Some(e);
        }
    };
    for block in crx {
        comp.feed(&block);
        if !comp.decided() {
            pending.extend_from_slice(&block);
            continue;
        }
        if !pending.is_empty() {
            pending.extend_from_slice(&block);
            copy(&std::mem::take(&mut pending), &comp, &mut tee_err);
        } else {
            copy(&block, &comp, &mut tee_err);
        }
    }
    comp.settle();
    if !pending.is_empty() {
        copy(&pending, &comp, &mut tee_err);
    }
    (comp.finish(), tee, tee_err)
}

fn describe_gzip_error(e: &io::Error, decoded: u64) -> String {
    // The member decoder's errors name the member's byte offset already.
    let s = e.to_string();
    if s.starts_with("gzip member at byte offset")
        || s.starts_with("the gzip stream ends at byte offset")
        || s.starts_with("data after the gzip stream")
    {
        return format!("{s}, after {decoded} decoded bytes");
    }
    let what = match e.kind() {
        io::ErrorKind::UnexpectedEof => "unexpected end of file: the file is truncated".to_string(),
        _ => {
            let s = e.to_string();
            if s.contains("crc") || s.contains("CRC") {
                "CRC mismatch: the data is corrupt".to_string()
            } else {
                format!("corrupt gzip stream ({s})")
            }
        }
    };
    format!("{what}, after {decoded} decoded bytes")
}
