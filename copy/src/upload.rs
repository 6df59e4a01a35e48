//! The parts of a multipart upload, sent by a few threads at once.
//!
//! The calling thread reads the file in order and hashes it whole (SHA-256:
//! the upload is completed only if the file is still what was hashed before
//! it), and hands each part to one of [`WORKERS`] upload threads through a
//! pool of [`WORKERS`] part buffers. Memory is therefore bounded by
//! `WORKERS × part size` (32 MiB with the default 8 MiB parts), whatever
//! the artifact's size.
//!
//! Each worker computes its part's MD5 (and CRC-32, sent as
//! `x-amz-checksum-crc32` when the upload was started with CRC-32
//! checksums, as the AWS CLI does). A part already in the bucket (an
//! upload resumed after a kill) is kept when its size and ETag match; any
//! other part is sent with `Content-MD5` (AWS and MinIO refuse a part whose
//! bytes do not match it) and the ETag the service returns is compared with
//! the MD5: equal, the service has exactly these bytes (`confirmed`). Each
//! request is retried with backoff on its own ([`Client::upload_part`]);
//! the first part that fails for good stops the reader and the other
//! workers, and the upload stays in the bucket for the next run to resume.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use lfb_core::cli::Ui;
use lfb_core::digest;
use lfb_core::error::IoContext;
use lfb_core::s3::{Client, Part};
use lfb_core::{Error, Result};
use sha2::Digest;

/// Upload threads (and part buffers): parts in flight at once.
pub const WORKERS: usize = 4;

/// What the parts of an upload came to.
pub struct Sent {
    /// The ETag of each part, in order (for CompleteMultipartUpload).
    pub etags: Vec<String>,
    /// The SHA-256 of the file as read for the upload, hex.
    pub sha256: String,
    /// The ETag the whole object will have if the service computes it from
    /// the parts' MD5s (`MD5(MD5_1 ‖ … ‖ MD5_N)-N`): `Some` only when every
    /// part's ETag was its MD5.
    pub object_etag: Option<String>,
    /// Parts that were already in the bucket.
    pub resumed: u32,
    /// Each part's CRC-32, in order (when the upload carries them).
    pub crc32s: Option<Vec<u32>>,
}

/// One part, sent (or found already there).
struct Done {
    index: usize,
    etag: String,
    md5: [u8; 16],
    /// Computed only when the upload carries CRC-32s.
    crc32: Option<u32>,
    confirmed: bool,
    resumed: bool,
}

/// Where the parts go, and what is there already.
pub struct Target<'a> {
    pub client: &'a Client,
    pub key: &'a str,
    pub upload_id: &'a str,
    pub existing: &'a [Part],
    /// A pause after each part sent (a test hook, see `multipart`).
    pub delay: Option<Duration>,
    /// Send each part's CRC-32 (the upload was started with them).
    pub crc32: bool,
}

/// Reads `path` (`size` bytes, in parts of `part_size`) and sends its parts.
// Long: the reader loop and the worker pool share the buffer pool, the stop flag and the results.
pub fn send_parts(t: &Target<'_>, path: &Path, size: u64, part_size: u64, ui: &Ui) -> Result<Sent> {
    let total = size.div_ceil(part_size) as usize;
    let mut f = File::open(path).with_path("read", path)?;
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    let (work_tx, work_rx) = mpsc::channel::<(usize, Vec<u8>)>();
    let (done_tx, done_rx) = mpsc::channel::<Result<Done>>();
    let work_rx = Mutex::new(work_rx);
    let stop = AtomicBool::new(false);
    let mut whole = sha2::Sha256::new();
    let read: Result<()> = std::thread::scope(|s| {
        for _ in 0..WORKERS.min(total.max(1)) {
            // Each worker owns one buffer of the pool, handed back and forth.
            free_tx.send(Vec::new()).expect("the pool is open");
            let (free_tx, done_tx) = (free_tx.clone(), done_tx.clone());
            let (work_rx, stop) = (&work_rx, &stop);
            s.spawn(move || {
                loop {
                    let job = work_rx.lock().expect("no worker panics").recv();
                    let Ok((index, buf)) = job else { return };
                    if !stop.load(Ordering::SeqCst) {
                        let r = send_one(t, index, &buf, total, ui);
                        if r.is_err() {
                            stop.store(true, Ordering::SeqCst);
                        }
                        let _ = done_tx.send(r);
                    }
                    let _ = free_tx.send(buf);
                }
            });
        }
        // Only the workers hold the pool now: if they all end, the reader
        // stops waiting for a buffer.
        drop(free_tx);
        let work_tx = work_tx;
        for index in 0..total {
            let Ok(mut buf) = free_rx.recv() else { break };
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let len = part_size.min(size - index as u64 * part_size) as usize;
            buf.resize(len, 0);
            if let Err(e) = f.read_exact(&mut buf).with_path("read", path) {
                stop.store(true, Ordering::SeqCst);
                return Err(e);
            }
            whole.update(&buf);
            if work_tx.send((index, buf)).is_err() {
                break;
            }
        }
        Ok(())
    });
    drop(done_tx);
    read?;
    let mut parts: Vec<Option<Done>> = (0..total).map(|_| None).collect();
    let mut first_error = None;
    for r in done_rx {
        match r {
            Ok(d) => {
                let i = d.index;
                parts[i] = Some(d);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let parts: Vec<Done> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            p.ok_or_else(|| Error::failed(format!("{}: part {} was not sent", t.key, i + 1)))
        })
        .collect::<Result<_>>()?;
    let object_etag = parts.iter().all(|p| p.confirmed).then(|| {
        let mut m = md5::Md5::new();
        for p in &parts {
            m.update(p.md5);
        }
        format!("{}-{}", digest::hex(&m.finalize()), parts.len())
    });
    Ok(Sent {
        crc32s: parts.iter().map(|p| p.crc32).collect(),
        resumed: parts.iter().filter(|p| p.resumed).count() as u32,
        etags: parts.into_iter().map(|p| p.etag).collect(),
        sha256: digest::hex(&whole.finalize()),
        object_etag,
    })
}

/// Sends part `index` (from 0), or keeps the copy already in the bucket.
fn send_one(t: &Target<'_>, index: usize, buf: &[u8], total: usize, ui: &Ui) -> Result<Done> {
    let number = (index + 1) as u16;
    let md5: [u8; 16] = md5::Md5::digest(buf).into();
    let crc32 = t.crc32.then(|| crc32fast::hash(buf));
    let hex = digest::hex(&md5);
    let there = t.existing.iter().find(|p| {
        p.number == number && p.size == buf.len() as u64 && p.etag.trim_matches('"') == hex
    });
    if let Some(p) = there {
        return Ok(Done {
            index,
            etag: p.etag.clone(),
            md5,
            crc32,
            confirmed: true,
            resumed: true,
        });
    }
    let etag = t
        .client
        .upload_part(t.key, t.upload_id, number, buf, &md5, crc32)?;
    let confirmed = etag.trim_matches('"') == hex;
    if !confirmed {
        ui.debug(format!(
            "{}: part {number}'s ETag is not its MD5 (an encrypted bucket?): the copy will be read back",
            t.key
        ));
    }
    if let Some(d) = t.delay {
        std::thread::sleep(d);
    }
    ui.debug(format!("{}: part {number}/{total}", t.key));
    Ok(Done {
        index,
        etag,
        md5,
        crc32,
        confirmed,
        resumed: false,
    })
}
