//! Storage proof (issue 15): the smoke test's verdict, remembered per identity.
//!
//! Whether a container root filesystem mounts depends only on what is below
//! Docker: the engine binaries, the storage driver, the image store, the
//! filesystem and device the data root lives on, the kernel and the data root's
//! path. After the smoke test passed, dind-init writes that identity into
//! [`PROOF_FILE`] on the data root; a later start whose identity is exactly the
//! same skips the smoke test (~130 ms). dockerd's arguments and the user's
//! `storage-opts` are part of it too: they change how layers are mounted. Anything different, or unknown (a
//! version that could not be read, an external containerd whose binary is not
//! ours to know), means the full smoke test, and a new proof after it passes.
//! The decision ([`decide`]) is pure: the proof's text (read by the probe) and
//! the current identity in, a [`SmokePlan`] out. It imports neither probe nor
//! plan: they hand it plain facts ([`Below`]), so dependencies point one way.

use crate::config::Driver;
use crate::parse::mountinfo::Mount;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// File in DATA_ROOT recording the identity the smoke test last passed on.
pub const PROOF_FILE: &str = ".dind-init-storage-proof";

/// First line of a proof: a proof of another format never matches.
const HEADER: &str = "dind-init storage proof v1";

/// What the probe found for the proof: the file's text and the engine binaries' keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The proof file's text (None when absent, a link, or not a regular file).
    pub text: Option<String>,
    /// dockerd's and containerd's path, size and mtime (a rebuilt package differs).
    pub binaries: std::result::Result<String, String>,
}

/// Probe the proof on `data_root` and the binaries it must name; `key` is the
/// probe's binary identity (path, size, mtime), None when a binary is not found.
pub fn find(
    data_root: &Path,
    dockerd: &str,
    containerd: Option<&Path>,
    key: impl Fn(&str) -> Option<String>,
) -> Found {
    let key = |p: &str| key(p).ok_or(format!("{p} not found"));
    let binaries = key(dockerd).and_then(|d| match containerd {
        Some(c) => key(&c.to_string_lossy()).map(|c| format!("{d} {c}")),
        None => Err("containerd is not on PATH".into()),
    });
    Found {
        text: read(&data_root.join(PROOF_FILE)),
        binaries,
    }
}

/// What the smoke test's verdict depends on, as ordered `key=value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(Vec<(&'static str, String)>);

impl Identity {
    /// The proof file's text for this identity.
    pub fn text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        for (k, v) in &self.0 {
            out.push_str(&format!("{k}={v}\n"));
        }
        out
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What is below Docker as the probe found it: the facts of the identity
/// (versions as text, or why they could not be read).
pub struct Below<'a> {
    /// DATA_ROOT's path.
    pub data_root: &'a Path,
    /// The mount DATA_ROOT lives on, when known.
    pub mount: Option<&'a Mount>,
    /// dockerd's version.
    pub dockerd: std::result::Result<String, String>,
    /// containerd's version.
    pub containerd: std::result::Result<String, String>,
    /// The kernel's release.
    pub kernel: &'a std::result::Result<String, String>,
    /// The engine binaries' keys ([`Found::binaries`]).
    pub binaries: &'a std::result::Result<String, String>,
    /// Whether dockerd keeps images in containerd's store.
    pub containerd_store: bool,
}

/// Who starts containerd, when it is dind-init or dockerd (an external
/// containerd's binary is not ours to know: no identity then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Containerd {
    /// dind-init starts and supervises it.
    Managed,
    /// dockerd starts its own.
    Separate,
}

/// The current identity, or why there is none (then the smoke test always runs
/// and no proof is written).
pub fn identity(
    below: &Below,
    driver: Option<Driver>,
    data_root: Option<&Path>,
    containerd: Option<Containerd>,
    daemon: [(&'static str, String); 2],
) -> std::result::Result<Identity, String> {
    if data_root != Some(below.data_root) {
        return Err("Docker's data is not in DATA_ROOT".into());
    }
    let driver = driver.ok_or("the storage driver is not dind-init's choice")?;
    let containerd = match containerd {
        Some(Containerd::Managed) => "managed",
        Some(Containerd::Separate) => "separate",
        None => return Err("containerd is not started by dind-init or dockerd".into()),
    };
    let mount = below.mount.ok_or("the data root's mount is unknown")?;
    let dockerd = below.dockerd.as_ref().map_err(Clone::clone)?;
    let containerd_version = below.containerd.as_ref().map_err(Clone::clone)?;
    let kernel = below.kernel.as_ref().map_err(Clone::clone)?;
    let binaries = below.binaries.as_ref().map_err(Clone::clone)?;
    let mut pairs = vec![
        ("dind-init", env!("CARGO_PKG_VERSION").to_string()),
        ("dockerd", dockerd.to_string()),
        ("containerd", containerd_version.to_string()),
        ("binaries", binaries.clone()),
        ("containerd-mode", containerd.to_string()),
        ("driver", driver.name().to_string()),
        (
            "image-store",
            image_store(below.containerd_store).to_string(),
        ),
        ("fs", mount.fs_type.clone()),
        ("device", mount.dev()),
        ("source", mount.source.clone()),
        ("kernel", kernel.clone()),
        ("data-root", below.data_root.display().to_string()),
    ];
    pairs.extend(daemon);
    Ok(Identity(pairs))
}

fn image_store(containerd: bool) -> &'static str {
    if containerd {
        "containerd"
    } else {
        "graphdriver"
    }
}

/// What happens after Docker answers /_ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "smoke", rename_all = "kebab-case")]
pub enum SmokePlan {
    /// Run the smoke test; when it passes and `record` is set, write it.
    Run {
        /// Why the test runs.
        why: String,
        /// The proof to write after a pass (None when the identity is unknown).
        record: Option<Record>,
    },
    /// The same identity passed before: the command starts without the test.
    Skip {
        /// The proof's file.
        proof: PathBuf,
    },
}

/// A proof to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Where.
    pub file: PathBuf,
    /// Its text.
    pub text: String,
}

impl SmokePlan {
    /// One line for `dind-init plan`.
    pub fn render(&self) -> String {
        match self {
            SmokePlan::Run {
                why,
                record: Some(r),
            } => format!(
                "smoke test, then write storage proof {}  — {why}",
                r.file.display()
            ),
            SmokePlan::Run { why, record: None } => format!("smoke test  — {why}"),
            SmokePlan::Skip { proof } => format!(
                "skip smoke test: proven on this engine, driver, filesystem, device and kernel ({})",
                proof.display()
            ),
        }
    }
}

/// Decide from the proof found on the data root (its text, if any) and the
/// current identity. Pure.
pub fn decide(
    found: Option<&str>,
    id: std::result::Result<Identity, String>,
    file: &Path,
) -> SmokePlan {
    let id = match id {
        Ok(id) => id,
        Err(why) => {
            return SmokePlan::Run {
                why: format!("no storage proof possible: {why}"),
                record: None,
            }
        }
    };
    let text = id.text();
    let why = match found {
        Some(f) if f == text => {
            return SmokePlan::Skip {
                proof: file.to_path_buf(),
            }
        }
        Some(f) => changed(f, &id),
        None => "no storage proof on the data root yet".into(),
    };
    SmokePlan::Run {
        why,
        record: Some(Record {
            file: file.to_path_buf(),
            text,
        }),
    }
}

/// Which part of the identity differs from the proof's, in words.
fn changed(found: &str, id: &Identity) -> String {
    let mut lines = found.lines();
    if lines.next() != Some(HEADER) {
        return "the storage proof is of another format".into();
    }
    let old: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once('=')).collect();
    for (k, v) in &id.0 {
        match old.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov == v => {}
            Some((_, ov)) => return format!("{k} changed since the storage proof ({ov} → {v})"),
            None => return format!("the storage proof has no {k}"),
        }
    }
    match old.iter().find(|(k, _)| id.get(k).is_none()) {
        Some((k, _)) => format!("the storage proof has an unknown {k}"),
        None => "the storage proof is not exactly this identity".into(),
    }
}

/// Read the proof without following a link a user could plant there; a proof
/// that is missing, not a regular file, or over 4 KiB is no proof.
pub fn read(file: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow())
        .open(file)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

fn libc_o_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(pairs: &[(&'static str, &str)]) -> Identity {
        Identity(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("dind-init", "0.1.0"),
            ("dockerd", "28.5.2"),
            ("containerd", "2.1.4"),
            (
                "binaries",
                "/usr/sbin/dockerd 1 2.0 /usr/bin/containerd 3 4.0",
            ),
            ("containerd-mode", "separate"),
            ("driver", "overlay2"),
            ("image-store", "containerd"),
            ("fs", "ext4"),
            ("device", "259:3"),
            ("source", "/dev/longhorn/pvc-1"),
            ("kernel", "6.1.0-40-amd64"),
            ("data-root", "/home/coder/.docker-data"),
        ]
    }

    fn with(key: &str, value: &'static str) -> Identity {
        let mut pairs = base();
        for p in pairs.iter_mut() {
            if p.0 == key {
                p.1 = value;
            }
        }
        id(&pairs)
    }

    #[test]
    fn only_the_exact_identity_skips_the_smoke_test() {
        let file = Path::new("/data/.dind-init-storage-proof");
        let proven = id(&base()).text();
        let rows: Vec<(Option<&str>, std::result::Result<Identity, String>, &str)> = vec![
            (Some(&proven), Ok(id(&base())), "skip"),
            (
                None,
                Ok(id(&base())),
                "no storage proof on the data root yet",
            ),
            (
                Some(&proven),
                Ok(with("kernel", "6.12.1")),
                "kernel changed since the storage proof (6.1.0-40-amd64 → 6.12.1)",
            ),
            (
                Some(&proven),
                Ok(with("dockerd", "29.0.0")),
                "dockerd changed",
            ),
            (
                Some(&proven),
                Ok(with("containerd", "2.2.0")),
                "containerd changed",
            ),
            (
                Some(&proven),
                Ok(with("binaries", "/usr/sbin/dockerd 9 2.0")),
                "binaries changed",
            ),
            (
                Some(&proven),
                Ok(with("driver", "fuse-overlayfs")),
                "driver changed",
            ),
            (
                Some(&proven),
                Ok(with("image-store", "graphdriver")),
                "image-store changed",
            ),
            (Some(&proven), Ok(with("fs", "xfs")), "fs changed"),
            (Some(&proven), Ok(with("device", "259:4")), "device changed"),
            (
                Some(&proven),
                Ok(with("source", "/dev/sdb")),
                "source changed",
            ),
            (
                Some(&proven),
                Ok(with("data-root", "/data")),
                "data-root changed",
            ),
            (
                Some(&proven),
                Ok(with("containerd-mode", "managed")),
                "containerd-mode changed",
            ),
            (
                Some(&proven),
                Ok(with("dind-init", "0.2.0")),
                "dind-init changed",
            ),
            (Some("garbage"), Ok(id(&base())), "another format"),
            (
                Some(&proven[..proven.len() - 1]),
                Ok(id(&base())),
                "skip-not",
            ),
            (
                Some(&proven),
                Err("containerd is not started by dind-init or dockerd".into()),
                "no storage proof possible: containerd is not",
            ),
        ];
        for (found, identity, want) in rows {
            let plan = decide(found, identity, file);
            match (&plan, want) {
                (SmokePlan::Skip { proof }, "skip") => assert_eq!(proof, file),
                (SmokePlan::Run { record, .. }, "skip-not") => assert!(record.is_some()),
                (SmokePlan::Run { why, record }, want) => {
                    assert!(why.contains(want), "{why:?} should say {want:?}");
                    assert_eq!(
                        record.is_some(),
                        !want.starts_with("no storage proof possible")
                    );
                }
                _ => panic!("{found:?}: got {plan:?}, want {want}"),
            }
        }
    }

    #[test]
    fn a_proof_with_an_extra_key_is_not_this_identity() {
        let text = format!("{}extra=1\n", id(&base()).text());
        let plan = decide(Some(&text), Ok(id(&base())), Path::new("/p"));
        assert!(
            matches!(plan, SmokePlan::Run { ref why, .. } if why.contains("unknown extra")),
            "{plan:?}"
        );
    }

    #[test]
    fn the_written_proof_is_what_the_next_start_matches() {
        let plan = decide(None, Ok(id(&base())), Path::new("/p"));
        let SmokePlan::Run {
            record: Some(r), ..
        } = plan
        else {
            panic!("{plan:?}")
        };
        assert_eq!(
            decide(Some(&r.text), Ok(id(&base())), Path::new("/p")),
            SmokePlan::Skip { proof: "/p".into() }
        );
    }

    #[test]
    fn a_planted_link_is_no_proof() {
        let dir = std::env::temp_dir().join(format!("dind-init-proof-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("elsewhere");
        std::fs::write(&real, id(&base()).text()).unwrap();
        let link = dir.join(PROOF_FILE);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(read(&link), None);
        std::fs::remove_file(&link).unwrap();
        std::fs::write(&link, "x").unwrap();
        assert_eq!(read(&link).as_deref(), Some("x"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
