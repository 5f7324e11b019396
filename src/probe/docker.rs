//! dockerd and containerd facts: their versions (run once, cached on the data root
//! per binary), whether dockerd will use the containerd image store, and the storage
//! drivers' data found in a data root ([`driver_data`]).
//!
//! Owns reading these facts; it writes no cache (apply does) and picks no driver
//! (the plan does).

use super::which;
use crate::config::Driver;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// The dockerd that will run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerd {
    /// DIND_DOCKERD.
    pub program: String,
    /// Its version, or why it is unknown.
    pub version: std::result::Result<Version, String>,
}

/// `<program> --version`, from the data root's cache for this very binary or run
/// beside the other probes (Go binaries: 30–90 ms, most of the probe's time).
pub(super) enum PendingVersion {
    Cached(Version),
    Running {
        program: String,
        child: std::result::Result<std::process::Child, String>,
        parse: fn(&str) -> Option<Version>,
    },
}

impl PendingVersion {
    /// dockerd's version, cached in [`VERSION_CACHE`].
    pub(super) fn dockerd(program: &str, data_root: &Path) -> PendingVersion {
        let cache = data_root.join(VERSION_CACHE);
        PendingVersion::start(program, &cache, parse_docker_version)
    }

    /// containerd's version, cached in [`CONTAINERD_VERSION_CACHE`].
    pub(super) fn containerd(bin: &Path, data_root: &Path) -> PendingVersion {
        let cache = data_root.join(CONTAINERD_VERSION_CACHE);
        PendingVersion::start(&bin.to_string_lossy(), &cache, parse_containerd_version)
    }

    fn start(program: &str, cache: &Path, parse: fn(&str) -> Option<Version>) -> PendingVersion {
        let cached = version_cache_key(program).and_then(|k| read_version_cache(cache, &k));
        match cached {
            Some(v) => PendingVersion::Cached(v),
            None => PendingVersion::Running {
                program: program.to_string(),
                child: spawn_version(program),
                parse,
            },
        }
    }

    /// The version: cached, or the child's output (waited for at most 5 s).
    pub(super) fn finish(self) -> std::result::Result<Version, String> {
        match self {
            PendingVersion::Cached(v) => Ok(v),
            PendingVersion::Running {
                program,
                child,
                parse,
            } => finish_version(&program, child, parse),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::has_data;

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
    fn driver_dirs_and_layers() {
        let t = tempfile::tempdir().unwrap();
        assert!(driver_data(t.path()).is_empty());
        assert!(!has_data(t.path()));
        std::fs::create_dir_all(t.path().join("lost+found")).unwrap();
        std::fs::write(t.path().join(".dind-init.lock"), "").unwrap();
        assert!(!has_data(t.path()), "lost+found and our lock are not data");
        std::fs::write(t.path().join("lost+found/#12"), "recovered").unwrap();
        assert!(has_data(t.path()), "what fsck recovered is the user's");
        std::fs::remove_file(t.path().join("lost+found/#12")).unwrap();
        for l in ["a", "b", "c"] {
            std::fs::create_dir_all(t.path().join("vfs/dir").join(l)).unwrap();
        }
        std::fs::create_dir_all(t.path().join("overlay2/l")).unwrap();
        std::fs::create_dir_all(
            t.path()
                .join("containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/1"),
        )
        .unwrap();
        assert!(has_data(t.path()));
        let d = driver_data(t.path());
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
    fn version_cache_is_used_only_for_the_same_binary() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
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
        let key = version_cache_key("sh").expect("sh is on PATH");
        assert!(key.starts_with('/'), "{key}");
        assert_eq!(version_cache_key("/nonexistent/dockerd"), None);
    }
}
