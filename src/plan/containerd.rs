//! containerd's config.

use crate::probe;
use std::path::Path;

/// The containerd that holds snapshots when the containerd image store is on.
pub(super) const SYSTEM_CONTAINERD_ROOT: &str = "/var/lib/containerd";

pub(super) fn toml_str(p: &Path) -> String {
    toml::Value::String(p.to_string_lossy().into_owned()).to_string()
}

/// The config format a containerd reads: version 3 from containerd 2.0 (2.x migrates a
/// version 2 file at every start, with a warning; 1.7 refuses version 3). Version 2 when
/// the version is unknown: every containerd dockerd ships with reads it.
pub fn containerd_config_version(containerd: Option<probe::Version>) -> u32 {
    match containerd {
        Some(v) if v.major >= 2 => 3,
        _ => 2,
    }
}

/// The plugin `disabled_plugins` names to turn CRI (Kubernetes' API) off, as dockerd does for
/// its own containerd. containerd 2.x keeps this ID for the CRI gRPC service and moved only
/// CRI's settings to `io.containerd.cri.v1.images` / `io.containerd.cri.v1.runtime`; those two
/// stay loaded because disabling them makes the pod-sandbox controllers fail with warnings.
pub(super) const CRI_PLUGIN: &str = "io.containerd.grpc.v1.cri";

/// containerd's config mirroring moby's managed containerd (libcontainerd/supervisor):
/// root `<data-root>/containerd/daemon`, state `<exec-root>/containerd/daemon`,
/// socket `<exec-root>/containerd/containerd.sock`, CRI disabled, in the config format of
/// the containerd that will read it.
pub fn containerd_toml(
    docker_root: &Path,
    exec_root: &Path,
    containerd: Option<probe::Version>,
) -> String {
    let dir = exec_root.join("containerd");
    format!(
        "# Written by dind-init: the same layout dockerd's own (managed) containerd uses.\n\
         version = {}\n\
         root = {}\n\
         state = {}\n\
         disabled_plugins = [\"{CRI_PLUGIN}\"]\n\
         \n\
         [grpc]\n  address = {}\n\
         \n\
         [debug]\n  address = {}\n",
        containerd_config_version(containerd),
        toml_str(&docker_root.join("containerd/daemon")),
        toml_str(&dir.join("daemon")),
        toml_str(&dir.join("containerd.sock")),
        toml_str(&dir.join("containerd-debug.sock")),
    )
}
