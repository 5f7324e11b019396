//! End-to-end: the seed incident in a simulated devpod (tests/e2e/devpod.sh), for three engines —
//! Debian bookworm's Docker 20.10 (graphdriver overlay2), trixie's Docker 26.1 with the
//! containerd image store, and sid's Docker 28.5 with containerd 2.1 in both image stores — and,
//! with dind-init as PID 1, for both containerd modes.
//!
//! Each test runs one harness scenario and asserts it exits 0; on failure the harness output
//! (assertion, evidence, last pod log lines) is in the panic message. Needs root; in CI
//! (`CI=true`) a missing prerequisite fails instead of skipping. The scenarios share loop
//! devices, cgroups and CPU, so they run one at a time (a mutex here, a file lock in the harness).

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

/// Which Docker the simulated devpod runs.
#[derive(Clone, Copy)]
enum Engine {
    /// Debian bookworm's docker.io 20.10, `"storage-driver": "overlay2"` in daemon.json.
    Bookworm,
    /// Debian trixie's docker.io 26.1 + containerd 1.7, containerd image store on.
    Trixie,
    /// Debian sid's docker.io 28.5 + containerd 2.1, graphdriver: `"storage-driver": "overlay2"`.
    Sid,
    /// Debian sid's engine with the containerd image store (`features.containerd-snapshotter`),
    /// the store Docker 29 uses by default.
    SidC8d,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Bookworm => "bookworm",
            Engine::Trixie => "trixie",
            Engine::Sid | Engine::SidC8d => "sid",
        }
    }

    /// devpod.sh's `--store`.
    fn store(self) -> &'static str {
        match self {
            Engine::Bookworm | Engine::Sid => "graphdriver",
            Engine::Trixie | Engine::SidC8d => "containerd",
        }
    }

    /// The unpacked Debian tree scripts/deps made (the host's own Docker is bookworm's):
    /// (tree, what it holds).
    fn unpacked(self) -> Option<(PathBuf, &'static str)> {
        let tree = |var: &str, suite: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| repo().join(".cache").join(suite).join("root"))
        };
        match self {
            Engine::Bookworm => None,
            Engine::Trixie => Some((
                tree("DEVPOD_TRIXIE", "trixie"),
                "Debian trixie's Docker 26.1",
            )),
            Engine::Sid | Engine::SidC8d => {
                Some((tree("DEVPOD_SID", "sid"), "Debian sid's Docker 28.5"))
            }
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Root, the harness's tools and the engine's binaries; false (after a SKIP line) when missing
/// outside CI, a panic inside CI.
fn prerequisites(engine: Engine) -> bool {
    if !common::require_root() {
        return false;
    }
    let tools = "unshare chroot mkfs.ext4 losetup mount findmnt flock setpriv busybox \
                 dockerd docker runc containerd";
    for p in tools.split_whitespace() {
        if !common::require_program(p) {
            return false;
        }
    }
    if let Some((root, what)) = engine.unpacked() {
        let parts = [
            "usr/sbin/dockerd",
            "usr/bin/containerd",
            "usr/bin/docker",
            "usr/libexec/docker/cli-plugins/docker-buildx",
        ];
        let complete = parts.iter().all(|p| root.join(p).is_file());
        if !common::require(
            complete,
            &format!(
                "needs {what}, CLI, buildx and containerd under {} (run scripts/deps)",
                root.display()
            ),
        ) {
            return false;
        }
    }
    true
}

/// The dind-init put into the pod: this test build, or `DIND_E2E_BIN` (e.g. the static musl
/// release binary) to run the same scenarios against another build.
fn dind_init_bin() -> PathBuf {
    std::env::var_os("DIND_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(common::bin)
}

/// Scenarios that put dind-init into the pod's image without making it PID 1.
const BIN_WITHOUT_MODE: &[&str] = &["explain"];

/// Run `devpod.sh --engine E [--mode M] [--bin dind-init] SCENARIO` and assert it passed.
fn scenario(engine: Engine, name: &str, mode: Option<&str>) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !prerequisites(engine) {
        return;
    }
    let harness = repo().join("tests/e2e/devpod.sh");
    let mut cmd = Command::new("bash");
    // stderr into stdout, so the report keeps the harness's order of lines.
    cmd.args(["-c", "exec \"$@\" 2>&1", "bash"])
        .arg(&harness)
        .args(["--engine", engine.name(), "--store", engine.store()]);
    if let Some(m) = mode {
        cmd.args(["--mode", m]);
    }
    if mode.is_some() || BIN_WITHOUT_MODE.contains(&name) {
        cmd.arg("--bin").arg(dind_init_bin());
    }
    cmd.arg(name);
    let started = std::time::Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", harness.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    let label = format!(
        "{}({})/{}/{}",
        engine.name(),
        engine.store(),
        name,
        mode.unwrap_or("-")
    );
    assert!(
        out.status.success(),
        "e2e {label} failed ({}) after {:.1} s:\n{text}",
        out.status,
        started.elapsed().as_secs_f64()
    );
    assert!(
        text.contains("PASS"),
        "e2e {label}: harness exited 0 without a PASS line:\n{text}"
    );
    println!("{text}");
}

/// One #[test] per (engine, scenario[, mode]).
macro_rules! e2e {
    ($($test:ident: $engine:ident, $scenario:literal, $mode:expr;)*) => {
        $(
            #[test]
            fn $test() {
                scenario(Engine::$engine, $scenario, $mode);
            }
        )*
    };
}

e2e! {
    // (a) without dind-init the devpod fails exactly like the seed.
    bookworm_a_without_dind_init_fails_like_the_seed: Bookworm, "without", None;
    trixie_a_without_dind_init_fails_like_the_seed: Trixie, "without", None;
    // The seed's manual fix (data root on the PVC) works in the simulated devpod: the harness
    // itself can run containers, so a failure below is dind-init's.
    bookworm_manual_fix_baseline: Bookworm, "manual-fix", None;
    trixie_manual_fix_baseline: Trixie, "manual-fix", None;
    // Issue 4: in the seed's pod, before dind-init is PID 1, `plan` and `doctor` (as root and as
    // coder) explain the fix and change nothing; `status` says not ready (exit 1).
    bookworm_explain_plan_doctor_status: Bookworm, "explain", None;
    trixie_explain_plan_doctor_status: Trixie, "explain", None;
    // (b) dind-init as PID 1: overlay driver on ext4, build and run as uid 1000; the readiness
    // probe `dind-init status` run as uid 1000 says ready.
    bookworm_b_works_separate: Bookworm, "basic", Some("separate");
    bookworm_b_works_managed: Bookworm, "basic", Some("managed");
    trixie_b_works_separate: Trixie, "basic", Some("separate");
    trixie_b_works_managed: Trixie, "basic", Some("managed");
    // (c) a second start on the same PVC keeps images and volumes.
    bookworm_c_restart_keeps_data_separate: Bookworm, "persist", Some("separate");
    bookworm_c_restart_keeps_data_managed: Bookworm, "persist", Some("managed");
    trixie_c_restart_keeps_data_separate: Trixie, "persist", Some("separate");
    trixie_c_restart_keeps_data_managed: Trixie, "persist", Some("managed");
    // (d) SIGTERM to PID 1 with a container running: ordered shutdown, the command's exit code.
    bookworm_d_sigterm_separate: Bookworm, "sigterm", Some("separate");
    bookworm_d_sigterm_managed: Bookworm, "sigterm", Some("managed");
    trixie_d_sigterm_separate: Trixie, "sigterm", Some("separate");
    trixie_d_sigterm_managed: Trixie, "sigterm", Some("managed");
    // (e) stale pidfiles of a SIGKILLed pod do not block the next start.
    bookworm_e_stale_pidfiles_separate: Bookworm, "stale", Some("separate");
    bookworm_e_stale_pidfiles_managed: Bookworm, "stale", Some("managed");
    trixie_e_stale_pidfiles_separate: Trixie, "stale", Some("separate");
    trixie_e_stale_pidfiles_managed: Trixie, "stale", Some("managed");
    // Issue 7: managed first, then separate, on one PVC: nothing lost.
    bookworm_mode_switch_keeps_data: Bookworm, "mode-switch", Some("managed");
    trixie_mode_switch_keeps_data: Trixie, "mode-switch", Some("managed");
    // Issue 5 item 5, issue 7 item 3: dockerd SIGKILLed from outside while the session runs
    // (then containerd too, in separate mode): dind-init restarts it, the session lives on,
    // Docker answers and runs a container again within 20 s.
    bookworm_daemon_restart_separate: Bookworm, "restart", Some("separate");
    bookworm_daemon_restart_managed: Bookworm, "restart", Some("managed");
    trixie_daemon_restart_separate: Trixie, "restart", Some("separate");
    trixie_daemon_restart_managed: Trixie, "restart", Some("managed");
    // Issue 4: data made with vfs (trixie's containerd image store: native) keeps that driver
    // when the next start leaves the driver to auto, and says so.
    bookworm_keepvfs_keeps_vfs: Bookworm, "keepvfs", Some("separate");
    trixie_keepvfs_keeps_native: Trixie, "keepvfs", Some("separate");
    // Issue 10: overlay images on a PVC filled to the last block: dind-init keeps the overlay
    // driver, Docker answers and lists the images, "volume full" is named; after freeing space
    // the next start is healthy. Between them, with 64 KiB free, dockerd starts and its smoke
    // test hits ENOSPC: no driver switch either (item 1). DIND_CONTAINERD=auto (the default,
    // separate here) and managed.
    bookworm_volfull_keeps_overlay2: Bookworm, "volfull", Some("auto");
    trixie_volfull_keeps_overlayfs: Trixie, "volfull", Some("auto");
    bookworm_volfull_keeps_overlay2_managed: Bookworm, "volfull", Some("managed");
    trixie_volfull_keeps_overlayfs_managed: Trixie, "volfull", Some("managed");
}

// Issue 14: Debian sid's Docker 28.5 with containerd 2.1 (separate mode writes containerd config
// version 3), in both image stores: graphdriver overlay2 (daemon.json) and the containerd image
// store (the store behind the Docker 29 failure). The same scenarios as above.
e2e! {
    sid_overlay2_a_without_dind_init_fails_like_the_seed: Sid, "without", None;
    sid_c8d_a_without_dind_init_fails_like_the_seed: SidC8d, "without", None;
    sid_overlay2_manual_fix_baseline: Sid, "manual-fix", None;
    sid_c8d_manual_fix_baseline: SidC8d, "manual-fix", None;
    sid_overlay2_explain_plan_doctor_status: Sid, "explain", None;
    sid_c8d_explain_plan_doctor_status: SidC8d, "explain", None;
    sid_overlay2_b_works_separate: Sid, "basic", Some("separate");
    sid_overlay2_b_works_managed: Sid, "basic", Some("managed");
    sid_c8d_b_works_separate: SidC8d, "basic", Some("separate");
    sid_c8d_b_works_managed: SidC8d, "basic", Some("managed");
    sid_overlay2_c_restart_keeps_data_separate: Sid, "persist", Some("separate");
    sid_overlay2_c_restart_keeps_data_managed: Sid, "persist", Some("managed");
    sid_c8d_c_restart_keeps_data_separate: SidC8d, "persist", Some("separate");
    sid_c8d_c_restart_keeps_data_managed: SidC8d, "persist", Some("managed");
    sid_overlay2_d_sigterm_separate: Sid, "sigterm", Some("separate");
    sid_overlay2_d_sigterm_managed: Sid, "sigterm", Some("managed");
    sid_c8d_d_sigterm_separate: SidC8d, "sigterm", Some("separate");
    sid_c8d_d_sigterm_managed: SidC8d, "sigterm", Some("managed");
    sid_overlay2_e_stale_pidfiles_separate: Sid, "stale", Some("separate");
    sid_overlay2_e_stale_pidfiles_managed: Sid, "stale", Some("managed");
    sid_c8d_e_stale_pidfiles_separate: SidC8d, "stale", Some("separate");
    sid_c8d_e_stale_pidfiles_managed: SidC8d, "stale", Some("managed");
    sid_overlay2_mode_switch_keeps_data: Sid, "mode-switch", Some("managed");
    sid_c8d_mode_switch_keeps_data: SidC8d, "mode-switch", Some("managed");
    sid_overlay2_daemon_restart_separate: Sid, "restart", Some("separate");
    sid_overlay2_daemon_restart_managed: Sid, "restart", Some("managed");
    sid_c8d_daemon_restart_separate: SidC8d, "restart", Some("separate");
    sid_c8d_daemon_restart_managed: SidC8d, "restart", Some("managed");
    sid_overlay2_keepvfs_keeps_vfs: Sid, "keepvfs", Some("separate");
    sid_c8d_keepvfs_keeps_native: SidC8d, "keepvfs", Some("separate");
}
