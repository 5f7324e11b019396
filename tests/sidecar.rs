//! dind-init as the Docker sidecar of a devpod, with the real binary and Debian's Docker 20.10
//! (tests/sidecar/sidecar.sh): two containers with their own mount and pid namespaces share the
//! socket's directory; `dind-init status` is the startup probe; `docker run` works from the
//! workspace side as an unprivileged user, and so does the Docker CLI over TLS on the pod's
//! loopback with the client certificates DIND_USER's group may read; SIGTERM stops Docker in
//! order and exits 0.
//! Needs root; in CI a missing prerequisite fails.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn workspace_runs_containers_through_the_sidecars_socket_and_sigterm_stops_it_cleanly() {
    let tools = "unshare nsenter setpriv flock ip dockerd containerd runc docker busybox";
    if !common::require_root() || !tools.split_whitespace().all(common::require_program) {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sidecar/sidecar.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("BIN", common::bin())
        .output()
        .expect("run tests/sidecar/sidecar.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("PASS: sidecar"), "{text}");
}

#[test]
fn sidecar_takes_no_command_and_needs_dockerd() {
    let out = Command::new(common::bin())
        .args(["sidecar", "sh"])
        .output()
        .expect("run dind-init");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = Command::new(common::bin())
        .arg("sidecar")
        .env("DIND_START_DOCKERD", "false")
        .output()
        .expect("run dind-init");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("DIND_START_DOCKERD"));
}
