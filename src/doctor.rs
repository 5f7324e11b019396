//! `doctor`, `plan` and `status`: explain and check what dind-init does.
//!
//! They run the same probe and the same pure planner as PID 1, so what they
//! print is exactly what would happen. None of them changes anything: the
//! probe's trial mount is made and removed in a temporary directory. As a
//! non-root user they still report, and say which checks need root.

use crate::config::Config;
use crate::dockerd;
use crate::plan::{self, Driver, Plan};
use crate::probe::{self, Facts, Roots, Trial};
use crate::session::{Phase, State, STATE_FILE};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, at a cost, or needs attention.
    Warn,
    /// Docker will not work well (or at all) until fixed.
    Fail,
}

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The verdict.
    pub verdict: Verdict,
    /// What was checked.
    pub what: String,
    /// What was found.
    pub found: String,
    /// What to do (empty when ok).
    pub remedy: String,
}

fn check(verdict: Verdict, what: &str, found: String, remedy: &str) -> Check {
    Check {
        verdict,
        what: what.into(),
        found,
        remedy: if verdict == Verdict::Ok {
            String::new()
        } else {
            remedy.into()
        },
    }
}

fn fs_name(loc: &probe::Location) -> String {
    loc.fs_type()
}

/// The checks, a pure function of the facts, the plan and PID 1's state.
pub fn checks(facts: &Facts, plan: &Result<Plan, String>, state: Option<&State>) -> Vec<Check> {
    use Verdict::*;
    let mut out = Vec::new();
    out.push(if facts.euid != 0 {
        check(
            Warn,
            "privileges",
            format!("doctor runs as uid {}: the trial mount and the lock were not tried", facts.euid),
            "run it as root in the pod (kubectl exec as root) to test mounts; dind-init itself runs as root (PID 1)",
        )
    } else if facts.cap_sys_admin {
        check(Ok, "privileges", "CAP_SYS_ADMIN: mounts are possible".into(), "")
    } else {
        check(
            Fail,
            "privileges",
            format!("no CAP_SYS_ADMIN (euid {}): no bind or overlay mounts, no dockerd", facts.euid),
            "run the pod with securityContext.privileged: true (dockerd needs it); `doctor` as a non-root user cannot run the trial mount",
        )
    });
    let dr = &facts.data_root;
    let fs = fs_name(&dr.location);
    let volatile = probe::is_volatile_fs(&fs);
    out.push(check(
        if volatile { Fail } else { Ok },
        "data root on a persistent volume",
        format!("{} ({}) is on {fs}; {}", dr.path.display(), from_text(dr.from), dr.why),
        "mount the pod's PVC at the user's home (e.g. /home/coder) or set DIND_DATA_ROOT to a directory on it",
    ));
    out.push(trial_check(&dr.location));
    if let std::result::Result::Ok(false) = dr.location.d_type {
        out.push(check(
            Fail,
            "d_type on the data root",
            "the filesystem does not fill d_type".into(),
            "use ext4, or xfs formatted with ftype=1",
        ));
    }
    if let std::result::Result::Ok(free) = dr.location.free_bytes {
        let gib = free as f64 / (1u64 << 30) as f64;
        out.push(check(
            if gib < 2.0 { Warn } else { Ok },
            "free space on the data root",
            format!("{gib:.1} GiB free"),
            "grow the PVC or prune images (`docker system prune`)",
        ));
    }
    let vld = &facts.var_lib_docker;
    if vld.has_data
        && !vld.bind_of_data_root
        && vld.symlink.is_none()
        && !plan::outlives_pod(&vld.location)
    {
        out.push(check(
            Warn,
            "/var/lib/docker",
            format!("holds data on {} (lost when the pod is recreated)", fs_name(&vld.location)),
            "with dockerd stopped: mv /var/lib/docker/* into DIND_DATA_ROOT; dind-init never hides or deletes it",
        ));
    }
    for f in &facts.daemon.foreign_pidfiles {
        out.push(check(Fail, "daemon pidfile", f.words(), &f.fix()));
    }
    out.push(match &facts.dockerd.version {
        std::result::Result::Ok(v) => check(
            Ok,
            "dockerd",
            format!(
                "{} {} ({})",
                facts.dockerd.program,
                v,
                if facts.containerd_store { "containerd image store" } else { "graphdriver" }
            ),
            "",
        ),
        Err(e) => check(Fail, "dockerd", e.clone(), "install Docker in the image (e.g. apt-get install docker.io) or set DIND_DOCKERD to its path"),
    });
    out.push(containerd_check(facts));
    out.push(match (&facts.dev_fuse, &facts.fuse_overlayfs) {
        (std::result::Result::Ok(()), Some(p)) => check(
            Ok,
            "fuse-overlayfs fallback",
            format!("/dev/fuse usable, {}", p.display()),
            "",
        ),
        (Err(e), _) => check(
            Warn,
            "fuse-overlayfs fallback",
            format!("/dev/fuse: {e}"),
            "only needed when no volume can host overlay: give the pod /dev/fuse (privileged does)",
        ),
        (_, None) => check(
            Warn,
            "fuse-overlayfs fallback",
            "fuse-overlayfs is not installed".into(),
            "only needed when no volume can host overlay: apt-get install fuse-overlayfs",
        ),
    });
    out.push(match &facts.kernel {
        std::result::Result::Ok(release) => check(Ok, "kernel", format!("Linux {release}"), ""),
        Err(e) => check(
            Warn,
            "kernel",
            e.clone(),
            "mount procfs at /proc: dockerd and runc need it too",
        ),
    });
    out.push(check(Ok, "cgroups", cgroup_words(facts.cgroup).into(), ""));
    if !facts.stale_pidfiles.is_empty() {
        let list: Vec<String> = facts
            .stale_pidfiles
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        out.push(check(
            Warn,
            "stale pidfiles",
            list.join(", "),
            "dind-init removes them at start; nothing to do",
        ));
    }
    match plan {
        std::result::Result::Ok(p) => {
            let slow = matches!(
                p.driver,
                Some(Driver::Vfs | Driver::Native | Driver::FuseOverlayfs)
            );
            out.push(check(
                if slow { Warn } else { Ok },
                "storage driver",
                match p.driver {
                    Some(d) => format!("{} on {}", d.name(), p.data_root.as_deref().unwrap_or(Path::new("/var/lib/docker")).display()),
                    None => "dockerd is not started (DIND_START_DOCKERD=false)".into(),
                },
                "a slow fallback: give DIND_DATA_ROOT a directory on an ext4/xfs PVC so overlay2/overlayfs work",
            ));
            out.extend(p.pools.as_ref().map(pools_check));
        }
        Err(e) => out.push(check(
            Fail,
            "daemon configuration",
            e.clone(),
            "fix the file named above; dind-init never rewrites a file it cannot parse",
        )),
    }
    out.push(docker_check(state));
    out
}

/// What PID 1 recorded about Docker, as a check: only a Docker that could not
/// be started fails; starting and stopping are moments, not faults.
fn docker_check(state: Option<&State>) -> Check {
    use Verdict::*;
    match state {
        None => check(
            Warn,
            "Docker",
            "no dind-init PID 1 state here (not running under dind-init, or not started yet)"
                .into(),
            "make dind-init the container's ENTRYPOINT",
        ),
        Some(s) if matches!(s.phase, Phase::Starting | Phase::Stopping) => check(
            Warn,
            "Docker",
            phase_words(s.phase).into(),
            "wait a moment and run `dind-init doctor` again; the pod log (kubectl logs) shows progress",
        ),
        Some(s) if s.phase == Phase::Disabled => check(
            Ok,
            "Docker",
            "not started (DIND_START_DOCKERD=false)".into(),
            "",
        ),
        Some(s) if s.phase == Phase::Ready && s.smoke_ok => check(
            Ok,
            "Docker",
            format!(
                "ready in {} ms on {}, smoke test passed in {} ms ({} on {})",
                s.ready_ms,
                s.socket.display(),
                s.smoke_ms,
                s.driver,
                s.data_root.display()
            ),
            "",
        ),
        Some(s) => check(
            Fail,
            "Docker",
            format!("{}: {}", s.phase.name(), s.error),
            "read the pod log (kubectl logs) for dockerd's last lines",
        ),
    }
}

/// Whether apply would accept the plan's changes here (checked as root only:
/// a user's view of permissions says nothing about PID 1's).
fn apply_check(r: crate::Result<()>) -> Check {
    match r {
        Ok(()) => check(
            Verdict::Ok,
            "storage changes",
            "every step of the plan passes apply's checks".into(),
            "",
        ),
        Err(e) => Check {
            verdict: Verdict::Fail,
            what: "storage changes".into(),
            found: e.to_string(),
            remedy: "dind-init refuses this at start and Docker does not start until it is fixed"
                .into(),
        },
    }
}

/// Docker's address pools: where its networks come from, or which pod route they hide.
fn pools_check(d: &crate::netpool::Decision) -> Check {
    let why = match &d.ipv6 {
        Some(v6) => format!("{}; {v6}", d.why),
        None => d.why.clone(),
    };
    match &d.warning {
        None => check(Verdict::Ok, "address pools", why, ""),
        Some(w) => check(
            Verdict::Warn,
            "address pools",
            w.clone(),
            "remove bip/default-address-pools from the daemon config (dind-init then picks free ranges), or set DIND_ADDRESS_POOLS to ranges the pod does not route, e.g. 10.201.0.0/16/24",
        ),
    }
}

/// The doctor's first lines: misspelt `DIND_*` names and bad input, which
/// PID 1 would stop on (exit 2) before changing anything.
fn input_checks(cfg: &Config, valid: crate::Result<()>) -> Vec<Check> {
    let mut out: Vec<Check> = cfg
        .unknown_env
        .iter()
        .map(|w| {
            check(
                Verdict::Warn,
                "settings",
                w.clone(),
                "rename or unset it; `dind-init --help` lists every setting",
            )
        })
        .collect();
    out.push(match valid {
        Ok(()) => check(Verdict::Ok, "settings", "every input is valid".into(), ""),
        Err(e) => Check {
            verdict: Verdict::Fail,
            what: "settings".into(),
            found: format!("{e}"),
            remedy: "dind-init stops at start with exit 2 until this is fixed".into(),
        },
    });
    out
}

/// The trial mount's check. A trial the volume stopped (full, read-only, I/O error)
/// names that trouble and its remedy: it says nothing about overlay or the filesystem.
fn trial_check(loc: &probe::Location) -> Check {
    use Verdict::*;
    const WHAT: &str = "overlay mount on the data root";
    match &loc.trial {
        Trial::Ok => check(Ok, WHAT, format!("a trial overlay with its upperdir in {} mounted", loc.probed.display()), ""),
        Trial::Failed { errno, call } => check(
            Fail,
            WHAT,
            format!("{call}: {errno}"),
            "overlay2/overlayfs cannot work there: put DIND_DATA_ROOT on an ext4/xfs volume (a PVC), or accept the slower fuse-overlayfs/vfs fallback the plan shows",
        ),
        Trial::Blocked { trouble, errno, call } => check(
            Fail,
            WHAT,
            format!("could not run: {trouble} on {} ({call}: {errno})", loc.fs_type()),
            trouble.remedy(),
        ),
        Trial::NotTried { why } => check(Warn, WHAT, format!("not tried: {why}"), "run `dind-init doctor` as root in the pod to test it"),
    }
}

/// The containerd on PATH, its version and the config format a separate containerd gets.
fn containerd_check(facts: &Facts) -> Check {
    match (&facts.containerd_bin, &facts.containerd_version) {
        (Some(bin), Ok(v)) => check(
            Verdict::Ok,
            "containerd",
            format!(
                "{} {v} (reads config version {})",
                bin.display(),
                plan::containerd_config_version(Some(*v))
            ),
            "",
        ),
        (Some(bin), Err(e)) => check(
            Verdict::Warn,
            "containerd",
            format!("{}: {e}", bin.display()),
            "run `containerd --version`: with its version unknown a separate containerd gets config version 2, which containerd 2.x migrates at every start",
        ),
        (None, _) => check(
            Verdict::Warn,
            "containerd",
            "not on PATH".into(),
            "install containerd (Debian: containerd; Docker's packages: containerd.io): dockerd needs it unless a containerd already serves",
        ),
    }
}

/// The cgroup mode in words: which hierarchy runc and dockerd's cgroup driver see.
fn cgroup_words(c: probe::CgroupVersion) -> &'static str {
    match c {
        probe::CgroupVersion::V1 => "v1 (one hierarchy per controller)",
        probe::CgroupVersion::Hybrid => "hybrid (v1 controllers, a v2 hierarchy beside them)",
        probe::CgroupVersion::V2 => "v2 (the unified hierarchy)",
        probe::CgroupVersion::Unknown => "unknown (no cgroup filesystem at /sys/fs/cgroup)",
    }
}

/// The Docker CLI in the image and the plugins devcontainers expect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerCli {
    /// `docker` on PATH.
    pub docker: Option<PathBuf>,
    /// The compose v2 plugin (`docker compose`).
    pub compose_plugin: Option<PathBuf>,
    /// A standalone `docker-compose` on PATH (v1 or v2).
    pub compose_standalone: Option<PathBuf>,
    /// The buildx plugin (`docker buildx`).
    pub buildx_plugin: Option<PathBuf>,
}

/// Where the Docker CLI looks for plugins (system dirs, then the user's own).
pub fn cli_plugin_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Some(h) = home {
        dirs.push(h.join(".docker/cli-plugins"));
    }
    dirs
}

fn find_docker_cli(cfg: &Config) -> DockerCli {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = crate::user::resolve(Path::new("/etc"), cfg.user.as_ref())
        .ok()
        .map(|u| u.home);
    let plugin = |name: &str| {
        cli_plugin_dirs(home.as_deref())
            .into_iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    };
    DockerCli {
        docker: probe::which("docker", &path),
        compose_plugin: plugin("docker-compose"),
        compose_standalone: probe::which("docker-compose", &path),
        buildx_plugin: plugin("docker-buildx"),
    }
}

/// compose and buildx: the devcontainers feature installs both; Debian's
/// docker.io 20.10 has neither. Pure.
pub fn docker_cli_checks(c: &DockerCli) -> Vec<Check> {
    use Verdict::*;
    let pkgs = "Debian/Ubuntu: apt-get install docker-compose (trixie and later: the v2 plugin); Docker's apt repository: docker-compose-plugin";
    if c.docker.is_none() {
        return vec![check(
            Warn,
            "docker CLI",
            "docker is not on PATH: the session cannot talk to Docker".into(),
            "install docker.io (Debian/Ubuntu) or docker-ce-cli (Docker's apt repository) in the image",
        )];
    }
    let compose = match (&c.compose_plugin, &c.compose_standalone) {
        (Some(p), _) => check(Ok, "docker compose", format!("plugin {}", p.display()), ""),
        (None, Some(p)) => check(
            Warn,
            "docker compose",
            format!(
                "only the standalone {} (`docker-compose`); `docker compose` is missing",
                p.display()
            ),
            pkgs,
        ),
        (None, None) => check(
            Warn,
            "docker compose",
            "neither `docker compose` nor `docker-compose` is installed".into(),
            pkgs,
        ),
    };
    let buildx = match &c.buildx_plugin {
        Some(p) => check(Ok, "docker buildx", format!("plugin {}", p.display()), ""),
        None => check(
            Warn,
            "docker buildx",
            "`docker buildx` is missing: `docker build` uses the legacy builder, multi-platform builds are impossible".into(),
            "Debian trixie and later/Ubuntu: apt-get install docker-buildx; Docker's apt repository: docker-buildx-plugin",
        ),
    };
    vec![compose, buildx]
}

fn from_text(f: probe::DataRootFrom) -> &'static str {
    match f {
        probe::DataRootFrom::Setting => "DIND_DATA_ROOT",
        probe::DataRootFrom::DaemonConfig => "data-root in the daemon config",
        probe::DataRootFrom::Home => "the user's home",
        probe::DataRootFrom::Volume => "the pod's only volume",
    }
}

fn render_checks(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let mark = match c.verdict {
            Verdict::Ok => "✔",
            Verdict::Warn => "!",
            Verdict::Fail => "✘",
        };
        s.push_str(&format!("{mark} {}: {}\n", c.what, c.found));
        if !c.remedy.is_empty() {
            s.push_str(&format!("    → {}\n", c.remedy));
        }
    }
    s
}

fn not_root_note() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("dind-init: note: not root — the trial mount and the lock need root; those checks show as not tried");
    }
}

/// The facts as PID 1 would see them: it runs as root, so a non-root caller's
/// missing CAP_SYS_ADMIN says nothing about what PID 1 can do. Without this,
/// `plan` as the devpod user would print a plan PID 1 never runs.
fn as_pid1(mut facts: Facts) -> Facts {
    if facts.euid != 0 {
        facts.cap_sys_admin = true;
    }
    facts
}

/// `doctor --json`: the facts (kernel, cgroup, dockerd and containerd versions among them),
/// the plan, the checks and PID 1's state.
#[derive(Serialize)]
struct Report<'a> {
    facts: &'a Facts,
    plan: &'a Result<Plan, String>,
    checks: &'a [Check],
    state: Option<&'a State>,
}

/// The report in schema 1 ([`to_schema`]), as `doctor --json` prints it.
#[cfg(test)]
fn report_json(
    facts: &Facts,
    plan: &Result<Plan, String>,
    checks: &[Check],
    state: Option<&State>,
) -> serde_json::Result<String> {
    let report = Report {
        facts,
        plan,
        checks,
        state,
    };
    to_schema(&report).and_then(|v| serde_json::to_string_pretty(&v))
}

/// On cgroup v2, what nesting did (or will do) seen from PID 1's cgroup and the root's
/// `cgroup.subtree_control`: the pod's limits for containers depend on it.
fn cgroup_nesting_check(facts: &Facts) -> Option<Check> {
    if facts.cgroup != probe::CgroupVersion::V2 {
        return None;
    }
    let pid1 = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    let subtree =
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap_or_default();
    let nesting = crate::cgroup::nesting(&pid1, &subtree);
    let (verdict, remedy) = match nesting {
        crate::cgroup::Nesting::NoControllers => (
            Verdict::Warn,
            "give the pod a writable cgroupfs (privileged) so dind-init can enable the controllers",
        ),
        _ => (Verdict::Ok, ""),
    };
    Some(check(verdict, "cgroup v2 nesting", nesting.text(), remedy))
}

/// `dind-init doctor`: facts, plan and checks with remedies. Exit 1 when a check fails.
pub fn doctor(cfg: &Config, json: bool) -> i32 {
    not_root_note();
    let facts = probe::probe(cfg, &Roots::default());
    let plan = plan::plan(&as_pid1(facts.clone()), cfg).map_err(|e| e.to_string());
    let state = State::load(Path::new(STATE_FILE)).ok();
    let mut checks: Vec<Check> = pid1_check(read_pid1(Path::new("/proc")), cfg)
        .into_iter()
        .collect();
    checks.extend(input_checks(cfg, probe::validate(cfg, &Roots::default())));
    checks.extend(self::checks(&facts, &plan, state.as_ref()));
    checks.extend(docker_cli_checks(&find_docker_cli(cfg)));
    if let (Ok(p), 0) = (&plan, facts.euid) {
        checks.push(apply_check(crate::apply::precheck(
            &p.steps,
            &crate::sys::LinuxSyscall,
        )));
    }
    checks.extend(cgroup_nesting_check(&facts));
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    if json {
        let report = Report {
            facts: &facts,
            plan: &plan,
            checks: &checks,
            state: state.as_ref(),
        };
        if let Err(code) = emit_json(&report) {
            return code;
        }
    } else {
        let mut text = format!("Checks:\n{}\n", render_checks(&checks));
        match &plan {
            Ok(p) => text.push_str(&format!(
                "Plan (what dind-init does at start):\n{}\n",
                p.render()
            )),
            Err(e) => text.push_str(&format!("Plan: cannot be made: {e}\n")),
        }
        emit(&text);
    }
    i32::from(failed)
}

/// The version of the JSON that `doctor --json`, `plan --json` and
/// `status --json` print (docs/json.md). Raised when a field changes meaning
/// or goes away; new fields may appear within a version.
pub const JSON_SCHEMA: u64 = 1;

/// The documented JSON form of `v`: with `"schema": 1`, a fact that could
/// not be read as `{"error": "..."}` and one that could as its value, file
/// modes as octal strings ("0755"). No Rust internals (`{"Ok": ...}`).
pub fn to_schema(v: &impl Serialize) -> serde_json::Result<serde_json::Value> {
    let mut out = serde_json::Map::new();
    out.insert("schema".into(), JSON_SCHEMA.into());
    match schema_value(serde_json::to_value(v)?) {
        serde_json::Value::Object(m) => out.extend(m),
        other => {
            out.insert("value".into(), other);
        }
    }
    Ok(serde_json::Value::Object(out))
}

fn schema_value(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) if m.len() == 1 && (m.contains_key("Ok") || m.contains_key("Err")) => {
            match m.into_iter().next() {
                Some((k, inner)) if k == "Ok" => schema_value(inner),
                Some((_, e)) => serde_json::json!({ "error": schema_value(e) }),
                None => Value::Null,
            }
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::Number(n) if k == "mode" => {
                        let text = n.as_u64().map(|m| format!("{m:04o}"));
                        (k, text.map_or(Value::Number(n), Value::String))
                    }
                    v => (k, schema_value(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(schema_value).collect()),
        v => v,
    }
}

/// Print `v` in the documented schema; Err(exit code) when it cannot be encoded.
fn emit_json(v: &impl Serialize) -> Result<(), i32> {
    match to_schema(v).and_then(|v| serde_json::to_string_pretty(&v)) {
        Ok(s) => {
            emit(&format!("{s}\n"));
            Ok(())
        }
        Err(e) => {
            eprintln!("dind-init: error: cannot encode the report: {e}");
            Err(1)
        }
    }
}

/// Write to stdout. A reader that went away (`| head`) is not an error and
/// never a panic: the rest of the output is simply not wanted.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// PID 1's command name and effective uid, from /proc/1/status.
fn read_pid1(proc: &Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(proc.join("1/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let name = field("Name:")?.to_string();
    let euid = field("Uid:")?.split_whitespace().nth(1)?.parse().ok()?;
    Some((name, euid))
}

/// dind-init as this container's PID 1 but not root: the one ✘ that explains
/// every other (no state, no Docker), so it comes first.
fn pid1_check(pid1: Option<(String, u32)>, cfg: &Config) -> Option<Check> {
    let (name, euid) = pid1?;
    if name != "dind-init" {
        return None;
    }
    let e = crate::session::root_needed(euid, cfg)?;
    Some(check(
        Verdict::Fail,
        "started as root",
        e.to_string(),
        "dind-init must be PID 1 as root; it runs the session as DIND_USER",
    ))
}

/// `dind-init plan`: the actions and their reasons; changes nothing.
pub fn plan(cfg: &Config, json: bool) -> i32 {
    not_root_note();
    if let Err(e) = probe::validate(cfg, &Roots::default()) {
        eprintln!("dind-init: error: {e}");
        return e.exit_code();
    }
    let facts = as_pid1(probe::probe(cfg, &Roots::default()));
    match plan::plan(&facts, cfg) {
        Ok(p) if json => emit_json(&p).err().unwrap_or(0),
        Ok(p) => {
            emit(&p.render());
            if let Some(c) = cgroup_nesting_check(&facts) {
                emit(&format!("cgroup v2: {}\n", c.found));
            }
            0
        }
        Err(e) => {
            eprintln!("dind-init: error: {e}");
            e.exit_code()
        }
    }
}

/// `dind-init status`: 0 only when Docker answers and the smoke test passed
/// (the readiness probe). `--settled`: 0 once PID 1 has finished trying, ready
/// or degraded (the startup probe: a pod whose Docker failed keeps its session
/// and must not be restarted). It waits at most [`PING_TIMEOUT`].
pub fn status(cfg: &Config, settled: bool, json: bool) -> i32 {
    let loaded = State::load(Path::new(STATE_FILE));
    // A plain init records nothing; the probe runs with the container's env,
    // so it knows there is no Docker to wait for.
    let state = match &loaded {
        Ok(s) => Some(s.clone()),
        Err(_) if !cfg.start_dockerd => Some(State {
            phase: Phase::Disabled,
            ..State::default()
        }),
        Err(_) => None,
    };
    let state = state.as_ref();
    let (code, mut message) = status_of(state, settled, |socket| {
        dockerd::ping(socket, PING_TIMEOUT).unwrap_or(false)
    });
    if let (Err(e), None) = (&loaded, state) {
        message = no_state(e, read_pid1(Path::new("/proc")));
    }
    if json {
        #[derive(Serialize)]
        struct Status<'a> {
            ready: bool,
            settled: bool,
            exit: i32,
            message: &'a str,
            state: Option<&'a State>,
        }
        let ready = state.is_some_and(|s| s.phase == Phase::Ready) && (settled || code == 0);
        let report = Status {
            ready,
            settled: state.is_some_and(|s| s.phase.settled()),
            exit: code,
            message: &message,
            state,
        };
        if let Err(c) = emit_json(&report) {
            return c;
        }
    } else {
        emit(&format!("{message}\n"));
    }
    code
}

/// The longest `status` waits for Docker's answer: probes' timeoutSeconds
/// must be above it (the examples use 5).
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Why there is no state, naming the fix when PID 1 is dind-init as non-root.
fn no_state(e: &crate::Error, pid1: Option<(String, u32)>) -> String {
    if let Some((name, euid)) = pid1.filter(|(n, u)| n == "dind-init" && *u != 0) {
        return format!("not ready: {name} (PID 1) runs as uid {euid}, not root, so it starts no Docker — fix: `USER root` and `ENV DIND_USER=coder` in the image, or securityContext runAsUser: 0 in the pod");
    }
    let why = match e {
        crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            format!("{STATE_FILE} does not exist yet")
        }
        other => other.to_string(),
    };
    format!("not ready: dind-init has recorded no state ({why}) — it is still starting, or it is not this container's PID 1 (make it the ENTRYPOINT)")
}

/// What a phase means, in the words `status` prints.
fn phase_words(p: Phase) -> &'static str {
    match p {
        Phase::Starting => "dind-init is still starting Docker",
        Phase::Ready => "Docker is ready",
        Phase::Degraded => "Docker could not be started; the session runs without it",
        Phase::Disabled => "Docker is not started here (DIND_START_DOCKERD=false)",
        Phase::Stopping => "the pod is stopping",
    }
}

/// The decision of `status` (exit code and its one line), with the ping
/// injected for tests. `settled` asks the startup question instead.
pub fn status_of(
    state: Option<&State>,
    settled: bool,
    ping: impl Fn(&Path) -> bool,
) -> (i32, String) {
    let Some(state) = state else {
        return (1, "not ready: dind-init has recorded no state".into());
    };
    let err = if state.error.is_empty() {
        String::new()
    } else {
        format!(": {}", state.error)
    };
    // Degraded with a socket: Docker answered, but its volume is in trouble.
    let runs = state.phase == Phase::Degraded && !state.socket.as_os_str().is_empty();
    let words = if runs {
        format!(
            "Docker runs on {}, but cannot be used fully",
            state.socket.display()
        )
    } else {
        phase_words(state.phase).to_string()
    };
    if settled {
        return match state.phase {
            Phase::Starting => (1, format!("not settled: {words}")),
            _ => (0, format!("settled: {words}{err}")),
        };
    }
    if !runs && (state.phase != Phase::Ready || !state.smoke_ok) {
        return (1, format!("not ready: {words}{err}"));
    }
    if !ping(&state.socket) {
        return (
            1,
            format!(
                "not ready: Docker does not answer on {}",
                state.socket.display()
            ),
        );
    }
    // Not ready for readiness: pulls, builds and new containers fail there.
    if runs {
        return (1, format!("not ready: {words}{err}"));
    }
    (
        0,
        format!(
            "ready: Docker answers on {}; {} on {} passed the smoke test",
            state.socket.display(),
            state.driver,
            state.data_root.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> State {
        State {
            phase: Phase::Ready,
            socket: "/var/run/docker.sock".into(),
            driver: "overlay2".into(),
            data_root: "/home/coder/.docker-data".into(),
            smoke_ok: true,
            ready_ms: 200,
            smoke_ms: 90,
            error: String::new(),
        }
    }

    #[test]
    fn status_needs_ready_smoke_and_ping() {
        assert_eq!(status_of(Some(&ready()), false, |_| true).0, 0);
        assert_eq!(status_of(Some(&ready()), false, |_| false).0, 1);
        let mut s = ready();
        s.smoke_ok = false;
        assert_eq!(status_of(Some(&s), false, |_| true).0, 1);
        let mut s = ready();
        s.phase = Phase::Starting;
        assert_eq!(status_of(Some(&s), false, |_| true).0, 1);
    }

    /// Docker answers but its volume is full (the reserve was released, or the
    /// smoke test hit ENOSPC): status says Docker runs and what to do, and stays
    /// not ready (pulls, builds and new containers fail); the startup probe settles.
    #[test]
    fn docker_running_on_a_full_volume_is_named_not_called_failed() {
        let state = State {
            phase: Phase::Degraded,
            smoke_ok: false,
            error: "volume full: 0 B free on the volume holding /home/coder/.docker-data — fix: free space on the volume holding the data root: `docker system df` shows what uses it".into(),
            ..ready()
        };
        let (code, line) = status_of(Some(&state), false, |_| true);
        assert_eq!(code, 1);
        assert!(
            line.starts_with("not ready: Docker runs on /var/run/docker.sock, but cannot be used fully: volume full: "),
            "{line}"
        );
        assert!(line.contains("free space"), "{line}");
        assert!(!line.contains("could not be started"), "{line}");
        let (_, line) = status_of(Some(&state), false, |_| false);
        assert!(
            line.starts_with("not ready: Docker does not answer"),
            "{line}"
        );
        let (code, line) = status_of(Some(&state), true, |_| panic!("--settled never pings"));
        assert_eq!(code, 0);
        assert!(line.starts_with("settled: Docker runs on"), "{line}");
        // Docker that never answered keeps the old words.
        let down = State {
            socket: PathBuf::new(),
            ..state
        };
        let (_, line) = status_of(Some(&down), false, |_| true);
        assert!(
            line.starts_with("not ready: Docker could not be started"),
            "{line}"
        );
    }

    /// The probes' exit codes in each phase: (phase, Docker answers,
    /// `status` = readiness, `status --settled` = startup).
    #[test]
    fn probe_exit_codes_per_phase() {
        let rows = [
            (None, true, 1, 1),
            (Some(Phase::Starting), true, 1, 1),
            (Some(Phase::Ready), true, 0, 0),
            (Some(Phase::Ready), false, 1, 0),
            (Some(Phase::Degraded), true, 1, 0),
            (Some(Phase::Disabled), false, 1, 0),
            (Some(Phase::Stopping), true, 1, 0),
        ];
        for (phase, answers, readiness, startup) in rows {
            let state = phase.map(|p| State {
                phase: p,
                smoke_ok: p != Phase::Degraded,
                ..ready()
            });
            let got = (
                status_of(state.as_ref(), false, |_| answers).0,
                status_of(state.as_ref(), true, |_| panic!("--settled never pings")).0,
            );
            assert_eq!(got, (readiness, startup), "{phase:?} answers={answers}");
        }
    }

    #[test]
    fn phases_keep_the_state_files_words() {
        for (p, word) in [
            (Phase::Starting, "starting"),
            (Phase::Ready, "ready"),
            (Phase::Degraded, "failed"),
            (Phase::Disabled, "disabled"),
            (Phase::Stopping, "stopping"),
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(word));
            assert_eq!(p.name(), word);
            let back: Phase = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn non_root_pid1_is_the_first_failure_with_the_fix() {
        let cfg = Config::default();
        let c = pid1_check(Some(("dind-init".into(), 1000)), &cfg).expect("a check");
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.found.contains("uid 1000") && c.found.contains("USER root"),
            "{c:?}"
        );
        assert!(c.found.contains("runAsUser: 0"), "{c:?}");
        assert_eq!(pid1_check(Some(("dind-init".into(), 0)), &cfg), None);
        assert_eq!(pid1_check(Some(("systemd".into(), 1000)), &cfg), None);
        assert_eq!(pid1_check(None, &cfg), None);
        let plain = Config {
            start_dockerd: false,
            ..Config::default()
        };
        assert_eq!(pid1_check(Some(("dind-init".into(), 1000)), &plain), None);
    }

    #[test]
    fn pid1_is_read_from_proc() {
        let dir = std::env::temp_dir().join(format!("dind-doctor-proc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1")).unwrap();
        std::fs::write(
            dir.join("1/status"),
            "Name:\tdind-init\nUmask:\t0022\nUid:\t1000\t1000\t1000\t1000\n",
        )
        .unwrap();
        let got = read_pid1(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, Some(("dind-init".into(), 1000)));
        let e = crate::Error::io(
            "read",
            STATE_FILE,
            std::io::ErrorKind::PermissionDenied.into(),
        );
        assert!(no_state(&e, got).contains("USER root"));
    }

    /// The JSON schema: versioned, no `{"Ok": ...}`, errors as
    /// `{"error": ...}`, modes as octal strings.
    #[test]
    fn json_follows_the_documented_schema() {
        #[derive(Serialize)]
        struct T {
            fuse: Result<(), String>,
            version: Result<String, String>,
            dirs: Vec<crate::plan::Action>,
            plan: Result<u8, String>,
        }
        let v = to_schema(&T {
            fuse: Err("ENOENT".into()),
            version: Ok("29.0".into()),
            dirs: vec![crate::plan::Action::CreateDir {
                path: "/x".into(),
                mode: 0o710,
            }],
            plan: Ok(3),
        })
        .unwrap();
        assert_eq!(v["schema"], serde_json::json!(1));
        assert_eq!(v["fuse"], serde_json::json!({"error": "ENOENT"}));
        assert_eq!(v["version"], serde_json::json!("29.0"));
        assert_eq!(v["plan"], serde_json::json!(3));
        assert_eq!(v["dirs"][0]["mode"], serde_json::json!("0710"));
        let text = v.to_string();
        assert!(
            !text.contains("\"Ok\"") && !text.contains("\"Err\""),
            "{text}"
        );
    }

    /// Facts from a probe of an empty tree, with the kernel and engine facts set per row.
    fn facts(
        kernel: Result<&str, &str>,
        cgroup: probe::CgroupVersion,
        dockerd: (u32, u32, u32),
        containerd: Option<Result<(u32, u32, u32), &str>>,
    ) -> Facts {
        let t = std::env::temp_dir().join(format!("dind-init-doctor-{}", std::process::id()));
        let roots = Roots {
            proc: t.join("proc"),
            etc: t.join("etc"),
            dev: t.join("dev"),
            sys_cgroup: t.join("cgroup"),
            sys_class_net: t.join("net"),
            run: t.join("run"),
            var_run: t.join("var/run"),
            var_lib: t.join("var/lib"),
        };
        let cfg = Config {
            dockerd: "/nonexistent/dockerd".into(),
            ..Config::default()
        };
        let v = |(major, minor, patch)| probe::Version {
            major,
            minor,
            patch,
        };
        let mut f = probe::probe(&cfg, &roots);
        f.kernel = kernel.map(String::from).map_err(String::from);
        f.cgroup = cgroup;
        f.dockerd.version = Ok(v(dockerd));
        f.containerd_bin = containerd.map(|_| "/usr/bin/containerd".into());
        f.containerd_version = match containerd {
            Some(r) => r.map(v).map_err(String::from),
            None => Err("containerd is not on PATH".into()),
        };
        f
    }

    #[test]
    fn kernel_cgroup_and_engine_versions_are_reported() {
        use probe::CgroupVersion::*;
        let rows = [
            (
                facts(
                    Ok("6.1.0-28-amd64"),
                    Hybrid,
                    (20, 10, 24),
                    Some(Ok((1, 6, 20))),
                ),
                [
                    "✔ kernel: Linux 6.1.0-28-amd64",
                    "✔ cgroups: hybrid (v1 controllers, a v2 hierarchy beside them)",
                    "✔ dockerd: /nonexistent/dockerd 20.10.24 (graphdriver)",
                    "✔ containerd: /usr/bin/containerd 1.6.20 (reads config version 2)",
                ],
            ),
            (
                facts(
                    Ok("6.12.48+deb13-amd64"),
                    V2,
                    (26, 1, 5),
                    Some(Ok((1, 7, 24))),
                ),
                [
                    "✔ kernel: Linux 6.12.48+deb13-amd64",
                    "✔ cgroups: v2 (the unified hierarchy)",
                    "✔ dockerd: /nonexistent/dockerd 26.1.5 (graphdriver)",
                    "✔ containerd: /usr/bin/containerd 1.7.24 (reads config version 2)",
                ],
            ),
            (
                facts(Ok("5.15.0-1071-aws"), V1, (28, 5, 2), Some(Ok((2, 1, 9)))),
                [
                    "✔ kernel: Linux 5.15.0-1071-aws",
                    "✔ cgroups: v1 (one hierarchy per controller)",
                    "✔ dockerd: /nonexistent/dockerd 28.5.2 (graphdriver)",
                    "✔ containerd: /usr/bin/containerd 2.1.9 (reads config version 3)",
                ],
            ),
            (
                facts(
                    Err("read /proc/sys/kernel/osrelease: gone"),
                    Unknown,
                    (29, 0, 1),
                    None,
                ),
                [
                    "! kernel: read /proc/sys/kernel/osrelease: gone",
                    "✔ cgroups: unknown (no cgroup filesystem at /sys/fs/cgroup)",
                    "✔ dockerd: /nonexistent/dockerd 29.0.1 (graphdriver)",
                    "! containerd: not on PATH",
                ],
            ),
            (
                facts(
                    Ok("6.8.0"),
                    V2,
                    (28, 5, 2),
                    Some(Err("`containerd --version` exited with 1")),
                ),
                [
                    "✔ kernel: Linux 6.8.0",
                    "✔ cgroups: v2 (the unified hierarchy)",
                    "✔ dockerd: /nonexistent/dockerd 28.5.2 (graphdriver)",
                    "! containerd: /usr/bin/containerd: `containerd --version` exited with 1",
                ],
            ),
        ];
        for (f, want) in rows {
            let text = render_checks(&checks(&f, &Err("not planned".into()), None));
            let lines: Vec<&str> = text.lines().collect();
            for w in want {
                assert!(lines.contains(&w), "no line {w:?} in:\n{text}");
            }
            // The same facts in `doctor --json`.
            let json: serde_json::Value =
                serde_json::from_str(&report_json(&f, &Err("x".into()), &[], None).unwrap())
                    .unwrap();
            let facts = &json["facts"];
            assert_eq!(
                facts["kernel"],
                schema_value(serde_json::to_value(&f.kernel).unwrap())
            );
            assert_eq!(facts["cgroup"], serde_json::to_value(f.cgroup).unwrap());
            assert_eq!(
                facts["dockerd"]["version"]["major"],
                f.dockerd.version.as_ref().unwrap().major
            );
        }
        let f = facts(Ok("6.8.0"), Hybrid, (28, 5, 2), Some(Ok((2, 1, 9))));
        let json = report_json(&f, &Err("x".into()), &[], None).unwrap();
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["schema"], 1);
        assert_eq!(j["facts"]["kernel"], "6.8.0");
        assert_eq!(j["facts"]["cgroup"], "hybrid");
        assert_eq!(j["facts"]["containerd_version"]["major"], 2);
    }

    #[test]
    fn misspelt_and_bad_input_are_checks() {
        let cfg = Config {
            unknown_env: vec![
                "DIND_STRATGY is not a dind-init setting (did you mean DIND_STRATEGY?)".into(),
            ],
            ..Config::default()
        };
        let bad = crate::Error::BadSetting {
            key: "DIND_DOCKERD_ARGS".into(),
            value: "--mtu=abc".into(),
            allowed: "dockerd flags".into(),
        };
        let c = input_checks(&cfg, Err(bad));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].verdict, Verdict::Warn);
        assert!(c[0].found.contains("did you mean DIND_STRATEGY"), "{c:?}");
        assert_eq!(c[1].verdict, Verdict::Fail);
        assert!(c[1].found.contains("--mtu=abc"), "{c:?}");
        let c = input_checks(&Config::default(), Ok(()));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Ok);
    }

    /// Only a Docker that could not be started is a failure; starting and
    /// stopping are moments, not faults.
    #[test]
    fn docker_check_per_phase() {
        let verdict = |phase| {
            let state = State {
                phase,
                smoke_ok: phase == Phase::Ready,
                ..ready()
            };
            docker_check(Some(&state)).verdict
        };
        assert_eq!(verdict(Phase::Ready), Verdict::Ok);
        assert_eq!(verdict(Phase::Disabled), Verdict::Ok);
        assert_eq!(verdict(Phase::Starting), Verdict::Warn);
        assert_eq!(verdict(Phase::Stopping), Verdict::Warn);
        assert_eq!(verdict(Phase::Degraded), Verdict::Fail);
        assert_eq!(docker_check(None).verdict, Verdict::Warn);
    }

    #[test]
    fn apply_refusals_are_failures_with_apply_s_message() {
        assert_eq!(apply_check(Ok(())).verdict, Verdict::Ok);
        let e = crate::Error::sys(
            "mkdir /home/coder/x",
            nix::errno::Errno::ELOOP,
            "remove the link",
        );
        let text = e.to_string();
        let c = apply_check(Err(e));
        assert_eq!((c.verdict, c.found), (Verdict::Fail, text));
    }

    #[test]
    fn a_trial_the_volume_stopped_names_the_volume_not_the_filesystem() {
        use probe::{FsKind, Location, Trouble};
        let at = |trial: Trial| Location {
            path: "/home/coder/.docker-data".into(),
            probed: "/home/coder".into(),
            mount: None,
            fs: std::result::Result::Ok(FsKind {
                magic: 0xEF53,
                name: "ext4".into(),
            }),
            free_bytes: std::result::Result::Ok(0),
            d_type: Err("mkdir /home/coder/.dind-init-dtype: No space left on device".into()),
            trial,
        };
        let blocked = |trouble, errno: &str| Trial::Blocked {
            trouble,
            errno: errno.into(),
            call: "mkdir /home/coder/.dind-init-trial".into(),
        };
        // (trial, words in what was found, words in the remedy)
        let rows = [
            (
                blocked(Trouble::VolumeFull, "ENOSPC"),
                "volume full on ext4",
                "grow the PVC, then restart the pod",
            ),
            (
                blocked(Trouble::ReadOnly, "EROFS"),
                "read-only",
                "read-only",
            ),
            (blocked(Trouble::Io, "EIO"), "I/O error", "dmesg"),
            (
                Trial::Failed {
                    errno: "EINVAL".into(),
                    call: "mount src=overlay dst=/home/coder/.dind-init-trial/merged".into(),
                },
                "EINVAL",
                "ext4",
            ),
        ];
        for (trial, found, remedy) in rows {
            let blocked = matches!(trial, Trial::Blocked { .. });
            let c = trial_check(&at(trial));
            assert_eq!(c.verdict, Verdict::Fail);
            assert!(c.found.contains(found), "{c:?}");
            assert!(c.remedy.contains(remedy), "{c:?}");
            let move_it = c
                .remedy
                .contains("put DIND_DATA_ROOT on an ext4/xfs volume");
            assert_eq!(move_it, !blocked, "{c:?}");
        }
    }

    #[test]
    fn address_pools_check_says_where_networks_come_from_or_what_they_hide() {
        use crate::netpool::{decide, PodNets, PoolSetting, UserNets};
        let vpn = PodNets::from_text(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth0\t000010AC\t01002A0A\t0003\t0\t0\t0\t0000F0FF\n",
            "",
        );
        let c = pools_check(&decide(&PoolSetting::Auto, &vpn, &UserNets::default()));
        assert_eq!(c.verdict, Verdict::Ok);
        assert!(
            c.found.contains("route 172.16.0.0/12 (eth0)")
                && c.found.contains("192.168.0.0/16 by /20"),
            "{c:?}"
        );
        let c = pools_check(&decide(&PoolSetting::Off, &vpn, &UserNets::default()));
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.remedy.contains("DIND_ADDRESS_POOLS"), "{c:?}");
    }

    #[test]
    fn compose_and_buildx_name_the_packages_that_add_them() {
        let p = |s: &str| Some(PathBuf::from(s));
        let debian_20_10 = DockerCli {
            docker: p("/usr/bin/docker"),
            ..DockerCli::default()
        };
        let devcontainers = DockerCli {
            docker: p("/usr/bin/docker"),
            compose_plugin: p("/usr/libexec/docker/cli-plugins/docker-compose"),
            buildx_plugin: p("/usr/libexec/docker/cli-plugins/docker-buildx"),
            ..DockerCli::default()
        };
        let v1_only = DockerCli {
            compose_standalone: p("/usr/bin/docker-compose"),
            ..debian_20_10.clone()
        };
        type Want<'a> = &'a [(&'a str, Verdict, &'a str)];
        let rows: &[(&DockerCli, Want)] = &[
            (
                &debian_20_10,
                &[
                    ("docker compose", Verdict::Warn, "docker-compose-plugin"),
                    ("docker buildx", Verdict::Warn, "docker-buildx-plugin"),
                ],
            ),
            (
                &devcontainers,
                &[
                    ("docker compose", Verdict::Ok, ""),
                    ("docker buildx", Verdict::Ok, ""),
                ],
            ),
            (
                &v1_only,
                &[
                    (
                        "docker compose",
                        Verdict::Warn,
                        "apt-get install docker-compose",
                    ),
                    (
                        "docker buildx",
                        Verdict::Warn,
                        "apt-get install docker-buildx",
                    ),
                ],
            ),
            (
                &DockerCli::default(),
                &[("docker CLI", Verdict::Warn, "docker-ce-cli")],
            ),
        ];
        for (cli, want) in rows {
            let got = docker_cli_checks(cli);
            assert_eq!(got.len(), want.len(), "{cli:?}");
            for (c, (what, v, remedy)) in got.iter().zip(want.iter()) {
                assert_eq!((c.what.as_str(), c.verdict), (*what, *v), "{cli:?}");
                assert!(c.remedy.contains(remedy), "{cli:?}: {}", c.remedy);
            }
        }
        assert!(cli_plugin_dirs(Some(Path::new("/home/coder")))
            .contains(&PathBuf::from("/home/coder/.docker/cli-plugins")));
    }

    #[test]
    fn remedies_only_on_problems() {
        let c = check(Verdict::Ok, "x", "fine".into(), "do something");
        assert!(c.remedy.is_empty());
        let c = check(Verdict::Fail, "x", "bad".into(), "do something");
        assert_eq!(c.remedy, "do something");
        let text = render_checks(&[c]);
        assert!(
            text.contains("✘ x: bad") && text.contains("→ do something"),
            "{text}"
        );
    }
}
