//! lfb-copy against a real S3 implementation: the `moto` server (PyPI
//! `moto[server]`, installed by .ci/run), started by each test on 127.0.0.1
//! and stopped when the test ends. The objects in the bucket are checked with
//! boto3 (which moto brings along), not with lfb's own client.
//!
//! Two things moto cannot do are done by a small front (s3_support.rs) that
//! sits between lfb-copy and moto: answer 503 SlowDown to the first N
//! requests (throttling), and refuse an access key the way S3 does (moto
//! does not check the credentials of presigned requests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::s3_support::{Front, KEY, Moto, SECRET};
use lfb_tests::{bin, parse_ndjson, run, run_with_input, sha256sum, store};

/// lfb-copy with the test's S3 configuration and a private HOME.
fn copy(st: &Path, home: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(bin("lfb-copy"));
    c.env_remove("LFB_CONFIG")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_SESSION_TOKEN")
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("LFB_S3_ENDPOINT", endpoint)
        .env("LFB_S3_BACKOFF_MS", "20")
        .arg("--store")
        .arg(st);
    c
}

/// A demo dump in the store (a real SQLite dump, with its sidecar); its record.
fn demo_dump(st: &Path, home: &Path) -> serde_json::Value {
    let out = run(Command::new(bin("lfb-dump"))
        .env_remove("LFB_CONFIG")
        .env("HOME", home)
        .arg("--store")
        .arg(st)
        .args(["-e", "prod", "--demo"]));
    out.assert_ok();
    out.records().remove(0)
}

/// A real archive of the store's dumps (lfb-archive); its record.
fn archive(st: &Path, home: &Path, dump: &str) -> serde_json::Value {
    let media = home.join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("logo.png"), b"not really a png").unwrap();
    let out = run(Command::new(bin("lfb-archive"))
        .env_remove("LFB_CONFIG")
        .env("HOME", home)
        .arg("--store")
        .arg(st)
        .args(["-e", "prod"])
        .arg(dump)
        .arg("--media")
        .arg(&media));
    out.assert_ok();
    out.records().remove(0)
}

/// A large artifact of random bytes (no sidecar: its record is derived).
fn big_artifact(st: &Path, mib: usize) -> PathBuf {
    let dir = st.join("prod");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("big_db_manual_20261127T020000Z.sql.gz");
    let mut f = std::fs::File::create(&p).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in buf.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
        }
        f.write_all(&buf).unwrap();
    }
    p
}

fn rel(st: &Path, p: &str) -> String {
    Path::new(p)
        .strip_prefix(st.canonicalize().unwrap())
        .or_else(|_| Path::new(p).strip_prefix(st))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn copies_a_dump_and_an_archive_verified_then_skips_them() {
    let Some(moto) = Moto::start("copies_a_dump_and_an_archive") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let full = archive(st.path(), home.path(), dump["path"].as_str().unwrap());
    let input = format!("{dump}\n{full}\n");

    let out = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://offsite/acme/app"]),
        &input,
    );
    out.assert_ok();
    let recs = out.records();
    assert_eq!(recs.len(), 2, "{}", out.stdout);
    for (rec, orig) in recs.iter().zip([&dump, &full]) {
        let path = orig["path"].as_str().unwrap();
        let key = format!("acme/app/{}", rel(st.path(), path));
        let off = &rec["offsite"];
        assert_eq!(off["destination"], "s3://offsite/acme/app");
        assert_eq!(off["key"], key.as_str());
        assert_eq!(off["verified"], true);
        assert_eq!(off["skipped"], false);
        assert_eq!(off["bytes"], orig["bytes"]);
        // Everything else of the record is passed through.
        assert_eq!(rec["sha256"], orig["sha256"]);
        assert_eq!(rec["source"], orig["source"]);
        // The object in the bucket is the artifact, byte for byte.
        assert_eq!(
            moto.object("offsite", &key),
            format!("{} {}", sha256sum(path), orig["bytes"])
        );
        // And the sidecar went along.
        let sidecar = format!("{path}.json");
        assert_eq!(
            moto.object("offsite", &format!("{key}.json")),
            format!(
                "{} {}",
                sha256sum(&sidecar),
                std::fs::metadata(&sidecar).unwrap().len()
            )
        );
    }
    assert!(!out.stderr.contains(SECRET) && !out.stdout.contains(SECRET));
    assert!(!out.stderr.contains(KEY) && !out.stdout.contains(KEY));

    // A second run finds both there and identical.
    let again = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://offsite/acme/app"]),
        &input,
    );
    again.assert_ok();
    for rec in again.records() {
        assert_eq!(rec["offsite"]["skipped"], true, "{rec}");
        assert_eq!(rec["offsite"]["verified"], true, "{rec}");
    }
    // --verify reads every copy back.
    let verify = run(copy(st.path(), home.path(), &moto.endpoint()).args([
        "--verify",
        "--all",
        "--to",
        "s3://offsite/acme/app",
    ]));
    verify.assert_ok();
    assert_eq!(verify.records().len(), 2);
}

#[test]
fn a_failed_record_is_passed_through_and_not_copied() {
    let Some(moto) = Moto::start("a_failed_record_is_passed_through") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let mut failed = dump.clone();
    failed["verify"] = serde_json::json!({"ok": false, "checks": []});
    let out = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://offsite"]),
        format!("{failed}\n"),
    );
    out.assert_code(1);
    assert_eq!(out.records(), vec![failed]);
    let key = rel(st.path(), dump["path"].as_str().unwrap());
    assert_eq!(moto.object("offsite", &key), "missing");
}

#[test]
fn an_upload_killed_half_way_leaves_nothing_and_the_next_run_resumes_it() {
    let Some(moto) = Moto::start("an_upload_killed_half_way") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let big = big_artifact(st.path(), 40);
    let key = "prod/big_db_manual_20261127T020000Z.sql.gz";
    let mut child = copy(st.path(), home.path(), &moto.endpoint())
        .env("LFB_COPY_PART_DELAY_MS", "1500")
        .args(["--to", "s3://offsite", "--part-size", "8MiB"])
        .arg(&big)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for two parts to be in the bucket, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let parts: usize = moto
            .py(
                "u = s3.list_multipart_uploads(Bucket='offsite').get('Uploads', [])\n\
                 print(sum(len(s3.list_parts(Bucket='offsite', Key=x['Key'], UploadId=x['UploadId']).get('Parts', [])) for x in u))",
            )
            .parse()
            .unwrap();
        if parts >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "lfb-copy finished too soon"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Nothing under the final name; the upload waits in the bucket.
    assert_eq!(moto.object("offsite", key), "missing");
    assert_eq!(moto.multipart_uploads("offsite"), 1);

    let out = run(copy(st.path(), home.path(), &moto.endpoint())
        .args(["--to", "s3://offsite", "--part-size", "8MiB"])
        .arg(&big));
    out.assert_ok();
    let rec = &out.records()[0];
    assert_eq!(rec["offsite"]["verified"], true, "{rec}");
    assert!(
        rec["offsite"]["resumed_parts"].as_u64().unwrap_or(0) >= 2,
        "the parts already uploaded were kept: {rec}"
    );
    assert!(out.stderr.contains("resuming"), "{}", out.stderr);
    // The killed run's lease (a dead process of this machine) is taken
    // over at once, not after it expires; and released at the end.
    assert!(
        out.stderr.contains("took over the expired lock"),
        "{}",
        out.stderr
    );
    assert_eq!(moto.object("offsite", ".lfb/lock.json"), "missing");
    assert_eq!(
        moto.object("offsite", key),
        format!("{} {}", sha256sum(&big), 40 << 20)
    );
    assert_eq!(moto.multipart_uploads("offsite"), 0);
    // The state file is gone.
    let state = home.path().join("state/lfb/uploads");
    assert_eq!(std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn a_corrupted_object_is_found_and_replaced() {
    let Some(moto) = Moto::start("a_corrupted_object") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let path = dump["path"].as_str().unwrap().to_string();
    let key = rel(st.path(), &path);
    let line = format!("{dump}\n");
    run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://offsite"]),
        &line,
    )
    .assert_ok();
    let good = moto.object("offsite", &key);

    // Bit rot that keeps the object's metadata: --verify reads it back.
    let flip = format!(
        "o = s3.get_object(Bucket='offsite', Key='{key}')\n\
         b = bytearray(o['Body'].read()); b[len(b)//2] ^= 0xff\n\
         s3.put_object(Bucket='offsite', Key='{key}', Body=bytes(b), Metadata=o['Metadata'])"
    );
    moto.py(&flip);
    let verify = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--verify", "--to", "s3://offsite"]),
        &line,
    );
    verify.assert_code(1);
    assert!(verify.stderr.contains("is corrupt"), "{}", verify.stderr);
    let rec = &verify.records()[0];
    assert_eq!(rec["offsite"]["ok"], false);
    assert_eq!(rec["offsite"]["verified"], false);

    // A copy of other content under the key (no lfb metadata): the next
    // run reads it back, finds it differs, and replaces it.
    moto.py(&format!(
        "o = s3.get_object(Bucket='offsite', Key='{key}')\n\
         b = bytearray(o['Body'].read()); b[0] ^= 0xff\n\
         s3.put_object(Bucket='offsite', Key='{key}', Body=bytes(b))"
    ));
    let out = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://offsite"]),
        &line,
    );
    out.assert_ok();
    assert!(out.stderr.contains("differed"), "{}", out.stderr);
    let rec = &out.records()[0];
    assert_eq!(rec["offsite"]["replaced"], true);
    assert_eq!(rec["offsite"]["skipped"], false);
    assert_eq!(moto.object("offsite", &key), good);
}

#[test]
fn a_missing_bucket_and_refused_credentials_stop_with_one_line() {
    let Some(moto) = Moto::start("a_missing_bucket") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let line = format!("{dump}\n");

    let out = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://no-such-bucket/x"]),
        &line,
    );
    out.assert_code(2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("bucket 'no-such-bucket' does not exist"),
        "{}",
        out.stderr
    );

    // A front that accepts only another access key, as S3 refuses one.
    let front = Front::start(moto.port, 0, Some("AKIATHEGOODKEY000000"));
    let out = run_with_input(
        copy(st.path(), home.path(), &front.endpoint()).args(["--to", "s3://offsite"]),
        &line,
    );
    out.assert_code(2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("refused the credentials") && out.stderr.contains("InvalidAccessKeyId"),
        "{}",
        out.stderr
    );
    for o in [&out.stderr, &out.stdout] {
        assert!(!o.contains(SECRET) && !o.contains(KEY), "{o}");
    }
    // No credentials at all.
    let out = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["--to", "s3://offsite"]),
        &line,
    );
    out.assert_code(2);
    assert!(out.stderr.contains("no S3 credentials"), "{}", out.stderr);
}

#[test]
fn throttling_is_retried_with_backoff_then_fails_clearly() {
    let Some(moto) = Moto::start("throttling_is_retried") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let line = format!("{dump}\n");
    let key = rel(st.path(), dump["path"].as_str().unwrap());

    // Three 503 SlowDown replies, then the real server: the copy goes through.
    let front = Front::start(moto.port, 3, None);
    let out = run_with_input(
        copy(st.path(), home.path(), &front.endpoint()).args(["--to", "s3://offsite"]),
        &line,
    );
    out.assert_ok();
    assert_eq!(front.refused.load(Ordering::SeqCst), 3);
    assert_eq!(out.records()[0]["offsite"]["verified"], true);
    assert_eq!(
        moto.object("offsite", &key),
        format!(
            "{} {}",
            sha256sum(dump["path"].as_str().unwrap()),
            dump["bytes"]
        )
    );

    // A service that keeps throttling: bounded retries, then a clear failure.
    let front = Front::start(moto.port, usize::MAX, None);
    let started = Instant::now();
    let out = run_with_input(
        copy(st.path(), home.path(), &front.endpoint())
            .env("LFB_S3_RETRIES", "3")
            .args(["--to", "s3://offsite"]),
        &line,
    );
    out.assert_code(2);
    assert_eq!(front.refused.load(Ordering::SeqCst), 4, "1 try + 3 retries");
    assert!(
        out.stderr.contains("503 SlowDown") && out.stderr.contains("gave up after 4 attempts"),
        "{}",
        out.stderr
    );
    // Backoff 20, 40, 80 ms: it waited, but not long.
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn every_x_amz_header_is_signed_as_s3_requires() {
    // S3 refuses a presigned request with an x-amz-* header its signature
    // does not cover; moto does not check, the front does. lfb-copy sent
    // x-amz-meta-lfb-sha256, x-amz-checksum-sha256 and x-amz-checksum-mode
    // unsigned: every upload to AWS itself failed with 403 AccessDenied.
    let Some(moto) = Moto::start("every_x_amz_header_is_signed") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let big = big_artifact(st.path(), 12);
    let front = Front::start(moto.port, 0, None);
    // A small object (one PUT) and a multipart upload.
    let copy_both = || {
        run(copy(st.path(), home.path(), &front.endpoint())
            .args(["--to", "s3://offsite", "--part-size", "8MiB"])
            .arg(dump["path"].as_str().unwrap())
            .arg(&big))
    };
    let out = copy_both();
    out.assert_ok();
    assert_eq!(front.refused.load(Ordering::SeqCst), 0, "{}", out.stderr);
    for rec in out.records() {
        assert_eq!(rec["offsite"]["verified"], true, "{rec}");
        assert_eq!(rec["offsite"]["skipped"], false, "{rec}");
    }
    assert_eq!(
        moto.object("offsite", "prod/big_db_manual_20261127T020000Z.sql.gz"),
        format!("{} {}", sha256sum(&big), 12 << 20)
    );
    // The parts went with their CRC-32s, as the AWS CLI sends them: the
    // service kept the composite checksum of the two parts (the CRC-32 of
    // their CRC-32s; S3 appends "-2", moto does not).
    let crc = moto.py(&format!(
        "import zlib, base64\n\
         f = open({:?}, 'rb').read()\n\
         parts = [f[i:i + (8 << 20)] for i in range(0, len(f), 8 << 20)]\n\
         want = base64.b64encode(zlib.crc32(b''.join(zlib.crc32(p).to_bytes(4, 'big') for p in parts)).to_bytes(4, 'big')).decode()\n\
         got = s3.head_object(Bucket='offsite', Key='prod/big_db_manual_20261127T020000Z.sql.gz', \
         ChecksumMode='ENABLED').get('ChecksumCRC32', 'none')\n\
         print('ok' if got.split('-')[0] == want else got + ' != ' + want)",
        big.display().to_string()
    ));
    assert_eq!(crc, "ok");
    // Again: both found already there (HEAD with x-amz-checksum-mode).
    let out = copy_both();
    out.assert_ok();
    assert_eq!(front.refused.load(Ordering::SeqCst), 0, "{}", out.stderr);
    for rec in out.records() {
        assert_eq!(rec["offsite"]["skipped"], true, "{rec}");
    }
}

#[test]
fn a_service_that_refuses_checksums_gets_the_upload_without_them() {
    let Some(moto) = Moto::start("a_service_that_refuses_checksums") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let big = big_artifact(st.path(), 12);
    let front = Front::without_checksums(moto.port);
    let out = run(copy(st.path(), home.path(), &front.endpoint())
        .args(["--to", "s3://offsite", "--part-size", "8MiB", "-vv"])
        .arg(&big));
    out.assert_ok();
    // One refused start, then an upload without checksums.
    assert_eq!(front.refused.load(Ordering::SeqCst), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("refused a CRC-32 upload"),
        "{}",
        out.stderr
    );
    assert_eq!(out.records()[0]["offsite"]["verified"], true);
    assert_eq!(
        moto.object("offsite", "prod/big_db_manual_20261127T020000Z.sql.gz"),
        format!("{} {}", sha256sum(&big), 12 << 20)
    );
}

#[test]
fn records_from_lfb_list_go_to_the_bucket() {
    let Some(moto) = Moto::start("records_from_lfb_list") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    demo_dump(st.path(), home.path());
    let list = run(Command::new(bin("lfb-list"))
        .env_remove("LFB_CONFIG")
        .arg("--store")
        .arg(st.path())
        .args(["--format", "json"]));
    list.assert_ok();
    let out = run_with_input(
        copy(st.path(), home.path(), &moto.endpoint()).args(["--to", "s3://offsite/p"]),
        &list.stdout,
    );
    out.assert_ok();
    let recs = parse_ndjson(&out.stdout);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["offsite"]["ok"], true);
}

#[test]
fn credentials_region_and_endpoint_come_from_an_aws_profile() {
    let Some(moto) = Moto::start("credentials_from_an_aws_profile") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!("[default]\naws_access_key_id = AKIAWRONGDEFAULT0000\naws_secret_access_key = x\n\n[work]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    // The front accepts only the work profile's key.
    let front = Front::start(moto.port, 0, Some(KEY));
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile work]\nregion = eu-west-1\nendpoint_url = {}\n",
            front.endpoint()
        ),
    )
    .unwrap();
    let mut cmd = copy(st.path(), home.path(), "unused");
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("LFB_S3_ENDPOINT")
        .env("AWS_PROFILE", "work")
        .args(["--to", "s3://offsite/p"]);
    let out = run_with_input(&mut cmd, format!("{dump}\n"));
    out.assert_ok();
    assert_eq!(out.records()[0]["offsite"]["verified"], true);
    let key = format!("p/{}", rel(st.path(), dump["path"].as_str().unwrap()));
    assert_ne!(moto.object("offsite", &key), "missing");

    // An unknown profile is a one-line error.
    let out = run_with_input(cmd.env("AWS_PROFILE", "nope"), format!("{dump}\n"));
    out.assert_code(2);
    assert!(out.stderr.contains("AWS profile 'nope'"), "{}", out.stderr);
}

#[test]
fn a_machine_with_nothing_local_fetches_the_newest_backup_from_the_bucket() {
    let Some(moto) = Moto::start("fetches_from_the_bucket") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let old = demo_dump(st.path(), home.path());
    std::thread::sleep(Duration::from_millis(1100));
    let new = demo_dump(st.path(), home.path());
    run(copy(st.path(), home.path(), &moto.endpoint()).args([
        "--all",
        "--to",
        "s3://offsite/acme",
    ]))
    .assert_ok();
    drop(st);

    // Another machine: an empty folder becomes a store with the newest backup.
    let fresh = store();
    let target = fresh.path().join("restore");
    let out = run(copy(fresh.path(), home.path(), &moto.endpoint())
        .args([
            "--from",
            "s3://offsite/acme",
            "-e",
            "prod",
            "--latest",
            "--to",
        ])
        .arg(&target));
    out.assert_ok();
    let recs = out.records();
    assert_eq!(recs.len(), 1, "{}", out.stdout);
    assert_eq!(recs[0]["id"], new["id"]);
    assert_eq!(recs[0]["sha256"], new["sha256"]);
    assert_eq!(recs[0]["offsite"]["verified"], true);
    assert_eq!(recs[0]["offsite"]["verified_by"], "sidecar-sha256");
    let path = recs[0]["path"].as_str().unwrap();
    assert!(path.starts_with(target.to_str().unwrap()), "{path}");
    assert_eq!(sha256sum(path), new["sha256"].as_str().unwrap());
    assert_ne!(old["id"], new["id"]);
    // The fetched store is a store: lfb-verify checks it (gzip, SQL, checksum).
    let verify = run(Command::new(bin("lfb-verify"))
        .env_remove("LFB_CONFIG")
        .env("HOME", home.path())
        .arg("--store")
        .arg(&target)
        .arg("--all"));
    verify.assert_ok();
    assert_eq!(verify.records()[0]["verify"]["ok"], true);

    // A damaged object in the bucket is refused, and nothing is left behind.
    let file = Path::new(new["path"].as_str().unwrap())
        .file_name()
        .unwrap();
    let key = format!("acme/prod/{}", file.to_str().unwrap());
    moto.py(&format!(
        "o = s3.get_object(Bucket='offsite', Key='{key}')\n\
         b = bytearray(o['Body'].read()); b[100] ^= 0xff\n\
         s3.put_object(Bucket='offsite', Key='{key}', Body=bytes(b), Metadata=o['Metadata'])"
    ));
    let other = fresh.path().join("other");
    let out = run(copy(fresh.path(), home.path(), &moto.endpoint())
        .args([
            "--from",
            "s3://offsite/acme",
            "-e",
            "prod",
            "--latest",
            "--to",
        ])
        .arg(&other));
    out.assert_code(1);
    assert!(out.stderr.contains("is corrupt"), "{}", out.stderr);
    let left: Vec<_> = std::fs::read_dir(other.join("prod"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_upload_throttled_for_good_fails_that_record_with_exit_1() {
    let Some(moto) = Moto::start("an_upload_throttled_for_good") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let dump = demo_dump(st.path(), home.path());
    let front = Front::failing_puts(moto.port);
    let out = run_with_input(
        copy(st.path(), home.path(), &front.endpoint())
            .env("LFB_S3_RETRIES", "2")
            .args(["--to", "s3://offsite"]),
        format!("{dump}\n"),
    );
    out.assert_code(1);
    assert_eq!(front.refused.load(Ordering::SeqCst), 3, "1 try + 2 retries");
    assert!(
        out.stderr.contains("503 SlowDown") && out.stderr.contains("gave up after 3 attempts"),
        "{}",
        out.stderr
    );
    let rec = &out.records()[0];
    assert_eq!(rec["offsite"]["ok"], false);
    assert_eq!(rec["id"], dump["id"]);
    let key = rel(st.path(), dump["path"].as_str().unwrap());
    assert_eq!(moto.object("offsite", &key), "missing");
}

/// A TCP relay to `upstream` that flips one byte of the first request
/// stream (lfb-copy → server) to pass `at` bytes: damage in transit, inside
/// a part's body when `at` is past the small requests that come first.
fn damaging_relay(upstream: u16, at: u64) -> u16 {
    use std::io::Read;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let armed = Arc::new(AtomicBool::new(true));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let armed = armed.clone();
            std::thread::spawn(move || {
                let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let (mut c2, mut u2) = (conn.try_clone().unwrap(), up.try_clone().unwrap());
                let back = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                let mut seen = 0u64;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if seen <= at && at < seen + n as u64 && armed.swap(false, Ordering::SeqCst) {
                        buf[(at - seen) as usize] ^= 0x01;
                    }
                    seen += n as u64;
                    if up.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = up.shutdown(Shutdown::Write);
                let _ = back.join();
            });
        }
    });
    port
}

#[test]
fn a_part_damaged_in_transit_is_caught_and_the_bad_copy_deleted() {
    let Some(moto) = Moto::start("a_part_damaged_in_transit") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let big = big_artifact(st.path(), 24);
    let key = "prod/big_db_manual_20261127T020000Z.sql.gz";
    // moto does not check Content-MD5 (AWS and MinIO refuse such a part
    // with BadDigest), but its ETag is the MD5 of the bytes it got: the
    // part's ETag differs from its MD5, so lfb-copy reads the object back,
    // finds it differs and deletes it.
    let relay = damaging_relay(moto.port, 3 << 20);
    let out = run(
        copy(st.path(), home.path(), &format!("http://127.0.0.1:{relay}"))
            .args(["--to", "s3://offsite", "--part-size", "8MiB", "-v"])
            .arg(&big),
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("ETag is not its MD5")
            && out.stderr.contains("read back with SHA-256")
            && out.stderr.contains("deleted it"),
        "{}",
        out.stderr
    );
    assert_eq!(out.records()[0]["offsite"]["ok"], false);
    assert_eq!(moto.object("offsite", key), "missing");
    assert_eq!(moto.multipart_uploads("offsite"), 0);

    // Undamaged, the parts' ETags are their MD5s and the object's ETag the
    // one they make: verified without reading 24 MiB back.
    let out = run(copy(st.path(), home.path(), &moto.endpoint())
        .args(["--to", "s3://offsite", "--part-size", "8MiB"])
        .arg(&big));
    out.assert_ok();
    let rec = &out.records()[0];
    assert_eq!(rec["offsite"]["verified"], true, "{rec}");
    assert_eq!(rec["offsite"]["verified_by"], "service-md5", "{rec}");
    assert_eq!(
        moto.object("offsite", key),
        format!("{} {}", sha256sum(&big), 24 << 20)
    );
}

/// The record's SHA-256 is trusted up front (the file is read once, not
/// hashed first and then read again to send), so it must still be checked
/// on every path: a multipart upload of a file that no longer matches its
/// record is aborted, nothing appears under the key and no upload is left;
/// and a good copy already in the bucket is not taken as this file's when
/// the file itself is damaged.
#[test]
fn a_large_artifact_that_no_longer_matches_its_record_is_not_uploaded_or_skipped() {
    let Some(moto) = Moto::start("large_no_longer_matches") else {
        return;
    };
    moto.create_bucket("offsite");
    let st = store();
    let home = tempfile::tempdir().unwrap();
    let path = big_artifact(st.path(), 20);
    let path_s = path.to_string_lossy().into_owned();
    let sha = sha256sum(&path_s);
    let rec = serde_json::json!({
        "schema": "lfb/1", "id": "big_db_manual_20261127T020000Z", "kind": "db",
        "env": "prod", "tag": "manual", "path": path_s,
        "created_at": "2026-11-27T02:00:00Z", "bytes": 20 << 20,
        "sha256": sha, "format": "sql+gzip",
    });
    let key = format!("p/{}", rel(st.path(), &path_s));
    let send = || {
        run_with_input(
            copy(st.path(), home.path(), &moto.endpoint()).args([
                "--to",
                "s3://offsite/p",
                "--part-size",
                "8MiB",
            ]),
            format!("{rec}\n"),
        )
    };
    // Damaged in its last part, after the record was written.
    let damage = |at: u64| {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"damage").unwrap();
    };
    let original = std::fs::read(&path).unwrap();
    damage(19 << 20);
    let out = send();
    out.assert_code(1);
    assert!(
        out.stderr.contains("does not match its record"),
        "{}",
        out.stderr
    );
    assert_eq!(out.records()[0]["offsite"]["ok"], false);
    assert_eq!(moto.object("offsite", &key), "missing");
    assert_eq!(moto.multipart_uploads("offsite"), 0);

    // Restored, it goes up; damaged again, the copy in the bucket does not
    // make it "already there".
    std::fs::write(&path, &original).unwrap();
    send().assert_ok();
    assert_eq!(moto.object("offsite", &key), format!("{sha} {}", 20 << 20));
    damage(1 << 20);
    let out = send();
    out.assert_code(1);
    assert!(
        out.stderr.contains("does not match its record"),
        "{}",
        out.stderr
    );
    assert_ne!(out.records()[0]["offsite"]["skipped"], true);
}
