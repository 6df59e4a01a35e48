//! Probes: the single steps of the dump and verify pipelines measured alone
//! on the same data (pg_dump to a file, GNU gzip, lfb-core's parallel gzip
//! with one thread and with all cores, gzip decoding, SHA-256), and the lower
//! bounds they put on what lfb can reach. They turn "target missed" into
//! "target missed because X takes Y s on this machine".

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::comparisons::Metric;
use crate::measure;
use crate::report::{metric_ratio, secs};
use crate::runner::{Outcome, Status};
use crate::rusage;

/// One step measured alone.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Stable key for the bound computations.
    pub key: &'static str,
    pub what: String,
    pub bytes: u64,
    /// Bytes it produced, where that matters (compression).
    pub out: Option<u64>,
    pub wall: f64,
    pub cpu: f64,
}

/// A writer that only counts.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn in_process(
    key: &'static str,
    what: String,
    f: impl FnOnce() -> io::Result<u64>,
) -> Result<Probe, String> {
    let (t, c) = (Instant::now(), rusage::self_cpu());
    let bytes = f().map_err(|e| format!("{what}: {e}"))?;
    Ok(Probe {
        key,
        what,
        bytes,
        out: None,
        wall: t.elapsed().as_secs_f64(),
        cpu: (rusage::self_cpu() - c).as_secs_f64(),
    })
}

fn shell(
    key: &'static str,
    what: &str,
    script: &str,
    vars: &[(String, String)],
    dir: &Path,
    bytes: u64,
) -> Result<Probe, String> {
    let run = measure::run_script(script, vars, dir).map_err(|e| e.to_string())?;
    if run.code != 0 {
        return Err(format!("{what}: exit {}: {}", run.code, run.error_line()));
    }
    Ok(Probe {
        key,
        what: what.to_string(),
        bytes,
        out: None,
        wall: run.wall.as_secs_f64(),
        cpu: run.cpu.as_secs_f64(),
    })
}

fn feed(path: &Path, mut w: impl Write) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    io::copy(&mut r, &mut w)
}

/// Probes of the dump pipeline: `vars` are the PostgreSQL comparison's.
pub fn dump(vars: &[(String, String)], dir: &Path, threads: usize) -> Result<Vec<Probe>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let plain = dir.join("plain.sql");
    let mut v = vars.to_vec();
    v.push(("PLAIN".into(), plain.to_string_lossy().into_owned()));
    let mut probes = Vec::new();
    // pg_dump into a file first: also the input of the compression probes.
    let mut p = shell(
        "pg_dump",
        "pg_dump > file",
        r#""$PGBIN/pg_dump" -d "$PGDB" > "$PLAIN""#,
        &v,
        dir,
        0,
    )?;
    let n = std::fs::metadata(&plain).map_err(|e| e.to_string())?.len();
    p.bytes = n;
    probes.push(p);
    probes.push(shell(
        "gnu_gzip",
        "gzip -6 < file > /dev/null (GNU gzip, 1 thread)",
        r#"gzip -6 < "$PLAIN" > /dev/null"#,
        &v,
        dir,
        n,
    )?);
    if which("pigz") {
        probes.push(shell(
            "pigz",
            &format!("pigz -6 -p {threads} < file > /dev/null"),
            &format!(r#"pigz -6 -p {threads} < "$PLAIN" > /dev/null"#),
            &v,
            dir,
            n,
        )?);
    }
    // Level 6 (lfb-dump's default) on one thread and on all; then lower
    // levels on all threads: how much time each level costs, and its size.
    for (key, level, t) in [
        ("lfb_gzip_1", 6, 1),
        ("lfb_gzip_n", 6, threads),
        ("lfb_gzip_l5", 5, threads),
        ("lfb_gzip_l4", 4, threads),
        ("lfb_gzip_l3", 3, threads),
        ("lfb_gzip_l1", 1, threads),
    ] {
        let mut out = 0;
        let mut p = in_process(
            key,
            format!("lfb-core GzWriter level {level}, {t} thread(s), in-process"),
            || {
                let mut w = lfb_core::gzip::GzWriter::with_threads(Count(0), level, t);
                let n = feed(&plain, &mut w)?;
                out = w.finish()?.0;
                Ok(n)
            },
        )?;
        p.out = Some(out);
        probes.push(p);
    }
    probes.extend(member_sizes("dump", &plain, threads, |p| {
        Ok(Box::new(BufReader::with_capacity(1 << 20, File::open(p)?)))
    })?);
    probes.push(sha256_probe("sha256", &plain)?);
    let _ = std::fs::remove_file(&plain);
    Ok(probes)
}

/// Member sizes measured for their size cost, in MiB of input; the last, the
/// largest the writer makes, is the reference the others are compared with.
pub const MEMBER_SIZES: [usize; 5] = [1, 2, 4, 8, 32];
/// The reference member size of [`MEMBER_SIZES`].
const REFERENCE_MIB: usize = 32;

/// The size cost of gzip members: the same input through lfb-core's writer
/// (default level, all threads) with each of [`MEMBER_SIZES`].
fn member_sizes(
    what: &'static str,
    input: &Path,
    threads: usize,
    open: impl Fn(&Path) -> io::Result<Box<dyn Read>>,
) -> Result<Vec<Probe>, String> {
    let level = lfb_core::gzip::DEFAULT_LEVEL;
    let mut probes = Vec::new();
    for mib in MEMBER_SIZES {
        let shown = format!("members of {mib} MiB");
        let mut out = 0;
        let mut p = in_process(
            if what == "dump" {
                "members_dump"
            } else {
                "members_archive"
            },
            format!("lfb-core GzWriter level {level}, {threads} threads, {shown}: {what}"),
            || {
                let mut w = lfb_core::gzip::GzWriter::with_threads(Count(0), level, threads)
                    .with_member_size(mib << 20);
                let n = io::copy(&mut open(input)?, &mut w)?;
                out = w.finish()?.0;
                Ok(n)
            },
        )?;
        p.out = Some(out);
        probes.push(p);
    }
    Ok(probes)
}

/// Size cost of members on the archive's data: the media tree as `tar cf -`
/// writes it (no hints: every block is sampled).
pub fn archive(media: &Path, threads: usize) -> Result<Vec<Probe>, String> {
    member_sizes("media tar", media, threads, |m| {
        let child = std::process::Command::new("tar")
            .arg("cf")
            .arg("-")
            .arg("-C")
            .arg(m)
            .arg(".")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        Ok(Box::new(child.stdout.expect("piped stdout")))
    })
}

/// Probes of the verify pipeline on the artifact `art`.
pub fn verify(art: &Path, dir: &Path) -> Result<Vec<Probe>, String> {
    let n = std::fs::metadata(art).map_err(|e| e.to_string())?.len();
    let v = vec![("ART".to_string(), art.to_string_lossy().into_owned())];
    Ok(vec![
        shell("gzip_t", "gzip -t f", r#"gzip -t "$ART""#, &v, dir, n)?,
        shell(
            "sha256sum",
            "sha256sum f",
            r#"sha256sum "$ART""#,
            &v,
            dir,
            n,
        )?,
        in_process(
            "decode",
            "gzip decode (flate2/zlib-rs, 1 thread), in-process".into(),
            || {
                let f = BufReader::with_capacity(1 << 20, File::open(art)?);
                let mut d = flate2::read::MultiGzDecoder::new(f);
                // Large reads, as lfb-verify does (io::copy's 8 KiB reads
                // would measure call overhead).
                let mut buf = vec![0u8; 1 << 20];
                while d.read(&mut buf)? > 0 {}
                Ok(n)
            },
        )?,
        in_process(
            "decode_par",
            format!(
                "gzip decode, members on {} threads (lfb-core members::Decoder), in-process",
                lfb_core::gzip::default_threads()
            ),
            || {
                let f = BufReader::with_capacity(1 << 20, File::open(art)?);
                let mut d = lfb_core::gzip::members::Decoder::new(f);
                let mut buf = vec![0u8; 1 << 20];
                while d.read(&mut buf)? > 0 {}
                Ok(n)
            },
        )?,
        sha256_probe("sha256_art", art)?,
    ])
}

fn sha256_probe(key: &'static str, path: &Path) -> Result<Probe, String> {
    in_process(key, "SHA-256 (sha2), in-process".into(), || {
        let mut h = Sha256::new();
        let mut f = File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        let _ = h.finalize();
        Ok(n)
    })
}

pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn probe<'a>(probes: &'a [Probe], key: &str) -> Option<&'a Probe> {
    probes.iter().find(|p| p.key == key)
}

fn median_wall(o: &Outcome, i: usize) -> Option<f64> {
    (o.variants[i].status == Status::Ok)
        .then(|| o.variants[i].samples.wall().map(|s| s.median))
        .flatten()
}

/// Lower bounds and facts, one sentence each, for the comparisons at full
/// scale that have probes.
pub fn explain(outcomes: &[Outcome], probes: &[Probe], cores: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let full = outcomes.iter().map(|o| o.scale).fold(0.0, f64::max);
    for o in outcomes.iter().filter(|o| o.scale == full) {
        match o.comparison.id {
            "dump-pg" => {
                let (Some(lfb), Some(base)) = (median_wall(o, 0), median_wall(o, 1)) else {
                    continue;
                };
                let cpu = o.variants[0].samples.cpu().map(|s| s.median).unwrap_or(0.0);
                let base_cpu = o.variants[1].samples.cpu().map(|s| s.median).unwrap_or(0.0);
                if let Some(floor) = median_wall(o, 2) {
                    lines.push(format!(
                        "lfb-dump: pg_dump alone (`pg_dump > /dev/null`, with its server backend) takes {} = {:.2}x of the baseline's {}; a dump through pg_dump cannot be faster, so the best possible ratio here is {:.2}x.",
                        secs(floor),
                        floor / base,
                        secs(base),
                        floor / base
                    ));
                }
                lines.push(format!(
                    "lfb-dump used {} of CPU (lfb-dump + pg_dump, not counting the server backend) against the baseline's {}; on {cores} core(s) that CPU alone needs at least {} of wall time = {:.2}x of the baseline. Measured: {} ({:.2}x).",
                    secs(cpu),
                    secs(base_cpu),
                    secs(cpu / cores as f64),
                    cpu / cores as f64 / base,
                    secs(lfb),
                    lfb / base
                ));
                if let (Some(one), Some(all), Some(gnu)) = (
                    probe(probes, "lfb_gzip_1"),
                    probe(probes, "lfb_gzip_n"),
                    probe(probes, "gnu_gzip"),
                ) {
                    lines.push(format!(
                        "Compression of the {:.0} MB plain dump alone: GNU gzip -6 {} ({:.0} MB/s); lfb-core's gzip {} on 1 thread ({:.0} MB/s), {} on {cores} ({:.2}x speed-up from threads). With {cores} core(s) shared by pg_dump, its server backend and compression, compression cannot go faster than {} even if pg_dump cost nothing.",
                        one.bytes as f64 / 1e6,
                        secs(gnu.wall),
                        gnu.bytes as f64 / gnu.wall / 1e6,
                        secs(one.wall),
                        one.bytes as f64 / one.wall / 1e6,
                        secs(all.wall),
                        one.wall / all.wall,
                        secs(one.cpu / cores as f64)
                    ));
                }
                let gzip_out = o.variants[1].samples.bytes().map(|s| s.median);
                if let Some(g) = gzip_out {
                    let levels: Vec<String> = probes
                        .iter()
                        .filter(|p| p.key.starts_with("lfb_gzip_") && p.key != "lfb_gzip_1")
                        .filter_map(|p| {
                            let out = p.out? as f64;
                            Some(format!(
                                "{} {} ({:.3}x gzip -6's size, {})",
                                p.what
                                    .split(',')
                                    .next()
                                    .unwrap_or_default()
                                    .trim_start_matches("lfb-core GzWriter "),
                                secs(p.wall),
                                out / g,
                                if out / g <= 1.05 {
                                    "within the 1.05x size target"
                                } else {
                                    "over the 1.05x size target"
                                }
                            ))
                        })
                        .collect();
                    if !levels.is_empty() {
                        lines.push(format!(
                            "Compression level against time and size, all {cores} cores: {}.",
                            levels.join("; ")
                        ));
                    }
                }
                if let Some(r) = metric_ratio(o, Metric::Size, 1) {
                    lines.push(format!(
                        "lfb-dump's output is {r:.3}x the size of gzip -6's (gzip members of {} MiB, each compressed whole by libdeflate, independently, on all cores).", lfb_core::gzip::MEMBER_SIZE >> 20
                    ));
                }
            }
            "verify" => {
                let (Some(lfb), Some(base)) = (median_wall(o, 0), median_wall(o, 1)) else {
                    continue;
                };
                if let (Some(d), Some(p), Some(h), Some(g), Some(s)) = (
                    probe(probes, "decode"),
                    probe(probes, "decode_par"),
                    probe(probes, "sha256_art"),
                    probe(probes, "gzip_t"),
                    probe(probes, "sha256sum"),
                ) {
                    let best = p.wall.max(h.wall);
                    lines.push(format!(
                        "lfb-verify: gzip decoding of lfb's members runs on all cores: {} here ({} on 1 thread as one serial stream, flate2/zlib-rs), SHA-256 ({} in-process) runs beside it. So lfb-verify cannot take less than ~{} = {:.2}x of the baseline's {} (alone: gzip -t {}, sha256sum {}). Measured: {} ({:.2}x).",
                        secs(p.wall),
                        secs(d.wall),
                        secs(h.wall),
                        secs(best),
                        best / base,
                        secs(base),
                        secs(g.wall),
                        secs(s.wall),
                        secs(lfb),
                        lfb / base
                    ));
                }
            }
            _ => {}
        }
    }
    for key in ["members_dump", "members_archive"] {
        let sizes: Vec<&Probe> = probes.iter().filter(|p| p.key == key).collect();
        let reference = format!("members of {REFERENCE_MIB} MiB:");
        let Some(one) = sizes.iter().find(|p| p.what.contains(&reference)) else {
            continue;
        };
        let Some(one_out) = one.out else { continue };
        let each: Vec<String> = sizes
            .iter()
            .filter(|p| !p.what.contains(&reference))
            .filter_map(|p| {
                let out = p.out? as f64;
                let shown = p.what.split(", ").nth(2)?.split(':').next()?.to_string();
                Some(format!("{shown} {:.4}x", out / one_out as f64))
            })
            .collect();
        lines.push(format!(
            "Size cost of gzip members on the {} ({}, in members of {REFERENCE_MIB} MiB: {}): {} (limit 1.005x; lfb writes members of {} MiB).",
            one.what.rsplit(": ").next().unwrap_or_default(),
            crate::report::bytes(one.bytes as f64),
            crate::report::bytes(one_out as f64),
            each.join(", "),
            lfb_core::gzip::MEMBER_SIZE >> 20
        ));
    }
    lines
}
