//! A tiny HTTP/1.0 client over a unix socket: one request per connection, every
//! exchange bounded by one deadline; readiness of dockerd and containerd on top.

use crate::error::one_line;
use crate::error::{Error, Result};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest response header block accepted (Docker's are well under 1 KiB).
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted, so a confused peer cannot exhaust PID 1's memory.
const MAX_BODY: usize = 64 * 1024 * 1024;

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
pub(super) enum HttpError {
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
    pub(super) fn describe(&self, timeout: Duration) -> String {
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

pub(super) fn exchange(
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

#[cfg(test)]
mod tests {
    use super::super::fake::{fake_daemon, http, read_request};
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};

    #[test]
    fn request_reads_content_length_chunked_and_eof_bodies() {
        let dir = tempfile::tempdir().unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
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
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
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
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
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
        assert!(!ping(&dir.path().join("nope/docker.sock"), Duration::from_secs(1)).unwrap());
        assert!(!containerd_answers(&sock));
    }

    #[test]
    fn ping_stale_socket_file_is_false() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        assert!(containerd_answers(&sock));
        drop(listener);
        assert!(sock.exists(), "the socket file stays behind");
        assert!(!containerd_answers(&sock));
        assert!(!ping(&sock, Duration::from_secs(1)).unwrap());
    }
}
