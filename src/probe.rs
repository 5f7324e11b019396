//! Probe: what this container really offers Docker, as a serialisable [`Facts`] value.
//!
//! The fs type alone does not say whether Docker's storage will work (the seed's
//! pod had a "healthy" dockerd whose every `docker run` failed), so the probe
//! that matters is [`overlay_trial`]: a real overlay mount with its upper and
//! work dirs on the target. Every probe takes the paths it reads as arguments
//! ([`Roots`]) so tests point it at temp trees, and none of them panics: a probe
//! that fails records its failure as a fact (`Err(String)`, [`Trial::NotTried`]).

use crate::config::Config;
use crate::config::Driver;
use crate::error::{Error, Result};
use crate::settings::{self, Origin};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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

// ---------------------------------------------------------------------------
// mountinfo: parsed in crate::parse::mountinfo, re-exported so `probe::Mount` etc. keep working

pub use crate::parse::mountinfo::{
    is_bind_of, mount_at, mount_for, parse_mountinfo, unescape, Mount, Overlay,
};

// ---------------------------------------------------------------------------
// filesystem facts

/// A filesystem type as statfs(2) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsKind {
    /// `f_type` magic.
    pub magic: u64,
    /// Its usual name (`ext4`, `overlay`, …), `unknown` when we do not know it.
    pub name: String,
}

/// Name of a statfs magic number (ext2/3/4 share 0xEF53).
pub fn fs_name(magic: u64) -> &'static str {
    match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlay",
        0x6573_5546 => "fuse",
        0x6969 => "nfs",
        0x2FC1_2FC1 => "zfs",
        0x8584_58F6 => "ramfs",
        0xF2F5_2010 => "f2fs",
        0x00C3_6400 => "ceph",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x6175_6673 => "aufs",
        0x7371_7368 => "squashfs",
        0x9FA0 => "proc",
        0x6265_6572 => "sysfs",
        0x6367_7270 => "cgroup2",
        0x0027_E0EB => "cgroup",
        0x1CD1 => "devpts",
        0x4d44 => "vfat",
        0xCA45_1A4E => "bcachefs",
        _ => "unknown",
    }
}

/// Filesystems whose content dies with the pod (or cannot host overlay upper dirs):
/// a home on one of them is no place for Docker's data.
pub fn is_volatile_fs(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "overlay" | "tmpfs" | "ramfs" | "aufs" | "rootfs" | "devtmpfs"
    ) || fs_type.starts_with("fuse.fuse-overlayfs")
}

/// Block-device filesystems a PersistentVolume is typically formatted with.
pub fn is_block_fs(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "ext2" | "ext3" | "ext4" | "xfs" | "btrfs" | "f2fs" | "jfs" | "reiserfs" | "bcachefs"
    )
}

/// statfs(2) type of the filesystem holding `path`.
pub fn fs_kind(path: &Path) -> std::result::Result<FsKind, String> {
    let st =
        nix::sys::statfs::statfs(path).map_err(|e| format!("statfs {}: {e}", path.display()))?;
    #[allow(clippy::unnecessary_cast)]
    let magic = st.filesystem_type().0 as u64;
    Ok(FsKind {
        magic,
        name: fs_name(magic).to_string(),
    })
}

/// Bytes available to unprivileged users on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> std::result::Result<u64, String> {
    let st =
        nix::sys::statfs::statfs(path).map_err(|e| format!("statfs {}: {e}", path.display()))?;
    #[allow(clippy::unnecessary_cast)]
    Ok((st.blocks_available() as u64).saturating_mul(st.block_size() as u64))
}

static SCRATCH: AtomicU32 = AtomicU32::new(0);

/// A name no other dind-init (another pod on the same RWX volume) picks at the same time.
fn scratch_name(kind: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        ".dind-init-{kind}-{}-{nanos}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes a scratch tree on every path out (errors, early returns), unmounting first.
struct Scratch {
    base: PathBuf,
    mounted: Option<PathBuf>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(m) = self.mounted.take() {
            if sys_umount(&m).is_err() {
                let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Whether readdir on `dir`'s filesystem fills in d_type (overlay needs it; xfs with
/// ftype=0 does not). Creates and removes a scratch dir inside `dir`.
pub fn d_type_supported(dir: &Path) -> std::result::Result<bool, String> {
    use nix::dir::Dir;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let root = open_dir_nofollow(dir).map_err(|e| format!("open {}: {e}", dir.display()))?;
    let name = scratch_name("dtype");
    let base = dir.join(&name);
    let base_fd =
        mkdir_nofollow(&root, &name).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
    let guard = Scratch {
        base: base.clone(),
        mounted: None,
    };
    write_new_at(&base_fd, "f", b"")
        .map_err(|e| format!("create {}: {e}", base.join("f").display()))?;
    let mut d = Dir::openat(
        &base_fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .map_err(|e| format!("opendir {}: {e}", base.display()))?;
    let mut seen = None;
    for entry in d.iter() {
        let entry = entry.map_err(|e| format!("readdir {}: {e}", base.display()))?;
        if entry.file_name().to_bytes() == b"f" {
            seen = Some(entry.file_type().is_some());
        }
    }
    drop(guard);
    seen.ok_or_else(|| {
        format!(
            "readdir {} did not return the file just created",
            base.display()
        )
    })
}

/// Whether `<dev>/fuse` opens read-write (what fuse-overlayfs needs).
pub fn dev_fuse_usable(dev: &Path) -> std::result::Result<(), String> {
    let p = dev.join("fuse");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p)
        .map(drop)
        .map_err(|e| format!("open {}: {e}", p.display()))
}

/// The first executable `name` in the directories of a PATH-style list.
pub fn which(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Whether this thread has CAP_SYS_ADMIN in its effective set (needed to mount).
pub fn cap_sys_admin() -> std::result::Result<bool, String> {
    caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_ADMIN,
    )
    .map_err(|e| format!("read capabilities: {e}"))
}

/// Which cgroup hierarchy the container sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CgroupVersion {
    /// Only cgroup v1 controllers.
    V1,
    /// The unified hierarchy at the root.
    V2,
    /// v1 controllers plus a cgroup2 mount (usually `unified/`).
    Hybrid,
    /// No cgroup filesystem under the root at all.
    Unknown,
}

/// The cgroup version at `root` (e.g. /sys/fs/cgroup) according to the mount table.
pub fn cgroup_version(mounts: &[Mount], root: &Path) -> CgroupVersion {
    if mount_at(mounts, root).is_some_and(|m| m.fs_type == "cgroup2") {
        return CgroupVersion::V2;
    }
    let under = |fs: &str| {
        mounts
            .iter()
            .any(|m| m.fs_type == fs && m.mount_point.starts_with(root) && m.mount_point != root)
    };
    let v1 = under("cgroup") || mount_at(mounts, root).is_some_and(|m| m.fs_type == "cgroup");
    match (v1, under("cgroup2")) {
        (true, true) => CgroupVersion::Hybrid,
        (true, false) => CgroupVersion::V1,
        (false, _) => CgroupVersion::Unknown,
    }
}

// ---------------------------------------------------------------------------
// dockerd

/// The kernel's release, as `uname -r` prints it, from procfs.
pub fn kernel_release(proc: &Path) -> std::result::Result<String, String> {
    let file = proc.join("sys/kernel/osrelease");
    match std::fs::read_to_string(&file) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        Ok(_) => Err(format!("{} is empty", file.display())),
        Err(e) => Err(format!("read {}: {e}", file.display())),
    }
}

/// A Docker engine version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    /// e.g. 29 (the containerd image store is the default from 29).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parse `dockerd --version` output, e.g. "Docker version 20.10.24+dfsg1, build 5d6db84".
pub fn parse_docker_version(text: &str) -> Option<Version> {
    let rest = text.split("version").nth(1)?.trim_start();
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut it = num.split('.').filter(|s| !s.is_empty());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let patch = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Some(Version {
        major,
        minor,
        patch,
    })
}

/// Run `<program> --version` (at most 5 s) and parse it.
pub fn dockerd_version(program: &str) -> std::result::Result<Version, String> {
    finish_version(program, spawn_version(program), parse_docker_version)
}

/// Parse `containerd --version` output: "containerd <module> <version> [<revision>]", e.g.
/// "containerd github.com/containerd/containerd/v2 2.1.9+unknown" (Debian) or
/// "containerd containerd.io v1.7.27 05044ec0a9a7" (Docker's packages).
pub fn parse_containerd_version(text: &str) -> Option<Version> {
    let word = text.split_whitespace().nth(2)?;
    let word = word.strip_prefix('v').unwrap_or(word);
    parse_docker_version(&format!("version {word}"))
}

/// Run `<program> --version` (at most 5 s) for a containerd and parse it.
pub fn containerd_version(program: &str) -> std::result::Result<Version, String> {
    finish_version(program, spawn_version(program), parse_containerd_version)
}

/// File in DATA_ROOT caching `dockerd --version` for the binary it was read from.
pub const VERSION_CACHE: &str = ".dind-init-dockerd-version";

/// What identifies one dockerd binary: its resolved path, size and mtime.
/// None when it cannot be found (then the version is never cached).
pub fn version_cache_key(program: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = if program.contains('/') {
        PathBuf::from(program)
    } else {
        which(program, &std::env::var_os("PATH")?)?
    };
    let path = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&path).ok()?;
    Some(format!(
        "{} {} {}.{:09}",
        path.display(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    ))
}

/// The cache file's text for `key` and `version`.
pub fn version_cache_text(key: &str, version: &Version) -> String {
    format!("{key}\nDocker version {version}\n")
}

/// File in DATA_ROOT caching `containerd --version` (same layout as [`VERSION_CACHE`]).
pub const CONTAINERD_VERSION_CACHE: &str = ".dind-init-containerd-version";

/// The containerd cache file's text for `key` and `version`.
pub fn containerd_cache_text(key: &str, version: &Version) -> String {
    format!("{key}\ncontainerd version {version}\n")
}

/// The cached version, when the file is for exactly this binary.
fn read_version_cache(file: &Path, key: &str) -> Option<Version> {
    let text = std::fs::read_to_string(file).ok()?;
    let (k, v) = text.split_once('\n')?;
    (k == key).then(|| parse_docker_version(v)).flatten()
}

/// Start `<program> --version` so it runs while the other probes do (it costs ~35 ms).
fn spawn_version(program: &str) -> std::result::Result<std::process::Child, String> {
    use std::process::{Command, Stdio};
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{program} --version`: {e}"))
}

/// Wait (at most 5 s from now) for the child of [`spawn_version`] and parse its output.
fn finish_version(
    program: &str,
    child: std::result::Result<std::process::Child, String>,
    parse: fn(&str) -> Option<Version>,
) -> std::result::Result<Version, String> {
    use std::io::Read;
    let mut child = child?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{program} --version` did not finish within 5 s"));
            }
            Err(e) => return Err(format!("wait for `{program} --version`: {e}")),
        }
    };
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        let _ = so.read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!("`{program} --version` exited with {status}"));
    }
    parse(&out).ok_or_else(|| format!("cannot read a version in {:?}", out.trim()))
}

// ---------------------------------------------------------------------------
// data directories

/// Layers one storage driver left in a data root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverData {
    /// The driver that wrote them.
    pub driver: Driver,
    /// A containerd snapshotter (containerd image store) rather than a graphdriver.
    pub snapshotter: bool,
    /// Its directory.
    pub path: PathBuf,
    /// Number of layers/snapshots in it (0: only the skeleton dockerd creates).
    pub layers: usize,
    /// Newest mtime of a layer, in seconds since the epoch (0: none): which driver
    /// was used last, when two hold the same number of layers.
    #[serde(default)]
    pub newest: u64,
}

const DRIVER_DIRS: &[(Driver, bool, &str, &str)] = &[
    (Driver::Overlay2, false, "overlay2", "l"),
    (Driver::FuseOverlayfs, false, "fuse-overlayfs", "l"),
    (Driver::Vfs, false, "vfs/dir", ""),
    (
        Driver::Overlayfs,
        true,
        "containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots",
        "",
    ),
    (
        Driver::Native,
        true,
        "containerd/daemon/io.containerd.snapshotter.v1.native/snapshots",
        "",
    ),
    (
        Driver::FuseOverlayfs,
        true,
        "containerd/daemon/io.containerd.snapshotter.v1.fuse-overlayfs/snapshots",
        "",
    ),
];

/// Which storage drivers left data under `root` (a Docker data root), so the plan can
/// keep the driver the images were made with instead of silently hiding them.
pub fn driver_data(root: &Path) -> Vec<DriverData> {
    let mut out = Vec::new();
    for (driver, snapshotter, rel, skip) in DRIVER_DIRS {
        let path = root.join(rel);
        let Ok(rd) = std::fs::read_dir(&path) else {
            let top = root.join(rel.split('/').next().unwrap_or(rel));
            if !snapshotter && top.is_dir() {
                out.push(DriverData {
                    driver: *driver,
                    snapshotter: false,
                    path: top,
                    layers: 0,
                    newest: 0,
                });
            }
            continue;
        };
        let (mut layers, mut newest) = (0, 0);
        for e in rd.filter_map(|e| e.ok()) {
            if !skip.is_empty() && e.file_name() == *skip {
                continue;
            }
            layers += 1;
            let mtime = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            newest = newest.max(mtime);
        }
        out.push(DriverData {
            driver: *driver,
            snapshotter: *snapshotter,
            path,
            layers,
            newest,
        });
    }
    out
}

/// Whether the directory entry `name` is data: anything but an empty `lost+found`
/// (what mkfs.ext4 leaves; once fsck put files there they are the user's) and
/// dind-init's own files (lock, version cache, trial and d_type scratch leftovers).
/// `lost_found_empty` is asked only for `lost+found`. The one emptiness rule of
/// probe, plan and apply: a directory without data hides nothing of the user's
/// under a bind mount.
pub fn is_data_entry<E>(
    name: &OsStr,
    lost_found_empty: impl FnOnce() -> std::result::Result<bool, E>,
) -> std::result::Result<bool, E> {
    let b = name.as_bytes();
    if b == b"lost+found" {
        return lost_found_empty().map(|empty| !empty);
    }
    Ok(!b.starts_with(b".dind-init"))
}

/// Whether `dir` holds anything beyond dind-init's own files and an empty `lost+found`.
pub fn has_data(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).any(|e| {
                let lost_found_empty = || {
                    Ok::<_, Infallible>(
                        std::fs::read_dir(e.path()).is_ok_and(|mut r| r.next().is_none()),
                    )
                };
                is_data_entry(&e.file_name(), lost_found_empty) == Ok(true)
            })
        })
        .unwrap_or(false)
}

/// `path` itself if it exists, else its nearest existing ancestor (canonical). The probe
/// never creates DATA_ROOT; it tests the filesystem the directory will be created on.
pub fn nearest_existing(path: &Path) -> PathBuf {
    let mut p = path;
    loop {
        if let Ok(c) = std::fs::canonicalize(p) {
            return c;
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => return PathBuf::from("/"),
        }
    }
}

// ---------------------------------------------------------------------------
// the trial mount

/// What keeps a volume from being written, whoever meets it (the trial mount, the
/// smoke test): none of these says anything about overlay, and no other storage
/// driver would help, so the driver stays and the user gets this remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trouble {
    /// ENOSPC / EDQUOT: no block or inode (or quota) left.
    VolumeFull,
    /// EROFS: mounted (or remounted after errors) read-only.
    ReadOnly,
    /// EIO: the disk or its network path fails.
    Io,
}

impl Trouble {
    /// The trouble an errno means, if any.
    pub fn from_errno(errno: i32) -> Option<Trouble> {
        match errno {
            libc::ENOSPC | libc::EDQUOT => Some(Trouble::VolumeFull),
            libc::EROFS => Some(Trouble::ReadOnly),
            libc::EIO => Some(Trouble::Io),
            _ => None,
        }
    }

    /// The trouble a daemon's message names with strerror's words, if any.
    pub fn from_text(text: &str) -> Option<Trouble> {
        let t = text.to_ascii_lowercase();
        if t.contains("no space left on device") || t.contains("disk quota exceeded") {
            Some(Trouble::VolumeFull)
        } else if t.contains("read-only file system") {
            Some(Trouble::ReadOnly)
        } else if t.contains("input/output error") {
            Some(Trouble::Io)
        } else {
            None
        }
    }

    /// Stable words for banners, `status` and `doctor` (tests and scripts look for them).
    pub fn words(self) -> &'static str {
        match self {
            Trouble::VolumeFull => "volume full",
            Trouble::ReadOnly => "read-only volume",
            Trouble::Io => "I/O error on the volume",
        }
    }

    /// What to do about it while Docker does not run (a daemon that died on the
    /// volume, a start stopped before dockerd): only what works without Docker.
    pub fn remedy(self) -> &'static str {
        match self {
            Trouble::VolumeFull => "free space on the volume holding the data root: delete files there (not inside Docker's data root) or grow the PVC, then restart the pod; the storage driver is kept, so no image is hidden",
            Trouble::ReadOnly => "the volume holding the data root is read-only (a ro mount, or ext4 remounted ro after errors: see the node's dmesg); make it writable and restart the pod; the storage driver is kept",
            Trouble::Io => "the volume holding the data root returns I/O errors: check the disk (the node's dmesg, `kubectl describe pvc`) and restart the pod; the storage driver is kept",
        }
    }

    /// What to do about it while Docker runs on that volume: Docker itself can
    /// show and free what fills it.
    pub fn remedy_with_docker(self) -> &'static str {
        match self {
            Trouble::VolumeFull => "free space on the volume holding the data root: `docker system df` shows what uses it, `docker image prune` / `docker system prune` free it (or delete other files, or grow the PVC), then restart the pod; the storage driver is kept, so no image is hidden",
            t => t.remedy(),
        }
    }
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

/// Outcome of a real overlay mount with its upper and work dirs on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Trial {
    /// Mounted, written through, unmounted: overlay2/overlayfs work here.
    Ok,
    /// A step failed; `call` renders it like `mount src=overlay dst=… flags=0 data=…`.
    Failed {
        /// errno name, e.g. `EINVAL`.
        errno: String,
        /// The failing call with its arguments.
        call: String,
    },
    /// The volume stopped the trial (full, read-only, I/O error): no verdict on overlay,
    /// and no other driver would do better on that volume.
    Blocked {
        /// What is wrong with the volume.
        trouble: Trouble,
        /// errno name, e.g. `ENOSPC`.
        errno: String,
        /// The failing call with its arguments.
        call: String,
    },
    /// Could not try (no CAP_SYS_ADMIN, directory missing, scratch dir refused).
    NotTried {
        /// Why.
        why: String,
    },
}

impl Trial {
    /// The overlay mount worked.
    pub fn is_ok(&self) -> bool {
        matches!(self, Trial::Ok)
    }

    /// The overlay mount was tried and failed.
    pub fn failed(&self) -> bool {
        matches!(self, Trial::Failed { .. })
    }
}

/// The one way a trial reads, in the plan's reasons and in doctor's check.
impl std::fmt::Display for Trial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trial::Ok => write!(f, "a trial overlay mount works"),
            Trial::Failed { errno, call } => write!(f, "overlay mounts fail ({call}: {errno})"),
            Trial::Blocked {
                trouble,
                errno,
                call,
            } => write!(
                f,
                "the trial overlay mount could not run: {trouble} ({call}: {errno})"
            ),
            Trial::NotTried { why } => write!(f, "overlay mounts were not tried ({why})"),
        }
    }
}

fn failed(call: String, errno: nix::errno::Errno) -> Trial {
    Trial::Failed {
        errno: format!("{errno:?}"),
        call,
    }
}

fn io_errno(e: &io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// mount(2) of an overlay; the seam for the trial (nix, no unsafe).
fn sys_mount_overlay(target: &Path, data: &str) -> nix::Result<()> {
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data),
    )
}

/// umount(2).
fn sys_umount(target: &Path) -> nix::Result<()> {
    nix::mount::umount2(target, nix::mount::MntFlags::empty())
}

/// Mount an overlay whose upper and work dirs sit in `dir`, write a file through it,
/// unmount, and always remove the scratch tree: this, not the fs type, says whether
/// overlay2/overlayfs will work (overlay upper on overlay fails with EINVAL).
pub fn overlay_trial(dir: &Path) -> Trial {
    let t = match cap_sys_admin() {
        Ok(true) => overlay_trial_with(dir, true),
        Ok(false) => overlay_trial_with(dir, false),
        Err(e) => Trial::NotTried { why: e },
    };
    match t {
        Trial::Failed { errno, call } => Trial::Failed {
            errno,
            call: without_scratch_ids(&call),
        },
        Trial::Blocked {
            trouble,
            errno,
            call,
        } => Trial::Blocked {
            trouble,
            errno,
            call: without_scratch_ids(&call),
        },
        Trial::NotTried { why } => Trial::NotTried {
            why: without_scratch_ids(&why),
        },
        Trial::Ok => Trial::Ok,
    }
}

/// `…/.dind-init-trial-16-348763548-3/merged` → `…/.dind-init-trial/merged`: the
/// scratch dir's unique suffix says nothing to a reader and makes every plan differ.
fn without_scratch_ids(s: &str) -> String {
    const MARK: &str = ".dind-init-trial-";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len() - 1]);
        rest = rest[i + MARK.len()..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    }
    out.push_str(rest);
    out
}

/// Longest overlay option string the kernel takes: one page. A data root deeper than
/// about a third of it goes through the scratch dir's short `/proc/self/fd/N` name.
const MOUNT_DATA_MAX: usize = 4095;

/// Which part of the trial a failed call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrialStep {
    /// Making the scratch tree: a failure here says nothing about overlay.
    Prepare,
    /// The overlay mount, writing through it, unmounting: the kernel's answer on overlay.
    Overlay,
}

/// The one decision on a failed trial call. A full, read-only or failing volume stops
/// the trial without a verdict on overlay ([`Trial::Blocked`]), and so does a scratch
/// tree that could not be made ([`Trial::NotTried`]); only the overlay steps' own
/// refusal (EINVAL on an overlay upper, ENODEV, …) says overlay does not work here.
fn trial_verdict(step: TrialStep, call: String, errno: nix::errno::Errno) -> Trial {
    if let Some(trouble) = Trouble::from_errno(errno as i32) {
        return Trial::Blocked {
            trouble,
            errno: format!("{errno:?}"),
            call,
        };
    }
    match step {
        TrialStep::Prepare => Trial::NotTried {
            why: format!("{call}: {errno:?}"),
        },
        TrialStep::Overlay => failed(call, errno),
    }
}

/// Open `dir` itself, refusing a symlink in its last component, so the scratch tree
/// is made inside the directory that was probed and nowhere a planted link points.
fn open_dir_nofollow(dir: &Path) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

/// `mkdirat(parent, name, 0700)` then open it the same way as [`open_dir_nofollow`].
fn mkdir_nofollow(parent: &std::os::fd::OwnedFd, name: &str) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700))?;
    nix::fcntl::openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Create `name` in `dir` (never through a link) and write `content` into it.
fn write_new_at(dir: &std::os::fd::OwnedFd, name: &str, content: &[u8]) -> nix::Result<()> {
    use nix::fcntl::OFlag;
    use std::io::Write;
    let fd = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(content)
        .and_then(|_| f.sync_all())
        .map_err(|e| io_errno(&e))
}

/// How the overlay options name the scratch dir `base` (open as `fd`): its path when
/// the kernel can take it (no `,` `:` `\`, UTF-8, short enough for one page of
/// options), else `/proc/self/fd/N`.
fn option_prefix(base: &Path, fd: &std::os::fd::OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    let s = base.as_os_str().as_bytes();
    let plain = !s.iter().any(|c| matches!(c, b',' | b':' | b'\\'))
        && std::str::from_utf8(s).is_ok()
        && options(&base.display().to_string()).len() <= MOUNT_DATA_MAX;
    if plain {
        base.display().to_string()
    } else {
        format!("/proc/self/fd/{}", fd.as_raw_fd())
    }
}

fn options(prefix: &str) -> String {
    format!("lowerdir={prefix}/lower,upperdir={prefix}/upper,workdir={prefix}/work")
}

fn overlay_trial_with(dir: &Path, cap: bool) -> Trial {
    use TrialStep::{Overlay, Prepare};
    if !dir.is_dir() {
        return Trial::NotTried {
            why: format!("{} is not an existing directory", dir.display()),
        };
    }
    if !cap {
        return Trial::NotTried {
            why: "no CAP_SYS_ADMIN: this process cannot mount (run as root in a privileged pod)"
                .into(),
        };
    }
    let root = match open_dir_nofollow(dir) {
        Ok(fd) => fd,
        Err(e) => return trial_verdict(Prepare, format!("open {} O_NOFOLLOW", dir.display()), e),
    };
    let name = scratch_name("trial");
    let base = dir.join(&name);
    let base_fd = match mkdir_nofollow(&root, &name) {
        Ok(fd) => fd,
        Err(e) => return trial_verdict(Prepare, format!("mkdir {}", base.display()), e),
    };
    let mut guard = Scratch {
        base: base.clone(),
        mounted: None,
    };
    let mut subdirs = Vec::new();
    for sub in ["lower", "upper", "work", "merged"] {
        match mkdir_nofollow(&base_fd, sub) {
            Ok(fd) => subdirs.push(fd),
            Err(e) => {
                return trial_verdict(Prepare, format!("mkdir {}", base.join(sub).display()), e)
            }
        }
    }
    let (lower, upper, merged) = (&subdirs[0], base.join("upper"), base.join("merged"));
    if let Err(e) = write_new_at(lower, "from-lower", b"lower\n") {
        let p = base.join("lower/from-lower");
        return trial_verdict(Prepare, format!("write {}", p.display()), e);
    }
    let prefix = option_prefix(&base, &base_fd);
    let data = options(&prefix);
    let call = format!(
        "mount src=overlay dst={} flags=0 data={data}",
        merged.display()
    );
    // The target by fd too: `merged` is the directory made above, whatever links appear.
    let target = PathBuf::from(format!("{prefix}/merged"));
    // `volatile` (Linux ≥ 5.10) spares the sync of the upper filesystem at umount, about
    // 20 ms on ext4 at every start; a kernel without it refuses the option, and then the
    // plain mount, the one dockerd makes, gives the verdict.
    let mounted = sys_mount_overlay(&target, &format!("{data},volatile"))
        .or_else(|_| sys_mount_overlay(&target, &data));
    if let Err(e) = mounted {
        return trial_verdict(Overlay, call, e);
    }
    guard.mounted = Some(target.clone());
    // Reached through `prefix` (a path beyond PATH_MAX works too); named by path.
    let at = |rel: &str| PathBuf::from(format!("{prefix}/{rel}"));
    let shown = |rel: &str| base.join(rel).display().to_string();
    if let Err(e) = std::fs::write(at("merged/from-merged"), b"upper\n") {
        let call = format!("write {}", shown("merged/from-merged"));
        return trial_verdict(Overlay, call, io_errno(&e));
    }
    if let Err(e) = std::fs::write(at("merged/from-lower"), b"copied up\n") {
        let call = format!("write {} (copy-up)", shown("merged/from-lower"));
        return trial_verdict(Overlay, call, io_errno(&e));
    }
    if let Err(e) = sys_umount(&target) {
        return trial_verdict(Overlay, format!("umount {}", merged.display()), e);
    }
    guard.mounted = None;
    if !at("upper/from-merged").is_file() {
        return Trial::Failed {
            errno: "EIO".into(),
            call: format!(
                "write {} (the file did not reach upperdir {})",
                shown("merged/from-merged"),
                upper.display()
            ),
        };
    }
    drop(guard);
    Trial::Ok
}

/// What the filesystem at one directory offers Docker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The directory asked about.
    pub path: PathBuf,
    /// Where it was probed: itself, or its nearest existing ancestor (canonical).
    pub probed: PathBuf,
    /// The mount holding it.
    pub mount: Option<Mount>,
    /// statfs type.
    pub fs: std::result::Result<FsKind, String>,
    /// Free bytes.
    pub free_bytes: std::result::Result<u64, String>,
    /// readdir fills d_type (overlay requires it).
    pub d_type: std::result::Result<bool, String>,
    /// The trial overlay mount.
    pub trial: Trial,
}

impl Location {
    /// The filesystem type: from the mount table, else from statfs.
    pub fn fs_type(&self) -> String {
        match (&self.mount, &self.fs) {
            (Some(m), _) => m.fs_type.clone(),
            (None, Ok(k)) => k.name.clone(),
            (None, Err(_)) => "unknown".into(),
        }
    }
}

/// Probe the filesystem `path` is (or will be) on: never creates `path`.
pub fn locate(path: &Path, mounts: &[Mount]) -> Location {
    let probed = nearest_existing(path);
    Location {
        path: path.to_path_buf(),
        mount: mount_for(mounts, &probed).cloned(),
        fs: fs_kind(&probed),
        free_bytes: free_bytes(&probed),
        d_type: d_type_supported(&probed),
        trial: overlay_trial(&probed),
        probed,
    }
}

/// A Kubernetes emptyDir (its mountinfo root lies under the pod's
/// `volumes/kubernetes.io~empty-dir/`): on a real disk, but deleted with the pod,
/// so it is no place for data meant to outlive it.
pub fn is_ephemeral_volume(m: &Mount) -> bool {
    m.root
        .to_string_lossy()
        .contains("/volumes/kubernetes.io~empty-dir/")
}

/// Directory mounts of block-device filesystems outside system paths, one per
/// filesystem: where a PVC is. Single-file binds (/etc/hosts) are left out via
/// `is_dir`, emptyDirs via [`is_ephemeral_volume`].
pub fn persistent_volumes(mounts: &[Mount], is_dir: impl Fn(&Path) -> bool) -> Vec<&Mount> {
    const SYSTEM: &[&str] = &[
        "/proc",
        "/sys",
        "/dev",
        "/etc",
        "/run",
        "/var/run",
        "/tmp",
        "/boot",
        "/usr",
        "/var/lib/docker",
        "/var/lib/containerd",
        "/var/lib/kubelet",
        "/var/log",
    ];
    let mut out: Vec<&Mount> = Vec::new();
    for m in mounts {
        let mp = &m.mount_point;
        if mp == Path::new("/") || SYSTEM.iter().any(|s| mp.starts_with(s)) {
            continue;
        }
        if !is_block_fs(&m.fs_type)
            || !m.source.starts_with("/dev/")
            || m.read_only()
            || is_ephemeral_volume(m)
        {
            continue;
        }
        if !is_dir(mp) {
            continue;
        }
        if let Some(i) = out
            .iter()
            .position(|o| o.major == m.major && o.minor == m.minor)
        {
            if out[i].mount_point.components().count() > mp.components().count() {
                out[i] = m;
            }
            continue;
        }
        out.push(m);
    }
    out
}

// ---------------------------------------------------------------------------
// processes, sockets, network

/// Whether something accepts connections on the unix socket `path`.
pub fn socket_serving(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Whether the pidfile at `path` is stale: provably a pidfile ([`pidfile_pid`]) whose PID
/// is not a live process whose argv[0] basename is `name` (read from
/// `<proc>/<pid>/cmdline`). None when there is no pidfile; Some(false) for a live
/// daemon and for a file that is not a pidfile (never removed).
pub fn stale_pidfile(path: &Path, name: &str, proc: &Path) -> Option<bool> {
    let text = read_pidfile_head(path).ok()?;
    let verdict = pidfile_verdict(&text, &[name], |pid| {
        Ok::<_, Infallible>(std::fs::read(proc.join(pid.to_string()).join("cmdline")).ok())
    });
    Some(matches!(verdict, Ok(Pidfile::Stale(_))))
}

/// The largest file that can be a pidfile: a PID and a newline fit many times over.
pub const PIDFILE_MAX: usize = 32;

/// The first `PIDFILE_MAX + 1` bytes of `path` (enough for [`pidfile_pid`] to tell a
/// pidfile from a bigger file without reading all of it).
pub fn read_pidfile_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(PIDFILE_MAX + 1);
    std::fs::File::open(path)?
        .take(PIDFILE_MAX as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// The PID in `text` when it is provably a pidfile: at most [`PIDFILE_MAX`] bytes,
/// one decimal PID above 0 and an optional newline, nothing else. Anything else may
/// be a user's file that daemon.json happens to name: never removed.
pub fn pidfile_pid(text: &[u8]) -> Option<u32> {
    if text.len() > PIDFILE_MAX {
        return None;
    }
    let digits = text.strip_suffix(b"\n").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 0)
}

/// What a file named as a daemon's pidfile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pidfile<'n> {
    /// Not provably a pidfile ([`pidfile_pid`]): refused, never removed.
    NotAPidfile,
    /// One PID that runs none of the daemons: safe to remove.
    Stale(u32),
    /// The PID runs this daemon: never touched.
    Live(u32, &'n str),
}

/// The one decision behind every stale-pidfile check: [`Pidfile::Live`] when the PID in
/// `text` runs a program whose argv[0] basename is one of `names`; [`Pidfile::Stale`]
/// when the process is gone or a pod restart gave the PID to an unrelated process;
/// [`Pidfile::NotAPidfile`] when `text` is not one PID. `cmdline(pid)` reads
/// `/proc/<pid>/cmdline` (None when the process is gone), so each caller picks its
/// /proc (a temp tree, the Syscall seam) and what a read error means.
pub fn pidfile_verdict<'n, E>(
    text: &[u8],
    names: &[&'n str],
    cmdline: impl FnOnce(u32) -> std::result::Result<Option<Vec<u8>>, E>,
) -> std::result::Result<Pidfile<'n>, E> {
    let Some(pid) = pidfile_pid(text) else {
        return Ok(Pidfile::NotAPidfile);
    };
    let Some(cmdline) = cmdline(pid)? else {
        return Ok(Pidfile::Stale(pid));
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or(&[]);
    let base = Path::new(OsStr::from_bytes(argv0))
        .file_name()
        .map_or(&b""[..], OsStrExt::as_bytes);
    Ok(match names.iter().find(|n| n.as_bytes() == base) {
        Some(n) => Pidfile::Live(pid, n),
        None => Pidfile::Stale(pid),
    })
}

/// The interface of the default route in /proc/net/route text.
pub fn default_route_iface(route: &str) -> Option<String> {
    route.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_string())
    })
}

/// The pod's default-route interface and its MTU (overlay networks are often below 1500).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mtu {
    /// Interface name.
    pub iface: String,
    /// Its MTU.
    pub mtu: u32,
}

fn probe_mtu(proc: &Path, sys_class_net: &Path) -> Option<Mtu> {
    let route = std::fs::read_to_string(proc.join("net/route")).ok()?;
    let iface = default_route_iface(&route)?;
    let mtu = std::fs::read_to_string(sys_class_net.join(&iface).join("mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Mtu { iface, mtu })
}

// ---------------------------------------------------------------------------
// Facts

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

/// Owner and permission bits of an existing directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Permission bits (mode & 0o7777).
    pub mode: u32,
}

impl Owner {
    /// Exactly this owner, group and mode.
    pub fn is(&self, uid: u32, gid: u32, mode: u32) -> bool {
        (self.uid, self.gid, self.mode) == (uid, gid, mode)
    }
}

/// The owner and mode of `path` when it is a real directory (a link is not followed).
fn dir_owner(path: &Path) -> Option<Owner> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_dir())?;
    Some(Owner {
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o7777,
    })
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

/// The user's Docker daemon configuration files, as text (settings reads them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DaemonFiles {
    /// (path dockerd reads, text) of daemon.json, when it exists.
    pub daemon_json: Option<(PathBuf, String)>,
    /// Text of /etc/default/docker, when it exists.
    pub default_docker: Option<String>,
    /// A file that could not be read in full (not UTF-8, unreadable): the plan
    /// stops with it, so the file is never rewritten.
    pub error: Option<Unreadable>,
    /// dockerd's exec-root (default /var/run/docker).
    pub exec_root: PathBuf,
    /// dockerd's pidfile (default /var/run/docker.pid).
    pub pidfile: PathBuf,
    /// daemon.json cannot be written where dockerd reads it (a read-only ConfigMap
    /// mount, EROFS): the plan then writes its merge elsewhere and says so.
    #[serde(default)]
    pub daemon_json_read_only: bool,
    /// Files named as dockerd's or containerd's pidfile that are not provably
    /// pidfiles: the daemon would overwrite them at start, so nothing starts.
    #[serde(default)]
    pub foreign_pidfiles: Vec<ForeignPidfile>,
    /// daemon.json has a storage-driver and its daemon.json.bak (the version before
    /// dind-init's last change) is a JSON object without one: an older dind-init,
    /// which wrote its own choice there, may have put it there. Only a hint: a user
    /// who added it after that change leaves the same trace.
    #[serde(default)]
    pub driver_maybe_older_dind_init: bool,
}

/// A file at a daemon's pidfile path that is not provably a pidfile ([`pidfile_pid`]),
/// e.g. `"pidfile": "/home/coder/thesis.tex"`: dockerd writes its PID over it at start
/// and deletes it at stop, so dind-init refuses to start before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignPidfile {
    /// The file.
    pub path: PathBuf,
    /// The daemon that writes it: "dockerd" or "containerd".
    pub daemon: &'static str,
    /// The setting that put the pidfile there: `pidfile` or `exec-root`.
    pub key: &'static str,
    /// Where that setting came from; None for dockerd's default path.
    pub set_by: Option<Origin>,
    /// What is there, e.g. "a file of 2345 bytes".
    pub what: String,
}

impl ForeignPidfile {
    /// The refusal (exit 2): names the setting's source, the file and the fix.
    pub fn to_error(&self) -> Error {
        let path = match &self.set_by {
            Some(Origin::DaemonJson(p)) => p.clone(),
            Some(Origin::DockerOpts) => PathBuf::from(settings::DEFAULT_DOCKER_FILE),
            Some(o) => PathBuf::from(o.to_string()),
            None => self.path.clone(),
        };
        Error::ConfigFile {
            path,
            msg: self.words(),
            hint: self.fix(),
        }
    }

    /// What is wrong, in one sentence naming the setting's source and the file.
    pub fn words(&self) -> String {
        let by = match &self.set_by {
            Some(Origin::DaemonJson(_)) => format!("{} in daemon.json", self.key),
            Some(Origin::DockerOpts) => format!("{} in DOCKER_OPTS", self.key),
            Some(_) => self.key.to_string(),
            None => "its default pidfile".to_string(),
        };
        format!(
            "{by} makes {d} write its PID into {}, but that is {}, not a pidfile: {d} would overwrite it at start and delete it at stop",
            self.path.display(),
            self.what,
            d = self.daemon
        )
    }

    /// The fix.
    pub fn fix(&self) -> String {
        match self.set_by {
            Some(_) => format!("point {} at a path under /run, or move the file", self.key),
            None => format!("move the file: {} keeps its pidfile there", self.daemon),
        }
    }
}

/// What is at `path` when a daemon must not use it as its pidfile: None when it is
/// absent, empty or provably a pidfile ([`pidfile_pid`]). A link is not followed.
fn foreign_at(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let t = std::fs::read_link(path).unwrap_or_default();
        return Some(format!("a symlink to {}", t.display()));
    }
    if kind.is_dir() {
        return Some("a directory".into());
    }
    if !kind.is_file() {
        return Some("a device, socket or fifo".into());
    }
    let head = read_pidfile_head(path).ok()?;
    (!head.is_empty() && pidfile_pid(&head).is_none())
        .then(|| format!("a file of {} bytes", meta.len()))
}

/// The pidfiles dockerd and its containerd will write that hold something else.
fn foreign_pidfiles(
    files: &DaemonFiles,
    effective: &BTreeMap<String, (Value, Origin)>,
) -> Vec<ForeignPidfile> {
    let origin = |key: &str| effective.get(key).map(|(_, o)| o.clone());
    let dockerd = match origin("pidfile") {
        Some(o) => ("pidfile", Some(o)),
        None => ("exec-root", origin("exec-root")),
    };
    let containerd = ("exec-root", origin("exec-root"));
    [
        (files.pidfile.clone(), "dockerd", dockerd),
        (
            files.exec_root.join("containerd/containerd.pid"),
            "containerd",
            containerd,
        ),
    ]
    .into_iter()
    .filter_map(|(path, daemon, (key, set_by))| {
        let what = foreign_at(&path)?;
        Some(ForeignPidfile {
            path,
            daemon,
            key,
            set_by,
            what,
        })
    })
    .collect()
}

impl DaemonFiles {
    /// The settings sources these files plus the config's DOCKER_DRIVER and DIND_DOCKERD_ARGS form.
    pub fn sources<'a>(&'a self, cfg: &'a Config) -> settings::Sources<'a> {
        settings::Sources {
            daemon_json: self
                .daemon_json
                .as_ref()
                .map(|(p, t)| (p.as_path(), t.as_str())),
            default_docker: self.default_docker.as_deref(),
            docker_driver_env: cfg.docker_driver_env.as_deref(),
            dind_args: &cfg.dockerd_args,
        }
    }
}

/// A daemon config file dind-init could not read in full. Kept as data (the
/// facts are serialised for `doctor --json`); [`Unreadable::to_error`] is what stops
/// the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// The line holding the first bad byte (1 when the file could not be read at all).
    pub line: usize,
    /// What is wrong, e.g. "not valid UTF-8 at byte 44".
    pub msg: String,
    /// What to do.
    pub hint: String,
}

impl Unreadable {
    /// The error that stops dind-init (exit 2) before it changes anything.
    pub fn to_error(&self) -> Error {
        Error::DaemonConfig {
            path: self.path.clone(),
            line: self.line,
            msg: self.msg.clone(),
            hint: self.hint.clone(),
        }
    }
}

/// The text of a daemon config file, None when it does not exist. A file that is
/// not UTF-8 (a Latin-1 label) is not "absent": treating it so would overwrite it.
fn read_text(path: &Path) -> std::result::Result<Option<String>, Unreadable> {
    let never = "dind-init never rewrites a file it cannot read in full";
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Unreadable {
                path: path.to_path_buf(),
                line: 1,
                msg: format!("cannot read: {e}"),
                hint: format!("make it a file root can read, or remove it; {never}"),
            })
        }
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
        Unreadable {
            path: path.to_path_buf(),
            line,
            msg: format!("not valid UTF-8 at byte {at}"),
            hint: format!("save it as UTF-8 (e.g. iconv -f latin1 -t utf-8); {never}"),
        }
    })
}

/// The dockerd that will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerd {
    /// DIND_DOCKERD.
    pub program: String,
    /// Its version, or why it is unknown.
    pub version: std::result::Result<Version, String>,
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

fn setting_path(effective: &BTreeMap<String, (Value, Origin)>, key: &str) -> Option<PathBuf> {
    effective
        .get(key)
        .and_then(|(v, _)| v.as_str())
        .filter(|s| s.starts_with('/'))
        .map(PathBuf::from)
}

/// Where the probe reads a file dockerd will read at `path`: under `roots.etc` for /etc paths.
fn rebase_etc(path: &Path, roots: &Roots) -> PathBuf {
    match path.strip_prefix("/etc") {
        Ok(rest) => roots.etc.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// The user's daemon config files and what they say. A file that cannot be read
/// in full is recorded in `error` (and not parsed); a parse error is the `Err`.
fn read_daemon_files(cfg: &Config, roots: &Roots) -> (DaemonFiles, Result<settings::UserSettings>) {
    let mut files = DaemonFiles {
        exec_root: roots.var_run.join("docker"),
        pidfile: roots.var_run.join("docker.pid"),
        ..DaemonFiles::default()
    };
    match read_text(&roots.etc.join("default/docker")) {
        Ok(t) => files.default_docker = t,
        Err(e) => files.error = Some(e),
    }
    let json_path =
        match settings::config_file_path(files.default_docker.as_deref(), &cfg.dockerd_args) {
            Ok(p) => p,
            Err(e) => return (files, Err(e)),
        };
    let json_file = rebase_etc(&json_path, roots);
    // The file itself, or the nearest directory that exists (dind-init creates the rest).
    let writable_probe = if json_file.exists() {
        json_file.clone()
    } else {
        nearest_existing(&json_file)
    };
    files.daemon_json_read_only =
        nix::unistd::access(&writable_probe, nix::unistd::AccessFlags::W_OK)
            == Err(nix::errno::Errno::EROFS);
    match read_text(&json_file) {
        Ok(t) => files.daemon_json = t.map(|t| (json_path, t)),
        Err(e) => files.error = files.error.take().or(Some(e)),
    }
    files.driver_maybe_older_dind_init = files
        .daemon_json
        .as_ref()
        .is_some_and(|(_, t)| driver_added_since_bak(t, &json_file));
    if let Some(e) = &files.error {
        let err = e.to_error();
        return (files, Err(err));
    }
    let user = settings::read(&files.sources(cfg));
    if let Ok(u) = &user {
        let eff = &u.effective;
        if let Some(p) = setting_path(eff, "exec-root") {
            files.exec_root = p;
        }
        files.pidfile = setting_path(eff, "pidfile").unwrap_or_else(|| {
            files
                .exec_root
                .parent()
                .unwrap_or(&roots.var_run)
                .join("docker.pid")
        });
        files.foreign_pidfiles = foreign_pidfiles(&files, eff);
    }
    (files, user)
}

/// `text` (daemon.json at `file`) has a storage-driver that `<file>.bak` lacks.
fn driver_added_since_bak(text: &str, file: &Path) -> bool {
    let has_driver = |t: &str| {
        serde_json::from_str::<serde_json::Map<String, Value>>(t)
            .ok()
            .map(|m| m.contains_key("storage-driver"))
    };
    let mut bak = file.as_os_str().to_owned();
    bak.push(".bak");
    let bak = std::fs::read_to_string(PathBuf::from(bak)).ok();
    has_driver(text) == Some(true) && bak.as_deref().and_then(has_driver) == Some(false)
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

/// `containerd --version`, from the data root's cache for this very binary or run beside
/// the other probes (a Go binary: 30–90 ms).
enum ContainerdVersion {
    Cached(Version),
    Running(PathBuf, std::result::Result<std::process::Child, String>),
}

impl ContainerdVersion {
    fn start(bin: &Path, data_root: &Path) -> ContainerdVersion {
        let program = bin.to_string_lossy();
        let cached = version_cache_key(&program)
            .and_then(|k| read_version_cache(&data_root.join(CONTAINERD_VERSION_CACHE), &k));
        match cached {
            Some(v) => ContainerdVersion::Cached(v),
            None => ContainerdVersion::Running(bin.to_path_buf(), spawn_version(&program)),
        }
    }

    fn finish(self) -> std::result::Result<Version, String> {
        match self {
            ContainerdVersion::Cached(v) => Ok(v),
            ContainerdVersion::Running(bin, child) => {
                finish_version(&bin.to_string_lossy(), child, parse_containerd_version)
            }
        }
    }
}

/// Gather every fact the planner needs. Never fails and never panics: what cannot be
/// probed is recorded as such. Creates only short-lived scratch dirs (trial, d_type).
pub fn probe(cfg: &Config, roots: &Roots) -> Facts {
    let euid = nix::unistd::geteuid().as_raw();
    let cap = cap_sys_admin().unwrap_or(false);
    let mounts = std::fs::read_to_string(roots.proc.join("self/mountinfo"))
        .map_err(|e| format!("read {}: {e}", roots.proc.join("self/mountinfo").display()))
        .and_then(|t| parse_mountinfo(&t).map_err(|e| e.to_string()));
    let table: &[Mount] = mounts.as_deref().unwrap_or(&[]);
    let path_var = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());

    let (daemon, user_settings) = read_daemon_files(cfg, roots);
    let effective = user_settings.map(|u| u.effective).unwrap_or_default();

    let user = crate::user::resolve(&roots.etc, cfg.user.as_ref())
        .map(|u| Account {
            home_owner: dir_owner(&u.home).map(|o| o.uid),
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            home: u.home,
        })
        .map_err(|e| e.to_string());

    let volumes: Vec<PathBuf> = persistent_volumes(table, |p| p.is_dir())
        .into_iter()
        .map(|m| m.mount_point.clone())
        .collect();
    let user_data_root = setting_path(&effective, "data-root").map(|p| {
        let origin = effective
            .get("data-root")
            .map(|(_, o)| o.to_string())
            .unwrap_or_default();
        (p, origin)
    });
    let (dr_path, from, why) = choose_data_root(cfg, user_data_root, &user, table, &volumes);
    // `dockerd --version` is most of the probe's time: skip it when this very binary's
    // version is cached on the data root (a pod restart), else run it beside the probes below.
    let cache_key = version_cache_key(&cfg.dockerd);
    let cached = cache_key
        .as_deref()
        .and_then(|k| read_version_cache(&dr_path.join(VERSION_CACHE), k));
    let version_child = match cached {
        Some(_) => None,
        None => Some(spawn_version(&cfg.dockerd)),
    };
    let containerd_bin = which("containerd", &path_var);
    let containerd_pending = containerd_bin
        .as_deref()
        .map(|bin| ContainerdVersion::start(bin, &dr_path));
    let dr_loc = locate(&dr_path, table);
    let data_root = DataRoot {
        exists: dr_path.is_dir(),
        owner: dir_owner(&dr_path),
        has_data: has_data(&dr_path),
        drivers: driver_data(&dr_path),
        path: dr_path.clone(),
        from,
        why,
        location: dr_loc,
        reserve: crate::reserve::find(&dr_path, free_bytes(&nearest_existing(&dr_path)).ok()),
    };

    let vld_path = roots.var_lib.join("docker");
    let vld_meta = std::fs::symlink_metadata(&vld_path).ok();
    let symlink = vld_meta
        .as_ref()
        .filter(|m| m.file_type().is_symlink())
        .and_then(|_| std::fs::read_link(&vld_path).ok());
    let vld_mount_path =
        nearest_existing(vld_path.parent().unwrap_or(Path::new("/"))).join("docker");
    let vld_mount = if symlink.is_none() {
        mount_at(table, &vld_mount_path).cloned()
    } else {
        None
    };
    let dr_canonical = std::fs::canonicalize(&dr_path).ok();
    let bind_of_data_root = match (&vld_mount, &dr_canonical) {
        (Some(m), Some(d)) => is_bind_of(table, m, d),
        _ => false,
    };
    let vld_probed = nearest_existing(&vld_path);
    let vld_holder = mount_for(table, &vld_probed);
    let dr_mount_id = data_root.location.mount.as_ref().map(|m| m.id);
    let vld_loc = if vld_holder.is_some() && vld_holder.map(|m| m.id) == dr_mount_id {
        Location {
            path: vld_path.clone(),
            probed: vld_probed.clone(),
            mount: vld_holder.cloned(),
            fs: data_root.location.fs.clone(),
            free_bytes: data_root.location.free_bytes.clone(),
            d_type: data_root.location.d_type.clone(),
            trial: data_root.location.trial.clone(),
        }
    } else {
        locate(&vld_path, table)
    };
    let var_lib_docker = VarLibDocker {
        exists: vld_meta.is_some(),
        symlink,
        mount: vld_mount,
        bind_of_data_root,
        has_data: has_data(&vld_path),
        drivers: driver_data(&vld_path),
        parent_writable: vld_path
            .parent()
            .is_some_and(|p| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()),
        path: vld_path,
        location: vld_loc,
    };

    let containerd_socket = roots.run.join("containerd/containerd.sock");
    let containerd_serving = socket_serving(&containerd_socket);
    let var_lib_containerd =
        containerd_serving.then(|| locate(&roots.var_lib.join("containerd"), table));

    let dockerd = Dockerd {
        program: cfg.dockerd.clone(),
        version: match (cached, version_child) {
            (Some(v), _) => Ok(v),
            (None, Some(child)) => finish_version(&cfg.dockerd, child, parse_docker_version),
            (None, None) => Err("no version".into()),
        },
    };

    let mut stale_pidfiles = Vec::new();
    for (p, name) in [
        (daemon.pidfile.clone(), "dockerd"),
        (
            daemon.exec_root.join("containerd/containerd.pid"),
            "containerd",
        ),
    ] {
        if stale_pidfile(&p, name, &roots.proc) == Some(true) {
            stale_pidfiles.push(p);
        }
    }

    let storage_proof = crate::proof::find(
        &data_root.path,
        &cfg.dockerd,
        containerd_bin.as_deref(),
        version_cache_key,
    );
    Facts {
        euid,
        cap_sys_admin: cap,
        cgroup: cgroup_version(table, &roots.sys_cgroup),
        kernel: kernel_release(&roots.proc),
        dev_fuse: dev_fuse_usable(&roots.dev),
        fuse_overlayfs: which("fuse-overlayfs", &path_var),
        containerd_version: match containerd_pending {
            Some(pending) => pending.finish(),
            None => Err("containerd is not on PATH".into()),
        },
        containerd_bin,
        dockerd,
        daemon,
        user,
        data_root,
        volumes,
        var_lib_docker,
        var_lib_containerd,
        containerd_socket,
        containerd_serving,
        stale_pidfiles,
        mtu: probe_mtu(&roots.proc, &roots.sys_class_net),
        pod_nets: crate::netpool::PodNets::read(&roots.proc),
        tls: crate::tls::probe(cfg, &roots.etc, &roots.proc, || which("openssl", &path_var)),
        storage_proof,
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn fixture_text(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mountinfo")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn fixture(name: &str) -> Vec<Mount> {
        parse_mountinfo(&fixture_text(name)).unwrap()
    }

    /// A scratch directory removed on drop (no tempfile crate).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(scratch_name(&format!("test-{tag}")));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".dind-init"))
            .collect()
    }

    #[test]
    fn this_vm_parses_and_is_cgroup_hybrid() {
        let m = fixture("this-vm.txt");
        assert!(m.len() >= 10);
        assert_eq!(
            cgroup_version(&m, Path::new("/sys/fs/cgroup")),
            CgroupVersion::Hybrid
        );
        assert_eq!(
            cgroup_version(&fixture("k3s-devpod.txt"), Path::new("/sys/fs/cgroup")),
            CgroupVersion::V2
        );
        let v1: Vec<Mount> = m.into_iter().filter(|x| x.fs_type != "cgroup2").collect();
        assert_eq!(
            cgroup_version(&v1, Path::new("/sys/fs/cgroup")),
            CgroupVersion::V1
        );
        assert_eq!(
            cgroup_version(&fixture("escapes.txt"), Path::new("/sys/fs/cgroup")),
            CgroupVersion::Unknown
        );
    }

    #[test]
    fn persistent_volumes_finds_the_pvc_only() {
        let dir = |_: &Path| true;
        let k3s = fixture("k3s-devpod.txt");
        let v: Vec<&PathBuf> = persistent_volumes(&k3s, dir)
            .into_iter()
            .map(|m| &m.mount_point)
            .collect();
        assert_eq!(v, vec![&PathBuf::from("/home/coder")]);
        let restart = fixture("pod-restart.txt");
        assert_eq!(
            persistent_volumes(&restart, dir).len(),
            1,
            "bind of the same fs is not a second volume"
        );
        assert!(persistent_volumes(&fixture("pvc-overlay.txt"), dir).is_empty());
        assert!(persistent_volumes(&fixture("docker-host.txt"), dir).is_empty());
        assert!(
            persistent_volumes(&k3s, |_| false).is_empty(),
            "file binds are not volumes"
        );
    }

    #[test]
    fn fs_names_by_magic() {
        assert_eq!(fs_name(0xEF53), "ext4");
        assert_eq!(fs_name(0x794c7630), "overlay");
        assert_eq!(fs_name(0x01021994), "tmpfs");
        assert_eq!(fs_name(0x58465342), "xfs");
        assert_eq!(fs_name(0x1234), "unknown");
        let k = fs_kind(Path::new("/proc")).unwrap();
        assert_eq!(k.name, "proc");
        assert!(fs_kind(Path::new("/nonexistent/dind")).is_err());
        assert!(free_bytes(&std::env::temp_dir()).unwrap() > 0);
    }

    #[test]
    fn d_type_probe_cleans_up() {
        let t = TempDir::new("dtype");
        assert_eq!(d_type_supported(&t.0), Ok(true));
        assert!(leftovers(&t.0).is_empty());
        assert!(d_type_supported(&t.0.join("missing")).is_err());
    }

    #[test]
    fn docker_versions() {
        let v = |s| parse_docker_version(s).map(|v| (v.major, v.minor, v.patch));
        assert_eq!(
            v("Docker version 20.10.24+dfsg1, build 5d6db84"),
            Some((20, 10, 24))
        );
        assert_eq!(
            v("Docker version 26.1.5+dfsg1, build a72d7cd"),
            Some((26, 1, 5))
        );
        assert_eq!(
            v("Docker version 29.0.1, build eedd969\n"),
            Some((29, 0, 1))
        );
        assert_eq!(v("Docker version 28.0, build x"), Some((28, 0, 0)));
        assert_eq!(v("dockerd: command not found"), None);
        assert_eq!(v("Docker version , build"), None);
        assert!(dockerd_version("/nonexistent/dockerd").is_err());
        assert!(dockerd_version("false").is_err());
    }

    #[test]
    fn containerd_versions() {
        let v = |s| parse_containerd_version(s).map(|v| (v.major, v.minor, v.patch));
        let rows = [
            (
                "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n",
                Some((1, 6, 20)),
            ),
            (
                "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1\n",
                Some((1, 7, 24)),
            ),
            (
                "containerd github.com/containerd/containerd/v2 2.1.9+unknown \n",
                Some((2, 1, 9)),
            ),
            (
                "containerd containerd.io v1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da\n",
                Some((1, 7, 27)),
            ),
            (
                "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376",
                Some((2, 1, 4)),
            ),
            ("containerd: command not found", None),
            ("", None),
        ];
        for (text, want) in rows {
            assert_eq!(v(text), want, "{text:?}");
        }
        assert!(containerd_version("/nonexistent/containerd").is_err());
        assert!(containerd_version("false").is_err());
    }

    #[test]
    fn default_route_and_mtu() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_iface(route), Some("eth0".into()));
        assert_eq!(default_route_iface("Iface\tDestination\n"), None);
        let t = TempDir::new("mtu");
        std::fs::create_dir_all(t.0.join("proc/net")).unwrap();
        std::fs::create_dir_all(t.0.join("net/eth0")).unwrap();
        std::fs::write(t.0.join("proc/net/route"), route).unwrap();
        std::fs::write(t.0.join("net/eth0/mtu"), "1450\n").unwrap();
        assert_eq!(
            probe_mtu(&t.0.join("proc"), &t.0.join("net")),
            Some(Mtu {
                iface: "eth0".into(),
                mtu: 1450
            })
        );
    }

    #[test]
    fn stale_pidfiles() {
        let t = TempDir::new("pid");
        let proc = t.0.join("proc");
        std::fs::create_dir_all(proc.join("4242")).unwrap();
        std::fs::create_dir_all(proc.join("4343")).unwrap();
        std::fs::write(
            proc.join("4242/cmdline"),
            b"/usr/bin/dockerd\0-H\0unix:///x\0",
        )
        .unwrap();
        std::fs::write(proc.join("4343/cmdline"), b"/bin/bash\0").unwrap();
        let pf = t.0.join("docker.pid");
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), None);
        std::fs::write(&pf, "4242").unwrap();
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), Some(false));
        assert_eq!(stale_pidfile(&pf, "containerd", &proc), Some(true));
        std::fs::write(&pf, "4343\n").unwrap();
        assert_eq!(
            stale_pidfile(&pf, "dockerd", &proc),
            Some(true),
            "pid reused by bash"
        );
        std::fs::write(&pf, "99999").unwrap();
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), Some(true), "gone");
        std::fs::write(&pf, "garbage").unwrap();
        assert_eq!(
            stale_pidfile(&pf, "dockerd", &proc),
            Some(false),
            "not a pidfile: never listed for removal"
        );
        std::fs::write(&pf, "\\documentclass{article}\n99999\n").unwrap();
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), Some(false));
    }

    #[test]
    fn pidfile_verdict_is_the_daemon_named_in_argv0() {
        let cmd = |c: &'static [u8]| move |_| Ok::<_, String>(Some(c.to_vec()));
        let names = &["dockerd", "containerd"][..];
        assert_eq!(
            pidfile_verdict(b"77\n", names, cmd(b"/usr/bin/containerd\0-c\0")),
            Ok(Pidfile::Live(77, "containerd"))
        );
        assert_eq!(
            pidfile_verdict(b"77", names, cmd(b"/usr/bin/dockerd-wrapper\0")),
            Ok(Pidfile::Stale(77))
        );
        assert_eq!(
            pidfile_verdict(b"77", names, cmd(b"")),
            Ok(Pidfile::Stale(77))
        );
        assert_eq!(
            pidfile_verdict(b"77", names, |_| Ok::<_, String>(None)),
            Ok(Pidfile::Stale(77)),
            "gone"
        );
        let failed = pidfile_verdict(b"77", names, |pid| Err(format!("read {pid}")));
        assert_eq!(failed, Err("read 77".to_string()));
    }

    /// Only a small file holding one PID is a pidfile (issue 10 item 11): rows of
    /// (content, PID), None for a file never to be removed.
    #[test]
    fn pidfile_pid_accepts_one_pid_and_nothing_else() {
        let rows: &[(&[u8], Option<u32>)] = &[
            (b"4242", Some(4242)),
            (b"4242\n", Some(4242)),
            (b"1\n", Some(1)),
            (b"4294967295", Some(u32::MAX)),
            (b"", None),
            (b"\n", None),
            (b"0", None),
            (b"-5", None),
            (b"+5", None),
            (b" 77\n", None),
            (b"77 \n", None),
            (b"77\n\n", None),
            (b"77\r\n", None),
            (b"4294967296", None),
            (b"4242\n4243\n", None),
            (b"garbage", None),
            (b"\\documentclass{article}\n", None),
            (b"000000000000000000000000000000042", None),
            (b"00000000000000000000000000000042", Some(42)),
        ];
        for (text, want) in rows {
            assert_eq!(
                pidfile_pid(text),
                *want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
            let never = |_| Err("cmdline read without a pid".to_string());
            if want.is_none() {
                assert_eq!(
                    pidfile_verdict(text, &["dockerd"], never),
                    Ok(Pidfile::NotAPidfile)
                );
            }
        }
    }

    /// probe's has_data and apply's check share this rule (issue 10 item 10).
    #[test]
    fn data_entries_exclude_lost_found_and_our_leftovers() {
        let never = || Err("asked about a name that is not lost+found");
        for (name, empty, data) in [
            ("lost+found", Ok(true), Ok(false)),
            ("lost+found", Ok(false), Ok(true)),
            ("lost+found", Err("EACCES"), Err("EACCES")),
        ] {
            assert_eq!(is_data_entry(OsStr::new(name), || empty), data);
        }
        for (name, data) in [
            (".dind-init.lock", false),
            (".dind-init-trial-16-3487-3", false),
            (".dind-init-dtype-16-3487-3", false),
            (".dind-init-dockerd-version", false),
            ("overlay2", true),
            ("lost+found.old", true),
            (".dind", true),
            ("thesis.tex", true),
        ] {
            assert_eq!(is_data_entry(OsStr::new(name), never), Ok(data), "{name}");
        }
    }

    #[test]
    fn driver_dirs_and_layers() {
        let t = TempDir::new("drivers");
        assert!(driver_data(&t.0).is_empty());
        assert!(!has_data(&t.0));
        std::fs::create_dir_all(t.0.join("lost+found")).unwrap();
        std::fs::write(t.0.join(".dind-init.lock"), "").unwrap();
        assert!(!has_data(&t.0), "lost+found and our lock are not data");
        std::fs::write(t.0.join("lost+found/#12"), "recovered").unwrap();
        assert!(has_data(&t.0), "what fsck recovered is the user's");
        std::fs::remove_file(t.0.join("lost+found/#12")).unwrap();
        for l in ["a", "b", "c"] {
            std::fs::create_dir_all(t.0.join("vfs/dir").join(l)).unwrap();
        }
        std::fs::create_dir_all(t.0.join("overlay2/l")).unwrap();
        std::fs::create_dir_all(
            t.0.join("containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/1"),
        )
        .unwrap();
        assert!(has_data(&t.0));
        let d = driver_data(&t.0);
        let find = |dr: Driver, snap: bool| {
            d.iter()
                .find(|x| x.driver == dr && x.snapshotter == snap)
                .map(|x| x.layers)
        };
        assert_eq!(find(Driver::Vfs, false), Some(3));
        let vfs = d.iter().find(|x| x.driver == Driver::Vfs).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(vfs.newest + 60 > now && vfs.newest <= now, "{vfs:?}");
        assert_eq!(
            find(Driver::Overlay2, false),
            Some(0),
            "only the skeleton l/"
        );
        assert_eq!(find(Driver::Overlayfs, true), Some(1));
        assert_eq!(find(Driver::Native, true), None);
    }

    #[test]
    fn which_needs_an_executable() {
        let t = TempDir::new("which");
        std::fs::write(t.0.join("tool"), "#!/bin/sh\n").unwrap();
        let path = OsString::from(t.0.as_os_str());
        assert_eq!(which("tool", &path), None, "not executable");
        std::fs::set_permissions(t.0.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(which("tool", &path), Some(t.0.join("tool")));
        assert!(dev_fuse_usable(&t.0).is_err());
    }

    #[test]
    fn trial_not_tried_without_cap_or_dir() {
        let t = TempDir::new("nocap");
        assert!(
            matches!(overlay_trial_with(&t.0, false), Trial::NotTried { why } if why.contains("CAP_SYS_ADMIN"))
        );
        assert!(
            matches!(overlay_trial_with(&t.0.join("missing"), true), Trial::NotTried { why } if why.contains("missing"))
        );
        assert!(leftovers(&t.0).is_empty());
        assert!(nearest_existing(&t.0.join("a/b/c")) == std::fs::canonicalize(&t.0).unwrap());
    }

    #[test]
    fn a_trial_that_could_not_run_is_no_verdict_on_overlay() {
        use nix::errno::Errno::*;
        use TrialStep::{Overlay, Prepare};
        let mkdir = "mkdir /home/coder/.dind-init-trial-1";
        let mount = "mount src=overlay dst=/home/coder/.dind-init-trial-1/merged flags=0 data=…";
        let full = |errno: &str, call: &str| Trial::Blocked {
            trouble: Trouble::VolumeFull,
            errno: errno.into(),
            call: call.into(),
        };
        let rows: Vec<(&str, TrialStep, &str, nix::errno::Errno, Trial)> = vec![
            (
                "PVC full to the last block",
                Prepare,
                mkdir,
                ENOSPC,
                full("ENOSPC", mkdir),
            ),
            ("user quota", Prepare, mkdir, EDQUOT, full("EDQUOT", mkdir)),
            (
                "full while copying up",
                Overlay,
                mount,
                ENOSPC,
                full("ENOSPC", mount),
            ),
            (
                "ext4 remounted ro after errors",
                Prepare,
                mkdir,
                EROFS,
                Trial::Blocked {
                    trouble: Trouble::ReadOnly,
                    errno: "EROFS".into(),
                    call: mkdir.into(),
                },
            ),
            (
                "failing disk",
                Overlay,
                mount,
                EIO,
                Trial::Blocked {
                    trouble: Trouble::Io,
                    errno: "EIO".into(),
                    call: mount.into(),
                },
            ),
            (
                "a planted symlink",
                Prepare,
                mkdir,
                ELOOP,
                Trial::NotTried {
                    why: format!("{mkdir}: ELOOP"),
                },
            ),
            (
                "overlay upper on overlay: the kernel refuses",
                Overlay,
                mount,
                EINVAL,
                Trial::Failed {
                    errno: "EINVAL".into(),
                    call: mount.into(),
                },
            ),
            (
                "no overlay in this kernel",
                Overlay,
                mount,
                ENODEV,
                Trial::Failed {
                    errno: "ENODEV".into(),
                    call: mount.into(),
                },
            ),
        ];
        for (name, step, call, errno, want) in rows {
            let got = trial_verdict(step, call.into(), errno);
            assert_eq!(got, want, "{name}");
            assert_eq!(got.failed(), matches!(errno, EINVAL | ENODEV), "{name}");
        }
        let t = full("ENOSPC", mkdir);
        assert!(t.to_string().contains("volume full"), "{t}");
    }

    #[test]
    fn volume_trouble_from_daemon_words() {
        let rows = [
            (
                "write /var/lib/docker/tmp/x: no space left on device",
                Some(Trouble::VolumeFull),
            ),
            (
                "mkdir /home/coder/.docker-data/overlay2/abc: disk quota exceeded",
                Some(Trouble::VolumeFull),
            ),
            (
                "open /var/lib/docker/image/x: read-only file system",
                Some(Trouble::ReadOnly),
            ),
            (
                "read /var/lib/docker/overlay2/l/X: input/output error",
                Some(Trouble::Io),
            ),
            (
                "failed to mount /tmp/containerd-mount1: invalid argument",
                None,
            ),
        ];
        for (text, want) in rows {
            assert_eq!(Trouble::from_text(text), want, "{text}");
        }
        assert!(Trouble::ReadOnly.words().contains("read-only"));
        assert!(Trouble::Io.words().contains("I/O error"));
        // Without Docker only files and the PVC can be changed; with it, Docker shows and prunes.
        assert!(!Trouble::VolumeFull.remedy().contains("docker"));
        assert!(Trouble::VolumeFull.remedy().contains("delete files"));
        assert!(Trouble::VolumeFull.remedy().starts_with("free space"));
        assert!(Trouble::VolumeFull
            .remedy_with_docker()
            .contains("docker system df"));
        assert!(Trouble::VolumeFull
            .remedy_with_docker()
            .starts_with("free space"));
    }

    #[test]
    fn scratch_dirs_are_never_made_through_a_link() {
        let t = TempDir::new("nofollow");
        let real = t.0.join("real");
        std::fs::create_dir(&real).unwrap();
        let link = t.0.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(d_type_supported(&link).is_err(), "d_type through a link");
        let trial = overlay_trial_with(&link, true);
        assert!(
            matches!(&trial, Trial::NotTried { why } if why.contains("ELOOP") || why.contains("ENOTDIR")),
            "{trial:?}"
        );
        assert!(
            leftovers(&real).is_empty(),
            "nothing made at the link's target"
        );
        assert_eq!(d_type_supported(&real), Ok(true));
        assert!(leftovers(&real).is_empty());
    }

    #[test]
    fn scratch_ids_are_dropped_from_trial_calls() {
        assert_eq!(
            without_scratch_ids("mount src=overlay dst=/v/.dind-init-trial-16-3487-3/merged data=lowerdir=/v/.dind-init-trial-16-3487-3/lower: EINVAL"),
            "mount src=overlay dst=/v/.dind-init-trial/merged data=lowerdir=/v/.dind-init-trial/lower: EINVAL"
        );
        assert_eq!(without_scratch_ids("mkdir /x"), "mkdir /x");
    }

    #[test]
    fn an_emptydir_is_no_persistent_volume() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mountinfo/k3s-emptydir-docker.txt"
        ))
        .unwrap();
        // Plus an emptyDir at /workspace, where nothing system-path filters it out.
        let text = format!("{text}2913 2890 259:2 /var/lib/kubelet/pods/6c1f/volumes/kubernetes.io~empty-dir/ws /workspace rw,relatime - ext4 /dev/nvme0n1p2 rw\n");
        let m = parse_mountinfo(&text).unwrap();
        let vld = mount_at(&m, Path::new("/var/lib/docker")).unwrap();
        assert!(is_ephemeral_volume(vld));
        let home = mount_at(&m, Path::new("/home/coder")).unwrap();
        assert!(!is_ephemeral_volume(home));
        let vols: Vec<&Path> = persistent_volumes(&m, |_| true)
            .iter()
            .map(|v| v.mount_point.as_path())
            .collect();
        assert_eq!(vols, [Path::new("/home/coder")]);
    }

    #[test]
    fn version_cache_is_used_only_for_the_same_binary() {
        let dir = std::env::temp_dir().join(format!("dind-init-vcache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(VERSION_CACHE);
        let v = Version {
            major: 26,
            minor: 1,
            patch: 5,
        };
        std::fs::write(&file, version_cache_text("/usr/sbin/dockerd 123 4.5", &v)).unwrap();
        assert_eq!(
            read_version_cache(&file, "/usr/sbin/dockerd 123 4.5"),
            Some(v)
        );
        assert_eq!(read_version_cache(&file, "/usr/sbin/dockerd 124 4.5"), None);
        let c = Version {
            major: 2,
            minor: 1,
            patch: 9,
        };
        let file = dir.join(CONTAINERD_VERSION_CACHE);
        std::fs::write(
            &file,
            containerd_cache_text("/usr/bin/containerd 9 1.2", &c),
        )
        .unwrap();
        assert_eq!(
            read_version_cache(&file, "/usr/bin/containerd 9 1.2"),
            Some(c)
        );
        assert_eq!(read_version_cache(&file, "/usr/bin/containerd 9 1.3"), None);
        std::fs::remove_dir_all(&dir).unwrap();
        let key = version_cache_key("sh").expect("sh is on PATH");
        assert!(key.starts_with('/'), "{key}");
        assert_eq!(version_cache_key("/nonexistent/dockerd"), None);
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
            let t = TempDir::new("daemonfiles");
            let r = Roots {
                etc: t.0.join("etc"),
                var_run: t.0.join("var/run"),
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
    fn probe_on_a_temp_tree_records_every_fact() {
        let t = TempDir::new("probe");
        let r = Roots {
            proc: t.0.join("proc"),
            etc: t.0.join("etc"),
            dev: t.0.join("dev"),
            sys_cgroup: "/sys/fs/cgroup".into(),
            sys_class_net: t.0.join("net"),
            run: t.0.join("run"),
            var_run: t.0.join("var/run"),
            var_lib: t.0.join("var/lib"),
        };
        let home = t.0.join("home/coder");
        for d in [
            r.proc.join("self"),
            r.proc.join("net"),
            r.proc.join("77"),
            r.etc.join("docker"),
            r.var_run.join("docker/containerd"),
            r.var_lib.join("docker/vfs/dir/layer1"),
            home.clone(),
            t.0.join("net/eth0"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(r.proc.join("self/mountinfo"), fixture_text("this-vm.txt")).unwrap();
        std::fs::write(
            r.proc.join("net/route"),
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nenp1\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\nenp1\t000010AC\t0101A8C0\t0003\t0\t0\t0\t0000F0FF\n",
        )
        .unwrap();
        std::fs::write(t.0.join("net/eth0/mtu"), "1450\n").unwrap();
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
        let mine = t.0.join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink(&mine, t.0.join("link")).unwrap();
        let euid = nix::unistd::geteuid().as_raw();
        assert!(dir_owner(&mine).is_some_and(|o| o.mode == 0o750 && o.uid == euid));
        assert_eq!(dir_owner(&t.0.join("link")), None, "a link is not followed");
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
        let t = TempDir::new("foreign-pidfile");
        let r = Roots {
            proc: t.0.join("proc"),
            etc: t.0.join("etc"),
            dev: t.0.join("dev"),
            sys_cgroup: "/sys/fs/cgroup".into(),
            sys_class_net: t.0.join("net"),
            run: t.0.join("run"),
            var_run: t.0.join("var/run"),
            var_lib: t.0.join("var/lib"),
        };
        std::fs::create_dir_all(r.etc.join("docker")).unwrap();
        std::fs::create_dir_all(r.var_run.join("docker")).unwrap();
        let thesis = t.0.join("thesis.tex");
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

    /// The CI rule of tests/common: skip politely when not root, fail in CI.
    fn root_or_skip() -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("prerequisite missing in CI: needs root");
        }
        eprintln!("SKIP: needs root");
        false
    }

    #[test]
    fn trial_mount_works_on_a_real_fs_and_fails_on_overlay() {
        if !root_or_skip() {
            return;
        }
        use nix::mount::{mount, MsFlags};
        // A private mount namespace for this test thread only: nothing leaks to the host.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .unwrap();
        let t = TempDir::new("trial");
        let good = t.0.join("real fs, with: odd chars");
        std::fs::create_dir_all(&good).unwrap();
        let fs = fs_kind(&good).unwrap().name;
        if fs == "overlay" {
            mount(
                Some("tmpfs"),
                &good,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .unwrap();
        }
        assert_eq!(overlay_trial(&good), Trial::Ok, "on {fs}");
        assert!(leftovers(&good).is_empty());

        let (l, u, w, m) = (t.0.join("l"), t.0.join("u"), t.0.join("w"), t.0.join("m"));
        for d in [&l, &u, &w, &m] {
            std::fs::create_dir(d).unwrap();
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            l.display(),
            u.display(),
            w.display()
        );
        mount(
            Some("overlay"),
            &m,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .unwrap();
        assert_eq!(fs_kind(&m).unwrap().name, "overlay");
        let trial = overlay_trial(&m);
        match &trial {
            Trial::Failed { errno, call } => {
                assert_eq!(errno, "EINVAL", "{trial}");
                assert!(call.starts_with("mount src=overlay dst="), "{call}");
                assert!(call.contains(" flags=0 data=lowerdir="), "{call}");
                assert!(trial.to_string().ends_with(": EINVAL)"));
            }
            other => panic!("expected EINVAL on overlay, got {other:?}"),
        }
        assert!(
            leftovers(&m).is_empty(),
            "trial tree removed on the error path"
        );
        let live = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
        assert!(
            !live.contains(".dind-init-trial"),
            "no trial mount left behind"
        );
        nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH).unwrap();
        if fs == "overlay" {
            nix::mount::umount2(&good, nix::mount::MntFlags::MNT_DETACH).unwrap();
        }
    }

    /// A private mount namespace for this test thread only: nothing leaks to the host.
    fn private_mounts() {
        use nix::mount::{mount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .unwrap();
    }

    fn tmpfs(at: &Path, opts: &str) {
        use nix::mount::{mount, MsFlags};
        std::fs::create_dir_all(at).unwrap();
        mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::empty(),
            Some(opts),
        )
        .unwrap();
    }

    #[test]
    fn trial_on_a_full_a_read_only_and_a_very_deep_volume() {
        if !root_or_skip() {
            return;
        }
        private_mounts();
        let t = TempDir::new("volumes");

        // Full to the last inode: mkdir of the scratch dir gets ENOSPC.
        let full = t.0.join("full");
        tmpfs(&full, "size=1m,nr_inodes=8");
        for i in 0.. {
            if std::fs::write(full.join(format!("f{i}")), b"x").is_err() {
                break;
            }
        }
        let trial = overlay_trial(&full);
        assert!(
            matches!(&trial, Trial::Blocked { trouble: Trouble::VolumeFull, errno, .. } if errno == "ENOSPC"),
            "{trial:?}"
        );
        assert!(!trial.failed(), "no verdict on overlay");

        // Read-only: EROFS.
        let ro = t.0.join("ro");
        tmpfs(&ro, "ro,size=1m");
        let trial = overlay_trial(&ro);
        assert!(
            matches!(
                &trial,
                Trial::Blocked {
                    trouble: Trouble::ReadOnly,
                    ..
                }
            ),
            "{trial:?}"
        );

        // A data root deeper than one page of mount options still gets its trial.
        let deep_fs = t.0.join("deep");
        tmpfs(&deep_fs, "size=4m");
        let mut deep = deep_fs.clone();
        while deep.as_os_str().len() < 1500 {
            deep.push("a-rather-long-directory-name-on-the-volume");
        }
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(
            overlay_trial(&deep),
            Trial::Ok,
            "{} bytes",
            deep.as_os_str().len()
        );
        assert!(leftovers(&deep).is_empty());
        for d in [&deep_fs, &ro, &full] {
            nix::mount::umount2(d, nix::mount::MntFlags::MNT_DETACH).unwrap();
        }
    }
}
