//! Test servers beside the service: a real S3 server (`crema_testkit::s3s`,
//! with the service's own types on top) and a TCP proxy for faults.

pub mod proxy;

/// The S3 test server of `crema_testkit`, with [`S3sFsExt`] for the
/// service's types.
pub mod s3s {
    use crema_service::objects::{Credentials, ObjectStoreUrl, Objects, ObjectsOptions};
    pub use crema_testkit::s3s::{BUCKET, S3sFs};

    /// `S3sFs::url_at` parsed as the service parses `--object-store`.
    pub fn url_at(endpoint: &str, prefix: &str) -> ObjectStoreUrl {
        S3sFs::url_at(endpoint, prefix).parse().expect("a valid object store URL")
    }

    /// The service's types for an [`S3sFs`].
    pub trait S3sFsExt {
        /// The server's credentials.
        fn credentials(&self) -> Credentials;
        /// An [`Objects`] on this server under `prefix`.
        fn objects(&self, prefix: &str, options: ObjectsOptions) -> Objects;
    }

    impl S3sFsExt for S3sFs {
        fn credentials(&self) -> Credentials {
            Credentials::new(&self.access_key, &self.secret_key).expect("credentials")
        }
        fn objects(&self, prefix: &str, options: ObjectsOptions) -> Objects {
            Objects::open_with(&url_at(&self.endpoint(), prefix), self.credentials(), options).expect("open the store")
        }
    }
}
