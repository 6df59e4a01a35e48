//! Clean-up that survives the death of the tool, SIGKILL included.
//!
//! [`cleanup`](crate::cleanup) handles SIGINT, SIGTERM and SIGHUP, but
//! nothing runs in a process killed with SIGKILL or by the OOM killer. For
//! what must not outlive a run whatever happens (a scratch database), a
//! [`DeathWatch`] starts a small watcher process (`sh`) in its own process
//! group that holds the read end of a pipe from the tool. When the tool
//! finishes normally it writes `done` and the watcher exits; when the tool
//! dies, the kernel closes the pipe, the watcher reads end of file and runs
//! the clean-up command (retried up to ten times, a second apart). The
//! command must be idempotent (`DROP DATABASE IF EXISTS`), because after a
//! SIGTERM both the tool's own handler and the watcher may run it.
//!
//! Works the same on Linux and macOS: only `sh` and a pipe are involved.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::error::{Error, Result};

/// The watcher's script: `$@` is the clean-up command.
const SCRIPT: &str = "IFS= read -r line; [ \"$line\" = done ] && exit 0; \
i=0; while [ $i -lt 10 ]; do \"$@\" && exit 0; i=$((i+1)); sleep 1; done; exit 1";

/// Runs a command if this process dies before the watch is dropped.
#[derive(Debug)]
pub struct DeathWatch {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl DeathWatch {
    /// Starts watching: `cleanup` (its program, arguments and environment
    /// changes; not its current folder or stdio) runs if this process dies
    /// before the returned value is dropped.
    pub fn spawn(cleanup: &Command) -> Result<DeathWatch> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SCRIPT)
            .arg("lfb-watchdog")
            .arg(cleanup.get_program())
            .args(cleanup.get_args());
        for (k, v) in cleanup.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for the tool does not
            // kill the watcher before it could clean up.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                Error::unavailable(format!(
                    "cannot start the clean-up watcher (sh): {}",
                    crate::error::describe_io(&e)
                ))
            })?;
        let pipe = child.stdin.take();
        Ok(DeathWatch { child, pipe })
    }

    /// The watcher's process id (for tests and messages).
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for DeathWatch {
    /// The tool is alive and did (or will do) its own clean-up: the watcher
    /// exits without running the command.
    fn drop(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn touch(path: &std::path::Path) -> Command {
        let mut c = Command::new("touch");
        c.arg(path);
        c
    }

    fn wait_for(p: &std::path::Path) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if p.exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_finished_run_does_not_clean_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cleaned");
        drop(DeathWatch::spawn(&touch(&f)).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!f.exists());
    }

    #[test]
    fn a_dead_run_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cleaned");
        let mut w = DeathWatch::spawn(&touch(&f)).unwrap();
        // What the kernel does when the tool dies: the pipe closes without
        // "done".
        drop(w.pipe.take());
        assert!(wait_for(&f), "the clean-up command ran");
    }
}
