//! Test servers beside the service: a real S3 server and a TCP proxy.

pub mod proxy;
pub mod s3s;
