//! The access part of [`Service`]: API keys and sessions, idempotency
//! records, download tokens.

use super::Service;
use crate::auth::{ApiKey, ApiKeyCreated, Principal, Session};
use crate::error::Result;
use crate::idempotency::IdempotencyBegin;
use crate::tokens::{DownloadClaims, DownloadTarget};
use std::time::Duration;

impl Service {
    /// Creates an API key named `name` (trimmed, 1..=200 characters). The
    /// returned [`ApiKeyCreated::key`] is the only copy of the secret.
    ///
    /// Errors: [`crate::ServiceError::Validation`] (`name`) for an empty or too long
    /// name; [`crate::ServiceError::Internal`] for the database.
    pub async fn create_key(&self, name: &str) -> Result<ApiKeyCreated> {
        self.auth.create_key(name).await
    }

    /// Every key, oldest first, without secrets. Errors: [`crate::ServiceError::Internal`].
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        self.auth.list_keys().await
    }

    /// Revokes a key, named by its ID (`key_…`), its visible prefix
    /// (`crema_sk_3f9a2c1d`) or the whole key, and deletes its sessions. The
    /// key fails authentication from the next request on. Revoking a revoked
    /// key returns it unchanged.
    ///
    /// Errors: [`crate::ServiceError::NotFound`] when nothing matches;
    /// [`crate::ServiceError::Validation`] (`key`) when a prefix matches several keys
    /// (the message lists their IDs); [`crate::ServiceError::Internal`].
    pub async fn revoke_key(&self, id_or_prefix: &str) -> Result<ApiKey> {
        self.auth.revoke_key(id_or_prefix).await
    }

    /// Checks a presented API key (`Authorization: Bearer <key>`).
    ///
    /// Errors: [`crate::ServiceError::Unauthorized`] for an unknown, malformed or
    /// revoked key; [`crate::ServiceError::Internal`] for the database.
    pub async fn authenticate_key(&self, presented: &str) -> Result<Principal> {
        self.auth.authenticate_key(presented).await
    }

    /// Exchanges a valid API key for a browser session (the login of the UI).
    ///
    /// Errors: [`crate::ServiceError::Unauthorized`] for a bad key (as
    /// [`authenticate_key`](Service::authenticate_key)); [`crate::ServiceError::Internal`].
    pub async fn create_session(&self, presented_key: &str) -> Result<Session> {
        self.auth.create_session(presented_key).await
    }

    /// Checks a session cookie value. An expired session is deleted.
    ///
    /// Errors: [`crate::ServiceError::Unauthorized`] for an unknown, malformed or
    /// expired session, or one whose key was revoked; [`crate::ServiceError::Internal`].
    pub async fn authenticate_session(&self, cookie_value: &str) -> Result<Principal> {
        self.auth.authenticate_session(cookie_value).await
    }

    /// Ends a session (logout). Unknown or malformed values are not an error.
    ///
    /// Errors: [`crate::ServiceError::Internal`] for the database.
    pub async fn delete_session(&self, cookie_value: &str) -> Result<()> {
        self.auth.delete_session(cookie_value).await
    }

    /// Claims `key` within `scope` for a request whose body hashes to
    /// `request_hash`. Exactly one of several concurrent callers with the same
    /// scope and key gets [`IdempotencyBegin::Proceed`].
    ///
    /// `scope` = `"<key_id> <METHOD> <route pattern>"` built by the HTTP layer
    /// (keys are scoped per route and per API key); `request_hash` = SHA-256
    /// of the body (32 bytes, though any length is compared as given).
    ///
    /// Errors: [`crate::ServiceError::Validation`] (`Idempotency-Key`) for a key that
    /// does not follow [`IDEMPOTENCY_KEY_PATTERN`];
    /// [`crate::ServiceError::IdempotencyKeyReused`] when the key was used with a
    /// different body (checked first); [`crate::ServiceError::RequestInProgress`]
    /// while the first request with this key runs; [`crate::ServiceError::Internal`].
    pub async fn idempotency_begin(&self, scope: &str, key: &str, request_hash: &[u8]) -> Result<IdempotencyBegin> {
        self.idempotency.idempotency_begin(scope, key, request_hash).await
    }

    /// Records the response of a request that [`Service::idempotency_begin`]
    /// let proceed, so that replays get `status` and `body`. Call it for every
    /// status below 500 (a 4xx is a final answer too). A record that is gone
    /// or already done is left alone (logged).
    ///
    /// Errors: [`crate::ServiceError::Internal`] for the database.
    pub async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: &[u8]) -> Result<()> {
        self.idempotency.idempotency_finish(scope, key, status, body).await
    }

    /// Forgets an in-flight key (the request failed with a 5xx or was dropped):
    /// the same key may be sent again and will run. Done records stay.
    ///
    /// Errors: [`crate::ServiceError::Internal`] for the database.
    pub async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<()> {
        self.idempotency.idempotency_abandon(scope, key).await
    }

    /// Deletes idempotency records older than
    /// [`crate::Config::idempotency_retention`] and expired sessions; returns
    /// how many rows went. [`Service::open`] runs it every 5 minutes.
    ///
    /// Errors: [`crate::ServiceError::Internal`] for the database.
    pub async fn purge_expired(&self) -> Result<u64> {
        self.idempotency.purge_expired().await
    }

    /// A token for `target` valid for `ttl` from now (the contract's downloads
    /// last 24 h; the caller picks). URL-safe: base64url characters and one
    /// `.`, never `/`. Signing cannot fail.
    pub fn sign_download(&self, target: &DownloadTarget, ttl: Duration) -> String {
        self.downloads.sign_download(target, ttl)
    }

    /// Checks a token's signature (constant-time, `Mac::verify_slice`) and expiry.
    ///
    /// Errors, all [`crate::ServiceError::Forbidden`] (403: the token is the
    /// credential, and a bad credential for a known route is refused, not
    /// reported missing; the message never says which part was wrong beyond
    /// "invalid" vs "expired"): a malformed, tampered or foreign (signed with
    /// another server's secret) token is "invalid"; a valid token past its
    /// expiry is "expired".
    pub fn verify_download(&self, token: &str) -> Result<DownloadClaims> {
        self.downloads.verify_download(token)
    }
}
