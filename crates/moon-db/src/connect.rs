//! Choosing a backend from the URL and opening its pools.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::{DbError, QueryErrors};

/// The closed set of supported operational databases, picked by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: the default, for a laptop or a small office.
    Sqlite,
    /// PostgreSQL 13+.
    Postgres,
    /// MySQL 8 or MariaDB 10.5+.
    MySql,
}

impl Backend {
    /// Picks the backend from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            _ => Err(format!("unsupported database URL scheme {scheme:?}: use sqlite://, postgres:// or mysql://")),
        }
    }

    /// Lower-case name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }
}

/// SQLite's writer page cache unless configured: enough for the operational tables' hot B-tree
/// pages, small enough for a 512 MiB pod.
pub const DEFAULT_WRITER_CACHE_MIB: u32 = 32;

/// Pool settings that apply to every backend.
///
/// Connections are not pinged before each use (sqlx's default): the ping is a full round trip
/// per request, and a broken connection fails its statement with an error the client may retry
/// anyway. `/readyz` still checks the database on every probe.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Most connections per pool (for SQLite: readers; there is always exactly one writer).
    pub max_connections: u32,
    /// How long a request waits for a free connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// Skip PostgreSQL startup parameters that Amazon Redshift rejects (`extra_float_digits`).
    /// Set for warehouse connections, which may be Redshift behind a `postgres://` URL.
    pub redshift_compatible: bool,
    /// SQLite only: WAL pages after which a commit checkpoints (SQLite's default is 1,000).
    /// A writer of large batches raises it and checkpoints when idle ([`Db::checkpoint`]), so
    /// a commit does not pay for copying the log back.
    pub wal_autocheckpoint: Option<u32>,
    /// SQLite only: page cache of the writer connection in MiB (default
    /// [`DEFAULT_WRITER_CACHE_MIB`]). A writer that
    /// updates random rows of a large table (the warehouse) keeps more of it in memory.
    pub writer_cache_mib: Option<u32>,
    /// SQLite only: page cache of each reader connection in MiB, for its database and its
    /// temporary B-trees (sorts, groupings); `None` keeps SQLite's default of 2 MiB each. The
    /// readers map the database file, so their caches hold mostly pages read from the WAL and
    /// temporary pages; they fill with use and stay, up to this times `max_connections`.
    pub reader_cache_mib: Option<u32>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            redshift_compatible: false,
            wal_autocheckpoint: None,
            writer_cache_mib: None,
            reader_cache_mib: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pools {
    /// One writer connection serialises writes without SQLITE_BUSY retries; readers run in
    /// parallel under WAL.
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
    },
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// A handle to the operational database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pools: Pools,
    /// Failed statements by kind, for the `moon_db_query_errors_total` metric.
    pub(crate) errors: Arc<QueryErrors>,
    /// Per-database state shared by every clone of this handle (see [`Db::shared`]).
    pub(crate) shared: Arc<crate::group::Shared>,
    /// Who is woken after a commit that changed the log (see [`Db::wake_on_commit`]).
    pub(crate) commits: Arc<crate::commits::CommitSignal>,
}

impl Db {
    /// Connects to the database named by `url`, creating a SQLite file (and its directory) on
    /// first use. Does not run migrations: see [`Db::migrate`].
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Self, DbError> {
        let backend = Backend::from_url(url).map_err(|e| DbError::Other(sqlx::Error::Configuration(e.into())))?;
        let pools = match backend {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    // Reads straight from the OS page cache instead of a read() per page: large
                    // scans (rebuilds, reports) spend far less time in the kernel. Address
                    // space, not memory: the pages are shared and reclaimable.
                    .pragma("mmap_size", "1073741824");
                if let Some(dir) = opts.get_filename().parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir).map_err(|e| DbError::Other(sqlx::Error::Io(e)))?;
                }
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(options.acquire_timeout)
                    // The one writer keeps more of the B-trees it updates in memory.
                    .connect_with({
                        let kib = i64::from(options.writer_cache_mib.unwrap_or(DEFAULT_WRITER_CACHE_MIB)) * 1024;
                        let w = opts.clone().pragma("cache_size", format!("-{kib}"));
                        match options.wal_autocheckpoint {
                            Some(pages) => w.pragma("wal_autocheckpoint", pages.to_string()),
                            None => w,
                        }
                    })
                    .await?;
                let read = SqlitePoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .test_before_acquire(false)
                    .min_connections(0)
                    // Each reader keeps its own page cache and worker thread; close the ones a
                    // burst of reads opened once it is over, so an idle server shrinks back.
                    .idle_timeout(Duration::from_secs(30))
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(match options.reader_cache_mib {
                        Some(mib) => {
                            let kib = format!("-{}", i64::from(mib.max(1)) * 1024);
                            opts.read_only(true).pragma("cache_size", kib.clone()).pragma("temp.cache_size", kib)
                        }
                        None => opts.read_only(true),
                    })
                    .await?;
                Pools::Sqlite { write, read }
            }
            Backend::Postgres => {
                let mut opts = PgConnectOptions::from_str(url)?;
                if options.redshift_compatible {
                    opts = opts.extra_float_digits(None);
                }
                Pools::Postgres(
                    PgPoolOptions::new()
                        .max_connections(options.max_connections)
                        .test_before_acquire(false)
                        .acquire_timeout(options.acquire_timeout)
                        .connect_with(opts)
                        .await?,
                )
            }
            Backend::MySql => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                let opts =
                    MySqlConnectOptions::from_str(&url)?.charset("utf8mb4").timezone(Some(String::from("+00:00")));
                Pools::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(options.max_connections)
                        .test_before_acquire(false)
                        .acquire_timeout(options.acquire_timeout)
                        .connect_with(opts)
                        .await?,
                )
            }
        };
        let commits = Arc::<crate::commits::CommitSignal>::default();
        if let Pools::Postgres(pool) = &pools {
            commits.relay_over(pool);
        }
        Ok(Db { pools, errors: Arc::default(), shared: Arc::default(), commits })
    }

    /// SQLite: copies the write-ahead log back into the database file without waiting for
    /// readers (a passive checkpoint). Other backends manage this themselves: a no-op.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        if let Pools::Sqlite { write, .. } = &self.pools {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(write).await?;
        }
        Ok(())
    }

    /// Which backend this handle talks to.
    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
            Pools::MySql(_) => Backend::MySql,
        }
    }

    /// The counts of failed statements, shared with every clone and transaction of this handle.
    pub fn query_errors(&self) -> Arc<QueryErrors> {
        Arc::clone(&self.errors)
    }

    /// `(pool, open connections, idle connections)` for each pool, for the metrics endpoint.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        fn idle(n: usize) -> u32 {
            u32::try_from(n).unwrap_or(u32::MAX)
        }
        match &self.pools {
            Pools::Sqlite { write, read } => {
                vec![("write", write.size(), idle(write.num_idle())), ("read", read.size(), idle(read.num_idle()))]
            }
            Pools::Postgres(p) => vec![("main", p.size(), idle(p.num_idle()))],
            Pools::MySql(p) => vec![("main", p.size(), idle(p.num_idle()))],
        }
    }

    /// Waits for checked-out connections to return, then closes every pool: the last step of a
    /// graceful shutdown.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(p) => p.close().await,
            Pools::MySql(p) => p.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `PRAGMA name` says on a connection of the pool `read` or the writer.
    async fn pragma(db: &Db, name: &str, read: bool) -> i64 {
        let Pools::Sqlite { write, read: readers } = &db.pools else { panic!("not SQLite") };
        let pool = if read { readers } else { write };
        let sql = format!("PRAGMA {name}");
        let (v,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap();
        v
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn configured_page_caches_reach_the_writer_and_every_reader() {
        let dir = std::env::temp_dir().join(format!("moon-db-caches-{}", std::process::id()));
        let url = format!("sqlite://{}/caches.db", dir.display());
        let options = DbOptions { writer_cache_mib: Some(3), reader_cache_mib: Some(2), ..DbOptions::default() };
        let db = Db::connect(&url, &options).await.unwrap();
        assert_eq!(pragma(&db, "cache_size", false).await, -3 * 1024);
        assert_eq!(pragma(&db, "cache_size", true).await, -2 * 1024);
        assert_eq!(pragma(&db, "temp.cache_size", true).await, -2 * 1024);
        let defaults = Db::connect(&url, &DbOptions::default()).await.unwrap();
        assert_eq!(pragma(&defaults, "cache_size", true).await, -2000, "SQLite's own default when not configured");
        std::fs::remove_dir_all(&dir).ok();
    }
}
