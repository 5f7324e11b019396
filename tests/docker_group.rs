//! The group DIND_USER joins is the one dockerd gives the socket to: a "group"
//! in the user's daemon.json wins over DIND_DOCKER_GROUP, and the plan says so.
//! Runs the real binary in a private mount namespace over a copy of /etc, so the
//! host's /etc/group is never touched.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::process::{Command, Output};

/// A private copy of /etc (so /etc/group can be replaced atomically), a private
/// /run and /etc/docker, and a daemon.json that gives the socket to group `devs`.
/// `$T` is a scratch directory; the tmpfs on it goes with the namespace.
const PRIVATE: &str =
    "mount -t tmpfs tmpfs \"$T\" && cp -a /etc \"$T/etc\" && mount --bind \"$T/etc\" /etc \
    && mount -t tmpfs tmpfs /run && mkdir -p /etc/docker && mount -t tmpfs tmpfs /etc/docker \
    && printf '{\"group\": \"devs\"}\\n' > /etc/docker/daemon.json";

fn unshared(args: &str) -> Output {
    let mut c = Command::new("unshare");
    let script = format!("{PRIVATE} && \"$0\" {args}");
    c.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    c.arg(common::bin());
    let scratch = std::env::temp_dir().join(format!(
        "dind-init-group-{}-{}",
        std::process::id(),
        args.len()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    c.env("T", &scratch);
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("DIND_") {
            c.env_remove(k);
        }
    }
    c.env("DIND_USER", "nobody")
        .env("DIND_DOCKER_GROUP", "docker")
        .env("DIND_STRATEGY", "off")
        .env("DIND_CONTAINERD", "managed")
        .env("DIND_DOCKERD", "/nonexistent/dockerd")
        .env("DIND_STOP_TIMEOUT", "2");
    let out = c.output().expect("run unshare");
    std::fs::remove_dir(&scratch).unwrap();
    out
}

fn ready() -> bool {
    common::require_root() && common::require_program("unshare")
}

#[test]
fn dind_user_joins_the_group_of_the_users_daemon_json() {
    if !ready() {
        return;
    }
    let out = unshared(
        "-- sh -c 'id -Gn; echo devs=$(grep -c \"^devs:.*nobody\" /etc/group) docker=$(grep -c \"^docker:.*nobody\" /etc/group)'",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let groups = stdout.lines().next().unwrap_or_default();
    assert!(
        groups.split_whitespace().any(|g| g == "devs"),
        "nobody is in devs: {stdout}\n{stderr}"
    );
    assert!(stdout.contains("devs=1 docker=0"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("joins group devs") && stderr.contains("DIND_DOCKER_GROUP=docker"),
        "the start log says which group and why: {stderr}"
    );
}

#[test]
fn plan_says_which_group_dind_user_joins() {
    if !ready() {
        return;
    }
    let out = unshared("plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("joins group devs")
            && stdout.contains("daemon.json (/etc/docker/daemon.json) says"),
        "{stdout}"
    );
}
