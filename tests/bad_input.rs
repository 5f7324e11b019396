//! The README's promise "invalid value → exit 2": bad input stops dind-init with
//! one line naming the variable or file, the value and the fix, before anything
//! changes. Runs the real binary in a private mount namespace (tmpfs over /run,
//! /etc/docker and /etc/default) so nothing on the host is touched, and lists
//! what is there afterwards to show nothing was written.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

/// Private /run, /etc/docker and /etc/default: dind-init writes nowhere else before Docker starts.
const PRIVATE: &str = "mount -t tmpfs tmpfs /run && mkdir -p /etc/docker /etc/default \
    && mount -t tmpfs tmpfs /etc/docker && mount -t tmpfs tmpfs /etc/default";

/// After dind-init ran, every file under the private dirs, with its checksum.
const LIST: &str =
    "rc=$?; find /run /etc/docker /etc/default -type f -exec sha256sum {} +; exit $rc";

/// Run `setup`, then dind-init with `args`, then [`LIST`], in a private mount namespace,
/// with no inherited DIND_* settings and a dockerd that does not exist (so a run that
/// wrongly goes on fails fast).
fn unshared(setup: &str, args: &str, env: &[(&str, &OsStr)]) -> Output {
    let mut c = Command::new("unshare");
    let script = format!("{PRIVATE} && {setup} \"$0\" {args}; {LIST}");
    c.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    c.arg(common::bin());
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.as_bytes().starts_with(b"DIND_") {
            c.env_remove(k);
        }
    }
    c.env("DIND_DOCKERD", "/nonexistent/dockerd")
        .env("DIND_STOP_TIMEOUT", "2");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run unshare")
}

fn ready() -> bool {
    common::require_root() && common::require_program("unshare")
}

/// printf formats of the user's files: a daemon.json with the user's data-root and a
/// Latin-1 label (the é at byte 44), and DOCKER_OPTS with one (the é at byte 24).
const LATIN1_JSON: &str = r#"{"data-root": "/srv/docker", "labels": ["caf\351"]}\n"#;
const LATIN1_OPTS: &str = r#"DOCKER_OPTS="--label=caf\351"\n"#;

/// The setup step writing `format` (printf) to `path`.
fn write(format: &str, path: &str) -> String {
    format!("printf '{format}' > {path} &&")
}

/// The `sha256sum` line of the file `format` makes at `path`.
fn sum_line(format: &str, path: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("printf '{format}' | sha256sum | cut -d' ' -f1"),
        ])
        .output()
        .unwrap();
    format!("{}  {path}", String::from_utf8_lossy(&out.stdout).trim())
}

/// Exit 2, exactly one line on stderr holding every word of `names`, and `fix:`;
/// the command never ran and stdout holds only `files` (the checksums LIST printed).
fn assert_stopped(out: &Output, names: &[&str], files: &[String]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("dind-init: error: "), "{stderr}");
    for n in names {
        assert!(lines[0].contains(n), "names {n}: {stderr}");
    }
    assert!(lines[0].contains("fix:"), "says the fix: {stderr}");
    assert!(
        !stdout.contains("RAN"),
        "the command must not run: {stdout}"
    );
    let found: Vec<&str> = stdout.lines().collect();
    assert_eq!(found.len(), files.len(), "nothing written: {stdout}");
    for f in files {
        assert!(stdout.contains(f.as_str()), "{f} unchanged: {stdout}");
    }
}

#[test]
fn a_bad_dind_value_stops_every_mode_with_exit_2() {
    if !ready() {
        return;
    }
    for args in ["-- sh -c 'echo RAN'", "plan"] {
        let out = unshared("", args, &[("DIND_STRATEGY", OsStr::new("bindd"))]);
        assert_stopped(&out, &["DIND_STRATEGY", "\"bindd\"", "auto|bind"], &[]);
    }
}

#[test]
fn a_non_utf8_dind_value_is_an_error_naming_the_variable() {
    if !ready() {
        return;
    }
    let v = OsStr::from_bytes(b"bind\xe9");
    for args in ["-- sh -c 'echo RAN'", "plan"] {
        let out = unshared("", args, &[("DIND_STRATEGY", v)]);
        assert_stopped(&out, &["DIND_STRATEGY", "UTF-8"], &[]);
    }
}

#[test]
fn bad_dockerd_args_stop_the_start_before_anything_changes() {
    if !ready() {
        return;
    }
    for args in ["-- sh -c 'echo RAN'", "plan"] {
        let out = unshared("", args, &[("DIND_DOCKERD_ARGS", OsStr::new("--mtu=abc"))]);
        assert_stopped(&out, &["DIND_DOCKERD_ARGS", "--mtu", "abc"], &[]);
    }
}

#[test]
fn a_uid_of_minus_one_is_rejected() {
    if !ready() {
        return;
    }
    let out = unshared(
        "",
        "-- sh -c 'echo RAN'",
        &[("DIND_USER", OsStr::new("4294967295"))],
    );
    assert_stopped(&out, &["DIND_USER", "4294967295"], &[]);
}

#[test]
fn a_non_utf8_daemon_json_is_never_rewritten() {
    if !ready() {
        return;
    }
    let (file, setup) = (
        "/etc/docker/daemon.json",
        write(LATIN1_JSON, "/etc/docker/daemon.json"),
    );
    let kept = vec![sum_line(LATIN1_JSON, file)];
    for args in ["-- sh -c 'echo RAN'", "plan"] {
        let out = unshared(&setup, args, &[]);
        assert_stopped(&out, &[file, "UTF-8", "byte 44"], &kept);
    }
    let out = unshared(&setup, "doctor", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("✘") && stdout.contains("byte 44"),
        "doctor shows it: {stdout}"
    );
    assert!(stdout.contains(&kept[0]), "unchanged: {stdout}");
}

#[test]
fn a_non_utf8_default_docker_is_never_rewritten() {
    if !ready() {
        return;
    }
    let file = "/etc/default/docker";
    let out = unshared(&write(LATIN1_OPTS, file), "-- sh -c 'echo RAN'", &[]);
    assert_stopped(
        &out,
        &[file, "UTF-8", "byte 24"],
        &[sum_line(LATIN1_OPTS, file)],
    );
}

#[test]
fn a_misspelt_setting_is_named_with_the_closest_one() {
    if !ready() {
        return;
    }
    let env: &[(&str, &OsStr)] = &[
        ("DIND_STRATGY", OsStr::new("data-root")),
        ("DIND_START_DOCKERD", OsStr::new("false")),
    ];
    for args in ["-- sh -c 'echo RAN'", "plan", "doctor"] {
        let out = unshared("", args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stderr.contains("DIND_STRATGY") && stderr.contains("did you mean DIND_STRATEGY"),
            "{args}: {stderr}"
        );
        if args == "doctor" {
            assert!(stdout.contains("DIND_STRATGY"), "a doctor check: {stdout}");
        }
    }
}

#[test]
fn a_non_utf8_passwd_line_does_not_stop_a_plain_init() {
    if !ready() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("dind-init-badinput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let passwd = dir.join("passwd");
    let mut text = std::fs::read("/etc/passwd").unwrap();
    text.extend_from_slice(b"j\xe9r\xf4me:x:4242:4242:J\xe9r\xf4me:/home/j:/bin/sh\n");
    std::fs::write(&passwd, text).unwrap();
    let setup = format!("mount --bind {} /etc/passwd &&", passwd.display());
    let out = unshared(
        &setup,
        "-- sh -c 'echo RAN'",
        &[("DIND_START_DOCKERD", OsStr::new("false"))],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("RAN\n"));
}

#[test]
fn a_pidfile_naming_a_users_file_stops_before_dockerd_overwrites_it() {
    if !ready() {
        return;
    }
    let (thesis, json) = (
        "my thesis, chapter 1\\n",
        r#"{"pidfile": "/run/thesis.tex"}\n"#,
    );
    let setup = format!(
        "{} {}",
        write(thesis, "/run/thesis.tex"),
        write(json, "/etc/docker/daemon.json")
    );
    let kept = vec![
        sum_line(thesis, "/run/thesis.tex"),
        sum_line(json, "/etc/docker/daemon.json"),
    ];
    for args in ["-- sh -c 'echo RAN'", "plan"] {
        let out = unshared(&setup, args, &[]);
        assert_stopped(
            &out,
            &[
                "/etc/docker/daemon.json",
                "/run/thesis.tex",
                "not a pidfile",
                "move the file",
            ],
            &kept,
        );
    }
    let out = unshared(&setup, "doctor", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("✘ daemon pidfile") && stdout.contains("/run/thesis.tex"),
        "doctor shows it: {stdout}"
    );
}
