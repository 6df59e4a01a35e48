//! Work to undo when the tool is interrupted (SIGINT, SIGTERM, SIGHUP).
//!
//! A `*.partial` file being written, a scratch database being restored into:
//! each registers an action here and unregisters it (by dropping the guard)
//! once the work completed. On a signal every registered action runs, then the
//! process exits with 128 + the signal number, as a shell would report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, Once, RwLock};

type Action = Box<dyn FnOnce() + Send>;

static ACTIONS: Mutex<BTreeMap<u64, Action>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(1);
static INSTALL: Once = Once::new();
/// The signal being handled (0: none): set before the clean-up runs.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
/// Held shared while something to undo is made and its action registered
/// ([`start_undoable`]), taken exclusively by the signal thread before it
/// runs the actions: nothing is made between the clean-up and the exit.
static GATE: RwLock<()> = RwLock::new(());

/// Keeps an action registered; dropping it unregisters without running it.
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the action at once"]
pub struct CleanupGuard(u64);

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Ok(mut a) = ACTIONS.lock() {
            a.remove(&self.0);
        }
    }
}

impl CleanupGuard {
    /// Unregisters the action and runs it now.
    pub fn run_now(self) {
        let action = ACTIONS.lock().ok().and_then(|mut a| a.remove(&self.0));
        if let Some(f) = action {
            f();
        }
    }
}

/// Registers `action` to run if the process is interrupted.
pub fn on_interrupt(action: impl FnOnce() + Send + 'static) -> CleanupGuard {
    install();
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut a) = ACTIONS.lock() {
        a.insert(id, Box::new(action));
    }
    CleanupGuard(id)
}

/// Runs `start`, which makes something to undo (a partial file) and
/// registers its clean-up with [`on_interrupt`], unless an interruption is
/// being handled: then nothing is made and `None` comes back. A signal
/// arriving during `start` waits for it, so what it made is cleaned up.
pub fn start_undoable<T>(start: impl FnOnce() -> T) -> Option<T> {
    install();
    let _gate = GATE.read().unwrap_or_else(|e| e.into_inner());
    if INTERRUPTED.load(Ordering::SeqCst) != 0 {
        return None;
    }
    Some(start())
}

/// Installs the signal handler thread (once).
pub fn install() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::Builder::new()
            .name("lfb-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    INTERRUPTED.store(sig, Ordering::SeqCst);
                    // Waits for a partial file being created to have its
                    // clean-up registered; later ones are refused.
                    let _gate = GATE.write().unwrap_or_else(|e| e.into_inner());
                    run_all();
                    std::process::exit(128 + sig);
                }
            })
            .ok();
    });
}

/// Called by a tool's main thread before it exits: when a signal arrived,
/// the clean-up is running on the signal thread, which exits the process
/// with 128 + the signal when it is done. The main thread (whose work the
/// clean-up just broke, so it is on its way out with an error) must not
/// exit first: that would cut the clean-up short and report the wrong exit
/// code. Returns the code to exit with if the signal thread never does.
pub fn wait_if_interrupted() -> Option<u8> {
    let sig = INTERRUPTED.load(Ordering::SeqCst);
    if sig == 0 {
        return None;
    }
    // The clean-up drops scratch databases and removes partial files; a
    // minute is far more than it takes.
    std::thread::sleep(std::time::Duration::from_secs(60));
    Some(u8::try_from(128 + sig).unwrap_or(u8::MAX))
}

/// Runs every registered action, newest first.
fn run_all() {
    let actions: Vec<Action> = match ACTIONS.lock() {
        Ok(mut a) => std::mem::take(&mut *a).into_values().rev().collect(),
        Err(_) => return,
    };
    for f in actions {
        f();
    }
}
