//! Parse: pure text → data for the files and values dind-init reads.
//!
//! Owns the syntax of /proc/self/mountinfo ([`mountinfo`]), of sh words and
//! assignments ([`shell`]: `/etc/default/docker`, `DIND_DOCKERD_ARGS`) and of
//! /etc/passwd and /etc/group ([`passwd`]), and of docker:dind's `DOCKER_HOST` /
//! `DOCKER_TLS_SAN` ([`dockerhost`]). Every function here is pure over
//! the text it is given: no file access, and no decision about what the data
//! means (that is the probe's and the plan's job). It depends on nothing but
//! the error type, so every stage may use it.

pub mod dockerhost;
pub mod mountinfo;
pub mod passwd;
pub mod shell;
