//! How a [`Plan`] reads as text: one numbered shell-like line per step and its
//! reason, then notes and warnings. `dind-init plan` prints exactly this.
//!
//! Must not: decide anything; every word comes from the plan's data.

use super::{Action, Plan};
use std::path::Path;

impl Plan {
    /// Human text: one numbered line per step, `N. <shell-like command>  — <reason>`,
    /// then notes and warnings. `dind-init plan` prints exactly this.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.steps.is_empty() {
            out.push_str("nothing to do\n");
        }
        for (i, s) in self.steps.iter().enumerate() {
            out.push_str(&format!(
                "{}. {}  — {}\n",
                i + 1,
                render_action(&s.action),
                s.reason
            ));
        }
        if let Some(smoke) = &self.smoke {
            out.push_str(&format!("then: {}\n", smoke.render()));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}

/// Quote a word for a POSIX shell only when it needs it.
pub(super) fn sh(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=,@%+-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub(super) fn shp(p: &Path) -> String {
    sh(&p.to_string_lossy())
}

/// bash's $'…' quoting, so a multi-line file fits on one line and stays exact.
pub(super) fn ansi_c(text: &str) -> String {
    let mut s = String::from("$'");
    for c in text.chars() {
        match c {
            '\\' => s.push_str(r"\\"),
            '\'' => s.push_str(r"\'"),
            '\n' => s.push_str(r"\n"),
            '\t' => s.push_str(r"\t"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

pub(super) fn render_action(a: &Action) -> String {
    match a {
        Action::CreateDir { path, mode } => format!("mkdir -p -m {mode:04o} {}", shp(path)),
        Action::SecureDir { path, mode, was } => format!(
            "chown root:root, chmod {mode:04o} {} (was uid {} gid {} {:04o})",
            shp(path),
            was.uid,
            was.gid,
            was.mode
        ),
        Action::Lock { path } => format!("flock --exclusive {}", shp(path)),
        Action::BindMount { src, dst } => format!("mount --bind {} {}", shp(src), shp(dst)),
        Action::Symlink { target, link } => format!("ln -s {} {}", shp(target), shp(link)),
        Action::WriteFile { path, content } => {
            format!("printf '%s' {} > {}", ansi_c(content), shp(path))
        }
        Action::RemoveStalePidfile { path } => format!("rm {}", shp(path)),
        Action::OwnHome { path, uid, gid } => format!("chown {uid}:{gid} {}", shp(path)),
        Action::StartContainerd { argv, .. } | Action::StartDockerd { argv, .. } => {
            let words: Vec<String> = argv.iter().map(|w| sh(w)).collect();
            format!("{} &", words.join(" "))
        }
        Action::Tls { step } => step.render(),
        Action::TakeReserve { path, bytes } => format!("fallocate -l {bytes} {}", shp(path)),
        Action::ReleaseReserve { path } => format!("rm {}", shp(path)),
        Action::JoinGroup { user, group } => {
            format!("usermod -a -G {} {} (in /etc/group)", sh(group), sh(user))
        }
        Action::NestCgroup { root } => format!(
            "nest cgroups under {}: our processes into <our cgroup>/init, every controller on for containers",
            shp(root)
        ),
        Action::RecordState { path } => format!("record the phase in {}", shp(path)),
        Action::RecordProof { path, content } => format!(
            "printf '%s' {} > {} (after the smoke test passes)",
            ansi_c(content),
            shp(path)
        ),
        Action::CacheVersion {
            path,
            program,
            version,
        } => format!(
            "cache {} of {} in {} (after Docker answers)",
            sh(version),
            sh(program),
            shp(path)
        ),
    }
}
