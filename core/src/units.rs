//! Sizes (`10KiB`, `5MB`, `1.5G`) and durations (`7d`, `36h`, `1w2d`) as
//! users write them on the command line.

use std::time::Duration;

/// Parses a byte size. Decimal units (kB, MB, GB, TB) are powers of 1000,
/// binary ones (KiB, MiB, GiB, TiB, and the bare K, M, G, T) powers of 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size '{s}': expected a number like 10KiB or 5MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024f64.powi(4),
        _ => return Err(format!("invalid size '{s}': unknown unit '{unit}'")),
    };
    Ok((n * mult).round() as u64)
}

/// Parses a duration made of number-unit pairs: s, m (minutes), h, d, w, y
/// (365 days). `7d`, `36h`, `1w2d`, `90m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("invalid duration '{s}': expected something like 7d, 36h or 1w2d");
    let t = s.trim();
    if t.is_empty() {
        return Err(err());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        num.clear();
        let secs = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            'y' => 365 * 86_400,
            _ => return Err(err()),
        };
        total = total
            .checked_add(n.checked_mul(secs).ok_or_else(err)?)
            .ok_or_else(err)?;
    }
    if !num.is_empty() {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

/// Human size: `1.2 MiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Human duration: `1h02m`, `3.4s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10KiB").unwrap(), 10240);
        assert_eq!(parse_size("10k").unwrap(), 10240);
        assert_eq!(parse_size("5MB").unwrap(), 5_000_000);
        assert_eq!(parse_size("1.5GiB").unwrap(), 1_610_612_736);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5XB").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("36h").unwrap().as_secs(), 36 * 3600);
        assert_eq!(parse_duration("1w2d").unwrap().as_secs(), 9 * 86_400);
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("-1d").is_err());
    }
}
