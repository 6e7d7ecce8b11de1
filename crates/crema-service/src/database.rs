//! Where the service keeps its state: an SQLite file (the embedded default)
//! or a PostgreSQL database shared by the nodes of a farm.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The database behind a [`crate::Service`] (`crema serve --database`,
/// `CREMA_DATABASE_URL`). Parse one with [`str::parse`]:
///
/// - `postgres://user:password@host:port/name` or `postgresql://…`: a
///   PostgreSQL database (sqlx's URL format, so `?sslmode=…` and the other
///   libpq parameters work). Several `crema serve` nodes may share it.
/// - `sqlite:PATH`, `sqlite://PATH` or a plain path: an SQLite file, created
///   when missing. Only one machine may use it (processes on that machine may
///   share it: `crema keys` beside `crema serve`).
///
/// `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (as given, password included).
    Postgres(String),
}

/// A `--database` value that is neither a PostgreSQL URL nor a usable path.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DatabaseParseError(String);

impl Database {
    /// The default: `<data_dir>/crema.db`.
    pub fn in_data_dir(data_dir: &Path) -> Database {
        Database::Sqlite(data_dir.join("crema.db"))
    }

    /// Whether several machines may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }
}

impl FromStr for Database {
    type Err = DatabaseParseError;

    /// Errors: an empty value; a URL scheme other than `postgres`,
    /// `postgresql` or `sqlite` (e.g. `mysql://`), since only those two are built in.
    fn from_str(s: &str) -> Result<Database, DatabaseParseError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DatabaseParseError("the database is empty: give a path or a postgres:// URL".into()));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(DatabaseParseError("sqlite: needs a file path (sqlite:/var/lib/crema/crema.db)".into()));
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(DatabaseParseError(format!(
                "{scheme}:// databases are not supported: use a postgres:// URL or an SQLite file path"
            )));
        }
        Ok(Database::Sqlite(PathBuf::from(s)))
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Database::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_string() };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{masked}@{host}{slash}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_parse_to_their_backend() {
        assert_eq!("postgres://a@h/db".parse::<Database>().unwrap(), Database::Postgres("postgres://a@h/db".into()));
        assert!("postgresql://h/db".parse::<Database>().unwrap().is_shared());
        assert_eq!("sqlite:///tmp/x.db".parse::<Database>().unwrap(), Database::Sqlite("/tmp/x.db".into()));
        assert_eq!("sqlite:rel.db?mode=rwc".parse::<Database>().unwrap(), Database::Sqlite("rel.db".into()));
        assert_eq!(
            "/var/lib/crema/crema.db".parse::<Database>().unwrap(),
            Database::Sqlite("/var/lib/crema/crema.db".into())
        );
        assert!(
            "mysql://h/db"
                .parse::<Database>()
                .unwrap_err()
                .to_string()
                .contains("mysql:// databases are not supported")
        );
        assert!("".parse::<Database>().is_err());
        assert!("sqlite:".parse::<Database>().is_err());
    }

    #[test]
    fn a_password_never_shows() {
        let db: Database = "postgres://crema:hunter2@db.lan:5432/farm?sslmode=require".parse().unwrap();
        for shown in [db.to_string(), format!("{db:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("crema:***@db.lan:5432/farm?sslmode=require"), "{shown}");
        }
        let no_pw: Database = "postgres://crema@h/db".parse().unwrap();
        assert_eq!(no_pw.to_string(), "postgres://crema@h/db");
    }
}
