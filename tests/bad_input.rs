//! The README's promise "invalid value → exit 2": bad input stops dind-init with
//! one line naming the variable or file, the value and the fix, before anything
//! changes. Runs the real binary in a private mount namespace (tmpfs over /run,
//! /etc/docker and /etc/default) so nothing on the host is touched, and lists
//! what is there afterwards to show nothing was written.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

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

/// `doctor` fails every check a start fails, with the same message: an unknown
/// DIND_USER stops a start and `plan` with exit 2, and is doctor's ✘.
#[test]
fn an_unknown_dind_user_fails_start_plan_and_doctor_alike() {
    if !ready() {
        return;
    }
    let env: &[(&str, &OsStr)] = &[("DIND_USER", OsStr::new("nosuchuser"))];
    let start = unshared("", "-- sh -c 'echo RAN'", env);
    assert_stopped(&start, &["nosuchuser"], &[]);
    let line = String::from_utf8_lossy(&start.stderr)
        .trim()
        .trim_start_matches("dind-init: error: ")
        .to_string();
    let plan = unshared("", "plan", env);
    assert_stopped(&plan, &[&line], &[]);
    let out = unshared("", "doctor", env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("✘ settings: {line}")),
        "doctor shows the start's message {line:?}: {stdout}"
    );
}

/// Output into a closed pipe (`doctor --json | head -1`) ends quietly, never
/// with a panic (exit 134 / 101). `true` closes the pipe before dind-init writes.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    if !ready() {
        return;
    }
    for args in [
        "doctor --json",
        "doctor",
        "plan --json",
        "plan",
        "--help",
        "status --json",
    ] {
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(format!(
                "{PRIVATE} && {{ \"$0\" {args} | true; }} 2>&1; echo \"rc=${{PIPESTATUS[0]}}\""
            ))
            .arg(common::bin())
            .env("DIND_DOCKERD", "/nonexistent/dockerd")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("panicked"), "{args}: {text}");
        let rc = text.lines().last().unwrap_or_default();
        assert!(["rc=0", "rc=1"].contains(&rc), "{args}: {text}");
    }
}

/// Started as the user (an image ending with `USER coder`, runAsUser: 1000),
/// dind-init says in one line what to change, and the session still starts;
/// a plain init (DIND_START_DOCKERD=false) as the user is fine and quiet.
#[test]
fn started_as_non_root_names_the_fix_and_a_plain_init_is_fine() {
    if !ready() || !common::require_program("setpriv") {
        return;
    }
    let as_user = "setpriv --reuid 1000 --regid 1000 --clear-groups";
    // DIND_USER names the user it already runs as (the image's ENV DIND_USER=coder).
    let out = unshared(
        as_user,
        "-- sh -c 'echo RAN'",
        &[("DIND_USER", OsStr::new("1000"))],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("RAN\n"));
    let fix: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("runs as uid 1000, not root"))
        .collect();
    assert!(
        fix.iter().any(|l| l.contains("USER root")
            && l.contains("DIND_USER=coder")
            && l.contains("runAsUser: 0")),
        "{stderr}"
    );
    assert!(!stderr.contains("Permission denied"), "{stderr}");
    let env: &[(&str, &OsStr)] = &[("DIND_START_DOCKERD", OsStr::new("false"))];
    let out = unshared(as_user, "-- sh -c 'echo RAN'", env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("RAN\n"));
    assert!(stderr.trim().is_empty(), "{stderr}");
}

/// No key named `Ok`/`Err` anywhere, and every `mode` an octal string.
fn assert_schema_1(v: &serde_json::Value, at: &str) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                assert!(k != "Ok" && k != "Err", "Rust internals at {at}.{k}");
                assert!(
                    !(k == "mode" && x.is_number()),
                    "numeric mode at {at}.{k}: {x}"
                );
                assert_schema_1(x, &format!("{at}.{k}"));
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                assert_schema_1(x, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

/// `doctor --json`, `plan --json` and `status --json` print schema 1 (docs/json.md).
#[test]
fn json_output_follows_schema_1() {
    if !ready() {
        return;
    }
    for args in ["doctor --json", "plan --json", "status --json"] {
        let out = unshared("", args, &[("DIND_USER", OsStr::new("root"))]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let end = stdout.rfind('}').map_or(0, |i| i + 1);
        let v: serde_json::Value = serde_json::from_str(&stdout[..end])
            .unwrap_or_else(|e| panic!("{args}: {e}: {stdout}"));
        assert_eq!(v["schema"], serde_json::json!(1), "{args}: {stdout}");
        assert_schema_1(&v, args);
    }
}

/// A plain init (DIND_START_DOCKERD=false) records no state; its startup probe
/// (`status --settled`) still succeeds, and readiness (`status`) says why not.
#[test]
fn a_plain_init_is_settled_but_not_ready() {
    if !ready() {
        return;
    }
    let env: &[(&str, &OsStr)] = &[("DIND_START_DOCKERD", OsStr::new("false"))];
    let settled = unshared("", "status --settled", env);
    let text = String::from_utf8_lossy(&settled.stdout);
    assert_eq!(settled.status.code(), Some(0), "{text}");
    assert!(text.contains("DIND_START_DOCKERD=false"), "{text}");
    let ready = unshared("", "status", env);
    assert_eq!(ready.status.code(), Some(1));
    let starting = unshared("", "status --settled", &[]);
    assert_eq!(starting.status.code(), Some(1), "no state yet: not settled");
}

/// What apply would refuse at start (a link planted where the data root goes)
/// is a doctor ✘ with the very message the start prints.
#[test]
fn doctor_fails_where_apply_would_refuse_with_the_same_message() {
    if !ready() {
        return;
    }
    let setup =
        "mkdir -p /run/plant && chown 1000:1000 /run/plant && ln -s /etc /run/plant/data &&";
    let env: &[(&str, &OsStr)] = &[("DIND_DATA_ROOT", OsStr::new("/run/plant/data"))];
    let start = unshared(setup, "-- sh -c 'echo RAN'", env);
    let stderr = String::from_utf8_lossy(&start.stderr);
    let refusal = stderr
        .lines()
        .find(|l| l.contains("/run/plant/data") && l.contains("fix:") && !l.contains("plan:"))
        .unwrap_or_else(|| panic!("no refusal naming the link: {stderr}"))
        .trim_start_matches("dind-init:")
        .trim()
        .to_string();
    let doctor = unshared(setup, "doctor", env);
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✘ storage changes: "))
        .unwrap_or_else(|| panic!("no storage-changes failure: {stdout}"));
    assert!(
        refusal.ends_with(line.trim_start_matches("✘ storage changes: ")),
        "start: {refusal}\ndoctor: {line}"
    );
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
