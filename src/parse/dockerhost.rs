//! `DOCKER_HOST` and `DOCKER_TLS_SAN`: the syntax of docker:dind's address and
//! certificate-name variables. Pure text → data; what they mean for dockerd's
//! listeners and certificates is the tls module's decision. Here, below config,
//! so config can parse them without depending on tls.

use serde::Serialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// docker:dind's plain-TCP port (only when the user asks for it).
pub const PLAIN_PORT: u16 = 2375;

/// What `DOCKER_HOST` says (the docker CLI's meaning; docker:dind also listens on a `unix://` one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum DockerHost {
    /// `unix:///path`: dockerd listens there (docker:dind's meaning).
    Unix { path: PathBuf },
    /// `tcp://host:port`: where the session's docker connects.
    Tcp { host: String, port: u16 },
    /// `ssh://…`, `npipe://…`, `fd://…`: the CLI's business; passed on as it is.
    Other { url: String },
}

impl DockerHost {
    /// Parse `DOCKER_HOST`; None when it cannot be a Docker address.
    pub fn parse(s: &str) -> Option<DockerHost> {
        if let Some(p) = s.strip_prefix("unix://") {
            return (p.starts_with('/') && !p.contains('\0')).then(|| DockerHost::Unix {
                path: PathBuf::from(p),
            });
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => (h, p.parse().ok()?),
                _ => (hostport, PLAIN_PORT),
            };
            let ok = !host.is_empty() && !host.contains(['/', ' ', '@']);
            return ok.then(|| DockerHost::Tcp {
                host: host.trim_start_matches('[').trim_end_matches(']').into(),
                port,
            });
        }
        let scheme_ok = ["ssh://", "npipe://", "fd://"]
            .iter()
            .any(|p| s.starts_with(p) && s.len() > p.len());
        scheme_ok.then(|| DockerHost::Other { url: s.into() })
    }
}

/// Parse `DOCKER_TLS_SAN` (docker:dind: extra `DNS:name`/`IP:addr` entries,
/// comma or space separated; a bare word is taken as an IP or a DNS name).
pub fn parse_sans(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for word in s.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
        let (kind, v) = match word.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("DNS") => ("DNS", v),
            Some((k, v)) if k.eq_ignore_ascii_case("IP") => ("IP", v),
            _ if word.parse::<IpAddr>().is_ok() => ("IP", word),
            _ => ("DNS", word),
        };
        out.push(san(kind, v)?);
    }
    Some(out)
}

/// One SAN in canonical form (`DNS:lower-case`, `IP:<std display>`), None when invalid.
pub fn san(kind: &str, v: &str) -> Option<String> {
    match kind {
        "IP" => v.parse::<IpAddr>().ok().map(|ip| format!("IP:{ip}")),
        _ => {
            let ok = !v.is_empty()
                && v.len() <= 253
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*' | b'_'));
            ok.then(|| format!("DNS:{}", v.to_ascii_lowercase()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_and_san_parsing() {
        let t = |h: &str, p: u16| {
            Some(DockerHost::Tcp {
                host: h.into(),
                port: p,
            })
        };
        let rows: &[(&str, Option<DockerHost>)] = &[
            (
                "unix:///var/run/docker.sock",
                Some(DockerHost::Unix {
                    path: "/var/run/docker.sock".into(),
                }),
            ),
            ("unix://docker.sock", None),
            ("tcp://localhost:2376", t("localhost", 2376)),
            ("tcp://docker", t("docker", 2375)),
            ("tcp://[::1]:2376", t("::1", 2376)),
            ("tcp://127.0.0.1:notaport", None),
            ("tcp://", None),
            (
                "ssh://me@host",
                Some(DockerHost::Other {
                    url: "ssh://me@host".into(),
                }),
            ),
            ("localhost:2376", None),
        ];
        for (s, want) in rows {
            assert_eq!(&DockerHost::parse(s), want, "{s}");
        }
        assert_eq!(
            parse_sans("DNS:Docker.Example, IP:10.0.0.5 10.0.0.6,dind").unwrap(),
            [
                "DNS:docker.example",
                "IP:10.0.0.5",
                "IP:10.0.0.6",
                "DNS:dind"
            ]
        );
        assert_eq!(parse_sans("IP:not-an-ip"), None);
        assert_eq!(parse_sans("DNS:bad/name"), None);
    }
}
