//! lfb-copy: copies artifacts and their sidecars to another store, an
//! S3-compatible bucket (`s3://bucket/prefix`) or another folder, keeping the
//! store's layout (`ENV/NAME`), verifying each copy and skipping what is
//! already there and identical.
//!
//! Guarantees, for both kinds of destination:
//! - nothing incomplete ever appears under a final name: a folder copy is
//!   written as `NAME.partial`, synced and renamed; a bucket copy is one PUT
//!   (atomic) or a multipart upload, which becomes visible only at
//!   CompleteMultipartUpload (atomic too);
//! - a multipart upload killed half way is resumed by the next run: its
//!   upload id is kept in a private state file, the parts already in the
//!   bucket are listed and kept when their ETag is the MD5 of the local part;
//!   a state file for other content aborts the old upload;
//! - every copy is verified ([`verify_upload`]): its size, then the service's
//!   own SHA-256 checksum when it returns one for the object, else the
//!   service's MD5 of every part (ETags) and of the object, else its SHA-256
//!   read back; a copy that differs is deleted;
//! - parts go up from [`upload::WORKERS`] threads at once, and memory is
//!   bounded by that many part buffers (`--part-size`, 8 MiB by default:
//!   32 MiB).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use lfb_core::cli::{StoreArgs, ToolCli, Ui, Verbosity};
use lfb_core::digest::{self, HashingReader};
use lfb_core::error::IoContext;
use lfb_core::fsutil::{self, AtomicFile};
use lfb_core::ndjson::{self, RecordWriter};
use lfb_core::record::format_time;
use lfb_core::s3::{self, Client, Location};
use lfb_core::store::{self, Records, sidecar_path};
use lfb_core::{Error, Record, Result, Store, chrono, journal};
use serde_json::json;
use sha2::Digest;

mod upload;

/// Copy backups to another store: S3-compatible object storage or another folder.
#[derive(Parser, Debug)]
#[command(
    name = "lfb-copy",
    version,
    about = "Copy backups to S3-compatible storage or another folder, verified",
    long_about = "Copy artifacts and their sidecars to another store: an S3-compatible bucket \
(s3://BUCKET/PREFIX: AWS S3, MinIO, Cloudflare R2, Backblaze B2, Wasabi, ...) or another folder, \
keeping the store's layout (ENV/NAME). Each copy is verified (its size, then the service's own \
SHA-256 checksum, else the service's MD5 of every part and of the object (ETags), else its SHA-256 \
read back; a copy that differs is deleted), and what is already there and identical is skipped. Each record \
is printed back with an `offsite` section (destination, key, bytes, verified, at, skipped).\n\n\
What to copy: the records on stdin (lfb-list --verified | lfb-copy --to ...), the artifacts \
given as arguments, or with --all / --tag / --env the artifacts of the local store. Failed \
records in the input are passed through untouched and are not copied.\n\n\
Large artifacts go up in parts (multipart upload), 4 parts at once, each with its MD5 and \
CRC-32 for the service to check, with memory bounded by 4 parts; an upload killed half way is resumed by the next run; nothing incomplete ever appears under the final \
name (in a folder: NAME.partial, fsync, rename).\n\n\
S3 configuration comes from the environment, as for the AWS tools: AWS_ACCESS_KEY_ID, \
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE with \
~/.aws/credentials and ~/.aws/config; LFB_S3_ENDPOINT (or AWS_ENDPOINT_URL) for non-AWS \
services, which then use path-style addressing (LFB_S3_PATH_STYLE=0|1 forces it). Throttling, \
5xx replies and dropped connections are retried with exponential backoff (LFB_S3_RETRIES, \
default 5; LFB_S3_BACKOFF_MS, default 250). Credentials never appear in messages or records.\n\n\
Exit status: 0 everything copied or already there, 1 a copy (or a verification, or a failed \
input record) failed, 2 bad arguments, credentials refused, missing bucket.",
    after_help = "Examples:\n  \
lfb-list --verified | lfb-copy --to s3://acme-backups/ledgerflow\n  \
lfb-copy --all -e prod --to /mnt/nas/lfb\n  \
lfb-copy --verify --all --to s3://acme-backups/ledgerflow      check the offsite copies\n  \
lfb-copy --from s3://acme-backups/ledgerflow -e prod --latest --to /tmp/restore-store\n  \
                                                               fetch the newest prod backup to restore it"
)]
pub struct Cli {
    /// Destination store: s3://BUCKET[/PREFIX] or a folder
    #[arg(long, value_name = "DEST")]
    pub to: String,

    /// Artifacts to copy (default: the records on stdin)
    #[arg(value_name = "ARTIFACT")]
    pub paths: Vec<PathBuf>,

    /// Copy every artifact of the local store (of --env ENV when given)
    #[arg(long)]
    pub all: bool,

    /// Copy the local store's artifacts with this tag (of --env ENV when given)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    /// Copy from a bucket to the folder --to instead: s3://BUCKET[/PREFIX]
    ///
    /// Downloads the artifacts (selected with -e, --tag, --name, --latest;
    /// --all for everything) and their sidecars into the store folder --to,
    /// each checked against its sidecar's SHA-256 and named only when
    /// complete. Then restore from that folder: lfb-restore --store DIR.
    #[arg(long, value_name = "S3", conflicts_with_all = ["verify", "paths"])]
    pub from: Option<String>,

    /// With --from: only artifacts of this database / base name
    #[arg(long, value_name = "NAME", requires = "from")]
    pub name: Option<String>,

    /// With --from: only the newest matching artifact of each environment and name
    #[arg(long, requires = "from")]
    pub latest: bool,

    /// Copy nothing: read back each copy and check its size and SHA-256
    ///
    /// Exit 1 when a copy is missing or differs from the local artifact.
    #[arg(long)]
    pub verify: bool,

    /// Size of the parts of a multipart upload (5MiB..5GiB; larger when a file needs more than 10,000 parts); artifacts up to one part go in one PUT
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = lfb_core::cli::parse_size_arg)]
    pub part_size: u64,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl ToolCli for Cli {
    fn verbosity(&self) -> Verbosity {
        self.verbosity
    }
}

/// How a copy was found to be identical to the local artifact.
const BY_READ_BACK: &str = "read-back";
const BY_CHECKSUM: &str = "service-checksum";
const BY_METADATA: &str = "metadata";
/// The service's MD5 of every part it received (ETags), and of the object.
const BY_PART_MD5: &str = "service-md5";

/// What happened to one file (artifact or sidecar).
#[derive(Debug)]
struct Outcome {
    bytes: u64,
    skipped: bool,
    verified_by: &'static str,
    replaced: bool,
    resumed_parts: u32,
}

/// A destination store.
enum Dest {
    Bucket(Box<Client>),
    Folder(PathBuf),
}

impl Dest {
    fn describe(&self) -> String {
        match self {
            Dest::Bucket(c) => c.location.to_string(),
            Dest::Folder(p) => p.display().to_string(),
        }
    }

    fn key(&self, rel: &str) -> String {
        match self {
            Dest::Bucket(c) => c.location.key(rel),
            Dest::Folder(_) => rel.to_string(),
        }
    }

    /// Size and SHA-256 of the copy, read back; `None` when there is none.
    fn read_back(&self, key: &str) -> Result<Option<(String, u64)>> {
        match self {
            Dest::Bucket(c) => {
                if c.head(key)?.is_none() {
                    return Ok(None);
                }
                let mut r = HashingReader::new(c.get(key)?);
                std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| {
                    Error::failed(format!("read back s3://{}/{key}: {e}", c.location.bucket))
                })?;
                let (_, h, n) = r.finish();
                Ok(Some((h, n)))
            }
            Dest::Folder(root) => {
                let p = root.join(key);
                match digest::sha256_file(&p) {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io_path("read back", &p, e)),
                }
            }
        }
    }
}

/// Runs lfb-copy.
// Long: the loop over records keeps the lease, the three counters and the output together; each step is a function.
pub fn run(cli: Cli, ui: &Ui) -> Result<u8> {
    if let Some(t) = &cli.tag {
        lfb_core::cli::check_tag(t)?;
    }
    if !(5 << 20..=5 << 30).contains(&cli.part_size) {
        return Err(Error::usage(format!(
            "invalid --part-size {}: S3 takes parts of 5MiB to 5GiB",
            cli.part_size
        )));
    }
    if let Some(from) = &cli.from {
        return download(&cli, from, ui);
    }
    let store = cli.store.store()?;
    // What to copy first: bad input (garbage on stdin, an unknown --env)
    // stops the run before a destination folder is made.
    let records = input_records(&cli, &store)?;
    let dest = destination(&cli, &store)?;
    if records.is_empty() {
        ui.info("nothing to copy");
    }
    // A copy into a bucket holds the bucket's lease, as a prune does: a
    // prune of the bucket must not delete an object this run just found
    // "already there" (and records as copied).
    let lock_store = match (&dest, cli.verify || records.is_empty()) {
        (Dest::Bucket(c), false) => Some(lfb_core::remote::RemoteStore::open(c.location.clone())?),
        _ => None,
    };
    let mut lease = match &lock_store {
        Some(s) => Some(s.lock(ui.tool(), lfb_core::publish::LOCK_WAIT)?),
        None => None,
    };
    let mut out = RecordWriter::new();
    let mut failed = 0usize;
    let mut copied = 0usize;
    let mut skipped = 0usize;
    for rec in records {
        let mut rec = rec?;
        if rec.failed() {
            ui.warn(format!("{}: a failed record, not copied", rec.label()));
            failed += 1;
            out.write(&rec)?;
            continue;
        }
        let start = Instant::now();
        let held = match lease.as_mut() {
            Some(l) => l.check(),
            None => Ok(()),
        };
        let result = if let Err(e) = held {
            Err(e)
        } else if cli.verify {
            verify_one(&dest, &store, &rec)
        } else {
            copy_one(&dest, &store, &rec, cli.part_size, ui)
        };
        match result {
            Ok((key, o)) => {
                if o.skipped {
                    skipped += 1;
                } else {
                    copied += 1;
                }
                let msg = record_copied(&cli, &dest, &mut rec, &key, &o, ui);
                journal_event(&store, ui, &rec, true, Some(o.bytes), start, &msg);
            }
            Err(e) if e.exit_code() == 2 && !matches!(e, Error::Input(_)) => return Err(e),
            Err(e) => {
                failed += 1;
                ui.error(format!("{}: {}", rec.label(), e.line()));
                rec.set(
                    "offsite",
                    json!({
                        "destination": dest.describe(),
                        "verified": false,
                        "at": format_time(chrono::Utc::now()),
                        "ok": false,
                        "error": e.line(),
                    }),
                );
                journal_event(&store, ui, &rec, false, None, start, &e.line());
            }
        }
        out.write(&rec)?;
    }
    if let Some(l) = lease {
        l.release()?;
    }
    if !cli.verify && (copied + skipped + failed) > 1 {
        ui.info(format!(
            "{copied} copied, {skipped} already there, {failed} failed ({})",
            dest.describe()
        ));
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// The destination: a bucket (checked now: wrong credentials or a missing
/// bucket stop the run before anything is read), else a folder outside the
/// store, made private if it is new.
fn destination(cli: &Cli, store: &Store) -> Result<Dest> {
    if let Some(loc) = Location::parse(&cli.to)? {
        let client = Client::new(loc)?;
        client.check()?;
        return Ok(Dest::Bucket(Box::new(client)));
    }
    let p = std::path::absolute(&cli.to)
        .map_err(|e| Error::usage(format!("invalid destination '{}': {e}", cli.to)))?;
    if p.starts_with(store.root()) || store.root().starts_with(&p) {
        return Err(Error::usage(format!(
            "destination '{}' overlaps the store '{}': copy to another folder",
            p.display(),
            store.root().display()
        )));
    }
    fsutil::create_private_dir(&p).map_err(Error::at_start)?;
    Ok(Dest::Folder(p))
}

/// A copy made (or found already there, or checked with --verify): the
/// record's `offsite` section, and the message said and journaled.
fn record_copied(
    cli: &Cli,
    dest: &Dest,
    rec: &mut Record,
    key: &str,
    o: &Outcome,
    ui: &Ui,
) -> String {
    if o.replaced {
        ui.warn(format!(
            "{}: the copy at {} differed from the artifact; replaced it",
            rec.label(),
            dest.key(key)
        ));
    }
    let mut sec = json!({
        "destination": dest.describe(),
        "key": dest.key(key),
        "bytes": o.bytes,
        "verified": true,
        "verified_by": o.verified_by,
        "at": format_time(chrono::Utc::now()),
        "skipped": o.skipped,
        "ok": true,
    });
    if o.replaced {
        sec["replaced"] = json!(true);
    }
    if o.resumed_parts > 0 {
        sec["resumed_parts"] = json!(o.resumed_parts);
    }
    rec.set("offsite", sec);
    let msg = if cli.verify {
        format!("{}: the copy at {} is intact", rec.label(), dest.key(key))
    } else if o.skipped {
        format!("{}: already at {}", rec.label(), dest.key(key))
    } else {
        format!("{}: copied to {}", rec.label(), dest.key(key))
    };
    ui.info(&msg);
    msg
}

fn journal_event(
    store: &Store,
    ui: &Ui,
    rec: &Record,
    ok: bool,
    bytes: Option<u64>,
    start: Instant,
    msg: &str,
) {
    if !store.root().is_dir() {
        return;
    }
    let ev = journal::Event::new(ui.tool(), "copy", ok, msg)
        .id(rec.id())
        .bytes(bytes)
        .duration(start.elapsed());
    if let Err(e) = journal::append(store, &ev) {
        ui.warn(format!("journal: {}", e.line()));
    }
}

/// The records to copy: arguments, else stdin, else the local store.
fn input_records(cli: &Cli, store: &Store) -> Result<Records> {
    if !cli.paths.is_empty() {
        return cli
            .paths
            .iter()
            .map(|p| store::record_for_path(p))
            .collect::<Result<_>>()
            .map(Records::given);
    }
    if !cli.all
        && cli.tag.is_none()
        && let Some(recs) = ndjson::stdin_records()?
    {
        return Ok(Records::given(recs));
    }
    if !cli.all && cli.tag.is_none() && cli.store.env.is_none() {
        return Err(Error::usage(
            "nothing to copy: pipe records in (lfb-list | lfb-copy --to DEST), name artifacts, or use --all / --tag / --env",
        ));
    }
    if !store.root().is_dir() {
        return Err(Error::usage(format!(
            "the store '{}' does not exist",
            store.root().display()
        )));
    }
    let env = match &cli.store.env {
        Some(_) => Some(cli.store.env()?),
        None => None,
    };
    if let Some(e) = &env {
        // A misspelt --env is an error naming the ones there are, not
        // "nothing to copy".
        store.require_env(e)?;
    }
    // Each record is read when its artifact is copied.
    Ok(Records::stored(store.artifact_refs(|a| {
        env.as_deref().is_none_or(|e| a.env() == e)
            && cli.tag.as_deref().is_none_or(|t| a.name.tag == t)
    })?))
}

/// The store-relative path of an artifact (`ENV/NAME`): its place under the
/// store root, else its environment folder and name.
fn relative_key(store: &Store, path: &Path, rec: &Record) -> Result<String> {
    let root = store
        .root()
        .canonicalize()
        .unwrap_or_else(|_| store.root().to_path_buf());
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::input(format!("{}: the path has no file name", rec.label())))?;
    let rel = match real.strip_prefix(&root) {
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => {
            let folder = real
                .parent()
                .and_then(Path::file_name)
                .map(|f| f.to_string_lossy().into_owned())
                .or_else(|| rec.env().map(str::to_string))
                .unwrap_or_else(|| "dev".into());
            format!("{folder}/{name}")
        }
    };
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == ".." || c == ".")
    {
        return Err(Error::input(format!(
            "{}: cannot place '{rel}' in the destination",
            rec.label()
        )));
    }
    Ok(rel)
}

fn artifact_path(rec: &Record) -> Result<PathBuf> {
    rec.path()
        .ok_or_else(|| Error::input(format!("{}: the record has no path", rec.label())))
}

/// Checks the copy of one record (`--verify`).
fn verify_one(dest: &Dest, store: &Store, rec: &Record) -> Result<(String, Outcome)> {
    let path = artifact_path(rec)?;
    let rel = relative_key(store, &path, rec)?;
    let key = dest.key(&rel);
    let want = match rec.sha256() {
        Some(s) => (s.to_string(), rec.bytes()),
        None => {
            let (h, n) = digest::sha256_file(&path).with_path("read", &path)?;
            (h, Some(n))
        }
    };
    match dest.read_back(&key)? {
        None => Err(Error::failed(format!(
            "no copy at {key} in {}",
            dest.describe()
        ))),
        Some((h, n)) if h == want.0 && want.1.is_none_or(|b| b == n) => Ok((
            rel,
            Outcome {
                bytes: n,
                skipped: true,
                verified_by: BY_READ_BACK,
                replaced: false,
                resumed_parts: 0,
            },
        )),
        Some((h, n)) => Err(Error::failed(format!(
            "the copy at {key} is corrupt: {n} bytes with SHA-256 {h}, the artifact has {} with {}",
            want.1.map_or("?".into(), |b| b.to_string()),
            want.0
        ))),
    }
}

/// Copies one record's artifact and sidecar.
fn copy_one(
    dest: &Dest,
    store: &Store,
    rec: &Record,
    part_size: u64,
    ui: &Ui,
) -> Result<(String, Outcome)> {
    let path = artifact_path(rec)?;
    let rel = relative_key(store, &path, rec)?;
    // The local artifact must be what its record says: never send a damaged
    // file offsite as a good copy. With the record's SHA-256 the file is
    // read once: the bytes sent are hashed as they are read, and the copy
    // is completed (or skipped as already there) only if they match it.
    let src = match rec.sha256() {
        Some(want) => Source {
            path: &path,
            sha: want.to_string(),
            size: std::fs::metadata(&path).with_path("read", &path)?.len(),
            from_record: true,
        },
        None => {
            let (sha, size) = digest::sha256_file(&path).with_path("read", &path)?;
            Source {
                path: &path,
                sha,
                size,
                from_record: false,
            }
        }
    };
    let outcome = copy_file(dest, &src, &rel, part_size, ui)?;
    let sidecar = sidecar_path(&path);
    if sidecar.is_file() {
        let (sha, size) = digest::sha256_file(&sidecar).with_path("read", &sidecar)?;
        let src = Source {
            path: &sidecar,
            sha,
            size,
            from_record: false,
        };
        copy_file(dest, &src, &format!("{rel}.json"), part_size, ui)?;
    }
    Ok((rel, outcome))
}

/// A local file to copy: its SHA-256 and size, either read from it or
/// taken from its record (then every byte read is checked against it).
struct Source<'a> {
    path: &'a Path,
    sha: String,
    size: u64,
    from_record: bool,
}

impl Source<'_> {
    /// The error for a file whose bytes hash to `found`, not to `sha`.
    fn mismatch(&self, found: &str) -> Error {
        Error::failed(if self.from_record {
            format!(
                "'{}' does not match its record (SHA-256 {found}, the record says {}): not copied",
                self.path.display(),
                self.sha
            )
        } else {
            format!("'{}' changed while it was copied", self.path.display())
        })
    }

    /// Before a copy already at the destination is taken as this file's:
    /// a SHA-256 from the record is checked against the file first.
    fn check(&self) -> Result<()> {
        if self.from_record {
            let (h, _) = digest::sha256_file(self.path).with_path("read", self.path)?;
            if h != self.sha {
                return Err(self.mismatch(&h));
            }
        }
        Ok(())
    }
}

/// Copies one local file to `rel` in the destination, skipping an identical
/// copy, and verifies the result.
// Long: skip an identical copy, upload, verify, and delete a bad copy are one sequence on the destination.
fn copy_file(dest: &Dest, src: &Source, rel: &str, part_size: u64, ui: &Ui) -> Result<Outcome> {
    let (path, sha, size) = (src.path, src.sha.as_str(), src.size);
    let key = dest.key(rel);
    let mut replaced = false;
    match dest {
        Dest::Bucket(c) => {
            if let Some(info) = c.head(&key)? {
                if info.size == size {
                    if info.checksum_sha256.as_deref() == Some(sha) {
                        src.check()?;
                        return Ok(skipped(size, BY_CHECKSUM));
                    }
                    if info.meta_sha256.as_deref() == Some(sha) {
                        src.check()?;
                        return Ok(skipped(size, BY_METADATA));
                    }
                    // Same size, no checksum to trust: read it back.
                    if let Some((h, n)) = dest.read_back(&key)?
                        && h == sha
                        && n == size
                    {
                        src.check()?;
                        return Ok(skipped(size, BY_READ_BACK));
                    }
                }
                replaced = true;
            }
            let (resumed_parts, object_etag) = if size <= part_size {
                let mut buf = Vec::with_capacity(size as usize);
                File::open(path)
                    .and_then(|f| f.take(size).read_to_end(&mut buf))
                    .with_path("read", path)?;
                let h = digest::hex(&sha2::Sha256::digest(&buf));
                if h != sha {
                    return Err(src.mismatch(&h));
                }
                let md5: [u8; 16] = md5::Md5::digest(&buf).into();
                let etag = c.put(&key, &buf, sha, &md5)?;
                let md5 = digest::hex(&md5);
                (0, (etag == md5).then_some(md5))
            } else {
                multipart(c, src, &key, part_size, ui)?
            };
            let verified_by = verify_upload(dest, c, &key, sha, size, object_etag.as_deref())?;
            Ok(Outcome {
                bytes: size,
                skipped: false,
                verified_by,
                replaced,
                resumed_parts,
            })
        }
        Dest::Folder(root) => {
            let target = root.join(rel);
            if let Some((h, n)) = dest.read_back(rel)? {
                if h == sha && n == size {
                    src.check()?;
                    return Ok(skipped(size, BY_READ_BACK));
                }
                replaced = true;
            }
            let dir = fsutil::parent_dir(&target);
            fsutil::create_private_dir(dir)?;
            let mut out = AtomicFile::create(&target)?;
            let mut reader = HashingReader::new(File::open(path).with_path("read", path)?);
            std::io::copy(&mut (&mut reader).take(size), &mut out)
                .with_path("write", out.partial_path())?;
            out.flush().with_path("write", out.partial_path())?;
            let (_, h, n) = reader.finish();
            if h != sha || n != size {
                return Err(src.mismatch(&h));
            }
            // Read the partial back before it gets its name.
            out.file().sync_all().with_path("sync", &target)?;
            let partial = out.partial_path().to_path_buf();
            let mut rb = HashingReader::new(File::open(&partial).with_path("read back", &partial)?);
            std::io::copy(&mut rb, &mut std::io::sink()).with_path("read back", &target)?;
            let (_, rh, rn) = rb.finish();
            if rh != sha || rn != size {
                return Err(Error::failed(format!(
                    "{}: read back with SHA-256 {rh}, {sha} written",
                    target.display()
                )));
            }
            if replaced {
                out.replace(&target)?;
            } else {
                out.commit(&target)?;
            }
            Ok(Outcome {
                bytes: size,
                skipped: false,
                verified_by: BY_READ_BACK,
                replaced,
                resumed_parts: 0,
            })
        }
    }
}

/// Verifies an object just uploaded, in the cheapest honest way the
/// service allows: its size, then
/// - the service's own SHA-256 of the whole object, when it returns one;
/// - else the ETag: when the service returned each part's MD5 as its ETag
///   (it computed them from the bytes it received) and the object's ETag is
///   the one those parts make (`MD5(MD5_1 ‖ … ‖ MD5_N)-N`, or the MD5 of a
///   single PUT), the object is exactly the bytes sent, in order;
/// - else (an encrypted bucket, a service with other ETags) the object is
///   read back whole and its SHA-256 compared.
///
/// A copy found to differ is deleted, so that a later run never skips it
/// for its lfb metadata.
fn verify_upload(
    dest: &Dest,
    c: &Client,
    key: &str,
    sha: &str,
    size: u64,
    object_etag: Option<&str>,
) -> Result<&'static str> {
    let info = c
        .head(key)?
        .ok_or_else(|| Error::failed(format!("{key}: not there after the upload")))?;
    if info.size != size {
        let _ = c.delete(key);
        return Err(Error::failed(format!(
            "{key}: {} bytes in the bucket after the upload, {size} sent; deleted it",
            info.size
        )));
    }
    if info.checksum_sha256.as_deref() == Some(sha) {
        return Ok(BY_CHECKSUM);
    }
    if object_etag.is_some() && info.etag.as_deref() == object_etag {
        return Ok(BY_PART_MD5);
    }
    match dest.read_back(key)? {
        Some((h, n)) if h == sha && n == size => Ok(BY_READ_BACK),
        Some((h, _)) => {
            let _ = c.delete(key);
            Err(Error::failed(format!(
                "{key}: read back with SHA-256 {h}, {sha} sent; deleted it"
            )))
        }
        None => Err(Error::failed(format!("{key}: not there after the upload"))),
    }
}

fn skipped(size: u64, by: &'static str) -> Outcome {
    Outcome {
        bytes: size,
        skipped: true,
        verified_by: by,
        replaced: false,
        resumed_parts: 0,
    }
}

/// The resumable state of a multipart upload, in a private file.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct UploadState {
    destination: String,
    key: String,
    upload_id: String,
    sha256: String,
    bytes: u64,
    part_size: u64,
    /// Started with CRC-32 checksums (state files of older versions: no).
    #[serde(default)]
    crc32: bool,
}

/// `$XDG_STATE_HOME/lfb/uploads` (`~/.local/state/lfb/uploads`).
fn state_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .ok_or_else(|| {
            Error::unavailable(
                "neither XDG_STATE_HOME nor HOME is set: nowhere to keep upload state",
            )
        })?;
    Ok(base.join("lfb").join("uploads"))
}

fn state_path(c: &Client, key: &str) -> Result<PathBuf> {
    let id = digest::hex(&sha2::Sha256::digest(format!(
        "{}\n{key}",
        c.location.bucket
    )));
    Ok(state_dir()?.join(format!("{}.json", &id[..32])))
}

/// Uploads in parts, resuming a recorded upload of the same content.
/// Returns how many parts were already in the bucket, and the ETag the
/// object has if the service kept exactly the bytes of every part
/// ([`upload::Sent::object_etag`]).
// Long: the resume bookkeeping (state file, listed parts, abort of a stale upload) around send_parts and complete.
fn multipart(
    c: &Client,
    src: &Source,
    key: &str,
    part_size: u64,
    ui: &Ui,
) -> Result<(u32, Option<String>)> {
    let (path, sha, size) = (src.path, src.sha.as_str(), src.size);
    // S3 takes at most 10,000 parts: a file past 10,000 × --part-size goes
    // in larger parts (whole MiB, the same on every run, so a resumed
    // upload finds its parts).
    let part_size = part_size.max(size.div_ceil(10_000).next_multiple_of(1 << 20));
    let state_file = state_path(c, key)?;
    let mut existing: Vec<s3::Part> = Vec::new();
    let mut upload_id = None;
    let mut crc32 = true;
    if let Ok(text) = std::fs::read_to_string(&state_file)
        && let Ok(st) = serde_json::from_str::<UploadState>(&text)
    {
        if st.sha256 == sha && st.bytes == size && st.part_size == part_size && st.key == key {
            if let Some(parts) = c.list_parts(key, &st.upload_id)? {
                ui.info(format!(
                    "{key}: resuming an interrupted upload ({} parts there)",
                    parts.len()
                ));
                existing = parts;
                upload_id = Some(st.upload_id);
                crc32 = st.crc32;
            }
        } else {
            ui.info(format!(
                "{key}: aborting an interrupted upload of other content"
            ));
            c.abort_multipart(&st.key, &st.upload_id)?;
        }
    }
    let upload_id = match upload_id {
        Some(id) => id,
        None => {
            // With CRC-32 checksums, as the AWS CLI sends them; a service
            // that refuses them gets the upload without.
            let id = match c.create_multipart(key, sha, true) {
                Ok(id) => id,
                // Refused outright (400 InvalidArgument, 501 NotImplemented),
                // not throttled or unreachable: those fail as they are.
                Err(Error::Failed(m)) if m.contains(": HTTP 400") || m.contains(": HTTP 501") => {
                    ui.debug(format!(
                        "{key}: the service refused a CRC-32 upload ({m}): starting one without"
                    ));
                    crc32 = false;
                    c.create_multipart(key, sha, false)?
                }
                Err(e) => return Err(e),
            };
            fsutil::create_private_dir(fsutil::parent_dir(&state_file))?;
            let st = UploadState {
                destination: c.location.to_string(),
                key: key.to_string(),
                upload_id: id.clone(),
                sha256: sha.to_string(),
                bytes: size,
                part_size,
                crc32,
            };
            fsutil::write_atomic(
                &state_file,
                serde_json::to_string(&st)
                    .expect("state serializes")
                    .as_bytes(),
            )?;
            id
        }
    };
    // A pause after each part, for the test that kills an upload half way
    // (and for throttling a copy by hand); not part of the documented interface.
    let delay = std::env::var("LFB_COPY_PART_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_millis);
    let target = upload::Target {
        client: c,
        key,
        upload_id: &upload_id,
        existing: &existing,
        delay,
        crc32,
    };
    let sent = upload::send_parts(&target, path, size, part_size, ui)?;
    if sent.sha256 != sha {
        c.abort_multipart(key, &upload_id)?;
        let _ = std::fs::remove_file(&state_file);
        return Err(src.mismatch(&sent.sha256));
    }
    c.complete_multipart(key, &upload_id, &sent.etags, sent.crc32s.as_deref())?;
    let _ = std::fs::remove_file(&state_file);
    Ok((sent.resumed, sent.object_etag))
}

/// `--from s3://...`: downloads artifacts and sidecars into the folder `--to`.
// Long: --from is the tool's second mode (list the bucket, choose, fetch each, count), read top to bottom.
fn download(cli: &Cli, from: &str, ui: &Ui) -> Result<u8> {
    let loc = Location::parse(from)?.ok_or_else(|| {
        Error::usage(format!(
            "--from '{from}' is not an object-storage location: a folder is a store already (--store)"
        ))
    })?;
    if Location::parse(&cli.to)?.is_some() {
        return Err(Error::usage(
            "--from copies to a folder: --to must be a folder",
        ));
    }
    if !cli.all && cli.tag.is_none() && cli.store.env.is_none() && cli.name.is_none() && !cli.latest
    {
        return Err(Error::usage(
            "what to fetch? use -e ENV, --tag TAG, --name NAME, --latest, or --all for everything",
        ));
    }
    let to = std::path::absolute(&cli.to)
        .map_err(|e| Error::usage(format!("invalid destination '{}': {e}", cli.to)))?;
    let env = match &cli.store.env {
        Some(_) => Some(cli.store.env()?),
        None => None,
    };
    let client = Client::new(loc)?;
    client.check()?;
    fsutil::create_private_dir(&to).map_err(Error::at_start)?;
    let local = Store::at(&to);
    let base = if client.location.prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", client.location.prefix)
    };
    let objects = client.list(&base)?;
    let keys: std::collections::HashSet<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    // Artifacts: ENV/NAME directly under the prefix, with a name lfb knows.
    let mut picked: Vec<(String, String, lfb_core::naming::ArtifactName, u64)> = Vec::new();
    for (key, size) in &objects {
        let Some(rel) = key.strip_prefix(&base) else {
            continue;
        };
        let Some((folder, file)) = rel.split_once('/') else {
            continue;
        };
        if file.contains('/') || file.ends_with(".json") || file.ends_with(".partial") {
            continue;
        }
        let Some(name) = lfb_core::naming::ArtifactName::parse(file) else {
            continue;
        };
        if folder.is_empty() || folder == "." || folder == ".." || folder.starts_with('.') {
            continue;
        }
        let in_env = |e: &str| {
            if folder == store::MIGRATIONS {
                // Which environment a pre-migration backup belongs to is in
                // its sidecar; without reading it, count it for every one.
                true
            } else {
                folder == e
            }
        };
        if env.as_deref().is_some_and(|e| !in_env(e))
            || cli.tag.as_deref().is_some_and(|t| name.tag != t)
            || cli.name.as_deref().is_some_and(|n| name.name != n)
        {
            continue;
        }
        picked.push((rel.to_string(), folder.to_string(), name, *size));
    }
    if cli.latest {
        let mut newest: std::collections::BTreeMap<(String, String), usize> = Default::default();
        for (i, (_, folder, name, _)) in picked.iter().enumerate() {
            let k = (folder.clone(), name.name.clone());
            match newest.get(&k) {
                Some(&j) if picked[j].2.time >= name.time => {}
                _ => {
                    newest.insert(k, i);
                }
            }
        }
        let keep: std::collections::HashSet<usize> = newest.into_values().collect();
        picked = picked
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, p)| p)
            .collect();
    }
    if picked.is_empty() {
        ui.info(format!("nothing in {} matches", client.location));
    }
    let mut out = RecordWriter::new();
    let mut failed = 0usize;
    for (rel, folder, name, size) in picked {
        let start = Instant::now();
        let key = client.location.key(&rel);
        let target = to.join(&rel);
        let res = fetch_one(
            &client,
            &key,
            &target,
            size,
            keys.contains(format!("{key}.json").as_str()),
        );
        let mut rec = match &res {
            Ok(_) => match store::load_record(&target, &name, &folder) {
                Ok((r, _)) => r,
                Err(_) => store::derived_record(&target, &name, &folder),
            },
            Err(_) => store::derived_record(&target, &name, &folder),
        };
        match res {
            Ok((skipped, verified_by)) => {
                rec.set(
                    "offsite",
                    json!({
                        "source": client.location.to_string(),
                        "key": key,
                        "bytes": size,
                        "verified": verified_by != "size-only",
                        "verified_by": verified_by,
                        "at": format_time(chrono::Utc::now()),
                        "skipped": skipped,
                        "ok": true,
                    }),
                );
                let msg = format!("{}: fetched from {key}", rec.label());
                ui.info(&msg);
                journal_event(&local, ui, &rec, true, Some(size), start, &msg);
            }
            Err(e) if e.exit_code() == 2 && !matches!(e, Error::Input(_)) => return Err(e),
            Err(e) => {
                failed += 1;
                ui.error(format!("{}: {}", rec.label(), e.line()));
                rec.set(
                    "offsite",
                    json!({
                        "source": client.location.to_string(),
                        "key": key,
                        "verified": false,
                        "at": format_time(chrono::Utc::now()),
                        "ok": false,
                        "error": e.line(),
                    }),
                );
                journal_event(&local, ui, &rec, false, None, start, &e.line());
            }
        }
        out.write(&rec)?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Downloads one artifact (and its sidecar) to `target`, checked against
/// the SHA-256 its sidecar (else its lfb metadata) names. Returns whether it
/// was already there, and how it was checked.
// Long: download, check, then publish the artifact and its sidecar, each failure removing what the steps before it made.
fn fetch_one(
    c: &Client,
    key: &str,
    target: &Path,
    size: u64,
    has_sidecar: bool,
) -> Result<(bool, &'static str)> {
    let sidecar_key = format!("{key}.json");
    let sidecar = if has_sidecar {
        let mut text = String::new();
        c.get(&sidecar_key)?
            .take(16 << 20)
            .read_to_string(&mut text)
            .map_err(|e| Error::failed(format!("download {sidecar_key}: {e}")))?;
        Some(text)
    } else {
        None
    };
    let want = match &sidecar {
        Some(t) => Record::from_json(t)
            .map_err(|e| Error::failed(format!("the sidecar {sidecar_key} is unreadable: {e}")))?
            .sha256()
            .map(str::to_string),
        None => None,
    };
    let want = match want {
        Some(w) => Some((w, "sidecar")),
        None => c
            .head(key)?
            .and_then(|i| i.meta_sha256)
            .map(|w| (w, "metadata")),
    };
    let dir = fsutil::parent_dir(target);
    fsutil::create_private_dir(dir)?;
    let mut skipped = false;
    if let Ok((h, n)) = digest::sha256_file(target)
        && n == size
        && want.as_ref().is_some_and(|(w, _)| *w == h)
    {
        skipped = true;
    } else {
        let mut outf = AtomicFile::create(target)?;
        let mut r = HashingReader::new(c.get(key)?);
        std::io::copy(&mut r, &mut outf).map_err(|e| {
            Error::failed(format!(
                "download {key}: {}",
                lfb_core::error::describe_io(&e)
            ))
        })?;
        let (_, h, n) = r.finish();
        if n != size {
            return Err(Error::failed(format!(
                "download {key}: {n} bytes, the bucket lists {size}"
            )));
        }
        match &want {
            Some((w, _)) if *w != h => {
                return Err(Error::failed(format!(
                    "{key} is corrupt: SHA-256 {h}, its {} says {w}; not kept",
                    want.as_ref().map_or("", |x| x.1)
                )));
            }
            _ => {}
        }
        if target.exists() {
            outf.replace(target)?;
        } else {
            outf.commit(target)?;
        }
    }
    if let Some(text) = sidecar {
        fsutil::write_atomic(&sidecar_path(target), text.as_bytes())?;
    }
    Ok((
        skipped,
        want.map_or("size-only", |w| {
            if w.1 == "sidecar" {
                "sidecar-sha256"
            } else {
                "metadata-sha256"
            }
        }),
    ))
}
