//! `doctor`, `plan` and `status`: explain and check what dind-init does.
//!
//! They run the same probe and the same pure planner as PID 1, so what they
//! print is exactly what would happen. None of them changes anything: the
//! probe's trial mount is made and removed in a temporary directory. As a
//! non-root user they still report, and say which checks need root.

use crate::config::Config;
use crate::dockerd;
use crate::plan::{self, Driver, Plan};
use crate::probe::{self, Facts, Roots, Trial};
use crate::session::{State, STATE_FILE};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

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

fn check(verdict: Verdict, what: &str, found: String, remedy: &str) -> Check {
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

/// The checks, a pure function of the facts, the plan and PID 1's state.
pub fn checks(facts: &Facts, plan: &Result<Plan, String>, state: Option<&State>) -> Vec<Check> {
    use Verdict::*;
    let mut out = Vec::new();
    out.push(if facts.euid != 0 {
        check(
            Warn,
            "privileges",
            format!("doctor runs as uid {}: the trial mount and the lock were not tried", facts.euid),
            "run it as root in the pod (kubectl exec as root) to test mounts; dind-init itself runs as root (PID 1)",
        )
    } else if facts.cap_sys_admin {
        check(Ok, "privileges", "CAP_SYS_ADMIN: mounts are possible".into(), "")
    } else {
        check(
            Fail,
            "privileges",
            format!("no CAP_SYS_ADMIN (euid {}): no bind or overlay mounts, no dockerd", facts.euid),
            "run the pod with securityContext.privileged: true (dockerd needs it); `doctor` as a non-root user cannot run the trial mount",
        )
    });
    let dr = &facts.data_root;
    let fs = fs_name(&dr.location);
    let volatile = probe::is_volatile_fs(&fs);
    out.push(check(
        if volatile { Fail } else { Ok },
        "data root on a persistent volume",
        format!("{} ({}) is on {fs}; {}", dr.path.display(), from_text(dr.from), dr.why),
        "mount the pod's PVC at the user's home (e.g. /home/coder) or set DIND_DATA_ROOT to a directory on it",
    ));
    out.push(trial_check(&dr.location));
    if let std::result::Result::Ok(false) = dr.location.d_type {
        out.push(check(
            Fail,
            "d_type on the data root",
            "the filesystem does not fill d_type".into(),
            "use ext4, or xfs formatted with ftype=1",
        ));
    }
    if let std::result::Result::Ok(free) = dr.location.free_bytes {
        let gib = free as f64 / (1u64 << 30) as f64;
        out.push(check(
            if gib < 2.0 { Warn } else { Ok },
            "free space on the data root",
            format!("{gib:.1} GiB free"),
            "grow the PVC or prune images (`docker system prune`)",
        ));
    }
    let vld = &facts.var_lib_docker;
    if vld.has_data && !vld.bind_of_data_root && vld.mount.is_none() && vld.symlink.is_none() {
        out.push(check(
            Warn,
            "/var/lib/docker",
            format!("holds data on {} (lost when the pod is recreated)", fs_name(&vld.location)),
            "with dockerd stopped: mv /var/lib/docker/* into DIND_DATA_ROOT; dind-init never hides or deletes it",
        ));
    }
    out.push(match &facts.dockerd.version {
        std::result::Result::Ok(v) => check(
            Ok,
            "dockerd",
            format!(
                "{} {} ({})",
                facts.dockerd.program,
                v,
                if facts.containerd_store { "containerd image store" } else { "graphdriver" }
            ),
            "",
        ),
        Err(e) => check(Fail, "dockerd", e.clone(), "install Docker in the image (e.g. apt-get install docker.io) or set DIND_DOCKERD to its path"),
    });
    out.push(match (&facts.dev_fuse, &facts.fuse_overlayfs) {
        (std::result::Result::Ok(()), Some(p)) => check(
            Ok,
            "fuse-overlayfs fallback",
            format!("/dev/fuse usable, {}", p.display()),
            "",
        ),
        (Err(e), _) => check(
            Warn,
            "fuse-overlayfs fallback",
            format!("/dev/fuse: {e}"),
            "only needed when no volume can host overlay: give the pod /dev/fuse (privileged does)",
        ),
        (_, None) => check(
            Warn,
            "fuse-overlayfs fallback",
            "fuse-overlayfs is not installed".into(),
            "only needed when no volume can host overlay: apt-get install fuse-overlayfs",
        ),
    });
    out.push(check(Ok, "cgroups", format!("{:?}", facts.cgroup), ""));
    if !facts.stale_pidfiles.is_empty() {
        let list: Vec<String> = facts
            .stale_pidfiles
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        out.push(check(
            Warn,
            "stale pidfiles",
            list.join(", "),
            "dind-init removes them at start; nothing to do",
        ));
    }
    match plan {
        std::result::Result::Ok(p) => {
            let slow = matches!(
                p.driver,
                Some(Driver::Vfs | Driver::Native | Driver::FuseOverlayfs)
            );
            out.push(check(
                if slow { Warn } else { Ok },
                "storage driver",
                match p.driver {
                    Some(d) => format!("{} on {}", d.name(), p.data_root.as_deref().unwrap_or(Path::new("/var/lib/docker")).display()),
                    None => "dockerd is not started (DIND_START_DOCKERD=false)".into(),
                },
                "a slow fallback: give DIND_DATA_ROOT a directory on an ext4/xfs PVC so overlay2/overlayfs work",
            ));
        }
        Err(e) => out.push(check(
            Fail,
            "daemon configuration",
            e.clone(),
            "fix the file named above; dind-init never rewrites a file it cannot parse",
        )),
    }
    out.push(match state {
        None => check(
            Warn,
            "Docker",
            "no dind-init PID 1 state here (not running under dind-init, or not started yet)"
                .into(),
            "make dind-init the container's ENTRYPOINT",
        ),
        Some(s) if s.phase == "ready" && s.smoke_ok => check(
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
            format!("{}: {}", s.phase, s.error),
            "read the pod log (kubectl logs) for dockerd's last lines",
        ),
    });
    out
}

/// The trial mount's check. A trial the volume stopped (full, read-only, I/O error)
/// names that trouble and its remedy: it says nothing about overlay or the filesystem.
fn trial_check(loc: &probe::Location) -> Check {
    use Verdict::*;
    const WHAT: &str = "overlay mount on the data root";
    match &loc.trial {
        Trial::Ok => check(Ok, WHAT, format!("a trial overlay with its upperdir in {} mounted", loc.probed.display()), ""),
        Trial::Failed { errno, call } => check(
            Fail,
            WHAT,
            format!("{call}: {errno}"),
            "overlay2/overlayfs cannot work there: put DIND_DATA_ROOT on an ext4/xfs volume (a PVC), or accept the slower fuse-overlayfs/vfs fallback the plan shows",
        ),
        Trial::Blocked { trouble, errno, call } => check(
            Fail,
            WHAT,
            format!("could not run: {trouble} on {} ({call}: {errno})", loc.fs_type()),
            trouble.remedy(),
        ),
        Trial::NotTried { why } => check(Warn, WHAT, format!("not tried: {why}"), "run `dind-init doctor` as root in the pod to test it"),
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

fn render_checks(checks: &[Check]) -> String {
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

fn not_root_note() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("dind-init: note: not root — the trial mount and the lock need root; those checks show as not tried");
    }
}

/// The facts as PID 1 would see them: it runs as root, so a non-root caller's
/// missing CAP_SYS_ADMIN says nothing about what PID 1 can do. Without this,
/// `plan` as the devpod user would print a plan PID 1 never runs.
fn as_pid1(mut facts: Facts) -> Facts {
    if facts.euid != 0 {
        facts.cap_sys_admin = true;
    }
    facts
}

/// `dind-init doctor`: facts, plan and checks with remedies. Exit 1 when a check fails.
pub fn doctor(cfg: &Config, json: bool) -> i32 {
    not_root_note();
    let facts = probe::probe(cfg, &Roots::default());
    let plan = plan::plan(&as_pid1(facts.clone()), cfg).map_err(|e| e.to_string());
    let state = State::load(Path::new(STATE_FILE)).ok();
    let checks = checks(&facts, &plan, state.as_ref());
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    if json {
        #[derive(Serialize)]
        struct Report<'a> {
            facts: &'a Facts,
            plan: &'a Result<Plan, String>,
            checks: &'a [Check],
            state: Option<&'a State>,
        }
        match serde_json::to_string_pretty(&Report {
            facts: &facts,
            plan: &plan,
            checks: &checks,
            state: state.as_ref(),
        }) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("dind-init: error: cannot encode the report: {e}");
                return 1;
            }
        }
    } else {
        println!("Checks:\n{}", render_checks(&checks));
        match &plan {
            Ok(p) => println!("Plan (what dind-init does at start):\n{}", p.render()),
            Err(e) => println!("Plan: cannot be made: {e}"),
        }
    }
    i32::from(failed)
}

/// `dind-init plan`: the actions and their reasons; changes nothing.
pub fn plan(cfg: &Config, json: bool) -> i32 {
    not_root_note();
    let facts = as_pid1(probe::probe(cfg, &Roots::default()));
    match plan::plan(&facts, cfg) {
        Ok(p) if json => match serde_json::to_string_pretty(&p) {
            Ok(s) => {
                println!("{s}");
                0
            }
            Err(e) => {
                eprintln!("dind-init: error: cannot encode the plan: {e}");
                1
            }
        },
        Ok(p) => {
            print!("{}", p.render());
            0
        }
        Err(e) => {
            eprintln!("dind-init: error: {e}");
            e.exit_code()
        }
    }
}

/// `dind-init status`: 0 only when Docker answers and the smoke test passed,
/// so it works as a Kubernetes readiness/startup probe.
pub fn status(_cfg: &Config) -> i32 {
    let state = match State::load(Path::new(STATE_FILE)) {
        Ok(s) => s,
        Err(e) => {
            let why = match &e {
                crate::Error::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    format!("{STATE_FILE} does not exist yet")
                }
                other => other.to_string(),
            };
            println!("not ready: dind-init has recorded no state ({why}) — it is still starting, or it is not this container's PID 1 (make it the ENTRYPOINT)");
            return 1;
        }
    };
    status_of(&state, |socket| {
        dockerd::ping(socket, Duration::from_secs(2)).unwrap_or(false)
    })
}

/// The decision of `status`, with the ping injected for tests.
pub fn status_of(state: &State, ping: impl Fn(&Path) -> bool) -> i32 {
    if state.phase != "ready" || !state.smoke_ok {
        println!(
            "not ready: Docker is {}{}",
            state.phase,
            if state.error.is_empty() {
                String::new()
            } else {
                format!(": {}", state.error)
            }
        );
        return 1;
    }
    if !ping(&state.socket) {
        println!(
            "not ready: Docker does not answer on {}",
            state.socket.display()
        );
        return 1;
    }
    println!(
        "ready: Docker answers on {}; {} on {} passed the smoke test",
        state.socket.display(),
        state.driver,
        state.data_root.display()
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> State {
        State {
            phase: "ready".into(),
            socket: "/var/run/docker.sock".into(),
            driver: "overlay2".into(),
            data_root: "/home/coder/.docker-data".into(),
            smoke_ok: true,
            ready_ms: 200,
            smoke_ms: 90,
            error: String::new(),
        }
    }

    #[test]
    fn status_needs_ready_smoke_and_ping() {
        assert_eq!(status_of(&ready(), |_| true), 0);
        assert_eq!(status_of(&ready(), |_| false), 1);
        let mut s = ready();
        s.smoke_ok = false;
        assert_eq!(status_of(&s, |_| true), 1);
        let mut s = ready();
        s.phase = "starting".into();
        assert_eq!(status_of(&s, |_| true), 1);
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
                "volume full on ext4",
                "docker system df",
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
