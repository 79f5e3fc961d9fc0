//! The write path under concurrency, on every backend: many sales recorded at once are batched
//! into shared transactions (group commit, ADR 0012), yet each is answered on its own, the change
//! log stays gapless and in order for a reader that follows it meanwhile, the audit chain
//! verifies, and a bad request in a batch fails alone.

use std::collections::BTreeSet;

use crate::common::{TestApp, TestClient};
use serde_json::{Value, json};

/// Requests in flight at once. Every body is posted from its own task at the same moment, but
/// at most this many wait on the server together: with all 1,000 in flight, the requests' own
/// reads (the token look-up) exhaust the 10-connection pool for longer than its 5 s timeout on a
/// loaded 2-core machine and are answered 503, which is the pool's honest answer, not the write
/// path's.
const IN_FLIGHT: usize = 128;

/// Posts every body at once (each in its own task) and returns (status, body) in order.
async fn post_all(clients: &[TestClient], path: &str, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let client = clients[i % clients.len()].clone();
            let path = path.to_owned();
            let gate = std::sync::Arc::clone(&gate);
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                client.post(&path, body).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Follows the change log from `cursor` as a consumer does (`id > cursor`, in order), asserting
/// that every entry it sees is the next id: a gap would mean a smaller id became visible later.
/// Where the test starts following the log. Registers the test as a consumer at that point, so
/// the servers' pruning (after their own consumers) keeps every entry the test has yet to read.
async fn start_following(store: &moon_db::Db) -> i64 {
    let start = moon_changelog::last_id(store).await.unwrap();
    moon_changelog::save_cursor(store, "write_path_test", start).await.unwrap();
    start
}

async fn follow(store: &moon_db::Db, mut cursor: i64) -> (i64, Vec<moon_changelog::Entry>) {
    let mut seen = Vec::new();
    loop {
        let batch = moon_changelog::read_after(store, cursor, 500).await.unwrap();
        if batch.is_empty() {
            return (cursor, seen);
        }
        for e in batch {
            assert_eq!(e.id, cursor + 1, "the change log skipped from {cursor} to {}", e.id);
            cursor = e.id;
            seen.push(e);
        }
    }
}

fn sale_ids(entries: &[moon_changelog::Entry]) -> BTreeSet<i64> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            moon_changelog::Event::Sale { id, before: None, after: Some(_) } => Some(*id),
            _ => None,
        })
        .collect()
}

/// 1,000 sales posted at once: every one is answered 201 with its own row; the change log,
/// followed by a reader while they are written, has one entry per sale, in order, without a
/// gap; the audit chain verifies; and the sales really shared transactions.
async fn a_thousand_concurrent_sales_are_answered_and_logged_in_order(app: &TestApp) {
    app.agent("WP1", "Colombo", "Alpha").await;
    let product = app.product("Write path", "1000.00").await;
    let start = start_following(&app.store).await;
    let bodies: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"agent_code": "WP1", "product_id": product, "amount": format!("{}.{:02}", 100 + i, i % 100),
                   "sale_date": "2026-05-02", "policy_number": format!("WP-{i}")})
        })
        .collect();
    let writers = tokio::spawn({
        let clients = vec![app.admin(); 1];
        async move { post_all(&clients, "/api/v1/sales", bodies).await }
    });
    // A consumer following the log while the writes land.
    let mut cursor = start;
    let mut seen = Vec::new();
    while !writers.is_finished() {
        let (c, mut more) = follow(&app.store, cursor).await;
        cursor = c;
        seen.append(&mut more);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let answers = writers.await.unwrap();
    let (_, mut rest) = follow(&app.store, cursor).await;
    seen.append(&mut rest);

    let mut ids = BTreeSet::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 201, "sale {i}: {body}");
        assert_eq!(body["policy_number"], format!("WP-{i}"), "each request gets its own row back");
        assert_eq!(body["amount"], format!("{}.{:02}", 100 + i, i % 100));
        ids.insert(body["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1000);
    assert_eq!(sale_ids(&seen), ids, "one change-log entry per sale, none missing");
    assert_eq!(seen.len(), 1000);

    let verdict = moon_server::audit::verify(&app.store).await.unwrap();
    assert_eq!(verdict.broken, None);
    // Entries of one batch share their transaction's timestamp: fewer instants than sales shows
    // that requests were committed together rather than one by one.
    let mut instants = BTreeSet::new();
    let mut entries = 0;
    let mut cursor = None::<String>;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit?action=sale.create&limit=500&cursor={c}"),
            None => String::from("/api/v1/audit?action=sale.create&limit=500"),
        };
        let (s, page) = app.get(&path).await;
        assert_eq!(s, 200, "{page}");
        for e in page["items"].as_array().unwrap() {
            instants.insert(e["occurred_at"].as_str().unwrap().to_owned());
            entries += 1;
        }
        match page["page"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(entries, 1000);
    assert!(instants.len() < 1000, "1,000 concurrent sales were committed in {} transactions", instants.len());
}

/// In one burst: good sales, twenty sales with the same policy number, sales naming an agent or
/// a product that does not exist. Each bad request gets its own answer (one policy wins, the
/// rest 409; unknown references 422) and every good one is recorded, logged and audited.
async fn a_bad_sale_in_a_batch_does_not_fail_its_neighbours(app: &TestApp) {
    app.agent("WP2", "Kandy", "Beta").await;
    let product = app.product("Neighbours", "1000.00").await;
    let start = start_following(&app.store).await;
    let mut bodies = Vec::new();
    for i in 0..300 {
        let body = match i % 10 {
            0 | 5 if i < 200 => json!({"agent_code": "WP2", "product_id": product, "amount": "10.00",
                                 "sale_date": "2026-05-03", "policy_number": "SAME-POLICY"}),
            3 => json!({"agent_code": "NOPE9", "product_id": product, "amount": "10.00", "sale_date": "2026-05-03"}),
            7 => json!({"agent_code": "WP2", "product_id": 999_999, "amount": "10.00", "sale_date": "2026-05-03"}),
            _ => {
                json!({"agent_code": "WP2", "product_id": product, "amount": format!("{i}.00"), "sale_date": "2026-05-03"})
            }
        };
        bodies.push(body);
    }
    let answers = post_all(&[app.admin()], "/api/v1/sales", bodies).await;
    let mut created = BTreeSet::new();
    let (mut duplicates, mut same_policy_created) = (0, 0);
    for (i, (status, body)) in answers.iter().enumerate() {
        match (i % 10, i < 200) {
            (0 | 5, true) => match status {
                201 => {
                    same_policy_created += 1;
                    created.insert(body["id"].as_i64().unwrap());
                }
                409 => {
                    assert_eq!(body["code"], "duplicate_policy_number", "{body}");
                    duplicates += 1;
                }
                other => panic!("request {i}: {other} {body}"),
            },
            (3, _) => {
                assert_eq!(*status, 422, "request {i}: {body}");
                assert_eq!(body["errors"][0]["code"], "unknown_agent", "{body}");
            }
            (7, _) => {
                assert_eq!(*status, 422, "request {i}: {body}");
                assert_eq!(body["errors"][0]["code"], "unknown_product", "{body}");
            }
            _ => {
                assert_eq!(*status, 201, "request {i}: {body}");
                assert_eq!(body["amount"], format!("{i}.00"));
                created.insert(body["id"].as_i64().unwrap());
            }
        }
    }
    assert_eq!((same_policy_created, duplicates), (1, 39));
    assert_eq!(created.len(), 1 + 300 - 40 - 60);
    let (_, seen) = follow(&app.store, start).await;
    assert_eq!(sale_ids(&seen), created, "exactly the recorded sales are in the change log");
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None);
    let (s, page) = app.get("/api/v1/sales?agent_code=WP2&limit=500").await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), created.len(), "nothing half-written");
}

/// Two servers on one database (two replicas), each batching its own requests: their batches
/// take the sequence rows in turn, so the log and the chain still have one order.
async fn two_replicas_writing_at_once_keep_one_order(app: &TestApp) {
    app.agent("WP3", "Galle", "Gamma").await;
    let product = app.product("Replicas", "1000.00").await;
    let mut config = app.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let second = moon_server::start(config).await.expect("second replica starts");
    let other = TestClient { base: format!("http://{}", second.addr), ..app.admin() };
    let start = start_following(&app.store).await;
    let bodies: Vec<Value> = (0..400)
        .map(|i| json!({"agent_code": "WP3", "product_id": product, "amount": format!("{}.00", i + 1), "sale_date": "2026-05-04"}))
        .collect();
    let answers = post_all(&[app.admin(), other], "/api/v1/sales", bodies).await;
    let ids: BTreeSet<i64> = answers
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, 201, "{b}");
            b["id"].as_i64().unwrap()
        })
        .collect();
    second.shutdown().await.unwrap();
    let (_, seen) = follow(&app.store, start).await;
    assert_eq!(sale_ids(&seen), ids);
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None);
}

/// Batches in flight together (several on PostgreSQL) meet each other's policy numbers in
/// every order: five numbers, each wanted by forty requests posted at once in a shuffled order.
/// Each number is recorded exactly once and every other request is a 409; a batch the database
/// aborted to break a deadlock is run again, never answered 500.
async fn duplicates_across_batches_in_flight_are_conflicts_not_errors(app: &TestApp) {
    app.agent("WP4", "Galle", "Delta").await;
    let product = app.product("Crossing", "1000.00").await;
    // A fixed shuffle: request i wants policy (i * 7 + i / 5) % 5.
    let bodies: Vec<Value> = (0..200)
        .map(|i| {
            json!({"agent_code": "WP4", "product_id": product, "amount": "10.00", "sale_date": "2026-05-03",
                   "policy_number": format!("CROSS-{}", (i * 7 + i / 5) % 5)})
        })
        .collect();
    let answers = post_all(&[app.admin()], "/api/v1/sales", bodies).await;
    let mut created = BTreeSet::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        match status {
            201 => assert!(created.insert(body["policy_number"].as_str().unwrap().to_owned()), "twice: {body}"),
            409 => assert_eq!(body["code"], "duplicate_policy_number", "request {i}: {body}"),
            other => panic!("request {i}: {other} {body}"),
        }
    }
    assert_eq!(created.len(), 5, "{created:?}");
    assert_eq!(moon_server::audit::verify(&app.store).await.unwrap().broken, None);
}

on_every_backend!(
    a_thousand_concurrent_sales_are_answered_and_logged_in_order,
    a_bad_sale_in_a_batch_does_not_fail_its_neighbours,
    two_replicas_writing_at_once_keep_one_order,
    duplicates_across_batches_in_flight_are_conflicts_not_errors,
);
