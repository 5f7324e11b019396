//! Parse: pure text → data for the files and values dind-init reads.
//!
//! Owns the syntax of /proc/self/mountinfo ([`mountinfo`]), of sh words and
//! assignments ([`shell`]: `/etc/default/docker`, `DIND_DOCKERD_ARGS`) and of
//! /etc/passwd and /etc/group ([`passwd`]). Every function here is pure over
//! the text it is given: no file access, no decisions about what the data
//! means (that is [`crate::probe`]'s and [`crate::plan`]'s job). Depends on
//! nothing but [`crate::error`].

pub mod mountinfo;
