//! End-to-end on a real cgroup v2 kernel (issue 14): tests/vm/vm.sh boots Debian's kernel in
//! qemu (KVM when a trial boot works, TCG otherwise) with the host's root shared read-only over
//! 9p and a pure cgroup v2 hierarchy, and runs the devpod scenarios there with the pod placed as
//! containerd/runc place one on a cgroup v2 node (its own cgroup `kubepods/podN`, cgroup
//! namespace and cgroup2 mount). One boot runs every cell; each cell's verdict is a `VMCELL`
//! line on the serial console, and each one's time goes into the e2e timings file
//! (`DEVPOD_TIMINGS`, as tests/e2e.rs's scenarios do).
//!
//! Cells by default (the CI budget on 2 cores under TCG): for both engines, the control
//! (dockerd by hand: `docker run --memory` fails with runc's "cannot enter cgroupv2" error), the
//! nesting check under dind-init (the basic scenario's checks, then limits seen in the
//! container and the pod's root cgroup empty), and `cg2-life`: restart, sigterm and persist as
//! one pod lifecycle on one PVC, in separate-containerd mode. A cell's checks that passed come
//! as `VMSUB` lines; they are reported with the cell and recorded under their scenario's name,
//! so scripts/matrix shows the VM's kernel and cgroup v2 row with basic, persist, sigterm and
//! restart. `VM_CELLS=full` adds persist, sigterm and restart as cells of their own (much
//! slower); `VM_CELLS=engine:scenario[:mode],…` runs any cells.
//! Needs root, qemu-system-x86 and linux-image-amd64 (scripts/deps); with CI=true a missing
//! prerequisite fails.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

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
    "bookworm:cg2-life:separate",
    "trixie:cg2-life:separate",
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

/// One cell's verdict from its `VMCELL engine scenario mode PASS|FAIL ms` line, with the
/// checks it named (`VMSUBS check…`) and those that passed (`VMSUB check PASS ms`) before it.
struct Cell {
    name: String,
    pass: bool,
    ms: u64,
    /// (check, Some(ms) when it passed)
    checks: Vec<(String, Option<u64>)>,
}

fn parse_cells(console: &str) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut checks: Vec<(String, Option<u64>)> = Vec::new();
    for l in console.lines() {
        let f: Vec<&str> = l.trim_end().split(' ').collect();
        match f.as_slice() {
            ["VMSTART", ..] => checks.clear(),
            ["VMSUBS", names @ ..] => checks.extend(names.iter().map(|n| (n.to_string(), None))),
            ["VMSUB", check, "PASS", ms] => {
                let ms = ms.parse().ok();
                match checks.iter_mut().find(|(n, _)| n == check) {
                    Some(c) => c.1 = ms,
                    None => checks.push((check.to_string(), ms)),
                }
            }
            ["VMCELL", engine, scenario, mode, verdict, ms] => cells.push(Cell {
                name: format!("{engine}:{scenario}:{mode}"),
                pass: *verdict == "PASS",
                ms: ms.parse().unwrap_or(0),
                checks: std::mem::take(&mut checks),
            }),
            _ => {}
        }
    }
    cells
}

/// The guest's kernel release, from vm.sh's `VMACCEL accel kernel RELEASE` line.
fn guest_kernel(console: &str) -> &str {
    console
        .lines()
        .find_map(|l| match l.trim_end().split(' ').collect::<Vec<_>>()[..] {
            ["VMACCEL", _, "kernel", k] => Some(k),
            _ => None,
        })
        .unwrap_or("vm")
}

/// The e2e timings lines of the cells, in tests/e2e/devpod.sh's format (engine store scenario
/// mode result ms "ms" kernel cgroup-mode), which scripts/matrix reads: each cell as
/// `vm:<scenario>`, each of its checks under the scenario it stands for. The image store is the
/// engine's default (the cells pass no --store); the guest mounts a pure cgroup v2 hierarchy.
fn timing_lines(cells: &[Cell], kernel: &str) -> Vec<String> {
    let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" };
    let mut lines = Vec::new();
    for c in cells {
        let mut parts = c.name.splitn(3, ':');
        let (engine, scenario, mode) = (
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("-"),
        );
        let store = if engine == "bookworm" {
            "graphdriver"
        } else {
            "containerd"
        };
        let line = |scenario: &str, pass: bool, ms: u64| {
            format!(
                "{engine:<8} {store:<11} {scenario:<11} {mode:<8} {:<4} {ms:>6} ms {kernel} v2",
                verdict(pass)
            )
        };
        lines.push(line(&format!("vm:{scenario}"), c.pass, c.ms));
        for (check, ms) in &c.checks {
            lines.push(line(check, ms.is_some(), ms.unwrap_or(0)));
        }
    }
    lines
}

/// Append the cells to the e2e timings file (DEVPOD_TIMINGS), as tests/e2e.rs's scenarios do.
fn record_timings(lines: &[String]) {
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
    for l in lines {
        let _ = writeln!(f, "{l}");
    }
}

/// A console's cells become timings lines scripts/matrix takes (9 columns, the guest's kernel,
/// cgroup v2), with each check of a cell under its scenario's name, failed when it did not pass.
#[test]
fn vm_timings_are_matrix_rows_with_the_cells_checks() {
    let console = "VMACCEL tcg kernel 6.1.0-41-amd64\n\
        VMSTART bookworm cg2-nest separate\n\
        VMSUB basic PASS 90000\r\n\
        VMCELL bookworm cg2-nest separate PASS 95000\n\
        VMSTART trixie cg2-life separate\n\
        VMSUBS restart sigterm persist\n\
        VMSUB restart PASS 70000\n\
        VMCELL trixie cg2-life separate FAIL 99000\n";
    let lines = timing_lines(&parse_cells(console), guest_kernel(console));
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let want: [&[&str]; 6] = [
        &[
            "bookworm",
            "graphdriver",
            "vm:cg2-nest",
            "separate",
            "PASS",
            "95000",
        ],
        &[
            "bookworm",
            "graphdriver",
            "basic",
            "separate",
            "PASS",
            "90000",
        ],
        &[
            "trixie",
            "containerd",
            "vm:cg2-life",
            "separate",
            "FAIL",
            "99000",
        ],
        &[
            "trixie",
            "containerd",
            "restart",
            "separate",
            "PASS",
            "70000",
        ],
        &["trixie", "containerd", "sigterm", "separate", "FAIL", "0"],
        &["trixie", "containerd", "persist", "separate", "FAIL", "0"],
    ];
    assert_eq!(rows.len(), want.len(), "{lines:#?}");
    for (row, want) in rows.iter().zip(want) {
        assert_eq!(&row[..6], want, "{lines:#?}");
        assert_eq!(&row[6..], ["ms", "6.1.0-41-amd64", "v2"], "{lines:#?}");
    }
}

/// " (restart PASS 70.1 s, sigterm not passed)", or nothing for a cell without checks.
fn checks_text(checks: &[(String, Option<u64>)]) -> String {
    if checks.is_empty() {
        return String::new();
    }
    let each: Vec<String> = checks
        .iter()
        .map(|(n, ms)| match ms {
            Some(ms) => format!("{n} PASS {:.1} s", *ms as f64 / 1000.0),
            None => format!("{n} not passed"),
        })
        .collect();
    format!(" ({})", each.join(", "))
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
    record_timings(&timing_lines(&got, guest_kernel(&console)));
    // (line, passed): a cell passes with its VMCELL line and every check it named.
    let summary: Vec<(String, bool)> = cells
        .iter()
        .map(|want| {
            let want = if want.matches(':').count() == 1 {
                format!("{want}:-")
            } else {
                want.clone()
            };
            match got.iter().find(|c| c.name == want) {
                Some(c) => (
                    format!(
                        "{want}: {} in {:.1} s{}",
                        if c.pass { "PASS" } else { "FAIL" },
                        c.ms as f64 / 1000.0,
                        checks_text(&c.checks)
                    ),
                    c.pass && c.checks.iter().all(|(_, ms)| ms.is_some()),
                ),
                None => (format!("{want}: NOT RUN"), false),
            }
        })
        .collect();
    let passed = summary.iter().all(|(_, pass)| *pass);
    let summary: Vec<String> = summary.into_iter().map(|(line, _)| line).collect();
    println!(
        "vm cells ({:.1} s in all, qemu {}):\n  {}",
        started.elapsed().as_secs_f64(),
        out.status,
        summary.join("\n  ")
    );
    assert!(
        passed,
        "vm cells failed or did not run (qemu {}):\n  {}\n(console above)",
        out.status,
        summary.join("\n  ")
    );
}
