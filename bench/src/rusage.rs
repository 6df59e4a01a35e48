//! What the kernel counted for a finished command: exit status, peak RSS and
//! CPU time, read with `wait4(2)` when the harness reaps the child, and
//! `getrusage(2)` for the harness's own in-process probes. The only `unsafe`
//! code in lfb-bench.
//!
//! `wait4` returns the rusage of the child *and of every descendant it
//! waited for*: for `bash -c 'a | b'`, `ru_maxrss` is the peak RSS of the
//! largest single process in the pipeline (not a sum), and `ru_utime` /
//! `ru_stime` add up the CPU of all of them. Database server processes are
//! not descendants, so their work shows in wall time only. (The harness reads
//! peak RSS from GNU time instead when it can: see `measure`.)
#![allow(unsafe_code)]

use std::io;
use std::process::Child;
use std::time::Duration;

/// Exit status and resource usage of a reaped child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Exit code; `128 + signal` when killed by a signal.
    pub code: i32,
    /// Peak resident set size of the largest process of the tree, KiB.
    pub max_rss_kib: u64,
    /// User plus system CPU time of the whole tree.
    pub cpu: Duration,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// Reaps `child` with `wait4` and returns its status and usage. The
/// `Child` is consumed: std must not wait for it again.
pub fn wait(child: Child) -> io::Result<Usage> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not reaped yet (std only reaps in
        // wait/try_wait, which are never called on it); `status` and `ru`
        // are valid, writable out-pointers for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // Dropping a std Child neither waits nor kills; the pid is reaped above.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    Ok(Usage {
        code,
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
        cpu: timeval(ru.ru_utime) + timeval(ru.ru_stime),
    })
}

/// CPU time (user + system) used so far by this process, all threads.
pub fn self_cpu() -> Duration {
    // SAFETY: as above, all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF is a valid selector and `ru` a valid out-pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Duration::ZERO;
    }
    timeval(ru.ru_utime) + timeval(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn reports_exit_codes_and_usage() {
        let child = Command::new("sh")
            .args(["-c", "exit 3"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let u = wait(child).unwrap();
        assert_eq!(u.code, 3);
        assert!(u.max_rss_kib > 0);
        let child = Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .spawn()
            .unwrap();
        assert_eq!(wait(child).unwrap().code, 128 + 15);
    }
}
