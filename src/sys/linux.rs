//! [`LinuxSyscall`]: the [`Syscall`] seam on the real system, through nix and std.
//!
//! It owns how each call is made safely (no-follow opens, same-directory temp
//! files with fsync and rename, flock on one open file description) and renders
//! failures with the shared [`call`] texts and [`hint`]s. It must not decide what
//! to change (that is `apply`'s) nor retry or paper over a failed call.

use super::{call, errno_of, io_sys, locked, sys_err, FileKind, HeldLock, LockInner, Syscall};
use crate::error::{Error, Result};
use crate::parse::mountinfo::parse_mountinfo;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The real system, through nix and std.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

impl LinuxSyscall {
    /// Directory part of `path` for same-directory temp files ("." for a bare name).
    pub(super) fn dir_of(path: &Path) -> PathBuf {
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

    pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
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
        let old = match std::fs::symlink_metadata(path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_sys("write", c.to_string(), &e)),
        };
        let mode = old.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
        let owner = old.as_ref().map(|m| (m.uid(), m.gid()));
        let tmp = Self::sibling(path, ".tmp");
        let _ = std::fs::remove_file(&tmp);
        Self::write_new(&tmp, content, mode, owner, c)?;
        let placed = if keep_bak && old.is_some() {
            Self::keep_bak(path, mode, owner, c)
        } else {
            Ok(())
        }
        .and_then(|()| Self::rename(&tmp, path, c));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Self::sync_dir(&Self::dir_of(path), c)
    }

    /// Replace `path.bak` with the current content of `path`, atomically too.
    fn keep_bak(path: &Path, mode: u32, owner: Option<(u32, u32)>, c: &str) -> Result<()> {
        let bak = Self::with_suffix(path, ".bak");
        let bak_tmp = Self::sibling(path, ".bak.tmp");
        let _ = std::fs::remove_file(&bak_tmp);
        // A hard link keeps the old inode as it is; filesystems without
        // links (or a protected_hardlinks refusal) get a copy instead.
        if std::fs::hard_link(path, &bak_tmp).is_err() {
            let old_content = std::fs::read(path)
                .map_err(|e| io_sys("write", format!("{c}: read {}", path.display()), &e))?;
            Self::write_new(&bak_tmp, &old_content, mode, owner, c)?;
        }
        Self::rename(&bak_tmp, &bak, c).inspect_err(|_| {
            let _ = std::fs::remove_file(&bak_tmp);
        })
    }

    /// rename(2) `from` over `to`, the error naming both under the call `c`.
    fn rename(from: &Path, to: &Path, c: &str) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| {
            let what = format!("{c}: rename {} {}", from.display(), to.display());
            io_sys("write", what, &e)
        })
    }

    /// fsync `dir`, so a rename in it survives a crash.
    fn sync_dir(dir: &Path, c: &str) -> Result<()> {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_sys("write", format!("{c}: fsync {}", dir.display()), &e))
    }

    /// Open (or create) the lock file `path` for [`Syscall::flock_exclusive_nonblocking`].
    /// Neither the data root nor the lock file is followed if it is a link: root
    /// must never create or truncate a file where a user points it.
    fn open_lock_file(path: &Path, c: &str) -> Result<File> {
        let dir_fd = Self::open_parent(path, c)?;
        let name = path.file_name().unwrap_or_default();
        Self::open_own_file(&dir_fd, name, OFlag::O_RDWR, 0o644, "flock", c)
    }

    /// The directory of `path`, opened O_PATH without following a link there.
    fn open_parent(path: &Path, c: &str) -> Result<OwnedFd> {
        let dir = Self::dir_of(path);
        open_dir_nofollow(&dir, OFlag::O_PATH)
            .map_err(|e| sys_err("nofollow", format!("{c}: open {}", dir.display()), e))
    }

    /// Open `name` in `dir_fd` with `how`, creating it with `mode`, never through a
    /// link, and refuse anything but a regular file with one link: a hard link
    /// planted in a user-owned data root would make root truncate or fill its
    /// target. Errors are `op`'s, under the call `c`.
    fn open_own_file(
        dir_fd: &OwnedFd,
        name: &OsStr,
        how: OFlag,
        mode: u32,
        op: &str,
        c: &str,
    ) -> Result<File> {
        let flags = how | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(dir_fd, name, flags, Mode::from_bits_truncate(mode))
            .map_err(|e| sys_err(op, format!("{c}: open"), e))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| io_sys(op, format!("{c}: fstat"), &e))?;
        if !meta.is_file() || meta.nlink() != 1 {
            let errno = if meta.is_file() {
                Errno::EMLINK
            } else {
                Errno::EISDIR
            };
            return Err(sys_err(op, c.to_string(), errno));
        }
        Ok(file)
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
        let file = Self::open_lock_file(path, &c)?;
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

    fn nest_cgroup(&self, root: &Path) -> Result<crate::cgroup::Outcome> {
        if nix::unistd::getpid().as_raw() != 1 {
            return Ok(crate::cgroup::Outcome::NotApplicable {
                reason: "dind-init is not PID 1, so the pod's processes are not its to move".into(),
            });
        }
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        crate::cgroup::nest_cgroup_v2(root, &text)
    }

    fn reserve_space(&self, path: &Path, bytes: u64) -> Result<()> {
        let c = call::fallocate(path, bytes);
        let dir_fd = Self::open_parent(path, &c)?;
        let name = path.file_name().unwrap_or_default();
        // O_NONBLOCK: a fifo planted under the name fails (ENXIO) instead of blocking PID 1.
        let how = OFlag::O_WRONLY | OFlag::O_NONBLOCK;
        let file = Self::open_own_file(&dir_fd, name, how, 0o600, "reserve", &c)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_write_atomic_keeps_one_bak_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
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
        let leftovers: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn linux_write_atomic_never_writes_through_a_linked_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
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
    }

    #[test]
    fn linux_flock_is_per_open_file_description() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
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
    }

    /// Issue 10 item 7: the lock is never created through a link, neither at the
    /// lock file nor at its directory (the data root a user replaced by a link).
    #[test]
    fn linux_flock_never_follows_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
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
    }

    #[test]
    fn linux_secure_dir_fixes_a_dir_and_refuses_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
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
    }

    #[test]
    fn linux_kinds_symlinks_and_same_file() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
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
        assert!(!sys.same_file(&d.join("l"), d).unwrap());
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
}
