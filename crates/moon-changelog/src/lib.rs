//! The change log (transactional outbox): what changed, appended in the transaction that changed
//! it, and read in order by consumers that each keep their own cursor.
//!
//! Writers call [`record`] inside their transaction, so a change and its entry commit together or
//! not at all. Entry ids come from the `change_sequence` row, which the writing transaction
//! locks until it commits: entries therefore become visible strictly in id order and without
//! gaps (a rolled-back transaction rolls its ids back too). A consumer that has applied every
//! entry up to N can safely ask for `id > N` next, and a gap means entries were pruned.
//!
//! Entries carry only the facts consumers need (amounts, dates, keys, team and branch), never
//! names or contact details, so the log holds no personal data.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, NaiveDate, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_db::{Db, DbError, Tx};
use serde::{Deserialize, Serialize};

const SEQUENCE: &str = "change_log";

/// What a sale contributes to the KPIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleFacts {
    /// Selling agent.
    pub agent_id: i64,
    /// Product sold.
    pub product_id: i64,
    /// Branch credited.
    pub branch: String,
    /// Day of the sale.
    pub sale_date: NaiveDate,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// The attributes of an agent that KPIs group by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFacts {
    /// Current team.
    pub team: String,
    /// Home branch.
    pub branch: String,
    /// Whether the agent is active.
    pub active: bool,
    /// Consent to per-agent analytics (absent in entries written before it existed: no).
    #[serde(default)]
    pub analytics_consent: bool,
    /// When this entry records a move: the first day the team and branch above hold (the
    /// move's effective date). Sales from that day on count for them; earlier ones keep the
    /// previous team. `None` when the team and branch did not change, and in entries written
    /// before moves carried a date. The warehouse re-reads the agent's membership history on
    /// any agent entry and re-attributes cells from the first day it differs, so it does not
    /// depend on this date (which also stays right when a later move is already in the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<NaiveDate>,
}

/// The attributes of a product that KPIs report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFacts {
    /// Product name.
    pub product_name: String,
    /// Product type.
    pub product_type: String,
    /// Sales target in cents.
    pub target_cents: i64,
}

/// What a sales target sets, for the change log: scope, product or line, period, amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFacts {
    /// company, region, branch, team or agent.
    pub scope_kind: String,
    /// The region, branch or team code, or the agent code; empty for the company.
    pub scope_key: String,
    /// The product the target counts, if one.
    pub product_id: Option<i64>,
    /// The line of business the target counts, if one.
    pub product_line: Option<String>,
    /// month, quarter or year.
    pub period_kind: String,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Last day of the period.
    pub period_end: NaiveDate,
    /// The amount to sell, in cents.
    pub amount_cents: i64,
    /// The number of policies to sell, if set.
    pub policy_count: Option<i64>,
}

/// One change, as consumers see it: the record's id and its facts before and after. `before` is
/// `None` for a creation, `after` for a deletion.
#[allow(missing_docs)] // the fields are the same three in every variant, described above
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A sale was recorded, changed or deleted.
    Sale { id: i64, before: Option<SaleFacts>, after: Option<SaleFacts> },
    /// An agent was created, changed (team, branch, active) or deleted.
    Agent { id: i64, before: Option<AgentFacts>, after: Option<AgentFacts> },
    /// A product was created, changed (name, type, target) or deleted.
    Product { id: i64, before: Option<ProductFacts>, after: Option<ProductFacts> },
    /// A sales target was set, changed or deleted.
    Target { id: i64, before: Option<TargetFacts>, after: Option<TargetFacts> },
    /// Data was bulk-loaded without per-row entries: consumers must rebuild from the source.
    Reload,
    /// An entry of a kind this release does not know, written by a newer release sharing the
    /// database during a blue/green rollout (ADR 0024, slice 2). Readers skip it and go on: it
    /// keeps its place in the log (so a consumer's cursor moves past it and the ids stay
    /// gapless) and its stored text, but nothing here can interpret it. Written back only as
    /// read; no writer of this release makes one.
    Unknown { entity: String, id: i64, before: Option<String>, after: Option<String> },
}

impl Event {
    fn entity(&self) -> (&str, i64) {
        match self {
            Event::Sale { id, .. } => ("sale", *id),
            Event::Agent { id, .. } => ("agent", *id),
            Event::Product { id, .. } => ("product", *id),
            Event::Target { id, .. } => ("target", *id),
            Event::Reload => ("reload", 0),
            Event::Unknown { entity, id, .. } => (entity.as_str(), *id),
        }
    }

    fn payload(&self) -> Result<(Option<String>, Option<String>), serde_json::Error> {
        fn pair<T: Serialize>(
            b: &Option<T>,
            a: &Option<T>,
        ) -> Result<(Option<String>, Option<String>), serde_json::Error> {
            Ok((b.as_ref().map(serde_json::to_string).transpose()?, a.as_ref().map(serde_json::to_string).transpose()?))
        }
        match self {
            Event::Sale { before, after, .. } => pair(before, after),
            Event::Agent { before, after, .. } => pair(before, after),
            Event::Product { before, after, .. } => pair(before, after),
            Event::Target { before, after, .. } => pair(before, after),
            Event::Reload => Ok((None, None)),
            Event::Unknown { before, after, .. } => Ok((before.clone(), after.clone())),
        }
    }
}

/// A stored change-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log.
    pub id: i64,
    /// When the change committed (UTC).
    pub changed_at: DateTime<Utc>,
    /// The change.
    pub event: Event,
    /// The W3C `traceparent` of the request that made the change, when it was traced: what the
    /// change causes later (a webhook) continues that trace. A plain string to this crate.
    pub trace_context: Option<String>,
}

fn corrupt(id: i64, e: impl std::fmt::Display) -> DbError {
    DbError::Other(moon_db::sqlx::Error::Protocol(format!("change-log entry {id} cannot be read: {e}")))
}

type EntryRow = (i64, String, i64, Option<String>, Option<String>, DateTime<Utc>, Option<String>);

fn decode(row: EntryRow) -> Result<Entry, DbError> {
    let (id, entity, entity_id, before, after, changed_at, trace_context) = row;
    fn parse<T: serde::de::DeserializeOwned>(id: i64, s: Option<String>) -> Result<Option<T>, DbError> {
        s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(id, e))).transpose()
    }
    let event = match entity.as_str() {
        "sale" => Event::Sale { id: entity_id, before: parse(id, before)?, after: parse(id, after)? },
        "agent" => Event::Agent { id: entity_id, before: parse(id, before)?, after: parse(id, after)? },
        "product" => Event::Product { id: entity_id, before: parse(id, before)?, after: parse(id, after)? },
        "target" => Event::Target { id: entity_id, before: parse(id, before)?, after: parse(id, after)? },
        "reload" => Event::Reload,
        other => {
            warn_unknown_once(id, other);
            Event::Unknown { entity: other.to_owned(), id: entity_id, before, after }
        }
    };
    Ok(Entry { id, changed_at, event, trace_context })
}

/// How many entries of unknown kinds this process has read (every reader, every read).
static UNKNOWN_READ: AtomicU64 = AtomicU64::new(0);

/// Entries of unknown kinds this process has read so far: a counter for `/metrics`. A process
/// -wide count because decoding happens below every consumer and holds no state of its own.
pub fn unknown_entries_read() -> u64 {
    UNKNOWN_READ.load(Ordering::Relaxed)
}

/// Counts an unknown entry and warns about its kind once per process: a newer colour writes
/// such entries on every change, and one line per entry would flood the log.
fn warn_unknown_once(id: i64, entity: &str) {
    static WARNED: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    UNKNOWN_READ.fetch_add(1, Ordering::Relaxed);
    let warned = WARNED.get_or_init(|| Mutex::new(BTreeSet::new()));
    // A poisoned set only means a warning may repeat.
    let first = warned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(entity.to_owned());
    if first {
        tracing::warn!(
            entry = id,
            entity,
            "change-log entries of a kind this release does not know are skipped (written by a newer release?)"
        );
    }
}

/// Appends `events` to the log inside the caller's transaction.
///
/// Call it last, just before commit: it takes the sequence row's lock, which concurrent writers
/// then wait for until this transaction ends.
pub async fn record(tx: &mut Tx, events: &[Event]) -> Result<(), DbError> {
    append(tx, events.iter().map(|e| (e, None))).await
}

/// Like [`record`], each event with the trace context of the request that caused it (see
/// [`Entry::trace_context`]), so a group-committed batch keeps each caller's own.
pub async fn record_traced(tx: &mut Tx, events: &[(Event, Option<String>)]) -> Result<(), DbError> {
    append(tx, events.iter().map(|(e, t)| (e, t.as_deref()))).await
}

async fn append<'a>(
    tx: &mut Tx,
    events: impl ExactSizeIterator<Item = (&'a Event, Option<&'a str>)>,
) -> Result<(), DbError> {
    if events.len() == 0 {
        return Ok(());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let mut bump = Query::update();
    bump.table("change_sequence")
        .value("last_id", Expr::col("last_id").add(n))
        .and_where(Expr::col("name").eq(SEQUENCE));
    tx.execute(&bump).await?;
    let mut read = Query::select();
    read.column("last_id").from("change_sequence").and_where(Expr::col("name").eq(SEQUENCE));
    let (last,): (i64,) = tx
        .fetch_optional(&read)
        .await?
        .ok_or_else(|| DbError::Other(moon_db::sqlx::Error::Protocol(String::from("change_sequence row missing"))))?;
    let now = moon_db::now();
    let mut insert = Query::insert();
    insert.into_table("change_log").columns([
        "id",
        "entity",
        "entity_id",
        "before_data",
        "after_data",
        "changed_at",
        "trace_context",
    ]);
    for (i, (event, trace)) in (last - n + 1..).zip(events) {
        let (entity, entity_id) = event.entity();
        let (before, after) = event.payload().map_err(|e| corrupt(i, e))?;
        insert
            .values([
                i.into(),
                entity.into(),
                entity_id.into(),
                before.into(),
                after.into(),
                now.into(),
                trace.map(str::to_owned).into(),
            ])
            .map_err(|e| corrupt(i, e))?;
    }
    tx.execute(&insert).await?;
    // Its commit wakes the log's readers at once rather than at their next poll.
    tx.mark_changed();
    Ok(())
}

/// The id of the newest committed entry (0 for an empty log).
pub async fn last_id(db: &Db) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.column("last_id").from("change_sequence").and_where(Expr::col("name").eq(SEQUENCE));
    Ok(db.fetch_optional::<(i64,)>(&q).await?.map_or(0, |(n,)| n))
}

/// Like [`last_id`], inside a (snapshot) transaction.
pub async fn last_id_in(tx: &mut Tx) -> Result<i64, DbError> {
    let mut q = Query::select();
    q.column("last_id").from("change_sequence").and_where(Expr::col("name").eq(SEQUENCE));
    Ok(tx.fetch_optional::<(i64,)>(&q).await?.map_or(0, |(n,)| n))
}

fn entries_after(after: i64, limit: u64) -> moon_db::sea_query::SelectStatement {
    let mut q = Query::select();
    q.columns(["id", "entity", "entity_id", "before_data", "after_data", "changed_at", "trace_context"])
        .from("change_log")
        .and_where(Expr::col("id").gt(after))
        .order_by("id", moon_db::sea_query::Order::Asc)
        .limit(limit);
    q
}

/// Up to `limit` entries after `after`, in order.
pub async fn read_after(db: &Db, after: i64, limit: u64) -> Result<Vec<Entry>, DbError> {
    let q = entries_after(after, limit);
    db.fetch_all::<EntryRow>(&q).await?.into_iter().map(decode).collect()
}

/// Like [`read_after`], inside the caller's transaction: for consumers whose cursor lives in the
/// operational database, so reading, applying and advancing commit together.
pub async fn read_after_in(tx: &mut Tx, after: i64, limit: u64) -> Result<Vec<Entry>, DbError> {
    let q = entries_after(after, limit);
    tx.fetch_all::<EntryRow>(&q).await?.into_iter().map(decode).collect()
}

/// When the oldest entry after `after` was written: how far behind a consumer at `after` is.
pub async fn oldest_after(db: &Db, after: i64) -> Result<Option<DateTime<Utc>>, DbError> {
    let mut q = Query::select();
    q.column("changed_at")
        .from("change_log")
        .and_where(Expr::col("id").gt(after))
        .order_by("id", moon_db::sea_query::Order::Asc)
        .limit(1);
    Ok(db.fetch_optional::<(DateTime<Utc>,)>(&q).await?.map(|(t,)| t))
}

/// Where `consumer` last said it had got to (`None` before its first report). Lets a consumer
/// whose own cursor is out of reach (the aggregator while the warehouse is down) still say how
/// far behind it is.
pub async fn cursor(db: &Db, consumer: &str) -> Result<Option<i64>, DbError> {
    let mut q = Query::select();
    q.column("applied_id").from("change_cursors").and_where(Expr::col("consumer").eq(consumer));
    Ok(db.fetch_optional::<(i64,)>(&q).await?.map(|(n,)| n))
}

/// Records that `consumer` has applied every entry up to `applied_id`.
pub async fn save_cursor(db: &Db, consumer: &str, applied_id: i64) -> Result<(), DbError> {
    let now = moon_db::now();
    let mut tx = db.begin().await?;
    let mut up = Query::update();
    up.table("change_cursors")
        .values([("applied_id", Expr::val(applied_id)), ("updated_at", Expr::val(now))])
        .and_where(Expr::col("consumer").eq(consumer));
    if tx.execute(&up).await? == 0 {
        let ins = moon_db::insert_row(
            "change_cursors",
            vec![("consumer", consumer.into()), ("applied_id", applied_id.into()), ("updated_at", now.into())],
        );
        tx.execute(&ins).await?;
    }
    tx.commit().await
}

/// Deletes the entries every registered consumer has applied; returns how many.
pub async fn prune(db: &Db) -> Result<u64, DbError> {
    prune_applied(db, None).await
}

/// Deletes the entries every registered consumer has applied and that were written before
/// `before` (retention keeps a window of applied history for diagnosis); returns how many.
pub async fn prune_applied_before(db: &Db, before: DateTime<Utc>) -> Result<u64, DbError> {
    prune_applied(db, Some(before)).await
}

async fn prune_applied(db: &Db, before: Option<DateTime<Utc>>) -> Result<u64, DbError> {
    let mut min = Query::select();
    min.expr(Func::min(Expr::col("applied_id"))).from("change_cursors");
    let Some((Some(upto),)) = db.fetch_optional::<(Option<i64>,)>(&min).await? else {
        return Ok(0);
    };
    let mut tx = db.begin().await?;
    let mut del = Query::delete();
    del.from_table("change_log")
        .and_where(Expr::col("id").lte(upto))
        .and_where_option(before.map(|b| Expr::col("changed_at").lt(b)));
    let n = tx.execute(&del).await?;
    tx.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind written by a newer release reads as `Unknown`, keeping its id, entity and text,
    /// instead of failing the whole batch (ADR 0024, slice 2).
    #[test]
    fn an_unknown_entity_decodes_as_unknown_and_is_counted() {
        let before = unknown_entries_read();
        let row: EntryRow =
            (7, String::from("credit"), 42, None, Some(String::from(r#"{"cents":5}"#)), Utc::now(), None);
        let entry = decode(row).unwrap();
        assert_eq!(
            entry.event,
            Event::Unknown {
                entity: String::from("credit"),
                id: 42,
                before: None,
                after: Some(String::from(r#"{"cents":5}"#))
            }
        );
        assert_eq!(entry.id, 7);
        assert!(unknown_entries_read() > before);
        let known: EntryRow = (8, String::from("reload"), 0, None, None, Utc::now(), None);
        assert_eq!(decode(known).unwrap().event, Event::Reload);
    }

    /// Entries written before moves carried a date stay readable, and facts without one are
    /// written as before (so older readers of the log see nothing new).
    #[test]
    fn agent_facts_without_a_move_date_read_and_write_as_before() {
        let old = r#"{"team":"Alpha","branch":"Colombo","active":true,"analytics_consent":true}"#;
        let facts: AgentFacts = serde_json::from_str(old).unwrap();
        assert_eq!(facts.since, None);
        assert_eq!(serde_json::to_string(&facts).unwrap(), old);
        let moved = AgentFacts { since: NaiveDate::from_ymd_opt(2026, 7, 1), ..facts };
        let text = serde_json::to_string(&moved).unwrap();
        assert!(text.ends_with(r#""since":"2026-07-01"}"#), "{text}");
        assert_eq!(serde_json::from_str::<AgentFacts>(&text).unwrap(), moved);
    }
}
