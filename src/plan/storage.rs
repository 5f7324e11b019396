//! Where Docker's data goes: the strategy (leave /var/lib/docker, bind-mount
//! DATA_ROOT onto it, symlink it, or hand dockerd `data-root`), one function per
//! strategy, and the `Layout` every later step reads (dockerd's root, where the
//! data really lives, its filesystem, the layers already there).
//!
//! Must not: hide or move data /var/lib/docker holds (it is named, with the way
//! to move it, never mounted over under auto); choose a storage driver (that is
//! `driver`, on the layout decided here).

use super::Step;
use super::{outlives_pod, overlay_works, where_fs, Action, Ctx, Plan};
use crate::config::Strategy;
use crate::probe::{self, DataRootFrom, DriverData, Location, Trial};
use crate::reserve;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How DATA_ROOT becomes Docker's data directory in this plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Storage {
    Bind,
    Symlink,
    DataRoot,
    UserDataRoot,
    Already,
    Leave,
    Off,
}

/// /var/lib/docker as the strategies weigh it.
struct Here {
    /// It is a mount point of its own.
    own_mount: bool,
    /// Its filesystem type.
    fs: String,
    /// It is an emptyDir (deleted with the pod).
    ephemeral: bool,
    /// Left alone it is fine: DIND_DATA_ROOT is not set, it outlives the pod
    /// (or is its own mount no better volume should replace) and overlay works there.
    fine: bool,
    /// It and DATA_ROOT are on the same filesystem.
    same_fs: bool,
    /// It can become a symlink: not a mount, empty, its parent writable.
    can_symlink: bool,
}

/// Where Docker's data is, as every later step reads it.
pub(super) struct Layout<'a> {
    /// How DATA_ROOT became Docker's data directory.
    pub(super) storage: Storage,
    /// The data-root dockerd is given or defaults to (/var/lib/docker with bind/symlink).
    pub(super) docker_root: PathBuf,
    /// Where the data really lives.
    pub(super) data_home: PathBuf,
    /// `data_home`'s filesystem and overlay trial.
    pub(super) target: &'a Location,
    /// The layers each storage driver already left there.
    pub(super) drivers_here: &'a [DriverData],
}

impl<'a> Ctx<'a> {
    /// Decide where Docker's data goes and push the steps that put it there.
    pub(super) fn layout(&self, p: &mut Plan) -> Layout<'a> {
        let (storage, why) = self.storage(p);
        let layout = self.place(storage);
        let d = &self.facts.data_root;
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
        self.storage_steps(&layout, why, p);
        layout
    }

    /// The directories `storage` leaves Docker with.
    fn place(&self, storage: Storage) -> Layout<'a> {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let user_root = self
            .user
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
                let r = user_root.unwrap_or_else(|| vld.path.clone());
                (r.clone(), r, &vld.location, &vld.drivers)
            }
        };
        Layout {
            storage,
            docker_root,
            data_home,
            target,
            drivers_here,
        }
    }

    /// mkdir and lock the data's home, then bind-mount or symlink it (or say why not).
    fn storage_steps(&self, l: &Layout, why: String, p: &mut Plan) {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        if l.storage != Storage::Off {
            let mode = 0o710;
            let action = match d
                .owner
                .filter(|o| l.data_home == d.path && !o.is(0, 0, mode))
            {
                Some(was) => Action::SecureDir {
                    path: l.data_home.clone(),
                    mode,
                    was,
                },
                None => Action::CreateDir {
                    path: l.data_home.clone(),
                    mode,
                },
            };
            p.push(
                action,
                format!(
                    "Docker's data lives here, on {}; root-owned 0710 like dockerd's own data root",
                    where_fs(l.target)
                ),
            );
            p.push(
                Action::Lock {
                    path: l.data_home.join(".dind-init.lock"),
                },
                "held while dockerd runs: two pods sharing this volume must never run two daemons on one data directory",
            );
            if l.data_home == d.path {
                let on_disk = !probe::is_volatile_fs(&l.target.fs_type());
                reserve_steps(p, &l.data_home, d.reserve, on_disk);
            }
        }
        match l.storage {
            Storage::Bind => p.push(
                Action::BindMount {
                    src: d.path.clone(),
                    dst: vld.path.clone(),
                },
                why,
            ),
            Storage::Symlink => p.push(
                Action::Symlink {
                    target: d.path.clone(),
                    link: vld.path.clone(),
                },
                why,
            ),
            _ => p.notes.push(why),
        }
    }

    pub(super) fn user_value(&self, key: &str) -> Option<(&Value, String)> {
        self.user
            .effective
            .get(key)
            .map(|(v, o)| (v, o.to_string()))
    }

    /// How DATA_ROOT becomes Docker's data directory, and why: what is already
    /// settled first, then the strategy (one function each).
    pub(super) fn storage(&self, p: &mut Plan) -> (Storage, String) {
        if let Some(settled) = self.settled(p) {
            return settled;
        }
        let here = self.var_lib_docker(p);
        if let Some(t) = &self.facts.var_lib_docker.symlink {
            return self.pointed_elsewhere(t, &here, p);
        }
        match self.cfg.strategy {
            Strategy::Auto => self.auto(&here, p),
            Strategy::Bind => self.bind(&here, p),
            Strategy::Symlink => self.symlink(&here, p),
            Strategy::DataRoot | Strategy::Off => (
                Storage::DataRoot,
                format!(
                    "DIND_STRATEGY=data-root: dockerd gets data-root {}",
                    self.facts.data_root.path.display()
                ),
            ),
        }
    }

    /// What needs no strategy: DIND_STRATEGY=off, the user's own data-root,
    /// DIND_DATA_ROOT over it, a bind or symlink from an earlier start, DATA_ROOT
    /// being /var/lib/docker itself.
    fn settled(&self, p: &mut Plan) -> Option<(Storage, String)> {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let (dp, vp) = (d.path.display(), vld.path.display());
        if self.cfg.strategy == Strategy::Off {
            return Some((
                Storage::Off,
                "DIND_STRATEGY=off: Docker's data directory is left exactly as it is".into(),
            ));
        }
        if d.from == DataRootFrom::DaemonConfig {
            return Some((
                Storage::UserDataRoot,
                format!("{}: dockerd already keeps its data in {dp}", d.why),
            ));
        }
        if d.from == DataRootFrom::Setting {
            if let Some((Value::String(theirs), origin)) = self.user_value("data-root") {
                if Path::new(theirs) != d.path {
                    p.warnings.push(format!(
                        "DIND_DATA_ROOT={dp} overrides data-root {theirs} set in {origin}; the data in {theirs} is left untouched"
                    ));
                    return Some((
                        Storage::DataRoot,
                        format!("DIND_DATA_ROOT overrides the data-root in {origin}"),
                    ));
                }
            }
        }
        if vld.bind_of_data_root {
            return Some((
                Storage::Already,
                format!("{vp} is already a bind mount of {dp} (dind-init ran before in this pod): nothing to mount"),
            ));
        }
        if vld.symlink.as_deref().is_some_and(|t| t == d.path) {
            return Some((
                Storage::Already,
                format!("{vp} is already a symlink to {dp}: nothing to change"),
            ));
        }
        if d.path == vld.path {
            return Some((Storage::Leave, format!("DATA_ROOT is {vp} itself")));
        }
        None
    }

    /// What /var/lib/docker is like, as every strategy weighs it.
    fn var_lib_docker(&self, p: &mut Plan) -> Here {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let own_mount = vld.mount.is_some();
        let fs = vld.location.fs_type();
        // An empty emptyDir at /var/lib/docker (the usual DinD recipe) dies with
        // the pod; a DATA_ROOT on a real volume where overlay works is better.
        let ephemeral = vld.mount.as_ref().is_some_and(probe::is_ephemeral_volume);
        let pvc_better = ephemeral
            && !vld.has_data
            && outlives_pod(&d.location)
            && overlay_works(&d.location.trial, &d.location.fs_type()).0 == Some(true);
        let keeps = if own_mount {
            !pvc_better
        } else {
            outlives_pod(&vld.location)
        };
        if pvc_better {
            p.notes.push(format!(
                "{} is an emptyDir (deleted with the pod) and empty: dind-init puts DATA_ROOT over it so images and volumes outlive the pod",
                vld.path.display()
            ));
        }
        let (tried, guess) = overlay_works(&vld.location.trial, &fs);
        Here {
            own_mount,
            ephemeral,
            // Left alone when DIND_DATA_ROOT is not set, it keeps the data and overlay works.
            fine: self.cfg.data_root.is_none() && keeps && tried.unwrap_or(guess),
            same_fs: matches!(
                (&vld.location.mount, &d.location.mount),
                (Some(a), Some(b)) if a.id == b.id
            ),
            can_symlink: !own_mount && !vld.has_data && vld.parent_writable,
            fs,
        }
    }

    /// /var/lib/docker is a symlink elsewhere, put there on purpose: a bind would
    /// land on the target, so it is left, or dockerd gets DATA_ROOT as data-root.
    fn pointed_elsewhere(&self, t: &Path, here: &Here, p: &mut Plan) -> (Storage, String) {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let (dp, vp, t) = (d.path.display(), vld.path.display(), t.display());
        if here.fine {
            return (
                Storage::Leave,
                format!(
                    "{vp} is a symlink to {t} on {}: {}; DIND_DATA_ROOT is not set, so dind-init leaves it",
                    where_fs(&vld.location),
                    vld.location.trial
                ),
            );
        }
        p.warnings.push(format!(
            "{vp} is a symlink to {t}, which dind-init does not replace; dockerd gets data-root {dp} instead (remove the symlink to let dind-init manage {vp})"
        ));
        (
            Storage::DataRoot,
            format!("{vp} is a symlink to {t}, so dockerd gets data-root {dp}"),
        )
    }

    /// DIND_STRATEGY=auto: leave a /var/lib/docker that keeps data and mounts overlay,
    /// never hide data, else bind, else symlink, else data-root.
    fn auto(&self, here: &Here, p: &mut Plan) -> (Storage, String) {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let (dp, vp) = (d.path.display(), vld.path.display());
        if here.fine {
            return self.leave(here, p);
        }
        if self.cfg.data_root.is_none() && here.same_fs {
            p.warnings.push(format!(
                "no persistent volume found: DATA_ROOT {dp} ({}) is on the same filesystem as {vp} ({}), so Docker's data is lost with the pod; mount a PersistentVolume at the devpod user's home or set DIND_DATA_ROOT",
                d.why,
                where_fs(&vld.location)
            ));
            return (
                Storage::Leave,
                format!(
                    "DATA_ROOT {dp} is on the same filesystem as {vp}: moving it gains nothing"
                ),
            );
        }
        if vld.has_data {
            p.warnings
                .push(migration_warning(&vld.path, &d.path, &here.fs));
            return (
                Storage::DataRoot,
                format!("{vp} already holds data and dind-init never hides it, so dockerd gets data-root {dp}"),
            );
        }
        if self.facts.cap_sys_admin {
            return (Storage::Bind, self.bind_reason());
        }
        if here.can_symlink {
            return (
                Storage::Symlink,
                format!(
                    "no CAP_SYS_ADMIN to bind-mount, so {vp} becomes a symlink to {dp} (on {})",
                    where_fs(&d.location)
                ),
            );
        }
        (
            Storage::DataRoot,
            format!("no CAP_SYS_ADMIN to bind-mount and {vp} cannot be replaced by a symlink, so dockerd gets data-root {dp}"),
        )
    }

    /// /var/lib/docker stays: its own mount or a lasting filesystem where overlay
    /// works; a tmpfs or an emptyDir holding data is warned about.
    fn leave(&self, here: &Here, p: &mut Plan) -> (Storage, String) {
        let vld = &self.facts.var_lib_docker;
        let vp = vld.path.display();
        let what = match &vld.mount {
            Some(_) => format!("its own mount ({})", where_fs(&vld.location)),
            None => format!("on {}, which outlives the pod", where_fs(&vld.location)),
        };
        if here.fs == "tmpfs" {
            p.warnings.push(format!(
                "{vp} is tmpfs: images, containers and volumes are lost when the pod stops, and they use RAM; set DIND_DATA_ROOT to a directory on a PersistentVolume to keep them"
            ));
        } else if here.ephemeral {
            p.warnings.push(format!(
                "{vp} is an emptyDir: images, containers and volumes are lost when the pod is deleted; it holds data now, so dind-init leaves it (with dockerd stopped, move it onto a PersistentVolume and set DIND_DATA_ROOT there)"
            ));
        }
        (
            Storage::Leave,
            format!(
                "{vp} is {what}: {}; DIND_DATA_ROOT is not set, so dind-init leaves it",
                vld.location.trial
            ),
        )
    }

    /// DIND_STRATEGY=bind: a bind mount, even over data (hidden, never deleted);
    /// without CAP_SYS_ADMIN a symlink or data-root instead.
    fn bind(&self, here: &Here, p: &mut Plan) -> (Storage, String) {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let (dp, vp) = (d.path.display(), vld.path.display());
        if !self.facts.cap_sys_admin {
            let (s, how) = if here.can_symlink {
                (Storage::Symlink, format!("a symlink {vp} -> {dp}"))
            } else {
                (Storage::DataRoot, format!("data-root {dp}"))
            };
            p.warnings.push(format!(
                "DIND_STRATEGY=bind needs CAP_SYS_ADMIN, which this container lacks; using {how} instead"
            ));
            return (
                s,
                "DIND_STRATEGY=bind is impossible without CAP_SYS_ADMIN".into(),
            );
        }
        if vld.has_data {
            p.warnings.push(format!(
                "DIND_STRATEGY=bind hides what {vp} holds (it is not deleted: unmount {vp} to see it again); {}",
                migration_command(&vld.path, &d.path)
            ));
        }
        (
            Storage::Bind,
            format!("DIND_STRATEGY=bind; {}", self.bind_reason()),
        )
    }

    /// DIND_STRATEGY=symlink: a symlink when /var/lib/docker can be replaced, else data-root.
    fn symlink(&self, here: &Here, p: &mut Plan) -> (Storage, String) {
        let (d, vld) = (&self.facts.data_root, &self.facts.var_lib_docker);
        let (dp, vp) = (d.path.display(), vld.path.display());
        if here.can_symlink {
            return (
                Storage::Symlink,
                format!("DIND_STRATEGY=symlink: {vp} becomes a symlink to {dp}"),
            );
        }
        let why = if here.own_mount {
            format!("{vp} is a mount point")
        } else if vld.has_data {
            format!("{vp} holds data, which dind-init never replaces")
        } else {
            format!(
                "{} is not writable",
                vld.path.parent().unwrap_or(Path::new("/")).display()
            )
        };
        p.warnings.push(format!(
            "DIND_STRATEGY=symlink is impossible ({why}); dockerd gets data-root {dp} instead"
        ));
        if vld.has_data {
            p.warnings
                .push(migration_warning(&vld.path, &d.path, &here.fs));
        }
        (
            Storage::DataRoot,
            format!("{why}, so dockerd gets data-root {dp}"),
        )
    }

    pub(super) fn bind_reason(&self) -> String {
        let f = self.facts;
        let (d, vld) = (&f.data_root, &f.var_lib_docker);
        let why_not_here = match &vld.location.trial {
            Trial::Failed { .. } => vld.location.trial.to_string(),
            _ => "it does not outlive the pod".to_string(),
        };
        format!(
            "{} is on {}: {why_not_here}; DATA_ROOT {} ({}) is on {}: {}",
            vld.path.display(),
            where_fs(&vld.location),
            d.path.display(),
            d.why,
            where_fs(&d.location),
            d.location.trial
        )
    }
}

pub(super) fn migration_command(vld: &Path, d: &Path) -> String {
    format!(
        "to move it, stop dockerd and run `mv {}/* {}/`",
        vld.display(),
        d.display()
    )
}

pub(super) fn migration_warning(vld: &Path, d: &Path, fs: &str) -> String {
    format!(
        "{} already holds Docker data on {fs}; dind-init leaves it in place (nothing is deleted) and uses {} — {}, then restart the pod",
        vld.display(),
        d.display(),
        migration_command(vld, d)
    )
}

/// The reserve's [`reserve::Decision`] as an action with its reason, or a note
/// or warning, for the reserve in `data_root` (the directory dind-init locks and owns).
pub(super) fn reserve_steps(p: &mut Plan, data_root: &Path, r: reserve::Reserve, on_disk: bool) {
    let path = data_root.join(reserve::NAME);
    let dir = data_root.display();
    let free = reserve::size_words(r.free.unwrap_or(0));
    let step = |action, reason: String| Step { action, reason };
    match reserve::decide(r, on_disk) {
        reserve::Decision::Take { bytes } => {
            let topup = if bytes < reserve::SIZE {
                format!(", {} of it still to allocate", reserve::size_words(bytes))
            } else {
                String::new()
            };
            p.steps.push(step(
                Action::TakeReserve { path, bytes: reserve::SIZE },
                format!(
                    "keep {} of dind-init's own as a reserve on {dir} ({free} free{topup}): should the volume fill up, the next start releases it so dockerd can still start",
                    reserve::size_words(reserve::SIZE)
                ),
            ))
        }
        reserve::Decision::Release { bytes } => p.steps.push(step(
            Action::ReleaseReserve { path },
            format!(
                "release dind-init's {} reserve on {dir}: the volume is full ({free} free), so dockerd can start; free space, then the next start takes the reserve again",
                reserve::size_words(bytes)
            ),
        )),
        reserve::Decision::Keep => p.notes.push(format!(
            "dind-init's {} reserve on {dir} is kept ({free} free): it is released if the volume fills up, so dockerd can still start",
            reserve::size_words(reserve::SIZE)
        )),
        reserve::Decision::FullWithout => p.warnings.push(format!(
            "volume full: {free} free on {dir} and dind-init's reserve is already released; {}",
            probe::Trouble::VolumeFull.remedy()
        )),
        reserve::Decision::Without => p.notes.push(format!(
            "no reserve on {dir} ({free} free): dind-init takes {} once {} are free there",
            reserve::size_words(reserve::SIZE),
            reserve::size_words(reserve::SIZE + reserve::ROOM)
        )),
        reserve::Decision::Foreign => p.warnings.push(format!(
            "{} is not a regular file, so it is not dind-init's reserve and is left alone; remove it to let dind-init keep a reserve there",
            path.display()
        )),
        reserve::Decision::Unknown => {}
    }
}
