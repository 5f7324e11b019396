//! Day one in a real cluster (issue 11): the example pod (examples/k8s/devpod.yaml) with
//! dind-init as PID 1 started as root with DIND_USER=coder, on a fresh root-owned ext4
//! volume, its startup and readiness probes run by tests/probes/kubelet-probes.py with the
//! kubelet's rules — healthy (started, ready, coder writes their home and runs a container)
//! and degraded (dockerd fails: started, never ready, never restarted, the session lives).
//! The scenarios run in the e2e harness (tests/e2e/devpod.sh day1|day1-degraded, code in
//! tests/day1/scenario.sh). The simulator itself is tested first, on shell commands.

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

fn python_yaml() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    common::require(
        ok,
        "python3 with PyYAML (scripts/deps installs python3-yaml)",
    )
}

/// Run the simulator on a one-container manifest holding `probes` (YAML, indented for
/// the container); returns its JSON summary.
fn simulate(probes: &str, duration: u32) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!(
        "dind-day1-sim-{}-{duration}-{}",
        std::process::id(),
        probes.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("pod.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: t}}\nspec:\n  containers:\n    - name: c\n      image: x\n{probes}"
    );
    std::fs::write(&manifest, text).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("tests/probes/kubelet-probes.py"))
        .args(["--manifest"])
        .arg(&manifest)
        .args(["--container", "c", "--duration", &duration.to_string()])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The simulator applies the kubelet's rules: consecutive startup failures up to the
/// threshold restart; a probe past timeoutSeconds fails; readiness never restarts and
/// waits for the startup probe.
#[test]
fn the_probe_simulator_applies_the_kubelets_rules() {
    if !python_yaml() {
        return;
    }
    let never_starts = "      startupProbe:\n        exec: {command: [sh, -c, 'exit 1']}\n        periodSeconds: 1\n        failureThreshold: 2\n      readinessProbe:\n        exec: {command: ['true']}\n        periodSeconds: 1\n";
    let v = simulate(never_starts, 5);
    assert_eq!(v["restarted"], true, "{v}");
    assert_eq!(v["probes"]["startup"], 2, "{v}");
    assert_eq!(
        v["probes"]["readiness"], 0,
        "readiness waits for startup: {v}"
    );

    let slow = "      startupProbe:\n        exec: {command: [sleep, '2']}\n        periodSeconds: 1\n        timeoutSeconds: 1\n        failureThreshold: 2\n";
    let v = simulate(slow, 6);
    assert_eq!(v["restarted"], true, "a probe past its timeout fails: {v}");

    let degraded = "      startupProbe:\n        exec: {command: ['true']}\n        periodSeconds: 1\n      readinessProbe:\n        exec: {command: ['false']}\n        periodSeconds: 1\n        failureThreshold: 1\n";
    let v = simulate(degraded, 3);
    assert_eq!(
        (&v["restarted"], &v["started"], &v["ready"]),
        (&false.into(), &true.into(), &false.into()),
        "{v}"
    );
    assert!(v["probes"]["readiness"].as_u64().unwrap() >= 2, "{v}");

    let healthy = "      startupProbe:\n        exec: {command: ['true']}\n      readinessProbe:\n        exec: {command: ['true']}\n        successThreshold: 1\n";
    let v = simulate(healthy, 1);
    assert_eq!(
        (&v["started"], &v["ready"]),
        (&true.into(), &true.into()),
        "{v}"
    );
}

/// Run `devpod.sh --engine bookworm --bin dind-init SCENARIO` and assert it passed.
fn scenario(name: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !common::require_root() || !python_yaml() {
        return;
    }
    for p in "unshare chroot mkfs.ext4 losetup mount findmnt flock setpriv nsenter busybox dockerd docker runc containerd".split_whitespace() {
        if !common::require_program(p) {
            return;
        }
    }
    let out = Command::new("bash")
        .args(["-c", "exec \"$@\" 2>&1", "bash"])
        .arg(repo().join("tests/e2e/devpod.sh"))
        .args(["--engine", "bookworm", "--mode", "auto", "--bin"])
        .arg(common::bin())
        .arg(name)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "e2e {name} failed ({}):\n{text}",
        out.status
    );
    assert!(
        text.contains(&format!("PASS {name}")),
        "no PASS line:\n{text}"
    );
    println!("{text}");
}

#[test]
fn day1_healthy_fresh_volume_probes_ready_home_writable_docker_works() {
    scenario("day1");
}

#[test]
fn day1_degraded_docker_fails_settled_not_ready_never_restarted() {
    scenario("day1-degraded");
}

#[test]
fn day1_nonroot_start_names_the_fix_and_doctor_fails_first_on_it() {
    scenario("day1-nonroot");
}
