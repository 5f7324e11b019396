//! Plan: a pure function of [`Facts`](crate::probe::Facts) and [`Config`](crate::config::Config)
//! that says, as data, what `apply` and `dockerd` will do and why.
//!
//! `dind-init plan` and `doctor` print exactly this value, so what they explain
//! is what happens.

use serde::Serialize;
use std::path::PathBuf;

/// The storage driver dockerd will be told to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// Graphdriver overlay2: native overlay mounts, needs a non-overlay upper.
    Overlay2,
    /// containerd snapshotter overlayfs (containerd image store).
    Overlayfs,
    /// fuse-overlayfs in userspace: works on overlay, slower.
    FuseOverlayfs,
    /// Graphdriver vfs: a full copy per layer; slow and large.
    Vfs,
    /// containerd snapshotter native: a full copy per layer.
    Native,
}

impl Driver {
    /// The name dockerd expects in `storage-driver`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay2 => "overlay2",
            Driver::Overlayfs => "overlayfs",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            Driver::Vfs => "vfs",
            Driver::Native => "native",
        }
    }
}

/// One side effect, small enough to print and to unit-test through the syscall seam.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// `mkdir -p` owned by root with `mode` (only the last component gets the mode).
    CreateDir { path: PathBuf, mode: u32 },
    /// Take an exclusive lock on this file for the daemon's whole life.
    Lock { path: PathBuf },
    /// Bind-mount `src` onto `dst` (dst created as an empty dir if missing).
    BindMount { src: PathBuf, dst: PathBuf },
    /// Create symlink `link` -> `target` (link must be absent or an empty dir, which is removed).
    Symlink { target: PathBuf, link: PathBuf },
    /// Replace a file atomically (temp, fsync, rename), keeping one `<path>.bak`.
    WriteFile { path: PathBuf, content: String },
    /// Remove a pidfile whose process is gone (it would block dockerd/containerd).
    RemoveStalePidfile { path: PathBuf },
    /// Start containerd ourselves and hand its socket to dockerd.
    StartContainerd { argv: Vec<String>, socket: PathBuf },
    /// Start dockerd with exactly these arguments.
    StartDockerd { argv: Vec<String>, socket: PathBuf },
}

/// An action and the human reason for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Why, in one sentence a user understands.
    pub reason: String,
}

/// The whole decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Ordered steps; apply runs them in order and stops at the first error.
    pub steps: Vec<Step>,
    /// The storage driver chosen (None when dockerd is not started).
    pub driver: Option<Driver>,
    /// Where Docker's data really lives (DATA_ROOT, or /var/lib/docker when left alone).
    pub data_root: Option<PathBuf>,
    /// Things the user must know: costs of a fallback, data left behind, overrides.
    pub warnings: Vec<String>,
}
