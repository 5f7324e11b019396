//! docker:dind's DOCKER_TLS_CERTDIR with the real binary, openssl and Debian's Docker 20.10
//! (tests/tls/docker-tls.sh): the Docker CLI with the client certificates works over
//! tcp://127.0.0.1:2376, without them it is refused, a restart keeps the same CA. And the
//! clear error when openssl is missing. Needs root; in CI a missing prerequisite fails.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docker_cli_over_tls_with_client_certs_only_and_the_ca_survives_a_restart() {
    let tools = "unshare nsenter flock ip openssl dockerd containerd runc docker busybox";
    if !common::require_root() || !tools.split_whitespace().all(common::require_program) {
        return;
    }
    let out = Command::new("bash")
        .arg(repo().join("tests/tls/docker-tls.sh"))
        .env("BIN", common::bin())
        .output()
        .expect("run tests/tls/docker-tls.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("PASS: tls"), "{text}");
}

#[test]
fn without_openssl_the_plan_says_what_to_install() {
    if !common::require_root() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("dind-tls-noopenssl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A PATH with dockerd but no openssl.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let out = Command::new(common::bin())
        .arg("plan")
        .env_clear()
        .env("PATH", &bin)
        .env("DIND_STRATEGY", "off")
        .env("DOCKER_TLS_CERTDIR", dir.join("certs"))
        .output()
        .expect("run dind-init plan");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("openssl program is not installed") && err.contains("apt-get install openssl"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// In a workspace container that only runs dind-init as its init (DIND_START_DOCKERD=false)
/// next to a docker:dind-style sidecar, DOCKER_TLS_CERTDIR with client certificates and a tcp
/// DOCKER_HOST give the session DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as docker:cli does.
#[test]
fn a_client_of_a_tls_sidecar_gets_docker_cli_conventions() {
    let dir = std::env::temp_dir().join(format!("dind-tls-client-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("client")).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(dir.join("client").join(f), "x").unwrap();
    }
    let run = |certdir: &std::path::Path| {
        let out = Command::new(common::bin())
            .args(["--", "env"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("DIND_START_DOCKERD", "false")
            .env("DOCKER_HOST", "tcp://docker:2376")
            .env("DOCKER_TLS_CERTDIR", certdir)
            .output()
            .expect("run dind-init");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let with = run(&dir);
    let without = run(&dir.join("nothing-here"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(with.contains("DOCKER_TLS_VERIFY=1"), "{with}");
    let cert_path = format!("DOCKER_CERT_PATH={}", dir.join("client").display());
    assert!(with.contains(&cert_path), "{with}");
    assert!(
        !without.contains("DOCKER_TLS_VERIFY"),
        "no client certificates: {without}"
    );
}
