//! The README's benchmark tables are generated: each block (bench/run.sh's PID-1 table,
//! bench/docker-ready.sh's start-time table) is exactly its docs/ file, `bench/readme.sh
//! --check` (a step of scripts/test) fails on a hand edit, and `--update BLOCK FILE` takes a
//! bench's report in without touching the other block.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `bench/readme.sh ARGS` with BENCH_README (and BENCH_DOCS) pointed at copies when given.
fn readme_sh(args: &[&str], readme: Option<&Path>, docs: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("bench/readme.sh")).args(args);
    if let Some(r) = readme {
        cmd.env("BENCH_README", r);
    }
    if let Some(d) = docs {
        cmd.env("BENCH_DOCS", d);
    }
    let out = cmd.output().expect("run bench/readme.sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dind-init-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    dir
}

#[test]
fn readme_benchmark_blocks_are_the_committed_reports() {
    let (ok, err) = readme_sh(&["--check"], None, None);
    assert!(ok, "{err}");
}

/// Rows: (block, its docs file, the table the error names); each edit is one cell of a copy.
#[test]
fn a_hand_edit_of_either_table_fails_the_check() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let dir = temp_dir("bench-readme-edit");
    for (block, docs_file, what) in [
        ("init", "docs/bench-init.md", "PID 1 table"),
        (
            "docker-ready",
            "docs/bench-docker-ready.md",
            "start-time table",
        ),
    ] {
        let data = std::fs::read_to_string(repo().join(docs_file)).unwrap();
        let row = data
            .lines()
            .skip_while(|l| !l.starts_with("|---"))
            .nth(1)
            .unwrap_or_else(|| panic!("{docs_file} has no table row"));
        assert!(readme.contains(row), "README lacks {docs_file}'s row {row}");
        // A hand edit: the row's second cell gets a digit in front.
        let edited = row.replacen(" | ", " | 9", 1);
        let copy = dir.join(format!("README-{block}.md"));
        std::fs::write(&copy, readme.replacen(row, &edited, 1)).unwrap();
        let (ok, err) = readme_sh(&["--check"], Some(&copy), None);
        assert!(!ok, "{block}: a hand-edited row passed the check");
        assert!(
            err.contains(what) && err.contains(docs_file),
            "{block}: {err}"
        );
        // The other block alone still passes: the check names what differs.
        let other = if block == "init" {
            "docker-ready"
        } else {
            "init"
        };
        let (ok, err) = readme_sh(&["--check", other], Some(&copy), None);
        assert!(ok, "{block}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn update_takes_a_report_in_and_leaves_the_other_block() {
    let dir = temp_dir("bench-readme-update");
    let readme = dir.join("README.md");
    let docs = dir.join("docs");
    std::fs::write(
        &readme,
        "# x\n\n<!-- bench-init:begin -->\nold\n<!-- bench-init:end -->\n\nmiddle\n\n\
         <!-- docker-ready:begin -->\nkept\n<!-- docker-ready:end -->\n",
    )
    .unwrap();
    let report = dir.join("bench-init.md");
    let table = "| benchmark (dind-init ÷ other in parentheses) | dind-init | tini | dumb-init | catatonit |\n\
                 |---|---|---|---|---|\n\
                 | binary size | 1124 KiB | 27 KiB (41.44×) | 18 KiB (62.08×) | 682 KiB (1.65×) |\n";
    std::fs::write(&report, table).unwrap();

    // A start-time report is not a PID-1 report: refused, nothing written.
    let wrong = dir.join("docker-ready.md");
    std::fs::write(&wrong, "| engine | variant | ready, ms |\n").unwrap();
    let (ok, err) = readme_sh(
        &["--update", "init", wrong.to_str().unwrap()],
        Some(&readme),
        Some(&docs),
    );
    assert!(!ok && err.contains("not a bench/run.sh report"), "{err}");
    assert!(!docs.join("bench-init.md").exists());

    let (ok, err) = readme_sh(
        &["--update", "init", report.to_str().unwrap()],
        Some(&readme),
        Some(&docs),
    );
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(docs.join("bench-init.md")).unwrap(),
        table
    );
    let got = std::fs::read_to_string(&readme).unwrap();
    assert!(got.contains(table), "{got}");
    assert!(!got.contains("\nold\n"), "{got}");
    assert!(
        got.contains("middle\n\n<!-- docker-ready:begin -->\nkept\n<!-- docker-ready:end -->\n"),
        "{got}"
    );
    let (ok, err) = readme_sh(&["--check", "init"], Some(&readme), Some(&docs));
    assert!(ok, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
