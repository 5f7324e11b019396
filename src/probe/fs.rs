//! Filesystem facts: the statfs type ([`FsKind`]) and which types are volatile or
//! block-device ones, free bytes, what a directory's filesystem offers ([`Location`],
//! [`locate`]), a directory's [`Owner`], the pod's persistent volumes, and the one
//! emptiness rule ([`is_data_entry`], [`has_data`]).
//!
//! Owns reading these facts; it never creates, changes or removes anything (the
//! trial's scratch dirs are `trial`'s) and decides nothing.

use super::{d_type_supported, mount_for, overlay_trial, Mount, Trial};
use serde::Serialize;
use std::convert::Infallible;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
pub(super) fn dir_owner(path: &Path) -> Option<Owner> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::fixture;
    use crate::probe::{mount_at, parse_mountinfo};

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
}
