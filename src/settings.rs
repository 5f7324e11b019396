//! Docker daemon settings: read what the user already configured
//! (`/etc/docker/daemon.json`, `/etc/default/docker` `DOCKER_OPTS`, `DOCKER_DRIVER`,
//! `DIND_DOCKERD_ARGS`) and merge in the plan's settings so that dockerd sees
//! every directive exactly once (it refuses to start otherwise).
//!
//! Pure functions over text; the planner calls them and turns the result into
//! `WriteFile` / `StartDockerd` actions.

use crate::error::{Error, Result};
use crate::parse::shell;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The daemon.json dockerd reads when no `--config-file` is given.
pub const DEFAULT_DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// The sysvinit defaults file holding `DOCKER_OPTS` (the seed's fix lives there).
pub const DEFAULT_DOCKER_FILE: &str = "/etc/default/docker";

/// Where a user's setting came from, for messages ("storage-driver from DOCKER_OPTS in /etc/default/docker").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Origin {
    /// A key of daemon.json.
    DaemonJson(PathBuf),
    /// A flag in DOCKER_OPTS of /etc/default/docker.
    DockerOpts,
    /// The DOCKER_DRIVER environment variable.
    DockerDriverEnv,
    /// A flag in DIND_DOCKERD_ARGS.
    DindArgs,
    /// Decided by dind-init's plan.
    Plan,
}

impl Origin {
    /// True for the two flag sources, whose directives dockerd gets on its command line.
    fn is_flag(&self) -> bool {
        matches!(self, Origin::DockerOpts | Origin::DindArgs)
    }

    /// Short name used in "using the … value".
    fn short(&self) -> &'static str {
        match self {
            Origin::DaemonJson(_) => "daemon.json",
            Origin::DockerOpts => "DOCKER_OPTS",
            Origin::DockerDriverEnv => "DOCKER_DRIVER",
            Origin::DindArgs => "DIND_DOCKERD_ARGS",
            Origin::Plan => "dind-init",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::DaemonJson(p) => write!(f, "daemon.json ({})", p.display()),
            Origin::DockerOpts => write!(f, "DOCKER_OPTS in {DEFAULT_DOCKER_FILE}"),
            Origin::DockerDriverEnv => write!(f, "the DOCKER_DRIVER variable"),
            Origin::DindArgs => write!(f, "DIND_DOCKERD_ARGS"),
            Origin::Plan => write!(f, "dind-init's plan"),
        }
    }
}

/// The texts to read; all optional (a fresh image has none of them).
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    /// (path, text) of daemon.json; the path is the one dockerd will use.
    pub daemon_json: Option<(&'a Path, &'a str)>,
    /// Text of /etc/default/docker.
    pub default_docker: Option<&'a str>,
    /// Value of DOCKER_DRIVER.
    pub docker_driver_env: Option<&'a str>,
    /// DIND_DOCKERD_ARGS words.
    pub dind_args: &'a [String],
}

/// A setting the plan wants, with the reason shown to the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// daemon.json key, e.g. `storage-driver`.
    pub key: String,
    /// Its value.
    pub value: Value,
    /// Why.
    pub reason: String,
    /// Override the user's own value (theirs is the broken one); otherwise the user's wins.
    pub force: bool,
}

/// What the user configured before dind-init touched anything: every directive
/// with its value and where it came from.
#[derive(Debug, Clone, Default)]
pub struct UserSettings {
    /// The daemon.json dockerd will read (`--config-file` if the user gave one).
    pub daemon_json_path: PathBuf,
    /// Parsed daemon.json (empty when the file is absent).
    pub json: serde_json::Map<String, Value>,
    /// Effective value of each directive, keyed by daemon.json name, with origin.
    pub effective: BTreeMap<String, (Value, Origin)>,
    /// Flags we do not model, passed to dockerd unchanged.
    pub passthrough: Vec<String>,
    /// Conflicts between the user's own sources and how they were resolved
    /// (dockerd itself would refuse a directive given both as a flag and in the file).
    pub notes: Vec<String>,
}

/// The result of merging the plan's settings into the user's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// New daemon.json text, only when it differs from what is on disk.
    pub daemon_json: Option<(PathBuf, String)>,
    /// dockerd flags (without the program name); no directive here is also in daemon.json.
    pub args: Vec<String>,
    /// Final effective value of each directive, with origin.
    pub effective: BTreeMap<String, (Value, Origin)>,
    /// One line per override or conflict resolved, for the plan's warnings.
    pub notes: Vec<String>,
}

impl Merged {
    /// The final value of a directive (daemon.json name), wherever it ends up.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.effective.get(key).map(|(v, _)| v)
    }

    /// The unix socket dockerd will listen on, which readiness checks and the
    /// user's `docker` CLI need: the first `unix://` host, else /var/run/docker.sock.
    pub fn socket_path(&self) -> PathBuf {
        let hosts = match self.get("hosts") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        };
        hosts
            .into_iter()
            .filter_map(|h| h.strip_prefix("unix://"))
            .find(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
    }

    /// dockerd's exec-root (its runtime state), where stale state must be looked for.
    pub fn exec_root(&self) -> PathBuf {
        self.path_or("exec-root", "/var/run/docker")
    }

    /// Where dockerd keeps its data: the directory that must sit on a real filesystem.
    pub fn data_root(&self) -> PathBuf {
        match self.get("data-root").or_else(|| self.get("graph")) {
            Some(Value::String(s)) if !s.is_empty() => PathBuf::from(s),
            _ => PathBuf::from("/var/lib/docker"),
        }
    }

    /// dockerd's pidfile, removed before start when its process is gone.
    pub fn pidfile(&self) -> PathBuf {
        self.path_or("pidfile", "/var/run/docker.pid")
    }

    fn path_or(&self, key: &str, default: &str) -> PathBuf {
        match self.get(key) {
            Some(Value::String(s)) if !s.is_empty() => PathBuf::from(s),
            _ => PathBuf::from(default),
        }
    }
}

/// How a modelled flag's value is stored in daemon.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string.
    Str,
    /// A whole number.
    Num,
    /// A boolean; `--flag` alone means true, `--flag=false` false (no separate value word).
    Bool,
    /// An array of strings; the flag repeats.
    List,
    /// `--feature name[=bool]` into an object of booleans.
    Features,
    /// `--log-opt k=v` into an object of strings.
    KeyValues,
    /// `--default-address-pool base=a.b.c.d/n,size=n` into an array of `{base, size}`.
    Pool,
}

/// A dockerd flag dind-init understands: long name, shorthand, daemon.json key, kind.
/// The first entry for a key is the spelling dind-init emits.
struct Flag {
    long: &'static str,
    short: Option<char>,
    key: &'static str,
    kind: Kind,
}

const fn flag(long: &'static str, short: Option<char>, key: &'static str, kind: Kind) -> Flag {
    Flag {
        long,
        short,
        key,
        kind,
    }
}

/// dockerd flags modelled as directives (names from `dockerd --help` and moby's daemon/config).
const FLAGS: &[Flag] = &[
    flag("storage-driver", Some('s'), "storage-driver", Kind::Str),
    flag("data-root", None, "data-root", Kind::Str),
    flag("graph", Some('g'), "data-root", Kind::Str),
    flag("host", Some('H'), "hosts", Kind::List),
    flag("group", Some('G'), "group", Kind::Str),
    flag("exec-root", None, "exec-root", Kind::Str),
    flag("pidfile", Some('p'), "pidfile", Kind::Str),
    flag("mtu", None, "mtu", Kind::Num),
    flag("default-shm-size", None, "default-shm-size", Kind::Str),
    flag("containerd", None, "containerd", Kind::Str),
    flag("storage-opt", None, "storage-opts", Kind::List),
    flag("feature", None, "features", Kind::Features),
    flag("shutdown-timeout", None, "shutdown-timeout", Kind::Num),
    flag("debug", Some('D'), "debug", Kind::Bool),
    flag("insecure-registry", None, "insecure-registries", Kind::List),
    flag("registry-mirror", None, "registry-mirrors", Kind::List),
    flag("log-level", Some('l'), "log-level", Kind::Str),
    flag("log-driver", None, "log-driver", Kind::Str),
    flag("log-opt", None, "log-opts", Kind::KeyValues),
    flag("bridge", Some('b'), "bridge", Kind::Str),
    flag("bip", None, "bip", Kind::Str),
    flag(
        "default-address-pool",
        None,
        "default-address-pools",
        Kind::Pool,
    ),
    flag("iptables", None, "iptables", Kind::Bool),
    flag("ip6tables", None, "ip6tables", Kind::Bool),
    flag("ip-forward", None, "ip-forward", Kind::Bool),
    flag("ip-masq", None, "ip-masq", Kind::Bool),
    flag("ipv6", None, "ipv6", Kind::Bool),
    flag("userland-proxy", None, "userland-proxy", Kind::Bool),
    flag("experimental", None, "experimental", Kind::Bool),
    flag("live-restore", None, "live-restore", Kind::Bool),
    flag("cgroup-parent", None, "cgroup-parent", Kind::Str),
    flag("default-runtime", None, "default-runtime", Kind::Str),
    flag("exec-opt", None, "exec-opts", Kind::List),
    flag("label", None, "labels", Kind::List),
    flag("dns", None, "dns", Kind::List),
    flag("dns-opt", None, "dns-opts", Kind::List),
    flag("dns-search", None, "dns-search", Kind::List),
    flag(
        "max-concurrent-downloads",
        None,
        "max-concurrent-downloads",
        Kind::Num,
    ),
    flag(
        "max-concurrent-uploads",
        None,
        "max-concurrent-uploads",
        Kind::Num,
    ),
];

/// Flags passed through unmodelled whose daemon.json key is not their own name
/// (moby's NamedOption); used to spot a directive given both ways.
const PASSTHROUGH_KEYS: &[(&str, &str)] = &[
    ("default-ulimit", "default-ulimits"),
    ("authorization-plugin", "authorization-plugins"),
    ("node-generic-resource", "node-generic-resources"),
    ("cluster-store-opt", "cluster-store-opts"),
];

/// daemon.json keys dockerd accepts both as a flag and in the file (moby's skipDuplicates).
const DUPLICATES_ALLOWED: &[&str] = &["runtimes"];

/// Which daemon.json dockerd will read given DOCKER_OPTS and DIND_DOCKERD_ARGS
/// (`--config-file`), so the caller reads the right file before calling [`read`].
pub fn config_file_path(default_docker: Option<&str>, dind_args: &[String]) -> Result<PathBuf> {
    let mut path = PathBuf::from(DEFAULT_DAEMON_JSON);
    if let Some(p) = docker_opts_flags(default_docker)?.config_file {
        path = p;
    }
    if let Some(p) = parse_flags(dind_args, &FlagSource::DindArgs)?.config_file {
        path = p;
    }
    Ok(path)
}

/// Parse the user's sources. Invalid JSON is an error naming the file and line;
/// the file is never touched in that case.
pub fn read(src: &Sources) -> Result<UserSettings> {
    let opts_flags = docker_opts_flags(src.default_docker)?;
    let dind_flags = parse_flags(src.dind_args, &FlagSource::DindArgs)?;

    let config_flag = dind_flags
        .config_file
        .clone()
        .or_else(|| opts_flags.config_file.clone());
    let daemon_json_path = daemon_json_path(src.daemon_json.map(|(p, _)| p), &config_flag)?;
    let json = match src.daemon_json {
        Some((path, text)) => parse_daemon_json(path, text)?,
        None => serde_json::Map::new(),
    };

    let mut effective = file_directives(&json, &daemon_json_path);
    let mut notes = Vec::new();
    apply_docker_driver(&mut effective, src.docker_driver_env, &mut notes);
    apply_flags(&mut effective, &opts_flags, Origin::DockerOpts, &mut notes);
    apply_flags(&mut effective, &dind_flags, Origin::DindArgs, &mut notes);
    notes.extend(flag_and_file_conflicts(
        &effective,
        &json,
        &daemon_json_path,
    ));

    // --config-file is passed on unchanged (the winning one only).
    let mut passthrough: Vec<String> = config_flag
        .iter()
        .map(|c| format!("--config-file={}", c.display()))
        .collect();
    passthrough.extend(opts_flags.passthrough);
    passthrough.extend(dind_flags.passthrough);
    for key in passthrough_keys(&passthrough) {
        if json.contains_key(&key) {
            notes.push(format!(
                "{key} is set both in daemon.json ({}) and as a dockerd flag; dockerd refuses that — keeping the flag",
                daemon_json_path.display()
            ));
        }
    }
    Ok(UserSettings {
        daemon_json_path,
        json,
        effective,
        passthrough,
        notes,
    })
}

/// The flags of /etc/default/docker's DOCKER_OPTS (none without the file or the variable).
fn docker_opts_flags(default_docker: Option<&str>) -> Result<Flags> {
    let opts = match default_docker {
        Some(text) => parse_default_docker(text)?,
        None => None,
    };
    match &opts {
        Some(o) => parse_flags(&o.words, &FlagSource::DockerOpts(o.line)),
        None => Ok(Flags::default()),
    }
}

/// The daemon.json path to report and write: the one read, else `--config-file`, else
/// the default. The caller may read the file under another root (tests, a mounted
/// image): any path ending in the one dockerd will read is accepted.
fn daemon_json_path(read: Option<&Path>, config_flag: &Option<PathBuf>) -> Result<PathBuf> {
    match (read, config_flag) {
        (Some(path), Some(c)) if !path.ends_with(c.strip_prefix("/").unwrap_or(c)) => {
            Err(Error::DaemonConfig {
                path: c.clone(),
                line: 0,
                msg: format!(
                    "dockerd reads this file (--config-file) but {} was read instead",
                    path.display()
                ),
                hint:
                    "read the file settings::config_file_path names before calling settings::read"
                        .into(),
            })
        }
        (Some(path), _) => Ok(path.to_path_buf()),
        (None, Some(c)) => Ok(c.clone()),
        (None, None) => Ok(PathBuf::from(DEFAULT_DAEMON_JSON)),
    }
}

/// Every key of daemon.json as a directive from the file (`graph` also as `data-root`).
fn file_directives(
    json: &serde_json::Map<String, Value>,
    path: &Path,
) -> BTreeMap<String, (Value, Origin)> {
    let file_origin = Origin::DaemonJson(path.to_path_buf());
    let mut effective: BTreeMap<String, (Value, Origin)> = json
        .iter()
        .map(|(k, v)| (k.clone(), (v.clone(), file_origin.clone())))
        .collect();
    if let (None, Some(g)) = (json.get("data-root"), json.get("graph")) {
        effective.insert("data-root".into(), (g.clone(), file_origin.clone()));
    }
    effective
}

/// DOCKER_DRIVER (when set and not blank) beats the file's storage-driver, with a note.
fn apply_docker_driver(
    effective: &mut BTreeMap<String, (Value, Origin)>,
    docker_driver_env: Option<&str>,
    notes: &mut Vec<String>,
) {
    let Some(d) = docker_driver_env.map(str::trim).filter(|d| !d.is_empty()) else {
        return;
    };
    let v = Value::String(d.to_string());
    if let Some((old, o)) = effective.get("storage-driver") {
        if *old != v {
            notes.push(format!(
                "storage-driver is {} in {o} but DOCKER_DRIVER={d}; using the DOCKER_DRIVER value",
                show(old)
            ));
        }
    }
    effective.insert("storage-driver".into(), (v, Origin::DockerDriverEnv));
}

/// One flag source's directives beat everything before them; a different value from
/// a lower flag source or DOCKER_DRIVER is noted (the file's is noted as a conflict later).
fn apply_flags(
    effective: &mut BTreeMap<String, (Value, Origin)>,
    flags: &Flags,
    origin: Origin,
    notes: &mut Vec<String>,
) {
    for (k, v) in &flags.directives {
        if let Some((old, o)) = effective.get(k) {
            let lower_flag = o.is_flag() || *o == Origin::DockerDriverEnv;
            if lower_flag && old != v {
                notes.push(format!(
                    "{k} is {} in {o} but {} in {origin}; using the {} value",
                    show(old),
                    show(v),
                    origin.short()
                ));
            }
        }
        effective.insert(k.clone(), (v.clone(), origin.clone()));
    }
}

/// Notes for directives given as a flag that daemon.json also sets (dockerd refuses that).
fn flag_and_file_conflicts(
    effective: &BTreeMap<String, (Value, Origin)>,
    json: &serde_json::Map<String, Value>,
    path: &Path,
) -> Vec<String> {
    let mut notes = Vec::new();
    for (k, (_, o)) in effective {
        let in_file = json.contains_key(k) || (k == "data-root" && json.contains_key("graph"));
        if o.is_flag() && in_file && !DUPLICATES_ALLOWED.contains(&k.as_str()) {
            notes.push(format!(
                "{k} is set both in daemon.json ({}) and {o}; dockerd refuses that — using the {} value",
                path.display(),
                o.short()
            ));
        }
    }
    notes
}

/// Merge `wanted` into `user`: the user's explicit value wins unless `force`.
pub fn merge(user: &UserSettings, wanted: &[Wanted]) -> Result<Merged> {
    let mut effective = user.effective.clone();
    let mut notes = user.notes.clone();
    for w in wanted {
        merge_wanted(&mut effective, w, &mut notes);
    }
    let (json, args) = place_directives(user, &mut effective);
    let daemon_json = if json == user.json {
        None
    } else {
        Some((user.daemon_json_path.clone(), render(&json, user)?))
    };
    Ok(Merged {
        daemon_json,
        args,
        effective,
        notes,
    })
}

/// One wanted setting against the current value: set when unset, override when
/// forced, else keep the user's; objects are merged key by key. Each override or
/// keep is noted.
fn merge_wanted(
    effective: &mut BTreeMap<String, (Value, Origin)>,
    w: &Wanted,
    notes: &mut Vec<String>,
) {
    let current = effective.get(&w.key).cloned();
    match current {
        None => {
            effective.insert(w.key.clone(), (w.value.clone(), Origin::Plan));
        }
        Some((old, _)) if old == w.value => {}
        Some((Value::Object(old), origin)) if w.value.is_object() => {
            if let Some(merged) = merge_object(&old, &origin, w, notes) {
                effective.insert(w.key.clone(), (Value::Object(merged), Origin::Plan));
            }
        }
        Some((old, origin)) if w.force => {
            notes.push(format!(
                "{}: overriding {} from {origin} with {}: {}",
                w.key,
                show(&old),
                show(&w.value),
                w.reason
            ));
            effective.insert(w.key.clone(), (w.value.clone(), Origin::Plan));
        }
        Some((old, origin)) => notes.push(format!(
            "{}: keeping your {} from {origin}; dind-init would use {}: {}",
            w.key,
            show(&old),
            show(&w.value),
            w.reason
        )),
    }
}

/// The user's object with the wanted object's keys merged in (same rule per key),
/// or None when nothing changes.
fn merge_object(
    old: &serde_json::Map<String, Value>,
    origin: &Origin,
    w: &Wanted,
    notes: &mut Vec<String>,
) -> Option<serde_json::Map<String, Value>> {
    let mut merged = old.clone();
    let mut changed = false;
    if let Value::Object(want) = &w.value {
        for (sub, v) in want {
            match old.get(sub) {
                None => {
                    merged.insert(sub.clone(), v.clone());
                    changed = true;
                }
                Some(o) if o == v => {}
                Some(o) if w.force => {
                    notes.push(format!(
                        "{}.{sub}: overriding {} from {origin} with {}: {}",
                        w.key,
                        show(o),
                        show(v),
                        w.reason
                    ));
                    merged.insert(sub.clone(), v.clone());
                    changed = true;
                }
                Some(o) => notes.push(format!(
                    "{}.{sub}: keeping your {} from {origin}; dind-init would use {}: {}",
                    w.key,
                    show(o),
                    show(v),
                    w.reason
                )),
            }
        }
    }
    changed.then_some(merged)
}

/// Split the final directives between daemon.json and dockerd's flags: a flag
/// source's directive stays a flag (and leaves the file), DOCKER_DRIVER's and the
/// plan's go into the file; passthrough words follow the flags.
fn place_directives(
    user: &UserSettings,
    effective: &mut BTreeMap<String, (Value, Origin)>,
) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut json = user.json.clone();
    let mut args = Vec::new();
    for (key, (value, origin)) in effective.iter() {
        match origin {
            Origin::DaemonJson(_) => {}
            Origin::DockerOpts | Origin::DindArgs => {
                json.remove(key);
                if key == "data-root" {
                    json.remove("graph");
                }
                args.extend(flag_words(key, value));
            }
            Origin::DockerDriverEnv | Origin::Plan => {
                if key == "data-root" {
                    json.remove("graph");
                }
                json.insert(key.clone(), value.clone());
            }
        }
    }
    if effective
        .get("data-root")
        .is_some_and(|(_, o)| !matches!(o, Origin::DaemonJson(_)))
    {
        effective.remove("graph");
    }
    for key in passthrough_keys(&user.passthrough) {
        json.remove(&key);
    }
    args.extend(user.passthrough.iter().cloned());
    (json, args)
}

/// daemon.json text: pretty JSON with a final newline.
fn render(json: &serde_json::Map<String, Value>, user: &UserSettings) -> Result<String> {
    let mut text = serde_json::to_string_pretty(&Value::Object(json.clone())).map_err(|e| {
        Error::DaemonConfig {
            path: user.daemon_json_path.clone(),
            line: 0,
            msg: format!("cannot render the merged settings: {e}"),
            hint: "report this as a dind-init bug with your daemon.json".into(),
        }
    })?;
    text.push('\n');
    Ok(text)
}

/// A value as shown in notes: strings bare, everything else as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_daemon_json(path: &Path, text: &str) -> Result<serde_json::Map<String, Value>> {
    let hint = "fix the JSON at that line (dind-init never rewrites a file it cannot parse)";
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::DaemonConfig {
            path: path.to_path_buf(),
            line: 1,
            msg: format!("the top level is {}, not a JSON object", json_type(&other)),
            hint: "make the file one JSON object, e.g. {\"storage-driver\": \"overlay2\"} (dind-init never rewrites a file it cannot parse)".into(),
        }),
        Err(e) => Err(Error::DaemonConfig {
            path: path.to_path_buf(),
            line: e.line(),
            msg: format!("invalid JSON: {e}"),
            hint: hint.into(),
        }),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The final DOCKER_OPTS of /etc/default/docker, split into words, and the line it was set on.
struct DockerOpts {
    words: Vec<String>,
    line: usize,
}

/// Read /etc/default/docker as Debian's /etc/init.d/docker does: the file is
/// sourced by sh (last assignment wins) and `$DOCKER_OPTS` is expanded unquoted
/// on dockerd's command line, i.e. split on blanks only.
fn parse_default_docker(text: &str) -> Result<Option<DockerOpts>> {
    let assigned = shell::assignments(text).map_err(|open| Error::DaemonConfig {
        path: PathBuf::from(DEFAULT_DOCKER_FILE),
        line: open.line,
        msg: format!(
            "{}= has an unterminated {} quote",
            open.name,
            open.quote.name()
        ),
        hint: format!(
            "close the {} quote, e.g. DOCKER_OPTS=\"--data-root=/home/coder/.docker-data\"",
            open.quote.name()
        ),
    })?;
    Ok(assigned
        .into_iter()
        .rev()
        .find(|a| a.name == "DOCKER_OPTS")
        .map(|a| DockerOpts {
            words: shell::fields(&a.value),
            line: a.line,
        }))
}

/// Which flag source is parsed, for error messages.
enum FlagSource {
    /// DOCKER_OPTS, set on this line of /etc/default/docker.
    DockerOpts(usize),
    /// DIND_DOCKERD_ARGS.
    DindArgs,
}

impl FlagSource {
    fn error(&self, words: &str, msg: &str) -> Error {
        match self {
            FlagSource::DockerOpts(line) => Error::DaemonConfig {
                path: PathBuf::from(DEFAULT_DOCKER_FILE),
                line: *line,
                msg: format!("DOCKER_OPTS: {words:?} {msg}"),
                hint: "fix DOCKER_OPTS (dockerd would refuse it too)".into(),
            },
            FlagSource::DindArgs => Error::BadSetting {
                key: "DIND_DOCKERD_ARGS".into(),
                value: words.to_string(),
                allowed: format!("dockerd flags ({words} {msg})"),
            },
        }
    }
}

/// Directives, unmodelled words and `--config-file` from one flag source.
#[derive(Default)]
struct Flags {
    directives: BTreeMap<String, Value>,
    passthrough: Vec<String>,
    config_file: Option<PathBuf>,
}

/// Go's strconv.ParseBool, which dockerd's flag parser uses.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Split dockerd words into modelled directives and passthrough words, like
/// dockerd's flag parser would: `--flag=value`, `--flag value`, `-s value`,
/// `-svalue`, `-s=value`; booleans never take a separate value word.
fn parse_flags(words: &[String], src: &FlagSource) -> Result<Flags> {
    let mut out = Flags::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let (spec, inline) = match classify(word) {
            FlagWord::ConfigFile(inline) => {
                let v = take_value(inline, words, &mut i)
                    .ok_or_else(|| src.error(word, "needs a value"))?;
                out.config_file = Some(PathBuf::from(v));
                continue;
            }
            FlagWord::Modelled(spec, inline) => (spec, inline),
            FlagWord::Other => {
                out.passthrough.push(word.clone());
                if word.starts_with('-')
                    && !word.contains('=')
                    && i < words.len()
                    && !words[i].starts_with('-')
                {
                    out.passthrough.push(words[i].clone());
                    i += 1;
                }
                continue;
            }
        };
        let value = match (spec.kind, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (_, inline) => {
                take_value(inline, words, &mut i).ok_or_else(|| src.error(word, "needs a value"))?
            }
        };
        add_directive(&mut out.directives, spec, value, src)?;
    }
    Ok(out)
}

/// One dockerd word, before its value is taken.
enum FlagWord {
    /// `--config-file`, with its `=value` if any.
    ConfigFile(Option<String>),
    /// A modelled flag, with its inline value (`--flag=v`, `-sv`, `-s=v`) if any.
    Modelled(&'static Flag, Option<String>),
    /// Anything else: passed to dockerd unchanged.
    Other,
}

fn classify(word: &str) -> FlagWord {
    if let Some(rest) = word.strip_prefix("--") {
        let (name, val) = match rest.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (rest, None),
        };
        if name == "config-file" {
            return FlagWord::ConfigFile(val);
        }
        return match FLAGS.iter().find(|f| f.long == name) {
            Some(f) => FlagWord::Modelled(f, val),
            None => FlagWord::Other,
        };
    }
    let Some(rest) = word
        .strip_prefix('-')
        .filter(|r| !r.is_empty() && !r.starts_with('-'))
    else {
        return FlagWord::Other;
    };
    let mut cs = rest.chars();
    let c = cs.next();
    let tail: String = cs.collect();
    let spec = FLAGS.iter().find(|f| f.short.is_some() && f.short == c);
    match spec {
        Some(f) if tail.is_empty() => FlagWord::Modelled(f, None),
        Some(f) if f.kind != Kind::Bool => {
            FlagWord::Modelled(f, Some(tail.strip_prefix('=').unwrap_or(&tail).to_string()))
        }
        Some(f) => match tail.strip_prefix('=') {
            Some(v) => FlagWord::Modelled(f, Some(v.to_string())),
            None => FlagWord::Other,
        },
        None => FlagWord::Other,
    }
}

/// A flag's value: the inline one, else the next word (consumed).
fn take_value(inline: Option<String>, words: &[String], i: &mut usize) -> Option<String> {
    if inline.is_some() {
        return inline;
    }
    let next = words.get(*i)?.clone();
    *i += 1;
    Some(next)
}

/// Record one modelled flag's value as its daemon.json directive.
fn add_directive(
    d: &mut BTreeMap<String, Value>,
    spec: &Flag,
    value: String,
    src: &FlagSource,
) -> Result<()> {
    let shown = format!("--{} {value}", spec.long);
    match spec.kind {
        Kind::Str => {
            d.insert(spec.key.into(), Value::String(value));
        }
        Kind::Num => {
            let n: i64 = value
                .parse()
                .map_err(|_| src.error(&shown, "needs a whole number"))?;
            d.insert(spec.key.into(), Value::from(n));
        }
        Kind::Bool => {
            let b =
                parse_go_bool(&value).ok_or_else(|| src.error(&shown, "needs true or false"))?;
            d.insert(spec.key.into(), Value::Bool(b));
        }
        Kind::List | Kind::Pool => {
            let item = if spec.kind == Kind::Pool {
                pool_value(&value)
                    .ok_or_else(|| src.error(&shown, "needs base=a.b.c.d/n,size=n"))?
            } else {
                Value::String(value)
            };
            let entry = d
                .entry(spec.key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = entry {
                a.push(item);
            }
        }
        Kind::Features | Kind::KeyValues => {
            let (k, v) = named_value(spec.kind, &value).map_err(|need| src.error(&shown, need))?;
            let entry = d
                .entry(spec.key.to_string())
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(m) = entry {
                m.insert(k, v);
            }
        }
    }
    Ok(())
}

/// `--feature name[=bool]` or `--log-opt key=value` as (name, value); Err says what is needed.
fn named_value(kind: Kind, value: &str) -> std::result::Result<(String, Value), &'static str> {
    let (k, v) = match (kind, value.split_once('=')) {
        (Kind::Features, None) => (value.to_string(), Value::Bool(true)),
        (Kind::Features, Some((k, v))) => (
            k.to_string(),
            Value::Bool(parse_go_bool(v).ok_or("needs name or name=true|false")?),
        ),
        (_, Some((k, v))) => (k.to_string(), Value::String(v.to_string())),
        (_, None) => return Err("needs key=value"),
    };
    if k.is_empty() {
        return Err("needs a name");
    }
    Ok((k, v))
}

/// `base=a.b.c.d/n,size=n` (either order) as daemon.json's `{"base": …, "size": n}`.
fn pool_value(text: &str) -> Option<Value> {
    let (mut base, mut size) = (None, None);
    for part in text.split(',') {
        match part.split_once('=')? {
            ("base", b) if b.contains('/') => base = Some(b.to_string()),
            ("size", n) => size = Some(n.parse::<u8>().ok()?),
            _ => return None,
        }
    }
    Some(serde_json::json!({ "base": base?, "size": size? }))
}

/// The words dind-init passes to dockerd for a modelled directive, in its canonical spelling.
fn flag_words(key: &str, value: &Value) -> Vec<String> {
    let Some(f) = FLAGS.iter().find(|f| f.key == key) else {
        return Vec::new();
    };
    let long = f.long;
    match (f.kind, value) {
        (Kind::Bool, Value::Bool(true)) => vec![format!("--{long}")],
        (Kind::Bool, Value::Bool(false)) => vec![format!("--{long}=false")],
        (Kind::List, Value::Array(items)) => items
            .iter()
            .map(|v| format!("--{long}={}", show(v)))
            .collect(),
        (Kind::Pool, Value::Array(items)) => items
            .iter()
            .map(|p| {
                let field = |k: &str| p.get(k).map(show).unwrap_or_default();
                format!("--{long}=base={},size={}", field("base"), field("size"))
            })
            .collect(),
        (Kind::Features, Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("--{long}={k}={}", show(v)))
            .collect(),
        (Kind::KeyValues, Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("--{long}={k}={}", show(v)))
            .collect(),
        (_, v) => vec![format!("--{long}={}", show(v))],
    }
}

/// daemon.json keys named by unmodelled long flags among `words`
/// (dockerd refuses a key that is also given as a flag).
fn passthrough_keys(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.split_once('=').map_or(w, |(n, _)| n))
        .filter(|n| !n.is_empty())
        .map(|n| {
            PASSTHROUGH_KEYS
                .iter()
                .find(|(f, _)| *f == n)
                .map_or(n.to_string(), |(_, k)| k.to_string())
        })
        .filter(|k| !DUPLICATES_ALLOWED.contains(&k.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JSON: &str = "/etc/docker/daemon.json";
    const SEED: &str = "# Docker Upstart and SysVinit configuration file\n\
        DOCKER_OPTS=\"--data-root=/home/coder/.docker-data --storage-driver=overlay2\"\n";

    fn words(s: &str) -> Vec<String> {
        shell::words(s).unwrap()
    }

    fn wanted(key: &str, value: Value, force: bool) -> Wanted {
        Wanted {
            key: key.into(),
            value,
            reason: format!("{key} reason"),
            force,
        }
    }

    #[test]
    fn seed_default_docker_gives_flag_directives_kept_as_flags() {
        let u = read(&Sources {
            default_docker: Some(SEED),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            u.effective["data-root"],
            (json!("/home/coder/.docker-data"), Origin::DockerOpts)
        );
        assert_eq!(
            u.effective["storage-driver"],
            (json!("overlay2"), Origin::DockerOpts)
        );
        assert_eq!(u.daemon_json_path, PathBuf::from(JSON));
        assert!(u.notes.is_empty(), "{:?}", u.notes);
        let m = merge(&u, &[wanted("storage-driver", json!("overlay2"), false)]).unwrap();
        assert_eq!(m.daemon_json, None, "nothing to write");
        assert_eq!(
            m.args,
            [
                "--data-root=/home/coder/.docker-data",
                "--storage-driver=overlay2"
            ]
        );
        assert_eq!(m.data_root(), PathBuf::from("/home/coder/.docker-data"));
    }

    #[test]
    fn default_docker_quoting_export_comments_and_last_assignment() {
        let text = "\
# DOCKER_OPTS=\"--commented\"
DOCKER_OPTS='--debug'
export DOCKER_OPTS=\"--label 'a b' -H unix:///run/d.sock\"  # trailing comment
  DOCKER_OPTS=\"$DOCKER_OPTS --mtu 1400\"
echo \"ignored\"
";
        let u = read(&Sources {
            default_docker: Some(text),
            ..Default::default()
        })
        .unwrap();
        // The quotes inside the value stay: the init script's `$DOCKER_OPTS` splits on blanks only.
        assert_eq!(u.effective["labels"].0, json!(["'a"]));
        assert_eq!(u.effective["hosts"].0, json!(["unix:///run/d.sock"]));
        assert_eq!(u.effective["mtu"].0, json!(1400));
        assert!(
            !u.effective.contains_key("debug"),
            "an earlier assignment lost: {:?}",
            u.effective
        );
        assert_eq!(u.passthrough, ["b'"]);
    }

    /// /etc/init.d/docker sources the file and runs `dockerd … $DOCKER_OPTS`: the
    /// assignment follows sh quoting, the unquoted expansion is split on blanks only
    /// (no second quote removal). Expected words checked against dash.
    #[test]
    fn docker_opts_reach_dockerd_as_the_sysvinit_script_passes_them() {
        let rows: &[(&str, &[&str])] = &[
            (r"DOCKER_OPTS='--label=a\b'", &[r"--label=a\b"]),
            (r#"DOCKER_OPTS="--label=a\b""#, &[r"--label=a\b"]),
            (r"DOCKER_OPTS=--label=a\\b", &[r"--label=a\b"]),
            (
                r#"DOCKER_OPTS="--label 'a b' -H unix:///x""#,
                &["--label", "'a", "b'", "-H", "unix:///x"],
            ),
            (
                r#"DOCKER_OPTS="--label \"x y\" --mtu=1\ 2""#,
                &["--label", "\"x", "y\"", r"--mtu=1\", "2"],
            ),
            (
                "L=lab; DOCKER_OPTS=\"--label=\\$L:$L ${L}x $Lx\"",
                &["--label=$L:lab", "labx"],
            ),
            (
                "DOCKER_OPTS='--dns 1.1.1.1'\"\t--label=t\"\\\nz",
                &["--dns", "1.1.1.1", "--label=tz"],
            ),
        ];
        for (text, want) in rows {
            let opts = parse_default_docker(text).unwrap().unwrap();
            assert_eq!(opts.words, *want, "{text}");
        }
        let u = read(&Sources {
            default_docker: Some(r"DOCKER_OPTS='--label=a\b'"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(merge(&u, &[]).unwrap().args, [r"--label=a\b"]);
    }

    #[test]
    fn default_docker_unterminated_quote_names_line() {
        let err = read(&Sources {
            default_docker: Some("# x\n\nDOCKER_OPTS=\"--debug\n"),
            ..Default::default()
        })
        .unwrap_err();
        match &err {
            Error::DaemonConfig { path, line, .. } => {
                assert_eq!(path, Path::new(DEFAULT_DOCKER_FILE));
                assert_eq!(*line, 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains("unterminated double quote"),
            "{err}"
        );
    }

    #[test]
    fn daemon_json_keys_kept_and_storage_driver_read() {
        let text = r#"{"storage-driver": "vfs", "log-driver": "json-file", "log-opts": {"max-size": "10m"}}"#;
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), text)),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            u.effective["storage-driver"],
            (json!("vfs"), Origin::DaemonJson(JSON.into()))
        );
        let m = merge(
            &u,
            &[
                wanted("storage-driver", json!("overlay2"), true),
                wanted("data-root", json!("/home/coder/.docker-data"), false),
            ],
        )
        .unwrap();
        let (path, text) = m.daemon_json.clone().unwrap();
        assert_eq!(path, PathBuf::from(JSON));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"storage-driver": "overlay2", "log-driver": "json-file",
                   "log-opts": {"max-size": "10m"}, "data-root": "/home/coder/.docker-data"})
        );
        assert!(
            text.starts_with("{\n  \"data-root\""),
            "sorted, 2-space indent: {text}"
        );
        assert!(text.ends_with("}\n"));
        assert!(m.args.is_empty(), "{:?}", m.args);
        assert!(
            m.notes.iter().any(|n| n.contains("overriding vfs from daemon.json (/etc/docker/daemon.json) with overlay2: storage-driver reason")),
            "{:?}",
            m.notes
        );
    }

    #[test]
    fn the_example_merge_is_what_merge_writes() {
        let before = include_str!("../examples/daemon.json.before");
        let after = include_str!("../examples/daemon.json.after");
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), before)),
            ..Default::default()
        })
        .unwrap();
        let m = merge(
            &u,
            &[
                // What the plan puts in the user's daemon.json in the example pod; its own
                // storage driver goes on dockerd's command line (e2e day1 checks the real run).
                wanted("shutdown-timeout", json!(12), false),
                wanted("default-shm-size", json!("1g"), false),
                wanted("group", json!("docker"), false),
            ],
        )
        .unwrap();
        assert_eq!(m.daemon_json.unwrap().1, after);
    }

    #[test]
    fn flag_and_file_conflict_keeps_the_flag_and_drops_the_key() {
        let text = r#"{"storage-driver": "vfs", "debug": true}"#;
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), text)),
            default_docker: Some(SEED),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            u.notes,
            ["storage-driver is set both in daemon.json (/etc/docker/daemon.json) and DOCKER_OPTS in /etc/default/docker; dockerd refuses that — using the DOCKER_OPTS value"]
        );
        let m = merge(&u, &[]).unwrap();
        let (_, text) = m.daemon_json.clone().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"debug": true})
        );
        assert!(
            m.args.contains(&"--storage-driver=overlay2".to_string()),
            "{:?}",
            m.args
        );
        assert_eq!(m.get("storage-driver"), Some(&json!("overlay2")));
        assert_eq!(m.notes, u.notes);
    }

    #[test]
    fn precedence_dind_args_over_docker_opts_over_docker_driver_over_file() {
        let text = r#"{"storage-driver": "vfs"}"#;
        let src = |dd: Option<&'static str>,
                   opts: Option<&'static str>,
                   args: &'static [String]| Sources {
            daemon_json: Some((Path::new(JSON), text)),
            default_docker: opts,
            docker_driver_env: dd,
            dind_args: args,
        };
        let sd = |u: &UserSettings| u.effective["storage-driver"].clone();
        assert_eq!(sd(&read(&src(None, None, &[])).unwrap()).0, json!("vfs"));
        let u = read(&src(Some("fuse-overlayfs"), None, &[])).unwrap();
        assert_eq!(sd(&u), (json!("fuse-overlayfs"), Origin::DockerDriverEnv));
        assert_eq!(u.notes.len(), 1, "{:?}", u.notes);
        let u = read(&src(Some("fuse-overlayfs"), Some(SEED), &[])).unwrap();
        assert_eq!(sd(&u), (json!("overlay2"), Origin::DockerOpts));
        let args: &'static [String] = Box::leak(words("-s vfs").into_boxed_slice());
        let u = read(&src(Some("fuse-overlayfs"), Some(SEED), args)).unwrap();
        assert_eq!(sd(&u), (json!("vfs"), Origin::DindArgs));
        assert!(
            u.notes.iter().any(|n| n.contains(
                "overlay2 in DOCKER_OPTS in /etc/default/docker but vfs in DIND_DOCKERD_ARGS"
            )),
            "{:?}",
            u.notes
        );
        // DOCKER_DRIVER alone ends up in daemon.json, replacing the file's value.
        let m = merge(&read(&src(Some("fuse-overlayfs"), None, &[])).unwrap(), &[]).unwrap();
        assert_eq!(
            m.daemon_json.unwrap().1,
            "{\n  \"storage-driver\": \"fuse-overlayfs\"\n}\n"
        );
    }

    #[test]
    fn invalid_json_names_file_and_line() {
        let text = "{\n  \"storage-driver\": \"overlay2\",\n  \"debug\": yes,\n}\n";
        let err = read(&Sources {
            daemon_json: Some((Path::new(JSON), text)),
            ..Default::default()
        })
        .unwrap_err();
        match &err {
            Error::DaemonConfig { path, line, .. } => {
                assert_eq!(path, Path::new(JSON));
                assert_eq!(*line, 3);
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.starts_with("/etc/docker/daemon.json:3: invalid JSON"),
            "{msg}"
        );
        assert!(msg.contains("never rewrites"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn non_object_top_level_is_refused_and_empty_file_is_empty() {
        let err = read(&Sources {
            daemon_json: Some((Path::new(JSON), "[1, 2]")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("top level is an array"), "{err}");
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), " \n")),
            ..Default::default()
        })
        .unwrap();
        assert!(u.json.is_empty());
        let m = merge(&u, &[]).unwrap();
        assert_eq!(m.daemon_json, None);
    }

    #[test]
    fn force_override_of_a_flag_moves_it_to_the_file_with_a_note() {
        let u = read(&Sources {
            default_docker: Some(SEED),
            ..Default::default()
        })
        .unwrap();
        let m = merge(
            &u,
            &[wanted("storage-driver", json!("fuse-overlayfs"), true)],
        )
        .unwrap();
        assert_eq!(m.args, ["--data-root=/home/coder/.docker-data"]);
        assert_eq!(
            m.daemon_json.unwrap().1,
            "{\n  \"storage-driver\": \"fuse-overlayfs\"\n}\n"
        );
        assert_eq!(
            m.notes,
            ["storage-driver: overriding overlay2 from DOCKER_OPTS in /etc/default/docker with fuse-overlayfs: storage-driver reason"]
        );
        assert_eq!(m.effective["storage-driver"].1, Origin::Plan);
    }

    #[test]
    fn users_value_wins_without_force() {
        let text = r#"{"mtu": 1500}"#;
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), text)),
            ..Default::default()
        })
        .unwrap();
        let m = merge(&u, &[wanted("mtu", json!(1400), false)]).unwrap();
        assert_eq!(m.get("mtu"), Some(&json!(1500)));
        assert_eq!(m.daemon_json, None);
        assert!(
            m.notes[0].starts_with("mtu: keeping your 1500 from daemon.json"),
            "{:?}",
            m.notes
        );
    }

    #[test]
    fn merge_is_idempotent_over_the_written_file() {
        let text = r#"{"storage-driver": "vfs", "labels": ["a"], "features": {"buildkit": true}}"#;
        let opts = "DOCKER_OPTS=\"--mtu=1400 --foo bar\"\n";
        let want = [
            wanted("storage-driver", json!("overlay2"), true),
            wanted("default-shm-size", json!("1g"), false),
            wanted("features", json!({"containerd-snapshotter": false}), true),
        ];
        let args = words("--label b");
        let first = merge(
            &read(&Sources {
                daemon_json: Some((Path::new(JSON), text)),
                default_docker: Some(opts),
                dind_args: &args,
                ..Default::default()
            })
            .unwrap(),
            &want,
        )
        .unwrap();
        let (_, written) = first.daemon_json.clone().unwrap();
        let v: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            v,
            json!({"storage-driver": "overlay2", "default-shm-size": "1g",
                   "features": {"buildkit": true, "containerd-snapshotter": false}})
        );
        assert_eq!(first.args, ["--label=b", "--mtu=1400", "--foo", "bar"]);
        let second = merge(
            &read(&Sources {
                daemon_json: Some((Path::new(JSON), &written)),
                default_docker: Some(opts),
                dind_args: &args,
                ..Default::default()
            })
            .unwrap(),
            &want,
        )
        .unwrap();
        assert_eq!(second.daemon_json, None);
        assert_eq!(second.args, first.args);
        assert_eq!(second.effective, {
            let mut e = first.effective.clone();
            for (_, (_, o)) in e.iter_mut() {
                if *o == Origin::Plan {
                    *o = Origin::DaemonJson(JSON.into());
                }
            }
            e
        });
    }

    #[test]
    fn features_and_flag_forms() {
        let args = words(
            "--feature containerd-snapshotter --feature=buildkit=false -D --iptables=false \
             --ip6tables=0 -s=overlay2 -Gdocker -H unix:///a.sock --host=tcp://0.0.0.0:2375 \
             --storage-opt overlay2.size=1G --shutdown-timeout 15 --log-opt max-size=10m --exec-root /run/d",
        );
        let u = read(&Sources {
            dind_args: &args,
            ..Default::default()
        })
        .unwrap();
        let e = |k: &str| u.effective[k].0.clone();
        assert_eq!(
            e("features"),
            json!({"containerd-snapshotter": true, "buildkit": false})
        );
        assert_eq!(e("debug"), json!(true));
        assert_eq!(e("iptables"), json!(false));
        assert_eq!(e("ip6tables"), json!(false));
        assert_eq!(e("storage-driver"), json!("overlay2"));
        assert_eq!(e("group"), json!("docker"));
        assert_eq!(e("hosts"), json!(["unix:///a.sock", "tcp://0.0.0.0:2375"]));
        assert_eq!(e("storage-opts"), json!(["overlay2.size=1G"]));
        assert_eq!(e("shutdown-timeout"), json!(15));
        assert_eq!(e("log-opts"), json!({"max-size": "10m"}));
        assert!(u.passthrough.is_empty(), "{:?}", u.passthrough);
        let m = merge(&u, &[]).unwrap();
        assert_eq!(m.socket_path(), PathBuf::from("/a.sock"));
        assert_eq!(m.exec_root(), PathBuf::from("/run/d"));
        assert_eq!(m.pidfile(), PathBuf::from("/var/run/docker.pid"));
        // Re-reading the emitted flags gives the same directives.
        let again = read(&Sources {
            dind_args: &m.args,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(again.effective, u.effective);
    }

    #[test]
    fn default_address_pool_flags_are_directives_the_user_keeps() {
        let args =
            words("--default-address-pool base=172.30.0.0/16,size=24 --default-address-pool=size=20,base=10.9.0.0/16 --bip 172.30.0.1/24");
        let u = read(&Sources {
            dind_args: &args,
            ..Default::default()
        })
        .unwrap();
        let pools =
            json!([{"base": "172.30.0.0/16", "size": 24}, {"base": "10.9.0.0/16", "size": 20}]);
        assert_eq!(u.effective["default-address-pools"].0, pools);
        assert!(u.passthrough.is_empty(), "{:?}", u.passthrough);
        let mine = json!([{"base": "10.201.0.0/16", "size": 24}]);
        let m = merge(&u, &[wanted("default-address-pools", mine, false)]).unwrap();
        assert_eq!(
            m.get("default-address-pools"),
            Some(&pools),
            "the user's flags win"
        );
        assert!(m.daemon_json.is_none());
        let again = read(&Sources {
            dind_args: &m.args,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(again.effective, u.effective, "{:?}", m.args);
        for bad in [
            "--default-address-pool base=10.0.0.0/8",
            "--default-address-pool size=x,base=10.0.0.0/8",
            "--default-address-pool base=10.0.0.0/8,size=24,x=1",
        ] {
            let args = words(bad);
            let err = read(&Sources {
                dind_args: &args,
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains("base=a.b.c.d/n,size=n"), "{err}");
        }
    }

    #[test]
    fn bad_flag_values_are_errors_naming_the_source() {
        let args = words("--mtu big");
        let err = read(&Sources {
            dind_args: &args,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("DIND_DOCKERD_ARGS=\"--mtu big\""),
            "{err}"
        );
        let err = read(&Sources {
            default_docker: Some("\nDOCKER_OPTS=\"--debug=maybe\"\n"),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/etc/default/docker:2: DOCKER_OPTS"),
            "{err}"
        );
        let args = words("--storage-driver");
        assert!(read(&Sources {
            dind_args: &args,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn unknown_flags_pass_through_and_a_same_named_key_is_dropped() {
        let args = words("--dns 1.1.1.1 --default-ulimit nofile=1024:2048 --log-format json positional --no-value");
        let text = r#"{"default-ulimits": {}, "log-format": "text", "runtimes": {}}"#;
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), text)),
            dind_args: &args,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(u.effective["dns"].0, json!(["1.1.1.1"]));
        assert_eq!(
            u.passthrough,
            [
                "--default-ulimit",
                "nofile=1024:2048",
                "--log-format",
                "json",
                "positional",
                "--no-value"
            ]
        );
        assert_eq!(u.notes.len(), 2, "{:?}", u.notes);
        let m = merge(&u, &[]).unwrap();
        let v: Value = serde_json::from_str(&m.daemon_json.unwrap().1).unwrap();
        assert_eq!(v, json!({"runtimes": {}}));
    }

    #[test]
    fn config_file_flag_changes_the_file_read() {
        let args = words("--config-file /etc/dind/daemon.json");
        assert_eq!(
            config_file_path(Some(SEED), &args).unwrap(),
            PathBuf::from("/etc/dind/daemon.json")
        );
        assert_eq!(config_file_path(None, &[]).unwrap(), PathBuf::from(JSON));
        let err = read(&Sources {
            daemon_json: Some((Path::new(JSON), "{}")),
            dind_args: &args,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("/etc/dind/daemon.json"), "{err}");
        let u = read(&Sources {
            daemon_json: Some((Path::new("/etc/dind/daemon.json"), "{}")),
            dind_args: &args,
            ..Default::default()
        })
        .unwrap();
        let m = merge(&u, &[wanted("storage-driver", json!("overlay2"), false)]).unwrap();
        assert_eq!(m.args, ["--config-file=/etc/dind/daemon.json"]);
        // Read under another root (a test tree): accepted, written there.
        let u = read(&Sources {
            daemon_json: Some((Path::new("/tmp/root/etc/dind/daemon.json"), "{}")),
            dind_args: &args,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            u.daemon_json_path,
            PathBuf::from("/tmp/root/etc/dind/daemon.json")
        );
        let m2 = merge(&u, &[]).unwrap();
        assert_eq!(m2.args, ["--config-file=/etc/dind/daemon.json"]);
        assert_eq!(
            m.daemon_json.unwrap().0,
            PathBuf::from("/etc/dind/daemon.json")
        );
    }

    #[test]
    fn accessor_defaults_and_graph_alias() {
        let m = merge(&UserSettings::default(), &[]).unwrap();
        assert_eq!(m.socket_path(), PathBuf::from("/var/run/docker.sock"));
        assert_eq!(m.exec_root(), PathBuf::from("/var/run/docker"));
        assert_eq!(m.data_root(), PathBuf::from("/var/lib/docker"));
        assert_eq!(m.pidfile(), PathBuf::from("/var/run/docker.pid"));
        let u = read(&Sources {
            daemon_json: Some((Path::new(JSON), r#"{"graph": "/old"}"#)),
            ..Default::default()
        })
        .unwrap();
        let m = merge(&u, &[wanted("data-root", json!("/new"), true)]).unwrap();
        assert_eq!(m.data_root(), PathBuf::from("/new"));
        let v: Value = serde_json::from_str(&m.daemon_json.unwrap().1).unwrap();
        assert_eq!(
            v,
            json!({"data-root": "/new"}),
            "graph and data-root together make dockerd refuse"
        );
    }
}
