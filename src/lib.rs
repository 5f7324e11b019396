//! dind-init: PID 1 for Kubernetes devpods that makes Docker-in-Docker work.
//!
//! One pass at every pod start: probe → plan → apply → daemons → the user's
//! command. Each module owns one part; imports point one way, from the top of
//! this list down (`python3 ../shared/tools/rs-shape.py src` reports no cycle):
//!
//! - [`doctor`]: the `doctor`, `plan` and `status` commands: explain the same
//!   facts and the same plan a start uses; never decide anything of their own.
//! - [`session`]: runs a start: config → probe → plan → apply → containerd and
//!   dockerd → smoke test (or storage proof) → the command; the only place that
//!   sequences the stages.
//! - [`apply`]: carries out the plan's steps through [`sys::Syscall`], every
//!   precondition checked before the first change; decides nothing.
//! - [`init`] (PID 1: signals, reaping, the ordered stop), [`dockerd`] and
//!   [`ready`] (talking to running daemons: API, smoke test, logs, diagnosis),
//!   [`state`] (the file `status` reads), [`cgroup`] (cgroup v2 nesting).
//! - [`plan`]: every decision, once: a pure function of facts and config whose
//!   steps are exactly what `dind-init plan` prints and `apply` does.
//! - [`probe`]: facts about this pod; changes nothing (its trial mount is
//!   undone at once).
//! - [`tls`], [`proof`], [`reserve`], [`netpool`], [`user`]: small pure pieces
//!   the probe gathers and the plan decides with (docker:dind certificates, the
//!   storage proof, the space reserve, address pools, the devpod user).
//! - [`config`] (dind-init's settings; owns [`config::Driver`] and the stop
//!   budget) and [`settings`] (Docker's own: daemon.json, DOCKER_OPTS, merged
//!   with each directive once).
//! - [`parse`]: text → data (mountinfo, sh words and files, passwd/group,
//!   DOCKER_HOST); [`sys`]: the seam every change goes through, with a
//!   recording fake for tests; [`error`]: the one error type, one line naming
//!   the fix.

pub mod apply;
pub mod cgroup;
pub mod config;
pub mod dockerd;
pub mod doctor;
pub mod error;
pub mod init;
pub mod netpool;
pub mod parse;
pub mod plan;
pub mod probe;
pub mod proof;
pub mod ready;
pub mod reserve;
pub mod session;
pub mod settings;
pub mod state;
pub mod sys;
pub mod tls;
pub mod user;

pub use error::{Error, Result};
