//! Which containerd dockerd uses (its own, one dind-init starts beside it on
//! dockerd's own layout, or one already serving), the steps that start a separate
//! one, and its config file in the format of the containerd that reads it.
//!
//! Must not: start a second containerd where one already serves a usable root;
//! give a separate containerd any root but dockerd's own (`<data-root>/containerd/daemon`),
//! so switching DIND_CONTAINERD loses nothing.

use super::{overlay_works, Action, ContainerdUse, Ctx, Plan};
use crate::config::ContainerdMode;
use crate::probe::{self, Trial};
use serde_json::Value;
use std::path::{Path, PathBuf};

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

impl Ctx<'_> {
    /// Who runs the containerd dockerd talks to: DIND_CONTAINERD, the user's own
    /// `containerd` setting, one already serving, or one dind-init starts.
    pub(super) fn containerd_use(
        &self,
        store: bool,
        docker_root: &Path,
        p: &mut Plan,
    ) -> ContainerdUse {
        let facts = self.facts;
        match (self.cfg.containerd, self.user.effective.get("containerd")) {
            (ContainerdMode::Managed, _) => {
                p.notes.push(
                    "DIND_CONTAINERD=managed: dockerd starts and supervises its own containerd"
                        .into(),
                );
                ContainerdUse::Managed
            }
            (_, Some((Value::String(addr), o))) => {
                p.notes.push(format!(
                    "containerd is set to {addr} by {o}: dockerd uses that one as it is"
                ));
                ContainerdUse::External {
                    socket: PathBuf::from(addr.trim_start_matches("unix://")),
                }
            }
            (ContainerdMode::Auto, _) if facts.containerd_serving => {
                self.serving_containerd(store, docker_root, p)
            }
            (ContainerdMode::Auto, _) if facts.containerd_bin.is_none() => {
                p.notes.push(
                    "containerd is not on PATH: dockerd manages its own (DIND_CONTAINERD=auto)"
                        .into(),
                );
                ContainerdUse::Managed
            }
            (ContainerdMode::Auto | ContainerdMode::Separate, _) => ContainerdUse::Separate {
                socket: self.separate_socket(),
            },
        }
    }

    fn separate_socket(&self) -> PathBuf {
        self.facts
            .daemon
            .exec_root
            .join("containerd/containerd.sock")
    }

    /// A containerd already serves: used, unless the containerd image store would put
    /// the snapshots on a root where overlay does not work.
    fn serving_containerd(&self, store: bool, docker_root: &Path, p: &mut Plan) -> ContainerdUse {
        let facts = self.facts;
        let system_sock = facts.containerd_socket.clone();
        let vlc_trial = facts.var_lib_containerd.as_ref().map(|l| &l.trial);
        let vlc_fs = facts
            .var_lib_containerd
            .as_ref()
            .map(|l| l.fs_type())
            .unwrap_or_default();
        let vlc_ok = vlc_trial.map(|t| {
            let (tried, guess) = overlay_works(t, &vlc_fs);
            tried.unwrap_or(guess)
        });
        if store && vlc_ok != Some(true) {
            p.warnings.push(format!(
                "a containerd already serves at {} but its root {SYSTEM_CONTAINERD_ROOT} is on {vlc_fs}: {}; with the containerd image store every docker run would fail there, so dind-init starts its own containerd with its root in {}",
                system_sock.display(),
                vlc_trial.map(Trial::to_string).unwrap_or_else(|| "nothing was probed".into()),
                docker_root.join("containerd/daemon").display()
            ));
            ContainerdUse::Separate {
                socket: self.separate_socket(),
            }
        } else {
            p.notes.push(format!(
                "a containerd already serves at {}: dockerd uses it, none is started twice",
                system_sock.display()
            ));
            ContainerdUse::External {
                socket: system_sock,
            }
        }
    }

    /// The separate containerd's steps; the `--containerd` flag dockerd then needs.
    pub(super) fn start_containerd(
        &self,
        containerd: &ContainerdUse,
        docker_root: &Path,
        p: &mut Plan,
    ) -> Option<String> {
        let exec_root = &self.facts.daemon.exec_root;
        match containerd {
            ContainerdUse::Separate { socket } => {
                let dir = exec_root.join("containerd");
                let toml_path = dir.join("containerd.toml");
                p.push(
                    Action::CreateDir {
                        path: dir.clone(),
                        mode: 0o700,
                    },
                    "containerd's config, state and socket live here, as with dockerd's own containerd",
                );
                p.push(
                    Action::WriteFile {
                        path: toml_path.clone(),
                        content: containerd_toml(
                            docker_root,
                            exec_root,
                            self.facts.containerd_version.as_ref().ok().copied(),
                        ),
                    },
                    "the root, state and socket dockerd's own containerd uses, so switching DIND_CONTAINERD between separate and managed loses no image, container or volume",
                );
                p.push(
                    Action::StartContainerd {
                        argv: vec![
                            "containerd".into(),
                            "--config".into(),
                            toml_path.to_string_lossy().into_owned(),
                        ],
                        socket: socket.clone(),
                    },
                    "started before dockerd and stopped after it: Docker is ready about a second sooner and stops about a second faster than with dockerd's own containerd",
                );
                Some(format!("--containerd={}", socket.display()))
            }
            ContainerdUse::External { socket }
                if !self.user.effective.contains_key("containerd") =>
            {
                Some(format!("--containerd={}", socket.display()))
            }
            _ => None,
        }
    }
}
