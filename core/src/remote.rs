//! A store in S3-compatible object storage (`--store s3://bucket/prefix`):
//! the same layout as a folder store (`ENV/NAME` and `ENV/NAME.json`, as
//! `lfb-copy` writes it), listed into the same records, read, pruned and
//! annotated in place.
//!
//! - **Inventory**: one listing of the prefix; every object `ENV/NAME` whose
//!   name lfb knows is an artifact, its record read from `ENV/NAME.json`
//!   (fetched on a few threads), else derived from the name (`"derived":
//!   true`), exactly as [`crate::store::load_record`] does on disk. The
//!   record's `path` is the object's `s3://bucket/key`.
//! - **Reads** are spooled: an artifact is downloaded into a private
//!   scratch folder (0700, removed on exit and on SIGINT/SIGTERM, reaped
//!   after a SIGKILL by the next run) and checked there by the same code as
//!   a local artifact. Memory stays bounded by the copy buffer; the disk
//!   needs room for one artifact at a time. Why not stream the GET body
//!   straight into the checks: a restore would then hold one HTTP response
//!   open for the whole load, and a connection dropped half way would cost
//!   the load; spooled, the download is retried on its own and the load
//!   starts from a complete file that is still checked while it is loaded.
//! - **Writes**: a sidecar is rewritten whole (one PUT, atomic), with
//!   `If-Match` on the version that was read, so a verification does not
//!   overwrite what another machine wrote meanwhile.
//! - **Deletes**: the artifact, then its sidecar (an orphan sidecar is
//!   harmless and listed as such; an artifact without its sidecar would
//!   lose its record).
//! - **The lock** is a lease object, `PREFIX/.lfb/lock.json`, see [`Lease`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::StoreArgs;
use crate::error::{Error, Result};
use crate::fsutil::{self, ScratchDir};
use crate::naming::ArtifactName;
use crate::record::{self, Record};
use crate::s3::{Client, Condition, Location};
use crate::store;

/// The largest sidecar read (a sidecar is a few KiB).
const SIDECAR_LIMIT: u64 = 16 << 20;

/// The object-storage location the store options name, if they name one:
/// `--store s3://...`, else `$LFB_STORE`, else the config file's `store`.
pub fn location(args: &StoreArgs) -> Result<Option<Location>> {
    crate::config::set_flag(args.config_file.clone());
    let raw = match &args.store {
        Some(p) => Some(p.to_string_lossy().into_owned()),
        None => match std::env::var("LFB_STORE").ok().filter(|s| !s.is_empty()) {
            Some(s) => Some(s),
            None => crate::config::current()?
                .and_then(|c| c.store())
                .map(|p| p.to_string_lossy().into_owned()),
        },
    };
    match raw {
        Some(s) => Location::parse(&s),
        None => Ok(None),
    }
}

/// An artifact in the bucket, with its record.
#[derive(Debug, Clone)]
pub struct RemoteArtifact {
    /// Store-relative path: `ENV/NAME`.
    pub rel: String,
    /// The object's key.
    pub key: String,
    /// The object's size, from the listing.
    pub size: u64,
    pub name: ArtifactName,
    /// The environment folder (`migrations` for that folder).
    pub folder: String,
    /// The sidecar's record (`path` = the object's URL), or one derived
    /// from the name.
    pub record: Record,
    /// True when there is no sidecar object.
    pub derived: bool,
    /// The sidecar object's ETag, for conditional rewrites.
    pub sidecar_etag: Option<String>,
}

impl RemoteArtifact {
    /// The environment this artifact belongs to ([`store::artifact_env`]).
    pub fn env(&self) -> &str {
        store::artifact_env(&self.folder, &self.record)
    }

    pub fn in_env(&self, env: &str) -> bool {
        self.env() == env
    }

    pub fn sidecar_key(&self) -> String {
        format!("{}.json", self.key)
    }
}

/// A store in a bucket.
#[derive(Debug)]
pub struct RemoteStore {
    pub client: Client,
}

impl RemoteStore {
    /// Connects (credentials, region, endpoint from the environment) and
    /// checks that the bucket exists and the credentials are accepted.
    pub fn open(location: Location) -> Result<RemoteStore> {
        let client = Client::new(location)?;
        client.check()?;
        Ok(RemoteStore { client })
    }

    /// The store for messages and records: `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        self.client.location.to_string()
    }

    /// `s3://bucket/key`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.client.location.bucket)
    }

    fn base(&self) -> String {
        if self.client.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.client.location.prefix)
        }
    }

    /// Every artifact in the bucket, in no particular order, with its record.
    pub fn inventory(&self) -> Result<Vec<RemoteArtifact>> {
        let base = self.base();
        let objects = self.client.list(&base)?;
        let keys: std::collections::HashSet<&str> =
            objects.iter().map(|(k, _)| k.as_str()).collect();
        let mut found: Vec<(String, String, u64, ArtifactName, String, bool)> = Vec::new();
        for (key, size) in &objects {
            let Some(rel) = key.strip_prefix(&base) else {
                continue;
            };
            let Some((folder, file)) = rel.split_once('/') else {
                continue;
            };
            if folder.is_empty()
                || folder.starts_with('.')
                || folder == store::LOGS
                || file.contains('/')
                || file.ends_with(".json")
                || file.ends_with(fsutil::PARTIAL_SUFFIX)
            {
                continue;
            }
            let Some(name) = ArtifactName::parse(file) else {
                continue;
            };
            let has_sidecar = keys.contains(format!("{key}.json").as_str());
            found.push((
                rel.to_string(),
                key.clone(),
                *size,
                name,
                folder.to_string(),
                has_sidecar,
            ));
        }
        // Sidecars on a few threads: each is one round trip.
        let threads = 8.min(found.len().max(1));
        let chunk = found.len().div_ceil(threads).max(1);
        let parts: Vec<Result<Vec<RemoteArtifact>>> = std::thread::scope(|s| {
            let workers: Vec<_> = found
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().map(|f| self.artifact(f)).collect()))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a listing thread panicked"))
                .collect()
        });
        let mut out = Vec::with_capacity(found.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }

    fn artifact(
        &self,
        (rel, key, size, name, folder, has_sidecar): &(
            String,
            String,
            u64,
            ArtifactName,
            String,
            bool,
        ),
    ) -> Result<RemoteArtifact> {
        let url = self.url(key);
        let sidecar = match has_sidecar {
            true => self
                .client
                .get_small(&format!("{key}.json"), SIDECAR_LIMIT)?,
            false => None,
        };
        let (record, derived, etag) = match sidecar {
            Some((text, etag)) => {
                let text = String::from_utf8_lossy(&text);
                let mut r = Record::from_json(&text)
                    .map_err(|e| Error::input(format!("sidecar '{url}.json': {e}")))?;
                r.set("path", json!(url));
                (r, false, etag)
            }
            None => (
                store::derived_record(Path::new(&url), name, folder),
                true,
                None,
            ),
        };
        Ok(RemoteArtifact {
            rel: rel.clone(),
            key: key.clone(),
            size: *size,
            name: name.clone(),
            folder: folder.clone(),
            record,
            derived,
            sidecar_etag: etag,
        })
    }

    /// Downloads `a` (and its sidecar, when it has one) into `dir`, at its
    /// place in the store layout (`dir/ENV/NAME`); returns the local path.
    /// A download that does not end at the listed size is an error.
    pub fn spool(&self, a: &RemoteArtifact, dir: &Path) -> Result<PathBuf> {
        let target = dir.join(&a.rel);
        fsutil::create_private_dir(fsutil::parent_dir(&target))?;
        let mut out = fsutil::AtomicFile::create(&target)?;
        let mut body = self.client.get(&a.key)?;
        let n = std::io::copy(&mut body, out.file()).map_err(|e| {
            Error::failed(format!(
                "download {}: {}",
                self.url(&a.key),
                crate::error::describe_io(&e)
            ))
        })?;
        if n != a.size {
            return Err(Error::failed(format!(
                "download {}: {n} bytes, the bucket lists {}",
                self.url(&a.key),
                a.size
            )));
        }
        out.commit(&target)?;
        if !a.derived {
            // Where the copy came from: a restore's record then names the object.
            let mut r = a.record.clone();
            r.set("path", json!(target.to_string_lossy()));
            r.set(
                "offsite",
                json!({"source": self.describe(), "key": a.key, "url": self.url(&a.key)}),
            );
            let mut text = r.to_line();
            text.push('\n');
            fsutil::write_atomic(&store::sidecar_path(&target), text.as_bytes())?;
        }
        Ok(target)
    }

    /// Makes a verification durable: rewrites the artifact's sidecar object
    /// with `verify` merged in ([`record::merge_verify`]), every other field
    /// as it is in the bucket. Conditional on the version read, so a sidecar
    /// another machine rewrote meanwhile is read again and merged again.
    /// Without a sidecar, the derived record becomes one.
    pub fn remember_verify(&self, a: &RemoteArtifact, verify: &Value) -> Result<Value> {
        let key = a.sidecar_key();
        for _ in 0..5 {
            let (mut stored, cond) = match self.client.get_small(&key, SIDECAR_LIMIT)? {
                Some((text, etag)) => (
                    Record::from_json(&String::from_utf8_lossy(&text))
                        .map_err(|e| Error::input(format!("sidecar '{}': {e}", self.url(&key))))?,
                    etag.map_or(Condition::Any, Condition::Matches),
                ),
                None => {
                    let mut r = a.record.clone();
                    r.set("path", json!(a.rel));
                    let mut m = r.into_object();
                    m.remove("verify");
                    (Record::from_object(m)?, Condition::Absent)
                }
            };
            let section = record::merge_verify(stored.get("verify"), verify);
            stored.set("verify", section.clone());
            let mut text = stored.to_line();
            text.push('\n');
            if self.client.put_if(&key, text.as_bytes(), &cond)?.is_some() {
                return Ok(section);
            }
        }
        Err(Error::failed(format!(
            "{}: the sidecar kept changing while it was rewritten",
            self.url(&key)
        )))
    }

    /// Deletes an artifact, then its sidecar.
    pub fn delete(&self, a: &RemoteArtifact) -> Result<()> {
        self.client.delete(&a.key)?;
        self.client.delete(&a.sidecar_key())
    }

    /// The key of the lease object.
    pub fn lease_key(&self) -> String {
        self.client.location.key(".lfb/lock.json")
    }

    /// Takes the store's lease for `tool`, waiting up to `wait` for
    /// another holder; see [`Lease`].
    /// `LFB_S3_LOCK_WAIT` (a duration) overrides `wait`.
    pub fn lock(&self, tool: &str, wait: Duration) -> Result<Lease<'_>> {
        let wait = match std::env::var("LFB_S3_LOCK_WAIT")
            .ok()
            .filter(|s| !s.is_empty())
        {
            None => wait,
            Some(v) => crate::units::parse_duration(&v)
                .map_err(|e| Error::usage(format!("invalid LFB_S3_LOCK_WAIT '{v}': {e}")))?,
        };
        Lease::acquire(self, tool, wait, lease_ttl()?)
    }
}

/// How long a lease on a service that ignores conditional writes settles
/// before it is read back: `LFB_S3_LEASE_SETTLE` (a duration), else 2s.
fn settle_time() -> Duration {
    std::env::var("LFB_S3_LEASE_SETTLE")
        .ok()
        .and_then(|v| crate::units::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(2))
}

/// How long a lease is valid: `LFB_S3_LEASE` (a duration), else 15 minutes.
fn lease_ttl() -> Result<Duration> {
    match std::env::var("LFB_S3_LEASE").ok().filter(|s| !s.is_empty()) {
        None => Ok(Duration::from_secs(15 * 60)),
        Some(v) => crate::units::parse_duration(&v)
            .map_err(|e| Error::usage(format!("invalid LFB_S3_LEASE '{v}': {e}"))),
    }
}

/// The store lock in object storage: a lease object
/// `PREFIX/.lfb/lock.json` = `{"holder","tool","acquired_at","expires_at"}`.
///
/// - Taken by a conditional create (`PUT` with `If-None-Match: *`): of two
///   machines taking it at once the service lets exactly one write it; the
///   other sees 412 and waits.
/// - A lease past its `expires_at` (its holder was killed), or held by a
///   process of this machine that no longer exists, is taken over by
///   a conditional replace (`If-Match` on the expired version's ETag), so
///   two machines taking over the same dead lease cannot both win.
/// - The holder stops deleting once its own lease has expired by its own
///   clock ([`Lease::check`]), and extends it (`If-Match` its version)
///   while it works, so a long prune keeps it and a dead one loses it.
/// - Released by deleting the object.
/// - The lease is read before it is written, so a live lease is never
///   overwritten, whatever the service does with conditions.
/// - A service that ignores the conditions (it answers 200 where S3
///   answers 412: s3rver, older MinIO) is detected by a second create of
///   the same key right after the first, which it accepts. There the lease
///   settles for `LFB_S3_LEASE_SETTLE` (2s) and is read back: of two
///   machines that wrote it within that time only the last writer finds its
///   own lease and goes on; the other stops (exit 2) before changing
///   anything. That is best effort (it relies on read-after-write and on
///   the two writes being less than the settle time apart); with such a
///   service, let one machine prune a bucket.
#[derive(Debug)]
pub struct Lease<'a> {
    store: &'a RemoteStore,
    key: String,
    holder: String,
    tool: String,
    etag: String,
    ttl: Duration,
    /// When the lease expires, by this machine's monotonic clock (a margin
    /// of 10% earlier than the written time).
    deadline: Instant,
    released: bool,
}

fn lease_body(holder: &str, tool: &str, ttl: Duration) -> (Vec<u8>, String) {
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15));
    let body = json!({
        "holder": holder,
        "tool": tool,
        "acquired_at": record::format_time(now),
        "expires_at": record::format_time(expires),
    });
    (body.to_string().into_bytes(), record::format_time(expires))
}

fn lease_holder() -> String {
    let host = crate::sys::hostname();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{host}:{}:{nanos:08x}", std::process::id())
}

/// True when a lease holder (`HOST:PID:NONCE`) is a process of this
/// machine that no longer exists (a run killed with SIGKILL): its lease is
/// taken over at once rather than after it expires.
fn dead_here(holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    host == crate::sys::hostname()
        && pid
            .parse::<u32>()
            .is_ok_and(|p| p != std::process::id() && !crate::sys::process_exists(p))
}

impl<'a> Lease<'a> {
    // Long: the lease protocol's retry loop (look, conditional write, check the service enforced it, back off), each step's reason inline; split it and the protocol is harder to check.
    fn acquire(store: &'a RemoteStore, tool: &str, wait: Duration, ttl: Duration) -> Result<Self> {
        let key = store.lease_key();
        let holder = lease_holder();
        let start = Instant::now();
        let mut told = false;
        loop {
            // Look first: on a service that ignores conditions, a blind
            // write would replace a live lease.
            let current = store.client.get_small(&key, 1 << 16)?;
            let (cond, took_over) = match &current {
                None => (Condition::Absent, None),
                Some((text, etag)) => {
                    let v: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
                    let who = format!(
                        "{} ({}, until {})",
                        v["holder"].as_str().unwrap_or("an unreadable lease"),
                        v["tool"].as_str().unwrap_or("?"),
                        v["expires_at"].as_str().unwrap_or("?")
                    );
                    let expired = v["expires_at"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        // An unreadable lease counts as expired.
                        .is_none_or(|t| t < chrono::Utc::now())
                        || v["holder"].as_str().is_some_and(dead_here);
                    if expired {
                        let cond = etag.clone().map_or(Condition::Any, Condition::Matches);
                        (cond, Some(who))
                    } else {
                        if start.elapsed() >= wait {
                            return Err(Error::unavailable(format!(
                                "store '{}' is locked by {who} (waited {}s for {})",
                                store.describe(),
                                wait.as_secs(),
                                store.url(&key)
                            )));
                        }
                        if !told {
                            told = true;
                            eprintln!(
                                "{tool}: waiting for the lock of {}, held by {who} (up to {}s)",
                                store.describe(),
                                wait.as_secs()
                            );
                        }
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                }
            };
            let (body, _) = lease_body(&holder, tool, ttl);
            let taken_at = Instant::now();
            let Some(etag) = store.client.put_if(&key, &body, &cond)? else {
                // Another machine wrote it first: look again.
                continue;
            };
            if let Some(who) = took_over {
                eprintln!(
                    "{tool}: took over the expired lock of {} held by {who}",
                    store.describe()
                );
            }
            // Does the service enforce the condition? A second create of
            // the same key must be refused; a service that accepts it
            // ignores conditions (s3rver, older MinIO): then wait a moment
            // and read the lease back, so of two machines that wrote it in
            // the same moment only the last one goes on.
            let enforced = store
                .client
                .put_if(&key, &body, &Condition::Absent)?
                .is_none();
            if !enforced {
                if !told {
                    eprintln!(
                        "{tool}: {} does not enforce conditional writes: the lock is a best-effort lease",
                        store.client.endpoint()
                    );
                }
                std::thread::sleep(settle_time());
            }
            return Lease::confirm(store, key, holder, tool, etag, ttl, taken_at);
        }
    }

    /// Reads the lease back: a service that ignored the condition shows
    /// another holder (the fallback in the type's documentation).
    fn confirm(
        store: &'a RemoteStore,
        key: String,
        holder: String,
        tool: &str,
        etag: String,
        ttl: Duration,
        taken_at: Instant,
    ) -> Result<Self> {
        let back = store.client.get_small(&key, 1 << 16)?;
        let ours = back.as_ref().is_some_and(|(text, _)| {
            serde_json::from_slice::<Value>(text)
                .ok()
                .is_some_and(|v| v["holder"] == json!(holder))
        });
        if !ours {
            return Err(Error::unavailable(format!(
                "store '{}': another machine took the lock {} at the same time; nothing was changed",
                store.describe(),
                store.url(&key)
            )));
        }
        let etag = match etag.is_empty() {
            true => back.and_then(|(_, e)| e).unwrap_or_default(),
            false => etag,
        };
        Ok(Lease {
            store,
            key,
            holder,
            tool: tool.to_string(),
            etag,
            ttl,
            deadline: taken_at + ttl.mul_f64(0.9),
            released: false,
        })
    }

    /// Before each change: the lease must still be ours by our own clock;
    /// past half its time it is extended (a conditional replace of our own
    /// version, which fails if someone took it over).
    pub fn check(&mut self) -> Result<()> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Error::failed(format!(
                "the lock of {} expired while this run held it; stopped before changing more",
                self.store.describe()
            )));
        }
        let left = self.deadline - now;
        if left < self.ttl.mul_f64(0.45) {
            let (body, _) = lease_body(&self.holder, &self.tool, self.ttl);
            let at = Instant::now();
            match self.store.client.put_if(
                &self.key,
                &body,
                &Condition::Matches(self.etag.clone()),
            )? {
                Some(etag) => {
                    if !etag.is_empty() {
                        self.etag = etag;
                    }
                    self.deadline = at + self.ttl.mul_f64(0.9);
                }
                None => {
                    return Err(Error::failed(format!(
                        "the lock of {} was taken over by another machine; stopped before changing more",
                        self.store.describe()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Releases the lease (also done on drop).
    pub fn release(mut self) -> Result<()> {
        self.released = true;
        self.release_now()
    }

    fn release_now(&self) -> Result<()> {
        // Only our own version: a lease taken over is not ours to delete.
        match self.store.client.get_small(&self.key, 1 << 16)? {
            Some((text, _))
                if serde_json::from_slice::<Value>(&text)
                    .ok()
                    .is_some_and(|v| v["holder"] == json!(self.holder)) =>
            {
                self.store.client.delete(&self.key)
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_now();
        }
    }
}

/// A private scratch folder for spooled artifacts (removed on drop, on
/// SIGINT/SIGTERM, and after a SIGKILL by the next lfb run).
pub fn spool_dir() -> Result<ScratchDir> {
    ScratchDir::new("spool")
}

/// Records on stdin that name objects (`"path": "s3://..."`), matched to
/// the inventory by key.
pub fn find<'a>(
    inv: &'a [RemoteArtifact],
    path: &str,
    store: &RemoteStore,
) -> Option<&'a RemoteArtifact> {
    inv.iter().find(|a| store.url(&a.key) == path)
}
