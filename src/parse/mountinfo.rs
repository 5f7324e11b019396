//! /proc/self/mountinfo (proc(5)): the mount table, escapes and overlay layers
//! undone, and the pure queries over it (which mount holds a path, which is
//! mounted at one, whether one is a bind of a directory). Decides nothing
//! about Docker; a malformed line is an error, never a guess.

use crate::error::{Error, Result};
use serde::Serialize;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One line of /proc/self/mountinfo (proc(5)), with escapes undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Unique mount id.
    pub id: u32,
    /// Id of the parent mount.
    pub parent: u32,
    /// Device major number (same major:minor = same filesystem instance).
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Directory of the filesystem that forms this mount's root (`/.docker-data` for a bind of a subdir).
    pub root: PathBuf,
    /// Where it is mounted, as seen in this mount namespace.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw`, `nosuid`, …).
    pub options: Vec<String>,
    /// Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    /// Filesystem type, e.g. `ext4`, `overlay`, `fuse.sshfs`.
    pub fs_type: String,
    /// Mount source, e.g. `/dev/longhorn/pvc-…` or `overlay`.
    pub source: String,
    /// Per-superblock options.
    pub super_options: Vec<String>,
    /// The layers of an overlay mount (None for other filesystems).
    pub overlay: Option<Overlay>,
}

/// The layers of an overlay mount, from its super options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// Lower layers, top first.
    pub lowerdir: Vec<PathBuf>,
    /// Writable layer (None for a read-only overlay).
    pub upperdir: Option<PathBuf>,
    /// Overlay's scratch dir, on the upper's filesystem.
    pub workdir: Option<PathBuf>,
}

impl Mount {
    /// `major:minor`, as printed by the kernel.
    pub fn dev(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }

    /// Mounted read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

fn bad_mountinfo(line: usize, msg: String) -> Error {
    Error::io(
        "parse",
        "/proc/self/mountinfo",
        io::Error::new(io::ErrorKind::InvalidData, format!("line {line}: {msg}")),
    )
}

/// Parse the text of /proc/self/mountinfo. A malformed line is an error naming its number,
/// because deciding where Docker's data goes from a half-read mount table would be a guess.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        mounts.push(
            parse_mountinfo_line(line).map_err(|m| bad_mountinfo(n, format!("{m} in {line:?}")))?,
        );
    }
    Ok(mounts)
}

fn parse_mountinfo_line(line: &str) -> std::result::Result<Mount, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or("no \" - \" separator before the filesystem type")?;
    if sep < 6 {
        return Err(format!("{sep} fields before \" - \", expected at least 6"));
    }
    if fields.len() < sep + 3 {
        return Err("fewer than 2 fields after \" - \" (type and source)".into());
    }
    let num = |s: &str, what: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{what} {s:?} is not a number"))
    };
    let id = num(fields[0], "mount id")?;
    let parent = num(fields[1], "parent id")?;
    let (maj, min) = fields[2]
        .split_once(':')
        .ok_or_else(|| format!("device {:?} is not major:minor", fields[2]))?;
    let major = num(maj, "major")?;
    let minor = num(min, "minor")?;
    let fs_type = unescape_str(fields[sep + 1]);
    let super_raw = fields.get(sep + 3).copied().unwrap_or("");
    let overlay = (fs_type == "overlay").then(|| parse_overlay_options(super_raw));
    Ok(Mount {
        id,
        parent,
        major,
        minor,
        root: unescape_path(fields[3]),
        mount_point: unescape_path(fields[4]),
        options: split_opts(fields[5]),
        optional: fields[6..sep].iter().map(|s| s.to_string()).collect(),
        fs_type,
        source: unescape_str(fields[sep + 2]),
        super_options: split_opts(super_raw),
        overlay,
    })
}

fn split_opts(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|o| !o.is_empty())
        .map(unescape_str)
        .collect()
}

/// Undo the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline,
/// `\134` backslash, any `\ooo`); a backslash not followed by three octal digits stays.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && is_octal_escape(&b[i + 1..]) {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn is_octal_escape(rest: &[u8]) -> bool {
    rest.len() >= 3
        && (b'0'..=b'3').contains(&rest[0])
        && (b'0'..=b'7').contains(&rest[1])
        && (b'0'..=b'7').contains(&rest[2])
}

fn unescape_path(s: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(s)))
}

fn unescape_str(s: &str) -> String {
    String::from_utf8_lossy(&unescape(s)).into_owned()
}

/// Overlay's super options: `lowerdir=a:b:c` (`\:` escapes a colon inside a layer;
/// `::` separates data-only layers), `upperdir=`, `workdir=`.
fn parse_overlay_options(raw: &str) -> Overlay {
    let mut ov = Overlay {
        lowerdir: Vec::new(),
        upperdir: None,
        workdir: None,
    };
    for opt in raw.split(',') {
        let Some((key, value)) = opt.split_once('=') else {
            continue;
        };
        match key {
            "lowerdir" => ov.lowerdir = split_layers(value),
            "upperdir" => ov.upperdir = Some(layer_path(value)),
            "workdir" => ov.workdir = Some(layer_path(value)),
            _ => {}
        }
    }
    ov
}

/// Split a raw `lowerdir=` value on the colons that separate layers: not one escaped
/// as `\:` (or `\134:`, the kernel's rendering of the user's `\:` on older kernels).
fn split_layers(raw: &str) -> Vec<PathBuf> {
    let b = raw.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    for i in 0..b.len() {
        if b[i] != b':' {
            continue;
        }
        let escaped = (i >= 1 && b[i - 1] == b'\\') || (i >= 4 && &b[i - 4..i] == b"\\134");
        if !escaped {
            pieces.push(&raw[start..i]);
            start = i + 1;
        }
    }
    pieces.push(&raw[start..]);
    pieces
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(layer_path)
        .collect()
}

fn layer_path(raw: &str) -> PathBuf {
    let bytes = unescape(raw);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b':') {
            out.push(b':');
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The mount holding `path` (pass a canonical path): the longest mount point that is a
/// prefix of it on component boundaries; for the same mount point the last one in file
/// order wins, because a later mount covers an earlier one.
pub fn mount_for<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if !path.starts_with(&m.mount_point) {
            continue;
        }
        let deeper = best.is_none_or(|b| {
            m.mount_point.components().count() >= b.mount_point.components().count()
        });
        if deeper {
            best = Some(m);
        }
    }
    best
}

/// The mount whose mount point is exactly `path` (the last one: overmounts win).
pub fn mount_at<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// Whether mount `m` is a bind of directory `dir` (canonical): same filesystem as the
/// mount holding `dir`, rooted at `dir`'s path inside that filesystem. This is how a
/// restarted dind-init recognises its own earlier bind of DATA_ROOT onto /var/lib/docker.
pub fn is_bind_of(mounts: &[Mount], m: &Mount, dir: &Path) -> bool {
    let holder = mounts
        .iter()
        .filter(|h| h.id != m.id && dir.starts_with(&h.mount_point))
        .fold(None::<&Mount>, |best, h| match best {
            Some(b) if b.mount_point.components().count() > h.mount_point.components().count() => {
                Some(b)
            }
            _ => Some(h),
        });
    let Some(h) = holder else { return false };
    let Ok(rel) = dir.strip_prefix(&h.mount_point) else {
        return false;
    };
    let expected = if rel.as_os_str().is_empty() {
        h.root.clone()
    } else {
        h.root.join(rel)
    };
    h.major == m.major && h.minor == m.minor && m.root == expected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_text(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mountinfo")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn fixture(name: &str) -> Vec<Mount> {
        parse_mountinfo(&fixture_text(name)).unwrap()
    }

    const SNAP: &str =
        "/var/lib/rancher/k3s/agent/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots";

    #[test]
    fn k3s_devpod_root_is_a_26_layer_overlay() {
        let m = fixture("k3s-devpod.txt");
        let root = mount_at(&m, Path::new("/")).unwrap();
        assert_eq!(
            (root.id, root.parent, root.major, root.minor),
            (2890, 2671, 0, 389)
        );
        assert_eq!(root.fs_type, "overlay");
        assert_eq!(root.source, "overlay");
        assert!(root.optional.is_empty());
        assert_eq!(root.options, vec!["rw", "relatime"]);
        let ov = root.overlay.as_ref().unwrap();
        assert_eq!(ov.lowerdir.len(), 26);
        assert_eq!(ov.lowerdir[0], PathBuf::from(format!("{SNAP}/630/fs")));
        assert_eq!(ov.lowerdir[25], PathBuf::from(format!("{SNAP}/605/fs")));
        assert_eq!(ov.upperdir, Some(PathBuf::from(format!("{SNAP}/2975/fs"))));
        assert_eq!(ov.workdir, Some(PathBuf::from(format!("{SNAP}/2975/work"))));
        assert!(root.super_options.contains(&"uuid=on".to_string()));
        let pvc = mount_at(&m, Path::new("/home/coder")).unwrap();
        assert_eq!(pvc.fs_type, "ext4");
        assert_eq!(
            pvc.source,
            "/dev/longhorn/pvc-8260aa67-c0ae-49aa-a08e-54fbf98c32c1"
        );
        assert_eq!(pvc.dev(), "8:32");
        assert!(pvc.overlay.is_none());
        let sa = mount_at(
            &m,
            Path::new("/var/run/secrets/kubernetes.io/serviceaccount"),
        )
        .unwrap();
        assert!(sa.read_only());
        assert_eq!(m.len(), 16);
    }

    #[test]
    fn mount_for_picks_the_longest_prefix_on_component_boundaries() {
        let m = fixture("k3s-devpod.txt");
        let at = |p: &str| mount_for(&m, Path::new(p)).unwrap().mount_point.clone();
        assert_eq!(at("/var/lib/docker"), PathBuf::from("/"));
        assert_eq!(at("/home/coder/.docker-data"), PathBuf::from("/home/coder"));
        assert_eq!(at("/home/coder"), PathBuf::from("/home/coder"));
        assert_eq!(
            at("/home/coder2/x"),
            PathBuf::from("/"),
            "component boundary"
        );
        assert_eq!(
            at("/home/coder/project/node_modules/.bin"),
            PathBuf::from("/home/coder/project/node_modules")
        );
        assert_eq!(at("/etc/hosts"), PathBuf::from("/etc/hosts"));
        assert_eq!(at("/etc/hostsx"), PathBuf::from("/"));
        let host = fixture("docker-host.txt");
        let holder = mount_for(&host, Path::new("/var/lib/docker")).unwrap();
        assert_eq!(
            holder.fs_type, "ext4",
            "a container's overlay deeper down does not count"
        );
    }

    #[test]
    fn mount_for_lets_the_last_overmount_win() {
        let text = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    2 1 0:40 / /var/lib/docker rw - tmpfs tmpfs rw\n\
                    3 2 8:1 /.docker-data /var/lib/docker rw - ext4 /dev/sda1 rw\n";
        let m = parse_mountinfo(text).unwrap();
        assert_eq!(mount_for(&m, Path::new("/var/lib/docker/x")).unwrap().id, 3);
        assert_eq!(mount_at(&m, Path::new("/var/lib/docker")).unwrap().id, 3);
    }

    #[test]
    fn escapes_and_optional_fields() {
        let m = fixture("escapes.txt");
        let vol = &m[1];
        assert_eq!(vol.mount_point, PathBuf::from("/mnt/my volume"));
        assert_eq!(vol.optional, vec!["shared:20"]);
        assert_eq!(
            mount_for(&m, Path::new("/mnt/my volume/data")).unwrap().id,
            31
        );
        let cifs = &m[2];
        assert_eq!(cifs.source, "//nas/backup\\daily");
        assert_eq!(cifs.root, PathBuf::from("/share\ttab"));
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/new\nline\\x"));
        let ov = &m[4];
        assert_eq!(ov.optional, vec!["master:3", "propagate_from:1"]);
        let layers = &ov.overlay.as_ref().unwrap().lowerdir;
        assert_eq!(
            layers,
            &vec![
                PathBuf::from("/l/a:b"),
                PathBuf::from("/l/c,d"),
                PathBuf::from("/l/data")
            ]
        );
        assert_eq!(
            ov.overlay.as_ref().unwrap().upperdir,
            Some(PathBuf::from("/u/my upper"))
        );
        assert_eq!(m[5].optional, vec!["unbindable"]);
        assert_eq!(m[5].source, "none");
    }

    #[test]
    fn colon_escaped_the_old_way_stays_in_the_layer() {
        assert_eq!(
            split_layers("/a\\134:b:/c"),
            vec![PathBuf::from("/a:b"), PathBuf::from("/c")]
        );
        assert_eq!(
            split_layers("/a\\072b:/c"),
            vec![PathBuf::from("/a:b"), PathBuf::from("/c")]
        );
    }

    #[test]
    fn a_bad_line_is_an_error_naming_its_number() {
        let good = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n";
        for bad in [
            "2 1 8:1 / /x rw ext4 /dev/sda1 rw",
            "x 1 8:1 / /x rw - ext4 /dev/sda1 rw",
            "2 1 81 / /x rw - ext4 /dev/sda1 rw",
            "2 1 8:1 / - ext4 /dev/sda1 rw",
            "2 1 8:1 / /x rw - ext4",
        ] {
            let msg = parse_mountinfo(&format!("{good}{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(msg.contains("line 2"), "{msg}");
            assert!(msg.contains("mountinfo"), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
        assert!(parse_mountinfo("").unwrap().is_empty());
    }

    #[test]
    fn the_live_mountinfo_parses() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let m = parse_mountinfo(&text).unwrap();
        assert!(mount_for(&m, Path::new("/")).is_some());
    }

    #[test]
    fn a_restart_bind_is_recognised_as_a_bind_of_data_root() {
        let m = fixture("pod-restart.txt");
        let vld = mount_at(&m, Path::new("/var/lib/docker")).unwrap();
        assert!(is_bind_of(&m, vld, Path::new("/home/coder/.docker-data")));
        assert!(!is_bind_of(&m, vld, Path::new("/home/coder/other")));
        let tm = fixture("tmpfs-var-lib-docker.txt");
        let tvld = mount_at(&tm, Path::new("/var/lib/docker")).unwrap();
        assert!(!is_bind_of(
            &tm,
            tvld,
            Path::new("/home/coder/.docker-data")
        ));
    }
}
