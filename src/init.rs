//! The init core: signals, reaping, spawning, ordered shutdown.
//!
//! Modelled on catatonit: every signal but the kernel's fault signals is
//! blocked and read from a signalfd, so idle means blocked in `poll(2)` on one
//! fd; children get the original mask back before exec; once the command runs,
//! PID 1 never bails on its own errors, it logs and goes on. Unlike tini, the
//! command's leftovers are ended (TERM, then KILL at the deadline) so a
//! subreaper never leaves orphans behind, and long-running services
//! (containerd, dockerd) are restarted when they die and stopped in reverse
//! start order after the command.

use crate::error::{Error, Result};
use crate::user::User;
use log::{debug, info, warn};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The signals the kernel sends for faults in our own code; blocking them would
/// hide crashes, so they keep their default action (as in catatonit).
const FAULT_SIGNALS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// Mark every descriptor ≥ 3 close-on-exec, so whatever the runtime leaked
/// into PID 1 (a sync pipe, a host socket) never reaches the command or the
/// daemons, where it would hold pipes open or pin host resources for the pod's
/// life. Marked rather than closed as catatonit does: an fd ≥ 3 may already be
/// owned by something in this process, and closing it under its owner breaks
/// Rust's I/O safety; our own descriptors are opened close-on-exec anyway. No
/// exception for socket activation (`LISTEN_FDS`): Kubernetes passes no
/// descriptors to a pod, and the command could not use them (LISTEN_PID names
/// us, not it).
fn cloexec_inherited_fds() {
    // SAFETY: close_range(2) takes plain integers; with CLOSE_RANGE_CLOEXEC it
    // only sets a flag in our descriptor table and closes nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Before Linux 5.11: one fcntl per open descriptor.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        warn!("cannot list /proc/self/fd; descriptors leaked into dind-init may reach the command");
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD takes plain integers and only sets the fd's flag; the
        // listing's own fd is closed by now and gives a harmless EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// True for a job-control stop the terminal itself sent (`SI_KERNEL`): Ctrl-Z
/// while PID 1's group holds the terminal, or background terminal I/O by a
/// process in PID 1's group. It is about PID 1's group, so passing it on would
/// stop the command with nobody left to resume it (catatonit drops these too;
/// tini drops SIGTTIN/SIGTTOU). A user's `kill -TSTP 1` (`SI_USER`) is still
/// forwarded. PID 1 itself never stops either way: the three stay blocked and
/// read from the signalfd, which the kernel also counts as ignored for terminal
/// I/O, so PID 1's own log writes and `tcsetpgrp` raise no SIGTTOU. Not
/// `SIG_IGN`: that would survive exec into the command and the daemons and
/// break their job control, and hide a user's explicit stop.
fn is_terminal_stop(sig: Signal, code: i32) -> bool {
    matches!(sig, Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) && code == libc::SI_KERNEL
}

/// Something that happened while we were waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A signal other than SIGCHLD arrived.
    Signal(Signal),
    /// A real-time signal (SIGRTMIN..SIGRTMAX, e.g. systemd's RTMIN+3 stop
    /// signal); nix's `Signal` cannot name these, so the raw number is kept.
    RealTime(i32),
    /// A child was reaped; `code` is its exit code, or 128+N when killed by signal N.
    Exit {
        /// The reaped child.
        pid: Pid,
        /// Shell-style exit code.
        code: i32,
    },
}

/// Where a spawned process's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Same as ours (the pod log).
    Inherit,
    /// Both into one pipe whose read end [`Init::spawn`] returns (for a log pump).
    Pipe,
}

/// How to start a process.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// Program and arguments; the program is looked up on PATH.
    pub argv: Vec<OsString>,
    /// argv[0] as the program sees it (e.g. "-bash" for a login shell).
    pub arg0: Option<OsString>,
    /// Variables to set (on top of our environment).
    pub env: Vec<(String, String)>,
    /// Switch to this user (uid, gid, supplementary groups) before exec.
    pub user: Option<User>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Give the child its own process group and, when stdin is a terminal, make
    /// it the terminal's foreground group (so job control and Ctrl-C work).
    pub foreground: bool,
    /// Where output goes.
    pub output: Output,
}

impl Spawn {
    /// A plain spawn of `argv` with inherited output.
    pub fn new<I, S>(argv: I) -> Spawn
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spawn {
            argv: argv.into_iter().map(Into::into).collect(),
            arg0: None,
            env: Vec::new(),
            user: None,
            cwd: None,
            foreground: false,
            output: Output::Inherit,
        }
    }
}

/// PID 1 state: the signalfd, the mask to give back to children, what we are.
pub struct Init {
    sfd: SignalFd,
    orig_mask: SigSet,
    pid1: bool,
    me: Pid,
    no_children: bool,
    leftover_grace: Duration,
    /// Called once when a stop (SIGTERM) begins, so `status` can say so.
    on_stop: Option<Box<dyn FnMut()>>,
}

impl Init {
    /// Block every catchable signal, open the signalfd, keep inherited
    /// descriptors from our children, and become a child subreaper when we are
    /// not PID 1 (so orphans are still ours to reap).
    pub fn setup() -> Result<Init> {
        let mut mask = SigSet::all();
        for s in FAULT_SIGNALS {
            mask.remove(s);
        }
        let mut orig_mask = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut orig_mask))
            .map_err(|e| Error::sys("sigprocmask SIG_BLOCK all", e, "report this as a bug"))?;
        let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| {
                Error::sys(
                    "signalfd",
                    e,
                    "the kernel must support signalfd (Linux ≥ 2.6.27)",
                )
            })?;
        cloexec_inherited_fds();
        let me = nix::unistd::getpid();
        let pid1 = me.as_raw() == 1;
        if !pid1 {
            if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
                warn!("cannot become a child subreaper ({e}); orphaned processes will not be reaped by dind-init — run it as the container's ENTRYPOINT (PID 1)");
            }
        }
        Ok(Init {
            sfd,
            orig_mask,
            pid1,
            me,
            no_children: true,
            leftover_grace: DEFAULT_LEFTOVER_GRACE,
            on_stop: None,
        })
    }

    /// How long the leftovers of a command that exited on its own get between
    /// SIGTERM and SIGKILL (`DIND_LEFTOVER_GRACE`).
    pub fn set_leftover_grace(&mut self, grace: Duration) {
        self.leftover_grace = grace;
    }

    /// Run `f` once when the pod's stop (SIGTERM) begins.
    pub fn on_stop(&mut self, f: Box<dyn FnMut()>) {
        self.on_stop = Some(f);
    }

    /// True when we are PID 1 of our pid namespace.
    pub fn is_pid1(&self) -> bool {
        self.pid1
    }

    /// Start a process with the original signal mask, optionally as another user
    /// and in the terminal's foreground. Exec failures come back as
    /// [`Error::Exec`] (127 not found, 126 not executable).
    pub fn spawn(&mut self, spec: &Spawn) -> Result<(Pid, Option<OwnedFd>)> {
        let Some(program) = spec.argv.first() else {
            return Err(Error::Usage("no command to run".into()));
        };
        let mut cmd = Command::new(program);
        cmd.args(&spec.argv[1..]);
        if let Some(a0) = &spec.arg0 {
            cmd.arg0(a0);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let mut read_end = None;
        if spec.output == Output::Pipe {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Error::sys("pipe2", e, "raise the open-files limit"))?;
            let w2 = w.try_clone().map_err(|e| Error::io("dup", "pipe", e))?;
            cmd.stdout(Stdio::from(w)).stderr(Stdio::from(w2));
            read_end = Some(r);
        }
        let mask = self.orig_mask;
        let foreground = spec.foreground;
        let tty = foreground && nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
        let ids = spec.user.as_ref().and_then(|u| {
            let same = u.uid == Uid::effective().as_raw() && u.gid == Gid::effective().as_raw();
            (!same).then(|| {
                let groups: Vec<Gid> = u.groups.iter().map(|g| Gid::from_raw(*g)).collect();
                (Uid::from_raw(u.uid), Gid::from_raw(u.gid), groups)
            })
        });
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe syscalls (sigprocmask, setpgid, tcsetpgrp, setgroups,
        // setgid, setuid) on data prepared before the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let all = SigSet::all();
                sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)?;
                if foreground {
                    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                    if tty {
                        // SIGTTOU is blocked here, so a background group may take the terminal.
                        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
                    }
                }
                if let Some((uid, gid, groups)) = &ids {
                    nix::unistd::setgroups(groups)?;
                    nix::unistd::setgid(*gid)?;
                    nix::unistd::setuid(*uid)?;
                }
                sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), None)?;
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| Error::Exec {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
        let pid = Pid::from_raw(child.id() as i32);
        // We reap with waitpid(-1); dropping the handle does not wait.
        drop(child);
        if foreground {
            // Also from the parent, so the group exists before we forward signals.
            let _ = nix::unistd::setpgid(pid, pid);
        }
        self.no_children = false;
        Ok((pid, read_end))
    }

    /// Send a real-time signal by number (nix's `Signal` cannot name them).
    pub fn signal_raw(&self, pid: Pid, signo: i32) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        if unsafe { libc::kill(pid.as_raw(), signo) } != 0 {
            let e = Errno::last();
            if e != Errno::ESRCH {
                warn!("kill({pid}, {signo}): {e}");
            }
        }
    }

    /// Send `sig` to `pid`; false when the process is already gone (and reaped).
    pub fn signal(&self, pid: Pid, sig: Signal) -> bool {
        match kill(pid, sig) {
            Ok(()) => true,
            Err(Errno::ESRCH) => false,
            Err(e) => {
                warn!("kill({pid}, {sig}): {e}");
                true
            }
        }
    }

    /// Block until a signal arrives or `timeout` passes (None: forever), then,
    /// on SIGCHLD, reap every exited child. Never fails: errors are logged and we go on.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Vec<Event> {
        let mut events = Vec::new();
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => {
                // Round up so a 0.3 ms wait does not become a busy 0 ms poll.
                let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, t) {
            Ok(0) => return events,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => warn!("poll(signalfd): {e}"),
        }
        // Only SIGCHLD can mean a child to reap: a forwarded signal costs no wait4.
        if self.read_signals(&mut events) {
            self.reap(&mut events);
        }
        events
    }

    /// Read every pending signal, up to 16 per read(2) so one call usually
    /// drains them (a short read means nothing more was pending); true when
    /// SIGCHLD was among them.
    fn read_signals(&mut self, events: &mut Vec<Event>) -> bool {
        const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
        let mut buf = [0u8; SIZE * 16];
        let mut chld = false;
        loop {
            let n = match nix::unistd::read(&self.sfd, &mut buf) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    warn!("read(signalfd): {e}");
                    break;
                }
            };
            // signalfd_siginfo starts with ssi_signo (u32), ssi_errno, ssi_code (i32).
            for info in buf[..n].chunks_exact(SIZE) {
                let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32;
                let code = i32::from_ne_bytes([info[8], info[9], info[10], info[11]]);
                match Signal::try_from(signo) {
                    Ok(Signal::SIGCHLD) => chld = true,
                    Ok(sig) if is_terminal_stop(sig, code) => {
                        debug!("ignoring {sig} from the terminal: it is meant for PID 1's own process group");
                    }
                    Ok(sig) => events.push(Event::Signal(sig)),
                    Err(_) => events.push(Event::RealTime(signo)),
                }
            }
            if n < buf.len() {
                break;
            }
        }
        chld
    }

    /// Collect every exited child without blocking.
    fn reap(&mut self, events: &mut Vec<Event>) {
        loop {
            match waitpid(
                None::<Pid>,
                Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
            ) {
                Ok(WaitStatus::Exited(pid, code)) => events.push(Event::Exit { pid, code }),
                Ok(WaitStatus::Signaled(pid, sig, _)) => events.push(Event::Exit {
                    pid,
                    code: 128 + sig as i32,
                }),
                Ok(WaitStatus::StillAlive) => {
                    self.no_children = false;
                    return;
                }
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => {
                    self.no_children = true;
                    return;
                }
                Err(e) => {
                    warn!("waitpid: {e}");
                    return;
                }
            }
        }
    }

    /// Wait until `ready()` is true, polling it every `every`, while reaping.
    /// Stops early when a watched pid exits, a stop signal arrives, or at `deadline`.
    pub fn wait_ready(
        &mut self,
        watch: &[Pid],
        deadline: Instant,
        every: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Ready {
        loop {
            if ready() {
                return Ready::Ready;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ready::TimedOut;
            }
            for ev in self.wait(Some(every.min(deadline - now))) {
                match ev {
                    Event::Exit { pid, code } if watch.contains(&pid) => {
                        return Ready::Exited { pid, code }
                    }
                    Event::Signal(s) if is_stop_signal(s) => return Ready::Stopped(s),
                    Event::Signal(s) => debug!("{s} while starting; ignored"),
                    Event::RealTime(n) => debug!("signal {n} while starting; ignored"),
                    Event::Exit { .. } => {}
                }
            }
        }
    }

    /// Every live descendant of ours, from /proc (children before grandchildren).
    fn descendants(&self) -> Vec<Pid> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut parent_of = Vec::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // comm may hold spaces and parens: the fields after the last ')' are safe.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let mut f = rest.split_whitespace();
            let state = f.next().unwrap_or("");
            let ppid = f.next().and_then(|p| p.parse::<i32>().ok()).unwrap_or(0);
            if state != "Z" {
                parent_of.push((pid, ppid));
            }
        }
        let mut out = vec![self.me.as_raw()];
        let mut i = 0;
        while i < out.len() {
            let p = out[i];
            out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        out.into_iter().skip(1).map(Pid::from_raw).collect()
    }

    /// Signal every process left behind: the whole namespace when we are PID 1,
    /// else every descendant found in /proc.
    fn signal_leftovers(&self, sig: Signal) -> usize {
        if self.pid1 {
            match kill(Pid::from_raw(-1), sig) {
                Ok(()) => 1,
                Err(Errno::ESRCH) => 0,
                Err(e) => {
                    warn!("kill(-1, {sig}): {e}");
                    0
                }
            }
        } else {
            let pids = self.descendants();
            for p in &pids {
                self.signal(*p, sig);
            }
            pids.len()
        }
    }
}

/// Outcome of [`Init::wait_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// The check passed.
    Ready,
    /// A watched process exited first.
    Exited {
        /// Which one.
        pid: Pid,
        /// Its exit code.
        code: i32,
    },
    /// We were asked to stop.
    Stopped(Signal),
    /// The deadline passed.
    TimedOut,
}

/// Signals that mean "the container is being stopped".
pub fn is_stop_signal(s: Signal) -> bool {
    matches!(s, Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT)
}

/// `DIND_LEFTOVER_GRACE`'s default, for an [`Init`] not told otherwise.
const DEFAULT_LEFTOVER_GRACE: Duration = Duration::from_secs(2);

/// After the final SIGKILL, how long PID 1 still waits for the exits before it
/// gives up (a process in D state on a hung mount never dies).
pub const GIVE_UP: Duration = Duration::from_secs(2);

/// When the next service to stop (the last started one still running and not
/// yet killed) gets SIGKILL: before the deadline `d` by a reserve for each
/// service that still has to stop after it, so containerd gets time after dockerd.
fn next_kill_at(services: &[Service], d: Instant, stop_timeout: Duration) -> Option<Instant> {
    let to_stop = services
        .iter()
        .filter(|s| s.pid.is_some() && !s.kill_sent)
        .count();
    let after_it = to_stop.checked_sub(1)? as u32;
    let reserve = (stop_timeout / 10).min(Duration::from_secs(2));
    Some(d.checked_sub(reserve * after_it).unwrap_or(d))
}

/// Starts a service again after it died; returns its new pid.
pub type Restart = Box<dyn FnMut(&mut Init) -> Result<Pid>>;

/// A long-running process (containerd, dockerd) that lives as long as the session.
pub struct Service {
    /// Name for logs.
    pub name: String,
    /// Current pid, None while down.
    pub pid: Option<Pid>,
    /// How to start it again after it died; None: never restarted.
    pub restart: Option<Restart>,
    restarts: u32,
    next_restart: Option<Instant>,
    up_since: Instant,
    term_sent: bool,
    kill_sent: bool,
}

/// A service that ran this long before dying starts its backoff afresh: crashes
/// days apart should not each wait the maximum.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);

impl Service {
    /// A running service.
    pub fn new(name: impl Into<String>, pid: Pid, restart: Option<Restart>) -> Service {
        Service {
            name: name.into(),
            pid: Some(pid),
            restart,
            restarts: 0,
            next_restart: None,
            up_since: Instant::now(),
            term_sent: false,
            kill_sent: false,
        }
    }
}

/// Restart delay after the n-th death in a row: at once, then 1 s, 2 s, 4 s …
/// capped at 30 s (a devpod user should not wait for a one-off crash).
pub fn backoff(n: u32) -> Duration {
    match n {
        0 => Duration::ZERO,
        n => Duration::from_secs(1u64 << (n - 1).min(5)).min(Duration::from_secs(30)),
    }
}

/// Delay before restarting a service that died after running `up_for`,
/// `restarts` times before: the backoff restarts from 1 s after a stable run.
pub fn restart_delay(restarts: &mut u32, up_for: Duration) -> Duration {
    if up_for >= STABLE_AFTER {
        *restarts = 0;
    }
    backoff(*restarts)
}

/// Run the session until the command ends (or the pod is stopped), then stop
/// the services in reverse order and end every leftover; returns the command's
/// exit code. `main` None means there is no command (a failed start): only the
/// shutdown runs and `code` is returned.
pub fn supervise(
    init: &mut Init,
    main: Option<Pid>,
    services: &mut [Service],
    stop_timeout: Duration,
    code: i32,
) -> i32 {
    supervise_until(init, main, services, stop_timeout, code, false)
}

/// Sidecar mode: no command; keep the services running (restarting a daemon
/// that dies) until a stop signal, then stop them in reverse order like
/// [`supervise`]. Returns 0 after a clean stop.
pub fn serve(init: &mut Init, services: &mut [Service], stop_timeout: Duration) -> i32 {
    supervise_until(init, None, services, stop_timeout, 0, true)
}

/// [`supervise`]; `wait_for_stop` keeps the services running without a command
/// until a stop signal.
fn supervise_until(
    init: &mut Init,
    main: Option<Pid>,
    services: &mut [Service],
    stop_timeout: Duration,
    code: i32,
    wait_for_stop: bool,
) -> i32 {
    let mut sv = Supervisor {
        main,
        main_killed: false,
        code,
        stop_timeout,
        leftover_grace: init.leftover_grace,
        stop: None,
    };
    if main.is_none() && !wait_for_stop {
        sv.begin_stop(true, !services.is_empty());
    }
    loop {
        let wake = match sv.advance(init, services) {
            Next::Done => break,
            Next::Wait(at) => at,
        };
        let timeout = wake.map(|w| w.saturating_duration_since(Instant::now()));
        for ev in init.wait(timeout) {
            sv.on_event(init, services, ev);
        }
    }
    // Flush what dockerd and containers wrote before the pod's volume goes away;
    // a plain init has nothing of its own to flush (and sync costs ~0.4 ms).
    if !services.is_empty() {
        nix::unistd::sync();
    }
    sv.code
}

/// What [`supervise`] does next.
enum Next {
    /// Wait for an event, or until this time (None: for ever).
    Wait(Option<Instant>),
    /// Every process is gone, or given up on.
    Done,
}

/// The supervised session: the command and, once it has begun, the ordered stop.
struct Supervisor {
    /// The command, until it is reaped.
    main: Option<Pid>,
    /// The command has had SIGKILL: it runs no more code (even when it is stuck
    /// in the kernel and never exits), so the stop goes on without it.
    main_killed: bool,
    /// The exit code to return.
    code: i32,
    stop_timeout: Duration,
    leftover_grace: Duration,
    stop: Option<Stop>,
}

/// The ordered stop, once begun.
struct Stop {
    /// When everything still running has had SIGKILL.
    deadline: Instant,
    /// When the command gets SIGKILL if it has not exited by then.
    main_kill_at: Option<Instant>,
    /// Set when the command exited on its own: its leftovers get only this long
    /// after SIGTERM (nobody asked to stop, so nobody waits for them).
    leftover_grace: Option<Duration>,
    leftovers: Leftovers,
}

/// How far the ending of the leftovers got.
#[derive(Clone, Copy)]
enum Leftovers {
    Untouched,
    Termed { kill_at: Instant },
    Killed { give_up_at: Instant },
}

impl Supervisor {
    /// Begin the ordered stop: on a stop request the command gets its share of
    /// the budget; after it exited on its own, the leftovers get the short grace.
    fn begin_stop(&mut self, requested: bool, has_services: bool) {
        let now = Instant::now();
        self.stop = Some(Stop {
            deadline: now + self.stop_timeout,
            main_kill_at: requested
                .then(|| now + crate::config::command_share(self.stop_timeout, has_services)),
            leftover_grace: (!requested).then_some(self.leftover_grace),
            leftovers: Leftovers::Untouched,
        });
    }

    /// Forward signals to the command, start the stop on SIGTERM or when the
    /// command exits, and note the services' exits.
    fn on_event(&mut self, init: &mut Init, services: &mut [Service], ev: Event) {
        match ev {
            Event::RealTime(n) => {
                if let Some(m) = self.main {
                    init.signal_raw(m, n);
                }
            }
            Event::Signal(sig) => {
                if let Some(m) = self.main {
                    init.signal(m, sig);
                }
                if sig == Signal::SIGTERM && self.stop.is_none() {
                    if let Some(mut f) = init.on_stop.take() {
                        f();
                    }
                    if !services.is_empty() {
                        info!(
                            "SIGTERM: stopping the command, then Docker, within {}s",
                            self.stop_timeout.as_secs()
                        );
                    }
                    self.begin_stop(true, !services.is_empty());
                }
            }
            Event::Exit { pid, code } if Some(pid) == self.main => {
                self.main = None;
                self.code = code;
                debug!("command exited with {code}");
                if self.stop.is_none() {
                    self.begin_stop(false, !services.is_empty());
                }
            }
            Event::Exit { pid, code } => service_exited(services, pid, code, self.stop.is_some()),
        }
    }

    /// Do what is due now: restarts while running; once stopping, the next step
    /// of command → services → leftovers. Returns when to look again.
    fn advance(&mut self, init: &mut Init, services: &mut [Service]) -> Next {
        let Some(stop) = self.stop.as_mut() else {
            return Next::Wait(restart_due(init, services));
        };
        let now = Instant::now();
        if let (Some(m), false) = (self.main, self.main_killed) {
            if let Some(t) = stop.main_kill_at.filter(|t| now < *t) {
                return Next::Wait(Some(t));
            }
            warn!("the command did not exit after SIGTERM; killing it so Docker can stop in time");
            init.signal(m, Signal::SIGKILL);
            self.main_killed = true;
            // Its exit, if it ever comes, replaces this.
            self.code = 128 + Signal::SIGKILL as i32;
        }
        if let Some(t) = stop_services(init, services, stop.deadline, self.stop_timeout, now) {
            return Next::Wait(Some(t));
        }
        stop.end_leftovers(init, now)
    }
}

impl Stop {
    /// End whatever is left: SIGTERM, SIGKILL at the kill time, then wait for the
    /// exits but give up after [`GIVE_UP`] (a process stuck in the kernel never dies).
    fn end_leftovers(&mut self, init: &Init, now: Instant) -> Next {
        // Every descendant goes through a child of ours, so no child means no leftover.
        if init.no_children {
            return Next::Done;
        }
        if let Leftovers::Untouched = self.leftovers {
            let n = init.signal_leftovers(Signal::SIGTERM);
            debug!("sent SIGTERM to {n} leftover process(es)");
            let kill_at = leftover_kill_at(now, self.deadline, self.leftover_grace);
            self.leftovers = Leftovers::Termed { kill_at };
        }
        if let Leftovers::Termed { kill_at } = self.leftovers {
            if now < kill_at {
                return Next::Wait(Some(kill_at));
            }
            let setting = match self.leftover_grace {
                Some(_) => "DIND_LEFTOVER_GRACE",
                None => "DIND_STOP_TIMEOUT",
            };
            warn!("processes left behind did not exit on SIGTERM within {setting}; killing them");
            init.signal_leftovers(Signal::SIGKILL);
            self.leftovers = Leftovers::Killed {
                give_up_at: now + GIVE_UP,
            };
        }
        if let Leftovers::Killed { give_up_at } = self.leftovers {
            if now < give_up_at {
                return Next::Wait(Some(give_up_at));
            }
        }
        warn!("some processes did not die even after SIGKILL (stuck in the kernel, e.g. on a hung mount); exiting anyway");
        Next::Done
    }
}

/// When leftovers that got SIGTERM at `now` get SIGKILL: at the stop deadline
/// on a stop request (`grace` None), else after the grace, but never later.
fn leftover_kill_at(now: Instant, deadline: Instant, grace: Option<Duration>) -> Instant {
    grace.map_or(deadline, |g| (now + g).min(deadline))
}

/// Stop the services, last started first: SIGTERM, then SIGKILL at its kill
/// time. A service that had SIGKILL runs no more code, so the next one is
/// stopped without waiting for its exit. Returns when to look again, or None
/// once every service is down or killed.
fn stop_services(
    init: &Init,
    services: &mut [Service],
    d: Instant,
    stop_timeout: Duration,
    now: Instant,
) -> Option<Instant> {
    loop {
        let kill_at = next_kill_at(services, d, stop_timeout)?;
        let s = services
            .iter_mut()
            .rev()
            .find(|s| s.pid.is_some() && !s.kill_sent)?;
        let pid = s.pid?;
        if !s.term_sent {
            info!("stopping {} (pid {pid})", s.name);
            s.term_sent = true;
            if !init.signal(pid, Signal::SIGTERM) {
                // Already gone and reaped: no exit event will come for it.
                s.pid = None;
                continue;
            }
        }
        if now < kill_at {
            return Some(kill_at);
        }
        warn!(
            "{} did not stop within DIND_STOP_TIMEOUT={}s; killing it",
            s.name,
            stop_timeout.as_secs()
        );
        s.kill_sent = true;
        if !init.signal(pid, Signal::SIGKILL) {
            s.pid = None;
        }
    }
}

/// Note a service's exit: expected while stopping, else its restart is scheduled.
fn service_exited(services: &mut [Service], pid: Pid, code: i32, stopping: bool) {
    let Some(s) = services.iter_mut().find(|s| s.pid == Some(pid)) else {
        return;
    };
    s.pid = None;
    if stopping {
        info!("{} stopped (exit {code})", s.name);
    } else if s.restart.is_some() {
        let delay = restart_delay(&mut s.restarts, s.up_since.elapsed());
        warn!(
            "{} exited unexpectedly with {code}; restarting in {}s (the session keeps running)",
            s.name,
            delay.as_secs()
        );
        s.next_restart = Some(Instant::now() + delay);
    } else {
        warn!("{} exited unexpectedly with {code}", s.name);
    }
}

/// Restart every service whose backoff is over; returns when the next is due.
fn restart_due(init: &mut Init, services: &mut [Service]) -> Option<Instant> {
    let now = Instant::now();
    for s in services.iter_mut() {
        if s.next_restart.is_none_or(|t| t > now) {
            continue;
        }
        s.next_restart = None;
        s.restarts += 1;
        let Some(start) = s.restart.as_mut() else {
            continue;
        };
        match start(init) {
            Ok(pid) => {
                info!("{} restarted (pid {pid})", s.name);
                s.pid = Some(pid);
                s.up_since = Instant::now();
            }
            Err(e) => {
                warn!("restarting {}: {e}", s.name);
                s.next_restart = Some(now + backoff(s.restarts));
            }
        }
    }
    services.iter().filter_map(|s| s.next_restart).min()
}

/// The command to run: `argv`, or the user's login shell when empty.
pub fn command_spawn(argv: Vec<OsString>, user: &User, switch: bool) -> Spawn {
    let mut spec = if argv.is_empty() {
        let shell = user.shell.clone();
        let name = shell
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sh".into());
        let mut s = Spawn::new([shell.into_os_string()]);
        s.arg0 = Some(format!("-{name}").into());
        s.cwd = Some(user.home.clone()).filter(|h| h.is_dir());
        s
    } else {
        Spawn::new(argv)
    };
    spec.foreground = true;
    if switch {
        spec.env.extend([
            ("HOME".into(), user.home.to_string_lossy().into_owned()),
            ("USER".into(), user.name.clone()),
            ("LOGNAME".into(), user.name.clone()),
            ("SHELL".into(), user.shell.to_string_lossy().into_owned()),
        ]);
        spec.user = Some(user.clone());
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }

    #[test]
    fn backoff_starts_afresh_after_a_stable_run() {
        let mut n = 6;
        assert_eq!(
            restart_delay(&mut n, Duration::from_secs(2)),
            Duration::from_secs(30)
        );
        assert_eq!(n, 6);
        assert_eq!(restart_delay(&mut n, STABLE_AFTER), Duration::ZERO);
        assert_eq!(n, 0);
    }

    #[test]
    fn dockerd_is_killed_early_enough_for_containerd_to_stop() {
        let d = Instant::now() + Duration::from_secs(100);
        let svc = |name: &str| Service::new(name, Pid::from_raw(4242), None);
        let mut two = vec![svc("containerd"), svc("dockerd")];
        let t = Duration::from_secs(25);
        assert_eq!(next_kill_at(&two, d, t), Some(d - Duration::from_secs(2)));
        two[1].pid = None;
        assert_eq!(
            next_kill_at(&two, d, t),
            Some(d),
            "the last one to stop may use it all"
        );
        two[0].pid = None;
        assert_eq!(next_kill_at(&two, d, t), None);
        let mut stuck = vec![svc("containerd"), svc("dockerd")];
        stuck[1].kill_sent = true;
        assert_eq!(
            next_kill_at(&stuck, d, t),
            Some(d),
            "a killed dockerd stuck in the kernel takes no time from containerd"
        );
        let both = vec![svc("containerd"), svc("dockerd")];
        let short = Duration::from_secs(5);
        assert_eq!(
            next_kill_at(&both, d, short),
            Some(d - Duration::from_millis(500))
        );
    }

    #[test]
    fn leftovers_get_the_grace_only_when_the_command_ended_on_its_own() {
        let now = Instant::now();
        let s = Duration::from_secs;
        // (seconds to the deadline, grace, seconds until SIGKILL)
        let rows = [
            (25, None, 25),   // stop request: the whole budget
            (25, Some(2), 2), // the command ended on its own
            (1, Some(2), 1),  // a shorter DIND_STOP_TIMEOUT still bounds it
            (25, Some(0), 0), // DIND_LEFTOVER_GRACE=0: SIGKILL at once
        ];
        for (deadline, grace, want) in rows {
            assert_eq!(
                leftover_kill_at(now, now + s(deadline), grace.map(s)),
                now + s(want),
                "deadline {deadline}s, grace {grace:?}"
            );
        }
    }

    #[test]
    fn only_the_terminal_s_job_control_stops_are_dropped() {
        let rows = [
            (Signal::SIGTSTP, libc::SI_KERNEL, true),
            (Signal::SIGTTIN, libc::SI_KERNEL, true),
            (Signal::SIGTTOU, libc::SI_KERNEL, true),
            (Signal::SIGTSTP, libc::SI_USER, false),
            (Signal::SIGTTOU, libc::SI_QUEUE, false),
            (Signal::SIGTTIN, libc::SI_TKILL, false),
            (Signal::SIGINT, libc::SI_KERNEL, false),
            (Signal::SIGCONT, libc::SI_KERNEL, false),
        ];
        for (sig, code, dropped) in rows {
            assert_eq!(is_terminal_stop(sig, code), dropped, "{sig} code {code}");
        }
    }

    #[test]
    fn stop_signals() {
        assert!(is_stop_signal(Signal::SIGTERM));
        assert!(!is_stop_signal(Signal::SIGUSR1));
    }
}
