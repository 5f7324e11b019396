//! Stale pidfiles: probe's one pidfile rule applied to a real (or fake) `/proc`.

use crate::error::{Error, Result};
use std::io;
use std::path::Path;

/// Is the pidfile at `path` stale? None when there is no file. Stale when it is
/// provably a pidfile (one PID, [`crate::probe::pidfile_pid`]) and that PID is not
/// alive under `proc_root` (normally `/proc`), or is alive but its argv[0] basename
/// is none of `names` (e.g. `["dockerd"]`): after a pod restart the old PID is often
/// reused by an unrelated process (even by dind-init itself as PID 1), and
/// dockerd/containerd would refuse to start on it. A live daemon is never called
/// stale, nor is a file that is not one PID (a user's file the config names).
pub fn pidfile_is_stale(path: &Path, proc_root: &Path, names: &[&str]) -> Result<Option<bool>> {
    let text = match crate::probe::read_pidfile_head(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read pidfile", path, e)),
    };
    let verdict = crate::probe::pidfile_verdict(&text, names, |pid| {
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
    Ok(Some(matches!(verdict, crate::probe::Pidfile::Stale(_))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn fake_proc(dir: &TempDir, pid: u32, cmdline: &[u8]) {
        let d = dir.path().join("proc").join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cmdline"), cmdline).unwrap();
    }

    #[test]
    fn pidfile_staleness_from_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path().join("proc");
        fake_proc(&dir, 100, b"/usr/bin/dockerd\0--data-root\0/x\0");
        fake_proc(&dir, 101, b"containerd\0--config\0/run/c.toml\0");
        fake_proc(&dir, 1, b"/sbin/dind-init\0bash\0");
        fake_proc(&dir, 102, b"");
        fake_proc(&dir, 103, b"/usr/bin/dockerd-wrapper\0");
        let pf = dir.path().join("docker.pid");
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
            ("4242\n", d, Some(true)),
            // Not one PID: maybe a user's file; never called stale (issue 10 item 11).
            ("", d, Some(false)),
            ("garbage", d, Some(false)),
            ("-5", d, Some(false)),
            ("0", d, Some(false)),
            ("4242\n\\documentclass{article}\n", d, Some(false)),
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
        let dir = tempfile::tempdir().unwrap();
        let pf = dir.path().join("self.pid");
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
}
