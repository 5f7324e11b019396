//! The smoke test: import a one-file image, create a container from it, read the
//! file back through the archive endpoint (this mounts the container's root
//! filesystem), then remove both; a failure is classified once into a typed verdict.

use super::api::{exchange, HttpError, Response};
use super::tar::{tar_find_file, ustar_one_file};
use crate::error::one_line;
use crate::error::{Error, Result};
use crate::probe::Trouble;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Budget for each Engine API call of the smoke test; vfs copies layers, so give it room.
const SMOKE_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Name of the smoke image's repository, its single file, and its containers' prefix.
pub const SMOKE_NAME: &str = "dind-init-smoke";

/// What the smoke test did and how long each Engine API call took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmokeReport {
    /// The throw-away image, `dind-init-smoke:<tag>` (removed again).
    pub image: String,
    /// ID of the throw-away container (removed again).
    pub container: String,
    /// The file content dind-init put into the image.
    pub expected: String,
    /// The content read back through the container's mounted root filesystem.
    pub read_back: String,
    /// `POST /images/create?fromSrc=-` (import a one-file tar).
    pub import_ms: f64,
    /// `POST /containers/create` (creates the init and RW layers).
    pub create_ms: f64,
    /// `GET /containers/{id}/archive` (mounts the container root filesystem).
    pub archive_ms: f64,
    /// `DELETE` of container and image.
    pub cleanup_ms: f64,
    /// All of the above.
    pub total_ms: f64,
}

/// Why the smoke test failed, decided once by [`classify`] from what the daemon
/// answered (or by PID 1's loop for a daemon that died). Only a mount refusal says
/// the storage driver cannot work here; everything else keeps the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmokeFailure {
    /// The kernel or the snapshotter refused to mount the container's root filesystem
    /// (EINVAL, ENOTSUP, "not supported as upperdir", "failed to mount"): a slower driver may work.
    MountRefused,
    /// The volume is full, read-only or failing: no driver does better there.
    Volume(Trouble),
    /// A step got no complete answer within its budget.
    Timeout,
    /// The connection was refused, closed or reset: dockerd is gone or restarting.
    ConnectionLost,
    /// dockerd or containerd exited while the test ran.
    DaemonDied,
    /// Any other error answer of the Engine API.
    Api {
        /// The HTTP status.
        status: u16,
    },
    /// A wrong answer: other content read back, no container Id, not HTTP.
    Other,
}

impl SmokeFailure {
    /// A slower storage driver may pass where this one failed.
    pub fn may_change_driver(self) -> bool {
        self == SmokeFailure::MountRefused
    }

    /// Stable words that start the failure's one-line message ("volume full", …).
    pub fn words(self) -> String {
        match self {
            SmokeFailure::MountRefused => "storage cannot mount container filesystems".into(),
            SmokeFailure::Volume(t) => t.words().into(),
            SmokeFailure::Timeout => "dockerd timed out".into(),
            SmokeFailure::ConnectionLost => "connection to dockerd lost".into(),
            SmokeFailure::DaemonDied => "dockerd died".into(),
            SmokeFailure::Api { status } => format!("Engine API error {status}"),
            SmokeFailure::Other => "wrong answer".into(),
        }
    }

    /// What to do about it.
    pub fn remedy(self) -> String {
        match self {
            SmokeFailure::MountRefused => "the storage driver cannot mount container filesystems where the data root is (overlay on overlayfs, or a pod that may not mount); \
                set DIND_DATA_ROOT to a directory on the pod's persistent volume, run the pod privileged, or let DIND_STORAGE_DRIVER=auto pick a driver that works".into(),
            SmokeFailure::Volume(t) => t.remedy_with_docker().into(),
            SmokeFailure::Timeout => "dockerd is hung or overloaded: read its lines above in the pod log; the storage driver is kept".into(),
            SmokeFailure::ConnectionLost | SmokeFailure::DaemonDied => "dockerd stopped answering (crashed or restarting): read its last lines above in the pod log; the storage driver is kept".into(),
            SmokeFailure::Api { .. } | SmokeFailure::Other => "the daemon's message says what failed; `dind-init doctor` checks the storage setup".into(),
        }
    }
}

/// The volume holding the data root, looked at right after a failed smoke test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VolumeNow {
    /// Bytes still free for root (dockerd writes as root); None when unknown.
    pub free_bytes: Option<u64>,
    /// Mounted read-only (or remounted so after errors).
    pub read_only: bool,
}

/// Below this a volume counts as full: a smoke image and its layers need more.
const NEARLY_FULL: u64 = 1 << 20;

impl VolumeNow {
    /// statvfs(2) of `data_root`; unknown fields when it fails.
    pub fn of(data_root: &Path) -> VolumeNow {
        match nix::sys::statvfs::statvfs(data_root) {
            Ok(v) => VolumeNow {
                #[allow(clippy::unnecessary_cast)]
                free_bytes: Some((v.blocks_free() as u64).saturating_mul(v.fragment_size() as u64)),
                read_only: v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
            },
            Err(_) => VolumeNow::default(),
        }
    }
}

impl SmokeFailure {
    /// The failure seen together with the volume's state: a full or read-only volume
    /// explains any failure (dockerd 20.10 reports ENOSPC in an import as
    /// `ApplyLayer exit status 1 stdout:  stderr: unexpected EOF`), and no driver
    /// does better on it.
    pub fn given(self, v: &VolumeNow) -> SmokeFailure {
        if let SmokeFailure::Volume(_) = self {
            return self;
        }
        if v.read_only {
            SmokeFailure::Volume(Trouble::ReadOnly)
        } else if v.free_bytes.is_some_and(|f| f < NEARLY_FULL) {
            SmokeFailure::Volume(Trouble::VolumeFull)
        } else {
            self
        }
    }
}

/// A failed smoke test: the typed verdict and the daemon's words, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeError {
    /// What kind of failure.
    pub failure: SmokeFailure,
    /// Which step failed and what the daemon said.
    pub msg: String,
}

impl From<SmokeError> for Error {
    fn from(e: SmokeError) -> Error {
        Error::Docker {
            msg: format!("{}: {}", e.failure.words(), e.msg),
            hint: e.failure.remedy(),
        }
    }
}

/// What one smoke-test request got back, for [`classify`].
enum Got<'a> {
    /// No complete answer.
    NoAnswer(&'a HttpError),
    /// An HTTP error answer and the daemon's message.
    Status(u16, &'a str),
    /// An error inside a 200 answer (the import stream), or a wrong answer.
    Said(&'a str),
}

/// The kernel's or the snapshotter's refusal to mount, in dockerd's and containerd's words.
fn refuses_mount(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "invalid argument",
        "operation not supported",
        "not supported as upperdir",
        "failed to mount",
        "driver not supported",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The one classification of a smoke-test failure. The volume's trouble wins over
/// everything (`failed to mount …: no space left on device` is a full disk, not a
/// refusal); a refusal counts only in a server error or in the import stream.
fn classify(got: &Got) -> SmokeFailure {
    let text = match got {
        Got::NoAnswer(HttpError::Io(e)) => e.to_string(),
        Got::NoAnswer(_) => String::new(),
        Got::Status(_, m) | Got::Said(m) => m.to_string(),
    };
    if let Some(t) = Trouble::from_text(&text) {
        return SmokeFailure::Volume(t);
    }
    match got {
        Got::NoAnswer(HttpError::Timeout) => SmokeFailure::Timeout,
        Got::NoAnswer(HttpError::Malformed(_)) => SmokeFailure::Other,
        Got::NoAnswer(_) => SmokeFailure::ConnectionLost,
        Got::Status(status, m) if *status >= 500 && refuses_mount(m) => SmokeFailure::MountRefused,
        Got::Status(status, _) => SmokeFailure::Api { status: *status },
        Got::Said(m) if refuses_mount(m) => SmokeFailure::MountRefused,
        Got::Said(_) => SmokeFailure::Other,
    }
}

/// Prove through the Engine API that a container root filesystem mounts on the
/// storage dockerd uses — the operation that fails on overlay-on-overlay while
/// `/_ping` says all is well (Docker ≥29: `failed to mount /tmp/containerd-mount…:
/// invalid argument`). No registry, no network: import a one-file image from an
/// in-memory tar, create a container from it, read the file back through the
/// archive endpoint (this mounts the rootfs), then remove both — also on failure.
pub fn smoke_test(socket: &Path) -> Result<SmokeReport> {
    smoke_test_with(socket, SMOKE_STEP_TIMEOUT)
}

/// [`smoke_test`] with each Engine API call bounded by `step_timeout` instead of
/// 30 s, for callers (`status`, a readiness probe) that must answer sooner.
pub fn smoke_test_with(socket: &Path, step_timeout: Duration) -> Result<SmokeReport> {
    smoke_test_typed(socket, step_timeout).map_err(Error::from)
}

/// [`smoke_test_with`], failing with the typed verdict PID 1 decides on.
pub fn smoke_test_typed(
    socket: &Path,
    step_timeout: Duration,
) -> std::result::Result<SmokeReport, SmokeError> {
    let t0 = Instant::now();
    let mut run = SmokeRun::new(socket, step_timeout);
    let outcome = run.steps();
    let cleanup_errors = run.cleanup();
    run.report.total_ms = ms(t0.elapsed());
    verdict(run.report, outcome, &cleanup_errors)
}

/// How a smoke-test step failed: the typed verdict and the one-line message.
type StepResult<T> = std::result::Result<T, (SmokeFailure, String)>;

/// One smoke test under way: its names, what it measured so far, and what may
/// exist on the daemon and so must be removed, whatever happens.
struct SmokeRun<'a> {
    socket: &'a Path,
    step_timeout: Duration,
    tag: String,
    /// The container's name, to remove it by when its Id never came back.
    name: String,
    report: SmokeReport,
    image_sent: bool,
    imported: bool,
    container_sent: bool,
    created: bool,
}

impl SmokeRun<'_> {
    fn new(socket: &Path, step_timeout: Duration) -> SmokeRun<'_> {
        let tag = unique_tag();
        SmokeRun {
            socket,
            step_timeout,
            name: format!("{SMOKE_NAME}-{tag}"),
            report: SmokeReport {
                image: format!("{SMOKE_NAME}:{tag}"),
                container: String::new(),
                expected: format!("dind-init smoke test {tag}\n"),
                read_back: String::new(),
                import_ms: 0.0,
                create_ms: 0.0,
                archive_ms: 0.0,
                cleanup_ms: 0.0,
                total_ms: 0.0,
            },
            tag,
            image_sent: false,
            imported: false,
            container_sent: false,
            created: false,
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::result::Result<Response, HttpError> {
        exchange(self.socket, method, path, headers, body, self.step_timeout)
    }

    /// The steps in order; the first failure stops them.
    fn steps(&mut self) -> StepResult<()> {
        self.import()?;
        let id = self.create()?;
        self.read_back(&id)
    }

    /// 1. Import a one-file image from an in-memory tar.
    fn import(&mut self) -> StepResult<()> {
        const IMPORT: (&str, &str) = ("import image", "POST /images/create");
        let tar = ustar_one_file(SMOKE_NAME, self.report.expected.as_bytes(), 0o755);
        let t = Instant::now();
        let import_path = format!(
            "/images/create?fromSrc=-&repo={SMOKE_NAME}&tag={}",
            self.tag
        );
        let r = self.call(
            "POST",
            &import_path,
            &[("Content-Type", "application/x-tar")],
            &tar,
        );
        let r = step_answer(IMPORT, r, 200, &mut self.image_sent, self.step_timeout)?;
        if let Some(m) = stream_error(&r.body) {
            return Err((classify(&Got::Said(&m)), step_failed(IMPORT, &m)));
        }
        self.imported = true;
        self.report.import_ms = ms(t.elapsed());
        Ok(())
    }

    /// 2. Create a container (never started: no runtime, no network needed); its Id.
    fn create(&mut self) -> StepResult<String> {
        const CREATE: (&str, &str) = ("create container", "POST /containers/create");
        let t = Instant::now();
        let spec = serde_json::json!({
            "Image": self.report.image,
            "Cmd": [format!("/{SMOKE_NAME}")],
            "NetworkDisabled": true,
            "Labels": { "dind-init.smoke": "1" },
            "HostConfig": { "NetworkMode": "none" },
        });
        let body = spec.to_string();
        let r = self.call(
            "POST",
            &format!("/containers/create?name={}", self.name),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let r = step_answer(CREATE, r, 201, &mut self.container_sent, self.step_timeout)?;
        self.created = true;
        let id = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.get("Id").and_then(|i| i.as_str()).map(str::to_string))
            .ok_or_else(|| {
                let m = "answer has no container Id";
                (classify(&Got::Said(m)), step_failed(CREATE, m))
            })?;
        self.report.container = id.clone();
        self.report.create_ms = ms(t.elapsed());
        Ok(id)
    }

    /// 3. Read the file back: this mounts the container's root filesystem.
    fn read_back(&mut self, id: &str) -> StepResult<()> {
        const ARCHIVE: (&str, &str) = ("mount container rootfs", "GET /containers/{id}/archive");
        let t = Instant::now();
        let r = self.call(
            "GET",
            &format!("/containers/{id}/archive?path=/{SMOKE_NAME}"),
            &[],
            &[],
        );
        // Reading makes nothing on the daemon, so there is nothing more to clean up.
        let r = step_answer(ARCHIVE, r, 200, &mut false, self.step_timeout)?;
        let got = tar_find_file(&r.body, SMOKE_NAME).ok_or_else(|| {
            let m = format!(
                "the archive ({} bytes) holds no file {SMOKE_NAME}",
                r.body.len()
            );
            (classify(&Got::Said(&m)), step_failed(ARCHIVE, &m))
        })?;
        self.report.read_back = String::from_utf8_lossy(&got).into_owned();
        self.report.archive_ms = ms(t.elapsed());
        if got != self.report.expected.as_bytes() {
            let m = format!(
                "read back {:?} instead of {:?}",
                self.report.read_back, self.report.expected
            );
            return Err((SmokeFailure::Other, step_failed(ARCHIVE, &m)));
        }
        Ok(())
    }

    /// 4. Remove what may exist on the daemon, whatever happened; the failures, if any.
    fn cleanup(&mut self) -> Vec<(SmokeFailure, String)> {
        let t = Instant::now();
        let mut cleanup_errors = Vec::new();
        // A create that failed mid-way may still have made the container: remove it by name then.
        let container_ref = if self.report.container.is_empty() {
            self.name.clone()
        } else {
            self.report.container.clone()
        };
        if self.created || self.container_sent {
            let what = format!("/containers/{container_ref}");
            cleanup_errors.extend(self.remove(&what, "force=1&v=1", &[204, 200], self.created));
        }
        if self.imported || self.image_sent {
            let what = format!("/images/{}", self.report.image);
            cleanup_errors.extend(self.remove(&what, "force=1&noprune=0", &[200], self.imported));
        }
        self.report.cleanup_ms = ms(t.elapsed());
        cleanup_errors
    }

    /// Remove `what` (`/containers/…`, `/images/…`); a 404 is fine when it was never
    /// confirmed made. The failure, for the report, if any.
    fn remove(
        &self,
        what: &str,
        query: &str,
        ok: &[u16],
        made: bool,
    ) -> Option<(SmokeFailure, String)> {
        let answer = self.call("DELETE", &format!("{what}?{query}"), &[], &[]);
        match answer {
            Ok(r) if ok.contains(&r.status) => None,
            Ok(r) if r.status == 404 && !made => None,
            Ok(r) => {
                let m = r.error_message();
                let f = classify(&Got::Status(r.status, &m));
                Some((f, format!("DELETE {what} answered {}: {m}", r.status)))
            }
            Err(e) => Some((
                classify(&Got::NoAnswer(&e)),
                format!("DELETE {what}: {}", e.describe(self.step_timeout)),
            )),
        }
    }
}

/// The report when the steps and the cleanup passed; else the first failure, with
/// any cleanup failure appended to a step's.
fn verdict(
    report: SmokeReport,
    outcome: StepResult<()>,
    cleanup_errors: &[(SmokeFailure, String)],
) -> std::result::Result<SmokeReport, SmokeError> {
    let cleanup_text: Vec<&str> = cleanup_errors.iter().map(|(_, m)| m.as_str()).collect();
    let cleanup_text = cleanup_text.join("; ");
    match (outcome, cleanup_errors.first()) {
        (Ok(()), None) => Ok(report),
        (Ok(()), Some((failure, _))) => Err(SmokeError {
            failure: *failure,
            msg: format!("smoke test cleanup failed: {cleanup_text}"),
        }),
        (Err((failure, msg)), clean) => Err(SmokeError {
            failure,
            msg: match clean {
                None => msg,
                Some(_) => format!("{msg} (cleanup also failed: {cleanup_text})"),
            },
        }),
    }
}

/// The answer to one request of smoke-test `step`, or why the step failed: no answer,
/// or a status other than `want`. Sets `sent` once the request may have reached the
/// daemon, which may then have made something that cleanup must remove.
fn step_answer(
    step: (&str, &str),
    answer: std::result::Result<Response, HttpError>,
    want: u16,
    sent: &mut bool,
    timeout: Duration,
) -> std::result::Result<Response, (SmokeFailure, String)> {
    let r = answer.map_err(|e| {
        *sent = !matches!(e, HttpError::Connect(_));
        (
            classify(&Got::NoAnswer(&e)),
            step_failed(step, &e.describe(timeout)),
        )
    })?;
    *sent = true;
    if r.status != want {
        let m = r.error_message();
        return Err((
            classify(&Got::Status(r.status, &m)),
            step_failed(step, &format!("answered {}: {m}", r.status)),
        ));
    }
    Ok(r)
}

fn step_failed((step, call): (&str, &str), detail: &str) -> String {
    format!(
        "smoke test step \"{step}\" ({call}) failed: {}",
        one_line(detail)
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A tag unique to this process and moment, so parallel or repeated runs never collide.
fn unique_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("p{}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// `/images/create` answers 200 and reports failures inside its JSON stream.
fn stream_error(body: &[u8]) -> Option<String> {
    for v in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
        let Ok(v) = v else { break };
        if let Some(m) = v
            .get("errorDetail")
            .and_then(|d| d.get("message"))
            .and_then(|m| m.as_str())
        {
            return Some(m.to_string());
        }
        if let Some(m) = v.get("error").and_then(|m| m.as_str()) {
            return Some(m.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::fake::{fake_daemon, http, read_request, Seen};
    use super::*;
    use std::io;
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};
    use tempfile::TempDir;

    #[test]
    fn import_stream_errors_are_found() {
        let ok = br#"{"status":"sha256:0123"}
"#;
        assert_eq!(stream_error(ok), None);
        let bad = br#"{"status":"Downloading"}
{"errorDetail":{"message":"failed to register layer: invalid argument"},"error":"failed to register layer: invalid argument"}
"#;
        assert_eq!(
            stream_error(bad).as_deref(),
            Some("failed to register layer: invalid argument")
        );
        assert_eq!(stream_error(br#"{"error":"x"}"#).as_deref(), Some("x"));
    }

    /// A fake Engine API for the smoke test; `archive` decides the archive answer.
    fn fake_engine(
        dir: &TempDir,
        n: usize,
        archive: impl Fn(&str) -> Vec<u8> + Send + 'static,
    ) -> (PathBuf, Seen, std::thread::JoinHandle<()>) {
        let content = Arc::new(Mutex::new(Vec::new()));
        let sock = dir.path().join("d.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let seen: Seen = Arc::default();
        let seen2 = Arc::clone(&seen);
        let h = std::thread::spawn(move || {
            for _ in 0..n {
                let (mut s, _) = listener.accept().unwrap();
                let (method, target, body) = read_request(&mut s);
                let out = if target.starts_with("/images/create") {
                    *content.lock().unwrap() = tar_find_file(&body, SMOKE_NAME).unwrap();
                    http("200 OK", "", b"{\"status\":\"sha256:abc\"}\r\n")
                } else if target.starts_with("/containers/create") {
                    let spec: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(spec["NetworkDisabled"], true);
                    assert_eq!(spec["Cmd"][0], "/dind-init-smoke");
                    http("201 Created", "", b"{\"Id\":\"c0ffee\",\"Warnings\":[]}")
                } else if target.starts_with("/containers/c0ffee/archive") {
                    let c = content.lock().unwrap().clone();
                    archive(std::str::from_utf8(&c).unwrap())
                } else if method == "DELETE" && target.starts_with("/containers/") {
                    http("204 No Content", "", b"")
                } else if method == "DELETE" && target.starts_with("/images/") {
                    http("200 OK", "", b"[{\"Untagged\":\"x\"}]")
                } else {
                    http("404 Not Found", "", b"{\"message\":\"unexpected\"}")
                };
                seen2.lock().unwrap().push((method, target, body));
                let _ = s.write_all(&out);
            }
        });
        (sock, seen, h)
    }

    fn targets(seen: &Seen) -> Vec<String> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(m, t, _)| format!("{m} {}", t.split('?').next().unwrap()))
            .collect()
    }

    #[test]
    fn smoke_test_passes_against_a_working_engine_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, seen, h) = fake_engine(&dir, 5, |content| {
            let tar = ustar_one_file(SMOKE_NAME, content.as_bytes(), 0o755);
            http("200 OK", "Content-Type: application/x-tar\r\n", &tar)
        });
        let r = smoke_test(&sock).unwrap();
        h.join().unwrap();
        assert_eq!(r.read_back, r.expected);
        assert!(r.expected.starts_with("dind-init smoke test p"));
        assert_eq!(r.container, "c0ffee");
        assert!(r.total_ms >= r.import_ms + r.create_ms + r.archive_ms);
        let t = targets(&seen);
        assert_eq!(
            t,
            vec![
                "POST /images/create",
                "POST /containers/create",
                "GET /containers/c0ffee/archive",
                "DELETE /containers/c0ffee",
                format!("DELETE /images/{}", r.image).as_str(),
            ]
        );
        let first = &seen.lock().unwrap()[0].1;
        assert!(
            first.contains("fromSrc=-&repo=dind-init-smoke&tag=p"),
            "{first}"
        );
    }

    #[test]
    fn smoke_test_failure_keeps_daemon_words_and_still_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let daemon_msg = "failed to mount /tmp/containerd-mount2787443106: invalid argument";
        let (sock, seen, h) = fake_engine(&dir, 5, move |_| {
            http(
                "500 Internal Server Error",
                "Content-Type: application/json\r\n",
                format!("{{\"message\":\"{daemon_msg}\"}}\n").as_bytes(),
            )
        });
        let e = smoke_test(&sock).unwrap_err();
        h.join().unwrap();
        let msg = e.to_string();
        assert!(msg.contains(daemon_msg), "{msg}");
        assert!(msg.contains("mount container rootfs"), "{msg}");
        assert!(msg.contains("DIND_DATA_ROOT"), "hint: {msg}");
        assert!(!msg.contains('\n'));
        let t = targets(&seen);
        assert_eq!(t[3], "DELETE /containers/c0ffee");
        assert!(
            t[4].starts_with("DELETE /images/dind-init-smoke:p"),
            "{t:?}"
        );
    }

    #[test]
    fn smoke_test_cleanup_accepts_404_only_for_what_was_never_confirmed_made() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, seen, h) = fake_daemon(&dir, 4, |method, target| {
            if target.starts_with("/images/create") {
                http("200 OK", "", b"{\"status\":\"sha256:abc\"}\r\n")
            } else if target.starts_with("/containers/create") {
                http(
                    "500 Internal Server Error",
                    "",
                    b"{\"message\":\"no space left on device\"}",
                )
            } else if method == "DELETE" && target.starts_with("/containers/") {
                http("404 Not Found", "", b"{\"message\":\"No such container\"}")
            } else {
                http("409 Conflict", "", b"{\"message\":\"image is in use\"}")
            }
        });
        let msg = smoke_test(&sock).unwrap_err().to_string();
        h.join().unwrap();
        assert!(
            msg.contains("\"create container\"") && msg.contains("no space left on device"),
            "{msg}"
        );
        assert!(!msg.contains("DELETE /containers/"), "{msg}");
        assert!(
            msg.contains("(cleanup also failed: DELETE /images/dind-init-smoke:p")
                && msg.contains("answered 409: image is in use)"),
            "{msg}"
        );
        let t = targets(&seen);
        assert!(
            t[2].starts_with("DELETE /containers/dind-init-smoke-p"),
            "by name: {t:?}"
        );
        assert!(
            t[3].starts_with("DELETE /images/dind-init-smoke:p"),
            "{t:?}"
        );
    }

    #[test]
    fn smoke_failures_are_classified_once_from_the_daemons_answer() {
        use SmokeFailure::*;
        let reset = HttpError::Io(io::Error::from_raw_os_error(libc::ECONNRESET));
        let refused = HttpError::Connect(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        let garbage = HttpError::Malformed("status line \"SSH-2.0\"".into());
        let snapshotter_einval = "failed to mount /tmp/containerd-mount2787443106: mount source: \"overlay\", target: \"/tmp/containerd-mount2787443106\", fstype: overlay, flags: 0, data: \"workdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/3/work,upperdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/3/fs,lowerdir=/var/lib/docker/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/2/fs\", err: invalid argument";
        let rows: Vec<(&str, Got, SmokeFailure)> = vec![
            (
                "ENOSPC creating the RW layer",
                Got::Status(500, "mkdir /home/coder/.docker-data/overlay2/3f1c9a-init: no space left on device"),
                Volume(Trouble::VolumeFull),
            ),
            (
                "ENOSPC in the import stream",
                Got::Said("write /var/lib/docker/tmp/docker-import-3141/dind-init-smoke: no space left on device"),
                Volume(Trouble::VolumeFull),
            ),
            (
                "ENOSPC inside the snapshotter's mount: still a full disk",
                Got::Status(500, "failed to mount /tmp/containerd-mount1: no space left on device"),
                Volume(Trouble::VolumeFull),
            ),
            (
                "EROFS",
                Got::Status(500, "mkdir /var/lib/docker/overlay2/abc: read-only file system"),
                Volume(Trouble::ReadOnly),
            ),
            (
                "EIO",
                Got::Status(500, "open /var/lib/docker/image/overlay2/layerdb/sha256/9c1b/diff: input/output error"),
                Volume(Trouble::Io),
            ),
            ("5 s step timeout", Got::NoAnswer(&HttpError::Timeout), Timeout),
            ("connection reset", Got::NoAnswer(&reset), ConnectionLost),
            ("dockerd crashed mid-answer", Got::NoAnswer(&HttpError::Closed), ConnectionLost),
            ("dockerd gone: connection refused", Got::NoAnswer(&refused), ConnectionLost),
            ("kernel EINVAL via the snapshotter (Docker 29)", Got::Status(500, snapshotter_einval), MountRefused),
            (
                "kernel EINVAL via graphdriver overlay2",
                Got::Status(500, "error creating overlay mount to /var/lib/docker/overlay2/5e0c/merged: invalid argument"),
                MountRefused,
            ),
            (
                "ENOTSUP",
                Got::Status(500, "mount overlay: operation not supported"),
                MountRefused,
            ),
            (
                "a 400 saying invalid argument is the request's fault",
                Got::Status(400, "invalid argument: Cmd"),
                Api { status: 400 },
            ),
            ("no such image", Got::Status(404, "No such image: dind-init-smoke:p1"), Api { status: 404 }),
            ("not HTTP", Got::NoAnswer(&garbage), Other),
        ];
        for (name, got, want) in rows {
            let f = classify(&got);
            assert_eq!(f, want, "{name}");
            assert_eq!(f.may_change_driver(), want == MountRefused, "{name}");
        }
        let e = Error::from(SmokeError {
            failure: Volume(Trouble::VolumeFull),
            msg: "smoke test step \"import image\" failed".into(),
        });
        let text = e.to_string();
        assert!(text.starts_with("volume full: "), "{text}");
        assert!(text.contains("docker system df"), "{text}");
    }

    #[test]
    fn a_full_or_read_only_volume_explains_any_smoke_failure() {
        use SmokeFailure::*;
        let roomy = VolumeNow {
            free_bytes: Some(40 << 30),
            read_only: false,
        };
        let full = VolumeNow {
            free_bytes: Some(4096),
            read_only: false,
        };
        let ro = VolumeNow {
            free_bytes: Some(40 << 30),
            read_only: true,
        };
        let unknown = VolumeNow::default();
        let rows = [
            (Api { status: 500 }, full, Volume(Trouble::VolumeFull)),
            (MountRefused, full, Volume(Trouble::VolumeFull)),
            (Timeout, full, Volume(Trouble::VolumeFull)),
            (Other, ro, Volume(Trouble::ReadOnly)),
            (Volume(Trouble::Io), full, Volume(Trouble::Io)),
            (MountRefused, roomy, MountRefused),
            (Api { status: 500 }, roomy, Api { status: 500 }),
            (ConnectionLost, unknown, ConnectionLost),
        ];
        for (failure, volume, want) in rows {
            assert_eq!(failure.given(&volume), want, "{failure:?} on {volume:?}");
        }
    }

    #[test]
    fn smoke_test_on_a_full_volume_says_volume_full() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, _seen, h) = fake_daemon(&dir, 2, |method, target| {
            if target.starts_with("/images/create") {
                http(
                    "200 OK",
                    "",
                    b"{\"status\":\"Importing\"}\r\n{\"errorDetail\":{\"message\":\"write /var/lib/docker/tmp/docker-import-1/x: no space left on device\"},\"error\":\"write /var/lib/docker/tmp/docker-import-1/x: no space left on device\"}\r\n",
                )
            } else {
                assert_eq!(method, "DELETE");
                http("404 Not Found", "", b"{\"message\":\"No such image\"}")
            }
        });
        let e = smoke_test_typed(&sock, Duration::from_secs(5)).unwrap_err();
        h.join().unwrap();
        assert_eq!(
            e.failure,
            SmokeFailure::Volume(Trouble::VolumeFull),
            "{e:?}"
        );
        assert!(!e.failure.may_change_driver());
    }

    #[test]
    fn smoke_test_wrong_content_is_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, _seen, h) = fake_engine(&dir, 5, |_| {
            let tar = ustar_one_file(SMOKE_NAME, b"something else", 0o755);
            http("200 OK", "", &tar)
        });
        let msg = smoke_test(&sock).unwrap_err().to_string();
        h.join().unwrap();
        assert!(msg.contains("read back \"something else\""), "{msg}");
    }

    #[test]
    fn smoke_test_without_daemon_fails_fast_with_socket_named() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let t = Instant::now();
        let msg = smoke_test(&sock).unwrap_err().to_string();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(
            msg.contains("import image") && msg.contains("connect"),
            "{msg}"
        );
    }
}
