//! Real dockerd (Debian's 20.10 here) against `dind_init::dockerd`: readiness by
//! `/_ping`, the smoke test on overlay2/ext4, idempotence, pidfiles of a live
//! daemon, and the seed's failure (data root on overlayfs) diagnosed in plain words.
//!
//! Each dockerd runs in its own private mount namespace (`unshare --mount
//! --propagation private`, which execs dockerd, so the child PID is dockerd's),
//! with its own data root, exec root, socket and pidfile under /tmp (ext4 here),
//! and is stopped by PID in a Drop guard.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use dind_init::dockerd::{
    containerd_answers, diagnose, pidfile_is_stale, ping, request, smoke_test, smoke_test_typed,
    LogPump, SmokeError, SmokeFailure, VolumeNow, SMOKE_NAME,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn prerequisites() -> bool {
    common::require_root()
        && common::require_program("dockerd")
        && common::require_program("unshare")
}

/// Which dockerd to run: Debian bookworm's 20.10 on PATH, or trixie's 26.1 that
/// scripts/deps unpacks under .cache/trixie/root (with its own containerd 1.7).
struct Engine {
    dockerd: PathBuf,
    path: String,
}

impl Engine {
    fn bookworm() -> Engine {
        Engine {
            dockerd: PathBuf::from("dockerd"),
            path: std::env::var("PATH").unwrap_or_default(),
        }
    }

    /// None (after printing SKIP; a panic in CI) when scripts/deps has not unpacked it.
    fn trixie() -> Option<Engine> {
        let root = std::env::var_os("DIND_TEST_TRIXIE_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/trixie/root"));
        let dockerd = root.join("usr/sbin/dockerd");
        if !common::require(
            dockerd.is_file() && root.join("usr/bin/containerd").is_file(),
            &format!(
                "needs Docker 26.1 unpacked in {} (scripts/deps)",
                root.display()
            ),
        ) {
            return None;
        }
        let path = format!(
            "{}:{}:{}",
            root.join("usr/bin").display(),
            root.join("usr/sbin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Some(Engine { dockerd, path })
    }
}

/// A scratch directory under /tmp, removed (after unmounting anything left in it) on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = PathBuf::from(format!(
            "/tmp/dind-dd-{tag}-{}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        unmount_below(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lazily unmount every mount of this namespace at or below `dir`, deepest first.
fn unmount_below(dir: &Path) {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A dockerd child; SIGTERM then (after 20 s) SIGKILL on drop.
struct Daemon {
    child: Child,
    pump: LogPump,
    socket: PathBuf,
    dir: PathBuf,
    started: Instant,
}

impl Daemon {
    /// Start dockerd in a private mount namespace; `pre` is a shell snippet run
    /// inside that namespace first (e.g. to mount an overlay), then dockerd is exec'd.
    /// `driver` None: no --storage-driver; `features` goes into a daemon.json
    /// (e.g. `{"containerd-snapshotter": true}` for the containerd image store).
    fn start(
        engine: &Engine,
        dir: &Path,
        data_root: &Path,
        driver: Option<&str>,
        features: &str,
        pre: &str,
    ) -> Daemon {
        let socket = dir.join("docker.sock");
        let exec_root = dir.join("exec");
        std::fs::create_dir_all(&exec_root).unwrap();
        let config = dir.join("daemon.json");
        std::fs::write(&config, format!("{{\"features\": {{{features}}}}}")).unwrap();
        let driver = driver
            .map(|d| format!("--storage-driver {d}"))
            .unwrap_or_default();
        let script = format!(
            "set -e; {pre} exec {dockerd} --config-file {config} --data-root {data} -H unix://{sock} \
             --exec-root {exec} --pidfile {pid} --bridge=none --iptables=false --ip6tables=false {driver}",
            dockerd = engine.dockerd.display(),
            config = config.display(),
            data = data_root.display(),
            sock = socket.display(),
            exec = exec_root.display(),
            pid = dir.join("docker.pid").display(),
        );
        let (r, w) = nix::unistd::pipe().unwrap();
        let w2: OwnedFd = w.try_clone().unwrap();
        let started = Instant::now();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env("PATH", &engine.path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(w))
            .stderr(Stdio::from(w2))
            .spawn()
            .unwrap();
        let pump =
            LogPump::start("dockerd", File::from(r), Some(&dir.join("dockerd.log"))).unwrap();
        Daemon {
            child,
            pump,
            socket,
            dir: dir.to_path_buf(),
            started,
        }
    }

    /// Poll `/_ping` every 10 ms (as PID 1's loop does) until ready; Err(tail) if dockerd exits first.
    fn wait_ready(&mut self, limit: Duration) -> Result<Duration, Vec<String>> {
        loop {
            if ping(&self.socket, Duration::from_millis(200)).unwrap() {
                return Ok(self.started.elapsed());
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let t = Instant::now();
                while !self.pump.is_finished() && t.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let mut tail = self.pump.tail();
                tail.push(format!("(dockerd exited: {status})"));
                return Err(tail);
            }
            assert!(
                self.started.elapsed() < limit,
                "dockerd not ready after {limit:?}; last lines:\n{}",
                self.pump.tail().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(pid, Signal::SIGTERM);
            let t = Instant::now();
            while self.child.try_wait().ok().flatten().is_none() {
                if t.elapsed() > Duration::from_secs(20) {
                    let _ = kill(pid, Signal::SIGKILL);
                    let _ = self.child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        unmount_below(&self.dir);
    }
}

/// The seed: /var/lib/docker on the pod's overlayfs root. Returns the shell snippet
/// mounting it inside dockerd's private namespace (nothing leaks if the test dies)
/// and the data root on it.
fn overlay_data_root(scratch: &Scratch) -> (String, PathBuf) {
    let s = scratch.0.display().to_string();
    for sub in ["lower", "upper", "work", "ovl"] {
        std::fs::create_dir_all(scratch.0.join(sub)).unwrap();
    }
    let pre = format!(
        "mount -t overlay overlay -o lowerdir={s}/lower,upperdir={s}/upper,workdir={s}/work {s}/ovl; mkdir -p {s}/ovl/data;"
    );
    (pre, scratch.0.join("ovl/data"))
}

fn json(socket: &Path, path: &str) -> serde_json::Value {
    let r = request(socket, "GET", path, &[], &[], Duration::from_secs(10)).unwrap();
    assert_eq!(r.status, 200, "{path}: {}", r.error_message());
    serde_json::from_slice(&r.body).unwrap()
}

fn leftovers(socket: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for img in json(socket, "/images/json?all=1").as_array().unwrap() {
        for tag in img["RepoTags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap_or("");
            if tag.contains(SMOKE_NAME) {
                found.push(format!("image {tag}"));
            }
        }
    }
    for c in json(socket, "/containers/json?all=1").as_array().unwrap() {
        for n in c["Names"].as_array().into_iter().flatten() {
            let n = n.as_str().unwrap_or("");
            if n.contains(SMOKE_NAME) {
                found.push(format!("container {n}"));
            }
        }
    }
    found
}

#[test]
fn dockerd_20_10_overlay2_on_ext4_answers_and_passes_the_smoke_test_twice() {
    if !prerequisites() {
        return;
    }
    let scratch = Scratch::new("ext4");
    let data_root = scratch.0.join("data");
    let socket = scratch.0.join("docker.sock");

    // Absent socket: the 10 ms poll must cost next to nothing.
    let n = 1000u32;
    let t = Instant::now();
    for _ in 0..n {
        assert!(!ping(&socket, Duration::from_secs(1)).unwrap());
    }
    let each = t.elapsed() / n;
    eprintln!("ping, socket absent: {each:?} per call");
    assert!(each < Duration::from_micros(500), "{each:?}");

    let mut d = Daemon::start(
        &Engine::bookworm(),
        &scratch.0,
        &data_root,
        Some("overlay2"),
        "",
        "",
    );
    let ready = d
        .wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|tail| panic!("dockerd died:\n{}", tail.join("\n")));
    eprintln!(
        "dockerd 20.10 ready (first /_ping OK) after {} ms",
        ready.as_millis()
    );

    let t = Instant::now();
    assert!(ping(&d.socket, Duration::from_secs(1)).unwrap());
    eprintln!("ping, daemon up: {:?}", t.elapsed());

    let info = json(&d.socket, "/info");
    assert_eq!(info["Driver"], "overlay2", "{info}");

    // Pidfiles of live daemons are never stale.
    let proc = Path::new("/proc");
    assert_eq!(
        pidfile_is_stale(&d.dir.join("docker.pid"), proc, &["dockerd"]).unwrap(),
        Some(false)
    );
    let cpid = d.dir.join("exec/containerd/containerd.pid");
    assert_eq!(
        pidfile_is_stale(&cpid, proc, &["containerd"]).unwrap(),
        Some(false)
    );
    assert_eq!(
        pidfile_is_stale(&cpid, proc, &["dockerd"]).unwrap(),
        Some(true)
    );
    assert!(containerd_answers(
        &d.dir.join("exec/containerd/containerd.sock")
    ));

    for round in 1..=2 {
        let r = smoke_test(&d.socket).unwrap_or_else(|e| panic!("smoke test round {round}: {e}"));
        eprintln!(
            "smoke test round {round}: import {:.1} ms, create {:.1} ms, archive (mount) {:.1} ms, cleanup {:.1} ms, total {:.1} ms",
            r.import_ms, r.create_ms, r.archive_ms, r.cleanup_ms, r.total_ms
        );
        assert_eq!(r.read_back, r.expected);
        assert!(r.expected.starts_with("dind-init smoke test "));
        let left = leftovers(&d.socket);
        assert!(left.is_empty(), "round {round} left {left:?}");
    }
    // The data really went through overlay2 on the data root.
    assert!(data_root.join("overlay2").is_dir());
    drop(d);
    assert!(
        !socket.exists(),
        "dockerd removes its socket on a clean stop"
    );
}

#[test]
fn dockerd_20_10_on_overlay_data_root_overlay2_refuses_vfs_works() {
    if !prerequisites() {
        return;
    }
    let scratch = Scratch::new("ovl");
    let (pre, data_root) = overlay_data_root(&scratch);

    // overlay2 pinned: dockerd refuses to start, and the diagnosis says why in plain words.
    let dir2 = scratch.0.join("o2");
    std::fs::create_dir_all(&dir2).unwrap();
    let mut d = Daemon::start(
        &Engine::bookworm(),
        &dir2,
        &data_root,
        Some("overlay2"),
        "",
        &pre,
    );
    let tail = match d.wait_ready(Duration::from_secs(60)) {
        Ok(t) => {
            panic!("dockerd with overlay2 on overlayfs answered after {t:?}; expected it to refuse")
        }
        Err(tail) => tail,
    };
    let took = d.started.elapsed();
    let said = diagnose(&tail, &data_root, "overlay2")
        .unwrap_or_else(|| panic!("no diagnosis for:\n{}", tail.join("\n")));
    eprintln!(
        "overlay2 on overlayfs refused after {} ms; diagnosis: {said}",
        took.as_millis()
    );
    assert!(
        said.contains("storage driver overlay2 cannot work on overlayfs"),
        "{said}"
    );
    assert!(
        said.contains(&format!("data root is {}", data_root.display())),
        "{said}"
    );
    assert!(said.contains("DIND_DATA_ROOT"), "{said}");
    assert!(
        tail.iter().any(|l| l.contains("driver not supported")),
        "dockerd's own words are in the tail: {tail:?}"
    );
    let log = std::fs::read_to_string(dir2.join("dockerd.log")).unwrap();
    assert!(
        log.contains("failed to mount overlay: invalid argument"),
        "{log}"
    );
    drop(d);

    // vfs on the same overlay: slow copies, but it starts and really mounts.
    let dir3 = scratch.0.join("vfs");
    std::fs::create_dir_all(&dir3).unwrap();
    let mut d = Daemon::start(
        &Engine::bookworm(),
        &dir3,
        &data_root,
        Some("vfs"),
        "",
        &pre,
    );
    let ready = d
        .wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|tail| panic!("dockerd vfs died:\n{}", tail.join("\n")));
    eprintln!(
        "dockerd 20.10 vfs on overlayfs ready after {} ms",
        ready.as_millis()
    );
    assert_eq!(json(&d.socket, "/info")["Driver"], "vfs");
    let r = smoke_test(&d.socket).unwrap_or_else(|e| panic!("vfs smoke test: {e}"));
    eprintln!(
        "smoke test vfs on overlayfs: import {:.1} ms, create {:.1} ms, archive {:.1} ms, cleanup {:.1} ms, total {:.1} ms",
        r.import_ms, r.create_ms, r.archive_ms, r.cleanup_ms, r.total_ms
    );
    assert_eq!(r.read_back, r.expected);
    assert!(leftovers(&d.socket).is_empty());
    drop(d);
}

#[test]
fn dockerd_26_1_containerd_store_on_overlayfs_is_healthy_but_the_smoke_test_catches_it() {
    if !prerequisites() {
        return;
    }
    let Some(engine) = Engine::trixie() else {
        return;
    };
    let store = "\"containerd-snapshotter\": true";

    // The Docker >= 29 failure mode: /_ping is fine, every container mount fails.
    let scratch = Scratch::new("cs-ovl");
    let (pre, data_root) = overlay_data_root(&scratch);
    let dir = scratch.0.join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let mut d = Daemon::start(&engine, &dir, &data_root, None, store, &pre);
    let ready = d
        .wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|tail| panic!("dockerd 26.1 died:\n{}", tail.join("\n")));
    let info = json(&d.socket, "/info");
    assert_eq!(
        info["ServerVersion"]
            .as_str()
            .map(|v| v.starts_with("26.1")),
        Some(true),
        "{info}"
    );
    assert_eq!(info["Driver"], "overlayfs", "{info}");
    eprintln!(
        "dockerd 26.1 (containerd store) on overlayfs ready after {} ms",
        ready.as_millis()
    );
    let t = Instant::now();
    let err = smoke_test(&d.socket).expect_err("the smoke test must fail on overlay-on-overlay");
    let msg = err.to_string();
    eprintln!(
        "smoke test on overlayfs failed in {} ms: {msg}",
        t.elapsed().as_millis()
    );
    assert!(
        msg.contains("failed to mount /tmp/containerd-mount"),
        "{msg}"
    );
    assert!(msg.contains("invalid argument"), "{msg}");
    assert!(msg.contains("DIND_DATA_ROOT"), "hint: {msg}");
    let typed = smoke_test_typed(&d.socket, Duration::from_secs(5)).expect_err("again");
    assert_eq!(
        typed.failure,
        SmokeFailure::MountRefused,
        "the kernel's EINVAL, as dockerd 26.1 reports it, is the one failure that may change the driver: {typed:?}"
    );
    let said = diagnose(&[msg], &data_root, "overlayfs").unwrap();
    assert!(
        said.contains("storage driver overlayfs cannot work on overlayfs"),
        "{said}"
    );
    assert!(
        leftovers(&d.socket).is_empty(),
        "cleaned up after the failure"
    );
    drop(d);

    // Same engine and store on ext4: the smoke test passes.
    let scratch = Scratch::new("cs-ext4");
    let mut d = Daemon::start(
        &engine,
        &scratch.0,
        &scratch.0.join("data"),
        None,
        store,
        "",
    );
    let ready = d
        .wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|tail| panic!("dockerd 26.1 died:\n{}", tail.join("\n")));
    eprintln!(
        "dockerd 26.1 (containerd store) on ext4 ready after {} ms",
        ready.as_millis()
    );
    let r = smoke_test(&d.socket).unwrap_or_else(|e| panic!("26.1 smoke test on ext4: {e}"));
    eprintln!(
        "smoke test 26.1 containerd store on ext4: import {:.1} ms, create {:.1} ms, archive {:.1} ms, cleanup {:.1} ms, total {:.1} ms",
        r.import_ms, r.create_ms, r.archive_ms, r.cleanup_ms, r.total_ms
    );
    assert_eq!(r.read_back, r.expected);
    assert!(leftovers(&d.socket).is_empty());
}

#[test]
fn dockerd_26_1_overlay2_on_overlayfs_refuses_with_a_diagnosis() {
    if !prerequisites() {
        return;
    }
    let Some(engine) = Engine::trixie() else {
        return;
    };
    let scratch = Scratch::new("26-ovl");
    let (pre, data_root) = overlay_data_root(&scratch);
    let dir = scratch.0.join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let mut d = Daemon::start(&engine, &dir, &data_root, Some("overlay2"), "", &pre);
    let tail = match d.wait_ready(Duration::from_secs(60)) {
        Ok(t) => panic!("dockerd 26.1 overlay2 on overlayfs answered after {t:?}"),
        Err(tail) => tail,
    };
    assert!(
        tail.iter()
            .any(|l| l.contains("error initializing graphdriver: driver not supported: overlay2")),
        "{tail:?}"
    );
    let said = diagnose(&tail, &data_root, "overlay2").unwrap();
    assert!(
        said.contains("storage driver overlay2 cannot work on overlayfs"),
        "{said}"
    );
}

/// A PVC full to the last block under a running dockerd: the smoke test fails as
/// "volume full" (no driver change), while dockerd still answers and lists images.
#[test]
fn dockerd_20_10_on_a_full_volume_fails_the_smoke_test_as_volume_full() {
    if !prerequisites() {
        return;
    }
    let scratch = Scratch::new("full");
    let data_root = scratch.0.join("data");
    std::fs::create_dir_all(&data_root).unwrap();
    let pre = format!("mount -t tmpfs -o size=64m tmpfs {};", data_root.display());
    let mut d = Daemon::start(
        &Engine::bookworm(),
        &scratch.0,
        &data_root,
        Some("vfs"),
        "",
        &pre,
    );
    d.wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|tail| panic!("dockerd died:\n{}", tail.join("\n")));
    // Fill the volume as dockerd sees it (its private mount namespace).
    let inside = PathBuf::from(format!("/proc/{}/root", d.child.id()))
        .join(data_root.strip_prefix("/").unwrap())
        .join("filler");
    let mut f = File::create(&inside).unwrap();
    let block = vec![0u8; 1 << 20];
    let full = loop {
        if let Err(e) = f.write_all(&block) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(libc::ENOSPC), "{full}");
    drop(f);

    let e = smoke_test_typed(&d.socket, Duration::from_secs(5)).expect_err("the volume is full");
    eprintln!("smoke test on a full volume: {e:?}");
    // dockerd 20.10 hides the ENOSPC ("ApplyLayer exit status 1 … unexpected EOF"):
    // the volume's state, as PID 1 reads it after the failure, says what it is.
    let volume = VolumeNow::of(inside.parent().unwrap());
    let e = SmokeError {
        failure: e.failure.given(&volume),
        ..e
    };
    assert_eq!(
        e.failure,
        SmokeFailure::Volume(dind_init::probe::Trouble::VolumeFull),
        "{e:?}"
    );
    assert!(!e.failure.may_change_driver());
    assert!(dind_init::Error::from(e)
        .to_string()
        .starts_with("volume full: "));
    assert!(
        ping(&d.socket, Duration::from_secs(1)).unwrap(),
        "dockerd still answers"
    );
    assert!(
        json(&d.socket, "/images/json").is_array(),
        "and lists images"
    );
    drop(d);
}
