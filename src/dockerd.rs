//! The pieces PID 1's loop uses to run Docker: readiness (`GET /_ping`), a smoke
//! test proving that a container root filesystem really mounts on the chosen
//! storage, stale pidfile detection, a log pump for the daemons' output, and a
//! diagnosis of their last lines in plain words.
//!
//! Nothing here spawns, waits for or reaps a process, or touches signals: `init`
//! owns every child and reaps with `waitpid(-1)`. Everything that talks to a
//! daemon is bounded by a timeout so PID 1 is never stuck on a hung socket.

use crate::error::{Error, Result};
use crate::probe::Trouble;
use serde::Serialize;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest response header block accepted (Docker's are well under 1 KiB).
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted, so a confused peer cannot exhaust PID 1's memory.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Budget for each Engine API call of the smoke test; vfs copies layers, so give it room.
const SMOKE_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Name of the smoke image's repository, its single file, and its containers' prefix.
pub const SMOKE_NAME: &str = "dind-init-smoke";
/// How many of a daemon's last lines [`LogPump`] keeps for diagnosis.
pub const TAIL_LINES: usize = 40;
/// Longest line kept by [`LogPump`]; the rest of a longer line is dropped.
const MAX_LINE: usize = 16 * 1024;
/// Stack of a log pump thread: it only moves lines, and PID 1 should stay small.
const PUMP_STACK: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// A tiny HTTP/1.0 client over a unix socket.
// ---------------------------------------------------------------------------

/// One HTTP response from the Docker Engine API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header fields in the order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked encoding removed).
    pub body: Vec<u8>,
}

impl Response {
    /// First header named `name` (case-insensitive), so callers need not care how Go capitalised it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The daemon's error text, verbatim: `message` of Docker's JSON error body,
    /// else the body as text, else the status code.
    pub fn error_message(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) {
            if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
                return one_line(m);
            }
        }
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            one_line(text)
        }
    }
}

/// Why an exchange failed; `ping` maps some of these to "not ready yet".
#[derive(Debug)]
enum HttpError {
    /// connect(2) failed (ENOENT, ECONNREFUSED, EACCES…).
    Connect(io::Error),
    /// The deadline passed (while writing or reading).
    Timeout,
    /// The peer closed the connection before a complete response header.
    Closed,
    /// Another I/O error on the connection.
    Io(io::Error),
    /// The peer answered something that is not the HTTP we understand.
    Malformed(String),
}

impl HttpError {
    /// Render for a one-line message.
    fn describe(&self, timeout: Duration) -> String {
        match self {
            HttpError::Connect(e) => format!("connect: {e}"),
            HttpError::Timeout => format!("no complete answer within {} ms", timeout.as_millis()),
            HttpError::Closed => "the daemon closed the connection without answering".into(),
            HttpError::Io(e) => e.to_string(),
            HttpError::Malformed(m) => format!("not an HTTP answer: {m}"),
        }
    }
}

/// Send one request to the Engine API on `socket` and read the whole response.
///
/// Plain HTTP/1.0 (one request per connection, so the daemon closes when done);
/// the response may be sized by Content-Length, chunked, or end at EOF. The
/// whole exchange, connect included, is bounded by `timeout`.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response> {
    exchange(socket, method, path, headers, body, timeout).map_err(|e| {
        let hint = match &e {
            HttpError::Connect(c) if is_not_listening(c) => {
                "dockerd is not running or not listening there; check its log lines above"
                    .to_string()
            }
            HttpError::Connect(c) if c.kind() == io::ErrorKind::PermissionDenied => {
                "run as root or as a member of the socket's group (DIND_DOCKER_GROUP)".to_string()
            }
            HttpError::Timeout => {
                "dockerd is hung or overloaded; see its log lines above".to_string()
            }
            _ => "check that the path is dockerd's API socket (-H unix://…)".to_string(),
        };
        Error::Docker {
            msg: format!(
                "{method} {path} on {}: {}",
                socket.display(),
                e.describe(timeout)
            ),
            hint,
        }
    })
}

/// True for the connect errors that mean "nobody listens there (yet)".
fn is_not_listening(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR)
    )
}

fn exchange(
    socket: &Path,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::result::Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    // A unix connect only blocks when the listener's backlog is full; dockerd's
    // Go listener uses the kernel maximum, so this returns at once in practice.
    let stream = UnixStream::connect(socket).map_err(HttpError::Connect)?;
    let mut head = format!(
        "{method} {target} HTTP/1.0\r\nHost: docker\r\nUser-Agent: dind-init/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        start: 0,
        deadline,
    };
    // If the daemon answers early (an error) and closes, writing fails with
    // EPIPE/ECONNRESET; its answer is still worth reading.
    let wrote = conn
        .write_all(head.as_bytes())
        .and_then(|_| conn.write_all(body));
    match wrote {
        Ok(()) => {}
        Err(HttpError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) => {}
        Err(e) => return Err(e),
    }
    conn.read_response(method)
}

/// One connection with a read buffer and an absolute deadline.
struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    start: usize,
    deadline: Instant,
}

impl Conn {
    fn remaining(&self) -> std::result::Result<Duration, HttpError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(HttpError::Timeout)
        } else {
            Ok(left)
        }
    }

    fn write_all(&mut self, mut data: &[u8]) -> std::result::Result<(), HttpError> {
        while !data.is_empty() {
            let left = self.remaining()?;
            self.stream
                .set_write_timeout(Some(left))
                .map_err(HttpError::Io)?;
            match self.stream.write(data) {
                Ok(0) => return Err(HttpError::Closed),
                Ok(n) => data = data.get(n..).unwrap_or(&[]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(HttpError::Timeout),
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
        Ok(())
    }

    /// Read more bytes into the buffer; Ok(0) at EOF.
    fn fill(&mut self) -> std::result::Result<usize, HttpError> {
        let mut chunk = [0u8; 8192];
        loop {
            let left = self.remaining()?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(HttpError::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(HttpError::Timeout),
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
    }

    fn avail(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    /// Take `n` buffered bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.avail().get(..n).unwrap_or(&[]).to_vec();
        self.start += out.len();
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        out
    }

    /// A line without its CRLF; None at EOF before any byte of it.
    fn read_line(&mut self) -> std::result::Result<Option<Vec<u8>>, HttpError> {
        loop {
            if let Some(i) = self.avail().iter().position(|&b| b == b'\n') {
                let mut line = self.take(i + 1);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.avail().len() > MAX_HEAD {
                return Err(HttpError::Malformed("line too long".into()));
            }
            if self.fill()? == 0 {
                return if self.avail().is_empty() {
                    Ok(None)
                } else {
                    Err(HttpError::Malformed("connection closed mid-line".into()))
                };
            }
        }
    }

    fn read_exact(&mut self, n: usize) -> std::result::Result<Vec<u8>, HttpError> {
        while self.avail().len() < n {
            if self.fill()? == 0 {
                return Err(HttpError::Malformed(format!(
                    "body ended after {} of {n} bytes",
                    self.avail().len()
                )));
            }
        }
        Ok(self.take(n))
    }

    fn read_to_eof(&mut self) -> std::result::Result<Vec<u8>, HttpError> {
        while self.fill()? > 0 {
            if self.avail().len() > MAX_BODY {
                return Err(HttpError::Malformed("body too large".into()));
            }
        }
        let n = self.avail().len();
        Ok(self.take(n))
    }

    fn read_response(&mut self, method: &str) -> std::result::Result<Response, HttpError> {
        let status_line = match self.read_line()? {
            Some(l) => l,
            None => return Err(HttpError::Closed),
        };
        let status = parse_status_line(&status_line)?;
        let mut headers = Vec::new();
        let mut head_len = status_line.len();
        loop {
            let line = match self.read_line()? {
                Some(l) => l,
                None => return Err(HttpError::Closed),
            };
            if line.is_empty() {
                break;
            }
            head_len += line.len();
            if head_len > MAX_HEAD {
                return Err(HttpError::Malformed("header too large".into()));
            }
            let text = String::from_utf8_lossy(&line);
            if let Some((k, v)) = text.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            return Ok(resp);
        }
        let chunked = resp
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        resp.body = if chunked {
            self.read_chunked()?
        } else if let Some(len) = resp.header("Content-Length") {
            let n: usize = len
                .parse()
                .map_err(|_| HttpError::Malformed(format!("Content-Length {len:?}")))?;
            if n > MAX_BODY {
                return Err(HttpError::Malformed("body too large".into()));
            }
            self.read_exact(n)?
        } else {
            self.read_to_eof()?
        };
        Ok(resp)
    }

    fn read_chunked(&mut self) -> std::result::Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self
                .read_line()?
                .ok_or_else(|| HttpError::Malformed("chunked body ended early".into()))?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| HttpError::Malformed(format!("chunk size {size_text:?}")))?;
            if size == 0 {
                // Trailers until an empty line; EOF is as good.
                while let Some(l) = self.read_line()? {
                    if l.is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            if body.len().saturating_add(size) > MAX_BODY {
                return Err(HttpError::Malformed("body too large".into()));
            }
            body.extend_from_slice(&self.read_exact(size)?);
            match self.read_line()? {
                Some(l) if l.is_empty() => {}
                _ => return Err(HttpError::Malformed("chunk not followed by CRLF".into())),
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn parse_status_line(line: &[u8]) -> std::result::Result<u16, HttpError> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    let proto = words.next().unwrap_or("");
    let code = words.next().unwrap_or("");
    match (proto.starts_with("HTTP/"), code.parse::<u16>()) {
        (true, Ok(c)) if (100..600).contains(&c) => Ok(c),
        _ => Err(HttpError::Malformed(format!(
            "status line {:?}",
            text.chars().take(60).collect::<String>()
        ))),
    }
}

/// Collapse a multi-line daemon message into one line (messages must be one line).
fn one_line(s: &str) -> String {
    let s = s.trim();
    if s.contains('\n') {
        s.split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------
// Readiness.
// ---------------------------------------------------------------------------

/// Is dockerd serving its API on `socket`? `GET /_ping` must answer 200 "OK".
///
/// Ok(false) means "not (yet) ready": no socket file (ENOENT, a few µs), a stale
/// socket nobody listens on (ECONNREFUSED), the connection closed or reset (the
/// daemon is dying), a 5xx, or no answer within `timeout`. dockerd creates its
/// socket before it serves, so a connect can succeed and the answer come only
/// once the daemon is up: `timeout` bounds how long one call can hold PID 1.
/// Err means the socket is unusable in a way retrying will not fix (permission
/// denied, or it is not a Docker API).
pub fn ping(socket: &Path, timeout: Duration) -> Result<bool> {
    match exchange(socket, "GET", "/_ping", &[], &[], timeout) {
        Ok(r) if r.status == 200 => Ok(r.body.trim_ascii() == b"OK"),
        Ok(r) if r.status >= 500 => Ok(false),
        Ok(r) => Err(Error::Docker {
            msg: format!(
                "GET /_ping on {} answered {}: {}",
                socket.display(),
                r.status,
                r.error_message()
            ),
            hint: "point -H / DOCKER_HOST at dockerd's API socket".into(),
        }),
        Err(HttpError::Connect(e)) if is_not_listening(&e) => Ok(false),
        Err(HttpError::Timeout) | Err(HttpError::Closed) => Ok(false),
        Err(HttpError::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(false)
        }
        Err(e) => {
            let hint = match &e {
                HttpError::Connect(c) if c.kind() == io::ErrorKind::PermissionDenied => {
                    "run dind-init as root"
                }
                _ => "point -H at dockerd's API socket; something else listens there",
            };
            Err(Error::Docker {
                msg: format!(
                    "GET /_ping on {}: {}",
                    socket.display(),
                    e.describe(timeout)
                ),
                hint: hint.into(),
            })
        }
    }
}

/// Does containerd answer on its gRPC `socket`? A plain connect is enough:
/// containerd binds its gRPC socket only after `server.New` has loaded every
/// plugin (containerd's cmd/containerd/command/main.go calls `server.New`, whose
/// loop runs each plugin's `Init`, before `sys.GetLocalListener(config.GRPC.Address, …)`;
/// its log shows all "loading plugin" lines before "serving… containerd.sock").
/// Plugins that register async readiness (CRI, disabled for Docker) may still be
/// starting; dockerd does not need them.
pub fn containerd_answers(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

// ---------------------------------------------------------------------------
// Smoke test.
// ---------------------------------------------------------------------------

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
            SmokeFailure::Volume(t) => t.remedy().into(),
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
    let tag = unique_tag();
    let image = format!("{SMOKE_NAME}:{tag}");
    let name = format!("{SMOKE_NAME}-{tag}");
    let expected = format!("dind-init smoke test {tag}\n");
    let tar = ustar_one_file(SMOKE_NAME, expected.as_bytes(), 0o755);
    let mut report = SmokeReport {
        image: image.clone(),
        container: String::new(),
        expected: expected.clone(),
        read_back: String::new(),
        import_ms: 0.0,
        create_ms: 0.0,
        archive_ms: 0.0,
        cleanup_ms: 0.0,
        total_ms: 0.0,
    };
    let call = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        exchange(socket, method, path, headers, body, step_timeout)
    };

    // What may exist on the daemon and so must be removed, whatever happens.
    let mut image_sent = false;
    let mut imported = false;
    let mut container_sent = false;
    let mut created = false;

    // 1. Import.
    let t = Instant::now();
    let import_path = format!("/images/create?fromSrc=-&repo={SMOKE_NAME}&tag={tag}");
    let outcome: std::result::Result<(), (SmokeFailure, String)> = (|| {
        const IMPORT: (&str, &str) = ("import image", "POST /images/create");
        let r = call(
            "POST",
            &import_path,
            &[("Content-Type", "application/x-tar")],
            &tar,
        );
        let r = step_answer(IMPORT, r, 200, &mut image_sent, step_timeout)?;
        if let Some(m) = stream_error(&r.body) {
            return Err((classify(&Got::Said(&m)), step_failed(IMPORT, &m)));
        }
        imported = true;
        report.import_ms = ms(t.elapsed());

        // 2. Create (never started: no runtime, no network needed).
        const CREATE: (&str, &str) = ("create container", "POST /containers/create");
        let t = Instant::now();
        let spec = serde_json::json!({
            "Image": image,
            "Cmd": [format!("/{SMOKE_NAME}")],
            "NetworkDisabled": true,
            "Labels": { "dind-init.smoke": "1" },
            "HostConfig": { "NetworkMode": "none" },
        });
        let body = spec.to_string();
        let r = call(
            "POST",
            &format!("/containers/create?name={name}"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let r = step_answer(CREATE, r, 201, &mut container_sent, step_timeout)?;
        created = true;
        let id = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.get("Id").and_then(|i| i.as_str()).map(str::to_string))
            .ok_or_else(|| {
                let m = "answer has no container Id";
                (classify(&Got::Said(m)), step_failed(CREATE, m))
            })?;
        report.container = id.clone();
        report.create_ms = ms(t.elapsed());

        // 3. Read the file back: this mounts the container's root filesystem.
        const ARCHIVE: (&str, &str) = ("mount container rootfs", "GET /containers/{id}/archive");
        let t = Instant::now();
        let r = call(
            "GET",
            &format!("/containers/{id}/archive?path=/{SMOKE_NAME}"),
            &[],
            &[],
        );
        // Reading makes nothing on the daemon, so there is nothing more to clean up.
        let r = step_answer(ARCHIVE, r, 200, &mut false, step_timeout)?;
        let got = tar_find_file(&r.body, SMOKE_NAME).ok_or_else(|| {
            let m = format!(
                "the archive ({} bytes) holds no file {SMOKE_NAME}",
                r.body.len()
            );
            (classify(&Got::Said(&m)), step_failed(ARCHIVE, &m))
        })?;
        report.read_back = String::from_utf8_lossy(&got).into_owned();
        report.archive_ms = ms(t.elapsed());
        if got != expected.as_bytes() {
            let m = format!(
                "read back {:?} instead of {:?}",
                report.read_back, report.expected
            );
            return Err((SmokeFailure::Other, step_failed(ARCHIVE, &m)));
        }
        Ok(())
    })();

    // 4. Clean up, whatever happened.
    let t = Instant::now();
    let mut cleanup_errors = Vec::new();
    // A create that failed mid-way may still have made the container: remove it by name then.
    let container_ref = if report.container.is_empty() {
        name.clone()
    } else {
        report.container.clone()
    };
    // Remove `what` (`/containers/…`, `/images/…`); a 404 is fine when it was never
    // confirmed made. The failure, for the report, if any.
    let remove = |what: &str, query: &str, ok: &[u16], made: bool| {
        let answer = call("DELETE", &format!("{what}?{query}"), &[], &[]);
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
                format!("DELETE {what}: {}", e.describe(step_timeout)),
            )),
        }
    };
    if created || container_sent {
        let what = format!("/containers/{container_ref}");
        cleanup_errors.extend(remove(&what, "force=1&v=1", &[204, 200], created));
    }
    if imported || image_sent {
        let what = format!("/images/{image}");
        cleanup_errors.extend(remove(&what, "force=1&noprune=0", &[200], imported));
    }
    report.cleanup_ms = ms(t.elapsed());
    report.total_ms = ms(t0.elapsed());

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

// ---------------------------------------------------------------------------
// Minimal tar: write one file, find one file.
// ---------------------------------------------------------------------------

/// A tar archive (ustar) holding one regular file, owned by root, mtime now.
fn ustar_one_file(name: &str, content: &[u8], mode: u32) -> Vec<u8> {
    let mut h = [0u8; 512];
    put(&mut h[0..100], name.as_bytes());
    put_octal(&mut h[100..108], u64::from(mode));
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    put_octal(&mut h[124..136], content.len() as u64);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    put_octal(&mut h[136..148], now);
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    put(&mut h[257..263], b"ustar\0");
    put(&mut h[263..265], b"00");
    put(&mut h[265..297], b"root");
    put(&mut h[297..329], b"root");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h[148..156], format!("{sum:06o}\0 ").as_bytes());
    let mut out = Vec::with_capacity(512 + content.len() + 512 + 1024);
    out.extend_from_slice(&h);
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.resize(out.len() + 1024, 0);
    out
}

fn put(field: &mut [u8], bytes: &[u8]) {
    for (d, s) in field.iter_mut().zip(bytes) {
        *d = *s;
    }
}

/// Zero-padded octal digits filling the field but its last byte, which stays NUL.
fn put_octal(field: &mut [u8], v: u64) {
    let width = field.len().saturating_sub(1);
    put(field, format!("{v:0width$o}").as_bytes());
}

/// The content of regular file `name` in a tar stream (ustar, GNU long names, PAX paths).
fn tar_find_file(tar: &[u8], name: &str) -> Option<Vec<u8>> {
    let want = name.trim_start_matches("./").trim_start_matches('/');
    let mut off = 0usize;
    let mut next_name: Option<String> = None;
    while let Some(h) = tar.get(off..off.checked_add(512)?) {
        if h.iter().all(|&b| b == 0) {
            return None;
        }
        let size = tar_size(h.get(124..136)?)?;
        let data_start = off + 512;
        let data = tar.get(data_start..data_start.checked_add(size)?)?;
        let typ = *h.get(156)?;
        let mut entry = cstr(h.get(0..100)?);
        let prefix = cstr(h.get(345..500)?);
        if h.get(257..262) == Some(b"ustar") && !prefix.is_empty() {
            entry = format!("{prefix}/{entry}");
        }
        if let Some(n) = next_name.take() {
            entry = n;
        }
        match typ {
            b'L' => next_name = Some(cstr(data)),
            b'x' => next_name = pax_path(data),
            b'0' | 0 | b'7' if entry.trim_start_matches("./").trim_start_matches('/') == want => {
                return Some(data.to_vec());
            }
            _ => {}
        }
        off = data_start.checked_add(size.div_ceil(512) * 512)?;
    }
    None
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or(&[])).into_owned()
}

/// A size field: octal text, or GNU base-256 when the high bit is set.
fn tar_size(field: &[u8]) -> Option<usize> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field.first()? & 0x7f);
        for &b in field.get(1..)? {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return usize::try_from(v).ok();
    }
    let text = cstr(field);
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Some(0);
    }
    usize::from_str_radix(text, 8).ok()
}

/// The `path` record of a PAX extended header ("<len> path=<value>\n" records).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|rec| {
        let (_, kv) = rec.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

// ---------------------------------------------------------------------------
// Stale pidfiles.
// ---------------------------------------------------------------------------

/// Is the pidfile at `path` stale? None when there is no file. Stale when its PID
/// is not alive under `proc_root` (normally `/proc`), or is alive but its argv[0]
/// basename is none of `names` (e.g. `["dockerd"]`): after a pod restart the old
/// PID is often reused by an unrelated process (even by dind-init itself as PID 1),
/// and dockerd/containerd would refuse to start on it. A live daemon is never
/// called stale. Unreadable content counts as stale (dockerd overwrites it too).
pub fn pidfile_is_stale(path: &Path, proc_root: &Path, names: &[&str]) -> Result<Option<bool>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read pidfile", path, e)),
    };
    let holder = crate::probe::pidfile_holder(&text, names, |pid| {
        let cmdline_path = proc_root.join(pid.to_string()).join("cmdline");
        match std::fs::read(&cmdline_path) {
            Ok(c) => Ok(Some(c)),
            // Gone, or exited while we read (ESRCH).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io("read", &cmdline_path, e)),
        }
    })?;
    Ok(Some(holder.is_none()))
}

// ---------------------------------------------------------------------------
// Log pump.
// ---------------------------------------------------------------------------

/// Copies a daemon's output, line by line, to stderr (prefixed `<name>: `, so
/// `kubectl logs` tells dockerd from containerd) and optionally appends the raw
/// lines to a file; keeps the last [`TAIL_LINES`] lines for [`diagnose`].
///
/// Runs on its own small thread so PID 1's loop never blocks on a pipe. It ends
/// at EOF (every writer closed). Dropping a `LogPump` detaches the thread: it
/// never joins, because a daemon's children may keep the pipe open.
pub struct LogPump {
    name: String,
    ring: Arc<Mutex<VecDeque<String>>>,
    handle: JoinHandle<()>,
}

impl LogPump {
    /// Start pumping `pipe` (the read end of the daemon's stdout/stderr pipe).
    /// A log file that cannot be opened or written is reported once on stderr
    /// and then skipped; only failing to start the thread is an error.
    pub fn start<R: Read + Send + 'static>(
        name: &str,
        pipe: R,
        log_file: Option<&Path>,
    ) -> Result<LogPump> {
        let ring = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let file = log_file.and_then(|p| {
            match OpenOptions::new().create(true).append(true).open(p) {
                Ok(f) => Some((p.to_path_buf(), f)),
                Err(e) => {
                    write_stderr(&format!(
                        "dind-init: cannot append {name} output to {}: {e}; logging to stderr only\n",
                        p.display()
                    ));
                    None
                }
            }
        });
        let thread_name = format!("log-{name}");
        let prefix = format!("{name}: ");
        let ring2 = Arc::clone(&ring);
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .stack_size(PUMP_STACK)
            .spawn(move || pump(&prefix, pipe, file, &ring2))
            .map_err(|e| {
                Error::sys(
                    format!("pthread_create (log pump for {name})"),
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)),
                    "raise the pod's pids limit",
                )
            })?;
        Ok(LogPump {
            name: name.to_string(),
            ring,
            handle,
        })
    }

    /// The last lines seen (oldest first), for the failure report and [`diagnose`].
    pub fn tail(&self) -> Vec<String> {
        lock(&self.ring).iter().cloned().collect()
    }

    /// True once the pipe reached EOF and every line was written out.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The name lines are prefixed with.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Lock the ring even if a holder panicked: the data is lines, always usable.
fn lock(ring: &Mutex<VecDeque<String>>) -> std::sync::MutexGuard<'_, VecDeque<String>> {
    ring.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

fn pump<R: Read>(
    prefix: &str,
    pipe: R,
    mut file: Option<(PathBuf, File)>,
    ring: &Mutex<VecDeque<String>>,
) {
    let mut reader = BufReader::with_capacity(8192, pipe);
    let mut line: Vec<u8> = Vec::new();
    let mut emit = |line: &mut Vec<u8>| {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8_lossy(line).into_owned();
        let mut out = String::with_capacity(prefix.len() + text.len() + 1);
        out.push_str(prefix);
        out.push_str(&text);
        out.push('\n');
        write_stderr(&out);
        if let Some((path, f)) = &mut file {
            line.push(b'\n');
            if let Err(e) = f.write_all(line) {
                write_stderr(&format!(
                    "dind-init: cannot append to {}: {e}; logging to stderr only\n",
                    path.display()
                ));
                file = None;
            }
        }
        let mut r = lock(ring);
        if r.len() >= TAIL_LINES {
            r.pop_front();
        }
        r.push_back(text);
        drop(r);
        line.clear();
    };
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if buf.is_empty() {
            break;
        }
        let (piece, used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (buf.get(..i).unwrap_or(&[]), i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(piece.get(..piece.len().min(room)).unwrap_or(&[]));
        reader.consume(used);
        if complete {
            emit(&mut line);
        }
    }
    if !line.is_empty() {
        emit(&mut line);
    }
}

// ---------------------------------------------------------------------------
// Diagnosis.
// ---------------------------------------------------------------------------

/// Turn a daemon's last lines into one plain sentence saying what is wrong and
/// what to do, for the known ways dockerd/containerd fail in pods; None when no
/// line is recognised. `data_root` and `driver` are what dind-init asked for.
/// Rules are tried in order (the storage problems this tool exists for first),
/// each against every line.
pub fn diagnose(lines: &[String], data_root: &Path, driver: &str) -> Option<String> {
    let lower: Vec<String> = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
    let find = |pred: &dyn Fn(&str) -> bool| lower.iter().position(|l| pred(l));
    let root = data_root.display();

    if find(&|l| l.contains("overlay not found as a supported filesystem")).is_some() {
        return Some(format!(
            "the kernel has no overlay filesystem, so storage driver {driver} cannot start; \
             load it on the node (modprobe overlay) or set DIND_STORAGE_DRIVER=fuse-overlayfs (or vfs)"
        ));
    }
    if find(&|l| {
        l.contains("mount") && l.contains("operation not permitted") && !l.contains("cgroup")
    })
    .is_some()
    {
        return Some(
            "dockerd may not mount filesystems: the pod is not privileged — \
             set securityContext.privileged: true on the container"
                .to_string(),
        );
    }
    if find(&|l| {
        l.contains("driver not supported")
            || l.contains("not supported as upperdir")
            || l.contains("failed to mount overlay: invalid argument")
            || (l.contains("containerd-mount") && l.contains("invalid argument"))
            || (l.contains("fstype: overlay") && l.contains("invalid argument"))
            || l.contains("is not supported over overlay")
            || l.contains("backing file system is unsupported for this graph driver")
    })
    .is_some()
    {
        return Some(format!(
            "storage driver {driver} cannot work on overlayfs; data root is {root} — \
             set DIND_DATA_ROOT to a directory on the pod's persistent volume"
        ));
    }
    if find(&|l| l.contains("contains several valid graphdrivers")).is_some() {
        return Some(format!(
            "{root} holds data of several storage drivers and dockerd will not guess; \
             set DIND_STORAGE_DRIVER to the one to keep (the other driver's directory in {root} can then be removed)"
        ));
    }
    if let Some(i) = find(&|l| l.contains("error initializing graphdriver")) {
        let detail = after(lines.get(i)?, "error initializing graphdriver");
        return Some(format!(
            "dockerd could not start storage driver {driver} on {root}{detail}; \
             set DIND_STORAGE_DRIVER=auto or put DIND_DATA_ROOT on the pod's persistent volume"
        ));
    }
    if let Some(i) = find(&|l| l.contains("pid file found, ensure docker is not running")) {
        let file = lines
            .get(i)
            .and_then(|l| l.split("or delete ").nth(1))
            .map(|f| f.trim().trim_end_matches('"').to_string())
            .unwrap_or_else(|| "docker.pid".into());
        return Some(format!(
            "{file} names a running process, so dockerd thinks another dockerd is running; \
             stop that dockerd, or delete {file} if the process is not dockerd"
        ));
    }
    if find(&|l| l.contains("address already in use")).is_some() {
        return Some(
            "dockerd's API socket address is already in use: another dockerd runs in this pod, \
             or -H/\"hosts\" (DIND_DOCKERD_ARGS, daemon.json) names a taken address"
                .to_string(),
        );
    }
    if find(&|l| {
        l.contains("iptables")
            && (l.contains("failed")
                || l.contains("permission denied")
                || l.contains("not found")
                || l.contains("can't initialize")
                || l.contains("protocol not supported")
                || l.contains("error"))
    })
    .is_some()
    {
        return Some(
            "dockerd cannot set up iptables (NAT for containers): run the pod privileged, \
             or add --iptables=false --ip6tables=false to DIND_DOCKERD_ARGS (containers then get no NAT)"
                .to_string(),
        );
    }
    if find(&|l| {
        l.contains("cgroup")
            && (l.contains("permission denied")
                || l.contains("read-only file system")
                || l.contains("operation not permitted"))
    })
    .is_some()
    {
        return Some(
            "dockerd cannot write the cgroup filesystem (permission denied), so containers cannot start; \
             run the pod privileged (securityContext.privileged: true)"
                .to_string(),
        );
    }
    if find(&|l| l.contains("needs to be started with root privileges")).is_some() {
        return Some("dockerd must run as root: run dind-init as root (set DIND_USER for the session instead)".into());
    }
    if let Some(t) = lines.iter().rev().find_map(|l| Trouble::from_text(l)) {
        return Some(format!(
            "{}: the volume holding {root} cannot be written; {}",
            t.words(),
            t.remedy()
        ));
    }
    if find(&|l| {
        l.contains("timeout waiting for containerd to start")
            || l.contains("containerd did not exit successfully")
            || l.contains("failed to start containerd")
            || l.contains("failed connecting to containerd")
    })
    .is_some()
    {
        return Some(
            "containerd did not start or died; its own lines above say why \
             (DIND_CONTAINERD=managed lets dockerd start it instead)"
                .to_string(),
        );
    }
    None
}

/// `": <rest>"` of `line` after `marker` (case-insensitive), or "" when nothing follows.
fn after(line: &str, marker: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let Some(i) = lower.find(marker) else {
        return String::new();
    };
    let rest = line
        .get(i + marker.len()..)
        .unwrap_or("")
        .trim_start_matches(':')
        .trim()
        .trim_end_matches('"');
    if rest.is_empty() {
        String::new()
    } else {
        format!(": {rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temp dir removed on drop (no tempfile crate).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "dind-init-dockerd-{}-{}-{tag}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What the fake daemon saw: method, target, body.
    type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

    /// A fake daemon on a unix socket answering `n` connections with `answer(method, target)`
    /// (raw bytes, written as is, then the connection is closed).
    fn fake_daemon(
        dir: &TempDir,
        n: usize,
        answer: impl Fn(&str, &str) -> Vec<u8> + Send + 'static,
    ) -> (PathBuf, Seen, std::thread::JoinHandle<()>) {
        let sock = dir.0.join("d.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let seen: Seen = Arc::default();
        let seen2 = Arc::clone(&seen);
        let h = std::thread::spawn(move || {
            for _ in 0..n {
                let (mut s, _) = listener.accept().unwrap();
                let (method, target, body) = read_request(&mut s);
                let out = answer(&method, &target);
                seen2.lock().unwrap().push((method, target, body));
                let _ = s.write_all(&out);
            }
        });
        (sock, seen, h)
    }

    fn read_request(s: &mut UnixStream) -> (String, String, Vec<u8>) {
        let mut buf = Vec::new();
        let mut b = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "client closed before the request header ended");
            buf.extend_from_slice(&b[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        assert!(head.contains("\r\nHost: docker\r\n"), "{head}");
        let first = head.lines().next().unwrap().to_string();
        let mut words = first.split(' ');
        let method = words.next().unwrap().to_string();
        let target = words.next().unwrap().to_string();
        assert_eq!(words.next(), Some("HTTP/1.0"));
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0);
            body.extend_from_slice(&b[..n]);
        }
        (method, target, body)
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut v = format!("HTTP/1.1 {status}\r\n{headers}\r\n").into_bytes();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn request_reads_content_length_chunked_and_eof_bodies() {
        let dir = TempDir::new("bodies");
        let (sock, seen, h) = fake_daemon(&dir, 3, |_, target| {
            match target {
            "/len" => http("200 OK", "Content-Length: 5\r\nX-A: b\r\n", b"hello"),
            "/chunked" => http(
                "200 OK",
                "Transfer-Encoding: chunked\r\n",
                b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n",
            ),
            _ => http("404 Not Found", "", b"{\"message\":\"page not found\"}"),
        }
        });
        let t = Duration::from_secs(5);
        let r = request(&sock, "GET", "/len", &[], &[], t).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(r.header("x-a"), Some("b"));
        let r = request(&sock, "POST", "/chunked", &[("X-Y", "z")], b"abc", t).unwrap();
        assert_eq!(r.body, b"Wikipedia in\r\n\r\nchunks.");
        let r = request(&sock, "GET", "/eof", &[], &[], t).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.error_message(), "page not found");
        h.join().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen[1].0, "POST");
        assert_eq!(seen[1].2, b"abc");
    }

    #[test]
    fn request_times_out_on_a_silent_daemon() {
        let dir = TempDir::new("silent");
        let sock = dir.0.join("d.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let h = std::thread::spawn(move || {
            // Accepted but never answered, like dockerd between binding its socket and serving.
            let (s1, _) = listener.accept().unwrap();
            let (s2, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(600));
            drop((s1, s2));
        });
        let t = Instant::now();
        let e = request(&sock, "GET", "/_ping", &[], &[], Duration::from_millis(150)).unwrap_err();
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_millis(500),
            "{took:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("no complete answer within 150 ms"), "{msg}");
        assert!(msg.contains(&sock.display().to_string()), "{msg}");
        let t = Instant::now();
        assert!(
            !ping(&sock, Duration::from_millis(100)).unwrap(),
            "no answer yet: not ready"
        );
        assert!(
            t.elapsed() < Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        h.join().unwrap();
    }

    #[test]
    fn ping_true_only_for_200_ok() {
        let dir = TempDir::new("ping");
        let sock = dir.0.join("d.sock");
        let answers = Arc::new(Mutex::new(vec![
            http(
                "200 OK",
                "Content-Length: 2\r\nApi-Version: 1.41\r\n",
                b"OK",
            ),
            http("503 Service Unavailable", "Content-Length: 0\r\n", b""),
            http("404 Not Found", "", b"nope"),
            b"SSH-2.0-OpenSSH_9.2\r\n".to_vec(),
            Vec::new(),
        ]));
        let listener = UnixListener::bind(&sock).unwrap();
        let a2 = Arc::clone(&answers);
        let h = std::thread::spawn(move || {
            for _ in 0..5 {
                let (mut s, _) = listener.accept().unwrap();
                let (_, target, _) = read_request(&mut s);
                assert_eq!(target, "/_ping");
                let out = a2.lock().unwrap().remove(0);
                let _ = s.write_all(&out);
            }
        });
        let t = Duration::from_secs(5);
        assert!(ping(&sock, t).unwrap(), "200 OK");
        assert!(!ping(&sock, t).unwrap(), "503 is not ready yet");
        let e = ping(&sock, t).unwrap_err().to_string();
        assert!(e.contains("answered 404"), "{e}");
        let e = ping(&sock, t).unwrap_err().to_string();
        assert!(e.contains("not an HTTP answer"), "{e}");
        assert!(
            !ping(&sock, t).unwrap(),
            "closed without answer: dying daemon"
        );
        h.join().unwrap();
    }

    #[test]
    fn ping_absent_socket_is_false_and_cheap() {
        let dir = TempDir::new("absent");
        let sock = dir.0.join("docker.sock");
        assert!(!ping(&sock, Duration::from_secs(1)).unwrap());
        let n = 2000u32;
        let t = Instant::now();
        for _ in 0..n {
            assert!(!ping(&sock, Duration::from_secs(1)).unwrap());
        }
        let each = t.elapsed() / n;
        eprintln!("ping with no socket: {each:?} per call");
        assert!(each < Duration::from_micros(500), "{each:?}");
        // Missing parent directory too.
        assert!(!ping(&dir.0.join("nope/docker.sock"), Duration::from_secs(1)).unwrap());
        assert!(!containerd_answers(&sock));
    }

    #[test]
    fn ping_stale_socket_file_is_false() {
        let dir = TempDir::new("stale");
        let sock = dir.0.join("docker.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        assert!(containerd_answers(&sock));
        drop(listener);
        assert!(sock.exists(), "the socket file stays behind");
        assert!(!containerd_answers(&sock));
        assert!(!ping(&sock, Duration::from_secs(1)).unwrap());
    }

    #[test]
    fn ustar_is_read_by_gnu_tar_and_by_our_reader() {
        let dir = TempDir::new("tar");
        let tar = ustar_one_file(SMOKE_NAME, b"hello smoke\n", 0o755);
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(tar_find_file(&tar, SMOKE_NAME).unwrap(), b"hello smoke\n");
        assert_eq!(
            tar_find_file(&tar, "/dind-init-smoke").unwrap(),
            b"hello smoke\n"
        );
        assert!(tar_find_file(&tar, "other").is_none());
        let path = dir.0.join("a.tar");
        std::fs::write(&path, &tar).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(listing.starts_with("-rwxr-xr-x root/root"), "{listing}");
        assert!(
            listing.contains(" 12 ") && listing.trim_end().ends_with(SMOKE_NAME),
            "{listing}"
        );
        let out = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(&path)
            .arg(SMOKE_NAME)
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"hello smoke\n");
    }

    #[test]
    fn tar_reader_handles_pax_and_gnu_long_names() {
        // Hand-built: a PAX header naming the next entry, a dir, then the file.
        let pax_rec = b"31 path=./dind-init-smoke-long\n";
        assert_eq!(pax_rec.len(), 31);
        let mut tar = Vec::new();
        let mut h = ustar_one_file("PaxHeaders/x", pax_rec, 0o644);
        h.truncate(512 + 512);
        h[156] = b'x';
        fix_checksum(&mut h[..512]);
        tar.extend_from_slice(&h);
        let f = ustar_one_file("short-name", b"pax content", 0o644);
        tar.extend_from_slice(&f[..1024]);
        let mut long = ustar_one_file("././@LongLink", b"gnu/long/name\0", 0o644);
        long.truncate(1024);
        long[156] = b'L';
        fix_checksum(&mut long[..512]);
        tar.extend_from_slice(&long);
        tar.extend_from_slice(&ustar_one_file("x", b"gnu content", 0o644));
        assert_eq!(
            tar_find_file(&tar, "dind-init-smoke-long").unwrap(),
            b"pax content"
        );
        assert_eq!(
            tar_find_file(&tar, "gnu/long/name").unwrap(),
            b"gnu content"
        );
        assert!(
            tar_find_file(&tar, "short-name").is_none(),
            "renamed by PAX"
        );
        // Truncated archives never panic.
        for cut in [0, 100, 511, 600, 1500] {
            let _ = tar_find_file(&tar[..cut.min(tar.len())], "x");
        }
    }

    fn fix_checksum(h: &mut [u8]) {
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    #[test]
    fn tar_size_octal_and_base256() {
        assert_eq!(tar_size(b"00000000014\0"), Some(12));
        assert_eq!(tar_size(b"          14"), Some(12));
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[10] = 1;
        f[11] = 2;
        assert_eq!(tar_size(&f), Some(258));
        assert_eq!(tar_size(b"zz"), None);
    }

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
        let sock = dir.0.join("d.sock");
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
        let dir = TempDir::new("smoke-ok");
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
        let dir = TempDir::new("smoke-bad");
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
        let dir = TempDir::new("smoke-cleanup");
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
        let dir = TempDir::new("smoke-full");
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
        let dir = TempDir::new("smoke-wrong");
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
        let dir = TempDir::new("smoke-none");
        let sock = dir.0.join("docker.sock");
        let t = Instant::now();
        let msg = smoke_test(&sock).unwrap_err().to_string();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(
            msg.contains("import image") && msg.contains("connect"),
            "{msg}"
        );
    }

    fn fake_proc(dir: &TempDir, pid: u32, cmdline: &[u8]) {
        let d = dir.0.join("proc").join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cmdline"), cmdline).unwrap();
    }

    #[test]
    fn pidfile_staleness_from_a_fake_proc_tree() {
        let dir = TempDir::new("pid");
        let proc = dir.0.join("proc");
        fake_proc(&dir, 100, b"/usr/bin/dockerd\0--data-root\0/x\0");
        fake_proc(&dir, 101, b"containerd\0--config\0/run/c.toml\0");
        fake_proc(&dir, 1, b"/sbin/dind-init\0bash\0");
        fake_proc(&dir, 102, b"");
        fake_proc(&dir, 103, b"/usr/bin/dockerd-wrapper\0");
        let pf = dir.0.join("docker.pid");
        let d = &["dockerd"][..];
        let c = &["containerd"][..];
        let cases: &[(&str, &[&str], Option<bool>)] = &[
            ("100", d, Some(false)),
            ("100\n", d, Some(false)),
            ("101", c, Some(false)),
            ("101", d, Some(true)),
            ("1", d, Some(true)),
            ("102", d, Some(true)),
            ("103", d, Some(true)),
            ("4242", d, Some(true)),
            ("", d, Some(true)),
            ("garbage", d, Some(true)),
            ("-5", d, Some(true)),
            ("0", d, Some(true)),
        ];
        for (content, names, want) in cases {
            std::fs::write(&pf, content).unwrap();
            assert_eq!(
                pidfile_is_stale(&pf, &proc, names).unwrap(),
                *want,
                "pidfile {content:?} names {names:?}"
            );
        }
        std::fs::write(&pf, "100").unwrap();
        assert_eq!(
            pidfile_is_stale(&pf, &proc, &["dockerd", "containerd"]).unwrap(),
            Some(false)
        );
        std::fs::remove_file(&pf).unwrap();
        assert_eq!(pidfile_is_stale(&pf, &proc, d).unwrap(), None);
    }

    #[test]
    fn pidfile_of_this_process_is_live_under_real_proc() {
        let dir = TempDir::new("pid-real");
        let pf = dir.0.join("self.pid");
        std::fs::write(&pf, std::process::id().to_string()).unwrap();
        let exe = std::env::args().next().unwrap();
        let base = Path::new(&exe)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            pidfile_is_stale(&pf, Path::new("/proc"), &[base.as_str()]).unwrap(),
            Some(false)
        );
        assert_eq!(
            pidfile_is_stale(&pf, Path::new("/proc"), &["dockerd"]).unwrap(),
            Some(true)
        );
    }

    fn wait_finished(p: &LogPump) {
        let t = Instant::now();
        while !p.is_finished() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "pump did not end at EOF"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn log_pump_keeps_tail_and_appends_raw_lines_to_file() {
        let dir = TempDir::new("pump");
        let log = dir.0.join("dockerd.log");
        std::fs::write(&log, b"earlier\n").unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let pump = LogPump::start("dockerd", File::from(r), Some(&log)).unwrap();
        assert_eq!(pump.name(), "dockerd");
        let mut w = File::from(w);
        for i in 0..50 {
            writeln!(w, "line {i}").unwrap();
        }
        w.write_all(b"crlf line\r\nbad \xff utf8\npartial").unwrap();
        drop(w);
        wait_finished(&pump);
        let tail = pump.tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 13");
        assert_eq!(tail[TAIL_LINES - 3], "crlf line");
        assert_eq!(tail[TAIL_LINES - 2], "bad \u{fffd} utf8");
        assert_eq!(tail[TAIL_LINES - 1], "partial");
        let file = std::fs::read(&log).unwrap();
        assert!(file.starts_with(b"earlier\nline 0\nline 1\n"));
        assert!(file.ends_with(b"crlf line\nbad \xff utf8\npartial\n"));
    }

    #[test]
    fn log_pump_bounds_long_lines_and_survives_a_bad_log_file() {
        let dir = TempDir::new("pump-long");
        let (r, w) = nix::unistd::pipe().unwrap();
        let bad = dir.0.join("no/such/dir/x.log");
        let pump = LogPump::start("containerd", File::from(r), Some(&bad)).unwrap();
        let mut w = File::from(w);
        let writer = std::thread::spawn(move || {
            w.write_all(&vec![b'a'; 3 * MAX_LINE]).unwrap();
            w.write_all(b"\nshort\n").unwrap();
        });
        writer.join().unwrap();
        wait_finished(&pump);
        let tail = pump.tail();
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].len(), MAX_LINE);
        assert_eq!(tail[1], "short");
    }

    #[test]
    fn diagnose_table_from_real_dockerd_and_containerd_lines() {
        let root = Path::new("/var/lib/docker");
        let overlay =
            "storage driver overlay2 cannot work on overlayfs; data root is /var/lib/docker — \
                       set DIND_DATA_ROOT to a directory on the pod's persistent volume";
        let rows: &[(&str, &str, &str)] = &[
            // dockerd 20.10.24 (Debian bookworm), data root on overlayfs, captured on this machine.
            (
                "time=\"2026-11-24T05:09:23.655078774Z\" level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2",
                "overlay2",
                overlay,
            ),
            (
                "failed to start daemon: error initializing graphdriver: driver not supported",
                "overlay2",
                overlay,
            ),
            // dockerd 24–26.1 (moby overlayutils.SupportsOverlay + layer store wording).
            (
                "failed to start daemon: error initializing graphdriver: driver not supported: overlay2",
                "overlay2",
                overlay,
            ),
            // Kernel (dmesg) when the upper dir is on overlayfs.
            (
                "[  625.876455] overlay: filesystem on /var/lib/docker/check-overlayfs-support355/upper not supported as upperdir",
                "overlay2",
                overlay,
            ),
            // Docker ≥29 containerd image store: healthy daemon, failing mount at first use.
            (
                "docker: Error response from daemon: failed to mount /tmp/containerd-mount2787443106: invalid argument.",
                "overlayfs",
                "storage driver overlayfs cannot work on overlayfs; data root is /var/lib/docker — \
                 set DIND_DATA_ROOT to a directory on the pod's persistent volume",
            ),
            // containerd 2.x mount error (the seed's BuildKit failure).
            (
                "mount source: \"overlay\", target: \"/var/lib/docker/buildkit/x\", fstype: overlay, flags: 0, data: \"index=off\", err: invalid argument",
                "overlayfs",
                "storage driver overlayfs cannot work on overlayfs; data root is /var/lib/docker — \
                 set DIND_DATA_ROOT to a directory on the pod's persistent volume",
            ),
            // moby ≤20.10 overlay2 Init on an overlay backing fs.
            (
                "level=error msg=\"'overlay2' is not supported over overlayfs\" storage-driver=overlay2",
                "overlay2",
                overlay,
            ),
            // Unprivileged pod (moby overlayutils on EPERM).
            (
                "level=error msg=\"failed to mount overlay: operation not permitted\" storage-driver=overlay2",
                "overlay2",
                "dockerd may not mount filesystems: the pod is not privileged — set securityContext.privileged: true on the container",
            ),
            // moby graphdriver: no overlay in /proc/filesystems.
            (
                "level=error msg=\"overlay not found as a supported filesystem on this host. Please ensure kernel is new enough and has overlay support loaded.\" storage-driver=overlay2",
                "overlay2",
                "the kernel has no overlay filesystem, so storage driver overlay2 cannot start; load it on the node (modprobe overlay) or set DIND_STORAGE_DRIVER=fuse-overlayfs (or vfs)",
            ),
            // moby graphdriver.New with prior state of two drivers.
            (
                "level=error msg=\"[graphdriver] /var/lib/docker contains several valid graphdrivers: overlay2, vfs; cleanup or explicitly choose storage driver (-s <DRIVER>)\"",
                "vfs",
                "/var/lib/docker holds data of several storage drivers and dockerd will not guess; set DIND_STORAGE_DRIVER to the one to keep (the other driver's directory in /var/lib/docker can then be removed)",
            ),
            // Other graphdriver errors keep dockerd's words.
            (
                "failed to start daemon: error initializing graphdriver: fuse-overlayfs: exec: \"fuse-overlayfs\": executable file not found in $PATH",
                "fuse-overlayfs",
                "dockerd could not start storage driver fuse-overlayfs on /var/lib/docker: fuse-overlayfs: exec: \"fuse-overlayfs\": executable file not found in $PATH; set DIND_STORAGE_DRIVER=auto or put DIND_DATA_ROOT on the pod's persistent volume",
            ),
            // cmd/dockerd pidfile check.
            (
                "failed to start daemon: pid file found, ensure docker is not running or delete /var/run/docker.pid",
                "overlay2",
                "/var/run/docker.pid names a running process, so dockerd thinks another dockerd is running; stop that dockerd, or delete /var/run/docker.pid if the process is not dockerd",
            ),
            (
                "failed to load listeners: listen unix /var/run/docker.sock: bind: address already in use",
                "overlay2",
                "dockerd's API socket address is already in use: another dockerd runs in this pod, or -H/\"hosts\" (DIND_DOCKERD_ARGS, daemon.json) names a taken address",
            ),
            // dockerd 20.10 and 26.1 network controller with iptables denied.
            (
                "failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to create NAT chain DOCKER: iptables failed: iptables --wait -t nat -N DOCKER: iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
                "overlay2",
                "dockerd cannot set up iptables (NAT for containers): run the pod privileged, or add --iptables=false --ip6tables=false to DIND_DOCKERD_ARGS (containers then get no NAT)",
            ),
            (
                "failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to register \"bridge\" driver: failed to create NAT chain DOCKER: iptables failed: iptables --wait -t nat -N DOCKER: iptables/1.8.7 Failed to initialize nft: Protocol not supported",
                "overlay2",
                "dockerd cannot set up iptables (NAT for containers): run the pod privileged, or add --iptables=false --ip6tables=false to DIND_DOCKERD_ARGS (containers then get no NAT)",
            ),
            (
                "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting \"cgroup\" to rootfs at \"/sys/fs/cgroup\": mkdir /sys/fs/cgroup/docker: permission denied: unknown.",
                "overlay2",
                "dockerd cannot write the cgroup filesystem (permission denied), so containers cannot start; run the pod privileged (securityContext.privileged: true)",
            ),
            (
                "dockerd needs to be started with root privileges. To run dockerd in rootless mode as an unprivileged user, see https://docs.docker.com/go/rootless/",
                "overlay2",
                "dockerd must run as root: run dind-init as root (set DIND_USER for the session instead)",
            ),
            (
                "level=error msg=\"failed to write file\" error=\"write /var/lib/docker/x: no space left on device\"",
                "overlay2",
                "volume full: the volume holding /var/lib/docker cannot be written; free space on the volume holding the data root (`docker system df` shows what uses it, `docker system prune` frees it) or grow the PVC; the storage driver is kept, so no image is hidden",
            ),
            (
                "failed to start daemon: open /home/coder/.docker-data/engine-id: read-only file system",
                "overlay2",
                "read-only volume: the volume holding /var/lib/docker cannot be written; the volume holding the data root is read-only (a ro mount, or ext4 remounted ro after errors: see the node's dmesg); make it writable and restart the pod; the storage driver is kept",
            ),
            // moby libcontainerd/supervisor.
            (
                "failed to start daemon: failed to start containerd: timeout waiting for containerd to start",
                "overlay2",
                "containerd did not start or died; its own lines above say why (DIND_CONTAINERD=managed lets dockerd start it instead)",
            ),
            (
                "level=error msg=\"containerd did not exit successfully\" error=\"exit status 1\" module=libcontainerd",
                "overlay2",
                "containerd did not start or died; its own lines above say why (DIND_CONTAINERD=managed lets dockerd start it instead)",
            ),
        ];
        for (line, driver, want) in rows {
            let lines = vec![
                "level=info msg=\"Starting up\"".to_string(),
                line.to_string(),
            ];
            assert_eq!(
                diagnose(&lines, root, driver).as_deref(),
                Some(*want),
                "line: {line}"
            );
        }
        assert_eq!(
            diagnose(
                &["level=info msg=\"API listen on /var/run/docker.sock\"".into()],
                root,
                "overlay2"
            ),
            None
        );
        assert_eq!(diagnose(&[], root, "overlay2"), None);
    }

    #[test]
    fn diagnose_prefers_the_storage_cause_over_followup_noise() {
        // As dockerd 20.10 printed it here: the storage error, then containerd noise.
        let lines: Vec<String> = [
            "level=info msg=\"libcontainerd: started new containerd process\" pid=6788",
            "level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2",
            "level=info msg=\"stopping healthcheck following graceful shutdown\" module=libcontainerd",
            "level=error msg=\"containerd did not exit successfully\" error=\"signal: killed\" module=libcontainerd",
            "failed to start daemon: error initializing graphdriver: driver not supported",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let d = diagnose(&lines, Path::new("/home/coder/.docker-data"), "overlay2").unwrap();
        assert!(
            d.contains("cannot work on overlayfs; data root is /home/coder/.docker-data"),
            "{d}"
        );
    }
}
