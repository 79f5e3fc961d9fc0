//! Which client addresses each API token is used from, for the "token used from many
//! addresses" anomaly detector (a leaked token shows up as one token from many places).
//!
//! Why a recorder in memory in front of the table: the middleware sees every request, and a
//! database write per request would cost the write path. Each process remembers the (token,
//! address) pairs it has recorded in the last ten minutes (a set, O(1) per request) and writes
//! only a pair it has not seen in that time, in the background; so `last_seen_at` is exact to
//! within ten minutes and the table takes at most one write per pair per process every ten
//! minutes.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query, Value};
use moon_db::{Db, DbError, insert_row};

/// How long a recorded pair is not written again by this process.
const REMEMBER: Duration = Duration::from_secs(600);
/// Pairs remembered at most; past this the memory starts afresh (a flood of addresses costs
/// writes, not memory).
const MOST: usize = 50_000;

/// The pairs this process recorded lately.
#[derive(Debug)]
pub struct Recorder {
    seen: Mutex<(Instant, HashSet<(i64, IpAddr)>)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self { seen: Mutex::new((Instant::now(), HashSet::new())) }
    }
}

impl Recorder {
    /// Notes that `token` was used from `ip`; writes the pair in the background when this
    /// process has not recorded it lately.
    pub fn note(&self, db: &Db, token: i64, ip: IpAddr) {
        let fresh = {
            let Ok(mut guard) = self.seen.lock() else { return };
            let (since, set) = &mut *guard;
            if since.elapsed() >= REMEMBER || set.len() >= MOST {
                *since = Instant::now();
                set.clear();
            }
            set.insert((token, ip))
        };
        if fresh {
            let db = db.clone();
            tokio::spawn(async move {
                if let Err(e) = record(&db, token, &ip.to_string(), moon_db::now()).await {
                    tracing::warn!(token_id = token, error = %e, "cannot record a token's address");
                }
            });
        }
    }
}

/// Records that `token` was used from `address` at `at`.
pub async fn record(db: &Db, token: i64, address: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    let mut up = Query::update();
    up.table("token_addresses")
        .value("last_seen_at", at)
        .and_where(Expr::col("token_id").eq(token))
        .and_where(Expr::col("address").eq(address));
    if tx.execute(&up).await? == 0 {
        let ins = insert_row(
            "token_addresses",
            vec![
                ("token_id", Value::from(token)),
                ("address", Value::from(address)),
                ("first_seen_at", Value::from(at)),
                ("last_seen_at", Value::from(at)),
            ],
        );
        match tx.execute(&ins).await {
            Err(DbError::UniqueViolation) => {}
            other => {
                other?;
            }
        }
    }
    tx.commit().await
}

/// Every token seen since `since`, with the addresses it was seen from then (sorted).
pub async fn recent(db: &Db, since: DateTime<Utc>) -> Result<Vec<(i64, Vec<String>)>, DbError> {
    let mut q = Query::select();
    q.columns(["token_id", "address"])
        .from("token_addresses")
        .and_where(Expr::col("last_seen_at").gte(since))
        .order_by("token_id", moon_db::sea_query::Order::Asc)
        .order_by("address", moon_db::sea_query::Order::Asc);
    let rows: Vec<(i64, String)> = db.fetch_all(&q).await?;
    let mut out: Vec<(i64, Vec<String>)> = Vec::new();
    for (token, address) in rows {
        match out.last_mut() {
            Some((t, list)) if *t == token => list.push(address),
            _ => out.push((token, vec![address])),
        }
    }
    Ok(out)
}

/// Deletes pairs not seen since `before` (retention: addresses are personal data).
pub async fn prune(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    let mut del = Query::delete();
    del.from_table("token_addresses").and_where(Expr::col("last_seen_at").lt(before));
    let mut tx = db.begin().await?;
    let n = tx.execute(&del).await?;
    tx.commit().await?;
    Ok(n)
}
