//! The audit trail: who changed what, and every security event, in a hash chain that shows any
//! edit or deletion of history.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical form
//! (a JSON array of its fields in a fixed order). Entries get consecutive ids from the
//! `change_sequence` row `audit_log`, locked by the appending transaction until it commits, so
//! the chain has one order and no gaps; `moon audit verify` walks it and names the first entry
//! whose hash, link or id does not fit. Mutations append in the same transaction as the change
//! they record; a security event that changes nothing else gets a transaction of its own.
//!
//! Personal fields (names, e-mail, phone) are never written in clear: their before and after
//! values are masked, the entry says only that they changed.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Order, Query};
use moon_db::{Db, DbError, Tx};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use moon_http::Principal;
use moon_http::principal::Origin;

/// Who an entry is about: a principal, or an unknown caller (a failed sign-in).
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user:<id>`, `operator` or `anonymous`.
    pub id: String,
    /// The role, when known.
    pub role: Option<&'static str>,
    /// The request.
    pub origin: Origin,
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        Actor { id: p.id.clone(), role: Some(p.role.as_str()), origin: p.origin.clone() }
    }
}

impl Actor {
    /// A caller not (yet) known, from a request's origin.
    pub fn anonymous(origin: Origin) -> Self {
        Actor { id: String::from("anonymous"), role: None, origin }
    }
}

/// The origin of the current request (its id and client address, as the authentication layer
/// found them), for handlers that record security events before a principal exists.
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let source_ip = parts.extensions.get::<moon_http::principal::ClientIp>().map(|ip| ip.0.to_string());
        Ok(RequestOrigin(Origin { request_id, source_ip }))
    }
}

const SEQUENCE: &str = "audit_log";
/// The link of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Fields whose values the trail masks.
pub const PERSONAL: &[&str] =
    &["first_name", "last_name", "email", "contact_number", "username", "password", "message", "customer_name"];
const MASK: &str = "***";

/// An entry to append: what happened to which record, with the changed fields.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// `entity.verb`, such as `sale.update` or `auth.sign_in_failed`.
    pub action: &'static str,
    /// Kind of record, such as `sale`.
    pub entity: Option<&'static str>,
    /// The record's id or code.
    pub entity_id: Option<String>,
    /// `{"field": {"before": …, "after": …}}`, personal values masked.
    pub changes: Option<Value>,
}

impl Event {
    /// An event about a record.
    pub fn on(action: &'static str, entity: &'static str, id: impl ToString) -> Self {
        Self { action, entity: Some(entity), entity_id: Some(id.to_string()), changes: None }
    }

    /// The same event with the fields that differ between two serialisable states.
    pub fn with_diff<T: Serialize>(mut self, before: Option<&T>, after: Option<&T>) -> Self {
        let b = before.and_then(|v| serde_json::to_value(v).ok()).unwrap_or(Value::Null);
        let a = after.and_then(|v| serde_json::to_value(v).ok()).unwrap_or(Value::Null);
        self.changes = Some(diff(&b, &a));
        self
    }

    /// The same event with extra detail (not personal data).
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.changes = Some(detail);
        self
    }

    /// The same event with facts beside its diff (not personal data), under `"detail"`: what a
    /// change wrote elsewhere (a policy's new transaction and its credits).
    pub fn with_extra(mut self, extra: Value) -> Self {
        let mut changes = match self.changes.take() {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        changes.insert(String::from("detail"), extra);
        self.changes = Some(Value::Object(changes));
        self
    }
}

/// Fields that differ between two JSON objects, masked where personal; bookkeeping fields
/// (`updated_at`, `created_at`) are left out.
pub fn diff(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for key in b.keys().chain(a.keys()) {
        if out.contains_key(key) || key == "updated_at" || key == "created_at" {
            continue;
        }
        let (old, new) = (b.get(key).unwrap_or(&Value::Null), a.get(key).unwrap_or(&Value::Null));
        if old != new {
            let masked = |v: &Value| {
                if PERSONAL.contains(&key.as_str()) && !v.is_null() { Value::from(MASK) } else { v.clone() }
            };
            out.insert(key.clone(), json!({"before": masked(old), "after": masked(new)}));
        }
    }
    Value::Object(out)
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub id: i64,
    /// When it was appended (UTC).
    pub occurred_at: DateTime<Utc>,
    /// Who: `user:<id>`, `operator`, or `anonymous` for a failed sign-in.
    pub actor: String,
    /// The actor's role, when known.
    pub actor_role: Option<String>,
    /// What happened, such as `agent.update`.
    pub action: String,
    /// Kind of record.
    pub entity: Option<String>,
    /// Which record.
    pub entity_id: Option<String>,
    /// Changed fields, before and after (personal values masked); null for events that change
    /// no record (a sign-in, say).
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// The client's address.
    pub source_ip: Option<String>,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this entry's canonical form.
    pub entry_hash: String,
}

type Row = (
    i64,
    DateTime<Utc>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

const COLUMNS: [&str; 12] = [
    "id",
    "occurred_at",
    "actor",
    "actor_role",
    "action",
    "entity",
    "entity_id",
    "changes",
    "request_id",
    "source_ip",
    "prev_hash",
    "entry_hash",
];

fn from_row(r: Row) -> Entry {
    let (id, occurred_at, actor, actor_role, action, entity, entity_id, changes, request_id, source_ip, prev, hash) = r;
    Entry {
        id,
        occurred_at,
        actor,
        actor_role,
        action,
        entity,
        entity_id,
        changes: changes.and_then(|c| serde_json::from_str(&c).ok()),
        request_id,
        source_ip,
        prev_hash: prev,
        entry_hash: hash,
    }
}

/// The hash of an entry: SHA-256 of the previous hash and the canonical JSON array of the
/// entry's fields (`changes` as its stored text, so re-serialising can never alter it).
#[allow(clippy::too_many_arguments)]
fn hash(
    prev: &str,
    id: i64,
    at: &DateTime<Utc>,
    actor: &str,
    role: Option<&str>,
    action: &str,
    entity: Option<&str>,
    entity_id: Option<&str>,
    changes: Option<&str>,
    request_id: Option<&str>,
    source_ip: Option<&str>,
) -> String {
    let canonical = json!([
        id,
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        actor,
        role,
        action,
        entity,
        entity_id,
        changes,
        request_id,
        source_ip
    ]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn internal(msg: impl Into<String>) -> DbError {
    DbError::Other(moon_db::sqlx::Error::Protocol(msg.into()))
}

/// Appends `event` by `who` inside the caller's transaction. Call it just before commit, after
/// the change log's entry if there is one: always in that order, so concurrent writers take the
/// two sequence rows' locks in one order and cannot deadlock.
pub async fn append(tx: &mut Tx, who: impl Into<Actor>, event: Event) -> Result<(), DbError> {
    append_many(tx, vec![(who.into(), event)]).await
}

/// Appends several entries, in order, inside the caller's transaction: the sequence row is
/// taken once and the entries are written in one statement, which is what lets a group-committed
/// batch of writes share one turn at the chain. Same ordering rule as [`append`].
pub async fn append_many(tx: &mut Tx, entries: Vec<(Actor, Event)>) -> Result<(), DbError> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(entries.len()).map_err(|_| internal("too many audit entries in one transaction"))?;
    let mut bump = Query::update();
    bump.table("change_sequence")
        .value("last_id", Expr::col("last_id").add(n))
        .and_where(Expr::col("name").eq(SEQUENCE));
    tx.execute(&bump).await?;
    let mut read = Query::select();
    read.column("last_id").from("change_sequence").and_where(Expr::col("name").eq(SEQUENCE));
    let (last,): (i64,) = tx.fetch_optional(&read).await?.ok_or_else(|| internal("audit sequence row missing"))?;
    let first = last - n + 1;
    let mut prev_q = Query::select();
    // A locking read: under MySQL's REPEATABLE READ a plain read would use this transaction's
    // older snapshot and miss the entry committed just before we took the sequence lock.
    prev_q.column("entry_hash").from("audit_log").and_where(Expr::col("id").eq(first - 1)).lock_exclusive();
    let mut prev = match tx.fetch_optional::<(String,)>(&prev_q).await? {
        Some((h,)) => h,
        None if first == 1 => String::from(GENESIS),
        None => return Err(internal(format!("audit entry {} is missing; run moon audit verify", first - 1))),
    };
    let at = moon_db::now();
    let mut ins = Query::insert();
    ins.into_table("audit_log").columns(COLUMNS);
    for (id, (who, event)) in (first..).zip(entries) {
        let changes = event.changes.as_ref().map(Value::to_string);
        let role = who.role;
        let entry_hash = hash(
            &prev,
            id,
            &at,
            &who.id,
            role,
            event.action,
            event.entity,
            event.entity_id.as_deref(),
            changes.as_deref(),
            who.origin.request_id.as_deref(),
            who.origin.source_ip.as_deref(),
        );
        let row: [moon_db::sea_query::Value; 12] = [
            id.into(),
            at.into(),
            who.id.into(),
            role.map(str::to_owned).into(),
            event.action.into(),
            event.entity.map(str::to_owned).into(),
            event.entity_id.into(),
            changes.into(),
            who.origin.request_id.into(),
            who.origin.source_ip.into(),
            std::mem::replace(&mut prev, entry_hash.clone()).into(),
            entry_hash.into(),
        ];
        ins.values(row.map(Expr::val)).map_err(|e| internal(format!("cannot build the audit insert: {e}")))?;
    }
    tx.execute(&ins).await?;
    Ok(())
}

/// The id of the newest committed entry as this transaction sees it (0 before the first): a
/// mark after which a request's own entries will come. Reads the sequence row without locking
/// it, so it never waits for a writer; a lagging view only lowers the mark.
pub(crate) async fn mark(tx: &mut Tx) -> Result<i64, DbError> {
    let mut read = Query::select();
    read.column("last_id").from("change_sequence").and_where(Expr::col("name").eq(SEQUENCE));
    Ok(tx.fetch_optional::<(i64,)>(&read).await?.map_or(0, |(last,)| last))
}

/// Which entry, about what: enough to point a person at a record.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EntryRef {
    pub id: i64,
    pub action: String,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
}

/// The first entry after `mark` that `actor` wrote while serving the request `request_id`:
/// proof that the request's transaction committed, since every mutation appends its entry in
/// its own transaction. Scans only the entries after the mark.
pub(crate) async fn first_of_request(
    db: &Db,
    actor: &str,
    request_id: &str,
    mark: i64,
) -> Result<Option<EntryRef>, DbError> {
    let mut q = Query::select();
    q.columns(["id", "action", "entity", "entity_id"])
        .from("audit_log")
        .and_where(Expr::col("id").gt(mark))
        .and_where(Expr::col("actor").eq(actor))
        .and_where(Expr::col("request_id").eq(request_id))
        .order_by("id", Order::Asc)
        .limit(1);
    db.fetch_optional(&q).await
}

/// Appends a security event that changes nothing else, in a transaction of its own.
pub async fn record(db: &Db, who: impl Into<Actor>, event: Event) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    append(&mut tx, who, event).await?;
    tx.commit().await
}

/// Like [`record`], for paths where the event must not fail the request: a failure is logged.
pub async fn record_or_log(db: &Db, who: impl Into<Actor>, event: Event) {
    let action = event.action;
    if let Err(e) = record(db, who, event).await {
        tracing::error!(action, error = %e, "cannot append to the audit trail");
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Entries checked.
    pub entries: u64,
    /// The first entry that does not fit, and why; `None` when the chain is whole.
    pub broken: Option<(i64, String)>,
}

/// Walks the whole chain in order and recomputes every hash.
pub async fn verify(db: &Db) -> Result<Verdict, DbError> {
    let mut tx = db.begin_snapshot().await?;
    let mut q = Query::select();
    q.columns(COLUMNS).from("audit_log").order_by("id", Order::Asc);
    // After retention pruned the oldest entries, the chain starts at the horizon.
    let (mut expected_id, mut prev) = match horizon_in(&mut tx).await? {
        Some(h) => (h.first_id, h.prev_hash),
        None => (1i64, String::from(GENESIS)),
    };
    let mut broken: Option<(i64, String)> = None;
    let mut entries = 0u64;
    tx.for_each::<Row>(&q, |row| {
        entries += 1;
        if broken.is_some() {
            return Ok(());
        }
        let e = from_row(row.clone());
        let (.., stored_changes, _, _, _, _) = row;
        if e.id != expected_id {
            broken = Some((expected_id, format!("entry {expected_id} is missing (the next entry is {})", e.id)));
            return Ok(());
        }
        if e.prev_hash != prev {
            broken = Some((e.id, String::from("its link to the previous entry does not match")));
            return Ok(());
        }
        let recomputed = hash(
            &prev,
            e.id,
            &e.occurred_at,
            &e.actor,
            e.actor_role.as_deref(),
            &e.action,
            e.entity.as_deref(),
            e.entity_id.as_deref(),
            stored_changes.as_deref(),
            e.request_id.as_deref(),
            e.source_ip.as_deref(),
        );
        if recomputed != e.entry_hash {
            broken = Some((e.id, String::from("its content does not match its hash (edited)")));
            return Ok(());
        }
        prev = e.entry_hash;
        expected_id += 1;
        Ok(())
    })
    .await?;
    if broken.is_none() {
        let mut seq = Query::select();
        seq.column("last_id").from("change_sequence").and_where(Expr::col("name").eq(SEQUENCE));
        let last = tx.fetch_optional::<(i64,)>(&seq).await?.map_or(0, |(n,)| n);
        if last >= expected_id {
            broken = Some((expected_id, format!("entries {expected_id} to {last} are missing (deleted at the end)")));
        }
    }
    tx.rollback().await?;
    Ok(Verdict { entries, broken })
}

/// The end of the trail at one moment, signed with a key kept outside the database.
///
/// Why: [`verify`] proves the chain is whole from its first entry to its last, but someone who
/// can write the database can delete the newest entries and lower the sequence row too, or
/// rewrite the whole chain with fresh hashes; both leave a chain that checks out. A checkpoint
/// taken earlier and kept elsewhere (a file, a log line shipped off the host) remembers the last
/// id and hash; the trail must still hold that entry with that hash, which neither truncation
/// nor a rewrite before it can fake without the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The newest entry's id (0 for an empty trail).
    pub last_id: i64,
    /// The newest entry's hash (the genesis value for an empty trail).
    pub last_hash: String,
    /// When the checkpoint was taken (UTC).
    pub taken_at: DateTime<Utc>,
}

/// The first word of a checkpoint line, so one is recognised in a log.
const CHECKPOINT_V1: &str = "moon-audit-checkpoint/v1";

/// Why a checkpoint line cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The key is too short to be a secret.
    #[error("the checkpoint key must be at least 32 characters long")]
    WeakKey,
    /// The line is not a checkpoint.
    #[error("not a moon audit checkpoint: {0}")]
    Malformed(&'static str),
    /// The signature does not match: another key, or the line was changed.
    #[error("the checkpoint's signature does not match (another key, or the checkpoint was changed)")]
    BadSignature,
}

fn checkpoint_key(key: &[u8]) -> Result<aws_lc_rs::hmac::Key, CheckpointError> {
    if key.len() < 32 {
        return Err(CheckpointError::WeakKey);
    }
    Ok(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key))
}

impl Checkpoint {
    fn signed_part(&self) -> String {
        format!(
            "{CHECKPOINT_V1} last_id={} last_hash={} taken_at={}",
            self.last_id,
            self.last_hash,
            self.taken_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )
    }

    /// One line: the checkpoint and its HMAC-SHA256 under `key`, fit for a file or a log.
    pub fn sign(&self, key: &[u8]) -> Result<String, CheckpointError> {
        let body = self.signed_part();
        let tag = aws_lc_rs::hmac::sign(&checkpoint_key(key)?, body.as_bytes());
        Ok(format!("{body} hmac={}", hex(tag.as_ref())))
    }

    /// Reads a line made by [`Checkpoint::sign`] (surrounding text, such as a log prefix, is
    /// ignored) and checks its signature in constant time.
    pub fn open(text: &str, key: &[u8]) -> Result<Self, CheckpointError> {
        let key = checkpoint_key(key)?;
        let start = text.find(CHECKPOINT_V1).ok_or(CheckpointError::Malformed("no checkpoint line"))?;
        let line = text[start..].lines().next().unwrap_or_default().trim_end();
        let (body, tag) = line.rsplit_once(" hmac=").ok_or(CheckpointError::Malformed("no signature"))?;
        let tag = unhex(tag).ok_or(CheckpointError::Malformed("the signature is not hex"))?;
        aws_lc_rs::hmac::verify(&key, body.as_bytes(), &tag).map_err(|_| CheckpointError::BadSignature)?;
        let field = |name: &str| body.split(' ').find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')));
        let last_id = field("last_id").and_then(|v| v.parse().ok()).ok_or(CheckpointError::Malformed("last_id"))?;
        let last_hash = field("last_hash").ok_or(CheckpointError::Malformed("last_hash"))?.to_owned();
        let taken_at = field("taken_at")
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .ok_or(CheckpointError::Malformed("taken_at"))?
            .with_timezone(&Utc);
        Ok(Self { last_id, last_hash, taken_at })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// The newest entry now, as a checkpoint to sign. Taken only of an intact trail: a checkpoint
/// of a broken one would vouch for the damage.
pub async fn checkpoint(db: &Db) -> Result<Result<Checkpoint, Verdict>, DbError> {
    let verdict = verify(db).await?;
    if verdict.broken.is_some() {
        return Ok(Err(verdict));
    }
    let mut q = Query::select();
    q.columns(["id", "entry_hash"]).from("audit_log").order_by("id", Order::Desc).limit(1);
    let (last_id, last_hash) = db.fetch_optional::<(i64, String)>(&q).await?.unwrap_or((0, String::from(GENESIS)));
    Ok(Ok(Checkpoint { last_id, last_hash, taken_at: moon_db::now() }))
}

/// [`verify`], and then that the trail still holds the checkpoint's entry with the same hash:
/// entries deleted from the end (even with the sequence row lowered to match) or a chain
/// rewritten before the checkpoint are reported.
pub async fn verify_against(db: &Db, checkpoint: &Checkpoint) -> Result<Verdict, DbError> {
    let mut verdict = verify(db).await?;
    if verdict.broken.is_some() || checkpoint.last_id == 0 {
        return Ok(verdict);
    }
    let mut q = Query::select();
    q.column("entry_hash").from("audit_log").and_where(Expr::col("id").eq(checkpoint.last_id));
    let id = checkpoint.last_id;
    verdict.broken = match db.fetch_optional::<(String,)>(&q).await? {
        None => Some((
            id,
            format!(
                "entry {id} was the newest at the checkpoint of {} and is gone (the trail was cut short)",
                checkpoint.taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )),
        Some((hash,)) if hash != checkpoint.last_hash => {
            Some((id, String::from("its hash differs from the checkpoint's (the trail was rewritten up to here)")))
        }
        Some(_) => None,
    };
    Ok(verdict)
}

/// Where the chain starts after pruning: the first kept entry and its predecessor's hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Horizon {
    /// The first entry kept.
    pub first_id: i64,
    /// The hash of the entry before it (pruned), which that entry links to.
    pub prev_hash: String,
    /// The signed checkpoint that vouched for the chain when it was cut.
    pub checkpoint: String,
}

async fn horizon_in(tx: &mut Tx) -> Result<Option<Horizon>, DbError> {
    let mut q = Query::select();
    q.columns(["first_id", "prev_hash", "checkpoint"]).from("audit_horizon").and_where(Expr::col("id").eq(1));
    tx.fetch_optional(&q).await
}

/// Where the chain starts, if retention has pruned it.
pub async fn horizon(db: &Db) -> Result<Option<Horizon>, DbError> {
    let mut tx = db.begin_snapshot().await?;
    let h = horizon_in(&mut tx).await?;
    tx.rollback().await?;
    Ok(h)
}

/// Why the trail was not pruned.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The checkpoint line cannot be used (key, format, signature).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The trail does not verify against the checkpoint: pruning would hide the damage.
    #[error("the audit trail does not verify against the checkpoint (entry {0}: {1}); nothing was pruned")]
    Broken(i64, String),
    /// Storage.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Deletes the entries older than `before` that a signed checkpoint vouches for (ids before the
/// checkpoint's), after checking the whole trail against that checkpoint. The horizon row then
/// records the first kept id, its predecessor's hash and the checkpoint, so [`verify`] still
/// walks an unbroken chain and the pruning itself is an audit entry (`audit.prune`). Returns how
/// many entries went. Without a checkpoint nothing is pruned: a chain cut without one would be
/// indistinguishable from one whose start was deleted.
pub async fn prune(
    db: &Db,
    who: impl Into<Actor>,
    before: DateTime<Utc>,
    checkpoint_line: &str,
    key: &[u8],
) -> Result<u64, PruneError> {
    let checkpoint = Checkpoint::open(checkpoint_line, key)?;
    let verdict = verify_against(db, &checkpoint).await?;
    if let Some((id, why)) = verdict.broken {
        return Err(PruneError::Broken(id, why));
    }
    let mut tx = db.begin().await?;
    let mut q = Query::select();
    q.expr(Expr::col("id").max())
        .from("audit_log")
        .and_where(Expr::col("occurred_at").lt(before))
        // The checkpoint's own entry stays, so `verify --checkpoint` with it still holds.
        .and_where(Expr::col("id").lt(checkpoint.last_id));
    let cut = tx.fetch_optional::<(Option<i64>,)>(&q).await?.and_then(|(m,)| m);
    let Some(cut) = cut else {
        tx.rollback().await?;
        return Ok(0);
    };
    let mut hq = Query::select();
    hq.column("entry_hash").from("audit_log").and_where(Expr::col("id").eq(cut));
    let (prev_hash,): (String,) =
        tx.fetch_optional(&hq).await?.ok_or_else(|| internal(format!("audit entry {cut} vanished while pruning")))?;
    // The record of the pruning comes first, so the newest entry is never among those deleted.
    let detail = json!({"up_to": cut, "before": before.to_rfc3339(), "checkpoint_last_id": checkpoint.last_id});
    append(&mut tx, who, Event { action: "audit.prune", entity: None, entity_id: None, changes: Some(detail) }).await?;
    let mut del = Query::delete();
    del.from_table("audit_log").and_where(Expr::col("id").lte(cut));
    let n = tx.execute(&del).await?;
    let mut clear = Query::delete();
    clear.from_table("audit_horizon");
    tx.execute(&clear).await?;
    let row = moon_db::insert_row(
        "audit_horizon",
        vec![
            ("id", 1i32.into()),
            ("first_id", (cut + 1).into()),
            ("prev_hash", prev_hash.into()),
            ("checkpoint", checkpoint_line.trim().to_owned().into()),
            ("pruned_at", moon_db::now().into()),
        ],
    );
    tx.execute(&row).await?;
    tx.commit().await?;
    tracing::info!(pruned = n, first_kept = cut + 1, "audit trail pruned behind a checkpoint");
    Ok(n)
}

/// Conditions of `GET /api/v1/audit`, validated.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action, or actions starting with `prefix.` when it ends with `.`.
    pub action: Option<String>,
    /// Only this kind of record.
    pub entity: Option<String>,
    /// Only this record.
    pub entity_id: Option<String>,
    /// From this instant.
    pub from: Option<DateTime<Utc>>,
    /// Up to this instant.
    pub to: Option<DateTime<Utc>>,
}

/// Newest first, `limit` entries before `before` (an id).
pub async fn list(db: &Db, f: &Filter, before: Option<i64>, limit: u64) -> Result<Vec<Entry>, DbError> {
    let mut q = Query::select();
    q.columns(COLUMNS).from("audit_log");
    if let Some(a) = &f.actor {
        q.and_where(Expr::col("actor").eq(a.as_str()));
    }
    if let Some(a) = &f.action {
        if let Some(prefix) = a.strip_suffix('.') {
            q.and_where(Expr::col("action").like(format!("{prefix}.%")));
        } else {
            q.and_where(Expr::col("action").eq(a.as_str()));
        }
    }
    if let Some(e) = &f.entity {
        q.and_where(Expr::col("entity").eq(e.as_str()));
    }
    if let Some(e) = &f.entity_id {
        q.and_where(Expr::col("entity_id").eq(e.as_str()));
    }
    if let Some(t) = f.from {
        q.and_where(Expr::col("occurred_at").gte(t));
    }
    if let Some(t) = f.to {
        q.and_where(Expr::col("occurred_at").lte(t));
    }
    if let Some(b) = before {
        q.and_where(Expr::col("id").lt(b));
    }
    q.order_by("id", Order::Desc).limit(limit);
    Ok(db.fetch_all::<Row>(&q).await?.into_iter().map(from_row).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_mask_personal_fields_and_skip_bookkeeping() {
        let b = json!({"first_name": "Nimal", "team": "Alpha", "email": null, "updated_at": "x"});
        let a = json!({"first_name": "Nimala", "team": "Beta", "email": "n@example.com", "updated_at": "y"});
        let d = diff(&b, &a);
        assert_eq!(d["first_name"], json!({"before": "***", "after": "***"}));
        assert_eq!(d["email"], json!({"before": null, "after": "***"}));
        assert_eq!(d["team"], json!({"before": "Alpha", "after": "Beta"}));
        assert!(d.get("updated_at").is_none());
        assert!(!d.to_string().contains("Nimal"));
    }

    #[test]
    fn a_hash_covers_every_field_and_the_link() {
        let at = Utc::now();
        let base = hash(GENESIS, 1, &at, "user:1", Some("admin"), "a.b", Some("x"), Some("1"), Some("{}"), None, None);
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            hash("1", 1, &at, "user:1", Some("admin"), "a.b", Some("x"), Some("1"), Some("{}"), None, None)
        );
        assert_ne!(
            base,
            hash(GENESIS, 1, &at, "user:2", Some("admin"), "a.b", Some("x"), Some("1"), Some("{}"), None, None)
        );
        assert_ne!(
            base,
            hash(GENESIS, 1, &at, "user:1", Some("admin"), "a.b", Some("x"), Some("1"), Some("{ }"), None, None)
        );
    }
}

/// `GET /api/v1/audit` (admins; the policy table says so).
pub fn routes<S>() -> utoipa_axum::router::OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: axum::extract::FromRef<S>,
{
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(list_audit))
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this actor (`user:12`, `operator`, `anonymous`).
    pub actor: Option<String>,
    /// Only this action (`sale.update`), or a family with a trailing dot (`auth.`).
    pub action: Option<String>,
    /// Only this kind of record (`agent`, `sale`, `product`, `notification`, `user`, `token`).
    pub entity: Option<String>,
    /// Only this record (with `entity`).
    pub entity_id: Option<String>,
    /// From this instant (RFC 3339) or day (`YYYY-MM-DD`), inclusive.
    pub from: Option<String>,
    /// Up to this instant or day, inclusive.
    pub to: Option<String>,
    /// Entries per page, 1–500 (default 50), newest first.
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn instant(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, moon_domain::FieldError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = moon_domain::parse_date(field, raw)?;
    let time = if end_of_day {
        chrono::NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999)
    } else {
        Some(chrono::NaiveTime::MIN)
    };
    Ok(day.and_time(time.unwrap_or(chrono::NaiveTime::MIN)).and_utc())
}

/// The audit trail, newest first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = moon_http::paging::Paged<Entry>), (status = 400, body = moon_http::error::Problem), (status = 422, body = moon_http::error::Problem)))]
async fn list_audit(
    axum::extract::State(db): axum::extract::State<Db>,
    moon_http::ApiQuery(p): moon_http::ApiQuery<AuditParams>,
) -> moon_http::ApiResult<axum::Json<moon_http::paging::Paged<Entry>>> {
    let page =
        moon_http::PageParams { limit: p.limit.clone(), cursor: p.cursor.clone(), order: Some(String::from("desc")) }
            .parse()?;
    let mut e = moon_domain::FieldErrors::new();
    let filter = Filter {
        actor: p.actor.clone(),
        action: p.action.clone(),
        entity: p.entity.clone(),
        entity_id: p.entity_id.clone(),
        from: e.take_opt(p.from.as_deref().map(|t| instant("from", t, false))),
        to: e.take_opt(p.to.as_deref().map(|t| instant("to", t, true))),
    };
    e.finish().map_err(moon_http::ApiError::validation)?;
    let rows = list(&db, &filter, page.after, page.fetch_limit()).await?;
    Ok(axum::Json(page.finish(rows, |r| r.id)))
}
