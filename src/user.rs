//! The devpod user: read /etc/passwd and /etc/group ourselves.
//!
//! A static binary has no NSS, and a devpod image's users are plain files, so
//! parsing them is both simpler and more predictable than getpwnam(3). The
//! parsers (in `parse::passwd`) take text; [`resolve`] takes the /etc directory
//! as an argument so tests point it at a temp tree.

use crate::config::UserSpec;
use crate::error::{Error, Result};
use crate::parse::passwd::group_lines;
pub use crate::parse::passwd::{
    decodable_lines, parse_group, parse_passwd, GroupEntry, PasswdEntry,
};
use std::path::{Path, PathBuf};

/// Everything needed to run a command as the user and to find their home.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Login name ("" when only a uid was given and /etc/passwd does not know it).
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (HOME).
    pub home: PathBuf,
    /// Login shell (SHELL), /bin/sh when unset.
    pub shell: PathBuf,
    /// Supplementary groups (from /etc/group membership), primary group first.
    pub groups: Vec<u32>,
}

fn read_optional(path: &Path) -> Result<String> {
    match std::fs::read(path) {
        Ok(b) => Ok(decodable_lines(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Resolve `spec` (None: the current effective user) against `etc`/passwd and `etc`/group.
pub fn resolve(etc: &Path, spec: Option<&UserSpec>) -> Result<User> {
    let passwd = parse_passwd(&read_optional(&etc.join("passwd"))?);
    let groups = parse_group(&read_optional(&etc.join("group"))?);
    resolve_in(&passwd, &groups, spec, nix::unistd::geteuid().as_raw())
}

/// Pure core of [`resolve`]: `current_uid` stands for "no DIND_USER".
pub fn resolve_in(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    spec: Option<&UserSpec>,
    current_uid: u32,
) -> Result<User> {
    let (entry, uid, gid_override) = match spec {
        Some(UserSpec::Name(name)) => {
            let Some(e) = passwd.iter().find(|e| &e.name == name) else {
                return Err(Error::BadSetting {
                    key: "DIND_USER".into(),
                    value: name.clone(),
                    allowed:
                        "a user that exists in the image's /etc/passwd, or a numeric uid[:gid]"
                            .into(),
                });
            };
            (Some(e), e.uid, None)
        }
        Some(UserSpec::Id { uid, gid }) => (passwd.iter().find(|e| e.uid == *uid), *uid, *gid),
        None => (
            passwd.iter().find(|e| e.uid == current_uid),
            current_uid,
            None,
        ),
    };
    let gid = gid_override.or(entry.map(|e| e.gid)).unwrap_or(uid);
    let name = entry.map(|e| e.name.clone()).unwrap_or_default();
    let mut gids = vec![gid];
    if !name.is_empty() {
        for g in groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == &name))
        {
            if !gids.contains(&g.gid) {
                gids.push(g.gid);
            }
        }
    }
    let home = entry
        .map(|e| e.home.as_str())
        .filter(|h| h.starts_with('/'))
        .unwrap_or(if uid == 0 { "/root" } else { "/" });
    let shell = entry
        .map(|e| e.shell.as_str())
        .filter(|s| s.starts_with('/'))
        .unwrap_or("/bin/sh");
    Ok(User {
        name,
        uid,
        gid,
        home: PathBuf::from(home),
        shell: PathBuf::from(shell),
        groups: gids,
    })
}

/// The gid of `group` in /etc/group bytes (lines that are not UTF-8 included:
/// only the name and gid fields need to be). Like dockerd's `--group`, a number
/// that names no group is taken as the gid itself.
pub fn group_gid(group_bytes: &[u8], group: &str) -> Option<u32> {
    group_lines(group_bytes)
        .find_map(|f| (f.name == group.as_bytes()).then_some(f.gid)?)
        .or_else(|| group.parse().ok())
}

/// The /etc/group bytes with `group` present and `user` a member of it, and the
/// group's gid; None when nothing needs to change. Every other line is kept byte
/// for byte (a Latin-1 entry must survive the rewrite). The new gid is the lowest
/// free one from 999 down (the system-group range Debian's addgroup uses).
pub fn with_docker_group(group_bytes: &[u8], group: &str, user: &str) -> Option<(Vec<u8>, u32)> {
    let found = group_lines(group_bytes).find(|g| g.name == group.as_bytes() && g.gid.is_some());
    if let Some(g) = found {
        let gid = g.gid?;
        let member = |m: &[u8]| m == user.as_bytes();
        if user.is_empty() || g.members.split(|b| *b == b',').any(member) {
            return None;
        }
        let mut out = Vec::new();
        let body = group_bytes.strip_suffix(b"\n").unwrap_or(group_bytes);
        for line in body.split(|b| *b == b'\n') {
            out.extend_from_slice(line);
            if std::ptr::eq(line, g.line) {
                if !line.ends_with(b":") {
                    out.push(b',');
                }
                out.extend_from_slice(user.as_bytes());
            }
            out.push(b'\n');
        }
        return Some((out, gid));
    }
    if group.parse::<u32>().is_ok() {
        // A bare gid: dockerd gives the socket to it; there is no name to add.
        return None;
    }
    let used: Vec<u32> = group_lines(group_bytes).filter_map(|g| g.gid).collect();
    let gid = (100..=999).rev().find(|id| !used.contains(id))?;
    let mut out = group_bytes.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("{group}:x:{gid}:{user}\n").as_bytes());
    Some((out, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\ncoder:x:1000:1000:Coder,,,:/home/coder:/bin/zsh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\ncoder:x:1000:\ndocker:x:998:coder\nsudo:x:27:coder,other\n";

    fn user(spec: Option<UserSpec>) -> Result<User> {
        resolve_in(&parse_passwd(PASSWD), &parse_group(GROUP), spec.as_ref(), 0)
    }

    #[test]
    fn by_name_gets_home_shell_and_groups() {
        let u = user(Some(UserSpec::Name("coder".into()))).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.home, PathBuf::from("/home/coder"));
        assert_eq!(u.shell, PathBuf::from("/bin/zsh"));
        assert_eq!(u.groups, vec![1000, 998, 27]);
    }

    #[test]
    fn by_uid_and_gid() {
        let u = user(Some(UserSpec::Id {
            uid: 1000,
            gid: Some(5),
        }))
        .unwrap();
        assert_eq!((u.name.as_str(), u.uid, u.gid), ("coder", 1000, 5));
        let u = user(Some(UserSpec::Id {
            uid: 4242,
            gid: None,
        }))
        .unwrap();
        assert_eq!(
            (u.name.as_str(), u.gid, u.home.to_str()),
            ("", 4242, Some("/"))
        );
        assert_eq!(u.groups, vec![4242]);
    }

    #[test]
    fn default_is_current_user() {
        let u = user(None).unwrap();
        assert_eq!((u.name.as_str(), u.home.to_str()), ("root", Some("/root")));
    }

    #[test]
    fn unknown_name_names_the_variable() {
        let msg = user(Some(UserSpec::Name("ghost".into())))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("DIND_USER") && msg.contains("ghost"), "{msg}");
    }

    fn joined(text: &[u8], group: &str, user: &str) -> Option<(String, u32)> {
        with_docker_group(text, group, user)
            .map(|(t, gid)| (String::from_utf8_lossy(&t).into_owned(), gid))
    }

    #[test]
    fn docker_group_created_or_joined() {
        let g = GROUP.as_bytes();
        assert_eq!(joined(g, "docker", "coder"), None);
        let (text, gid) = joined(g, "docker", "newbie").unwrap();
        assert_eq!(gid, 998);
        assert!(text.contains("docker:x:998:coder,newbie\n"), "{text}");
        let (text, gid) = joined(b"root:x:0:\ndocker:x:999:", "dock", "coder").unwrap();
        assert_eq!(gid, 998);
        assert!(
            text.ends_with("docker:x:999:\ndock:x:998:coder\n"),
            "{text}"
        );
        let (text, _) = joined(b"docker:x:999:\n", "docker", "coder").unwrap();
        assert_eq!(text, "docker:x:999:coder\n");
        assert_eq!(group_gid(g, "docker"), Some(998));
        assert_eq!(group_gid(g, "dock"), None);
        assert_eq!(
            joined(g, "2375", "coder"),
            None,
            "a bare gid names no group to add"
        );
        assert_eq!(group_gid(g, "2375"), Some(2375));
        assert_eq!(group_gid(b"2375:x:5:\n", "2375"), Some(5), "a name first");
    }

    /// A Latin-1 line is skipped when resolving (libc treats names as bytes) and
    /// kept byte for byte when /etc/group is rewritten.
    #[test]
    fn non_utf8_lines_are_skipped_and_kept() {
        let passwd = b"root:x:0:0:root:/root:/bin/bash\nj\xe9r\xf4me:x:1001:1001:J\xe9r\xf4me:/home/j:/bin/sh\ncoder:x:1000:1000::/home/coder:/bin/zsh\n";
        let group: &[u8] = b"root:x:0:\ncaf\xe9:x:1001:j\xe9r\xf4me\ndocker:x:998:j\xe9r\xf4me";
        let names: Vec<String> = parse_passwd(&decodable_lines(passwd))
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["root", "coder"]);
        assert_eq!(parse_group(&decodable_lines(group)).len(), 1);
        let (text, gid) = with_docker_group(group, "docker", "coder").unwrap();
        assert_eq!(gid, 998, "the docker line is found though it is not UTF-8");
        assert_eq!(
            text,
            b"root:x:0:\ncaf\xe9:x:1001:j\xe9r\xf4me\ndocker:x:998:j\xe9r\xf4me,coder\n"
        );
        assert_eq!(group_gid(group, "docker"), Some(998));
    }

    #[test]
    fn resolve_skips_a_non_utf8_passwd_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(
            dir.join("passwd"),
            b"j\xe9r\xf4me:x:1001:1001::/home/j:/bin/sh\ncoder:x:1000:1000::/home/coder:/bin/zsh\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("group"),
            b"caf\xe9:x:5:coder\ndocker:x:998:coder\n",
        )
        .unwrap();
        let u = resolve(dir, Some(&UserSpec::Name("coder".into()))).unwrap();
        assert_eq!(u.home, PathBuf::from("/home/coder"));
        assert_eq!(u.groups, vec![1000, 998]);
    }
}
