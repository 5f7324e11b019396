//! docker:dind's DOCKER_TLS_CERTDIR with the real binary, openssl and Debian's Docker 20.10
//! (tests/tls/docker-tls.sh): the Docker CLI with the client certificates works over
//! tcp://127.0.0.1:2376, without them it is refused, a restart keeps the same CA. And the
//! clear error when openssl is missing. Needs root; in CI a missing prerequisite fails.

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
