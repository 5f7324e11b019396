//! End-to-end, issue 12 part 3: Docker's bridge networks in a pod whose route covers
//! 172.16.0.0/12 (tests/net/pools.sh): dind-init as PID 1 with Debian bookworm's Docker 20.10
//! and trixie's 26.1, real bridge networking and iptables, all inside namespaces of the test's own.
//!
//! `control` lets Docker pick (DIND_ADDRESS_POOLS=off) and asserts the clash: container
//! addresses inside the pod's route, company hosts unreachable. `fix` uses dind-init's choice
//! and asserts every address is outside the pod's routes and every company host answers
//! through NAT. Needs root; in CI (`CI=true`) a missing prerequisite fails instead of skipping.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn prerequisites(engine: &str) -> bool {
    if !common::require_root() {
        return false;
    }
    let tools = "ip iptables nsenter unshare flock busybox dockerd docker containerd runc";
    if !tools.split_whitespace().all(common::require_program) {
        return false;
    }
    let trixie = std::env::var_os("DEVPOD_TRIXIE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/trixie/root"));
    engine != "trixie"
        || common::require(
            trixie.join("usr/sbin/dockerd").is_file(),
            &format!(
                "needs Debian trixie's Docker under {} (run scripts/deps)",
                trixie.display()
            ),
        )
}

/// Run `pools.sh --engine ENGINE --bin dind-init SCENARIO` and assert it passed.
fn scenario(engine: &str, name: &str) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !prerequisites(engine) {
        return;
    }
    let script = repo().join("tests/net/pools.sh");
    let bin = std::env::var_os("DIND_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(common::bin);
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .args(["-c", "exec \"$@\" 2>&1", "bash"])
        .arg(&script)
        .args(["--engine", engine, "--bin"])
        .arg(&bin)
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("PASS ({name})")),
        "pools {engine}/{name} failed ({}) after {:.1} s:\n{text}",
        out.status,
        started.elapsed().as_secs_f64()
    );
    for line in text.lines().filter(|l| l.starts_with("evidence:")) {
        println!("{line}");
    }
}

/// Without dind-init's choice, Docker's networks land inside the pod's route and hide the
/// company hosts in them, from the containers and from the pod itself.
#[test]
fn bookworm_docker_default_pools_clash_with_a_pod_route_over_172_16() {
    scenario("bookworm", "control");
}

#[test]
fn trixie_docker_default_pools_clash_with_a_pod_route_over_172_16() {
    scenario("trixie", "control");
}

/// With dind-init's choice, containers get addresses outside every pod route and reach the
/// company network through NAT.
#[test]
fn bookworm_dind_init_pools_avoid_the_pod_route_and_reach_it_through_nat() {
    scenario("bookworm", "fix");
}

#[test]
fn trixie_dind_init_pools_avoid_the_pod_route_and_reach_it_through_nat() {
    scenario("trixie", "fix");
}
