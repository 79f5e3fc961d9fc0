//! Embedded schema migrations, one folder per backend with matching file names.
//!
//! Migrations are expand/contract: a blue and a green release share one database, so a migration
//! only ever adds what the newer release needs and never removes what the older one still reads.
//! For the same reason a binary accepts a database that already has *newer* migrations than it
//! knows (`ignore_missing`): the older colour keeps serving while the newer one has migrated.

use sqlx::migrate::Migrator;

use crate::connect::Pools;
use crate::{Db, DbError};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static MYSQL: Migrator = sqlx::migrate!("./migrations/mysql");

/// Where the database stands against the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions this binary carries.
    pub known: Vec<i64>,
    /// Versions this binary carries that the database has not applied.
    pub pending: Vec<i64>,
}

impl MigrationStatus {
    /// True when every migration this binary needs has been applied.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

fn migrator(db: &Db) -> Migrator {
    let base = match db.pools {
        Pools::Sqlite { .. } => &SQLITE,
        Pools::Postgres(_) => &POSTGRES,
        Pools::MySql(_) => &MYSQL,
    };
    let mut m = Migrator::with_migrations(base.iter().cloned().collect());
    m.set_ignore_missing(true);
    m
}

/// The migration names per backend, in order: `(sqlite, postgres, mysql)`. Tests use it to check
/// the three folders stay in step.
pub fn migration_names() -> [Vec<(i64, String)>; 3] {
    let names = |m: &Migrator| m.iter().map(|mig| (mig.version, mig.description.to_string())).collect();
    [names(&SQLITE), names(&POSTGRES), names(&MYSQL)]
}

impl Db {
    /// Applies every pending migration. Safe to run from several replicas at once: PostgreSQL and
    /// MySQL take an advisory lock, and SQLite has a single writer.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let m = migrator(self);
        let res = match &self.pools {
            Pools::Sqlite { write, .. } => m.run(write).await,
            Pools::Postgres(pool) => m.run(pool).await,
            Pools::MySql(pool) => m.run(pool).await,
        };
        res.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => DbError::from(inner),
            other => DbError::Other(sqlx::Error::Migrate(Box::new(other))),
        })
    }

    /// Compares the applied migrations with the ones this binary carries.
    pub async fn migration_status(&self) -> Result<MigrationStatus, DbError> {
        let known: Vec<i64> = migrator(self).iter().map(|m| m.version).collect();
        let sql = "SELECT version FROM _sqlx_migrations WHERE success = TRUE";
        let applied: Result<Vec<(i64,)>, sqlx::Error> = match &self.pools {
            Pools::Sqlite { read, .. } => sqlx::query_as(sql).fetch_all(read).await,
            Pools::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
            Pools::MySql(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        };
        let applied = match applied {
            Ok(rows) => rows.into_iter().map(|(v,)| v).collect::<Vec<_>>(),
            // No migrations table yet: nothing applied.
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let pending = known.iter().copied().filter(|v| !applied.contains(v)).collect();
        Ok(MigrationStatus { known, pending })
    }
}
