//! Plan: a pure function of [`Facts`](crate::probe::Facts) and [`Config`](crate::config::Config)
//! that says, as data, what `apply` and `dockerd` will do and why.
//!
//! `dind-init plan` and `doctor` print exactly this value, so what they explain
//! is what happens; doctor reads its answers (driver, image store, pools) from
//! here and never decides them again.
//!
//! This module owns the types ([`Plan`], [`Step`], [`Action`]) and
//! `plan_with`: the decisions in order, each made once in its own file:
//! `storage` where Docker's data goes, `driver` the image store and the
//! storage driver, `containerd` which containerd dockerd uses, `daemon` the
//! daemon settings and dockerd's start; `render` the text.
//!
//! Must not: read a file, run a program, or look at the clock (the facts hold
//! all of that); import `apply`, `session` or `init` (they come after it).

use crate::config::Config;
pub use crate::config::Driver;
use crate::error::Result;
use crate::netpool;
use crate::probe::{self, Facts, Location, Trial};
use crate::proof::{self, SmokePlan};
use crate::settings::{self, Merged, UserSettings, Wanted};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

mod containerd;
mod daemon;
mod driver;
mod host;
mod render;
mod storage;

pub use containerd::{containerd_config_version, containerd_toml};
use daemon::{stale_pidfile_steps, tls_steps};
use driver::pinned;

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
    /// The directory exists with `was` (another owner or mode): apply makes it
    /// root-owned with `mode`, exactly as [`Action::CreateDir`] does for an existing one.
    SecureDir {
        path: PathBuf,
        mode: u32,
        was: probe::Owner,
    },
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
    /// Allocate dind-init's reserve file (`bytes` long, fallocate'd, never through
    /// a link) in the data root: see [`crate::reserve`].
    TakeReserve { path: PathBuf, bytes: u64 },
    /// Remove dind-init's reserve file: the volume is full and dockerd needs the space.
    ReleaseReserve { path: PathBuf },
    /// Make `user` a member of `group` in /etc/group (the group is added when
    /// missing); every other line is kept byte for byte.
    JoinGroup { user: String, group: String },
    /// As PID 1 on cgroup v2: move the pod's processes into a leaf under `root`
    /// and enable every controller for containers (moby's dind recipe).
    NestCgroup { root: PathBuf },
    /// Record where the start is (starting, ready, failed, stopping) in `path`
    /// for `dind-init status`; the session writes it at each phase.
    RecordState { path: PathBuf },
    /// After Docker answers and storage proved itself: cache `version` (the
    /// second line of `program --version`'s cache) in `path` for the next start,
    /// keyed by the binary's path, size and mtime.
    CacheVersion {
        path: PathBuf,
        program: String,
        version: String,
    },
    /// After the smoke test passed: record the identity it passed on (issue 15),
    /// so a later start of exactly this identity skips the test.
    RecordProof { path: PathBuf, content: String },
}

impl Action {
    /// The shell-like line `dind-init plan` shows for this action.
    pub fn render(&self) -> String {
        render::render_action(self)
    }

    /// Done only once Docker answers and its storage proved itself, not with
    /// the steps before the daemons start.
    pub fn after_ready(&self) -> bool {
        matches!(
            self,
            Action::CacheVersion { .. } | Action::RecordProof { .. }
        )
    }
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

/// Where dockerd keeps images: decided once, by the plan (the containerd image store
/// is Docker 29's default, unless a graphdriver is named or its layers are on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageStore {
    /// Graphdrivers (overlay2, fuse-overlayfs, vfs), as before Docker 29.
    Graphdriver,
    /// containerd's snapshotters (overlayfs, native).
    Containerd,
}

impl std::fmt::Display for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageStore::Graphdriver => "graphdriver",
            ImageStore::Containerd => "containerd image store",
        })
    }
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
    /// The image store dockerd uses (None when dockerd is not started).
    pub image_store: Option<ImageStore>,
    /// Smoke test or storage proof after Docker answers (issue 15); None without dockerd.
    pub smoke: Option<SmokePlan>,
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
            image_store: None,
            smoke: None,
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
    if let Some(f) = facts.daemon.foreign_pidfiles.first() {
        return Err(f.to_error());
    }
    let user = settings::read(&facts.daemon.sources(cfg))?;
    let mut p = plan_with(facts, cfg, &user, settings::merge)?;
    let storage_opts = user
        .effective
        .get("storage-opts")
        .map(|(v, _)| v.to_string());
    p.smoke = Some(smoke_plan(facts, &p, storage_opts.unwrap_or_default()));
    host::proof_step(&mut p);
    Ok(p)
}

/// Smoke test or proof: the identity of this start (with dockerd's arguments and the
/// user's storage-opts, which change how layers mount) against the proof found.
fn smoke_plan(facts: &Facts, p: &Plan, storage_opts: String) -> SmokePlan {
    let args = p.steps.iter().find_map(|s| match &s.action {
        Action::StartDockerd { argv, .. } => Some(argv.join(" ")),
        _ => None,
    });
    let dr = &facts.data_root;
    let below = proof::Below {
        data_root: &dr.path,
        mount: dr.location.mount.as_ref(),
        dockerd: facts
            .dockerd
            .version
            .as_ref()
            .map(ToString::to_string)
            .map_err(Clone::clone),
        containerd: facts
            .containerd_version
            .as_ref()
            .map(ToString::to_string)
            .map_err(Clone::clone),
        kernel: &facts.kernel,
        binaries: &facts.storage_proof.binaries,
        containerd_store: p.image_store == Some(ImageStore::Containerd),
    };
    let containerd = match p.containerd {
        Some(ContainerdUse::Managed) => Some(proof::Containerd::Managed),
        Some(ContainerdUse::Separate { .. }) => Some(proof::Containerd::Separate),
        Some(ContainerdUse::External { .. }) | None => None,
    };
    let id = proof::identity(
        &below,
        p.driver,
        p.data_root.as_deref(),
        containerd,
        [
            ("dockerd-args", args.unwrap_or_default()),
            ("storage-opts", storage_opts),
        ],
    );
    let file = facts.data_root.path.join(proof::PROOF_FILE);
    proof::decide(facts.storage_proof.text.as_deref(), id, &file)
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

/// Overlay mounts work at `loc`: Some(result) from the trial; None when it was not
/// tried, then `guess` holds the guess from the filesystem type.
fn overlay_works(t: &Trial, loc_fs: &str) -> (Option<bool>, bool) {
    match t {
        Trial::Ok => (Some(true), true),
        Trial::Failed { .. } => (Some(false), false),
        Trial::Blocked { .. } | Trial::NotTried { .. } => (None, !probe::is_volatile_fs(loc_fs)),
    }
}

/// What every step reads: the facts, the config and the user's own settings.
struct Ctx<'a> {
    facts: &'a Facts,
    cfg: &'a Config,
    user: &'a UserSettings,
}

/// The plan as a sequence of named decisions, each made once, in its own module.
fn plan_with(
    facts: &Facts,
    cfg: &Config,
    user: &UserSettings,
    merge: impl Fn(&UserSettings, &[Wanted]) -> Result<Merged>,
) -> Result<Plan> {
    let mut p = Plan::empty();
    let ctx = Ctx { facts, cfg, user };
    p.steps.extend(own_home(facts));
    let layout = ctx.layout(&mut p);
    let pin = pinned(cfg, user);
    let store = ctx.image_store(&layout, pin.as_ref(), &mut p);
    let containerd = ctx.containerd_use(store, &layout.docker_root, &mut p);
    let chosen = ctx.storage_driver(&layout, store, &containerd, pin.as_ref(), &mut p);
    let wanted = ctx.wanted(&layout, chosen.setting.clone(), &mut p);
    let merged = ctx.write_settings(&wanted, merge, &mut p)?;
    tls_steps(facts, cfg, &mut p)?;
    p.steps.extend(stale_pidfile_steps(facts));
    let containerd_flag = ctx.start_containerd(&containerd, &layout.docker_root, &mut p);
    ctx.start_dockerd(
        &merged,
        containerd_flag,
        chosen.driver,
        &layout.data_home,
        &mut p,
    );
    host::steps(facts, cfg, &mut p);
    p.driver = chosen.driver;
    p.data_root = Some(layout.data_home);
    p.docker_root = Some(layout.docker_root);
    p.containerd = Some(containerd);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ContainerdMode, Strategy, UserSpec};
    use crate::probe::{
        Account, CgroupVersion, DaemonFiles, DataRoot, DataRootFrom, Dockerd, DriverData, FsKind,
        Mount, Mtu, Trouble, VarLibDocker, Version,
    };
    use crate::reserve;
    use render::sh;
    use std::path::Path;
    use std::time::Duration;
    use storage::reserve_steps;

    const D: &str = "/home/coder/.docker-data";
    const VLD: &str = "/var/lib/docker";

    fn mounts(name: &str) -> Vec<Mount> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mountinfo")
            .join(name);
        probe::parse_mountinfo(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn einval(dir: &str) -> Trial {
        Trial::Failed {
            errno: "EINVAL".into(),
            call: format!(
                "mount src=overlay dst={dir}/.dind-init-trial-1/merged flags=0 data=lowerdir={dir}/.dind-init-trial-1/lower,upperdir={dir}/.dind-init-trial-1/upper,workdir={dir}/.dind-init-trial-1/work"
            ),
        }
    }

    fn no_cap() -> Trial {
        Trial::NotTried {
            why: "no CAP_SYS_ADMIN: this process cannot mount".into(),
        }
    }

    /// The facts of `path` (probed at `probed`) as the probe would record them on `m`.
    fn loc(m: &[Mount], path: &str, probed: &str, trial: Trial) -> Location {
        let mount = probe::mount_for(m, Path::new(probed)).cloned();
        Location {
            path: path.into(),
            probed: probed.into(),
            fs: Ok(FsKind {
                magic: 0,
                name: mount
                    .as_ref()
                    .map(|x| x.fs_type.clone())
                    .unwrap_or_default(),
            }),
            mount,
            free_bytes: Ok(50 << 30),
            d_type: Ok(true),
            trial,
        }
    }

    fn version(major: u32) -> Version {
        Version {
            major,
            minor: if major == 20 { 10 } else { 1 },
            patch: 5,
        }
    }

    /// The containerd Debian ships beside Docker `major`: bookworm 1.6, trixie 1.7, sid 2.1.
    fn containerd_of(major: u32) -> Version {
        let (major, minor) = match major {
            ..=20 => (1, 6),
            21..=27 => (1, 7),
            _ => (2, 1),
        };
        Version {
            major,
            minor,
            patch: 9,
        }
    }

    /// The seed's pod: 26-layer overlay root, Longhorn ext4 PVC on /home/coder, Docker `major`.
    fn seed(major: u32) -> Facts {
        let m = mounts("k3s-devpod.txt");
        Facts {
            euid: 0,
            cap_sys_admin: true,
            cgroup: CgroupVersion::V2,
            kernel: Ok("6.8.0-1017-aws".into()),
            dev_fuse: Ok(()),
            fuse_overlayfs: Some("/usr/bin/fuse-overlayfs".into()),
            containerd_bin: Some("/usr/bin/containerd".into()),
            containerd_version: Ok(containerd_of(major)),
            dockerd: Dockerd {
                program: "dockerd".into(),
                version: Ok(version(major)),
            },
            daemon: DaemonFiles {
                exec_root: "/var/run/docker".into(),
                pidfile: "/var/run/docker.pid".into(),
                ..DaemonFiles::default()
            },
            user: Ok(Account {
                name: "coder".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/coder".into(),
                home_owner: Some(1000),
            }),
            data_root: DataRoot {
                path: D.into(),
                from: DataRootFrom::Home,
                why: "home of coder + /.docker-data".into(),
                exists: false,
                owner: None,
                has_data: false,
                drivers: Vec::new(),
                location: loc(&m, D, "/home/coder", Trial::Ok),
                reserve: crate::reserve::Reserve {
                    found: crate::reserve::Found::Absent,
                    free: None,
                },
            },
            volumes: vec!["/home/coder".into()],
            var_lib_docker: VarLibDocker {
                path: VLD.into(),
                exists: false,
                symlink: None,
                mount: None,
                bind_of_data_root: false,
                has_data: false,
                drivers: Vec::new(),
                location: loc(&m, VLD, "/var/lib", einval("/var/lib")),
                parent_writable: true,
            },
            var_lib_containerd: None,
            containerd_socket: "/run/containerd/containerd.sock".into(),
            containerd_serving: false,
            stale_pidfiles: Vec::new(),
            mtu: None,
            pod_nets: Default::default(),
            tls: None,
            storage_proof: crate::proof::Found {
                text: None,
                binaries: Ok("/usr/sbin/dockerd 1 2.0 /usr/bin/containerd 3 4.0".into()),
            },
            mounts: Ok(m),
        }
    }

    fn cfg() -> Config {
        Config {
            user: Some(UserSpec::Name("coder".into())),
            ..Config::default()
        }
    }

    /// The kinds of the storage and daemon steps (the host steps have their own tests).
    fn kinds(p: &Plan) -> Vec<&'static str> {
        p.steps
            .iter()
            .filter_map(|s| match s.action {
                Action::CreateDir { .. } | Action::SecureDir { .. } => Some("mkdir"),
                Action::Lock { .. } => Some("lock"),
                Action::BindMount { .. } => Some("bind"),
                Action::Symlink { .. } => Some("symlink"),
                Action::WriteFile { .. } => Some("write"),
                Action::RemoveStalePidfile { .. } => Some("rm-pidfile"),
                Action::OwnHome { .. } => Some("own-home"),
                Action::StartContainerd { .. } => Some("containerd"),
                Action::StartDockerd { .. } => Some("dockerd"),
                Action::Tls { .. } => Some("tls"),
                Action::TakeReserve { .. } => Some("take-reserve"),
                Action::ReleaseReserve { .. } => Some("release-reserve"),
                Action::JoinGroup { .. }
                | Action::NestCgroup { .. }
                | Action::RecordState { .. }
                | Action::CacheVersion { .. }
                | Action::RecordProof { .. } => None,
            })
            .collect()
    }

    /// daemon.json as the plan writes it (None when it is not written).
    fn daemon_json(p: &Plan) -> Option<serde_json::Map<String, Value>> {
        p.steps.iter().find_map(|s| match &s.action {
            Action::WriteFile { path, content } if path.ends_with("daemon.json") => {
                serde_json::from_str(content).ok()
            }
            _ => None,
        })
    }

    fn dockerd_argv(p: &Plan) -> Vec<String> {
        p.steps
            .iter()
            .find_map(|s| match &s.action {
                Action::StartDockerd { argv, .. } => Some(argv.clone()),
                _ => None,
            })
            .unwrap()
    }

    fn has(list: &[String], needle: &str) -> bool {
        list.iter().any(|w| w.contains(needle))
    }

    const SEPARATE: [&str; 4] = ["mkdir", "write", "containerd", "dockerd"];

    fn seq(parts: &[&[&'static str]]) -> Vec<&'static str> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    struct Row {
        name: &'static str,
        facts: Facts,
        cfg: Config,
        kinds: Vec<&'static str>,
        driver: Option<Driver>,
        warn: &'static [&'static str],
        note: &'static [&'static str],
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table: one row per case, read as data
    fn table() {
        let storage = ["mkdir", "lock"];
        let mut rows = Vec::new();

        rows.push(Row {
            name: "seed k3s pod, Docker 20.10: bind the PVC's .docker-data, overlay2",
            facts: seed(20),
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &[],
        });

        rows.push(Row {
            name: "seed k3s pod, Docker 29 (containerd image store): overlayfs on the PVC",
            facts: seed(29),
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Overlayfs),
            warn: &[],
            note: &["containerd image store is on"],
        });

        let host = mounts("docker-host.txt");
        let mut f = seed(20);
        f.user = Ok(Account {
            name: "root".into(),
            uid: 0,
            gid: 0,
            home: "/root".into(),
            home_owner: Some(0),
        });
        f.data_root.path = "/root/.docker-data".into();
        f.data_root.location = loc(&host, "/root/.docker-data", "/root", Trial::Ok);
        f.var_lib_docker.exists = true;
        f.var_lib_docker.has_data = true;
        f.var_lib_docker.location = loc(&host, VLD, VLD, Trial::Ok);
        f.volumes.clear();
        f.mounts = Ok(host);
        rows.push(Row {
            name: "plain docker host: /var/lib/docker on ext4 works, left alone",
            facts: f,
            cfg: Config::default(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &["leaves it"],
        });

        let tm = mounts("tmpfs-var-lib-docker.txt");
        let mut f = seed(20);
        f.var_lib_docker.exists = true;
        f.var_lib_docker.mount = probe::mount_at(&tm, Path::new(VLD)).cloned();
        f.var_lib_docker.location = loc(&tm, VLD, VLD, Trial::Ok);
        f.mounts = Ok(tm);
        rows.push(Row {
            name: "tmpfs /var/lib/docker passes the trial: left alone, with a warning",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &["is tmpfs"],
            note: &["its own mount"],
        });

        let em = mounts("k3s-emptydir-docker.txt");
        let mut f = seed(20);
        f.var_lib_docker.exists = true;
        f.var_lib_docker.mount = probe::mount_at(&em, Path::new(VLD)).cloned();
        f.var_lib_docker.location = loc(&em, VLD, VLD, Trial::Ok);
        f.mounts = Ok(em.clone());
        rows.push(Row {
            name:
                "empty emptyDir at /var/lib/docker beside a PVC: the PVC's DATA_ROOT goes over it",
            facts: f.clone(),
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &["is an emptyDir (deleted with the pod) and empty"],
        });
        f.var_lib_docker.has_data = true;
        rows.push(Row {
            name: "emptyDir at /var/lib/docker holding data: never hidden, left with a warning",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &["is an emptyDir", "holds data now"],
            note: &["its own mount"],
        });

        let rs = mounts("pod-restart.txt");
        let mut f = seed(20);
        let vm = probe::mount_at(&rs, Path::new(VLD)).cloned().unwrap();
        assert!(probe::is_bind_of(&rs, &vm, Path::new(D)));
        f.var_lib_docker.exists = true;
        f.var_lib_docker.mount = Some(vm);
        f.var_lib_docker.bind_of_data_root = true;
        f.var_lib_docker.has_data = true;
        f.var_lib_docker.location = loc(&rs, VLD, VLD, Trial::Ok);
        f.data_root.exists = true;
        f.data_root.has_data = true;
        f.mounts = Ok(rs);
        rows.push(Row {
            name: "pod restart: /var/lib/docker already a bind of DATA_ROOT, no mount action",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &["already a bind mount"],
        });

        let po = mounts("pvc-overlay.txt");
        let pvc_overlay = |fuse: bool, major: u32| {
            let mut f = seed(major);
            f.data_root.location = loc(&po, D, "/home/coder", einval("/home/coder"));
            f.volumes.clear();
            if !fuse {
                f.dev_fuse = Err("open /dev/fuse: No such file or directory (os error 2)".into());
            }
            f.mounts = Ok(po.clone());
            f
        };
        rows.push(Row {
            name: "PVC itself overlay: no fix possible, fuse-overlayfs with a warning",
            facts: pvc_overlay(true, 20),
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::FuseOverlayfs),
            warn: &["fuse-overlayfs runs in userspace", "EINVAL"],
            note: &[],
        });
        rows.push(Row {
            name: "PVC overlay and no /dev/fuse: vfs, and what it costs",
            facts: pvc_overlay(false, 20),
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Vfs),
            warn: &["full copy", "fuse-overlayfs is impossible"],
            note: &[],
        });
        rows.push(Row {
            name: "PVC overlay with the containerd store: native, never fuse",
            facts: pvc_overlay(true, 29),
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Native),
            warn: &["full copy", "not used with the containerd image store"],
            note: &[],
        });

        let mut f = seed(20);
        f.cap_sys_admin = false;
        f.euid = 0;
        f.data_root.location.trial = no_cap();
        f.var_lib_docker.location.trial = no_cap();
        rows.push(Row {
            name: "no CAP_SYS_ADMIN: symlink, overlay2 guessed from ext4",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["symlink", "write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &["guessed from its filesystem (ext4)"],
        });

        let mut f = seed(20);
        f.cap_sys_admin = false;
        f.var_lib_docker.parent_writable = false;
        f.data_root.location.trial = no_cap();
        f.var_lib_docker.location.trial = no_cap();
        rows.push(Row {
            name: "no CAP_SYS_ADMIN and /var/lib read-only: data-root",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &["cannot be replaced by a symlink"],
        });

        let mut f = seed(20);
        f.var_lib_docker.exists = true;
        f.var_lib_docker.has_data = true;
        f.var_lib_docker.drivers = vec![DriverData {
            driver: Driver::Vfs,
            snapshotter: false,
            path: "/var/lib/docker/vfs/dir".into(),
            layers: 9,
            newest: 0,
        }];
        rows.push(Row {
            name: "/var/lib/docker holds data on the overlay: data-root + migration command",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &["mv /var/lib/docker/* /home/coder/.docker-data/"],
            note: &["never hides it"],
        });

        let mut f = seed(20);
        f.data_root.exists = true;
        f.data_root.has_data = true;
        f.data_root.drivers = vec![DriverData {
            driver: Driver::Vfs,
            snapshotter: false,
            path: "/home/coder/.docker-data/vfs/dir".into(),
            layers: 12,
            newest: 0,
        }];
        rows.push(Row {
            name: "DATA_ROOT holds vfs data: keep vfs",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Vfs),
            warn: &["keeping vfs", "hide every image"],
            note: &[],
        });

        let mut f = seed(20);
        f.data_root.exists = true;
        f.data_root.has_data = true;
        f.data_root.drivers = vec![DriverData {
            driver: Driver::Vfs,
            snapshotter: false,
            path: "/home/coder/.docker-data/vfs/dir".into(),
            layers: 12,
            newest: 0,
        }];
        let mut c = cfg();
        c.storage_driver = Some(Driver::Overlay2);
        rows.push(Row {
            name: "pinned overlay2 over vfs data: the pin wins, but not silently",
            facts: f,
            cfg: c,
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &[
                "holds 12 layers made with vfs, which storage driver overlay2 (set by DIND_STORAGE_DRIVER) does not show",
                "DIND_STORAGE_DRIVER=vfs",
            ],
            note: &["storage driver overlay2 is set by DIND_STORAGE_DRIVER"],
        });

        let mut c = cfg();
        c.storage_driver = Some(Driver::Overlay2);
        rows.push(Row {
            name: "pinned overlay2 on an overlay PVC: overridden with fuse-overlayfs, and why",
            facts: pvc_overlay(true, 20),
            cfg: c,
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::FuseOverlayfs),
            warn: &[
                "storage driver overlay2 set by DIND_STORAGE_DRIVER is overridden with fuse-overlayfs",
                "EINVAL",
            ],
            note: &[],
        });

        let mut c = cfg();
        c.storage_driver = Some(Driver::Vfs);
        rows.push(Row {
            name: "pinned vfs on a good PVC: respected",
            facts: seed(20),
            cfg: c,
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Vfs),
            warn: &["full copy"],
            note: &["storage driver vfs is set by DIND_STORAGE_DRIVER"],
        });

        let mut f = seed(29);
        f.containerd_serving = true;
        let m = mounts("k3s-devpod.txt");
        f.var_lib_containerd = Some(loc(
            &m,
            "/var/lib/containerd",
            "/var/lib",
            einval("/var/lib"),
        ));
        rows.push(Row {
            name: "containerd store + external containerd on overlay: our own containerd instead",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write"], &SEPARATE]),
            driver: Some(Driver::Overlayfs),
            warn: &["starts its own containerd", "/var/lib/containerd"],
            note: &[],
        });

        let mut f = seed(29);
        f.containerd_serving = true;
        f.var_lib_containerd = Some(loc(
            &mounts("docker-host.txt"),
            "/var/lib/containerd",
            "/var/lib/containerd",
            Trial::Ok,
        ));
        rows.push(Row {
            name: "containerd store + external containerd on ext4: use it",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["bind", "write", "dockerd"]]),
            driver: Some(Driver::Overlayfs),
            warn: &[],
            note: &["already serves"],
        });

        let mut c = cfg();
        c.strategy = Strategy::Off;
        rows.push(Row {
            name: "DIND_STRATEGY=off: no storage action, still dockerd (and a working driver)",
            facts: seed(20),
            cfg: c,
            kinds: seq(&[&["write"], &SEPARATE]),
            driver: Some(Driver::FuseOverlayfs),
            warn: &["overlay mounts fail", "fuse-overlayfs runs in userspace"],
            note: &["DIND_STRATEGY=off"],
        });

        let mut c = cfg();
        c.containerd = ContainerdMode::Managed;
        rows.push(Row {
            name: "DIND_CONTAINERD=managed: no containerd step",
            facts: seed(20),
            cfg: c,
            kinds: seq(&[&storage, &["bind", "write", "dockerd"]]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &["DIND_CONTAINERD=managed"],
        });

        let mut f = seed(20);
        f.var_lib_docker.exists = true;
        f.var_lib_docker.symlink = Some("/scratch/docker".into());
        rows.push(Row {
            name: "/var/lib/docker a symlink elsewhere on overlay: not replaced, data-root",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[&storage, &["write"], &SEPARATE]),
            driver: Some(Driver::Overlay2),
            warn: &["is a symlink to /scratch/docker"],
            note: &[],
        });

        let mut f = seed(20);
        f.stale_pidfiles = vec![
            "/var/run/docker.pid".into(),
            "/var/run/docker/containerd/containerd.pid".into(),
        ];
        rows.push(Row {
            name: "stale pidfiles removed before anything starts",
            facts: f,
            cfg: cfg(),
            kinds: seq(&[
                &storage,
                &["bind", "write", "rm-pidfile", "rm-pidfile"],
                &SEPARATE,
            ]),
            driver: Some(Driver::Overlay2),
            warn: &[],
            note: &[],
        });

        for r in rows {
            let p = plan(&r.facts, &r.cfg).unwrap_or_else(|e| panic!("{}: {e}", r.name));
            let ctx = format!("{}\n{}", r.name, p.render());
            assert_eq!(kinds(&p), r.kinds, "{ctx}");
            assert_eq!(p.driver, r.driver, "{ctx}");
            if let Some(dr) = r.driver {
                let json = daemon_json(&p).unwrap_or_default();
                let flag = format!("--storage-driver={}", dr.name());
                let on_argv = dockerd_argv(&p).contains(&flag);
                let pinned_by_user = json.is_empty() && !on_argv;
                if !pinned_by_user && !on_argv {
                    assert_eq!(
                        json.get("storage-driver"),
                        Some(&Value::from(dr.name())),
                        "{ctx}"
                    );
                }
            }
            for w in r.warn {
                assert!(has(&p.warnings, w), "warning {w:?} missing\n{ctx}");
            }
            for n in r.note {
                assert!(has(&p.notes, n), "note {n:?} missing\n{ctx}");
            }
            if r.warn.is_empty() {
                assert!(p.warnings.is_empty(), "unexpected warnings\n{ctx}");
            }
            for s in &p.steps {
                assert!(!s.reason.is_empty() && !s.reason.contains('\n'), "{ctx}");
            }
        }
    }

    /// What a data root that served a while looks like: `n` layers of `driver`, the
    /// newest written `days_ago`.
    fn layers(driver: Driver, n: usize, days_ago: u64) -> DriverData {
        let dir = match driver {
            Driver::Overlay2 => "overlay2",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            _ => "vfs/dir",
        };
        DriverData {
            driver,
            snapshotter: false,
            path: Path::new(D).join(dir),
            layers: n,
            newest: 1_764_547_200 - days_ago * 86_400,
        }
    }

    fn blocked(trouble: Trouble, errno: &str) -> Trial {
        Trial::Blocked {
            trouble,
            errno: errno.into(),
            call: "mkdir /home/coder/.docker-data/.dind-init-trial".into(),
        }
    }

    /// The seed pod, restarted: DATA_ROOT holds `data`, and its trial came out `trial`.
    fn restarted(data: Vec<DriverData>, trial: Trial) -> Facts {
        let mut f = seed(20);
        f.data_root.exists = true;
        f.data_root.has_data = true;
        f.data_root.drivers = data;
        f.data_root.location.trial = trial;
        f
    }

    #[test]
    fn storage_verdict_table() {
        use Driver::{FuseOverlayfs, Overlay2, Vfs};
        // (name, facts, driver, warnings that must be there, warnings that must not)
        type VerdictRow = (
            &'static str,
            Facts,
            Driver,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let rows: Vec<VerdictRow> = vec![
            (
                "200 overlay2 layers and 2 vfs layers: the majority wins, the minority is named",
                restarted(vec![layers(Overlay2, 200, 1), layers(Vfs, 2, 30)], Trial::Ok),
                Overlay2,
                vec![
                    "also holds 2 layers made with vfs, which storage driver overlay2 does not show; they stay on disk in /home/coder/.docker-data/vfs/dir",
                    "DIND_STORAGE_DRIVER=vfs",
                    "docker save",
                ],
                vec!["keeping vfs"],
            ),
            (
                "2 overlay2 layers and 200 vfs layers: vfs holds the images and is kept",
                restarted(vec![layers(Overlay2, 2, 1), layers(Vfs, 200, 30)], Trial::Ok),
                Vfs,
                vec!["keeping vfs", "also holds 2 layers made with overlay2"],
                vec![],
            ),
            (
                "a tie: the driver used last wins",
                restarted(vec![layers(Overlay2, 40, 90), layers(Vfs, 40, 2)], Trial::Ok),
                Vfs,
                vec!["keeping vfs", "also holds 40 layers made with overlay2"],
                vec![],
            ),
            (
                "a tie the other way round",
                restarted(vec![layers(Overlay2, 40, 2), layers(Vfs, 40, 90)], Trial::Ok),
                Overlay2,
                vec!["also holds 40 layers made with vfs"],
                vec!["keeping vfs"],
            ),
            (
                "PVC full to the last block, overlay2 data: overlay2 stays, volume full is said",
                restarted(vec![layers(Overlay2, 200, 1)], blocked(Trouble::VolumeFull, "ENOSPC")),
                Overlay2,
                vec!["volume full", "storage driver overlay2 is kept (the driver the data was made with)", "grow the PVC, then restart the pod"],
                vec!["fuse-overlayfs", "formatted ext4"],
            ),
            (
                "full PVC holding vfs data: vfs stays",
                restarted(vec![layers(Vfs, 12, 1)], blocked(Trouble::VolumeFull, "ENOSPC")),
                Vfs,
                vec!["volume full", "storage driver vfs is kept"],
                vec!["fuse-overlayfs"],
            ),
            (
                "read-only PVC: no switch, read-only is said",
                restarted(vec![layers(Overlay2, 30, 1)], blocked(Trouble::ReadOnly, "EROFS")),
                Overlay2,
                vec!["read-only", "storage driver overlay2 is kept"],
                vec!["fuse-overlayfs"],
            ),
            (
                "I/O errors on a fresh PVC: overlay2 guessed from ext4, I/O error is said",
                restarted(Vec::new(), blocked(Trouble::Io, "EIO")),
                Overlay2,
                vec!["I/O error", "guessed from the filesystem"],
                vec!["fuse-overlayfs"],
            ),
            (
                "the kernel refuses overlay on the data root: fuse-overlayfs, overlay2 data named",
                restarted(vec![layers(Overlay2, 20, 1)], einval(D)),
                FuseOverlayfs,
                vec!["holds 20 layers made with overlay2, which cannot work here"],
                vec!["volume full"],
            ),
        ];
        for (name, facts, driver, want, never) in rows {
            let p = plan(&facts, &cfg()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ctx = format!("{name}\n{}", p.render());
            assert_eq!(p.driver, Some(driver), "{ctx}");
            for w in want {
                assert!(has(&p.warnings, w), "warning {w:?} missing\n{ctx}");
            }
            for w in never {
                assert!(!has(&p.warnings, w), "warning {w:?} unexpected\n{ctx}");
            }
        }
    }

    #[test]
    fn a_pin_from_any_source_is_a_pin() {
        let json = |text: &str| Some((PathBuf::from("/etc/docker/daemon.json"), text.to_string()));
        let mut rows: Vec<(&str, Facts, Config, &str)> = Vec::new();
        let mut c = cfg();
        c.storage_driver = Some(Driver::Overlay2);
        rows.push(("DIND_STORAGE_DRIVER", seed(20), c, "DIND_STORAGE_DRIVER"));
        let mut f = seed(20);
        f.daemon.daemon_json =
            json("{\"storage-driver\": \"overlay2\", \"log-driver\": \"json-file\"}\n");
        rows.push((
            "the seed's daemon.json",
            f,
            cfg(),
            "daemon.json (/etc/docker/daemon.json)",
        ));
        let mut f = seed(20);
        f.daemon.default_docker = Some("# Docker Upstart and SysVinit configuration file\nDOCKER_OPTS=\"--data-root=/home/coder/.docker-data --storage-driver=overlay2\"\n".into());
        rows.push(("DOCKER_OPTS --storage-driver", f, cfg(), "DOCKER_OPTS"));
        let mut f = seed(20);
        f.daemon.default_docker = Some("DOCKER_OPTS=\"-s overlay2\"\n".into());
        rows.push(("DOCKER_OPTS -s", f, cfg(), "DOCKER_OPTS"));
        let mut c = cfg();
        c.docker_driver_env = Some("overlay2".into());
        rows.push((
            "DOCKER_DRIVER as docker:dind sets it",
            seed(20),
            c,
            "DOCKER_DRIVER",
        ));
        let mut c = cfg();
        c.dockerd_args = vec!["--storage-driver=overlay2".into()];
        rows.push(("DIND_DOCKERD_ARGS", seed(20), c, "DIND_DOCKERD_ARGS"));
        for (name, f, c, origin) in rows {
            let p = plan(&f, &c).unwrap_or_else(|e| panic!("{name}: {e}"));
            let by = p.pinned_by.clone().unwrap_or_default();
            assert!(
                by.contains(origin),
                "{name}: pinned by {by:?}\n{}",
                p.render()
            );
        }
        assert_eq!(plan(&seed(20), &cfg()).unwrap().pinned_by, None, "auto");
        let mut c = cfg();
        c.docker_driver_env = Some("overlay2".into());
        let over = plan(&pvc_overlay_facts(), &c).unwrap();
        assert_eq!(over.driver, Some(Driver::FuseOverlayfs));
        assert_eq!(
            over.pinned_by, None,
            "a pin that cannot work was already overridden"
        );
    }

    /// What the next start reads in the daemon.json this plan writes (unchanged when none).
    fn after_start(mut f: Facts, p: &Plan) -> Facts {
        for s in &p.steps {
            if let Action::WriteFile { path, content } = &s.action {
                if path.as_path() == Path::new("/etc/docker/daemon.json") {
                    f.daemon.daemon_json = Some((path.clone(), content.clone()));
                }
            }
        }
        // The next probe decides DATA_ROOT from what the written file says.
        let user = settings::read(&f.daemon.sources(&cfg())).unwrap();
        let theirs = user
            .effective
            .get("data-root")
            .and_then(|(v, o)| v.as_str().map(|s| (PathBuf::from(s), o.to_string())));
        if theirs.is_some() {
            let (path, from, why) =
                probe::choose_data_root(&cfg(), theirs, &f.user, f.mount_table(), &f.volumes);
            f.data_root.path = path;
            f.data_root.from = from;
            f.data_root.why = why;
        }
        f
    }

    #[test]
    fn a_data_root_dind_init_chose_never_reads_back_as_the_users() {
        let mut c = cfg();
        c.strategy = Strategy::DataRoot;
        let first = plan(&seed(20), &c).unwrap();
        assert!(
            dockerd_argv(&first).contains(&format!("--data-root={D}")),
            "{}",
            first.render()
        );
        let again = after_start(seed(20), &first);
        assert_ne!(
            again.data_root.from,
            DataRootFrom::DaemonConfig,
            "not the user's"
        );
        let second = plan(&again, &c).unwrap();
        assert!(
            second
                .notes
                .iter()
                .any(|n| n.starts_with("DIND_STRATEGY=data-root")),
            "{}",
            second.render()
        );
        assert_eq!(dockerd_argv(&second), dockerd_argv(&first));
        assert_eq!(daemon_json(&second), None, "nothing left to write");

        // DIND_DATA_ROOT over the user's own data-root: a merged copy, their file untouched.
        let mut f = seed(20);
        let users = "{\"data-root\": \"/srv/docker\"}\n";
        f.daemon.daemon_json = Some(("/etc/docker/daemon.json".into(), users.into()));
        f.data_root.from = DataRootFrom::Setting;
        let mut c = cfg();
        c.data_root = Some(D.into());
        let p = plan(&f, &c).unwrap();
        assert!(dockerd_argv(&p).contains(&format!("--config-file={MERGED_DAEMON_JSON}")));
        assert_eq!(after_start(f, &p).daemon.daemon_json.unwrap().1, users);
    }

    #[test]
    fn a_driver_dind_init_chose_never_reads_back_as_the_users_pin() {
        // Auto on a fresh pod; the next start must still be free to choose.
        let first = plan(&seed(20), &cfg()).unwrap();
        assert_eq!(first.driver, Some(Driver::Overlay2));
        let again = after_start(seed(20), &first);
        assert!(
            again.daemon.daemon_json.is_some(),
            "dind-init did write daemon.json"
        );
        let mut moved = again.clone();
        moved.data_root.location.trial = einval(D);
        let second = plan(&moved, &cfg()).unwrap();
        assert_eq!(second.pinned_by, None, "{}", second.render());
        assert_eq!(
            second.driver,
            Some(Driver::FuseOverlayfs),
            "{}",
            second.render()
        );
        let same = plan(&again, &cfg()).unwrap();
        assert_eq!(
            dockerd_argv(&same),
            dockerd_argv(&first),
            "the same start again"
        );
        assert_eq!(daemon_json(&same), None, "nothing left to write");

        // DOCKER_DRIVER once: not a pin from daemon.json at a start without it.
        let mut c = cfg();
        c.docker_driver_env = Some("vfs".into());
        let first = plan(&seed(20), &c).unwrap();
        let second = plan(&after_start(seed(20), &first), &cfg()).unwrap();
        assert_eq!(second.pinned_by, None, "{}", second.render());

        // The user's own overlay2 that cannot work here: overridden through a merged
        // copy, so the user's file (and pin) is what the next start reads.
        let mut f = pvc_overlay_facts();
        let users = "{\"storage-driver\": \"overlay2\"}\n";
        f.daemon.daemon_json = Some(("/etc/docker/daemon.json".into(), users.into()));
        let first = plan(&f, &cfg()).unwrap();
        assert_eq!(first.driver, Some(Driver::FuseOverlayfs));
        let next = after_start(f, &first);
        assert_eq!(
            next.daemon.daemon_json.as_ref().unwrap().1,
            users,
            "untouched"
        );
        assert!(dockerd_argv(&first).contains(&format!("--config-file={MERGED_DAEMON_JSON}")));
        // DOCKER_DRIVER saying what the user's file says: the file is theirs, merged in place.
        let mut f = seed(20);
        f.daemon.daemon_json = Some(("/etc/docker/daemon.json".into(), users.into()));
        let mut c = cfg();
        c.docker_driver_env = Some("overlay2".into());
        let same = plan(&f, &c).unwrap();
        assert!(!dockerd_argv(&same)
            .iter()
            .any(|a| a.starts_with("--config-file")));
        assert_eq!(daemon_json(&same).unwrap()["storage-driver"], "overlay2");

        let again = plan(&next, &cfg()).unwrap();
        let users_pin = "storage driver overlay2 set by daemon.json";
        assert!(has(&again.warnings, users_pin), "{}", again.render());
    }

    #[test]
    fn seed_plan_in_detail() {
        let p = plan(&seed(20), &cfg()).unwrap();
        assert_eq!(
            p.steps[0].action,
            Action::CreateDir {
                path: D.into(),
                mode: 0o710
            }
        );
        assert_eq!(
            p.steps[1].action,
            Action::Lock {
                path: PathBuf::from(D).join(".dind-init.lock")
            }
        );
        assert_eq!(
            p.steps[2].action,
            Action::BindMount {
                src: D.into(),
                dst: VLD.into()
            }
        );
        let why = &p.steps[2].reason;
        assert!(why.contains("EINVAL") && why.contains("overlay"), "{why}");
        assert!(why.contains("/dev/longhorn/pvc-8260aa67"), "{why}");
        let json = daemon_json(&p).unwrap();
        assert_eq!(
            json.get("storage-driver"),
            None,
            "dind-init's choice is not the user's"
        );
        assert!(dockerd_argv(&p).contains(&"--storage-driver=overlay2".to_string()));
        assert_eq!(json["group"], "docker");
        assert_eq!(
            json["shutdown-timeout"], 12,
            "25 s: 10 for the command, 3 for dockerd and containerd"
        );
        assert!(
            !json.contains_key("data-root"),
            "bind: dockerd keeps /var/lib/docker"
        );
        assert_eq!(p.data_root, Some(D.into()));
        assert_eq!(p.docker_root, Some(VLD.into()));
        assert_eq!(
            dockerd_argv(&p),
            vec![
                "dockerd".to_string(),
                "--storage-driver=overlay2".into(),
                "--containerd=/var/run/docker/containerd/containerd.sock".into()
            ]
        );
        assert_eq!(
            p.containerd,
            Some(ContainerdUse::Separate {
                socket: "/var/run/docker/containerd/containerd.sock".into()
            })
        );
        let start = p.steps.iter().find_map(|s| match &s.action {
            Action::StartContainerd { argv, socket } => Some((argv.clone(), socket.clone())),
            _ => None,
        });
        assert_eq!(
            start,
            Some((
                vec![
                    "containerd".into(),
                    "--config".into(),
                    "/var/run/docker/containerd/containerd.toml".into()
                ],
                "/var/run/docker/containerd/containerd.sock".into()
            ))
        );
    }

    #[test]
    fn containerd_toml_mirrors_dockerds_managed_containerd() {
        let p = plan(&seed(29), &cfg()).unwrap();
        let text = p
            .steps
            .iter()
            .find_map(|s| match &s.action {
                Action::WriteFile { path, content } if path.ends_with("containerd.toml") => {
                    Some(content.clone())
                }
                _ => None,
            })
            .unwrap();
        let t: toml::Table = text.parse().unwrap();
        assert_eq!(
            t["version"].as_integer(),
            Some(3),
            "Docker 29's containerd 2.1"
        );
        assert_eq!(
            t["root"].as_str(),
            Some("/var/lib/docker/containerd/daemon")
        );
        assert_eq!(
            t["state"].as_str(),
            Some("/var/run/docker/containerd/daemon")
        );
        assert_eq!(
            t["grpc"]["address"].as_str(),
            Some("/var/run/docker/containerd/containerd.sock")
        );
        assert_eq!(
            t["disabled_plugins"].as_array().unwrap()[0].as_str(),
            Some("io.containerd.grpc.v1.cri")
        );
        let odd = containerd_toml(Path::new("/data \"x\""), Path::new("/run/d"), None);
        let t: toml::Table = odd.parse().unwrap();
        assert_eq!(t["root"].as_str(), Some("/data \"x\"/containerd/daemon"));
    }

    /// containerd 2.x reads config version 3 (a version 2 file is migrated at every start,
    /// with a warning); 1.7 refuses version 3. CRI's gRPC plugin keeps its ID in 2.x.
    #[test]
    fn containerd_config_follows_containerds_version() {
        let v = |major, minor, patch| {
            Some(Version {
                major,
                minor,
                patch,
            })
        };
        let rows: &[(&str, Option<Version>, i64)] = &[
            ("bookworm 1.6.20", v(1, 6, 20), 2),
            ("trixie 1.7.24", v(1, 7, 24), 2),
            ("sid 2.1.9", v(2, 1, 9), 3),
            ("2.0.0", v(2, 0, 0), 3),
            ("a future 3.0", v(3, 0, 0), 3),
            ("unknown: every containerd reads version 2", None, 2),
        ];
        for (what, version, want) in rows {
            let text = containerd_toml(Path::new(D), Path::new("/var/run/docker"), *version);
            let t: toml::Table = text.parse().unwrap();
            assert_eq!(t["version"].as_integer(), Some(*want), "{what}");
            let disabled: Vec<_> = t["disabled_plugins"].as_array().unwrap().iter().collect();
            assert_eq!(
                disabled,
                [&toml::Value::from("io.containerd.grpc.v1.cri")],
                "{what}"
            );
        }
        // The plan writes what the probed containerd reads.
        for (major, want) in [(20, 2), (26, 2), (28, 3)] {
            let p = plan(&seed(major), &cfg()).unwrap();
            let text = p
                .steps
                .iter()
                .find_map(|s| match &s.action {
                    Action::WriteFile { path, content } if path.ends_with("containerd.toml") => {
                        Some(content.clone())
                    }
                    _ => None,
                })
                .unwrap();
            assert!(
                text.contains(&format!("\nversion = {want}\n")),
                "Docker {major}: {text}"
            );
        }
    }

    #[test]
    fn data_root_strategy_puts_data_root_on_dockerds_command_line() {
        let mut c = cfg();
        c.strategy = Strategy::DataRoot;
        let p = plan(&seed(29), &c).unwrap();
        assert_eq!(kinds(&p), seq(&[&["mkdir", "lock", "write"], &SEPARATE]));
        assert_eq!(daemon_json(&p).unwrap().get("data-root"), None);
        assert!(dockerd_argv(&p).contains(&format!("--data-root={D}")));
        assert_eq!(p.docker_root, Some(D.into()));
        let text = containerd_toml(
            Path::new(D),
            Path::new("/var/run/docker"),
            Some(containerd_of(29)),
        );
        assert!(p.steps.iter().any(|s| s.action
            == Action::WriteFile {
                path: "/var/run/docker/containerd/containerd.toml".into(),
                content: text.clone()
            }));
    }

    #[test]
    fn tls_certdir_makes_certificates_and_a_tls_listener_and_keeps_the_socket() {
        let mut f = seed(28);
        f.tls = Some(crate::tls::CertFacts {
            dir: "/certs".into(),
            openssl: Some("/usr/bin/openssl".into()),
            wanted_sans: vec!["DNS:docker".into(), "DNS:localhost".into()],
            ..crate::tls::CertFacts::default()
        });
        let c = Config {
            tls_certdir: Some("/certs".into()),
            ..cfg()
        };
        let p = plan(&f, &c).unwrap();
        let text = p.render();
        assert!(text.contains("openssl genpkey -algorithm EC"), "{text}");
        assert!(text.contains("-extensions server"), "{text}");
        assert!(text.contains("> /certs/ca/openssl.cnf"), "{text}");
        let argv = dockerd_argv(&p);
        for w in [
            "--host=unix:///var/run/docker.sock",
            "--host=tcp://0.0.0.0:2376",
            "--tlsverify",
            "--tlscacert=/certs/server/ca.pem",
        ] {
            assert!(has(&argv, w), "{w} in {argv:?}");
        }
        let tls_at = kinds(&p).iter().position(|k| *k == "tls").unwrap();
        let dockerd_at = kinds(&p).iter().position(|k| *k == "dockerd").unwrap();
        assert!(tls_at < dockerd_at);
        assert!(
            daemon_json(&p).is_some_and(|j| !j.contains_key("hosts")),
            "never written to daemon.json: TCP must not outlive the variable"
        );
        let plain = plan(&seed(28), &cfg()).unwrap();
        assert!(
            !dockerd_argv(&plain).iter().any(|w| w.starts_with("--host")),
            "no TCP without DOCKER_TLS_CERTDIR"
        );
        let mut no_openssl = f.clone();
        no_openssl.tls.as_mut().unwrap().openssl = None;
        let e = plan(&no_openssl, &c).unwrap_err().to_string();
        assert!(e.contains("openssl program is not installed"), "{e}");
    }

    #[test]
    fn daemon_settings_mtu_shm_group_shutdown() {
        let mut f = seed(20);
        f.mtu = Some(Mtu {
            iface: "eth0".into(),
            mtu: 1450,
        });
        let mut c = cfg();
        c.shm_size = Some("1g".into());
        c.stop_timeout = Duration::from_secs(3);
        c.docker_group = "dockerusers".into();
        let json = daemon_json(&plan(&f, &c).unwrap()).unwrap();
        assert_eq!(json["mtu"], 1450);
        assert_eq!(json["default-shm-size"], "1g");
        assert_eq!(json["group"], "dockerusers");
        assert_eq!(json["shutdown-timeout"], 1, "at least 1 s");

        f.mtu = Some(Mtu {
            iface: "eth0".into(),
            mtu: 1500,
        });
        c.user = None;
        let json = daemon_json(&plan(&f, &c).unwrap()).unwrap();
        assert!(!json.contains_key("mtu"));
        assert!(!json.contains_key("group"), "no DIND_USER, no group");
    }

    /// Issue 12 part 3: Docker's pools must not overlap the pod's routes; the
    /// user's own bip/pools stay and are warned about only when they clash.
    #[test]
    fn address_pools_avoid_the_pods_routes() {
        let vpn = crate::netpool::PodNets::from_text(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth0\t00000000\t01002A0A\t0003\t0\t0\t0\t00000000\n\
             eth0\t000010AC\t01002A0A\t0003\t0\t0\t0\t0000F0FF\n",
            "",
        );
        // (user's daemon.json, DIND_ADDRESS_POOLS, bip written, first pool written, warning)
        type Row<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let rows: [Row; 5] = [
            ("{}", "auto", Some("192.168.0.1/20"), Some("192.168.0.0/16"), None),
            ("{\"bip\": \"172.18.0.1/16\"}", "auto", Some("172.18.0.1/16"), None, Some("your bip 172.18.0.1/16 (networks: Docker's default pools) overlap the pod's route 172.16.0.0/12 (eth0)")),
            ("{\"bip\": \"10.9.0.1/24\", \"default-address-pools\": [{\"base\": \"10.10.0.0/16\", \"size\": 24}]}", "auto", Some("10.9.0.1/24"), Some("10.10.0.0/16"), None),
            ("{\"bip\": \"172.18.0.1/16\"}", "10.201.0.0/16/24", Some("10.201.0.1/24"), Some("10.201.0.0/16"), Some("bip: overriding 172.18.0.1/16 from daemon.json")),
            ("{\"bridge\": \"none\"}", "off", None, None, Some("Docker's default pools (DIND_ADDRESS_POOLS=off) overlap the pod's route 172.16.0.0/12")),
        ];
        for (text, setting, bip, pool, warning) in rows {
            let mut f = seed(20);
            f.pod_nets = vpn.clone();
            f.daemon.daemon_json = Some(("/etc/docker/daemon.json".into(), format!("{text}\n")));
            let mut c = cfg();
            c.address_pools = crate::netpool::PoolSetting::parse(setting).unwrap();
            let p = plan(&f, &c).unwrap();
            let json = daemon_json(&p).unwrap();
            assert_eq!(
                json.get("bip").and_then(Value::as_str),
                bip,
                "{text} {setting}"
            );
            let first = json
                .get("default-address-pools")
                .map(|v| v[0]["base"].clone());
            assert_eq!(
                first.as_ref().and_then(Value::as_str),
                pool,
                "{text} {setting}"
            );
            match warning {
                Some(w) => assert!(has(&p.warnings, w), "{text} {setting}: {:?}", p.warnings),
                None => assert!(
                    !has(&p.warnings, "pool"),
                    "{text} {setting}: {:?}",
                    p.warnings
                ),
            }
            assert!(has(&p.notes, "address pools:"), "{:?}", p.notes);
        }
    }

    /// A daemon config file the probe could not read in full stops the plan
    /// (exit 2): planning over it would write a fresh daemon.json in its place.
    #[test]
    fn an_unreadable_daemon_file_is_never_planned_over() {
        let mut f = seed(20);
        f.daemon.error = Some(probe::Unreadable {
            path: "/etc/docker/daemon.json".into(),
            line: 1,
            msg: "not valid UTF-8 at byte 44".into(),
            hint: "save it as UTF-8".into(),
        });
        let e = plan(&f, &cfg()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with("/etc/docker/daemon.json:1: not valid UTF-8 at byte 44"),
            "{e}"
        );
    }

    /// The user's own `group` is their word: dockerd gives the socket to it, so
    /// DIND_USER must join that group, not DIND_DOCKER_GROUP; the plan says so.
    #[test]
    fn dind_user_joins_the_group_that_owns_the_socket() {
        type Row<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            bool,
            Option<&'a str>,
            &'a str,
        );
        let rows: [Row; 5] = [
            // (daemon.json, DOCKER_OPTS, DIND_USER set, group joined, plan words)
            (None, None, true, Some("dockerusers"), "joins group dockerusers (DIND_DOCKER_GROUP)"),
            (Some("{\"group\": \"devs\"}"), None, true, Some("devs"), "joins group devs, which dockerd gives the socket to as daemon.json (/etc/docker/daemon.json) says (it wins over DIND_DOCKER_GROUP=dockerusers)"),
            (None, Some("DOCKER_OPTS=\"-G wheel\""), true, Some("wheel"), "as DOCKER_OPTS in /etc/default/docker says"),
            (Some("{\"group\": \"dockerusers\"}"), None, true, Some("dockerusers"), "joins group dockerusers"),
            (Some("{\"group\": \"devs\"}"), None, false, None, ""),
        ];
        for (json, opts, user, joined, words) in rows {
            let mut f = seed(20);
            f.daemon.daemon_json =
                json.map(|j| ("/etc/docker/daemon.json".into(), format!("{j}\n")));
            f.daemon.default_docker = opts.map(str::to_string);
            let mut c = cfg();
            c.docker_group = "dockerusers".into();
            if !user {
                c.user = None;
            }
            let p = plan(&f, &c).unwrap();
            assert_eq!(p.docker_group.as_deref(), joined, "{json:?} {opts:?}");
            let text = p.render();
            assert!(text.contains(words), "{json:?} {opts:?}: {text}");
            if let Some(g) = joined {
                let effective = daemon_json(&p)
                    .and_then(|j| j.get("group").cloned())
                    .or_else(|| {
                        dockerd_argv(&p)
                            .iter()
                            .any(|a| a == &format!("--group={g}") || a == g)
                            .then(|| Value::String(g.into()))
                    });
                assert_eq!(
                    effective,
                    Some(Value::String(g.into())),
                    "dockerd gets the same group: {text}"
                );
            }
        }
    }

    #[test]
    fn users_own_settings_win_unless_broken() {
        let mut f = seed(20);
        f.daemon.daemon_json = Some((
            "/etc/docker/daemon.json".into(),
            "{\"storage-driver\": \"overlay2\", \"shutdown-timeout\": 60, \"debug\": true}\n"
                .into(),
        ));
        let p = plan(&f, &cfg()).unwrap();
        assert_eq!(p.driver, Some(Driver::Overlay2));
        let json = daemon_json(&p).unwrap();
        assert_eq!(json["shutdown-timeout"], 60, "the user's value stays");
        assert_eq!(json["debug"], true);
        assert!(
            p.notes.iter().any(|n| n.contains("set by daemon.json")),
            "{:?}",
            p.notes
        );

        let mut f = pvc_overlay_facts();
        f.daemon.daemon_json = Some((
            "/etc/docker/daemon.json".into(),
            "{\"storage-driver\": \"overlay2\"}\n".into(),
        ));
        let p = plan(&f, &cfg()).unwrap();
        assert_eq!(p.driver, Some(Driver::FuseOverlayfs));
        assert_eq!(daemon_json(&p).unwrap()["storage-driver"], "fuse-overlayfs");
        assert!(
            has(&p.warnings, "storage driver overlay2 set by daemon.json"),
            "{:?}",
            p.warnings
        );
        assert!(p
            .settings
            .iter()
            .any(|s| s.key == "storage-driver" && s.force));
    }

    fn pvc_overlay_facts() -> Facts {
        let po = mounts("pvc-overlay.txt");
        let mut f = seed(20);
        f.data_root.location = loc(&po, D, "/home/coder", einval("/home/coder"));
        f.volumes.clear();
        f.mounts = Ok(po);
        f
    }

    #[test]
    fn a_read_only_daemon_json_stays_untouched_and_dockerd_gets_a_merged_copy() {
        let mut f = seed(20);
        f.daemon.daemon_json = Some((
            "/etc/docker/daemon.json".into(),
            "{\"debug\": true}\n".into(),
        ));
        f.daemon.daemon_json_read_only = true;
        let p = plan(&f, &cfg()).unwrap();
        let writes: Vec<&PathBuf> = p
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::WriteFile { path, .. } => Some(path),
                _ => None,
            })
            .collect();
        assert!(
            writes.contains(&&PathBuf::from(MERGED_DAEMON_JSON)),
            "{writes:?}"
        );
        assert!(
            !writes.contains(&&PathBuf::from("/etc/docker/daemon.json")),
            "{writes:?}"
        );
        let json = daemon_json(&p).unwrap();
        assert_eq!(json["debug"], true, "the user's keys are kept in the copy");
        assert_eq!(json["storage-driver"], "overlay2");
        let argv = dockerd_argv(&p);
        let flags: Vec<&String> = argv
            .iter()
            .filter(|a| a.starts_with("--config-file"))
            .collect();
        assert_eq!(flags, [&format!("--config-file={MERGED_DAEMON_JSON}")]);
    }

    #[test]
    fn an_existing_data_root_is_shown_with_the_owner_and_mode_apply_fixes() {
        let mut f = seed(20);
        f.data_root.exists = true;
        f.data_root.owner = Some(probe::Owner {
            uid: 1000,
            gid: 1000,
            mode: 0o755,
        });
        let p = plan(&f, &cfg()).unwrap();
        let text = p.render();
        assert!(
            text.starts_with(&format!(
                "1. chown root:root, chmod 0710 {D} (was uid 1000 gid 1000 0755)  — "
            )),
            "{text}"
        );
        let sys = crate::sys::RecordingSyscall::new()
            .with_dir_owned("/home/coder", 0o755, 1000, 1000)
            .with_dir_owned(D, 0o755, 1000, 1000);
        let storage: Vec<Step> = p.steps[..2].to_vec();
        crate::apply::apply_steps(&storage, &sys).unwrap();
        assert_eq!(sys.dir_meta(D), Some((0o710, 0, 0)), "{:?}", sys.calls());

        // Already root's 0710: nothing to fix, nothing said.
        f.data_root.owner = Some(probe::Owner {
            uid: 0,
            gid: 0,
            mode: 0o710,
        });
        let text = plan(&f, &cfg()).unwrap().render();
        assert!(
            text.starts_with(&format!("1. mkdir -p -m 0710 {D}  — ")),
            "{text}"
        );
    }

    #[test]
    fn a_driver_an_older_dind_init_may_have_written_is_kept_with_a_note() {
        let mut f = seed(20);
        let json = "{\"storage-driver\": \"overlay2\"}\n";
        f.daemon.daemon_json = Some(("/etc/docker/daemon.json".into(), json.into()));
        let p = plan(&f, &cfg()).unwrap();
        assert!(!p.render().contains("older dind-init"), "{}", p.render());
        f.daemon.driver_maybe_older_dind_init = true;
        let p = plan(&f, &cfg()).unwrap();
        assert!(p.pinned_by.is_some(), "still the user's pin: no guess");
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("older dind-init may have written overlay2")),
            "{}",
            p.render()
        );
    }

    #[test]
    fn a_corrupt_daemon_json_is_the_plans_error() {
        let mut f = seed(20);
        f.daemon.daemon_json = Some(("/etc/docker/daemon.json".into(), "{\"debug\": tru\n".into()));
        let e = plan(&f, &cfg()).unwrap_err().to_string();
        assert!(e.contains("/etc/docker/daemon.json"), "{e}");
    }

    #[test]
    fn no_dockerd_means_an_empty_plan() {
        let c = Config {
            start_dockerd: false,
            ..cfg()
        };
        let p = plan(&seed(20), &c).unwrap();
        assert!(p.steps.is_empty() && p.driver.is_none() && p.data_root.is_none());
        assert!(p.render().starts_with("nothing to do\n"));
    }

    /// Issue 13: a trial reads the same in every reason the plan gives as in
    /// `Display for Trial` (which doctor prints too): one rendering, not two.
    #[test]
    fn the_plan_says_a_trial_in_its_one_rendering() {
        let blocked = Trial::Blocked {
            trouble: Trouble::VolumeFull,
            errno: "ENOSPC".into(),
            call: "mkdir /home/coder/.docker-data/.dind-init-trial".into(),
        };
        for trial in [Trial::Ok, einval("/home/coder"), no_cap(), blocked] {
            let mut f = seed(20);
            f.data_root.location.trial = trial.clone();
            let p = plan(&f, &cfg()).unwrap();
            let text = p.render();
            assert!(text.contains(&trial.to_string()), "{trial}\n{text}");
        }
    }

    #[test]
    fn volume_chosen_when_the_home_is_on_overlay_is_said() {
        let mut f = seed(20);
        f.data_root.from = DataRootFrom::Volume;
        f.data_root.why = "the home /root is on overlay, which does not survive the pod; /home/coder is the pod's only persistent volume".into();
        let p = plan(&f, &Config::default()).unwrap();
        assert!(
            has(&p.warnings, "set DIND_DATA_ROOT to choose another place"),
            "{:?}",
            p.warnings
        );
        assert_eq!(kinds(&p)[..3], ["mkdir", "lock", "bind"]);
    }

    #[test]
    fn no_persistent_volume_is_warned_and_nothing_moves() {
        let m = mounts("tmpfs-var-lib-docker.txt");
        let mut f = seed(20);
        f.data_root.path = "/root/.docker-data".into();
        f.data_root.location = loc(&m, "/root/.docker-data", "/root", einval("/root"));
        f.var_lib_docker.location = loc(&m, VLD, "/var/lib", einval("/var/lib"));
        f.volumes.clear();
        f.dev_fuse = Err("open /dev/fuse: No such file or directory (os error 2)".into());
        f.mounts = Ok(m);
        let p = plan(&f, &Config::default()).unwrap();
        assert!(!kinds(&p).contains(&"bind"));
        assert_eq!(p.driver, Some(Driver::Vfs));
        assert!(
            has(&p.warnings, "no persistent volume found"),
            "{:?}",
            p.warnings
        );
    }

    /// Issue 15: the smoke test is skipped only on a proof of exactly this start's
    /// identity; a change of driver, kernel or device, or an external containerd, tests again.
    #[test]
    fn the_smoke_test_is_skipped_only_on_a_matching_storage_proof() {
        let first = plan(&seed(29), &cfg()).unwrap();
        let Some(SmokePlan::Run {
            record: Some(r),
            why,
        }) = &first.smoke
        else {
            panic!("{:?}", first.smoke)
        };
        assert_eq!(why, "no storage proof on the data root yet");
        assert!(r.text.contains("\nimage-store=containerd\n"), "{}", r.text);
        assert!(first.render().contains(&format!(
            "then: smoke test, then write storage proof {D}/.dind-init-storage-proof  — "
        )));
        let proven = |f: &mut Facts| f.storage_proof.text = Some(r.text.clone());
        let mut f = seed(29);
        proven(&mut f);
        let again = plan(&f, &cfg()).unwrap();
        assert!(
            matches!(again.smoke, Some(SmokePlan::Skip { .. })),
            "{:?}",
            again.smoke
        );
        assert!(again.render().contains("then: skip smoke test: proven on "));

        type Change = fn(&mut Facts, &mut Config);
        let rows: Vec<(&str, Change, &str)> = vec![
            (
                "kernel",
                |f, _| f.kernel = Ok("6.12.0".into()),
                "kernel changed",
            ),
            (
                "driver",
                |_, c| c.storage_driver = Some(Driver::Vfs),
                "driver changed",
            ),
            (
                "engine",
                |f, _| f.dockerd.version = Ok(version(30)),
                "dockerd changed",
            ),
            (
                // The plan decides the image store, and the driver goes with it.
                "store",
                |f, _| {
                    f.daemon.daemon_json = Some((
                        "/etc/docker/daemon.json".into(),
                        "{\"features\": {\"containerd-snapshotter\": false}}\n".into(),
                    ))
                },
                "driver changed since the storage proof (overlayfs → overlay2)",
            ),
            (
                "device",
                |f, _| {
                    if let Some(m) = f.data_root.location.mount.as_mut() {
                        m.minor += 1;
                    }
                },
                "device changed",
            ),
            (
                "no version",
                |f, _| f.kernel = Err("unknown".into()),
                "no storage proof possible",
            ),
            (
                "args",
                |_, c| c.dockerd_args = vec!["--storage-opt=overlay2.size=1G".into()],
                "dockerd-args changed",
            ),
        ];
        for (name, change, want) in rows {
            let (mut f, mut c) = (seed(29), cfg());
            proven(&mut f);
            change(&mut f, &mut c);
            match plan(&f, &c).unwrap().smoke {
                Some(SmokePlan::Run { why, .. }) => assert!(why.contains(want), "{name}: {why}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn render_is_one_numbered_line_per_step_then_warnings() {
        let mut f = pvc_overlay_facts();
        f.stale_pidfiles = vec!["/var/run/docker.pid".into()];
        let p = plan(&f, &cfg()).unwrap();
        let text = p.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            p.steps.len() + 1 + p.notes.len() + p.warnings.len()
        );
        for (i, s) in p.steps.iter().enumerate() {
            assert!(
                lines[i].starts_with(&format!("{}. ", i + 1)),
                "{}",
                lines[i]
            );
            assert!(
                lines[i].ends_with(&format!("  — {}", s.reason)),
                "{}",
                lines[i]
            );
        }
        assert!(lines[0].starts_with("1. mkdir -p -m 0710 /home/coder/.docker-data  — "));
        assert!(text.contains("3. mount --bind /home/coder/.docker-data /var/lib/docker  — "));
        assert!(
            text.contains("printf '%s' $'{\\n  \"group\": \"docker\",\\n"),
            "{text}"
        );
        assert!(text.contains(" > /etc/docker/daemon.json  — "));
        assert!(text.contains("rm /var/run/docker.pid  — "));
        assert!(
            text.contains("containerd --config /var/run/docker/containerd/containerd.toml &  — ")
        );
        assert!(
            text.contains("dockerd --storage-driver=fuse-overlayfs --containerd=/var/run/docker/containerd/containerd.sock &  — ")
        );
        assert!(lines.last().unwrap().starts_with("warning: "));
        assert_eq!(sh("a b'c"), "'a b'\\''c'");
        assert_eq!(sh(""), "''");
    }

    /// `doctor` and `plan` give one answer on whether /var/lib/docker's data
    /// outlives the pod: on a host's ext4 root it does (no "lost" warning), on
    /// the pod's overlay root it does not (no "outlives").
    #[test]
    fn doctor_and_plan_agree_whether_var_lib_docker_outlives_the_pod() {
        let host = mounts("docker-host.txt");
        let mut on_host = seed(20);
        on_host.user = Ok(Account {
            name: "root".into(),
            uid: 0,
            gid: 0,
            home: "/root".into(),
            home_owner: Some(0),
        });
        on_host.data_root.path = "/root/.docker-data".into();
        on_host.data_root.location = loc(&host, "/root/.docker-data", "/root", Trial::Ok);
        on_host.var_lib_docker.location = loc(&host, VLD, VLD, Trial::Ok);
        on_host.volumes.clear();
        on_host.mounts = Ok(host);
        let mut in_pod = seed(20);
        in_pod.var_lib_docker.location.trial = Trial::Ok;
        for (mut f, outlives) in [(on_host, true), (in_pod, false)] {
            f.var_lib_docker.exists = true;
            f.var_lib_docker.has_data = true;
            let cfg = Config::default();
            let p = plan(&f, &cfg).unwrap();
            let said_outlives = p.notes.iter().any(|n| n.contains("outlives the pod"));
            let checks = crate::doctor::checks(&f, &Ok(p.clone()), None);
            let said_lost = checks.iter().any(|c| c.found.contains("lost when the pod"));
            assert_eq!(
                (said_outlives, said_lost),
                (outlives, !outlives),
                "{:?} {checks:#?}",
                p.notes
            );
        }
    }

    /// The home is given to the user only when it is a persistent volume's
    /// mount point still owned by root, first in the plan, with its reason.
    #[test]
    fn a_fresh_volume_home_is_given_to_the_user() {
        let rows: [(&str, Option<u32>, bool, u32, bool); 5] = [
            (
                "fresh root-owned PVC at the home",
                Some(0),
                true,
                1000,
                true,
            ),
            ("home already the user's", Some(1000), true, 1000, false),
            (
                "home not a volume's mount point",
                Some(0),
                false,
                1000,
                false,
            ),
            (
                "home is a link (no owner recorded)",
                None,
                true,
                1000,
                false,
            ),
            ("the user is root", Some(0), true, 0, false),
        ];
        for (name, owner, mounted, uid, wanted) in rows {
            let mut f = seed(29);
            if let Ok(a) = f.user.as_mut() {
                a.home_owner = owner;
                a.uid = uid;
            }
            if !mounted {
                f.volumes.clear();
            }
            let p = plan(&f, &cfg()).unwrap();
            let first = p.steps.first().map(|s| (&s.action, &s.reason));
            match first {
                Some((Action::OwnHome { path, uid: u, gid }, reason)) => {
                    assert!(wanted, "{name}: {:?}", p.steps[0]);
                    assert_eq!(
                        (path.as_path(), *u, *gid),
                        (Path::new("/home/coder"), 1000, 1000)
                    );
                    assert!(
                        reason.contains("persistent volume") && reason.contains("nothing inside"),
                        "{reason}"
                    );
                    assert!(
                        p.render().contains("chown 1000:1000 /home/coder"),
                        "{}",
                        p.render()
                    );
                }
                _ => assert!(!wanted, "{name}: {:?}", p.steps),
            }
        }
    }

    fn reserve_planned(found: reserve::Found, free: u64) -> Plan {
        let mut p = Plan {
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
            image_store: None,
            smoke: None,
        };
        reserve_steps(
            &mut p,
            Path::new("/home/coder/.docker-data"),
            reserve::Reserve {
                found,
                free: Some(free),
            },
            true,
        );
        p
    }

    #[test]
    fn the_plan_says_each_action_and_why() {
        let p = reserve_planned(
            reserve::Found::File {
                allocated: reserve::SIZE,
            },
            0,
        );
        assert_eq!(
            p.steps[0].action,
            Action::ReleaseReserve {
                path: "/home/coder/.docker-data/.dind-init-reserve".into()
            }
        );
        assert_eq!(
            p.steps[0].reason,
            "release dind-init's 8 MiB reserve on /home/coder/.docker-data: the volume is full (0 B free), so dockerd can start; free space, then the next start takes the reserve again"
        );
        assert_eq!(
            crate::session::released(&p.steps),
            Some(PathBuf::from("/home/coder/.docker-data"))
        );
        let p = reserve_planned(reserve::Found::Absent, 10 << 30);
        assert_eq!(
            p.steps[0].action,
            Action::TakeReserve {
                path: "/home/coder/.docker-data/.dind-init-reserve".into(),
                bytes: reserve::SIZE
            }
        );
        // The e2e's healthy start greps its log for these words: taking the reserve is not "full".
        assert!(!p.steps[0].reason.contains("volume full"));
        assert!(!p.steps[0].reason.contains(" is full"));
        assert_eq!(crate::session::released(&p.steps), None);
        let p = reserve_planned(reserve::Found::Absent, 0);
        assert!(p.steps.is_empty());
        assert!(p.warnings[0].starts_with("volume full: 0 B free on /home/coder/.docker-data"));
        assert!(p.warnings[0].contains("free space"), "{}", p.warnings[0]);
        let p = reserve_planned(
            reserve::Found::File {
                allocated: reserve::SIZE,
            },
            10 << 30,
        );
        assert!(p.steps.is_empty() && p.notes[0].contains("reserve"));
    }

    /// Docker runs on a volume found full: named whether the reserve goes now
    /// or went at an earlier start; nothing when the volume has room.
    #[test]
    fn a_full_volume_is_named_once_docker_runs() {
        let dir = Path::new("/home/coder/.docker-data");
        let lock = Step {
            action: Action::Lock {
                path: dir.join(".dind-init.lock"),
            },
            reason: String::new(),
        };
        let rows = [
            (
                reserve::Found::File {
                    allocated: reserve::SIZE,
                },
                Some(0),
                Some("before dind-init released its 8 MiB reserve"),
            ),
            (
                reserve::Found::Absent,
                Some(64 << 10),
                Some("released at an earlier start"),
            ),
            (reserve::Found::Absent, Some(10 << 30), None),
            (
                reserve::Found::File {
                    allocated: reserve::SIZE,
                },
                Some(10 << 30),
                None,
            ),
            (reserve::Found::Absent, None, None),
        ];
        for (found, free, want) in rows {
            let mut p = reserve_planned(found, free.unwrap_or(0));
            if free.is_none() {
                p.steps.clear();
            }
            p.steps.insert(0, lock.clone());
            let got = crate::session::full_error(&p.steps, dir, reserve::Reserve { found, free })
                .map(|e| e.to_string());
            match (want, got) {
                (Some(w), Some(e)) => {
                    assert!(e.starts_with("volume full: "), "{e}");
                    assert!(e.contains(w), "{e}");
                    assert!(e.contains("— fix: free space"), "{e}");
                    assert!(e.contains("docker system df"), "{e}");
                }
                (None, None) => {}
                (w, e) => panic!("{found:?} {free:?}: want {w:?}, got {e:?}"),
            }
        }
        // Without the data root's lock the plan never looked at the reserve.
        assert!(crate::session::full_error(
            &[],
            dir,
            reserve::Reserve {
                found: reserve::Found::Absent,
                free: Some(0)
            }
        )
        .is_none());
    }
}
