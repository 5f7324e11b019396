//! The syscall seam: every filesystem side effect of `apply` goes through
//! [`Syscall`], so the decisions are unit-tested against [`RecordingSyscall`]
//! (an in-memory filesystem that records each call) and only the thin
//! [`LinuxSyscall`] touches the real system (youki's approach).
//!
//! Errors name the call with its arguments, exactly as it was made
//! (`mount src=… dst=… flags=MS_BIND: EPERM`), and a fix for the errno.

use crate::error::{Error, Result};
use crate::parse::mountinfo::parse_mountinfo;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// A lock in a [`RecordingSyscall`]'s memory.
    Fake(FakeLock),
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
    /// Give the regular file `path` (created 0600 if missing) `bytes` of real,
    /// allocated blocks (fallocate, never sparse), opened from its directory
    /// without following a link there or at `path`; a file with other hard links
    /// is refused. A failed allocation removes the file: it never leaves the volume fuller.
    fn reserve_space(&self, path: &Path, bytes: u64) -> Result<()>;
    /// Remove the regular file `path` (the reserve), from its directory opened
    /// without following a link; absent is fine, anything but a regular file is refused.
    fn release_space(&self, path: &Path) -> Result<()>;
}

/// The text of a call as it appears in errors and in [`RecordingSyscall::calls`].
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

/// The real system, through nix and std.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

impl LinuxSyscall {
    /// Directory part of `path` for same-directory temp files ("." for a bare name).
    fn dir_of(path: &Path) -> PathBuf {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn sibling(path: &Path, suffix: &str) -> PathBuf {
        let mut name = OsString::from(".");
        name.push(path.file_name().unwrap_or_default());
        name.push(format!(".dind-init-{}{suffix}", std::process::id()));
        Self::dir_of(path).join(name)
    }

    fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    }

    /// Write `content` into a new file `tmp` with `mode`/owner, fsynced.
    fn write_new(
        tmp: &Path,
        content: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
        c: &str,
    ) -> Result<()> {
        let res = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(tmp)?;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
            }
            f.write_all(content)?;
            f.sync_all()
        })();
        res.map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            io_sys("write", format!("{c}: temp file {}", tmp.display()), &e)
        })
    }

    /// [`Syscall::write_atomic`] of `path`, a name in a directory already opened
    /// (`/proc/self/fd/N/name`); `c` renders the call as the caller made it.
    fn write_atomic_inner(
        &self,
        path: &Path,
        content: &[u8],
        keep_bak: bool,
        c: &str,
    ) -> Result<()> {
        let c = c.to_string();
        let old = match std::fs::symlink_metadata(path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_sys("write", c, &e)),
        };
        let mode = old.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
        let owner = old.as_ref().map(|m| (m.uid(), m.gid()));
        let tmp = Self::sibling(path, ".tmp");
        let _ = std::fs::remove_file(&tmp);
        Self::write_new(&tmp, content, mode, owner, &c)?;
        let cleanup = |e: Error| {
            let _ = std::fs::remove_file(&tmp);
            e
        };
        if keep_bak && old.is_some() {
            let bak = Self::with_suffix(path, ".bak");
            let bak_tmp = Self::sibling(path, ".bak.tmp");
            let _ = std::fs::remove_file(&bak_tmp);
            // A hard link keeps the old inode as it is; filesystems without
            // links (or a protected_hardlinks refusal) get a copy instead.
            if std::fs::hard_link(path, &bak_tmp).is_err() {
                let old_content = std::fs::read(path).map_err(|e| {
                    cleanup(io_sys("write", format!("{c}: read {}", path.display()), &e))
                })?;
                Self::write_new(&bak_tmp, &old_content, mode, owner, &c).map_err(cleanup)?;
            }
            std::fs::rename(&bak_tmp, &bak).map_err(|e| {
                let _ = std::fs::remove_file(&bak_tmp);
                cleanup(io_sys(
                    "write",
                    format!("{c}: rename {} {}", bak_tmp.display(), bak.display()),
                    &e,
                ))
            })?;
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            cleanup(io_sys(
                "write",
                format!("{c}: rename {} {}", tmp.display(), path.display()),
                &e,
            ))
        })?;
        let dir = Self::dir_of(path);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_sys("write", format!("{c}: fsync {}", dir.display()), &e))
    }

    /// Mount points of this mount namespace, from /proc/self/mountinfo.
    fn mount_points() -> Result<BTreeSet<PathBuf>> {
        let p = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
        mount_points_in(&text)
    }
}

/// Open the directory `path` with `how` (O_RDONLY or O_PATH) without following a
/// final symlink: a link fails with ELOOP or ENOTDIR, a file with ENOTDIR.
fn open_dir_nofollow(path: &Path, how: OFlag) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        how | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// The mount points in mountinfo `text`, read by probe's parser so the crate has
/// one reading of the kernel's format (escapes included).
fn mount_points_in(text: &str) -> Result<BTreeSet<PathBuf>> {
    Ok(parse_mountinfo(text)?
        .into_iter()
        .map(|m| m.mount_point)
        .collect())
}

impl Syscall for LinuxSyscall {
    fn lstat_kind(&self, path: &Path) -> Result<FileKind> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Ok(FileKind::Symlink(self.read_link(path)?)),
            Ok(m) if m.is_dir() => Ok(FileKind::Dir),
            Ok(m) if m.is_file() => Ok(FileKind::File),
            Ok(_) => Ok(FileKind::Other),
            Err(e) if matches!(errno_of(&e), Errno::ENOENT | Errno::ENOTDIR) => {
                Ok(FileKind::Absent)
            }
            Err(e) => Err(io_sys("stat", format!("lstat {}", path.display()), &e)),
        }
    }

    fn is_dir(&self, path: &Path) -> Result<bool> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if matches!(errno_of(&e), Errno::ENOENT | Errno::ENOTDIR) => Ok(false),
            Err(e) => Err(io_sys("stat", format!("stat {}", path.display()), &e)),
        }
    }

    fn same_file(&self, a: &Path, b: &Path) -> Result<bool> {
        let stat = |p: &Path| match std::fs::metadata(p) {
            Ok(m) => Ok(Some((m.dev(), m.ino()))),
            Err(e) if matches!(errno_of(&e), Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(io_sys("stat", format!("stat {}", p.display()), &e)),
        };
        Ok(match (stat(a)?, stat(b)?) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        })
    }

    fn is_mount_point(&self, path: &Path) -> Result<bool> {
        let real = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("resolve", path, e)),
        };
        Ok(Self::mount_points()?.contains(&real))
    }

    fn read_dir_names(&self, path: &Path) -> Result<Vec<OsString>> {
        std::fs::read_dir(path)
            .map_err(|e| io_sys("read", format!("opendir {}", path.display()), &e))?
            .map(|e| {
                e.map(|e| e.file_name())
                    .map_err(|e| io_sys("read", format!("readdir {}", path.display()), &e))
            })
            .collect()
    }

    fn owner_mode(&self, path: &Path) -> Result<(u32, u32, u32)> {
        let m = std::fs::symlink_metadata(path)
            .map_err(|e| io_sys("stat", format!("lstat {}", path.display()), &e))?;
        Ok((m.uid(), m.gid(), m.mode() & 0o7777))
    }

    fn secure_dir(&self, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let c = call::secure_dir(path, uid, gid, mode);
        let dir = File::from(
            open_dir_nofollow(path, OFlag::O_RDONLY)
                .map_err(|e| sys_err("nofollow", c.clone(), e))?,
        );
        std::os::unix::fs::fchown(&dir, Some(uid), Some(gid))
            .map_err(|e| io_sys("chown", c.clone(), &e))?;
        dir.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_sys("chmod", c, &e))
    }

    fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if matches!(errno_of(&e), Errno::ENOENT | Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(io_sys("read", format!("read {}", path.display()), &e)),
        }
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf> {
        std::fs::read_link(path)
            .map_err(|e| io_sys("readlink", format!("readlink {}", path.display()), &e))
    }

    fn access_writable(&self, dir: &Path) -> Result<()> {
        nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK)
            .map_err(|e| sys_err("access", format!("access {} W_OK", dir.display()), e))
    }

    fn mkdir(&self, path: &Path, mode: u32) -> Result<()> {
        let c = call::mkdir(path, mode);
        std::fs::DirBuilder::new()
            .mode(mode)
            .create(path)
            .map_err(|e| io_sys("mkdir", c.clone(), &e))?;
        // The umask may have cleared bits: chmod through an fd, so a link swapped
        // in for the new directory is refused rather than followed.
        let dir = open_dir_nofollow(path, OFlag::O_RDONLY)
            .map_err(|e| sys_err("chmod", format!("{c}: chmod"), e))?;
        File::from(dir)
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_sys("chmod", format!("{c}: chmod"), &e))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(|e| io_sys("chown", call::chown(path, uid, gid), &e))
    }

    fn mount_bind(&self, src: &Path, dst: &Path) -> Result<()> {
        let c = call::mount_bind(src, dst);
        // The directory checked is the directory mounted: a symlink swapped in at
        // `src` fails the open (ENOTDIR) instead of redirecting the mount.
        let fd =
            open_dir_nofollow(src, OFlag::O_PATH).map_err(|e| sys_err("mount", c.clone(), e))?;
        let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        nix::mount::mount(
            Some(&via),
            dst,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| sys_err("mount", c, e))
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| io_sys("symlink", call::symlink(target, link), &e))
    }

    fn rmdir_if_empty(&self, path: &Path) -> Result<bool> {
        match std::fs::remove_dir(path) {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno_of(&e), Errno::ENOTEMPTY | Errno::EEXIST) => Ok(false),
            Err(e) => Err(io_sys("rmdir", call::rmdir(path), &e)),
        }
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_sys("unlink", call::unlink(path), &e)),
        }
    }

    fn write_atomic(&self, path: &Path, content: &[u8], keep_bak: bool) -> Result<()> {
        let c = call::write(path, content.len(), keep_bak);
        // The directory written in is the one apply checked: a link swapped in for it
        // (a user's ~/.docker-data repointed after the start) is refused, not followed.
        let dir = Self::dir_of(path);
        let fd = open_dir_nofollow(&dir, OFlag::O_PATH)
            .map_err(|e| sys_err("nofollow", format!("{c}: open {}", dir.display()), e))?;
        let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .join(path.file_name().unwrap_or_default());
        self.write_atomic_inner(&via, content, keep_bak, &c)
    }

    fn flock_exclusive_nonblocking(&self, path: &Path, holder: &str) -> Result<HeldLock> {
        let c = call::flock(path);
        // Neither the data root nor the lock file is followed if it is a link:
        // root must never create or truncate a file where a user points it.
        let dir = Self::dir_of(path);
        let dir_fd = open_dir_nofollow(&dir, OFlag::O_PATH)
            .map_err(|e| sys_err("nofollow", format!("{c}: open {}", dir.display()), e))?;
        let name = path.file_name().unwrap_or_default();
        let fd = nix::fcntl::openat(
            &dir_fd,
            name,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|e| sys_err("flock", format!("{c}: open"), e))?;
        let file = File::from(fd);
        // A hard link planted in a user-owned data root would make root truncate its target.
        let meta = file
            .metadata()
            .map_err(|e| io_sys("flock", format!("{c}: fstat"), &e))?;
        if !meta.is_file() || meta.nlink() != 1 {
            let errno = if meta.is_file() {
                Errno::EMLINK
            } else {
                Errno::EISDIR
            };
            return Err(sys_err("flock", c, errno));
        }
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut content = Vec::new();
                let _ = file.read_to_end(&mut content);
                return Err(locked(path, &content));
            }
            Err((_, e)) => return Err(sys_err("flock", c, e)),
        };
        let text = format!("{holder}\n");
        lock.set_len(0)
            .and_then(|()| lock.write_all(text.as_bytes()))
            .and_then(|()| lock.sync_data())
            .map_err(|e| io_sys("write", format!("{c}: write holder"), &e))?;
        Ok(HeldLock {
            path: path.to_path_buf(),
            _inner: LockInner::Real(lock),
        })
    }

    fn reserve_space(&self, path: &Path, bytes: u64) -> Result<()> {
        let c = call::fallocate(path, bytes);
        let dir = Self::dir_of(path);
        let dir_fd = open_dir_nofollow(&dir, OFlag::O_PATH)
            .map_err(|e| sys_err("nofollow", format!("{c}: open {}", dir.display()), e))?;
        let name = path.file_name().unwrap_or_default();
        // O_NONBLOCK: a fifo planted under the name fails (ENXIO) instead of blocking PID 1.
        let fd = nix::fcntl::openat(
            &dir_fd,
            name,
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| sys_err("reserve", format!("{c}: open"), e))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| io_sys("reserve", format!("{c}: fstat"), &e))?;
        if !meta.is_file() || meta.nlink() != 1 {
            let errno = if meta.is_file() {
                Errno::EMLINK
            } else {
                Errno::EISDIR
            };
            return Err(sys_err("reserve", c, errno));
        }
        let len = i64::try_from(bytes).unwrap_or(i64::MAX);
        let allocated =
            match nix::fcntl::fallocate(&file, nix::fcntl::FallocateFlags::empty(), 0, len) {
                // A filesystem without fallocate: zeros written are blocks allocated too.
                Err(Errno::EOPNOTSUPP) => write_zeros(&file, bytes).map_err(|e| errno_of(&e)),
                r => r,
            }
            .and_then(|()| file.sync_all().map_err(|e| errno_of(&e)));
        if let Err(e) = allocated {
            let _ = nix::unistd::unlinkat(&dir_fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
            return Err(sys_err("reserve", c, e));
        }
        Ok(())
    }

    fn release_space(&self, path: &Path) -> Result<()> {
        let c = call::release(path);
        let dir = Self::dir_of(path);
        let dir_fd = match open_dir_nofollow(&dir, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => {
                return Err(sys_err(
                    "nofollow",
                    format!("{c}: open {}", dir.display()),
                    e,
                ))
            }
        };
        let name = path.file_name().unwrap_or_default();
        use nix::fcntl::AtFlags;
        match nix::sys::stat::fstatat(&dir_fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(sys_err("reserve", c, e)),
            Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                return Err(sys_err("reserve", c, Errno::EISDIR))
            }
            Ok(_) => {}
        }
        match nix::unistd::unlinkat(&dir_fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(sys_err("reserve", c, e)),
        }
    }
}

/// Write `bytes` zeros at the start of `file` (allocating its blocks).
fn write_zeros(mut file: &File, bytes: u64) -> io::Result<()> {
    let chunk = [0u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// A node of the in-memory filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir { mode: u32, uid: u32, gid: u32 },
    File(Vec<u8>),
    Symlink(PathBuf),
}

#[derive(Debug, Default)]
struct FakeFs {
    nodes: BTreeMap<PathBuf, Node>,
    /// Bind mounts: resolved dst -> resolved src.
    mounts: BTreeMap<PathBuf, PathBuf>,
    locks: BTreeSet<PathBuf>,
    calls: Vec<String>,
    /// Calls whose rendered text starts with the key fail with the errno.
    failures: Vec<(String, Errno)>,
    read_only: BTreeSet<PathBuf>,
}

/// Releases a fake lock when dropped, like closing an fd releases flock.
#[derive(Debug)]
struct FakeLock {
    fs: Arc<Mutex<FakeFs>>,
    path: PathBuf,
}

impl Drop for FakeLock {
    fn drop(&mut self) {
        if let Ok(mut fs) = self.fs.lock() {
            fs.locks.remove(&self.path);
        }
    }
}

/// Lexically normalise an absolute path (no `.`/`..`, no trailing slash), for the
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

impl FakeFs {
    /// Resolve `path` to the real node path: symlinks in every component but
    /// the last (that one too when `follow_last`), bind mounts everywhere but
    /// at the last component when `!mount_last`. None on a symlink loop.
    fn resolve(&self, path: &Path, follow_last: bool, mount_last: bool) -> Option<PathBuf> {
        let mut rest: VecDeque<OsString> = VecDeque::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => rest.push_back(n.to_owned()),
                Component::ParentDir => rest.push_back("..".into()),
                _ => {}
            }
        }
        let mut cur = PathBuf::from("/");
        let mut hops = 0;
        while let Some(c) = rest.pop_front() {
            if c == ".." {
                cur.pop();
                continue;
            }
            let last = rest.is_empty();
            let mut next = cur.join(&c);
            if !last || mount_last {
                let mut n = 0;
                while let Some(src) = self.mounts.get(&next) {
                    next = src.clone();
                    n += 1;
                    if n > 40 {
                        return None;
                    }
                }
            }
            match self.nodes.get(&next) {
                Some(Node::Symlink(t)) if !last || follow_last => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    let mut new: VecDeque<OsString> = VecDeque::new();
                    for c in t.components() {
                        match c {
                            Component::Normal(n) => new.push_back(n.to_owned()),
                            Component::ParentDir => new.push_back("..".into()),
                            _ => {}
                        }
                    }
                    new.extend(rest);
                    rest = new;
                    if t.is_absolute() {
                        cur = PathBuf::from("/");
                    }
                }
                _ => cur = next,
            }
        }
        Some(cur)
    }

    fn node(&self, path: &Path, follow: bool) -> Option<&Node> {
        self.resolve(path, follow, true)
            .and_then(|p| self.nodes.get(&p))
    }

    fn fail(&mut self, op: &str, call: String) -> Result<()> {
        let hit = self
            .failures
            .iter()
            .find(|(k, _)| call.starts_with(k.as_str()))
            .map(|(_, e)| *e);
        self.calls.push(call.clone());
        match hit {
            Some(e) => Err(sys_err(op, call, e)),
            None => Ok(()),
        }
    }

    /// The resolved parent directory of `path` where a new entry goes.
    fn parent_dir(&self, op: &str, path: &Path, call: &str) -> Result<PathBuf> {
        let parent = normalize(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let real = self
            .resolve(&parent, true, true)
            .ok_or_else(|| sys_err(op, call.into(), Errno::ELOOP))?;
        match self.nodes.get(&real) {
            Some(Node::Dir { .. }) if self.read_only.iter().any(|r| real.starts_with(r)) => {
                Err(sys_err(op, call.into(), Errno::EROFS))
            }
            Some(Node::Dir { .. }) => Ok(real),
            Some(_) => Err(sys_err(op, call.into(), Errno::ENOTDIR)),
            None => Err(sys_err(op, call.into(), Errno::ENOENT)),
        }
    }

    fn entry_path(&self, path: &Path) -> PathBuf {
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        let parent = normalize(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        self.resolve(&parent, true, true)
            .unwrap_or(parent)
            .join(name)
    }

    /// Whether the last component of `path` is a symlink (what O_NOFOLLOW refuses).
    fn is_link(&self, path: &Path) -> bool {
        matches!(
            self.resolve(path, false, true)
                .and_then(|p| self.nodes.get(&p)),
            Some(Node::Symlink(_))
        )
    }

    fn children(&self, dir: &Path) -> usize {
        self.nodes
            .keys()
            .filter(|k| k.parent() == Some(dir))
            .count()
    }
}

/// An in-memory filesystem that records every changing call, for unit tests of
/// `apply` and of anything else that goes through [`Syscall`]. Reads are not
/// recorded, so "nothing to do" shows as no calls at all.
#[derive(Debug, Clone)]
pub struct RecordingSyscall {
    fs: Arc<Mutex<FakeFs>>,
}

impl Default for RecordingSyscall {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingSyscall {
    /// A filesystem holding only `/`.
    pub fn new() -> Self {
        let mut fs = FakeFs::default();
        fs.nodes.insert(
            PathBuf::from("/"),
            Node::Dir {
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        );
        RecordingSyscall {
            fs: Arc::new(Mutex::new(fs)),
        }
    }

    fn fs(&self) -> MutexGuard<'_, FakeFs> {
        self.fs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a directory and its missing parents (0755, root), not recorded.
    pub fn with_dir(self, path: impl AsRef<Path>) -> Self {
        {
            let mut fs = self.fs();
            let mut cur = PathBuf::from("/");
            for c in normalize(path.as_ref()).components().skip(1) {
                cur.push(c);
                fs.nodes.entry(cur.clone()).or_insert(Node::Dir {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                });
            }
        }
        self
    }

    /// Add a directory with this mode and owner (and its missing parents), not recorded.
    pub fn with_dir_owned(self, path: impl AsRef<Path>, mode: u32, uid: u32, gid: u32) -> Self {
        let p = normalize(path.as_ref());
        let s = self.with_dir(&p);
        s.fs().nodes.insert(p, Node::Dir { mode, uid, gid });
        s
    }

    /// Add a file (and its parents), not recorded.
    pub fn with_file(self, path: impl AsRef<Path>, content: impl AsRef<[u8]>) -> Self {
        let p = normalize(path.as_ref());
        let s = match p.parent() {
            Some(parent) => self.with_dir(parent),
            None => self,
        };
        s.fs()
            .nodes
            .insert(p, Node::File(content.as_ref().to_vec()));
        s
    }

    /// Add a symlink `link` -> `target` (and the link's parents), not recorded.
    pub fn with_symlink(self, link: impl AsRef<Path>, target: impl AsRef<Path>) -> Self {
        let p = normalize(link.as_ref());
        let s = match p.parent() {
            Some(parent) => self.with_dir(parent),
            None => self,
        };
        s.fs()
            .nodes
            .insert(p, Node::Symlink(target.as_ref().to_path_buf()));
        s
    }

    /// Add a bind mount `src` on `dst` (both must exist as dirs), not recorded.
    pub fn with_bind(self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Self {
        {
            let mut fs = self.fs();
            let s = fs.resolve(src.as_ref(), true, true).unwrap_or_default();
            let d = fs.resolve(dst.as_ref(), true, false).unwrap_or_default();
            fs.mounts.insert(d, s);
        }
        self
    }

    /// Make every write under `dir` fail with EROFS (a ConfigMap, a read-only image).
    pub fn with_read_only(self, dir: impl AsRef<Path>) -> Self {
        let d = normalize(dir.as_ref());
        self.fs().read_only.insert(d);
        self
    }

    /// Make calls whose text starts with `call_prefix` (e.g. `"mount"`) fail with `errno`.
    pub fn fail_on(self, call_prefix: &str, errno: Errno) -> Self {
        self.fs().failures.push((call_prefix.to_string(), errno));
        self
    }

    /// The changing calls made so far, as rendered by [`call`].
    pub fn calls(&self) -> Vec<String> {
        self.fs().calls.clone()
    }

    /// Forget the calls recorded so far.
    pub fn clear_calls(&self) {
        self.fs().calls.clear();
    }

    /// The content of a file, following symlinks and mounts.
    pub fn file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        match self.fs().node(path.as_ref(), true) {
            Some(Node::File(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// Mode and owner of a directory, following symlinks and mounts.
    pub fn dir_meta(&self, path: impl AsRef<Path>) -> Option<(u32, u32, u32)> {
        match self.fs().node(path.as_ref(), true) {
            Some(Node::Dir { mode, uid, gid }) => Some((*mode, *uid, *gid)),
            _ => None,
        }
    }

    /// Current bind mounts as (src, dst).
    pub fn mounts(&self) -> Vec<(PathBuf, PathBuf)> {
        self.fs()
            .mounts
            .iter()
            .map(|(d, s)| (s.clone(), d.clone()))
            .collect()
    }
}

impl Syscall for RecordingSyscall {
    fn lstat_kind(&self, path: &Path) -> Result<FileKind> {
        let fs = self.fs();
        Ok(
            match fs.resolve(path, false, true).and_then(|p| fs.nodes.get(&p)) {
                None => FileKind::Absent,
                Some(Node::Dir { .. }) => FileKind::Dir,
                Some(Node::File(_)) => FileKind::File,
                Some(Node::Symlink(t)) => FileKind::Symlink(t.clone()),
            },
        )
    }

    fn is_dir(&self, path: &Path) -> Result<bool> {
        Ok(matches!(self.fs().node(path, true), Some(Node::Dir { .. })))
    }

    fn same_file(&self, a: &Path, b: &Path) -> Result<bool> {
        let fs = self.fs();
        let ra = fs
            .resolve(a, true, true)
            .filter(|p| fs.nodes.contains_key(p));
        let rb = fs
            .resolve(b, true, true)
            .filter(|p| fs.nodes.contains_key(p));
        Ok(ra.is_some() && ra == rb)
    }

    fn is_mount_point(&self, path: &Path) -> Result<bool> {
        let fs = self.fs();
        Ok(fs
            .resolve(path, true, false)
            .is_some_and(|p| fs.mounts.contains_key(&p)))
    }

    fn read_dir_names(&self, path: &Path) -> Result<Vec<OsString>> {
        let fs = self.fs();
        let real = fs.resolve(path, true, true).unwrap_or_default();
        let errno = match fs.nodes.get(&real) {
            Some(Node::Dir { .. }) => {
                return Ok(fs
                    .nodes
                    .keys()
                    .filter(|k| k.parent() == Some(&real))
                    .filter_map(|k| k.file_name().map(OsString::from))
                    .collect())
            }
            Some(_) => Errno::ENOTDIR,
            None => Errno::ENOENT,
        };
        Err(sys_err(
            "read",
            format!("opendir {}", path.display()),
            errno,
        ))
    }

    fn owner_mode(&self, path: &Path) -> Result<(u32, u32, u32)> {
        let fs = self.fs();
        match fs.resolve(path, false, true).and_then(|p| fs.nodes.get(&p)) {
            Some(Node::Dir { mode, uid, gid }) => Ok((*uid, *gid, *mode)),
            Some(Node::File(_)) => Ok((0, 0, 0o644)),
            Some(Node::Symlink(_)) => Ok((0, 0, 0o777)),
            None => Err(sys_err(
                "stat",
                format!("lstat {}", path.display()),
                Errno::ENOENT,
            )),
        }
    }

    fn secure_dir(&self, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let c = call::secure_dir(path, uid, gid, mode);
        let mut fs = self.fs();
        fs.fail("chown", c.clone())?;
        let real = fs.resolve(path, false, true).unwrap_or_default();
        let errno = match fs.nodes.get_mut(&real) {
            Some(Node::Dir {
                mode: m,
                uid: u,
                gid: g,
            }) => {
                (*m, *u, *g) = (mode, uid, gid);
                return Ok(());
            }
            Some(_) => Errno::ENOTDIR,
            None => Errno::ENOENT,
        };
        Err(sys_err("nofollow", c, errno))
    }

    fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match self.fs().node(path, true) {
            Some(Node::File(c)) => Ok(Some(c.clone())),
            Some(_) => Err(sys_err(
                "read",
                format!("read {}", path.display()),
                Errno::EISDIR,
            )),
            None => Ok(None),
        }
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf> {
        let errno = match self.fs().node(path, false) {
            Some(Node::Symlink(t)) => return Ok(t.clone()),
            Some(_) => Errno::EINVAL,
            None => Errno::ENOENT,
        };
        Err(sys_err(
            "readlink",
            format!("readlink {}", path.display()),
            errno,
        ))
    }

    fn access_writable(&self, dir: &Path) -> Result<()> {
        let fs = self.fs();
        let real = fs.resolve(dir, true, true).unwrap_or_default();
        let errno = match fs.nodes.get(&real) {
            Some(Node::Dir { .. }) if fs.read_only.iter().any(|r| real.starts_with(r)) => {
                Errno::EROFS
            }
            Some(Node::Dir { .. }) => return Ok(()),
            Some(_) => Errno::ENOTDIR,
            None => Errno::ENOENT,
        };
        Err(sys_err(
            "access",
            format!("access {} W_OK", dir.display()),
            errno,
        ))
    }

    fn mkdir(&self, path: &Path, mode: u32) -> Result<()> {
        let c = call::mkdir(path, mode);
        let mut fs = self.fs();
        fs.fail("mkdir", c.clone())?;
        let parent = fs.parent_dir("mkdir", path, &c)?;
        let at = parent.join(path.file_name().unwrap_or_default());
        if fs.nodes.contains_key(&at) {
            return Err(sys_err("mkdir", c, Errno::EEXIST));
        }
        fs.nodes.insert(
            at,
            Node::Dir {
                mode,
                uid: 0,
                gid: 0,
            },
        );
        Ok(())
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<()> {
        let c = call::chown(path, uid, gid);
        let mut fs = self.fs();
        fs.fail("chown", c.clone())?;
        let real = fs.resolve(path, false, true).unwrap_or_default();
        match fs.nodes.get_mut(&real) {
            Some(Node::Dir { uid: u, gid: g, .. }) => {
                *u = uid;
                *g = gid;
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(sys_err("chown", c, Errno::ENOENT)),
        }
    }

    fn mount_bind(&self, src: &Path, dst: &Path) -> Result<()> {
        let c = call::mount_bind(src, dst);
        let mut fs = self.fs();
        fs.fail("mount", c.clone())?;
        if fs.is_link(src) {
            // open(src, O_PATH|O_NOFOLLOW|O_DIRECTORY) fails on a link.
            return Err(sys_err("mount", c, Errno::ENOTDIR));
        }
        let s = fs.resolve(src, true, true).unwrap_or_default();
        let d = fs.resolve(dst, true, false).unwrap_or_default();
        let d_node = fs
            .resolve(dst, true, true)
            .and_then(|p| fs.nodes.get(&p).cloned());
        match (fs.nodes.get(&s), d_node) {
            (Some(Node::Dir { .. }), Some(Node::Dir { .. })) => {
                fs.mounts.insert(d, s);
                Ok(())
            }
            (None, _) | (_, None) => Err(sys_err("mount", c, Errno::ENOENT)),
            _ => Err(sys_err("mount", c, Errno::ENOTDIR)),
        }
    }

    fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        let c = call::symlink(target, link);
        let mut fs = self.fs();
        fs.fail("symlink", c.clone())?;
        let parent = fs.parent_dir("symlink", link, &c)?;
        let at = parent.join(link.file_name().unwrap_or_default());
        if fs.nodes.contains_key(&at) {
            return Err(sys_err("symlink", c, Errno::EEXIST));
        }
        fs.nodes.insert(at, Node::Symlink(target.to_path_buf()));
        Ok(())
    }

    fn rmdir_if_empty(&self, path: &Path) -> Result<bool> {
        let c = call::rmdir(path);
        let mut fs = self.fs();
        fs.fail("rmdir", c.clone())?;
        let at = fs.entry_path(path);
        if fs.mounts.contains_key(&at) {
            return Err(sys_err("rmdir", c, Errno::EBUSY));
        }
        match fs.nodes.get(&at) {
            Some(Node::Dir { .. }) if fs.children(&at) == 0 => {
                fs.nodes.remove(&at);
                Ok(true)
            }
            Some(Node::Dir { .. }) => Ok(false),
            Some(_) => Err(sys_err("rmdir", c, Errno::ENOTDIR)),
            None => Err(sys_err("rmdir", c, Errno::ENOENT)),
        }
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        let c = call::unlink(path);
        let mut fs = self.fs();
        fs.fail("unlink", c.clone())?;
        let at = fs.entry_path(path);
        match fs.nodes.get(&at) {
            Some(Node::Dir { .. }) => Err(sys_err("unlink", c, Errno::EISDIR)),
            Some(_) => {
                fs.nodes.remove(&at);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn write_atomic(&self, path: &Path, content: &[u8], keep_bak: bool) -> Result<()> {
        let c = call::write(path, content.len(), keep_bak);
        let mut fs = self.fs();
        fs.fail("write", c.clone())?;
        // Like LinuxSyscall: the directory written in is never a link.
        if let Some(dir) = path.parent().filter(|d| fs.is_link(d)) {
            let c = format!("{c}: open {}", dir.display());
            return Err(sys_err("nofollow", c, Errno::ELOOP));
        }
        // Like rename(2) over a path: a final symlink is replaced, not followed.
        let parent = fs.parent_dir("write", path, &c)?;
        let at = parent.join(path.file_name().unwrap_or_default());
        let old = match fs.nodes.get(&at) {
            Some(Node::Dir { .. }) => return Err(sys_err("write", c, Errno::EISDIR)),
            Some(Node::File(old)) => Some(old.clone()),
            _ => None,
        };
        if let (true, Some(old)) = (keep_bak, old) {
            let bak = LinuxSyscall::with_suffix(&at, ".bak");
            fs.nodes.insert(bak, Node::File(old));
        }
        fs.nodes.insert(at, Node::File(content.to_vec()));
        Ok(())
    }

    fn flock_exclusive_nonblocking(&self, path: &Path, holder: &str) -> Result<HeldLock> {
        let c = call::flock(path);
        let mut fs = self.fs();
        fs.fail("flock", c.clone())?;
        if fs.is_link(&LinuxSyscall::dir_of(path)) {
            return Err(sys_err("flock", c, Errno::ENOTDIR));
        }
        let parent = fs.parent_dir("flock", path, &c)?;
        let at = parent.join(path.file_name().unwrap_or_default());
        if fs.locks.contains(&at) {
            let content = match fs.nodes.get(&at) {
                Some(Node::File(b)) => b.clone(),
                _ => Vec::new(),
            };
            return Err(locked(path, &content));
        }
        match fs.nodes.get(&at) {
            None | Some(Node::File(_)) => {}
            Some(Node::Symlink(_)) => return Err(sys_err("flock", c, Errno::ELOOP)),
            Some(_) => return Err(sys_err("flock", c, Errno::EISDIR)),
        }
        fs.nodes
            .insert(at.clone(), Node::File(format!("{holder}\n").into_bytes()));
        fs.locks.insert(at.clone());
        Ok(HeldLock {
            path: path.to_path_buf(),
            _inner: LockInner::Fake(FakeLock {
                fs: Arc::clone(&self.fs),
                path: at,
            }),
        })
    }

    fn reserve_space(&self, path: &Path, bytes: u64) -> Result<()> {
        let c = call::fallocate(path, bytes);
        let mut fs = self.fs();
        fs.fail("reserve", c.clone())?;
        // Like LinuxSyscall: neither the directory nor the file is followed if a link.
        if let Some(dir) = path.parent().filter(|d| fs.is_link(d)) {
            return Err(sys_err(
                "nofollow",
                format!("{c}: open {}", dir.display()),
                Errno::ELOOP,
            ));
        }
        let parent = fs.parent_dir("reserve", path, &c)?;
        let at = parent.join(path.file_name().unwrap_or_default());
        match fs.nodes.get(&at) {
            None | Some(Node::File(_)) => {}
            Some(Node::Symlink(_)) => return Err(sys_err("reserve", c, Errno::ELOOP)),
            Some(_) => return Err(sys_err("reserve", c, Errno::EISDIR)),
        }
        let len = usize::try_from(bytes).unwrap_or(usize::MAX);
        fs.nodes.insert(at, Node::File(vec![0; len]));
        Ok(())
    }

    fn release_space(&self, path: &Path) -> Result<()> {
        let c = call::release(path);
        let mut fs = self.fs();
        fs.fail("reserve", c.clone())?;
        if let Some(dir) = path.parent().filter(|d| fs.is_link(d)) {
            return Err(sys_err(
                "nofollow",
                format!("{c}: open {}", dir.display()),
                Errno::ELOOP,
            ));
        }
        let at = fs.entry_path(path);
        match fs.nodes.get(&at) {
            None => Ok(()),
            Some(Node::File(_)) => {
                fs.nodes.remove(&at);
                Ok(())
            }
            Some(_) => Err(sys_err("reserve", c, Errno::EISDIR)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dind-sys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn linux_write_atomic_keeps_one_bak_and_mode() {
        let d = tmpdir("write");
        let p = d.join("daemon.json");
        let sys = LinuxSyscall;
        sys.write_atomic(&p, b"one", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert!(
            !d.join("daemon.json.bak").exists(),
            "no old content, no .bak"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        sys.write_atomic(&p, b"two", true).unwrap();
        sys.write_atomic(&p, b"three", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(std::fs::read(d.join("daemon.json.bak")).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().mode() & 0o777,
            0o600,
            "mode kept"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn linux_write_atomic_never_writes_through_a_linked_directory() {
        let d = tmpdir("write-link");
        let target = d.join("etc");
        std::fs::create_dir(&target).unwrap();
        // A user swapped their data root for a link after apply checked it.
        std::os::unix::fs::symlink(&target, d.join("data")).unwrap();
        let sys = LinuxSyscall;
        let err = sys
            .write_atomic(&d.join("data/.dind-init-dockerd-version"), b"v", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&d.join("data").display().to_string()), "{err}");
        assert_eq!(
            std::fs::read_dir(&target).unwrap().count(),
            0,
            "nothing made in the link's target"
        );
        sys.write_atomic(&target.join("f"), b"v", false).unwrap();
        assert_eq!(std::fs::read(target.join("f")).unwrap(), b"v");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn linux_flock_is_per_open_file_description() {
        let d = tmpdir("flock");
        let p = d.join(".dind-init.lock");
        let sys = LinuxSyscall;
        let held = sys
            .flock_exclusive_nonblocking(&p, "pid 1 on podA since 5")
            .unwrap();
        assert_eq!(held.path(), p);
        match sys.flock_exclusive_nonblocking(&p, "pid 2 on podB since 6") {
            Err(Error::Locked { path, holder }) => {
                assert_eq!(path, p);
                assert_eq!(holder, "pid 1 on podA since 5");
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        let again = sys
            .flock_exclusive_nonblocking(&p, "pid 3 on podC since 7")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "pid 3 on podC since 7\n"
        );
        drop(again);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Issue 10 item 7: the lock is never created through a link, neither at the
    /// lock file nor at its directory (the data root a user replaced by a link).
    #[test]
    fn linux_flock_never_follows_a_link() {
        let d = tmpdir("flock-link");
        let target = d.join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("precious"), "keep\n").unwrap();
        let sys = LinuxSyscall;

        let data = d.join("data");
        std::os::unix::fs::symlink(&target, &data).unwrap();
        let e = sys
            .flock_exclusive_nonblocking(&data.join(".dind-init.lock"), "pid 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ENOTDIR"), "{e}");
        assert!(!target.join(".dind-init.lock").exists());

        std::fs::remove_file(&data).unwrap();
        std::fs::create_dir(&data).unwrap();
        let lock = data.join(".dind-init.lock");
        std::os::unix::fs::symlink(target.join("precious"), &lock).unwrap();
        let e = sys
            .flock_exclusive_nonblocking(&lock, "pid 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ELOOP"), "{e}");
        std::fs::remove_file(&lock).unwrap();
        std::fs::hard_link(target.join("precious"), &lock).unwrap();
        let e = sys
            .flock_exclusive_nonblocking(&lock, "pid 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("EMLINK"), "{e}");
        assert_eq!(
            std::fs::read_to_string(target.join("precious")).unwrap(),
            "keep\n"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn linux_secure_dir_fixes_a_dir_and_refuses_a_link() {
        let d = tmpdir("secure");
        let sys = LinuxSyscall;
        let dir = d.join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&dir, Some(1000), Some(1000)).unwrap();
        assert_eq!(sys.owner_mode(&dir).unwrap(), (1000, 1000, 0o755));
        sys.secure_dir(&dir, 0, 0, 0o710).unwrap();
        assert_eq!(sys.owner_mode(&dir).unwrap(), (0, 0, 0o710));

        let target = d.join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = sys.secure_dir(&link, 0, 0, 0o710).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "fchown+fchmod {} 0:0 mode=0710 (O_NOFOLLOW): ENOTDIR",
                link.display()
            )),
            "{e}"
        );
        assert_eq!(
            sys.owner_mode(&target).unwrap().2,
            0o755,
            "target untouched"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn linux_kinds_symlinks_and_same_file() {
        let d = tmpdir("kinds");
        let sys = LinuxSyscall;
        sys.mkdir(&d.join("a"), 0o710).unwrap();
        assert_eq!(
            std::fs::metadata(d.join("a")).unwrap().mode() & 0o7777,
            0o710,
            "umask does not apply"
        );
        sys.symlink(&d.join("a"), &d.join("l")).unwrap();
        assert_eq!(
            sys.lstat_kind(&d.join("l")).unwrap(),
            FileKind::Symlink(d.join("a"))
        );
        assert_eq!(sys.lstat_kind(&d.join("a")).unwrap(), FileKind::Dir);
        assert_eq!(sys.lstat_kind(&d.join("none")).unwrap(), FileKind::Absent);
        assert!(sys.same_file(&d.join("l"), &d.join("a")).unwrap());
        assert!(!sys.same_file(&d.join("l"), &d).unwrap());
        assert!(sys.read_dir_names(&d.join("a")).unwrap().is_empty());
        std::fs::write(d.join("a/f"), b"x").unwrap();
        assert!(!sys.rmdir_if_empty(&d.join("a")).unwrap());
        assert!(d.join("a/f").exists());
        assert!(!sys.is_mount_point(&d.join("a")).unwrap());
        assert!(sys.is_mount_point(Path::new("/")).unwrap());
        let e = sys.mkdir(&d.join("a/f/x"), 0o755).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("mkdir {}/a/f/x mode=0755: ENOTDIR", d.display())),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

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

    #[test]
    fn unescape_mountinfo() {
        let text = concat!(
            "22 1 0:21 / /a\\040b\\011c rw - tmpfs tmpfs rw\n",
            "23 1 0:22 / /x\\04 rw - tmpfs tmpfs rw\n",
        );
        let points = mount_points_in(text).unwrap();
        assert!(points.contains(Path::new("/a b\tc")), "{points:?}");
        assert!(points.contains(Path::new(r"/x\04")), "{points:?}");
        assert_eq!(points.len(), 2);
    }

    #[test]
    fn fake_resolves_symlinks_and_binds() {
        let sys = RecordingSyscall::new()
            .with_dir("/home/coder/.docker-data/overlay2")
            .with_dir("/var/lib/docker")
            .with_symlink("/data", "/home/coder/.docker-data");
        assert!(sys.is_dir(Path::new("/data/overlay2")).unwrap());
        assert_eq!(
            sys.lstat_kind(Path::new("/data")).unwrap(),
            FileKind::Symlink("/home/coder/.docker-data".into())
        );
        assert!(!sys
            .same_file(Path::new("/var/lib/docker"), Path::new("/data"))
            .unwrap());
        // Like open(O_PATH|O_NOFOLLOW|O_DIRECTORY): a link as the source is refused.
        let e = sys
            .mount_bind(Path::new("/data"), Path::new("/var/lib/docker"))
            .unwrap_err();
        assert!(e.to_string().contains("ENOTDIR"), "{e}");
        sys.clear_calls();
        sys.mount_bind(
            Path::new("/home/coder/.docker-data"),
            Path::new("/var/lib/docker"),
        )
        .unwrap();
        assert!(sys
            .same_file(Path::new("/var/lib/docker"), Path::new("/data"))
            .unwrap());
        assert!(sys.is_mount_point(Path::new("/var/lib/docker")).unwrap());
        assert!(sys.is_dir(Path::new("/var/lib/docker/overlay2")).unwrap());
        assert_eq!(
            sys.read_dir_names(Path::new("/var/lib/docker")).unwrap(),
            ["overlay2"]
        );
        assert_eq!(
            sys.calls(),
            ["mount src=/home/coder/.docker-data dst=/var/lib/docker flags=MS_BIND"]
        );
        let e = sys
            .rmdir_if_empty(Path::new("/var/lib/docker"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("EBUSY"), "{e}");
        let e = sys.read_link(Path::new("/var/lib/docker")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("readlink /var/lib/docker: EINVAL"),
            "{e}"
        );
        let e = sys.read_link(Path::new("/none")).unwrap_err();
        assert!(e.to_string().starts_with("readlink /none: ENOENT"), "{e}");
        let e = sys.read_dir_names(Path::new("/none")).unwrap_err();
        assert!(e.to_string().starts_with("opendir /none: ENOENT"), "{e}");
        let e = sys.write_atomic(Path::new("/data/f"), b"x", false);
        assert!(e.unwrap_err().to_string().contains("open /data: ELOOP"));
        let real = Path::new("/home/coder/.docker-data/f");
        sys.write_atomic(real, b"x", false).unwrap();
        let e = sys.read_dir_names(Path::new("/data/f")).unwrap_err();
        assert!(e.to_string().starts_with("opendir /data/f: ENOTDIR"), "{e}");
    }

    #[test]
    fn fake_locks_release_on_drop_and_injected_failures() {
        let sys = RecordingSyscall::new()
            .with_dir("/d")
            .fail_on("mount", Errno::EPERM);
        let l = sys
            .flock_exclusive_nonblocking(Path::new("/d/.lock"), "pid 9 on a since 1")
            .unwrap();
        let e = sys
            .flock_exclusive_nonblocking(Path::new("/d/.lock"), "x")
            .unwrap_err();
        assert!(
            matches!(&e, Error::Locked { holder, .. } if holder == "pid 9 on a since 1"),
            "{e:?}"
        );
        drop(l);
        sys.flock_exclusive_nonblocking(Path::new("/d/.lock"), "x")
            .unwrap();
        let e = sys
            .mount_bind(Path::new("/d"), Path::new("/d"))
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Sys {
                    errno: Errno::EPERM,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
