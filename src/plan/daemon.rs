//! Daemon settings.

use super::{Action, Plan};
use crate::config::Config;
use crate::error::Result;
use crate::netpool;
use crate::probe::Facts;
use crate::settings::{self, Merged, Origin, UserSettings};
use serde_json::Value;

/// Where the storage driver dind-init decided goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DriverPlace {
    /// As the merge put it (the user's own value, or no driver).
    AsIs,
    /// On dockerd's command line: the user's daemon.json never holds dind-init's choice.
    Flag,
    /// In a merged copy dockerd reads with --config-file; the user's file stays as it is.
    Copy,
}

/// Keep dind-init's storage driver (its own choice, or DOCKER_DRIVER's) out of the
/// user's daemon.json: written there, the next start would read it back as the user's
/// own pin and never change it again. With no storage-driver in the user's file it goes
/// on dockerd's command line; over the user's own value, dockerd gets a merged copy.
pub(super) fn driver_off_users_file(
    user: &UserSettings,
    merged: &mut Merged,
) -> Result<DriverPlace> {
    let Some((value, origin)) = merged.effective.get("storage-driver") else {
        return Ok(DriverPlace::AsIs);
    };
    if !matches!(origin, Origin::Plan | Origin::DockerDriverEnv) {
        return Ok(DriverPlace::AsIs);
    }
    match user.json.get("storage-driver") {
        Some(theirs) if theirs == value => return Ok(DriverPlace::AsIs),
        Some(_) => return Ok(DriverPlace::Copy),
        None => {}
    }
    let Some(name) = value.as_str() else {
        return Ok(DriverPlace::AsIs);
    };
    merged.args.push(format!("--storage-driver={name}"));
    if let Some((path, text)) = merged.daemon_json.take() {
        let bad = |e: serde_json::Error| crate::error::Error::DaemonConfig {
            path: path.clone(),
            line: 0,
            msg: format!("cannot re-read the merged settings: {e}"),
            hint: "report this as a dind-init bug with your daemon.json".into(),
        };
        let mut json: serde_json::Map<String, Value> = serde_json::from_str(&text).map_err(bad)?;
        json.remove("storage-driver");
        if json != user.json {
            let mut text = serde_json::to_string_pretty(&json).map_err(bad)?;
            text.push('\n');
            merged.daemon_json = Some((path, text));
        }
    }
    Ok(DriverPlace::Flag)
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
