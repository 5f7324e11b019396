//! Minimal tar: write an archive holding one file, find one file in an archive
//! (ustar, GNU long names, PAX paths). Enough for the smoke test, no more.

use std::time::{SystemTime, UNIX_EPOCH};

/// A tar archive (ustar) holding one regular file, owned by root, mtime now.
pub(super) fn ustar_one_file(name: &str, content: &[u8], mode: u32) -> Vec<u8> {
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
pub(super) fn tar_find_file(tar: &[u8], name: &str) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerd::SMOKE_NAME;

    #[test]
    fn ustar_is_read_by_gnu_tar_and_by_our_reader() {
        let dir = tempfile::tempdir().unwrap();
        let tar = ustar_one_file(SMOKE_NAME, b"hello smoke\n", 0o755);
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(tar_find_file(&tar, SMOKE_NAME).unwrap(), b"hello smoke\n");
        assert_eq!(
            tar_find_file(&tar, "/dind-init-smoke").unwrap(),
            b"hello smoke\n"
        );
        assert!(tar_find_file(&tar, "other").is_none());
        let path = dir.path().join("a.tar");
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
}
