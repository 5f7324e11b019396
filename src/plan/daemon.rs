//! dockerd's settings and start: the settings the plan wants (storage driver,
//! data-root, MTU, address pools, shm size, group, shutdown-timeout), merged
//! with the user's so each directive appears once, written to their daemon.json
//! or, when it must stay as it is, to a copy in /run; TLS steps, listeners, the
//! socket group, stale pidfiles and dockerd's command line.
//!
//! Must not: rewrite a daemon.json it could not parse (the plan is an error
//! instead); put dind-init's own choices (storage driver, data-root) into the
//! user's file, where the next start would read them back as the user's pin.

use super::storage::{Layout, Storage};
use super::{Action, Ctx, Driver, Plan, PlannedSetting, Step, MERGED_DAEMON_JSON};
use crate::config::Config;
use crate::error::Result;
use crate::netpool;
use crate::probe::{DataRootFrom, Facts};
use crate::settings::{self, Merged, Origin, UserSettings, Wanted};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where dind-init's own settings (storage driver, data root) go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OwnPlace {
    /// As the merge put them (the user's own values, or none of dind-init's).
    AsIs,
    /// These keys went on dockerd's command line: the user's daemon.json never holds them.
    Flags(Vec<&'static str>),
    /// In a merged copy dockerd reads with --config-file (over the user's own value
    /// of this key); the user's file stays as it is.
    Copy(&'static str),
}

/// dind-init's own settings that must never land in the user's daemon.json, with
/// dockerd's flag for each and the older key that means the same.
pub(super) const OWN_KEYS: &[(&str, &str, Option<&str>)] = &[
    ("storage-driver", "--storage-driver", None),
    ("data-root", "--data-root", Some("graph")),
];

/// Keep dind-init's storage driver (its own choice, or DOCKER_DRIVER's) and its
/// data root out of the user's daemon.json: written there, the next start would
/// read them back as the user's own pin or data-root and never change them again.
/// With no such key in the user's file they go on dockerd's command line; over the
/// user's own value, dockerd gets a merged copy.
pub(super) fn own_off_users_file(user: &UserSettings, merged: &mut Merged) -> Result<OwnPlace> {
    let mut flags = Vec::new();
    for &(key, flag, alias) in OWN_KEYS {
        let Some((value, origin)) = merged.effective.get(key) else {
            continue;
        };
        if !matches!(origin, Origin::Plan | Origin::DockerDriverEnv) {
            continue;
        }
        let theirs = user
            .json
            .get(key)
            .or_else(|| alias.and_then(|a| user.json.get(a)));
        match theirs {
            Some(theirs) if theirs == value => continue,
            Some(_) => return Ok(OwnPlace::Copy(key)),
            None => {}
        }
        if let Some(text) = value.as_str() {
            flags.push((key, format!("{flag}={text}")));
        }
    }
    if flags.is_empty() {
        return Ok(OwnPlace::AsIs);
    }
    if let Some((path, text)) = merged.daemon_json.take() {
        let bad = |e: serde_json::Error| crate::error::Error::DaemonConfig {
            path: path.clone(),
            line: 0,
            msg: format!("cannot re-read the merged settings: {e}"),
            hint: "report this as a dind-init bug with your daemon.json".into(),
        };
        let mut json: serde_json::Map<String, Value> = serde_json::from_str(&text).map_err(bad)?;
        for (key, _) in &flags {
            json.remove(*key);
        }
        if json != user.json {
            let mut text = serde_json::to_string_pretty(&json).map_err(bad)?;
            text.push('\n');
            merged.daemon_json = Some((path, text));
        }
    }
    merged.args.extend(flags.iter().map(|(_, f)| f.clone()));
    Ok(OwnPlace::Flags(flags.into_iter().map(|(k, _)| k).collect()))
}

/// The group DIND_USER joins, which must be the one dockerd gives the socket to.
/// The user's own `group` (daemon.json, DOCKER_OPTS, DIND_DOCKERD_ARGS) is their
/// word and wins over DIND_DOCKER_GROUP; the note says which it is and why.
pub(super) fn socket_group(
    cfg: &Config,
    merged: &Merged,
    notes: &mut Vec<String>,
) -> Option<String> {
    cfg.user.as_ref()?;
    let (value, origin) = merged.effective.get("group")?;
    let group = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    notes.push(match origin {
        settings::Origin::Plan => format!(
            "DIND_USER joins group {group} (DIND_DOCKER_GROUP), which dockerd gives the socket to"
        ),
        theirs => format!(
            "DIND_USER joins group {group}, which dockerd gives the socket to as {theirs} says (it wins over DIND_DOCKER_GROUP={})",
            cfg.docker_group
        ),
    });
    Some(group)
}

/// Docker's `bip` and `default-address-pools`: clear of every route and address of
/// the pod (issue 12 part 3); the decision's line goes in the notes, a clash in the warnings.
pub(super) fn address_pools(
    facts: &Facts,
    cfg: &Config,
    user: &UserSettings,
    p: &mut Plan,
) -> netpool::Decision {
    let theirs = netpool::UserNets::from_settings(|k| user.effective.get(k).map(|(v, _)| v));
    let d = netpool::decide(&cfg.address_pools, &facts.pod_nets, &theirs);
    p.notes.push(format!("address pools: {}", d.why));
    p.notes
        .extend(d.ipv6.iter().map(|v6| format!("address pools: {v6}")));
    p.warnings.extend(d.warning.clone());
    d
}

/// DOCKER_TLS_CERTDIR's directories and certificate steps (docker:dind's layout),
/// keeping what is still valid; and one line for each docker:dind variable
/// that cannot be followed as it stands.
pub(super) fn tls_steps(facts: &Facts, cfg: &Config, p: &mut Plan) -> Result<()> {
    p.warnings.extend(crate::tls::env_warnings(cfg));
    let Some(certs) = &facts.tls else {
        return Ok(());
    };
    let d = crate::tls::decide(certs)?;
    let dirs_needed = !d.steps.is_empty();
    for (path, mode) in d.dirs.into_iter().filter(|_| dirs_needed) {
        p.push(
            Action::CreateDir { path, mode },
            "DOCKER_TLS_CERTDIR's layout, as docker:dind makes it",
        );
    }
    if let Some(content) = d.config {
        p.push(
            Action::WriteFile {
                path: certs.dir.join("ca/openssl.cnf"),
                content,
            },
            "the extensions docker:dind gives its certificates, and the names the server certificate must carry",
        );
    }
    for (step, reason) in d.steps {
        p.push(Action::Tls { step }, reason);
    }
    p.notes.extend(d.notes);
    p.warnings.extend(d.warnings);
    Ok(())
}

/// dockerd's listeners for DOCKER_HOST (unix) and DOCKER_TLS_CERTDIR, unless the
/// user set hosts or TLS options: theirs stand, and the plan says so.
pub(super) fn listeners(
    cfg: &Config,
    user: &UserSettings,
    merged: &Merged,
    p: &mut Plan,
) -> crate::tls::Listen {
    let hosts: Option<(Vec<String>, String)> = merged.effective.get("hosts").map(|(v, o)| {
        let list = match v {
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        (list, o.to_string())
    });
    let tls_keys = ["tlsverify", "tls", "tlscacert", "tlscert", "tlskey"];
    let user_tls = tls_keys
        .iter()
        .find(|k| user.json.contains_key(**k))
        .map(|k| format!("{k} in daemon.json"))
        .or_else(|| {
            user.passthrough
                .iter()
                .find(|w| w.starts_with("--tls"))
                .map(|w| format!("{w} in the dockerd arguments"))
        });
    let l = crate::tls::listen(
        cfg,
        hosts.as_ref().map(|(h, o)| (h.as_slice(), o.clone())),
        user_tls,
        &merged.socket_path(),
    );
    p.notes.extend(l.notes.iter().cloned());
    p.warnings.extend(l.warnings.iter().cloned());
    l
}

impl Ctx<'_> {
    /// The daemon settings the plan asks for, each in exactly one place:
    /// the storage driver, data-root, MTU, address pools, shm size, group, shutdown-timeout.
    pub(super) fn wanted(&self, l: &Layout, driver: Option<Wanted>, p: &mut Plan) -> Vec<Wanted> {
        let (facts, cfg) = (self.facts, self.cfg);
        let d = &facts.data_root;
        let mut wanted: Vec<Wanted> = driver.into_iter().collect();
        let mut want = |key: &str, value: Value, reason: String, force: bool| {
            wanted.push(Wanted {
                key: key.into(),
                value,
                reason,
                force,
            })
        };
        if l.storage == Storage::DataRoot {
            want(
                "data-root",
                Value::String(d.path.to_string_lossy().into_owned()),
                "Docker's data lives on DATA_ROOT".into(),
                d.from == DataRootFrom::Setting,
            );
        }
        if let Some(m) = facts.mtu.as_ref().filter(|m| m.mtu < 1500) {
            want(
                "mtu",
                Value::from(m.mtu),
                format!(
                    "the pod's default route ({}) has MTU {}: containers with 1500 would lose large packets",
                    m.iface, m.mtu
                ),
                false,
            );
        }
        let pools = address_pools(facts, cfg, self.user, p);
        for (key, value, reason) in pools.wanted() {
            want(key, value, reason, pools.force);
        }
        p.pools = Some(pools);
        if let Some(s) = &cfg.shm_size {
            want(
                "default-shm-size",
                Value::String(s.clone()),
                "DIND_SHM_SIZE".into(),
                true,
            );
        }
        if cfg.user.is_some() {
            want(
                "group",
                Value::String(cfg.docker_group.clone()),
                "DIND_USER may use the docker socket through this group".into(),
                false,
            );
        }
        wanted.push(shutdown_timeout(cfg));
        wanted
    }

    /// Merge the wanted settings into the user's and write the result where dockerd
    /// reads it: the user's daemon.json, or a copy in /run when theirs must stay as it is.
    pub(super) fn write_settings(
        &self,
        wanted: &[Wanted],
        merge: impl Fn(&UserSettings, &[Wanted]) -> Result<Merged>,
        p: &mut Plan,
    ) -> Result<Merged> {
        p.settings = wanted
            .iter()
            .map(|w| PlannedSetting {
                key: w.key.clone(),
                value: w.value.clone(),
                reason: w.reason.clone(),
                force: w.force,
            })
            .collect();
        let mut merged = merge(self.user, wanted)?;
        p.docker_group = socket_group(self.cfg, &merged, &mut p.notes);
        let place = match self.facts.daemon.daemon_json_read_only {
            true => OwnPlace::Copy(""),
            false => own_off_users_file(self.user, &mut merged)?,
        };
        if let Some((path, content)) = merged.daemon_json.clone() {
            let keys: Vec<&str> = wanted
                .iter()
                .map(|w| w.key.as_str())
                .filter(|k| !matches!(&place, OwnPlace::Flags(f) if f.contains(k)))
                .collect();
            let step = match place {
                OwnPlace::Copy(key) => self.merged_copy(&path, content, key, &keys, &mut merged),
                _ => Step {
                    action: Action::WriteFile { path, content },
                    reason: format!(
                        "merge dind-init's settings ({}) into the user's daemon.json so dockerd sees each directive once",
                        keys.join(", ")
                    ),
                },
            };
            p.steps.push(step);
        }
        p.warnings.extend(merged.notes.iter().cloned());
        Ok(merged)
    }

    /// A ConfigMap mount, or the user's own storage-driver that cannot work here:
    /// leave the file untouched, hand dockerd a merged copy.
    fn merged_copy(
        &self,
        path: &Path,
        content: String,
        key: &str,
        keys: &[&str],
        merged: &mut Merged,
    ) -> Step {
        let copy = PathBuf::from(MERGED_DAEMON_JSON);
        let why = match self.facts.daemon.daemon_json_read_only {
            true => "is read-only (a ConfigMap?)".to_string(),
            false => format!(
                "holds your {key} {}, which dind-init overrides here",
                self.user
                    .json
                    .get(key)
                    .or_else(|| self.user.json.get("graph").filter(|_| key == "data-root"))
                    .map_or(String::new(), |v| v.to_string())
            ),
        };
        merged.args.retain(|a| !a.starts_with("--config-file"));
        merged
            .args
            .push(format!("--config-file={}", copy.display()));
        Step {
            action: Action::WriteFile {
                path: copy,
                content,
            },
            reason: format!(
                "{} {why}: dind-init leaves it untouched and gives dockerd this merged copy with its settings ({}), each directive once",
                path.display(),
                keys.join(", ")
            ),
        }
    }

    /// Start dockerd with the merged arguments, the containerd it uses and its listeners.
    pub(super) fn start_dockerd(
        &self,
        merged: &Merged,
        containerd_flag: Option<String>,
        driver: Option<Driver>,
        data_home: &Path,
        p: &mut Plan,
    ) {
        let mut argv = vec![self.cfg.dockerd.clone()];
        argv.extend(merged.args.iter().cloned());
        argv.extend(containerd_flag);
        let listen = listeners(self.cfg, self.user, merged, p);
        argv.extend(listen.args);
        let socket = listen.socket.unwrap_or_else(|| merged.socket_path());
        let driver_words = match driver {
            Some(dr) => format!("storage driver {}", dr.name()),
            None => "the user's storage driver".into(),
        };
        p.push(
            Action::StartDockerd { argv, socket },
            format!(
                "{driver_words}, data in {}; ready when /_ping answers",
                data_home.display()
            ),
        );
    }
}

/// `shutdown-timeout`: after SIGTERM the command gets its share first; dockerd has
/// the rest, less 3 s for itself and containerd.
fn shutdown_timeout(cfg: &Config) -> Wanted {
    let stop = cfg.stop_timeout.as_secs();
    let containers = cfg.daemon_share().as_secs().saturating_sub(3).max(1);
    Wanted {
        key: "shutdown-timeout".into(),
        value: Value::from(containers),
        reason: format!("dockerd stops its containers within {containers} s, so the command, dockerd and containerd all stop within DIND_STOP_TIMEOUT ({stop} s)"),
        force: false,
    }
}

/// Pidfiles whose process is gone: removed before the daemons start.
pub(super) fn stale_pidfile_steps(facts: &Facts) -> impl Iterator<Item = Step> + '_ {
    facts.stale_pidfiles.iter().map(|pf| Step {
        action: Action::RemoveStalePidfile { path: pf.clone() },
        reason: "its process is gone (left by an earlier start); a stale pidfile stops dockerd or makes it trust a dead containerd".into(),
    })
}
