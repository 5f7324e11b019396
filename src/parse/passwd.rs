//! /etc/passwd and /etc/group: their lines as entries. Names are bytes to libc,
//! so a line that is not UTF-8 is skipped when resolving a user
//! ([`decodable_lines`]) and kept byte for byte when the group file is rewritten
//! ([`group_lines`] works on bytes). Malformed lines are skipped, like libc does.

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Member login names.
    pub members: Vec<String>,
}

/// Parse /etc/passwd text; malformed lines are skipped, like libc does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parse /etc/group text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The lines of `bytes` that are UTF-8, joined. Names are bytes to libc, so one
/// Latin-1 entry must not stop dind-init: like a malformed line, it is skipped.
pub fn decodable_lines(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.split(|b| *b == b'\n') {
        if let Ok(l) = std::str::from_utf8(line) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// One /etc/group line split into the fields a rewrite of the file needs, as bytes.
pub struct RawGroup<'a> {
    /// The whole line, without its newline.
    pub line: &'a [u8],
    /// Group name.
    pub name: &'a [u8],
    /// Group id (None when not a number).
    pub gid: Option<u32>,
    /// Comma-separated member names.
    pub members: &'a [u8],
}

/// The non-empty, non-comment lines of /etc/group bytes, split into fields.
pub fn group_lines(bytes: &[u8]) -> impl Iterator<Item = RawGroup<'_>> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !l.trim_ascii_start().starts_with(b"#"))
        .map(|line| {
            let mut f = line.split(|b| *b == b':');
            let name = f.next().unwrap_or_default();
            let gid = f
                .nth(1)
                .and_then(|g| std::str::from_utf8(g).ok()?.parse().ok());
            let members = f.next().unwrap_or_default();
            RawGroup {
                line,
                name,
                gid,
                members,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_comment_lines_are_skipped() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n  # c:x:1:1::/:/bin/sh\nshort:x:1:1\nbad:x:uid:1::/:/bin/sh\ncoder:x:1000:1000::/home/coder:\n";
        let names: Vec<(String, u32, String)> = parse_passwd(passwd)
            .into_iter()
            .map(|e| (e.name, e.uid, e.shell))
            .collect();
        assert_eq!(
            names,
            [
                ("root".into(), 0, "/bin/bash".into()),
                ("coder".into(), 1000, String::new())
            ]
        );
        let groups = parse_group("# x:x:1:\ndocker:x:998:a,,b\nshort:x:5\nbad:x:g:\n");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, ["a", "b"]);
    }

    #[test]
    fn group_lines_keep_bytes_and_a_bad_gid_is_none() {
        let text = b"caf\xe9:x:5:j\xe9r\n\n# c\ndocker:x:x:coder";
        let rows: Vec<(&[u8], Option<u32>, &[u8])> = group_lines(text)
            .map(|g| (g.name, g.gid, g.members))
            .collect();
        assert_eq!(
            rows,
            [
                (&b"caf\xe9"[..], Some(5), &b"j\xe9r"[..]),
                (&b"docker"[..], None, &b"coder"[..])
            ]
        );
        assert_eq!(decodable_lines(text), "\n# c\ndocker:x:x:coder\n");
    }
}
