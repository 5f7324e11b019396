//! cgroup v2 nesting, as moby's `hack/dind` does it: on a unified hierarchy a
//! cgroup may have controllers enabled for its children only when it holds no
//! process itself, so PID 1 moves every process of its cgroup into a leaf
//! (`init`) and then enables all available controllers for the subtree.
//! Without it, dockerd's containers get no cpu/memory/pids limits and some
//! runtimes refuse to start them.
//!
//! The cgroupfs root and our `/proc/self/cgroup` text are arguments, so the
//! logic is tested on a fake tree of plain files.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// How many times moving processes and enabling controllers is tried: a
/// process forked meanwhile makes the kernel answer EBUSY.
pub const ATTEMPTS: u32 = 20;

/// What [`nest_cgroup_v2`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "cgroup", rename_all = "kebab-case")]
pub enum Outcome {
    /// Nothing to do here (cgroup v1 or hybrid, or our cgroup is not visible).
    NotApplicable {
        /// Why, for the log.
        reason: String,
    },
    /// Processes moved to `leaf` and controllers enabled for the subtree.
    Nested {
        /// The leaf cgroup now holding our processes.
        leaf: PathBuf,
        /// PIDs moved (a PID that exited meanwhile is left out).
        moved: Vec<u32>,
        /// Controllers enabled in `cgroup.subtree_control`.
        enabled: Vec<String>,
        /// Controllers the kernel refused to enable, with the errno.
        refused: Vec<String>,
        /// Tries it took (1 when nothing raced).
        attempts: u32,
    },
}

/// The file operations nesting needs, so races (EBUSY, processes appearing)
/// can be simulated in tests.
trait CgroupFs {
    fn exists(&self, path: &Path) -> bool;
    fn read(&self, path: &Path) -> io::Result<String>;
    fn mkdir(&mut self, path: &Path) -> io::Result<()>;
    /// Append a write of `data` (cgroupfs takes one value per write).
    fn write(&mut self, path: &Path, data: &str) -> io::Result<()>;
    fn pause(&mut self, attempt: u32);
}

struct RealFs;

impl CgroupFs for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        match std::fs::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    }
    fn write(&mut self, path: &Path, data: &str) -> io::Result<()> {
        // Append: cgroupfs ignores the offset, and a plain-file test tree keeps every write.
        let mut f = OpenOptions::new().append(true).create(true).open(path)?;
        f.write_all(data.as_bytes())
    }
    fn pause(&mut self, attempt: u32) {
        std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
    }
}

/// On cgroup v2, move every process of our cgroup into `<our cgroup>/init`
/// and enable all its controllers for the subtree (moby's dind recipe).
/// Call it only as PID 1 (the caller checks), before starting any child.
/// On cgroup v1 or hybrid it changes nothing and returns `NotApplicable`.
pub fn nest_cgroup_v2(cgroup_root: &Path, proc_self_cgroup_text: &str) -> Result<Outcome> {
    nest(&mut RealFs, cgroup_root, proc_self_cgroup_text)
}

fn not_applicable(reason: impl Into<String>) -> Result<Outcome> {
    Ok(Outcome::NotApplicable {
        reason: reason.into(),
    })
}

fn sys_err(call: String, e: &io::Error, hint: &str) -> Error {
    Error::sys(
        call,
        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        hint,
    )
}

/// Our cgroup path on the unified hierarchy from /proc/self/cgroup: Err(reason) when not pure v2.
fn own_cgroup(text: &str) -> std::result::Result<PathBuf, String> {
    let mut unified = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ':');
        let (id, ctrls, path) = (parts.next(), parts.next(), parts.next());
        match (id, ctrls, path) {
            (Some("0"), Some(""), Some(p)) => unified = Some(p.to_string()),
            (Some(_), Some(_), Some(_)) => {
                return Err(
                    "cgroup v1 or hybrid hierarchy (controllers are on v1); nothing to nest".into(),
                )
            }
            _ => return Err(format!("unexpected /proc/self/cgroup line {line:?}")),
        }
    }
    let p = unified.ok_or("no cgroup v2 entry (0::) in /proc/self/cgroup")?;
    let path = PathBuf::from(&p);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(format!(
            "our cgroup {p:?} is outside this cgroup namespace; run the pod with its own cgroup namespace"
        ));
    }
    Ok(path)
}

/// Why nesting needs a writable cgroupfs, for every refusal on the way.
const HINT: &str =
    "run the pod privileged (cgroupfs must be writable) or with its own cgroup namespace";

/// moby's dind recipe on a fake or real cgroupfs: find our cgroup, make the
/// leaf, then (until no process races us) move every process into it and
/// enable the controllers for the subtree.
fn nest(fs: &mut dyn CgroupFs, root: &Path, text: &str) -> Result<Outcome> {
    if !fs.exists(&root.join("cgroup.controllers")) {
        return not_applicable(format!(
            "{} is not a cgroup v2 (unified) hierarchy: no cgroup.controllers",
            root.display()
        ));
    }
    let rel = match own_cgroup(text) {
        Ok(p) => p,
        Err(reason) => return not_applicable(reason),
    };
    let ours = root.join(rel.strip_prefix("/").unwrap_or(&rel));
    let controllers = read_controllers(fs, &ours)?;
    let leaf = ours.join("init");
    fs.mkdir(&leaf)
        .map_err(|e| sys_err(format!("mkdir {}", leaf.display()), &e, HINT))?;
    let mut moved = Vec::new();
    let mut last_busy = None;
    for attempt in 1..=ATTEMPTS {
        move_procs(fs, &ours, &leaf, &mut moved)?;
        match enable(fs, &ours, &controllers) {
            Enable::Done { enabled, refused } => {
                return Ok(Outcome::Nested {
                    leaf,
                    moved,
                    enabled,
                    refused,
                    attempts: attempt,
                })
            }
            Enable::Busy(e) => {
                last_busy = Some(e);
                fs.pause(attempt);
            }
        }
    }
    Err(kept_busy(&ours, &controllers, last_busy))
}

/// The controllers available in our cgroup.
fn read_controllers(fs: &dyn CgroupFs, ours: &Path) -> Result<Vec<String>> {
    let file = ours.join("cgroup.controllers");
    Ok(fs
        .read(&file)
        .map_err(|e| Error::io("read", &file, e))?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Move every process listed in our cgroup into the leaf, adding each to
/// `moved` once. A process that exited meanwhile, or a kernel thread that
/// cannot move, is skipped.
fn move_procs(fs: &mut dyn CgroupFs, ours: &Path, leaf: &Path, moved: &mut Vec<u32>) -> Result<()> {
    let procs = ours.join("cgroup.procs");
    let leaf_procs = leaf.join("cgroup.procs");
    let listed = fs.read(&procs).map_err(|e| Error::io("read", &procs, e))?;
    for pid in listed
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        match fs.write(&leaf_procs, &format!("{pid}\n")) {
            Ok(()) => {
                if !moved.contains(&pid) {
                    moved.push(pid);
                }
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::EINVAL)) => {}
            Err(e) => {
                return Err(sys_err(
                    format!("write {} {pid}", leaf_procs.display()),
                    &e,
                    HINT,
                ))
            }
        }
    }
    Ok(())
}

/// How one try at enabling the controllers came out.
enum Enable {
    /// Done: these were enabled, these refused (with the errno).
    Done {
        enabled: Vec<String>,
        refused: Vec<String>,
    },
    /// A process is in our cgroup again (EBUSY): move it and try again.
    Busy(io::Error),
}

/// Enable every controller for the subtree in one write; when the kernel
/// refuses that for another reason than EBUSY, one by one.
fn enable(fs: &mut dyn CgroupFs, ours: &Path, controllers: &[String]) -> Enable {
    if controllers.is_empty() {
        return Enable::Done {
            enabled: Vec::new(),
            refused: Vec::new(),
        };
    }
    match fs.write(&ours.join("cgroup.subtree_control"), &plus_all(controllers)) {
        Ok(()) => Enable::Done {
            enabled: controllers.to_vec(),
            refused: Vec::new(),
        },
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Enable::Busy(e),
        Err(_) => enable_each(fs, ours, controllers),
    }
}

/// One controller the kernel will not enable here (e.g. a threaded one) must
/// not cost the others: enable them one by one.
fn enable_each(fs: &mut dyn CgroupFs, ours: &Path, controllers: &[String]) -> Enable {
    let subtree = ours.join("cgroup.subtree_control");
    let mut enabled = Vec::new();
    let mut refused = Vec::new();
    let mut busy = None;
    for c in controllers {
        match fs.write(&subtree, &format!("+{c}")) {
            Ok(()) => enabled.push(c.clone()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => busy = Some(e),
            Err(e) => refused.push(format!(
                "{c}: {}",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
            )),
        }
    }
    match busy {
        Some(e) => Enable::Busy(e),
        None => Enable::Done { enabled, refused },
    }
}

/// `+cpu +memory ...`: the one write that enables them all.
fn plus_all(controllers: &[String]) -> String {
    controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error after [`ATTEMPTS`] tries that processes kept racing.
fn kept_busy(ours: &Path, controllers: &[String], last_busy: Option<io::Error>) -> Error {
    let e = last_busy.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EBUSY));
    sys_err(
        format!(
            "write {} {}",
            ours.join("cgroup.subtree_control").display(),
            plus_all(controllers)
        ),
        &e,
        &format!(
            "processes kept appearing in {} for {ATTEMPTS} tries; start dind-init as the pod's first process",
            ours.display()
        ),
    )
}

impl Outcome {
    /// One line for PID 1's log: what nesting did, so a pod's log says it.
    pub fn summary(&self) -> String {
        match self {
            Outcome::NotApplicable { reason } => format!("cgroup v2 nesting not needed: {reason}"),
            Outcome::Nested {
                leaf,
                moved,
                enabled,
                refused,
                ..
            } => {
                let mut line =
                    format!(
                    "cgroup v2 nested: moved {} process(es) into {}; enabled for containers: {}",
                    moved.len(),
                    leaf.display(),
                    if enabled.is_empty() { "none".to_string() } else { enabled.join(" ") }
                );
                if !refused.is_empty() {
                    line.push_str(&format!("; refused: {}", refused.join(", ")));
                }
                line
            }
        }
    }
}

/// How nesting looks from inside a running pod, for `doctor` and `plan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nesting {
    /// Not a pure cgroup v2 view (or PID 1's cgroup is not visible): nothing to nest.
    NotApplicable(String),
    /// PID 1 is in the leaf dind-init makes, with these controllers enabled above it.
    Nested { enabled: Vec<String> },
    /// PID 1 is in the leaf but no controller is enabled: containers get no limits.
    NoControllers,
    /// PID 1 is still where the pod started it (dind-init is not PID 1 yet).
    NotYet { pid1: PathBuf },
}

/// Judge nesting from PID 1's `/proc/1/cgroup` text and the pod root's
/// `cgroup.subtree_control`.
pub fn nesting(pid1_cgroup_text: &str, root_subtree_control: &str) -> Nesting {
    let pid1 = match own_cgroup(pid1_cgroup_text) {
        Ok(p) => p,
        Err(reason) => return Nesting::NotApplicable(reason),
    };
    if pid1 != Path::new("/init") {
        return Nesting::NotYet { pid1 };
    }
    let enabled: Vec<String> = root_subtree_control
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if enabled.is_empty() {
        Nesting::NoControllers
    } else {
        Nesting::Nested { enabled }
    }
}

impl Nesting {
    /// One line saying what was nested (or will be), for people.
    pub fn text(&self) -> String {
        match self {
            Nesting::NotApplicable(reason) => reason.clone(),
            Nesting::Nested { enabled } => format!(
                "nested: PID 1 in /init, the pod's root cgroup holds no process; enabled for containers: {}",
                enabled.join(" ")
            ),
            Nesting::NoControllers => "PID 1 in /init but no controller enabled in /sys/fs/cgroup/cgroup.subtree_control: containers get no cpu/memory/pids limits".into(),
            Nesting::NotYet { pid1 } => format!(
                "not nested yet: PID 1 in {}; as PID 1, dind-init moves the pod's processes into /init and enables every controller for containers",
                pid1.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_judged_from_pid1_and_subtree_control() {
        let all = "cpuset cpu io memory hugetlb pids rdma misc\n";
        let rows: &[(&str, &str, Nesting)] = &[
            (
                "0::/init\n",
                all,
                Nesting::Nested {
                    enabled: [
                        "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
                    ]
                    .map(String::from)
                    .to_vec(),
                },
            ),
            ("0::/init\n", "\n", Nesting::NoControllers),
            (
                "0::/\n",
                all,
                Nesting::NotYet {
                    pid1: PathBuf::from("/"),
                },
            ),
        ];
        for (pid1, subtree, want) in rows {
            assert_eq!(&nesting(pid1, subtree), want, "{pid1:?} {subtree:?}");
        }
        let hybrid = "12:memory:/kubepods/pod1\n0::/kubepods/pod1\n";
        assert!(matches!(nesting(hybrid, ""), Nesting::NotApplicable(r) if r.contains("v1")));
        assert!(nesting("0::/init\n", all)
            .text()
            .contains("enabled for containers: cpuset cpu io memory"));
    }

    #[test]
    fn summary_names_the_leaf_the_moves_and_the_controllers() {
        let out = Outcome::Nested {
            leaf: PathBuf::from("/sys/fs/cgroup/init"),
            moved: vec![1],
            enabled: vec!["memory".into(), "pids".into()],
            refused: vec!["cpuset: EINVAL".into()],
            attempts: 1,
        };
        assert_eq!(
            out.summary(),
            "cgroup v2 nested: moved 1 process(es) into /sys/fs/cgroup/init; enabled for containers: memory pids; refused: cpuset: EINVAL"
        );
    }
    use std::collections::BTreeMap;

    #[test]
    fn fake_cgroupfs_tree_moves_pids_and_enables_controllers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )
        .unwrap();
        std::fs::write(root.join("cgroup.procs"), "1\n23\n45\n").unwrap();
        std::fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        let out = nest_cgroup_v2(root, "0::/\n").unwrap();
        assert_eq!(
            out,
            Outcome::Nested {
                leaf: root.join("init"),
                moved: vec![1, 23, 45],
                enabled: ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]
                    .map(String::from)
                    .to_vec(),
                refused: vec![],
                attempts: 1,
            }
        );
        assert_eq!(
            std::fs::read_to_string(root.join("init/cgroup.procs")).unwrap(),
            "1\n23\n45\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"
        );
    }

    #[test]
    fn nested_path_without_cgroupns_uses_our_own_cgroup() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let ours = root.join("kubepods/pod1/c1");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(ours.join("cgroup.controllers"), "memory pids\n").unwrap();
        std::fs::write(ours.join("cgroup.procs"), "1\n").unwrap();
        let out = nest_cgroup_v2(root, "0::/kubepods/pod1/c1\n").unwrap();
        assert!(
            matches!(&out, Outcome::Nested { leaf, enabled, .. } if *leaf == ours.join("init") && enabled == &["memory", "pids"]),
            "{out:?}"
        );
        assert_eq!(
            std::fs::read_to_string(ours.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
    }

    #[test]
    fn v1_and_hybrid_are_not_applicable_and_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let hybrid = "12:pids:/\n11:memory:/\n0::/\n";
        assert!(matches!(
            nest_cgroup_v2(root, hybrid).unwrap(),
            Outcome::NotApplicable { .. }
        ));
        std::fs::write(root.join("cgroup.controllers"), "").unwrap();
        let out = nest_cgroup_v2(root, hybrid).unwrap();
        assert!(
            matches!(&out, Outcome::NotApplicable { reason } if reason.contains("hybrid")),
            "{out:?}"
        );
        let out = nest_cgroup_v2(root, "0::/../../x\n").unwrap();
        assert!(
            matches!(&out, Outcome::NotApplicable { reason } if reason.contains("namespace")),
            "{out:?}"
        );
        assert!(!root.join("init").exists(), "nothing created");
    }

    /// A cgroupfs in memory that behaves like the kernel: subtree_control is
    /// EBUSY while the parent holds processes, and a process forks into the
    /// parent right after the first move.
    #[derive(Default)]
    struct Sim {
        files: BTreeMap<PathBuf, String>,
        parent_procs: Vec<u32>,
        leaf_procs: Vec<u32>,
        late_pid: Option<u32>,
        refuse: Option<&'static str>,
        pauses: u32,
        always_busy: bool,
    }

    impl CgroupFs for Sim {
        fn exists(&self, path: &Path) -> bool {
            self.files.contains_key(path)
        }
        fn read(&self, path: &Path) -> io::Result<String> {
            if path.ends_with("cgroup.procs") {
                return Ok(self.parent_procs.iter().map(|p| format!("{p}\n")).collect());
            }
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
        }
        fn mkdir(&mut self, _: &Path) -> io::Result<()> {
            Ok(())
        }
        fn write(&mut self, path: &Path, data: &str) -> io::Result<()> {
            if path.ends_with("init/cgroup.procs") {
                let pid: u32 = data.trim().parse().unwrap();
                if pid == 99 {
                    // It exited: the kernel no longer lists it either.
                    self.parent_procs.retain(|p| *p != 99);
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                self.parent_procs.retain(|p| *p != pid);
                self.leaf_procs.push(pid);
                if let Some(late) = self.late_pid.take() {
                    self.parent_procs.push(late);
                }
                return Ok(());
            }
            if !self.parent_procs.is_empty() || self.always_busy {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
            if let Some(bad) = self.refuse {
                if data.contains(bad) {
                    return Err(io::Error::from_raw_os_error(libc::EINVAL));
                }
            }
            self.files
                .entry(path.to_path_buf())
                .or_default()
                .push_str(data);
            Ok(())
        }
        fn pause(&mut self, _: u32) {
            self.pauses += 1;
        }
    }

    fn sim() -> Sim {
        let mut s = Sim::default();
        s.files.insert(
            PathBuf::from("/cg/cgroup.controllers"),
            "cpu memory pids\n".into(),
        );
        s.parent_procs = vec![1, 7, 99];
        s
    }

    #[test]
    fn retries_when_a_process_appears_and_skips_exited_ones() {
        let mut s = sim();
        s.late_pid = Some(8);
        let out = nest(&mut s, Path::new("/cg"), "0::/\n").unwrap();
        match out {
            Outcome::Nested {
                moved,
                attempts,
                enabled,
                ..
            } => {
                assert_eq!(moved, [1, 7, 8]);
                assert_eq!(attempts, 2);
                assert_eq!(enabled, ["cpu", "memory", "pids"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.leaf_procs, [1, 7, 8]);
        assert_eq!(s.pauses, 1);
    }

    #[test]
    fn one_refused_controller_does_not_cost_the_others() {
        let mut s = sim();
        s.refuse = Some("+memory");
        let out = nest(&mut s, Path::new("/cg"), "0::/\n").unwrap();
        match out {
            Outcome::Nested {
                enabled, refused, ..
            } => {
                assert_eq!(enabled, ["cpu", "pids"]);
                assert_eq!(refused.len(), 1);
                assert!(refused[0].starts_with("memory: EINVAL"), "{refused:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.files[Path::new("/cg/cgroup.subtree_control")],
            "+cpu+pids"
        );
    }

    #[test]
    fn bounded_retries_end_in_a_clear_error() {
        let mut s = sim();
        s.always_busy = true;
        let err = nest(&mut s, Path::new("/cg"), "0::/\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("write /cg/cgroup.subtree_control +cpu +memory +pids: EBUSY"),
            "{err}"
        );
        assert!(err.contains(&format!("for {ATTEMPTS} tries")), "{err}");
        assert_eq!(s.pauses, ATTEMPTS);
    }
}
