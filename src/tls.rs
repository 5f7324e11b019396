//! docker:dind compatibility: `DOCKER_TLS_CERTDIR`, `DOCKER_TLS_SAN` and `DOCKER_HOST`.
//!
//! Devpods that run Docker as a `docker:dind` sidecar set these, and users who
//! know that image expect them to work in dind-init too. With
//! `DOCKER_TLS_CERTDIR` dind-init lays certificates out exactly as docker:dind's
//! `dockerd-entrypoint.sh` does (`ca/{cert,key}.pem`,
//! `server/{ca,cert,key}.pem`, `client/{ca,cert,key}.pem`) and dockerd also
//! listens on `tcp://0.0.0.0:2376` with `--tlsverify`.
//!
//! Certificates are made by the `openssl` CLI, like docker:dind: it costs
//! nothing in the binary when the image has it. Measured: rcgen 0.13 (with
//! ring, time, yasna, pem) makes the release binary 1,562,552 bytes instead of
//! 1,195,104 (+359 KiB, +31 %) and its release build 188 s longer on one core,
//! before reading certificates back (expiry, SANs, verify), which rcgen cannot
//! do. Unlike docker:dind, which remakes
//! the public certificates at every start, valid ones are kept: the CA a client
//! trusts survives pod restarts. The keep-or-make decision ([`decide`]) is a pure
//! function of [`CertFacts`]; [`probe`] gathers them and [`execute`] runs the
//! resulting [`Step`]s through a [`Runner`].

use crate::config::Config;
use crate::error::{Error, Result};
use crate::parse::dockerhost::san;
pub use crate::parse::dockerhost::{DockerHost, PLAIN_PORT};
use serde::Serialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// docker:dind's TLS port.
pub const TLS_PORT: u16 = 2376;
/// Validity of what dind-init makes: docker:dind's 825 days (mkcert issue 174).
pub const VALID_DAYS: u32 = 825;
/// A certificate ending within this many days is made anew at start.
pub const RENEW_DAYS: u32 = 30;

/// A key file as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// Missing or empty.
    #[default]
    Absent,
    /// openssl reads it.
    Valid,
    /// Present but openssl cannot read it (a write cut short).
    Broken,
}

/// A certificate as found, checked with openssl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CertCheck {
    /// Its public key is the one of the key file next to it.
    pub key_matches: bool,
    /// `openssl verify -CAfile ca/cert.pem` accepts it (for the CA: it is a CA cert).
    pub verified: bool,
    /// Still valid in [`RENEW_DAYS`] days.
    pub lasts: bool,
    /// Its subjectAltNames, canonical (`DNS:x`, `IP:y`).
    pub sans: Vec<String>,
}

/// One of ca/, server/, client/.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PartFacts {
    /// key.pem.
    pub key: KeyState,
    /// cert.pem (None: missing or empty).
    pub cert: Option<CertCheck>,
    /// server|client: ca.pem is present and is ca/cert.pem byte for byte.
    pub ca_copy_current: bool,
    /// ca.pem is present (a user-managed CA has only this one).
    pub ca_copy_present: bool,
    /// The directory's group, when it exists (client/ must be DIND_USER's).
    pub dir_gid: Option<u32>,
    /// Why root must not write keys here (a symlink, or a directory someone else controls).
    pub unsafe_dir: Option<String>,
}

/// Everything [`decide`] needs, gathered by [`probe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CertFacts {
    /// DOCKER_TLS_CERTDIR.
    pub dir: PathBuf,
    /// The openssl CLI, if installed.
    pub openssl: Option<PathBuf>,
    /// ca/.
    pub ca: PartFacts,
    /// server/.
    pub server: PartFacts,
    /// client/.
    pub client: PartFacts,
    /// What the server certificate must name: hostname, localhost, docker, the pod's IPs, DOCKER_TLS_SAN.
    pub wanted_sans: Vec<String>,
    /// DIND_USER's primary group, which may read client/ (None: root only).
    pub client_gid: Option<u32>,
    /// Why DOCKER_TLS_CERTDIR itself is unsafe for root to write in (a symlink, another owner).
    pub unsafe_dir: Option<String>,
}

/// One certificate-making step; `dind-init plan` prints each one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tls", rename_all = "kebab-case")]
pub enum Step {
    /// A new private key (ECDSA P-256: made in milliseconds; RSA 4096 takes seconds), mode 0600.
    Key { path: PathBuf },
    /// The self-signed CA certificate for `key`.
    CaCert {
        key: PathBuf,
        cert: PathBuf,
        config: PathBuf,
    },
    /// A certificate request for `key` with this subject.
    Csr {
        key: PathBuf,
        csr: PathBuf,
        subject: String,
        config: PathBuf,
    },
    /// Sign `csr` with the CA, with the extensions of section `ext` of `config`.
    Sign {
        csr: PathBuf,
        dir: PathBuf,
        cert: PathBuf,
        config: PathBuf,
        ext: String,
    },
    /// Copy the CA certificate next to a leaf (`ca.pem`), atomically.
    Copy { from: PathBuf, to: PathBuf },
    /// Set owner and mode (never following a symlink).
    Own {
        path: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
}

impl Step {
    /// The shell command it amounts to.
    pub fn render(&self) -> String {
        let p = |p: &PathBuf| p.display().to_string();
        match self {
            Step::Key { path } => format!(
                "(umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {})",
                p(path)
            ),
            Step::CaCert { key, cert, config } => format!(
                "openssl req -new -x509 -key {} -out {} -subj '/CN=docker:dind CA' -days {VALID_DAYS} -config {} -extensions ca",
                p(key), p(cert), p(config)
            ),
            Step::Csr { key, csr, subject, config } => format!(
                "openssl req -new -key {} -out {} -subj '{subject}' -config {}",
                p(key), p(csr), p(config)
            ),
            Step::Sign { csr, dir, cert, config, ext } => format!(
                "openssl x509 -req -in {} -CA {} -CAkey {} -CAcreateserial -out {} -days {VALID_DAYS} -extfile {} -extensions {ext}",
                p(csr), p(&dir.join("ca/cert.pem")), p(&dir.join("ca/key.pem")), p(cert), p(config)
            ),
            Step::Copy { from, to } => format!("cp {} {}", p(from), p(to)),
            Step::Own { path, uid, gid, mode } => {
                format!("chown {uid}:{gid} {} && chmod {mode:04o} {}", p(path), p(path))
            }
        }
    }

    /// The openssl arguments of a step that runs openssl.
    fn openssl_args(&self) -> Option<Vec<String>> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let v = |w: &[&str]| w.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Some(match self {
            Step::Key { path } => {
                let mut a = v(&[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                ]);
                a.push(s(path));
                a
            }
            Step::CaCert { key, cert, config } => {
                let mut a = v(&["req", "-new", "-x509", "-key"]);
                a.extend([s(key), "-out".into(), s(cert)]);
                a.extend(v(&[
                    "-subj",
                    "/CN=docker:dind CA",
                    "-days",
                    &VALID_DAYS.to_string(),
                ]));
                a.extend([
                    "-config".into(),
                    s(config),
                    "-extensions".into(),
                    "ca".into(),
                ]);
                a
            }
            Step::Csr {
                key,
                csr,
                subject,
                config,
            } => {
                let mut a = v(&["req", "-new", "-key"]);
                a.extend([
                    s(key),
                    "-out".into(),
                    s(csr),
                    "-subj".into(),
                    subject.clone(),
                ]);
                a.extend(["-config".into(), s(config)]);
                a
            }
            Step::Sign {
                csr,
                dir,
                cert,
                config,
                ext,
            } => {
                let mut a = v(&["x509", "-req", "-in"]);
                a.extend([s(csr), "-CA".into(), s(&dir.join("ca/cert.pem"))]);
                a.extend([
                    "-CAkey".into(),
                    s(&dir.join("ca/key.pem")),
                    "-CAcreateserial".into(),
                ]);
                a.extend([
                    "-out".into(),
                    s(cert),
                    "-days".into(),
                    VALID_DAYS.to_string(),
                ]);
                a.extend([
                    "-extfile".into(),
                    s(config),
                    "-extensions".into(),
                    ext.clone(),
                ]);
                a
            }
            Step::Copy { .. } | Step::Own { .. } => return None,
        })
    }
}

/// The openssl configuration every step uses: the CA's and the leaves' extensions
/// (docker:dind's keyUsage, serverAuth and clientAuth) and the server's names.
pub fn openssl_cnf(sans: &[String]) -> String {
    format!(
        "# Written by dind-init for DOCKER_TLS_CERTDIR (docker:dind's extensions).\n\
[ req ]\ndistinguished_name = dn\nprompt = no\n[ dn ]\n\
[ ca ]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,digitalSignature,keyCertSign\nsubjectKeyIdentifier = hash\n\
[ server ]\nextendedKeyUsage = serverAuth\nsubjectAltName = {}\n\
[ client ]\nextendedKeyUsage = clientAuth\n",
        sans.join(",")
    )
}

/// Why a part is (re)made, or None to keep it.
fn leaf_problem(f: &PartFacts, sans: Option<&[String]>, ca_new: bool) -> Option<String> {
    let Some(c) = &f.cert else {
        return Some("no certificate yet".into());
    };
    let missing: Vec<&String> = sans
        .unwrap_or(&[])
        .iter()
        .filter(|s| !c.sans.contains(s))
        .collect();
    let why = if ca_new {
        "the CA is new".to_string()
    } else if f.key != KeyState::Valid || !c.key_matches {
        "its key is missing or does not match".into()
    } else if !c.verified {
        "it does not verify against ca/cert.pem".into()
    } else if !c.lasts {
        format!("it expires within {RENEW_DAYS} days")
    } else if !missing.is_empty() {
        let m: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        format!("it does not name {}", m.join(", "))
    } else if !f.ca_copy_current {
        "its ca.pem is not the current CA".into()
    } else {
        return None;
    };
    Some(why)
}

/// What [`decide`] concluded, with each step's reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Steps in order, each with why.
    pub steps: Vec<(Step, String)>,
    /// Directories to create (path, mode), before the steps.
    pub dirs: Vec<(PathBuf, u32)>,
    /// Notes for the plan (what is kept and why).
    pub notes: Vec<String>,
    /// Problems that need the user (a user-managed CA that does not verify).
    pub warnings: Vec<String>,
    /// The openssl configuration to write to ca/openssl.cnf when steps need it.
    pub config: Option<String>,
}

/// Keep or make each of ca/, server/, client/ — docker:dind's rules, but keeping
/// what is still valid. Pure. Err when a directory is unsafe for root to write in,
/// or when something must be made and openssl is missing.
pub fn decide(f: &CertFacts) -> Result<Decision> {
    refuse_unsafe(f)?;
    let mut d = Decision::default();
    let dir = &f.dir;
    let user_managed = f.ca.key == KeyState::Absent
        && f.server.key != KeyState::Absent
        && f.server.cert.is_some()
        && f.server.ca_copy_present;
    if user_managed {
        // docker:dind: server/ files without ca/key.pem mean the user runs the CA.
        d.notes.push(format!(
            "{}/server holds certificates and there is no ca/key.pem: your own CA, used as it is",
            dir.display()
        ));
        if !f.server.cert.as_ref().is_some_and(|c| c.verified) {
            d.warnings.push(format!("{0}/server/cert.pem does not verify against {0}/server/ca.pem: clients will refuse it; replace it, or remove {0}/server so dind-init makes its own CA", dir.display()));
        }
        return Ok(d);
    }
    d.dirs.push((dir.clone(), 0o755));
    d.dirs.push((dir.join("ca"), 0o700));
    let ca_ok = ca_steps(f, &mut d);
    let server = Leaf {
        name: "server",
        sans: Some(&f.wanted_sans),
        gid: None,
    };
    let client = Leaf {
        name: "client",
        sans: None,
        gid: f.client_gid,
    };
    leaf_steps(f, &f.server, &server, ca_ok, &mut d);
    leaf_steps(f, &f.client, &client, ca_ok, &mut d);
    if d.steps.iter().any(|(s, _)| s.openssl_args().is_some()) {
        if f.openssl.is_none() {
            return Err(Error::Docker {
                msg: format!("DOCKER_TLS_CERTDIR={} needs certificates made, but the openssl program is not installed", dir.display()),
                hint: "install openssl in the image (apt-get install openssl, apk add openssl), or put your own certificates in <dir>/server/{ca,cert,key}.pem, or unset DOCKER_TLS_CERTDIR".into(),
            });
        }
        d.config = Some(openssl_cnf(&f.wanted_sans));
    }
    Ok(d)
}

/// openssl follows links: a planted one would make root write a key anywhere.
fn refuse_unsafe(f: &CertFacts) -> Result<()> {
    let parts = [
        &f.unsafe_dir,
        &f.ca.unsafe_dir,
        &f.server.unsafe_dir,
        &f.client.unsafe_dir,
    ];
    match parts.into_iter().find_map(|u| u.clone()) {
        None => Ok(()),
        Some(why) => Err(Error::Docker {
            msg: format!("DOCKER_TLS_CERTDIR: {why}; dind-init writes private keys there as root and will not"),
            hint: "make DOCKER_TLS_CERTDIR and its ca/, server/, client/ root-owned directories that only root can write (or remove them so dind-init creates them)".into(),
        }),
    }
}

/// Keep the CA while it is valid, else make its certificate (and its key when that
/// is unusable). True when it is kept.
fn ca_steps(f: &CertFacts, d: &mut Decision) -> bool {
    let ca_cert = f.dir.join("ca/cert.pem");
    let ca_key = f.dir.join("ca/key.pem");
    let ca_ok = f.ca.key == KeyState::Valid
        && f.ca
            .cert
            .as_ref()
            .is_some_and(|c| c.key_matches && c.verified && c.lasts);
    if ca_ok {
        d.notes.push(format!("{} is kept: valid for more than {RENEW_DAYS} days, so clients that trust it keep working", ca_cert.display()));
        return true;
    }
    if f.ca.key != KeyState::Valid {
        let key = Step::Key {
            path: ca_key.clone(),
        };
        d.steps
            .push((key, "the CA's private key (root only)".into()));
    }
    let why = match &f.ca.cert {
        None => "no CA yet".to_string(),
        Some(_) => format!("the CA certificate is unusable (key mismatch, not a CA, or expiring within {RENEW_DAYS} days)"),
    };
    let cert = Step::CaCert {
        key: ca_key,
        cert: ca_cert,
        config: f.dir.join("ca/openssl.cnf"),
    };
    d.steps.push((cert, why));
    false
}

/// server/ or client/: its name, the names its certificate must carry, the group that may read it.
struct Leaf<'a> {
    name: &'static str,
    sans: Option<&'a [String]>,
    gid: Option<u32>,
}

/// Keep a leaf that is still good (fixing only client/'s group), else make it anew.
fn leaf_steps(f: &CertFacts, part: &PartFacts, leaf: &Leaf, ca_ok: bool, d: &mut Decision) {
    let pdir = f.dir.join(leaf.name);
    let dir_mode = match (leaf.gid, leaf.name) {
        (Some(_), _) => 0o750,
        (None, "client") => 0o755,
        (None, _) => 0o700,
    };
    let key_mode = if leaf.gid.is_some() { 0o640 } else { 0o600 };
    let g = leaf.gid.unwrap_or(0);
    d.dirs.push((pdir.clone(), dir_mode));
    let own = |path: PathBuf, gid: u32, mode: u32| Step::Own {
        path,
        uid: 0,
        gid,
        mode,
    };
    let Some(why) = leaf_problem(part, leaf.sans, !ca_ok) else {
        d.notes.push(format!(
            "{} is kept: it verifies against the CA and is valid for more than {RENEW_DAYS} days",
            pdir.join("cert.pem").display()
        ));
        if leaf.name == "client" && part.dir_gid != Some(g) {
            for (p, m) in [(pdir.clone(), dir_mode), (pdir.join("key.pem"), key_mode)] {
                d.steps.push((
                    own(p, g, m),
                    "DIND_USER's group may read the client certificates".into(),
                ));
            }
        }
        return;
    };
    let (name, key, cnf) = (
        leaf.name,
        pdir.join("key.pem"),
        f.dir.join("ca/openssl.cnf"),
    );
    if part.key != KeyState::Valid {
        d.steps.push((
            Step::Key { path: key.clone() },
            format!("the {name}'s private key"),
        ));
    }
    let csr = Step::Csr {
        key: key.clone(),
        csr: pdir.join("csr.pem"),
        subject: format!("/CN=docker:dind {name}"),
        config: cnf.clone(),
    };
    d.steps
        .push((csr, format!("the {name} certificate is made: {why}")));
    let sign = Step::Sign {
        csr: pdir.join("csr.pem"),
        dir: f.dir.clone(),
        cert: pdir.join("cert.pem"),
        config: cnf,
        ext: name.into(),
    };
    d.steps.push((
        sign,
        format!("signed by the CA, extendedKeyUsage {name}Auth, valid {VALID_DAYS} days"),
    ));
    let copy = Step::Copy {
        from: f.dir.join("ca/cert.pem"),
        to: pdir.join("ca.pem"),
    };
    d.steps.push((
        copy,
        "docker:dind's layout: each side has the CA next to its certificate".into(),
    ));
    d.steps.push((
        own(pdir.clone(), g, dir_mode),
        own_why(name, leaf.gid, true),
    ));
    d.steps
        .push((own(key, g, key_mode), own_why(name, leaf.gid, false)));
    for file in ["cert.pem", "ca.pem"] {
        d.steps.push((
            own(pdir.join(file), 0, 0o644),
            "certificates are public".into(),
        ));
    }
}

fn own_why(name: &str, gid: Option<u32>, dir: bool) -> String {
    match (name, gid, dir) {
        ("client", Some(g), _) => format!(
            "root-owned, readable by group {g} (DIND_USER's), so the session's docker can use it"
        ),
        ("client", None, true) => "root-owned; without DIND_USER its key is root's only".into(),
        (_, _, true) => "root-owned 0700: only root (dockerd) reads the server's key".into(),
        (_, _, false) => "private keys are root-owned 0600".into(),
    }
}

/// How [`execute`] changes the system (a recording fake in tests).
pub trait Runner {
    /// Run openssl with these arguments under umask 077; Err names the command and its stderr.
    fn openssl(&self, args: &[String]) -> Result<()>;
    /// Copy `from` to `to` atomically (temp file, rename).
    fn copy(&self, from: &Path, to: &Path) -> Result<()>;
    /// chown + chmod `path`, refusing a symlink.
    fn own(&self, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<()>;
}

/// Run one step.
pub fn execute(step: &Step, r: &dyn Runner) -> Result<()> {
    if let Some(args) = step.openssl_args() {
        return r.openssl(&args);
    }
    match step {
        Step::Copy { from, to } => r.copy(from, to),
        Step::Own {
            path,
            uid,
            gid,
            mode,
        } => r.own(path, *uid, *gid, *mode),
        _ => Ok(()),
    }
}

/// The real thing: the openssl CLI and file calls.
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn openssl(&self, args: &[String]) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let mut c = std::process::Command::new("openssl");
        c.args(args).stdin(std::process::Stdio::null());
        // SAFETY: umask is async-signal-safe and touches only the child's own state.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0o077);
                Ok(())
            });
        }
        let out = c.output().map_err(|source| Error::Exec {
            program: "openssl".into(),
            source,
        })?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        Err(Error::Docker {
            msg: format!(
                "openssl {} failed ({}): {}",
                args.join(" "),
                out.status,
                err.split_whitespace().collect::<Vec<_>>().join(" ")
            ),
            hint: "check that DOCKER_TLS_CERTDIR is writable by root and that the image's openssl is 1.1.1 or newer".into(),
        })
    }

    fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        let bytes = std::fs::read(from).map_err(|e| Error::io("read", from, e))?;
        let tmp = to.with_extension("pem.dind-init-tmp");
        std::fs::write(&tmp, bytes).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, to).map_err(|e| Error::io("rename onto", to, e))
    }

    fn own(&self, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<()> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::io("open (no symlinks)", path, e))?;
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))
            .map_err(|e| Error::io("chown", path, e))?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", path, e))
    }
}

/// Run `openssl args`; Some(stdout) when it succeeds.
fn openssl_out(openssl: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = std::process::Command::new(openssl)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn non_empty(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.len() > 0)
        .unwrap_or(false)
}

/// The names in `openssl x509 -ext subjectAltName` output, canonical.
pub fn parse_san_text(text: &str) -> Vec<String> {
    let body = text.lines().skip(1).collect::<Vec<_>>().join(",");
    body.split(',')
        .filter_map(|w| {
            let w = w.trim();
            let (kind, v) = w.split_once(':')?;
            match kind {
                "DNS" => san("DNS", v),
                "IP Address" | "IP" => san("IP", v),
                _ => None,
            }
        })
        .collect()
}

/// Why root must not write in `dir` (None: absent, or a root-owned directory only root
/// may write; `shared_ok` accepts a root-owned sticky or world-writable top directory
/// such as a Kubernetes emptyDir).
pub fn unsafe_dir(meta: Option<&std::fs::Metadata>, dir: &Path, shared_ok: bool) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = meta?;
    let d = dir.display();
    if m.file_type().is_symlink() {
        return Some(format!("{d} is a symlink"));
    }
    if !m.is_dir() {
        return Some(format!("{d} is not a directory"));
    }
    if m.uid() != 0 {
        return Some(format!("{d} is owned by uid {}", m.uid()));
    }
    (m.mode() & 0o022 != 0 && !shared_ok)
        .then(|| format!("{d} is writable by others (mode {:04o})", m.mode() & 0o7777))
}

fn probe_part(openssl: Option<&Path>, dir: &Path, name: &str, ca_cert: &Path) -> PartFacts {
    use std::os::unix::fs::MetadataExt;
    let pdir = dir.join(name);
    let (key, cert) = (pdir.join("key.pem"), pdir.join("cert.pem"));
    let meta = std::fs::symlink_metadata(&pdir).ok();
    let mut f = PartFacts {
        dir_gid: meta.as_ref().map(|m| m.gid()),
        unsafe_dir: unsafe_dir(meta.as_ref(), &pdir, false),
        ..PartFacts::default()
    };
    let ca_copy = pdir.join("ca.pem");
    f.ca_copy_present = non_empty(&ca_copy);
    f.ca_copy_current =
        f.ca_copy_present && std::fs::read(&ca_copy).ok() == std::fs::read(ca_cert).ok();
    let Some(o) = openssl else {
        f.key = if non_empty(&key) {
            KeyState::Broken
        } else {
            KeyState::Absent
        };
        f.cert = non_empty(&cert).then(CertCheck::default);
        return f;
    };
    let k = key.to_string_lossy();
    let c = cert.to_string_lossy();
    let key_pub = openssl_out(o, &["pkey", "-in", &k, "-pubout"]);
    f.key = match (non_empty(&key), &key_pub) {
        (false, _) => KeyState::Absent,
        (true, Some(_)) => KeyState::Valid,
        (true, None) => KeyState::Broken,
    };
    if !non_empty(&cert) {
        return f;
    }
    let secs = (u64::from(RENEW_DAYS) * 86400).to_string();
    let verify_ca = if name == "ca" {
        cert.clone()
    } else {
        ca_cert.to_path_buf()
    };
    let ca = verify_ca.to_string_lossy();
    let sans = openssl_out(o, &["x509", "-in", &c, "-noout", "-ext", "subjectAltName"])
        .map(|t| parse_san_text(&String::from_utf8_lossy(&t)))
        .unwrap_or_default();
    f.cert = Some(CertCheck {
        key_matches: key_pub.is_some()
            && openssl_out(o, &["x509", "-in", &c, "-noout", "-pubkey"]) == key_pub,
        verified: openssl_out(o, &["verify", "-CAfile", &ca, &c]).is_some(),
        lasts: openssl_out(o, &["x509", "-in", &c, "-noout", "-checkend", &secs]).is_some(),
        sans,
    });
    f
}

/// The pod's addresses: IPv4 LOCAL entries of /proc/net/fib_trie, global IPv6 of /proc/net/if_inet6.
pub fn local_ips(fib_trie: &str, if_inet6: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '-', '+']).trim();
        if let Ok(ip) = t.parse::<IpAddr>() {
            last = Some(ip);
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.filter(|ip| !out.contains(ip)) {
                out.push(ip);
            }
        }
    }
    for line in if_inet6.lines() {
        let Some(hex) = line.split_whitespace().next().filter(|h| h.len() == 32) else {
            continue;
        };
        let Ok(n) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        let ip = std::net::Ipv6Addr::from(n);
        let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
        if !link_local && !out.contains(&IpAddr::V6(ip)) {
            out.push(IpAddr::V6(ip));
        }
    }
    out
}

/// The names the server certificate must carry (docker:dind's list).
pub fn wanted_sans(hostnames: &[String], ips: &[IpAddr], extra: &[String]) -> Vec<String> {
    let mut v: Vec<String> = ["docker", "localhost"]
        .iter()
        .map(|s| s.to_string())
        .chain(hostnames.iter().map(|h| h.trim().to_string()))
        .filter_map(|h| san("DNS", &h))
        .chain(ips.iter().map(|ip| format!("IP:{ip}")))
        .chain(extra.iter().cloned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Gather [`CertFacts`] for DOCKER_TLS_CERTDIR (None when it is not set). Changes nothing.
/// `openssl` finds the CLI on PATH (the probe's `which`: tls stays below probe).
pub fn probe(
    cfg: &Config,
    etc: &Path,
    proc_: &Path,
    openssl: impl FnOnce() -> Option<PathBuf>,
) -> Option<CertFacts> {
    let dir = cfg.tls_certdir.clone()?;
    let openssl = openssl();
    let o = openssl.as_deref();
    let ca_cert = dir.join("ca/cert.pem");
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let hostnames = vec![
        read(proc_.join("sys/kernel/hostname")),
        read(etc.join("hostname")),
    ];
    let ips = local_ips(
        &read(proc_.join("net/fib_trie")),
        &read(proc_.join("net/if_inet6")),
    );
    let client_gid = match &cfg.user {
        Some(_) => crate::user::resolve(etc, cfg.user.as_ref())
            .ok()
            .map(|u| u.gid),
        None => None,
    };
    let top = std::fs::symlink_metadata(&dir).ok();
    Some(CertFacts {
        unsafe_dir: unsafe_dir(top.as_ref(), &dir, true),
        ca: probe_part(o, &dir, "ca", &ca_cert),
        server: probe_part(o, &dir, "server", &ca_cert),
        client: probe_part(o, &dir, "client", &ca_cert),
        wanted_sans: wanted_sans(&hostnames, &ips, &cfg.tls_san),
        client_gid,
        openssl,
        dir,
    })
}

/// dockerd's listeners from DOCKER_HOST and DOCKER_TLS_CERTDIR, unless the user set
/// `hosts` or TLS options themselves (then theirs stand, with a warning).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listen {
    /// `--host=…`/`--tls…` words for dockerd (empty: dockerd's own default).
    pub args: Vec<String>,
    /// The unix socket readiness checks and the session use (None: the merged settings decide).
    pub socket: Option<PathBuf>,
    /// Notes for the plan.
    pub notes: Vec<String>,
    /// One line each, saying what to do.
    pub warnings: Vec<String>,
}

/// Decide dockerd's listeners. `user_hosts` are the hosts the user configured
/// (with where), `user_tls` names a TLS option the user set, `default_socket` the
/// unix socket dockerd would use anyway. Pure.
pub fn listen(
    cfg: &Config,
    user_hosts: Option<(&[String], String)>,
    user_tls: Option<String>,
    default_socket: &Path,
) -> Listen {
    let mut l = Listen::default();
    let unix_wish = match &cfg.docker_host {
        Some(DockerHost::Unix { path }) => Some(path.clone()),
        _ => None,
    };
    if let Some((hosts, origin)) = user_hosts {
        let wishes: Vec<String> = unix_wish
            .iter()
            .map(|p| format!("unix://{}", p.display()))
            .chain(
                cfg.tls_certdir
                    .iter()
                    .map(|_| format!("tcp://0.0.0.0:{TLS_PORT}")),
            )
            .collect();
        if wishes.iter().any(|w| !hosts.contains(w)) {
            l.warnings.push(format!("dockerd's hosts are set by {origin} ({}), which wins: DOCKER_TLS_CERTDIR/DOCKER_HOST add no listener; remove hosts there to let dind-init listen like docker:dind", hosts.join(", ")));
        }
        for h in hosts.iter().filter(|h| h.starts_with("tcp://")) {
            if user_tls.is_none() {
                l.warnings.push(format!("dockerd listens on {h} without TLS (set by {origin}): anyone who reaches the pod's network controls Docker and the node; set DOCKER_TLS_CERTDIR=/certs for TLS on {TLS_PORT} instead"));
            }
        }
        return l;
    }
    if let (Some(dir), Some(t)) = (&cfg.tls_certdir, &user_tls) {
        l.warnings.push(format!("{t} is already set by the user's daemon settings: DOCKER_TLS_CERTDIR={} adds no TCP listener; remove {t} to let dind-init set up TLS like docker:dind", dir.display()));
        return l;
    }
    let socket = unix_wish
        .clone()
        .unwrap_or_else(|| default_socket.to_path_buf());
    if let Some(p) = &unix_wish {
        l.notes.push(format!(
            "dockerd listens on {} (DOCKER_HOST, as docker:dind does)",
            p.display()
        ));
    }
    if unix_wish.is_some() || cfg.tls_certdir.is_some() {
        l.args.push(format!("--host=unix://{}", socket.display()));
        l.socket = Some(socket);
    }
    if let Some(dir) = &cfg.tls_certdir {
        let s = |f: &str| dir.join("server").join(f).display().to_string();
        l.args.push(format!("--host=tcp://0.0.0.0:{TLS_PORT}"));
        l.args.push("--tlsverify".into());
        l.args.push(format!("--tlscacert={}", s("ca.pem")));
        l.args.push(format!("--tlscert={}", s("cert.pem")));
        l.args.push(format!("--tlskey={}", s("key.pem")));
        l.notes.push(format!("dockerd also listens on tcp://0.0.0.0:{TLS_PORT} with --tlsverify (DOCKER_TLS_CERTDIR={}): clients need {}/client/{{ca,cert,key}}.pem", dir.display(), dir.display()));
    }
    l
}

/// True for a DOCKER_HOST host that is this pod (or its `docker` alias).
fn is_local(host: &str) -> bool {
    matches!(
        host,
        "localhost" | "127.0.0.1" | "::1" | "0.0.0.0" | "docker"
    ) || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One line for each docker:dind variable whose wish dind-init cannot follow
/// as it stands, saying what to do. Pure.
pub fn env_warnings(cfg: &Config) -> Vec<String> {
    let mut w = Vec::new();
    if cfg.tls_certdir.is_none() && !cfg.tls_san.is_empty() {
        w.push("DOCKER_TLS_SAN is set but DOCKER_TLS_CERTDIR is not, so no certificate is made: set DOCKER_TLS_CERTDIR=/certs (docker:dind's default)".into());
    }
    match (&cfg.docker_host, &cfg.tls_certdir) {
        (Some(DockerHost::Tcp { host, port }), None) => w.push(format!(
            "DOCKER_HOST=tcp://{host}:{port} but nothing listens on TCP without DOCKER_TLS_CERTDIR: set DOCKER_TLS_CERTDIR=/certs (TLS on {TLS_PORT}, like docker:dind), or unset DOCKER_HOST to use the unix socket"
        )),
        (Some(DockerHost::Tcp { host, port }), Some(_)) if *port != TLS_PORT || !is_local(host) => w.push(format!(
            "DOCKER_HOST=tcp://{host}:{port} is not this pod's dockerd (it listens on tcp://0.0.0.0:{TLS_PORT}): use tcp://localhost:{TLS_PORT}, or unset DOCKER_HOST to use the unix socket"
        )),
        (Some(DockerHost::Other { url }), _) => w.push(format!(
            "DOCKER_HOST={url} sends the session's docker elsewhere, not to the dockerd dind-init starts here: unset DOCKER_HOST to use it"
        )),
        _ => {}
    }
    w
}

/// A sidecar whose dockerd only listens on its own /var/run/docker.sock is of no use to
/// the pod's other containers: say how to share it. Pure.
pub fn sidecar_reach(cfg: &Config) -> Option<String> {
    let shared =
        matches!(cfg.docker_host, Some(DockerHost::Unix { .. })) || cfg.tls_certdir.is_some();
    let hosts_flag = cfg
        .dockerd_args
        .iter()
        .any(|a| a.starts_with("-H") || a.starts_with("--host"));
    (!shared && !hosts_flag).then(|| {
        "dind-init sidecar: dockerd listens only on /var/run/docker.sock inside this container (unless daemon.json sets hosts): set DOCKER_HOST=unix:///var/run/dind/docker.sock on a volume both containers mount, or DOCKER_TLS_CERTDIR=/certs for TLS on 2376".into()
    })
}

/// `$DOCKER_TLS_CERTDIR/client/{ca,cert,key}.pem` all exist (docker:cli's test for using TLS).
pub fn client_certs_present(cfg: &Config) -> bool {
    cfg.tls_certdir.as_ref().is_some_and(|d| {
        ["ca.pem", "cert.pem", "key.pem"]
            .iter()
            .all(|f| non_empty(&d.join("client").join(f)))
    })
}

/// Variables for the session's docker CLI, like docker:dind's client entrypoint:
/// with a tcp DOCKER_HOST and TLS on, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH=<dir>/client
/// unless the user set them.
pub fn session_env(cfg: &Config, user_set: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    match (&cfg.docker_host, &cfg.tls_certdir) {
        (Some(DockerHost::Tcp { .. }), Some(dir))
            if !user_set("DOCKER_TLS_VERIFY") && !user_set("DOCKER_CERT_PATH") =>
        {
            vec![
                ("DOCKER_TLS_VERIFY".into(), "1".into()),
                (
                    "DOCKER_CERT_PATH".into(),
                    dir.join("client").display().to_string(),
                ),
            ]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good(sans: &[&str]) -> PartFacts {
        PartFacts {
            key: KeyState::Valid,
            cert: Some(CertCheck {
                key_matches: true,
                verified: true,
                lasts: true,
                sans: sans.iter().map(|s| s.to_string()).collect(),
            }),
            ca_copy_current: true,
            ca_copy_present: true,
            dir_gid: Some(0),
            unsafe_dir: None,
        }
    }

    fn facts() -> CertFacts {
        CertFacts {
            dir: "/certs".into(),
            openssl: Some("/usr/bin/openssl".into()),
            ca: good(&[]),
            server: good(&["DNS:docker", "DNS:localhost", "IP:127.0.0.1"]),
            client: good(&[]),
            wanted_sans: vec![
                "DNS:docker".into(),
                "DNS:localhost".into(),
                "IP:127.0.0.1".into(),
            ],
            client_gid: None,
            unsafe_dir: None,
        }
    }

    /// (kind, path) of every step, to compare with a table row.
    fn shape(d: &Decision) -> Vec<String> {
        d.steps
            .iter()
            .map(|(s, _)| match s {
                Step::Key { path } => format!("key {}", path.display()),
                Step::CaCert { .. } => "ca-cert".into(),
                Step::Csr { csr, .. } => format!("csr {}", csr.display()),
                Step::Sign { cert, .. } => format!("sign {}", cert.display()),
                Step::Copy { to, .. } => format!("copy {}", to.display()),
                Step::Own {
                    path, gid, mode, ..
                } => format!("own {} {gid} {mode:o}", path.display()),
            })
            .collect()
    }

    fn leaf(name: &str, key: bool, gid: u32, key_mode: &str, dir_mode: &str) -> Vec<String> {
        let mut v = Vec::new();
        if key {
            v.push(format!("key /certs/{name}/key.pem"));
        }
        v.extend([
            format!("csr /certs/{name}/csr.pem"),
            format!("sign /certs/{name}/cert.pem"),
            format!("copy /certs/{name}/ca.pem"),
            format!("own /certs/{name} {gid} {dir_mode}"),
            format!("own /certs/{name}/key.pem {gid} {key_mode}"),
            format!("own /certs/{name}/cert.pem 0 644"),
            format!("own /certs/{name}/ca.pem 0 644"),
        ]);
        v
    }

    #[test]
    fn keep_or_make_table() {
        let fresh = CertFacts {
            ca: PartFacts::default(),
            server: PartFacts::default(),
            client: PartFacts::default(),
            ..facts()
        };
        let new_ip = CertFacts {
            wanted_sans: vec![
                "DNS:docker".into(),
                "DNS:localhost".into(),
                "IP:10.42.0.7".into(),
                "IP:127.0.0.1".into(),
            ],
            ..facts()
        };
        let mut ca_expiring = facts();
        ca_expiring.ca.cert.as_mut().unwrap().lasts = false;
        let mut client_for_coder = facts();
        client_for_coder.client_gid = Some(1000);
        let mut broken_server_key = facts();
        broken_server_key.server.key = KeyState::Broken;
        let mut stale_copy = facts();
        stale_copy.client.ca_copy_current = false;
        let ca = |key: bool| {
            let mut v = Vec::new();
            if key {
                v.push("key /certs/ca/key.pem".to_string());
            }
            v.push("ca-cert".into());
            v
        };
        let cat = |parts: Vec<Vec<String>>| parts.concat();
        let rows: Vec<(&str, CertFacts, Vec<String>)> = vec![
            (
                "fresh dir: everything",
                fresh,
                cat(vec![
                    ca(true),
                    leaf("server", true, 0, "600", "700"),
                    leaf("client", true, 0, "600", "755"),
                ]),
            ),
            ("all valid: a restart keeps everything", facts(), vec![]),
            (
                "pod IP changed: only the server cert, same keys and CA",
                new_ip,
                leaf("server", false, 0, "600", "700"),
            ),
            (
                "CA expiring: new CA cert on the same key, leaves re-signed",
                ca_expiring,
                cat(vec![
                    ca(false),
                    leaf("server", false, 0, "600", "700"),
                    leaf("client", false, 0, "600", "755"),
                ]),
            ),
            (
                "DIND_USER changed: the client dir changes group only",
                client_for_coder,
                vec![
                    "own /certs/client 1000 750".into(),
                    "own /certs/client/key.pem 1000 640".into(),
                ],
            ),
            (
                "a broken server key is made anew",
                broken_server_key,
                leaf("server", true, 0, "600", "700"),
            ),
            (
                "client ca.pem is not the CA: client re-made",
                stale_copy,
                leaf("client", false, 0, "600", "755"),
            ),
        ];
        for (name, f, want) in rows {
            let d = decide(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(shape(&d), want, "{name}");
            let needs_cnf = d.steps.iter().any(|(s, _)| s.openssl_args().is_some());
            assert_eq!(d.config.is_some(), needs_cnf, "{name}");
        }
    }

    #[test]
    fn user_managed_ca_is_used_as_it_is_and_openssl_is_needed_only_to_make() {
        let mut own = facts();
        own.ca = PartFacts::default();
        own.server.cert.as_mut().unwrap().verified = false;
        own.openssl = None;
        let d = decide(&own).unwrap();
        assert!(d.steps.is_empty() && d.dirs.is_empty());
        assert!(
            d.warnings[0].contains("does not verify"),
            "{:?}",
            d.warnings
        );

        let mut kept = facts();
        kept.openssl = None;
        assert!(
            decide(&kept).unwrap().steps.is_empty(),
            "nothing to make: no openssl needed"
        );
        let mut fresh = facts();
        fresh.openssl = None;
        fresh.client = PartFacts::default();
        let e = decide(&fresh).unwrap_err();
        assert!(
            e.to_string().contains("openssl program is not installed"),
            "{e}"
        );
        assert!(e.to_string().contains("apt-get install openssl"), "{e}");
    }

    #[test]
    fn keys_are_never_written_through_a_planted_link_or_a_users_directory() {
        let mut f = facts();
        f.server.unsafe_dir = Some("/certs/server is a symlink".into());
        let e = decide(&f).unwrap_err().to_string();
        assert!(
            e.contains("/certs/server is a symlink") && e.contains("root-owned"),
            "{e}"
        );

        let t = std::env::temp_dir().join(format!("dind-tls-unsafe-{}", std::process::id()));
        std::fs::create_dir_all(&t).unwrap();
        let link = t.join("link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        let meta = |p: &Path| std::fs::symlink_metadata(p).ok();
        assert!(unsafe_dir(meta(&link).as_ref(), &link, true)
            .unwrap()
            .contains("symlink"));
        assert_eq!(
            unsafe_dir(meta(&t.join("absent")).as_ref(), &t, false),
            None
        );
        if nix::unistd::geteuid().is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o777)).unwrap();
            assert!(unsafe_dir(meta(&t).as_ref(), &t, false)
                .unwrap()
                .contains("writable by others"));
            assert_eq!(
                unsafe_dir(meta(&t).as_ref(), &t, true),
                None,
                "an emptyDir at the top is fine"
            );
            std::os::unix::fs::lchown(&t, Some(1000), None).unwrap();
            assert!(unsafe_dir(meta(&t).as_ref(), &t, true)
                .unwrap()
                .contains("owned by uid 1000"));
        }
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn san_text_parsing() {
        let text = "X509v3 Subject Alternative Name: \n    DNS:docker, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1\n";
        assert_eq!(
            parse_san_text(text),
            ["DNS:docker", "DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        );
    }

    #[test]
    fn pod_addresses_from_proc() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\nLocal:\n  +-- 10.42.0.0/24 2 0 2\n     |-- 10.42.0.7\n        /32 host LOCAL\n  +-- 127.0.0.0/8 2 0 2\n     +-- 127.0.0.0/31 1 0 0\n        |-- 127.0.0.0\n           /8 host LOCAL\n        |-- 127.0.0.1\n           /32 host LOCAL\n     |-- 10.42.0.7\n        /32 host LOCAL\n";
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\nfd000000000000000000000000000007 02 40 00 80     eth0\n";
        let ips: Vec<String> = local_ips(fib, v6).iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["10.42.0.7", "127.0.0.1", "::1", "fd00::7"]);
        let ipv: Vec<IpAddr> = ["127.0.0.1".parse().unwrap()].into();
        assert_eq!(
            wanted_sans(
                &["devpod-0\n".into(), "".into()],
                &ipv,
                &["DNS:extra".into()]
            ),
            [
                "DNS:devpod-0",
                "DNS:docker",
                "DNS:extra",
                "DNS:localhost",
                "IP:127.0.0.1"
            ]
        );
    }

    fn cfg(certdir: Option<&str>, host: Option<&str>) -> Config {
        Config {
            tls_certdir: certdir.map(PathBuf::from),
            docker_host: host.and_then(DockerHost::parse),
            ..Config::default()
        }
    }

    #[test]
    fn listeners_follow_docker_dind_unless_the_user_set_hosts() {
        let sock = Path::new("/var/run/docker.sock");
        let l = listen(&cfg(Some("/certs"), None), None, None, sock);
        assert_eq!(
            l.args,
            [
                "--host=unix:///var/run/docker.sock",
                "--host=tcp://0.0.0.0:2376",
                "--tlsverify",
                "--tlscacert=/certs/server/ca.pem",
                "--tlscert=/certs/server/cert.pem",
                "--tlskey=/certs/server/key.pem"
            ]
        );
        let none = listen(&cfg(None, None), None, None, sock);
        assert!(
            none.args.is_empty() && none.socket.is_none(),
            "no TCP without DOCKER_TLS_CERTDIR"
        );
        let shared = listen(
            &cfg(None, Some("unix:///shared/docker.sock")),
            None,
            None,
            sock,
        );
        assert_eq!(shared.args, ["--host=unix:///shared/docker.sock"]);
        assert_eq!(shared.socket, Some(PathBuf::from("/shared/docker.sock")));
        let hosts = ["tcp://0.0.0.0:2375".to_string()];
        let theirs = listen(
            &cfg(Some("/certs"), None),
            Some((&hosts, "DIND_DOCKERD_ARGS".into())),
            None,
            sock,
        );
        assert!(theirs.args.is_empty());
        assert_eq!(theirs.warnings.len(), 2, "{:?}", theirs.warnings);
        assert!(
            theirs.warnings[1].contains("without TLS"),
            "{:?}",
            theirs.warnings
        );
        let same = ["unix:///shared/docker.sock".to_string()];
        let quiet = listen(
            &cfg(None, Some("unix:///shared/docker.sock")),
            Some((&same, "daemon.json".into())),
            None,
            sock,
        );
        assert!(
            quiet.warnings.is_empty(),
            "DOCKER_HOST already among the hosts: {:?}",
            quiet.warnings
        );
        let tls = listen(
            &cfg(Some("/certs"), None),
            None,
            Some("tlsverify in daemon.json".into()),
            sock,
        );
        assert!(tls.args.is_empty() && tls.warnings[0].contains("tlsverify in daemon.json"));
    }

    #[test]
    fn docker_dind_variables_are_honoured_or_reported() {
        let rows: &[(Config, &str)] = &[
            (
                cfg(None, Some("tcp://localhost:2376")),
                "set DOCKER_TLS_CERTDIR=/certs",
            ),
            (
                cfg(Some("/certs"), Some("tcp://docker:2375")),
                "use tcp://localhost:2376",
            ),
            (
                cfg(Some("/certs"), Some("ssh://me@elsewhere")),
                "unset DOCKER_HOST",
            ),
            (
                Config {
                    tls_san: vec!["DNS:x".into()],
                    ..cfg(None, None)
                },
                "DOCKER_TLS_SAN is set but",
            ),
        ];
        for (c, want) in rows {
            let w = env_warnings(c);
            assert!(w.len() == 1 && w[0].contains(want), "{c:?}: {w:?}");
        }
        for ok in [
            cfg(Some("/certs"), Some("tcp://localhost:2376")),
            cfg(None, Some("unix:///s/docker.sock")),
            cfg(None, None),
        ] {
            assert!(env_warnings(&ok).is_empty(), "{ok:?}");
        }
        assert!(sidecar_reach(&cfg(None, None))
            .unwrap()
            .contains("DOCKER_HOST=unix://"));
        assert_eq!(
            sidecar_reach(&cfg(None, Some("unix:///run/dind/docker.sock"))),
            None
        );
        assert_eq!(sidecar_reach(&cfg(Some("/certs"), None)), None);
        let c = cfg(Some("/certs"), Some("tcp://127.0.0.1:2376"));
        assert_eq!(
            session_env(&c, |_| false),
            [
                ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
                ("DOCKER_CERT_PATH".into(), "/certs/client".into())
            ]
        );
        assert!(
            session_env(&c, |k| k == "DOCKER_CERT_PATH").is_empty(),
            "the user's own wins"
        );
        assert!(
            session_env(&cfg(Some("/certs"), None), |_| false).is_empty(),
            "unix socket: no TLS"
        );
    }
}
