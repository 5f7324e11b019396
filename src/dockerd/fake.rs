//! Test support: a fake daemon on a unix socket and raw HTTP answers.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

/// What the fake daemon saw: method, target, body.
pub(super) type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A fake daemon on a unix socket answering `n` connections with `answer(method, target)`
/// (raw bytes, written as is, then the connection is closed).
pub(super) fn fake_daemon(
    dir: &TempDir,
    n: usize,
    answer: impl Fn(&str, &str) -> Vec<u8> + Send + 'static,
) -> (PathBuf, Seen, std::thread::JoinHandle<()>) {
    let sock = dir.path().join("d.sock");
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

pub(super) fn read_request(s: &mut UnixStream) -> (String, String, Vec<u8>) {
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

pub(super) fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!("HTTP/1.1 {status}\r\n{headers}\r\n").into_bytes();
    v.extend_from_slice(body);
    v
}
