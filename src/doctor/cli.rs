//! The Docker CLI in the image and the plugins devcontainers expect
//! (compose, buildx): where they are found and what the doctor says of them.

use super::checks::{check, Check, Verdict};
use crate::config::Config;
use crate::probe;
use std::path::{Path, PathBuf};

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

pub(super) fn find_docker_cli(cfg: &Config) -> DockerCli {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
