//! Signed download tokens (the contract's "Downloads" section): the token in
//! `GET /v1/downloads/{token}` is the only credential, HMAC-signed, naming the
//! object and its expiry.
//!
//! Format: `base64url(payload) "." base64url(mac)`, both unpadded (the
//! alphabet `A-Z a-z 0-9 - _`, so no `/` and safe in a URL path segment).
//! `payload` = version byte (1) ‖ kind byte (1 file, 2 HLS folder) ‖ expiry
//! as unix seconds (u64, big-endian) ‖ job ID (UTF-8). `mac` = HMAC-SHA256 of
//! the payload bytes (32 bytes), keyed with the 32-byte server secret in
//! `<data_dir>/server.secret`, created at first start with mode 0600.

use crate::error::{Result, ServiceError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// File name of the secret inside the data folder.
const SECRET_FILE: &str = "server.secret";
/// Bytes of the secret.
const SECRET_LEN: usize = 32;
/// Token format version.
const VERSION: u8 = 1;
/// Longest token looked at (a real one is about 110 characters).
const MAX_TOKEN: usize = 1024;

/// What a download token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownloadTarget {
    /// The single output file of a job (`GET /v1/downloads/{token}`).
    File {
        /// The job (`job_…`).
        job_id: String,
    },
    /// A job's whole HLS output folder (`GET /v1/downloads/{token}/master.m3u8`,
    /// `…/{token}/720p/seg_001.m4s`): the HTTP layer resolves the rest of the
    /// path inside that folder.
    HlsFolder {
        /// The job (`job_…`).
        job_id: String,
    },
    /// A job's waveform file (extension `output.waveform`; `GET /v1/downloads/{token}`).
    Waveform {
        /// The job (`job_…`).
        job_id: String,
    },
}

impl DownloadTarget {
    fn kind(&self) -> u8 {
        match self {
            Self::File { .. } => 1,
            Self::HlsFolder { .. } => 2,
            Self::Waveform { .. } => 3,
        }
    }

    fn job_id(&self) -> &str {
        match self {
            Self::File { job_id } | Self::HlsFolder { job_id } | Self::Waveform { job_id } => job_id,
        }
    }
}

/// A verified token's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadClaims {
    /// What it grants.
    pub target: DownloadTarget,
    /// When it stops working (whole seconds, UTC).
    pub expires_at: OffsetDateTime,
}

/// The download-token handle: the server secret, as a keyed HMAC ready to clone.
#[derive(Clone)]
pub(crate) struct Downloads {
    mac: Hmac<Sha256>,
}

impl Downloads {
    /// A token for `target` valid for `ttl` from now (the contract's downloads
    /// last 24 h; the caller picks). URL-safe: base64url characters and one
    /// `.`, never `/`. Signing cannot fail.
    pub(crate) fn sign_download(&self, target: &DownloadTarget, ttl: Duration) -> String {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = OffsetDateTime::now_utc().unix_timestamp().saturating_add(ttl).max(0) as u64;
        let mut payload = Vec::with_capacity(10 + target.job_id().len());
        payload.push(VERSION);
        payload.push(target.kind());
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.extend_from_slice(target.job_id().as_bytes());
        let mut mac = self.mac.clone();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a token's signature (constant-time, `Mac::verify_slice`) and expiry.
    ///
    /// Errors, all [`ServiceError::Forbidden`] (403: the token is the
    /// credential, and a bad credential for a known route is refused, not
    /// reported missing; the message never says which part was wrong beyond
    /// "invalid" vs "expired"): a malformed, tampered or foreign (signed with
    /// another server's secret) token is "invalid"; a valid token past its
    /// expiry is "expired".
    pub(crate) fn verify_download(&self, token: &str) -> Result<DownloadClaims> {
        let invalid = || ServiceError::Forbidden("the download link is invalid".into());
        if token.len() > MAX_TOKEN {
            return Err(invalid());
        }
        let (payload_b64, tag_b64) = token.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| invalid())?;
        let mut mac = self.mac.clone();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| invalid())?;
        // Signed by us from here on; still parse defensively.
        if payload.len() < 11 || payload[0] != VERSION {
            return Err(invalid());
        }
        let expires = u64::from_be_bytes(payload[2..10].try_into().map_err(|_| invalid())?);
        let job_id = String::from_utf8(payload[10..].to_vec()).map_err(|_| invalid())?;
        let target = match payload[1] {
            1 => DownloadTarget::File { job_id },
            2 => DownloadTarget::HlsFolder { job_id },
            3 => DownloadTarget::Waveform { job_id },
            _ => return Err(invalid()),
        };
        let expires_at = i64::try_from(expires)
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        if OffsetDateTime::now_utc() >= expires_at {
            return Err(ServiceError::Forbidden("the download link has expired; ask for a new one".into()));
        }
        Ok(DownloadClaims { target, expires_at })
    }
}

/// Loads `<data_dir>/server.secret`, creating it (32 random bytes, mode 0600
/// from the start) at first start. Runs on a blocking thread.
///
/// Errors: [`ServiceError::Internal`] when the file cannot be created or
/// read, is not a regular file, is readable by group or others (mode wider
/// than 0600), or is not exactly 32 bytes.
pub(crate) async fn load_or_create_secret(data_dir: &Path) -> Result<Downloads> {
    let path = data_dir.join(SECRET_FILE);
    let secret = tokio::task::spawn_blocking(move || load_or_create_blocking(&path))
        .await
        .map_err(|e| ServiceError::Internal(format!("loading the server secret: {e}")))??;
    let mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret)
        .map_err(|e| ServiceError::Internal(format!("server secret: {e}")))?;
    Ok(Downloads { mac })
}

fn load_or_create_blocking(path: &Path) -> Result<[u8; SECRET_LEN]> {
    let err = |what: &str, e: std::io::Error| ServiceError::Internal(format!("{}: {what}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(_) => read_secret(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; SECRET_LEN];
            getrandom::fill(&mut secret).map_err(|e| ServiceError::Internal(format!("no OS randomness: {e}")))?;
            // Written to a private temporary file, then linked into place: the
            // link fails if another process created the secret meanwhile, and a
            // reader never sees a half-written file.
            let tmp = temp_path(path);
            let write = || -> std::io::Result<()> {
                let mut f = create_private(&tmp)?;
                f.write_all(&secret)?;
                f.sync_all()
            };
            let written = write();
            let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => {
                    if let Some(dir) = path.parent()
                        && let Ok(d) = std::fs::File::open(dir)
                    {
                        let _ = d.sync_all();
                    }
                    Ok(secret)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret(path),
                Err(e) => Err(err("cannot create the server secret", e)),
            }
        }
        Err(e) => Err(err("cannot read the server secret", e)),
    }
}

fn read_secret(path: &Path) -> Result<[u8; SECRET_LEN]> {
    let refuse = |why: String| {
        ServiceError::Internal(format!(
            "{}: {why}; fix or delete it (deleting it invalidates every download link given out)",
            path.display()
        ))
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| refuse(format!("cannot read the server secret: {e}")))?;
    if !meta.is_file() {
        return Err(refuse("the server secret is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "the server secret has mode {mode:04o}; it must be readable by its owner only (0600)"
            )));
        }
    }
    let bytes = std::fs::read(path).map_err(|e| refuse(format!("cannot read the server secret: {e}")))?;
    <[u8; SECRET_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| refuse(format!("the server secret is {} bytes, not {SECRET_LEN}", bytes.len())))
}

fn temp_path(path: &Path) -> PathBuf {
    let mut n = [0u8; 8];
    let _ = getrandom::fill(&mut n);
    path.with_file_name(format!("{SECRET_FILE}.tmp-{}", hex::encode(n)))
}

/// Creates a new file readable and writable by its owner only (0600 from the start).
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}
