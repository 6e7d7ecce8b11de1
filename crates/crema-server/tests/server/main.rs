//! The HTTP server's integration suite, one test binary: a real `crema
//! serve` router on loopback (`common/mod.rs`) driven by a real HTTP client,
//! with the contract as data (`common/contract.rs`) and a real S3 server for
//! farm mode's bucket. One binary instead of one per file: each links FFmpeg
//! and SQLite, and linking them was a large share of the build.

mod common;

mod audio;
mod bucket;
mod contract;
mod errors;
mod flow;
mod hardening;
mod lifecycle;
mod openapi_file;
mod watch;
