//! Talking to a running dockerd/containerd: the Engine API client (`GET /_ping`
//! and friends), a smoke test proving that a container root filesystem really
//! mounts on the chosen storage, stale pidfile detection, a log pump for the
//! daemons' output, and a diagnosis of their last lines in plain words.
//!
//! This module reports, it does not decide: which storage driver and layout to
//! use is [`crate::plan`]'s; the smoke test answers with a typed verdict
//! ([`SmokeFailure`]) that PID 1's loop acts on.
//!
//! Nothing here spawns, waits for or reaps a process, or touches signals: `init`
//! owns every child and reaps with `waitpid(-1)`. Everything that talks to a
//! daemon is bounded by a timeout so PID 1 is never stuck on a hung socket.

mod api;
mod diagnose;
#[cfg(test)]
mod fake;
mod logpump;
mod pidfile;
mod smoke;
mod tar;

pub use api::{containerd_answers, ping, request, Response};
pub use diagnose::diagnose;
pub use logpump::{LogPump, TAIL_LINES};
pub use pidfile::pidfile_is_stale;
pub use smoke::{
    smoke_test, smoke_test_typed, smoke_test_with, SmokeError, SmokeFailure, SmokeReport,
    VolumeNow, SMOKE_NAME,
};
