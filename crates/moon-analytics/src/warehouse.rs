//! The warehouse: where KPIs live for the API, the dashboard and BI tools.
//!
//! Two kinds are supported: an embedded SQLite file (the default, beside the operational
//! database) and any PostgreSQL-wire database given by `MOON_WAREHOUSE_URL` — PostgreSQL, or
//! Amazon Redshift. Everything sent to the latter stays within what Redshift accepts
//! ([`crate::dialect`]); changes land inside one transaction, so a reader never sees half a
//! refresh. The tables are described in [`crate::schema`].

use anyhow::Context;
use moon_db::{Backend, Db};

use crate::dialect;
pub use crate::dialect::Flavor;
use crate::schema::{self, SCHEMA, SCHEMA_VERSION, STATE};

/// A connected warehouse.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// Its pools (the same handle type as the operational database).
    pub db: Db,
    /// The dialect it speaks.
    pub flavor: Flavor,
}

/// How often opening the warehouse tries to create its schema when another process is creating
/// it at the same moment.
const SCHEMA_ATTEMPTS: u32 = 3;

/// The PostgreSQL advisory lock key that serialises schema creation ("moonwh" in ASCII).
const SCHEMA_LOCK: i64 = 0x6d6f_6f6e_7768;

impl Warehouse {
    /// Connects and creates any missing table. A `postgres://` URL may point at Redshift; the
    /// server's `version()` says which. A SQLite warehouse gets the default writer cache
    /// ([`crate::DEFAULT_WAREHOUSE_CACHE_MIB`]); see [`Warehouse::open_with_cache`].
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Self::open_with_cache(url, crate::DEFAULT_WAREHOUSE_CACHE_MIB, None).await
    }

    /// [`Warehouse::open`] with the SQLite writer's page cache set to `sqlite_cache_mib` MiB and
    /// each reader's to `reader_cache_mib` (`None`: SQLite's default); a small pod lowers them.
    /// Ignored by PostgreSQL and Redshift.
    pub async fn open_with_cache(
        url: &str,
        sqlite_cache_mib: u32,
        reader_cache_mib: Option<u32>,
    ) -> anyhow::Result<Self> {
        let shown = moon_db::redact_url(url);
        let backend = Backend::from_url(url).map_err(anyhow::Error::msg)?;
        if backend == Backend::MySql {
            anyhow::bail!("the warehouse must be SQLite or PostgreSQL-wire (PostgreSQL, Redshift), not {shown}");
        }
        let db = Db::connect(url, &dialect::connect_options(sqlite_cache_mib, reader_cache_mib))
            .await
            .with_context(|| format!("cannot connect to warehouse {shown}"))?;
        let flavor = Flavor::detect(&db).await.with_context(|| format!("cannot query warehouse {shown}"))?;
        let wh = Warehouse { db, flavor };
        let mut attempt = 1;
        loop {
            match wh.create_schema().await {
                Err(e) if dialect::lost_creation_race(&e) && attempt < SCHEMA_ATTEMPTS => attempt += 1,
                other => break other.with_context(|| format!("cannot create the warehouse schema in {shown}"))?,
            }
        }
        Ok(wh)
    }

    /// The last change-log entry the warehouse reflects (`None` before its first build): what
    /// a page reading the warehouse shows at most. One single-row read, without a lock.
    pub async fn applied_id(&self) -> Result<Option<i64>, moon_db::DbError> {
        crate::sinks::cursor::read(&self.db).await
    }

    /// `sqlite`, `postgres` or `redshift`, for logs and reports.
    pub fn flavor_name(&self) -> &'static str {
        self.flavor.name()
    }

    /// Creates the tables. The warehouse holds only derived data, so a schema from another
    /// version is not migrated but dropped and created afresh; the next refresh rebuilds it.
    async fn create_schema(&self) -> Result<(), moon_db::DbError> {
        let mut tx = self.db.begin().await?;
        if self.flavor == Flavor::Postgres {
            // Replicas and tools opening the warehouse together queue here instead of racing on
            // the catalog; the lock ends with the transaction. Redshift has no advisory locks and
            // relies on the retry in `open`.
            tx.execute_sql(format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")).await?;
        }
        tx.execute_sql(format!("CREATE TABLE IF NOT EXISTS {SCHEMA} (version BIGINT NOT NULL)")).await?;
        let mut q = moon_db::sea_query::Query::select();
        q.column("version").from(SCHEMA);
        let found: Option<(i64,)> = tx.fetch_optional(&q).await?;
        if found.map(|(v,)| v) != Some(SCHEMA_VERSION) {
            if let Some((v,)) = found {
                tracing::warn!(
                    from = v,
                    to = SCHEMA_VERSION,
                    "warehouse schema changed: recreating it; a rebuild follows"
                );
            }
            for table in schema::rebuilt_tables().into_iter().chain([STATE]) {
                tx.execute_sql(format!("DROP TABLE IF EXISTS {table}")).await?;
            }
            tx.execute_sql(format!("DELETE FROM {SCHEMA}")).await?;
            tx.execute_sql(format!("INSERT INTO {SCHEMA} (version) VALUES ({SCHEMA_VERSION})")).await?;
        }
        for stmt in schema::ddl(self.flavor) {
            tx.execute_sql(stmt).await?;
        }
        tx.commit().await
    }
}

/// The default warehouse URL: a SQLite file named `warehouse.db` beside a SQLite operational
/// database, or under `./data` when the operational database is a server.
pub fn default_url(database_url: &str) -> String {
    if Backend::from_url(database_url) == Ok(Backend::Sqlite) {
        let path = database_url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or_default();
        if !path.is_empty() && path != ":memory:" {
            let dir = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty());
            let file = dir.map_or_else(|| std::path::PathBuf::from("warehouse.db"), |d| d.join("warehouse.db"));
            return format!("sqlite://{}", file.display());
        }
    }
    String::from("sqlite://data/warehouse.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_warehouse_sits_beside_a_sqlite_database() {
        assert_eq!(default_url("sqlite://data/moon.db"), "sqlite://data/warehouse.db");
        assert_eq!(default_url("sqlite:///tmp/x/moon.db?mode=rwc"), "sqlite:///tmp/x/warehouse.db");
        assert_eq!(default_url("sqlite://moon.db"), "sqlite://warehouse.db");
        assert_eq!(default_url("postgres://u@h/db"), "sqlite://data/warehouse.db");
    }
}
