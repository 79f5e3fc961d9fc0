//! The warehouse's tables: a star (the daily cells with the agent and product dimensions), the
//! rollups, the original system's three tables with their original names and columns, and the
//! cursor. The rollup tables and the original tables come from their declarations in
//! [`crate::rollups`]; the spelling of types per flavor from [`crate::dialect`].

use crate::dialect::{self, Flavor};
use crate::rollups::{self, CELLS, KeyType, MONTHLY, PRODUCT_TARGET_METRICS, SALES_TABLES};

/// The aggregator's cursor: the last change-log entry the warehouse reflects, per consumer.
pub const STATE: &str = "wh_state";
/// The version of the schema a warehouse was created with.
pub const SCHEMA: &str = "wh_schema";
/// What the warehouse knows of each agent: a pseudonym, team, branch and flags; no name or
/// contact details.
pub const DIM_AGENT: &str = "dim_agent";
/// What the warehouse knows of each product.
pub const DIM_PRODUCT: &str = "dim_product";

/// Each agent's team and home branch over time (type 2): one row per membership range, under
/// the same pseudonym as [`DIM_AGENT`].
pub const DIM_MEMBERSHIP: &str = "dim_membership";
/// One row per day over the fiscal years the sales and targets span: ISO week, month, fiscal
/// quarter and year from the configured business calendar, working day and holiday flags.
pub const DIM_DATE: &str = "dim_date";
/// Sales targets per scope, product or line and fiscal period, for comparing with the cells.
pub const FACT_TARGET: &str = "fact_target";

/// The columns of [`DIM_MEMBERSHIP`], in the order rows are read and written.
pub const DIM_MEMBERSHIP_COLUMNS: [&str; 7] =
    ["agent_id", "valid_from", "agent_key", "team", "branch", "valid_to", "is_current"];
/// The columns of [`DIM_DATE`], in the order rows are read and written.
pub const DIM_DATE_COLUMNS: [&str; 11] = [
    "calendar_date",
    "calendar_year",
    "calendar_month",
    "iso_year",
    "iso_week",
    "day_of_week",
    "fiscal_year",
    "fiscal_quarter",
    "fiscal_quarter_start",
    "is_working_day",
    "is_holiday",
];
/// The columns of [`FACT_TARGET`] that describe a target, in the order rows are read (the
/// amount as a decimal is written beside them).
pub const FACT_TARGET_COLUMNS: [&str; 11] = [
    "target_id",
    "scope_kind",
    "scope_key",
    "agent_id",
    "product_id",
    "product_line",
    "period_kind",
    "period_start",
    "period_end",
    "amount_cents",
    "policy_count",
];

/// The columns of [`DIM_AGENT`], in the order rows are read and written.
pub const DIM_AGENT_COLUMNS: [&str; 6] = ["agent_id", "agent_key", "team", "branch", "active", "analytics_consent"];
/// The columns of [`DIM_PRODUCT`] that describe a product, in the order rows are read.
pub const DIM_PRODUCT_COLUMNS: [&str; 4] = ["product_id", "product_type", "product_name", "target_cents"];

/// The version of the schema below. The warehouse holds only derived data, so a warehouse of
/// another version is dropped and created afresh, and the next refresh rebuilds it: change this
/// with any table (a new rollup included), or a warehouse would keep an empty table that the
/// cursor says is up to date. A test pins the tables to this number.
pub(crate) const SCHEMA_VERSION: i64 = 5;

/// Every table a full rebuild empties and refills (everything but the cursor and the version).
pub fn rebuilt_tables() -> Vec<&'static str> {
    let mut tables = vec![CELLS.table, MONTHLY.table, DIM_AGENT, DIM_PRODUCT, DIM_MEMBERSHIP, DIM_DATE, FACT_TARGET];
    tables.extend(rollups::ALL.iter().map(|r| r.table));
    tables.extend(SALES_TABLES.iter().map(|t| t.table));
    tables.push(PRODUCT_TARGET_METRICS);
    tables
}

/// The statements creating every missing table and index.
pub(crate) fn ddl(flavor: Flavor) -> Vec<String> {
    let dialect::Types { timestamp: ts, money } = dialect::types(flavor);
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {STATE} (
                consumer     VARCHAR(64) NOT NULL PRIMARY KEY,
                applied_id   BIGINT      NOT NULL,
                refreshed_at {ts}        NOT NULL,
                rebuilt_at   {ts}        NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {DIM_AGENT} (
                agent_id  BIGINT       NOT NULL PRIMARY KEY,
                agent_key VARCHAR(32)  NOT NULL,
                team      VARCHAR(100) NOT NULL,
                branch    VARCHAR(100) NOT NULL,
                active    BOOLEAN      NOT NULL,
                analytics_consent BOOLEAN NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {DIM_PRODUCT} (
                product_id    BIGINT       NOT NULL PRIMARY KEY,
                product_type  VARCHAR(100) NOT NULL,
                product_name  VARCHAR(100) NOT NULL,
                target_amount {money}      NOT NULL,
                target_cents  BIGINT       NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {DIM_MEMBERSHIP} (
                agent_id   BIGINT       NOT NULL,
                valid_from DATE         NOT NULL,
                agent_key  VARCHAR(32)  NOT NULL,
                team       VARCHAR(100) NOT NULL,
                branch     VARCHAR(100) NOT NULL,
                valid_to   DATE         NOT NULL,
                is_current BOOLEAN      NOT NULL,
                PRIMARY KEY (agent_id, valid_from)
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {DIM_DATE} (
                calendar_date        DATE    NOT NULL PRIMARY KEY,
                calendar_year        BIGINT  NOT NULL,
                calendar_month       BIGINT  NOT NULL,
                iso_year             BIGINT  NOT NULL,
                iso_week             BIGINT  NOT NULL,
                day_of_week          BIGINT  NOT NULL,
                fiscal_year          BIGINT  NOT NULL,
                fiscal_quarter       BIGINT  NOT NULL,
                fiscal_quarter_start DATE    NOT NULL,
                is_working_day       BOOLEAN NOT NULL,
                is_holiday           BOOLEAN NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {FACT_TARGET} (
                target_id     BIGINT       NOT NULL PRIMARY KEY,
                scope_kind    VARCHAR(10)  NOT NULL,
                scope_key     VARCHAR(100) NOT NULL,
                agent_id      BIGINT,
                product_id    BIGINT,
                product_line  VARCHAR(100),
                period_kind   VARCHAR(10)  NOT NULL,
                period_start  DATE         NOT NULL,
                period_end    DATE         NOT NULL,
                amount_cents  BIGINT       NOT NULL,
                policy_count  BIGINT,
                target_amount {money}      NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {cells} (
                sale_date    DATE         NOT NULL,
                agent_id     BIGINT       NOT NULL,
                product_id   BIGINT       NOT NULL,
                branch       VARCHAR(100) NOT NULL,
                team         VARCHAR(100) NOT NULL,
                sales_count  BIGINT       NOT NULL,
                amount_cents BIGINT       NOT NULL,
                {amount} {money}      NOT NULL,
                PRIMARY KEY ({key})
            ){clustered}",
            cells = CELLS.table,
            amount = CELLS.amount,
            key = CELLS.key.join(", "),
            clustered = dialect::clustered(flavor),
        ),
    ];
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {cells} (
            month_start  DATE         NOT NULL,
            agent_id     BIGINT       NOT NULL,
            product_id   BIGINT       NOT NULL,
            branch       VARCHAR(100) NOT NULL,
            team         VARCHAR(100) NOT NULL,
            sales_count  BIGINT       NOT NULL,
            amount_cents BIGINT       NOT NULL,
            {amount} {money}      NOT NULL,
            PRIMARY KEY ({key})
        ){clustered}",
        cells = MONTHLY.table,
        amount = MONTHLY.amount,
        key = MONTHLY.key.join(", "),
        clustered = dialect::clustered(flavor),
    ));
    for r in rollups::ALL {
        let key_type = match r.grouping.key_type() {
            KeyType::Id => "BIGINT",
            KeyType::Text => "VARCHAR(100)",
        };
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                {key} {key_type} NOT NULL PRIMARY KEY,
                sales_count  BIGINT NOT NULL,
                amount_cents BIGINT NOT NULL
            )",
            table = r.table,
            key = r.key,
        ));
    }
    for t in SALES_TABLES {
        out.push(format!("CREATE TABLE IF NOT EXISTS {} ({} VARCHAR(100), total_sales {money})", t.table, t.key));
    }
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {PRODUCT_TARGET_METRICS} (
            product_name  VARCHAR(100),
            target_amount {money},
            total_sales   {money},
            status        VARCHAR(20)
        )"
    ));
    out.extend(dialect::secondary_indexes(flavor));
    out
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    const FLAVORS: [Flavor; 3] = [Flavor::Sqlite, Flavor::Postgres, Flavor::Redshift];

    /// The statement creating `table`, if any.
    fn creates(flavor: Flavor, table: &str) -> Option<String> {
        let head = format!("CREATE TABLE IF NOT EXISTS {table} (");
        ddl(flavor).into_iter().find(|s| s.starts_with(&head))
    }

    #[test]
    fn every_declared_rollup_is_created_with_its_key_and_sums() {
        for flavor in FLAVORS {
            for r in rollups::ALL {
                let stmt = creates(flavor, r.table).unwrap_or_else(|| panic!("{} is not created", r.table));
                let columns: Vec<&str> =
                    stmt.lines().skip(1).filter_map(|l| l.split_whitespace().next()).filter(|w| *w != ")").collect();
                assert_eq!(columns, [r.key, rollups::VALUES[0], rollups::VALUES[1]], "{stmt}");
            }
        }
    }

    #[test]
    fn every_rebuilt_table_is_created_and_nothing_else_is_left_out() {
        for flavor in FLAVORS {
            for table in rebuilt_tables() {
                assert!(creates(flavor, table).is_some(), "{table} is rebuilt but never created");
            }
            let created = ddl(flavor).iter().filter(|s| s.starts_with("CREATE TABLE")).count();
            assert_eq!(created, rebuilt_tables().len() + 1, "every table but {STATE} is rebuilt");
        }
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

    /// A warehouse of the same version must have the same tables; this fails when they change
    /// without a new [`SCHEMA_VERSION`] (then record the new fingerprint with the new version).
    #[test]
    fn the_tables_are_pinned_to_the_schema_version() {
        let mut hash = Sha256::new();
        for flavor in FLAVORS {
            let mut statements: Vec<String> =
                ddl(flavor).iter().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
            statements.sort();
            for s in statements {
                hash.update(s.as_bytes());
                hash.update(b";\n");
            }
        }
        let fingerprint = hex::encode(hash.finalize());
        assert_eq!((SCHEMA_VERSION, &fingerprint[..16]), (5, "067d4c8a994187da"), "the warehouse tables changed");
    }

    /// `schema/warehouse-postgres.sql` is the PostgreSQL warehouse's schema as the aggregator
    /// creates it, for BI authors and for CI's check of the KPI dashboard's queries. It must be
    /// exactly what `ddl` says; `MOON_WRITE_SCHEMA=1 cargo test -p moon-analytics` rewrites it.
    #[test]
    fn the_published_postgres_schema_is_the_one_created() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/warehouse-postgres.sql");
        let mut text = String::from(
            "-- The warehouse's tables on PostgreSQL, as `moon aggregate` creates them (generated from\n\
             -- crates/moon-analytics/src/schema.rs by its tests; do not edit by hand).\n",
        );
        for stmt in ddl(Flavor::Postgres) {
            let lines: Vec<&str> = stmt.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            text.push('\n');
            text.push_str(&lines.join("\n    ").replace("\n    )", "\n)"));
            text.push_str(";\n");
        }
        if std::env::var_os("MOON_WRITE_SCHEMA").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(published == text, "{} is out of date; rewrite it with MOON_WRITE_SCHEMA=1", path.display());
    }
}
