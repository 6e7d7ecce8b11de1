//! Object storage for farm mode: sources, uploads and outputs in an
//! S3-compatible bucket (AWS S3, Cloudflare R2, Seagate Lyve Cloud, MinIO,
//! `s3s-fs` in the tests) instead of the data folder.
//!
//! [`Objects`] wraps `object_store`'s S3 client (SigV4, multipart, presigned
//! URLs, retries; on the tree's reqwest and ring, no hand-written signing)
//! around one bucket and prefix, named by an [`ObjectStoreUrl`]. Every key
//! is an [`ObjectKey`] relative to that prefix; keys from clients go through
//! [`Objects::resolve_user_key`], which keeps them inside it.
//!
//! - Uploads ([`Objects::put_file`], [`Objects::put_dir`]) use fixed-size
//!   parts (every part but the last exactly [`ObjectsOptions::part_size`]
//!   bytes, as Cloudflare R2 requires), send no `x-amz-checksum-*` headers
//!   (R2 rejects the CRC32 ones other SDKs add by default: no checksum
//!   algorithm is configured, and the builder is not fed from the
//!   environment, so `AWS_CHECKSUM_ALGORITHM` cannot turn one on), then HEAD
//!   the object and compare its size with the local file's.
//! - Downloads ([`Objects::get_to_file`]) go to `FILE.partial`, resume from
//!   its length with range requests, and rename when complete.
//! - Retries: `object_store` retries each request that fails with a
//!   connection error, a timeout on an idempotent request, 5xx, 429 or 408,
//!   with exponential backoff ([`RetryOptions`]: by default 10 retries,
//!   100 ms doubling to at most 15 s, and no retry started after 180 s).
//!   What still fails comes back as [`ObjectsError::Unavailable`].

mod credentials;
mod download;
mod error;
mod keys;
mod multipart;
mod upload;
mod url;

pub use credentials::Credentials;
pub use error::{ObjectsError, Result};
pub use keys::{MAX_KEY_BYTES, ObjectKey};
pub use upload::{DirUploaded, content_type_for};
pub use url::{DEFAULT_REGION, ObjectStoreUrl};

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::signer::Signer;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One mebibyte, in bytes.
const MIB: u64 = 1024 * 1024;

/// Default upload part size: 16 MiB (bytes). S3 and R2 allow 5 MiB to
/// 5 GiB per part and 10 000 parts, so this covers objects up to 156 GiB.
pub const DEFAULT_PART_SIZE: u64 = 16 * MIB;
/// Smallest allowed part size, 5 MiB (bytes): S3's and R2's minimum for every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// Largest allowed part size, 5 GiB (bytes): S3's maximum.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// Lifetime of presigned GET URLs when the caller has no reason to choose:
/// 24 hours (86 400 s). Source: issue 11 ("Object storage"): SOPHON's
/// `GET /v1/jobs/{id}/output` answers 302 to a presigned URL and its
/// clients already expect it to stay valid for 24 h.
pub const DEFAULT_PRESIGN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest presigned URL lifetime SigV4 allows: 7 days (604 800 s).
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Retry policy for requests to the bucket (passed to `object_store`'s `RetryConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryOptions {
    /// Retries per request after the first try (default 10; 0 disables retries).
    pub max_retries: usize,
    /// First backoff (default 100 ms); each next one is twice as long (with jitter).
    pub initial_backoff: Duration,
    /// Longest backoff between two tries (default 15 s).
    pub max_backoff: Duration,
    /// No retry starts later than this after the first try (default 180 s).
    pub retry_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            retry_timeout: Duration::from_secs(180),
        }
    }
}

/// Tuning of [`Objects`]; [`Default`] is what `crema serve` uses.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectsOptions {
    /// Upload part size in bytes (default [`DEFAULT_PART_SIZE`]); files up to
    /// this size go in one PUT. Must lie in [`MIN_PART_SIZE`]..=[`MAX_PART_SIZE`].
    pub part_size: u64,
    /// Parts of one upload in flight at once (default 4; memory ≈ this × `part_size`).
    pub upload_concurrency: usize,
    /// Files of one [`Objects::put_dir`] uploaded at once (default 4).
    pub dir_concurrency: usize,
    /// Bytes asked for per ranged GET by [`Objects::get_to_file`] (default 64 MiB).
    pub download_chunk: u64,
    /// Time to establish a connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time for one whole request, body included (default 300 s: a 16 MiB
    /// part or a 64 MiB range needs at least 220 KB/s).
    pub request_timeout: Duration,
    /// Retries of failed requests.
    pub retry: RetryOptions,
}

impl Default for ObjectsOptions {
    fn default() -> Self {
        Self {
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: 4,
            dir_concurrency: 4,
            download_chunk: 64 * MIB,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(300),
            retry: RetryOptions::default(),
        }
    }
}

/// A bucket and prefix to store objects in. Cheap to clone (one [`Arc`]).
#[derive(Clone)]
pub struct Objects {
    inner: Arc<Inner>,
}

struct Inner {
    store: AmazonS3,
    url: ObjectStoreUrl,
    options: ObjectsOptions,
}

impl fmt::Debug for Objects {
    /// Bucket, prefix, endpoint and region; never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Objects").field("url", &self.inner.url.to_string()).finish_non_exhaustive()
    }
}

impl Objects {
    /// Opens the store `url` names with [`Credentials::resolve`] and default
    /// options. No request is made. Errors: [`ObjectsError::Credentials`],
    /// [`ObjectsError::Io`] (unreadable credentials file).
    pub fn open(url: &ObjectStoreUrl) -> Result<Self> {
        Self::open_with(url, Credentials::resolve(url)?, ObjectsOptions::default())
    }

    /// Opens the store with explicit credentials and options. No request is
    /// made. Errors: [`ObjectsError::InvalidOption`] for options out of range,
    /// [`ObjectsError::InvalidUrl`] when `object_store` refuses the configuration.
    pub fn open_with(url: &ObjectStoreUrl, credentials: Credentials, options: ObjectsOptions) -> Result<Self> {
        check_options(&options)?;
        install_crypto_provider();
        let client = ClientOptions::new()
            .with_allow_http(url.allow_http())
            .with_connect_timeout(options.connect_timeout)
            .with_timeout(options.request_timeout);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: options.retry.initial_backoff,
                max_backoff: options.retry.max_backoff,
                base: 2.0,
            },
            max_retries: options.retry.max_retries,
            retry_timeout: options.retry.retry_timeout,
        };
        // `new()`, not `from_env()`: nothing but what is set here (no
        // AWS_CHECKSUM_ALGORITHM, no AWS_ENDPOINT picked up behind our back).
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&url.bucket)
            .with_region(&url.region)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key)
            .with_client_options(client)
            .with_retry(retry)
            // AWS: virtual-hosted style (BUCKET.s3.REGION.amazonaws.com), its
            // default; any other endpoint: path style, which every S3-compatible
            // store accepts.
            .with_virtual_hosted_style_request(url.endpoint.is_none());
        if let Some(token) = &credentials.session_token {
            b = b.with_token(token);
        }
        if let Some(e) = &url.endpoint {
            b = b.with_endpoint(e.as_str().trim_end_matches('/'));
        }
        let store = b.build().map_err(|e| ObjectsError::InvalidUrl { reason: e.to_string() })?;
        Ok(Self { inner: Arc::new(Inner { store, url: url.clone(), options }) })
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &ObjectStoreUrl {
        &self.inner.url
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &ObjectsOptions {
        &self.inner.options
    }

    /// The full bucket key of `key` (prefix included), as S3 and clients see it.
    pub fn full_key(&self, key: &ObjectKey) -> String {
        keys::full_key(&self.inner.url.prefix, key)
    }

    /// Checks a key a client gave (a full bucket key, e.g. the extension
    /// `{"source": {"type": "s3", "key": "…"}}`) and returns it relative to
    /// the prefix. Errors: [`ObjectsError::InvalidKey`] (empty, malformed),
    /// [`ObjectsError::OutsidePrefix`] (absolute, `..`, or not under the prefix).
    pub fn resolve_user_key(&self, user_key: &str) -> Result<ObjectKey> {
        let key = keys::resolve_user_key(&self.inner.url.prefix, user_key)?;
        self.path(&key)?;
        Ok(key)
    }

    /// The object's size in bytes, or `None` when it does not exist. Errors:
    /// [`ObjectsError::Refused`], [`ObjectsError::Unavailable`].
    pub async fn head(&self, key: &ObjectKey) -> Result<Option<u64>> {
        let path = self.path(key)?;
        match self.inner.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(ObjectsError::from_store(path.as_ref(), e)),
        }
    }

    /// Deletes every object under `key_prefix/` (whole segments: `jobs/job_1`
    /// does not reach `jobs/job_10/…`) and returns how many were deleted.
    /// An object named exactly `key_prefix` is deleted too. Errors:
    /// [`ObjectsError::Refused`], [`ObjectsError::Unavailable`].
    pub async fn delete_prefix(&self, key_prefix: &ObjectKey) -> Result<u64> {
        let path = self.path(key_prefix)?;
        let store = &self.inner.store;
        let map = |e| ObjectsError::from_store(path.as_ref(), e);
        let mut victims: Vec<StorePath> =
            store.list(Some(&path)).map_ok(|m| m.location).try_collect().await.map_err(map)?;
        if store.head(&path).await.is_ok() {
            victims.push(path.clone());
        }
        let count = victims.len() as u64;
        let stream = futures_util::stream::iter(victims.into_iter().map(Ok)).boxed();
        let deleted: Vec<StorePath> = store.delete_stream(stream).try_collect().await.map_err(map)?;
        debug_assert_eq!(deleted.len() as u64, count);
        Ok(count)
    }

    /// A presigned GET URL for `key`, valid `ttl` (use
    /// [`DEFAULT_PRESIGN_TTL`]). Signed locally, no request made; the object
    /// need not exist yet. The URL carries the access key id and a signature
    /// (never the secret): log its path only. Errors:
    /// [`ObjectsError::InvalidOption`] for a zero `ttl` or one above
    /// [`MAX_PRESIGN_TTL`].
    pub async fn presigned_get(&self, key: &ObjectKey, ttl: Duration) -> Result<::url::Url> {
        if ttl.is_zero() || ttl > MAX_PRESIGN_TTL {
            return Err(ObjectsError::InvalidOption {
                reason: format!("presigned URL lifetime must be 1 s to 7 days, not {} s", ttl.as_secs()),
            });
        }
        let path = self.path(key)?;
        self.inner
            .store
            .signed_url(object_store::signer::Method::GET, &path, ttl)
            .await
            .map_err(|e| ObjectsError::from_store(path.as_ref(), e))
    }

    /// The store path of `key`, checking the full key's length.
    fn path(&self, key: &ObjectKey) -> Result<StorePath> {
        let full = self.full_key(key);
        if full.len() > MAX_KEY_BYTES {
            return Err(ObjectsError::InvalidKey { key: full, reason: "longer than 1024 bytes with the prefix" });
        }
        StorePath::parse(&full).map_err(|_| ObjectsError::InvalidKey { key: full, reason: "not a valid object path" })
    }
}

fn check_options(o: &ObjectsOptions) -> Result<()> {
    let bad = |reason: String| Err(ObjectsError::InvalidOption { reason });
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&o.part_size) {
        return bad(format!("part size must be 5 MiB to 5 GiB, not {} bytes", o.part_size));
    }
    if o.upload_concurrency == 0 || o.dir_concurrency == 0 {
        return bad("concurrency must be at least 1".into());
    }
    if o.download_chunk == 0 {
        return bad("download chunk must be at least 1 byte".into());
    }
    Ok(())
}

/// reqwest is built without a default TLS provider (rustls-no-provider): install ring's once.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another part of the process may have installed one already: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(url: &str, options: ObjectsOptions) -> Result<Objects> {
        Objects::open_with(&url.parse()?, Credentials::new("AKIDEXAMPLE", "not-a-real-secret")?, options)
    }

    #[tokio::test]
    async fn addressing_follows_the_endpoint() {
        let k = ObjectKey::new("jobs/a.mp4").unwrap();
        let aws = open("s3://media/farm?region=eu-west-1", ObjectsOptions::default()).unwrap();
        let u = aws.presigned_get(&k, DEFAULT_PRESIGN_TTL).await.unwrap();
        assert_eq!(u.host_str(), Some("media.s3.eu-west-1.amazonaws.com"));
        assert_eq!(u.path(), "/farm/jobs/a.mp4");
        let r2 = open("s3://media/farm?endpoint=https://acct.r2.cloudflarestorage.com&region=auto", Default::default());
        let u = r2.unwrap().presigned_get(&k, DEFAULT_PRESIGN_TTL).await.unwrap();
        assert_eq!(
            (u.scheme(), u.host_str(), u.path()),
            ("https", Some("acct.r2.cloudflarestorage.com"), "/media/farm/jobs/a.mp4")
        );
        assert!(!u.as_str().contains("not-a-real-secret"));
        assert!(!format!("{aws:?}").contains("not-a-real-secret"));
    }

    #[test]
    fn options_out_of_range_are_refused() {
        for o in [
            ObjectsOptions { part_size: MIN_PART_SIZE - 1, ..Default::default() },
            ObjectsOptions { part_size: MAX_PART_SIZE + 1, ..Default::default() },
            ObjectsOptions { upload_concurrency: 0, ..Default::default() },
        ] {
            assert!(matches!(open("s3://media", o).unwrap_err(), ObjectsError::InvalidOption { .. }));
        }
    }
}
