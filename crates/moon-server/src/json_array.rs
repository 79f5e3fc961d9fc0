//! A JSON array response written from a database cursor, so that an unbounded listing costs the
//! same memory for ten rows as for ten million.
//!
//! The original routes (`/integration/get`, `/agent/get`, `/notification/get`) answer with every
//! row in one array; collected first, a million sales made a 141 MB body and 580 MB of memory per
//! call. Here each batch of rows from [`moon_db::RowStream`] is serialized into one chunk of the
//! body as the client reads it, and the next batch is fetched only then.
//!
//! The contract stays the original's: the first batch is awaited before the status is chosen,
//! so a query that fails at once (database gone, timeout) still gets its error response. A
//! failure after the first byte cannot change the status any more; the body is then cut off
//! mid-array (the connection reports an error), so a client never takes a truncated listing for
//! a complete one.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use moon_db::{DbError, RowStream};
use serde::Serialize;

/// What is left to send.
struct State<R, F> {
    rows: Option<RowStream<R>>,
    /// A batch read ahead to decide the status, sent first.
    ahead: Option<Vec<R>>,
    /// Nothing written yet: the next row is not preceded by a comma.
    first: bool,
    to_json: F,
}

/// Answers `200` with the rows of `rows`, each turned into its JSON shape by `to_json`, as one
/// array streamed chunk by chunk; or the query's error if it fails before its first row.
pub async fn respond<R, J, F>(mut rows: RowStream<R>, to_json: F) -> Result<Response, DbError>
where
    R: Send + 'static,
    J: Serialize,
    F: FnMut(R) -> J + Send + 'static,
{
    let ahead = match rows.next_batch().await {
        Some(Err(e)) => return Err(e),
        Some(Ok(batch)) => Some(batch),
        None => None,
    };
    let done = ahead.is_none();
    let state = State { rows: if done { None } else { Some(rows) }, ahead, first: true, to_json };
    let head = futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"[")) });
    let body = futures_util::stream::unfold(state, |mut s| async move {
        let batch = match s.ahead.take() {
            Some(b) => b,
            None => match s.rows.as_mut()?.next_batch().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "a streamed listing failed after its first rows; the body is cut off");
                    s.rows = None;
                    return Some((Err(std::io::Error::other(e)), s));
                }
                None => {
                    s.rows = None;
                    return Some((Ok(Bytes::from_static(b"]")), s));
                }
            },
        };
        let chunk = serialize(batch, &mut s.to_json, &mut s.first);
        Some((chunk, s))
    });
    use futures_util::StreamExt;
    let tail = futures_util::stream::iter(done.then(|| Ok(Bytes::from_static(b"]"))));
    let mut response = Body::from_stream(head.chain(body).chain(tail)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// One chunk: the rows of a batch, comma-separated, continuing the array.
fn serialize<R, J: Serialize>(
    batch: Vec<R>,
    to_json: &mut impl FnMut(R) -> J,
    first: &mut bool,
) -> Result<Bytes, std::io::Error> {
    let mut out = Vec::with_capacity(batch.len() * 128);
    for row in batch {
        if !std::mem::take(first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &to_json(row)).map_err(std::io::Error::other)?;
    }
    Ok(Bytes::from(out))
}
