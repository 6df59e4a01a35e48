//! lfb's gzip member layout, and its parallel reader.
//!
//! [`super::GzWriter`] writes a stream as a sequence of standard gzip members
//! (RFC 1952), each holding a few MiB of the input, deflated independently
//! of the members before it. Concatenated members are plain gzip: `gzip -d`,
//! `zcat`, Python's `gzip`, `tar xzf` read the whole stream. Every member's
//! header carries one extra subfield (FLG.FEXTRA, as BGZF's `BC`):
//!
//! ```text
//! 1f 8b 08 04 00000000 XFL 03   ID1 ID2 CM=deflate FLG=FEXTRA MTIME=0 XFL OS=unix
//! 0c 00                         XLEN = 12
//! 'L' 'F' 08 00                 SI1 SI2 = "LF" (lfb), LEN = 8
//! SIZE (u32 LE)                 the whole member's size in bytes, header to trailer
//! FLAGS (u8)                    bit 0: the last member of the stream
//! 00 00 00                      reserved, zero
//! deflate data, CRC32, ISIZE    as in any gzip member
//! ```
//!
//! A reader that knows the layout finds each member's end from its header
//! without inflating, so members inflate on all cores ([`Decoder`]); the
//! stream is complete only when it ends right after a member flagged last.
//! Any other gzip (legacy lfb files, other tools') is read serially.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Decompress, FlushDecompress, Status};

/// Subfield id of the member-size field: "LF".
pub const SUBFIELD_ID: [u8; 2] = *b"LF";
/// Bytes of the member header lfb writes.
pub const HEADER_LEN: usize = 24;
/// Payload bytes of the subfield.
const FIELD_LEN: usize = 8;
/// Flag bit: the last member of the stream.
const FLAG_LAST: u8 = 1;
/// Largest member a reader accepts (lfb writes a few MiB): a bound on the
/// memory one member can take, whatever a header claims.
pub const MAX_MEMBER: u64 = 64 << 20;

/// The header of one member of `size` bytes (header to trailer).
pub fn header(size: u32, last: bool, xfl: u8) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..10].copy_from_slice(&[0x1f, 0x8b, 8, 4, 0, 0, 0, 0, xfl, 3]);
    h[10..12].copy_from_slice(&((4 + FIELD_LEN) as u16).to_le_bytes());
    h[12..14].copy_from_slice(&SUBFIELD_ID);
    h[14..16].copy_from_slice(&(FIELD_LEN as u16).to_le_bytes());
    h[16..20].copy_from_slice(&size.to_le_bytes());
    h[20] = if last { FLAG_LAST } else { 0 };
    h
}

/// What the subfield says about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInfo {
    /// Bytes of the whole member, header to trailer.
    pub size: u64,
    /// Bytes of its header.
    pub header_len: usize,
    /// The last member of its stream.
    pub last: bool,
}

/// Reads the member-size field from the start of a gzip member: `None` when
/// `head` is not a member with lfb's field (any other gzip header).
/// `head` must hold the fixed header and the extra field.
pub fn parse_header(head: &[u8]) -> Option<MemberInfo> {
    if head.len() < 12 || head[..3] != [0x1f, 0x8b, 8] || head[3] != 4 {
        return None;
    }
    let xlen = u16::from_le_bytes([head[10], head[11]]) as usize;
    let extra = head.get(12..12 + xlen)?;
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = [extra[at], extra[at + 1]];
        let len = u16::from_le_bytes([extra[at + 2], extra[at + 3]]) as usize;
        let body = extra.get(at + 4..at + 4 + len)?;
        if id == SUBFIELD_ID && len == FIELD_LEN {
            let size = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as u64;
            return Some(MemberInfo {
                size,
                header_len: 12 + xlen,
                last: body[4] & FLAG_LAST != 0,
            });
        }
        at += 4 + len;
    }
    None
}

/// Number of inflating threads to use.
pub fn default_threads() -> usize {
    super::default_threads()
}

/// Reads exactly `buf.len()` bytes unless the input ends first; returns the
/// number read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn truncated(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, msg)
}

struct Job {
    member: Vec<u8>,
    header_len: usize,
    offset: u64,
    reply: SyncSender<io::Result<Vec<u8>>>,
}

/// Inflates one whole member and proves it: the deflate data ends exactly
/// at the trailer, and the trailer's CRC-32 and length match the output.
///
/// libdeflate inflates it first, in one call into a buffer of the length
/// the trailer records (about a quarter faster than zlib-rs): it checks the
/// deflate data, and the CRC-32 and length in the 8 bytes after it, and the
/// output is checked against the member's own trailer again here. Anything
/// it refuses is inflated again by zlib-rs ([`inflate_member_zlib`]), whose
/// error says exactly what is wrong and where.
pub fn inflate_member(member: &[u8], header_len: usize, offset: u64) -> io::Result<Vec<u8>> {
    thread_local! {
        static INFLATER: std::cell::RefCell<libdeflater::Decompressor> =
            std::cell::RefCell::new(libdeflater::Decompressor::new());
    }
    if member.len() >= header_len + 8 + 2 {
        let trailer = &member[member.len() - 8..];
        let want_crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let want_len = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes")) as usize;
        if want_len <= MAX_MEMBER as usize {
            let mut out = vec![0u8; want_len];
            let n = INFLATER.with(|d| d.borrow_mut().gzip_decompress(member, &mut out));
            if n == Ok(want_len) && crc32fast::hash(&out) == want_crc {
                return Ok(out);
            }
        }
    }
    inflate_member_zlib(member, header_len, offset)
}

/// [`inflate_member`] by zlib-rs, step by step, naming what is wrong.
fn inflate_member_zlib(member: &[u8], header_len: usize, offset: u64) -> io::Result<Vec<u8>> {
    if member.len() < header_len + 8 + 2 {
        return Err(corrupt(format!(
            "gzip member at byte offset {offset}: {} bytes is too short to be a member",
            member.len()
        )));
    }
    let body = &member[header_len..member.len() - 8];
    let trailer = &member[member.len() - 8..];
    let want_crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
    let want_len = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes")) as usize;
    // A member never holds more than MAX_MEMBER of output: whatever its
    // trailer claims, inflating stops there.
    let cap = want_len.min(MAX_MEMBER as usize);
    let mut out = Vec::with_capacity(cap + 1);
    let mut d = Decompress::new(false);
    loop {
        let consumed = d.total_in() as usize;
        let status = d
            .decompress_vec(&body[consumed..], &mut out, FlushDecompress::Finish)
            .map_err(|e| {
                corrupt(format!(
                    "gzip member at byte offset {offset}: corrupt deflate data ({e})"
                ))
            })?;
        match status {
            Status::StreamEnd => break,
            _ if out.len() > cap => {
                return Err(corrupt(format!(
                    "gzip member at byte offset {offset}: inflates to more than the {want_len} bytes its trailer records"
                )));
            }
            _ if out.len() == out.capacity() => out.reserve(256 * 1024),
            _ if d.total_in() as usize == body.len() => {
                return Err(truncated(format!(
                    "gzip member at byte offset {offset}: the deflate data ends before its end of block (truncated or corrupt)"
                )));
            }
            _ => {}
        }
    }
    if d.total_in() as usize != body.len() {
        return Err(corrupt(format!(
            "gzip member at byte offset {offset}: {} bytes after the end of its deflate data",
            body.len() - d.total_in() as usize
        )));
    }
    if out.len() != want_len {
        return Err(corrupt(format!(
            "gzip member at byte offset {offset}: length mismatch ({} bytes inflated, trailer says {want_len})",
            out.len()
        )));
    }
    let crc = crc32fast::hash(&out);
    if crc != want_crc {
        return Err(corrupt(format!(
            "gzip member at byte offset {offset}: CRC mismatch (the data is corrupt)"
        )));
    }
    Ok(out)
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    // A restore's database server is the critical path: inflating takes the
    // cores it leaves, as compressing does for a dump.
    crate::sys::lower_thread_priority(super::WORKER_NICE);
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let res = inflate_member(&job.member, job.header_len, job.offset);
        let _ = job.reply.send(res);
    }
}

/// The serial decoder: the bytes already read, then the rest of the input.
type SerialDecoder =
    flate2::read::MultiGzDecoder<io::Chain<io::Cursor<Vec<u8>>, Box<dyn Read + Send>>>;

enum Mode {
    /// Members with lfb's field, inflated on worker threads.
    Parallel,
    /// Any other gzip: one serial decoder over the rest of the input.
    Serial(Box<SerialDecoder>),
    Done,
}

/// A gzip decoder that inflates lfb's members on all cores and yields the
/// stream in order, with a fixed window of members in flight (bounded
/// memory). It proves the whole stream: every member's CRC-32 and length,
/// that the data ends right after a member flagged last, and that nothing
/// follows it but another complete stream. Input without lfb's field is
/// decoded serially, as `MultiGzDecoder` does.
pub struct Decoder {
    input: Option<Box<dyn Read + Send>>,
    mode: Mode,
    /// Compressed bytes consumed so far: the offset of the next member.
    offset: u64,
    /// The previous member was flagged last (the input may end here).
    at_end: bool,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    window: usize,
    out: Vec<u8>,
    pos: usize,
    /// The error that stopped decoding, returned again by later reads.
    failed: Option<(io::ErrorKind, String)>,
}

impl Decoder {
    /// A decoder with one inflating thread per core.
    pub fn new<R: Read + Send + 'static>(input: R) -> Self {
        Self::with_threads(input, default_threads())
    }

    /// A decoder with `threads` inflating threads (started only when the
    /// input has lfb's member layout) and `threads + 1` members in flight.
    pub fn with_threads<R: Read + Send + 'static>(input: R, threads: usize) -> Self {
        Decoder {
            input: Some(Box::new(input)),
            mode: Mode::Parallel,
            offset: 0,
            at_end: false,
            jobs: None,
            workers: Vec::new(),
            pending: VecDeque::new(),
            window: threads.max(1) + 1,
            out: Vec::new(),
            pos: 0,
            failed: None,
        }
    }

    /// True while the members read so far all carried lfb's field.
    pub fn is_parallel(&self) -> bool {
        !matches!(self.mode, Mode::Serial(_))
    }

    fn start_pool(&mut self) {
        if self.jobs.is_some() {
            return;
        }
        let threads = self.window - 1;
        let (tx, rx) = mpsc::sync_channel::<Job>(self.window);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            self.workers.push(
                std::thread::Builder::new()
                    .name(format!("lfb-inflate-{i}"))
                    .spawn(move || worker(rx))
                    .expect("spawning an inflating thread"),
            );
        }
        self.jobs = Some(tx);
    }

    /// Reads the next member and hands it to a worker; false at the end of
    /// the input or when the rest of it is not lfb's layout (then the mode
    /// is serial or done).
    // Long: one member read in order (end of input, lfb's member field or the serial fallback, the size bound, the body, the hand-off); each exit is its own error or mode change.
    fn dispatch_one(&mut self) -> io::Result<bool> {
        let input = self.input.as_mut().expect("input is open");
        let mut head = [0u8; HEADER_LEN];
        let n = read_full(input, &mut head[..12])?;
        if n == 0 {
            if !self.at_end && self.offset > 0 {
                return Err(truncated(format!(
                    "the gzip stream ends at byte offset {} without its last member (truncated)",
                    self.offset
                )));
            }
            if self.offset == 0 {
                // Empty input: let the serial decoder say so as it would.
                self.go_serial(Vec::new());
                return Ok(false);
            }
            self.mode = Mode::Done;
            return Ok(false);
        }
        let mut have = n;
        if n == 12 && head[..4] == [0x1f, 0x8b, 8, 4] {
            let xlen = u16::from_le_bytes([head[10], head[11]]) as usize;
            if xlen == 4 + FIELD_LEN {
                have += read_full(input, &mut head[12..])?;
            }
        }
        let info = if have == HEADER_LEN {
            parse_header(&head)
        } else {
            None
        };
        let Some(info) = info else {
            if self.offset > 0 && (have < 10 || head[..3] != [0x1f, 0x8b, 8]) {
                return Err(corrupt(format!(
                    "data after the gzip stream at byte offset {} is not a gzip member",
                    self.offset
                )));
            }
            if self.offset > 0 && !self.at_end {
                return Err(corrupt(format!(
                    "gzip member at byte offset {} lacks lfb's member field inside an lfb stream before its last member",
                    self.offset
                )));
            }
            self.go_serial(head[..have].to_vec());
            return Ok(false);
        };
        let offset = self.offset;
        if info.size > MAX_MEMBER || info.size < (info.header_len + 10) as u64 {
            return Err(corrupt(format!(
                "gzip member at byte offset {offset}: its header records an impossible size ({} bytes)",
                info.size
            )));
        }
        let mut member = vec![0u8; info.size as usize];
        member[..HEADER_LEN].copy_from_slice(&head);
        let got = read_full(input, &mut member[HEADER_LEN..])?;
        if got < member.len() - HEADER_LEN {
            return Err(truncated(format!(
                "gzip member at byte offset {offset}: the file ends {} bytes into a member of {} bytes (truncated)",
                HEADER_LEN + got,
                info.size
            )));
        }
        self.offset += info.size;
        self.at_end = info.last;
        self.start_pool();
        let (reply, rx) = mpsc::sync_channel(1);
        self.jobs
            .as_ref()
            .expect("pool started")
            .send(Job {
                member,
                header_len: info.header_len,
                offset,
                reply,
            })
            .map_err(|_| io::Error::other("inflating thread stopped"))?;
        self.pending.push_back(rx);
        Ok(true)
    }

    /// The rest of the input (after the members in flight) is read by one
    /// serial decoder, starting with the bytes already taken from it.
    fn go_serial(&mut self, head: Vec<u8>) {
        let input = self.input.take().expect("input is open");
        self.mode = Mode::Serial(Box::new(flate2::read::MultiGzDecoder::new(
            io::Cursor::new(head).chain(input),
        )));
    }

    /// Fills `self.out` with the next member's output; false at the end.
    fn next_member(&mut self) -> io::Result<bool> {
        while matches!(self.mode, Mode::Parallel) && self.pending.len() < self.window {
            if !self.dispatch_one()? {
                break;
            }
        }
        let Some(rx) = self.pending.pop_front() else {
            return Ok(false);
        };
        self.out = rx
            .recv()
            .map_err(|_| io::Error::other("inflating thread stopped"))??;
        self.pos = 0;
        Ok(true)
    }
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match self.next_member() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    self.shutdown();
                    return Err(e);
                }
            }
            // Members in flight are done: the rest is serial or nothing.
            return match &mut self.mode {
                Mode::Serial(d) => d.read(buf),
                _ => Ok(0),
            };
        }
    }
}

impl Decoder {
    /// The next piece of the decoded stream as an owned buffer, `None` at
    /// the end: a whole member's output when members are inflated in
    /// parallel (no copy), else up to `max` bytes read serially. For a
    /// consumer that passes buffers on (to another thread) rather than
    /// reading into its own.
    pub fn next_chunk(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        if self.pos < self.out.len() {
            let rest = self.out.split_off(self.pos);
            self.out.clear();
            self.pos = 0;
            return Ok(Some(rest));
        }
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        match self.next_member() {
            Ok(true) => {
                self.pos = 0;
                return Ok(Some(std::mem::take(&mut self.out)));
            }
            Ok(false) => {}
            Err(e) => {
                self.failed = Some((e.kind(), e.to_string()));
                self.shutdown();
                return Err(e);
            }
        }
        let mut buf = vec![0u8; max.max(1)];
        let mut filled = 0;
        while filled < buf.len() {
            let n = match &mut self.mode {
                Mode::Serial(d) => match d.read(&mut buf[filled..]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if filled > 0 => {
                        // Deliver what came before; the error comes next time.
                        self.failed = Some((e.kind(), e.to_string()));
                        break;
                    }
                    Err(e) => return Err(e),
                },
                _ => 0,
            };
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        Ok(Some(buf))
    }

    fn shutdown(&mut self) {
        self.jobs.take();
        self.pending.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::super::GzWriter;
    use super::*;
    use std::io::{Cursor, Write};

    fn text(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        let mut v = Vec::with_capacity(n + 64);
        while v.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(
                format!("{}\tacct {}\t{}\n", x % 100_000, x % 37, x % 999).as_bytes(),
            );
        }
        v.truncate(n);
        v
    }

    fn lfb_gzip(data: &[u8], member_mib: usize) -> Vec<u8> {
        let mut w = GzWriter::with_threads(Vec::new(), 4, 2).with_member_size(member_mib << 20);
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn decode(gz: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut d = Decoder::with_threads(Cursor::new(gz), 2);
        let mut out = Vec::new();
        d.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Offsets of the members of an lfb stream, from their headers.
    fn member_offsets(gz: &[u8]) -> Vec<usize> {
        let mut at = 0;
        let mut v = Vec::new();
        while at < gz.len() {
            v.push(at);
            at += parse_header(&gz[at..]).unwrap().size as usize;
        }
        assert_eq!(at, gz.len());
        v
    }

    #[test]
    fn members_carry_their_size_and_the_last_one_is_flagged() {
        let data = text(9 << 20, 1);
        let gz = lfb_gzip(&data, 2);
        let offs = member_offsets(&gz);
        assert_eq!(offs.len(), 5, "9 MiB in members of 2 MiB");
        for (i, &o) in offs.iter().enumerate() {
            let info = parse_header(&gz[o..]).unwrap();
            assert_eq!(info.header_len, HEADER_LEN);
            assert_eq!(info.last, i + 1 == offs.len());
        }
        assert_eq!(decode(gz).unwrap(), data);
    }

    #[test]
    fn other_gzip_is_decoded_serially() {
        let data = text(3 << 20, 2);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(&data).unwrap();
        let mut plain = e.finish().unwrap();
        let d = Decoder::with_threads(Cursor::new(plain.clone()), 2);
        assert!(d.is_parallel(), "nothing read yet");
        assert_eq!(decode(plain.clone()).unwrap(), data);
        // Two plain members concatenated, and an lfb stream followed by a
        // plain member: both are gzip, both decode whole.
        let twice = [plain.clone(), plain.clone()].concat();
        assert_eq!(
            decode(twice).unwrap(),
            [data.clone(), data.clone()].concat()
        );
        let mixed = [lfb_gzip(&data, 1), plain.clone()].concat();
        assert_eq!(
            decode(mixed).unwrap(),
            [data.clone(), data.clone()].concat()
        );
        // A corrupt plain member still fails.
        let mid = plain.len() / 2;
        plain[mid] ^= 0x55;
        assert!(decode(plain).is_err());
    }

    #[test]
    fn concatenated_lfb_streams_decode_whole() {
        let a = text(3 << 20, 3);
        let b = text(1000, 4);
        let gz = [lfb_gzip(&a, 1), lfb_gzip(&b, 1)].concat();
        assert_eq!(decode(gz).unwrap(), [a, b].concat());
    }

    #[test]
    fn a_stream_cut_at_a_member_boundary_is_truncated() {
        let data = text(5 << 20, 5);
        let gz = lfb_gzip(&data, 2);
        let offs = member_offsets(&gz);
        // gzip itself cannot tell (the members before the cut are whole).
        let cut = gz[..offs[1]].to_vec();
        let e = decode(cut).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            e.to_string().contains(&format!(
                "ends at byte offset {} without its last member",
                offs[1]
            )),
            "{e}"
        );
    }

    #[test]
    fn a_stream_cut_inside_a_member_names_the_member() {
        let data = text(5 << 20, 6);
        let gz = lfb_gzip(&data, 2);
        let offs = member_offsets(&gz);
        for cut in [offs[1] + 5, offs[1] + 30, offs[2] - 1] {
            let e = decode(gz[..cut].to_vec()).unwrap_err();
            assert!(
                e.to_string().contains(&format!("offset {}", offs[1])),
                "cut {cut}: {e}"
            );
        }
    }

    #[test]
    fn a_flipped_byte_fails_naming_its_member() {
        let data = text(5 << 20, 7);
        let gz = lfb_gzip(&data, 2);
        let offs = member_offsets(&gz);
        // In the deflate data, in the CRC, in the length.
        for at in [offs[1] + 1000, offs[2] - 6, offs[2] - 2] {
            let mut bad = gz.clone();
            bad[at] ^= 0x10;
            let e = decode(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            assert!(
                e.to_string().contains(&format!("offset {}", offs[1])),
                "flip at {at}: {e}"
            );
        }
        // A size field that lies: too big (the next header is not where it
        // says), or beyond any member.
        let mut bad = gz.clone();
        bad[offs[1] + 16] ^= 0x01;
        assert!(decode(bad).is_err());
        let mut bad = gz.clone();
        bad[offs[1] + 19] = 0x7f;
        let e = decode(bad).unwrap_err();
        assert!(e.to_string().contains("impossible size"), "{e}");
    }

    #[test]
    fn trailing_data_is_refused() {
        let data = text(2 << 20, 8);
        let gz = lfb_gzip(&data, 1);
        for tail in [&b"\0\0\0\0"[..], b"garbage", b"\x1f"] {
            let e = decode([gz.clone(), tail.to_vec()].concat()).unwrap_err();
            assert!(e.to_string().contains(&format!("{}", gz.len())), "{e}");
        }
    }

    #[test]
    fn a_member_cannot_inflate_past_its_trailer() {
        // A member whose trailer claims fewer bytes than its data holds.
        let data = text(100_000, 9);
        let mut gz = lfb_gzip(&data, 1);
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        let e = decode(gz).unwrap_err();
        assert!(e.to_string().contains("offset 0"), "{e}");
    }

    #[test]
    fn chunks_are_whole_members_or_serial_pieces() {
        let data = text(5 << 20, 10);
        for gz in [lfb_gzip(&data, 2), {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        }] {
            let mut d = Decoder::with_threads(Cursor::new(gz), 2);
            let mut got = Vec::new();
            let mut sizes = Vec::new();
            while let Some(c) = d.next_chunk(1 << 20).unwrap() {
                sizes.push(c.len());
                got.extend_from_slice(&c);
            }
            assert_eq!(got, data);
            assert!(sizes.iter().all(|&n| n > 0 && n <= 2 << 20), "{sizes:?}");
        }
        // A corrupt member stops it with the offset.
        let mut gz = lfb_gzip(&data, 2);
        let n = gz.len();
        gz[n - 100] ^= 1;
        let mut d = Decoder::with_threads(Cursor::new(gz), 2);
        let err = loop {
            match d.next_chunk(1 << 20) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("corruption not found"),
                Err(e) => break e,
            }
        };
        assert!(
            err.to_string().contains("gzip member at byte offset"),
            "{err}"
        );
    }

    #[test]
    fn empty_input_decodes_to_nothing_and_empty_stream_too() {
        assert_eq!(decode(lfb_gzip(b"", 1)).unwrap(), b"");
        let e = decode(Vec::new());
        // As MultiGzDecoder: nothing, or an error; never data.
        assert!(e.map(|v| v.is_empty()).unwrap_or(true));
    }
}
