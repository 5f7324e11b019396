//! The image store and the storage driver. Whether dockerd uses the containerd
//! image store is decided here and only here (doctor and the storage proof read
//! [`super::Plan::image_store`]); then the driver: the trial where the layers will
//! really be mounted, the user's pin (kept unless it cannot work here), and the
//! data already on disk (the driver holding the most layers wins, every other
//! driver's data is named with the way back to it).
//!
//! Must not: change a pinned driver that works; pick a driver that would hide
//! the user's images without saying so; write where the choice goes (that is
//! `daemon`).

use super::storage::Layout;
use super::{overlay_works, where_fs, ContainerdUse, Ctx, Driver, ImageStore, Plan};
use crate::config::Config;
use crate::probe::{DriverData, Facts, Location, Trial, Version};
use crate::settings::{Origin, UserSettings, Wanted};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The storage driver decided, and the daemon setting that carries it.
pub(super) struct Chosen {
    /// None when the user pinned a driver dind-init does not reason about.
    pub(super) driver: Option<Driver>,
    /// `storage-driver` as the plan asks for it; None when the user's own pin stands.
    pub(super) setting: Option<Wanted>,
}

/// Where the layers will really be mounted, and what works there.
struct Ground<'a> {
    loc: &'a Location,
    /// `loc`'s path and filesystem, for the reasons.
    words: String,
    /// The trial's answer; None when it was not tried.
    tried: Option<bool>,
    /// Overlay works there: the trial, else the guess from the filesystem.
    overlay_ok: bool,
    fuse: bool,
    store: bool,
    /// What dind-init would pick with no pin and no data.
    best: Driver,
}

impl Ground<'_> {
    /// Why `chosen` (a fallback) is what runs here.
    fn fallback_why(&self, chosen: Driver, facts: &Facts) -> String {
        let mut s = format!("on {}: {}", self.words, self.loc.trial);
        if chosen == Driver::Native && self.fuse {
            s.push_str("; fuse-overlayfs is not used with the containerd image store");
        } else if !chosen.needs_overlay() && chosen != Driver::FuseOverlayfs {
            match (&facts.dev_fuse, &facts.fuse_overlayfs) {
                (Err(e), _) => s.push_str(&format!("; fuse-overlayfs is impossible ({e})")),
                (Ok(()), None) => s.push_str("; fuse-overlayfs is not installed"),
                _ => {}
            }
        }
        s
    }

    /// Whether `driver` can run here.
    fn works(&self, driver: Driver) -> bool {
        match driver {
            Driver::Overlay2 | Driver::Overlayfs => self.overlay_ok,
            Driver::FuseOverlayfs => self.fuse && !self.store,
            Driver::Vfs | Driver::Native => true,
        }
    }
}

/// The `containerd-snapshotter` feature as the user set it (daemon.json `features` or
/// `--feature containerd-snapshotter[=bool]`, both in the settings' `features` object).
fn snapshotter_feature(effective: &BTreeMap<String, (Value, Origin)>) -> Option<bool> {
    let (v, _) = effective.get("features")?;
    match v.get("containerd-snapshotter")? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Graphdriver names: naming one makes dockerd ≥ 29 keep the legacy image store.
fn is_graphdriver_name(name: &str) -> bool {
    matches!(
        name,
        "overlay2"
            | "overlay"
            | "vfs"
            | "fuse-overlayfs"
            | "btrfs"
            | "zfs"
            | "devicemapper"
            | "aufs"
    )
}

/// Whether dockerd will use the containerd image store: the user's feature flag wins;
/// otherwise on by default from Docker 29, except (as dockerd 29 does) when the
/// storage driver named is a graphdriver or the data root already holds graphdriver layers.
fn containerd_store_on(
    version: Option<Version>,
    effective: &BTreeMap<String, (Value, Origin)>,
    storage_driver: Option<&str>,
    graph_data: bool,
) -> bool {
    if let Some(b) = snapshotter_feature(effective) {
        return b;
    }
    if version.is_none_or(|v| v.major < 29) {
        return false;
    }
    !(storage_driver.is_some_and(is_graphdriver_name) || graph_data)
}

/// The best driver where overlay does (not) work, with or without the containerd image store.
fn best_driver(overlay_ok: bool, fuse: bool, store: bool) -> Driver {
    if overlay_ok {
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
    }
}

impl Ctx<'_> {
    /// Whether dockerd will use the containerd image store (its drivers are snapshotters).
    /// The one place this is decided: doctor and the proof read [`Plan::image_store`].
    pub(super) fn image_store(&self, l: &Layout, pin: Option<&Pinned>, p: &mut Plan) -> bool {
        let graph_data = l
            .drivers_here
            .iter()
            .any(|x| !x.snapshotter && x.layers > 0);
        let version = self.facts.dockerd.version.as_ref().ok().copied();
        let effective = &self.user.effective;
        let store =
            containerd_store_on(version, effective, pin.map(|x| x.name.as_str()), graph_data);
        if store {
            p.notes.push(match snapshotter_feature(effective) {
                Some(_) => "the containerd image store is on (features.containerd-snapshotter): storage drivers are containerd snapshotters".into(),
                None => format!(
                    "the containerd image store is on (the default of Docker {}): storage drivers are containerd snapshotters",
                    version.map(|v| v.to_string()).unwrap_or_default()
                ),
            });
        }
        p.image_store = Some(match store {
            true => ImageStore::Containerd,
            false => ImageStore::Graphdriver,
        });
        store
    }

    /// The storage driver: the trial where the layers will really be mounted decides,
    /// then the user's pin, then the data already on disk.
    pub(super) fn storage_driver(
        &self,
        l: &Layout,
        store: bool,
        containerd: &ContainerdUse,
        pin: Option<&Pinned>,
        p: &mut Plan,
    ) -> Chosen {
        p.pinned_by = pin.map(|pn| pn.origin.clone());
        let g = self.ground(l, store, containerd, p);
        let (driver, force, want) = match pin {
            Some(pn) => self.pinned_driver(pn, &g, l, p),
            None => {
                let fallback_why = |d: Driver| g.fallback_why(d, self.facts);
                let d = by_data(
                    l.drivers_here,
                    store,
                    g.best,
                    |x| g.works(x),
                    &l.data_home,
                    &fallback_why,
                    &mut p.warnings,
                );
                (Some(d), false, true)
            }
        };
        blocked_warning(&g, driver, l.drivers_here, p);
        let setting = driver.filter(|_| want).map(|dr| Wanted {
            key: "storage-driver".into(),
            value: Value::String(dr.name().into()),
            reason: if dr.needs_overlay() {
                format!("on {}: {}", g.words, g.loc.trial)
            } else {
                format!("{} is what works on {}", dr.name(), g.words)
            },
            force,
        });
        Chosen { driver, setting }
    }

    /// Where the layers go: the system containerd's root when it holds the snapshots.
    fn ground<'g>(
        &'g self,
        l: &'g Layout,
        store: bool,
        containerd: &ContainerdUse,
        p: &mut Plan,
    ) -> Ground<'g> {
        let loc: &Location = match (containerd, &self.facts.var_lib_containerd) {
            (ContainerdUse::External { .. }, Some(vlc)) if store => vlc,
            _ => l.target,
        };
        let (tried, guess) = overlay_works(&loc.trial, &loc.fs_type());
        if tried.is_none() {
            p.notes.push(format!(
                "{}; overlay support on {} is guessed from its filesystem ({})",
                loc.trial,
                loc.path.display(),
                loc.fs_type()
            ));
        }
        let overlay_ok = tried.unwrap_or(guess);
        let fuse = self.facts.fuse_usable();
        Ground {
            loc,
            words: format!("{} ({})", loc.path.display(), where_fs(loc)),
            tried,
            overlay_ok,
            fuse,
            store,
            best: best_driver(overlay_ok, fuse, store),
        }
    }

    /// The driver the user pinned, unless it cannot work here: (driver, force, want).
    fn pinned_driver(
        &self,
        pn: &Pinned,
        g: &Ground,
        l: &Layout,
        p: &mut Plan,
    ) -> (Option<Driver>, bool, bool) {
        let Some(dr) = Driver::from_name(&pn.name) else {
            p.notes.push(format!(
                "storage driver {} set by {} is passed to dockerd unchanged (dind-init does not check it)",
                pn.name, pn.origin
            ));
            return (None, false, true);
        };
        let dr = dr.for_store(g.store);
        let broken = (dr.needs_overlay() && g.tried == Some(false))
            || (dr == Driver::FuseOverlayfs && !g.fuse);
        if broken {
            self.override_pin(pn, dr, g, p);
            return (Some(g.best), true, true);
        }
        p.notes.push(format!(
            "storage driver {} is set by {}",
            dr.name(),
            pn.origin
        ));
        let from_file = matches!(
            self.user.effective.get("storage-driver"),
            Some((_, Origin::DaemonJson(_)))
        );
        if from_file && !pn.dind && self.facts.daemon.driver_maybe_older_dind_init {
            p.notes.push(format!(
                "daemon.json.bak (daemon.json before dind-init's last change) has no storage-driver: an older dind-init may have written {} there; it is kept as your choice — remove it from daemon.json to let dind-init choose",
                pn.name
            ));
        }
        // The user's pin wins, but never silently over data it cannot show.
        if let Some(x) = l
            .drivers_here
            .iter()
            .filter(|x| x.snapshotter == g.store && x.layers > 0 && x.driver != dr)
            .max_by_key(|x| x.layers)
        {
            p.warnings.push(format!(
                "{} holds {} layers made with {}, which storage driver {} (set by {}) does not show; they stay on disk in {}. To use them again, set DIND_STORAGE_DRIVER={}",
                l.data_home.display(),
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
        (Some(dr), pn.dind, pn.dind)
    }

    /// A pin that cannot work here: dind-init's choice runs instead, and says why.
    fn override_pin(&self, pn: &Pinned, dr: Driver, g: &Ground, p: &mut Plan) {
        // The pin is not what runs: the driver is dind-init's choice now.
        p.pinned_by = None;
        let why = if dr.needs_overlay() {
            format!("on {}: {}", g.words, g.loc.trial)
        } else {
            format!(
                "fuse-overlayfs cannot run here ({})",
                match (&self.facts.dev_fuse, &self.facts.fuse_overlayfs) {
                    (Err(e), _) => e.clone(),
                    _ => "fuse-overlayfs is not installed".into(),
                }
            )
        };
        let cost = g.best.cost();
        p.warnings.push(format!(
            "storage driver {} set by {} is overridden with {}: {why}{}",
            pn.name,
            pn.origin,
            g.best.name(),
            if cost.is_empty() {
                String::new()
            } else {
                format!("; {cost}")
            }
        ));
    }
}

/// A trial the volume stopped (full, read-only, I/O error) says nothing about overlay:
/// the driver is kept, and the trouble is named with its remedy.
fn blocked_warning(g: &Ground, driver: Option<Driver>, drivers_here: &[DriverData], p: &mut Plan) {
    if let Trial::Blocked {
        trouble,
        errno,
        call,
    } = &g.loc.trial
    {
        p.warnings.push(format!(
            "{}: the trial overlay mount on {} could not run ({call}: {errno}); storage driver {} is kept ({}): {}",
            trouble.words(),
            g.words,
            driver.map_or("(the user's)", Driver::name),
            match drivers_here.iter().any(|x| x.layers > 0) {
                true => "the driver the data was made with",
                false => "guessed from the filesystem",
            },
            trouble.remedy()
        ));
    }
}

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
    warnings.extend(hidden_data(&data, chosen, &dh.to_string()));
    chosen
}

/// One warning per other driver's data `chosen` does not show, with the way back to it.
fn hidden_data<'a>(
    data: &'a [&DriverData],
    chosen: Driver,
    dh: &'a str,
) -> impl Iterator<Item = String> + 'a {
    data.iter().filter(move |x| x.driver != chosen).map(move |x| {
        format!(
            "{dh} also holds {} layers made with {}, which storage driver {} does not show; they stay on disk in {}. To use them again: `docker save` what you need, then start with DIND_STORAGE_DRIVER={} and `docker load` it there (or the other way round)",
            x.layers,
            x.driver.name(),
            chosen.name(),
            x.path.display(),
            x.driver.name()
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn eff(pairs: &[(&str, Value)]) -> BTreeMap<String, (Value, Origin)> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    (
                        v.clone(),
                        Origin::DaemonJson("/etc/docker/daemon.json".into()),
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn containerd_store_default_and_overrides() {
        let v = |major| {
            Some(Version {
                major,
                minor: 0,
                patch: 0,
            })
        };
        let none = eff(&[]);
        let on = eff(&[(
            "features",
            serde_json::json!({"containerd-snapshotter": true}),
        )]);
        let off = eff(&[(
            "features",
            serde_json::json!({"containerd-snapshotter": false}),
        )]);
        assert!(!containerd_store_on(v(20), &none, None, false));
        assert!(!containerd_store_on(v(28), &none, None, false));
        assert!(containerd_store_on(v(29), &none, None, false));
        assert!(containerd_store_on(v(26), &on, None, false));
        assert!(!containerd_store_on(v(29), &off, None, false));
        assert!(!containerd_store_on(v(29), &none, Some("overlay2"), false));
        assert!(containerd_store_on(v(29), &none, Some("overlayfs"), false));
        assert!(
            !containerd_store_on(v(29), &none, None, true),
            "prior graphdriver layers"
        );
        assert!(containerd_store_on(v(29), &on, None, true));
        assert!(!containerd_store_on(None, &none, None, false));
    }
}
