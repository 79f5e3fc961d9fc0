//! The original listings stream their JSON array from a database cursor (issue 19, item 3): the
//! body is sent in chunks as rows arrive, and it is the same array the collected listing gave.

use crate::common::TestApp;
use chrono::NaiveDate;
use serde_json::{Value, json};

/// Sales beyond a few of the stream's batches (256 rows each), so the body has many chunks and
/// the seams between batches are exercised.
const SALES: u64 = 1_300;

/// Every sale through the paged API, turned into the original route's shape by hand: the
/// listing as it was before it streamed.
async fn legacy_shape_from_the_api(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = String::from("/api/v1/sales?limit=500");
    loop {
        let (s, page) = app.get(&path).await;
        assert_eq!(s, 200, "{page}");
        for sale in page["items"].as_array().unwrap() {
            let day = NaiveDate::parse_from_str(sale["sale_date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            out.push(json!({
                "sale_id": sale["id"],
                "agent_code": sale["agent_code"],
                "amount": sale["amount"],
                "sale_date": day.format("%a, %d %b %Y 00:00:00 GMT").to_string(),
                "branch": sale["branch"],
                "product_id": sale["product_id"],
            }));
        }
        match page["page"]["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/sales?limit=500&cursor={c}"),
            None => return out,
        }
    }
}

/// GETs `path` and returns the body as bytes with whether it came chunked without a length.
async fn raw(app: &TestApp, path: &str) -> (bool, Vec<u8>) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let chunked = r.headers().get("transfer-encoding").is_some_and(|v| v == "chunked")
        && r.headers().get("content-length").is_none();
    (chunked, r.bytes().await.unwrap().to_vec())
}

async fn original_listings_stream_the_same_array(app: &TestApp) {
    // Empty first: still an array, and still streamed.
    let (chunked, body) = raw(app, "/integration/get").await;
    assert_eq!((chunked, body.as_slice()), (true, b"[]".as_slice()));
    app.product("Streamed", "100.00").await;
    let today = chrono::Utc::now().date_naive();
    moon_server::bulk::load(&app.store, 7, SALES, today, 19, |_| {}).await.unwrap();
    let (chunked, body) = raw(app, "/integration/get").await;
    assert!(chunked, "the sales listing is streamed, not sent with a length");
    let rows: Vec<Value> = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not one JSON array: {e}"));
    assert_eq!(rows.len() as u64, SALES);
    assert_eq!(rows, legacy_shape_from_the_api(app).await, "the same rows, in the same order and shape");
    let (chunked, body) = raw(app, "/agent/get").await;
    assert!(chunked, "the agent listing is streamed");
    let agents: Vec<Value> = serde_json::from_slice(&body).unwrap();
    let (_, paged) = app.get("/api/v1/agents?limit=500").await;
    let ids: Vec<&Value> = paged["items"].as_array().unwrap().iter().map(|a| &a["id"]).collect();
    assert_eq!(agents.iter().map(|a| &a["agent_id"]).collect::<Vec<_>>(), ids);
    assert!(agents.iter().all(|a| a["created_at"].as_str().is_some_and(|d| d.ends_with(" GMT"))), "{agents:?}");
    let (s, notifications) = app.get("/notification/get").await;
    assert_eq!((s, notifications.is_array()), (200, true), "{notifications}");
}

on_every_backend!(original_listings_stream_the_same_array);
