//! `dind-init plan` promises to print exactly what a start does. This runs the
//! plan and then a real start (bookworm's dockerd and containerd, DIND_USER set,
//! DIND_LOG=debug) in one private mount namespace over a copy of /etc, and holds
//! the plan to that promise: every step the start logs is a step of the plan and
//! the other way round, and every file the start changed is named by the plan.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

/// A private copy of /etc (so /etc/group can be replaced atomically), a private
/// /run and /etc/docker. `$T` is a scratch directory on a tmpfs that goes with the
/// namespace; `$D` is the data root.
const PRIVATE: &str = "mount -t tmpfs tmpfs \"$T\" && cp -a /etc \"$T/etc\" \
    && mount --bind \"$T/etc\" /etc && mount -t tmpfs tmpfs /run \
    && mkdir -p /etc/docker && mount -t tmpfs tmpfs /etc/docker && mkdir -p \"$D\"";

/// After the start, what changed: /etc/group against the copy taken before, and
/// which of dind-init's files exist.
const CHANGED: &str = "cmp -s /etc/group \"$T/group.before\" || echo changed=/etc/group; \
    for f in /run/dind-init/state.json \"$D/.dind-init-dockerd-version\" \"$D/.dind-init-containerd-version\" \
    \"$D/.dind-init-storage-proof\"; do \
    [ -e \"$f\" ] && echo changed=$f; done; true";

fn ready() -> bool {
    common::require_root()
        && common::require_program("unshare")
        && common::require_program("dockerd")
        && common::require_program("containerd")
}

/// `dind-init plan`, then a start as PID 1 of its own pid namespace running `true`.
fn plan_then_start(scratch: &Path, data: &Path) -> Output {
    let script = format!(
        "{PRIVATE} && cp /etc/group \"$T/group.before\" && \"$0\" plan && echo '=== start' \
        && unshare --pid --fork --mount-proc \"$0\" -- true; {CHANGED}"
    );
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    c.arg(common::bin());
    c.env("T", scratch).env("D", data);
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("DIND_") {
            c.env_remove(k);
        }
    }
    c.env("DIND_USER", "nobody")
        .env("DIND_STRATEGY", "data-root")
        .env("DIND_DATA_ROOT", data)
        .env("DIND_CONTAINERD", "separate")
        .env("DIND_LOG", "debug")
        .env("DIND_STOP_TIMEOUT", "10")
        .env(
            "DIND_DOCKERD_ARGS",
            "--bridge=none --iptables=false --ip6tables=false",
        );
    c.output().expect("run unshare")
}

/// The actions of `dind-init plan`'s text: `N. <action>  — <reason>`.
fn planned(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .take_while(|l| *l != "=== start")
        .filter_map(|l| {
            let (n, rest) = l.split_once(". ")?;
            n.parse::<u32>().ok()?;
            Some(rest.split_once("  — ")?.0.to_string())
        })
        .collect()
}

/// The actions the start logged as done or skipped: `apply: <action>  — done|skip: …`.
fn logged(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("] apply: "))
        .filter_map(|(_, rest)| {
            let (action, tail) = rest.split_once("  — ")?;
            (tail.starts_with("done: ") || tail.starts_with("skip: ")).then(|| action.to_string())
        })
        .collect()
}

#[test]
fn the_plan_lists_every_change_a_start_makes() {
    if !ready() {
        return;
    }
    let scratch = std::env::temp_dir().join(format!("dind-init-pvs-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let data = scratch.join("data");
    let out = plan_then_start(&scratch, &data);
    std::fs::remove_dir(&scratch).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let both = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("storage works"),
        "Docker must really start: {both}"
    );
    let plan = planned(&stdout);
    let changed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("changed="))
        .collect();
    for want in ["/etc/group", "/run/dind-init/state.json"] {
        assert!(changed.contains(&want), "the start changed {want}: {both}");
    }
    for file in &changed {
        assert!(
            plan.iter().any(|a| a.contains(file)),
            "the start changed {file}, the plan never says so: {plan:#?}\n{both}"
        );
    }
    let log = logged(&stderr);
    assert_eq!(
        plan, log,
        "the plan's steps and the steps the start logged differ\n{both}"
    );
}
