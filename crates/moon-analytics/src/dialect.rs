//! Every way the warehouse's SQL differs between SQLite, PostgreSQL and Amazon Redshift, each
//! with its reason. No other module branches on the warehouse's kind when it builds SQL.
//!
//! | difference | SQLite | PostgreSQL | Redshift |
//! | --- | --- | --- | --- |
//! | connection ([`connect_options`]) | big writer cache, late checkpoints | as usual | no `extra_float_digits` |
//! | column types ([`Types`]) | `TIMESTAMP`, `NUMERIC` | `TIMESTAMPTZ`, `NUMERIC(18,2)` | as PostgreSQL |
//! | the cells' table ([`clustered`]) | `WITHOUT ROWID` | heap and key | heap and key |
//! | secondary indexes ([`secondary_indexes`]) | none | product, date | none exist |
//! | adding deltas to cells ([`Dialect::adds_in_place`]) | `ON CONFLICT DO UPDATE` | the same | read, delete, insert |
//! | a `NUMERIC` from cents ([`Dialect::numeric`]) | decimal text | `CAST(… AS NUMERIC(18,2)) / 100` | as PostgreSQL |
//! | a `NUMERIC` read as cents ([`cents_of`]) | rounded (stored as REAL) | exact | exact |
//!
//! Two things decide, and they are kept apart on purpose: the *engine* a connection talks to
//! (SQLite, or the PostgreSQL wire), which decides how a value is written, and the [`Flavor`],
//! the subset of SQL the statements stay within. They agree unless
//! [`crate::Aggregator::with_flavor`] makes a SQLite or PostgreSQL warehouse receive Redshift's
//! subset: that is how the tests run Redshift's statements without a Redshift cluster.
//!
//! The operational database's differences (placeholders, `RETURNING`, locks, the type of a
//! `SUM`) live in `moon-db`. The pipeline adds one on that side, how a rebuild reads every sale
//! ([`CellScan`]), kept here too so there is one page to read.

use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_db::{Backend, Db, DbError, DbOptions};

use crate::rollups::CELLS;

/// Which SQL the warehouse accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// Amazon Redshift (PostgreSQL wire protocol; no indexes, no `ON CONFLICT`, no `RETURNING`).
    Redshift,
}

impl Flavor {
    /// The flavor of a connected warehouse. A `postgres://` URL may point at Redshift, which
    /// speaks the same protocol; only its `version()` tells them apart.
    pub(crate) async fn detect(db: &Db) -> Result<Self, DbError> {
        if db.backend() == Backend::Sqlite {
            return Ok(Flavor::Sqlite);
        }
        let mut q = Query::select();
        q.expr(Func::cust("version"));
        let version: Option<(String,)> = db.fetch_optional(&q).await?;
        Ok(if version.is_some_and(|(v,)| v.contains("Redshift")) { Flavor::Redshift } else { Flavor::Postgres })
    }

    /// `sqlite`, `postgres` or `redshift`, for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Sqlite => "sqlite",
            Flavor::Postgres => "postgres",
            Flavor::Redshift => "redshift",
        }
    }
}

/// The SQLite warehouse writer's page cache unless configured (`warehouse_sqlite_cache_mib`):
/// large enough that a refresh of a few million sales' cells stays in memory. Like any page
/// cache it fills with use and then stays, so resident memory grows towards it for as long as
/// the warehouse grows.
pub const DEFAULT_WAREHOUSE_CACHE_MIB: u32 = 256;

/// How the warehouse is connected to.
///
/// - PostgreSQL wire: sqlx sends `extra_float_digits` at startup, which Redshift rejects, and a
///   `postgres://` URL may be Redshift; the warehouse never reads floats, so it is left out
///   everywhere (`redshift_compatible`).
/// - SQLite: a refresh changes cells spread over the whole fact table, so the one writer keeps
///   up to `sqlite_cache_mib` of it in memory (default [`DEFAULT_WAREHOUSE_CACHE_MIB`]); and large batches checkpoint late (20,000 pages) because the
///   refresh loop checkpoints when idle, so a commit does not pay for copying the log back.
///   Both are ignored by PostgreSQL.
pub(crate) fn connect_options(sqlite_cache_mib: u32, reader_cache_mib: Option<u32>) -> DbOptions {
    DbOptions {
        max_connections: 4,
        redshift_compatible: true,
        wal_autocheckpoint: Some(20_000),
        writer_cache_mib: Some(Ord::max(sqlite_cache_mib, 1)),
        reader_cache_mib,
        ..DbOptions::default()
    }
}

/// Whether a failed `CREATE TABLE IF NOT EXISTS` lost a race with another process creating the
/// same table: PostgreSQL's is not safe against a concurrent creator, and the loser of two
/// replicas starting together fails on a catalog unique index. By then the winner has committed
/// (or rolled back), so trying again settles it. PostgreSQL reports the loss either on the
/// catalog's unique index or, for a table's row type, as "type … already exists" (42710), and a
/// table created in between as 42P07.
pub(crate) fn lost_creation_race(e: &DbError) -> bool {
    match e {
        DbError::UniqueViolation => true,
        DbError::Other(moon_db::sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("42710" | "42P07"))
        }
        _ => false,
    }
}

/// Column types that are spelled differently.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Types {
    /// A point in time. PostgreSQL and Redshift keep the zone; SQLite has no such type.
    pub timestamp: &'static str,
    /// An amount for BI tools. SQLite ignores precision and scale (NUMERIC affinity), so it is
    /// given none; the others store exactly two decimals.
    pub money: &'static str,
}

/// The column types of `flavor`.
pub(crate) fn types(flavor: Flavor) -> Types {
    match flavor {
        Flavor::Sqlite => Types { timestamp: "TIMESTAMP", money: "NUMERIC" },
        Flavor::Postgres | Flavor::Redshift => Types { timestamp: "TIMESTAMPTZ", money: "NUMERIC(18,2)" },
    }
}

/// The suffix of the cells' `CREATE TABLE`. SQLite stores a table with a composite key as a
/// rowid table plus a separate key index; `WITHOUT ROWID` keeps the cells in the key's own
/// B-tree: one tree to write per cell, not two.
pub(crate) fn clustered(flavor: Flavor) -> &'static str {
    if flavor == Flavor::Sqlite { " WITHOUT ROWID" } else { "" }
}

/// Indexes beyond the primary keys.
///
/// Product filters over long ranges: only PostgreSQL gains. Redshift has no secondary indexes
/// (it sorts and zone-maps instead), and on SQLite, where the cells are clustered by their key,
/// an index that has to look up every cell it finds was no faster than a scan (about 200 ms for
/// one product's cells among 4.6 million, either way) and made every refresh write an index
/// page per new cell. Per-agent totals live in a rollup, so no agent index is needed either.
pub(crate) fn secondary_indexes(flavor: Flavor) -> Vec<String> {
    match flavor {
        Flavor::Postgres => vec![format!(
            "CREATE INDEX IF NOT EXISTS {table}_product_idx ON {table} (product_id, sale_date)",
            table = CELLS.table
        )],
        Flavor::Sqlite | Flavor::Redshift => Vec::new(),
    }
}

/// The SQL of one warehouse transaction: its engine and the flavor the statements keep to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    engine: Backend,
    flavor: Flavor,
}

impl Dialect {
    /// Statements in `flavor`'s SQL over a connection to `engine`.
    pub fn new(engine: Backend, flavor: Flavor) -> Self {
        Self { engine, flavor }
    }

    /// Whether net deltas are added to cells in place with `INSERT … ON CONFLICT DO UPDATE`:
    /// one key lookup per cell, and secondary indexes left alone for cells that exist. Redshift
    /// has no `ON CONFLICT`, so there the cells are read, deleted and inserted with their sums.
    pub fn adds_in_place(self) -> bool {
        self.flavor != Flavor::Redshift
    }

    /// A `NUMERIC(18,2)` value from cents, exactly: on SQLite the decimal text (its NUMERIC
    /// affinity converts it; a division would be floating point), elsewhere the integer divided
    /// as NUMERIC (exact: cents have two decimals).
    pub fn numeric(self, cents: i64) -> Expr {
        match self.engine {
            Backend::Sqlite => Expr::val(moon_domain::Money::from_cents(cents).to_string()),
            _ => Expr::val(cents).cast_as("NUMERIC(18,2)").div(Expr::cust("100")),
        }
    }

    /// The same for a cents expression inside `ON CONFLICT DO UPDATE`. SQLite writes the text
    /// [`Dialect::numeric`] writes, so the column stores the same value either way.
    pub fn numeric_sql(self, cents_sql: &str) -> String {
        let x = cents_sql;
        match self.engine {
            Backend::Sqlite => {
                format!("printf('%s%d.%02d', CASE WHEN {x} < 0 THEN '-' ELSE '' END, abs({x}) / 100, abs({x}) % 100)")
            }
            _ => format!("CAST({x} AS NUMERIC(18,2)) / 100"),
        }
    }
}

/// A `NUMERIC(18,2)` column read back as exact cents. SQLite keeps a NUMERIC with decimals as a
/// REAL, so the value is rounded; on PostgreSQL and Redshift the rounding changes nothing.
pub(crate) fn cents_of(column: &'static str) -> Expr {
    Expr::cust(format!("CAST(ROUND({column} * 100) AS BIGINT)"))
}

/// How a rebuild reads the daily cells out of the operational database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellScan {
    /// The database groups them (`GROUP BY` the cell): PostgreSQL and MySQL hash-aggregate
    /// in parallel, faster than anything done after the rows cross the wire.
    GroupBy,
    /// Read the sales packed, a range of ids per row, and group them here: in-process SQLite
    /// groups by sorting every row, and sqlx hands rows over one at a time (`source/sqlite_scan.rs`).
    Packed,
}

/// How to read the cells out of an operational database of `backend`.
pub(crate) fn cell_scan(backend: Backend) -> CellScan {
    if backend == Backend::Sqlite { CellScan::Packed } else { CellScan::GroupBy }
}

/// SQLite's packing of the sales a query selects into one text value: fields separated by
/// U+001F, sales by U+001E, in the order the packed scan parses them.
pub(crate) fn packed_sales() -> Expr {
    Expr::cust(
        "group_concat(sale_date || char(31) || agent_id || char(31) || product_id || char(31) || amount_cents \
         || char(31) || branch, char(30))",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_gets_a_secondary_index() {
        assert_eq!(secondary_indexes(Flavor::Postgres).len(), 1);
        assert!(secondary_indexes(Flavor::Redshift).is_empty());
        assert!(secondary_indexes(Flavor::Sqlite).is_empty());
    }

    #[test]
    fn redshift_adds_no_deltas_in_place_whatever_the_engine() {
        for engine in [Backend::Sqlite, Backend::Postgres] {
            assert!(!Dialect::new(engine, Flavor::Redshift).adds_in_place());
            assert!(Dialect::new(engine, Flavor::Postgres).adds_in_place());
        }
    }
}
