//! `doctor`, `plan` and `status`: explain and check what dind-init does.
//!
//! They run the same probe and the same pure planner as PID 1, so what they
//! print is exactly what would happen. None of them changes anything: the
//! probe's trial mount is made and removed in a temporary directory. As a
//! non-root user they still report, and say which checks need root.
//!
//! This file holds the three commands; `checks` the pure checks, `cli` the
//! Docker CLI and plugin finder, `json` the documented output.

mod checks;
mod cli;
mod json;

pub use checks::{checks, Check, Verdict};
pub use cli::{cli_plugin_dirs, docker_cli_checks, DockerCli};
pub use json::{emit, to_schema, JSON_SCHEMA};

use checks::{apply_check, cgroup_nesting_check, input_checks, pid1_check, render_checks};
use cli::find_docker_cli;
use json::emit_json;

use crate::config::Config;
use crate::dockerd;
use crate::plan::{self, Plan};
use crate::probe::{self, Facts, Roots};
use crate::state::{Phase, State, STATE_FILE};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

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

/// `doctor --json`: the facts (kernel, cgroup, dockerd and containerd versions among them),
/// the plan, the checks and PID 1's state.
#[derive(Serialize)]
struct Report<'a> {
    facts: &'a Facts,
    plan: &'a Result<Plan, String>,
    checks: &'a [Check],
    state: Option<&'a State>,
}

/// The report in schema 1 ([`to_schema`]), as `doctor --json` prints it.
#[cfg(test)]
fn report_json(
    facts: &Facts,
    plan: &Result<Plan, String>,
    checks: &[Check],
    state: Option<&State>,
) -> serde_json::Result<String> {
    let report = Report {
        facts,
        plan,
        checks,
        state,
    };
    to_schema(&report).and_then(|v| serde_json::to_string_pretty(&v))
}

/// `dind-init doctor`: facts, plan and checks with remedies. Exit 1 when a check fails.
pub fn doctor(cfg: &Config, json: bool) -> i32 {
    not_root_note();
    let facts = probe::probe(cfg, &Roots::default());
    let plan = plan::plan(&as_pid1(facts.clone()), cfg).map_err(|e| e.to_string());
    let state = State::load(Path::new(STATE_FILE)).ok();
    let mut checks: Vec<Check> = pid1_check(read_pid1(Path::new("/proc")), cfg)
        .into_iter()
        .collect();
    checks.extend(input_checks(cfg, probe::validate(cfg, &Roots::default())));
    checks.extend(self::checks(&facts, &plan, state.as_ref()));
    checks.extend(docker_cli_checks(&find_docker_cli(cfg)));
    if let (Ok(p), 0) = (&plan, facts.euid) {
        checks.push(apply_check(crate::apply::precheck(
            &p.steps,
            &crate::sys::LinuxSyscall,
        )));
    }
    checks.extend(cgroup_nesting_check(&facts));
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    if json {
        let report = Report {
            facts: &facts,
            plan: &plan,
            checks: &checks,
            state: state.as_ref(),
        };
        if let Err(code) = emit_json(&report) {
            return code;
        }
    } else {
        let mut text = format!("Checks:\n{}\n", render_checks(&checks));
        match &plan {
            Ok(p) => text.push_str(&format!(
                "Plan (what dind-init does at start):\n{}\n",
                p.render()
            )),
            Err(e) => text.push_str(&format!("Plan: cannot be made: {e}\n")),
        }
        emit(&text);
    }
    i32::from(failed)
}

/// PID 1's command name and effective uid, from /proc/1/status.
fn read_pid1(proc: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(proc.join("1/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let name = field("Name:")?.to_string();
    let euid = field("Uid:")?.split_whitespace().nth(1)?.parse().ok()?;
    Some((name, euid))
}

/// `dind-init plan`: the actions and their reasons; changes nothing.
pub fn plan(cfg: &Config, json: bool) -> i32 {
    not_root_note();
    if let Err(e) = probe::validate(cfg, &Roots::default()) {
        eprintln!("dind-init: error: {e}");
        return e.exit_code();
    }
    let facts = as_pid1(probe::probe(cfg, &Roots::default()));
    match plan::plan(&facts, cfg) {
        Ok(p) if json => emit_json(&p).err().unwrap_or(0),
        Ok(p) => {
            emit(&p.render());
            if let Some(c) = cgroup_nesting_check(&facts) {
                emit(&format!("cgroup v2: {}\n", c.found));
            }
            0
        }
        Err(e) => {
            eprintln!("dind-init: error: {e}");
            e.exit_code()
        }
    }
}

/// `dind-init status`: 0 only when Docker answers and the smoke test passed
/// (the readiness probe). `--settled`: 0 once PID 1 has finished trying, ready
/// or degraded (the startup probe: a pod whose Docker failed keeps its session
/// and must not be restarted). It waits at most [`PING_TIMEOUT`].
pub fn status(cfg: &Config, settled: bool, json: bool) -> i32 {
    let loaded = State::load(Path::new(STATE_FILE));
    // A plain init records nothing; the probe runs with the container's env,
    // so it knows there is no Docker to wait for.
    let state = match &loaded {
        Ok(s) => Some(s.clone()),
        Err(_) if !cfg.start_dockerd => Some(State {
            phase: Phase::Disabled,
            ..State::default()
        }),
        Err(_) => None,
    };
    let state = state.as_ref();
    let (code, mut message) = status_of(state, settled, |socket| {
        dockerd::ping(socket, PING_TIMEOUT).unwrap_or(false)
    });
    if let (Err(e), None) = (&loaded, state) {
        message = no_state(e, read_pid1(Path::new("/proc")));
    }
    if json {
        #[derive(Serialize)]
        struct Status<'a> {
            ready: bool,
            settled: bool,
            exit: i32,
            message: &'a str,
            state: Option<&'a State>,
        }
        let ready = state.is_some_and(|s| s.phase == Phase::Ready) && (settled || code == 0);
        let report = Status {
            ready,
            settled: state.is_some_and(|s| s.phase.settled()),
            exit: code,
            message: &message,
            state,
        };
        if let Err(c) = emit_json(&report) {
            return c;
        }
    } else {
        emit(&format!("{message}\n"));
    }
    code
}

/// The longest `status` waits for Docker's answer: probes' timeoutSeconds
/// must be above it (the examples use 5).
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Why there is no state, naming the fix when PID 1 is dind-init as non-root.
fn no_state(e: &crate::Error, pid1: Option<(String, u32)>) -> String {
    if let Some((name, euid)) = pid1.filter(|(n, u)| n == "dind-init" && *u != 0) {
        return format!("not ready: {name} (PID 1) runs as uid {euid}, not root, so it starts no Docker — fix: `USER root` and `ENV DIND_USER=coder` in the image, or securityContext runAsUser: 0 in the pod");
    }
    let why = match e {
        crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            format!("{STATE_FILE} does not exist yet")
        }
        other => other.to_string(),
    };
    format!("not ready: dind-init has recorded no state ({why}) — it is still starting, or it is not this container's PID 1 (make it the ENTRYPOINT)")
}

/// What a phase means, in the words `status` prints.
fn phase_words(p: Phase) -> &'static str {
    match p {
        Phase::Starting => "dind-init is still starting Docker",
        Phase::Ready => "Docker is ready",
        Phase::Degraded => "Docker could not be started; the session runs without it",
        Phase::Disabled => "Docker is not started here (DIND_START_DOCKERD=false)",
        Phase::Stopping => "the pod is stopping",
    }
}

/// The decision of `status` (exit code and its one line), with the ping
/// injected for tests. `settled` asks the startup question instead.
pub fn status_of(
    state: Option<&State>,
    settled: bool,
    ping: impl Fn(&Path) -> bool,
) -> (i32, String) {
    let Some(state) = state else {
        return (1, "not ready: dind-init has recorded no state".into());
    };
    let err = if state.error.is_empty() {
        String::new()
    } else {
        format!(": {}", state.error)
    };
    // Degraded with a socket: Docker answered, but its volume is in trouble.
    let runs = state.phase == Phase::Degraded && !state.socket.as_os_str().is_empty();
    let words = if runs {
        format!(
            "Docker runs on {}, but cannot be used fully",
            state.socket.display()
        )
    } else {
        phase_words(state.phase).to_string()
    };
    if settled {
        return match state.phase {
            Phase::Starting => (1, format!("not settled: {words}")),
            _ => (0, format!("settled: {words}{err}")),
        };
    }
    if !runs && (state.phase != Phase::Ready || !state.smoke_ok) {
        return (1, format!("not ready: {words}{err}"));
    }
    if !ping(&state.socket) {
        return (
            1,
            format!(
                "not ready: Docker does not answer on {}",
                state.socket.display()
            ),
        );
    }
    // Not ready for readiness: pulls, builds and new containers fail there.
    if runs {
        return (1, format!("not ready: {words}{err}"));
    }
    (
        0,
        format!(
            "ready: Docker answers on {}; {} on {} passed the smoke test",
            state.socket.display(),
            state.driver,
            state.data_root.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::json::schema_value;
    use super::*;
    use crate::plan::Driver;

    pub(super) fn ready() -> State {
        State {
            phase: Phase::Ready,
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
        assert_eq!(status_of(Some(&ready()), false, |_| true).0, 0);
        assert_eq!(status_of(Some(&ready()), false, |_| false).0, 1);
        let mut s = ready();
        s.smoke_ok = false;
        assert_eq!(status_of(Some(&s), false, |_| true).0, 1);
        let mut s = ready();
        s.phase = Phase::Starting;
        assert_eq!(status_of(Some(&s), false, |_| true).0, 1);
    }

    /// Docker answers but its volume is full (the reserve was released, or the
    /// smoke test hit ENOSPC): status says Docker runs and what to do, and stays
    /// not ready (pulls, builds and new containers fail); the startup probe settles.
    #[test]
    fn docker_running_on_a_full_volume_is_named_not_called_failed() {
        let state = State {
            phase: Phase::Degraded,
            smoke_ok: false,
            error: "volume full: 0 B free on the volume holding /home/coder/.docker-data — fix: free space on the volume holding the data root: `docker system df` shows what uses it".into(),
            ..ready()
        };
        let (code, line) = status_of(Some(&state), false, |_| true);
        assert_eq!(code, 1);
        assert!(
            line.starts_with("not ready: Docker runs on /var/run/docker.sock, but cannot be used fully: volume full: "),
            "{line}"
        );
        assert!(line.contains("free space"), "{line}");
        assert!(!line.contains("could not be started"), "{line}");
        let (_, line) = status_of(Some(&state), false, |_| false);
        assert!(
            line.starts_with("not ready: Docker does not answer"),
            "{line}"
        );
        let (code, line) = status_of(Some(&state), true, |_| panic!("--settled never pings"));
        assert_eq!(code, 0);
        assert!(line.starts_with("settled: Docker runs on"), "{line}");
        // Docker that never answered keeps the old words.
        let down = State {
            socket: std::path::PathBuf::new(),
            ..state
        };
        let (_, line) = status_of(Some(&down), false, |_| true);
        assert!(
            line.starts_with("not ready: Docker could not be started"),
            "{line}"
        );
    }

    /// The probes' exit codes in each phase: (phase, Docker answers,
    /// `status` = readiness, `status --settled` = startup).
    #[test]
    fn probe_exit_codes_per_phase() {
        let rows = [
            (None, true, 1, 1),
            (Some(Phase::Starting), true, 1, 1),
            (Some(Phase::Ready), true, 0, 0),
            (Some(Phase::Ready), false, 1, 0),
            (Some(Phase::Degraded), true, 1, 0),
            (Some(Phase::Disabled), false, 1, 0),
            (Some(Phase::Stopping), true, 1, 0),
        ];
        for (phase, answers, readiness, startup) in rows {
            let state = phase.map(|p| State {
                phase: p,
                smoke_ok: p != Phase::Degraded,
                ..ready()
            });
            let got = (
                status_of(state.as_ref(), false, |_| answers).0,
                status_of(state.as_ref(), true, |_| panic!("--settled never pings")).0,
            );
            assert_eq!(got, (readiness, startup), "{phase:?} answers={answers}");
        }
    }

    #[test]
    fn pid1_is_read_from_proc() {
        let dir = std::env::temp_dir().join(format!("dind-doctor-proc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1")).unwrap();
        std::fs::write(
            dir.join("1/status"),
            "Name:\tdind-init\nUmask:\t0022\nUid:\t1000\t1000\t1000\t1000\n",
        )
        .unwrap();
        let got = read_pid1(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, Some(("dind-init".into(), 1000)));
        let e = crate::Error::io(
            "read",
            STATE_FILE,
            std::io::ErrorKind::PermissionDenied.into(),
        );
        assert!(no_state(&e, got).contains("USER root"));
    }

    /// Facts from a probe of an empty tree, with the kernel and engine facts set per row.
    fn facts(
        kernel: Result<&str, &str>,
        cgroup: probe::CgroupVersion,
        dockerd: (u32, u32, u32),
        containerd: Option<Result<(u32, u32, u32), &str>>,
    ) -> Facts {
        let t = std::env::temp_dir().join(format!("dind-init-doctor-{}", std::process::id()));
        let roots = Roots::under(&t);
        let cfg = Config {
            dockerd: "/nonexistent/dockerd".into(),
            ..Config::default()
        };
        let v = |(major, minor, patch)| probe::Version {
            major,
            minor,
            patch,
        };
        let mut f = probe::probe(&cfg, &roots);
        f.kernel = kernel.map(String::from).map_err(String::from);
        f.cgroup = cgroup;
        f.dockerd.version = Ok(v(dockerd));
        f.containerd_bin = containerd.map(|_| "/usr/bin/containerd".into());
        f.containerd_version = match containerd {
            Some(r) => r.map(v).map_err(String::from),
            None => Err("containerd is not on PATH".into()),
        };
        f
    }

    /// Issue 13: whether dockerd uses the containerd image store is the plan's decision
    /// alone. Docker 29 with DIND_STORAGE_DRIVER=overlay2 keeps the graphdriver store
    /// (the plan runs overlay2), and doctor must say so, not "containerd image store".
    #[test]
    fn doctor_names_the_image_store_the_plan_uses() {
        use std::os::unix::fs::PermissionsExt;
        let t = std::env::temp_dir().join(format!("dind-init-store-{}", std::process::id()));
        std::fs::create_dir_all(&t).unwrap();
        let dockerd = t.join("dockerd");
        std::fs::write(
            &dockerd,
            "#!/bin/sh\necho 'Docker version 29.0.1, build eedd969'\n",
        )
        .unwrap();
        std::fs::set_permissions(&dockerd, std::fs::Permissions::from_mode(0o755)).unwrap();
        let roots = Roots::under(&t);
        let dockerd = dockerd.to_string_lossy().into_owned();
        let rows = [
            (None, Driver::Overlayfs, "29.0.1 (containerd image store)"),
            (
                Some(Driver::Overlay2),
                Driver::Overlay2,
                "29.0.1 (graphdriver)",
            ),
        ];
        for (pin, driver, words) in rows {
            let cfg = Config {
                dockerd: dockerd.clone(),
                storage_driver: pin,
                ..Config::default()
            };
            let f = probe::probe(&cfg, &roots);
            let p = plan::plan(&as_pid1(f.clone()), &cfg).map_err(|e| e.to_string());
            assert_eq!(p.as_ref().unwrap().driver, Some(driver), "{pin:?}");
            let text = render_checks(&checks(&f, &p, None));
            let want = format!("✔ dockerd: {dockerd} {words}");
            assert!(
                text.lines().any(|l| l == want),
                "no line {want:?} in:\n{text}"
            );
        }
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn kernel_cgroup_and_engine_versions_are_reported() {
        use probe::CgroupVersion::*;
        let rows = [
            (
                facts(
                    Ok("6.1.0-28-amd64"),
                    Hybrid,
                    (20, 10, 24),
                    Some(Ok((1, 6, 20))),
                ),
                [
                    "✔ kernel: Linux 6.1.0-28-amd64",
                    "✔ cgroups: hybrid (v1 controllers, a v2 hierarchy beside them)",
                    "✔ dockerd: /nonexistent/dockerd 20.10.24 (graphdriver)",
                    "✔ containerd: /usr/bin/containerd 1.6.20 (reads config version 2)",
                ],
            ),
            (
                facts(
                    Ok("6.12.48+deb13-amd64"),
                    V2,
                    (26, 1, 5),
                    Some(Ok((1, 7, 24))),
                ),
                [
                    "✔ kernel: Linux 6.12.48+deb13-amd64",
                    "✔ cgroups: v2 (the unified hierarchy)",
                    "✔ dockerd: /nonexistent/dockerd 26.1.5 (graphdriver)",
                    "✔ containerd: /usr/bin/containerd 1.7.24 (reads config version 2)",
                ],
            ),
            (
                facts(Ok("5.15.0-1071-aws"), V1, (28, 5, 2), Some(Ok((2, 1, 9)))),
                [
                    "✔ kernel: Linux 5.15.0-1071-aws",
                    "✔ cgroups: v1 (one hierarchy per controller)",
                    "✔ dockerd: /nonexistent/dockerd 28.5.2 (graphdriver)",
                    "✔ containerd: /usr/bin/containerd 2.1.9 (reads config version 3)",
                ],
            ),
            (
                facts(
                    Err("read /proc/sys/kernel/osrelease: gone"),
                    Unknown,
                    (29, 0, 1),
                    None,
                ),
                [
                    "! kernel: read /proc/sys/kernel/osrelease: gone",
                    "✔ cgroups: unknown (no cgroup filesystem at /sys/fs/cgroup)",
                    "✔ dockerd: /nonexistent/dockerd 29.0.1 (containerd image store)",
                    "! containerd: not on PATH",
                ],
            ),
            (
                facts(
                    Ok("6.8.0"),
                    V2,
                    (28, 5, 2),
                    Some(Err("`containerd --version` exited with 1")),
                ),
                [
                    "✔ kernel: Linux 6.8.0",
                    "✔ cgroups: v2 (the unified hierarchy)",
                    "✔ dockerd: /nonexistent/dockerd 28.5.2 (graphdriver)",
                    "! containerd: /usr/bin/containerd: `containerd --version` exited with 1",
                ],
            ),
        ];
        for (f, want) in rows {
            // The image store in the dockerd line is the plan's answer.
            let plan =
                plan::plan(&as_pid1(f.clone()), &Config::default()).map_err(|e| e.to_string());
            let text = render_checks(&checks(&f, &plan, None));
            let lines: Vec<&str> = text.lines().collect();
            for w in want {
                assert!(lines.contains(&w), "no line {w:?} in:\n{text}");
            }
            // The same facts in `doctor --json`.
            let json: serde_json::Value =
                serde_json::from_str(&report_json(&f, &Err("x".into()), &[], None).unwrap())
                    .unwrap();
            let facts = &json["facts"];
            assert_eq!(
                facts["kernel"],
                schema_value(serde_json::to_value(&f.kernel).unwrap())
            );
            assert_eq!(facts["cgroup"], serde_json::to_value(f.cgroup).unwrap());
            assert_eq!(
                facts["dockerd"]["version"]["major"],
                f.dockerd.version.as_ref().unwrap().major
            );
        }
        let f = facts(Ok("6.8.0"), Hybrid, (28, 5, 2), Some(Ok((2, 1, 9))));
        let json = report_json(&f, &Err("x".into()), &[], None).unwrap();
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["schema"], 1);
        assert_eq!(j["facts"]["kernel"], "6.8.0");
        assert_eq!(j["facts"]["cgroup"], "hybrid");
        assert_eq!(j["facts"]["containerd_version"]["major"], 2);
    }
}
