//! Plan: a pure function of [`Facts`](crate::probe::Facts) and [`Config`](crate::config::Config)
//! that says, as data, what `apply` and `dockerd` will do and why.
//!
//! `dind-init plan` and `doctor` print exactly this value, so what they explain
//! is what happens.

pub use crate::config::Driver;
use crate::config::{Config, ContainerdMode};
use crate::error::Result;
use crate::netpool;
use crate::probe::{self, DataRootFrom, DriverData, Facts, Location, Trial};
use crate::settings::{self, Merged, UserSettings, Wanted};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

mod containerd;
mod daemon;
mod driver;
mod render;
mod storage;

use containerd::SYSTEM_CONTAINERD_ROOT;
pub use containerd::{containerd_config_version, containerd_toml};
use daemon::{
    address_pools, driver_off_users_file, listeners, socket_group, tls_steps, DriverPlace,
};
use driver::{by_data, pinned};
use storage::Storage;

/// Where the merged daemon settings go when the user's daemon.json is read-only.
pub const MERGED_DAEMON_JSON: &str = "/run/dind-init/daemon.json";

/// One side effect, small enough to print and to unit-test through the syscall seam.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// `mkdir -p` owned by root with `mode` (only the last component gets the mode);
    /// an existing last component is made root-owned with `mode`, and a symlink a
    /// non-root user could replace, there or above, is refused (apply).
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
    /// Make a DOCKER_TLS_CERTDIR key or certificate (docker:dind's layout).
    Tls { step: crate::tls::Step },
    /// Give the home directory `path` (a persistent volume's root, root-owned
    /// when fresh) to the devpod user: that directory only, never recursive,
    /// never through a link, and only while root still owns it (apply).
    OwnHome { path: PathBuf, uid: u32, gid: u32 },
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

/// Who runs the containerd dockerd talks to (issue 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum ContainerdUse {
    /// dockerd starts and supervises its own.
    Managed,
    /// dind-init starts it before dockerd, on dockerd's own root/state/socket layout.
    Separate { socket: PathBuf },
    /// One already serves (or the user named one); it is used as it is.
    External { socket: PathBuf },
}

/// A daemon setting the plan asks for, as handed to `settings::merge`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedSetting {
    /// daemon.json key.
    pub key: String,
    /// Value.
    pub value: Value,
    /// Why.
    pub reason: String,
    /// Overrides the user's own value (theirs is the broken one, or a DIND_* setting says so).
    pub force: bool,
}

/// The whole decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Ordered steps; apply runs them in order and stops at the first error.
    pub steps: Vec<Step>,
    /// The storage driver chosen (None when dockerd is not started, or the user pinned
    /// a driver dind-init does not reason about, which is passed on unchanged).
    pub driver: Option<Driver>,
    /// Where Docker's data really lives (DATA_ROOT, or /var/lib/docker when left alone).
    pub data_root: Option<PathBuf>,
    /// Things the user must know: costs of a fallback, data left behind, overrides.
    pub warnings: Vec<String>,
    /// Decisions that need no action, with their reason (e.g. "already bind-mounted").
    pub notes: Vec<String>,
    /// The data-root dockerd itself is given or defaults to (/var/lib/docker with bind/symlink).
    pub docker_root: Option<PathBuf>,
    /// Which containerd dockerd uses.
    pub containerd: Option<ContainerdUse>,
    /// The daemon settings the plan asked `settings::merge` for.
    pub settings: Vec<PlannedSetting>,
    /// The group DIND_USER joins: the one dockerd gives the socket to (None
    /// without DIND_USER, or when dockerd is not started).
    pub docker_group: Option<String>,
    /// Who pinned the storage driver (DIND_STORAGE_DRIVER, daemon.json, DOCKER_OPTS,
    /// DOCKER_DRIVER, DIND_DOCKERD_ARGS); None when dind-init chose it, also over a pin
    /// that cannot work here. A pinned driver is never changed after a failed smoke test.
    pub pinned_by: Option<String>,
    /// Docker's address pools and why (None when dockerd is not started).
    pub pools: Option<netpool::Decision>,
}

impl Plan {
    fn empty() -> Plan {
        Plan {
            steps: Vec::new(),
            driver: None,
            data_root: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            docker_root: None,
            containerd: None,
            settings: Vec::new(),
            docker_group: None,
            pinned_by: None,
            pools: None,
        }
    }

    fn push(&mut self, action: Action, reason: impl Into<String>) {
        self.steps.push(Step {
            action,
            reason: reason.into(),
        });
    }
}

/// Decide everything from the facts and the config. Pure: reads no file, runs nothing.
/// A daemon.json that does not parse is an error (it is never overwritten).
pub fn plan(facts: &Facts, cfg: &Config) -> Result<Plan> {
    if !cfg.start_dockerd {
        let mut p = Plan::empty();
        p.notes.push(
            "DIND_START_DOCKERD=false: dind-init is a plain init here; no storage change, no dockerd"
                .into(),
        );
        return Ok(p);
    }
    if let Some(e) = &facts.daemon.error {
        return Err(e.to_error());
    }
    let user = settings::read(&facts.daemon.sources(cfg))?;
    plan_with(facts, cfg, &user, settings::merge)
}

/// A fresh PersistentVolume's root is `root:root 0755`: mounted as the devpod
/// user's home, the user cannot write their own home. Give them that one
/// directory when the home IS a persistent volume's mount point and root
/// still owns it (never what is inside: that is the user's data).
fn own_home(facts: &Facts) -> Option<Step> {
    let a = facts.user.as_ref().ok()?;
    let mounted = facts.volumes.iter().any(|v| v == &a.home);
    if a.uid == 0 || a.home_owner != Some(0) || !mounted {
        return None;
    }
    let who = if a.name.is_empty() {
        format!("uid {}", a.uid)
    } else {
        a.name.clone()
    };
    Some(Step {
        action: Action::OwnHome {
            path: a.home.clone(),
            uid: a.uid,
            gid: a.gid,
        },
        reason: format!(
            "{who}'s home is the root of a persistent volume and belongs to root (a fresh volume), so {who} could not write their own home; only this directory changes owner, nothing inside it"
        ),
    })
}

/// Whether data at `loc` survives the pod being recreated: not on the
/// container's overlay, tmpfs or the like, nor on an emptyDir. The one answer
/// both `plan` and `doctor` give about /var/lib/docker and DATA_ROOT.
pub fn outlives_pod(loc: &Location) -> bool {
    !probe::is_volatile_fs(&loc.fs_type())
        && !loc.mount.as_ref().is_some_and(probe::is_ephemeral_volume)
}

fn where_fs(loc: &Location) -> String {
    match &loc.mount {
        Some(m) if m.source.starts_with('/') => format!("{} ({})", m.fs_type, m.source),
        Some(m) => m.fs_type.clone(),
        None => loc.fs_type(),
    }
}

fn trial_words(t: &Trial) -> String {
    match t {
        Trial::Ok => "a trial overlay mount works".into(),
        Trial::Failed { errno, call } => format!("overlay mounts fail ({call}: {errno})"),
        Trial::Blocked {
            trouble,
            errno,
            call,
        } => format!("the trial overlay mount could not run: {trouble} ({call}: {errno})"),
        Trial::NotTried { why } => format!("overlay mounts were not tried ({why})"),
    }
}

/// Overlay mounts work at `loc`: Some(result) from the trial; None when it was not
/// tried, then `guess` holds the guess from the filesystem type.
fn overlay_works(t: &Trial, loc_fs: &str) -> (Option<bool>, bool) {
    match t {
        Trial::Ok => (Some(true), true),
        Trial::Failed { .. } => (Some(false), false),
        Trial::Blocked { .. } | Trial::NotTried { .. } => (None, !probe::is_volatile_fs(loc_fs)),
    }
}

struct Ctx<'a> {
    facts: &'a Facts,
    cfg: &'a Config,
    user: &'a UserSettings,
}

fn plan_with(
    facts: &Facts,
    cfg: &Config,
    user: &UserSettings,
    merge: impl Fn(&UserSettings, &[Wanted]) -> Result<Merged>,
) -> Result<Plan> {
    let mut p = Plan::empty();
    let ctx = Ctx { facts, cfg, user };
    let d = &facts.data_root;
    let vld = &facts.var_lib_docker;
    p.steps.extend(own_home(facts));

    // Where Docker's data goes.
    let (storage, storage_why) = ctx.storage(&mut p);
    let user_root = user
        .effective
        .get("data-root")
        .and_then(|(v, _)| v.as_str())
        .map(PathBuf::from);
    let (docker_root, data_home, target, drivers_here): (
        PathBuf,
        PathBuf,
        &Location,
        &[DriverData],
    ) = match storage {
        Storage::Bind | Storage::Symlink | Storage::Already => {
            (vld.path.clone(), d.path.clone(), &d.location, &d.drivers)
        }
        Storage::DataRoot | Storage::UserDataRoot => {
            (d.path.clone(), d.path.clone(), &d.location, &d.drivers)
        }
        Storage::Off if d.from == DataRootFrom::DaemonConfig => {
            (d.path.clone(), d.path.clone(), &d.location, &d.drivers)
        }
        Storage::Leave | Storage::Off => {
            let r = user_root.clone().unwrap_or_else(|| vld.path.clone());
            (r.clone(), r, &vld.location, &vld.drivers)
        }
    };
    if d.from == DataRootFrom::Volume
        && matches!(
            storage,
            Storage::Bind | Storage::Symlink | Storage::DataRoot
        )
    {
        p.warnings.push(format!(
            "DATA_ROOT is {}: {}; set DIND_DATA_ROOT to choose another place",
            d.path.display(),
            d.why
        ));
    }
    if storage != Storage::Off {
        p.push(
            Action::CreateDir {
                path: data_home.clone(),
                mode: 0o710,
            },
            format!(
                "Docker's data lives here, on {}; root-owned 0710 like dockerd's own data root",
                where_fs(target)
            ),
        );
        p.push(
            Action::Lock {
                path: data_home.join(".dind-init.lock"),
            },
            "held while dockerd runs: two pods sharing this volume must never run two daemons on one data directory",
        );
    }
    match storage {
        Storage::Bind => p.push(
            Action::BindMount {
                src: d.path.clone(),
                dst: vld.path.clone(),
            },
            storage_why,
        ),
        Storage::Symlink => p.push(
            Action::Symlink {
                target: d.path.clone(),
                link: vld.path.clone(),
            },
            storage_why,
        ),
        _ => p.notes.push(storage_why),
    }

    // Image store and containerd.
    let pin = pinned(cfg, user);
    p.pinned_by = pin.as_ref().map(|pn| pn.origin.clone());
    let graph_data = drivers_here.iter().any(|x| !x.snapshotter && x.layers > 0);
    let version = facts.dockerd.version.as_ref().ok().copied();
    let store = probe::containerd_store_on(
        version,
        &user.effective,
        pin.as_ref().map(|x| x.name.as_str()),
        graph_data,
    );
    if store {
        p.notes.push(match probe::snapshotter_feature(&user.effective) {
            Some(_) => "the containerd image store is on (features.containerd-snapshotter): storage drivers are containerd snapshotters".into(),
            None => format!(
                "the containerd image store is on (the default of Docker {}): storage drivers are containerd snapshotters",
                version.map(|v| v.to_string()).unwrap_or_default()
            ),
        });
    }
    let exec_root = facts.daemon.exec_root.clone();
    let system_sock = facts.containerd_socket.clone();
    let vlc_trial = facts.var_lib_containerd.as_ref().map(|l| &l.trial);
    let vlc_fs = facts
        .var_lib_containerd
        .as_ref()
        .map(|l| l.fs_type())
        .unwrap_or_default();
    let containerd = match (cfg.containerd, user.effective.get("containerd")) {
        (ContainerdMode::Managed, _) => {
            p.notes.push(
                "DIND_CONTAINERD=managed: dockerd starts and supervises its own containerd".into(),
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
            let vlc_ok = vlc_trial.map(|t| {
                let (tried, guess) = overlay_works(t, &vlc_fs);
                tried.unwrap_or(guess)
            });
            if store && vlc_ok != Some(true) {
                p.warnings.push(format!(
                    "a containerd already serves at {} but its root {SYSTEM_CONTAINERD_ROOT} is on {vlc_fs}: {}; with the containerd image store every docker run would fail there, so dind-init starts its own containerd with its root in {}",
                    system_sock.display(),
                    vlc_trial.map(trial_words).unwrap_or_else(|| "nothing was probed".into()),
                    docker_root.join("containerd/daemon").display()
                ));
                ContainerdUse::Separate {
                    socket: exec_root.join("containerd/containerd.sock"),
                }
            } else {
                p.notes.push(format!(
                    "a containerd already serves at {}: dockerd uses it, none is started twice",
                    system_sock.display()
                ));
                ContainerdUse::External {
                    socket: system_sock.clone(),
                }
            }
        }
        (ContainerdMode::Auto, _) if facts.containerd_bin.is_none() => {
            p.notes.push(
                "containerd is not on PATH: dockerd manages its own (DIND_CONTAINERD=auto)".into(),
            );
            ContainerdUse::Managed
        }
        (ContainerdMode::Auto | ContainerdMode::Separate, _) => ContainerdUse::Separate {
            socket: exec_root.join("containerd/containerd.sock"),
        },
    };

    // Storage driver: the trial where the layers will really be mounted decides.
    let snap_loc: &Location = match (&containerd, &facts.var_lib_containerd) {
        (ContainerdUse::External { .. }, Some(l)) if store => l,
        _ => target,
    };
    let (tried, guess) = overlay_works(&snap_loc.trial, &snap_loc.fs_type());
    let overlay_ok = tried.unwrap_or(guess);
    if tried.is_none() {
        p.notes.push(format!(
            "{}; overlay support on {} is guessed from its filesystem ({})",
            trial_words(&snap_loc.trial),
            snap_loc.path.display(),
            snap_loc.fs_type()
        ));
    }
    let fuse = facts.fuse_usable();
    let best = if overlay_ok {
        if store {
            Driver::Overlayfs
        } else {
            Driver::Overlay2
        }
    } else if fuse && !store {
        Driver::FuseOverlayfs
    } else if store {
        Driver::Native
    } else {
        Driver::Vfs
    };
    let where_layers = format!("{} ({})", snap_loc.path.display(), where_fs(snap_loc));
    let fallback_why = |chosen: Driver| -> String {
        let mut s = format!("on {where_layers}: {}", trial_words(&snap_loc.trial));
        if chosen == Driver::Native && fuse {
            s.push_str("; fuse-overlayfs is not used with the containerd image store");
        } else if !chosen.needs_overlay() && chosen != Driver::FuseOverlayfs {
            match (&facts.dev_fuse, &facts.fuse_overlayfs) {
                (Err(e), _) => s.push_str(&format!("; fuse-overlayfs is impossible ({e})")),
                (Ok(()), None) => s.push_str("; fuse-overlayfs is not installed"),
                _ => {}
            }
        }
        s
    };
    let mut force = false;
    let mut want_driver = true;
    let driver: Option<Driver> = match &pin {
        Some(pn) => match Driver::from_name(&pn.name) {
            Some(dr) => {
                let dr = dr.for_store(store);
                let broken = (dr.needs_overlay() && tried == Some(false))
                    || (dr == Driver::FuseOverlayfs && !fuse);
                if broken {
                    force = true;
                    // The pin is not what runs: the driver is dind-init's choice now.
                    p.pinned_by = None;
                    let why = if dr.needs_overlay() {
                        format!("on {where_layers}: {}", trial_words(&snap_loc.trial))
                    } else {
                        format!(
                            "fuse-overlayfs cannot run here ({})",
                            match (&facts.dev_fuse, &facts.fuse_overlayfs) {
                                (Err(e), _) => e.clone(),
                                _ => "fuse-overlayfs is not installed".into(),
                            }
                        )
                    };
                    let cost = best.cost();
                    p.warnings.push(format!(
                        "storage driver {} set by {} is overridden with {}: {why}{}",
                        pn.name,
                        pn.origin,
                        best.name(),
                        if cost.is_empty() {
                            String::new()
                        } else {
                            format!("; {cost}")
                        }
                    ));
                    Some(best)
                } else {
                    force = pn.dind;
                    want_driver = pn.dind;
                    p.notes.push(format!(
                        "storage driver {} is set by {}",
                        dr.name(),
                        pn.origin
                    ));
                    // The user's pin wins, but never silently over data it cannot show.
                    if let Some(x) = drivers_here
                        .iter()
                        .filter(|x| x.snapshotter == store && x.layers > 0 && x.driver != dr)
                        .max_by_key(|x| x.layers)
                    {
                        p.warnings.push(format!(
                            "{} holds {} layers made with {}, which storage driver {} (set by {}) does not show; they stay on disk in {}. To use them again, set DIND_STORAGE_DRIVER={}",
                            data_home.display(),
                            x.layers,
                            x.driver.name(),
                            dr.name(),
                            pn.origin,
                            x.path.display(),
                            x.driver.name()
                        ));
                    }
                    if !dr.cost().is_empty() {
                        p.warnings
                            .push(format!("storage driver {}: {}", dr.name(), dr.cost()));
                    }
                    Some(dr)
                }
            }
            None => {
                p.notes.push(format!(
                    "storage driver {} set by {} is passed to dockerd unchanged (dind-init does not check it)",
                    pn.name, pn.origin
                ));
                None
            }
        },
        None => Some(by_data(
            drivers_here,
            store,
            best,
            |x| match x {
                Driver::Overlay2 | Driver::Overlayfs => overlay_ok,
                Driver::FuseOverlayfs => fuse && !store,
                Driver::Vfs | Driver::Native => true,
            },
            &data_home,
            &fallback_why,
            &mut p.warnings,
        )),
    };
    if let Trial::Blocked {
        trouble,
        errno,
        call,
    } = &snap_loc.trial
    {
        p.warnings.push(format!(
            "{}: the trial overlay mount on {where_layers} could not run ({call}: {errno}); storage driver {} is kept ({}): {}",
            trouble.words(),
            driver.map_or("(the user's)", Driver::name),
            match drivers_here.iter().any(|x| x.layers > 0) {
                true => "the driver the data was made with",
                false => "guessed from the filesystem",
            },
            trouble.remedy()
        ));
    }

    // Daemon settings, each in exactly one place.
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut want = |key: &str, value: Value, reason: String, force: bool| {
        wanted.push(Wanted {
            key: key.into(),
            value,
            reason,
            force,
        })
    };
    if let Some(dr) = driver.filter(|_| want_driver) {
        let reason = if dr.needs_overlay() {
            format!("on {where_layers}: {}", trial_words(&snap_loc.trial))
        } else {
            format!("{} is what works on {where_layers}", dr.name())
        };
        want(
            "storage-driver",
            Value::String(dr.name().into()),
            reason,
            force,
        );
    }
    if storage == Storage::DataRoot {
        want(
            "data-root",
            Value::String(d.path.to_string_lossy().into_owned()),
            "Docker's data lives on DATA_ROOT".into(),
            d.from == DataRootFrom::Setting,
        );
    }
    if let Some(m) = facts.mtu.as_ref().filter(|m| m.mtu < 1500) {
        want(
            "mtu",
            Value::from(m.mtu),
            format!(
                "the pod's default route ({}) has MTU {}: containers with 1500 would lose large packets",
                m.iface, m.mtu
            ),
            false,
        );
    }
    let pools = address_pools(facts, cfg, user, &mut p);
    for (key, value, reason) in pools.wanted() {
        want(key, value, reason, pools.force);
    }
    p.pools = Some(pools);
    if let Some(s) = &cfg.shm_size {
        want(
            "default-shm-size",
            Value::String(s.clone()),
            "DIND_SHM_SIZE".into(),
            true,
        );
    }
    if cfg.user.is_some() {
        want(
            "group",
            Value::String(cfg.docker_group.clone()),
            "DIND_USER may use the docker socket through this group".into(),
            false,
        );
    }
    let stop = cfg.stop_timeout.as_secs();
    // After SIGTERM the command gets its share first; dockerd has the rest,
    // less 3 s for itself and containerd.
    let daemons = cfg.stop_timeout - crate::init::main_budget(cfg.stop_timeout, true);
    let containers = daemons.as_secs().saturating_sub(3).max(1);
    want(
        "shutdown-timeout",
        Value::from(containers),
        format!("dockerd stops its containers within {containers} s, so the command, dockerd and containerd all stop within DIND_STOP_TIMEOUT ({stop} s)"),
        false,
    );
    p.settings = wanted
        .iter()
        .map(|w| PlannedSetting {
            key: w.key.clone(),
            value: w.value.clone(),
            reason: w.reason.clone(),
            force: w.force,
        })
        .collect();
    let mut merged = merge(user, &wanted)?;
    p.docker_group = socket_group(cfg, &merged, &mut p.notes);
    let place = match facts.daemon.daemon_json_read_only {
        true => DriverPlace::Copy,
        false => driver_off_users_file(user, &mut merged)?,
    };
    if let Some((path, content)) = &merged.daemon_json {
        let keys: Vec<&str> = wanted
            .iter()
            .map(|w| w.key.as_str())
            .filter(|k| place != DriverPlace::Flag || *k != "storage-driver")
            .collect();
        if place == DriverPlace::Copy {
            // A ConfigMap mount, or the user's own storage-driver that cannot work here:
            // leave the file untouched, hand dockerd a merged copy.
            let copy = PathBuf::from(MERGED_DAEMON_JSON);
            let why = match facts.daemon.daemon_json_read_only {
                true => "is read-only (a ConfigMap?)".to_string(),
                false => format!(
                    "holds your storage-driver {}, which dind-init overrides here",
                    user.json
                        .get("storage-driver")
                        .map_or(String::new(), |v| v.to_string())
                ),
            };
            merged.args.retain(|a| !a.starts_with("--config-file"));
            merged
                .args
                .push(format!("--config-file={}", copy.display()));
            p.push(
                Action::WriteFile {
                    path: copy,
                    content: content.clone(),
                },
                format!(
                    "{} {why}: dind-init leaves it untouched and gives dockerd this merged copy with its settings ({}), each directive once",
                    path.display(),
                    keys.join(", ")
                ),
            );
        } else {
            p.push(
                Action::WriteFile {
                    path: path.clone(),
                    content: content.clone(),
                },
                format!(
                    "merge dind-init's settings ({}) into the user's daemon.json so dockerd sees each directive once",
                    keys.join(", ")
                ),
            );
        }
    }
    p.warnings.extend(merged.notes.iter().cloned());
    tls_steps(facts, cfg, &mut p)?;

    for pf in &facts.stale_pidfiles {
        p.push(
            Action::RemoveStalePidfile { path: pf.clone() },
            "its process is gone (left by an earlier start); a stale pidfile stops dockerd or makes it trust a dead containerd",
        );
    }

    let mut dockerd_argv = vec![cfg.dockerd.clone()];
    dockerd_argv.extend(merged.args.iter().cloned());
    match &containerd {
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
                        &docker_root,
                        &exec_root,
                        facts.containerd_version.as_ref().ok().copied(),
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
            dockerd_argv.push(format!("--containerd={}", socket.display()));
        }
        ContainerdUse::External { socket } if !user.effective.contains_key("containerd") => {
            dockerd_argv.push(format!("--containerd={}", socket.display()));
        }
        _ => {}
    }
    let listen = listeners(cfg, user, &merged, &mut p);
    dockerd_argv.extend(listen.args);
    let socket = listen.socket.unwrap_or_else(|| merged.socket_path());
    let driver_words = match driver {
        Some(dr) => format!("storage driver {}", dr.name()),
        None => "the user's storage driver".into(),
    };
    p.push(
        Action::StartDockerd {
            argv: dockerd_argv,
            socket,
        },
        format!(
            "{driver_words}, data in {}; ready when /_ping answers",
            data_home.display()
        ),
    );
    p.driver = driver;
    p.data_root = Some(data_home);
    p.docker_root = Some(docker_root);
    p.containerd = Some(containerd);
    Ok(p)
}

#[cfg(test)]
mod tests;
