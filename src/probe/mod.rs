//! Probe: what this container really offers Docker, as a serialisable [`Facts`] value.
//!
//! The fs type alone does not say whether Docker's storage will work (the seed's
//! pod had a "healthy" dockerd whose every `docker run` failed), so the probe
//! that matters is [`overlay_trial`]: a real overlay mount with its upper and
//! work dirs on the target. Every probe takes the paths it reads as arguments
//! ([`Roots`]) so tests point it at temp trees, and none of them panics: a probe
//! that fails records its failure as a fact (`Err(String)`, [`Trial::NotTried`]).
//!
//! The trial mount is a probe, not a plan step: it mounts in a
//! scratch directory it makes on the target, unmounts and removes it at once,
//! so it changes nothing that outlives the probe (`plan` runs it too, to
//! decide). Everything that stays changed is a plan step.
//!
//! This module owns [`Facts`], [`Roots`], [`validate`] and [`probe`], the sequence of
//! steps; the facts themselves come from `host` (capabilities, cgroups, kernel, MTU),
//! `fs` (filesystems, volumes, emptiness), `trial` (overlay trial, d_type), `docker`
//! (versions, image store, driver data), `daemon` (daemon files, pidfiles, sockets) and
//! `data_root` (the DATA_ROOT choice and what is there); the mount table is
//! `crate::parse::mountinfo`'s. Probes gather facts and decide nothing (the plan
//! does), except the DATA_ROOT choice every storage fact is read at. Everything is
//! re-exported here, so callers name `probe::Facts`, `probe::Trial`, …

use crate::config::Config;
use crate::error::Result;
use crate::settings;
use serde::Serialize;
use std::path::{Path, PathBuf};

// mountinfo: parsed in crate::parse::mountinfo, re-exported so `probe::Mount` etc. keep working
pub use crate::parse::mountinfo::{
    is_bind_of, mount_at, mount_for, parse_mountinfo, unescape, Mount, Overlay,
};

mod host;
use host::probe_mtu;
pub use host::{
    cap_sys_admin, cgroup_version, default_route_iface, dev_fuse_usable, kernel_release, which,
    CgroupVersion, Mtu,
};

mod fs;
use fs::dir_owner;
pub use fs::{
    free_bytes, fs_kind, fs_name, has_data, is_block_fs, is_data_entry, is_ephemeral_volume,
    is_volatile_fs, locate, nearest_existing, persistent_volumes, FsKind, Location, Owner,
};

mod trial;
pub use trial::{d_type_supported, overlay_trial, Trial, Trouble};

mod docker;
use docker::PendingVersion;
pub use docker::{
    containerd_cache_text, containerd_version, dockerd_version, driver_data,
    parse_containerd_version, parse_docker_version, version_cache_key, version_cache_text, Dockerd,
    DriverData, Version, CONTAINERD_VERSION_CACHE, VERSION_CACHE,
};

mod daemon;
pub use daemon::{
    pidfile_pid, pidfile_verdict, read_pidfile_head, socket_serving, stale_pidfile, DaemonFiles,
    ForeignPidfile, Pidfile, Unreadable, PIDFILE_MAX,
};
use daemon::{read_daemon_files, stale_pidfiles};

mod data_root;
pub(crate) use data_root::choose_data_root;
use data_root::user_data_root;
pub use data_root::{DataRoot, DataRootFrom, VarLibDocker};

/// Where the probe looks; `Roots::default()` is the real system, tests use temp trees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roots {
    /// procfs: `self/mountinfo`, `net/route`, `<pid>/cmdline`.
    pub proc: PathBuf,
    /// /etc: passwd, group, docker/daemon.json, default/docker.
    pub etc: PathBuf,
    /// /dev: fuse.
    pub dev: PathBuf,
    /// /sys/fs/cgroup.
    pub sys_cgroup: PathBuf,
    /// /sys/class/net: the MTU of the default-route interface.
    pub sys_class_net: PathBuf,
    /// /run: containerd/containerd.sock of a containerd already serving.
    pub run: PathBuf,
    /// /var/run: docker.pid and dockerd's default exec-root `docker/`.
    pub var_run: PathBuf,
    /// /var/lib: Docker's default `docker/` and containerd's `containerd/`.
    pub var_lib: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: "/proc".into(),
            etc: "/etc".into(),
            dev: "/dev".into(),
            sys_cgroup: "/sys/fs/cgroup".into(),
            sys_class_net: "/sys/class/net".into(),
            run: "/run".into(),
            var_run: "/var/run".into(),
            var_lib: "/var/lib".into(),
        }
    }
}

#[cfg(test)]
impl Roots {
    /// Every root below `dir`, as the tests' scratch trees lay them out.
    pub(crate) fn under(dir: &Path) -> Roots {
        Roots {
            proc: dir.join("proc"),
            etc: dir.join("etc"),
            dev: dir.join("dev"),
            sys_cgroup: dir.join("cgroup"),
            sys_class_net: dir.join("net"),
            run: dir.join("run"),
            var_run: dir.join("var/run"),
            var_lib: dir.join("var/lib"),
        }
    }
}

/// The devpod user, as far as the data root needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
    /// Owner uid of the home directory; None when it is missing or a link.
    pub home_owner: Option<u32>,
}

/// Everything the planner decides from; `doctor --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// Effective uid of dind-init.
    pub euid: u32,
    /// CAP_SYS_ADMIN in the effective set: bind mounts and overlay mounts are possible.
    pub cap_sys_admin: bool,
    /// The mount table, or why it could not be read.
    pub mounts: std::result::Result<Vec<Mount>, String>,
    /// cgroup v1, v2 or hybrid.
    pub cgroup: CgroupVersion,
    /// The kernel's release (`uname -r`), or why it is unknown.
    pub kernel: std::result::Result<String, String>,
    /// `/dev/fuse` opens read-write.
    pub dev_fuse: std::result::Result<(), String>,
    /// fuse-overlayfs on PATH.
    pub fuse_overlayfs: Option<PathBuf>,
    /// containerd on PATH (for the separate containerd).
    pub containerd_bin: Option<PathBuf>,
    /// Its version (the config format it reads depends on it), or why it is unknown.
    pub containerd_version: std::result::Result<Version, String>,
    /// dockerd and its version.
    pub dockerd: Dockerd,
    /// The user's daemon configuration.
    pub daemon: DaemonFiles,
    /// The devpod user, or why it is unknown.
    pub user: std::result::Result<Account, String>,
    /// DATA_ROOT and its filesystem.
    pub data_root: DataRoot,
    /// Persistent-looking volumes (block-device directory mounts outside system paths).
    pub volumes: Vec<PathBuf>,
    /// /var/lib/docker as found.
    pub var_lib_docker: VarLibDocker,
    /// /var/lib/containerd's filesystem, probed only when a containerd already serves.
    pub var_lib_containerd: Option<Location>,
    /// The socket of a system containerd (/run/containerd/containerd.sock).
    pub containerd_socket: PathBuf,
    /// Something serves on it.
    pub containerd_serving: bool,
    /// Pidfiles whose process is gone; they would stop dockerd or its containerd.
    pub stale_pidfiles: Vec<PathBuf>,
    /// Default-route interface and MTU.
    pub mtu: Option<Mtu>,
    /// The pod's IPv4 routes and addresses, which Docker's address pools must avoid.
    pub pod_nets: crate::netpool::PodNets,
    /// DOCKER_TLS_CERTDIR's certificates as found (None when it is not set).
    pub tls: Option<crate::tls::CertFacts>,
    /// The storage proof on the data root and the binaries it must name (issue 15).
    pub storage_proof: crate::proof::Found,
}

impl Facts {
    /// The mount table (empty when it could not be read).
    pub fn mount_table(&self) -> &[Mount] {
        self.mounts.as_deref().unwrap_or(&[])
    }

    /// fuse-overlayfs can run: /dev/fuse usable and the binary installed.
    pub fn fuse_usable(&self) -> bool {
        self.dev_fuse.is_ok() && self.fuse_overlayfs.is_some()
    }
}

/// Check every input before anything changes: DIND_USER names a user,
/// DIND_DOCKERD_ARGS parses, and (when dockerd is started) the user's daemon
/// config files read in full and parse. Bad input is an error with exit code 2;
/// `run`, `plan` and `doctor` all call this first.
pub fn validate(cfg: &Config, roots: &Roots) -> Result<()> {
    crate::user::resolve(&roots.etc, cfg.user.as_ref())?;
    if !cfg.start_dockerd {
        let args = settings::Sources {
            dind_args: &cfg.dockerd_args,
            ..settings::Sources::default()
        };
        return settings::read(&args).map(|_| ());
    }
    let (files, user) = read_daemon_files(cfg, roots);
    user?;
    match files.foreign_pidfiles.first() {
        Some(f) => Err(f.to_error()),
        None => Ok(()),
    }
}

/// Gather every fact the planner needs. Never fails and never panics: what cannot be
/// probed is recorded as such. Creates only short-lived scratch dirs (trial, d_type).
pub fn probe(cfg: &Config, roots: &Roots) -> Facts {
    let mounts = read_mounts(&roots.proc);
    let table: &[Mount] = mounts.as_deref().unwrap_or(&[]);
    let path_var = path_var();
    let (daemon, user_settings) = read_daemon_files(cfg, roots);
    let effective = user_settings.map(|u| u.effective).unwrap_or_default();
    let user = account(cfg, roots);
    let volumes = volume_paths(table);
    let (dr_path, from, why) =
        choose_data_root(cfg, user_data_root(&effective), &user, table, &volumes);
    // The versions run beside the probes below unless cached on the data root.
    let dockerd_version = PendingVersion::dockerd(&cfg.dockerd, &dr_path);
    let containerd_bin = which("containerd", &path_var);
    let containerd_version = containerd_bin
        .as_deref()
        .map(|bin| PendingVersion::containerd(bin, &dr_path));
    let data_root = DataRoot::probe(dr_path, from, why, table);
    let var_lib_docker = VarLibDocker::probe(roots.var_lib.join("docker"), &data_root, table);
    let containerd_socket = roots.run.join("containerd/containerd.sock");
    let containerd_serving = socket_serving(&containerd_socket);
    let var_lib_containerd =
        containerd_serving.then(|| locate(&roots.var_lib.join("containerd"), table));
    let dockerd = Dockerd {
        program: cfg.dockerd.clone(),
        version: dockerd_version.finish(),
    };
    let storage_proof = crate::proof::find(
        &data_root.path,
        &cfg.dockerd,
        containerd_bin.as_deref(),
        version_cache_key,
    );
    Facts {
        euid: nix::unistd::geteuid().as_raw(),
        cap_sys_admin: cap_sys_admin().unwrap_or(false),
        cgroup: cgroup_version(table, &roots.sys_cgroup),
        kernel: kernel_release(&roots.proc),
        dev_fuse: dev_fuse_usable(&roots.dev),
        fuse_overlayfs: which("fuse-overlayfs", &path_var),
        containerd_version: match containerd_version {
            Some(pending) => pending.finish(),
            None => Err("containerd is not on PATH".into()),
        },
        containerd_bin,
        dockerd,
        stale_pidfiles: stale_pidfiles(&daemon, &roots.proc),
        daemon,
        user,
        data_root,
        volumes,
        var_lib_docker,
        var_lib_containerd,
        containerd_socket,
        containerd_serving,
        mtu: probe_mtu(&roots.proc, &roots.sys_class_net),
        pod_nets: crate::netpool::PodNets::read(&roots.proc),
        tls: crate::tls::probe(cfg, &roots.etc, &roots.proc, || which("openssl", &path_var)),
        storage_proof,
        mounts,
    }
}

/// The mount table, or why it could not be read.
fn read_mounts(proc: &Path) -> std::result::Result<Vec<Mount>, String> {
    let file = proc.join("self/mountinfo");
    std::fs::read_to_string(&file)
        .map_err(|e| format!("read {}: {e}", file.display()))
        .and_then(|t| parse_mountinfo(&t).map_err(|e| e.to_string()))
}

/// `$PATH`, or the usual system one when it is unset (PID 1 may start without it).
fn path_var() -> std::ffi::OsString {
    std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into())
}

/// The devpod user (DIND_USER) and the owner of its home, or why it is unknown.
fn account(cfg: &Config, roots: &Roots) -> std::result::Result<Account, String> {
    crate::user::resolve(&roots.etc, cfg.user.as_ref())
        .map(|u| Account {
            home_owner: dir_owner(&u.home).map(|o| o.uid),
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            home: u.home,
        })
        .map_err(|e| e.to_string())
}

/// Where the pod's persistent volumes are mounted.
fn volume_paths(mounts: &[Mount]) -> Vec<PathBuf> {
    persistent_volumes(mounts, |p| p.is_dir())
        .into_iter()
        .map(|m| m.mount_point.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::daemon::driver_added_since_bak;
    use super::*;
    use crate::config::Driver;
    use std::os::unix::fs::PermissionsExt;

    pub(super) fn fixture_text(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mountinfo")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub(super) fn fixture(name: &str) -> Vec<Mount> {
        parse_mountinfo(&fixture_text(name)).unwrap()
    }

    pub(super) fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".dind-init"))
            .collect()
    }

    /// A daemon config file that is not UTF-8 is not "absent": reading it is an
    /// error naming the file and the byte, exit 2, and the plan refuses to go on.
    #[test]
    fn a_non_utf8_daemon_file_stops_before_planning() {
        let json = b"{\"data-root\": \"/srv/docker\",\n \"labels\": [\"caf\xe9\"]}\n";
        let rows: [(&str, &[u8], Option<&str>); 4] = [
            (
                "docker/daemon.json",
                json,
                Some("daemon.json:2: not valid UTF-8 at byte 45"),
            ),
            (
                "default/docker",
                b"DOCKER_OPTS=\"--label=caf\xe9\"\n",
                Some("default/docker:1: not valid UTF-8 at byte 24"),
            ),
            (
                "docker/daemon.json",
                b"{\"labels\": [\"caf\xc3\xa9\"]}\n",
                None,
            ),
            (
                "default/docker",
                b"DOCKER_OPTS=\"--label=caf\xc3\xa9\"\n",
                None,
            ),
        ];
        for (file, bytes, want) in rows {
            let t = tempfile::tempdir().unwrap();
            let r = Roots {
                etc: t.path().join("etc"),
                var_run: t.path().join("var/run"),
                ..Roots::default()
            };
            let path = r.etc.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            let cfg = Config::default();
            let (files, user) = read_daemon_files(&cfg, &r);
            let checked = validate(&cfg, &r);
            match want {
                Some(msg) => {
                    let e = files.error.as_ref().expect("recorded");
                    assert_eq!(e.path, path);
                    let shown = checked.unwrap_err();
                    assert!(shown.to_string().contains(msg), "{shown}");
                    assert_eq!(shown.exit_code(), 2);
                    assert!(user.is_err());
                    assert!(files.daemon_json.is_none() && files.default_docker.is_none());
                }
                None => {
                    assert_eq!(files.error, None);
                    assert!(checked.is_ok() && user.is_ok());
                }
            }
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "never touched");
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table: one row per case, read as data
    fn probe_on_a_temp_tree_records_every_fact() {
        let t = tempfile::tempdir().unwrap();
        let r = Roots {
            sys_cgroup: "/sys/fs/cgroup".into(),
            ..Roots::under(t.path())
        };
        let home = t.path().join("home/coder");
        for d in [
            r.proc.join("self"),
            r.proc.join("net"),
            r.proc.join("77"),
            r.etc.join("docker"),
            r.var_run.join("docker/containerd"),
            r.var_lib.join("docker/vfs/dir/layer1"),
            home.clone(),
            t.path().join("net/eth0"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(r.proc.join("self/mountinfo"), fixture_text("this-vm.txt")).unwrap();
        std::fs::write(
            r.proc.join("net/route"),
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nenp1\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\nenp1\t000010AC\t0101A8C0\t0003\t0\t0\t0\t0000F0FF\n",
        )
        .unwrap();
        std::fs::write(t.path().join("net/eth0/mtu"), "1450\n").unwrap();
        std::fs::write(r.proc.join("77/cmdline"), b"sleep\0").unwrap();
        std::fs::write(
            r.etc.join("passwd"),
            format!(
                "root:x:0:0:root:/root:/bin/sh\ncoder:x:1000:1000::{}:/bin/bash\n",
                home.display()
            ),
        )
        .unwrap();
        std::fs::write(
            r.etc.join("docker/daemon.json"),
            "{\"storage-driver\": \"vfs\"}\n",
        )
        .unwrap();
        std::fs::write(r.var_run.join("docker.pid"), "77").unwrap();
        std::fs::write(
            r.var_run.join("docker/containerd/containerd.pid"),
            "99999999",
        )
        .unwrap();
        let cfg = Config {
            user: Some(crate::config::UserSpec::Name("coder".into())),
            dockerd: "/nonexistent/dockerd".into(),
            ..Config::default()
        };
        let f = probe(&cfg, &r);
        assert_eq!(f.data_root.path, home.join(".docker-data"));
        assert_eq!(f.data_root.from, DataRootFrom::Home);
        assert!(!f.data_root.exists, "the probe never creates DATA_ROOT");
        assert_eq!(f.data_root.owner, None);
        let mine = t.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink(&mine, t.path().join("link")).unwrap();
        let euid = nix::unistd::geteuid().as_raw();
        assert!(dir_owner(&mine).is_some_and(|o| o.mode == 0o750 && o.uid == euid));
        assert_eq!(
            dir_owner(&t.path().join("link")),
            None,
            "a link is not followed"
        );
        assert!(!home.join(".docker-data").exists());
        assert_eq!(
            f.data_root.location.probed,
            std::fs::canonicalize(&home).unwrap()
        );
        assert_eq!(f.user.as_ref().unwrap().name, "coder");
        assert!(f.var_lib_docker.exists && f.var_lib_docker.has_data);
        assert_eq!(f.var_lib_docker.drivers[0].driver, Driver::Vfs);
        assert!(f.var_lib_docker.mount.is_none());
        assert_eq!(f.cgroup, CgroupVersion::Hybrid);
        assert!(
            f.kernel.is_err(),
            "no sys/kernel/osrelease in the fake /proc"
        );
        assert_eq!(
            kernel_release(Path::new("/proc")),
            Ok(std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap()
                .trim()
                .to_string())
        );
        assert!(f.dev_fuse.is_err());
        assert!(f.dockerd.version.is_err());
        match &f.containerd_bin {
            Some(bin) => assert_eq!(
                f.containerd_version,
                containerd_version(&bin.to_string_lossy())
            ),
            None => assert!(f.containerd_version.is_err()),
        }
        assert!(!f.containerd_serving);
        assert_eq!(
            f.daemon.daemon_json.as_ref().unwrap().0,
            PathBuf::from("/etc/docker/daemon.json")
        );
        assert_eq!(f.daemon.error, None);
        assert_eq!(f.daemon.exec_root, r.var_run.join("docker"));
        assert_eq!(
            f.stale_pidfiles,
            vec![
                r.var_run.join("docker.pid"),
                r.var_run.join("docker/containerd/containerd.pid")
            ]
        );
        assert_eq!(f.mtu, None, "enp1 has no mtu file");
        let routes: Vec<String> = f
            .pod_nets
            .routes
            .iter()
            .map(|r| format!("{} {}", r.dest, r.iface))
            .collect();
        assert_eq!(
            routes,
            ["172.16.0.0/12 enp1"],
            "the default route is left out"
        );
        assert!(serde_json::to_string(&f).is_ok());
        assert!(leftovers(&home).is_empty());
        assert!(leftovers(&r.var_lib).is_empty());
    }

    #[test]
    fn a_pidfile_setting_naming_a_users_file_stops_before_anything_changes() {
        let t = tempfile::tempdir().unwrap();
        let r = Roots {
            sys_cgroup: "/sys/fs/cgroup".into(),
            ..Roots::under(t.path())
        };
        std::fs::create_dir_all(r.etc.join("docker")).unwrap();
        std::fs::create_dir_all(r.var_run.join("docker")).unwrap();
        let thesis = t.path().join("thesis.tex");
        std::fs::write(&thesis, "\\documentclass{article}\n").unwrap();
        let json = format!("{{\"pidfile\": \"{}\"}}\n", thesis.display());
        std::fs::write(r.etc.join("docker/daemon.json"), &json).unwrap();
        let cfg = Config {
            dockerd: "/nonexistent/dockerd".into(),
            ..Config::default()
        };
        let e = validate(&cfg, &r).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let line = e.to_string();
        assert!(
            line.starts_with("/etc/docker/daemon.json: pidfile in daemon.json makes dockerd ")
                && line.contains(&thesis.display().to_string())
                && line.ends_with("— fix: point pidfile at a path under /run, or move the file"),
            "{line}"
        );
        let f = probe(&cfg, &r);
        assert_eq!(f.daemon.foreign_pidfiles.len(), 1);
        let plan = crate::plan::plan(&f, &cfg).map_err(|e| e.to_string());
        assert!(plan.is_err(), "the plan refuses too");
        let checks = crate::doctor::checks(&f, &plan, None);
        let fail: Vec<_> = checks
            .iter()
            .filter(|c| c.verdict == crate::doctor::Verdict::Fail && c.what == "daemon pidfile")
            .collect();
        assert_eq!(fail.len(), 1, "{checks:?}");
        assert!(fail[0].remedy.contains("under /run"), "{checks:?}");
        assert_eq!(
            std::fs::read_to_string(&thesis).unwrap(),
            "\\documentclass{article}\n"
        );

        assert!(!f.daemon.driver_maybe_older_dind_init);
        let json = r#"{"storage-driver": "overlay2"}"#;
        let file = r.etc.join("docker/daemon.json");
        std::fs::write(&file, json).unwrap();
        std::fs::write(r.etc.join("docker/daemon.json.bak"), "{}\n").unwrap();
        assert!(driver_added_since_bak(json, &file));
        std::fs::write(r.etc.join("docker/daemon.json.bak"), json).unwrap();
        assert!(!driver_added_since_bak(json, &file), "the .bak had it too");
        std::fs::remove_file(r.etc.join("docker/daemon.json.bak")).unwrap();
        assert!(!driver_added_since_bak(json, &file), "no .bak, no hint");

        // DIND_DOCKERD_ARGS names the same file; a real pidfile (stale or not) is fine.
        std::fs::remove_file(r.etc.join("docker/daemon.json")).unwrap();
        let args = Config {
            dockerd_args: vec![format!("--pidfile={}", thesis.display())],
            ..cfg.clone()
        };
        let line = validate(&args, &r).unwrap_err().to_string();
        assert!(
            line.starts_with("DIND_DOCKERD_ARGS: pidfile makes dockerd"),
            "{line}"
        );
        std::fs::write(&thesis, "4242\n").unwrap();
        assert!(validate(&args, &r).is_ok());
        // containerd's pidfile under the exec-root: a user's file there is refused too.
        std::fs::create_dir_all(r.var_run.join("docker/containerd")).unwrap();
        std::fs::write(
            r.var_run.join("docker/containerd/containerd.pid"),
            "notes\n",
        )
        .unwrap();
        let f = probe(&cfg, &r);
        assert_eq!(f.daemon.foreign_pidfiles[0].daemon, "containerd");
    }
}
