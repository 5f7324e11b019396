//! Docker daemon settings: read what the user already configured
//! (`/etc/docker/daemon.json`, `/etc/default/docker` `DOCKER_OPTS`, `DOCKER_DRIVER`,
//! `DIND_DOCKERD_ARGS`) and merge in the plan's settings so that dockerd sees
//! every directive exactly once (it refuses to start otherwise).
//!
//! Pure functions over text; the planner calls them and turns the result into
//! `WriteFile` / `StartDockerd` actions.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Parse the user's sources. Invalid JSON is an error naming the file and line;
/// the file is never touched in that case.
pub fn read(src: &Sources) -> crate::Result<UserSettings> {
    let _ = src;
    Err(crate::Error::Usage("settings::read is being written".into()))
}

/// Merge `wanted` into `user`: the user's explicit value wins unless `force`.
pub fn merge(user: &UserSettings, wanted: &[Wanted]) -> crate::Result<Merged> {
    let _ = (user, wanted);
    Err(crate::Error::Usage("settings::merge is being written".into()))
}
