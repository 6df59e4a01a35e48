//! A web application's media folder: 80% of the bytes in files that are
//! already compressed (random bytes behind a JPEG/PNG/PDF/ZIP/MP4 header,
//! named to match), 20% in CSV exports and text, spread over dated upload
//! folders. File sizes are log-uniform, so there are many small files and a
//! few large ones, as in real uploads.

use std::io::Write;
use std::path::Path;

use super::{Rng, WORDS};

/// Bytes at scale 1.
pub const FULL_BYTES: f64 = 400.0 * 1024.0 * 1024.0;

const COMPRESSED: &[(&str, &[u8])] = &[
    ("jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    ("png", b"\x89PNG\r\n\x1a\n"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
    ("zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00"),
    ("mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"),
];

/// Writes the media tree for `scale` into the new folder `dir`.
pub fn generate(dir: &Path, scale: f64) -> Result<(), String> {
    let target = (FULL_BYTES * scale).max(64.0 * 1024.0) as u64;
    let compressed_target = target * 8 / 10;
    let mut rng = Rng::new(4242);
    let mut written = (0u64, 0u64); // (compressed, text)
    let mut n = 0u64;
    let mut buf = Vec::new();
    // Small trees keep the mix: no single file may be a large part of it.
    let big = (target / 16).clamp(16 * 1024, 6 * 1024 * 1024);
    let text_big = (target / 64).clamp(4 * 1024, 1024 * 1024);
    while written.0 < compressed_target || written.0 + written.1 < target {
        n += 1;
        let folder = dir.join(format!(
            "uploads/{}/{:02}",
            2023 + rng.below(3),
            1 + rng.below(12)
        ));
        std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let compressed = written.0 < compressed_target
            && (written.0 * 2 <= written.1 * 8 || written.0 + written.1 >= target);
        buf.clear();
        let name = if compressed {
            let (ext, magic) = rng.pick(COMPRESSED);
            let size = rng.log_uniform(8 * 1024, big) as usize;
            buf.extend_from_slice(magic);
            let start = buf.len();
            buf.resize(size.max(start), 0);
            rng.fill(&mut buf[start..]);
            written.0 += buf.len() as u64;
            format!("file_{n:06}.{ext}")
        } else {
            let size = rng.log_uniform(2 * 1024, text_big) as usize;
            let csv = rng.unit() < 0.6;
            while buf.len() < size {
                if csv {
                    writeln!(
                        buf,
                        "{},INV-{:06},{} {},{}.{:02},{}",
                        20_230_101 + rng.below(1000),
                        rng.below(1_000_000),
                        rng.pick(WORDS),
                        rng.pick(WORDS),
                        rng.below(10_000),
                        rng.below(100),
                        rng.pick(&["paid", "open", "overdue", "void"])
                    )
                    .expect("writing to a Vec");
                } else {
                    for _ in 0..12 {
                        buf.extend_from_slice(rng.pick(WORDS).as_bytes());
                        buf.push(b' ');
                    }
                    buf.push(b'\n');
                }
            }
            written.1 += buf.len() as u64;
            format!("export_{n:06}.{}", if csv { "csv" } else { "txt" })
        };
        let path = folder.join(name);
        std::fs::write(&path, &buf).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_fifths_of_the_bytes_are_incompressible() {
        let dir = std::env::temp_dir().join(format!("lfb-bench-media-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        generate(&dir, 0.005).unwrap();
        let mut by_kind = (0u64, 0u64);
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let len = p.metadata().unwrap().len();
                    match p.extension().and_then(|e| e.to_str()) {
                        Some("csv" | "txt") => by_kind.1 += len,
                        _ => by_kind.0 += len,
                    }
                }
            }
        }
        let total = (by_kind.0 + by_kind.1) as f64;
        let share = by_kind.0 as f64 / total;
        assert!(total >= FULL_BYTES * 0.005, "{total}");
        assert!((0.7..0.9).contains(&share), "compressed share {share}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
