//! The files under examples/ are what users copy: every one must parse, the TOML
//! must load with the real config loader, the manifests must keep the rules the
//! README states (grace period above DIND_STOP_TIMEOUT, data root on the volume,
//! `dind-init status` probes), and the images must build offline and run with
//! dind-init as PID 1.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use dind_init::config::{Config, UserSpec, SETTINGS};
use dind_init::parse::shell::words as split_words;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> PathBuf {
    repo().join("examples")
}

/// Every file under `dir` (recursively), sorted, so failures are reproducible.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read_dir {}: {e}", d.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn yaml_files() -> Vec<PathBuf> {
    walk(&examples())
        .into_iter()
        .filter(|p| name(p).ends_with(".yaml") || name(p).ends_with(".yml"))
        .collect()
}

/// JSON files: `*.json` and the `daemon.json.*` pair.
fn json_files() -> Vec<PathBuf> {
    walk(&examples())
        .into_iter()
        .filter(|p| name(p).ends_with(".json") || name(p).starts_with("daemon.json."))
        .collect()
}

fn toml_files() -> Vec<PathBuf> {
    walk(&examples())
        .into_iter()
        .filter(|p| name(p).ends_with(".toml"))
        .collect()
}

fn read_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&read_text(p))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()))
}

/// A python3 that has PyYAML (Debian: python3-yaml). No YAML crate is allowed, and
/// PyYAML is the parser kubectl's own test tooling agrees with.
fn python_with_yaml() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import yaml"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// All documents of a YAML file, as JSON values.
fn load_yaml(py: &str, p: &Path) -> Vec<Value> {
    let out = Command::new(py)
        .args([
            "-c",
            "import sys, json, yaml\njson.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
        ])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not valid YAML: {}",
        p.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("unexpected YAML conversion result {other}"),
    }
}

/// Load `env` with the real loader and insist every DIND_* name is a real setting.
fn load_env(env: &BTreeMap<String, String>, what: &str) -> Config {
    let typos = Config::unknown_env(env);
    assert!(typos.is_empty(), "{what}: {typos:?}");
    Config::from_sources(env, None).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn every_yaml_example_parses() {
    let files = yaml_files();
    assert!(!files.is_empty(), "no YAML under examples/");
    let Some(py) = python_with_yaml() else {
        common::require(
            false,
            "python3 with the yaml module (apt-get install python3-yaml)",
        );
        return;
    };
    for f in files {
        let docs = load_yaml(py, &f);
        assert!(!docs.is_empty(), "{}: no documents", f.display());
        for d in &docs {
            assert!(
                d.get("kind").and_then(Value::as_str).is_some(),
                "{}: document without kind: {d}",
                f.display()
            );
        }
    }
}

#[test]
fn k8s_pod_keeps_the_rules() {
    let Some(py) = python_with_yaml() else {
        common::require(
            false,
            "python3 with the yaml module (apt-get install python3-yaml)",
        );
        return;
    };
    let docs = load_yaml(py, &examples().join("k8s/devpod.yaml"));
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} in devpod.yaml"))
    };
    let pvc = kind("PersistentVolumeClaim");
    let pod = kind("Pod");

    let modes = pvc["spec"]["accessModes"].as_array().unwrap();
    assert!(
        modes.iter().any(|m| m == "ReadWriteOnce"),
        "PVC modes {modes:?}"
    );
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "60Gi");

    let spec = &pod["spec"];
    let c = &spec["containers"][0];
    assert_eq!(
        c["securityContext"]["privileged"], true,
        "dockerd needs a privileged pod"
    );

    let env: BTreeMap<String, String> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let cfg = load_env(&env, "devpod.yaml env");

    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > cfg.stop_timeout.as_secs(),
        "terminationGracePeriodSeconds {grace} must exceed DIND_STOP_TIMEOUT {:?}",
        cfg.stop_timeout
    );

    // The volume mounted from the PVC must hold the data root.
    let claim = pvc["metadata"]["name"].as_str().unwrap();
    let vol = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["persistentVolumeClaim"]["claimName"] == claim)
        .unwrap_or_else(|| panic!("no volume uses PVC {claim}"));
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == vol["name"])
        .unwrap_or_else(|| panic!("PVC volume not mounted"));
    let mount_path = mount["mountPath"].as_str().unwrap();
    assert_eq!(mount_path, "/home/coder");
    let data_root = cfg.data_root.clone().expect("DIND_DATA_ROOT set");
    assert!(
        data_root.starts_with(mount_path),
        "DIND_DATA_ROOT {data_root:?} is not on the PVC at {mount_path}"
    );
    assert_eq!(cfg.user, Some(UserSpec::Name("coder".into())));

    check_probes(
        "devpod.yaml",
        &cfg,
        Probe::of(
            &c["startupProbe"],
            "exec",
            "command",
            "periodSeconds",
            "timeoutSeconds",
            "failureThreshold",
        ),
        Probe::of(
            &c["readinessProbe"],
            "exec",
            "command",
            "periodSeconds",
            "timeoutSeconds",
            "failureThreshold",
        ),
    );
}

/// A probe as a manifest or template spells it.
#[derive(Debug)]
struct Probe {
    command: Value,
    period: Option<u64>,
    timeout: Option<u64>,
    threshold: Option<u64>,
}

impl Probe {
    fn of(
        v: &Value,
        exec: &str,
        command: &str,
        period: &str,
        timeout: &str,
        threshold: &str,
    ) -> Probe {
        let exec = if v[exec].is_array() {
            &v[exec][0]
        } else {
            &v[exec]
        };
        Probe {
            command: exec[command].clone(),
            period: v[period].as_u64(),
            timeout: v[timeout].as_u64(),
            threshold: v[threshold].as_u64(),
        }
    }
}

/// The probes fit the design: the startup probe asks `status --settled`
/// (a pod whose Docker failed keeps its session and is not restarted) over a
/// window longer than PID 1's longest start; the readiness probe asks
/// `status`; both have an explicit timeout above the longest `status` wait.
fn check_probes(what: &str, cfg: &Config, startup: Probe, readiness: Probe) {
    assert_eq!(
        startup.command,
        serde_json::json!(["dind-init", "status", "--settled"]),
        "{what} startup probe"
    );
    assert_eq!(
        readiness.command,
        serde_json::json!(["dind-init", "status"]),
        "{what} readiness probe"
    );
    let wait = dind_init::doctor::PING_TIMEOUT.as_secs();
    for (name, p) in [("startup", &startup), ("readiness", &readiness)] {
        let t = p.timeout.unwrap_or_else(|| panic!("{what} {name} probe: no timeoutSeconds (the default 1 s is below status's {wait} s)"));
        assert!(
            t > wait,
            "{what} {name} probe: timeoutSeconds {t} <= {wait}"
        );
    }
    let window = startup.period.unwrap_or(10) * startup.threshold.unwrap_or(3);
    let longest =
        3 * (cfg.ready_timeout + dind_init::session::smoke_budget(cfg.ready_timeout)).as_secs();
    assert!(
        window > longest,
        "{what} startup window {window} s must exceed dind-init's longest start {longest} s"
    );
}

/// The Coder template as JSON, parsed by python-hcl2 (HCL's own grammar; terraform
/// itself is in no registry CI reaches). Err carries the parser's complaint.
fn hcl_to_json(p: &Path) -> Result<Value, String> {
    let script = "import sys, json, hcl2\n\
        o = hcl2.SerializationOptions(with_comments=False, strip_string_quotes=True, explicit_blocks=False)\n\
        json.dump(hcl2.load(open(sys.argv[1]), serialization_options=o), sys.stdout, default=str)";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(p)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// A Python module the validators need (scripts/deps installs them); in CI a missing one fails.
fn python_module(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    common::require(
        ok,
        &format!("python3 module {module} (scripts/deps installs it with pip)"),
    )
}

/// The one resource `kind`.`name` of a parsed template (hcl2 gives a list of one-key maps).
fn tf_resource<'a>(tf: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    tf["resource"]
        .as_array()?
        .iter()
        .find_map(|r| r.get(kind).and_then(|r| r.get(name)))
}

/// The first block `key` inside `v` (hcl2 gives every block as a list).
fn block<'a>(v: &'a Value, key: &str) -> &'a Value {
    match &v[key] {
        Value::Array(a) => a.first().unwrap_or(&Value::Null),
        other => other,
    }
}

/// Every string in `v`, with the key path it sits under.
fn strings_with_keys(v: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((key.to_string(), s.clone())),
        Value::Array(a) => a.iter().for_each(|x| strings_with_keys(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings_with_keys(x, k, out)),
        _ => {}
    }
}

#[test]
fn coder_template_parses_with_hcl2_and_keeps_the_rules() {
    if !python_module("hcl2") {
        return;
    }
    let tf = hcl_to_json(&examples().join("coder/main.tf"))
        .unwrap_or_else(|e| panic!("examples/coder/main.tf does not parse: {e}"));
    assert!(
        tf_resource(&tf, "kubernetes_pod", "main").is_none(),
        "Coder's current template uses kubernetes_deployment"
    );
    let dep =
        tf_resource(&tf, "kubernetes_deployment", "main").expect("kubernetes_deployment.main");
    let pvc = tf_resource(&tf, "kubernetes_persistent_volume_claim", "home").expect("PVC home");
    assert_eq!(dep["count"], "${data.coder_workspace.me.start_count}");
    let spec = block(dep, "spec");
    assert_eq!(
        block(spec, "strategy")["type"],
        "Recreate",
        "RWO volume + data root lock"
    );

    // Names: lowercase by construction (the workspace id, or names through lower()).
    for (what, meta) in [
        ("deployment", block(dep, "metadata")),
        ("pvc", block(pvc, "metadata")),
    ] {
        let name = meta["name"].as_str().unwrap();
        let raw_name = name.replace("lower(data.coder_workspace", "");
        assert!(
            !raw_name.contains(".me.name") && name.contains("${data.coder_workspace.me.id}"),
            "{what} name {name:?}: use the workspace id or lower()"
        );
        for label in [
            "com.coder.resource",
            "com.coder.workspace.id",
            "com.coder.workspace.name",
            "com.coder.user.id",
            "com.coder.user.username",
        ] {
            assert!(
                meta["labels"].get(label).is_some(),
                "{what} lacks label {label}"
            );
        }
    }

    let pod = block(block(spec, "template"), "spec");
    assert!(
        pod.get("security_context").is_none(),
        "no pod security_context: run_as_user 1000 stops dind-init, fs_group walks ~/.docker-data"
    );
    let c = block(pod, "container");
    assert!(
        c.get("command").is_none(),
        "`command` would replace dind-init, the ENTRYPOINT"
    );
    assert_eq!(
        c["args"],
        serde_json::json!(["sh", "-c", "${coder_agent.main.init_script}"])
    );
    let sc = block(c, "security_context");
    assert_eq!(sc["privileged"], true, "dockerd needs a privileged pod");
    assert_eq!(sc["run_as_user"], 0, "dind-init must start as root");

    let env: BTreeMap<String, String> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .filter(|(n, _): &(String, String)| n.starts_with("DIND_"))
        .collect();
    let cfg = load_env(&env, "coder/main.tf env");
    assert_eq!(cfg.user, Some(UserSpec::Name("coder".into())));
    let grace = pod["termination_grace_period_seconds"]
        .as_u64()
        .expect("grace period");
    assert!(
        grace > cfg.stop_timeout.as_secs(),
        "grace {grace} vs {:?}",
        cfg.stop_timeout
    );
    let mount = block(c, "volume_mount")["mount_path"].as_str().unwrap();
    assert!(cfg
        .data_root
        .clone()
        .expect("DIND_DATA_ROOT")
        .starts_with(mount));
    let probe = |name: &str| {
        Probe::of(
            block(c, name),
            "exec",
            "command",
            "period_seconds",
            "timeout_seconds",
            "failure_threshold",
        )
    };
    check_probes(
        "coder/main.tf",
        &cfg,
        probe("startup_probe"),
        probe("readiness_probe"),
    );
    let mut all = Vec::new();
    strings_with_keys(&tf, "", &mut all);
    assert!(
        !all.iter().any(|(k, _)| k == "fs_group"),
        "no fs_group anywhere"
    );
}

/// python-hcl2 really rejects a broken template, so the check above can fail.
#[test]
fn hcl2_rejects_a_broken_template() {
    if !python_module("hcl2") {
        return;
    }
    let text = read_text(&examples().join("coder/main.tf"));
    let cut = text.rfind('}').unwrap();
    let (_dir, broken) = scratch("broken.tf", &text[..cut]);
    let parsed = hcl_to_json(&broken);
    let err = parsed.expect_err("a template missing its last brace parsed");
    assert!(!err.trim().is_empty());
}

/// A file named `name` (validators read the extension) holding `text`, in a fresh
/// directory removed when the returned [`tempfile::TempDir`] is dropped.
fn scratch(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

/// Kubernetes versions the manifests must validate against (kubernetes-validate ships them).
const K8S_VERSIONS: [&str; 6] = ["1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0"];

/// `kubernetes-validate --strict` (unknown fields are errors) for one Kubernetes version.
fn kubernetes_validate(file: &Path, version: &str) -> std::process::Output {
    Command::new("python3")
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "--quiet",
            "-k",
            version,
        ])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn manifests_pass_kubernetes_validate_for_1_30_to_1_35() {
    if !python_module("kubernetes_validate") {
        return;
    }
    let files = yaml_files();
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        for v in K8S_VERSIONS {
            let out = kubernetes_validate(f, v);
            assert!(
                out.status.success(),
                "{} is not a valid Kubernetes {v} manifest:\n{}{}",
                f.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The validator really fails on a pod with an unknown field, so the check above can fail.
#[test]
fn kubernetes_validate_rejects_an_unknown_field() {
    if !python_module("kubernetes_validate") {
        return;
    }
    let Some(py) = python_with_yaml() else {
        common::require(false, "python3 with the yaml module");
        return;
    };
    let docs = load_yaml(py, &examples().join("k8s/devpod.yaml"));
    let mut pod = docs.into_iter().find(|d| d["kind"] == "Pod").unwrap();
    pod["spec"]["containers"][0]["securityContext"]["privilegd"] = Value::Bool(true);
    let (_dir, broken) = scratch("broken-pod.json", &pod.to_string());
    let out = kubernetes_validate(&broken, K8S_VERSIONS[0]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "accepted a pod with an unknown field: {said}"
    );
    assert!(said.contains("privilegd"), "{said}");
}

fn devcontainer_schema() -> PathBuf {
    repo().join("tests/schemas/devContainer.base.schema.json")
}

fn check_jsonschema(file: &Path) -> std::process::Output {
    Command::new("python3")
        .args(["-m", "check_jsonschema", "--schemafile"])
        .arg(devcontainer_schema())
        .arg(file)
        .output()
        .unwrap()
}

fn devcontainer_files() -> Vec<PathBuf> {
    walk(&examples())
        .into_iter()
        .filter(|p| name(p) == "devcontainer.json")
        .collect()
}

#[test]
fn devcontainers_pass_the_dev_container_schema() {
    if !python_module("check_jsonschema") {
        return;
    }
    let files = devcontainer_files();
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        let out = check_jsonschema(&f);
        assert!(
            out.status.success(),
            "{} fails the Dev Container schema:\n{}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The schema check really fails on a misspelt property, so the check above can fail.
#[test]
fn dev_container_schema_rejects_a_misspelt_property() {
    if !python_module("check_jsonschema") {
        return;
    }
    let mut j = read_json(&examples().join("devcontainer/devcontainer.json"));
    let o = j.as_object_mut().unwrap();
    let v = o.remove("overrideCommand").unwrap();
    o.insert("overideCommand".into(), v);
    let (_dir, broken) = scratch("devcontainer.json", &j.to_string());
    let out = check_jsonschema(&broken);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "accepted a misspelt property: {said}"
    );
    assert!(said.contains("overideCommand"), "{said}");
}

/// Items of issue 11: no fsGroup walk over Docker's layers, and the namespace allows privileged pods.
#[test]
fn manifests_have_no_fsgroup_and_a_privileged_namespace() {
    let Some(py) = python_with_yaml() else {
        common::require(false, "python3 with the yaml module");
        return;
    };
    for f in yaml_files() {
        for d in load_yaml(py, &f) {
            let sc = &d["spec"]["securityContext"];
            assert!(
                sc.get("fsGroup").is_none() || sc["fsGroupChangePolicy"] == "OnRootMismatch",
                "{}: fsGroup makes the kubelet chgrp every file of ~/.docker-data",
                f.display()
            );
        }
    }
    let docs = load_yaml(py, &examples().join("k8s/devpod.yaml"));
    let ns = docs
        .iter()
        .find(|d| d["kind"] == "Namespace")
        .expect("a Namespace");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged",
        "Pod Security Admission rejects a privileged pod elsewhere"
    );
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(d["metadata"]["namespace"], ns["metadata"]["name"], "{d}");
    }
}

/// The image ends as root (dind-init starts as root even from a `USER coder` base) and
/// carries curl for Coder's agent bootstrap.
#[test]
fn workspace_image_ends_as_root_and_can_bootstrap_coder() {
    let text = read_text(&examples().join("workspace-image/Dockerfile"));
    let users: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("USER "))
        .collect();
    assert_eq!(users.last(), Some(&"root"), "{users:?}");
    let from = text.rfind("\nFROM ").unwrap();
    let first_run = text[from..].find("\nRUN ").unwrap();
    assert!(
        text[from..from + first_run].contains("\nUSER root"),
        "USER root must come before the first RUN"
    );
    assert!(
        text.contains(" curl "),
        "Coder's agent bootstrap needs curl, wget or busybox"
    );
}

#[test]
fn every_json_example_parses() {
    let files = json_files();
    assert!(
        files.len() >= 3,
        "expected devcontainer.json and the daemon.json pair, got {files:?}"
    );
    for f in files {
        assert!(read_json(&f).is_object(), "{}: not an object", f.display());
    }
}

#[test]
fn devcontainer_keeps_the_rules() {
    let j = read_json(&examples().join("devcontainer/devcontainer.json"));
    assert!(j["runArgs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--privileged"));
    assert_eq!(
        j["overrideCommand"], false,
        "the image's ENTRYPOINT (dind-init) must run"
    );
    assert_ne!(
        j["init"], true,
        "docker --init would put tini in front of dind-init"
    );
    let env: BTreeMap<String, String> = j["containerEnv"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let cfg = load_env(&env, "devcontainer.json containerEnv");
    // `docker stop` waits 10 s by default.
    assert!(cfg.stop_timeout.as_secs() < 10, "{:?}", cfg.stop_timeout);
    let data_root = cfg.data_root.clone().expect("DIND_DATA_ROOT set");
    let on_volume = j["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["type"] == "volume" && data_root.starts_with(m["target"].as_str().unwrap()));
    assert!(
        on_volume,
        "DIND_DATA_ROOT {data_root:?} must be on a mounted volume"
    );
}

#[test]
fn daemon_json_merge_keeps_user_keys_and_adds_ours() {
    let before = read_json(&examples().join("daemon.json.before"));
    let after = read_json(&examples().join("daemon.json.after"));
    let (before, after) = (before.as_object().unwrap(), after.as_object().unwrap());
    for (k, v) in before {
        assert_eq!(
            after.get(k),
            Some(v),
            "user key {k} must survive the merge unchanged"
        );
    }
    let added: Vec<&str> = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .map(String::as_str)
        .collect();
    assert_eq!(
        added,
        ["default-shm-size", "group", "shutdown-timeout"],
        "dind-init's own storage driver goes on dockerd's command line, not into the user's file"
    );
}

/// daemon.json.after is byte for byte what dind-init's real merge writes for
/// daemon.json.before when the plan wants the settings it wanted in the example
/// pod (the e2e scenario day1 checks the real run: tests/day1/scenario.sh).
#[test]
fn daemon_json_after_is_what_the_real_merge_writes() {
    use dind_init::settings::{merge, read, Sources, Wanted};
    let before = read_text(&examples().join("daemon.json.before"));
    let after = read_text(&examples().join("daemon.json.after"));
    let path = Path::new("/etc/docker/daemon.json");
    let user = read(&Sources {
        daemon_json: Some((path, &before)),
        ..Sources::default()
    })
    .unwrap();
    let want = |key: &str, value: Value| Wanted {
        key: key.into(),
        value,
        reason: "example".into(),
        force: false,
    };
    // dind-init's own storage driver goes on dockerd's command line, not into this file.
    let wanted = [
        want("shutdown-timeout", 12.into()),
        want("default-shm-size", "1g".into()),
        want("group", "docker".into()),
    ];
    let merged = merge(&user, &wanted).unwrap();
    let (written_to, text) = merged.daemon_json.expect("the merge changes daemon.json");
    assert_eq!(written_to, path);
    assert_eq!(
        text, after,
        "examples/daemon.json.after differs from the real merge"
    );
    assert!(merged.notes.is_empty(), "{:?}", merged.notes);
}

/// How the loaded config states `key`, in the file's own terms.
fn config_value(cfg: &Config, key: &str) -> toml::Value {
    use toml::Value as T;
    let s = |v: &str| T::String(v.to_string());
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or(T::String(String::new()), |p| s(&p.to_string_lossy()))
    };
    let kebab = |v: Value| T::String(v.as_str().unwrap_or_default().to_string());
    match key {
        "start_dockerd" => T::Boolean(cfg.start_dockerd),
        "require_docker" => T::Boolean(cfg.require_docker),
        "log" => s(&cfg
            .log
            .map(|l| l.to_string().to_lowercase())
            .unwrap_or_default()),
        "stop_timeout" => T::Integer(cfg.stop_timeout.as_secs() as i64),
        "leftover_grace" => T::Integer(cfg.leftover_grace.as_secs() as i64),
        "ready_timeout" => T::Integer(cfg.ready_timeout.as_secs() as i64),
        "user" => match &cfg.user {
            Some(UserSpec::Name(n)) => s(n),
            Some(UserSpec::Id { uid, gid: Some(g) }) => s(&format!("{uid}:{g}")),
            Some(UserSpec::Id { uid, gid: None }) => s(&uid.to_string()),
            None => s(""),
        },
        "data_root" => path(&cfg.data_root),
        "dockerd_log" => path(&cfg.dockerd_log),
        "strategy" => kebab(serde_json::to_value(cfg.strategy).unwrap()),
        "storage_driver" => s(cfg.storage_driver.map_or("auto", |d| d.name())),
        "containerd" => kebab(serde_json::to_value(cfg.containerd).unwrap()),
        "dockerd" => s(&cfg.dockerd),
        "dockerd_args" => T::Array(cfg.dockerd_args.iter().map(|w| s(w)).collect()),
        "shm_size" => s(cfg.shm_size.as_deref().unwrap_or_default()),
        "docker_group" => s(&cfg.docker_group),
        other => {
            // A setting added after this test: compare through the config's serde form.
            let v = serde_json::to_value(cfg).unwrap()[other].clone();
            toml::Value::try_from(v).unwrap_or_else(|e| panic!("key {other}: {e}"))
        }
    }
}

#[test]
fn toml_examples_load_with_the_real_loader() {
    let files = toml_files();
    assert!(!files.is_empty(), "no TOML under examples/");
    for f in files {
        let text = read_text(&f);
        let cfg = Config::from_sources(&BTreeMap::new(), Some((&f, &text)))
            .unwrap_or_else(|e| panic!("{} does not load: {e}", f.display()));
        assert_eq!(cfg.file.as_deref(), Some(f.as_path()));
        let table: toml::Table = text.parse().unwrap();
        assert!(!table.is_empty(), "{}: no settings", f.display());
        for (key, stated) in table {
            let stated = match (key.as_str(), stated) {
                ("dockerd_args", toml::Value::String(w)) => toml::Value::Array(
                    split_words(&w)
                        .unwrap()
                        .into_iter()
                        .map(toml::Value::String)
                        .collect(),
                ),
                (_, v) => v,
            };
            assert_eq!(
                config_value(&cfg, &key),
                stated,
                "{}: key {key}",
                f.display()
            );
        }
    }
}

#[test]
fn sample_toml_documents_every_setting() {
    let text = read_text(&examples().join("dind-init.toml"));
    let table: toml::Table = text.parse().unwrap();
    for s in SETTINGS {
        assert!(
            text.contains(s.env),
            "examples/dind-init.toml does not mention {}",
            s.env
        );
        if !s.key.is_empty() {
            assert!(
                table.contains_key(s.key),
                "examples/dind-init.toml lacks key {} ({})",
                s.key,
                s.env
            );
        }
    }
}

/// The final stage of both Dockerfiles must be the same: only /dind-init, same entrypoint.
#[test]
fn dockerfiles_yield_the_same_minimal_image() {
    let final_stage = |f: &str| {
        let text = read_text(&repo().join(f));
        let from = text
            .rfind("\nFROM ")
            .unwrap_or_else(|| panic!("{f}: no FROM"));
        text[from..]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let full = final_stage("Dockerfile");
    // Dockerfile.prebuilt's ARG TRIPLE picks the binary; it adds no layer.
    let prebuilt: Vec<String> = final_stage("Dockerfile.prebuilt")
        .into_iter()
        .filter(|l| !l.starts_with("ARG "))
        .collect();
    assert_eq!(full[0], "FROM scratch");
    assert_eq!(prebuilt[0], "FROM scratch");
    assert_eq!(full.len(), 3, "{full:?}");
    assert_eq!(full.len(), prebuilt.len(), "{full:?} vs {prebuilt:?}");
    let text = read_text(&repo().join("Dockerfile"));
    assert!(text.contains("ARG RUST_IMAGE=rust:1-bookworm"));
    // x86_64 and arm64, picked by BuildKit's TARGETARCH.
    for want in [
        "ARG TARGETARCH",
        "amd64) triple=x86_64-unknown-linux-musl",
        "arm64) triple=aarch64-unknown-linux-musl",
    ] {
        assert!(text.contains(want), "Dockerfile lacks {want:?}");
    }
    for f in ["Dockerfile", "Dockerfile.prebuilt"] {
        assert!(
            read_text(&repo().join(f)).contains(r#"ENTRYPOINT ["/dind-init"]"#),
            "{f}"
        );
    }
    let devpod = read_text(&examples().join("workspace-image/Dockerfile"));
    assert!(devpod.contains("COPY --from=dind-init /dind-init /usr/local/bin/dind-init"));
    assert!(devpod.contains(r#"ENTRYPOINT ["dind-init"]"#));
}

/// Build both images offline (busybox base from `docker import`, private dockerd)
/// and run the devpod image with dind-init as PID 1, bare and with Docker inside:
/// examples/test-image.sh.
#[test]
fn image_builds_offline_and_runs_with_dind_init_as_pid1() {
    if !common::require_root() {
        return;
    }
    for p in [
        "dockerd",
        "docker",
        "containerd",
        "runc",
        "busybox",
        "unshare",
        "jq",
        "readelf",
    ] {
        if !common::require_program(p) {
            return;
        }
    }
    let out = Command::new("bash")
        .arg(examples().join("test-image.sh"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "test-image.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(
        stdout.lines().last(),
        Some("test-image: ok"),
        "{stdout}\n{stderr}"
    );
    for check in [
        "overlay2 on the volume, a nested container ran",
        "printed hi and exited 7",
        "PID 1 is dind-init",
        "orphans reaped",
        "exit code 0",
    ] {
        assert!(stdout.contains(check), "missing check {check:?}:\n{stdout}");
    }
}

/// DevPod's kubernetes provider: privileged and the image's ENTRYPOINT from
/// devcontainer.json, Docker's data on the workspace PVC (a volume mount), and the
/// pod template's grace period above DIND_STOP_TIMEOUT.
#[test]
fn devpod_kubernetes_keeps_the_rules() {
    let dir = examples().join("devpod-kubernetes");
    let j = read_json(&dir.join("devcontainer.json"));
    assert_eq!(
        j["privileged"], true,
        "the provider reads privileged from here"
    );
    assert_eq!(j["overrideCommand"], false, "dind-init must run");
    let env: BTreeMap<String, String> = j["containerEnv"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let cfg = load_env(&env, "devpod-kubernetes/devcontainer.json");
    let data_root = cfg.data_root.clone().expect("DIND_DATA_ROOT set");
    assert!(
        j["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "volume" && data_root.starts_with(m["target"].as_str().unwrap())),
        "DIND_DATA_ROOT {data_root:?} must be on a volume mount (a sub-path of the PVC)"
    );
    let Some(py) = python_with_yaml() else {
        common::require(false, "python3 with the yaml module");
        return;
    };
    let pod = load_yaml(py, &dir.join("pod-manifest-template.yaml")).remove(0);
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(
        grace > cfg.stop_timeout.as_secs(),
        "grace {grace} vs {:?}",
        cfg.stop_timeout
    );
    assert_eq!(
        pod["spec"]["containers"][0]["name"], "devpod",
        "the provider merges only this container"
    );
}

/// The repository's Dockerfile under BuildKit for linux/amd64 and linux/arm64, offline
/// (trixie's dockerd and buildx, a stand-in Rust image): examples/test-dockerfile.sh.
#[test]
fn dockerfile_builds_amd64_and_arm64_with_buildkit() {
    if !common::require_root() {
        return;
    }
    for p in ["busybox", "unshare", "cargo"] {
        if !common::require_program(p) {
            return;
        }
    }
    let troot = repo().join(".cache/trixie/root");
    let engine = [
        "usr/sbin/dockerd",
        "usr/libexec/docker/cli-plugins/docker-buildx",
    ];
    if !common::require(
        engine.iter().all(|p| troot.join(p).is_file()),
        "trixie's dockerd and docker-buildx under .cache/trixie/root (scripts/deps)",
    ) {
        return;
    }
    let out = Command::new("bash")
        .arg(examples().join("test-dockerfile.sh"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "test-dockerfile.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(
        stdout.lines().last(),
        Some("test-dockerfile: ok"),
        "{stdout}\n{stderr}"
    );
    for arch in ["linux/amd64", "linux/arm64"] {
        assert!(
            stdout.contains(&format!("ok: {arch} image")),
            "{arch}:\n{stdout}"
        );
    }
}

/// Issue 12: the sidecar manifest is a native sidecar (init container, restartPolicy Always)
/// running `dind-init sidecar` with `dind-init status` as startup probe; both containers mount
/// the socket's volume and name the same socket; the workspace is unprivileged; the sidecar's
/// env loads with the real loader and its grace period covers DIND_STOP_TIMEOUT.
#[test]
fn k8s_sidecar_keeps_the_rules() {
    let Some(py) = python_with_yaml() else {
        common::require(false, "python3 with the yaml module");
        return;
    };
    let docs = load_yaml(py, &examples().join("k8s/sidecar.yaml"));
    let pod = docs
        .iter()
        .find(|d| d["kind"] == "Pod")
        .expect("a Pod in sidecar.yaml");
    let spec = &pod["spec"];
    let sidecar = &spec["initContainers"][0];
    let workspace = &spec["containers"][0];
    assert_eq!(sidecar["restartPolicy"], "Always", "a native sidecar");
    assert_eq!(sidecar["args"], serde_json::json!(["sidecar"]));
    assert_eq!(sidecar["securityContext"]["privileged"], true);
    assert_ne!(workspace["securityContext"]["privileged"], true);
    assert_eq!(
        sidecar["startupProbe"]["exec"]["command"],
        serde_json::json!(["dind-init", "status"])
    );
    let env_of = |c: &Value| -> BTreeMap<String, String> {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let v = e["value"].as_str().unwrap().to_string();
                (e["name"].as_str().unwrap().to_string(), v)
            })
            .collect()
    };
    let (senv, wenv) = (env_of(sidecar), env_of(workspace));
    let cfg = load_env(&senv, "sidecar.yaml env");
    let Some(dind_init::tls::DockerHost::Unix { path }) = &cfg.docker_host else {
        panic!(
            "the sidecar listens on a unix DOCKER_HOST: {:?}",
            cfg.docker_host
        )
    };
    assert_eq!(wenv["DOCKER_HOST"], senv["DOCKER_HOST"], "same socket");
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace > cfg.stop_timeout.as_secs());
    let mounted_at = |c: &Value, vol: &str| -> Option<String> {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == vol)
            .map(|m| m["mountPath"].as_str().unwrap().to_string())
    };
    for c in [sidecar, workspace] {
        let at = mounted_at(c, "docker-socket").expect("both mount the socket volume");
        assert!(path.starts_with(&at), "{} not under {at}", path.display());
    }
    let group = senv["DIND_DOCKERD_ARGS"].trim_start_matches("--group=");
    let groups = &spec["securityContext"]["supplementalGroups"];
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g.as_u64().map(|n| n.to_string()).as_deref() == Some(group)),
        "the workspace user is in the socket's group {group}: {groups}"
    );
    let data = cfg.data_root.expect("DIND_DATA_ROOT on the PVC");
    let home = mounted_at(sidecar, "home").expect("the sidecar mounts the PVC");
    assert!(data.starts_with(home));
}

/// The README's doctor excerpt is the generated docs/doctor-seed.md (real output of the
/// e2e explain scenario), not a hand edit, and shows none of the harness's own network
/// overrides (`"bridge": "none"`, `"iptables": false`), which no real pod has.
#[test]
fn readme_doctor_excerpt_is_the_generated_seed_output() {
    let first_block = |text: &str, after: &str| -> String {
        let from = text.find(after).unwrap_or_else(|| panic!("no {after:?}"));
        let rest = &text[from..];
        let start = rest.find("```text\n").expect("a text block") + "```text\n".len();
        let len = rest[start..].find("```").expect("its end");
        rest[start..start + len].to_string()
    };
    let seed = read_text(&repo().join("docs/doctor-seed.md"));
    let readme = read_text(&repo().join("README.md"));
    let generated = first_block(&seed, "");
    assert_eq!(
        first_block(&readme, "## What `doctor` says in the seed's pod"),
        generated,
        "README's excerpt differs from docs/doctor-seed.md: copy it from there"
    );
    for leak in ["\"bridge\"", "iptables"] {
        assert!(
            !seed.contains(leak),
            "docs/doctor-seed.md shows the harness's {leak}"
        );
    }
}
