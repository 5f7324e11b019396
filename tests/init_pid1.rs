//! Integration tests for the PID-1 core (issue 3). The built `dind-init` runs as a real PID 1
//! of a new pid namespace (`unshare --pid --fork --mount-proc`) with `DIND_START_DOCKERD=false`,
//! and each test proves one promise of the init contract: exit codes, signal forwarding,
//! reaping of re-parented orphans, bounded shutdown, argv and stdio pass-through, signal
//! storms, subreaper mode, the CLI surface, TTY foreground handling and a truly idle loop.
//!
//! Every wait is guarded: a run that exceeds its limit is killed by PID (the namespace init
//! first, which takes the whole namespace down) and the test fails, so a hanging init never
//! hangs the suite. The shell scripts run by the child source `tests/helpers/procscan.sh`.
//!
//! `INIT_UNDER_TEST=/path/to/an-init` points the process tests at another init (tini, or a
//! deliberately broken one) to check that these tests can tell a good init from a bad one.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Upper bound for one run; reaching it means the init hung, so the run is killed and the test fails.
const GUARD: Duration = Duration::from_secs(10);
/// How long to wait for a child's "ready" file before declaring the run broken.
const READY: Duration = Duration::from_secs(5);
/// How long a trapped signal may take to end the child (its trap reacts within ~50 ms).
const REACT: Duration = Duration::from_secs(5);
/// Polling interval of the guards (the test side polls; the init under test must not).
const POLL: Duration = Duration::from_millis(5);

/// The init under test: our binary unless INIT_UNDER_TEST names another one.
fn init_bin() -> PathBuf {
    std::env::var_os("INIT_UNDER_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(common::bin)
}

/// Shell library with /proc scanners used by the child scripts.
fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/procscan.sh")
}

/// Tests that put the init into a new pid namespace need root and util-linux `unshare`.
fn pid1_prereqs() -> bool {
    common::require_root() && common::require_program("unshare")
}

/// A private scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("dind-init-it-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        TempDir(p)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn text(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child shell script: sources the /proc helpers, `@D@` stands for the scratch dir.
fn script(body: &str, dir: &TempDir) -> String {
    format!(
        ". '{}'\n{}",
        helper().display(),
        body.replace("@D@", &dir.text())
    )
}

/// Same environment for every run: no inherited DIND_* or RUST_LOG, and no dockerd.
fn hermetic(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DIND_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG")
        .env_remove("INIT_UNDER_TEST")
        .env("DIND_START_DOCKERD", "false");
}

/// The init as PID 1 of a fresh pid namespace with its own /proc.
fn pid1<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc"])
        .arg(init_bin())
        .args(args);
    hermetic(&mut c);
    c
}

/// The init run directly as our child (not PID 1).
fn direct<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(init_bin());
    c.args(args);
    hermetic(&mut c);
    c
}

/// One field view of /proc/<pid>/stat.
struct Stat {
    state: char,
    ppid: i32,
    comm: String,
}

fn proc_stat(pid: i32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let mut rest = s[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        comm: s[open + 1..close].to_string(),
    })
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn children_of(pid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&p| proc_stat(p).is_some_and(|s| s.ppid == pid))
        .collect()
}

/// Every process below `pid`, parents before children.
fn descendants(pid: i32) -> Vec<i32> {
    let mut by_parent: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in all_pids() {
        if let Some(s) = proc_stat(p) {
            by_parent.entry(s.ppid).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in by_parent.get(&p).into_iter().flatten() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// `key=value` tokens of a child's report.
fn kv(text: &str) -> HashMap<String, String> {
    text.split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A numeric field of a child's report; panics with the full report when absent.
fn num(report: &HashMap<String, String>, key: &str, all: &str) -> i64 {
    report
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("child report lacks {key}=N; report: {all:?}"))
}

/// Result of a finished run.
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    /// Exit code; a run that died by a signal itself is a failure of the init.
    fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "run was killed by signal {:?} instead of exiting; stderr: {}",
                self.status.signal(),
                self.stderr
            )
        })
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// A running process tree with its stdout/stderr captured in files (so leftover
/// grandchildren holding the descriptors can never block the test on a pipe).
struct Run {
    child: Child,
    io: TempDir,
    started: Instant,
    what: String,
}

fn start(cmd: Command) -> Run {
    start_with(cmd, Stdio::null(), None)
}

fn start_with(mut cmd: Command, stdin: Stdio, stdout: Option<Stdio>) -> Run {
    let io = TempDir::new("io");
    let file = |n: &str| File::create(io.join(n)).unwrap_or_else(|e| panic!("create {n}: {e}"));
    let out = stdout.unwrap_or_else(|| Stdio::from(file("stdout")));
    cmd.stdin(stdin).stdout(out).stderr(file("stderr"));
    let what = format!("{cmd:?}");
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    Run {
        child,
        io,
        started: Instant::now(),
        what,
    }
}

impl Run {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn captured(&self, name: &str) -> String {
        fs::read_to_string(self.io.join(name)).unwrap_or_default()
    }

    /// Wait at most `limit` for the run; on timeout kill the whole tree by PID and fail.
    fn wait(&mut self, limit: Duration) -> Outcome {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Outcome {
                        status,
                        stdout: self.captured("stdout"),
                        stderr: self.captured("stderr"),
                        elapsed: self.started.elapsed(),
                    }
                }
                Ok(None) => {}
                Err(e) => panic!("wait {}: {e}", self.what),
            }
            if self.started.elapsed() > limit {
                self.kill_tree();
                panic!(
                    "HANG: {} did not finish within {limit:?} (killed it); stdout: {:?} stderr: {:?}",
                    self.what,
                    self.captured("stdout"),
                    self.captured("stderr")
                );
            }
            sleep(POLL);
        }
    }

    /// SIGKILL every process we started here, top-down (a namespace init first, which
    /// also kills everything inside its namespace).
    fn kill_tree(&mut self) {
        for p in descendants(self.pid()) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait until the child script created `path`; fail if the run ends first or never does.
    fn wait_for_file(&mut self, path: &Path) {
        let deadline = Instant::now() + READY;
        while !path.exists() {
            if self.exited() {
                panic!(
                    "run ended before {} appeared; stdout: {:?} stderr: {:?}",
                    path.display(),
                    self.captured("stdout"),
                    self.captured("stderr")
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not appear within {READY:?}; stderr: {:?}",
                    path.display(),
                    self.captured("stderr")
                );
            }
            sleep(POLL);
        }
    }

    /// PID (in our namespace) of the namespace's PID 1: the init under test, the only
    /// child of `unshare --fork`.
    fn ns_init(&mut self) -> i32 {
        let deadline = Instant::now() + READY;
        loop {
            if let [c] = children_of(self.pid())[..] {
                let status = fs::read_to_string(format!("/proc/{c}/status")).unwrap_or_default();
                let nspid = status
                    .lines()
                    .find(|l| l.starts_with("NSpid:"))
                    .unwrap_or("");
                assert_eq!(
                    nspid.split_whitespace().last(),
                    Some("1"),
                    "the init under test is not PID 1 of its namespace ({nspid})"
                );
                return c;
            }
            if self.exited() || Instant::now() > deadline {
                panic!(
                    "no single child under unshare pid {}; stderr: {:?}",
                    self.pid(),
                    self.captured("stderr")
                );
            }
            sleep(POLL);
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.exited() {
            self.kill_tree();
        }
    }
}

/// Check 1a: The child's exit code is the run's exit code; death by signal N gives 128+N.
#[test]
fn exit_codes_pass_through_as_pid1() {
    if !pid1_prereqs() {
        return;
    }
    let cases: [(&[&str], i32); 7] = [
        (&["--", "true"], 0),
        (&["--", "false"], 1),
        (&["--", "sh", "-c", "exit 3"], 3),
        (&["--", "sh", "-c", "exit 255"], 255),
        (&["--", "sh", "-c", "kill -TERM $$"], 128 + 15),
        (&["--", "sh", "-c", "kill -KILL $$"], 128 + 9),
        (&["--", "sh", "-c", "kill -USR1 $$"], 128 + 10),
    ];
    let mut runs: Vec<_> = cases
        .iter()
        .map(|(args, want)| (args, *want, start(pid1(args.iter()))))
        .collect();
    for (args, want, run) in &mut runs {
        let out = run.wait(GUARD);
        assert_eq!(
            out.code(),
            *want,
            "dind-init {args:?}: wrong exit code; stderr: {:?}",
            out.stderr
        );
    }
}

/// Check 1b: A command that cannot be found gives 127, one that cannot be executed gives 126,
/// each with exactly one stderr line naming the program.
#[test]
fn missing_and_non_executable_commands_give_127_and_126() {
    if !pid1_prereqs() {
        return;
    }
    let dir = TempDir::new("noexec");
    let plain = dir.join("not-executable.sh");
    fs::write(&plain, "#!/bin/sh\nexit 0\n").unwrap_or_else(|e| panic!("write: {e}"));
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    let plain = plain.display().to_string();
    let a_dir = dir.text();
    let cases = [
        ("/nonexistent/dind-init-no-such-prog".to_string(), 127),
        ("dind-init-no-such-prog-on-path".to_string(), 127),
        (plain, 126),
        (a_dir, 126),
    ];
    for (prog, want) in cases {
        let out = start(pid1(["--", prog.as_str(), "arg"])).wait(GUARD);
        assert_eq!(
            out.code(),
            want,
            "dind-init -- {prog}: stderr {:?}",
            out.stderr
        );
        let lines = out.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "dind-init -- {prog}: want exactly one stderr line, got {:?}",
            out.stderr
        );
        assert!(
            lines[0].contains(&prog),
            "dind-init -- {prog}: stderr line does not name the program: {:?}",
            lines[0]
        );
    }
}

/// Check 1c: The child starts with the same signal mask and ignored set the init itself was
/// given: an init that leaks its blocked signals (signalfd) or ignores into the child
/// breaks every signal the child should receive.
#[test]
fn child_starts_with_clean_signal_state() {
    if !pid1_prereqs() {
        return;
    }
    let probe = ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"];
    let mut base = Command::new(probe[0]);
    base.args(&probe[1..]);
    let baseline = start(base).wait(GUARD);
    assert_eq!(
        baseline.code(),
        0,
        "baseline grep failed: {}",
        baseline.stderr
    );
    let mut args = vec!["--"];
    args.extend(probe);
    let out = start(pid1(args)).wait(GUARD);
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout, baseline.stdout,
        "child signal state differs from what the init was started with"
    );
}

/// Check 2: TERM, INT, HUP, USR1, USR2, QUIT, WINCH and CONT sent from outside the namespace
/// to its PID 1 reach the child's trap; the child's trap exit code becomes the run's exit code.
#[test]
fn signals_from_outside_reach_the_childs_trap() {
    if !pid1_prereqs() {
        return;
    }
    let sigs = [
        (Signal::SIGTERM, "TERM", 41),
        (Signal::SIGINT, "INT", 42),
        (Signal::SIGHUP, "HUP", 43),
        (Signal::SIGUSR1, "USR1", 44),
        (Signal::SIGUSR2, "USR2", 45),
        (Signal::SIGQUIT, "QUIT", 46),
        (Signal::SIGWINCH, "WINCH", 47),
        (Signal::SIGCONT, "CONT", 48),
    ];
    let mut runs = Vec::new();
    for (sig, name, code) in sigs {
        let dir = TempDir::new("sig");
        let body = format!(
            "trap 'echo got-{name} > @D@/marker; exit {code}' {name}\n\
             touch @D@/ready\n\
             while :; do sleep 0.05; done\n"
        );
        let run = start(pid1(["--", "sh", "-c", &script(&body, &dir)]));
        runs.push((sig, name, code, dir, run));
    }
    for (sig, name, code, dir, run) in &mut runs {
        run.wait_for_file(&dir.join("ready"));
        let init = run.ns_init();
        kill(Pid::from_raw(init), *sig).unwrap_or_else(|e| panic!("kill -{name} {init}: {e}"));
        let out = run.wait(REACT);
        assert_eq!(
            out.code(),
            *code,
            "SIG{name} to PID 1: child trap did not decide the exit code; stderr: {:?}",
            out.stderr
        );
        let marker = fs::read_to_string(dir.join("marker")).unwrap_or_default();
        assert_eq!(
            marker.trim(),
            format!("got-{name}"),
            "SIG{name} never reached the child's trap"
        );
    }
}

/// Check 2b: Real-time signals are catchable too and must be forwarded like the rest
/// (SIGRTMIN+3 is how `docker stop` halts systemd-style images). bash traps them; the
/// signal is sent with bash's `kill` because nix's Signal cannot name them.
#[test]
fn realtime_signals_from_outside_reach_the_childs_trap() {
    if !pid1_prereqs() || !common::require_program("bash") {
        return;
    }
    let mut runs = Vec::new();
    for (name, code) in [("RTMIN+3", 50), ("RTMAX", 51)] {
        let dir = TempDir::new("rtsig");
        let body = format!(
            "trap 'echo got-{name} > @D@/marker; exit {code}' {name}\n\
             touch @D@/ready\n\
             while :; do sleep 0.05; done\n"
        );
        let run = start(pid1(["--", "bash", "-c", &script(&body, &dir)]));
        runs.push((name, code, dir, run));
    }
    for (name, code, dir, run) in &mut runs {
        run.wait_for_file(&dir.join("ready"));
        let init = run.ns_init();
        let mut sender = Command::new("bash");
        sender.args(["-c", &format!("kill -s {name} {init}")]);
        let sent = start(sender).wait(GUARD);
        assert_eq!(sent.code(), 0, "kill -s {name} {init}: {}", sent.stderr);
        let out = run.wait(REACT);
        assert_eq!(
            out.code(),
            *code,
            "SIG{name} to PID 1: child trap did not decide the exit code; stderr: {:?}",
            out.stderr
        );
        let marker = fs::read_to_string(dir.join("marker")).unwrap_or_default();
        assert_eq!(
            marker.trim(),
            format!("got-{name}"),
            "SIG{name} never reached the child's trap"
        );
    }
}

/// Check 3: 200 orphans re-parented to PID 1 are all reaped: while the child still runs, /proc
/// shows no zombie once they have exited.
#[test]
fn reaps_two_hundred_reparented_orphans() {
    if !pid1_prereqs() {
        return;
    }
    let dir = TempDir::new("orphans");
    let body = "i=0\n\
        while [ $i -lt 200 ]; do (sleep 0.5 & echo $! >> @D@/pids); i=$((i + 1)); done\n\
        echo \"adopted=$(adopted sleep 1)\"\n\
        settle sleep\n\
        exit 0\n";
    let out = start(pid1(["--", "sh", "-c", &script(body, &dir)])).wait(GUARD);
    let report = kv(&out.stdout);
    assert_eq!(
        out.code(),
        0,
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    let forked = fs::read_to_string(dir.join("pids")).unwrap_or_default();
    assert_eq!(
        forked.lines().count(),
        200,
        "the child did not fork 200 orphans"
    );
    assert!(
        num(&report, "adopted", &out.stdout) > 0,
        "no orphan was re-parented to PID 1, the test setup is wrong: {:?}",
        out.stdout
    );
    assert_eq!(
        num(&report, "live", &out.stdout),
        0,
        "orphans still running: {:?}",
        out.stdout
    );
    assert_eq!(
        num(&report, "zombies", &out.stdout),
        0,
        "PID 1 left zombies unreaped: {:?}",
        out.stdout
    );
}

/// Check 4: Grandchildren left running never stall the exit: one that ignores TERM is killed
/// after DIND_STOP_TIMEOUT, one that obeys TERM gets it (its trap runs) and the run ends
/// at once; the exit code is the main child's in both cases.
#[test]
fn leftover_grandchildren_get_term_then_kill() {
    if !pid1_prereqs() {
        return;
    }
    let stubborn_dir = TempDir::new("stubborn");
    let stubborn = "(trap '' TERM; touch @D@/gc-ready; exec sleep 1000) &\n\
        while [ ! -e @D@/gc-ready ]; do sleep 0.01; done\n\
        exit 5\n";
    let mut cmd = pid1(["--", "sh", "-c", &script(stubborn, &stubborn_dir)]);
    cmd.env("DIND_STOP_TIMEOUT", "1");
    let mut stubborn_run = start(cmd);

    let polite_dir = TempDir::new("polite");
    let polite = "(trap 'echo term > @D@/gc-term; exit 0' TERM; touch @D@/gc-ready; \
        while :; do sleep 0.05; done) &\n\
        while [ ! -e @D@/gc-ready ]; do sleep 0.01; done\n\
        exit 6\n";
    let mut cmd = pid1(["--", "sh", "-c", &script(polite, &polite_dir)]);
    cmd.env("DIND_STOP_TIMEOUT", "5");
    let mut polite_run = start(cmd);

    let out = polite_run.wait(GUARD);
    assert_eq!(out.code(), 6, "stderr: {:?}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(1),
        "a TERM-obeying grandchild stalled the exit for {:?}",
        out.elapsed
    );
    let term = fs::read_to_string(polite_dir.join("gc-term")).unwrap_or_default();
    assert_eq!(
        term.trim(),
        "term",
        "the leftover grandchild never got SIGTERM (or was killed before its trap ran)"
    );

    let out = stubborn_run.wait(GUARD);
    assert_eq!(out.code(), 5, "stderr: {:?}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(3),
        "DIND_STOP_TIMEOUT=1 but a TERM-ignoring grandchild stalled the exit for {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed >= Duration::from_millis(950),
        "the TERM-ignoring grandchild was killed after {:?}, before DIND_STOP_TIMEOUT=1 elapsed",
        out.elapsed
    );
}

/// Check 5: argv reaches the child byte for byte: spaces, quotes, empty strings, newlines,
/// globs, and words that look like dind-init's own options, with and without `--`.
#[test]
fn argv_is_preserved_exactly() {
    if !pid1_prereqs() {
        return;
    }
    let args = [
        "a b",
        "",
        "it's",
        "\"quoted\"",
        "  lead and trail  ",
        "tab\there",
        "new\nline",
        "*",
        "$HOME",
        "\\back",
        "",
        "-x",
        "--",
        "--help",
        "--version",
        "ünï ☃",
    ];
    let printer = [
        "sh",
        "-c",
        "printf '%s\\n' \"$#\"; printf '%s\\0' \"$@\"",
        "argv0",
    ];
    for with_dashes in [true, false] {
        let mut argv: Vec<&str> = Vec::new();
        if with_dashes {
            argv.push("--");
        }
        argv.extend(printer);
        argv.extend(args);
        let out = start(pid1(argv)).wait(GUARD);
        assert_eq!(out.code(), 0, "stderr: {:?}", out.stderr);
        let (count, rest) = out
            .stdout
            .split_once('\n')
            .unwrap_or_else(|| panic!("no count line in {:?}", out.stdout));
        let got: Vec<&str> = rest
            .strip_suffix('\0')
            .unwrap_or(rest)
            .split('\0')
            .collect();
        assert_eq!(
            count,
            args.len().to_string(),
            "argc (with `--`: {with_dashes})"
        );
        assert_eq!(got, args, "argv (with `--`: {with_dashes})");
    }
}

/// Check 6: stdin reaches the child and its stdout and stderr reach ours, unchanged and complete.
#[test]
fn stdin_stdout_and_stderr_pass_through() {
    if !pid1_prereqs() {
        return;
    }
    let mut big = Vec::with_capacity(1 << 20);
    for i in 0..(1u32 << 18) {
        big.extend_from_slice(&i.to_le_bytes());
    }
    for input in [b"hello\n".to_vec(), big] {
        let mut run = start_with(pid1(["--", "cat"]), Stdio::piped(), None);
        let mut stdin = run
            .child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("no stdin pipe"));
        let data = input.clone();
        let writer = std::thread::spawn(move || stdin.write_all(&data));
        let out = run.wait(GUARD);
        let written = writer.join().map(|r| r.is_ok()).unwrap_or(false);
        assert!(written, "could not write all of stdin to the child");
        assert_eq!(out.code(), 0, "stderr: {:?}", out.stderr);
        let got = fs::read(run.io.join("stdout")).unwrap_or_default();
        assert!(
            got == input,
            "stdout differs from stdin: {} bytes in, {} out",
            input.len(),
            got.len()
        );
    }
    let out = start(pid1(["--", "sh", "-c", "echo to-out; echo to-err >&2"])).wait(GUARD);
    assert_eq!(out.code(), 0);
    assert_eq!(out.stdout, "to-out\n");
    assert!(
        out.stderr.lines().any(|l| l == "to-err"),
        "child stderr lost: {:?}",
        out.stderr
    );
}

/// Check 7: A storm of hundreds of USR1/USR2/HUP per second at PID 1 (from outside while the
/// child keeps forking, orphaning and reaping, then from inside while the child exits)
/// loses no child and no exit status.
#[test]
fn signal_storm_loses_no_child_and_no_status() {
    if !pid1_prereqs() {
        return;
    }
    let dir = TempDir::new("storm");
    let body = "u1=0; u2=0; hu=0\n\
        trap 'u1=$((u1 + 1))' USR1\n\
        trap 'u2=$((u2 + 1))' USR2\n\
        trap 'hu=$((hu + 1))' HUP\n\
        n=0\n\
        touch @D@/ready\n\
        while [ ! -e @D@/stop ]; do\n\
            (sleep 0.01 &)\n\
            sh -c 'exit 0'\n\
            n=$((n + 1))\n\
        done\n\
        echo \"rounds=$n\"\n\
        settle sleep\n\
        echo \"usr1=$u1 usr2=$u2 hup=$hu\"\n\
        (i=0; while [ $i -lt 300 ]; do kill -USR1 1; kill -USR2 1; kill -HUP 1; i=$((i + 1)); done) &\n\
        exit 77\n";
    let mut run = start(pid1(["--", "sh", "-c", &script(body, &dir)]));
    run.wait_for_file(&dir.join("ready"));
    let init = Pid::from_raw(run.ns_init());
    let storm_start = Instant::now();
    let mut sent = 0;
    for _ in 0..200 {
        for sig in [Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGHUP] {
            if let Err(e) = kill(init, sig) {
                panic!("PID 1 vanished during the storm after {sent} signals: {e}");
            }
            sent += 1;
        }
        sleep(Duration::from_millis(2));
    }
    let rate = f64::from(sent) / storm_start.elapsed().as_secs_f64();
    File::create(dir.join("stop")).unwrap_or_else(|e| panic!("create stop: {e}"));
    let out = run.wait(GUARD);
    assert!(rate > 300.0, "storm too slow to mean anything: {rate:.0}/s");
    assert_eq!(
        out.code(),
        77,
        "exit status lost in the storm; stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    let report = kv(&out.stdout);
    assert!(
        num(&report, "rounds", &out.stdout) > 0,
        "child never looped"
    );
    assert_eq!(
        num(&report, "live", &out.stdout),
        0,
        "orphans still alive: {:?}",
        out.stdout
    );
    assert_eq!(
        num(&report, "zombies", &out.stdout),
        0,
        "zombies left after the storm: {:?}",
        out.stdout
    );
    for key in ["usr1", "usr2", "hup"] {
        assert!(
            num(&report, key, &out.stdout) > 0,
            "no {key} was forwarded to the child during the storm: {:?}",
            out.stdout
        );
    }
}

/// Check 8: Not PID 1: the init is a child subreaper, so an orphaned grandchild is re-parented
/// to it and reaped by it, leftovers are terminated, and the exit code passes through.
#[test]
fn subreaper_when_not_pid1() {
    let dir = TempDir::new("subreaper");
    let body = "(sleep 0.3 & echo $! > @D@/gc)\n\
        gc=$(cat @D@/gc)\n\
        proc_stat \"$gc\" && echo \"gc_ppid=$P_PPID\"\n\
        echo \"init_pid=$PPID\"\n\
        echo \"gc_end=$(wait_gone \"$gc\")\"\n\
        sleep 1000 &\n\
        echo $! > @D@/left\n\
        exit 9\n";
    let mut cmd = direct(["--", "sh", "-c", &script(body, &dir)]);
    cmd.env("DIND_STOP_TIMEOUT", "2");
    let mut run = start(cmd);
    let init_pid = run.pid();
    let out = run.wait(GUARD);
    let left: i32 = fs::read_to_string(dir.join("left"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    // The leftover `sleep 1000` must be gone (or at least dead) shortly after the init exits.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut still_running = false;
    while left > 0 && Instant::now() < deadline {
        let alive = proc_stat(left).is_some_and(|s| s.comm == "sleep" && s.state != 'Z')
            && fs::read(format!("/proc/{left}/cmdline")).is_ok_and(|c| c == b"sleep\x001000\x00");
        still_running = alive;
        if !alive {
            break;
        }
        sleep(POLL);
    }
    if still_running {
        let _ = kill(Pid::from_raw(left), Signal::SIGKILL);
    }
    assert_eq!(
        out.code(),
        9,
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    let report = kv(&out.stdout);
    assert_eq!(num(&report, "init_pid", &out.stdout), i64::from(init_pid));
    assert_eq!(
        num(&report, "gc_ppid", &out.stdout),
        i64::from(init_pid),
        "the orphan was not re-parented to dind-init: not a child subreaper"
    );
    assert_eq!(
        report.get("gc_end").map(String::as_str),
        Some("gone"),
        "the orphan was not reaped by dind-init: {:?}",
        out.stdout
    );
    assert!(
        left > 0,
        "child did not record its leftover: {:?}",
        out.stdout
    );
    assert!(
        !still_running,
        "leftover `sleep 1000` (pid {left}) survived dind-init's exit"
    );
}

/// Check 9: CLI surface: --version, --help, a program named like a subcommand stays runnable
/// after `--`, and invalid settings fail fast with exit 2 and one line naming the variable.
#[test]
fn cli_version_help_subcommand_names_and_bad_settings() {
    let bin = common::bin();
    let run = |args: &[&str], env: &[(&str, &str)], path: Option<&str>| {
        let mut c = Command::new(&bin);
        c.args(args);
        hermetic(&mut c);
        for (k, v) in env {
            c.env(k, v);
        }
        if let Some(p) = path {
            c.env("PATH", p);
        }
        start(c).wait(GUARD)
    };

    let out = run(&["--version"], &[], None);
    assert_eq!(out.code(), 0, "--version: {:?}", out.stderr);
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "--version does not print {}: {:?}",
        env!("CARGO_PKG_VERSION"),
        out.stdout
    );

    let out = run(&["--help"], &[], None);
    assert_eq!(out.code(), 0, "--help: {:?}", out.stderr);
    for word in [
        "doctor",
        "plan",
        "status",
        "DIND_START_DOCKERD",
        "DIND_STOP_TIMEOUT",
        "DIND_LOG",
    ] {
        assert!(
            out.stdout.contains(word),
            "--help does not mention {word}: {}",
            out.stdout
        );
    }

    let dir = TempDir::new("cli");
    let prog = dir.join("status");
    fs::write(&prog, "#!/bin/sh\necho status-program-ran \"$@\"\nexit 4\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    let path = format!(
        "{}:{}",
        dir.text(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(&["--", "status", "--flag"], &[], Some(&path));
    assert_eq!(
        out.code(),
        4,
        "`-- status` did not run the program: {:?}",
        out.stderr
    );
    assert_eq!(out.stdout, "status-program-ran --flag\n");
    let out = run(&["status"], &[], Some(&path));
    assert!(
        !out.stdout.contains("status-program-ran"),
        "`dind-init status` ran the program instead of the subcommand"
    );

    let marker = dir.join("ran");
    let touch = format!("touch {}", marker.display());
    for (var, bad) in [
        ("DIND_STOP_TIMEOUT", "abc"),
        ("DIND_START_DOCKERD", "maybe"),
        ("DIND_LOG", "loud"),
    ] {
        let out = run(&["--", "sh", "-c", &touch], &[(var, bad)], None);
        assert_eq!(
            out.code(),
            2,
            "{var}={bad}: want exit 2; stderr {:?}",
            out.stderr
        );
        let lines = out.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "{var}={bad}: want one stderr line, got {:?}",
            out.stderr
        );
        assert!(
            lines[0].contains(var),
            "{var}={bad}: message does not name {var}: {:?}",
            lines[0]
        );
        assert!(
            lines[0].contains(bad),
            "{var}={bad}: message does not show the value: {:?}",
            lines[0]
        );
        assert!(
            !marker.exists(),
            "{var}={bad}: the command ran despite the invalid setting"
        );
    }
}

/// Check 10: On a terminal the child gets its own process group and that group is the
/// terminal's foreground group: it can read the terminal (a background group would be
/// stopped by SIGTTIN) and Ctrl-C reaches its trap. Two shapes: the init below the
/// terminal's session leader, and the init as session leader itself (`docker run -t`).
#[test]
fn tty_child_owns_the_foreground_process_group() {
    if !pid1_prereqs() || !common::require_program("setsid") || !common::require_program("ps") {
        return;
    }
    let ns = ["unshare", "--pid", "--fork", "--mount-proc"];
    let ctty = ["setsid", "--ctty", "--wait"];
    tty_case(&[&ctty[..], &ns[..]].concat());
    tty_case(&[&ns[..], &ctty[..]].concat());
}

/// Run the init under `wrapper` on a fresh pty and check the foreground group, reading
/// the terminal, and Ctrl-C.
fn tty_case(wrapper: &[&str]) {
    let pty = nix::pty::openpty(None, None).unwrap_or_else(|e| panic!("openpty: {e}"));
    let dir = TempDir::new("tty");
    let body = "trap 'echo got-INT > @D@/int; exit 21' INT\n\
        set -- $(ps -o pgid=,tpgid= -p $$)\n\
        echo \"pid=$$ pgid=$1 tpgid=$2\" > @D@/pg\n\
        touch @D@/ready\n\
        read -r line\n\
        echo \"$line\" > @D@/read\n\
        while :; do sleep 0.05; done\n";
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(init_bin())
        .args(["--", "sh", "-c", &script(body, &dir)]);
    hermetic(&mut cmd);
    let slave = |fd: &std::os::fd::OwnedFd| {
        Stdio::from(fd.try_clone().unwrap_or_else(|e| panic!("dup pty: {e}")))
    };
    let mut run = start_with(cmd, slave(&pty.slave), Some(slave(&pty.slave)));
    drop(pty.slave);
    let mut master = File::from(pty.master);
    let shape = wrapper.join(" ");

    run.wait_for_file(&dir.join("ready"));
    let pg = fs::read_to_string(dir.join("pg")).unwrap_or_default();
    let report = kv(&pg);
    let pid = num(&report, "pid", &pg);
    assert_eq!(
        num(&report, "pgid", &pg),
        pid,
        "[{shape}] child is not leader of its own process group: {pg}"
    );
    assert_eq!(
        num(&report, "tpgid", &pg),
        pid,
        "[{shape}] child's group is not the terminal's foreground group: {pg}"
    );

    master
        .write_all(b"typed-line\n")
        .unwrap_or_else(|e| panic!("write pty: {e}"));
    run.wait_for_file(&dir.join("read"));
    let line = fs::read_to_string(dir.join("read")).unwrap_or_default();
    assert_eq!(
        line.trim(),
        "typed-line",
        "[{shape}] child did not read the terminal"
    );

    master
        .write_all(b"\x03")
        .unwrap_or_else(|e| panic!("write ^C: {e}"));
    let out = run.wait(GUARD);
    assert_eq!(
        out.code(),
        21,
        "[{shape}] Ctrl-C did not reach the child's trap; stderr {:?}",
        out.stderr
    );
    let int = fs::read_to_string(dir.join("int")).unwrap_or_default();
    assert_eq!(int.trim(), "got-INT", "[{shape}] no INT marker");
}

/// Syscall numbers of the calls an idle init may legitimately block in.
struct WaitCalls {
    read: u64,
    poll: Option<u64>,
    ppoll: u64,
    sigtimedwait: u64,
}

const WAIT_CALLS: Option<WaitCalls> = if cfg!(target_arch = "x86_64") {
    Some(WaitCalls {
        read: 0,
        poll: Some(7),
        ppoll: 271,
        sigtimedwait: 128,
    })
} else if cfg!(target_arch = "aarch64") {
    Some(WaitCalls {
        read: 63,
        poll: None,
        ppoll: 73,
        sigtimedwait: 137,
    })
} else {
    None
};

/// The fds of the `n` pollfd structs at `addr` in `pid`'s memory.
fn polled_fds(pid: i32, addr: u64, n: u64) -> Result<Vec<i32>, String> {
    use std::os::unix::fs::FileExt;
    let n = usize::try_from(n).map_err(|e| e.to_string())?;
    if n == 0 || n > 64 {
        return Err(format!("poll over {n} fds"));
    }
    let mem = File::open(format!("/proc/{pid}/mem")).map_err(|e| format!("open mem: {e}"))?;
    let mut buf = vec![0u8; n * 8];
    mem.read_exact_at(&mut buf, addr)
        .map_err(|e| format!("read pollfd array: {e}"))?;
    Ok(buf
        .chunks(8)
        .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Ok(what) when `pid` is blocked indefinitely in a signal wait: read(2) on a signalfd,
/// poll/ppoll without a timeout over signalfds only, or sigwaitinfo without a timeout
/// (the forms issue 3 allows). Err(why) otherwise.
fn signal_wait(pid: i32, calls: &WaitCalls) -> Result<String, String> {
    let line = fs::read_to_string(format!("/proc/{pid}/syscall"))
        .map_err(|e| format!("read /proc/{pid}/syscall: {e}"))?;
    let mut tokens = line.split_whitespace();
    let nr: u64 = tokens
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("not blocked in a syscall: {line:?}"))?;
    let args: Vec<u64> = tokens
        .filter_map(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok())
        .collect();
    let arg = |i: usize| args.get(i).copied().unwrap_or(u64::MAX);
    let is_sfd = |fd: i64| {
        fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).is_ok_and(|i| i.contains("sigmask:"))
    };
    let all_sfd = |fds: Vec<i32>| -> Result<String, String> {
        match fds.iter().find(|&&fd| !is_sfd(i64::from(fd))) {
            Some(fd) => Err(format!("polls fd {fd}, which is not a signalfd ({line:?})")),
            None => Ok(format!("poll over signalfd(s) {fds:?}, no timeout")),
        }
    };
    if nr == calls.read {
        let fd = i64::try_from(arg(0)).unwrap_or(-1);
        return if is_sfd(fd) {
            Ok(format!("read({fd}) on a signalfd"))
        } else {
            Err(format!("read(2) on fd {fd}, which is not a signalfd"))
        };
    }
    if Some(nr) == calls.poll {
        if arg(2) as u32 != u32::MAX {
            return Err(format!(
                "poll(2) with a {} ms timeout: a polling loop",
                arg(2) as u32
            ));
        }
        return all_sfd(polled_fds(pid, arg(0), arg(1))?);
    }
    if nr == calls.ppoll {
        if arg(2) != 0 {
            return Err(format!(
                "ppoll(2) with a timeout: a polling loop ({line:?})"
            ));
        }
        return all_sfd(polled_fds(pid, arg(0), arg(1))?);
    }
    if nr == calls.sigtimedwait {
        return if arg(2) == 0 {
            Ok("sigwaitinfo(2) without a timeout".to_string())
        } else {
            Err(format!(
                "sigtimedwait(2) with a timeout: a polling loop ({line:?})"
            ))
        };
    }
    Err(format!(
        "blocked in syscall {nr}, not a signal wait ({line:?})"
    ))
}

/// Check 11: Idle means blocked indefinitely in a signal wait (read(2) on the signalfd, poll(2)
/// without a timeout over the signalfd only, or sigwaitinfo): no wake-ups at all while the child sleeps (a polling
/// loop shows up as context switches), and a signal still gets through.
#[test]
fn idle_init_blocks_in_a_signal_wait() {
    if !pid1_prereqs() {
        return;
    }
    let dir = TempDir::new("idle");
    let mut run = start(pid1([
        "--",
        "sh",
        "-c",
        &script("touch @D@/ready; exec sleep 30", &dir),
    ]));
    run.wait_for_file(&dir.join("ready"));
    let init = run.ns_init();

    if let Some(calls) = &WAIT_CALLS {
        let deadline = Instant::now() + READY;
        let mut seen = signal_wait(init, calls);
        while seen.is_err() && Instant::now() < deadline {
            sleep(POLL);
            seen = signal_wait(init, calls);
        }
        if let Err(why) = seen {
            panic!("idle PID 1 is not blocked in a signal wait: {why}");
        }
    }

    let switches = || {
        fs::read_to_string(format!("/proc/{init}/status"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = switches();
    sleep(Duration::from_millis(300));
    let after = switches();
    assert_eq!(
        before,
        after,
        "idle PID 1 woke up {} times in 300 ms: it polls",
        after - before
    );

    kill(Pid::from_raw(init), Signal::SIGTERM).unwrap_or_else(|e| panic!("kill: {e}"));
    let out = run.wait(GUARD);
    assert_eq!(
        out.code(),
        128 + 15,
        "SIGTERM to an idle PID 1 did not end the sleeping child"
    );
}

/// Check 12: With no command the init runs the target user's login shell: argv[0] is
/// "-<shell>" for the shell /etc/passwd gives the uid the shell runs as, and it reads
/// its commands from our stdin and its exit code passes through.
#[test]
fn no_command_runs_the_login_shell() {
    if !pid1_prereqs() {
        return;
    }
    let mut run = start_with(pid1(Vec::<&str>::new()), Stdio::piped(), None);
    let mut stdin = run
        .child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin pipe"));
    stdin
        .write_all(b"echo \"argv0=$0 uid=$(id -u)\"\nexit 7\n")
        .unwrap_or_else(|e| panic!("write stdin: {e}"));
    drop(stdin);
    let out = run.wait(GUARD);
    assert_eq!(
        out.code(),
        7,
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    let report = kv(&out.stdout);
    let uid = num(&report, "uid", &out.stdout).to_string();
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let shell = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[2] == uid)
        .map(|f| f[6].rsplit('/').next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("uid {uid} not in /etc/passwd"));
    assert_eq!(
        report.get("argv0").map(String::as_str),
        Some(format!("-{shell}").as_str()),
        "not started as a login shell of uid {uid}: {:?}",
        out.stdout
    );
}

/// A FUSE daemon that answers INIT, then reads every request and never replies: a hung
/// FUSE or NFS mount. A process blocked on it after SIGKILL stays in D state for good
/// (the kernel waits, uninterruptibly, for an answer the daemon has already taken).
const HUNG_FUSE: &str = r#"
import ctypes, os, struct, sys
mnt, d = sys.argv[1].encode(), sys.argv[2]
open(d + '/fuse-pid', 'w').write(str(os.getpid()))
fd = os.open('/dev/fuse', os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b'hung', mnt, b'fuse', 0, b'fd=%d,rootmode=40000,user_id=0,group_id=0' % fd):
    sys.exit('mount fuse: ' + os.strerror(ctypes.get_errno()))
while True:
    req = os.read(fd, 1 << 20)
    length, opcode, unique = struct.unpack_from('<IIQ', req)
    if opcode == 26:  # FUSE_INIT: answer it so the mount works
        readahead = struct.unpack_from('<I', req, 48)[0]
        out = struct.pack('<IIIIHHIIHHI', 7, 31, readahead, 0, 16, 12, 4096, 1, 0, 0, 0) + bytes(28)
        os.write(fd, struct.pack('<IiQ', 16 + len(out), 0, unique) + out)
        open(d + '/fuse-ready', 'w').close()
    elif opcode != 36:  # anything but INTERRUPT: taken, never answered
        open(d + '/fuse-request', 'w').close()
"#;

/// A dockerd stand-in that answers /_ping (and fails every other call, so the session starts
/// with the banner) and records its SIGTERM before it exits.
const FAKE_DOCKERD: &str = r#"#!/usr/bin/env python3
import os, signal, socket, sys, time
if sys.argv[1:2] == ['--version']:
    print('Docker version 20.10.24, build x'); sys.exit(0)
def term(*_):
    open(os.environ['FAKE_LOG'], 'a').write('dockerd got SIGTERM at %f\n' % time.time())
    os._exit(0)
signal.signal(signal.SIGTERM, term)
path = '/var/run/docker.sock'
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(16)
while True:
    c, _ = s.accept()
    data = c.recv(65536)
    if data.startswith(b'GET /_ping'):
        c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK')
    else:
        c.sendall(b'HTTP/1.0 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"message":"no"}')
    c.close()
"#;

/// Prerequisites of the hung-mount tests: a FUSE device and python3 for the daemon.
fn hung_fuse_prereqs() -> bool {
    pid1_prereqs()
        && common::require_program("python3")
        && common::require(Path::new("/dev/fuse").exists(), "needs /dev/fuse")
}

/// The hung FUSE daemon of one test, killed by PID on drop (which aborts the connection and
/// lets the process stuck on it die).
struct HungFuse<'a>(&'a TempDir);

impl Drop for HungFuse<'_> {
    fn drop(&mut self) {
        let pid = fs::read_to_string(self.0.join("fuse-pid")).unwrap_or_default();
        if let Ok(p) = pid.trim().parse::<i32>() {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

/// dind-init (not PID 1, so its own exit is observable: a pid namespace's init cannot finish
/// exiting while a process in it is stuck) in a private mount namespace holding a hung FUSE
/// mount, running `stat` on a file in it. `prelude` runs first (e.g. private /run).
fn on_hung_mount(dir: &TempDir, prelude: &str) -> Command {
    fs::write(dir.join("hungfs.py"), HUNG_FUSE).unwrap_or_else(|e| panic!("write: {e}"));
    fs::create_dir_all(dir.join("mnt")).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let d = dir.text();
    let sh = format!(
        "{prelude}(python3 {d}/hungfs.py {d}/mnt {d} &)\n\
         n=0; while [ ! -e {d}/fuse-ready ] && [ $n -lt 500 ]; do sleep 0.01; n=$((n+1)); done\n\
         exec \"$0\" -- stat {d}/mnt/file"
    );
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c", &sh])
        .arg(init_bin());
    hermetic(&mut c);
    c
}

/// Wait until the command is blocked on the hung mount, then send SIGTERM to dind-init.
fn term_when_stuck(run: &mut Run, dir: &TempDir, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    while !dir.join("fuse-request").exists() {
        assert!(
            !run.exited() && Instant::now() < deadline,
            "the command never reached the hung mount; stderr: {:?}",
            run.captured("stderr")
        );
        sleep(POLL);
    }
    let sent = Instant::now();
    kill(Pid::from_raw(run.pid()), Signal::SIGTERM).unwrap_or_else(|e| panic!("kill: {e}"));
    sent
}

/// Check 13 (README, Signals: "a process that survives even SIGKILL … is given up on 2 s
/// later"): the command is stuck in D state on a hung mount; with DIND_STOP_TIMEOUT=1 it
/// gets SIGKILL after 1 s, survives it, and dind-init exits 2 s later with 128+9.
#[test]
fn a_process_that_survives_sigkill_is_given_up_on_2s_later() {
    if !hung_fuse_prereqs() {
        return;
    }
    let dir = TempDir::new("dstate");
    let _fuse = HungFuse(&dir);
    let mut cmd = on_hung_mount(&dir, "");
    cmd.env("DIND_STOP_TIMEOUT", "1");
    let mut run = start(cmd);
    let sent = term_when_stuck(&mut run, &dir, READY);
    let out = run.wait(GUARD);
    let took = sent.elapsed();
    assert_eq!(out.code(), 128 + 9, "stderr: {:?}", out.stderr);
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_millis(3800),
        "SIGKILL at 1 s, so given up at 3 s, not after {took:?}; stderr: {:?}",
        out.stderr
    );
    assert!(out.stderr.contains("exiting anyway"), "{:?}", out.stderr);
}

/// Check 14 (issue 10): a command stuck in D state does not hold up the ordered stop:
/// with DIND_STOP_TIMEOUT=3 and SIGTERM, the command is killed after its 40 %, dockerd is
/// then stopped at once (it gets SIGTERM and exits), and the whole stop is over within the
/// budget plus the 2 s give-up.
#[test]
fn a_command_stuck_in_d_state_does_not_hold_up_docker_s_stop() {
    if !hung_fuse_prereqs() {
        return;
    }
    let dir = TempDir::new("dstate-docker");
    let _fuse = HungFuse(&dir);
    let dockerd = dir.join("dockerd");
    fs::write(&dockerd, FAKE_DOCKERD).unwrap_or_else(|e| panic!("write: {e}"));
    fs::set_permissions(&dockerd, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    let private =
        "mount -t tmpfs tmpfs /run && mkdir -p /etc/docker && mount -t tmpfs tmpfs /etc/docker\n";
    let mut cmd = on_hung_mount(&dir, private);
    cmd.env("DIND_START_DOCKERD", "true")
        .env("DIND_DOCKERD", &dockerd)
        .env("DIND_CONTAINERD", "managed")
        .env("DIND_STRATEGY", "off")
        .env("DIND_STOP_TIMEOUT", "3")
        .env("FAKE_LOG", dir.join("dockerd.log"));
    let mut run = start(cmd);
    let sent = term_when_stuck(&mut run, &dir, Duration::from_secs(30));
    let out = run.wait(Duration::from_secs(40));
    let took = sent.elapsed();
    let log = fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
    assert!(
        log.contains("dockerd got SIGTERM"),
        "dockerd was never stopped; stderr: {:?}",
        out.stderr
    );
    assert!(
        took < Duration::from_millis(5800),
        "DIND_STOP_TIMEOUT=3 + 2 s give-up, but the stop took {took:?}; stderr: {:?}",
        out.stderr
    );
    let killed = out.stderr.find("killing it so Docker can stop");
    let stopping = out.stderr.find("stopping dockerd");
    assert!(
        killed.is_some() && stopping.is_some() && killed < stopping,
        "the command is killed first, then dockerd is stopped: {:?}",
        out.stderr
    );
    assert_eq!(out.code(), 128 + 9, "stderr: {:?}", out.stderr);
}

/// Check 15 (issue 15): when the command exits on its own, a leftover that ignores SIGTERM is
/// killed after DIND_LEFTOVER_GRACE (2 s by default), not after the whole DIND_STOP_TIMEOUT.
#[test]
fn leftovers_of_a_command_that_finished_get_a_short_grace() {
    if !pid1_prereqs() {
        return;
    }
    let body = "(trap '' TERM; touch @D@/gc-ready; exec sleep 1000) &\n\
        while [ ! -e @D@/gc-ready ]; do sleep 0.01; done\n\
        exit 5\n";
    for (grace, min, max) in [(None, 1900, 3000), (Some("1"), 900, 1900)] {
        let dir = TempDir::new("grace");
        let mut cmd = pid1(["--", "sh", "-c", &script(body, &dir)]);
        if let Some(g) = grace {
            cmd.env("DIND_LEFTOVER_GRACE", g);
        }
        let mut run = start(cmd);
        let out = run.wait(GUARD);
        assert_eq!(out.code(), 5, "stderr: {:?}", out.stderr);
        assert!(
            out.elapsed >= Duration::from_millis(min) && out.elapsed < Duration::from_millis(max),
            "DIND_LEFTOVER_GRACE={grace:?}: the TERM-ignoring leftover ended the run after {:?}",
            out.elapsed
        );
    }
}

/// Check 16 (issue 15): on a stop request the leftovers get the whole DIND_STOP_TIMEOUT,
/// not the short grace of a command that finished on its own.
#[test]
fn leftovers_get_the_whole_stop_timeout_on_a_stop_request() {
    if !pid1_prereqs() {
        return;
    }
    let dir = TempDir::new("grace-stop");
    let body = "(trap '' TERM; touch @D@/gc-ready; exec sleep 1000) &\n\
        trap 'exit 7' TERM\n\
        touch @D@/ready\n\
        while :; do sleep 0.05; done\n";
    let mut cmd = pid1(["--", "sh", "-c", &script(body, &dir)]);
    cmd.env("DIND_STOP_TIMEOUT", "4");
    let mut run = start(cmd);
    run.wait_for_file(&dir.join("ready"));
    run.wait_for_file(&dir.join("gc-ready"));
    let init = run.ns_init();
    let sent = Instant::now();
    kill(Pid::from_raw(init), Signal::SIGTERM).unwrap_or_else(|e| panic!("kill: {e}"));
    let out = run.wait(GUARD);
    let took = sent.elapsed();
    assert_eq!(out.code(), 7, "stderr: {:?}", out.stderr);
    assert!(
        took >= Duration::from_millis(3900) && took < Duration::from_millis(5000),
        "DIND_STOP_TIMEOUT=4: the leftover was killed after {took:?}"
    );
}

/// Issue 13: a descriptor the runtime leaks into PID 1 (fd 7, opened without CLOEXEC by
/// the wrapper shell, like a runtime's sync pipe) does not reach the command.
#[test]
fn inherited_descriptors_do_not_reach_the_command() {
    if !pid1_prereqs() {
        return;
    }
    let dir = TempDir::new("fds");
    let body = "for f in /proc/$$/fd/*; do printf '%s ' \"${f##*/}\"; done > @D@/fds\n";
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "exec 7</dev/null; exec \"$@\"", "sh"])
        .args(["unshare", "--pid", "--fork", "--mount-proc"])
        .arg(init_bin())
        .args(["--", "sh", "-c", &script(body, &dir)]);
    hermetic(&mut cmd);
    let out = start(cmd).wait(GUARD);
    assert_eq!(out.code(), 0, "command failed; stderr: {:?}", out.stderr);
    let fds = fs::read_to_string(dir.join("fds")).unwrap_or_default();
    let open: Vec<&str> = fds.split_whitespace().collect();
    assert!(
        ["0", "1", "2"].iter().all(|fd| open.contains(fd)),
        "the command's fd listing is broken: {fds:?}"
    );
    assert!(
        !open.contains(&"7"),
        "the command inherited PID 1's leaked fd 7: {fds:?}"
    );
}

/// Issue 13: Ctrl-Z while PID 1's own group holds the terminal is the kernel's
/// job-control signal for PID 1, not for the command: PID 1 neither stops nor passes it
/// on. A user's explicit `kill -TSTP 1` still reaches the command (and SIGCONT resumes it).
#[test]
fn terminal_stop_for_pid1_does_not_stop_the_command() {
    if !pid1_prereqs() || !common::require_program("setsid") || !common::require_program("perl") {
        return;
    }
    let pty = nix::pty::openpty(None, None).unwrap_or_else(|e| panic!("openpty: {e}"));
    let dir = TempDir::new("tstp");
    let body = "perl -MPOSIX -e 'tcsetpgrp(0, 1) or die \"tcsetpgrp: $!\\n\"' || exit 9\n\
        touch @D@/ready\n\
        while :; do sleep 0.05; done\n";
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "setsid",
        "--ctty",
        "--wait",
    ])
    .arg(init_bin())
    .args(["--", "sh", "-c", &script(body, &dir)]);
    hermetic(&mut cmd);
    let slave = |fd: &std::os::fd::OwnedFd| {
        Stdio::from(fd.try_clone().unwrap_or_else(|e| panic!("dup pty: {e}")))
    };
    let mut run = start_with(cmd, slave(&pty.slave), Some(slave(&pty.slave)));
    drop(pty.slave);
    let mut master = File::from(pty.master);
    run.wait_for_file(&dir.join("ready"));
    let init = run.ns_init();
    let child = children_of(init)
        .into_iter()
        .find(|&p| proc_stat(p).is_some_and(|s| s.comm == "sh"))
        .unwrap_or_else(|| panic!("no command under PID 1 ({init})"));
    let state = |pid: i32| proc_stat(pid).map_or('?', |s| s.state);

    master
        .write_all(b"\x1a")
        .unwrap_or_else(|e| panic!("write ^Z: {e}"));
    sleep(Duration::from_millis(300));
    assert_ne!(state(init), 'T', "PID 1 stopped on the terminal's SIGTSTP");
    assert_ne!(
        state(child),
        'T',
        "PID 1 passed the terminal's SIGTSTP (meant for PID 1's group) on to the command"
    );

    kill(Pid::from_raw(init), Signal::SIGTSTP).unwrap_or_else(|e| panic!("kill -TSTP: {e}"));
    let stopped = wait_state(child, |s| s == 'T');
    assert!(
        stopped,
        "an explicit kill -TSTP 1 did not reach the command"
    );
    assert_ne!(state(init), 'T', "PID 1 stopped on kill -TSTP");
    kill(Pid::from_raw(init), Signal::SIGCONT).unwrap_or_else(|e| panic!("kill -CONT: {e}"));
    assert!(
        wait_state(child, |s| s != 'T'),
        "SIGCONT did not resume the command"
    );

    kill(Pid::from_raw(init), Signal::SIGTERM).unwrap_or_else(|e| panic!("kill -TERM: {e}"));
    let out = run.wait(GUARD);
    assert_eq!(out.code(), 128 + 15, "stderr: {:?}", out.stderr);
}

/// Poll `pid`'s state until `want` holds (true) or REACT passes (false).
fn wait_state(pid: i32, want: impl Fn(char) -> bool) -> bool {
    let deadline = Instant::now() + REACT;
    while Instant::now() < deadline {
        if proc_stat(pid).is_some_and(|s| want(s.state)) {
            return true;
        }
        sleep(POLL);
    }
    false
}
