//! The S3 servers the object-storage tests run against, shared by
//! copy_s3.rs and offsite.rs: a `moto` server (PyPI `moto[server]`) on a free
//! port of 127.0.0.1, and a TCP front between the tools and it that answers
//! 503 SlowDown (throttling) and refuses an access key the way S3 does
//! (moto does not check the credentials of presigned requests).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lfb_tests::require_db;

pub const KEY: &str = "AKIALFBTESTKEY000001";
pub const SECRET: &str = "lfb-test-secret-Zq8wX3vB";

/// A moto server (or s3rver, [`Moto::s3rver`]) on a free port of
/// 127.0.0.1, stopped when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    /// The credentials the server accepts.
    pub key: &'static str,
    pub secret: &'static str,
    _dir: tempfile::TempDir,
}

/// s3rver's fixed credentials.
pub const S3RVER_KEY: &str = "S3RVER";

/// Where `.ci/run` installs s3rver (npm, project-local): `LFB_S3RVER`, else
/// `.ci/node/node_modules/.bin/s3rver` in the workspace.
pub fn s3rver_bin() -> std::path::PathBuf {
    match std::env::var_os("LFB_S3RVER") {
        Some(p) => p.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.ci/node/node_modules/.bin/s3rver"),
    }
}

impl Moto {
    pub fn start(test: &str) -> Option<Moto> {
        let have = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            if require_db() {
                panic!("{test}: moto_server is not installed (pip install 'moto[server]')");
            }
            eprintln!("SKIPPED {test}: moto_server is not installed (pip install 'moto[server]')");
            return None;
        }
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("moto.log")).unwrap())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            port,
            key: KEY,
            secret: SECRET,
            _dir: dir,
        };
        moto.wait_for_port();
        Some(moto)
    }

    /// The second S3 implementation: s3rver (npm), which checks signatures
    /// (credentials S3RVER/S3RVER) and ignores conditional writes.
    pub fn s3rver(test: &str) -> Option<Moto> {
        let bin = s3rver_bin();
        if !bin.exists() {
            let why = format!(
                "s3rver is not installed at {} (.ci/run installs it: npm install --prefix .ci/node s3rver)",
                bin.display()
            );
            if require_db() {
                panic!("{test}: {why}");
            }
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .arg("-d")
            .arg(dir.path())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--no-vhost-buckets",
            ])
            // s3rver 3.7 makes continuation tokens with a cipher OpenSSL 3
            // only has in its legacy provider.
            .env("NODE_OPTIONS", "--openssl-legacy-provider")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3rver");
        let s = Moto {
            child,
            port,
            key: S3RVER_KEY,
            secret: S3RVER_KEY,
            _dir: dir,
        };
        s.wait_for_port();
        Some(s)
    }

    fn wait_for_port(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the S3 server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs a boto3 snippet (`s3` is a client of this server); its stdout.
    pub fn py(&self, code: &str) -> String {
        let script = format!(
            "import boto3, hashlib, sys\n\
             s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1',\n\
                 aws_access_key_id='{}', aws_secret_access_key='{}')\n{code}\n",
            self.endpoint(),
            self.key,
            self.secret
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3 script failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn create_bucket(&self, name: &str) {
        self.py(&format!("s3.create_bucket(Bucket='{name}')"));
    }

    /// SHA-256 and size of an object, or "missing".
    pub fn object(&self, bucket: &str, key: &str) -> String {
        self.py(&format!(
            "try:\n    b = s3.get_object(Bucket='{bucket}', Key='{key}')['Body'].read()\n    \
             print(hashlib.sha256(b).hexdigest(), len(b))\n\
             except s3.exceptions.NoSuchKey:\n    print('missing')"
        ))
    }

    pub fn multipart_uploads(&self, bucket: &str) -> usize {
        self.py(&format!(
            "print(len(s3.list_multipart_uploads(Bucket='{bucket}').get('Uploads', [])))"
        ))
        .parse()
        .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP front for moto: refuses the first `fail` requests with 503
/// SlowDown, refuses requests signed with another access key than `key`
/// with 403 InvalidAccessKeyId, refuses a presigned request with an
/// `x-amz-*` header its signature does not cover with 403 AccessDenied (as
/// S3 does: "There were headers present in the request which were not
/// signed"), and relays everything else to moto.
pub struct Front {
    pub port: u16,
    pub refused: Arc<AtomicUsize>,
}

impl Front {
    pub fn start(upstream: u16, fail: usize, key: Option<&'static str>) -> Front {
        Front::start_with(upstream, fail, key, false, false)
    }

    /// Like [`Front::start`], but every upload (PUT) is throttled, except
    /// the writes of the bucket's lease (`.lfb/lock.json`).
    pub fn failing_puts(upstream: u16) -> Front {
        Front::start_with(upstream, 0, None, true, false)
    }

    /// Like [`Front::start`], but refuses uploads that carry additional
    /// checksums (`x-amz-checksum-algorithm`, `x-amz-checksum-crc32`) with
    /// 400 InvalidArgument, as some S3-compatible services did.
    pub fn without_checksums(upstream: u16) -> Front {
        Front::start_with(upstream, 0, None, false, true)
    }

    pub fn start_with(
        upstream: u16,
        fail: usize,
        key: Option<&'static str>,
        puts: bool,
        no_checksums: bool,
    ) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused = Arc::new(AtomicUsize::new(0));
        let r = refused.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let r = r.clone();
                std::thread::spawn(move || {
                    serve(conn, upstream, fail, key, (puts, no_checksums), &r)
                });
            }
        });
        Front { port, refused }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve(
    mut conn: TcpStream,
    upstream: u16,
    fail: usize,
    key: Option<&str>,
    (puts, no_checksums): (bool, bool),
    refused: &AtomicUsize,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let refuse = |conn: &mut TcpStream, status: &str, code: &str| {
        let len: usize = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        let _ = std::io::copy(&mut (&*conn).take(len as u64), &mut std::io::sink());
        let body = format!("<Error><Code>{code}</Code><Message>test front</Message></Error>");
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.shutdown(Shutdown::Both);
    };
    if refused.load(Ordering::SeqCst) < fail
        || (puts && text.starts_with("PUT ") && !text.contains("/.lfb/lock.json"))
    {
        refused.fetch_add(1, Ordering::SeqCst);
        return refuse(&mut conn, "503 Slow Down", "SlowDown");
    }
    let lower = text.to_ascii_lowercase();
    if no_checksums
        && (lower.contains("\r\nx-amz-checksum-algorithm:")
            || lower.contains("\r\nx-amz-checksum-crc32:"))
    {
        refused.fetch_add(1, Ordering::SeqCst);
        return refuse(&mut conn, "400 Bad Request", "InvalidArgument");
    }
    if let Some(name) = unsigned_amz_header(&text) {
        // S3's rule for presigned requests, which moto does not check.
        refused.fetch_add(1, Ordering::SeqCst);
        eprintln!("test front: refused {name}, not signed");
        return refuse(&mut conn, "403 Forbidden", "AccessDenied");
    }
    if let Some(k) = key
        && !text.contains(&format!("X-Amz-Credential={k}"))
    {
        return refuse(&mut conn, "403 Forbidden", "InvalidAccessKeyId");
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    up.write_all(&head).unwrap();
    let (mut c2, mut u2) = (conn.try_clone().unwrap(), up.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut conn, &mut up);
    let _ = up.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// The first `x-amz-*` header of a presigned request (query-string
/// authentication) that is not among its `X-Amz-SignedHeaders`.
fn unsigned_amz_header(head: &str) -> Option<String> {
    let mut lines = head.lines();
    let request = lines.next()?;
    let at = request.find("X-Amz-SignedHeaders=")? + "X-Amz-SignedHeaders=".len();
    let signed = request[at..]
        .split(['&', ' '])
        .next()
        .unwrap_or("")
        .replace("%3B", ";")
        .replace("%3b", ";")
        .to_ascii_lowercase();
    let signed: Vec<&str> = signed.split(';').collect();
    lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_ascii_lowercase())
        .find(|name| name.starts_with("x-amz-") && !signed.contains(&name.as_str()))
}
