//! The storage driver.

use super::Driver;
use crate::config::Config;
use crate::probe::DriverData;
use crate::settings::UserSettings;
use serde_json::Value;
use std::path::Path;

/// The driver for a data root nobody pinned a driver for: the one holding the user's
/// images (most layers, then the most recently used) when it `works` here, else `best`.
/// Every other driver's data is named in a warning with the way back to it.
pub(super) fn by_data(
    drivers_here: &[DriverData],
    store: bool,
    best: Driver,
    works: impl Fn(Driver) -> bool,
    data_home: &Path,
    fallback_why: &dyn Fn(Driver) -> String,
    warnings: &mut Vec<String>,
) -> Driver {
    let mut data: Vec<&DriverData> = drivers_here
        .iter()
        .filter(|x| x.snapshotter == store && x.layers > 0)
        .collect();
    data.sort_by_key(|x| std::cmp::Reverse((x.layers, x.newest)));
    let dh = data_home.display();
    let chosen = match data.first() {
        None => {
            if !best.needs_overlay() {
                warnings.push(format!(
                    "storage driver {}: {}; {}. Put DATA_ROOT on a PersistentVolume formatted ext4 or xfs to get {}",
                    best.name(),
                    fallback_why(best),
                    best.cost(),
                    if store { "overlayfs" } else { "overlay2" }
                ));
            }
            return best;
        }
        Some(x) if works(x.driver) => {
            if x.driver != best {
                warnings.push(format!(
                    "{dh} holds {} layers made with {}; keeping {} because switching to {} would hide every image and container (they stay on disk). To switch: save what you need (docker save), stop the pod, move {dh} aside (mv {dh} {dh}.old) and start again",
                    x.layers,
                    x.driver.name(),
                    x.driver.name(),
                    best.name(),
                ));
            }
            x.driver
        }
        Some(x) => {
            warnings.push(format!(
                "{dh} holds {} layers made with {}, which cannot work here ({}); dockerd uses {} and those images stay on disk in {} but are not visible",
                x.layers,
                x.driver.name(),
                fallback_why(x.driver),
                best.name(),
                x.path.display()
            ));
            best
        }
    };
    for x in data.iter().filter(|x| x.driver != chosen) {
        warnings.push(format!(
            "{dh} also holds {} layers made with {}, which storage driver {} does not show; they stay on disk in {}. To use them again: `docker save` what you need, then start with DIND_STORAGE_DRIVER={} and `docker load` it there (or the other way round)",
            x.layers,
            x.driver.name(),
            chosen.name(),
            x.path.display(),
            x.driver.name()
        ));
    }
    chosen
}

/// The driver the user pinned: DIND_STORAGE_DRIVER, else the effective storage-driver
/// (daemon.json, DOCKER_OPTS, DOCKER_DRIVER, DIND_DOCKERD_ARGS).
pub(super) struct Pinned {
    pub(super) name: String,
    pub(super) origin: String,
    pub(super) dind: bool,
}

pub(super) fn pinned(cfg: &Config, user: &UserSettings) -> Option<Pinned> {
    if let Some(d) = cfg.storage_driver {
        return Some(Pinned {
            name: d.name().into(),
            origin: "DIND_STORAGE_DRIVER".into(),
            dind: true,
        });
    }
    if let Some((Value::String(s), o)) = user.effective.get("storage-driver") {
        if !s.is_empty() {
            return Some(Pinned {
                name: s.clone(),
                origin: o.to_string(),
                dind: false,
            });
        }
    }
    cfg.docker_driver_env
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Pinned {
            name: s.trim().to_string(),
            origin: "the DOCKER_DRIVER variable".into(),
            dind: false,
        })
}
