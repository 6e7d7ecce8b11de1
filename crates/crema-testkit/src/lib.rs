//! Test support shared by Crema's integration suites (one binary per crate:
//! `tests/suite/`, `crates/*/tests/{suite,service,server}/`): where the test
//! media is, a throwaway PostgreSQL cluster ([`postgres`]) and a real,
//! signature-checking S3 server ([`s3s`]).
//!
//! It depends on no Crema crate, so any crate's tests may use it; helpers
//! that need Crema's own types (a `Service` on a temp folder, an `Objects` on
//! the S3 server) stay in the suite that uses them.

pub mod postgres;
pub mod s3s;

use std::path::{Path, PathBuf};

/// The repository root (this crate lives at `crates/crema-testkit`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// The fixture cache that `fixtures/prepare.sh` fills: `$CREMA_FIXTURES`
/// when set and not empty, else `fixtures/cache` in the repository.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("CREMA_FIXTURES") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => root().join("fixtures").join("cache"),
    }
}

/// A file of the fixture cache.
///
/// # Panics
/// When the file is missing, with the command that makes it.
pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures_dir().join(name);
    assert!(
        p.is_file(),
        "missing test fixture {}: run fixtures/prepare.sh (scripts/test.sh does), or set CREMA_FIXTURES to a prepared cache",
        p.display()
    );
    p
}

/// A clip of the real-footage folder (`../shared/media`, its README gives
/// each clip's provenance), read in place, never copied. Looked up through
/// the cache's `shared` link, `$CREMA_SHARED_MEDIA`, then `../shared/media`
/// beside the repository.
///
/// # Panics
/// When no candidate holds the file.
pub fn shared_media(name: &str) -> PathBuf {
    let mut candidates = vec![fixtures_dir().join("shared").join(name)];
    if let Some(d) = std::env::var_os("CREMA_SHARED_MEDIA") {
        candidates.push(PathBuf::from(d).join(name));
    }
    candidates.push(root().join("..").join("shared").join("media").join(name));
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "missing real test media {name}: run fixtures/prepare.sh (it links ../shared/media into the cache) or set CREMA_SHARED_MEDIA"
        )
    })
}

/// A fresh temporary folder named `crema-test-…`, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("crema-test-").tempdir().expect("create a temporary folder")
}
