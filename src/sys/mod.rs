//! The syscall seam: every filesystem side effect of `apply` goes through
//! [`Syscall`], so the decisions are unit-tested against `RecordingSyscall`
//! (an in-memory filesystem that records each call, in `fake`, test builds only)
//! and only the thin [`LinuxSyscall`] (in `linux`) touches the real system
//! (youki's approach).
//!
//! This module owns the trait and the vocabulary both sides share: [`FileKind`],
//! [`HeldLock`], the [`call`] renderers, the errno [`hint`]s and the error
//! constructors. It makes no system call itself and holds no decision about
//! what to change: that is `apply`'s.
//!
//! Errors name the call with its arguments, exactly as it was made
//! (`mount src=… dst=… flags=MS_BIND: EPERM`), and a fix for the errno.

#[cfg(test)]
mod fake;
mod linux;

#[cfg(test)]
pub use fake::RecordingSyscall;
pub use linux::LinuxSyscall;

use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::fcntl::Flock;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

/// What `lstat` finds at a path; the final symlink is not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// Nothing there (or a parent is not a directory).
    Absent,
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symlink, with its target as written.
    Symlink(PathBuf),
    /// A device, socket or fifo: never touched.
    Other,
}

/// An exclusive lock held for as long as this value lives (the daemon's lifetime).
#[derive(Debug)]
pub struct HeldLock {
    path: PathBuf,
    _inner: LockInner,
}

impl HeldLock {
    /// The lock file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Held only for its `Drop` (which releases the lock), so never read.
#[derive(Debug)]
#[allow(dead_code)]
enum LockInner {
    /// flock(2) on an open file description; released when it is closed.
    Real(Flock<File>),
    /// A lock in a `RecordingSyscall`'s memory.
    #[cfg(test)]
    Fake(fake::FakeLock),
}

/// The narrow set of filesystem operations `apply` needs.
pub trait Syscall {
    /// What is at `path`, without following a final symlink.
    fn lstat_kind(&self, path: &Path) -> Result<FileKind>;
    /// Whether `path` is a directory, following symlinks (false when absent).
    fn is_dir(&self, path: &Path) -> Result<bool>;
    /// Whether `a` and `b` are the same directory or file (device and inode,
    /// following symlinks and bind mounts); false when either is absent.
    fn same_file(&self, a: &Path, b: &Path) -> Result<bool>;
    /// Whether something is mounted on `path` (it cannot be removed then).
    fn is_mount_point(&self, path: &Path) -> Result<bool>;
    /// The entry names of the directory `path` (without `.` and `..`).
    fn read_dir_names(&self, path: &Path) -> Result<Vec<OsString>>;
    /// Owner, group and permission bits (`mode & 0o7777`) of `path`, without
    /// following a final symlink.
    fn owner_mode(&self, path: &Path) -> Result<(u32, u32, u32)>;
    /// Give the directory `path` this owner and mode through an fd opened
    /// `O_DIRECTORY|O_NOFOLLOW`, so a symlink swapped in after the check is
    /// refused (ELOOP) rather than followed.
    fn secure_dir(&self, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<()>;
    /// The content of a file, None when absent.
    fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>>;
    /// The target of the symlink `path`, as written.
    fn read_link(&self, path: &Path) -> Result<PathBuf>;
    /// Ok when this process may create files in the directory `dir`; otherwise
    /// the `access <dir> W_OK: EROFS` error (a read-only image or ConfigMap).
    fn access_writable(&self, dir: &Path) -> Result<()>;
    /// Create one directory with exactly `mode` (umask does not apply).
    fn mkdir(&self, path: &Path, mode: u32) -> Result<()>;
    /// Change owner and group.
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()>;
    /// Bind-mount directory `src` onto directory `dst`; `src` is opened
    /// `O_PATH|O_NOFOLLOW|O_DIRECTORY` and mounted from its fd, so a symlink
    /// swapped in at `src` after the checks is refused, never followed.
    fn mount_bind(&self, src: &Path, dst: &Path) -> Result<()>;
    /// Create symlink `link` pointing at `target`.
    fn symlink(&self, target: &Path, link: &Path) -> Result<()>;
    /// Remove `path` if it is an empty directory; Ok(false) when it is not empty.
    fn rmdir_if_empty(&self, path: &Path) -> Result<bool>;
    /// Remove a file; absent is fine.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Replace `path` with `content` so a crash leaves the old or the new file,
    /// never a mix: temp file in the same directory, fsync, old content kept as
    /// `<path>.bak` when `keep_bak`, rename, fsync the directory.
    fn write_atomic(&self, path: &Path, content: &[u8], keep_bak: bool) -> Result<()>;
    /// Take an exclusive, non-blocking lock on `path` (created if missing, never
    /// through a symlink: neither `path` nor its directory may be one) and
    /// write `holder` into it; when another holds it, `Error::Locked` with that
    /// holder's text.
    fn flock_exclusive_nonblocking(&self, path: &Path, holder: &str) -> Result<HeldLock>;
    /// As PID 1 on cgroup v2, move our cgroup's processes into a leaf under
    /// `root` and enable every controller for containers ([`crate::cgroup`]
    /// writes cgroupfs through its own seam); not applicable when not PID 1.
    fn nest_cgroup(&self, root: &Path) -> Result<crate::cgroup::Outcome>;
    /// Give the regular file `path` (created 0600 if missing) `bytes` of real,
    /// allocated blocks (fallocate, never sparse), opened from its directory
    /// without following a link there or at `path`; a file with other hard links
    /// is refused. A failed allocation removes the file: it never leaves the volume fuller.
    fn reserve_space(&self, path: &Path, bytes: u64) -> Result<()>;
    /// Remove the regular file `path` (the reserve), from its directory opened
    /// without following a link; absent is fine, anything but a regular file is refused.
    fn release_space(&self, path: &Path) -> Result<()>;
}

/// The text of a call as it appears in errors and in `RecordingSyscall::calls`.
pub mod call {
    use std::path::Path;

    /// `mkdir <path> mode=0710`.
    pub fn mkdir(path: &Path, mode: u32) -> String {
        format!("mkdir {} mode={mode:04o}", path.display())
    }
    /// `chown <path> uid:gid`.
    pub fn chown(path: &Path, uid: u32, gid: u32) -> String {
        format!("chown {} {uid}:{gid}", path.display())
    }
    /// `mount src=… dst=… flags=MS_BIND`.
    pub fn mount_bind(src: &Path, dst: &Path) -> String {
        format!(
            "mount src={} dst={} flags=MS_BIND",
            src.display(),
            dst.display()
        )
    }
    /// `symlink <link> -> <target>`.
    pub fn symlink(target: &Path, link: &Path) -> String {
        format!("symlink {} -> {}", link.display(), target.display())
    }
    /// `rmdir <path>`.
    pub fn rmdir(path: &Path) -> String {
        format!("rmdir {}", path.display())
    }
    /// `unlink <path>`.
    pub fn unlink(path: &Path) -> String {
        format!("unlink {}", path.display())
    }
    /// `write <path> (N bytes, keep .bak)`.
    pub fn write(path: &Path, len: usize, keep_bak: bool) -> String {
        let bak = if keep_bak { ", keep .bak" } else { "" };
        format!("write {} ({len} bytes{bak})", path.display())
    }
    /// `fchown+fchmod <path> uid:gid mode=0710 (O_NOFOLLOW)`.
    pub fn secure_dir(path: &Path, uid: u32, gid: u32, mode: u32) -> String {
        format!(
            "fchown+fchmod {} {uid}:{gid} mode={mode:04o} (O_NOFOLLOW)",
            path.display()
        )
    }
    /// `flock LOCK_EX|LOCK_NB <path>`.
    pub fn flock(path: &Path) -> String {
        format!("flock LOCK_EX|LOCK_NB {}", path.display())
    }
    /// `nest-cgroup <root>`.
    pub fn nest_cgroup(root: &Path) -> String {
        format!("nest-cgroup {}", root.display())
    }
    /// `fallocate <path> len=N (O_NOFOLLOW)`.
    pub fn fallocate(path: &Path, bytes: u64) -> String {
        format!("fallocate {} len={bytes} (O_NOFOLLOW)", path.display())
    }
    /// `unlinkat <path> (O_NOFOLLOW)`.
    pub fn release(path: &Path) -> String {
        format!("unlinkat {} (O_NOFOLLOW)", path.display())
    }
}

/// A fix for `errno` raised by `op`, in the words a pod owner can act on.
pub fn hint(op: &str, errno: Errno) -> String {
    match (op, errno) {
        ("mount", Errno::EPERM | Errno::EACCES) => {
            "run the pod privileged or add CAP_SYS_ADMIN, or set DIND_STRATEGY=symlink".into()
        }
        ("mount", Errno::EINVAL) => {
            "check that both paths are directories on mounted filesystems, or set DIND_STRATEGY=symlink".into()
        }
        ("mount", Errno::ENOENT | Errno::ENOTDIR) => {
            "both paths must exist as directories; check DIND_DATA_ROOT".into()
        }
        ("nofollow", Errno::ENOTDIR | Errno::ELOOP) => {
            "it must be a real directory, not a symlink or a file; remove what is there and let dind-init create it".into()
        }
        ("flock", Errno::ELOOP) => "the lock file is a symlink; remove it".into(),
        ("reserve", Errno::ELOOP | Errno::EISDIR | Errno::EMLINK | Errno::ENXIO) => {
            "it is not dind-init's reserve file (a link, a directory or a hard link); remove it".into()
        }
        ("flock", Errno::EMLINK) => {
            "the lock file has other hard links (someone linked it to another file); remove it".into()
        }
        ("flock", Errno::ENOLCK | Errno::EOPNOTSUPP) => {
            "put DIND_DATA_ROOT on a filesystem with file locks (NFS needs lockd)".into()
        }
        (_, Errno::EROFS) => {
            "that filesystem is read-only (a ConfigMap or read-only image?); use a path on a writable volume".into()
        }
        (_, Errno::EPERM | Errno::EACCES) => {
            "run dind-init as root (the pod's PID 1 with securityContext.privileged)".into()
        }
        (_, Errno::ENOSPC | Errno::EDQUOT) => "free space on that volume or grow it".into(),
        (_, Errno::ENOENT) => "create the parent directory first (check the path)".into(),
        (_, Errno::ENOTDIR) => "a parent of that path is a file, not a directory; fix the path".into(),
        (_, Errno::EEXIST) => "something already exists there; move it away".into(),
        _ => "check the path and the filesystem it is on".into(),
    }
}

fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn sys_err(op: &str, call: String, errno: Errno) -> Error {
    Error::sys(call, errno, hint(op, errno))
}

fn io_sys(op: &str, call: String, e: &io::Error) -> Error {
    sys_err(op, call, errno_of(e))
}

/// The `Locked` error for `path` from the lock file's content.
fn locked(path: &Path, content: &[u8]) -> Error {
    let text = String::from_utf8_lossy(content);
    let holder = text.lines().next().unwrap_or("").trim();
    Error::Locked {
        path: path.to_path_buf(),
        holder: if holder.is_empty() {
            "holder unknown: the lock file is empty".into()
        } else {
            holder.to_string()
        },
    }
}

/// fake filesystem's keys and for `apply`'s plan paths and symlink targets alike.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_errors_render_the_call_and_the_fix() {
        let e = sys_err(
            "mount",
            call::mount_bind(
                Path::new("/home/coder/.docker-data"),
                Path::new("/var/lib/docker"),
            ),
            Errno::EPERM,
        )
        .to_string();
        assert!(
            e.starts_with(
                "mount src=/home/coder/.docker-data dst=/var/lib/docker flags=MS_BIND: EPERM"
            ),
            "{e}"
        );
        assert!(
            e.ends_with(
                "— fix: run the pod privileged or add CAP_SYS_ADMIN, or set DIND_STRATEGY=symlink"
            ),
            "{e}"
        );
    }
}
