//! Settings: environment `DIND_*` variables over an optional TOML file.
//!
//! Every setting is declared once in [`SETTINGS`]; the README table, `--help`
//! and the parser all come from it, so they cannot drift apart. Parsing is a
//! pure function of an environment snapshot and the file text, so it is
//! table-tested without touching the process environment.

use crate::error::{one_line, Error, Result};
use crate::netpool::PoolSetting;
use crate::parse::shell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the TOML file is looked for when `DIND_CONFIG` is not set.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/dind-init.toml";

/// One setting: its env name, TOML key, default and meaning (for docs and errors).
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Environment variable, e.g. `DIND_STRATEGY`.
    pub env: &'static str,
    /// Key in the TOML file, e.g. `strategy`.
    pub key: &'static str,
    /// Default, as shown to users.
    pub default: &'static str,
    /// Allowed values, as shown in errors.
    pub allowed: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// Every setting dind-init knows, in README order.
pub const SETTINGS: &[Setting] = &[
    Setting { env: "DIND_CONFIG", key: "", default: "/etc/dind-init.toml (if it exists)", allowed: "a path to a TOML file", meaning: "TOML file with the settings below (keys without the DIND_ prefix, lower case); env beats file" },
    Setting { env: "DIND_START_DOCKERD", key: "start_dockerd", default: "true", allowed: "true|false", meaning: "false makes dind-init a plain init (like tini): no storage fix, no dockerd" },
    Setting { env: "DIND_LOG", key: "log", default: "info", allowed: "error|warn|info|debug|trace", meaning: "log level of dind-init's own messages (RUST_LOG is honoured when DIND_LOG is unset)" },
    Setting { env: "DIND_STOP_TIMEOUT", key: "stop_timeout", default: "25", allowed: "whole seconds, e.g. 25", meaning: "on stop, time for the command, dockerd and leftovers to exit before SIGKILL; keep it below terminationGracePeriodSeconds" },
    Setting { env: "DIND_LEFTOVER_GRACE", key: "leftover_grace", default: "2", allowed: "whole seconds, e.g. 2", meaning: "when the command exits on its own, time its leftover processes get between SIGTERM and SIGKILL (dockerd still gets DIND_STOP_TIMEOUT)" },
    Setting { env: "DIND_USER", key: "user", default: "(the current user)", allowed: "a user name, uid or uid:gid", meaning: "run the command as this user, with its groups, HOME and SHELL; it may use the docker socket" },
    Setting { env: "DIND_DATA_ROOT", key: "data_root", default: "<home of DIND_USER>/.docker-data", allowed: "an absolute path", meaning: "where Docker's data lives; put it on the pod's persistent volume" },
    Setting { env: "DIND_STRATEGY", key: "strategy", default: "auto", allowed: "auto|bind|symlink|data-root|off", meaning: "how DATA_ROOT becomes Docker's data dir: bind-mount onto /var/lib/docker, symlink it, or pass --data-root; off changes nothing" },
    Setting { env: "DIND_STORAGE_DRIVER", key: "storage_driver", default: "auto", allowed: "auto|overlay2|fuse-overlayfs|vfs|overlayfs|native", meaning: "storage driver (snapshotter with the containerd image store); auto picks the fastest one that really mounts on DATA_ROOT" },
    Setting { env: "DIND_DOCKERD", key: "dockerd", default: "dockerd", allowed: "a program name or path", meaning: "the dockerd to run" },
    Setting { env: "DIND_DOCKERD_ARGS", key: "dockerd_args", default: "(none)", allowed: "shell-quoted words (TOML: a string or an array)", meaning: "extra dockerd arguments; merged with daemon.json and DOCKER_OPTS so no option is given twice" },
    Setting { env: "DIND_DOCKERD_LOG", key: "dockerd_log", default: "(stderr only)", allowed: "an absolute path", meaning: "also append dockerd's output to this file" },
    Setting { env: "DIND_READY_TIMEOUT", key: "ready_timeout", default: "60", allowed: "whole seconds, e.g. 60", meaning: "how long to wait for dockerd to answer /_ping; also bounds the storage smoke test (a twelfth per API call, a third in all, at least 5 s and 20 s)" },
    Setting { env: "DIND_SHM_SIZE", key: "shm_size", default: "(Docker's 64m)", allowed: "a size such as 1g or 512m", meaning: "default-shm-size for containers" },
    Setting { env: "DIND_DOCKER_GROUP", key: "docker_group", default: "docker", allowed: "a group name", meaning: "group owning the docker socket; created if missing and given to DIND_USER; a \"group\" in daemon.json or DOCKER_OPTS wins, and DIND_USER joins that one" },
    Setting { env: "DIND_REQUIRE_DOCKER", key: "require_docker", default: "false", allowed: "true|false", meaning: "true: exit non-zero when Docker cannot be made to work instead of starting the command with a warning" },
    Setting { env: "DIND_CONTAINERD", key: "containerd", default: "auto", allowed: "auto|separate|managed", meaning: "separate: dind-init starts containerd before dockerd (faster start and stop); managed: dockerd starts its own" },
    Setting { env: "DIND_ADDRESS_POOLS", key: "address_pools", default: "auto", allowed: "auto|off|a list of base/prefix/size, e.g. 10.201.0.0/16/24,10.202.0.0/16/24", meaning: "Docker's bip and default-address-pools: auto keeps Docker's defaults unless they overlap a route or address of the pod, then picks free ranges; a list sets exactly those; off sets nothing; a bip or default-address-pools of your own wins over auto and is warned about when it overlaps" },
];

/// How DATA_ROOT is made Docker's data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// bind if we can mount, else symlink, else data-root.
    Auto,
    /// Bind-mount DATA_ROOT onto /var/lib/docker.
    Bind,
    /// Make /var/lib/docker a symlink to DATA_ROOT.
    Symlink,
    /// Pass `data-root` to dockerd.
    DataRoot,
    /// Touch nothing.
    Off,
}

/// A storage driver (graphdriver, or snapshotter with the containerd image store): what
/// DIND_STORAGE_DRIVER pins and what the plan tells dockerd. Owned here so probe, plan and
/// session share one type and one spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// Graphdriver overlay2: native overlay mounts, needs a non-overlay upper.
    Overlay2,
    /// containerd snapshotter overlayfs (containerd image store).
    Overlayfs,
    /// fuse-overlayfs in userspace: works on overlay, slower.
    FuseOverlayfs,
    /// Graphdriver vfs: a full copy per layer; slow and large.
    Vfs,
    /// containerd snapshotter native: a full copy per layer.
    Native,
}

impl Driver {
    /// Every driver dind-init reasons about, in DIND_STORAGE_DRIVER's order.
    pub const ALL: [Driver; 5] = [
        Driver::Overlay2,
        Driver::FuseOverlayfs,
        Driver::Vfs,
        Driver::Overlayfs,
        Driver::Native,
    ];

    /// The name dockerd expects in `storage-driver`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay2 => "overlay2",
            Driver::Overlayfs => "overlayfs",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            Driver::Vfs => "vfs",
            Driver::Native => "native",
        }
    }

    /// The driver dockerd means by `name` (`overlay` is overlay2's old spelling);
    /// None for drivers dind-init does not reason about (btrfs, zfs, …).
    pub fn from_name(name: &str) -> Option<Driver> {
        Some(match name {
            "overlay2" | "overlay" => Driver::Overlay2,
            "overlayfs" | "io.containerd.snapshotter.v1.overlayfs" => Driver::Overlayfs,
            "fuse-overlayfs" => Driver::FuseOverlayfs,
            "vfs" => Driver::Vfs,
            "native" | "io.containerd.snapshotter.v1.native" => Driver::Native,
            _ => return None,
        })
    }

    /// Needs kernel overlay mounts with the upper dir on the data root's filesystem.
    pub fn needs_overlay(self) -> bool {
        matches!(self, Driver::Overlay2 | Driver::Overlayfs)
    }

    /// The same kind of driver for the image store in use (graphdriver or snapshotter).
    pub(crate) fn for_store(self, store: bool) -> Driver {
        match (self, store) {
            (Driver::Overlay2, true) => Driver::Overlayfs,
            (Driver::Overlayfs, false) => Driver::Overlay2,
            (Driver::Vfs, true) => Driver::Native,
            (Driver::Native, false) => Driver::Vfs,
            (d, _) => d,
        }
    }

    /// What choosing it costs, for warnings ("" for the overlay drivers).
    pub(crate) fn cost(self) -> &'static str {
        match self {
            Driver::Overlay2 | Driver::Overlayfs => "",
            Driver::FuseOverlayfs => {
                "fuse-overlayfs runs in userspace: file I/O in containers and builds is slower than overlay2"
            }
            Driver::Vfs | Driver::Native => {
                "every layer is a full copy: slow builds and several times the disk space"
            }
        }
    }
}

/// Who runs containerd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerdMode {
    /// separate whenever it is at least as fast (every engine measured so far).
    Auto,
    /// dind-init starts containerd and hands its socket to dockerd.
    Separate,
    /// dockerd starts its own containerd.
    Managed,
}

/// DIND_USER: a name, or numeric ids.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum UserSpec {
    /// Looked up in /etc/passwd.
    Name(String),
    /// Numeric uid, optional gid (defaults to the passwd entry's or the uid).
    Id { uid: u32, gid: Option<u32> },
}

/// The parsed settings. Built only through [`Config::from_sources`] / [`Config::load`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// Run the storage fix and dockerd (false: plain init).
    pub start_dockerd: bool,
    /// Log filter for dind-init's own messages (None: use RUST_LOG or info).
    pub log: Option<log::LevelFilter>,
    /// Shutdown budget for the command, dockerd and leftovers.
    pub stop_timeout: Duration,
    /// Time the leftovers of a command that exited on its own get before SIGKILL.
    pub leftover_grace: Duration,
    /// DIND_USER.
    pub user: Option<UserSpec>,
    /// DIND_DATA_ROOT; None: decided by the planner from the user's home.
    pub data_root: Option<PathBuf>,
    /// DIND_STRATEGY.
    pub strategy: Strategy,
    /// DIND_STORAGE_DRIVER.
    pub storage_driver: Option<Driver>,
    /// DIND_DOCKERD.
    pub dockerd: String,
    /// DIND_DOCKERD_ARGS, split into words.
    pub dockerd_args: Vec<String>,
    /// DIND_DOCKERD_LOG.
    pub dockerd_log: Option<PathBuf>,
    /// DIND_READY_TIMEOUT.
    pub ready_timeout: Duration,
    /// DIND_SHM_SIZE, validated (e.g. "1g").
    pub shm_size: Option<String>,
    /// DIND_DOCKER_GROUP.
    pub docker_group: String,
    /// DIND_REQUIRE_DOCKER.
    pub require_docker: bool,
    /// DIND_CONTAINERD.
    pub containerd: ContainerdMode,
    /// DIND_ADDRESS_POOLS.
    pub address_pools: PoolSetting,
    /// DOCKER_DRIVER (GitLab / docker:dind convention), honoured as a storage-driver wish.
    pub docker_driver_env: Option<String>,
    /// DOCKER_TLS_CERTDIR (docker:dind): make certificates there and listen on 2376 with TLS.
    pub tls_certdir: Option<PathBuf>,
    /// DOCKER_TLS_SAN (docker:dind): extra names for the server certificate, canonical.
    pub tls_san: Vec<String>,
    /// DOCKER_HOST: a unix:// one is where dockerd listens (docker:dind); tcp:// is the session's.
    pub docker_host: Option<crate::parse::dockerhost::DockerHost>,
    /// The TOML file that was read, if any (for messages).
    pub file: Option<PathBuf>,
    /// `DIND_*` variables that are no setting (likely typos), each with the closest
    /// setting: warned about at start, in `plan` and in `doctor`.
    pub unknown_env: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            start_dockerd: true,
            log: None,
            stop_timeout: Duration::from_secs(25),
            leftover_grace: Duration::from_secs(2),
            user: None,
            data_root: None,
            strategy: Strategy::Auto,
            storage_driver: None,
            dockerd: "dockerd".into(),
            dockerd_args: Vec::new(),
            dockerd_log: None,
            ready_timeout: Duration::from_secs(60),
            shm_size: None,
            docker_group: "docker".into(),
            require_docker: false,
            containerd: ContainerdMode::Auto,
            address_pools: PoolSetting::Auto,
            docker_driver_env: None,
            tls_certdir: None,
            tls_san: Vec::new(),
            docker_host: None,
            file: None,
            unknown_env: Vec::new(),
        }
    }
}

/// A raw value before validation, with where it came from (for error messages).
#[derive(Debug, Clone)]
enum Raw {
    Str(String),
    List(Vec<String>),
}

impl Config {
    /// Starting Docker needs root (mounts, cgroups, the daemons). An image ending
    /// with `USER coder`, or a pod with `runAsUser: 1000`, runs dind-init as the
    /// user: say in one line what to change. A plain init needs no root.
    pub fn root_needed(&self, euid: u32) -> Option<Error> {
        if euid == 0 || !self.start_dockerd {
            return None;
        }
        Some(Error::Docker {
            msg: format!("dind-init runs as uid {euid}, not root, so it cannot start Docker"),
            hint: "start it as root and let it run the session as the user: `USER root` and `ENV DIND_USER=coder` at the end of the image, or securityContext runAsUser: 0 and runAsNonRoot: false in the pod (or DIND_START_DOCKERD=false for no Docker)".into(),
        })
    }

    /// Read the real environment and the TOML file it points to.
    pub fn load() -> Result<Config> {
        let env = env_snapshot(std::env::vars_os())?;
        let (path, explicit) = match env.get("DIND_CONFIG") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(e) => {
                return Err(Error::ConfigFile {
                    path,
                    msg: format!("cannot read (named by DIND_CONFIG): {e}"),
                    hint: "point DIND_CONFIG at a readable TOML file, or unset it".into(),
                })
            }
        };
        Config::from_sources(&env, text.as_deref().map(|t| (path.as_path(), t)))
    }

    /// Build the config from an environment snapshot and an optional TOML file
    /// (path, text). Env beats file. Pure: no I/O.
    pub fn from_sources(
        env: &BTreeMap<String, String>,
        file: Option<(&Path, &str)>,
    ) -> Result<Config> {
        let mut raw: BTreeMap<&'static str, (String, Raw)> = BTreeMap::new();
        let mut cfg = Config::default();
        if let Some((path, text)) = file {
            cfg.file = Some(path.to_path_buf());
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| Error::ConfigFile {
                        path: path.to_path_buf(),
                        msg: one_line(&e.to_string()),
                        hint: "fix the TOML syntax (see the example in the README)".into(),
                    })?;
            for (key, value) in table {
                let Some(s) = SETTINGS.iter().find(|s| !s.key.is_empty() && s.key == key) else {
                    return Err(Error::ConfigFile {
                        path: path.to_path_buf(),
                        msg: format!("unknown key {key:?}"),
                        hint: format!("use one of: {}", toml_keys()),
                    });
                };
                let label = format!("{} in {}", s.key, path.display());
                let v = match value {
                    toml::Value::String(s) => Raw::Str(s),
                    toml::Value::Integer(i) => Raw::Str(i.to_string()),
                    toml::Value::Boolean(b) => Raw::Str(b.to_string()),
                    toml::Value::Array(a) if s.key == "dockerd_args" => {
                        let mut words = Vec::new();
                        for item in a {
                            match item {
                                toml::Value::String(w) => words.push(w),
                                other => {
                                    return Err(Error::BadSetting {
                                        key: label,
                                        value: other.to_string(),
                                        allowed: "an array of strings".into(),
                                    })
                                }
                            }
                        }
                        Raw::List(words)
                    }
                    other => {
                        return Err(Error::BadSetting {
                            key: label,
                            value: other.to_string(),
                            allowed: s.allowed.into(),
                        })
                    }
                };
                raw.insert(s.key, (label, v));
            }
        }
        for s in SETTINGS.iter().filter(|s| !s.key.is_empty()) {
            if let Some(v) = env.get(s.env) {
                raw.insert(s.key, (s.env.to_string(), Raw::Str(v.clone())));
            }
        }
        for (key, (label, value)) in raw {
            apply_one(&mut cfg, key, &label, value)?;
        }
        if let Some(d) = env.get("DOCKER_DRIVER").filter(|d| !d.is_empty()) {
            cfg.docker_driver_env = Some(d.clone());
        }
        docker_dind_env(&mut cfg, env)?;
        cfg.unknown_env = Config::unknown_env(env);
        Ok(cfg)
    }

    /// `DIND_*` variables in `env` that are not settings (likely typos), with a suggestion.
    pub fn unknown_env(env: &BTreeMap<String, String>) -> Vec<String> {
        env.keys()
            .filter(|k| k.starts_with("DIND_") && !SETTINGS.iter().any(|s| s.env == k.as_str()))
            .map(|k| match closest(k) {
                Some(s) => format!("{k} is not a dind-init setting (did you mean {s}?)"),
                None => format!("{k} is not a dind-init setting; ignored"),
            })
            .collect()
    }
}

/// docker:dind's variables dind-init reads: never dropped silently.
const DOCKER_DIND_VARS: &[&str] = &[
    "DOCKER_DRIVER",
    "DOCKER_HOST",
    "DOCKER_TLS_CERTDIR",
    "DOCKER_TLS_SAN",
];

/// The environment as text. A setting's value (or DOCKER_DRIVER's) that is not
/// UTF-8 is an error naming the variable: dropping it would silently use the
/// default. Other variables that are not UTF-8 are none of dind-init's business;
/// an unknown `DIND_*` one is kept (lossily) so it is still warned about.
fn env_snapshot(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for (k, v) in vars {
        let Ok(k) = k.into_string() else { continue };
        let v = match v.into_string() {
            Ok(v) => v,
            Err(v) => {
                let lossy = v.to_string_lossy().into_owned();
                let setting = SETTINGS.iter().find(|s| s.env == k);
                if setting.is_none() && !DOCKER_DIND_VARS.contains(&k.as_str()) {
                    if k.starts_with("DIND_") {
                        env.insert(k, lossy);
                    }
                    continue;
                }
                let allowed = match (setting, k.as_str()) {
                    (Some(s), _) => s.allowed,
                    (None, "DOCKER_DRIVER") => "a storage driver name",
                    (None, _) => "a value docker:dind accepts",
                };
                return Err(Error::BadSetting {
                    key: k,
                    value: lossy,
                    allowed: format!("{allowed}, as UTF-8 text (the value is not valid UTF-8)"),
                });
            }
        };
        env.insert(k, v);
    }
    Ok(env)
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// Be PID 1 and run this command (empty: the user's login shell).
    Run(Vec<std::ffi::OsString>),
    /// Explain facts, plan and checks; `json` for scripts.
    Doctor {
        /// Machine-readable output.
        json: bool,
    },
    /// Print the plan; change nothing.
    Plan {
        /// Machine-readable output.
        json: bool,
    },
    /// Exit 0 only when Docker answers and storage works (a readiness probe).
    Status {
        /// Exit 0 once PID 1 has finished trying, ready or not (a startup probe).
        settled: bool,
        /// Machine-readable output.
        json: bool,
    },
    /// Run Docker for the pod's other containers, no command, until SIGTERM.
    Sidecar,
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// Parse argv (without the program name). A subcommand is recognised only as the
/// first word; `--` ends option parsing, so `dind-init -- status` runs a program
/// called `status`.
pub fn parse_cli(args: &[std::ffi::OsString]) -> Result<Cli> {
    let Some(first) = args.first() else {
        return Ok(Cli::Run(Vec::new()));
    };
    let rest = &args[1..];
    let flags = |allowed: &[&str]| -> Result<bool> {
        let mut json = false;
        for a in rest {
            match a.to_str() {
                Some("--json") if allowed.contains(&"--json") => json = true,
                _ => {
                    return Err(Error::Usage(format!(
                        "unexpected argument {:?} for {:?}",
                        a, first
                    )))
                }
            }
        }
        Ok(json)
    };
    match first.to_str() {
        Some("--") => Ok(Cli::Run(rest.to_vec())),
        Some("-h" | "--help" | "help") => Ok(Cli::Help),
        Some("-V" | "--version" | "version") => Ok(Cli::Version),
        Some("doctor") => Ok(Cli::Doctor {
            json: flags(&["--json"])?,
        }),
        Some("plan") => Ok(Cli::Plan {
            json: flags(&["--json"])?,
        }),
        Some("status") => status_flags(first, rest),
        Some("sidecar") => {
            flags(&[])?;
            Ok(Cli::Sidecar)
        }
        Some(s) if s.starts_with('-') => Err(Error::Usage(format!(
            "unknown option {s:?}; to run a program whose name starts with '-', put `--` before it"
        ))),
        _ => Ok(Cli::Run(args.to_vec())),
    }
}

/// `status [--settled] [--json]`.
fn status_flags(first: &std::ffi::OsString, rest: &[std::ffi::OsString]) -> Result<Cli> {
    let (mut settled, mut json) = (false, false);
    for a in rest {
        match a.to_str() {
            Some("--settled") => settled = true,
            Some("--json") => json = true,
            _ => {
                return Err(Error::Usage(format!(
                    "unexpected argument {a:?} for {first:?}"
                )))
            }
        }
    }
    Ok(Cli::Status { settled, json })
}

/// The `--help` text, with every setting from [`SETTINGS`].
pub fn usage() -> String {
    let mut s = String::from(
        "dind-init: PID 1 for devpods that makes Docker-in-Docker work.\n\n\
Usage:\n  dind-init [--] [CMD [ARGS...]]   run CMD (default: the user's login shell) after starting Docker\n  \
dind-init doctor [--json]         explain facts, plan and checks, with the remedy for each failure\n  \
dind-init plan [--json]           print what would be done and why; change nothing\n  \
dind-init status [--json]         exit 0 only when Docker answers and storage works (readiness probe)\n  \
dind-init status --settled        exit 0 once dind-init has finished starting Docker, ready or not (startup probe)\n  \
dind-init sidecar                 run Docker for the pod's other containers (no command) until SIGTERM\n  \
dind-init --help | --version\n\nSettings (environment; the same keys in lower case without DIND_ in the TOML file):\n",
    );
    for st in SETTINGS {
        s.push_str(&format!(
            "  {:<20} {} (default: {})\n",
            st.env, st.meaning, st.default
        ));
    }
    s
}

fn toml_keys() -> String {
    SETTINGS
        .iter()
        .filter(|s| !s.key.is_empty())
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The setting whose env name is closest to `k` (at most 3 edits away).
fn closest(k: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|s| (edit_distance(k, s.env), s.env))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, e)| e)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn apply_one(cfg: &mut Config, key: &str, label: &str, value: Raw) -> Result<()> {
    let setting = SETTINGS.iter().find(|s| s.key == key);
    let bad = |v: &str| Error::BadSetting {
        key: label.to_string(),
        value: v.to_string(),
        allowed: setting.map(|s| s.allowed).unwrap_or("").to_string(),
    };
    let s = match &value {
        Raw::Str(s) => s.trim().to_string(),
        Raw::List(_) => String::new(),
    };
    match key {
        "start_dockerd" => cfg.start_dockerd = parse_bool(&s).ok_or_else(|| bad(&s))?,
        "require_docker" => cfg.require_docker = parse_bool(&s).ok_or_else(|| bad(&s))?,
        "log" => {
            cfg.log = Some(match s.to_ascii_lowercase().as_str() {
                "error" => log::LevelFilter::Error,
                "warn" | "warning" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                "trace" => log::LevelFilter::Trace,
                _ => return Err(bad(&s)),
            })
        }
        "stop_timeout" => cfg.stop_timeout = parse_secs(&s).ok_or_else(|| bad(&s))?,
        "leftover_grace" => cfg.leftover_grace = parse_secs(&s).ok_or_else(|| bad(&s))?,
        "ready_timeout" => {
            cfg.ready_timeout = parse_secs(&s)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| bad(&s))?
        }
        "user" => cfg.user = Some(parse_user(&s).ok_or_else(|| bad(&s))?),
        "data_root" => cfg.data_root = Some(parse_abs_path(&s).ok_or_else(|| bad(&s))?),
        "dockerd_log" => cfg.dockerd_log = Some(parse_abs_path(&s).ok_or_else(|| bad(&s))?),
        "strategy" => {
            cfg.strategy = match s.as_str() {
                "auto" => Strategy::Auto,
                "bind" => Strategy::Bind,
                "symlink" => Strategy::Symlink,
                "data-root" => Strategy::DataRoot,
                "off" => Strategy::Off,
                _ => return Err(bad(&s)),
            }
        }
        "storage_driver" => {
            cfg.storage_driver = match s.as_str() {
                "auto" => None,
                _ => Some(
                    *Driver::ALL
                        .iter()
                        .find(|d| d.name() == s)
                        .ok_or_else(|| bad(&s))?,
                ),
            }
        }
        "containerd" => {
            cfg.containerd = match s.as_str() {
                "auto" => ContainerdMode::Auto,
                "separate" => ContainerdMode::Separate,
                "managed" => ContainerdMode::Managed,
                _ => return Err(bad(&s)),
            }
        }
        "dockerd" => {
            if s.is_empty() || s.contains('\0') {
                return Err(bad(&s));
            }
            cfg.dockerd = s;
        }
        "dockerd_args" => {
            cfg.dockerd_args = match value {
                Raw::List(words) => words,
                Raw::Str(text) => shell::words(&text).map_err(|_| bad(&text))?,
            }
        }
        "shm_size" => {
            if !valid_size(&s) {
                return Err(bad(&s));
            }
            cfg.shm_size = Some(s);
        }
        "address_pools" => cfg.address_pools = PoolSetting::parse(&s).ok_or_else(|| bad(&s))?,
        "docker_group" => {
            if !valid_name(&s) {
                return Err(bad(&s));
            }
            cfg.docker_group = s;
        }
        _ => return Err(bad(&s)),
    }
    Ok(())
}

/// docker:dind's variables: DOCKER_TLS_CERTDIR (empty means off, as there),
/// DOCKER_TLS_SAN and DOCKER_HOST. A value that cannot work stops here (exit 2).
fn docker_dind_env(cfg: &mut Config, env: &BTreeMap<String, String>) -> Result<()> {
    let bad = |key: &str, value: &str, allowed: &str| Error::BadSetting {
        key: key.into(),
        value: value.into(),
        allowed: allowed.into(),
    };
    if let Some(d) = env.get("DOCKER_TLS_CERTDIR").filter(|d| !d.is_empty()) {
        let p = parse_abs_path(d.trim_end_matches('/'))
            .filter(|p| p != Path::new("/") && !p.as_os_str().is_empty());
        cfg.tls_certdir = Some(p.ok_or_else(|| {
            bad(
                "DOCKER_TLS_CERTDIR",
                d,
                "an absolute directory such as /certs (docker:dind's default), or empty for no TLS",
            )
        })?);
    }
    if let Some(s) = env.get("DOCKER_TLS_SAN") {
        cfg.tls_san = crate::parse::dockerhost::parse_sans(s).ok_or_else(|| {
            bad(
                "DOCKER_TLS_SAN",
                s,
                "names for the server certificate, e.g. DNS:docker.example,IP:10.0.0.5",
            )
        })?;
    }
    if let Some(h) = env.get("DOCKER_HOST").filter(|h| !h.is_empty()) {
        cfg.docker_host = Some(crate::parse::dockerhost::DockerHost::parse(h).ok_or_else(
            || {
                bad(
                    "DOCKER_HOST",
                    h,
                    "unix:///absolute/path.sock, tcp://host:port, or unset",
                )
            },
        )?);
    }
    Ok(())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_secs(s: &str) -> Option<Duration> {
    let n = s.strip_suffix('s').unwrap_or(s);
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<u32>().ok().map(|n| Duration::from_secs(n.into()))
}

fn parse_abs_path(s: &str) -> Option<PathBuf> {
    (s.starts_with('/') && !s.contains('\0')).then(|| PathBuf::from(s))
}

/// A POSIX-ish user or group name (what useradd accepts, plus upper case).
fn valid_name(s: &str) -> bool {
    let mut it = s.bytes();
    matches!(it.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') || b == b'$')
}

fn parse_user(s: &str) -> Option<UserSpec> {
    if s.bytes().next()?.is_ascii_digit() {
        let (u, g) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        // (uid_t)-1 means "unchanged" to setuid(2) and friends, so it names nobody.
        let id = |s: &str| s.parse::<u32>().ok().filter(|n| *n != u32::MAX);
        let uid = id(u)?;
        let gid = match g {
            Some(g) => Some(id(g)?),
            None => None,
        };
        Some(UserSpec::Id { uid, gid })
    } else if valid_name(s) {
        Some(UserSpec::Name(s.to_string()))
    } else {
        None
    }
}

/// Docker's size syntax: digits with an optional b/k/m/g suffix.
fn valid_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| "bkmgBKMG".contains(c));
    s.len() - digits.len() <= 1 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The stop budget: how DIND_STOP_TIMEOUT is shared after SIGTERM. The command
/// goes first with its share; dockerd and containerd (the services) stop in the
/// rest. Both init (when it kills the command) and the plan (dockerd's
/// shutdown-timeout) read it here, so the two can never disagree.
pub fn command_share(stop_timeout: Duration, has_services: bool) -> Duration {
    if has_services {
        stop_timeout * 2 / 5
    } else {
        stop_timeout
    }
}

impl Config {
    /// What DIND_STOP_TIMEOUT leaves dockerd and containerd after the command's share.
    pub fn daemon_share(&self) -> Duration {
        self.stop_timeout - command_share(self.stop_timeout, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(pairs: &[(&str, &str)], file: Option<&str>) -> String {
        Config::from_sources(
            &env(pairs),
            file.map(|t| (Path::new("/etc/dind-init.toml"), t)),
        )
        .unwrap_err()
        .to_string()
    }

    fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
        v.iter().map(std::ffi::OsString::from).collect()
    }

    #[test]
    fn cli_parsing() {
        assert_eq!(parse_cli(&os(&[])).unwrap(), Cli::Run(vec![]));
        assert_eq!(
            parse_cli(&os(&["bash", "-l"])).unwrap(),
            Cli::Run(os(&["bash", "-l"]))
        );
        assert_eq!(
            parse_cli(&os(&["--", "status"])).unwrap(),
            Cli::Run(os(&["status"]))
        );
        assert_eq!(
            parse_cli(&os(&["--", "--help"])).unwrap(),
            Cli::Run(os(&["--help"]))
        );
        assert_eq!(
            parse_cli(&os(&["status"])).unwrap(),
            Cli::Status {
                settled: false,
                json: false
            }
        );
        assert_eq!(
            parse_cli(&os(&["status", "--settled", "--json"])).unwrap(),
            Cli::Status {
                settled: true,
                json: true
            }
        );
        assert!(parse_cli(&os(&["status", "--ready"])).is_err());
        assert_eq!(
            parse_cli(&os(&["doctor", "--json"])).unwrap(),
            Cli::Doctor { json: true }
        );
        assert_eq!(
            parse_cli(&os(&["plan"])).unwrap(),
            Cli::Plan { json: false }
        );
        assert_eq!(parse_cli(&os(&["--version"])).unwrap(), Cli::Version);
        assert_eq!(parse_cli(&os(&["-h"])).unwrap(), Cli::Help);
        assert!(parse_cli(&os(&["--frobnicate"]))
            .unwrap_err()
            .to_string()
            .contains("--frobnicate"));
        assert!(parse_cli(&os(&["status", "--jsn"])).is_err());
        assert!(parse_cli(&os(&["doctor", "x"])).is_err());
    }

    #[test]
    fn readme_table_lists_every_setting() {
        let readme = include_str!("../README.md");
        for st in SETTINGS {
            let row = format!("| `{}` |", st.env);
            assert!(
                readme.contains(&row),
                "README settings table lacks {}",
                st.env
            );
        }
    }

    #[test]
    fn usage_lists_every_setting() {
        let u = usage();
        for st in SETTINGS {
            assert!(u.contains(st.env), "{} missing from --help", st.env);
        }
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = Config::from_sources(&env(&[]), None).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.stop_timeout, Duration::from_secs(25));
        assert!(c.start_dockerd && !c.require_docker);
    }

    #[test]
    fn valid_env_values() {
        let c = Config::from_sources(
            &env(&[
                ("DIND_START_DOCKERD", "false"),
                ("DIND_LOG", "debug"),
                ("DIND_STOP_TIMEOUT", "7"),
                ("DIND_USER", "1000:1001"),
                ("DIND_DATA_ROOT", "/home/coder/.docker-data"),
                ("DIND_STRATEGY", "data-root"),
                ("DIND_STORAGE_DRIVER", "fuse-overlayfs"),
                ("DIND_DOCKERD_ARGS", "--debug --label 'a b' \"c d\""),
                ("DIND_SHM_SIZE", "1g"),
                ("DIND_CONTAINERD", "managed"),
                ("DIND_READY_TIMEOUT", "5s"),
                ("DIND_ADDRESS_POOLS", "10.201.0.0/16/24, 10.202.0.0/16/24"),
                ("DOCKER_DRIVER", "overlay2"),
            ]),
            None,
        )
        .unwrap();
        assert!(!c.start_dockerd);
        assert_eq!(c.log, Some(log::LevelFilter::Debug));
        assert_eq!(c.stop_timeout, Duration::from_secs(7));
        assert_eq!(
            c.user,
            Some(UserSpec::Id {
                uid: 1000,
                gid: Some(1001)
            })
        );
        assert_eq!(c.data_root, Some(PathBuf::from("/home/coder/.docker-data")));
        assert_eq!(c.strategy, Strategy::DataRoot);
        assert_eq!(c.storage_driver, Some(Driver::FuseOverlayfs));
        assert_eq!(c.dockerd_args, vec!["--debug", "--label", "a b", "c d"]);
        assert_eq!(c.shm_size.as_deref(), Some("1g"));
        assert_eq!(c.containerd, ContainerdMode::Managed);
        assert_eq!(c.ready_timeout, Duration::from_secs(5));
        assert_eq!(
            c.address_pools,
            PoolSetting::parse("10.201.0.0/16/24,10.202.0.0/16/24").unwrap()
        );
        assert_eq!(c.docker_driver_env.as_deref(), Some("overlay2"));
    }

    #[test]
    fn invalid_env_values_name_variable_value_and_allowed() {
        let cases = [
            ("DIND_START_DOCKERD", "maybe", "true|false"),
            ("DIND_LOG", "loud", "error|warn|info|debug|trace"),
            ("DIND_STOP_TIMEOUT", "-1", "whole seconds"),
            ("DIND_STOP_TIMEOUT", "1.5", "whole seconds"),
            ("DIND_READY_TIMEOUT", "0", "whole seconds"),
            ("DIND_USER", "bad user", "a user name, uid or uid:gid"),
            ("DIND_USER", "1000:x", "a user name, uid or uid:gid"),
            ("DIND_USER", "4294967295", "a user name, uid or uid:gid"),
            (
                "DIND_USER",
                "1000:4294967295",
                "a user name, uid or uid:gid",
            ),
            ("DIND_DATA_ROOT", "relative/path", "an absolute path"),
            ("DIND_STRATEGY", "bindd", "auto|bind|symlink|data-root|off"),
            (
                "DIND_STORAGE_DRIVER",
                "aufs",
                "auto|overlay2|fuse-overlayfs|vfs|overlayfs|native",
            ),
            (
                "DIND_DOCKERD_ARGS",
                "--label 'unterminated",
                "shell-quoted words",
            ),
            ("DIND_SHM_SIZE", "lots", "a size such as 1g"),
            ("DIND_DOCKER_GROUP", "doc ker", "a group name"),
            ("DIND_CONTAINERD", "both", "auto|separate|managed"),
            ("DIND_DOCKERD", "", "a program name or path"),
            (
                "DIND_ADDRESS_POOLS",
                "10.201.0.1/16/24",
                "auto|off|a list of base/prefix/size",
            ),
            (
                "DIND_ADDRESS_POOLS",
                "172.17.0.0/16",
                "auto|off|a list of base/prefix/size",
            ),
        ];
        for (k, v, allowed) in cases {
            let msg = err(&[(k, v)], None);
            assert!(msg.contains(k), "{msg}");
            assert!(msg.contains(&format!("{v:?}")), "{msg}");
            assert!(msg.contains(allowed), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn file_values_and_env_beats_file() {
        let toml = "strategy = \"symlink\"\nstop_timeout = 9\nrequire_docker = true\ndockerd_args = [\"--debug\", \"a b\"]\n";
        let c = Config::from_sources(
            &env(&[("DIND_STRATEGY", "bind")]),
            Some((Path::new("/x.toml"), toml)),
        )
        .unwrap();
        assert_eq!(c.strategy, Strategy::Bind, "env beats file");
        assert_eq!(c.stop_timeout, Duration::from_secs(9));
        assert!(c.require_docker);
        assert_eq!(c.dockerd_args, vec!["--debug", "a b"]);
        assert_eq!(c.file, Some(PathBuf::from("/x.toml")));
    }

    #[test]
    fn unknown_toml_key_is_an_error_naming_it() {
        let msg = err(&[], Some("stratgy = \"bind\"\n"));
        assert!(msg.contains("/etc/dind-init.toml"), "{msg}");
        assert!(msg.contains("\"stratgy\""), "{msg}");
        assert!(msg.contains("strategy"), "lists the valid keys: {msg}");
    }

    #[test]
    fn invalid_toml_value_names_key_and_file() {
        let msg = err(&[], Some("strategy = \"bindd\"\n"));
        assert!(msg.contains("strategy in /etc/dind-init.toml"), "{msg}");
        assert!(msg.contains("bindd"), "{msg}");
        let msg = err(&[], Some("stop_timeout = 2.5\n"));
        assert!(msg.contains("stop_timeout"), "{msg}");
    }

    #[test]
    fn toml_syntax_error_is_one_line() {
        let msg = err(&[], Some("strategy = \n[[["));
        assert!(msg.starts_with("/etc/dind-init.toml:"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn unknown_env_suggests_the_closest_setting() {
        let warnings = Config::unknown_env(&env(&[("DIND_STRATGY", "bind"), ("DIND_COMMIT", "x")]));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("did you mean DIND_STRATEGY")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.starts_with("DIND_COMMIT")),
            "{warnings:?}"
        );
    }

    #[test]
    fn unknown_env_is_kept_in_the_config_for_the_warnings() {
        let c = Config::from_sources(&env(&[("DIND_STRATGY", "data-root")]), None).unwrap();
        assert_eq!(c.strategy, Strategy::Auto);
        assert_eq!(
            c.unknown_env,
            vec!["DIND_STRATGY is not a dind-init setting (did you mean DIND_STRATEGY?)"]
        );
    }

    #[test]
    fn a_non_utf8_value_is_an_error_naming_the_variable() {
        use std::os::unix::ffi::OsStringExt;
        let os = |k: &str, v: &[u8]| (k.into(), std::ffi::OsString::from_vec(v.to_vec()));
        let rows: [(&str, &[u8], Option<&str>); 7] = [
            (
                "DIND_STRATEGY",
                b"bind\xe9",
                Some("auto|bind|symlink|data-root|off"),
            ),
            ("DOCKER_DRIVER", b"overlay\xff", Some("storage driver")),
            ("DOCKER_HOST", b"tcp://h\xff:2376", Some("docker:dind")),
            ("DOCKER_TLS_CERTDIR", b"/c\xffrts", Some("docker:dind")),
            ("DIND_STRATGY", b"bind\xe9", None),
            ("HOME", b"/home/j\xe9r\xf4me", None),
            ("DIND_LOG", b"debug", None),
        ];
        for (k, v, allowed) in rows {
            let got = env_snapshot([os(k, v), os("PATH", b"/bin")].into_iter());
            match allowed {
                Some(allowed) => {
                    let msg = got.unwrap_err().to_string();
                    assert!(msg.starts_with(&format!("{k}=")), "{msg}");
                    assert!(msg.contains("UTF-8") && msg.contains(allowed), "{msg}");
                    assert!(!msg.contains('\n'), "{msg}");
                }
                None => {
                    let env = got.unwrap();
                    assert_eq!(env.get("PATH").map(String::as_str), Some("/bin"));
                    assert_eq!(env.contains_key(k), k.starts_with("DIND_"), "{k}");
                }
            }
        }
    }

    #[test]
    fn docker_dind_variables_are_read_and_bad_ones_stop_with_exit_2() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let c = Config::from_sources(
            &env(&[
                ("DOCKER_TLS_CERTDIR", "/certs/"),
                ("DOCKER_TLS_SAN", "DNS:dind.example,IP:10.0.0.9"),
                ("DOCKER_HOST", "tcp://localhost:2376"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.tls_certdir, Some(PathBuf::from("/certs")));
        assert_eq!(c.tls_san, ["DNS:dind.example", "IP:10.0.0.9"]);
        assert!(matches!(
            c.docker_host,
            Some(crate::parse::dockerhost::DockerHost::Tcp { port: 2376, .. })
        ));
        let off = Config::from_sources(&env(&[("DOCKER_TLS_CERTDIR", "")]), None).unwrap();
        assert_eq!(
            off.tls_certdir, None,
            "empty means no TLS, as in docker:dind"
        );
        for (k, v) in [
            ("DOCKER_TLS_CERTDIR", "certs"),
            ("DOCKER_TLS_CERTDIR", "/"),
            ("DOCKER_TLS_SAN", "IP:999.1.1.1"),
            ("DOCKER_HOST", "localhost:2376"),
            ("DOCKER_HOST", "unix://relative.sock"),
        ] {
            let e = Config::from_sources(&env(&[(k, v)]), None).unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.exit_code(), 2, "{msg}");
            assert!(
                msg.starts_with(&format!("{k}=")) && !msg.contains('\n'),
                "{msg}"
            );
        }
    }

    #[test]
    fn the_stop_budget_leaves_room_for_docker() {
        let s = Duration::from_secs;
        assert_eq!(command_share(s(25), true), s(10));
        assert_eq!(command_share(s(25), false), s(25));
        let c = Config {
            stop_timeout: s(25),
            ..Config::default()
        };
        assert_eq!(c.daemon_share(), s(15));
    }
}
