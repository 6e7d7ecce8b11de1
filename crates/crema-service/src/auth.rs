//! API keys and browser sessions (the contract's "Authentication" section).
//!
//! - An API key is `crema_sk_` + 32 random bytes in lower-case hex (73
//!   characters). It is shown once, at creation; the store keeps only its
//!   SHA-256 and a visible prefix (`crema_sk_` + the first 8 hex digits).
//! - A session is what the browser UI holds in the `sophon_api_session`
//!   cookie after exchanging a key for it: 32 random bytes, base64url (43
//!   characters), also stored only as a SHA-256. It is tied to the key that
//!   logged in, expires after [`crate::Config::session_ttl`] and dies with
//!   that key.
//!
//! Why a plain SHA-256 and not a password hash (argon2, bcrypt): both secrets
//! are 256 random bits, so there is nothing to brute-force from the hash and
//! a slow hash would only add latency to every request. The lookup is by the
//! hash (a unique index), so the comparison never runs over the secret itself.

use crate::error::{Result, ServiceError};
use crate::shared::new_id;
use crate::store::{self, now, ts};
use crate::store::{DbRow, Pool};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::path::Path;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Every API key starts with this.
const KEY_PREFIX: &str = "crema_sk_";
/// Hex digits of the random part shown in the visible prefix.
const VISIBLE_HEX: usize = 8;
/// `last_used_at` is written at most this often per key, in seconds.
const LAST_USED_EVERY_S: i64 = 60;
/// Longest key accepted for a database lookup (a key is 73 characters).
const MAX_PRESENTED: usize = 256;

/// A key as created: the only time the secret `key` is shown (the body of
/// `crema keys create` and of any HTTP route that creates keys).
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    /// `key_` + 32 hex digits.
    pub id: String,
    /// The label given at creation.
    pub name: String,
    /// The visible start of the key (`crema_sk_` + 8 hex digits), as lists show it.
    pub prefix: String,
    /// The whole secret key (`crema_sk_` + 64 hex digits). Not stored; shown once.
    pub key: String,
    /// When the key was created (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("key", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A key as listed: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// `key_` + 32 hex digits.
    pub id: String,
    /// The label given at creation.
    pub name: String,
    /// The visible start of the key (`crema_sk_` + 8 hex digits).
    pub prefix: String,
    /// When the key was created (RFC 3339 UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last successful authentication with it (or a session it opened), to
    /// within a minute: it is written at most once a minute per key.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked; `None` while it is active.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The result of [`Admin::import_key`]: the stored key (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyImported {
    /// The key as listed.
    pub key: ApiKey,
    /// `true` when this call stored it, `false` when it was already there.
    pub created: bool,
}

/// Who made a request: the key (also for cookie sessions, the key that logged in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The API key's ID (`key_…`), never the secret.
    pub key_id: String,
}

/// A browser session, as created by [`crate::Service::create_session`].
#[derive(Clone)]
pub struct Session {
    /// The cookie value (43 base64url characters: 32 random bytes). Shown once;
    /// the store keeps only its SHA-256.
    pub value: String,
    /// When the session ends (creation + [`crate::Config::session_ttl`]); the
    /// cookie's `Expires`/`Max-Age` should match.
    pub expires_at: OffsetDateTime,
    /// The key that logged in.
    pub key_id: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Store-only handle for the `crema keys` and `crema watch` CLIs: opens the database (runs migrations)
/// WITHOUT recovering jobs or starting workers, so it is safe while `crema serve` runs.
/// Changes are visible to a running server at once (it reads keys from the
/// store on every request).
pub struct Admin {
    pub(crate) pool: Pool,
    pub(crate) data_dir: std::path::PathBuf,
}

impl Admin {
    /// Opens `database` (default `<data_dir>/crema.db`), creating the folder
    /// and an SQLite database if needed and running migrations. Leaves jobs,
    /// uploads and idempotency records untouched.
    ///
    /// Errors: [`ServiceError::Internal`] when the folder or database cannot be opened.
    pub async fn open(data_dir: &Path, database: Option<&crate::Database>) -> Result<Admin> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|e| ServiceError::Internal(format!("{}: cannot create folder: {e}", data_dir.display())))?;
        let db = database.cloned().unwrap_or_else(|| crate::Database::in_data_dir(data_dir));
        Ok(Admin { pool: store::open(&db).await?, data_dir: data_dir.to_path_buf() })
    }

    /// Creates a key; see [`create_key`](crate::Service::create_key).
    ///
    /// Errors: [`ServiceError::Validation`] (`name`) for an empty name;
    /// [`ServiceError::Internal`] for the database.
    pub async fn create_key(&self, name: &str) -> Result<ApiKeyCreated> {
        create_key(&self.pool, name).await
    }

    /// Adds a key made elsewhere (a container secret, another machine's
    /// `crema keys create`) under `name`, storing only its SHA-256, so that a
    /// deployment can hand the server its key instead of reading one back.
    /// Idempotent: a key already stored and active is returned as it is
    /// (`created` false, its name unchanged), so an entrypoint may import on
    /// every start.
    ///
    /// Errors: [`ServiceError::Validation`] (`key`) when `key` (surrounding
    /// white space ignored) is not `crema_sk_` + 64 lower-case hex digits, the
    /// shape `create_key` makes, or when it was revoked (a revoked key stays
    /// revoked: make a new one); (`name`) as for `create_key`;
    /// [`ServiceError::Internal`] for the database. The messages never
    /// contain the key.
    pub async fn import_key(&self, name: &str, key: &str) -> Result<ApiKeyImported> {
        import_key(&self.pool, name, key).await
    }

    /// Every key, oldest first, without secrets. Errors: [`ServiceError::Internal`].
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        list_keys(&self.pool).await
    }

    /// Revokes a key; see [`revoke_key`](crate::Service::revoke_key).
    ///
    /// Errors: [`ServiceError::NotFound`], [`ServiceError::Validation`] for an
    /// ambiguous prefix, [`ServiceError::Internal`].
    pub async fn revoke_key(&self, id_or_prefix: &str) -> Result<ApiKey> {
        revoke_key(&self.pool, id_or_prefix).await
    }

    /// Closes the database (waits for its connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The keys-and-sessions handle of a running service.
pub(crate) struct Auth {
    pool: Pool,
    /// How long a browser session lasts.
    session_ttl: std::time::Duration,
}

impl Auth {
    /// A handle over `pool`, with sessions lasting `session_ttl`.
    pub(crate) fn new(pool: Pool, session_ttl: std::time::Duration) -> Auth {
        Auth { pool, session_ttl }
    }

    /// Creates an API key named `name` (trimmed, 1..=200 characters). The
    /// returned [`ApiKeyCreated::key`] is the only copy of the secret.
    ///
    /// Errors: [`ServiceError::Validation`] (`name`) for an empty or too long
    /// name; [`ServiceError::Internal`] for the database.
    pub(crate) async fn create_key(&self, name: &str) -> Result<ApiKeyCreated> {
        create_key(&self.pool, name).await
    }

    /// Every key, oldest first, without secrets. Errors: [`ServiceError::Internal`].
    pub(crate) async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        list_keys(&self.pool).await
    }

    /// Revokes a key, named by its ID (`key_…`), its visible prefix
    /// (`crema_sk_3f9a2c1d`) or the whole key, and deletes its sessions. The
    /// key fails authentication from the next request on. Revoking a revoked
    /// key returns it unchanged.
    ///
    /// Errors: [`ServiceError::NotFound`] when nothing matches;
    /// [`ServiceError::Validation`] (`key`) when a prefix matches several keys
    /// (the message lists their IDs); [`ServiceError::Internal`].
    pub(crate) async fn revoke_key(&self, id_or_prefix: &str) -> Result<ApiKey> {
        revoke_key(&self.pool, id_or_prefix).await
    }

    /// Checks a presented API key (`Authorization: Bearer <key>`).
    ///
    /// Errors: [`ServiceError::Unauthorized`] for an unknown, malformed or
    /// revoked key; [`ServiceError::Internal`] for the database.
    pub(crate) async fn authenticate_key(&self, presented: &str) -> Result<Principal> {
        authenticate_key(&self.pool, presented).await
    }

    /// Exchanges a valid API key for a browser session (the login of the UI).
    ///
    /// Errors: [`ServiceError::Unauthorized`] for a bad key (as
    /// [`authenticate_key`](crate::Service::authenticate_key)); [`ServiceError::Internal`].
    pub(crate) async fn create_session(&self, presented_key: &str) -> Result<Session> {
        let principal = authenticate_key(&self.pool, presented_key).await?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| ServiceError::Internal(format!("no OS randomness: {e}")))?;
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let created = now();
        let ttl = time::Duration::try_from(self.session_ttl).unwrap_or(time::Duration::DAY);
        let expires_at = created.saturating_add(ttl);
        sqlx::query(
            "INSERT INTO sessions (token_hash, key_id, created_at, expires_at, expires_unix) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(sha256_hex(&value))
        .bind(&principal.key_id)
        .bind(ts(created))
        .bind(ts(expires_at))
        .bind(expires_at.unix_timestamp())
        .execute(&self.pool)
        .await?;
        Ok(Session { value, expires_at, key_id: principal.key_id })
    }

    /// Checks a session cookie value. An expired session is deleted.
    ///
    /// Errors: [`ServiceError::Unauthorized`] for an unknown, malformed or
    /// expired session, or one whose key was revoked; [`ServiceError::Internal`].
    pub(crate) async fn authenticate_session(&self, cookie_value: &str) -> Result<Principal> {
        let bad = || ServiceError::Unauthorized("the session is invalid or has expired; log in again".into());
        if cookie_value.len() != 43
            || !cookie_value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad());
        }
        let hash = sha256_hex(cookie_value);
        let row = sqlx::query(
            "SELECT s.key_id, s.expires_unix, k.revoked_at, k.last_used_at
             FROM sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(bad)?;
        let key_id: String = row.try_get("key_id")?;
        let expires_unix: i64 = row.try_get("expires_unix")?;
        let revoked: Option<String> = row.try_get("revoked_at")?;
        if expires_unix <= OffsetDateTime::now_utc().unix_timestamp() || revoked.is_some() {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(&hash).execute(&self.pool).await?;
            return Err(bad());
        }
        touch(&self.pool, &key_id, row.try_get("last_used_at")?).await?;
        Ok(Principal { key_id })
    }

    /// Ends a session (logout). Unknown or malformed values are not an error.
    ///
    /// Errors: [`ServiceError::Internal`] for the database.
    pub(crate) async fn delete_session(&self, cookie_value: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(sha256_hex(cookie_value))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Lower-case hex SHA-256 of a secret's UTF-8 bytes.
fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn parse_ts(s: Option<String>) -> Result<Option<OffsetDateTime>> {
    s.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}"))))
        .transpose()
}

fn row_to_key(row: &DbRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: parse_ts(Some(row.try_get("created_at")?))?.unwrap_or_else(now),
        last_used_at: parse_ts(row.try_get("last_used_at")?)?,
        revoked_at: parse_ts(row.try_get("revoked_at")?)?,
    })
}

/// `name` trimmed, or why it cannot name a key.
fn key_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::validation("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(ServiceError::validation("name", "must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::validation("name", "must not contain control characters"));
    }
    Ok(name)
}

pub(crate) async fn create_key(pool: &Pool, name: &str) -> Result<ApiKeyCreated> {
    let name = key_name(name)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::Internal(format!("no OS randomness: {e}")))?;
    let secret = hex::encode(bytes);
    let key = format!("{KEY_PREFIX}{secret}");
    let prefix = format!("{KEY_PREFIX}{}", &secret[..VISIBLE_HEX]);
    let id = new_id("key");
    let created_at = now();
    sqlx::query("INSERT INTO api_keys (id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(name)
        .bind(&prefix)
        .bind(sha256_hex(&key))
        .bind(ts(created_at))
        .execute(pool)
        .await?;
    Ok(ApiKeyCreated { id, name: name.to_string(), prefix, key, created_at })
}

pub(crate) async fn import_key(pool: &Pool, name: &str, key: &str) -> Result<ApiKeyImported> {
    let name = key_name(name)?;
    let key = key.trim();
    let secret = key.strip_prefix(KEY_PREFIX).unwrap_or_default();
    if secret.len() != 64 || !secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ServiceError::validation(
            "key",
            format!("must be {KEY_PREFIX} followed by 64 lower-case hex digits (as `crema keys create` makes)"),
        ));
    }
    let hash = sha256_hex(key);
    let mut tx = crate::store::begin_immediate(pool).await?;
    if let Some(row) =
        sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1").bind(&hash).fetch_optional(&mut *tx).await?
    {
        let existing = row_to_key(&row)?;
        if existing.revoked_at.is_some() {
            return Err(ServiceError::validation(
                "key",
                format!("key {} ({}) was revoked; make a new key", existing.id, existing.prefix),
            ));
        }
        return Ok(ApiKeyImported { key: existing, created: false });
    }
    let id = new_id("key");
    let prefix = format!("{KEY_PREFIX}{}", &secret[..VISIBLE_HEX]);
    let created_at = now();
    sqlx::query("INSERT INTO api_keys (id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(name)
        .bind(&prefix)
        .bind(&hash)
        .bind(ts(created_at))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let key = ApiKey { id, name: name.to_string(), prefix, created_at, last_used_at: None, revoked_at: None };
    Ok(ApiKeyImported { key, created: true })
}

pub(crate) async fn list_keys(pool: &Pool) -> Result<Vec<ApiKey>> {
    let rows = sqlx::query("SELECT * FROM api_keys ORDER BY rowid").fetch_all(pool).await?;
    rows.iter().map(row_to_key).collect()
}

pub(crate) async fn revoke_key(pool: &Pool, id_or_prefix: &str) -> Result<ApiKey> {
    let arg = id_or_prefix.trim();
    let not_found = || ServiceError::NotFound { kind: "api key", id: arg.to_string() };
    if arg.is_empty() {
        return Err(ServiceError::validation("key", "give a key ID (key_…) or a key prefix (crema_sk_…)"));
    }
    let mut tx = crate::store::begin_immediate(pool).await?;
    let rows = sqlx::query("SELECT * FROM api_keys WHERE id = $1 OR prefix = $1 OR key_hash = $2 ORDER BY rowid")
        .bind(arg)
        .bind(sha256_hex(arg))
        .fetch_all(&mut *tx)
        .await?;
    let mut keys = rows.iter().map(row_to_key).collect::<Result<Vec<_>>>()?;
    // An exact ID or whole key wins over a prefix that other keys share.
    if let Some(exact) = keys.iter().position(|k| k.id == arg || k.prefix != arg) {
        keys = vec![keys.swap_remove(exact)];
    }
    let key = match keys.len() {
        0 => return Err(not_found()),
        1 => keys.remove(0),
        _ => {
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            return Err(ServiceError::validation(
                "key",
                format!("prefix {arg} matches {} keys ({}); revoke by ID instead", ids.len(), ids.join(", ")),
            ));
        }
    };
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(ts(now()))
        .bind(&key.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE key_id = $1").bind(&key.id).execute(&mut *tx).await?;
    let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(&key.id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    row_to_key(&row)
}

pub(crate) async fn authenticate_key(pool: &Pool, presented: &str) -> Result<Principal> {
    let bad = || ServiceError::Unauthorized("invalid API key".into());
    if !presented.starts_with(KEY_PREFIX) || presented.len() > MAX_PRESENTED {
        return Err(bad());
    }
    let row = sqlx::query("SELECT id, revoked_at, last_used_at FROM api_keys WHERE key_hash = $1")
        .bind(sha256_hex(presented))
        .fetch_optional(pool)
        .await?
        .ok_or_else(bad)?;
    let key_id: String = row.try_get("id")?;
    if row.try_get::<Option<String>, _>("revoked_at")?.is_some() {
        return Err(ServiceError::Unauthorized("this API key was revoked".into()));
    }
    touch(pool, &key_id, row.try_get("last_used_at")?).await?;
    Ok(Principal { key_id })
}

/// Writes `last_used_at` when it is unset or at least a minute old, so a busy
/// key costs one write a minute, not one per request.
async fn touch(pool: &Pool, key_id: &str, last_used: Option<String>) -> Result<()> {
    let now = now();
    let due = match parse_ts(last_used)? {
        None => true,
        Some(t) => (now - t).whole_seconds() >= LAST_USED_EVERY_S,
    };
    if due {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(ts(now))
            .bind(key_id)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Deletes expired sessions; returns how many.
pub(crate) async fn purge_sessions(pool: &Pool) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_unix <= $1")
        .bind(OffsetDateTime::now_utc().unix_timestamp())
        .execute(pool)
        .await?;
    Ok(r.rows_affected())
}
