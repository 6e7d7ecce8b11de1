//! [`ObjectStoreUrl`]: what `--object-store` names.
//!
//! ```text
//! s3://BUCKET[/PREFIX][?endpoint=URL][&region=NAME][&credentials_file=PATH][&profile=NAME]
//! ```
//!
//! - `PREFIX`: `/`-separated segments every key lives under; no empty, `.`
//!   or `..` segment and nothing that needs a percent-escape (spaces, `%`,
//!   non-ASCII). Absent: the bucket's root.
//! - `endpoint`: the S3 API's base URL, e.g. `https://ACCOUNT.r2.cloudflarestorage.com`
//!   or `http://127.0.0.1:9000`. Absent: AWS S3 in `region`, addressed
//!   virtual-hosted style (`https://BUCKET.s3.REGION.amazonaws.com`). With an endpoint
//!   requests use path-style addressing (`ENDPOINT/BUCKET/KEY`), which every
//!   S3-compatible store accepts; plain `http` is allowed only when the
//!   endpoint itself says `http://`.
//! - `region`: default `us-east-1`; Cloudflare R2 wants `auto`.
//! - `credentials_file`, `profile`: see [`Credentials`](super::Credentials).
//!
//! Credentials never go in the URL: user info (`s3://KEY:SECRET@bucket`) is
//! refused, without echoing it. Unknown or repeated options are refused, so a
//! typo does not silently fall back to a default.

use super::error::{ObjectsError, Result};
use super::keys::check_segments;
use std::fmt;
use std::path::PathBuf;

/// The default region when the URL names none (AWS's default).
pub const DEFAULT_REGION: &str = "us-east-1";

/// A parsed `--object-store` URL. Holds no secret: [`fmt::Display`] prints it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectStoreUrl {
    /// The bucket's name.
    pub bucket: String,
    /// The prefix every key lives under, without leading or trailing `/`; `""` for the bucket's root.
    pub prefix: String,
    /// The S3 endpoint (scheme, host, optional port); `None` for AWS S3.
    pub endpoint: Option<url::Url>,
    /// The signing region.
    pub region: String,
    /// A credentials file in AWS's shared-credentials format, if given.
    pub credentials_file: Option<PathBuf>,
    /// The profile (section) to read in `credentials_file`; `None` means `default`.
    pub profile: Option<String>,
}

impl ObjectStoreUrl {
    /// True when requests may use plain HTTP (the endpoint is `http://…`).
    pub fn allow_http(&self) -> bool {
        self.endpoint.as_ref().is_some_and(|e| e.scheme() == "http")
    }
}

fn invalid(reason: impl Into<String>) -> ObjectsError {
    ObjectsError::InvalidUrl { reason: reason.into() }
}

impl std::str::FromStr for ObjectStoreUrl {
    type Err = ObjectsError;

    /// Parses the form in the module documentation. Errors:
    /// [`ObjectsError::InvalidUrl`] naming the part that is wrong.
    fn from_str(s: &str) -> Result<Self> {
        let u = url::Url::parse(s).map_err(|e| invalid(format!("not a URL ({e})")))?;
        if u.scheme() != "s3" {
            return Err(invalid(format!("scheme must be s3://, not {}://", u.scheme())));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or credentials_file=",
            ));
        }
        if u.port().is_some() {
            return Err(invalid("a bucket has no port; put host:port in endpoint="));
        }
        let bucket = u.host_str().unwrap_or("").to_string();
        let bucket_ok = (1..=255).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !bucket_ok {
            return Err(invalid("missing or malformed bucket name (s3://BUCKET/…)"));
        }
        if u.fragment().is_some() {
            return Err(invalid("no #fragment allowed"));
        }
        // The URL parser resolves `.`/`..` segments; refuse them as written instead.
        let raw_path = s.split(['?', '#']).next().unwrap_or("");
        let raw_path = raw_path.split_once("://").and_then(|(_, r)| r.split_once('/')).map_or("", |(_, p)| p);
        if raw_path.split('/').any(|seg| seg == "." || seg == "..") {
            return Err(invalid("the prefix may not have '.' or '..' segments"));
        }
        let prefix = u.path().trim_start_matches('/').trim_end_matches('/').to_string();
        if prefix.contains('%') || raw_path.contains('%') {
            return Err(invalid("the prefix may not need percent-escapes (no spaces, '%' or non-ASCII)"));
        }
        if !prefix.is_empty() {
            check_segments(&prefix, false).map_err(|e| invalid(format!("prefix: {e}")))?;
        }
        let mut out = ObjectStoreUrl {
            bucket,
            prefix,
            endpoint: None,
            region: DEFAULT_REGION.to_string(),
            credentials_file: None,
            profile: None,
        };
        let mut seen = Vec::new();
        for (k, v) in u.query_pairs() {
            if seen.contains(&k) {
                return Err(invalid(format!("option {k} given twice")));
            }
            match &*k {
                "endpoint" => out.endpoint = Some(parse_endpoint(&v)?),
                "region" if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                    out.region = v.to_string()
                }
                "region" => return Err(invalid("region must be letters, digits and '-'")),
                "credentials_file" if !v.is_empty() => out.credentials_file = Some(PathBuf::from(&*v)),
                "profile" if !v.is_empty() => out.profile = Some(v.to_string()),
                "credentials_file" | "profile" => return Err(invalid(format!("{k} is empty"))),
                _ => {
                    return Err(invalid(format!(
                        "unknown option {k:?} (known: endpoint, region, credentials_file, profile)"
                    )));
                }
            }
            seen.push(k);
        }
        if out.profile.is_some() && out.credentials_file.is_none() {
            return Err(invalid("profile= needs credentials_file="));
        }
        Ok(out)
    }
}

fn parse_endpoint(v: &str) -> Result<url::Url> {
    let e = url::Url::parse(v).map_err(|e| invalid(format!("endpoint is not a URL ({e})")))?;
    if !matches!(e.scheme(), "http" | "https") {
        return Err(invalid("endpoint must be http:// or https://"));
    }
    if !e.username().is_empty() || e.password().is_some() {
        return Err(invalid("credentials do not belong in the endpoint URL"));
    }
    if e.host_str().is_none_or(str::is_empty) || e.query().is_some() || e.fragment().is_some() {
        return Err(invalid("endpoint must be scheme://host[:port][/path], no query"));
    }
    Ok(e)
}

impl fmt::Display for ObjectStoreUrl {
    /// The URL in its canonical form (region always written).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(e) = &self.endpoint {
            q.append_pair("endpoint", e.as_str().trim_end_matches('/'));
        }
        q.append_pair("region", &self.region);
        if let Some(p) = &self.credentials_file {
            q.append_pair("credentials_file", &p.to_string_lossy());
        }
        if let Some(p) = &self.profile {
            q.append_pair("profile", p);
        }
        let sep = if self.prefix.is_empty() { "" } else { "/" };
        write!(f, "s3://{}{sep}{}?{}", self.bucket, self.prefix, q.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<ObjectStoreUrl> {
        s.parse()
    }

    #[test]
    fn parses_endpoint_region_and_prefix() {
        let u = p("s3://media/crema/farm?endpoint=http://127.0.0.1:9000&region=auto").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str(), u.region.as_str()), ("media", "crema/farm", "auto"));
        assert_eq!(u.endpoint.as_ref().unwrap().as_str(), "http://127.0.0.1:9000/");
        assert!(u.allow_http());
        let aws = p("s3://media").unwrap();
        assert_eq!((aws.prefix.as_str(), aws.region.as_str(), aws.endpoint.is_none()), ("", "us-east-1", true));
        assert!(!aws.allow_http());
        assert!(!p("s3://b/x/?endpoint=https://acct.r2.cloudflarestorage.com").unwrap().allow_http());
        assert_eq!(p("s3://b/x/").unwrap().prefix, "x");
        assert!(p("s3://b/a%20b").is_err());
        let back = p(&u.to_string()).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let secret = "s3://AKID:TOPSECRET@media/x";
        let e = p(secret).unwrap_err().to_string();
        assert!(!e.contains("TOPSECRET") && !e.contains("AKID"), "{e}");
        for bad in [
            "http://media/x",
            "s3:///x",
            "s3://media:9000/x",
            "s3://media/x?endpoint=ftp://h",
            "s3://media/x?endpoint=http://u:p@h",
            "s3://media/x?regoin=auto",
            "s3://media/x?region=a&region=b",
            "s3://media/a//b",
            "s3://media/a/../b",
            "s3://media/./b",
            "S3://media/a/../b",
            "s3://media/a/%2e%2e/b",
            "s3://media/x?profile=p",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
