//! The log pump: a daemon's output, line by line, to stderr and optionally a log
//! file, keeping the last lines for the diagnosis.

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How many of a daemon's last lines [`LogPump`] keeps for diagnosis.
pub const TAIL_LINES: usize = 40;
/// Longest line kept by [`LogPump`]; the rest of a longer line is dropped.
const MAX_LINE: usize = 16 * 1024;
/// Stack of a log pump thread: it only moves lines, and PID 1 should stay small.
const PUMP_STACK: usize = 64 * 1024;

/// Open DIND_DOCKERD_LOG for appending as root without following anything a user
/// could plant there: a symlink (O_NOFOLLOW), a hard link to another file (more
/// than one link), a fifo that would block PID 1 (O_NONBLOCK) or a device.
fn open_log(p: &Path) -> io::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(p)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.nlink() != 1 {
        return Err(io::Error::other(
            "not a regular file with one link (remove it; dind-init creates it)",
        ));
    }
    Ok(f)
}

/// Copies a daemon's output, line by line, to stderr (prefixed `<name>: `, so
/// `kubectl logs` tells dockerd from containerd) and optionally appends the raw
/// lines to a file; keeps the last [`TAIL_LINES`] lines for [`diagnose`](super::diagnose).
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
        let file = log_file.and_then(|p| match open_log(p) {
            Ok(f) => Some((p.to_path_buf(), f)),
            Err(e) => {
                write_stderr(&format!(
                    "dind-init: cannot append {name} output to {}: {e}; logging to stderr only\n",
                    p.display()
                ));
                None
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

    /// The last lines seen (oldest first), for the failure report and [`diagnose`](super::diagnose).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

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
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dockerd.log");
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

    /// Issue 10 item 7: DIND_DOCKERD_LOG is opened without following a link, so a
    /// user's `dockerd.log -> /etc/shadow` never makes root append to the target.
    #[test]
    fn log_pump_never_appends_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let link = dir.path().join("dockerd.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let pump = LogPump::start("dockerd", File::from(r), Some(&link)).unwrap();
        File::from(w).write_all(b"line\n").unwrap();
        wait_finished(&pump);
        assert_eq!(pump.tail(), ["line"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());

        std::fs::remove_file(&link).unwrap();
        std::fs::hard_link(&target, &link).unwrap();
        assert!(open_log(&link).is_err(), "a hard link to another file");
        std::fs::remove_file(&link).unwrap();
        nix::unistd::mkfifo(&link, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_log(&link).is_err(), "a fifo without a reader: no hang");
        std::fs::remove_file(&link).unwrap();
        open_log(&link).unwrap();
        assert!(link.is_file());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    }

    #[test]
    fn log_pump_bounds_long_lines_and_survives_a_bad_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let bad = dir.path().join("no/such/dir/x.log");
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
}
