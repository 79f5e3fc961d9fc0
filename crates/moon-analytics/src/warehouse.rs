//! The warehouse: where KPIs live for the API, the dashboard and BI tools.
//!
//! Two kinds are supported: an embedded SQLite file (the default, beside the operational
//! database) and any PostgreSQL-wire database given by `MOON_WAREHOUSE_URL` — PostgreSQL, or
//! Amazon Redshift. Everything sent to the latter stays within what Redshift accepts: plain
//! `CREATE TABLE IF NOT EXISTS` with `NUMERIC(18,2)`, no `ON CONFLICT`, no `RETURNING`, no arrays;
//! changes land as delete-and-insert inside one transaction, so a reader never sees half a refresh.
//!
//! The schema is a star (`fact_sales_daily` with `dim_agent` and `dim_product`), exact running
//! totals the aggregator maintains (`kpi_*_totals`, integer cents), and the original system's
//! three tables with their original names and columns.

use moon_db::{Backend, Db, DbError, DbOptions};

/// Which SQL the warehouse accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// Amazon Redshift (PostgreSQL wire protocol; no indexes).
    Redshift,
}

/// A connected warehouse.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// Its pools (the same handle type as the operational database).
    pub db: Db,
    /// The dialect it speaks.
    pub flavor: Flavor,
}

/// Statements creating the schema, shared by every flavor except where a type differs.
fn ddl(flavor: Flavor) -> Vec<String> {
    let (ts, money, boolean) = match flavor {
        Flavor::Sqlite => ("TIMESTAMP", "NUMERIC", "BOOLEAN"),
        Flavor::Postgres | Flavor::Redshift => ("TIMESTAMPTZ", "NUMERIC(18,2)", "BOOLEAN"),
    };
    // SQLite stores a table with a composite key as a rowid table plus a separate key index;
    // WITHOUT ROWID keeps the cells in the key's own B-tree: one tree to write, not two.
    let clustered = if flavor == Flavor::Sqlite { " WITHOUT ROWID" } else { "" };
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS wh_state (
                consumer     VARCHAR(64) NOT NULL PRIMARY KEY,
                applied_id   BIGINT      NOT NULL,
                refreshed_at {ts}        NOT NULL,
                rebuilt_at   {ts}        NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS dim_agent (
                agent_id  BIGINT       NOT NULL PRIMARY KEY,
                agent_key VARCHAR(32)  NOT NULL,
                team      VARCHAR(100) NOT NULL,
                branch    VARCHAR(100) NOT NULL,
                active    {boolean}    NOT NULL,
                analytics_consent {boolean} NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS dim_product (
                product_id    BIGINT       NOT NULL PRIMARY KEY,
                product_type  VARCHAR(100) NOT NULL,
                product_name  VARCHAR(100) NOT NULL,
                target_amount {money}      NOT NULL,
                target_cents  BIGINT       NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS fact_sales_daily (
                sale_date    DATE         NOT NULL,
                agent_id     BIGINT       NOT NULL,
                product_id   BIGINT       NOT NULL,
                branch       VARCHAR(100) NOT NULL,
                sales_count  BIGINT       NOT NULL,
                amount_cents BIGINT       NOT NULL,
                total_amount {money}      NOT NULL,
                PRIMARY KEY (sale_date, agent_id, product_id, branch)
            ){clustered}"
        ),
        String::from(
            "CREATE TABLE IF NOT EXISTS kpi_team_totals (
                team         VARCHAR(100) NOT NULL PRIMARY KEY,
                sales_count  BIGINT       NOT NULL,
                amount_cents BIGINT       NOT NULL
            )",
        ),
        String::from(
            "CREATE TABLE IF NOT EXISTS kpi_agent_totals (
                agent_id     BIGINT NOT NULL PRIMARY KEY,
                sales_count  BIGINT NOT NULL,
                amount_cents BIGINT NOT NULL
            )",
        ),
        String::from(
            "CREATE TABLE IF NOT EXISTS kpi_branch_totals (
                branch       VARCHAR(100) NOT NULL PRIMARY KEY,
                sales_count  BIGINT       NOT NULL,
                amount_cents BIGINT       NOT NULL
            )",
        ),
        String::from(
            "CREATE TABLE IF NOT EXISTS kpi_product_totals (
                product_id   BIGINT NOT NULL PRIMARY KEY,
                sales_count  BIGINT NOT NULL,
                amount_cents BIGINT NOT NULL
            )",
        ),
        format!("CREATE TABLE IF NOT EXISTS team_sales_metrics (team VARCHAR(100), total_sales {money})"),
        format!("CREATE TABLE IF NOT EXISTS branch_sales_metrics (branch VARCHAR(100), total_sales {money})"),
        format!(
            "CREATE TABLE IF NOT EXISTS product_target_metrics (
                product_name  VARCHAR(100),
                target_amount {money},
                total_sales   {money},
                status        VARCHAR(20)
            )"
        ),
    ];
    if flavor == Flavor::Postgres {
        // Product filters over long ranges. Only PostgreSQL gains: Redshift has no secondary
        // indexes (it sorts and zone-maps instead), and on SQLite, where the fact table is
        // clustered by its key, an index that has to look up every cell it finds was no faster
        // than a scan (about 200 ms for one product's cells among 4.6 million, either way) and
        // made every refresh write an index page per new cell. Per-agent totals live in kpi_agent_totals,
        // so no agent index is needed either.
        out.push(String::from(
            "CREATE INDEX IF NOT EXISTS fact_sales_daily_product_idx ON fact_sales_daily (product_id, sale_date)",
        ));
    }
    out
}

/// How often opening the warehouse tries to create its schema when another process is creating
/// it at the same moment.
const SCHEMA_ATTEMPTS: u32 = 3;

/// The version of the schema below; a warehouse of another version is recreated.
const SCHEMA_VERSION: i64 = 3;

/// Tables a full rebuild empties, in an order that is safe for readers of any of them.
pub const REBUILT_TABLES: &[&str] = &[
    "fact_sales_daily",
    "dim_agent",
    "dim_product",
    "kpi_team_totals",
    "kpi_agent_totals",
    "kpi_branch_totals",
    "kpi_product_totals",
    "team_sales_metrics",
    "branch_sales_metrics",
    "product_target_metrics",
];

impl Warehouse {
    /// Connects and creates any missing table. A `postgres://` URL may point at Redshift; the
    /// server's `version()` says which.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let shown = moon_db::redact_url(url);
        let backend = Backend::from_url(url).map_err(anyhow::Error::msg)?;
        if backend == Backend::MySql {
            anyhow::bail!("the warehouse must be SQLite or PostgreSQL-wire (PostgreSQL, Redshift), not {shown}");
        }
        let options = DbOptions {
            max_connections: 4,
            redshift_compatible: true,
            wal_autocheckpoint: Some(20_000),
            // Refreshes change cells spread over the whole fact table: keep it in memory.
            writer_cache_mib: Some(256),
            ..DbOptions::default()
        };
        let db = Db::connect(url, &options).await.with_context(|| format!("cannot connect to warehouse {shown}"))?;
        let flavor = match backend {
            Backend::Sqlite => Flavor::Sqlite,
            _ => {
                let mut q = moon_db::sea_query::Query::select();
                q.expr(moon_db::sea_query::Func::cust("version"));
                let version: Option<(String,)> =
                    db.fetch_optional(&q).await.with_context(|| format!("cannot query warehouse {shown}"))?;
                if version.is_some_and(|(v,)| v.contains("Redshift")) { Flavor::Redshift } else { Flavor::Postgres }
            }
        };
        let wh = Warehouse { db, flavor };
        // PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent creator: the
        // loser of two replicas starting together fails on a catalog unique index. By then the
        // winner has committed (or rolled back), so trying again settles it.
        let mut attempt = 1;
        loop {
            match wh.create_schema().await {
                Err(DbError::UniqueViolation) if attempt < SCHEMA_ATTEMPTS => attempt += 1,
                other => break other.with_context(|| format!("cannot create the warehouse schema in {shown}"))?,
            }
        }
        Ok(wh)
    }

    /// `sqlite`, `postgres` or `redshift`, for logs and reports.
    pub fn flavor_name(&self) -> &'static str {
        match self.flavor {
            Flavor::Sqlite => "sqlite",
            Flavor::Postgres => "postgres",
            Flavor::Redshift => "redshift",
        }
    }

    /// Creates the tables. The warehouse holds only derived data, so a schema from another
    /// version is not migrated but dropped and created afresh; the next refresh rebuilds it.
    async fn create_schema(&self) -> Result<(), DbError> {
        let mut tx = self.db.begin().await?;
        tx.execute_sql("CREATE TABLE IF NOT EXISTS wh_schema (version BIGINT NOT NULL)").await?;
        let mut q = moon_db::sea_query::Query::select();
        q.column("version").from("wh_schema");
        let found: Option<(i64,)> = tx.fetch_optional(&q).await?;
        if found.map(|(v,)| v) != Some(SCHEMA_VERSION) {
            if let Some((v,)) = found {
                tracing::warn!(
                    from = v,
                    to = SCHEMA_VERSION,
                    "warehouse schema changed: recreating it; a rebuild follows"
                );
            }
            for table in REBUILT_TABLES.iter().chain(&["wh_state"]) {
                tx.execute_sql(format!("DROP TABLE IF EXISTS {table}")).await?;
            }
            tx.execute_sql("DELETE FROM wh_schema").await?;
            tx.execute_sql(format!("INSERT INTO wh_schema (version) VALUES ({SCHEMA_VERSION})")).await?;
        }
        for stmt in ddl(self.flavor) {
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

    #[test]
    fn redshift_schema_has_no_indexes_or_conflict_clauses() {
        for stmt in ddl(Flavor::Redshift) {
            let upper = stmt.to_uppercase();
            assert!(!upper.contains("INDEX"), "{stmt}");
            assert!(!upper.contains("ON CONFLICT"), "{stmt}");
            assert!(!upper.contains("RETURNING"), "{stmt}");
        }
        assert!(ddl(Flavor::Postgres).iter().any(|s| s.contains("NUMERIC(18,2)")));
    }
}
