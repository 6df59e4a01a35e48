//! Retention policies from the config file: `[retention.TAG]` holds the
//! policy for one tag, with the flags' names (`keep_within = "2d"`,
//! `keep_daily = 7`, ...).
//!
//! Precedence is that of every setting: flags, then the environment, then
//! the file. A policy is taken whole from one place: when any policy flag
//! is given, the file's policies are not used at all for that run (a flag
//! never adds to a policy written elsewhere). Otherwise `--tag TAG` takes
//! `[retention.TAG]`. There is no environment variable for a policy.

use lfb_core::config::{Config, Retention};
use lfb_core::{Error, Result};

use crate::plan::Policy;

/// The policy `[retention.TAG]` of the config file gives, with `min_keep`
/// from the command line; `None` when the file has no such section.
pub fn from_file(cfg: &Config, tag: &str, min_keep: u32) -> Result<Option<Policy>> {
    let Some(r) = cfg.file.retention.get(tag) else {
        return Ok(None);
    };
    from_section(cfg, tag, r, min_keep).map(Some)
}

fn from_section(cfg: &Config, tag: &str, r: &Retention, min_keep: u32) -> Result<Policy> {
    let keep_within = match &r.keep_within {
        Some(w) => {
            let key = format!("retention.{tag}.keep_within");
            let d = lfb_core::units::parse_duration(w.get_ref())
                .map_err(|e| cfg.error_at(w.span(), &key, &e))?;
            if d.is_zero() {
                return Err(cfg.error_at(w.span(), &key, "must be more than 0"));
            }
            Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        }
        None => None,
    };
    let policy = Policy {
        keep_within,
        keep_last: r.keep_last,
        keep_hourly: r.keep_hourly,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
        keep_yearly: r.keep_yearly,
        max_total_size: None,
        min_keep,
    };
    let counts = [
        ("keep_last", r.keep_last),
        ("keep_hourly", r.keep_hourly),
        ("keep_daily", r.keep_daily),
        ("keep_weekly", r.keep_weekly),
        ("keep_monthly", r.keep_monthly),
        ("keep_yearly", r.keep_yearly),
    ];
    if let Some((key, _)) = counts.iter().find(|(_, v)| *v == Some(0)) {
        return Err(Error::usage(format!(
            "config file '{}': retention.{tag}.{key} must be 1 or more",
            cfg.path.display()
        )));
    }
    if !policy.is_given() {
        return Err(Error::usage(format!(
            "config file '{}': [retention.{tag}] gives no policy (keep_within, keep_last, \
             keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly)",
            cfg.path.display()
        )));
    }
    Ok(policy)
}
