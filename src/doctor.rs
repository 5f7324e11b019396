//! `doctor`, `plan` and `status`: explain and check what dind-init does.

use crate::config::Config;

/// `dind-init doctor`: facts, plan and checks with remedies.
pub fn doctor(_cfg: &Config, _json: bool) -> i32 {
    eprintln!("dind-init: doctor is not available yet in this build");
    2
}

/// `dind-init plan`: the actions and their reasons; changes nothing.
pub fn plan(_cfg: &Config, _json: bool) -> i32 {
    eprintln!("dind-init: plan is not available yet in this build");
    2
}

/// `dind-init status`: 0 only when Docker answers and storage works.
pub fn status(_cfg: &Config) -> i32 {
    eprintln!("dind-init: status is not available yet in this build");
    2
}
