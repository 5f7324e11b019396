//! Waiting for dockerd's first /_ping answer without getting stuck on one connection.
//!
//! dockerd creates its API socket well before it serves it: a connection made in that
//! window is accepted by the kernel but never answered (measured on Docker 26.1 under
//! strace: connect at 294 ms, no answer until dind-init's 200 ms read timeout, while a
//! new connection 10 ms later was answered at once). A blocking ping with a timeout
//! therefore loses up to its whole timeout at every start. [`PingProbe`] instead opens
//! a fresh non-blocking connection at every poll and keeps the older ones open, so the
//! first connection dockerd really serves is seen within one poll, however long a slow
//! daemon takes to answer it.

use crate::dockerd;
use crate::error::Result;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Connections older than this are given up (dockerd answers /_ping in microseconds
/// once it serves; this only bounds the open descriptors).
const GIVE_UP: Duration = Duration::from_secs(5);

/// At most this many connections wait at once; the oldest is closed first.
const MAX_PENDING: usize = 64;

/// The request: HTTP/1.0, so dockerd closes the connection after its answer.
const REQUEST: &[u8] = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";

struct Pending {
    stream: UnixStream,
    opened: Instant,
    answer: Vec<u8>,
}

/// Polls /_ping on one socket; see the module doc.
pub struct PingProbe {
    socket: PathBuf,
    pending: Vec<Pending>,
}

/// What one pending connection says so far.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    /// Nothing complete yet.
    Waiting,
    /// Closed: the answer is complete (or empty, when dockerd dropped it).
    Done,
}

impl PingProbe {
    /// A probe of `socket`; nothing is opened before the first [`PingProbe::poll`].
    pub fn new(socket: &Path) -> PingProbe {
        PingProbe {
            socket: socket.to_path_buf(),
            pending: Vec::new(),
        }
    }

    /// Read what the open connections got, then open one more. Ok(true) once dockerd
    /// answered 200 OK; an answer dockerd would never turn into OK (another server on
    /// the socket, no permission) is the same error [`dockerd::ping`] gives.
    pub fn poll(&mut self) -> Result<bool> {
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            match read_available(&mut p.stream, &mut p.answer) {
                Heard::Waiting if !complete(&p.answer) && p.opened.elapsed() < GIVE_UP => i += 1,
                Heard::Waiting if !complete(&p.answer) => drop(self.pending.remove(i)),
                Heard::Waiting | Heard::Done => {
                    let p = self.pending.remove(i);
                    match verdict(&p.answer) {
                        Some(true) => return Ok(true),
                        Some(false) => {}
                        // Not an Engine API answer: let the blocking ping name the trouble.
                        None => return dockerd::ping(&self.socket, Duration::from_millis(200)),
                    }
                }
            }
        }
        self.open()
    }

    /// Open one more connection and send the request.
    fn open(&mut self) -> Result<bool> {
        let stream = match UnixStream::connect(&self.socket) {
            Ok(s) => s,
            Err(e) if not_listening(&e) => return Ok(false),
            Err(_) => return dockerd::ping(&self.socket, Duration::from_millis(200)),
        };
        let sent = stream
            .set_nonblocking(true)
            .and_then(|_| (&stream).write_all(REQUEST));
        if sent.is_ok() {
            if self.pending.len() >= MAX_PENDING {
                self.pending.remove(0);
            }
            self.pending.push(Pending {
                stream,
                opened: Instant::now(),
                answer: Vec::new(),
            });
        }
        Ok(false)
    }
}

fn not_listening(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ECONNREFUSED) | Some(libc::ENOTDIR)
    )
}

/// Read without blocking until the peer closes or nothing more is there yet.
fn read_available(stream: &mut UnixStream, into: &mut Vec<u8>) -> Heard {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Heard::Done,
            Ok(n) if into.len() < 64 * 1024 => into.extend_from_slice(&buf[..n]),
            Ok(_) => return Heard::Done,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Heard::Waiting,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Heard::Done,
        }
    }
}

/// The headers and as many body bytes as Content-Length says are in: an answer
/// complete before the server closes (a keep-alive server never closes).
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

/// A complete answer: Some(true) for 200 "OK", Some(false) for nothing, a reset or a
/// 5xx (dockerd is starting or restarting), None for anything else.
fn verdict(answer: &[u8]) -> Option<bool> {
    if answer.is_empty() {
        return Some(false);
    }
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head
        .lines()
        .next()
        .filter(|l| l.starts_with("HTTP/1."))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    match status {
        200 => Some(body.trim() == "OK"),
        500..=599 => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn answers_are_read_as_dockerd_means_them() {
        let rows: &[(&[u8], Option<bool>)] = &[
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK",
                Some(true),
            ),
            (
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\n\r\nOK\n",
                Some(true),
            ),
            (b"HTTP/1.0 503 Service Unavailable\r\n\r\n", Some(false)),
            (b"", Some(false)),
            (b"HTTP/1.0 404 Not Found\r\n\r\npage not found", None),
            (b"SSH-2.0-OpenSSH_9.2\r\n", None),
        ];
        for (answer, want) in rows {
            assert_eq!(
                verdict(answer),
                *want,
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    /// The daemon's socket exists before it serves: the first connection is never
    /// answered, later ones are. The probe is ready one poll after the first answer,
    /// where a blocking ping would wait for its whole timeout on the first connection.
    #[test]
    fn a_connection_made_before_dockerd_serves_does_not_hold_up_ready() {
        let dir = std::env::temp_dir().join(format!("dind-init-ready-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("docker.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).unwrap();
        let mut probe = PingProbe::new(&sock);
        assert!(!probe.poll().unwrap(), "nothing answered yet");
        let (silent, _) = listener.accept().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut req = [0u8; 256];
            let _ = c.read(&mut req);
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .unwrap();
        });
        let mut polls = 0;
        while !probe.poll().unwrap() {
            polls += 1;
            assert!(polls < 500, "never ready");
            std::thread::sleep(Duration::from_millis(2));
        }
        server.join().unwrap();
        drop(silent);
        // The silent one still waits, with any opened after it that the server
        // (one accept) never took: how many depends on the machine's load.
        assert!(
            !probe.pending.is_empty(),
            "the silent connection is still waiting"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_answer_is_complete_at_its_content_length_or_when_closed() {
        let rows: &[(&[u8], bool)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", true),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nO", false),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false),
            (b"HTTP/1.0 200 OK\r\n\r\nOK", false),
        ];
        for (answer, want) in rows {
            assert_eq!(
                complete(answer),
                *want,
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    /// A server that keeps the connection open after its answer is still heard.
    #[test]
    fn a_keep_alive_answer_is_ready_without_the_close() {
        let dir = std::env::temp_dir().join(format!("dind-init-ready-ka-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("docker.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).unwrap();
        let mut probe = PingProbe::new(&sock);
        assert!(!probe.poll().unwrap());
        let (mut c, _) = listener.accept().unwrap();
        let mut req = [0u8; 256];
        let _ = c.read(&mut req);
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            .unwrap();
        assert!(probe.poll().unwrap(), "answered, connection still open");
        drop(c);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_listening_is_not_ready_and_not_an_error() {
        let mut probe = PingProbe::new(Path::new("/nonexistent/docker.sock"));
        assert!(!probe.poll().unwrap());
        assert!(probe.pending.is_empty());
    }
}
