//! Facts about the host as the container sees it: capabilities, /dev/fuse, programs on
//! PATH, the cgroup hierarchy, the kernel release and the default route's MTU.
//!
//! Owns reading those facts only; what they mean for Docker is the plan's business.

use super::{mount_at, Mount};
use serde::Serialize;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// The kernel's release, as `uname -r` prints it, from procfs.
pub fn kernel_release(proc: &Path) -> std::result::Result<String, String> {
    let file = proc.join("sys/kernel/osrelease");
    match std::fs::read_to_string(&file) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        Ok(_) => Err(format!("{} is empty", file.display())),
        Err(e) => Err(format!("read {}: {e}", file.display())),
    }
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

pub(super) fn probe_mtu(proc: &Path, sys_class_net: &Path) -> Option<Mtu> {
    let route = std::fs::read_to_string(proc.join("net/route")).ok()?;
    let iface = default_route_iface(&route)?;
    let mtu = std::fs::read_to_string(sys_class_net.join(&iface).join("mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Mtu { iface, mtu })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::fixture;
    use std::ffi::OsString;

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
    fn default_route_and_mtu() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_iface(route), Some("eth0".into()));
        assert_eq!(default_route_iface("Iface\tDestination\n"), None);
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("proc/net")).unwrap();
        std::fs::create_dir_all(t.path().join("net/eth0")).unwrap();
        std::fs::write(t.path().join("proc/net/route"), route).unwrap();
        std::fs::write(t.path().join("net/eth0/mtu"), "1450\n").unwrap();
        assert_eq!(
            probe_mtu(&t.path().join("proc"), &t.path().join("net")),
            Some(Mtu {
                iface: "eth0".into(),
                mtu: 1450
            })
        );
    }

    #[test]
    fn which_needs_an_executable() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("tool"), "#!/bin/sh\n").unwrap();
        let path = OsString::from(t.path().as_os_str());
        assert_eq!(which("tool", &path), None, "not executable");
        std::fs::set_permissions(
            t.path().join("tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_eq!(which("tool", &path), Some(t.path().join("tool")));
        assert!(dev_fuse_usable(t.path()).is_err());
    }
}
