//! The storage trials: a real overlay mount with its upper and work dirs on the target
//! ([`overlay_trial`], read as a [`Trial`] verdict with the [`Trouble`] a volume has),
//! and the d_type check. Both work in short-lived scratch dirs made without following
//! links ([`Scratch`] removes them on every path out).
//!
//! Owns the only writes of the probe (its scratch dirs, always removed); it must not
//! touch anything else on the volume, and it reports what the kernel said, never
//! which driver to use.

use super::cap_sys_admin;
use serde::Serialize;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

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
    use TrialStep::Prepare;
    if let Some(why) = cannot_try(dir, cap) {
        return Trial::NotTried { why };
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
    if let Err(not_tried) = make_layers(&base, &base_fd) {
        return not_tried;
    }
    mount_and_write(&base, &base_fd, &mut guard)
}

/// Why the trial cannot run at all: `dir` is no directory, or no CAP_SYS_ADMIN.
fn cannot_try(dir: &Path, cap: bool) -> Option<String> {
    if !dir.is_dir() {
        return Some(format!("{} is not an existing directory", dir.display()));
    }
    if !cap {
        let why = "no CAP_SYS_ADMIN: this process cannot mount (run as root in a privileged pod)";
        return Some(why.into());
    }
    None
}

/// The scratch tree's lower, upper, work and merged dirs, with a file in lower.
fn make_layers(base: &Path, base_fd: &std::os::fd::OwnedFd) -> Result<(), Trial> {
    use TrialStep::Prepare;
    let mut subdirs = Vec::new();
    for sub in ["lower", "upper", "work", "merged"] {
        match mkdir_nofollow(base_fd, sub) {
            Ok(fd) => subdirs.push(fd),
            Err(e) => {
                return Err(trial_verdict(
                    Prepare,
                    format!("mkdir {}", base.join(sub).display()),
                    e,
                ))
            }
        }
    }
    write_new_at(&subdirs[0], "from-lower", b"lower\n").map_err(|e| {
        let p = base.join("lower/from-lower");
        trial_verdict(Prepare, format!("write {}", p.display()), e)
    })
}

/// Mount the overlay on `merged`, write a new file and copy one up through it, unmount,
/// and see the new file in upper: the kernel's answer on overlay at `base`.
fn mount_and_write(base: &Path, base_fd: &std::os::fd::OwnedFd, guard: &mut Scratch) -> Trial {
    use TrialStep::Overlay;
    let (upper, merged) = (base.join("upper"), base.join("merged"));
    let prefix = option_prefix(base, base_fd);
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
    Trial::Ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::leftovers;
    use crate::probe::{fs_kind, nearest_existing};

    #[test]
    fn d_type_probe_cleans_up() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(d_type_supported(t.path()), Ok(true));
        assert!(leftovers(t.path()).is_empty());
        assert!(d_type_supported(&t.path().join("missing")).is_err());
    }

    #[test]
    fn trial_not_tried_without_cap_or_dir() {
        let t = tempfile::tempdir().unwrap();
        assert!(
            matches!(overlay_trial_with(t.path(), false), Trial::NotTried { why } if why.contains("CAP_SYS_ADMIN"))
        );
        assert!(
            matches!(overlay_trial_with(&t.path().join("missing"), true), Trial::NotTried { why } if why.contains("missing"))
        );
        assert!(leftovers(t.path()).is_empty());
        assert!(
            nearest_existing(&t.path().join("a/b/c")) == std::fs::canonicalize(t.path()).unwrap()
        );
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
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = t.path().join("link");
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
        let t = tempfile::tempdir().unwrap();
        let good = t.path().join("real fs, with: odd chars");
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

        let (l, u, w, m) = (
            t.path().join("l"),
            t.path().join("u"),
            t.path().join("w"),
            t.path().join("m"),
        );
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
        let t = tempfile::tempdir().unwrap();

        // Full to the last inode: mkdir of the scratch dir gets ENOSPC.
        let full = t.path().join("full");
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
        let ro = t.path().join("ro");
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
        let deep_fs = t.path().join("deep");
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
