//! The service's integration suite, one test binary: a real SQLite file (or,
//! with `CREMA_TEST_DATABASE=postgres`, a throwaway PostgreSQL cluster the
//! tests start: `common/postgres.rs`), real encodes of short clips, a real
//! S3 server (`support/s3s.rs`) and the real file-system watcher. One binary
//! instead of one per file: each links FFmpeg and SQLite, and linking them
//! was a large share of the build.

mod common;
mod support;

mod auth;
mod bucket_uploads;
mod jobs;
mod objects;
mod standin;
mod uploads;
mod watch;
mod webhooks;
