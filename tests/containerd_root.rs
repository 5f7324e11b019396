//! The containerd config dind-init writes for DIND_CONTAINERD=separate, read by the real
//! containerd of each engine the e2e tests run: bookworm's 1.6, trixie's 1.7 and sid's 2.1
//! (unpacked by scripts/deps). `containerd config dump` must accept it as written (same config
//! version back: nothing migrated), and a containerd started with it must boot without a
//! migration warning and without an error. Needs root (containerd mounts); with CI=true a
//! missing engine fails instead of skipping.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use dind_init::plan::{containerd_config_version, containerd_toml};
use dind_init::probe::containerd_version;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn engine_root(var: &str, suite: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(".cache")
            .join(suite)
            .join("root")
    })
}

/// Each engine's containerd: (name, binary).
fn containerds() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("bookworm", PathBuf::from("/usr/bin/containerd")),
        (
            "trixie",
            engine_root("DEVPOD_TRIXIE", "trixie").join("usr/bin/containerd"),
        ),
        (
            "sid",
            engine_root("DEVPOD_SID", "sid").join("usr/bin/containerd"),
        ),
    ]
}

/// A scratch dir removed on drop.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lines of containerd's log that a clean start with our config must not have.
fn complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("migrat") || l.contains("level=error") || l.contains("level=fatal")
        })
        .collect()
}

/// Start `bin --config toml` in a private mount namespace, wait until it says it booted
/// (at most 10 s), stop it by PID; its log.
fn boot_log(bin: &Path, toml: &Path, dir: &Path) -> String {
    let log_path = dir.join("containerd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // unshare execs containerd: the child's PID is containerd's.
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(bin)
        .arg("--config")
        .arg(toml)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("successfully booted") || child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
    std::fs::read_to_string(&log_path).unwrap_or(text)
}

#[test]
fn each_engines_containerd_reads_the_config_as_written() {
    if !common::require_root() || !common::require_program("unshare") {
        return;
    }
    for (engine, bin) in containerds() {
        if !common::require(
            bin.is_file(),
            &format!(
                "needs {engine}'s containerd at {} (run scripts/deps)",
                bin.display()
            ),
        ) {
            continue;
        }
        let version =
            containerd_version(&bin.to_string_lossy()).unwrap_or_else(|e| panic!("{engine}: {e}"));
        let want = containerd_config_version(Some(version));
        let dir =
            Scratch(std::env::temp_dir().join(format!("dind-ctd-{}-{engine}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let toml_path = dir.0.join("containerd.toml");
        let text = containerd_toml(&dir.0.join("docker"), &dir.0.join("exec"), Some(version));
        std::fs::write(&toml_path, &text).unwrap();

        let out = Command::new(&bin)
            .arg("--config")
            .arg(&toml_path)
            .args(["config", "dump"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{engine} containerd {version}: `config dump` of\n{text}\nexited {}; stderr:\n{stderr}",
            out.status
        );
        let dumped: toml::Table = stdout
            .parse()
            .unwrap_or_else(|e| panic!("{engine}: config dump is no TOML: {e}\n{stdout}"));
        assert_eq!(
            dumped["version"].as_integer(),
            Some(i64::from(want)),
            "{engine} containerd {version}: config dump changed the config version (a migration)"
        );

        let log = boot_log(&bin, &toml_path, &dir.0);
        assert!(
            log.contains("successfully booted"),
            "{engine} containerd {version} did not boot with\n{text}\nlog:\n{log}"
        );
        let bad = complaints(&log);
        assert!(
            bad.is_empty(),
            "{engine} containerd {version} with\n{text}\ncomplained:\n{}",
            bad.join("\n")
        );
        println!(
            "{engine}: containerd {version} reads config version {want} as written, boots clean"
        );
    }
}
