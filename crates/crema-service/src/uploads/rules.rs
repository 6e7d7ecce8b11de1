//! The rules of an upload request: the spec's fields, the configuration,
//! the file name on disk, and the wording of missing parts.

use super::model::{MAX_FILE_NAME_BYTES, UploadSpec};
use crate::config::Config;
use crate::error::{Result, ServiceError};

/// At most this many runs of missing parts are named in an `upload_incomplete` message.
const MAX_LISTED_RUNS: usize = 20;

/// `name` as a file name on disk: `.` and `..` become `_`, and a name over
/// 255 bytes (the usual file-system limit) is cut at a character boundary,
/// keeping its extension when it has a short one.
pub(super) fn disk_name(name: &str) -> String {
    if name == "." || name == ".." {
        return "_".into();
    }
    if name.len() <= MAX_FILE_NAME_BYTES {
        return name.to_string();
    }
    let ext = std::path::Path::new(name).extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 16);
    let keep = MAX_FILE_NAME_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut cut = keep;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    match ext {
        Some(e) => format!("{}.{e}", &name[..cut]),
        None => name[..cut].to_string(),
    }
}

pub(super) fn validate_spec(spec: &UploadSpec, config: &Config) -> Result<()> {
    let name = &spec.file_name;
    let bad_name = |m: &str| ServiceError::validation("file_name", m);
    // The rule is the OpenAPI document's (`FILE_NAME_PATTERN`, 1..=255
    // characters), so that what the document allows is accepted; `.`/`..` and
    // names over 255 bytes are made safe where the name becomes a file
    // ([`disk_name`]), not refused.
    let chars = name.chars().count();
    if chars == 0 {
        return Err(bad_name("must be at least 1 character"));
    }
    if chars > MAX_FILE_NAME_BYTES {
        return Err(bad_name(&format!("must be at most {MAX_FILE_NAME_BYTES} characters, got {chars}")));
    }
    if name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(bad_name("must be a plain file name: no '/' or '\\', no control characters"));
    }
    if spec.file_size == 0 {
        return Err(ServiceError::validation("file_size", "must be at least 1 byte"));
    }
    if spec.file_size > config.max_upload_bytes {
        return Err(ServiceError::PayloadTooLarge(format!(
            "file_size {} bytes is over this server's upload limit of {} bytes",
            spec.file_size, config.max_upload_bytes
        )));
    }
    if let Some(m) = &spec.mime_type
        && (m.chars().count() > 255 || m.chars().any(char::is_control))
    {
        return Err(ServiceError::validation("mime_type", "must be at most 255 characters without control characters"));
    }
    Ok(())
}

/// Checks the upload settings of a [`Config`] (called by [`crate::Service::open`]).
pub(crate) fn check_config(config: &Config) -> Result<()> {
    if config.upload_chunk_size_override == Some(0) {
        return Err(ServiceError::validation("upload_chunk_size_override", "must be at least 1 byte"));
    }
    if config.object_store.is_some() {
        // The parts become the bucket's multipart parts (see `bucket.rs`):
        // S3's 5 MiB minimum and 10 000 parts, and each is held in memory
        // on its way (at most the uploads' allowance).
        let chunk = config.upload_chunk_size_override.unwrap_or_else(|| super::chunk_size_for(config.max_upload_bytes));
        let most = u64::from(super::state::BUCKET_PART_MIB) << 20;
        if config.upload_chunk_size_override.is_some_and(|c| c < crate::objects::MIN_PART_SIZE || c > most) {
            return Err(ServiceError::validation(
                "upload_chunk_size_override",
                format!("with an object store, parts must be {} to {most} bytes", crate::objects::MIN_PART_SIZE),
            ));
        }
        if config.max_upload_bytes.div_ceil(chunk) > 10_000 {
            return Err(ServiceError::validation(
                "max_upload_bytes",
                format!("with an object store, an upload may have at most 10 000 parts of {chunk} bytes"),
            ));
        }
    }
    if config.max_upload_bytes > i64::MAX as u64 {
        return Err(ServiceError::validation("max_upload_bytes", format!("must be at most {}", i64::MAX)));
    }
    if config.upload_ttl.is_zero() || time::Duration::try_from(config.upload_ttl).is_err() {
        return Err(ServiceError::validation("upload_ttl", "must be a positive duration"));
    }
    Ok(())
}

/// Missing part numbers as runs (`0-4, 7, 9-12`), at most [`MAX_LISTED_RUNS`] runs.
pub(super) fn describe_missing(missing: &[u64]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &n in missing {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => runs.push((n, n)),
        }
    }
    let shown: Vec<String> = runs
        .iter()
        .take(MAX_LISTED_RUNS)
        .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
        .collect();
    let mut text = shown.join(", ");
    if runs.len() > MAX_LISTED_RUNS {
        let listed: u64 = runs.iter().take(MAX_LISTED_RUNS).map(|(a, b)| b - a + 1).sum();
        text.push_str(&format!(" and {} more", missing.len() as u64 - listed));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parts_are_listed_as_runs_and_abbreviated() {
        assert_eq!(describe_missing(&[0, 1, 2, 4, 7, 8]), "0-2, 4, 7-8");
        let many: Vec<u64> = (0..100).map(|n| n * 2).collect();
        let text = describe_missing(&many);
        assert!(text.starts_with("0, 2, 4"), "{text}");
        assert!(text.ends_with("and 80 more"), "{text}");
    }
}
