//! The pod's life, in order: storage fix, containerd, dockerd, smoke test, the
//! user's command, supervision, ordered stop.
//!
//! Each stage lives in its own module; this one only sequences them under the
//! [`init`](crate::init) loop and decides what happens when Docker cannot be
//! made to work: by default the command still starts, after a loud banner
//! (a devpod must never lock its user out); with `DIND_REQUIRE_DOCKER=true`
//! dind-init exits non-zero instead.

use crate::apply::{self, Applied};
use crate::config::Config;
use crate::dockerd::{self, LogPump, SmokeError, SmokeFailure};
use crate::error::{Error, Result};
use crate::init::{self, Init, Output, Ready, Restart, Service, Spawn};
use crate::plan::{self, Action, Driver, Plan};
use crate::probe::{self, Roots};
use crate::proof::SmokePlan;
use crate::ready::PingProbe;
use crate::reserve;
use crate::sys::{LinuxSyscall, Syscall};
use crate::user::User;
use log::{error, info, warn};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::state::{Phase, State, STATE_FILE};

/// How often /_ping is polled: Docker is used as soon as it answers.
const POLL: Duration = Duration::from_millis(10);

/// How often containerd's socket is tried: a refused connect costs microseconds,
/// and dockerd cannot start before it, so every millisecond here is start time.
const POLL_CONTAINERD: Duration = Duration::from_millis(2);

/// Why Docker is not available. The services started so far and the data-root
/// lock stay with the caller either way, so nothing runs unlocked or unsupervised.
enum Failed {
    /// Stop requested (SIGTERM) while starting.
    Stopped(Signal),
    /// Docker could not be made to work; daemons still running stay supervised.
    Broken(Error),
    /// Docker answers on this socket, but its volume is full, read-only or
    /// failing: the session gets Docker (listing, inspecting, pruning work) and a
    /// banner; `status` stays not ready. `state` is what to record.
    Limited { state: Box<State>, error: Error },
}

/// PID 1's whole life. Returns the exit code: the command's, or 128+N when a
/// stop signal came before the command started, or the error's.
pub fn run(cfg: &Config, argv: Vec<OsString>) -> i32 {
    run_as(cfg, argv, false)
}

/// `dind-init sidecar`: Docker for the devpod's other containers (through a
/// socket on a shared volume and/or TLS on 2376), no command. Runs until
/// SIGTERM, then stops Docker in order like PID 1 in the main mode. With no
/// session to keep alive, Docker failing to start is fatal (the kubelet restarts it).
pub fn sidecar(cfg: &Config) -> i32 {
    if !cfg.start_dockerd {
        eprintln!("dind-init: error: DIND_START_DOCKERD=\"false\" is not valid with `dind-init sidecar` — fix: a sidecar exists to run Docker; unset DIND_START_DOCKERD");
        return 2;
    }
    if let Some(w) = crate::tls::sidecar_reach(cfg) {
        warn!("{w}");
    }
    run_as(cfg, Vec::new(), true)
}

/// PID 1 through the pod's life: the init loop, the daemons it supervises and
/// the data-root lock, held until the very end whatever happened (it goes with
/// this value, after the last `supervise`).
struct Life {
    init: Init,
    services: Vec<Service>,
    lock: Option<Applied>,
    sys: LinuxSyscall,
    state_path: PathBuf,
    started: Instant,
}

impl Life {
    /// Supervise until the end with the lock still held; the exit code.
    fn supervise(&mut self, main: Option<Pid>, cfg: &Config, code: i32) -> i32 {
        init::supervise(
            &mut self.init,
            main,
            &mut self.services,
            cfg.stop_timeout,
            code,
        )
    }
}

fn run_as(cfg: &Config, argv: Vec<OsString>, sidecar: bool) -> i32 {
    let (mut life, mut user) = match setup(cfg) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut env = client_env(cfg);
    if cfg.start_dockerd {
        let r = match cfg.root_needed(nix::unistd::geteuid().as_raw()) {
            Some(e) => Err(Failed::Broken(e)),
            None => start_docker(&mut life, cfg, &mut user),
        };
        match after_docker(&mut life, cfg, r, sidecar) {
            Ok(more) => env.extend(more),
            Err(code) => return code,
        }
    }
    run_session(&mut life, cfg, argv, &user, env)
}

/// Check the input, become the init and resolve the user: what every start
/// needs before anything changes. Err: the exit code, the error printed.
fn setup(cfg: &Config) -> std::result::Result<(Life, User), i32> {
    let started = Instant::now();
    let fail = |e: Error, code: fn(&Error) -> i32| {
        eprintln!("dind-init: error: {e}");
        code(&e)
    };
    // Bad input stops here, before anything changes (exit 2), not at the
    // plan, where it would read as "Docker is not available".
    probe::validate(cfg, &Roots::default()).map_err(|e| fail(e, Error::exit_code))?;
    let mut init = Init::setup().map_err(|e| fail(e, |_| 1))?;
    init.set_leftover_grace(cfg.leftover_grace);
    let user = crate::user::resolve(Path::new("/etc"), cfg.user.as_ref())
        .map_err(|e| fail(e, Error::exit_code))?;
    let state_path = PathBuf::from(STATE_FILE);
    let stop_path = state_path.clone();
    init.on_stop(Box::new(move || mark_stopping(&stop_path)));
    let life = Life {
        init,
        services: Vec::new(),
        lock: None,
        sys: LinuxSyscall,
        state_path,
        started,
    };
    Ok((life, user))
}

/// A client of a docker:dind sidecar (no Docker of its own, the client
/// certificates present) gets docker:cli's own environment.
fn client_env(cfg: &Config) -> Vec<(String, String)> {
    if cfg.start_dockerd || !crate::tls::client_certs_present(cfg) {
        return Vec::new();
    }
    crate::tls::session_env(cfg, |k| std::env::var_os(k).is_some())
}

/// What the session gets from starting Docker: its environment, or Err(exit
/// code) when PID 1 ends here (a sidecar served until SIGTERM, a stop signal
/// while starting, Docker required but not working).
fn after_docker(
    life: &mut Life,
    cfg: &Config,
    r: std::result::Result<PathBuf, Failed>,
    sidecar: bool,
) -> std::result::Result<Vec<(String, String)>, i32> {
    let r = match r {
        Err(Failed::Limited { state, error }) => {
            // Docker runs, so a required Docker is there: never fatal.
            state.save(&life.sys, &life.state_path);
            banner_limited(&error);
            Ok(state.socket)
        }
        other => other,
    };
    match r {
        Ok(_) if sidecar => {
            info!("sidecar: Docker is ready; serving until SIGTERM");
            Err(init::serve(
                &mut life.init,
                &mut life.services,
                cfg.stop_timeout,
            ))
        }
        Ok(socket) => Ok(docker_env(cfg, &socket)),
        Err(Failed::Stopped(sig)) => {
            info!("{sig} while starting Docker; stopping");
            mark_stopping(&life.state_path);
            Err(life.supervise(None, cfg, 128 + sig as i32))
        }
        // Limited was made Ok above; the pattern only keeps the match whole.
        Err(Failed::Broken(e) | Failed::Limited { error: e, .. }) => {
            degraded(life, cfg, with_volume_words(e), sidecar)
        }
    }
}

/// The session's environment to reach the Docker at `socket`.
fn docker_env(cfg: &Config, socket: &Path) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if !is_default_socket(socket) && cfg.docker_host.is_none() {
        env.push((
            "DOCKER_HOST".to_string(),
            format!("unix://{}", socket.display()),
        ));
    }
    env.extend(crate::tls::session_env(cfg, |k| {
        std::env::var_os(k).is_some()
    }));
    env
}

/// Docker could not be made to work: record it; end PID 1 when Docker is
/// required (Err: the exit code), else the session starts after a loud banner.
fn degraded(
    life: &mut Life,
    cfg: &Config,
    e: Error,
    sidecar: bool,
) -> std::result::Result<Vec<(String, String)>, i32> {
    State {
        phase: Phase::Degraded,
        error: e.to_string(),
        ..State::default()
    }
    .save(&life.sys, &life.state_path);
    if cfg.require_docker || sidecar {
        let why = if sidecar {
            "dind-init sidecar"
        } else {
            "DIND_REQUIRE_DOCKER=true"
        };
        error!("Docker is required ({why}) but could not be started: {e}");
        let code = life.supervise(None, cfg, 1);
        return Err(if code == 0 { 1 } else { code });
    }
    banner(&e);
    Ok(Vec::new())
}

/// Start the user's command with `env`, then supervise it and the daemons to the end.
fn run_session(
    life: &mut Life,
    cfg: &Config,
    argv: Vec<OsString>,
    user: &User,
    env: Vec<(String, String)>,
) -> i32 {
    let mut spec = init::command_spawn(argv, user, cfg.user.is_some());
    spec.env.extend(env);
    match life.init.spawn(&spec) {
        Ok((pid, _)) => life.supervise(Some(pid), cfg, 0),
        Err(e) => {
            eprintln!("dind-init: error: {e}");
            life.supervise(None, cfg, e.exit_code())
        }
    }
}

/// Record that the pod is stopping, keeping what the state said so far
/// (nothing to mark when no state was recorded).
fn mark_stopping(path: &Path) {
    if let Ok(mut state) = State::load(path) {
        state.phase = Phase::Stopping;
        state.save(&LinuxSyscall, path);
    }
}

fn is_default_socket(p: &Path) -> bool {
    p == Path::new("/var/run/docker.sock") || p == Path::new("/run/docker.sock")
}

/// A start that failed on the volume's own trouble (the lock or a mkdir on a full,
/// read-only or failing PVC) says so in the same words as the trial and the smoke
/// test, from the errno, so banner and `status` read alike whichever step met it.
fn with_volume_words(e: Error) -> Error {
    let (errno, what) = match &e {
        Error::Sys { errno, call, .. } => (Some(*errno as i32), format!("{call}: {errno}")),
        Error::Io { op, path, source } => (
            source.raw_os_error(),
            format!("{op} {}: {source}", path.display()),
        ),
        _ => (None, String::new()),
    };
    match errno.and_then(probe::Trouble::from_errno) {
        Some(t) => Error::Docker {
            msg: format!("{}: {what}", t.words()),
            hint: t.remedy().into(),
        },
        None => e,
    }
}

/// The loud explanation shown when Docker runs on a volume it cannot write
/// (full, read-only, failing): Docker is there, so the user can look and prune.
fn banner_limited(e: &Error) {
    let line = "=".repeat(72);
    eprintln!("dind-init: {line}");
    eprintln!("dind-init: DOCKER RUNS, BUT ITS VOLUME CANNOT BE WRITTEN; your command starts.");
    eprintln!("dind-init:   Listing, inspecting and removing images and containers work; pulls, builds and new containers may fail.");
    eprintln!("dind-init:   {e}");
    eprintln!("dind-init:   `dind-init doctor` shows every check with its remedy.");
    eprintln!("dind-init: {line}");
}

/// The loud explanation shown when the command starts without Docker.
fn banner(e: &Error) {
    let line = "=".repeat(72);
    eprintln!("dind-init: {line}");
    eprintln!("dind-init: DOCKER IS NOT AVAILABLE in this devpod; your command starts anyway.");
    eprintln!("dind-init:   {e}");
    eprintln!("dind-init:   `dind-init doctor` shows every check with its remedy.");
    eprintln!("dind-init:   Set DIND_REQUIRE_DOCKER=true to make this fatal instead.");
    eprintln!("dind-init: {line}");
}

/// The next driver to try when the smoke test fails with `d`, or None when
/// nothing slower would help.
pub fn fallback(d: Driver, fuse_usable: bool) -> Option<Driver> {
    match d {
        Driver::Overlay2 if fuse_usable => Some(Driver::FuseOverlayfs),
        Driver::Overlay2 | Driver::FuseOverlayfs => Some(Driver::Vfs),
        Driver::Overlayfs => Some(Driver::Native),
        Driver::Vfs | Driver::Native => None,
    }
}

/// Per API call of the smoke test: a twelfth of DIND_READY_TIMEOUT (5 s at the
/// default 60 s), never less. A slow node (emulated, overloaded) needs more, and
/// DIND_READY_TIMEOUT is the one setting users already raise for it.
pub fn smoke_step(ready_timeout: Duration) -> Duration {
    (ready_timeout / 12).max(Duration::from_secs(5))
}

/// The whole smoke test, on a thread while PID 1 keeps handling signals: a third
/// of DIND_READY_TIMEOUT (20 s at the default), never less; past this it counts
/// as failed (a hung daemon, not a storage verdict).
pub fn smoke_budget(ready_timeout: Duration) -> Duration {
    (ready_timeout / 3).max(Duration::from_secs(20))
}

/// The driver to restart dockerd with after the smoke test failed with `failure` on
/// `driver`, or None: keep the driver and report the failure as what it is. Only a
/// mount refusal may move on, and never away from a driver the user pinned (in any
/// of DIND_STORAGE_DRIVER, daemon.json, DOCKER_OPTS, DOCKER_DRIVER, DIND_DOCKERD_ARGS).
pub fn retry_driver(
    failure: SmokeFailure,
    driver: Option<Driver>,
    pinned: bool,
    fuse_usable: bool,
) -> Option<Driver> {
    if pinned || !failure.may_change_driver() {
        return None;
    }
    driver.and_then(|d| fallback(d, fuse_usable))
}

/// One start's attempts at Docker: the facts (probed once), the config as the
/// current attempt has it (a slower driver after a failed smoke test), and
/// what that attempt planned.
struct Attempt {
    facts: probe::Facts,
    cfg: Config,
    /// The user pinned the first plan's driver: it is never changed.
    pinned: bool,
    pumps: Vec<LogPump>,
    driver: Option<Driver>,
    data_root: PathBuf,
    deadline: Instant,
}

impl Attempt {
    /// Why the daemon `name` is not ready, from its last log lines.
    fn not_ready(&self, name: &str, r: Ready, services: &mut [Service]) -> Failed {
        let (root, pumps) = (&self.data_root, &self.pumps);
        not_ready(name, r, root, self.driver, services, pumps, &self.cfg)
    }
}

/// Probe, plan, apply, start the daemons, wait until they answer, smoke-test
/// storage; re-plan with a slower driver when the storage cannot mount (unless
/// the user pinned one). Started daemons go into `life.services` and the lock
/// into `life.lock` as soon as they exist, so the caller stops and unlocks them
/// on any outcome. Returns the Docker socket.
fn start_docker(
    life: &mut Life,
    cfg: &Config,
    user: &mut User,
) -> std::result::Result<PathBuf, Failed> {
    let mut a = Attempt {
        facts: probe::probe(cfg, &Roots::default()),
        cfg: cfg.clone(),
        pinned: false,
        pumps: Vec::new(),
        driver: None,
        data_root: PathBuf::new(),
        deadline: Instant::now(),
    };
    for attempt in 0..3 {
        let plan = plan::plan(&a.facts, &a.cfg).map_err(Failed::Broken)?;
        log_plan(&plan);
        if attempt == 0 {
            a.pinned = plan.pinned_by.is_some();
        }
        life.apply_plan(&plan, attempt == 0, user)?;
        a.driver = plan.driver;
        a.data_root = plan
            .data_root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/var/lib/docker"));
        life.record(Phase::Starting, &a, None);
        log_done(&plan, |act| matches!(act, Action::RecordState { .. }));
        a.deadline = Instant::now() + a.cfg.ready_timeout;
        let socket = life.start_daemons(&plan, &mut a)?;
        let e = match life.verify_storage(&plan, &socket, &a)? {
            None => return Ok(socket),
            Some(e) => e,
        };
        match retry_driver(e.failure, a.driver, a.pinned, a.facts.fuse_usable()) {
            Some(next) if attempt < 2 => {
                life.drop_dockerd_for(next, &e, &a)?;
                a.cfg.storage_driver = Some(next);
            }
            _ if matches!(e.failure, SmokeFailure::Volume(_)) => {
                return Err(limited(socket, a.driver, &a.data_root, e.into(), false))
            }
            _ => return Err(Failed::Broken(e.into())),
        }
    }
    Err(Failed::Broken(Error::Docker {
        msg: "no storage driver passed the smoke test".into(),
        hint: "run `dind-init doctor` and set DIND_DATA_ROOT to a directory on the pod's persistent volume".into(),
    }))
}

/// How far Docker got, for `dind-init status`: the socket and the timings once
/// it answered and its storage was tested.
struct Answered<'a> {
    socket: &'a Path,
    ready_ms: u64,
    smoke_ms: u64,
}

impl Life {
    /// Apply the plan's steps before the daemons: all of them the first time. On
    /// a retry the lock is still held, and the TLS files, the group and the
    /// cgroups are done; the .bak keeps the user's content, not dind-init's own
    /// first write.
    fn apply_plan(
        &mut self,
        plan: &Plan,
        first: bool,
        user: &mut User,
    ) -> std::result::Result<(), Failed> {
        if first {
            self.lock = Some(apply::apply(plan, &self.sys).map_err(Failed::Broken)?);
            join_docker_group(plan.docker_group.as_deref(), user, &self.sys);
            return Ok(());
        }
        let steps: Vec<_> = plan
            .steps
            .iter()
            .filter(|s| {
                !s.action.after_ready()
                    && !matches!(
                        s.action,
                        Action::Lock { .. }
                            | Action::Tls { .. }
                            | Action::JoinGroup { .. }
                            | Action::NestCgroup { .. }
                    )
            })
            .cloned()
            .collect();
        apply::apply_steps_with(&steps, &self.sys, false).map_err(Failed::Broken)?;
        Ok(())
    }

    /// Record `phase` of this attempt in the state file.
    fn record(&self, phase: Phase, a: &Attempt, answered: Option<Answered>) {
        State {
            phase,
            socket: answered
                .as_ref()
                .map(|x| x.socket.into())
                .unwrap_or_default(),
            driver: a.driver.map(|d| d.name().to_string()).unwrap_or_default(),
            data_root: a.data_root.clone(),
            smoke_ok: answered.is_some(),
            ready_ms: answered.as_ref().map_or(0, |x| x.ready_ms),
            smoke_ms: answered.as_ref().map_or(0, |x| x.smoke_ms),
            error: String::new(),
        }
        .save(&self.sys, &self.state_path);
    }

    /// Start the plan's containerd and dockerd in order, each watched until it
    /// answers. Returns dockerd's socket.
    fn start_daemons(
        &mut self,
        plan: &Plan,
        a: &mut Attempt,
    ) -> std::result::Result<PathBuf, Failed> {
        let mut socket = PathBuf::from("/var/run/docker.sock");
        for step in &plan.steps {
            match &step.action {
                Action::StartContainerd { argv, socket } => {
                    self.start_containerd(step, argv, socket, a)?
                }
                Action::StartDockerd { argv, socket: s } => {
                    socket = s.clone();
                    self.start_dockerd(step, argv, s, a)?;
                }
                _ => {}
            }
        }
        Ok(socket)
    }

    /// Start containerd (once: a retry keeps the one running) and wait for its socket.
    fn start_containerd(
        &mut self,
        step: &plan::Step,
        argv: &[String],
        socket: &Path,
        a: &mut Attempt,
    ) -> std::result::Result<(), Failed> {
        let running = |s: &Service| s.name == "containerd" && s.pid.is_some();
        if self.services.iter().any(running) {
            return Ok(());
        }
        let log = a.cfg.dockerd_log.as_deref();
        let svc = start_service(&mut self.init, "containerd", argv, log, &mut a.pumps, None)
            .map_err(Failed::Broken)?;
        let watch: Vec<Pid> = svc.pid.into_iter().collect();
        self.services.push(svc);
        apply::log_done(step);
        let r = self
            .init
            .wait_ready(&watch, a.deadline, POLL_CONTAINERD, || {
                dockerd::containerd_answers(socket)
            });
        if r != Ready::Ready {
            return Err(a.not_ready("containerd", r, &mut self.services));
        }
        info!(
            "containerd answers on {} ({} ms)",
            socket.display(),
            self.started.elapsed().as_millis()
        );
        Ok(())
    }

    /// Start dockerd and wait until it answers /_ping, watching every daemon.
    fn start_dockerd(
        &mut self,
        step: &plan::Step,
        argv: &[String],
        socket: &Path,
        a: &mut Attempt,
    ) -> std::result::Result<(), Failed> {
        let log = a.cfg.dockerd_log.as_deref();
        let pidfile = Some(a.facts.daemon.pidfile.as_path());
        let svc = start_service(&mut self.init, "dockerd", argv, log, &mut a.pumps, pidfile)
            .map_err(Failed::Broken)?;
        self.services.push(svc);
        apply::log_done(step);
        let watch: Vec<Pid> = self.services.iter().filter_map(|s| s.pid).collect();
        let mut ping_err = None;
        let mut probe = PingProbe::new(socket);
        let r = self
            .init
            .wait_ready(&watch, a.deadline, POLL, || match probe.poll() {
                Ok(ok) => ok,
                Err(e) => {
                    ping_err = Some(e);
                    true
                }
            });
        if let Some(e) = ping_err {
            return Err(Failed::Broken(e));
        }
        if r != Ready::Ready {
            return Err(a.not_ready("dockerd", r, &mut self.services));
        }
        Ok(())
    }

    /// Smoke-test the storage of the Docker answering on `socket`. On a pass,
    /// record it and run the plan's steps for after Docker answers; None. On a
    /// failure, the verdict (its volume trouble judged now).
    fn verify_storage(
        &mut self,
        plan: &Plan,
        socket: &Path,
        a: &Attempt,
    ) -> std::result::Result<Option<SmokeError>, Failed> {
        let ready_ms = self.started.elapsed().as_millis() as u64;
        info!("Docker answers on {} after {ready_ms} ms", socket.display());
        let (init, services) = (&mut self.init, &mut self.services);
        let report = match smoke_or_proof(
            init,
            socket,
            services,
            plan.smoke.as_ref(),
            a.cfg.ready_timeout,
        )? {
            Ok(report) => report,
            Err(e) => {
                let failure = e.failure.given(&dockerd::VolumeNow::of(&a.data_root));
                return Ok(Some(SmokeError { failure, ..e }));
            }
        };
        let smoke_ms = report.as_ref().map_or(0.0, |r| r.total_ms);
        if report.is_some() {
            info!(
                "storage works: a container root filesystem mounted with {} on {} (smoke test {smoke_ms:.0} ms)",
                a.driver.map(|d| d.name()).unwrap_or("the configured driver"),
                a.data_root.display(),
            );
        }
        let smoke_ms = smoke_ms as u64;
        let answered = Answered {
            socket,
            ready_ms,
            smoke_ms,
        };
        self.record(Phase::Ready, a, Some(answered));
        if let Err(e) = apply::after_ready(&plan.steps, &self.sys) {
            warn!("cannot record the storage proof or the versions (the next start tests and probes again): {e}");
        }
        let d = &a.facts.data_root;
        if let Some(error) = full_error(&plan.steps, &d.path, d.reserve) {
            return Err(limited(socket.into(), a.driver, &d.path, error, true));
        }
        Ok(None)
    }

    /// The smoke test failed with `e` on a driver that may change: stop dockerd
    /// so the next attempt starts it with `next`.
    fn drop_dockerd_for(
        &mut self,
        next: Driver,
        e: &SmokeError,
        a: &Attempt,
    ) -> std::result::Result<(), Failed> {
        warn!(
            "smoke test failed with {}: {}: {}; trying {} instead",
            a.driver.map(|d| d.name()).unwrap_or("?"),
            e.failure.words(),
            e.msg,
            next.name()
        );
        if let Some(pos) = self.services.iter().position(|s| s.name == "dockerd") {
            let mut d = self.services.remove(pos);
            if let Ready::Stopped(sig) = stop_one(&mut self.init, &mut d, a.cfg.stop_timeout) {
                self.services.push(d);
                return Err(Failed::Stopped(sig));
            }
        }
        Ok(())
    }
}

/// The smoke test, or none when the plan found a storage proof of exactly this
/// identity (issue 15: the verdict depends on nothing else); after a pass the
/// plan's [`Action::RecordProof`] step records it. Ok(None): proven before, not
/// tested now.
#[allow(clippy::type_complexity)]
fn smoke_or_proof(
    init: &mut Init,
    socket: &Path,
    services: &mut [Service],
    plan: Option<&SmokePlan>,
    ready_timeout: Duration,
) -> std::result::Result<std::result::Result<Option<dockerd::SmokeReport>, SmokeError>, Failed> {
    if let Some(SmokePlan::Skip { proof }) = plan {
        info!(
            "storage proven on this engine, driver, filesystem and kernel ({}): smoke test skipped",
            proof.display()
        );
        return Ok(Ok(None));
    }
    Ok(smoke(init, socket, services, ready_timeout)?.map(Some))
}

/// Docker answers on `socket`, but its volume is in trouble (`error` says which):
/// recorded as failed for readiness, with the socket, so `status` says Docker runs.
fn limited(
    socket: PathBuf,
    driver: Option<Driver>,
    data_root: &Path,
    error: Error,
    smoke_ok: bool,
) -> Failed {
    let state = State {
        phase: Phase::Degraded,
        socket,
        driver: driver.map(|d| d.name().to_string()).unwrap_or_default(),
        data_root: data_root.to_path_buf(),
        smoke_ok,
        error: error.to_string(),
        ..State::default()
    };
    Failed::Limited {
        state: Box::new(state),
        error,
    }
}

/// Run the smoke test on a thread while PID 1 keeps reaping and handling
/// signals, within limits from DIND_READY_TIMEOUT. Outer Err: stop or daemon
/// death (not a verdict on storage).
fn smoke(
    init: &mut Init,
    socket: &Path,
    services: &mut [Service],
    ready_timeout: Duration,
) -> std::result::Result<std::result::Result<dockerd::SmokeReport, SmokeError>, Failed> {
    let sock = socket.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("smoke-test".into())
        .stack_size(256 * 1024)
        .spawn(move || dockerd::smoke_test_typed(&sock, smoke_step(ready_timeout)))
        .map_err(|e| Failed::Broken(Error::io("start the smoke-test thread for", socket, e)))?;
    let watch: Vec<Pid> = services.iter().filter_map(|s| s.pid).collect();
    let budget = smoke_budget(ready_timeout);
    match init.wait_ready(&watch, Instant::now() + budget, POLL, || handle.is_finished()) {
        Ready::Ready => Ok(handle.join().unwrap_or_else(|_| {
            Err(SmokeError {
                failure: SmokeFailure::Other,
                msg: "the smoke test thread failed (report this as a bug)".into(),
            })
        })),
        Ready::Stopped(sig) => Err(Failed::Stopped(sig)),
        Ready::Exited { pid, code } => {
            let name = forget(services, pid);
            Err(Failed::Broken(
                SmokeError {
                    failure: SmokeFailure::DaemonDied,
                    msg: format!("{name} exited with {code} during the storage smoke test"),
                }
                .into(),
            ))
        }
        Ready::TimedOut => Err(Failed::Broken(
            SmokeError {
                failure: SmokeFailure::Timeout,
                msg: format!(
                    "the storage smoke test did not finish within {} s (Docker answers /_ping but not the image and container API)",
                    budget.as_secs()
                ),
            }
            .into(),
        )),
    }
}

/// A service that `wait_ready` reaped: the supervisor must not wait for it
/// again. Returns its name.
fn forget(services: &mut [Service], pid: Pid) -> String {
    match services.iter_mut().find(|s| s.pid == Some(pid)) {
        Some(s) => {
            s.pid = None;
            s.name.clone()
        }
        None => format!("process {pid}"),
    }
}

/// Stop one service now (used between smoke-test attempts). A stop signal
/// arriving meanwhile is returned, and the service keeps its pid until reaped.
fn stop_one(init: &mut Init, s: &mut Service, timeout: Duration) -> Ready {
    let Some(pid) = s.pid else {
        return Ready::Ready;
    };
    init.signal(pid, Signal::SIGTERM);
    let deadline = Instant::now() + timeout;
    let mut r = init.wait_ready(&[pid], deadline, Duration::from_secs(3600), || false);
    if r == Ready::TimedOut {
        init.signal(pid, Signal::SIGKILL);
        r = init.wait_ready(
            &[pid],
            Instant::now() + Duration::from_secs(5),
            Duration::from_secs(3600),
            || false,
        );
    }
    if let Ready::Exited { .. } = r {
        s.pid = None;
    }
    r
}

fn not_ready(
    name: &str,
    r: Ready,
    data_root: &Path,
    driver: Option<Driver>,
    services: &mut [Service],
    pumps: &[LogPump],
    cfg: &Config,
) -> Failed {
    // Whichever watched daemon died is the one to name and diagnose.
    let name = match r {
        Ready::Exited { pid, .. } => forget(services, pid),
        _ => name.to_string(),
    };
    let pump = pumps.iter().rev().find(|p| p.name() == name);
    if let (Some(p), Ready::Exited { .. }) = (pump, r) {
        // Let the pump read the dead daemon's last lines (a child of it may hold
        // the pipe open, so do not wait for EOF for long).
        let until = Instant::now() + Duration::from_millis(300);
        while !p.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let tail = pump.map(LogPump::tail).unwrap_or_default();
    let why = dockerd::diagnose(&tail, data_root, driver.map(|d| d.name()).unwrap_or(""))
        .unwrap_or_default();
    match r {
        Ready::Stopped(sig) => Failed::Stopped(sig),
        Ready::Exited { code, .. } => Failed::Broken(Error::Docker {
            msg: format!("{name} exited with {code} before it answered. {why}"),
            hint: "read the lines above; `dind-init doctor` checks storage, caps and cgroups"
                .into(),
        }),
        _ => Failed::Broken(Error::Docker {
            msg: format!(
                "{name} did not answer within DIND_READY_TIMEOUT={}s. {why}",
                cfg.ready_timeout.as_secs()
            ),
            hint: "raise DIND_READY_TIMEOUT or read its log lines above".into(),
        }),
    }
}

/// Start a daemon with its output pumped to the pod log (and DIND_DOCKERD_LOG),
/// restarted by the supervisor if it dies.
fn start_service(
    init: &mut Init,
    name: &str,
    argv: &[String],
    log: Option<&Path>,
    pumps: &mut Vec<LogPump>,
    pidfile: Option<&Path>,
) -> Result<Service> {
    let (pid, pump) = spawn_daemon(init, name, argv, log)?;
    pumps.extend(pump);
    let name_s = name.to_string();
    let argv_s = argv.to_vec();
    let log_s = log.map(Path::to_path_buf);
    let pidfile = pidfile.map(Path::to_path_buf);
    let restart: Restart = Box::new(move |init: &mut Init| {
        // A killed dockerd leaves its pidfile; in a pod its pid is soon reused, and
        // dockerd refuses to start over a pidfile whose pid is alive.
        if let Some(p) = &pidfile {
            if let Ok(Some(true)) = dockerd::pidfile_is_stale(p, Path::new("/proc"), &[&name_s]) {
                if let Err(e) = LinuxSyscall.remove_file(p) {
                    warn!("cannot remove stale {}: {e}", p.display());
                }
            }
        }
        let (pid, _pump) = spawn_daemon(init, &name_s, &argv_s, log_s.as_deref())?;
        Ok(pid)
    });
    Ok(Service::new(name, pid, Some(restart)))
}

fn spawn_daemon(
    init: &mut Init,
    name: &str,
    argv: &[String],
    log: Option<&Path>,
) -> Result<(Pid, Option<LogPump>)> {
    let mut spec = Spawn::new(argv.iter().map(OsString::from));
    spec.output = Output::Pipe;
    let (pid, fd) = init.spawn(&spec)?;
    let pump = match fd {
        Some(fd) => Some(LogPump::start(name, std::fs::File::from(fd), log)?),
        None => None,
    };
    info!("started {name} (pid {pid}): {}", argv.join(" "));
    Ok((pid, pump))
}

fn log_plan(plan: &Plan) {
    for line in plan.render().lines() {
        info!("plan: {line}");
    }
    for w in &plan.warnings {
        warn!("{w}");
    }
}

/// Log the plan's steps matching `which` as done by the session itself.
fn log_done(plan: &Plan, which: impl Fn(&Action) -> bool) {
    for step in plan.steps.iter().filter(|s| which(&s.action)) {
        apply::log_done(step);
    }
}

/// Give the devpod user, for its session, the group the plan gives the socket
/// to (apply added it to /etc/group, [`Action::JoinGroup`]).
fn join_docker_group(group: Option<&str>, user: &mut User, sys: &dyn Syscall) {
    let Some(group) = group else { return };
    let bytes = match sys.read_file(Path::new("/etc/group")) {
        Ok(b) => b.unwrap_or_default(),
        Err(e) => {
            warn!("cannot read /etc/group for the {group} group: {e}");
            return;
        }
    };
    if let Some(gid) = crate::user::group_gid(&bytes, group) {
        if !user.groups.contains(&gid) {
            user.groups.push(gid);
        }
    }
}

/// Whether `steps` release the reserve: Docker then runs on a full volume.
pub(crate) fn released(steps: &[plan::Step]) -> Option<PathBuf> {
    steps.iter().find_map(|s| match &s.action {
        Action::ReleaseReserve { path } => path.parent().map(Path::to_path_buf),
        _ => None,
    })
}

/// The volume this start found full, as the error banner and `status` show
/// once Docker runs: the reserve released now, or already gone (a start before
/// the user freed space). None when the volume has room, or the plan did not
/// consider the reserve (it locks the data root whenever it does).
pub(crate) fn full_error(
    steps: &[plan::Step],
    data_root: &Path,
    r: reserve::Reserve,
) -> Option<crate::Error> {
    let now = released(steps).is_some();
    let locked = steps
        .iter()
        .any(|s| matches!(&s.action, Action::Lock { path } if path.parent() == Some(data_root)));
    let gone_before = locked && reserve::decide(r, true) == reserve::Decision::FullWithout;
    if !(now || gone_before) {
        return None;
    }
    let t = probe::Trouble::VolumeFull;
    let how = if now {
        format!(
            "before dind-init released its {} reserve there so that dockerd could start",
            reserve::size_words(reserve::SIZE)
        )
    } else {
        "and dind-init's reserve there was released at an earlier start".into()
    };
    Some(crate::Error::Docker {
        msg: format!(
            "{}: {} free on the volume holding {} {how}",
            t.words(),
            reserve::size_words(r.free.unwrap_or(0)),
            data_root.display()
        ),
        hint: t.remedy_with_docker().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoke test's limits follow DIND_READY_TIMEOUT (a slow node raises the
    /// one setting), and never drop below the defaults' 5 s per call, 20 s in all.
    #[test]
    fn smoke_limits_follow_the_ready_timeout() {
        let s = Duration::from_secs;
        // (DIND_READY_TIMEOUT, per API call, whole test)
        let rows = [
            (s(60), s(5), s(20)),
            (s(240), s(20), s(80)),
            (s(150), Duration::from_millis(12_500), s(50)),
            (s(5), s(5), s(20)),
            (s(0), s(5), s(20)),
        ];
        for (ready, step, budget) in rows {
            assert_eq!(smoke_step(ready), step, "step for {ready:?}");
            assert_eq!(smoke_budget(ready), budget, "budget for {ready:?}");
        }
    }

    /// A smoke test that hit the full volume while Docker answers (64 KiB free,
    /// issue 10): recorded with the socket, so `status` says Docker runs and what
    /// frees space with Docker, not "could not be started".
    #[test]
    fn docker_answering_on_a_full_volume_is_recorded_as_running() {
        let e: Error = SmokeError {
            failure: SmokeFailure::Volume(probe::Trouble::VolumeFull),
            msg: "smoke test step \"create container\" failed: no space left on device".into(),
        }
        .into();
        let Failed::Limited { state, error } = limited(
            "/var/run/docker.sock".into(),
            Some(Driver::Overlay2),
            Path::new("/home/coder/.docker-data"),
            e,
            false,
        ) else {
            panic!("not Limited")
        };
        assert_eq!(state.phase, Phase::Degraded);
        assert_eq!(state.driver, "overlay2");
        assert_eq!(state.error, error.to_string());
        let (code, line) = crate::doctor::status_of(Some(&state), false, |_| true);
        assert_eq!(code, 1);
        assert!(
            line.starts_with("not ready: Docker runs on /var/run/docker.sock"),
            "{line}"
        );
        assert!(
            line.contains("volume full") && line.contains("docker system df"),
            "{line}"
        );
    }

    #[test]
    fn fallback_goes_slower_and_ends() {
        assert_eq!(
            fallback(Driver::Overlay2, true),
            Some(Driver::FuseOverlayfs)
        );
        assert_eq!(fallback(Driver::Overlay2, false), Some(Driver::Vfs));
        assert_eq!(fallback(Driver::FuseOverlayfs, true), Some(Driver::Vfs));
        assert_eq!(fallback(Driver::Overlayfs, true), Some(Driver::Native));
        assert_eq!(fallback(Driver::Vfs, true), None);
        assert_eq!(fallback(Driver::Native, true), None);
    }

    #[test]
    fn only_a_mount_refusal_of_an_unpinned_driver_moves_to_the_next_driver() {
        use crate::probe::Trouble;
        use SmokeFailure::*;
        let o2 = Some(Driver::Overlay2);
        // (failure, driver, pinned, fuse usable, the driver to restart with)
        let rows = [
            (Volume(Trouble::VolumeFull), o2, false, true, None),
            (Volume(Trouble::ReadOnly), o2, false, true, None),
            (Volume(Trouble::Io), o2, false, true, None),
            (Timeout, o2, false, true, None),
            (ConnectionLost, o2, false, true, None),
            (DaemonDied, o2, false, true, None),
            (Api { status: 500 }, o2, false, true, None),
            (Other, o2, false, true, None),
            (MountRefused, o2, false, true, Some(Driver::FuseOverlayfs)),
            (MountRefused, o2, false, false, Some(Driver::Vfs)),
            (
                MountRefused,
                Some(Driver::Overlayfs),
                false,
                true,
                Some(Driver::Native),
            ),
            (MountRefused, Some(Driver::Vfs), false, true, None),
            (MountRefused, o2, true, true, None),
            (MountRefused, None, false, true, None),
        ];
        for (failure, driver, pinned, fuse, want) in rows {
            assert_eq!(
                retry_driver(failure, driver, pinned, fuse),
                want,
                "{failure:?} on {driver:?}, pinned {pinned}, fuse {fuse}"
            );
        }
    }

    #[test]
    fn a_start_stopped_by_the_volume_says_so() {
        use nix::errno::Errno;
        let lock = |errno| Error::Sys {
            call: "flock --exclusive /home/coder/.docker-data/.dind-init.lock: write holder".into(),
            errno,
            hint: "check the volume".into(),
        };
        let rows = [
            (lock(Errno::ENOSPC), Some("volume full: ")),
            (lock(Errno::EROFS), Some("read-only volume: ")),
            (
                Error::io(
                    "create",
                    "/home/coder/.docker-data",
                    std::io::Error::from_raw_os_error(libc::EIO),
                ),
                Some("I/O error on the volume: "),
            ),
            (lock(Errno::EACCES), None),
        ];
        for (e, words) in rows {
            let before = e.to_string();
            let after = with_volume_words(e).to_string();
            match words {
                Some(w) => {
                    let what = before.split(" — fix: ").next().unwrap();
                    assert!(after.starts_with(&format!("{w}{what} — fix: ")), "{after}");
                    assert_eq!(after.matches(" — fix: ").count(), 1, "{after}");
                }
                None => assert_eq!(after, before),
            }
        }
    }

    #[test]
    fn default_sockets_need_no_docker_host() {
        assert!(is_default_socket(Path::new("/var/run/docker.sock")));
        assert!(is_default_socket(Path::new("/run/docker.sock")));
        assert!(!is_default_socket(Path::new("/tmp/x/docker.sock")));
    }
}
