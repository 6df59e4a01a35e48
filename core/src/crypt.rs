//! Encryption at rest with age (<https://age-encryption.org>).
//!
//! An encrypted artifact is the plain artifact inside one age stream:
//! `NAME.sql.gz.age` is `age -e (gzip (SQL))`, so `age -d -i key.txt F |
//! gunzip | psql` restores it with stock tools. Its record `format` gains
//! `+age` (`sql+gzip+age`), its `sha256`/`bytes` describe the file as
//! stored (the ciphertext: the checksum check needs no key), and its
//! `encryption` section says how it was encrypted, never with key material:
//!
//! ```json
//! {"scheme":"age","recipients":["age1…","ssh-ed25519 AAAA…"],
//!  "plaintext_sha256":"…","plaintext_bytes":123}
//! ```
//!
//! (`"passphrase":true` and no recipients for `--passphrase-file`.)
//!
//! Recipients come from `--encrypt-to`/`--encrypt-to-file`/
//! `--passphrase-file`, else `LFB_AGE_RECIPIENTS` (comma-separated),
//! `LFB_AGE_RECIPIENTS_FILE`, `LFB_AGE_PASSPHRASE_FILE`, else the config
//! file's `[encryption]` section. Identities (to read artifacts) come from
//! `--identity FILE`, else `LFB_AGE_IDENTITY_FILE`, else the config file's
//! `identity_file`; passphrases from `--passphrase-file` or
//! `LFB_AGE_PASSPHRASE_FILE`. Both are read from files (or descriptors:
//! `/dev/fd/N`) only, and never appear in a message.
//!
//! What "the recipients match the record" means without the key: age's
//! header lists one stanza per recipient. An X25519 stanza carries only an
//! ephemeral share, so it cannot say *which* `age1…` key it is for; an SSH
//! stanza carries a 4-byte tag of the recipient's public key; a scrypt
//! stanza stands alone. So the header matches the record when it has
//! exactly as many X25519 stanzas as the record has `age1…` recipients, an
//! SSH stanza with each recorded SSH key's type and tag (and no other), and
//! a scrypt stanza exactly when the record says `passphrase`. Stanzas whose
//! type ends in `-grease` (random padding age adds) are ignored.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use age::secrecy::ExposeSecret;
use age::secrecy::SecretString;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::digest::{HashingWriter, hex};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::record::Record;

/// The last extension of encrypted file names (their formats are
/// [`Format::age`]).
pub const EXT_SUFFIX: &str = "age";

/// scrypt work factors (log2 N): what lfb writes, and the most it reads
/// (stock age's limit).
const SCRYPT_WORK_FACTOR: u8 = 18;
const SCRYPT_MAX_WORK_FACTOR: u8 = 22;

/// Where an identity can be given, for messages.
pub const IDENTITY_HINT: &str = "pass --identity FILE or set LFB_AGE_IDENTITY_FILE";

/// True for record formats that are age streams.
pub fn is_encrypted_format(format: &str) -> bool {
    format.parse::<Format>().is_ok_and(Format::is_encrypted)
}

/// The format of what is inside the age stream (`sql+gzip+age` → `sql+gzip`);
/// a format lfb does not know is returned as it is.
pub fn inner_format(format: &str) -> &str {
    match format.parse::<Format>() {
        Ok(f) => f.inner().as_str(),
        Err(_) => format,
    }
}

/// True when a record describes an encrypted artifact (by its format, or
/// its file name where the format is missing).
pub fn record_is_encrypted(record: &Record) -> bool {
    match record.format() {
        Some(f) => is_encrypted_format(f),
        None => record
            .path()
            .is_some_and(|p| p.extension().is_some_and(|e| e == EXT_SUFFIX)),
    }
}

// ---------------------------------------------------------------- recipients

/// One recipient: what the record says and the key age encrypts to.
pub struct Recipient {
    /// `age1…` or `ssh-ed25519 AAAA…` (type and key, no comment).
    pub public: String,
    key: Box<dyn age::Recipient + Send + Sync>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.public)
    }
}

/// How new artifacts are encrypted.
#[derive(Debug)]
pub struct Encryption {
    pub recipients: Vec<Recipient>,
    passphrase: Option<SecretString>,
}

impl Encryption {
    /// The record's `encryption` section (without the plaintext digest).
    pub fn section(&self) -> Value {
        let mut v = json!({
            "scheme": "age",
            "recipients": self.recipients.iter().map(|r| r.public.clone()).collect::<Vec<_>>(),
        });
        if self.passphrase.is_some() {
            v["passphrase"] = json!(true);
        }
        v
    }

    /// Starts an age stream into `out`.
    pub fn wrap<W: Write>(&self, out: W) -> io::Result<age::stream::StreamWriter<W>> {
        let enc = match &self.passphrase {
            Some(p) => {
                // age's own default work factor (2^18), not one calibrated
                // to this machine: stock age (which refuses more than 2^22)
                // and slower machines must read it too.
                let mut r = age::scrypt::Recipient::new(p.clone());
                r.set_work_factor(SCRYPT_WORK_FACTOR);
                age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(format!("age: {e}")))?
            }
            None => age::Encryptor::with_recipients(
                self.recipients
                    .iter()
                    .map(|r| r.key.as_ref() as &dyn age::Recipient),
            )
            .map_err(|e| io::Error::other(format!("age: {e}")))?,
        };
        enc.wrap_output(out)
    }
}

/// Parses one recipient: an `age1…` X25519 key or an `ssh-ed25519`/`ssh-rsa`
/// public key line (a trailing comment is allowed and dropped).
pub fn parse_recipient(s: &str) -> Result<Recipient> {
    let s = s.trim();
    if s.starts_with("age1") {
        let k: age::x25519::Recipient = s
            .parse()
            .map_err(|e| Error::usage(format!("invalid age recipient '{s}': {e}")))?;
        return Ok(Recipient {
            public: k.to_string(),
            key: Box::new(k),
        });
    }
    if s.starts_with("ssh-") {
        let mut parts = s.split_whitespace();
        let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
            return Err(Error::usage(format!("invalid SSH recipient '{s}'")));
        };
        let public = format!("{kind} {blob}");
        let k: age::ssh::Recipient = public
            .parse()
            .map_err(|e| Error::usage(format!("unsupported SSH recipient '{public}': {e:?}")))?;
        return Ok(Recipient {
            public,
            key: Box::new(k),
        });
    }
    Err(Error::usage(format!(
        "invalid recipient '{s}': want an age1… key or an ssh-ed25519/ssh-rsa public key"
    )))
}

/// Reads a recipients file: one recipient a line, `#` comments and blank
/// lines ignored (the format of `age -R`).
pub fn read_recipients_file(path: &Path) -> Result<Vec<Recipient>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!(
            "cannot read recipients file '{}': {}",
            path.display(),
            crate::error::describe_io(&e)
        ))
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.push(
            parse_recipient(l)
                .map_err(|e| Error::usage(format!("{}:{}: {}", path.display(), i + 1, e.line())))?,
        );
    }
    if out.is_empty() {
        return Err(Error::usage(format!(
            "recipients file '{}' lists no recipient",
            path.display()
        )));
    }
    Ok(out)
}

/// Reads a passphrase file: its first line (without the newline).
fn read_passphrase(path: &Path) -> Result<SecretString> {
    let f = File::open(path).map_err(|e| {
        Error::usage(format!(
            "cannot read passphrase file '{}': {}",
            path.display(),
            crate::error::describe_io(&e)
        ))
    })?;
    let mut line = String::new();
    BufReader::new(f.take(64 * 1024))
        .read_line(&mut line)
        .map_err(|e| {
            Error::usage(format!(
                "cannot read passphrase file '{}': {e}",
                path.display()
            ))
        })?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        return Err(Error::usage(format!(
            "passphrase file '{}' is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(p))
}

/// What the command line of `lfb-dump`/`lfb-archive` said about encryption.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EncryptArgs {
    /// Encrypt the artifact with age to RECIPIENT: an age1… X25519 key or an
    /// ssh-ed25519/ssh-rsa public key (repeatable). The file gets `.age`
    /// and stock `age -d -i KEY` decrypts it. Default: $LFB_AGE_RECIPIENTS
    /// (comma-separated), $LFB_AGE_RECIPIENTS_FILE, $LFB_AGE_PASSPHRASE_FILE,
    /// then the config file's [encryption] recipients/recipients_file
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Encrypt to every recipient listed in FILE (one a line, # comments;
    /// the format of `age -R`)
    #[arg(long = "encrypt-to-file", value_name = "FILE")]
    pub encrypt_to_file: Vec<PathBuf>,
    /// Encrypt with the passphrase on the first line of FILE (age scrypt;
    /// not with recipients). Read from the file only, never from argv
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Do not encrypt, whatever the environment or config file says
    #[arg(long = "no-encrypt", conflicts_with_all = ["encrypt_to", "encrypt_to_file", "passphrase_file"])]
    pub no_encrypt: bool,
}

static ENCRYPT_ARGS: OnceLock<EncryptArgs> = OnceLock::new();

/// Records the command line's encryption options for [`encryption`]; the
/// first call wins. Tools that never call it (lfb-restore's safety backup)
/// follow the environment and config file.
pub fn set_encrypt_args(args: EncryptArgs) {
    let _ = ENCRYPT_ARGS.set(args);
}

/// How this process encrypts new artifacts: `None` for not at all.
pub fn encryption() -> Result<Option<&'static Encryption>> {
    static LOADED: OnceLock<std::result::Result<Option<Encryption>, String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let args = ENCRYPT_ARGS.get().cloned().unwrap_or_default();
        resolve(&args).map_err(|e| e.line())
    });
    match loaded {
        Ok(e) => Ok(e.as_ref()),
        Err(msg) => Err(Error::usage(msg.clone())),
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn resolve(args: &EncryptArgs) -> Result<Option<Encryption>> {
    if args.no_encrypt {
        return Ok(None);
    }
    let mut recipients = Vec::new();
    let mut passphrase = None;
    let from_flags = !args.encrypt_to.is_empty()
        || !args.encrypt_to_file.is_empty()
        || args.passphrase_file.is_some();
    if from_flags {
        for r in &args.encrypt_to {
            recipients.push(parse_recipient(r)?);
        }
        for f in &args.encrypt_to_file {
            recipients.extend(read_recipients_file(f)?);
        }
        if let Some(p) = &args.passphrase_file {
            passphrase = Some(read_passphrase(p)?);
        }
    } else {
        let env_list = std::env::var("LFB_AGE_RECIPIENTS").unwrap_or_default();
        let env_file = env_path("LFB_AGE_RECIPIENTS_FILE");
        let env_pass = env_path("LFB_AGE_PASSPHRASE_FILE");
        if !env_list.trim().is_empty() || env_file.is_some() || env_pass.is_some() {
            for r in env_list.split(',').filter(|r| !r.trim().is_empty()) {
                recipients.push(parse_recipient(r)?);
            }
            if let Some(f) = env_file {
                recipients.extend(read_recipients_file(&f)?);
            }
            if let Some(p) = env_pass {
                passphrase = Some(read_passphrase(&p)?);
            }
        } else if let Some(cfg) = crate::config::current()?
            && let Some(enc) = &cfg.file.encryption
        {
            for r in &enc.recipients {
                recipients.push(parse_recipient(r)?);
            }
            if let Some(f) = &enc.recipients_file {
                recipients.extend(read_recipients_file(&crate::config::expand_home(f))?);
            }
        }
    }
    if passphrase.is_some() && !recipients.is_empty() {
        return Err(Error::usage(
            "--passphrase-file cannot be combined with recipients (age encrypts to a passphrase alone)",
        ));
    }
    if passphrase.is_none() && recipients.is_empty() {
        return Ok(None);
    }
    Ok(Some(Encryption {
        recipients,
        passphrase,
    }))
}

// ------------------------------------------------------------------ writing

/// The end of an artifact's writer chain: the file itself, or an age stream
/// into it whose ciphertext is hashed as stored.
pub enum Tail<W: Write> {
    Clear(W),
    Age(age::stream::StreamWriter<HashingWriter<W>>),
}

impl<W: Write> Tail<W> {
    pub fn new(out: W, enc: Option<&Encryption>) -> io::Result<Tail<W>> {
        Ok(match enc {
            None => Tail::Clear(out),
            Some(e) => Tail::Age(e.wrap(HashingWriter::new(out))?),
        })
    }

    /// Ends the stream: the writer and, when encrypted, the ciphertext's
    /// SHA-256 and size.
    pub fn finish(self) -> io::Result<(W, Option<(String, u64)>)> {
        match self {
            Tail::Clear(w) => Ok((w, None)),
            Tail::Age(s) => {
                let (w, sha, bytes) = s.finish()?.finish();
                Ok((w, Some((sha, bytes))))
            }
        }
    }
}

impl<W: Write> Write for Tail<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Tail::Clear(w) => w.write(buf),
            Tail::Age(s) => s.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Tail::Clear(w) => w.write_all(buf),
            Tail::Age(s) => s.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Tail::Clear(w) => w.flush(),
            Tail::Age(s) => s.flush(),
        }
    }
}

// --------------------------------------------------------------- identities

enum KeyEntry {
    /// The text of an age identity file (`AGE-SECRET-KEY-1…` lines).
    Age(SecretString),
    /// An unencrypted OpenSSH private key.
    Ssh(SecretString),
    Passphrase(SecretString),
}

/// The keys this process reads encrypted artifacts with.
pub struct Keys {
    entries: Vec<KeyEntry>,
    /// Where they came from, for messages (paths only).
    pub from: Vec<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys(from {:?})", self.from)
    }
}

impl Keys {
    fn identities(&self) -> Vec<Box<dyn age::Identity>> {
        let mut out: Vec<Box<dyn age::Identity>> = Vec::new();
        for e in &self.entries {
            match e {
                KeyEntry::Age(t) => {
                    if let Ok(f) = age::IdentityFile::from_buffer(t.expose_secret().as_bytes())
                        && let Ok(ids) = f.into_identities()
                    {
                        out.extend(ids);
                    }
                }
                KeyEntry::Ssh(t) => {
                    if let Ok(id) =
                        age::ssh::Identity::from_buffer(t.expose_secret().as_bytes(), None)
                    {
                        out.push(Box::new(id));
                    }
                }
                KeyEntry::Passphrase(p) => {
                    let mut id = age::scrypt::Identity::new(p.clone());
                    id.set_max_work_factor(SCRYPT_MAX_WORK_FACTOR);
                    out.push(Box::new(id));
                }
            }
        }
        out
    }
}

/// Options of the tools that read encrypted artifacts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IdentityArgs {
    /// Decrypt age-encrypted artifacts with the identities in FILE (an age
    /// key file from `lfb keygen`/`age-keygen`, or an unencrypted OpenSSH
    /// private key; `/dev/fd/N` reads a descriptor). Default:
    /// $LFB_AGE_IDENTITY_FILE, then the config file's [encryption]
    /// identity_file. Without one, checks that need the key are skipped
    #[arg(long = "identity", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Decrypt passphrase-encrypted artifacts with the first line of FILE
    /// (default: $LFB_AGE_PASSPHRASE_FILE)
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

static KEYS: OnceLock<Option<Keys>> = OnceLock::new();

/// Loads the identities named by `args`, the environment or the config file
/// once, at start: an identity that is named but missing or unreadable is a
/// usage error (exit 2).
pub fn load_keys(args: &IdentityArgs) -> Result<()> {
    let mut entries = Vec::new();
    let mut from = Vec::new();
    let identity = match &args.identity {
        Some(p) => Some(p.clone()),
        None => match env_path("LFB_AGE_IDENTITY_FILE") {
            Some(p) => Some(p),
            None => crate::config::current()?
                .and_then(|c| c.file.encryption.as_ref())
                .and_then(|e| e.identity_file.as_deref())
                .map(crate::config::expand_home),
        },
    };
    if let Some(p) = identity {
        entries.push(read_identity(&p)?);
        from.push(p.display().to_string());
    }
    let pass = args
        .passphrase_file
        .clone()
        .or_else(|| env_path("LFB_AGE_PASSPHRASE_FILE"));
    if let Some(p) = pass {
        entries.push(KeyEntry::Passphrase(read_passphrase(&p)?));
        from.push(p.display().to_string());
    }
    let keys = (!entries.is_empty()).then_some(Keys { entries, from });
    let _ = KEYS.set(keys);
    Ok(())
}

/// The keys loaded by [`load_keys`] (none if it was not called).
pub fn keys() -> Option<&'static Keys> {
    KEYS.get_or_init(|| None).as_ref()
}

fn read_identity(path: &Path) -> Result<KeyEntry> {
    let cannot = |why: String| {
        Error::usage(format!(
            "cannot read identity file '{}': {why}",
            path.display()
        ))
    };
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
        .map_err(|e| cannot(crate::error::describe_io(&e)))?;
    let text = SecretString::from(text);
    let t = text.expose_secret();
    if t.contains("AGE-SECRET-KEY-") {
        return match age::IdentityFile::from_buffer(t.as_bytes()).map(|f| f.into_identities()) {
            Ok(Ok(ids)) if !ids.is_empty() => Ok(KeyEntry::Age(text)),
            // The crate's message names a line number, not its content.
            Ok(_) => Err(cannot("no usable age identity in it".into())),
            Err(e) => Err(cannot(e.to_string())),
        };
    }
    if t.contains("PRIVATE KEY-----") {
        return match age::ssh::Identity::from_buffer(t.as_bytes(), None) {
            Ok(age::ssh::Identity::Unencrypted(_)) => Ok(KeyEntry::Ssh(text)),
            Ok(age::ssh::Identity::Encrypted(_)) => Err(cannot(
                "the SSH key is protected by a passphrase, which lfb cannot ask for; use an age identity (lfb keygen)".into(),
            )),
            _ => Err(cannot("unsupported SSH key".into())),
        };
    }
    Err(cannot(
        "not an age identity (AGE-SECRET-KEY-1…) nor an OpenSSH private key".into(),
    ))
}

/// A new X25519 identity: (the identity file's text, the recipient).
pub fn generate() -> (SecretString, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let text = format!(
        "# created: {}\n# public key: {public}\n{}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        id.to_string().expose_secret()
    );
    (SecretString::from(text), public)
}

// ------------------------------------------------------------------ reading

/// A header recipient stanza: its type and first argument.
pub type Stanza = (String, Option<String>);

/// What reading an encrypted artifact found (filled while it is read).
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// SHA-256 and size of the file as stored.
    pub cipher_sha256: String,
    pub cipher_bytes: u64,
    /// The first error: the header, the key or the payload.
    pub error: Option<String>,
    /// No key was loaded: nothing was decrypted.
    pub no_key: bool,
    /// The header's recipient stanzas (type, first argument: the key tag
    /// of SSH stanzas), or why it does not parse.
    pub header: Option<std::result::Result<Vec<Stanza>, String>>,
    /// Plaintext bytes read out.
    pub plain_bytes: u64,
}

struct Shared {
    hasher: Sha256,
    bytes: u64,
    head: Vec<u8>,
}

/// Hashes the ciphertext as it is read, and keeps the first bytes (the header).
struct Tap {
    inner: File,
    shared: Arc<Mutex<Shared>>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.hasher.update(&buf[..n]);
        s.bytes += n as u64;
        if s.head.len() < HEADER_MAX {
            let take = n.min(HEADER_MAX - s.head.len());
            s.head.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

const HEADER_MAX: usize = 64 * 1024;

/// Reads an encrypted artifact's plaintext. It never fails to open: any
/// problem (no key, wrong key, corrupt header or payload) ends the stream
/// early and is kept in the [`Report`]; the rest of the file is still read
/// so that the ciphertext's checksum covers every byte.
pub struct Decrypting {
    stream: Option<Box<dyn Read + Send>>,
    rest: Option<Tap>,
    shared: Arc<Mutex<Shared>>,
    report: Arc<Mutex<Report>>,
}

impl Decrypting {
    /// Starts reading `file` with `keys` (none: the header is still parsed
    /// and the ciphertext hashed).
    pub fn new(file: File, keys: Option<&Keys>) -> io::Result<Decrypting> {
        let shared = Arc::new(Mutex::new(Shared {
            hasher: Sha256::new(),
            bytes: 0,
            head: Vec::new(),
        }));
        let rest = Tap {
            inner: file.try_clone()?,
            shared: Arc::clone(&shared),
        };
        let tap = Tap {
            inner: file,
            shared: Arc::clone(&shared),
        };
        let mut report = Report::default();
        let mut stream: Option<Box<dyn Read + Send>> = None;
        match keys {
            None => report.no_key = true,
            Some(k) => match age::Decryptor::new(tap) {
                Err(e) => report.error = Some(describe_decrypt(&e)),
                Ok(d) => {
                    let ids = k.identities();
                    match d.decrypt(ids.iter().map(|i| i.as_ref())) {
                        Ok(r) => stream = Some(Box::new(r)),
                        Err(e) => report.error = Some(describe_decrypt(&e)),
                    }
                }
            },
        }
        Ok(Decrypting {
            stream,
            rest: Some(rest),
            shared,
            report: Arc::new(Mutex::new(report)),
        })
    }

    /// A handle to the report, readable once the stream has ended.
    pub fn report_handle(&self) -> ReportHandle {
        ReportHandle {
            report: Arc::clone(&self.report),
            shared: Arc::clone(&self.shared),
        }
    }

    fn finish_rest(&mut self) -> io::Result<()> {
        if let Some(mut rest) = self.rest.take() {
            io::copy(&mut rest, &mut io::sink())?;
        }
        Ok(())
    }
}

impl Read for Decrypting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(s) = self.stream.as_mut() {
            match s.read(buf) {
                Ok(0) => self.stream = None,
                Ok(n) => {
                    self.report
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .plain_bytes += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                Err(e) => {
                    self.stream = None;
                    let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
                    r.error = Some(describe_payload(&e, r.plain_bytes));
                }
            }
        }
        self.finish_rest()?;
        Ok(0)
    }
}

/// Reads the [`Report`] of a [`Decrypting`] after its end.
#[derive(Clone)]
pub struct ReportHandle {
    report: Arc<Mutex<Report>>,
    shared: Arc<Mutex<Shared>>,
}

impl ReportHandle {
    pub fn get(&self) -> Report {
        let mut r = self
            .report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        r.cipher_sha256 = hex(&s.hasher.clone().finalize());
        r.cipher_bytes = s.bytes;
        r.header = Some(parse_header(&s.head));
        r
    }
}

fn describe_decrypt(e: &age::DecryptError) -> String {
    match e {
        age::DecryptError::NoMatchingKeys => {
            "no identity matches the file's recipients (wrong key?)".to_string()
        }
        age::DecryptError::InvalidMac => {
            "the header's MAC does not match: the header is corrupt or not this file's".to_string()
        }
        age::DecryptError::InvalidHeader => "the age header is invalid".to_string(),
        age::DecryptError::UnknownFormat => "not an age file (unknown format)".to_string(),
        age::DecryptError::DecryptionFailed => {
            "decryption failed (wrong passphrase or corrupt header)".to_string()
        }
        age::DecryptError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the age header is truncated".to_string()
        }
        other => other.to_string(),
    }
}

fn describe_payload(e: &io::Error, plain: u64) -> String {
    let what = if e.kind() == io::ErrorKind::UnexpectedEof {
        "the ciphertext is truncated".to_string()
    } else {
        let s = e.to_string();
        if s.contains("decrypt") || s.contains("Decrypt") {
            "the ciphertext does not authenticate: it is corrupt, truncated or not this header's payload".to_string()
        } else {
            format!("cannot decrypt: {s}")
        }
    };
    format!("{what}, after {plain} decrypted bytes")
}

/// Parses an age header (v1, binary form) far enough to list its
/// recipient stanzas: (type, first argument for SSH stanzas: the key tag).
pub fn parse_header(head: &[u8]) -> std::result::Result<Vec<(String, Option<String>)>, String> {
    const MAGIC: &[u8] = b"age-encryption.org/v1\n";
    if head.len() < MAGIC.len() && MAGIC.starts_with(head) {
        return Err("the age header is truncated".into());
    }
    if !head.starts_with(MAGIC) {
        if head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
            return Err("ASCII-armored age file: lfb reads binary age files".into());
        }
        return Err("not an age file (no age-encryption.org/v1 header)".into());
    }
    let mut stanzas = Vec::new();
    let mut rest = &head[MAGIC.len()..];
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err("the age header is truncated".into());
        };
        let line = std::str::from_utf8(&rest[..nl]).map_err(|_| "the age header is invalid")?;
        rest = &rest[nl + 1..];
        if line.starts_with("--- ") {
            break;
        }
        let Some(args) = line.strip_prefix("-> ") else {
            return Err("the age header is invalid".into());
        };
        let mut parts = args.split(' ');
        let kind = parts.next().unwrap_or_default().to_string();
        let first = parts.next().map(str::to_string);
        // The body: base64 lines of 64 columns, ended by a shorter one.
        loop {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                return Err("the age header is truncated".into());
            };
            let len = nl;
            rest = &rest[nl + 1..];
            if len < 64 {
                break;
            }
        }
        stanzas.push((kind, first));
    }
    if stanzas.is_empty() {
        return Err("the age header has no recipient stanza".into());
    }
    Ok(stanzas)
}

/// The 4-byte key tag age puts in an SSH stanza, from a recorded
/// `ssh-… BASE64` public key.
fn ssh_tag(public: &str) -> Option<(String, String)> {
    let mut parts = public.split_whitespace();
    let kind = parts.next()?.to_string();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    let digest = Sha256::digest(&blob);
    let tag = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..4]);
    Some((kind, tag))
}

/// Compares the header's stanzas with the record's `encryption` section
/// (see the module documentation for what can be compared without a key).
// Long: describe the header's stanzas, then compare each recipient kind (X25519, ssh, scrypt, other) with the record, one short block each.
pub fn match_recipients(
    stanzas: &[(String, Option<String>)],
    section: Option<&Value>,
) -> std::result::Result<String, String> {
    let real: Vec<&(String, Option<String>)> = stanzas
        .iter()
        .filter(|(k, _)| !k.ends_with("-grease"))
        .collect();
    let x25519 = real.iter().filter(|(k, _)| k == "X25519").count();
    let scrypt = real.iter().filter(|(k, _)| k == "scrypt").count();
    let mut ssh: Vec<(String, String)> = real
        .iter()
        .filter(|(k, _)| k.starts_with("ssh-"))
        .map(|(k, t)| (k.clone(), t.clone().unwrap_or_default()))
        .collect();
    ssh.sort();
    let other: Vec<&str> = real
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "X25519" && *k != "scrypt" && !k.starts_with("ssh-"))
        .collect();
    let mut described = Vec::new();
    if x25519 > 0 {
        described.push(format!("{x25519} X25519"));
    }
    for (k, t) in &ssh {
        described.push(format!("{k} (key tag {t})"));
    }
    if scrypt > 0 {
        described.push("scrypt passphrase".to_string());
    }
    for k in &other {
        described.push(format!("{k} (plugin?)"));
    }
    let summary = format!("age header parses: {}", described.join(", "));
    let Some(sec) = section else {
        return Ok(format!("{summary} (no recorded recipients to compare)"));
    };
    let recorded: Vec<&str> = sec
        .get("recipients")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let want_x = recorded.iter().filter(|r| r.starts_with("age1")).count();
    let mut want_ssh: Vec<(String, String)> = recorded
        .iter()
        .filter(|r| r.starts_with("ssh-"))
        .filter_map(|r| ssh_tag(r))
        .collect();
    want_ssh.sort();
    let want_scrypt = usize::from(sec.get("passphrase").and_then(Value::as_bool) == Some(true));
    let mut diffs = Vec::new();
    if x25519 != want_x {
        diffs.push(format!(
            "{x25519} X25519 stanzas, the record lists {want_x} age1… recipients"
        ));
    }
    if ssh != want_ssh {
        diffs.push(format!(
            "SSH stanzas {:?}, the record's SSH keys have tags {:?}",
            ssh.iter()
                .map(|(k, t)| format!("{k} {t}"))
                .collect::<Vec<_>>(),
            want_ssh
                .iter()
                .map(|(k, t)| format!("{k} {t}"))
                .collect::<Vec<_>>()
        ));
    }
    if scrypt != want_scrypt {
        diffs.push(if want_scrypt == 1 {
            "no scrypt stanza, the record says passphrase".to_string()
        } else {
            "a scrypt (passphrase) stanza the record does not list".to_string()
        });
    }
    if !other.is_empty() {
        diffs.push(format!("unexpected stanzas: {}", other.join(", ")));
    }
    if diffs.is_empty() {
        Ok(format!("{summary}, as recorded"))
    } else {
        Err(format!(
            "recipients differ from the record: {}",
            diffs.join("; ")
        ))
    }
}

/// Opens an encrypted artifact's plaintext for a load (restore, restore
/// test): fails at once, before anything is loaded, when no key is loaded
/// (a usage error) or the header does not open with it.
pub fn open_plaintext(path: &Path) -> Result<Box<dyn Read + Send>> {
    let Some(k) = keys() else {
        return Err(Error::usage(format!(
            "'{}' is encrypted with age: {IDENTITY_HINT}",
            path.display()
        )));
    };
    let f = File::open(path).map_err(|e| Error::io_path("open", path, e))?;
    let d = age::Decryptor::new(io::BufReader::with_capacity(1 << 16, f)).map_err(|e| {
        Error::failed(format!(
            "decrypt '{}': {}",
            path.display(),
            describe_decrypt(&e)
        ))
    })?;
    let ids = k.identities();
    let r = d.decrypt(ids.iter().map(|i| i.as_ref())).map_err(|e| {
        Error::failed(format!(
            "decrypt '{}': {}",
            path.display(),
            describe_decrypt(&e)
        ))
    })?;
    Ok(Box::new(PayloadErrors { inner: r }))
}

/// Turns age's payload errors into messages that name the problem.
struct PayloadErrors<R> {
    inner: R,
}

impl<R: Read> Read for PayloadErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "age: {}",
                        describe_payload(&e, 0).trim_end_matches(", after 0 decrypted bytes")
                    ),
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parses_and_matches() {
        let (id_text, public) = generate();
        let r = parse_recipient(&public).unwrap();
        let enc = Encryption {
            recipients: vec![r],
            passphrase: None,
        };
        let mut out = Vec::new();
        let mut w = enc.wrap(&mut out).unwrap();
        w.write_all(b"hello").unwrap();
        w.finish().unwrap();
        let stanzas = parse_header(&out).unwrap();
        let sec = enc.section();
        assert!(match_recipients(&stanzas, Some(&sec)).is_ok());
        let two = json!({"scheme":"age","recipients":[public.clone(), public]});
        assert!(match_recipients(&stanzas, Some(&two)).is_err());
        assert!(parse_header(&out[..10]).is_err());
        assert!(parse_header(b"hello world").is_err());
        let _ = id_text;
    }

    #[test]
    fn bad_recipients_are_usage_errors() {
        assert!(parse_recipient("age1nope").is_err());
        assert!(parse_recipient("hello").is_err());
        assert!(parse_recipient("ssh-ed25519").is_err());
    }
}
