//! The one error type of dind-init.
//!
//! Every variant carries the context a user needs to act (which variable, file,
//! path or syscall) and [`Error::hint`] says what to do. `Display` renders one
//! line: `<what went wrong> — fix: <hint>`, so PID 1 can print it to the pod log
//! and a human can act on it without reading the source.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, flat, in the spirit of firecracker's jailer.
#[derive(Debug)]
pub enum Error {
    /// A setting (env `DIND_*` or a TOML key) holds a value we cannot use.
    /// `key` is how the user spelled it (`DIND_STRATEGY` or `strategy in /etc/dind-init.toml`).
    BadSetting {
        key: String,
        value: String,
        allowed: String,
    },
    /// A TOML file that does not parse or has keys we do not know.
    ConfigFile {
        path: PathBuf,
        msg: String,
        hint: String,
    },
    /// The command line makes no sense.
    Usage(String),
    /// A file operation failed.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A syscall failed; `call` renders its arguments, e.g.
    /// `mount src=/home/coder/.docker-data dst=/var/lib/docker flags=MS_BIND`.
    Sys {
        call: String,
        errno: nix::errno::Errno,
        hint: String,
    },
    /// A Docker daemon config file (daemon.json, /etc/default/docker) we will not touch.
    DaemonConfig {
        path: PathBuf,
        line: usize,
        msg: String,
        hint: String,
    },
    /// Another dind-init holds the data-root lock (two pods on one RWX volume).
    Locked { path: PathBuf, holder: String },
    /// dockerd or containerd misbehaved; `hint` says what to try.
    Docker { msg: String, hint: String },
    /// The program to run could not be executed (126/127 semantics).
    Exec { program: String, source: io::Error },
}

impl Error {
    /// Build an [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Build an [`Error::Sys`] from a rendered call and its errno.
    pub fn sys(call: impl Into<String>, errno: nix::errno::Errno, hint: impl Into<String>) -> Self {
        Error::Sys {
            call: call.into(),
            errno,
            hint: hint.into(),
        }
    }

    /// What the user should do about it.
    pub fn hint(&self) -> String {
        match self {
            Error::BadSetting { key, allowed, .. } => format!("set {key} to {allowed}"),
            Error::ConfigFile { hint, .. } => hint.clone(),
            Error::Usage(_) => "run `dind-init --help`".into(),
            Error::Io { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied => {
                    "run as root (or grant the pod CAP_SYS_ADMIN / privileged)".into()
                }
                io::ErrorKind::NotFound => "check that the path exists in the image".into(),
                _ => "check the path and the filesystem it is on".into(),
            },
            Error::Sys { hint, .. } => hint.clone(),
            Error::DaemonConfig { hint, .. } => hint.clone(),
            Error::Locked { .. } => {
                "give each pod its own DIND_DATA_ROOT (ReadWriteOnce volume or a per-pod subdirectory)"
                    .into()
            }
            Error::Docker { hint, .. } => hint.clone(),
            Error::Exec { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => "check the command name and PATH".into(),
                _ => "check the file's execute permission (chmod +x) and its interpreter".into(),
            },
        }
    }

    /// The exit code dind-init uses when this error ends it: 126/127 for exec
    /// failures (like a shell), 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            Error::Exec { .. } => 126,
            Error::BadSetting { .. }
            | Error::ConfigFile { .. }
            | Error::DaemonConfig { .. }
            | Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadSetting { key, value, .. } => write!(f, "{key}={value:?} is not valid")?,
            Error::ConfigFile { path, msg, .. } => write!(f, "{}: {msg}", path.display())?,
            Error::Usage(msg) => write!(f, "{msg}")?,
            Error::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display())?,
            Error::Sys { call, errno, .. } => write!(f, "{call}: {errno}")?,
            Error::DaemonConfig {
                path, line, msg, ..
            } => write!(f, "{}:{line}: {msg}", path.display())?,
            Error::Locked { path, holder } => write!(
                f,
                "{} is in use by another dind-init ({holder}); refusing to run a second dockerd on the same data",
                path.display()
            )?,
            Error::Docker { msg, .. } => write!(f, "{msg}")?,
            Error::Exec { program, source } => write!(f, "cannot execute {program:?}: {source}")?,
        }
        write!(f, " — fix: {}", self.hint())
    }
}

/// The cause, for the variants that carry one, so callers (and reporters that walk
/// the chain) can look at the `io::Error` or errno without parsing the message.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Exec { source, .. } => Some(source),
            Error::Sys { errno, .. } => Some(errno),
            Error::BadSetting { .. }
            | Error::ConfigFile { .. }
            | Error::Usage(_)
            | Error::DaemonConfig { .. }
            | Error::Locked { .. }
            | Error::Docker { .. } => None,
        }
    }
}

/// Collapse a message (a TOML parser's, a daemon's) into one line, because every
/// message dind-init prints is one line: whitespace runs, newlines included,
/// become one space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// The causes down the chain, outermost first, as their Display texts.
    fn chain(e: &Error) -> Vec<String> {
        let mut out = Vec::new();
        let mut cause = e.source();
        while let Some(c) = cause {
            out.push(c.to_string());
            cause = c.source();
        }
        out
    }

    #[test]
    fn source_walks_to_the_cause_for_the_variants_that_carry_one() {
        let enoent = || io::Error::from_raw_os_error(libc::ENOENT);
        let rows: Vec<(&str, Error, Vec<String>)> = vec![
            (
                "io",
                Error::io("read pidfile", "/run/docker.pid", enoent()),
                vec![enoent().to_string()],
            ),
            (
                "exec",
                Error::Exec {
                    program: "bash".into(),
                    source: enoent(),
                },
                vec![enoent().to_string()],
            ),
            (
                "sys",
                Error::sys(
                    "mount dst=/var/lib/docker",
                    nix::errno::Errno::EPERM,
                    "run privileged",
                ),
                vec![nix::errno::Errno::EPERM.to_string()],
            ),
            (
                "no cause",
                Error::Docker {
                    msg: "dockerd died".into(),
                    hint: "read its log".into(),
                },
                vec![],
            ),
            ("usage", Error::Usage("no command".into()), vec![]),
        ];
        for (name, e, want) in rows {
            assert_eq!(chain(&e), want, "{name}");
        }
        let e = Error::io("open", "/x", enoent());
        let io = e.source().and_then(|c| c.downcast_ref::<io::Error>());
        assert_eq!(io.map(io::Error::kind), Some(io::ErrorKind::NotFound));
    }

    #[test]
    fn one_line_joins_lines_and_blanks() {
        let rows = [
            ("", ""),
            ("plain message", "plain message"),
            ("  failed:\n\n  exit status 1 \r\n", "failed: exit status 1"),
            (
                "TOML parse error\n  |\n1 | a =\n  |    ^\n",
                "TOML parse error | 1 | a = | ^",
            ),
            ("tab\there  twice", "tab here twice"),
        ];
        for (text, want) in rows {
            assert_eq!(one_line(text), want, "{text:?}");
        }
    }
}
