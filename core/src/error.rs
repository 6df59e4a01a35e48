//! The one error type of lfb and its exit-code policy.
//!
//! Exit codes (DESIGN.md): 0 everything asked for succeeded; 1 the tool ran
//! but a backup, check or restore failed; 2 the tool was called wrong or could
//! not start (bad flag, malformed input record, unreachable database, a store
//! it cannot write). Every error prints as one line that names the thing it is
//! about, and never contains a secret.

use std::fmt;
use std::io;
use std::path::Path;

/// Result alias used across lfb.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, and therefore which exit code the tool returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tool was called wrong: a bad flag value, a bad argument.
    #[error("{0}")]
    Usage(String),
    /// Input that cannot be parsed: a malformed record, a bad URL.
    #[error("{0}")]
    Input(String),
    /// The tool could not start its work: database unreachable, store not
    /// writable, a client program missing.
    #[error("{0}")]
    Unavailable(String),
    /// The work ran and failed: a dump, a check, a restore.
    #[error("{0}")]
    Failed(String),
    /// An I/O error with the path or action it concerns.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
        /// Exit code this I/O error maps to (1 during work, 2 at start-up).
        code: u8,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Input(_) | Error::Unavailable(_) => 2,
            Error::Failed(_) => 1,
            Error::Io { code, .. } => *code,
        }
    }

    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::Usage(msg.to_string())
    }
    pub fn input(msg: impl fmt::Display) -> Self {
        Error::Input(msg.to_string())
    }
    pub fn unavailable(msg: impl fmt::Display) -> Self {
        Error::Unavailable(msg.to_string())
    }
    pub fn failed(msg: impl fmt::Display) -> Self {
        Error::Failed(msg.to_string())
    }

    /// An I/O error during the work (exit 1).
    pub fn io(context: impl fmt::Display, source: io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
            code: 1,
        }
    }

    /// An I/O error on a path during the work (exit 1): `cannot read 'p': ...`.
    pub fn io_path(action: &str, path: &Path, source: io::Error) -> Self {
        Self::io(format!("cannot {action} '{}'", path.display()), source)
    }

    /// The same error, but one that stops the tool from starting (exit 2).
    pub fn at_start(self) -> Self {
        match self {
            Error::Io {
                context, source, ..
            } => Error::Io {
                context,
                source,
                code: 2,
            },
            Error::Failed(m) => Error::Unavailable(m),
            other => other,
        }
    }

    /// True for errors that mean the reader of our stdout went away (`| head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Adds context to `io::Result`s.
pub trait IoContext<T> {
    /// Name the action and path: `cannot create 'x': Permission denied`.
    fn with_path(self, action: &str, path: &Path) -> Result<T>;
    /// Free-form context.
    fn context(self, context: impl fmt::Display) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn with_path(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io_path(action, path, e))
    }
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(context, e))
    }
}

/// Formats an io::Error without the "(os error N)" suffix std adds.
pub fn describe_io(err: &io::Error) -> String {
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Error {
    /// The one line printed on stderr for this error.
    pub fn line(&self) -> String {
        match self {
            Error::Io {
                context, source, ..
            } => format!("{context}: {}", describe_io(source)),
            other => other.to_string(),
        }
    }
}
