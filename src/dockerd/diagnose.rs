//! A daemon's last lines turned into one plain sentence: what is wrong, what to do.

use crate::probe::Trouble;
use std::path::Path;

/// Turn a daemon's last lines into one plain sentence saying what is wrong and
/// what to do, for the known ways dockerd/containerd fail in pods; None when no
/// line is recognised. `data_root` and `driver` are what dind-init asked for.
/// Rules are tried in order (the storage problems this tool exists for first),
/// each against every line.
pub fn diagnose(lines: &[String], data_root: &Path, driver: &str) -> Option<String> {
    let tail = Tail {
        lines,
        lower: lines.iter().map(|l| l.to_ascii_lowercase()).collect(),
        root: data_root.display().to_string(),
        driver,
    };
    RULES.iter().find_map(|rule| rule(&tail))
}

/// What the rules read: the daemon's lines (as logged, and lowercased for matching)
/// and what dind-init asked for.
struct Tail<'a> {
    lines: &'a [String],
    lower: Vec<String>,
    root: String,
    driver: &'a str,
}

impl Tail<'_> {
    /// The first line (as logged) whose lowercased text satisfies `pred`.
    fn find(&self, pred: impl Fn(&str) -> bool) -> Option<&str> {
        let i = self.lower.iter().position(|l| pred(l))?;
        self.lines.get(i).map(String::as_str)
    }

    /// Does any line satisfy `pred`?
    fn any(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.find(pred).is_some()
    }
}

/// The rules, in the order they are tried: the storage problems this tool exists for first.
const RULES: &[fn(&Tail) -> Option<String>] = &[
    no_overlay_module,
    may_not_mount,
    overlay_on_overlay,
    several_drivers,
    graphdriver_failed,
    pidfile_names_a_process,
    address_in_use,
    iptables_denied,
    cgroup_denied,
    not_root,
    volume_trouble,
    containerd_failed,
];

fn no_overlay_module(t: &Tail) -> Option<String> {
    let driver = t.driver;
    t.any(|l| l.contains("overlay not found as a supported filesystem"))
        .then(|| {
            format!(
                "the kernel has no overlay filesystem, so storage driver {driver} cannot start; \
         load it on the node (modprobe overlay) or set DIND_STORAGE_DRIVER=fuse-overlayfs (or vfs)"
            )
        })
}

fn may_not_mount(t: &Tail) -> Option<String> {
    t.any(|l| l.contains("mount") && l.contains("operation not permitted") && !l.contains("cgroup"))
        .then(|| {
            "dockerd may not mount filesystems: the pod is not privileged — \
             set securityContext.privileged: true on the container"
                .to_string()
        })
}

fn overlay_on_overlay(t: &Tail) -> Option<String> {
    let (driver, root) = (t.driver, &t.root);
    t.any(|l| {
        l.contains("driver not supported")
            || l.contains("not supported as upperdir")
            || l.contains("failed to mount overlay: invalid argument")
            || (l.contains("containerd-mount") && l.contains("invalid argument"))
            || (l.contains("fstype: overlay") && l.contains("invalid argument"))
            || l.contains("is not supported over overlay")
            || l.contains("backing file system is unsupported for this graph driver")
    })
    .then(|| {
        format!(
            "storage driver {driver} cannot work on overlayfs; data root is {root} — \
         set DIND_DATA_ROOT to a directory on the pod's persistent volume"
        )
    })
}

fn several_drivers(t: &Tail) -> Option<String> {
    let root = &t.root;
    t.any(|l| l.contains("contains several valid graphdrivers")).then(|| format!(
        "{root} holds data of several storage drivers and dockerd will not guess; \
         set DIND_STORAGE_DRIVER to the one to keep (the other driver's directory in {root} can then be removed)"
    ))
}

fn graphdriver_failed(t: &Tail) -> Option<String> {
    let (driver, root) = (t.driver, &t.root);
    let line = t.find(|l| l.contains("error initializing graphdriver"))?;
    let detail = after(line, "error initializing graphdriver");
    Some(format!(
        "dockerd could not start storage driver {driver} on {root}{detail}; \
         set DIND_STORAGE_DRIVER=auto or put DIND_DATA_ROOT on the pod's persistent volume"
    ))
}

fn pidfile_names_a_process(t: &Tail) -> Option<String> {
    let line = t.find(|l| l.contains("pid file found, ensure docker is not running"))?;
    let file = line
        .split("or delete ")
        .nth(1)
        .map(|f| f.trim().trim_end_matches('"').to_string())
        .unwrap_or_else(|| "docker.pid".into());
    Some(format!(
        "{file} names a running process, so dockerd thinks another dockerd is running; \
         stop that dockerd, or delete {file} if the process is not dockerd"
    ))
}

fn address_in_use(t: &Tail) -> Option<String> {
    t.any(|l| l.contains("address already in use")).then(|| {
        "dockerd's API socket address is already in use: another dockerd runs in this pod, \
         or -H/\"hosts\" (DIND_DOCKERD_ARGS, daemon.json) names a taken address"
            .to_string()
    })
}

fn iptables_denied(t: &Tail) -> Option<String> {
    t.any(|l| {
        l.contains("iptables")
            && (l.contains("failed")
                || l.contains("permission denied")
                || l.contains("not found")
                || l.contains("can't initialize")
                || l.contains("protocol not supported")
                || l.contains("error"))
    })
    .then(|| {
        "dockerd cannot set up iptables (NAT for containers): run the pod privileged, \
         or add --iptables=false --ip6tables=false to DIND_DOCKERD_ARGS (containers then get no NAT)"
            .to_string()
    })
}

fn cgroup_denied(t: &Tail) -> Option<String> {
    t.any(|l| {
        l.contains("cgroup")
            && (l.contains("permission denied")
                || l.contains("read-only file system")
                || l.contains("operation not permitted"))
    })
    .then(|| {
        "dockerd cannot write the cgroup filesystem (permission denied), so containers cannot start; \
         run the pod privileged (securityContext.privileged: true)"
            .to_string()
    })
}

fn not_root(t: &Tail) -> Option<String> {
    t.any(|l| l.contains("needs to be started with root privileges")).then(|| {
        "dockerd must run as root: run dind-init as root (set DIND_USER for the session instead)".into()
    })
}

/// The volume's trouble (full, read-only, failing), from the last line that names one.
fn volume_trouble(t: &Tail) -> Option<String> {
    let trouble = t.lines.iter().rev().find_map(|l| Trouble::from_text(l))?;
    Some(format!(
        "{}: the volume holding {} cannot be written; {}",
        trouble.words(),
        t.root,
        trouble.remedy()
    ))
}

fn containerd_failed(t: &Tail) -> Option<String> {
    t.any(|l| {
        l.contains("timeout waiting for containerd to start")
            || l.contains("containerd did not exit successfully")
            || l.contains("failed to start containerd")
            || l.contains("failed connecting to containerd")
    })
    .then(|| {
        "containerd did not start or died; its own lines above say why \
         (DIND_CONTAINERD=managed lets dockerd start it instead)"
            .to_string()
    })
}

/// `": <rest>"` of `line` after `marker` (case-insensitive), or "" when nothing follows.
fn after(line: &str, marker: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let Some(i) = lower.find(marker) else {
        return String::new();
    };
    let rest = line
        .get(i + marker.len()..)
        .unwrap_or("")
        .trim_start_matches(':')
        .trim()
        .trim_end_matches('"');
    if rest.is_empty() {
        String::new()
    } else {
        format!(": {rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::too_many_lines)] // a table: one row per case, read as data
    fn diagnose_table_from_real_dockerd_and_containerd_lines() {
        let root = Path::new("/var/lib/docker");
        let overlay =
            "storage driver overlay2 cannot work on overlayfs; data root is /var/lib/docker — \
                       set DIND_DATA_ROOT to a directory on the pod's persistent volume";
        let rows: &[(&str, &str, &str)] = &[
            // dockerd 20.10.24 (Debian bookworm), data root on overlayfs, captured on this machine.
            (
                "time=\"2026-11-24T05:09:23.655078774Z\" level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2",
                "overlay2",
                overlay,
            ),
            (
                "failed to start daemon: error initializing graphdriver: driver not supported",
                "overlay2",
                overlay,
            ),
            // dockerd 24–26.1 (moby overlayutils.SupportsOverlay + layer store wording).
            (
                "failed to start daemon: error initializing graphdriver: driver not supported: overlay2",
                "overlay2",
                overlay,
            ),
            // Kernel (dmesg) when the upper dir is on overlayfs.
            (
                "[  625.876455] overlay: filesystem on /var/lib/docker/check-overlayfs-support355/upper not supported as upperdir",
                "overlay2",
                overlay,
            ),
            // Docker ≥29 containerd image store: healthy daemon, failing mount at first use.
            (
                "docker: Error response from daemon: failed to mount /tmp/containerd-mount2787443106: invalid argument.",
                "overlayfs",
                "storage driver overlayfs cannot work on overlayfs; data root is /var/lib/docker — \
                 set DIND_DATA_ROOT to a directory on the pod's persistent volume",
            ),
            // containerd 2.x mount error (the seed's BuildKit failure).
            (
                "mount source: \"overlay\", target: \"/var/lib/docker/buildkit/x\", fstype: overlay, flags: 0, data: \"index=off\", err: invalid argument",
                "overlayfs",
                "storage driver overlayfs cannot work on overlayfs; data root is /var/lib/docker — \
                 set DIND_DATA_ROOT to a directory on the pod's persistent volume",
            ),
            // moby ≤20.10 overlay2 Init on an overlay backing fs.
            (
                "level=error msg=\"'overlay2' is not supported over overlayfs\" storage-driver=overlay2",
                "overlay2",
                overlay,
            ),
            // Unprivileged pod (moby overlayutils on EPERM).
            (
                "level=error msg=\"failed to mount overlay: operation not permitted\" storage-driver=overlay2",
                "overlay2",
                "dockerd may not mount filesystems: the pod is not privileged — set securityContext.privileged: true on the container",
            ),
            // moby graphdriver: no overlay in /proc/filesystems.
            (
                "level=error msg=\"overlay not found as a supported filesystem on this host. Please ensure kernel is new enough and has overlay support loaded.\" storage-driver=overlay2",
                "overlay2",
                "the kernel has no overlay filesystem, so storage driver overlay2 cannot start; load it on the node (modprobe overlay) or set DIND_STORAGE_DRIVER=fuse-overlayfs (or vfs)",
            ),
            // moby graphdriver.New with prior state of two drivers.
            (
                "level=error msg=\"[graphdriver] /var/lib/docker contains several valid graphdrivers: overlay2, vfs; cleanup or explicitly choose storage driver (-s <DRIVER>)\"",
                "vfs",
                "/var/lib/docker holds data of several storage drivers and dockerd will not guess; set DIND_STORAGE_DRIVER to the one to keep (the other driver's directory in /var/lib/docker can then be removed)",
            ),
            // Other graphdriver errors keep dockerd's words.
            (
                "failed to start daemon: error initializing graphdriver: fuse-overlayfs: exec: \"fuse-overlayfs\": executable file not found in $PATH",
                "fuse-overlayfs",
                "dockerd could not start storage driver fuse-overlayfs on /var/lib/docker: fuse-overlayfs: exec: \"fuse-overlayfs\": executable file not found in $PATH; set DIND_STORAGE_DRIVER=auto or put DIND_DATA_ROOT on the pod's persistent volume",
            ),
            // cmd/dockerd pidfile check.
            (
                "failed to start daemon: pid file found, ensure docker is not running or delete /var/run/docker.pid",
                "overlay2",
                "/var/run/docker.pid names a running process, so dockerd thinks another dockerd is running; stop that dockerd, or delete /var/run/docker.pid if the process is not dockerd",
            ),
            (
                "failed to load listeners: listen unix /var/run/docker.sock: bind: address already in use",
                "overlay2",
                "dockerd's API socket address is already in use: another dockerd runs in this pod, or -H/\"hosts\" (DIND_DOCKERD_ARGS, daemon.json) names a taken address",
            ),
            // dockerd 20.10 and 26.1 network controller with iptables denied.
            (
                "failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to create NAT chain DOCKER: iptables failed: iptables --wait -t nat -N DOCKER: iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
                "overlay2",
                "dockerd cannot set up iptables (NAT for containers): run the pod privileged, or add --iptables=false --ip6tables=false to DIND_DOCKERD_ARGS (containers then get no NAT)",
            ),
            (
                "failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to register \"bridge\" driver: failed to create NAT chain DOCKER: iptables failed: iptables --wait -t nat -N DOCKER: iptables/1.8.7 Failed to initialize nft: Protocol not supported",
                "overlay2",
                "dockerd cannot set up iptables (NAT for containers): run the pod privileged, or add --iptables=false --ip6tables=false to DIND_DOCKERD_ARGS (containers then get no NAT)",
            ),
            (
                "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting \"cgroup\" to rootfs at \"/sys/fs/cgroup\": mkdir /sys/fs/cgroup/docker: permission denied: unknown.",
                "overlay2",
                "dockerd cannot write the cgroup filesystem (permission denied), so containers cannot start; run the pod privileged (securityContext.privileged: true)",
            ),
            (
                "dockerd needs to be started with root privileges. To run dockerd in rootless mode as an unprivileged user, see https://docs.docker.com/go/rootless/",
                "overlay2",
                "dockerd must run as root: run dind-init as root (set DIND_USER for the session instead)",
            ),
            (
                "level=error msg=\"failed to write file\" error=\"write /var/lib/docker/x: no space left on device\"",
                "overlay2",
                "volume full: the volume holding /var/lib/docker cannot be written; free space on the volume holding the data root: delete files there (not inside Docker's data root) or grow the PVC, then restart the pod; the storage driver is kept, so no image is hidden",
            ),
            (
                "failed to start daemon: open /home/coder/.docker-data/engine-id: read-only file system",
                "overlay2",
                "read-only volume: the volume holding /var/lib/docker cannot be written; the volume holding the data root is read-only (a ro mount, or ext4 remounted ro after errors: see the node's dmesg); make it writable and restart the pod; the storage driver is kept",
            ),
            // moby libcontainerd/supervisor.
            (
                "failed to start daemon: failed to start containerd: timeout waiting for containerd to start",
                "overlay2",
                "containerd did not start or died; its own lines above say why (DIND_CONTAINERD=managed lets dockerd start it instead)",
            ),
            (
                "level=error msg=\"containerd did not exit successfully\" error=\"exit status 1\" module=libcontainerd",
                "overlay2",
                "containerd did not start or died; its own lines above say why (DIND_CONTAINERD=managed lets dockerd start it instead)",
            ),
        ];
        for (line, driver, want) in rows {
            let lines = vec![
                "level=info msg=\"Starting up\"".to_string(),
                line.to_string(),
            ];
            assert_eq!(
                diagnose(&lines, root, driver).as_deref(),
                Some(*want),
                "line: {line}"
            );
        }
        assert_eq!(
            diagnose(
                &["level=info msg=\"API listen on /var/run/docker.sock\"".into()],
                root,
                "overlay2"
            ),
            None
        );
        assert_eq!(diagnose(&[], root, "overlay2"), None);
    }

    #[test]
    fn diagnose_prefers_the_storage_cause_over_followup_noise() {
        // As dockerd 20.10 printed it here: the storage error, then containerd noise.
        let lines: Vec<String> = [
            "level=info msg=\"libcontainerd: started new containerd process\" pid=6788",
            "level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2",
            "level=info msg=\"stopping healthcheck following graceful shutdown\" module=libcontainerd",
            "level=error msg=\"containerd did not exit successfully\" error=\"signal: killed\" module=libcontainerd",
            "failed to start daemon: error initializing graphdriver: driver not supported",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = diagnose(&lines, Path::new("/home/coder/.docker-data"), "overlay2").unwrap();
        assert!(
            d.contains("cannot work on overlayfs; data root is /home/coder/.docker-data"),
            "{d}"
        );
    }
}
