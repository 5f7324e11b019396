//! The daemons' files: the user's daemon config files read in full ([`DaemonFiles`],
//! [`Unreadable`] when one cannot be), where dockerd and containerd keep their pidfiles
//! and the one pidfile rule ([`pidfile_pid`], [`pidfile_verdict`]), and whether a
//! socket serves.
//!
//! Owns reading these files; it never writes or removes one (a stale pidfile is
//! apply's to remove) and parses daemon settings only through `settings`.

use super::nearest_existing;
use super::Roots;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::settings::{self, Origin};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Whether something accepts connections on the unix socket `path`.
pub fn socket_serving(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Whether the pidfile at `path` is stale: provably a pidfile ([`pidfile_pid`]) whose PID
/// is not a live process whose argv[0] basename is `name` (read from
/// `<proc>/<pid>/cmdline`). None when there is no pidfile; Some(false) for a live
/// daemon and for a file that is not a pidfile (never removed).
pub fn stale_pidfile(path: &Path, name: &str, proc: &Path) -> Option<bool> {
    let text = read_pidfile_head(path).ok()?;
    let verdict = pidfile_verdict(&text, &[name], |pid| {
        Ok::<_, Infallible>(std::fs::read(proc.join(pid.to_string()).join("cmdline")).ok())
    });
    Some(matches!(verdict, Ok(Pidfile::Stale(_))))
}

/// The pidfiles of dockerd and its containerd that are stale ([`stale_pidfile`]):
/// either would stop its daemon from starting.
pub(super) fn stale_pidfiles(files: &DaemonFiles, proc: &Path) -> Vec<PathBuf> {
    [
        (files.pidfile.clone(), "dockerd"),
        (
            files.exec_root.join("containerd/containerd.pid"),
            "containerd",
        ),
    ]
    .into_iter()
    .filter(|(p, name)| stale_pidfile(p, name, proc) == Some(true))
    .map(|(p, _)| p)
    .collect()
}

/// The largest file that can be a pidfile: a PID and a newline fit many times over.
pub const PIDFILE_MAX: usize = 32;

/// The first `PIDFILE_MAX + 1` bytes of `path` (enough for [`pidfile_pid`] to tell a
/// pidfile from a bigger file without reading all of it).
pub fn read_pidfile_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(PIDFILE_MAX + 1);
    std::fs::File::open(path)?
        .take(PIDFILE_MAX as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

/// The PID in `text` when it is provably a pidfile: at most [`PIDFILE_MAX`] bytes,
/// one decimal PID above 0 and an optional newline, nothing else. Anything else may
/// be a user's file that daemon.json happens to name: never removed.
pub fn pidfile_pid(text: &[u8]) -> Option<u32> {
    if text.len() > PIDFILE_MAX {
        return None;
    }
    let digits = text.strip_suffix(b"\n").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 0)
}

/// What a file named as a daemon's pidfile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pidfile<'n> {
    /// Not provably a pidfile ([`pidfile_pid`]): refused, never removed.
    NotAPidfile,
    /// One PID that runs none of the daemons: safe to remove.
    Stale(u32),
    /// The PID runs this daemon: never touched.
    Live(u32, &'n str),
}

/// The one decision behind every stale-pidfile check: [`Pidfile::Live`] when the PID in
/// `text` runs a program whose argv[0] basename is one of `names`; [`Pidfile::Stale`]
/// when the process is gone or a pod restart gave the PID to an unrelated process;
/// [`Pidfile::NotAPidfile`] when `text` is not one PID. `cmdline(pid)` reads
/// `/proc/<pid>/cmdline` (None when the process is gone), so each caller picks its
/// /proc (a temp tree, the Syscall seam) and what a read error means.
pub fn pidfile_verdict<'n, E>(
    text: &[u8],
    names: &[&'n str],
    cmdline: impl FnOnce(u32) -> std::result::Result<Option<Vec<u8>>, E>,
) -> std::result::Result<Pidfile<'n>, E> {
    let Some(pid) = pidfile_pid(text) else {
        return Ok(Pidfile::NotAPidfile);
    };
    let Some(cmdline) = cmdline(pid)? else {
        return Ok(Pidfile::Stale(pid));
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or(&[]);
    let base = Path::new(OsStr::from_bytes(argv0))
        .file_name()
        .map_or(&b""[..], OsStrExt::as_bytes);
    Ok(match names.iter().find(|n| n.as_bytes() == base) {
        Some(n) => Pidfile::Live(pid, n),
        None => Pidfile::Stale(pid),
    })
}

/// The user's Docker daemon configuration files, as text (settings reads them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DaemonFiles {
    /// (path dockerd reads, text) of daemon.json, when it exists.
    pub daemon_json: Option<(PathBuf, String)>,
    /// Text of /etc/default/docker, when it exists.
    pub default_docker: Option<String>,
    /// A file that could not be read in full (not UTF-8, unreadable): the plan
    /// stops with it, so the file is never rewritten.
    pub error: Option<Unreadable>,
    /// dockerd's exec-root (default /var/run/docker).
    pub exec_root: PathBuf,
    /// dockerd's pidfile (default /var/run/docker.pid).
    pub pidfile: PathBuf,
    /// daemon.json cannot be written where dockerd reads it (a read-only ConfigMap
    /// mount, EROFS): the plan then writes its merge elsewhere and says so.
    #[serde(default)]
    pub daemon_json_read_only: bool,
    /// Files named as dockerd's or containerd's pidfile that are not provably
    /// pidfiles: the daemon would overwrite them at start, so nothing starts.
    #[serde(default)]
    pub foreign_pidfiles: Vec<ForeignPidfile>,
    /// daemon.json has a storage-driver and its daemon.json.bak (the version before
    /// dind-init's last change) is a JSON object without one: an older dind-init,
    /// which wrote its own choice there, may have put it there. Only a hint: a user
    /// who added it after that change leaves the same trace.
    #[serde(default)]
    pub driver_maybe_older_dind_init: bool,
}

/// A file at a daemon's pidfile path that is not provably a pidfile ([`pidfile_pid`]),
/// e.g. `"pidfile": "/home/coder/thesis.tex"`: dockerd writes its PID over it at start
/// and deletes it at stop, so dind-init refuses to start before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignPidfile {
    /// The file.
    pub path: PathBuf,
    /// The daemon that writes it: "dockerd" or "containerd".
    pub daemon: &'static str,
    /// The setting that put the pidfile there: `pidfile` or `exec-root`.
    pub key: &'static str,
    /// Where that setting came from; None for dockerd's default path.
    pub set_by: Option<Origin>,
    /// What is there, e.g. "a file of 2345 bytes".
    pub what: String,
}

impl ForeignPidfile {
    /// The refusal (exit 2): names the setting's source, the file and the fix.
    pub fn to_error(&self) -> Error {
        let path = match &self.set_by {
            Some(Origin::DaemonJson(p)) => p.clone(),
            Some(Origin::DockerOpts) => PathBuf::from(settings::DEFAULT_DOCKER_FILE),
            Some(o) => PathBuf::from(o.to_string()),
            None => self.path.clone(),
        };
        Error::ConfigFile {
            path,
            msg: self.words(),
            hint: self.fix(),
        }
    }

    /// What is wrong, in one sentence naming the setting's source and the file.
    pub fn words(&self) -> String {
        let by = match &self.set_by {
            Some(Origin::DaemonJson(_)) => format!("{} in daemon.json", self.key),
            Some(Origin::DockerOpts) => format!("{} in DOCKER_OPTS", self.key),
            Some(_) => self.key.to_string(),
            None => "its default pidfile".to_string(),
        };
        format!(
            "{by} makes {d} write its PID into {}, but that is {}, not a pidfile: {d} would overwrite it at start and delete it at stop",
            self.path.display(),
            self.what,
            d = self.daemon
        )
    }

    /// The fix.
    pub fn fix(&self) -> String {
        match self.set_by {
            Some(_) => format!("point {} at a path under /run, or move the file", self.key),
            None => format!("move the file: {} keeps its pidfile there", self.daemon),
        }
    }
}

/// What is at `path` when a daemon must not use it as its pidfile: None when it is
/// absent, empty or provably a pidfile ([`pidfile_pid`]). A link is not followed.
fn foreign_at(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let t = std::fs::read_link(path).unwrap_or_default();
        return Some(format!("a symlink to {}", t.display()));
    }
    if kind.is_dir() {
        return Some("a directory".into());
    }
    if !kind.is_file() {
        return Some("a device, socket or fifo".into());
    }
    let head = read_pidfile_head(path).ok()?;
    (!head.is_empty() && pidfile_pid(&head).is_none())
        .then(|| format!("a file of {} bytes", meta.len()))
}

/// The pidfiles dockerd and its containerd will write that hold something else.
fn foreign_pidfiles(
    files: &DaemonFiles,
    effective: &BTreeMap<String, (Value, Origin)>,
) -> Vec<ForeignPidfile> {
    let origin = |key: &str| effective.get(key).map(|(_, o)| o.clone());
    let dockerd = match origin("pidfile") {
        Some(o) => ("pidfile", Some(o)),
        None => ("exec-root", origin("exec-root")),
    };
    let containerd = ("exec-root", origin("exec-root"));
    [
        (files.pidfile.clone(), "dockerd", dockerd),
        (
            files.exec_root.join("containerd/containerd.pid"),
            "containerd",
            containerd,
        ),
    ]
    .into_iter()
    .filter_map(|(path, daemon, (key, set_by))| {
        let what = foreign_at(&path)?;
        Some(ForeignPidfile {
            path,
            daemon,
            key,
            set_by,
            what,
        })
    })
    .collect()
}

impl DaemonFiles {
    /// The settings sources these files plus the config's DOCKER_DRIVER and DIND_DOCKERD_ARGS form.
    pub fn sources<'a>(&'a self, cfg: &'a Config) -> settings::Sources<'a> {
        settings::Sources {
            daemon_json: self
                .daemon_json
                .as_ref()
                .map(|(p, t)| (p.as_path(), t.as_str())),
            default_docker: self.default_docker.as_deref(),
            docker_driver_env: cfg.docker_driver_env.as_deref(),
            dind_args: &cfg.dockerd_args,
        }
    }
}

/// A daemon config file dind-init could not read in full. Kept as data (the
/// facts are serialised for `doctor --json`); [`Unreadable::to_error`] is what stops
/// the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// The line holding the first bad byte (1 when the file could not be read at all).
    pub line: usize,
    /// What is wrong, e.g. "not valid UTF-8 at byte 44".
    pub msg: String,
    /// What to do.
    pub hint: String,
}

impl Unreadable {
    /// The error that stops dind-init (exit 2) before it changes anything.
    pub fn to_error(&self) -> Error {
        Error::DaemonConfig {
            path: self.path.clone(),
            line: self.line,
            msg: self.msg.clone(),
            hint: self.hint.clone(),
        }
    }
}

/// The text of a daemon config file, None when it does not exist. A file that is
/// not UTF-8 (a Latin-1 label) is not "absent": treating it so would overwrite it.
fn read_text(path: &Path) -> std::result::Result<Option<String>, Unreadable> {
    let never = "dind-init never rewrites a file it cannot read in full";
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Unreadable {
                path: path.to_path_buf(),
                line: 1,
                msg: format!("cannot read: {e}"),
                hint: format!("make it a file root can read, or remove it; {never}"),
            })
        }
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
        Unreadable {
            path: path.to_path_buf(),
            line,
            msg: format!("not valid UTF-8 at byte {at}"),
            hint: format!("save it as UTF-8 (e.g. iconv -f latin1 -t utf-8); {never}"),
        }
    })
}

pub(super) fn setting_path(
    effective: &BTreeMap<String, (Value, Origin)>,
    key: &str,
) -> Option<PathBuf> {
    effective
        .get(key)
        .and_then(|(v, _)| v.as_str())
        .filter(|s| s.starts_with('/'))
        .map(PathBuf::from)
}

/// Where the probe reads a file dockerd will read at `path`: under `roots.etc` for /etc paths.
fn rebase_etc(path: &Path, roots: &Roots) -> PathBuf {
    match path.strip_prefix("/etc") {
        Ok(rest) => roots.etc.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// The user's daemon config files and what they say. A file that cannot be read
/// in full is recorded in `error` (and not parsed); a parse error is the `Err`.
pub(super) fn read_daemon_files(
    cfg: &Config,
    roots: &Roots,
) -> (DaemonFiles, Result<settings::UserSettings>) {
    let mut files = DaemonFiles {
        exec_root: roots.var_run.join("docker"),
        pidfile: roots.var_run.join("docker.pid"),
        ..DaemonFiles::default()
    };
    match read_text(&roots.etc.join("default/docker")) {
        Ok(t) => files.default_docker = t,
        Err(e) => files.error = Some(e),
    }
    let json_path =
        match settings::config_file_path(files.default_docker.as_deref(), &cfg.dockerd_args) {
            Ok(p) => p,
            Err(e) => return (files, Err(e)),
        };
    let json_file = rebase_etc(&json_path, roots);
    // The file itself, or the nearest directory that exists (dind-init creates the rest).
    let writable_probe = if json_file.exists() {
        json_file.clone()
    } else {
        nearest_existing(&json_file)
    };
    files.daemon_json_read_only =
        nix::unistd::access(&writable_probe, nix::unistd::AccessFlags::W_OK)
            == Err(nix::errno::Errno::EROFS);
    match read_text(&json_file) {
        Ok(t) => files.daemon_json = t.map(|t| (json_path, t)),
        Err(e) => files.error = files.error.take().or(Some(e)),
    }
    files.driver_maybe_older_dind_init = files
        .daemon_json
        .as_ref()
        .is_some_and(|(_, t)| driver_added_since_bak(t, &json_file));
    if let Some(e) = &files.error {
        let err = e.to_error();
        return (files, Err(err));
    }
    let user = settings::read(&files.sources(cfg));
    if let Ok(u) = &user {
        let eff = &u.effective;
        if let Some(p) = setting_path(eff, "exec-root") {
            files.exec_root = p;
        }
        files.pidfile = setting_path(eff, "pidfile").unwrap_or_else(|| {
            files
                .exec_root
                .parent()
                .unwrap_or(&roots.var_run)
                .join("docker.pid")
        });
        files.foreign_pidfiles = foreign_pidfiles(&files, eff);
    }
    (files, user)
}

/// `text` (daemon.json at `file`) has a storage-driver that `<file>.bak` lacks.
pub(super) fn driver_added_since_bak(text: &str, file: &Path) -> bool {
    let has_driver = |t: &str| {
        serde_json::from_str::<serde_json::Map<String, Value>>(t)
            .ok()
            .map(|m| m.contains_key("storage-driver"))
    };
    let mut bak = file.as_os_str().to_owned();
    bak.push(".bak");
    let bak = std::fs::read_to_string(PathBuf::from(bak)).ok();
    has_driver(text) == Some(true) && bak.as_deref().and_then(has_driver) == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_pidfiles() {
        let t = tempfile::tempdir().unwrap();
        let proc = t.path().join("proc");
        std::fs::create_dir_all(proc.join("4242")).unwrap();
        std::fs::create_dir_all(proc.join("4343")).unwrap();
        std::fs::write(
            proc.join("4242/cmdline"),
            b"/usr/bin/dockerd\0-H\0unix:///x\0",
        )
        .unwrap();
        std::fs::write(proc.join("4343/cmdline"), b"/bin/bash\0").unwrap();
        let pf = t.path().join("docker.pid");
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), None);
        std::fs::write(&pf, "4242").unwrap();
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), Some(false));
        assert_eq!(stale_pidfile(&pf, "containerd", &proc), Some(true));
        std::fs::write(&pf, "4343\n").unwrap();
        assert_eq!(
            stale_pidfile(&pf, "dockerd", &proc),
            Some(true),
            "pid reused by bash"
        );
        std::fs::write(&pf, "99999").unwrap();
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), Some(true), "gone");
        std::fs::write(&pf, "garbage").unwrap();
        assert_eq!(
            stale_pidfile(&pf, "dockerd", &proc),
            Some(false),
            "not a pidfile: never listed for removal"
        );
        std::fs::write(&pf, "\\documentclass{article}\n99999\n").unwrap();
        assert_eq!(stale_pidfile(&pf, "dockerd", &proc), Some(false));
    }

    #[test]
    fn pidfile_verdict_is_the_daemon_named_in_argv0() {
        let cmd = |c: &'static [u8]| move |_| Ok::<_, String>(Some(c.to_vec()));
        let names = &["dockerd", "containerd"][..];
        assert_eq!(
            pidfile_verdict(b"77\n", names, cmd(b"/usr/bin/containerd\0-c\0")),
            Ok(Pidfile::Live(77, "containerd"))
        );
        assert_eq!(
            pidfile_verdict(b"77", names, cmd(b"/usr/bin/dockerd-wrapper\0")),
            Ok(Pidfile::Stale(77))
        );
        assert_eq!(
            pidfile_verdict(b"77", names, cmd(b"")),
            Ok(Pidfile::Stale(77))
        );
        assert_eq!(
            pidfile_verdict(b"77", names, |_| Ok::<_, String>(None)),
            Ok(Pidfile::Stale(77)),
            "gone"
        );
        let failed = pidfile_verdict(b"77", names, |pid| Err(format!("read {pid}")));
        assert_eq!(failed, Err("read 77".to_string()));
    }

    /// Only a small file holding one PID is a pidfile (issue 10 item 11): rows of
    /// (content, PID), None for a file never to be removed.
    #[test]
    fn pidfile_pid_accepts_one_pid_and_nothing_else() {
        let rows: &[(&[u8], Option<u32>)] = &[
            (b"4242", Some(4242)),
            (b"4242\n", Some(4242)),
            (b"1\n", Some(1)),
            (b"4294967295", Some(u32::MAX)),
            (b"", None),
            (b"\n", None),
            (b"0", None),
            (b"-5", None),
            (b"+5", None),
            (b" 77\n", None),
            (b"77 \n", None),
            (b"77\n\n", None),
            (b"77\r\n", None),
            (b"4294967296", None),
            (b"4242\n4243\n", None),
            (b"garbage", None),
            (b"\\documentclass{article}\n", None),
            (b"000000000000000000000000000000042", None),
            (b"00000000000000000000000000000042", Some(42)),
        ];
        for (text, want) in rows {
            assert_eq!(
                pidfile_pid(text),
                *want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
            let never = |_| Err("cmdline read without a pid".to_string());
            if want.is_none() {
                assert_eq!(
                    pidfile_verdict(text, &["dockerd"], never),
                    Ok(Pidfile::NotAPidfile)
                );
            }
        }
    }
}
