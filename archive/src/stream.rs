//! Writing the archive in one pass: every file is read once, hashed as it
//! goes into the tar stream, compressed on all cores (one standard gzip
//! member), and hashed again as it lands in the `.partial` file.
//!
//! ```text
//! file ─read─▶ SHA-256 (member) ─▶ tar ─▶ GzWriter ─▶ SHA-256 (artifact) ─▶ .partial
//! ```
//!
//! The tar crate writes the headers (GNU long names and link targets where
//! a name is over 100 bytes); file data is copied here, so that the size a
//! header promised is exactly what follows it even when the file changes
//! meanwhile, and so the gzip writer can be told which bytes are already
//! compressed (JPEG, video, gzip dumps) and should be stored, not deflated.
//! Memory stays bounded: one 1 MiB read buffer and the gzip writer's blocks.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use lfb_core::archive::{self, EntryKind, HashEntry, Hashes, Manifest};
use lfb_core::cli::Ui;
use lfb_core::crypt::Tail;
use lfb_core::digest::{HashingWriter, hex};
use lfb_core::error::{Error, Result};
use lfb_core::fsutil::AtomicFile;
use lfb_core::gzip::{self, GzWriter, Hint};
use lfb_core::progress::Progress;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::plan::{Entry, Identity, Plan};

/// Bytes read from a file at a time.
const READ: usize = 1 << 20;

/// What writing produced (besides the file).
#[derive(Debug)]
pub struct Written {
    /// SHA-256 and size of the `.tar.gz`.
    pub sha256: String,
    pub bytes: u64,
    /// Size of the tar stream before compression.
    pub raw_bytes: u64,
    pub hashes: Hashes,
    pub manifest_bytes: u64,
    pub hashes_bytes: u64,
    /// Encrypted: the plaintext's SHA-256 and size.
    pub plain: Option<(String, u64)>,
}

/// The tar stream's destination: gzip, then SHA-256, then the file.
struct Sink {
    gz: GzWriter<HashingWriter<Tail<BufWriter<AtomicFile>>>>,
    bytes: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.gz.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Who owns the lfb members (`manifest.json`, `manifest-hashes.json`): the
/// owner of the file being written, i.e. the user running lfb-archive.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// Writes the whole archive into `file` (at `partial`): `manifest.json`,
/// every planned member, `manifest-hashes.json`.
pub fn write(
    file: AtomicFile,
    partial: &Path,
    manifest: &Manifest,
    plan: &Plan,
    level: u32,
    owner: Owner,
    ui: &Ui,
) -> Result<(AtomicFile, Written)> {
    let werr = |e: io::Error| Error::io_path("write", partial, e);
    let sink = Sink {
        gz: GzWriter::new(
            HashingWriter::new(
                Tail::new(
                    BufWriter::with_capacity(1 << 20, file),
                    lfb_core::crypt::encryption()?,
                )
                .map_err(werr)?,
            ),
            level,
        ),
        bytes: 0,
    };
    let mut tar = tar::Builder::new(sink);
    let mut progress = Progress::new("archiving", !ui.quiet());

    let manifest_json = json_member(manifest);
    let manifest_sha256 = hex(&Sha256::digest(&manifest_json));
    let mut h = header(EntryType::Regular, manifest_json.len() as u64, 0o600, owner);
    tar.append_data(&mut h, archive::MANIFEST, &manifest_json[..])
        .map_err(werr)?;

    let mut buf = vec![0u8; READ];
    let mut hashes = Vec::new();
    for e in &plan.entries {
        if let Some(h) = append_entry(&mut tar, e, &mut buf, &mut progress, partial, ui)? {
            hashes.push(h);
        }
    }
    progress.finish();

    let hashes = Hashes {
        schema: archive::HASHES_SCHEMA.to_string(),
        manifest_sha256,
        members: hashes,
    };
    let hashes_json = json_member(&hashes);
    let mut h = header(EntryType::Regular, hashes_json.len() as u64, 0o600, owner);
    tar.append_data(&mut h, archive::HASHES, &hashes_json[..])
        .map_err(werr)?;

    let sink = tar.into_inner().map_err(werr)?;
    let raw_bytes = sink.bytes;
    let hashed = sink.gz.finish().map_err(werr)?;
    let (tail, sha256, bytes) = hashed.finish();
    let (buffered, cipher) = tail.finish().map_err(werr)?;
    let file = buffered.into_inner().map_err(|e| werr(e.into_error()))?;
    // Encrypted: the record describes the file as stored, and keeps the
    // plaintext's digest for a decrypting check.
    let (sha256, bytes, plain) = match cipher {
        Some((csha, cbytes)) => (csha, cbytes, Some((sha256, bytes))),
        None => (sha256, bytes, None),
    };
    Ok((
        file,
        Written {
            sha256,
            bytes,
            raw_bytes,
            hashes,
            manifest_bytes: manifest_json.len() as u64,
            hashes_bytes: hashes_json.len() as u64,
            plain,
        },
    ))
}

/// Appends one planned entry; a file's data is hashed on the way and its
/// hash entry returned.
fn append_entry(
    tar: &mut tar::Builder<Sink>,
    e: &Entry,
    buf: &mut [u8],
    progress: &mut Progress,
    partial: &Path,
    ui: &Ui,
) -> Result<Option<HashEntry>> {
    let werr = |err: io::Error| Error::io_path("write", partial, err);
    let m = &e.member;
    let mode = archive::parse_mode(&m.mode).unwrap_or(0o644);
    let owner = Owner {
        uid: e.uid,
        gid: e.gid,
        mtime: m.mtime,
    };
    match m.kind {
        EntryKind::Dir => {
            let mut h = header(EntryType::Directory, 0, mode, owner);
            tar.append_data(&mut h, format!("{}/", m.path), io::empty())
                .map_err(werr)?;
        }
        EntryKind::Symlink => {
            let target = m.target.as_deref().unwrap_or_default().as_bytes();
            let mut h = header(EntryType::Symlink, 0, mode, owner);
            if target.len() > 100 {
                // The tar crate's own long-link path normalises the
                // target (`a//b` becomes `a/b`); readlink must get back
                // exactly what was there, so the GNU 'K' entry is
                // written here.
                tar.append(&long_link_header(target.len()), target.chain(&[0u8][..]))
                    .map_err(werr)?;
            }
            h.set_link_name_literal(&target[..target.len().min(100)])
                .map_err(werr)?;
            tar.append_data(&mut h, &m.path, io::empty())
                .map_err(werr)?;
        }
        EntryKind::File => {
            let size = m.size.unwrap_or(0);
            let mut h = header(EntryType::Regular, size, mode, owner);
            // The header (and a long-name entry) only: the data follows
            // from copy_file, exactly `size` bytes of it.
            tar.append_data(&mut h, &m.path, io::empty())
                .map_err(werr)?;
            let copied = copy_file(tar.get_mut(), e, buf, progress, partial)?;
            if m.role == archive::Role::Db {
                check_dump(e, &copied)?;
            }
            if let Some(note) = &copied.note {
                ui.warn(format!("'{}' {note}", e.source.display()));
            }
            return Ok(Some(HashEntry {
                path: m.path.clone(),
                sha256: copied.sha256,
                size,
                changed_while_read: copied.note.is_some(),
                note: copied.note,
            }));
        }
    }
    Ok(None)
}

/// An lfb member's JSON: indented (people read it after `tar xzf`), with a
/// final newline.
fn json_member<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("manifest types always serialize");
    b.push(b'\n');
    b
}

fn header(kind: EntryType, size: u64, mode: u32, owner: Owner) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(owner.uid);
    h.set_gid(owner.gid);
    h.set_mtime(owner.mtime);
    h
}

/// The GNU `././@LongLink` entry of type 'K' carrying a long link target.
fn long_link_header(len: usize) -> Header {
    let mut h = Header::new_gnu();
    let name = b"././@LongLink";
    if let Some(gnu) = h.as_gnu_mut() {
        gnu.name[..name.len()].copy_from_slice(name);
    }
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    // The target and its terminating NUL, as GNU tar writes it.
    h.set_size(len as u64 + 1);
    h.set_entry_type(EntryType::GNULongLink);
    h.set_cksum();
    h
}

/// What copying one file found.
struct Copied {
    /// SHA-256 of the bytes stored (padding included when it shrank).
    sha256: String,
    /// How it changed between the walk and the end of its read, if it did.
    note: Option<String>,
}

/// Copies exactly the size the header promised: a file that shrank is
/// padded with zeros, one that grew is cut, one that vanished is all zeros.
/// Any of these, or a different size or mtime afterwards, is a change.
///
/// Longer than most functions here on purpose: the size promise is one
/// sequence (open, compare with what was planned, copy, pad, compare again)
/// whose cases share `note` and `remaining`; split up, the order that makes
/// it safe would be spread over several functions.
fn copy_file(
    sink: &mut Sink,
    e: &Entry,
    buf: &mut [u8],
    progress: &mut Progress,
    partial: &Path,
) -> Result<Copied> {
    let werr = |err: io::Error| Error::io_path("write", partial, err);
    let size = e.member.size.unwrap_or(0);
    let mut note: Option<String> = None;
    let mut file = match open(&e.source) {
        Ok(f) => Some(f),
        Err(err) if vanished(&err) => {
            note = Some("vanished before it was read: stored as zeros".into());
            None
        }
        Err(err) => return Err(Error::io_path("read", &e.source, err)),
    };
    if let Some(f) = &file {
        let now = f.metadata().with_read(&e.source)?;
        if !now.is_file() {
            note =
                Some("was replaced by something else before it was read: stored as zeros".into());
            file = None;
        } else if Identity::of(&now) != e.seen {
            note = Some("changed before it was read".into());
        }
    }

    let mut hasher = Sha256::new();
    let mut remaining = size;
    let mut first = true;
    if let Some(f) = &mut file {
        while remaining > 0 {
            let want = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let n = read_full(f, &mut buf[..want]).with_read(&e.source)?;
            if first {
                first = false;
                if n > 0 && gzip::known_incompressible(&e.member.path, &buf[..n]) {
                    sink.gz.hint(Hint::Incompressible);
                }
            }
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            sink.write_all(&buf[..n]).map_err(werr)?;
            remaining -= n as u64;
            progress.add(n as u64);
        }
    }
    if remaining > 0 {
        if file.is_some() {
            note = Some(format!(
                "shrank while it was read: the last {remaining} bytes are stored as zeros"
            ));
        }
        buf.fill(0);
        while remaining > 0 {
            let n = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            hasher.update(&buf[..n]);
            sink.write_all(&buf[..n]).map_err(werr)?;
            remaining -= n as u64;
        }
    } else if let Some(f) = &mut file {
        let mut one = [0u8; 1];
        if read_full(f, &mut one).with_read(&e.source)? > 0 {
            note = Some(format!(
                "grew while it was read: stored as its first {size} bytes"
            ));
        }
    }
    sink.gz.hint(Hint::Auto);
    if note.is_none()
        && let Some(f) = &file
    {
        let after = f.metadata().with_read(&e.source)?;
        if Identity::of(&after) != e.seen {
            note = Some("was modified while it was read".into());
        }
    }
    let pad = (512 - size % 512) % 512;
    sink.write_all(&[0u8; 512][..pad as usize]).map_err(werr)?;
    Ok(Copied {
        sha256: hex(&hasher.finalize()),
        note,
    })
}

/// A dump must arrive exactly as its record describes it: never bundle a
/// damaged or still-changing dump.
fn check_dump(e: &Entry, copied: &Copied) -> Result<()> {
    if let Some(note) = &copied.note {
        return Err(Error::failed(format!(
            "dump '{}' {note}; not archiving it",
            e.source.display()
        )));
    }
    if let Some(want) = &e.member.sha256
        && *want != copied.sha256
    {
        return Err(Error::failed(format!(
            "dump '{}': SHA-256 differs from its record: the dump is damaged; not archiving it",
            e.source.display()
        )));
    }
    Ok(())
}

/// Opens a file to read without following a symlink (one that replaced the
/// file since the walk) and without blocking (on a FIFO that did).
fn open(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(p)
}

fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR))
}

/// Reads until `buf` is full or the file ends.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

trait ReadContext<T> {
    fn with_read(self, p: &Path) -> Result<T>;
}

impl<T> ReadContext<T> for io::Result<T> {
    fn with_read(self, p: &Path) -> Result<T> {
        self.map_err(|e| Error::io_path("read", p, e))
    }
}

/// The owner and time of the lfb members: those of the partial file.
pub fn owner_of(partial: &Path, mtime: u64) -> Owner {
    let (uid, gid) = std::fs::metadata(partial)
        .map(|m| (u64::from(m.uid()), u64::from(m.gid())))
        .unwrap_or((0, 0));
    Owner { uid, gid, mtime }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::entry_for;
    use lfb_core::archive::{Role, check_stream};
    use lfb_core::cli::Verbosity;
    use std::fs;

    /// A file planned, then changed before it is read: the archive still
    /// reads, each member has the size the manifest promised, and the
    /// changed ones are flagged with what happened.
    #[test]
    fn files_that_change_keep_their_promised_size_and_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir(&src).unwrap();
        let mut plan = Plan::default();
        let mut add = |name: &str, before: usize, after: Option<usize>| {
            let p = src.join(name);
            fs::write(&p, vec![b'a'; before]).unwrap();
            let meta = fs::metadata(&p).unwrap();
            let member = format!("media/src/{name}");
            plan.entries
                .push(entry_for(&member, Role::Media, EntryKind::File, &meta, &p));
            match after {
                None => fs::remove_file(&p).unwrap(),
                Some(n) if n < before => fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(n as u64)
                    .unwrap(),
                Some(n) => {
                    let mut f = fs::File::options().append(true).open(&p).unwrap();
                    f.write_all(&vec![b'b'; n - before]).unwrap();
                }
            }
        };
        add("grew", 100, Some(3000));
        add("same", 700, Some(700));
        add("shrank", 5000, Some(1000));
        add("vanished", 600, None);

        let manifest = Manifest {
            schema: archive::MANIFEST_SCHEMA.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            name: "t".into(),
            env: "dev".into(),
            tag: "daily".into(),
            host: "h".into(),
            tool: "test".into(),
            git: None,
            meta: Default::default(),
            hashes: archive::HASHES.into(),
            counts: Default::default(),
            sources: vec![],
            dumps: vec![],
            members: plan.entries.iter().map(|e| e.member.clone()).collect(),
            skipped: vec![],
        };
        let out = dir.path().join("t.tar.gz");
        let file = AtomicFile::create(&out).unwrap();
        let partial = file.partial_path().to_path_buf();
        let ui = Ui::new("test", Verbosity::default());
        let owner = owner_of(&partial, 0);
        let (file, written) = write(file, &partial, &manifest, &plan, 6, owner, &ui).unwrap();
        file.commit(&out).unwrap();

        let notes: Vec<(&str, bool, Option<&str>)> = written
            .hashes
            .members
            .iter()
            .map(|h| (h.path.as_str(), h.changed_while_read, h.note.as_deref()))
            .collect();
        assert_eq!(notes[1], ("media/src/same", false, None));
        for (i, word) in [(0, "grew"), (2, "shrank"), (3, "vanished")] {
            assert!(notes[i].1, "{notes:?}");
            assert!(notes[i].2.unwrap().contains(word), "{notes:?}");
        }
        let shrank = [vec![b'a'; 1000], vec![0u8; 4000]].concat();
        assert_eq!(
            written.hashes.members[2].sha256,
            hex(&Sha256::digest(&shrank))
        );

        // A valid archive whose members match the manifest, changes listed.
        let gz = flate2::read::MultiGzDecoder::new(fs::File::open(&out).unwrap());
        let report = check_stream(gz);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.stream_error.is_none());
        assert_eq!(report.changed.len(), 3);
        if let Ok(o) = std::process::Command::new("tar")
            .arg("tvzf")
            .arg(&out)
            .output()
        {
            let listing = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success());
            assert!(
                listing.contains(" 100 ") && listing.contains(" 5000 "),
                "{listing}"
            );
        }
    }
}
