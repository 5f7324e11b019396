//! The doctor's checks: each a pure function of the facts, the plan or
//! PID 1's state, one line with a verdict and (when not ok) the remedy.

use super::phase_words;
use crate::config::Config;
use crate::plan::{self, Driver, Plan};
use crate::probe::{self, Facts, Trial};
use crate::state::{Phase, State};
use serde::Serialize;
use std::path::Path;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, at a cost, or needs attention.
    Warn,
    /// Docker will not work well (or at all) until fixed.
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The verdict.
    pub verdict: Verdict,
    /// What was checked.
    pub what: String,
    /// What was found.
    pub found: String,
    /// What to do (empty when ok).
    pub remedy: String,
}

pub(super) fn check(verdict: Verdict, what: &str, found: String, remedy: &str) -> Check {
    Check {
        verdict,
        what: what.into(),
        found,
        remedy: if verdict == Verdict::Ok {
            String::new()
        } else {
            remedy.into()
        },
    }
}

fn fs_name(loc: &probe::Location) -> String {
    loc.fs_type()
}

/// The checks, a pure function of the facts, the plan and PID 1's state, in
/// the order the report prints them.
pub fn checks(facts: &Facts, plan: &Result<Plan, String>, state: Option<&State>) -> Vec<Check> {
    let mut out = vec![
        privileges_check(facts),
        data_root_check(facts),
        trial_check(&facts.data_root.location),
    ];
    out.extend(d_type_check(&facts.data_root.location));
    out.extend(free_space_check(&facts.data_root.location));
    out.extend(var_lib_docker_check(facts));
    out.extend(foreign_pidfile_checks(facts));
    out.push(dockerd_check(facts, plan));
    out.push(containerd_check(facts));
    out.push(fuse_check(facts));
    out.push(kernel_check(facts));
    out.push(check(
        Verdict::Ok,
        "cgroups",
        cgroup_words(facts.cgroup).into(),
        "",
    ));
    out.extend(stale_pidfiles_check(facts));
    out.extend(plan_checks(plan));
    out.push(docker_check(state));
    out
}

/// Whether this process can mount at all (dockerd needs CAP_SYS_ADMIN).
fn privileges_check(facts: &Facts) -> Check {
    use Verdict::*;
    if facts.euid != 0 {
        check(
            Warn,
            "privileges",
            format!("doctor runs as uid {}: the trial mount and the lock were not tried", facts.euid),
            "run it as root in the pod (kubectl exec as root) to test mounts; dind-init itself runs as root (PID 1)",
        )
    } else if facts.cap_sys_admin {
        check(
            Ok,
            "privileges",
            "CAP_SYS_ADMIN: mounts are possible".into(),
            "",
        )
    } else {
        check(
            Fail,
            "privileges",
            format!("no CAP_SYS_ADMIN (euid {}): no bind or overlay mounts, no dockerd", facts.euid),
            "run the pod with securityContext.privileged: true (dockerd needs it); `doctor` as a non-root user cannot run the trial mount",
        )
    }
}

/// Docker's data on a volume that outlives the pod, and why that directory.
fn data_root_check(facts: &Facts) -> Check {
    let dr = &facts.data_root;
    let fs = fs_name(&dr.location);
    check(
        if probe::is_volatile_fs(&fs) { Verdict::Fail } else { Verdict::Ok },
        "data root on a persistent volume",
        format!("{} ({}) is on {fs}; {}", dr.path.display(), from_text(dr.from), dr.why),
        "mount the pod's PVC at the user's home (e.g. /home/coder) or set DIND_DATA_ROOT to a directory on it",
    )
}

/// overlay needs d_type; only a filesystem known not to fill it is reported.
fn d_type_check(loc: &probe::Location) -> Option<Check> {
    matches!(loc.d_type, Ok(false)).then(|| {
        check(
            Verdict::Fail,
            "d_type on the data root",
            "the filesystem does not fill d_type".into(),
            "use ext4, or xfs formatted with ftype=1",
        )
    })
}

/// Free space on the data root, when it could be read: below 2 GiB warns.
fn free_space_check(loc: &probe::Location) -> Option<Check> {
    let free = *loc.free_bytes.as_ref().ok()?;
    let gib = free as f64 / (1u64 << 30) as f64;
    Some(check(
        if gib < 2.0 {
            Verdict::Warn
        } else {
            Verdict::Ok
        },
        "free space on the data root",
        format!("{gib:.1} GiB free"),
        "grow the PVC or prune images (`docker system prune`)",
    ))
}

/// Data in /var/lib/docker that the pod's recreation would lose (never moved for the user).
fn var_lib_docker_check(facts: &Facts) -> Option<Check> {
    let vld = &facts.var_lib_docker;
    let lost = vld.has_data
        && !vld.bind_of_data_root
        && vld.symlink.is_none()
        && !plan::outlives_pod(&vld.location);
    lost.then(|| {
        check(
            Verdict::Warn,
            "/var/lib/docker",
            format!("holds data on {} (lost when the pod is recreated)", fs_name(&vld.location)),
            "with dockerd stopped: mv /var/lib/docker/* into DIND_DATA_ROOT; dind-init never hides or deletes it",
        )
    })
}

/// Pidfiles of a daemon that is not ours: dockerd would refuse to start.
fn foreign_pidfile_checks(facts: &Facts) -> Vec<Check> {
    facts
        .daemon
        .foreign_pidfiles
        .iter()
        .map(|f| check(Verdict::Fail, "daemon pidfile", f.words(), &f.fix()))
        .collect()
}

/// The dockerd that would run, its version and the image store the plan decided.
fn dockerd_check(facts: &Facts, plan: &Result<Plan, String>) -> Check {
    match &facts.dockerd.version {
        Ok(v) => check(
            Verdict::Ok,
            "dockerd",
            match plan.as_ref().ok().and_then(|p| p.image_store) {
                Some(store) => format!("{} {v} ({store})", facts.dockerd.program),
                None => format!("{} {v}", facts.dockerd.program),
            },
            "",
        ),
        Err(e) => check(Verdict::Fail, "dockerd", e.clone(), "install Docker in the image (e.g. apt-get install docker.io) or set DIND_DOCKERD to its path"),
    }
}

/// The fallback when no volume can host overlay: /dev/fuse and fuse-overlayfs.
fn fuse_check(facts: &Facts) -> Check {
    use Verdict::*;
    const WHAT: &str = "fuse-overlayfs fallback";
    match (&facts.dev_fuse, &facts.fuse_overlayfs) {
        (std::result::Result::Ok(()), Some(p)) => {
            check(Ok, WHAT, format!("/dev/fuse usable, {}", p.display()), "")
        }
        (Err(e), _) => check(
            Warn,
            WHAT,
            format!("/dev/fuse: {e}"),
            "only needed when no volume can host overlay: give the pod /dev/fuse (privileged does)",
        ),
        (_, None) => check(
            Warn,
            WHAT,
            "fuse-overlayfs is not installed".into(),
            "only needed when no volume can host overlay: apt-get install fuse-overlayfs",
        ),
    }
}

/// The kernel release, read from procfs (which dockerd and runc need too).
fn kernel_check(facts: &Facts) -> Check {
    match &facts.kernel {
        Ok(release) => check(Verdict::Ok, "kernel", format!("Linux {release}"), ""),
        Err(e) => check(
            Verdict::Warn,
            "kernel",
            e.clone(),
            "mount procfs at /proc: dockerd and runc need it too",
        ),
    }
}

/// Pidfiles left by a previous run; dind-init removes them at start.
fn stale_pidfiles_check(facts: &Facts) -> Option<Check> {
    if facts.stale_pidfiles.is_empty() {
        return None;
    }
    let list: Vec<String> = facts
        .stale_pidfiles
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    Some(check(
        Verdict::Warn,
        "stale pidfiles",
        list.join(", "),
        "dind-init removes them at start; nothing to do",
    ))
}

/// What the plan chose (storage driver, address pools), or why there is none.
fn plan_checks(plan: &Result<Plan, String>) -> Vec<Check> {
    match plan {
        Ok(p) => std::iter::once(driver_check(p))
            .chain(p.pools.as_ref().map(pools_check))
            .collect(),
        Err(e) => vec![check(
            Verdict::Fail,
            "daemon configuration",
            e.clone(),
            "fix the file named above; dind-init never rewrites a file it cannot parse",
        )],
    }
}

/// The storage driver the plan picked: a slow fallback warns.
fn driver_check(p: &Plan) -> Check {
    let slow = matches!(
        p.driver,
        Some(Driver::Vfs | Driver::Native | Driver::FuseOverlayfs)
    );
    check(
        if slow { Verdict::Warn } else { Verdict::Ok },
        "storage driver",
        match p.driver {
            Some(d) => format!("{} on {}", d.name(), p.data_root.as_deref().unwrap_or(Path::new("/var/lib/docker")).display()),
            None => "dockerd is not started (DIND_START_DOCKERD=false)".into(),
        },
        "a slow fallback: give DIND_DATA_ROOT a directory on an ext4/xfs PVC so overlay2/overlayfs work",
    )
}

/// What PID 1 recorded about Docker, as a check: only a Docker that could not
/// be started fails; starting and stopping are moments, not faults.
fn docker_check(state: Option<&State>) -> Check {
    use Verdict::*;
    match state {
        None => check(
            Warn,
            "Docker",
            "no dind-init PID 1 state here (not running under dind-init, or not started yet)"
                .into(),
            "make dind-init the container's ENTRYPOINT",
        ),
        Some(s) if matches!(s.phase, Phase::Starting | Phase::Stopping) => check(
            Warn,
            "Docker",
            phase_words(s.phase).into(),
            "wait a moment and run `dind-init doctor` again; the pod log (kubectl logs) shows progress",
        ),
        Some(s) if s.phase == Phase::Disabled => check(
            Ok,
            "Docker",
            "not started (DIND_START_DOCKERD=false)".into(),
            "",
        ),
        Some(s) if s.phase == Phase::Ready && s.smoke_ok => check(
            Ok,
            "Docker",
            format!(
                "ready in {} ms on {}, smoke test passed in {} ms ({} on {})",
                s.ready_ms,
                s.socket.display(),
                s.smoke_ms,
                s.driver,
                s.data_root.display()
            ),
            "",
        ),
        Some(s) => check(
            Fail,
            "Docker",
            format!("{}: {}", s.phase.name(), s.error),
            "read the pod log (kubectl logs) for dockerd's last lines",
        ),
    }
}

/// Whether apply would accept the plan's changes here (checked as root only:
/// a user's view of permissions says nothing about PID 1's).
pub(super) fn apply_check(r: crate::Result<()>) -> Check {
    match r {
        Ok(()) => check(
            Verdict::Ok,
            "storage changes",
            "every step of the plan passes apply's checks".into(),
            "",
        ),
        Err(e) => Check {
            verdict: Verdict::Fail,
            what: "storage changes".into(),
            found: e.to_string(),
            remedy: "dind-init refuses this at start and Docker does not start until it is fixed"
                .into(),
        },
    }
}

/// Docker's address pools: where its networks come from, or which pod route they hide.
fn pools_check(d: &crate::netpool::Decision) -> Check {
    let why = match &d.ipv6 {
        Some(v6) => format!("{}; {v6}", d.why),
        None => d.why.clone(),
    };
    match &d.warning {
        None => check(Verdict::Ok, "address pools", why, ""),
        Some(w) => check(
            Verdict::Warn,
            "address pools",
            w.clone(),
            "remove bip/default-address-pools from the daemon config (dind-init then picks free ranges), or set DIND_ADDRESS_POOLS to ranges the pod does not route, e.g. 10.201.0.0/16/24",
        ),
    }
}

/// The doctor's first lines: misspelt `DIND_*` names and bad input, which
/// PID 1 would stop on (exit 2) before changing anything.
pub(super) fn input_checks(cfg: &Config, valid: crate::Result<()>) -> Vec<Check> {
    let mut out: Vec<Check> = cfg
        .unknown_env
        .iter()
        .map(|w| {
            check(
                Verdict::Warn,
                "settings",
                w.clone(),
                "rename or unset it; `dind-init --help` lists every setting",
            )
        })
        .collect();
    out.push(match valid {
        Ok(()) => check(Verdict::Ok, "settings", "every input is valid".into(), ""),
        Err(e) => Check {
            verdict: Verdict::Fail,
            what: "settings".into(),
            found: format!("{e}"),
            remedy: "dind-init stops at start with exit 2 until this is fixed".into(),
        },
    });
    out
}

/// The trial mount's check. A trial the volume stopped (full, read-only, I/O error)
/// names that trouble and its remedy: it says nothing about overlay or the filesystem.
fn trial_check(loc: &probe::Location) -> Check {
    use Verdict::*;
    const WHAT: &str = "overlay mount on the data root";
    // The trial in the plan's words, then where it ran.
    let found = format!(
        "{}; in {} on {}",
        loc.trial,
        loc.probed.display(),
        loc.fs_type()
    );
    match &loc.trial {
        Trial::Ok => check(Ok, WHAT, found, ""),
        Trial::Failed { .. } => check(
            Fail,
            WHAT,
            found,
            "overlay2/overlayfs cannot work there: put DIND_DATA_ROOT on an ext4/xfs volume (a PVC), or accept the slower fuse-overlayfs/vfs fallback the plan shows",
        ),
        Trial::Blocked { trouble, .. } => check(Fail, WHAT, found, trouble.remedy()),
        Trial::NotTried { .. } => check(Warn, WHAT, found, "run `dind-init doctor` as root in the pod to test it"),
    }
}

/// The containerd on PATH, its version and the config format a separate containerd gets.
fn containerd_check(facts: &Facts) -> Check {
    match (&facts.containerd_bin, &facts.containerd_version) {
        (Some(bin), Ok(v)) => check(
            Verdict::Ok,
            "containerd",
            format!(
                "{} {v} (reads config version {})",
                bin.display(),
                plan::containerd_config_version(Some(*v))
            ),
            "",
        ),
        (Some(bin), Err(e)) => check(
            Verdict::Warn,
            "containerd",
            format!("{}: {e}", bin.display()),
            "run `containerd --version`: with its version unknown a separate containerd gets config version 2, which containerd 2.x migrates at every start",
        ),
        (None, _) => check(
            Verdict::Warn,
            "containerd",
            "not on PATH".into(),
            "install containerd (Debian: containerd; Docker's packages: containerd.io): dockerd needs it unless a containerd already serves",
        ),
    }
}

/// The cgroup mode in words: which hierarchy runc and dockerd's cgroup driver see.
fn cgroup_words(c: probe::CgroupVersion) -> &'static str {
    match c {
        probe::CgroupVersion::V1 => "v1 (one hierarchy per controller)",
        probe::CgroupVersion::Hybrid => "hybrid (v1 controllers, a v2 hierarchy beside them)",
        probe::CgroupVersion::V2 => "v2 (the unified hierarchy)",
        probe::CgroupVersion::Unknown => "unknown (no cgroup filesystem at /sys/fs/cgroup)",
    }
}

fn from_text(f: probe::DataRootFrom) -> &'static str {
    match f {
        probe::DataRootFrom::Setting => "DIND_DATA_ROOT",
        probe::DataRootFrom::DaemonConfig => "data-root in the daemon config",
        probe::DataRootFrom::Home => "the user's home",
        probe::DataRootFrom::Volume => "the pod's only volume",
    }
}

pub(super) fn render_checks(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let mark = match c.verdict {
            Verdict::Ok => "✔",
            Verdict::Warn => "!",
            Verdict::Fail => "✘",
        };
        s.push_str(&format!("{mark} {}: {}\n", c.what, c.found));
        if !c.remedy.is_empty() {
            s.push_str(&format!("    → {}\n", c.remedy));
        }
    }
    s
}

/// On cgroup v2, what nesting did (or will do) seen from PID 1's cgroup and the root's
/// `cgroup.subtree_control`: the pod's limits for containers depend on it.
pub(super) fn cgroup_nesting_check(facts: &Facts) -> Option<Check> {
    if facts.cgroup != probe::CgroupVersion::V2 {
        return None;
    }
    let pid1 = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    let subtree =
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap_or_default();
    let nesting = crate::cgroup::nesting(&pid1, &subtree);
    let (verdict, remedy) = match nesting {
        crate::cgroup::Nesting::NoControllers => (
            Verdict::Warn,
            "give the pod a writable cgroupfs (privileged) so dind-init can enable the controllers",
        ),
        _ => (Verdict::Ok, ""),
    };
    Some(check(verdict, "cgroup v2 nesting", nesting.text(), remedy))
}

/// dind-init as this container's PID 1 but not root: the one ✘ that explains
/// every other (no state, no Docker), so it comes first.
pub(super) fn pid1_check(pid1: Option<(String, u32)>, cfg: &Config) -> Option<Check> {
    let (name, euid) = pid1?;
    if name != "dind-init" {
        return None;
    }
    let e = cfg.root_needed(euid)?;
    Some(check(
        Verdict::Fail,
        "started as root",
        e.to_string(),
        "dind-init must be PID 1 as root; it runs the session as DIND_USER",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::tests::ready;

    #[test]
    fn non_root_pid1_is_the_first_failure_with_the_fix() {
        let cfg = Config::default();
        let c = pid1_check(Some(("dind-init".into(), 1000)), &cfg).expect("a check");
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.found.contains("uid 1000") && c.found.contains("USER root"),
            "{c:?}"
        );
        assert!(c.found.contains("runAsUser: 0"), "{c:?}");
        assert_eq!(pid1_check(Some(("dind-init".into(), 0)), &cfg), None);
        assert_eq!(pid1_check(Some(("systemd".into(), 1000)), &cfg), None);
        assert_eq!(pid1_check(None, &cfg), None);
        let plain = Config {
            start_dockerd: false,
            ..Config::default()
        };
        assert_eq!(pid1_check(Some(("dind-init".into(), 1000)), &plain), None);
    }

    #[test]
    fn misspelt_and_bad_input_are_checks() {
        let cfg = Config {
            unknown_env: vec![
                "DIND_STRATGY is not a dind-init setting (did you mean DIND_STRATEGY?)".into(),
            ],
            ..Config::default()
        };
        let bad = crate::Error::BadSetting {
            key: "DIND_DOCKERD_ARGS".into(),
            value: "--mtu=abc".into(),
            allowed: "dockerd flags".into(),
        };
        let c = input_checks(&cfg, Err(bad));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].verdict, Verdict::Warn);
        assert!(c[0].found.contains("did you mean DIND_STRATEGY"), "{c:?}");
        assert_eq!(c[1].verdict, Verdict::Fail);
        assert!(c[1].found.contains("--mtu=abc"), "{c:?}");
        let c = input_checks(&Config::default(), Ok(()));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Ok);
    }

    /// Only a Docker that could not be started is a failure; starting and
    /// stopping are moments, not faults.
    #[test]
    fn docker_check_per_phase() {
        let verdict = |phase| {
            let state = State {
                phase,
                smoke_ok: phase == Phase::Ready,
                ..ready()
            };
            docker_check(Some(&state)).verdict
        };
        assert_eq!(verdict(Phase::Ready), Verdict::Ok);
        assert_eq!(verdict(Phase::Disabled), Verdict::Ok);
        assert_eq!(verdict(Phase::Starting), Verdict::Warn);
        assert_eq!(verdict(Phase::Stopping), Verdict::Warn);
        assert_eq!(verdict(Phase::Degraded), Verdict::Fail);
        assert_eq!(docker_check(None).verdict, Verdict::Warn);
    }

    #[test]
    fn apply_refusals_are_failures_with_apply_s_message() {
        assert_eq!(apply_check(Ok(())).verdict, Verdict::Ok);
        let e = crate::Error::sys(
            "mkdir /home/coder/x",
            nix::errno::Errno::ELOOP,
            "remove the link",
        );
        let text = e.to_string();
        let c = apply_check(Err(e));
        assert_eq!((c.verdict, c.found), (Verdict::Fail, text));
    }

    /// Issue 13: doctor's trial check says the trial in its one rendering
    /// (`Display for Trial`, the plan's words), then where it ran.
    #[test]
    fn doctor_says_a_trial_in_the_plans_words() {
        use probe::{FsKind, Location, Trouble};
        let trials = [
            Trial::Ok,
            Trial::Failed {
                errno: "EINVAL".into(),
                call: "mount src=overlay dst=/home/coder/.dind-init-trial/merged".into(),
            },
            Trial::Blocked {
                trouble: Trouble::ReadOnly,
                errno: "EROFS".into(),
                call: "mkdir /home/coder/.dind-init-trial".into(),
            },
            Trial::NotTried {
                why: "no CAP_SYS_ADMIN: this process cannot mount".into(),
            },
        ];
        for trial in trials {
            let c = trial_check(&Location {
                path: "/home/coder/.docker-data".into(),
                probed: "/home/coder".into(),
                mount: None,
                fs: std::result::Result::Ok(FsKind {
                    magic: 0xEF53,
                    name: "ext4".into(),
                }),
                free_bytes: std::result::Result::Ok(1 << 30),
                d_type: std::result::Result::Ok(true),
                trial: trial.clone(),
            });
            assert!(c.found.starts_with(&trial.to_string()), "{trial}\n{c:?}");
            assert!(c.found.ends_with("in /home/coder on ext4"), "{c:?}");
        }
    }

    #[test]
    fn a_trial_the_volume_stopped_names_the_volume_not_the_filesystem() {
        use probe::{FsKind, Location, Trouble};
        let at = |trial: Trial| Location {
            path: "/home/coder/.docker-data".into(),
            probed: "/home/coder".into(),
            mount: None,
            fs: std::result::Result::Ok(FsKind {
                magic: 0xEF53,
                name: "ext4".into(),
            }),
            free_bytes: std::result::Result::Ok(0),
            d_type: Err("mkdir /home/coder/.dind-init-dtype: No space left on device".into()),
            trial,
        };
        let blocked = |trouble, errno: &str| Trial::Blocked {
            trouble,
            errno: errno.into(),
            call: "mkdir /home/coder/.dind-init-trial".into(),
        };
        // (trial, words in what was found, words in the remedy)
        let rows = [
            (
                blocked(Trouble::VolumeFull, "ENOSPC"),
                "could not run: volume full",
                "grow the PVC, then restart the pod",
            ),
            (
                blocked(Trouble::ReadOnly, "EROFS"),
                "read-only",
                "read-only",
            ),
            (blocked(Trouble::Io, "EIO"), "I/O error", "dmesg"),
            (
                Trial::Failed {
                    errno: "EINVAL".into(),
                    call: "mount src=overlay dst=/home/coder/.dind-init-trial/merged".into(),
                },
                "EINVAL",
                "ext4",
            ),
        ];
        for (trial, found, remedy) in rows {
            let blocked = matches!(trial, Trial::Blocked { .. });
            let c = trial_check(&at(trial));
            assert_eq!(c.verdict, Verdict::Fail);
            assert!(c.found.contains(found), "{c:?}");
            assert!(c.remedy.contains(remedy), "{c:?}");
            let move_it = c
                .remedy
                .contains("put DIND_DATA_ROOT on an ext4/xfs volume");
            assert_eq!(move_it, !blocked, "{c:?}");
        }
    }

    #[test]
    fn address_pools_check_says_where_networks_come_from_or_what_they_hide() {
        use crate::netpool::{decide, PodNets, PoolSetting, UserNets};
        let vpn = PodNets::from_text(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth0\t000010AC\t01002A0A\t0003\t0\t0\t0\t0000F0FF\n",
            "",
        );
        let c = pools_check(&decide(&PoolSetting::Auto, &vpn, &UserNets::default()));
        assert_eq!(c.verdict, Verdict::Ok);
        assert!(
            c.found.contains("route 172.16.0.0/12 (eth0)")
                && c.found.contains("192.168.0.0/16 by /20"),
            "{c:?}"
        );
        let c = pools_check(&decide(&PoolSetting::Off, &vpn, &UserNets::default()));
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.remedy.contains("DIND_ADDRESS_POOLS"), "{c:?}");
    }

    #[test]
    fn remedies_only_on_problems() {
        let c = check(Verdict::Ok, "x", "fine".into(), "do something");
        assert!(c.remedy.is_empty());
        let c = check(Verdict::Fail, "x", "bad".into(), "do something");
        assert_eq!(c.remedy, "do something");
        let text = render_checks(&[c]);
        assert!(
            text.contains("✘ x: bad") && text.contains("→ do something"),
            "{text}"
        );
    }
}
