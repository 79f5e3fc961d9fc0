//! Group commit: concurrent writes share one transaction, one commit and one turn at the
//! sequence rows, instead of queueing one by one behind the rows' locks.
//!
//! Every write appends to the change log and the audit chain, whose ids come from rows that a
//! writing transaction locks until it commits (that is what keeps both gapless and in commit
//! order, across processes too). With one transaction per request, every request waits for the
//! previous one's whole commit. A [`GroupCommit`] instead queues requests; a flush task per
//! queue takes everything pending (up to a limit), runs each request's own statements, then the
//! batch's tail (the change-log and audit entries of all of them, so the sequence rows are taken
//! once per batch), commits, and answers each request with its own outcome. A request that
//! arrives while a batch is being written waits for the next one: the batch size follows the
//! load, and an idle server answers a lone request at once, without a timer. On a server
//! database a batch's statements are round trips; with [`GroupCommit::flushers`] above one, the
//! next batch writes its requests while the previous one takes the sequence rows and commits.
//!
//! A request that fails must not fail its neighbours. The first attempt runs the batch without
//! savepoints (the common case: nothing fails); when a request's statement fails, the attempt is
//! rolled back as a whole and the batch is run again with a savepoint around each request, so a
//! failed request leaves nothing behind (PostgreSQL would otherwise refuse every later statement
//! of the transaction) and the others commit. An error in the tail or the commit fails every
//! request of the batch: nothing of it was written.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::{Db, DbError, Tx};

/// A boxed future borrowing a transaction, as [`Batch`]'s methods return it.
pub type BatchFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DbError>> + Send + 'a>>;

/// What a [`GroupCommit`] runs: each request's own write, then one tail for the batch.
pub trait Batch: Send + Sync + 'static {
    /// A pending request.
    type Item: Send + Sync + 'static;
    /// What a request's own write produced (handed to [`Batch::finish`] and to the caller).
    type Output: Send + Sync + 'static;

    /// Runs one request's statements. An error must mean the request wrote nothing of its own
    /// (its statements run inside a savepoint when the batch is retried, see the module doc).
    fn write<'a>(&'a self, tx: &'a mut Tx, item: &'a Self::Item) -> BatchFuture<'a, Self::Output>;

    /// Runs once per batch after every request's write, with the requests that succeeded, in
    /// order: where the change-log and audit entries of the whole batch are appended.
    fn finish<'a>(&'a self, tx: &'a mut Tx, done: Vec<(&'a Self::Item, &'a Self::Output)>) -> BatchFuture<'a, ()>;
}

/// A request's outcome: the batch's error outside, the request's own inside.
type Outcome<B> = Result<Result<<B as Batch>::Output, DbError>, DbError>;
type Waiter<B> = (<B as Batch>::Item, oneshot::Sender<Outcome<B>>);

struct Queue<B: Batch> {
    pending: Vec<Waiter<B>>,
    /// Flush tasks running now.
    flushers: usize,
}

/// A queue of writes committed together; one per kind of write and database (see
/// [`Db::shared`]). Cheap when idle: no task runs while nothing is pending.
pub struct GroupCommit<B: Batch> {
    batch: B,
    max_batch: usize,
    max_flushers: usize,
    queue: Mutex<Queue<B>>,
}

impl<B: Batch> GroupCommit<B> {
    /// A queue that commits at most `max_batch` requests per transaction. The limit bounds a
    /// batch's statement size (the tail inserts one row per request) and the time the sequence
    /// rows are held.
    pub fn new(batch: B, max_batch: usize) -> Self {
        GroupCommit {
            batch,
            max_batch: max_batch.max(1),
            max_flushers: 1,
            queue: Mutex::new(Queue { pending: Vec::new(), flushers: 0 }),
        }
    }

    /// Lets up to `n` batches be in flight at once. With one, a batch's own statements (one
    /// round trip per request on a server database) and its commit run back to back, and
    /// requests arriving meanwhile wait for both. With more, the next batch writes its requests
    /// while the previous one commits; the tails still take the sequence rows one batch at a
    /// time, so the logs keep their order. SQLite has one writer, where a second batch would
    /// only wait for it: keep one there.
    pub fn flushers(mut self, n: usize) -> Self {
        self.max_flushers = n.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Queue<B>> {
        // A panic while holding the lock leaves the queue consistent (a push or a drain).
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `item` and waits until the transaction that holds it has committed (or failed).
    /// The outer error is the batch's (begin, tail, commit); the inner one the request's own.
    pub async fn submit(self: &Arc<Self>, db: &Db, item: B::Item) -> Outcome<B> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.pending.push((item, answer));
            // A running flusher takes what is pending when it next looks; a second one starts
            // only once the first has written its batch (see `Flusher::overlap`).
            let start = q.flushers == 0;
            if start {
                q.flushers += 1;
            }
            start
        };
        if start {
            // A task of its own, not the caller's future: a client that hangs up must not cancel
            // the batch that carries other requests.
            tokio::spawn(Flusher { group: Arc::clone(self), db: db.without_shared() }.run());
        }
        answered.await.map_err(|_| failed_batch("the batch holding this write ended without an answer"))?
    }
}

/// A task that drains a queue (one, or a few with [`GroupCommit::flushers`]); it ends when
/// the queue is empty.
struct Flusher<B: Batch> {
    group: Arc<GroupCommit<B>>,
    db: Db,
}

impl<B: Batch> Flusher<B> {
    async fn run(self) {
        let _reset = ResetOnPanic(&self.group);
        loop {
            let taken: Vec<Waiter<B>> = {
                let mut q = self.group.lock();
                if q.pending.is_empty() {
                    q.flushers -= 1;
                    return;
                }
                let n = q.pending.len().min(self.group.max_batch);
                q.pending.drain(..n).collect()
            };
            let (items, answers): (Vec<_>, Vec<_>) = taken.into_iter().unzip();
            match self.commit(&items).await {
                Ok(outcomes) => {
                    for (answer, outcome) in answers.into_iter().zip(outcomes) {
                        // A caller that went away no longer needs its answer.
                        let _ = answer.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    tracing::warn!(requests = items.len(), error = %e, "a group-commit batch failed");
                    for answer in answers {
                        let _ = answer.send(Err(same_failure(&e)));
                    }
                }
            }
        }
    }

    /// Writes and commits one batch: first without savepoints, and when a request fails, once
    /// more with a savepoint around each request. The request that failed is not run again: it
    /// keeps the error it got (it would meet the same rows), which also counts its failed
    /// statement once.
    ///
    /// Two batches in flight (see [`GroupCommit::flushers`]) can deadlock on a server database
    /// when each holds a row the other's request wants (the same policy number in both, in
    /// crossing order). The database then aborts one of them; nothing of that batch was written,
    /// so it is run again from the start (twice at most) rather than failing its requests.
    async fn commit(&self, items: &[B::Item]) -> Result<Vec<Result<B::Output, DbError>>, DbError> {
        let mut failed: Vec<Option<DbError>> = items.iter().map(|_| None).collect();
        let (mut isolated, mut deadlocks) = (false, 0);
        loop {
            match self.attempt(items, &mut failed, isolated).await {
                Ok(Some(outcomes)) => return Ok(outcomes),
                Ok(None) if !isolated => isolated = true,
                Ok(None) => return Err(failed_batch("a request failed inside its savepoint")),
                Err(e) if e.is_deadlock() && deadlocks < 2 => {
                    deadlocks += 1;
                    tracing::warn!(
                        requests = items.len(),
                        deadlocks,
                        "a group-commit batch met a deadlock; running it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `None`: a request failed while `isolated` was off (its error is kept in `failed`); the
    /// transaction was rolled back. A deadlock is the batch's error, whichever statement met it.
    async fn attempt(
        &self,
        items: &[B::Item],
        failed: &mut [Option<DbError>],
        isolated: bool,
    ) -> Result<Option<Vec<Result<B::Output, DbError>>>, DbError> {
        let batch = &self.group.batch;
        let mut tx = self.begin().await?;
        // `None` for a request that failed in an earlier attempt: its error stays in `failed`
        // until this attempt has committed, so a retried attempt still has it.
        let mut written: Vec<Option<Result<B::Output, DbError>>> = Vec::with_capacity(items.len());
        for (item, known) in items.iter().zip(failed.iter_mut()) {
            if known.is_some() {
                written.push(None);
                continue;
            }
            if isolated {
                tx.savepoint().await?;
            }
            match (batch.write(&mut tx, item).await, isolated) {
                (Err(e), _) if e.is_deadlock() => return Err(e),
                (Err(e), false) => {
                    *known = Some(e);
                    return Ok(None);
                }
                (Err(e), true) => {
                    tx.rollback_to_savepoint().await?;
                    written.push(Some(Err(e)));
                }
                (Ok(out), true) => {
                    tx.release_savepoint().await?;
                    written.push(Some(Ok(out)));
                }
                (Ok(out), false) => written.push(Some(Ok(out))),
            }
        }
        self.overlap();
        let done: Vec<_> = items
            .iter()
            .zip(&written)
            .filter_map(|(item, o)| match o {
                Some(Ok(out)) => Some((item, out)),
                _ => None,
            })
            .collect();
        if !done.is_empty() {
            batch.finish(&mut tx, done).await?;
        }
        tx.commit().await?;
        let outcomes = written
            .into_iter()
            .zip(failed.iter_mut())
            .map(|(w, known)| {
                w.unwrap_or_else(|| Err(known.take().unwrap_or_else(|| failed_batch("a request lost its error"))))
            })
            .collect();
        Ok(Some(outcomes))
    }
}

impl<B: Batch> Flusher<B> {
    /// This batch's own statements are written; its tail and commit come next, and take the
    /// sequence rows in turn. Requests that queued meanwhile need not wait for that commit to
    /// start theirs: another flusher takes them now, when the limit allows.
    fn overlap(&self) {
        let group = &self.group;
        let start = {
            let mut q = group.lock();
            let start = !q.pending.is_empty() && q.flushers < group.max_flushers;
            if start {
                q.flushers += 1;
            }
            start
        };
        if start {
            tokio::spawn(Flusher { group: Arc::clone(group), db: self.db.clone() }.run());
        }
    }

    /// Starts the batch's transaction. A batch carries many requests, each already waiting: when
    /// no connection frees up within the pool's timeout (a burst of requests holding them all),
    /// it asks twice more before failing them all, since nothing has been written yet.
    async fn begin(&self) -> Result<Tx, DbError> {
        let mut tries = 0;
        loop {
            match self.db.begin().await {
                Err(DbError::Unavailable(e)) if tries < 2 => {
                    tries += 1;
                    tracing::warn!(error = %e, tries, "no connection for a group-commit batch yet; asking again");
                }
                other => return other,
            }
        }
    }
}

/// If a batch panics, its flusher must not stay counted as running, or every later
/// write would wait forever: the queue is released, and the requests still pending are answered
/// with an error (their senders dropped) rather than left hanging.
struct ResetOnPanic<'a, B: Batch>(&'a GroupCommit<B>);

impl<B: Batch> Drop for ResetOnPanic<'_, B> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = self.0.lock();
            q.pending.clear();
            q.flushers = q.flushers.saturating_sub(1);
        }
    }
}

fn failed_batch(msg: &str) -> DbError {
    DbError::Other(sqlx::Error::Protocol(msg.to_owned()))
}

/// The batch's error, for each of its requests (a `DbError` cannot be cloned): the same kind,
/// so an unavailable database is still a 503 for every one of them.
fn same_failure(e: &DbError) -> DbError {
    let because = |what: &str| sqlx::Error::Protocol(format!("{what}: {e}"));
    match e {
        DbError::UniqueViolation => DbError::UniqueViolation,
        DbError::ForeignKeyViolation => DbError::ForeignKeyViolation,
        DbError::Unavailable(_) => DbError::Unavailable(because("the batch could not be written")),
        DbError::Other(_) => DbError::Other(because("the batch could not be written")),
    }
}

/// Values kept once per database and shared by every clone of its [`Db`], such as a kind of
/// write's [`GroupCommit`] queue.
#[derive(Default)]
pub(crate) struct Shared(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Db {
    /// The value of type `T` kept for this database, made by `init` on first use. Lets a
    /// component keep per-database state (its group-commit queue) without a global and without
    /// changing what its functions take: a `&Db`.
    pub fn shared<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut map = self.shared.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(value) = map.get(&TypeId::of::<T>()).and_then(|v| Arc::clone(v).downcast::<T>().ok()) {
            return value;
        }
        let value = Arc::new(init());
        map.insert(TypeId::of::<T>(), Arc::clone(&value) as Arc<dyn Any + Send + Sync>);
        value
    }

    /// A handle to the same pools without the shared values, for tasks those values start:
    /// holding the full handle would keep the values (and the task's own queue) alive forever.
    pub(crate) fn without_shared(&self) -> Db {
        Db {
            pools: self.pools.clone(),
            errors: Arc::clone(&self.errors),
            shared: Arc::default(),
            commits: Arc::clone(&self.commits),
        }
    }
}
