//! Root integration tests of `apply` with real mounts, in the seed's situation:
//! a pod root that is an overlay whose lower layer is itself on overlay (so an
//! overlay upper under its /var/lib/docker fails with EINVAL, as in the seed)
//! and an ext4 loop image mounted as the PVC on /home/coder.
//!
//! Each test re-executes this test binary for itself under
//! `unshare --mount --propagation private`, so every mount lives in a private
//! mount namespace that dies with the child; a guard also unmounts everything
//! and detaches the loop device, even when an assertion fails.

// A test crate: a failed unwrap is a failed test (Cargo.toml's [lints.clippy] is for src/).
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use dind_init::apply::{apply_steps, Applied};
use dind_init::plan::{Action, Step};
use dind_init::settings::{self, Sources};
use dind_init::sys::LinuxSyscall;
use dind_init::Error;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Set in the re-executed child to the fixture's base directory.
const CHILD_ENV: &str = "DIND_APPLY_ROOT_BASE";
/// ext2/3/4 statfs magic.
const EXT4_SUPER_MAGIC: i64 = 0xEF53;

/// One child at a time: loop devices and mkfs on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Run `body` in a private mount namespace (a re-executed child), or skip when
/// a prerequisite is missing (fail in CI).
fn in_private_mount_ns(name: &str, body: fn(&Path)) {
    if let Some(base) = std::env::var_os(CHILD_ENV) {
        body(Path::new(&base));
        return;
    }
    if !common::require_root() {
        return;
    }
    for prog in ["unshare", "mkfs.ext4", "losetup", "flock", "sha256sum"] {
        if !common::require_program(prog) {
            return;
        }
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // Removed on drop; the child's namespace and its mounts are gone by then.
    let base = tempfile::Builder::new()
        .prefix(&format!("dind-apply-root-{name}-"))
        .tempdir()
        .unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, base.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child test {name} failed:\n{text}");
    assert!(
        text.contains(&format!("test {name} ... ok")),
        "child did not run {name}:\n{text}"
    );
}

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn overlay(lower: &str, upper: &Path, work: &Path, target: &Path) -> nix::Result<()> {
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
}

/// The seed's pod: nested overlay root, ext4 PVC on /home/coder. Drop unmounts
/// everything under `base` (deepest first) and detaches the loop device.
struct Pod {
    base: PathBuf,
    root: PathBuf,
    loop_dev: Option<String>,
}

impl Pod {
    fn new(base: &Path) -> Pod {
        std::fs::create_dir_all(base).unwrap();
        // Everything mounted below is private to this namespace already; make sure of it.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .unwrap();
        let mut pod = Pod {
            base: base.to_path_buf(),
            root: base.join("root"),
            loop_dev: None,
        };
        let node = base.join("node");
        for d in ["l1", "l2", "u1", "w1", "pu", "pw"] {
            std::fs::create_dir_all(node.join(d)).unwrap();
        }
        std::fs::write(node.join("l1/os-release"), "ID=debian\n").unwrap();
        // The image's layers: an overlay on the node's filesystem (k3s's snapshots).
        let image = base.join("image");
        std::fs::create_dir_all(&image).unwrap();
        let lowers = format!(
            "{}:{}",
            node.join("l1").display(),
            node.join("l2").display()
        );
        overlay(&lowers, &node.join("u1"), &node.join("w1"), &image).unwrap();
        for d in ["var/lib/docker", "home/coder", "etc/docker"] {
            std::fs::create_dir_all(image.join(d)).unwrap();
        }
        // The pod root: an overlay whose lower is that overlay.
        std::fs::create_dir_all(&pod.root).unwrap();
        overlay(
            &image.display().to_string(),
            &node.join("pu"),
            &node.join("pw"),
            &pod.root,
        )
        .unwrap();
        // The PVC: an ext4 image on a loop device, mounted on /home/coder.
        let img = node.join("pvc.img");
        sh("truncate", &["-s", "200M", img.to_str().unwrap()]);
        sh("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
        let dev = sh("losetup", &["--find", "--show", img.to_str().unwrap()]);
        pod.loop_dev = Some(dev.clone());
        mount(
            Some(dev.as_str()),
            &pod.path("/home/coder"),
            Some("ext4"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        pod
    }

    /// A path inside the pod root.
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn data(&self) -> PathBuf {
        self.path("/home/coder/.docker-data")
    }

    fn lock(&self) -> PathBuf {
        self.data().join(".dind-init.lock")
    }

    fn bind_plan(&self) -> Vec<Step> {
        steps(vec![
            Action::CreateDir {
                path: self.data(),
                mode: 0o710,
            },
            Action::Lock { path: self.lock() },
            Action::BindMount {
                src: self.data(),
                dst: self.path("/var/lib/docker"),
            },
        ])
    }

    fn symlink_plan(&self) -> Vec<Step> {
        steps(vec![
            Action::CreateDir {
                path: self.data(),
                mode: 0o710,
            },
            Action::Lock { path: self.lock() },
            Action::Symlink {
                target: self.data(),
                link: self.path("/var/lib/docker"),
            },
        ])
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let mut points = mount_points_under(&self.base);
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in points {
            let _ = umount2(&p, MntFlags::MNT_DETACH);
        }
        if let Some(dev) = &self.loop_dev {
            let _ = Command::new("losetup").args(["-d", dev]).status();
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn steps(actions: Vec<Action>) -> Vec<Step> {
    actions
        .into_iter()
        .map(|action| Step {
            action,
            reason: "test".into(),
        })
        .collect()
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

fn mount_points_under(base: &Path) -> Vec<PathBuf> {
    mountinfo()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(base))
        .collect()
}

fn fs_magic(p: &Path) -> i64 {
    nix::sys::statfs::statfs(p).unwrap().filesystem_type().0 as i64
}

/// Mount an overlay whose upper and work dirs are in `dir` (what dockerd's
/// overlay2 does), write through it, unmount. Err is the mount's errno.
fn trial_overlay(dir: &Path) -> nix::Result<()> {
    let t = dir.join("trial");
    for d in ["l", "u", "w", "m"] {
        std::fs::create_dir_all(t.join(d)).unwrap();
    }
    std::fs::write(t.join("l/base"), "lower").unwrap();
    let res = overlay(
        &t.join("l").display().to_string(),
        &t.join("u"),
        &t.join("w"),
        &t.join("m"),
    );
    if res.is_ok() {
        assert_eq!(std::fs::read_to_string(t.join("m/base")).unwrap(), "lower");
        std::fs::write(t.join("m/new"), "upper").unwrap();
        umount2(&t.join("m"), MntFlags::empty()).unwrap();
        assert_eq!(std::fs::read_to_string(t.join("u/new")).unwrap(), "upper");
    }
    std::fs::remove_dir_all(&t).unwrap();
    res
}

fn sha256(p: &Path) -> String {
    sh("sha256sum", &[p.to_str().unwrap()])
}

#[test]
fn bind_puts_docker_data_on_the_ext4_pvc_where_overlay_mounts_work() {
    in_private_mount_ns(
        "bind_puts_docker_data_on_the_ext4_pvc_where_overlay_mounts_work",
        |base| {
            let pod = Pod::new(base);
            let vld = pod.path("/var/lib/docker");
            // The fixture reproduces the seed: overlay on the nested overlay root fails.
            assert_eq!(
                trial_overlay(&vld),
                Err(nix::errno::Errno::EINVAL),
                "the pod root must reproduce the seed's EINVAL"
            );
            assert_ne!(fs_magic(&vld), EXT4_SUPER_MAGIC);

            let applied = apply_steps(&pod.bind_plan(), &LinuxSyscall).unwrap();
            assert!(applied.changed(), "{:?}", applied.log);
            assert_eq!(
                fs_magic(&vld),
                EXT4_SUPER_MAGIC,
                "/var/lib/docker is on the PVC"
            );
            trial_overlay(&vld).expect("overlay mounts inside /var/lib/docker now work");
            let meta = std::fs::metadata(pod.data()).unwrap();
            use std::os::unix::fs::MetadataExt;
            assert_eq!(meta.mode() & 0o7777, 0o710);
            assert_eq!((meta.uid(), meta.gid()), (0, 0));
            let holder = std::fs::read_to_string(pod.lock()).unwrap();
            assert!(
                holder.starts_with(&format!("pid {} on ", std::process::id())),
                "{holder}"
            );

            // A pod restart applies again: nothing changes.
            drop(applied);
            let before = mountinfo();
            let again = apply_steps(&pod.bind_plan(), &LinuxSyscall).unwrap();
            assert!(!again.changed(), "{:?}", again.log);
            assert_eq!(mountinfo(), before, "no new mount on a second apply");
            assert!(again.log.iter().any(|e| e.text.ends_with("already bound")));
        },
    );
}

#[test]
fn a_second_instance_on_the_same_data_root_is_refused() {
    in_private_mount_ns(
        "a_second_instance_on_the_same_data_root_is_refused",
        |base| {
            let pod = Pod::new(base);
            let first: Applied = apply_steps(&pod.bind_plan(), &LinuxSyscall).unwrap();
            // Another process (another pod on a ReadWriteMany volume) cannot take it.
            let st = Command::new("flock")
                .args(["-n", pod.lock().to_str().unwrap(), "true"])
                .status()
                .unwrap();
            assert_eq!(st.code(), Some(1), "flock(1) must find the lock held");
            // Nor can a second dind-init: refused before any change.
            let before = mountinfo();
            let mut plan = pod.symlink_plan();
            plan[2] = steps(vec![Action::BindMount {
                src: pod.data(),
                dst: pod.path("/mnt/other"),
            }])
            .remove(0);
            match apply_steps(&plan, &LinuxSyscall) {
                Err(Error::Locked { path, holder }) => {
                    assert_eq!(path, pod.lock());
                    assert!(
                        holder.starts_with(&format!("pid {} on ", std::process::id())),
                        "{holder}"
                    );
                }
                other => panic!("expected Locked, got {other:?}"),
            }
            assert_eq!(mountinfo(), before);
            assert!(!pod.path("/mnt/other").exists(), "nothing created");
            drop(first);
            let st = Command::new("flock")
                .args(["-n", pod.lock().to_str().unwrap(), "true"])
                .status()
                .unwrap();
            assert_eq!(st.code(), Some(0), "released when the holder drops it");
        },
    );
}

#[test]
fn symlink_strategy_never_replaces_data_and_is_idempotent() {
    in_private_mount_ns(
        "symlink_strategy_never_replaces_data_and_is_idempotent",
        |base| {
            let pod = Pod::new(base);
            let vld = pod.path("/var/lib/docker");
            std::fs::write(vld.join("keep-me"), "old data").unwrap();
            let err = apply_steps(&pod.symlink_plan(), &LinuxSyscall)
                .unwrap_err()
                .to_string();
            assert!(err.contains("ENOTEMPTY"), "{err}");
            assert_eq!(
                std::fs::read_to_string(vld.join("keep-me")).unwrap(),
                "old data"
            );
            assert!(!pod.data().exists(), "refused before the first change");

            std::fs::remove_file(vld.join("keep-me")).unwrap();
            let applied = apply_steps(&pod.symlink_plan(), &LinuxSyscall).unwrap();
            assert!(applied.changed());
            assert_eq!(std::fs::read_link(&vld).unwrap(), pod.data());
            assert_eq!(fs_magic(&vld), EXT4_SUPER_MAGIC);
            trial_overlay(&vld).expect("overlay works through the link");
            drop(applied);
            let again = apply_steps(&pod.symlink_plan(), &LinuxSyscall).unwrap();
            assert!(!again.changed(), "{:?}", again.log);
        },
    );
}

#[test]
fn corrupt_daemon_json_is_a_clear_error_and_stays_byte_identical() {
    in_private_mount_ns(
        "corrupt_daemon_json_is_a_clear_error_and_stays_byte_identical",
        |base| {
            let pod = Pod::new(base);
            let path = pod.path("/etc/docker/daemon.json");
            let text = "{\n  \"log-driver\": \"json-file\",\n  \"storage-driver\": overlay2\n}\n";
            std::fs::write(&path, text).unwrap();
            let sha = sha256(&path);
            let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();

            let read_back = std::fs::read_to_string(&path).unwrap();
            let err = settings::read(&Sources {
                daemon_json: Some((&path, &read_back)),
                ..Default::default()
            })
            .unwrap_err();
            match &err {
                Error::DaemonConfig { path: p, line, .. } => {
                    assert_eq!(p, &path);
                    assert_eq!(*line, 3);
                }
                other => panic!("{other:?}"),
            }
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("{}:3: invalid JSON", path.display())),
                "{msg}"
            );
            assert!(msg.contains("never rewrites"), "{msg}");

            // The rest of the storage fix still applies; the file is not touched.
            apply_steps(&pod.bind_plan(), &LinuxSyscall).unwrap();
            assert_eq!(sha256(&path), sha);
            assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
            assert!(!pod.path("/etc/docker/daemon.json.bak").exists());

            // A valid file is rewritten atomically with a .bak of the old one.
            let good = "{\"log-driver\": \"json-file\"}\n";
            std::fs::write(&path, good).unwrap();
            let user = settings::read(&Sources {
                daemon_json: Some((&path, good)),
                ..Default::default()
            })
            .unwrap();
            let merged = settings::merge(
                &user,
                &[settings::Wanted {
                    key: "storage-driver".into(),
                    value: "overlay2".into(),
                    reason: "test".into(),
                    force: false,
                }],
            )
            .unwrap();
            let (p, content) = merged.daemon_json.unwrap();
            apply_steps(
                &steps(vec![Action::WriteFile {
                    path: p.clone(),
                    content: content.clone(),
                }]),
                &LinuxSyscall,
            )
            .unwrap();
            assert_eq!(std::fs::read_to_string(&p).unwrap(), content);
            assert_eq!(
                std::fs::read_to_string(pod.path("/etc/docker/daemon.json.bak")).unwrap(),
                good
            );
        },
    );
}

/// Issue 10 item 7: `~/.docker-data` replaced by the user with a symlink to a
/// system directory is refused; nothing is created, locked or mounted there,
/// neither by apply nor by the seam's calls themselves (the race after a check).
#[test]
fn a_symlinked_data_root_is_refused_and_nothing_is_made_in_its_target() {
    in_private_mount_ns(
        "a_symlinked_data_root_is_refused_and_nothing_is_made_in_its_target",
        |base| {
            use dind_init::sys::Syscall;
            let pod = Pod::new(base);
            let target = pod.path("/etc/ssl");
            std::fs::create_dir_all(&target).unwrap();
            std::fs::write(target.join("openssl.cnf"), "[ca]\n").unwrap();
            // The devpod user owns the home, so they can put a link there.
            std::os::unix::fs::chown(pod.path("/home/coder"), Some(1000), Some(1000)).unwrap();
            std::os::unix::fs::symlink(&target, pod.data()).unwrap();
            let listing = || {
                let mut v: Vec<_> = std::fs::read_dir(&target)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                v.sort();
                v
            };
            let before = (listing(), mountinfo());

            for plan in [pod.bind_plan(), pod.symlink_plan()] {
                let err = apply_steps(&plan, &LinuxSyscall).unwrap_err().to_string();
                assert!(
                    err.starts_with(&format!(
                        "refusing mkdir {} mode=0710 (nothing was changed): ELOOP",
                        pod.data().display()
                    )),
                    "{err}"
                );
                assert!(
                    err.contains(&format!("DIND_DATA_ROOT={}", target.display())),
                    "{err}"
                );
            }
            // The seam itself never follows the link, whatever a caller checked before.
            let vld = pod.path("/var/lib/docker");
            let e = LinuxSyscall.mount_bind(&pod.data(), &vld).unwrap_err();
            assert!(e.to_string().contains("ENOTDIR"), "{e}");
            let e = LinuxSyscall
                .flock_exclusive_nonblocking(&pod.lock(), "pid 1")
                .unwrap_err();
            assert!(e.to_string().contains("ENOTDIR"), "{e}");
            let e = LinuxSyscall
                .secure_dir(&pod.data(), 0, 0, 0o710)
                .unwrap_err();
            assert!(e.to_string().contains("ENOTDIR"), "{e}");

            assert_eq!((listing(), mountinfo()), before, "nothing made or mounted");
            assert!(!target.join(".dind-init.lock").exists());
            assert!(std::fs::symlink_metadata(pod.data())
                .unwrap()
                .file_type()
                .is_symlink());
        },
    );
}

/// Issue 10 item 7: a data root the user made (theirs, 0755) ends root:root 0710.
#[test]
fn a_user_owned_0755_data_root_ends_root_owned_0710() {
    in_private_mount_ns("a_user_owned_0755_data_root_ends_root_owned_0710", |base| {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let pod = Pod::new(base);
        std::fs::create_dir(pod.data()).unwrap();
        std::fs::set_permissions(pod.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(pod.data(), Some(1000), Some(1000)).unwrap();

        let applied = apply_steps(&pod.bind_plan(), &LinuxSyscall).unwrap();
        let meta = std::fs::metadata(pod.data()).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, 0, 0o710)
        );
        assert!(
            applied.log[0].changed
                && applied.log[0]
                    .text
                    .contains("it exists with owner 1000:1000 mode 0755, made root:root 0710"),
            "{:?}",
            applied.log
        );
        assert_eq!(
            fs_magic(&pod.path("/var/lib/docker")),
            EXT4_SUPER_MAGIC,
            "and bound"
        );
    });
}

/// Issue 10 item 10: a fresh ext4 volume at /var/lib/docker holds only
/// lost+found; probe calls it empty, and apply agrees: it gets the bind.
#[test]
fn a_lost_found_only_volume_gets_the_bind() {
    in_private_mount_ns("a_lost_found_only_volume_gets_the_bind", |base| {
        let pod = Pod::new(base);
        let vld = pod.path("/var/lib/docker");
        let img = base.join("node/vld.img");
        sh("truncate", &["-s", "16M", img.to_str().unwrap()]);
        sh("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
        sh(
            "mount",
            &["-o", "loop", img.to_str().unwrap(), vld.to_str().unwrap()],
        );
        assert!(vld.join("lost+found").is_dir());
        assert!(!dind_init::probe::has_data(&vld), "the plan's view: empty");

        let applied = apply_steps(&pod.bind_plan(), &LinuxSyscall).unwrap();
        assert!(applied.changed(), "{:?}", applied.log);
        assert!(
            std::fs::read_dir(&vld)
                .unwrap()
                .any(|e| e.unwrap().file_name() == ".dind-init.lock"),
            "/var/lib/docker shows DATA_ROOT now"
        );
        assert_eq!(fs_magic(&vld), EXT4_SUPER_MAGIC);
        drop(applied);
        umount2(&vld, MntFlags::empty()).unwrap();
        assert!(
            vld.join("lost+found").is_dir(),
            "the volume is untouched below"
        );
        assert!(!vld.join(".dind-init.lock").exists());
    });
}

/// Issue 10: dind-init's reserve on the real ext4 PVC is allocated blocks, not a sparse
/// file; it is never created, grown or removed through a link; a volume too full to take
/// it keeps no partial file; releasing it gives the blocks back.
#[test]
fn the_reserve_is_real_blocks_never_through_a_link_and_gives_them_back() {
    in_private_mount_ns(
        "the_reserve_is_real_blocks_never_through_a_link_and_gives_them_back",
        |base| {
            use dind_init::sys::Syscall;
            use std::os::unix::fs::MetadataExt;
            let pod = Pod::new(base);
            let reserve = pod.data().join(dind_init::reserve::NAME);
            let bytes = dind_init::reserve::SIZE;
            let free = || dind_init::probe::free_bytes(&pod.path("/home/coder")).unwrap();
            let take = steps(vec![
                Action::CreateDir {
                    path: pod.data(),
                    mode: 0o710,
                },
                Action::Lock { path: pod.lock() },
                Action::TakeReserve {
                    path: reserve.clone(),
                    bytes,
                },
            ]);
            let before = free();
            drop(apply_steps(&take, &LinuxSyscall).unwrap());
            let m = std::fs::symlink_metadata(&reserve).unwrap();
            assert!(m.file_type().is_file());
            assert_eq!(m.len(), bytes);
            assert!(m.blocks() * 512 >= bytes, "sparse: {} blocks", m.blocks());
            assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o600));
            assert!(before - free() >= bytes, "df did not drop by the reserve");
            let found = dind_init::reserve::find(&pod.data(), None);
            assert_eq!(
                found.found,
                dind_init::reserve::Found::File {
                    allocated: m.blocks() * 512
                }
            );
            // Releasing gives the blocks back.
            let taken = free();
            LinuxSyscall.release_space(&reserve).unwrap();
            assert!(!reserve.exists());
            assert!(free() - taken >= bytes);
            LinuxSyscall.release_space(&reserve).unwrap();

            // A link planted under the name: neither allocated through nor removed.
            let victim = pod.path("/etc/docker/victim");
            std::fs::write(&victim, "keep").unwrap();
            std::os::unix::fs::symlink(&victim, &reserve).unwrap();
            let e = LinuxSyscall.reserve_space(&reserve, bytes).unwrap_err();
            assert!(e.to_string().contains("ELOOP"), "{e}");
            let e = LinuxSyscall.release_space(&reserve).unwrap_err();
            assert!(e.to_string().contains("EISDIR"), "{e}");
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
            assert!(std::fs::symlink_metadata(&reserve)
                .unwrap()
                .file_type()
                .is_symlink());
            std::fs::remove_file(&reserve).unwrap();
            // A hard link of another file: refused, the other file untouched.
            let notes = pod.path("/home/coder/notes.txt");
            std::fs::write(&notes, "mine").unwrap();
            std::fs::hard_link(&notes, &reserve).unwrap();
            let e = LinuxSyscall.reserve_space(&reserve, bytes).unwrap_err();
            assert!(e.to_string().contains("EMLINK"), "{e}");
            assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
            std::fs::remove_file(&reserve).unwrap();
            // The data root itself a link: nothing is made where it points.
            let elsewhere = pod.path("/etc/ssl");
            std::fs::create_dir_all(&elsewhere).unwrap();
            let linked = pod.path("/home/coder/linked");
            std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
            let e = LinuxSyscall
                .reserve_space(&linked.join(dind_init::reserve::NAME), bytes)
                .unwrap_err();
            assert!(
                e.to_string().contains("ENOTDIR") || e.to_string().contains("ELOOP"),
                "{e}"
            );
            assert!(!elsewhere.join(dind_init::reserve::NAME).exists());

            // A volume too full for it: ENOSPC, and no partial reserve is left behind.
            // As root, to the last block: files of 1 MiB, then of 4 KiB, until ENOSPC.
            let mut n = 0;
            for chunk in [1i64 << 20, 4096] {
                loop {
                    let f =
                        std::fs::File::create(pod.path(&format!("/home/coder/fill-{n}"))).unwrap();
                    n += 1;
                    let flags = nix::fcntl::FallocateFlags::empty();
                    if nix::fcntl::fallocate(&f, flags, 0, chunk).is_err() {
                        break;
                    }
                }
            }
            let e = LinuxSyscall.reserve_space(&reserve, bytes).unwrap_err();
            assert!(e.to_string().contains("ENOSPC"), "{e}");
            assert!(!reserve.exists(), "a partial reserve was left");
        },
    );
}
