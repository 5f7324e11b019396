//! PID 1's record of how Docker is doing: `/run/dind-init/state.json`.
//!
//! The session (PID 1, `session.rs`) writes it at every change of phase;
//! `dind-init status` (the pod's probes) and `doctor` read it back. It lives
//! here, owned by neither, so the readers do not depend on the session.

use crate::error::{Error, Result};
use crate::sys::Syscall;
use log::warn;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where PID 1 records how Docker is doing, for `dind-init status`.
pub const STATE_FILE: &str = "/run/dind-init/state.json";

/// Where PID 1 is in the pod's life, as `status` and the probes see it.
/// Serialised as the lower-case strings the state file always held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Docker is being started (the session has not started yet).
    #[default]
    Starting,
    /// Docker answers and a container root filesystem really mounted.
    Ready,
    /// Docker could not be made to work; the session runs without it (the
    /// banner says why). Written as `failed`, the name it always had.
    #[serde(rename = "failed")]
    Degraded,
    /// DIND_START_DOCKERD=false: a plain init, no Docker to wait for. Never
    /// written: `status` infers it from the setting (probes see the pod's env).
    Disabled,
    /// The pod is being stopped (SIGTERM): the session, then Docker, end.
    Stopping,
}

impl Phase {
    /// PID 1 has finished trying to start Docker, whatever came of it: what a
    /// startup probe waits for, so a degraded pod is not restarted in a loop.
    pub fn settled(self) -> bool {
        !matches!(self, Phase::Starting)
    }

    /// The word the state file and `status` use.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Degraded => "failed",
            Phase::Disabled => "disabled",
            Phase::Stopping => "stopping",
        }
    }
}

/// What `status` and `doctor` read back from PID 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct State {
    /// starting | ready | failed | disabled | stopping.
    pub phase: Phase,
    /// The Docker socket.
    pub socket: PathBuf,
    /// Storage driver in use.
    pub driver: String,
    /// Where Docker's data lives.
    pub data_root: PathBuf,
    /// The smoke test passed (a container root filesystem really mounted).
    pub smoke_ok: bool,
    /// Milliseconds from dind-init's start to Docker answering /_ping.
    pub ready_ms: u64,
    /// Milliseconds the smoke test took.
    pub smoke_ms: u64,
    /// What went wrong, when phase is failed.
    pub error: String,
}

impl State {
    /// Write the state atomically (a reader never sees half a file).
    pub fn save(&self, sys: &dyn Syscall, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
            // Readable whatever PID 1's umask: Kubernetes runs `dind-init status`
            // probes as the container's user.
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
        match serde_json::to_vec_pretty(self) {
            Ok(bytes) => {
                if let Err(e) = sys.write_atomic(path, &bytes, false) {
                    warn!("cannot record state for `dind-init status`: {e}");
                }
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
            }
            Err(e) => warn!("cannot encode state: {e}"),
        }
    }

    /// Read the state PID 1 wrote.
    pub fn load(path: &Path) -> Result<State> {
        let text = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        serde_json::from_slice(&text).map_err(|e| Error::Docker {
            msg: format!("{}: {e}", path.display()),
            hint: "the file is written by dind-init as PID 1; restart the pod".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_keep_the_state_files_words() {
        for (p, word) in [
            (Phase::Starting, "starting"),
            (Phase::Ready, "ready"),
            (Phase::Degraded, "failed"),
            (Phase::Disabled, "disabled"),
            (Phase::Stopping, "stopping"),
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(word));
            assert_eq!(p.name(), word);
            let back: Phase = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert_eq!(back, p);
        }
    }
}
