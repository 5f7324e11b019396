//! Apply: carry out the storage steps of a [`Plan`] through the [`Syscall`] seam.
//!
//! Safe by construction: every precondition of every step (paths, emptiness,
//! the data-root lock) is checked before the first change, so a refusal leaves
//! the pod exactly as it was. Nothing is ever deleted except an empty directory
//! replaced by a symlink, a pidfile whose daemon is gone and dind-init's own
//! reserve file when the volume is full ([`crate::reserve`]); a directory holding
//! data is never replaced or hidden under a mount. Steps already in effect (a
//! pod restart) are skipped, so applying twice changes nothing.

use crate::error::{Error, Result};
use crate::plan::{Action, Plan, Step};
use crate::probe::{is_data_entry, pidfile_verdict, Pidfile};
use crate::sys::{call, normalize, FileKind, HeldLock, Syscall};
use nix::errno::Errno;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// What one step did, for the pod log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Whether the step changed anything (false: already in effect).
    pub changed: bool,
    /// One line: what and why.
    pub text: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = if self.changed { "done" } else { "skip" };
        write!(f, "{tag}: {}", self.text)
    }
}

/// The result of [`apply`]: the locks that must stay held while dockerd runs
/// (drop them only after dockerd has exited) and a log of every storage step.
#[derive(Debug)]
pub struct Applied {
    /// Data-root locks; keep alive for the daemon's whole lifetime.
    pub locks: Vec<HeldLock>,
    /// One entry per storage step, in plan order.
    pub log: Vec<Entry>,
}

impl Applied {
    /// Whether any step changed the system (false on a pod restart with everything in place).
    pub fn changed(&self) -> bool {
        self.log.iter().any(|e| e.changed)
    }
}

/// One change, decided during the checks and made afterwards.
#[derive(Debug, Clone)]
enum Op {
    Mkdir {
        path: PathBuf,
        mode: u32,
    },
    Chown {
        path: PathBuf,
    },
    SecureDir {
        path: PathBuf,
        mode: u32,
    },
    GiveDir {
        path: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Bind {
        src: PathBuf,
        dst: PathBuf,
    },
    Rmdir {
        path: PathBuf,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
    Write {
        path: PathBuf,
        content: String,
    },
    Unlink {
        path: PathBuf,
    },
    Lock {
        path: PathBuf,
    },
    Tls {
        step: crate::tls::Step,
    },
    /// /etc/group's new bytes (kept as bytes: a Latin-1 line must survive).
    Group {
        path: PathBuf,
        bytes: Vec<u8>,
    },
    Nest {
        root: PathBuf,
    },
    /// Allocate dind-init's reserve; a failure is a warning, never a stop.
    Reserve {
        path: PathBuf,
        bytes: u64,
    },
    /// Remove dind-init's reserve; a failure is a warning, never a stop.
    Release {
        path: PathBuf,
    },
}

/// A step after its checks: the changes to make (none: already in effect).
struct Prepared {
    ops: Vec<Op>,
    what: String,
    skip_why: String,
}

/// The filesystem as it will be after the steps checked so far (planned
/// creations layered over what `sys` reports), so later steps are checked
/// against the effects of earlier ones without making any change.
struct Virtual<'a> {
    sys: &'a dyn Syscall,
    dirs: BTreeSet<PathBuf>,
    files: BTreeSet<PathBuf>,
    removed: BTreeSet<PathBuf>,
    links: BTreeMap<PathBuf, PathBuf>,
    binds: BTreeMap<PathBuf, PathBuf>,
}

impl<'a> Virtual<'a> {
    fn new(sys: &'a dyn Syscall) -> Self {
        Virtual {
            sys,
            dirs: BTreeSet::new(),
            files: BTreeSet::new(),
            removed: BTreeSet::new(),
            links: BTreeMap::new(),
            binds: BTreeMap::new(),
        }
    }

    /// True when `p` or one of its parents is created by an earlier step (so it is new and empty).
    fn planned(&self, p: &Path) -> bool {
        p.ancestors()
            .any(|a| self.dirs.contains(a) || self.files.contains(a) || self.links.contains_key(a))
    }

    fn kind(&self, p: &Path) -> Result<FileKind> {
        if self.dirs.contains(p) {
            return Ok(FileKind::Dir);
        }
        if self.files.contains(p) {
            return Ok(FileKind::File);
        }
        if let Some(t) = self.links.get(p) {
            return Ok(FileKind::Symlink(t.clone()));
        }
        if self.removed.contains(p) || p.ancestors().skip(1).any(|a| self.dirs.contains(a)) {
            return Ok(FileKind::Absent);
        }
        self.sys.lstat_kind(p)
    }

    fn is_dir(&self, p: &Path) -> Result<bool> {
        if self.dirs.contains(p) {
            return Ok(true);
        }
        if let Some(t) = self.links.get(p) {
            return self.is_dir(&link_target(p, t));
        }
        if self.removed.contains(p) || self.files.contains(p) {
            return Ok(false);
        }
        if p.ancestors().skip(1).any(|a| self.dirs.contains(a)) {
            return Ok(false);
        }
        self.sys.is_dir(p)
    }

    /// The ops for `mkdir -p path` (missing parents 0755, `path` itself `mode`,
    /// owned by root), after checking every missing component can be created.
    fn mkdir_p(&mut self, path: &Path, mode: u32, refusing: &str) -> Result<Vec<Op>> {
        let mut missing = Vec::new();
        let mut cur = Some(path);
        while let Some(p) = cur {
            if self.is_dir(p)? {
                break;
            }
            match self.kind(p)? {
                FileKind::Absent => missing.push(p.to_path_buf()),
                other => {
                    return Err(refuse(
                        refusing,
                        Errno::ENOTDIR,
                        format!(
                        "{} is {} where a directory is needed; move it away or choose another path",
                        p.display(),
                        describe(&other)
                    ),
                    ))
                }
            }
            cur = p.parent();
        }
        if let Some(existing) = missing.last().and_then(|p| p.parent()) {
            if !self.planned(existing) {
                self.sys.access_writable(existing)?;
            }
        }
        let mut ops = Vec::new();
        for p in missing.iter().rev() {
            let m = if p == path { mode } else { 0o755 };
            ops.push(Op::Mkdir {
                path: p.clone(),
                mode: m,
            });
            ops.push(Op::Chown { path: p.clone() });
            self.dirs.insert(p.clone());
        }
        Ok(ops)
    }

    fn check(&mut self, action: &Action) -> Result<Option<Prepared>> {
        let prep = |ops: Vec<Op>, what: String, skip_why: &str| Prepared {
            ops,
            what,
            skip_why: skip_why.to_string(),
        };
        Ok(Some(match action {
            Action::CreateDir { path, mode } | Action::SecureDir { path, mode, .. } => {
                self.check_create_dir(&abs(path)?, *mode)?
            }
            Action::Lock { path } => {
                let path = abs(path)?;
                let c = call::flock(&path);
                let parent = self.trusted_path(path.parent().unwrap_or(Path::new("/")), &c)?;
                let path = parent.join(path.file_name().unwrap_or_default());
                if !self.is_dir(&parent)? {
                    return Err(refuse(
                        &c,
                        Errno::ENOENT,
                        format!("create {} before locking in it", parent.display()),
                    ));
                }
                match self.kind(&path)? {
                    FileKind::Absent | FileKind::File => {}
                    other => {
                        return Err(refuse(
                            &c,
                            Errno::EISDIR,
                            format!(
                                "{} is {}; move it away (dind-init keeps its lock there)",
                                path.display(),
                                describe(&other)
                            ),
                        ))
                    }
                }
                self.files.insert(path.clone());
                prep(
                    vec![Op::Lock { path: path.clone() }],
                    format!("lock {}", path.display()),
                    "",
                )
            }
            Action::BindMount { src, dst } => self.check_bind(&abs(src)?, &abs(dst)?)?,
            Action::Symlink { target, link } => self.check_symlink(&abs(target)?, &abs(link)?)?,
            Action::WriteFile { path, content } => self.check_write(&abs(path)?, content)?,
            Action::RemoveStalePidfile { path } => self.check_pidfile(&abs(path)?)?,
            Action::Tls { step } => prep(vec![Op::Tls { step: step.clone() }], step.render(), ""),
            Action::OwnHome { path, uid, gid } => self.check_own_home(&abs(path)?, *uid, *gid)?,
            Action::JoinGroup { user, group } => self.check_join_group(user, group),
            Action::NestCgroup { root } => prep(
                vec![Op::Nest { root: root.clone() }],
                format!("nest cgroups under {}", root.display()),
                "",
            ),
            Action::CacheVersion {
                path,
                program,
                version,
            } => self.check_cache(&abs(path)?, program, version)?,
            Action::RecordProof { path, content } => {
                let what = format!("record the storage proof in {}", path.display());
                self.check_data_file(&abs(path)?, content.clone(), what)?
            }
            Action::TakeReserve { path, bytes } => self.check_reserve(&abs(path)?, Some(*bytes))?,
            Action::ReleaseReserve { path } => self.check_reserve(&abs(path)?, None)?,
            // The session runs the daemons and writes the state at each phase.
            Action::StartContainerd { .. }
            | Action::StartDockerd { .. }
            | Action::RecordState { .. } => return Ok(None),
        }))
    }

    /// Add `user` to `group` in /etc/group, as dockerd gives the socket to that
    /// group. Never fatal, as before it was a step: an unreadable /etc/group is
    /// said and skipped.
    fn check_join_group(&mut self, user: &str, group: &str) -> Prepared {
        let path = PathBuf::from("/etc/group");
        let what = format!("add {user} to group {group} in /etc/group");
        let bytes = match self.sys.read_file(&path) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                log::warn!("cannot read /etc/group to add the {group} group: {e}");
                return Prepared {
                    ops: Vec::new(),
                    what,
                    skip_why: format!("cannot read it: {e}"),
                };
            }
        };
        let ops = match crate::user::with_docker_group(&bytes, group, user) {
            Some((bytes, _gid)) => vec![Op::Group { path, bytes }],
            None => Vec::new(),
        };
        Prepared {
            ops,
            what,
            skip_why: "already a member (or the group is a bare gid)".into(),
        }
    }

    /// A version cache goes only into a real directory: the user may have swapped
    /// their ~/.docker-data for a link since the start, and root must not create
    /// files where that link points. The key names the binary as it is now.
    fn check_cache(&mut self, path: &Path, program: &str, version: &str) -> Result<Prepared> {
        let what = format!("cache {version} in {}", path.display());
        let Some(key) = crate::probe::version_cache_key(program) else {
            return Ok(Prepared {
                ops: Vec::new(),
                what,
                skip_why: "the binary is not found".into(),
            });
        };
        // The layout of probe::version_cache_text: key line, version line.
        self.check_data_file(path, format!("{key}\n{version}\n"), what)
    }

    /// Write dind-init's own file `path` on the data root (a cache, the storage
    /// proof) when its directory is a real one (never through a link the user
    /// may have put there since the start) and it does not hold `content` yet.
    fn check_data_file(&mut self, path: &Path, content: String, what: String) -> Result<Prepared> {
        let skip = |why: &str| Prepared {
            ops: Vec::new(),
            what: what.clone(),
            skip_why: why.into(),
        };
        let dir = path.parent().unwrap_or(Path::new("/"));
        if self.sys.lstat_kind(dir)? != FileKind::Dir {
            return Ok(skip("the data root is not a real directory"));
        }
        if self.sys.read_file(path)?.as_deref() == Some(content.as_bytes()) {
            return Ok(skip("already there"));
        }
        Ok(Prepared {
            ops: vec![Op::Write {
                path: path.to_path_buf(),
                content,
            }],
            what,
            skip_why: String::new(),
        })
    }

    /// Take (`Some(bytes)`) or release dind-init's reserve `path`, in a directory
    /// reached through no link; anything but a regular file there is left alone.
    fn check_reserve(&mut self, path: &Path, bytes: Option<u64>) -> Result<Prepared> {
        let c = match bytes {
            Some(b) => call::fallocate(path, b),
            None => call::release(path),
        };
        let parent = self.trusted_path(path.parent().unwrap_or(Path::new("/")), &c)?;
        let path = parent.join(path.file_name().unwrap_or_default());
        let kind = self.kind(&path)?;
        let (ops, what) = match (kind, bytes) {
            (FileKind::Absent | FileKind::File, Some(bytes)) => (
                vec![Op::Reserve {
                    path: path.clone(),
                    bytes,
                }],
                format!("allocate {bytes} bytes in {}", path.display()),
            ),
            (FileKind::File, None) => (
                vec![Op::Release { path: path.clone() }],
                format!("remove {}", path.display()),
            ),
            _ => (Vec::new(), format!("{}", path.display())),
        };
        Ok(Prepared {
            ops,
            what,
            skip_why: "not dind-init's reserve file (or already gone): left alone".into(),
        })
    }

    /// `mkdir -p path`, and the last component must end a real directory owned
    /// by root with `mode`: a symlink there is refused (whoever owns the parent,
    /// like the user in their home, can plant one and point root's mkdir, lock
    /// and mount at any directory); a plain directory with another owner or mode
    /// is fixed through an fd opened without following links.
    fn check_create_dir(&mut self, path: &Path, mode: u32) -> Result<Prepared> {
        let c = call::mkdir(path, mode);
        let mut what = format!("create {} (mode {mode:04o})", path.display());
        let mut ops = Vec::new();
        // A link anywhere above, e.g. a user's ~/x -> /etc under DIND_DATA_ROOT=~/x/data.
        for a in path.ancestors().skip(1) {
            self.trusted_path(a, &c)?;
        }
        match self.kind(path)? {
            FileKind::Symlink(_) => {
                return self.check_create_dir(&self.trusted_path(path, &c)?, mode)
            }
            FileKind::Dir if !self.planned(path) => {
                let (uid, gid, m) = self.sys.owner_mode(path)?;
                if (uid, gid, m) != (0, 0, mode) {
                    what = format!(
                        "{what}: it exists with owner {uid}:{gid} mode {m:04o}, made root:root {mode:04o}"
                    );
                    ops.push(Op::SecureDir {
                        path: path.to_path_buf(),
                        mode,
                    });
                }
            }
            _ => ops = self.mkdir_p(path, mode, &c)?,
        }
        Ok(Prepared {
            ops,
            what,
            skip_why: "it exists".into(),
        })
    }

    /// Give the home `path` to `uid:gid`, keeping its mode: only a real
    /// directory (a link is refused, never followed) that is still a mount
    /// point owned by root; anything else is left as it is.
    fn check_own_home(&mut self, path: &Path, uid: u32, gid: u32) -> Result<Prepared> {
        let c = call::chown(path, uid, gid);
        let what = format!("give {} to {uid}:{gid}", path.display());
        let mut ops = Vec::new();
        let mut skip_why = "it is not the mount point of a volume".to_string();
        match self.kind(path)? {
            FileKind::Dir => {
                let (owner, _, mode) = self.sys.owner_mode(path)?;
                if owner != 0 {
                    skip_why = format!("it belongs to uid {owner} already");
                } else if self.sys.is_mount_point(path)? {
                    ops.push(Op::GiveDir {
                        path: path.to_path_buf(),
                        uid,
                        gid,
                        mode,
                    });
                }
            }
            FileKind::Symlink(t) => {
                return Err(refuse(
                    &c,
                    Errno::ELOOP,
                    format!(
                    "{} is a symlink to {}; dind-init gives only a real home directory to its user",
                    path.display(),
                    t.display()
                ),
                ))
            }
            _ => skip_why = "it is not a directory".into(),
        }
        Ok(Prepared {
            ops,
            what,
            skip_why,
        })
    }

    /// `path` with final symlinks resolved when only root can replace them (their
    /// directory is root-owned and writable by no one else: a link the image or an
    /// admin made is followed as before). A link in a directory a user can write
    /// is refused (`c`): its owner can point root at any directory, at any time.
    fn trusted_path(&self, path: &Path, c: &str) -> Result<PathBuf> {
        self.trusted_path_or(path, c, &link_refusal)
    }

    /// [`Self::trusted_path`], with `refusal(link, target)` saying why and the fix.
    fn trusted_path_or(
        &self,
        path: &Path,
        c: &str,
        refusal: &dyn Fn(&Path, &Path) -> String,
    ) -> Result<PathBuf> {
        let mut p = path.to_path_buf();
        for _ in 0..8 {
            let FileKind::Symlink(t) = self.kind(&p)? else {
                return Ok(p);
            };
            let parent = p.parent().unwrap_or(Path::new("/"));
            if !self.planned(parent) {
                let (uid, _, mode) = self.sys.owner_mode(parent)?;
                if uid != 0 || mode & 0o022 != 0 {
                    return Err(refuse(c, Errno::ELOOP, refusal(&p, &t)));
                }
            }
            p = link_target(&p, &t);
        }
        Err(refuse(
            c,
            Errno::ELOOP,
            format!(
                "{} is a chain of more than 8 symlinks; name the real directory instead",
                path.display()
            ),
        ))
    }

    /// `dir`, the data a bind or symlink points at, resolved by [`Self::trusted_path`];
    /// refuse `c` unless it is (or will be) a directory.
    fn require_data_dir(&self, dir: &Path, c: &str) -> Result<PathBuf> {
        let dir = self.trusted_path(dir, c)?;
        match self.kind(&dir)? {
            FileKind::Dir => Ok(dir),
            _ => Err(refuse(
                c,
                Errno::ENOENT,
                format!(
                    "{} must exist as a directory (check DIND_DATA_ROOT)",
                    dir.display()
                ),
            )),
        }
    }

    /// The entries of the existing directory `dir` that are data ([`is_data_entry`]).
    fn data_entries(&self, dir: &Path) -> Result<Vec<OsString>> {
        let mut data = Vec::new();
        for name in self.sys.read_dir_names(dir)? {
            let p = dir.join(&name);
            let lost_found_empty = || {
                Ok::<bool, Error>(
                    self.sys.lstat_kind(&p)? == FileKind::Dir
                        && self.sys.read_dir_names(&p)?.is_empty(),
                )
            };
            if is_data_entry(&name, lost_found_empty)? {
                data.push(name);
            }
        }
        Ok(data)
    }

    /// The directories below `dir`, deepest first, when `dir` holds nothing but
    /// empty directories (an empty lost+found, dind-init's empty scratch dirs):
    /// what replacing `dir` by a symlink removes, with rmdir alone. Err(entry)
    /// names the first entry that is anything else (a file, a mount point).
    fn empty_dirs_below(
        &self,
        dir: &Path,
        depth: usize,
    ) -> Result<std::result::Result<Vec<PathBuf>, PathBuf>> {
        let mut out = Vec::new();
        for name in self.sys.read_dir_names(dir)? {
            let p = dir.join(&name);
            // dind-init's own reserve goes with Op::Release (check_symlink), never in the way.
            if depth == 0
                && name == crate::reserve::NAME
                && self.sys.lstat_kind(&p)? == FileKind::File
            {
                continue;
            }
            if depth >= 4
                || self.sys.lstat_kind(&p)? != FileKind::Dir
                || self.sys.is_mount_point(&p)?
            {
                return Ok(Err(p));
            }
            match self.empty_dirs_below(&p, depth + 1)? {
                Ok(below) => out.extend(below),
                Err(bad) => return Ok(Err(bad)),
            }
            out.push(p);
        }
        Ok(Ok(out))
    }

    fn check_bind(&mut self, src: &Path, dst: &Path) -> Result<Prepared> {
        let c = call::mount_bind(src, dst);
        let what = format!("bind-mount {} on {}", src.display(), dst.display());
        let src = &self.require_data_dir(src, &c)?;
        let skip = |why: &str| Prepared {
            ops: Vec::new(),
            what: what.clone(),
            skip_why: why.to_string(),
        };
        if self.binds.get(dst).is_some_and(|s| s == src) {
            return Ok(skip("an earlier step binds it"));
        }
        if !self.planned(src) && !self.planned(dst) && self.sys.same_file(src, dst)? {
            return Ok(skip("already bound"));
        }
        let mut ops = Vec::new();
        match self.kind(dst)? {
            FileKind::Absent => ops.extend(self.mkdir_p(dst, 0o755, &c)?),
            FileKind::Dir if self.planned(dst) => {}
            FileKind::Dir => {
                // lost+found and dind-init's leftovers hold nothing of the user's.
                if !self.data_entries(dst)?.is_empty() {
                    return Err(refuse(
                        &c,
                        Errno::ENOTEMPTY,
                        format!(
                            "{dst} already holds data that a mount would hide; with dockerd stopped move it into {src} \
                             (mv {dst}/* {src}/) or set DIND_STRATEGY=data-root",
                            dst = dst.display(),
                            src = src.display()
                        ),
                    ));
                }
            }
            other => {
                return Err(refuse(
                    &c,
                    Errno::ENOTDIR,
                    format!(
                        "{} is {}, not a directory; move it away or set DIND_STRATEGY=data-root",
                        dst.display(),
                        describe(&other)
                    ),
                ))
            }
        }
        ops.push(Op::Bind {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
        });
        self.binds.insert(dst.to_path_buf(), src.to_path_buf());
        Ok(Prepared {
            ops,
            what,
            skip_why: String::new(),
        })
    }

    fn check_symlink(&mut self, target: &Path, link: &Path) -> Result<Prepared> {
        let c = call::symlink(target, link);
        let what = format!("symlink {} -> {}", link.display(), target.display());
        self.require_data_dir(target, &c)?;
        let mut ops = Vec::new();
        match self.kind(link)? {
            FileKind::Symlink(t) if t == target => {
                return Ok(Prepared {
                    ops,
                    what,
                    skip_why: "it already points there".into(),
                })
            }
            FileKind::Symlink(t) => {
                return Err(refuse(
                    &c,
                    Errno::EEXIST,
                    format!(
                        "{} already points to {}; remove that link yourself if it is stale, or set DIND_DATA_ROOT={}",
                        link.display(),
                        t.display(),
                        t.display()
                    ),
                ))
            }
            FileKind::Absent => {
                if let Some(parent) = link.parent() {
                    ops.extend(self.mkdir_p(parent, 0o755, &c)?);
                }
            }
            FileKind::Dir if self.planned(link) => ops.push(Op::Rmdir {
                path: link.to_path_buf(),
            }),
            FileKind::Dir => ops.extend(self.replace_dir(link, target, &c)?),
            other => {
                return Err(refuse(
                    &c,
                    Errno::EEXIST,
                    format!(
                        "{} is {}; move it away or set DIND_STRATEGY=data-root",
                        link.display(),
                        describe(&other)
                    ),
                ))
            }
        }
        ops.push(Op::Symlink {
            target: target.to_path_buf(),
            link: link.to_path_buf(),
        });
        self.dirs.remove(link);
        self.removed.remove(link);
        self.links.insert(link.to_path_buf(), target.to_path_buf());
        Ok(Prepared {
            ops,
            what,
            skip_why: String::new(),
        })
    }

    /// The ops that clear the existing directory `link` for a symlink to `target`:
    /// only empty directories (an empty lost+found, dind-init's scratch) and
    /// dind-init's own reserve go; a mount point or anything holding data is refused.
    fn replace_dir(&self, link: &Path, target: &Path, c: &str) -> Result<Vec<Op>> {
        let mut ops = Vec::new();
        if self.sys.is_mount_point(link)? {
            return Err(refuse(
                c,
                Errno::EBUSY,
                format!(
                    "{} is a mount point (a volume?); set DIND_STRATEGY=bind or data-root",
                    link.display()
                ),
            ));
        }
        if !self.data_entries(link)?.is_empty() {
            return Err(refuse(
                c,
                Errno::ENOTEMPTY,
                format!(
                    "{link} holds data dind-init never deletes or hides; with dockerd stopped move it into \
                     {target} (mv {link}/* {target}/) or set DIND_STRATEGY=data-root",
                    link = link.display(),
                    target = target.display()
                ),
            ));
        }
        // Not data, but more than an rmdir removes: refused, never deleted.
        let empty_dirs = self.empty_dirs_below(link, 0)?.map_err(|bad| {
            refuse(
                c,
                Errno::ENOTEMPTY,
                format!(
                    "{} is not an empty directory; dind-init deletes nothing but empty directories: \
                     remove it yourself or set DIND_STRATEGY=bind",
                    bad.display()
                ),
            )
        })?;
        if let Some(parent) = link.parent() {
            self.sys.access_writable(parent)?;
        }
        let reserve = link.join(crate::reserve::NAME);
        if self.sys.lstat_kind(&reserve)? == FileKind::File {
            ops.push(Op::Release { path: reserve });
        }
        ops.extend(empty_dirs.into_iter().map(|path| Op::Rmdir { path }));
        ops.push(Op::Rmdir {
            path: link.to_path_buf(),
        });
        Ok(ops)
    }

    /// Replace `path` atomically. A symlink there (a daemon.json kept in dotfiles) is
    /// written through, never replaced, but only the way a data root is reached: no
    /// link a non-root user could repoint, at the file or at any directory above it or
    /// above a link's target ([`Self::trusted_path`]); root's write must not land where
    /// they say. The file is named in a directory whose own name is no link, as the
    /// write opens it `O_NOFOLLOW`.
    fn check_write(&mut self, path: &Path, content: &str) -> Result<Prepared> {
        let c = call::write(path, content.len(), true);
        let refusal = |link: &Path, t: &Path| write_link_refusal(path, link, t);
        let real = self.trusted_path_or(path, &c, &refusal)?;
        let name = real.file_name().unwrap_or_default().to_owned();
        let parent = self.trusted_path_or(real.parent().unwrap_or(Path::new("/")), &c, &refusal)?;
        let real = parent.join(name);
        self.check_links(&real, &c, &refusal, 0)?;
        self.check_write_real(path, real, content)
    }

    /// Refuse `c` when `path` or a directory above it is a link a user could repoint;
    /// a link only root can change is followed and its target checked the same way.
    fn check_links(
        &self,
        path: &Path,
        c: &str,
        refusal: &dyn Fn(&Path, &Path) -> String,
        depth: usize,
    ) -> Result<()> {
        if depth > 8 {
            let why = format!(
                "{} is reached through too many symlinks; name the real file",
                path.display()
            );
            return Err(refuse(c, Errno::ELOOP, why));
        }
        for a in path.ancestors() {
            let resolved = self.trusted_path_or(a, c, refusal)?;
            if resolved != a {
                self.check_links(&resolved, c, refusal, depth + 1)?;
            }
        }
        Ok(())
    }

    /// [`Self::check_write`] once `real`, the file written, is reached through no link
    /// above it that a user could repoint.
    fn check_write_real(&mut self, path: &Path, real: PathBuf, content: &str) -> Result<Prepared> {
        let c = call::write(path, content.len(), true);
        let kind = self.kind(&real)?;
        let what = if real == path {
            format!("write {}", path.display())
        } else {
            format!(
                "write {} (through the link {})",
                real.display(),
                path.display()
            )
        };
        let mut ops = Vec::new();
        match kind {
            FileKind::File if !self.planned(&real) => {
                if self.sys.read_file(&real)?.as_deref() == Some(content.as_bytes()) {
                    return Ok(Prepared {
                        ops,
                        what,
                        skip_why: "its content is already right".into(),
                    });
                }
            }
            FileKind::File | FileKind::Absent => {}
            other => {
                return Err(refuse(
                    &c,
                    Errno::EISDIR,
                    format!("{} is {}; move it away", real.display(), describe(&other)),
                ))
            }
        }
        let parent = real.parent().unwrap_or(Path::new("/")).to_path_buf();
        if self.is_dir(&parent)? {
            if !self.planned(&parent) {
                self.sys.access_writable(&parent)?;
            }
        } else {
            ops.extend(self.mkdir_p(&parent, 0o755, &c)?);
        }
        ops.push(Op::Write {
            path: real.clone(),
            content: content.to_string(),
        });
        self.files.insert(real);
        Ok(Prepared {
            ops,
            what,
            skip_why: String::new(),
        })
    }

    fn check_pidfile(&mut self, path: &Path) -> Result<Prepared> {
        let what = format!("remove stale pidfile {}", path.display());
        let none = |why: &str| Prepared {
            ops: Vec::new(),
            what: what.clone(),
            skip_why: why.to_string(),
        };
        match self.kind(path)? {
            FileKind::Absent => return Ok(none("there is none")),
            FileKind::File => {}
            other => {
                return Err(refuse(
                    &call::unlink(path),
                    Errno::EISDIR,
                    format!(
                        "{} is {}, not a pidfile; move it away",
                        path.display(),
                        describe(&other)
                    ),
                ))
            }
        }
        let text = self.sys.read_file(path)?.unwrap_or_default();
        let verdict = pidfile_verdict(&text, &["dockerd", "containerd"], |pid| {
            self.sys
                .read_file(&PathBuf::from(format!("/proc/{pid}/cmdline")))
        })?;
        if verdict == Pidfile::NotAPidfile {
            return Err(refuse(
                &call::unlink(path),
                Errno::EINVAL,
                format!(
                    "{} is not a pidfile ({} bytes, not one PID), so dind-init never removes it; \
                     make \"pidfile\" in daemon.json name a file only dockerd writes, or move that file away",
                    path.display(),
                    text.len()
                ),
            ));
        }
        if let Pidfile::Live(pid, daemon) = verdict {
            return Err(Error::Docker {
                msg: format!(
                    "{daemon} (pid {pid}) is still running with pidfile {}; refusing to remove it",
                    path.display()
                ),
                hint: format!(
                    "stop {daemon} pid {pid} first; dind-init never touches a live daemon"
                ),
            });
        }
        Ok(Prepared {
            ops: vec![Op::Unlink {
                path: path.to_path_buf(),
            }],
            what,
            skip_why: String::new(),
        })
    }
}

/// Where a symlink at `link` with target `t` points, as an absolute path.
fn link_target(link: &Path, t: &Path) -> PathBuf {
    if t.is_absolute() {
        normalize(t)
    } else {
        normalize(&link.parent().unwrap_or(Path::new("/")).join(t))
    }
}

/// Why `path`, a symlink to `t`, is refused where a real directory is needed, and the fix.
fn link_refusal(path: &Path, t: &Path) -> String {
    let real = link_target(path, t);
    format!(
        "{p} is a symlink to {t}, and whoever owns {parent} can repoint it at any directory, so dind-init does not follow it: \
         remove the link (rm {p}) and dind-init creates a real directory there, or to keep Docker's data in {real} set DIND_DATA_ROOT={real}",
        p = path.display(),
        t = t.display(),
        parent = path.parent().unwrap_or(Path::new("/")).display(),
        real = real.display()
    )
}

/// Why a file apply writes (`file`) is not written through `link` (to `t`), and the fix.
fn write_link_refusal(file: &Path, link: &Path, t: &Path) -> String {
    format!(
        "{l} is a symlink to {t}, and whoever owns {parent} can repoint it, so dind-init does not write {f} through it: \
         make {f} a plain file, or a link to {real} through no link a user owns",
        l = link.display(),
        t = t.display(),
        parent = link.parent().unwrap_or(Path::new("/")).display(),
        f = file.display(),
        real = link_target(link, t).display()
    )
}

fn describe(k: &FileKind) -> String {
    match k {
        FileKind::Absent => "missing".into(),
        FileKind::Dir => "a directory".into(),
        FileKind::File => "a file".into(),
        FileKind::Symlink(t) => format!("a symlink to {}", t.display()),
        FileKind::Other => "a device, socket or fifo".into(),
    }
}

/// The error for a step refused before any change was made.
fn refuse(call: &str, errno: Errno, hint: String) -> Error {
    Error::sys(
        format!("refusing {call} (nothing was changed)"),
        errno,
        hint,
    )
}

/// Plan paths are absolute; a relative one is a planner bug, refused.
fn abs(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(normalize(p))
    } else {
        Err(Error::io(
            "apply",
            p,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "plan paths must be absolute",
            ),
        ))
    }
}

/// The text written into the lock file, shown to a second instance that finds it held.
fn holder_text() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into());
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("pid {} on {host} since {since}", std::process::id())
}

fn run(
    op: &Op,
    sys: &dyn Syscall,
    locks: &mut Vec<HeldLock>,
    holder: &str,
    keep_bak: bool,
) -> Result<()> {
    match op {
        Op::Mkdir { path, mode } => sys.mkdir(path, *mode),
        Op::Chown { path } => sys.chown(path, 0, 0),
        Op::SecureDir { path, mode } => sys.secure_dir(path, 0, 0, *mode),
        Op::GiveDir {
            path,
            uid,
            gid,
            mode,
        } => sys.secure_dir(path, *uid, *gid, *mode),
        Op::Bind { src, dst } => sys.mount_bind(src, dst),
        Op::Rmdir { path } => {
            if sys.rmdir_if_empty(path)? {
                Ok(())
            } else {
                Err(refuse(
                    &call::rmdir(path),
                    Errno::ENOTEMPTY,
                    format!(
                        "{} filled up while dind-init was starting; nothing was removed",
                        path.display()
                    ),
                ))
            }
        }
        Op::Symlink { target, link } => sys.symlink(target, link),
        Op::Write { path, content } => sys.write_atomic(path, content.as_bytes(), keep_bak),
        Op::Unlink { path } => sys.remove_file(path),
        Op::Tls { step } => crate::tls::execute(step, &crate::tls::SystemRunner),
        // Neither stops the start: Docker works without them, a little less well.
        Op::Group { path, bytes } => {
            if let Err(e) = sys.write_atomic(path, bytes, false) {
                log::warn!("cannot add the devpod user to its Docker group in /etc/group: {e}");
            }
            Ok(())
        }
        Op::Nest { root } => {
            match sys.nest_cgroup(root) {
                Ok(outcome) => log::info!("{}", outcome.summary()),
                Err(e) => log::warn!(
                    "cgroup v2 nesting failed: {e}; containers may not get cpu/memory limits"
                ),
            }
            Ok(())
        }
        // The reserve is a spare: failing to take or give it back never stops Docker.
        Op::Reserve { path, bytes } => {
            if let Err(e) = sys.reserve_space(path, *bytes) {
                log::warn!("dind-init keeps no reserve on this volume: {e}");
            }
            Ok(())
        }
        Op::Release { path } => {
            if let Err(e) = sys.release_space(path) {
                log::warn!("cannot release dind-init's reserve {}: {e}", path.display());
            }
            Ok(())
        }
        Op::Lock { path } => {
            if !locks.iter().any(|l| l.path() == path) {
                locks.push(sys.flock_exclusive_nonblocking(path, holder)?);
            }
            Ok(())
        }
    }
}

/// Execute the steps of `plan` that come before the daemons (storage, group,
/// cgroup nesting); StartContainerd/StartDockerd and the state file belong to
/// the session, and the steps for after Docker answers to [`after_ready`]. All
/// checks run first: on any refusal or a held lock nothing has changed.
pub fn apply(plan: &Plan, sys: &dyn Syscall) -> Result<Applied> {
    let before: Vec<Step> = plan
        .steps
        .iter()
        .filter(|s| !s.action.after_ready())
        .cloned()
        .collect();
    apply_steps(&before, sys)
}

/// Execute the steps of a plan for once Docker answers and storage proved
/// itself (the version caches, the storage proof); no `.bak` for these files
/// of dind-init's own.
pub fn after_ready(steps: &[Step], sys: &dyn Syscall) -> Result<Applied> {
    let after: Vec<Step> = steps
        .iter()
        .filter(|s| s.action.after_ready())
        .cloned()
        .collect();
    apply_steps_with(&after, sys, false)
}

/// Log a step the session carries out itself (a daemon, the state file) the
/// way apply logs its own, so a debug log lists every step a start took.
pub fn log_done(step: &Step) {
    log::debug!("apply: {}  — done: {}", step.action.render(), step.reason);
}

/// Every check [`apply`] makes before it changes anything, and nothing else
/// (no lock, no change): `doctor` runs it, so it fails where a start would,
/// with the same message.
pub fn precheck(steps: &[Step], sys: &dyn Syscall) -> Result<()> {
    let mut v = Virtual::new(sys);
    for step in steps {
        v.check(&step.action)?;
    }
    Ok(())
}

/// [`apply`] over bare steps, for callers and tests that build steps by hand.
pub fn apply_steps(steps: &[Step], sys: &dyn Syscall) -> Result<Applied> {
    apply_steps_with(steps, sys, true)
}

/// [`apply_steps`], choosing whether a rewritten file refreshes its `.bak`:
/// a re-plan within one start passes false, so the `.bak` keeps the user's
/// content rather than dind-init's own first write.
pub fn apply_steps_with(steps: &[Step], sys: &dyn Syscall, keep_bak: bool) -> Result<Applied> {
    let mut v = Virtual::new(sys);
    let mut prepared = Vec::new();
    for step in steps {
        if let Some(p) = v.check(&step.action)? {
            prepared.push((p, step));
        }
    }
    let holder = holder_text();
    let mut locks = Vec::new();
    // A lock in a directory that already exists is a precondition too: take it
    // before changing anything. One in a directory the plan creates is taken at
    // its step (nobody else can hold it yet).
    for (p, _) in &prepared {
        for op in &p.ops {
            if let Op::Lock { path } = op {
                if sys.is_dir(path.parent().unwrap_or(Path::new("/")))? {
                    run(op, sys, &mut locks, &holder, keep_bak)?;
                }
            }
        }
    }
    let mut log = Vec::new();
    for (p, step) in &prepared {
        let reason = &step.reason;
        let changes = p.ops.iter().any(|op| !matches!(op, Op::Lock { .. }));
        for (i, op) in p.ops.iter().enumerate() {
            if let Err(e) = run(op, sys, &mut locks, &holder, keep_bak) {
                // Put back an empty directory we removed for a symlink that then failed.
                if let (Op::Symlink { link, .. }, Some(Op::Rmdir { .. })) =
                    (op, i.checked_sub(1).map(|j| &p.ops[j]))
                {
                    let _ = sys.mkdir(link, 0o755);
                }
                return Err(e);
            }
        }
        let is_lock = p.ops.iter().all(|op| matches!(op, Op::Lock { .. })) && !p.ops.is_empty();
        let text = if changes || is_lock {
            format!("{}: {reason}", p.what)
        } else {
            format!("{}: {}", p.what, p.skip_why)
        };
        let entry = Entry {
            changed: changes,
            text,
        };
        log::debug!("apply: {}  — {entry}", step.action.render());
        log.push(entry);
    }
    Ok(Applied { locks, log })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::RecordingSyscall;

    const DATA: &str = "/home/coder/.docker-data";
    const LOCK: &str = "/home/coder/.docker-data/.dind-init.lock";

    fn plan(actions: Vec<Action>) -> Vec<Step> {
        actions
            .into_iter()
            .map(|action| Step {
                action,
                reason: "because".into(),
            })
            .collect()
    }

    fn apply(steps: &[Step], sys: &dyn Syscall) -> Result<Applied> {
        apply_steps(steps, sys)
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn bind_plan() -> Vec<Step> {
        plan(vec![
            Action::CreateDir {
                path: p(DATA),
                mode: 0o710,
            },
            Action::Lock { path: p(LOCK) },
            Action::BindMount {
                src: p(DATA),
                dst: p("/var/lib/docker"),
            },
            Action::StartDockerd {
                argv: vec!["dockerd".into()],
                socket: p("/var/run/docker.sock"),
            },
        ])
    }

    fn seed_fs() -> RecordingSyscall {
        RecordingSyscall::new()
            .with_dir("/home/coder")
            .with_dir("/var/lib")
    }

    /// The precheck refuses what apply refuses, with the same message, and
    /// changes nothing.
    #[test]
    fn precheck_fails_like_apply_and_changes_nothing() {
        let steps = plan(vec![Action::CreateDir {
            path: p(DATA),
            mode: 0o710,
        }]);
        let planted = || {
            RecordingSyscall::new()
                .with_dir_owned("/home/coder", 0o755, 1000, 1000)
                .with_dir("/etc")
                .with_symlink(DATA, "/etc")
        };
        let sys = planted();
        let pre = precheck(&steps, &sys).unwrap_err().to_string();
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        let real = apply(&steps, &planted()).unwrap_err().to_string();
        assert_eq!(pre, real);
        let fine = seed_fs();
        precheck(&steps, &fine).unwrap();
        assert!(fine.calls().is_empty(), "{:?}", fine.calls());
    }

    /// A fresh volume's root-owned root mounted as the home is given to the
    /// user: that directory only, mode kept, through the O_NOFOLLOW seam; a
    /// link, a home already the user's, or one that is no mount point is left.
    #[test]
    fn a_root_owned_volume_home_is_given_to_its_user_and_nothing_else() {
        let own = plan(vec![Action::OwnHome {
            path: p("/home/coder"),
            uid: 1000,
            gid: 1000,
        }]);
        let volume = |owner: u32| {
            RecordingSyscall::new()
                .with_dir_owned("/mnt/pvc", 0o755, owner, owner)
                .with_file("/mnt/pvc/notes.txt", "mine")
                .with_dir("/home/coder")
                .with_bind("/mnt/pvc", "/home/coder")
        };
        let sys = volume(0);
        let applied = apply(&own, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            vec!["fchown+fchmod /home/coder 1000:1000 mode=0755 (O_NOFOLLOW)".to_string()]
        );
        assert!(applied.log[0].changed);
        let sys = volume(1000);
        apply(&own, &sys).unwrap();
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        let not_mounted = RecordingSyscall::new().with_dir("/home/coder");
        apply(&own, &not_mounted).unwrap();
        assert!(not_mounted.calls().is_empty(), "{:?}", not_mounted.calls());
        let link = RecordingSyscall::new()
            .with_dir("/etc")
            .with_dir("/home")
            .with_symlink("/home/coder", "/etc");
        let err = apply(&own, &link).unwrap_err().to_string();
        assert!(err.contains("symlink") && err.contains("/etc"), "{err}");
        assert!(link.calls().is_empty(), "{:?}", link.calls());
    }

    #[test]
    fn bind_and_symlink_refuse_a_missing_data_dir() {
        let sys = seed_fs().with_dir("/var/lib/docker");
        for (action, call) in [
            (
                Action::BindMount {
                    src: p(DATA),
                    dst: p("/var/lib/docker"),
                },
                "mount src=/home/coder/.docker-data dst=/var/lib/docker flags=MS_BIND",
            ),
            (
                Action::Symlink {
                    target: p(DATA),
                    link: p("/var/lib/docker"),
                },
                "symlink /var/lib/docker -> /home/coder/.docker-data",
            ),
        ] {
            let err = apply(&plan(vec![action]), &sys).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("refusing {call} (nothing was changed): ENOENT")),
                "{err}"
            );
            assert!(
                err.contains(
                    "/home/coder/.docker-data must exist as a directory (check DIND_DATA_ROOT)"
                ),
                "{err}"
            );
            assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        }
    }

    #[test]
    fn bind_plan_creates_locks_and_mounts_in_order() {
        let sys = seed_fs();
        let applied = apply(&bind_plan(), &sys).unwrap();
        assert_eq!(
            sys.calls(),
            [
                "mkdir /home/coder/.docker-data mode=0710",
                "chown /home/coder/.docker-data 0:0",
                "flock LOCK_EX|LOCK_NB /home/coder/.docker-data/.dind-init.lock",
                "mkdir /var/lib/docker mode=0755",
                "chown /var/lib/docker 0:0",
                "mount src=/home/coder/.docker-data dst=/var/lib/docker flags=MS_BIND",
            ]
        );
        assert_eq!(applied.locks.len(), 1);
        assert_eq!(
            applied.log.len(),
            3,
            "StartDockerd is not apply's: {:?}",
            applied.log
        );
        assert!(
            applied.log.iter().all(|e| e.text.ends_with("because")),
            "{:?}",
            applied.log
        );
        assert_eq!(sys.dir_meta(DATA), Some((0o710, 0, 0)));
        let holder = String::from_utf8(sys.file(LOCK).unwrap()).unwrap();
        assert!(
            holder.starts_with(&format!("pid {} on ", std::process::id())),
            "{holder}"
        );
        assert!(sys
            .same_file(Path::new("/var/lib/docker"), Path::new(DATA))
            .unwrap());
    }

    #[test]
    fn second_apply_only_takes_the_lock() {
        let sys = seed_fs();
        let first = apply(&bind_plan(), &sys).unwrap();
        assert!(first.changed());
        drop(first);
        sys.clear_calls();
        let second = apply(&bind_plan(), &sys).unwrap();
        assert_eq!(
            sys.calls(),
            ["flock LOCK_EX|LOCK_NB /home/coder/.docker-data/.dind-init.lock"]
        );
        assert!(!second.changed(), "{:?}", second.log);
        assert_eq!(
            second.log[2].to_string(),
            "skip: bind-mount /home/coder/.docker-data on /var/lib/docker: already bound"
        );
    }

    #[test]
    fn a_held_lock_refuses_before_any_change() {
        let sys = seed_fs().with_dir(DATA);
        let first = apply(&bind_plan(), &sys).unwrap();
        // A second instance (the first still holds its lock) on a fresh dst: the lock comes first.
        let mut plan2 = bind_plan();
        plan2[2].action = Action::BindMount {
            src: p(DATA),
            dst: p("/var/lib/docker2"),
        };
        sys.clear_calls();
        let err = apply(&plan2, &sys).unwrap_err();
        match &err {
            Error::Locked { path, holder } => {
                assert_eq!(path, &p(LOCK));
                assert!(holder.starts_with("pid "), "{holder}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            sys.calls(),
            ["flock LOCK_EX|LOCK_NB /home/coder/.docker-data/.dind-init.lock"],
            "no change made"
        );
        drop(first);
    }

    fn symlink_plan() -> Vec<Step> {
        plan(vec![
            Action::CreateDir {
                path: p(DATA),
                mode: 0o710,
            },
            Action::Lock { path: p(LOCK) },
            Action::Symlink {
                target: p(DATA),
                link: p("/var/lib/docker"),
            },
        ])
    }

    #[test]
    fn symlink_plan_replaces_an_empty_dir_and_is_idempotent() {
        let sys = seed_fs().with_dir("/var/lib/docker");
        let applied = apply(&symlink_plan(), &sys).unwrap();
        assert_eq!(
            sys.calls()[3..],
            [
                "rmdir /var/lib/docker",
                "symlink /var/lib/docker -> /home/coder/.docker-data"
            ]
        );
        assert_eq!(
            sys.lstat_kind(Path::new("/var/lib/docker")).unwrap(),
            FileKind::Symlink(p(DATA))
        );
        drop(applied);
        sys.clear_calls();
        let again = apply(&symlink_plan(), &sys).unwrap();
        assert_eq!(sys.calls().len(), 1, "only the lock: {:?}", sys.calls());
        assert!(!again.changed());
    }

    #[test]
    fn symlink_never_replaces_a_non_empty_dir_and_makes_no_call() {
        let sys = seed_fs().with_file("/var/lib/docker/overlay2/l/abc", "x");
        let err = apply(&symlink_plan(), &sys).unwrap_err();
        assert_eq!(sys.calls(), Vec::<String>::new(), "no call at all");
        let msg = err.to_string();
        assert!(msg.starts_with("refusing symlink /var/lib/docker -> /home/coder/.docker-data (nothing was changed): ENOTEMPTY"), "{msg}");
        assert!(
            msg.contains("mv /var/lib/docker/* /home/coder/.docker-data/"),
            "{msg}"
        );
        assert!(sys.file("/var/lib/docker/overlay2/l/abc").is_some());
    }

    #[test]
    fn bind_never_hides_data_and_makes_no_call() {
        let sys = seed_fs().with_file("/var/lib/docker/image/x", "x");
        let err = apply(&bind_plan(), &sys).unwrap_err();
        assert_eq!(sys.calls(), Vec::<String>::new());
        assert!(
            matches!(
                err,
                Error::Sys {
                    errno: Errno::ENOTEMPTY,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn symlink_refuses_a_link_pointing_elsewhere_and_a_mount_point() {
        let sys = seed_fs().with_symlink("/var/lib/docker", "/old");
        let err = apply(&symlink_plan(), &sys).unwrap_err().to_string();
        assert!(err.contains("already points to /old"), "{err}");
        let sys = seed_fs()
            .with_dir("/vol")
            .with_dir("/var/lib/docker")
            .with_bind("/vol", "/var/lib/docker");
        let err = apply(&symlink_plan(), &sys).unwrap_err().to_string();
        assert!(
            err.contains("EBUSY") && err.contains("mount point"),
            "{err}"
        );
        assert!(sys.calls().is_empty());
    }

    #[test]
    fn write_file_is_atomic_with_bak_and_skipped_when_equal() {
        let sys = seed_fs().with_file("/etc/docker/daemon.json", "{\"debug\": true}\n");
        let new = "{\n  \"debug\": true,\n  \"storage-driver\": \"overlay2\"\n}\n";
        let pl = plan(vec![Action::WriteFile {
            path: p("/etc/docker/daemon.json"),
            content: new.into(),
        }]);
        let applied = apply(&pl, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            [format!(
                "write /etc/docker/daemon.json ({} bytes, keep .bak)",
                new.len()
            )]
        );
        assert_eq!(sys.file("/etc/docker/daemon.json").unwrap(), new.as_bytes());
        assert_eq!(
            sys.file("/etc/docker/daemon.json.bak").unwrap(),
            b"{\"debug\": true}\n"
        );
        assert!(applied.changed());
        sys.clear_calls();
        let again = apply(&pl, &sys).unwrap();
        assert!(sys.calls().is_empty());
        assert!(
            again.log[0].text.ends_with("its content is already right"),
            "{:?}",
            again.log
        );
    }

    #[test]
    fn write_file_creates_the_parent_writes_through_links_and_refuses_read_only() {
        let sys = RecordingSyscall::new().with_dir("/etc");
        let pl = plan(vec![Action::WriteFile {
            path: p("/etc/docker/daemon.json"),
            content: "{}\n".into(),
        }]);
        apply(&pl, &sys).unwrap();
        assert_eq!(sys.calls()[0], "mkdir /etc/docker mode=0755");
        assert_eq!(sys.file("/etc/docker/daemon.json").unwrap(), b"{}\n");

        let sys = RecordingSyscall::new()
            .with_file("/home/coder/dot/daemon.json", "{\"a\":1}")
            .with_symlink("/etc/docker/daemon.json", "/home/coder/dot/daemon.json");
        apply(&pl, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            ["write /home/coder/dot/daemon.json (3 bytes, keep .bak)"]
        );
        assert!(matches!(
            sys.lstat_kind(Path::new("/etc/docker/daemon.json"))
                .unwrap(),
            FileKind::Symlink(_)
        ));

        let sys = RecordingSyscall::new()
            .with_dir(DATA)
            .with_file("/etc/docker/daemon.json", "{\"a\":1}")
            .with_read_only("/etc/docker");
        let mut pl2 = bind_plan();
        pl2.push(pl[0].clone());
        let err = apply(&pl2, &sys).unwrap_err().to_string();
        assert!(err.starts_with("access /etc/docker W_OK: EROFS"), "{err}");
        assert!(
            sys.calls().is_empty(),
            "checked before the mkdir/mount/lock: {:?}",
            sys.calls()
        );
    }

    #[test]
    fn a_write_through_a_link_a_user_can_repoint_is_refused() {
        let pl = plan(vec![Action::WriteFile {
            path: p("/etc/docker/daemon.json"),
            content: "{}\n".into(),
        }]);
        // Root's link into the dotfiles, but a directory on the way is the user's link.
        let sys = RecordingSyscall::new()
            .with_dir("/etc/docker")
            .with_file("/home/coder/dotfiles-v2/docker/daemon.json", "{\"a\":1}")
            .with_symlink("/home/coder/dotfiles", "/home/coder/dotfiles-v2")
            .with_symlink(
                "/etc/docker/daemon.json",
                "/home/coder/dotfiles/docker/daemon.json",
            )
            .with_dir_owned("/home/coder", 0o755, 1000, 1000);
        let err = apply(&pl, &sys).unwrap_err().to_string();
        assert!(
            err.contains("/home/coder/dotfiles is a symlink to /home/coder/dotfiles-v2")
                && err.contains("/etc/docker/daemon.json"),
            "{err}"
        );
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        assert_eq!(
            sys.file("/home/coder/dotfiles-v2/docker/daemon.json")
                .unwrap(),
            b"{\"a\":1}"
        );

        // Root's own link above, whose target holds the user's link: refused as well.
        let sys = RecordingSyscall::new()
            .with_file("/home/coder/dotfiles-v2/docker/daemon.json", "{\"a\":1}")
            .with_symlink("/home/coder/dotfiles", "/home/coder/dotfiles-v2")
            .with_symlink("/etc/docker", "/home/coder/dotfiles/docker")
            .with_dir_owned("/home/coder", 0o755, 1000, 1000);
        let err = apply(&pl, &sys).unwrap_err().to_string();
        assert!(err.contains("/home/coder/dotfiles is a symlink"), "{err}");

        // Links only root can change are followed: /var/run -> /run above a directory
        // an earlier step creates, and /etc/docker -> a directory of root's.
        let sys = RecordingSyscall::new()
            .with_dir("/run")
            .with_symlink("/var/run", "/run");
        let toml = p("/var/run/docker/containerd/containerd.toml");
        let steps = plan(vec![
            Action::CreateDir {
                path: p("/var/run/docker/containerd"),
                mode: 0o700,
            },
            Action::WriteFile {
                path: toml,
                content: "x".into(),
            },
        ]);
        apply(&steps, &sys).unwrap();
        assert_eq!(
            sys.file("/run/docker/containerd/containerd.toml").unwrap(),
            b"x"
        );
        let sys = RecordingSyscall::new()
            .with_dir("/srv/dotfiles/docker")
            .with_symlink("/etc/docker", "/srv/dotfiles/docker");
        apply(&pl, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            ["write /srv/dotfiles/docker/daemon.json (3 bytes, keep .bak)"]
        );

        // A second hop in the user's own directory: they can repoint it at any file.
        let sys = RecordingSyscall::new()
            .with_dir("/etc/docker")
            .with_file("/home/coder/real.json", "{\"a\":1}")
            .with_symlink("/home/coder/daemon.json", "/home/coder/real.json")
            .with_symlink("/etc/docker/daemon.json", "/home/coder/daemon.json")
            .with_dir_owned("/home/coder", 0o755, 1000, 1000);
        let err = apply(&pl, &sys).unwrap_err().to_string();
        assert!(
            err.contains("/home/coder/daemon.json is a symlink"),
            "{err}"
        );
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
    }

    #[test]
    fn stale_pidfile_removed_live_daemon_refused() {
        let pl = plan(vec![Action::RemoveStalePidfile {
            path: p("/var/run/docker.pid"),
        }]);
        let sys = RecordingSyscall::new()
            .with_file("/var/run/docker.pid", "4242")
            .with_file("/proc/4242/cmdline", "bash\0-c\0x\0");
        apply(&pl, &sys).unwrap();
        assert_eq!(sys.calls(), ["unlink /var/run/docker.pid"]);
        let sys = RecordingSyscall::new()
            .with_file("/var/run/docker.pid", "77\n")
            .with_file("/proc/77/cmdline", "/usr/bin/dockerd\0--debug\0");
        let err = apply(&pl, &sys).unwrap_err().to_string();
        assert!(err.contains("dockerd (pid 77) is still running"), "{err}");
        assert!(sys.calls().is_empty());
        let sys = RecordingSyscall::new().with_dir("/var/run");
        let applied = apply(&pl, &sys).unwrap();
        assert!(!applied.changed() && sys.calls().is_empty());
    }

    #[test]
    fn a_mount_failure_names_the_call_and_the_fix() {
        let sys = seed_fs().fail_on("mount", Errno::EPERM);
        let err = apply(&bind_plan(), &sys).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "mount src=/home/coder/.docker-data dst=/var/lib/docker flags=MS_BIND: EPERM"
            ),
            "{err}"
        );
        assert!(err.contains("DIND_STRATEGY=symlink"), "{err}");
    }

    /// Issue 10 item 7: a data root the user replaced by a symlink is refused
    /// before any change; nothing is created or mounted through the link.
    #[test]
    fn a_symlinked_data_root_is_refused_and_nothing_is_made_in_its_target() {
        for plan in [bind_plan(), symlink_plan()] {
            let sys = seed_fs()
                .with_dir_owned("/home/coder", 0o755, 1000, 1000)
                .with_dir("/etc/ssl")
                .with_dir("/var/lib/docker")
                .with_symlink(DATA, "/etc/ssl");
            let err = apply(&plan, &sys).unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "refusing mkdir /home/coder/.docker-data mode=0710 (nothing was changed): ELOOP"
                ),
                "{err}"
            );
            assert!(
                err.contains("/home/coder/.docker-data is a symlink to /etc/ssl")
                    && err.contains("DIND_DATA_ROOT=/etc/ssl"),
                "{err}"
            );
            assert!(sys.calls().is_empty(), "{:?}", sys.calls());
            assert!(sys.file("/etc/ssl/.dind-init.lock").is_none());
            assert!(sys.mounts().is_empty());
        }
    }

    /// A bind or symlink to a data root that is a link is refused even without a CreateDir step.
    #[test]
    fn bind_and_symlink_need_a_real_data_dir_not_a_link() {
        let sys = seed_fs()
            .with_dir_owned("/home/coder", 0o755, 1000, 1000)
            .with_dir("/etc/ssl")
            .with_dir("/var/lib/docker")
            .with_symlink(DATA, "/etc/ssl");
        for action in [
            Action::BindMount {
                src: p(DATA),
                dst: p("/var/lib/docker"),
            },
            Action::Symlink {
                target: p(DATA),
                link: p("/var/lib/docker"),
            },
        ] {
            let err = apply(&plan(vec![action]), &sys).unwrap_err().to_string();
            assert!(err.contains("is a symlink to /etc/ssl"), "{err}");
            assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        }
    }

    /// A link only root can replace (the image's `/var/lib/docker -> /mnt/docker`,
    /// a root-owned `/data -> /mnt/pvc`) is followed as before: the lock, owner and
    /// mode and the bind go to its real directory. In a world-writable or a user's
    /// directory the same link is refused.
    #[test]
    fn a_link_only_root_can_replace_is_followed_to_its_real_dir() {
        let leave = plan(vec![
            Action::CreateDir {
                path: p("/var/lib/docker"),
                mode: 0o710,
            },
            Action::Lock {
                path: p("/var/lib/docker/.dind-init.lock"),
            },
        ]);
        let sys = seed_fs()
            .with_dir("/mnt/docker")
            .with_symlink("/var/lib/docker", "/mnt/docker");
        apply(&leave, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            [
                "flock LOCK_EX|LOCK_NB /mnt/docker/.dind-init.lock",
                "fchown+fchmod /mnt/docker 0:0 mode=0710 (O_NOFOLLOW)"
            ]
        );
        let bind = plan(vec![Action::BindMount {
            src: p("/data"),
            dst: p("/var/lib/docker"),
        }]);
        let sys = seed_fs()
            .with_dir("/var/lib/docker")
            .with_dir("/mnt/pvc")
            .with_symlink("/data", "../mnt/pvc");
        apply(&bind, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            ["mount src=/mnt/pvc dst=/var/lib/docker flags=MS_BIND"]
        );
        let sys = seed_fs()
            .with_dir_owned("/tmp", 0o1777, 0, 0)
            .with_dir("/var/lib/docker")
            .with_dir("/mnt/pvc")
            .with_symlink("/tmp/data", "/mnt/pvc");
        let bind = plan(vec![Action::BindMount {
            src: p("/tmp/data"),
            dst: p("/var/lib/docker"),
        }]);
        let err = apply(&bind, &sys).unwrap_err().to_string();
        assert!(
            err.contains("ELOOP") && err.contains("/tmp/data is a symlink to /mnt/pvc"),
            "{err}"
        );
        let sys = seed_fs()
            .with_dir_owned("/home/coder", 0o755, 1000, 1000)
            .with_dir("/etc")
            .with_symlink("/home/coder/x", "/etc");
        let deep = plan(vec![Action::CreateDir {
            path: p("/home/coder/x/data"),
            mode: 0o710,
        }]);
        let err = apply(&deep, &sys).unwrap_err().to_string();
        assert!(err.contains("/home/coder/x is a symlink to /etc"), "{err}");
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
    }

    /// A pre-existing user-owned 0755 data root ends root:root 0710, through an fd.
    #[test]
    fn an_existing_data_root_gets_root_owner_and_mode_0710() {
        let sys = seed_fs().with_dir_owned(DATA, 0o755, 1000, 1000);
        let applied = apply(&bind_plan(), &sys).unwrap();
        assert_eq!(
            sys.calls()[..2],
            [
                "flock LOCK_EX|LOCK_NB /home/coder/.docker-data/.dind-init.lock",
                "fchown+fchmod /home/coder/.docker-data 0:0 mode=0710 (O_NOFOLLOW)"
            ]
        );
        assert_eq!(sys.dir_meta(DATA), Some((0o710, 0, 0)));
        assert!(
            applied.log[0].changed && applied.log[0].text.contains("owner 1000:1000 mode 0755"),
            "{:?}",
            applied.log
        );
        drop(applied);
        sys.clear_calls();
        apply(&bind_plan(), &sys).unwrap();
        assert_eq!(sys.calls().len(), 1, "only the lock: {:?}", sys.calls());
    }

    /// Issue 10 item 10: lost+found (a fresh volume) and dind-init's own scratch
    /// leftovers are "empty" to apply as they are to the plan: the bind goes on.
    #[test]
    fn bind_over_lost_found_or_our_leftovers_is_not_refused() {
        for leftover in [
            "/var/lib/docker/lost+found",
            "/var/lib/docker/.dind-init-trial-16-3487-3/merged",
        ] {
            let sys = seed_fs().with_dir(leftover);
            apply(&bind_plan(), &sys).unwrap();
            assert!(
                sys.calls().ends_with(&[call::mount_bind(
                    Path::new(DATA),
                    Path::new("/var/lib/docker")
                )]),
                "{:?}",
                sys.calls()
            );
            assert!(sys.calls().iter().all(|c| !c.starts_with("rmdir")));
        }
    }

    /// The symlink strategy over a dir the plan calls empty: an empty lost+found
    /// and empty scratch dirs go with rmdir (as the plan said), anything more is
    /// refused with its name and nothing is deleted.
    #[test]
    fn symlink_over_lost_found_removes_only_empty_dirs() {
        let sys = seed_fs()
            .with_dir("/var/lib/docker/lost+found")
            .with_dir("/var/lib/docker/.dind-init-trial-1-2-3/merged");
        apply(&symlink_plan(), &sys).unwrap();
        assert_eq!(
            sys.calls()[3..],
            [
                "rmdir /var/lib/docker/.dind-init-trial-1-2-3/merged",
                "rmdir /var/lib/docker/.dind-init-trial-1-2-3",
                "rmdir /var/lib/docker/lost+found",
                "rmdir /var/lib/docker",
                "symlink /var/lib/docker -> /home/coder/.docker-data",
            ]
        );
        for (file, named) in [
            (
                "/var/lib/docker/.dind-init-trial-1-2-3/lower/base",
                "/var/lib/docker/.dind-init-trial-1-2-3/lower/base is not an empty directory",
            ),
            ("/var/lib/docker/lost+found/#12", "mv /var/lib/docker/*"),
        ] {
            let sys = seed_fs()
                .with_dir("/var/lib/docker/lost+found")
                .with_file(file, "x");
            let err = apply(&symlink_plan(), &sys).unwrap_err().to_string();
            assert!(err.contains("ENOTEMPTY") && err.contains(named), "{err}");
            assert!(sys.calls().is_empty(), "{:?}", sys.calls());
            assert!(sys.file(file).is_some());
        }
    }

    /// dind-init's reserve is taken and released through the seam, in the data
    /// root only, never through a link; anything else with its name is left alone.
    #[test]
    fn the_reserve_is_taken_and_released_never_through_a_link() {
        let reserve = "/home/coder/.docker-data/.dind-init-reserve";
        let take = plan(vec![Action::TakeReserve {
            path: p(reserve),
            bytes: 8 << 20,
        }]);
        let release = plan(vec![Action::ReleaseReserve { path: p(reserve) }]);
        let sys = seed_fs().with_dir(DATA);
        let applied = apply(&take, &sys).unwrap();
        assert_eq!(
            sys.calls(),
            [format!("fallocate {reserve} len=8388608 (O_NOFOLLOW)")]
        );
        assert!(applied.log[0].changed);
        assert_eq!(sys.file(reserve).map(|f| f.len()), Some(8 << 20));
        sys.clear_calls();
        apply(&release, &sys).unwrap();
        assert_eq!(sys.calls(), [format!("unlinkat {reserve} (O_NOFOLLOW)")]);
        assert!(sys.file(reserve).is_none());
        // Already gone: nothing to do.
        sys.clear_calls();
        apply(&release, &sys).unwrap();
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        // A link planted under the name: neither taken through nor removed.
        for pl in [&take, &release] {
            let sys = seed_fs()
                .with_dir(DATA)
                .with_file("/etc/shadow", "root:x")
                .with_symlink(reserve, "/etc/shadow");
            apply(pl, &sys).unwrap();
            assert!(sys.calls().is_empty(), "{:?}", sys.calls());
            assert_eq!(sys.file("/etc/shadow"), Some(b"root:x".to_vec()));
        }
        // A full volume: the reserve cannot be taken, and Docker still starts.
        let sys = seed_fs().with_dir(DATA).fail_on("fallocate", Errno::ENOSPC);
        apply(&take, &sys).unwrap();
    }

    /// The fake refuses what the kernel refuses: a link as the file or its directory.
    #[test]
    fn the_fake_reserve_never_follows_a_link() {
        let sys = RecordingSyscall::new()
            .with_dir("/data")
            .with_dir("/etc")
            .with_symlink("/home/x", "/etc")
            .with_symlink("/data/.dind-init-reserve", "/etc/passwd");
        let err = sys
            .reserve_space(Path::new("/home/x/.dind-init-reserve"), 4096)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ELOOP"), "{err}");
        let err = sys
            .reserve_space(Path::new("/data/.dind-init-reserve"), 4096)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ELOOP"), "{err}");
        let err = sys
            .release_space(Path::new("/data/.dind-init-reserve"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("EISDIR"), "{err}");
        assert!(sys.file("/etc/.dind-init-reserve").is_none());
        sys.release_space(Path::new("/data/absent")).unwrap();
    }

    /// A reserve left in /var/lib/docker (an earlier start kept Docker's data
    /// there) is dind-init's: it never blocks the bind or the symlink.
    #[test]
    fn the_reserve_never_blocks_a_bind_or_a_symlink() {
        let left = "/var/lib/docker/.dind-init-reserve";
        let sys = seed_fs().with_file(left, vec![0u8; 4096]);
        apply(&bind_plan(), &sys).unwrap();
        assert!(sys.calls().last().unwrap().starts_with("mount src="));
        let sys = seed_fs().with_file(left, vec![0u8; 4096]);
        apply(&symlink_plan(), &sys).unwrap();
        assert_eq!(
            sys.calls()[3..],
            [
                format!("unlinkat {left} (O_NOFOLLOW)"),
                "rmdir /var/lib/docker".to_string(),
                "symlink /var/lib/docker -> /home/coder/.docker-data".to_string(),
            ]
        );
    }

    /// What fsck put in lost+found is the user's: a bind would hide it, so refused.
    #[test]
    fn bind_over_a_lost_found_holding_files_is_refused() {
        let sys = seed_fs().with_file("/var/lib/docker/lost+found/#12", "recovered");
        let err = apply(&bind_plan(), &sys).unwrap_err().to_string();
        assert!(err.contains("ENOTEMPTY"), "{err}");
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
    }

    /// Issue 10 item 11: a file named as the pidfile that is not provably a
    /// pidfile (a thesis) is refused, never removed; only one PID is stale.
    #[test]
    fn only_a_provable_pidfile_is_removed() {
        let pl = plan(vec![Action::RemoveStalePidfile {
            path: p("/home/coder/thesis.tex"),
        }]);
        for text in [
            "\\documentclass{article}\n",
            "4242\n4243\n",
            "",
            " 4242",
            "4242 # dockerd",
            "000000000000000000000000000000004242",
        ] {
            let sys = RecordingSyscall::new().with_file("/home/coder/thesis.tex", text);
            let err = apply(&pl, &sys).unwrap_err().to_string();
            assert!(
                err.contains("/home/coder/thesis.tex is not a pidfile"),
                "{text:?}: {err}"
            );
            assert!(sys.calls().is_empty(), "{text:?}: {:?}", sys.calls());
            assert!(sys.file("/home/coder/thesis.tex").is_some());
        }
        let sys = RecordingSyscall::new().with_file("/home/coder/thesis.tex", "4242\n");
        apply(&pl, &sys).unwrap();
        assert_eq!(sys.calls(), ["unlink /home/coder/thesis.tex"]);
    }

    #[test]
    fn create_dir_refuses_a_file_in_the_way_and_relative_paths() {
        let sys = RecordingSyscall::new().with_file("/home/coder", "not a dir");
        let err = apply(&bind_plan(), &sys).unwrap_err().to_string();
        assert!(
            err.contains("/home/coder is a file where a directory is needed"),
            "{err}"
        );
        assert!(sys.calls().is_empty());
        let rel = plan(vec![Action::CreateDir {
            path: p("rel/dir"),
            mode: 0o700,
        }]);
        assert!(apply(&rel, &RecordingSyscall::new()).is_err());
    }

    /// The group step rewrites /etc/group with every other line byte for byte
    /// (a Latin-1 line survives), and changes nothing once the user is a member.
    #[test]
    fn join_group_adds_the_user_and_keeps_every_other_line() {
        let before: &[u8] = b"root:x:0:\nj\xfcrgen:x:1001:\ndocker:x:998:\n";
        let sys = RecordingSyscall::new()
            .with_dir("/etc")
            .with_file("/etc/group", before);
        let join = plan(vec![Action::JoinGroup {
            user: "coder".into(),
            group: "docker".into(),
        }]);
        let applied = apply(&join, &sys).unwrap();
        assert!(applied.changed());
        assert_eq!(
            sys.file("/etc/group").unwrap(),
            b"root:x:0:\nj\xfcrgen:x:1001:\ndocker:x:998:coder\n"
        );
        sys.clear_calls();
        let again = apply(&join, &sys).unwrap();
        assert!(!again.changed(), "{:?}", again.log);
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
    }

    /// Nesting goes through the seam; the state file is the session's to write.
    #[test]
    fn nesting_goes_through_the_seam_and_the_state_is_left_to_the_session() {
        let sys = RecordingSyscall::new();
        let steps = plan(vec![
            Action::NestCgroup {
                root: p("/sys/fs/cgroup"),
            },
            Action::RecordState {
                path: p("/run/dind-init/state.json"),
            },
        ]);
        let applied = apply(&steps, &sys).unwrap();
        assert_eq!(sys.calls(), ["nest-cgroup /sys/fs/cgroup"]);
        assert_eq!(applied.log.len(), 1, "{:?}", applied.log);
    }

    /// The version caches wait for Docker to answer ([`after_ready`]), and never
    /// go through a data root swapped for a link since the start.
    #[test]
    fn caches_and_proof_come_after_ready_and_only_into_a_real_directory() {
        let cache = |dir: &str| Action::CacheVersion {
            path: p(dir).join(crate::probe::VERSION_CACHE),
            program: "/bin/sh".into(),
            version: "Docker version 28.5.2".into(),
        };
        // The data dir is not made here: after_ready runs the caches only.
        let whole = |dir: &str| {
            plan(vec![
                Action::CreateDir {
                    path: p(dir),
                    mode: 0o710,
                },
                cache(dir),
            ])
        };
        let sys = RecordingSyscall::new()
            .with_dir("/etc")
            .with_symlink("/home/coder/.docker-data", "/etc");
        let skipped = after_ready(&whole(DATA), &sys).unwrap();
        assert!(!skipped.changed(), "{:?}", skipped.log);
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());

        let sys = RecordingSyscall::new().with_dir(DATA);
        after_ready(&whole(DATA), &sys).unwrap();
        let key = crate::probe::version_cache_key("/bin/sh").unwrap();
        let file = p(DATA).join(crate::probe::VERSION_CACHE);
        assert_eq!(
            sys.file(&file).unwrap(),
            format!("{key}\nDocker version 28.5.2\n").into_bytes()
        );
        sys.clear_calls();
        assert!(!after_ready(&whole(DATA), &sys).unwrap().changed());
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());

        let proof = plan(vec![Action::RecordProof {
            path: p(DATA).join(".dind-init-storage-proof"),
            content: "dind-init storage proof v1\n".into(),
        }]);
        let linked = RecordingSyscall::new()
            .with_dir("/etc")
            .with_symlink(DATA, "/etc");
        assert!(!after_ready(&proof, &linked).unwrap().changed());
        assert!(linked.calls().is_empty(), "{:?}", linked.calls());
        assert!(after_ready(&proof, &sys).unwrap().changed());
        assert_eq!(
            sys.file(p(DATA).join(".dind-init-storage-proof")).unwrap(),
            b"dind-init storage proof v1\n"
        );
    }
}
