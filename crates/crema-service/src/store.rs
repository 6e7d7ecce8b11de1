//! The database (sqlx's `Any` driver over SQLite or PostgreSQL): connection
//! setup, migrations, transactions and the time format every table stores.
//! Imports nothing but the error type and [`Database`].
//!
//! One SQL text serves both back-ends: `$N` placeholders (SQLite binds them
//! by number too), only TEXT / INTEGER (BIGINT) / REAL (DOUBLE PRECISION) /
//! BLOB (BYTEA) columns, 0/1 integers for flags. Where the dialects differ
//! (claiming with `SKIP LOCKED`, JSON access) the caller asks [`backend`].

use crate::database::Database;
use crate::error::{Result, ServiceError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, ConnectOptions, Connection, Executor, Transaction};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The connection pool every subsystem shares.
pub(crate) type Pool = sqlx::AnyPool;
/// A row of either back-end.
pub(crate) type DbRow = sqlx::any::AnyRow;
/// A transaction of either back-end.
pub(crate) type Tx = Transaction<'static, Any>;

/// Which SQL dialect a [`Pool`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// The dialect of `pool`, from its connection URL.
pub(crate) fn backend(pool: &Pool) -> Backend {
    if pool.connect_options().database_url.scheme().starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// Opens (creating if needed) the database and runs its migrations.
///
/// SQLite: WAL journal, `synchronous = NORMAL`, foreign keys on, 5 s busy
/// timeout on every connection; migrations from `migrations/`. PostgreSQL:
/// migrations from `migrations-postgres/` (the same tables, in its dialect).
///
/// Errors: [`ServiceError::Internal`] when the file cannot be created, the
/// server cannot be reached or refuses the login (the message never holds
/// the password), or a migration fails.
pub(crate) async fn open(db: &Database) -> Result<Pool> {
    sqlx::any::install_default_drivers();
    match db {
        Database::Sqlite(path) => open_sqlite(path).await,
        Database::Postgres(url) => {
            let opts: AnyConnectOptions =
                url.parse().map_err(|e| ServiceError::Internal(format!("database {db}: {}", redact(&e, url))))?;
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|e| ServiceError::Internal(format!("database {db}: {}", redact(&e, url))))?;
            sqlx::migrate!("./migrations-postgres").run(&pool).await?;
            Ok(pool)
        }
    }
}

async fn open_sqlite(path: &Path) -> Result<Pool> {
    let url = sqlx::sqlite::SqliteConnectOptions::new().filename(path).create_if_missing(true).to_url_lossy();
    let opts = AnyConnectOptions::from_url(&url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                     PRAGMA busy_timeout = 5000;",
                )
                .await
                .map(|_| ())
            })
        })
        .after_release(|conn, _| {
            Box::pin(async move {
                // A `ROLLBACK` that fails leaves sqlx's transaction depth at 1
                // on a connection SQLite already ended the transaction of (an
                // `SQLITE_FULL` at `COMMIT` rolls back by itself: SQLite,
                // "Result and Error Codes", `SQLITE_FULL`), and every later
                // `BEGIN IMMEDIATE` on it fails. The ping waits for the
                // rollback sqlx queued when the transaction was dropped; a
                // connection still marked in a transaction after it is closed.
                if !conn.is_in_transaction() {
                    return Ok(true);
                }
                conn.ping().await?;
                Ok(!conn.is_in_transaction())
            })
        })
        .connect_with(opts)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// The error's text with the URL's password (if any) blanked out.
fn redact(e: &dyn std::fmt::Display, url: &str) -> String {
    let text = e.to_string();
    match url.split_once("://").and_then(|(_, r)| r.split_once('@')).and_then(|(u, _)| u.split_once(':')) {
        Some((_, pw)) if !pw.is_empty() => text.replace(pw, "***"),
        _ => text,
    }
}

/// Starts a write transaction that runs alone: the same serial order on both
/// back-ends, so read-then-write logic holds without retries.
///
/// SQLite: `BEGIN IMMEDIATE` takes the write lock at once. A deferred
/// `BEGIN` that reads and then writes fails at once with
/// `SQLITE_BUSY_SNAPSHOT` (517, "database is locked") when another connection
/// committed between the read and the write: its snapshot is stale, and the
/// busy timeout does not cover that case (SQLite, "Result and Error Codes",
/// `SQLITE_BUSY_SNAPSHOT`; "Isolation In SQLite"). `IMMEDIATE` waits for the
/// lock under the 5 s busy timeout instead, then reads a current snapshot.
///
/// PostgreSQL: `BEGIN` (read committed) then a transaction-level advisory
/// lock (key 0x6372656d61, "crema" in ASCII), released at commit or rollback (PostgreSQL 15
/// manual, 9.27.10 "Advisory Lock Functions"). Every node of a farm takes the
/// same lock, so these transactions are serial farm-wide as on SQLite; reads
/// outside them and the job claim (`FOR UPDATE SKIP LOCKED`) do not wait for it.
/// `lock_timeout` 5 s mirrors SQLite's busy timeout: a lock not had by then is an error.
///
/// Errors: the database's own (`?` makes them [`ServiceError::Internal`]) when
/// the lock is not had within the busy timeout or the database fails.
pub(crate) async fn begin_immediate(pool: &Pool) -> Result<Tx, sqlx::Error> {
    match backend(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            // Separate statements inside the transaction: when the lock is not
            // had in time, dropping `tx` rolls the aborted transaction back
            // (a failing custom BEGIN statement would leave it open on the
            // pooled connection).
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut *tx).await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK_KEY).execute(&mut *tx).await?;
            Ok(tx)
        }
    }
}

/// The advisory-lock key of [`begin_immediate`] on PostgreSQL: "crema" in ASCII.
const WRITE_LOCK_KEY: i64 = 0x6372656d61;

/// Now, UTC, truncated to milliseconds.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_millisecond(t.millisecond()).unwrap_or(t)
}

/// Now as Unix milliseconds (leases, duties and heartbeats count in them).
pub(crate) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 text of a timestamp.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn parse_ts(s: Option<String>) -> Result<Option<OffsetDateTime>> {
    s.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction whose `ROLLBACK` fails (here SQLite has no transaction
    /// left to roll back, as after an `SQLITE_FULL` at `COMMIT`) must not
    /// leave its connection unable to begin again: every pooled connection
    /// still starts a write transaction afterwards.
    #[tokio::test]
    async fn a_failed_rollback_does_not_poison_a_pooled_connection() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(&Database::Sqlite(dir.path().join("t.db"))).await.unwrap();
        {
            let mut tx = begin_immediate(&pool).await.unwrap();
            // Ends SQLite's transaction behind sqlx's back: the rollback on
            // drop then fails with "no transaction is active".
            sqlx::query("COMMIT").execute(&mut *tx).await.unwrap();
        }
        let max = pool.options().get_max_connections() as usize;
        let mut held = Vec::new();
        for i in 0..max {
            let mut conn = pool.acquire().await.unwrap();
            match conn.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => tx.rollback().await.unwrap(),
                Err(e) => panic!("pooled connection {i} cannot begin: {e}"),
            }
            held.push(conn);
        }
    }
}
