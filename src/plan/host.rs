//! What a start changes on the machine besides Docker's storage and daemons:
//! DIND_USER's group, cgroup nesting, the state file, the version caches and
//! the storage proof.
//! They are plan steps like the others, so `dind-init plan` shows every change
//! a start makes.

use super::{Action, Plan, Step};
use crate::config::Config;
use crate::probe::{self, CgroupVersion, Facts};
use std::path::PathBuf;

/// The cgroup v2 hierarchy dind-init nests in.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Add the host steps to `p`: group, nesting and state before the first daemon
/// starts; the version caches last, as they are written once Docker answers.
pub(super) fn steps(facts: &Facts, cfg: &Config, p: &mut Plan) {
    let mut before = Vec::new();
    if let (Some(group), Ok(a)) = (&p.docker_group, &facts.user) {
        before.push(Step {
            action: Action::JoinGroup {
                user: a.name.clone(),
                group: group.clone(),
            },
            reason: format!(
                "the Docker socket belongs to group {group}: {} joins it to use Docker without sudo (the group is added, with a free gid below 1000, when missing)",
                a.name
            ),
        });
    }
    if facts.cgroup == CgroupVersion::V2 {
        before.push(Step {
            action: Action::NestCgroup { root: CGROUP_ROOT.into() },
            reason: "cgroup v2 enables controllers only for cgroups holding no process: without this, containers get no cpu/memory/pids limits (done only as PID 1)".into(),
        });
    }
    before.push(Step {
        action: Action::RecordState {
            path: crate::state::STATE_FILE.into(),
        },
        reason: "`dind-init status` and the pod's probes read how Docker is doing from it (written again when Docker is ready, has failed, or stops)".into(),
    });
    let at = p
        .steps
        .iter()
        .position(|s| {
            matches!(
                s.action,
                Action::StartContainerd { .. } | Action::StartDockerd { .. }
            )
        })
        .unwrap_or(p.steps.len());
    p.steps.splice(at..at, before);
    p.steps.extend(version_caches(facts, cfg));
}

/// The storage proof the smoke test records when it passes (none when the
/// proof skips the test, or when this start's identity is unknown).
pub(super) fn proof_step(p: &mut Plan) {
    let Some(crate::proof::SmokePlan::Run {
        record: Some(r), ..
    }) = &p.smoke
    else {
        return;
    };
    let step = Step {
        action: Action::RecordProof {
            path: r.file.clone(),
            content: r.text.clone(),
        },
        reason: "the next start of exactly this engine, driver, filesystem and kernel skips the smoke test; only into a real directory".into(),
    };
    p.steps.push(step);
}

/// `dockerd --version` and `containerd --version` cached on the data root, so the
/// next start of this pod (same binaries) need not run them.
fn version_caches(facts: &Facts, cfg: &Config) -> Vec<Step> {
    let dir = &facts.data_root.path;
    let dockerd = facts.dockerd.version.as_ref().ok().map(|v| {
        (
            dir.join(probe::VERSION_CACHE),
            cfg.dockerd.clone(),
            format!("Docker version {v}"),
        )
    });
    let containerd = facts
        .containerd_bin
        .as_ref()
        .zip(facts.containerd_version.as_ref().ok())
        .map(|(bin, v)| {
            (
                dir.join(probe::CONTAINERD_VERSION_CACHE),
                bin.to_string_lossy().into_owned(),
                format!("containerd version {v}"),
            )
        });
    [dockerd, containerd]
        .into_iter()
        .flatten()
        .map(|(path, program, version): (PathBuf, String, String)| Step {
            reason: format!(
                "the next start of this pod (same binary) reads it instead of running `{program} --version`; only into a real directory"
            ),
            action: Action::CacheVersion {
                path,
                program,
                version,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Account, Roots, Version};

    /// Facts probed from an empty scratch tree, then set as each row needs.
    fn facts(cgroup: CgroupVersion, user: bool) -> Facts {
        let t = std::env::temp_dir().join(format!("dind-init-host-{}", std::process::id()));
        let roots = Roots::under(&t);
        let cfg = Config {
            dockerd: "/nonexistent/dockerd".into(),
            ..Config::default()
        };
        let mut f = crate::probe::probe(&cfg, &roots);
        let v = |major, minor, patch| Version {
            major,
            minor,
            patch,
        };
        f.cgroup = cgroup;
        f.user = match user {
            true => Ok(Account {
                name: "coder".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/coder".into(),
                home_owner: Some(1000),
            }),
            false => Err("no DIND_USER".into()),
        };
        f.data_root.path = "/home/coder/.docker-data".into();
        f.dockerd.version = Ok(v(28, 5, 2));
        f.containerd_bin = Some("/usr/bin/containerd".into());
        f.containerd_version = Ok(v(1, 7, 24));
        f
    }

    fn kinds(p: &Plan) -> Vec<&'static str> {
        p.steps
            .iter()
            .map(|s| match &s.action {
                Action::JoinGroup { .. } => "group",
                Action::NestCgroup { .. } => "nest",
                Action::RecordState { .. } => "state",
                Action::CacheVersion { .. } => "cache",
                Action::StartDockerd { .. } => "dockerd",
                _ => "other",
            })
            .collect()
    }

    /// The group, nesting and state come before the daemons start, the caches
    /// after them; each only where it happens.
    #[test]
    fn host_steps_are_planned_where_they_happen() {
        use CgroupVersion::*;
        // (cgroup, DIND_USER, socket group, steps)
        let rows: [(CgroupVersion, bool, Option<&str>, &[&str]); 4] = [
            (
                V2,
                true,
                Some("docker"),
                &["group", "nest", "state", "dockerd", "cache", "cache"],
            ),
            (
                V1,
                true,
                Some("docker"),
                &["group", "state", "dockerd", "cache", "cache"],
            ),
            (Hybrid, false, None, &["state", "dockerd", "cache", "cache"]),
            (
                V2,
                true,
                None,
                &["nest", "state", "dockerd", "cache", "cache"],
            ),
        ];
        let cfg = Config::default();
        for (cgroup, user, group, want) in rows {
            let mut p = Plan::empty();
            p.docker_group = group.map(str::to_string);
            p.push(
                Action::StartDockerd {
                    argv: vec!["dockerd".into()],
                    socket: "/var/run/docker.sock".into(),
                },
                "the daemon",
            );
            steps(&facts(cgroup, user), &cfg, &mut p);
            assert_eq!(kinds(&p), want, "{cgroup:?} {user} {group:?}");
        }
        let mut p = Plan::empty();
        p.docker_group = Some("docker".into());
        steps(&facts(V2, true), &cfg, &mut p);
        let caches: Vec<(String, String)> = p
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::CacheVersion {
                    path,
                    program,
                    version,
                } => Some((path.display().to_string(), format!("{program}: {version}"))),
                _ => None,
            })
            .collect();
        assert_eq!(
            caches,
            [
                (
                    "/home/coder/.docker-data/.dind-init-dockerd-version".into(),
                    "dockerd: Docker version 28.5.2".into()
                ),
                (
                    "/home/coder/.docker-data/.dind-init-containerd-version".into(),
                    "/usr/bin/containerd: containerd version 1.7.24".into()
                ),
            ]
        );
        assert!(p.steps.iter().all(|s| !s.reason.is_empty()));
    }

    /// The proof the smoke test records is a step; a proven start writes none.
    #[test]
    fn the_storage_proof_is_a_step_only_when_the_test_runs_and_can_record_it() {
        use crate::proof::{Record, SmokePlan};
        let file = PathBuf::from("/home/coder/.docker-data/.dind-init-storage-proof");
        let record = Record {
            file: file.clone(),
            text: "dind-init storage proof v1\n".into(),
        };
        let rows = [
            (
                SmokePlan::Run {
                    why: "new".into(),
                    record: Some(record),
                },
                true,
            ),
            (
                SmokePlan::Run {
                    why: "unknown".into(),
                    record: None,
                },
                false,
            ),
            (
                SmokePlan::Skip {
                    proof: file.clone(),
                },
                false,
            ),
        ];
        for (smoke, want) in rows {
            let mut p = Plan::empty();
            p.smoke = Some(smoke.clone());
            proof_step(&mut p);
            let planned = p.steps.iter().any(|s| {
                matches!(&s.action, Action::RecordProof { path, .. } if *path == file)
                    && s.action.after_ready()
            });
            assert_eq!(planned, want, "{smoke:?}");
        }
    }
}
