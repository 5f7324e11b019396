//! Docker trouble must not lock the user out: the command still starts after a
//! loud banner, unless DIND_REQUIRE_DOCKER=true. Runs the real binary in a
//! private mount namespace (tmpfs over /run and /etc/docker) so nothing on the
//! host is touched.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::process::{Command, Output};

/// What every run starts with: a private /run and /etc/docker, so nothing on the
/// host is touched.
const PRIVATE: &str =
    "mount -t tmpfs tmpfs /run && mkdir -p /etc/docker && mount -t tmpfs tmpfs /etc/docker";

/// Run `script` (with `$0` = the binary) in a private mount namespace, with no
/// inherited DIND_* settings, DIND_STRATEGY=off and DIND_STOP_TIMEOUT=2 unless `env` says otherwise.
fn unshared(script: &str, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c", script]);
    c.arg(common::bin());
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("DIND_") {
            c.env_remove(k);
        }
    }
    c.env("DIND_STRATEGY", "off").env("DIND_STOP_TIMEOUT", "2");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run unshare")
}

/// dind-init running `cmd`.
fn run(env: &[(&str, &str)], cmd: &str) -> Output {
    unshared(&format!("{PRIVATE} && exec \"$0\" -- sh -c '{cmd}'"), env)
}

/// dind-init told to run `echo RAN`, sent SIGTERM after `secs` seconds; with how long it took.
fn run_then_term(env: &[(&str, &str)], secs: u32) -> (Output, std::time::Duration) {
    let t = std::time::Instant::now();
    let out = unshared(
        &format!("{PRIVATE} && {{ \"$0\" -- sh -c 'echo RAN' & p=$!; sleep {secs}; kill -TERM $p; wait $p; }}"),
        env,
    );
    (out, t.elapsed())
}

fn ready() -> bool {
    common::require_root() && common::require_program("unshare")
}

fn fake_dockerd(dir: &std::path::Path, body: &str) -> String {
    let p = dir.join("dockerd");
    std::fs::write(&p, format!("#!/bin/sh\ncase \"$1\" in --version) echo 'Docker version 20.10.24, build x'; exit 0;; esac\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn command_starts_with_a_banner_when_dockerd_is_missing() {
    if !ready() {
        return;
    }
    let out = run(
        &[("DIND_DOCKERD", "/nonexistent/dockerd")],
        "echo RAN; exit 3",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "RAN\n");
    assert!(stderr.contains("DOCKER IS NOT AVAILABLE"), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/dockerd"),
        "names the program: {stderr}"
    );
    assert!(
        stderr.contains("dind-init doctor"),
        "points at doctor: {stderr}"
    );
}

#[test]
fn require_docker_makes_it_fatal_and_the_command_never_runs() {
    if !ready() {
        return;
    }
    let out = run(
        &[
            ("DIND_DOCKERD", "/nonexistent/dockerd"),
            ("DIND_REQUIRE_DOCKER", "true"),
        ],
        "echo RAN; exit 0",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "command must not run"
    );
    assert!(stderr.contains("DIND_REQUIRE_DOCKER=true"), "{stderr}");
}

#[test]
fn a_dockerd_that_dies_is_diagnosed_in_plain_words() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dockerd = fake_dockerd(
        dir,
        "echo 'level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2' >&2\necho 'failed to start daemon: error initializing graphdriver: driver not supported' >&2\nexit 1",
    );
    let out = run(
        &[("DIND_DOCKERD", &dockerd), ("DIND_CONTAINERD", "managed")],
        "echo RAN",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("dockerd: failed to start daemon"),
        "dockerd's lines reach the pod log with a prefix: {stderr}"
    );
    assert!(
        stderr.contains("exited with 1 before it answered"),
        "{stderr}"
    );
    assert!(
        stderr.contains("overlayfs"),
        "plain-words diagnosis: {stderr}"
    );
    assert!(stderr.contains("DOCKER IS NOT AVAILABLE"), "{stderr}");
}

#[test]
fn a_stop_signal_while_docker_starts_ends_cleanly() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A dockerd that never answers: the stop must not wait for DIND_READY_TIMEOUT.
    let dockerd = fake_dockerd(dir, "exec sleep 1000");
    let (out, took) = run_then_term(
        &[
            ("DIND_CONTAINERD", "managed"),
            ("DIND_STOP_TIMEOUT", "3"),
            ("DIND_DOCKERD", &dockerd),
        ],
        1,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "the command never started"
    );
    assert!(took < std::time::Duration::from_secs(20), "guard only");
}

#[test]
fn a_read_only_daemon_json_is_left_alone_and_docker_still_works() {
    if !(ready() && common::require_program("dockerd")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // daemon.json as a read-only file mount, like a ConfigMap with subPath (Docker 20.10
    // itself needs /etc/docker writable for its key.json, so the directory stays writable).
    let out = unshared(
        &format!(
            "{PRIVATE} && printf '{{\"debug\": false}}\\n' > /etc/docker/daemon.json \
            && mount --bind /etc/docker/daemon.json /etc/docker/daemon.json \
            && mount -o remount,bind,ro /etc/docker/daemon.json \
            && exec unshare --pid --fork --mount-proc \"$0\" -- sh -c \
            'sha256sum /etc/docker/daemon.json; \"$0\" status; grep -c storage-driver /run/dind-init/daemon.json' \"$0\""
        ),
        &[
            ("DIND_DATA_ROOT", data.to_str().unwrap()),
            ("DIND_STRATEGY", "data-root"),
            ("DIND_STOP_TIMEOUT", "10"),
            ("DIND_DOCKERD_ARGS", "--bridge=none --iptables=false --ip6tables=false"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    // sha256 of "{\"debug\": false}\n": the user's file is byte-identical.
    let want = Command::new("sh")
        .args([
            "-c",
            "printf '{\"debug\": false}\\n' | sha256sum | cut -d' ' -f1",
        ])
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&want.stdout).trim().to_string();
    assert!(stdout.contains(&want), "daemon.json changed: {stdout}");
    assert!(
        stdout.contains("ready: Docker answers"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("is read-only"),
        "the plan says why: {stderr}"
    );
}

/// A dockerd stand-in that answers /_ping and fails (FAKE_MODE=error) or hangs
/// (FAKE_MODE=hang) on every other API call.
fn fake_api_dockerd(dir: &std::path::Path) -> String {
    let p = dir.join("dockerd");
    std::fs::write(
        &p,
        r#"#!/usr/bin/env python3
import os, socket, sys, time
if sys.argv[1:2] == ['--version']:
    print('Docker version 20.10.24, build x'); sys.exit(0)
path = '/var/run/docker.sock'
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(16)
while True:
    c, _ = s.accept()
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = c.recv(65536)
        if not chunk: break
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    n = 0
    for line in head.split(b'\r\n'):
        if line.lower().startswith(b'content-length:'): n = int(line.split(b':')[1])
    while len(body) < n:
        chunk = c.recv(65536)
        if not chunk: break
        body += chunk
    if head.startswith(b'GET /_ping'):
        c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK')
    elif os.environ.get('FAKE_MODE') == 'hang':
        time.sleep(3600)
    else:
        msg = {
            'full': b'{"message":"write /var/lib/docker/tmp/docker-import-1/x: no space left on device"}',
            'einval': b'{"message":"failed to mount /tmp/containerd-mount2787443106: invalid argument"}',
        }.get(os.environ.get('FAKE_MODE'), b'{"message":"boom"}')
        c.sendall(b'HTTP/1.0 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' % (len(msg), msg))
    c.close()
"#,
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p.display().to_string()
}

#[test]
fn a_broken_docker_keeps_its_lock_and_its_driver() {
    if !(ready() && common::require_program("python3") && common::require_program("flock")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let dockerd = fake_api_dockerd(dir);
    let lockfile = data.join(".dind-init.lock");
    let cmd = format!("flock -n {} true; echo lock-free=$?", lockfile.display());
    let out = run(
        &[
            ("DIND_DOCKERD", &dockerd),
            ("DIND_CONTAINERD", "managed"),
            ("DIND_STRATEGY", "data-root"),
            ("DIND_DATA_ROOT", data.to_str().unwrap()),
            ("FAKE_MODE", "error"),
        ],
        &cmd,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("DOCKER IS NOT AVAILABLE") && stderr.contains("boom"),
        "{stderr}"
    );
    assert!(
        stdout.contains("lock-free=1"),
        "the data-root lock must stay held while that dockerd runs: {stdout}"
    );
    assert!(
        !stderr.contains("trying"),
        "an API error is no storage verdict: no driver switch: {stderr}"
    );
}

/// The smoke verdicts as PID 1 acts on them: a full volume is said and keeps the
/// driver; a mount refusal of a pinned driver (here DOCKER_DRIVER, as docker:dind
/// sets it) keeps it too. Docker stays up for both.
#[test]
fn smoke_verdicts_full_volume_and_pinned_refusal_keep_the_driver() {
    if !(ready() && common::require_program("python3")) {
        return;
    }
    for (mode, pin, said, banner) in [
        // Docker answers on a full volume: it is there for listing and pruning (issue 10).
        (
            "full",
            None,
            "volume full",
            "DOCKER RUNS, BUT ITS VOLUME CANNOT BE WRITTEN",
        ),
        (
            "einval",
            Some("overlay2"),
            "storage cannot mount",
            "DOCKER IS NOT AVAILABLE",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let dockerd = fake_api_dockerd(dir);
        let mut env = vec![
            ("DIND_DOCKERD", dockerd.as_str()),
            ("DIND_CONTAINERD", "managed"),
            ("DIND_STRATEGY", "data-root"),
            ("DIND_DATA_ROOT", data.to_str().unwrap()),
            ("FAKE_MODE", mode),
        ];
        env.extend(pin.map(|p| ("DOCKER_DRIVER", p)));
        let out = run(&env, "true");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{mode}: {stderr}");
        assert!(
            stderr.contains(banner) && stderr.contains(said),
            "{mode}: {stderr}"
        );
        assert!(
            !stderr.contains("trying"),
            "{mode}: no driver switch: {stderr}"
        );
    }
}

#[test]
fn sigterm_during_a_hung_smoke_test_stops_at_once() {
    if !(ready() && common::require_program("python3")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let dockerd = fake_api_dockerd(dir);
    let (out, took) = run_then_term(
        &[
            ("DIND_DOCKERD", &dockerd),
            ("DIND_CONTAINERD", "managed"),
            ("DIND_STRATEGY", "data-root"),
            ("DIND_DATA_ROOT", data.to_str().unwrap()),
            ("DIND_STOP_TIMEOUT", "3"),
            ("FAKE_MODE", "hang"),
        ],
        1,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "stderr: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "the command never started"
    );
    assert!(
        took < std::time::Duration::from_secs(8),
        "stopped within the stop timeout, not after the smoke test's own timeouts: {took:?}"
    );
}

/// Issue 15: the first start on a volume smoke-tests storage and records the proof;
/// the second start with the same engine, driver, filesystem and kernel skips the
/// smoke test, and `status` is still ready.
#[test]
fn a_storage_proof_lets_the_second_start_skip_the_smoke_test() {
    if !(ready() && common::require_program("dockerd")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let start = || {
        unshared(
            &format!(
                "{PRIVATE} && exec unshare --pid --fork --mount-proc \"$0\" -- sh -c '\"$0\" status' \"$0\""
            ),
            &[
                ("DIND_DATA_ROOT", data.to_str().unwrap()),
                ("DIND_STRATEGY", "data-root"),
                ("DIND_STOP_TIMEOUT", "10"),
                ("DIND_DOCKERD_ARGS", "--bridge=none --iptables=false --ip6tables=false"),
            ],
        )
    };
    let first = start();
    let proof = std::fs::read_to_string(data.join(".dind-init-storage-proof"));
    let second = start();
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let (first, second) = (
        (first.status.code(), text(&first)),
        (second.status.code(), text(&second)),
    );
    assert_eq!(first.0, Some(0), "{}", first.1);
    assert!(
        first
            .1
            .contains("then: smoke test, then write storage proof"),
        "{}",
        first.1
    );
    assert!(
        first
            .1
            .contains("storage works: a container root filesystem mounted"),
        "{}",
        first.1
    );
    let proof =
        proof.unwrap_or_else(|e| panic!("no proof after a passed smoke test: {e}\n{}", first.1));
    assert!(proof.starts_with("dind-init storage proof v1\n"), "{proof}");
    assert_eq!(second.0, Some(0), "{}", second.1);
    assert!(
        second.1.contains("then: skip smoke test: proven on"),
        "{}",
        second.1
    );
    assert!(second.1.contains("smoke test skipped"), "{}", second.1);
    assert!(
        !second
            .1
            .contains("storage works: a container root filesystem mounted"),
        "{}",
        second.1
    );
    assert!(second.1.contains("ready: Docker answers"), "{}", second.1);
}
