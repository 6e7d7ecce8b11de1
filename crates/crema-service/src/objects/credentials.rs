//! [`Credentials`]: the bucket's access key, from the environment or a file.
//!
//! Where they come from ([`Credentials::resolve`]), first match wins:
//!
//! 1. `credentials_file=PATH` in the URL: a file in AWS's shared-credentials
//!    format (what `aws configure` writes to `~/.aws/credentials`):
//!
//!    ```ini
//!    [default]
//!    aws_access_key_id = AKIA…
//!    aws_secret_access_key = …
//!    # aws_session_token = …   (optional)
//!    ```
//!
//!    The section is `profile=NAME` from the URL, else `default`. Lines
//!    starting with `#` or `;` are comments. The file stays out of the
//!    database; give it mode 0600.
//! 2. The variables `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
//!    `AWS_SESSION_TOKEN` when set).
//!
//! Neither: [`ObjectsError::Credentials`]. Instance roles (EC2 metadata) are
//! not looked up: Crema's farms run on LAN boxes, where that lookup would
//! only hang. The secret never appears in [`fmt::Debug`] output or in errors.

use super::error::{ObjectsError, Result};
use super::url::ObjectStoreUrl;
use std::fmt;
use std::path::Path;

/// An access key id and its secret (and an optional session token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    /// Shows the access key id only; the secret and token are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Credentials {
    /// Credentials given directly (tests, embedding). Errors:
    /// [`ObjectsError::Credentials`] when either value is empty.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Result<Self> {
        let c = Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        };
        if c.access_key_id.trim().is_empty() || c.secret_access_key.trim().is_empty() {
            return Err(ObjectsError::Credentials { reason: "access key id and secret must not be empty".into() });
        }
        Ok(c)
    }

    /// The access key id (not secret: it appears in every signed request and presigned URL).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The URL's `credentials_file`, else the environment (see the module
    /// documentation). Errors: [`ObjectsError::Credentials`] naming what is
    /// missing or unreadable, never a value.
    pub fn resolve(url: &ObjectStoreUrl) -> Result<Self> {
        match &url.credentials_file {
            Some(path) => Self::from_file(path, url.profile.as_deref().unwrap_or("default")),
            None => Self::from_env(),
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, when set, `AWS_SESSION_TOKEN`.
    /// Errors: [`ObjectsError::Credentials`] when either of the first two is unset or empty.
    pub fn from_env() -> Result<Self> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                Ok(Self { access_key_id: id, secret_access_key: secret, session_token: get("AWS_SESSION_TOKEN") })
            }
            _ => Err(ObjectsError::Credentials {
                reason: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file= in the URL".into(),
            }),
        }
    }

    /// Reads section `[profile]` of a shared-credentials file. Errors:
    /// [`ObjectsError::Io`] when the file cannot be read,
    /// [`ObjectsError::Credentials`] when the section or a key is missing.
    pub fn from_file(path: &Path, profile: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ObjectsError::io(path, e))?;
        let (mut id, mut secret, mut token) = (None, None, None);
        let mut in_section = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_section = name.trim() == profile;
                continue;
            }
            if !in_section {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else { continue };
            let v = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            match k.trim() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Self { access_key_id: id, secret_access_key: secret, session_token: token }),
            _ => Err(ObjectsError::Credentials {
                reason: format!(
                    "{}: section [{profile}] needs aws_access_key_id and aws_secret_access_key",
                    path.display()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_profile_and_hides_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("credentials");
        std::fs::write(
            &f,
            "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n# farm\n[farm]\naws_access_key_id=A2\naws_secret_access_key = S2=x\n",
        )
        .unwrap();
        let d = Credentials::from_file(&f, "default").unwrap();
        assert_eq!((d.access_key_id.as_str(), d.secret_access_key.as_str()), ("A1", "S1"));
        let farm = Credentials::from_file(&f, "farm").unwrap();
        assert_eq!(farm.secret_access_key, "S2=x");
        assert!(!format!("{farm:?}").contains("S2"));
        let e = Credentials::from_file(&f, "missing").unwrap_err();
        assert!(matches!(e, ObjectsError::Credentials { .. }));
        assert!(Credentials::new("", "x").is_err());
    }
}
