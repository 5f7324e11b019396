//! dind-init's reserve: a few MiB of real, allocated blocks on the data root's
//! volume, kept while the volume has room and given back when it is full.
//!
//! On a volume full to the last block dockerd cannot even start (`mkdir
//! /var/lib/docker/tmp: no space left on device`), so the user cannot list or
//! prune the images that filled it. Databases keep such a reserve for the same
//! reason. dind-init takes [`SIZE`] bytes in [`NAME`] on the data root
//! (fallocate'd, never sparse, never through a link); a start that finds the
//! volume full ([`FULL_BELOW`] free) removes that file first, so dockerd starts
//! and the banner and `status` say "volume full" with the remedy. Once space is
//! freed, the next start takes the reserve again (only with [`ROOM`] to spare).
//!
//! The file is dind-init's own (`.dind-init*`, see probe's
//! `is_data_entry`): it never counts as the user's data and
//! never blocks a bind or a symlink. Deciding is pure ([`decide`]); [`find`] is
//! the probe's one fact, the plan turns the [`Decision`] into steps, apply runs
//! them through [`Syscall::reserve_space`](crate::sys::Syscall::reserve_space).
//! This module imports neither probe nor plan, so dependencies point one way.

use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The reserve's name in the data root directory.
pub const NAME: &str = ".dind-init-reserve";

/// Bytes reserved. Measured: with 0 bytes free neither Docker 20.10 nor 26.1
/// starts (`mkdir /var/lib/docker/tmp`, `…/gen-runtimes`: ENOSPC); with 64 KiB
/// free both start dockerd + containerd and answer `docker images` on a data
/// root full of overlay2/overlayfs images. 8 MiB is 128 times that: room for
/// bolt databases growing a step, the smoke test's one-file image, logs.
pub const SIZE: u64 = 8 << 20;

/// Below this many bytes free (as `df` says) the volume counts as full and the
/// reserve is released: 16 times the measured 64 KiB.
pub const FULL_BELOW: u64 = 1 << 20;

/// The reserve is (re)taken only when this much stays free beside it, so
/// taking it never makes a nearly full volume full.
pub const ROOM: u64 = 64 << 20;

/// What the data root holds under [`NAME`] (lstat: a link is never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Found {
    /// Nothing (or the data root does not exist yet).
    Absent,
    /// A regular file with this many bytes of allocated blocks.
    File { allocated: u64 },
    /// A link, a directory or anything else: not dind-init's reserve, never touched.
    Other,
}

/// The probe's fact: the reserve and the space left beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reserve {
    /// What is at `<data root>/.dind-init-reserve`.
    pub found: Found,
    /// Bytes free on the data root's filesystem as `df` counts them (the reserve's
    /// blocks are not free); None when statfs failed. Not root's f_bfree: on a
    /// volume full to the last block, ext4 still counts its reserved clusters
    /// there (16 MiB measured on a 2 GiB PVC) that nobody can allocate.
    pub free: Option<u64>,
}

/// Look at the reserve in `data_root`; `free` is what the probe measured there
/// (statfs is the probe's: this module stays below probe and plan).
pub fn find(data_root: &Path, free: Option<u64>) -> Reserve {
    let found = match std::fs::symlink_metadata(data_root.join(NAME)) {
        Ok(m) if m.file_type().is_file() => Found::File {
            allocated: m.blocks().saturating_mul(512),
        },
        Ok(_) => Found::Other,
        Err(_) => Found::Absent,
    };
    Reserve { found, free }
}

/// What to do with the reserve at this start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allocate it (or the part a crash left missing): the volume has room.
    Take { bytes: u64 },
    /// It is there and the volume has room: nothing to do.
    Keep,
    /// The volume is full: remove it so dockerd can start.
    Release { bytes: u64 },
    /// The volume is full and there is no reserve left to release.
    FullWithout,
    /// No reserve, and too little room (or not a disk) to take one.
    Without,
    /// Something that is not a regular file has the reserve's name: left alone.
    Foreign,
    /// Free space unknown: nothing is changed.
    Unknown,
}

/// Decide from the facts; `on_disk` is false for tmpfs and the container's
/// own overlay, where a reserve would only cost RAM or the node's disk.
pub fn decide(r: Reserve, on_disk: bool) -> Decision {
    let Some(free) = r.free else {
        return Decision::Unknown;
    };
    let full = free < FULL_BELOW;
    match r.found {
        Found::Other => Decision::Foreign,
        Found::File { allocated } if full => Decision::Release { bytes: allocated },
        Found::File { allocated } if allocated >= SIZE => Decision::Keep,
        Found::File { allocated } if on_disk && free >= SIZE - allocated + ROOM => Decision::Take {
            bytes: SIZE - allocated,
        },
        Found::File { .. } => Decision::Keep,
        Found::Absent if full => Decision::FullWithout,
        Found::Absent if on_disk && free >= SIZE + ROOM => Decision::Take { bytes: SIZE },
        Found::Absent => Decision::Without,
    }
}

/// "8 MiB", "512 KiB", "300 B", "1.5 GiB".
pub fn size_words(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn r(found: Found, free: Option<u64>) -> Reserve {
        Reserve { found, free }
    }

    fn file(allocated: u64) -> Found {
        Found::File { allocated }
    }

    /// (what is there, free as df says, on a disk) → decision.
    #[test]
    fn decision_table() {
        use Decision::*;
        use Found::Absent;
        let rows = [
            // A fresh data root on a roomy PVC: take it.
            (Absent, Some(10 << 30), true, Take { bytes: SIZE }),
            // Just enough room beside it, and one byte short.
            (Absent, Some(SIZE + ROOM), true, Take { bytes: SIZE }),
            (Absent, Some(SIZE + ROOM - 1), true, Without),
            // tmpfs / the container's overlay: never taken.
            (Absent, Some(10 << 30), false, Without),
            // Full to the last block, reserve there (the e2e's run 2): release.
            (file(SIZE), Some(0), true, Release { bytes: SIZE }),
            (
                file(SIZE),
                Some(FULL_BELOW - 1),
                true,
                Release { bytes: SIZE },
            ),
            (
                file(SIZE),
                Some(FULL_BELOW - 1),
                false,
                Release { bytes: SIZE },
            ),
            // Full, already released (the next start before freeing space).
            (Absent, Some(64 << 10), true, FullWithout),
            (Absent, Some(0), false, FullWithout),
            // Not full: kept, even when room is short.
            (file(SIZE), Some(FULL_BELOW), true, Keep),
            (file(SIZE), Some(10 << 30), true, Keep),
            // A crash left it half allocated: topped up with room, else kept.
            (
                file(3 * MIB),
                Some(10 << 30),
                true,
                Take {
                    bytes: SIZE - 3 * MIB,
                },
            ),
            (file(3 * MIB), Some(2 * MIB), true, Keep),
            (file(0), Some(0), true, Release { bytes: 0 }),
            // A link or directory with its name is never touched.
            (Found::Other, Some(0), true, Foreign),
            (Found::Other, Some(10 << 30), true, Foreign),
            // statvfs failed: change nothing.
            (file(SIZE), None, true, Unknown),
            (Absent, None, true, Unknown),
        ];
        for (found, free, on_disk, want) in rows {
            assert_eq!(
                decide(r(found, free), on_disk),
                want,
                "{found:?} free={free:?} on_disk={on_disk}"
            );
        }
    }

    #[test]
    fn the_reserve_is_never_the_users_data() {
        let never = || -> std::result::Result<bool, ()> { panic!("not lost+found") };
        assert_eq!(
            crate::probe::is_data_entry(std::ffi::OsStr::new(NAME), never),
            Ok(false)
        );
    }

    #[test]
    fn find_reads_a_file_and_never_follows_a_link() {
        let dir = std::env::temp_dir().join(format!("dind-init-reserve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(find(&dir, None).found, Found::Absent);
        assert_eq!(find(&dir, Some(7)).free, Some(7));
        std::fs::write(dir.join("target"), vec![1u8; 8192]).unwrap();
        std::os::unix::fs::symlink(dir.join("target"), dir.join(NAME)).unwrap();
        assert_eq!(find(&dir, None).found, Found::Other);
        std::fs::remove_file(dir.join(NAME)).unwrap();
        std::fs::write(dir.join(NAME), vec![1u8; 8192]).unwrap();
        assert!(matches!(find(&dir, None).found, Found::File { allocated } if allocated >= 8192));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size_words(8 << 20), "8 MiB");
        assert_eq!(size_words(64 << 10), "64 KiB");
        assert_eq!(size_words(1536 << 10), "1.5 MiB");
        assert_eq!(size_words(0), "0 B");
        assert_eq!(size_words(3 << 29), "1.5 GiB");
    }
}
