//! The README's tested matrix is generated: its block is exactly what `scripts/matrix` renders
//! from docs/e2e-matrix.txt (written by scripts/test from the e2e run), and `--update` takes a
//! run's timings in without losing the cells of other kernels and cgroup modes (a VM's).

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/matrix ARGS` with MATRIX_DATA / MATRIX_README pointed at `files` when given.
fn matrix(args: &[&str], files: Option<(&Path, &Path)>) -> (bool, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/matrix")).args(args);
    if let Some((data, readme)) = files {
        cmd.env("MATRIX_DATA", data).env("MATRIX_README", readme);
    }
    let out = cmd.output().expect("run scripts/matrix");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn readme_matrix_is_what_the_script_renders_from_the_committed_data() {
    let (ok, _, err) = matrix(&["--check"], None);
    assert!(ok, "{err}");
    let (ok, table, err) = matrix(&[], None);
    assert!(ok, "{err}");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "the README lacks the rendered table:\n{table}"
    );
    for engine in ["bookworm", "trixie", "sid"] {
        assert!(
            table.contains(&format!("| {engine}: Docker")),
            "no {engine} row:\n{table}"
        );
    }
}

#[test]
fn update_replaces_this_machines_runs_and_keeps_other_kernels() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("e2e-matrix.txt");
    let readme = dir.join("README.md");
    let timings = dir.join("timings.txt");
    std::fs::write(
        &data,
        "6.1.0-vm v2 bookworm graphdriver basic separate PASS\n\
         6.18.4 hybrid sid containerd basic separate FAIL\n",
    )
    .unwrap();
    std::fs::write(
        &readme,
        "# x\n\n<!-- matrix:begin -->\nold\n<!-- matrix:end -->\n\n## after\n",
    )
    .unwrap();
    // devpod.sh's timings lines; the same scenario twice counts with its last result.
    std::fs::write(
        &timings,
        "sid      containerd  basic       separate FAIL   9000 ms 6.18.4 hybrid\n\
         sid      containerd  basic       separate PASS  25400 ms 6.18.4 hybrid\n\
         sid      graphdriver without     -        PASS  14354 ms 6.18.4 hybrid\n\
         sid      graphdriver mode-switch man2sep  PASS  30000 ms 6.18.4 hybrid\n",
    )
    .unwrap();
    let files = Some((data.as_path(), readme.as_path()));
    let (ok, _, err) = matrix(&["--update", timings.to_str().unwrap()], files);
    assert!(ok, "{err}");
    let got = std::fs::read_to_string(&data).unwrap();
    assert_eq!(
        got,
        "6.1.0-vm v2 bookworm graphdriver basic separate PASS\n\
         6.18.4 hybrid sid containerd basic separate PASS\n\
         6.18.4 hybrid sid graphdriver mode-switch man2sep PASS\n\
         6.18.4 hybrid sid graphdriver without - PASS\n"
    );
    let (ok, table, err) = matrix(&[], files);
    assert!(ok, "{err}");
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(
        rows[0],
        "| kernel | cgroup | engine | image store | without | basic | mode-switch |"
    );
    assert_eq!(
        rows[2],
        "| 6.1.0-vm | v2 | bookworm: Docker 20.10, containerd 1.6 | graphdriver (overlay2) | — | ✔ sep | — |"
    );
    assert_eq!(
        rows[3],
        "| 6.18.4 | hybrid | sid: Docker 28.5, containerd 2.1 | graphdriver (overlay2) | ✔ | — | ✔ man→sep |"
    );
    assert_eq!(
        rows[4],
        "| 6.18.4 | hybrid | sid: Docker 28.5, containerd 2.1 | containerd image store | — | ✔ sep | — |"
    );
    let new_readme = std::fs::read_to_string(&readme).unwrap();
    assert!(new_readme.starts_with("# x\n\n<!-- matrix:begin -->\n"));
    assert!(new_readme.contains(&table) && !new_readme.contains("\nold\n"));
    assert!(new_readme.ends_with("<!-- matrix:end -->\n\n## after\n"));
    let (ok, _, err) = matrix(&["--check"], files);
    assert!(ok, "{err}");
    // A hand edit of the block is caught.
    std::fs::write(&readme, new_readme.replace("✔ man→sep", "✔")).unwrap();
    let (ok, _, _) = matrix(&["--check"], files);
    assert!(!ok, "--check accepted an edited block");
}
