//! Where Docker's data is and will be: the choice of DATA_ROOT ([`choose_data_root`],
//! from the user's own `data-root` when set) and what is found there and at
//! /var/lib/docker ([`DataRoot`], [`VarLibDocker`]).
//!
//! The choice is the one decision made during the probe: every other fact (the trial,
//! d_type, driver data, the version caches) is read at the path it picks, so it cannot
//! wait for the plan. It must not create DATA_ROOT or change anything there.

use super::daemon::setting_path;
use super::fs::dir_owner;
use super::{
    driver_data, free_bytes, has_data, is_bind_of, is_volatile_fs, locate, mount_at, mount_for,
    nearest_existing, Account, DriverData, Location, Mount, Owner,
};
use crate::config::Config;
use crate::settings::Origin;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where DATA_ROOT came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataRootFrom {
    /// DIND_DATA_ROOT.
    Setting,
    /// `data-root` in daemon.json / DOCKER_OPTS / DIND_DOCKERD_ARGS.
    DaemonConfig,
    /// `<home of the devpod user>/.docker-data`.
    Home,
    /// The home is on overlay/tmpfs; the pod's only volume was picked.
    Volume,
}

/// The directory that should hold Docker's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataRoot {
    /// DATA_ROOT.
    pub path: PathBuf,
    /// Where that choice came from.
    pub from: DataRootFrom,
    /// One sentence on why (for plan and doctor).
    pub why: String,
    /// It exists already.
    pub exists: bool,
    /// Its owner and mode when it is a real directory: the plan says what apply changes.
    pub owner: Option<Owner>,
    /// It holds data (beyond dind-init's files).
    pub has_data: bool,
    /// Storage-driver data inside it.
    pub drivers: Vec<DriverData>,
    /// Its filesystem (probed at its nearest existing ancestor).
    pub location: Location,
    /// dind-init's reserve file in it and the space free for root beside it.
    pub reserve: crate::reserve::Reserve,
}

/// /var/lib/docker as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VarLibDocker {
    /// Its path (/var/lib/docker).
    pub path: PathBuf,
    /// It exists (as a dir or a symlink).
    pub exists: bool,
    /// Target when it is a symlink.
    pub symlink: Option<PathBuf>,
    /// The mount when it is a mount point itself (emptyDir, tmpfs, a bind).
    pub mount: Option<Mount>,
    /// That mount is a bind of DATA_ROOT (dind-init ran before in this mount namespace).
    pub bind_of_data_root: bool,
    /// It holds data.
    pub has_data: bool,
    /// Storage-driver data inside it.
    pub drivers: Vec<DriverData>,
    /// Its filesystem; the trial is shared with DATA_ROOT's when both are on one mount.
    pub location: Location,
    /// Its parent is writable (a symlink could replace it).
    pub parent_writable: bool,
}

/// The user's own `data-root` (daemon.json, DOCKER_OPTS, DIND_DOCKERD_ARGS) and
/// where it was set.
pub(super) fn user_data_root(
    effective: &BTreeMap<String, (Value, Origin)>,
) -> Option<(PathBuf, String)> {
    let path = setting_path(effective, "data-root")?;
    let origin = effective
        .get("data-root")
        .map(|(_, o)| o.to_string())
        .unwrap_or_default();
    Some((path, origin))
}

impl DataRoot {
    /// What is at the chosen DATA_ROOT `path` and on its filesystem (never creates it).
    pub(super) fn probe(path: PathBuf, from: DataRootFrom, why: String, mounts: &[Mount]) -> Self {
        DataRoot {
            exists: path.is_dir(),
            owner: dir_owner(&path),
            has_data: has_data(&path),
            drivers: driver_data(&path),
            location: locate(&path, mounts),
            reserve: crate::reserve::find(&path, free_bytes(&nearest_existing(&path)).ok()),
            path,
            from,
            why,
        }
    }
}

impl VarLibDocker {
    /// What is at `path` (/var/lib/docker): a symlink, a mount (maybe a bind of
    /// DATA_ROOT from an earlier start), data, and its filesystem.
    pub(super) fn probe(path: PathBuf, data_root: &DataRoot, mounts: &[Mount]) -> Self {
        let meta = std::fs::symlink_metadata(&path).ok();
        let symlink = meta
            .as_ref()
            .filter(|m| m.file_type().is_symlink())
            .and_then(|_| std::fs::read_link(&path).ok());
        let mount = match symlink {
            Some(_) => None,
            None => mount_point(&path, mounts),
        };
        let bind_of_data_root = match (&mount, std::fs::canonicalize(&data_root.path)) {
            (Some(m), Ok(d)) => is_bind_of(mounts, m, &d),
            _ => false,
        };
        VarLibDocker {
            exists: meta.is_some(),
            symlink,
            mount,
            bind_of_data_root,
            has_data: has_data(&path),
            drivers: driver_data(&path),
            parent_writable: path
                .parent()
                .is_some_and(|p| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()),
            location: location_beside(&path, data_root, mounts),
            path,
        }
    }
}

/// The mount at `path` itself (an emptyDir, tmpfs or bind), looked up under its
/// parent's canonical path as the mount table names it.
fn mount_point(path: &Path, mounts: &[Mount]) -> Option<Mount> {
    let parent = nearest_existing(path.parent().unwrap_or(Path::new("/")));
    mount_at(mounts, &parent.join("docker")).cloned()
}

/// `path`'s filesystem: DATA_ROOT's facts (trial included) when both are on one
/// mount, so the trial runs once; else probed there.
fn location_beside(path: &Path, data_root: &DataRoot, mounts: &[Mount]) -> Location {
    let probed = nearest_existing(path);
    let holder = mount_for(mounts, &probed);
    let dr_mount_id = data_root.location.mount.as_ref().map(|m| m.id);
    match holder {
        Some(m) if Some(m.id) == dr_mount_id => Location {
            path: path.to_path_buf(),
            probed,
            mount: Some(m.clone()),
            ..data_root.location.clone()
        },
        _ => locate(path, mounts),
    }
}

/// Decide DATA_ROOT (never creating it): DIND_DATA_ROOT, else the user's own `data-root`,
/// else `<home>/.docker-data`, unless that home is on overlay/tmpfs and the pod has exactly
/// one persistent volume, then `<volume>/.docker-data`.
pub(crate) fn choose_data_root(
    cfg: &Config,
    user_data_root: Option<(PathBuf, String)>,
    user: &std::result::Result<Account, String>,
    mounts: &[Mount],
    volumes: &[PathBuf],
) -> (PathBuf, DataRootFrom, String) {
    if let Some(d) = &cfg.data_root {
        return (
            d.clone(),
            DataRootFrom::Setting,
            "set by DIND_DATA_ROOT".into(),
        );
    }
    if let Some((d, origin)) = user_data_root {
        return (
            d,
            DataRootFrom::DaemonConfig,
            format!("data-root is already set by {origin}"),
        );
    }
    let home = match user {
        Ok(a) => Some(a.home.clone()),
        Err(_) => None,
    };
    let home_fs = home
        .as_ref()
        .and_then(|h| mount_for(mounts, &nearest_existing(h)))
        .map(|m| m.fs_type.clone());
    let home_volatile = home.is_none() || home_fs.as_deref().is_some_and(is_volatile_fs);
    if home_volatile && volumes.len() == 1 {
        let v = &volumes[0];
        let whose = match (&home, &home_fs) {
            (Some(h), Some(fs)) => format!("the home {} is on {fs}", h.display()),
            _ => "the devpod user's home is unknown".to_string(),
        };
        return (
            v.join(".docker-data"),
            DataRootFrom::Volume,
            format!(
                "{whose}, which does not survive the pod; {} is the pod's only persistent volume",
                v.display()
            ),
        );
    }
    let h = home.unwrap_or_else(|| PathBuf::from("/root"));
    let who = match user {
        Ok(a) if !a.name.is_empty() => format!("home of {}", a.name),
        Ok(a) => format!("home of uid {}", a.uid),
        Err(e) => format!("fallback home (user unknown: {e})"),
    };
    (
        h.join(".docker-data"),
        DataRootFrom::Home,
        format!("{who} + /.docker-data"),
    )
}
