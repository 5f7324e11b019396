//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// True when running in CI (`CI=true`): missing prerequisites fail there instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Returns false (after printing why) when the test cannot run here; in CI it panics instead,
/// so a CI run never passes by skipping.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if in_ci() {
        panic!("prerequisite missing in CI: {what}");
    }
    eprintln!("SKIP: {what}");
    false
}

/// Root is needed for namespaces, mounts and dockerd.
pub fn require_root() -> bool {
    require(
        nix::unistd::geteuid().is_root(),
        "needs root (run the tests as root; CI does)",
    )
}

/// A program must be on PATH.
pub fn require_program(name: &str) -> bool {
    require(
        which(name).is_some(),
        &format!("needs `{name}` on PATH (scripts/deps installs it)"),
    )
}

/// Find a program on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The dind-init binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dind-init"))
}
