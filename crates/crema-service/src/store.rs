//! The SQLite database (sqlx): connection setup, migrations, transactions
//! and the time format every table stores. Imports nothing but the error type.

use crate::error::{Result, ServiceError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Opens (creating if needed) `crema.db` in `data_dir`: WAL journal, foreign
/// keys on, 5 s busy timeout, then runs the migrations.
pub(crate) async fn open(data_dir: &Path) -> Result<SqlitePool> {
    let opts = SqliteConnectOptions::new()
        .filename(data_dir.join("crema.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Starts a transaction that takes SQLite's write lock at once (`BEGIN
/// IMMEDIATE`). Every transaction in this crate starts this way. A deferred
/// `BEGIN` that reads and then writes fails at once with
/// `SQLITE_BUSY_SNAPSHOT` (517, "database is locked") when another connection
/// committed between the read and the write: its snapshot is stale, and the
/// busy timeout does not cover that case (SQLite, "Result and Error Codes",
/// `SQLITE_BUSY_SNAPSHOT`; "Isolation In SQLite"). `IMMEDIATE` waits for the
/// lock under the 5 s busy timeout instead, then reads a current snapshot.
///
/// Errors: the database's own (`?` makes them [`ServiceError::Internal`]) when
/// the lock is not had within the busy timeout or the database fails.
pub(crate) async fn begin_immediate(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Now, UTC, truncated to milliseconds.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_millisecond(t.millisecond()).unwrap_or(t)
}

/// RFC 3339 text of a timestamp.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn parse_ts(s: Option<String>) -> Result<Option<OffsetDateTime>> {
    s.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| ServiceError::Internal(format!("stored time {s}: {e}"))))
        .transpose()
}
