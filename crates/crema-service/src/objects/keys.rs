//! Object keys: [`ObjectKey`] (a checked key relative to the configured
//! prefix) and the check of keys that clients give
//! ([`resolve_user_key`]).
//!
//! Rules, for every key Crema builds or accepts: non-empty, at most
//! [`MAX_KEY_BYTES`] bytes once the prefix is added (S3's limit), segments
//! separated by `/`, no empty segment (so no leading, trailing or doubled
//! `/`), no `.` or `..` segment, no ASCII control character and no `\`.
//! Prefix matching is by whole segments: the prefix `media` holds
//! `media/a.mov` but not `media-private/a.mov`.

use super::error::{ObjectsError, Result};
use std::fmt;

/// S3's limit on a key's length, in bytes (UTF-8), prefix included.
pub const MAX_KEY_BYTES: usize = 1024;

/// A checked object key, relative to the configured prefix
/// (`jobs/job_1/out.mp4`, not `crema/jobs/job_1/out.mp4`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Checks `key` against the rules of this module; `..` and a leading `/`
    /// are refused as [`ObjectsError::InvalidKey`] too (Crema's own keys
    /// never have them; clients' keys go through [`resolve_user_key`]).
    pub fn new(key: &str) -> Result<Self> {
        check_segments(key, false)?;
        Ok(Self(key.to_string()))
    }

    /// The key as text, relative to the prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self/child`, checking `child` (which may hold several segments).
    pub fn join(&self, child: &str) -> Result<Self> {
        Self::new(&format!("{}/{child}", self.0))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ObjectKey {
    type Err = ObjectsError;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

/// Checks a full bucket key a client gave (the `key` of the extension
/// `{"source": {"type": "s3", "key": "…"}}`) and returns it relative to
/// `prefix` (the configured prefix, `""` for the bucket's root).
///
/// Errors: [`ObjectsError::InvalidKey`] for an empty or malformed key;
/// [`ObjectsError::OutsidePrefix`] for an absolute key (leading `/`), a `..`
/// segment, a key not under `prefix`, or the prefix itself.
pub fn resolve_user_key(prefix: &str, user_key: &str) -> Result<ObjectKey> {
    let outside = || ObjectsError::OutsidePrefix { key: user_key.to_string(), prefix: prefix.to_string() };
    if user_key.starts_with('/') {
        return Err(outside());
    }
    check_segments(user_key, true)?;
    if user_key.split('/').any(|s| s == "..") {
        return Err(outside());
    }
    let rest = if prefix.is_empty() {
        user_key
    } else {
        match user_key.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
            Some(rest) if !rest.is_empty() => rest,
            _ => return Err(outside()),
        }
    };
    ObjectKey::new(rest)
}

/// The full bucket key of `key` under `prefix`.
pub(crate) fn full_key(prefix: &str, key: &ObjectKey) -> String {
    if prefix.is_empty() { key.0.clone() } else { format!("{prefix}/{}", key.0) }
}

/// Checks the segment rules; with `allow_dotdot`, `..` segments pass (the
/// caller refuses them as [`ObjectsError::OutsidePrefix`]).
pub(crate) fn check_segments(key: &str, allow_dotdot: bool) -> Result<()> {
    let bad = |reason| Err(ObjectsError::InvalidKey { key: key.to_string(), reason });
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return bad("longer than 1024 bytes");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return bad("control character or backslash");
    }
    for seg in key.split('/') {
        match seg {
            "" => return bad("empty segment (leading, trailing or double '/')"),
            "." => return bad("'.' segment"),
            ".." if !allow_dotdot => return bad("'..' segment"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys_stay_inside_the_prefix() {
        assert_eq!(resolve_user_key("media", "media/in/a.mov").unwrap().as_str(), "in/a.mov");
        assert_eq!(resolve_user_key("", "a.mov").unwrap().as_str(), "a.mov");
        for k in ["media-private/a.mov", "other/a.mov", "media", "media/", "/media/a.mov", "media/../x/a.mov"] {
            let e = resolve_user_key("media", k).unwrap_err();
            assert!(matches!(e, ObjectsError::OutsidePrefix { .. } | ObjectsError::InvalidKey { .. }), "{k}: {e}");
        }
        assert!(matches!(resolve_user_key("media", "media/../x").unwrap_err(), ObjectsError::OutsidePrefix { .. }));
        assert!(matches!(resolve_user_key("media", "").unwrap_err(), ObjectsError::InvalidKey { .. }));
        assert!(matches!(resolve_user_key("media", "media//a").unwrap_err(), ObjectsError::InvalidKey { .. }));
    }

    #[test]
    fn own_keys_are_checked() {
        assert!(ObjectKey::new("jobs/job_1/out.mp4").is_ok());
        for k in ["", "/a", "a/", "a//b", "a/./b", "a/../b", "a\\b", "a\nb"] {
            assert!(ObjectKey::new(k).is_err(), "{k:?}");
        }
        assert!(ObjectKey::new(&"a".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert_eq!(ObjectKey::new("jobs").unwrap().join("a/b.ts").unwrap().as_str(), "jobs/a/b.ts");
    }
}
