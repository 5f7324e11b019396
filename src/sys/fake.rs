//! `RecordingSyscall`: the [`Syscall`] seam over `FakeFs`, an in-memory
//! filesystem that records every changing call (test builds only).
//!
//! It owns the fake's semantics, kept as close to Linux as the tests need
//! (symlinks and bind mounts resolved per component, no-follow refusals, flock
//! released on drop, injected errnos) and renders calls and errors with the same
//! [`call`] texts as [`LinuxSyscall`](super::LinuxSyscall). It must not be reachable from
//! production code: it is compiled only under `#[cfg(test)]`.

use super::{
    call, locked, normalize, sys_err, FileKind, HeldLock, LinuxSyscall, LockInner, Syscall,
};
use crate::error::{Error, Result};
use nix::errno::Errno;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

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
pub(super) struct FakeLock {
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

/// The names in `path`, `..` kept as a name (resolution needs it in order).
fn names(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

impl FakeFs {
    /// Resolve `path` to the real node path: symlinks in every component but
    /// the last (that one too when `follow_last`), bind mounts everywhere but
    /// at the last component when `!mount_last`. None on a symlink loop.
    fn resolve(&self, path: &Path, follow_last: bool, mount_last: bool) -> Option<PathBuf> {
        let mut rest = names(path);
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
                next = self.through_mounts(next)?;
            }
            match self.nodes.get(&next) {
                Some(Node::Symlink(t)) if !last || follow_last => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    let mut new = names(t);
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

    /// The source a bind mount at `path` shows (mounts stacked on mounts
    /// followed through); None past 40, a loop.
    fn through_mounts(&self, mut path: PathBuf) -> Option<PathBuf> {
        for _ in 0..=40 {
            match self.mounts.get(&path) {
                Some(src) => path = src.clone(),
                None => return Some(path),
            }
        }
        None
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
        self.with_node(path.as_ref(), Node::File(content.as_ref().to_vec()))
    }

    /// Add a symlink `link` -> `target` (and the link's parents), not recorded.
    pub fn with_symlink(self, link: impl AsRef<Path>, target: impl AsRef<Path>) -> Self {
        self.with_node(link.as_ref(), Node::Symlink(target.as_ref().to_path_buf()))
    }

    /// Put `node` at `path` (and its parents), not recorded.
    fn with_node(self, path: &Path, node: Node) -> Self {
        let p = normalize(path);
        let s = match p.parent() {
            Some(parent) => self.with_dir(parent),
            None => self,
        };
        s.fs().nodes.insert(p, node);
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
    fn nest_cgroup(&self, root: &Path) -> Result<crate::cgroup::Outcome> {
        self.fs().fail("nest-cgroup", call::nest_cgroup(root))?;
        Ok(crate::cgroup::Outcome::NotApplicable {
            reason: "recorded, not done".into(),
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
