//! dind-init: PID 1 for Kubernetes devpods that makes Docker-in-Docker work.
//!
//! Stages, one module each, run in this order at every pod start:
//! [`config`] → [`probe`] → [`plan`] → [`apply`] → [`dockerd`] → [`init`];
//! [`doctor`] explains them. Side effects go through [`sys::Syscall`] so the
//! decisions are unit-tested without root. [`parse`] turns the text they read
//! (mountinfo, sh files and words, passwd/group) into data; it depends on
//! nothing but [`error`], and the stages depend on it, never the reverse.

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
