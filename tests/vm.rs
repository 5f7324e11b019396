//! End-to-end on a real cgroup v2 kernel (issue 14): tests/vm/vm.sh boots Debian's kernel in
//! qemu (KVM when a trial boot works, TCG otherwise) with the host's root shared read-only over
//! 9p and a pure cgroup v2 hierarchy, and runs the devpod scenarios there with the pod placed as
//! containerd/runc place one on a cgroup v2 node (its own cgroup `kubepods/podN`, cgroup
//! namespace and cgroup2 mount). One boot runs every cell; each cell's verdict is a `VMCELL`
//! line on the serial console, and each one's time goes into the e2e timings file
//! (`DEVPOD_TIMINGS`, as tests/e2e.rs's scenarios do).
//!
//! Cells by default (the CI budget: ~8 min under TCG on 2 cores): for both engines, the control
//! (dockerd by hand: `docker run --memory` fails with runc's "cannot enter cgroupv2" error) and
//! the nesting check under dind-init (the basic scenario's checks, then limits seen in the
//! container and the pod's root cgroup empty). `VM_CELLS=full` adds persist, sigterm and restart
//! for both engines in separate-containerd mode (about 2.5 times as long);
//! `VM_CELLS=engine:scenario[:mode],…` runs any cells.
//! Needs root, qemu-system-x86 and linux-image-amd64 (scripts/deps); with CI=true a missing
//! prerequisite fails.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// The default cells; [`FULL`] adds these to them.
const CELLS: &[&str] = &[
    "bookworm:cg2-control",
    "bookworm:cg2-nest:separate",
    "trixie:cg2-control",
    "trixie:cg2-nest:separate",
];

/// The rest of the scenarios the issue names, for `VM_CELLS=full`.
const FULL: &[&str] = &[
    "bookworm:persist:separate",
    "trixie:persist:separate",
    "bookworm:sigterm:separate",
    "trixie:sigterm:separate",
    "bookworm:restart:separate",
    "trixie:restart:separate",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Root, qemu, an installed Debian kernel with its modules, and the devpod harness's tools.
fn prerequisites() -> bool {
    if !common::require_root() {
        return false;
    }
    let tools = "qemu-system-x86_64 busybox cpio gzip timeout unshare chroot mkfs.ext4 losetup \
                 dockerd docker containerd runc";
    if !tools.split_whitespace().all(common::require_program) {
        return false;
    }
    let kernel = std::fs::read_dir("/boot")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("vmlinuz-")
                .is_some_and(|k| PathBuf::from("/lib/modules").join(k).is_dir())
        });
    let trixie = repo().join(".cache/trixie/root/usr/sbin/dockerd").is_file();
    common::require(
        kernel,
        "needs a Debian kernel in /boot with its /lib/modules (scripts/deps installs linux-image-amd64)",
    ) && common::require(
        trixie,
        "needs Debian trixie's engine under .cache/trixie/root (run scripts/deps)",
    )
}

/// One cell's verdict from its `VMCELL engine scenario mode PASS|FAIL ms` line.
struct Cell {
    name: String,
    pass: bool,
    ms: u64,
}

fn parse_cells(console: &str) -> Vec<Cell> {
    console
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim_end().split(' ').collect();
            match f.as_slice() {
                ["VMCELL", engine, scenario, mode, verdict, ms] => Some(Cell {
                    name: format!("{engine}:{scenario}:{mode}"),
                    pass: *verdict == "PASS",
                    ms: ms.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Append each cell to the e2e timings file, in tests/e2e/devpod.sh's format, marked `vm`.
fn record_timings(cells: &[Cell]) {
    let Some(path) = std::env::var_os("DEVPOD_TIMINGS") else {
        return;
    };
    let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    else {
        return;
    };
    for c in cells {
        let mut parts = c.name.splitn(3, ':');
        let (engine, scenario, mode) = (
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("-"),
        );
        let verdict = if c.pass { "PASS" } else { "FAIL" };
        let _ = writeln!(
            f,
            "{engine:<8} {:<11} {mode:<8} {verdict:<4} {:>6} ms",
            format!("vm:{scenario}"),
            c.ms
        );
    }
}

#[test]
fn cgroup_v2_vm_cells() {
    if !prerequisites() {
        return;
    }
    let cells: Vec<String> = match std::env::var("VM_CELLS") {
        Ok(v) if v == "full" => CELLS.iter().chain(FULL).map(|s| s.to_string()).collect(),
        Ok(v) if !v.trim().is_empty() => v.split(',').map(str::to_string).collect(),
        _ => CELLS.iter().map(|s| s.to_string()).collect(),
    };
    let bin = std::env::var_os("DIND_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(common::bin);
    let started = std::time::Instant::now();
    // stderr into stdout, so the report keeps the console's order of lines.
    let out = Command::new("bash")
        .args(["-c", "exec \"$@\" 2>&1", "bash"])
        .arg(repo().join("tests/vm/vm.sh"))
        .arg("--bin")
        .arg(&bin)
        .args(&cells)
        .output()
        .expect("cannot run tests/vm/vm.sh");
    let console = String::from_utf8_lossy(&out.stdout);
    println!("{console}");
    let got = parse_cells(&console);
    record_timings(&got);
    let summary: Vec<String> = cells
        .iter()
        .map(|want| {
            let want = if want.matches(':').count() == 1 {
                format!("{want}:-")
            } else {
                want.clone()
            };
            match got.iter().find(|c| c.name == want) {
                Some(c) => format!(
                    "{want}: {} in {:.1} s",
                    if c.pass { "PASS" } else { "FAIL" },
                    c.ms as f64 / 1000.0
                ),
                None => format!("{want}: NOT RUN"),
            }
        })
        .collect();
    println!(
        "vm cells ({:.1} s in all, qemu {}):\n  {}",
        started.elapsed().as_secs_f64(),
        out.status,
        summary.join("\n  ")
    );
    assert!(
        summary
            .iter()
            .all(|s| s.ends_with(" s") && s.contains(": PASS")),
        "vm cells failed or did not run (qemu {}):\n  {}\n(console above)",
        out.status,
        summary.join("\n  ")
    );
}
