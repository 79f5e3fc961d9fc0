//! Notifications benchmark in a running server (what `moon serve` runs, every component):
//! sale-to-notification latency on the agent's open live stream, and webhook deliveries per
//! second to a receiver on loopback.
//!
//! ```text
//! cargo run --release -p moon-server --example notifications_bench -- \
//!     --db sqlite:///tmp/b/moon.db --wh sqlite:///tmp/b/warehouse.db --samples 200 --deliveries 2000
//! ```
//!
//! The databases must be empty; `bench/notifications.sh` creates and drops them. Results are
//! printed as Markdown table rows, ready for BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use moon_db::sea_query::{Expr, ExprTrait, Query};

struct Args {
    db: String,
    wh: String,
    samples: usize,
    deliveries: usize,
}

fn args() -> Args {
    let mut a = Args { db: String::new(), wh: String::new(), samples: 200, deliveries: 2_000 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--db" => a.db = value,
            "--wh" => a.wh = value,
            "--samples" => a.samples = value.parse().unwrap(),
            "--deliveries" => a.deliveries = value.parse().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!a.db.is_empty() && !a.wh.is_empty(), "--db URL and --wh URL are required");
    a
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .init();
    let a = args();
    let (config, db) = common::config(&a.db, &a.wh).await;
    let today = chrono::Utc::now().date_naive();
    moon_server::demo::load(&db, today).await.unwrap();
    let server = moon_server::start(config.clone()).await.unwrap();
    let base = format!("http://{}", server.addr);
    let backend = db.backend().name();
    let admin = common::client_as(&db, "bench-admin", "admin", None).await;
    let agent = common::client_as(&db, "bench-agent", "agent", Some("AGT001")).await;

    // 1. Sale → notification on the agent's open stream. Only one rule: a milestone every
    // 1,000.00 all-time, so each sale of 1,000.00 crosses exactly one and makes one event.
    let rules: serde_json::Value =
        admin.get(format!("{base}/api/v1/notifications/rules")).send().await.unwrap().json().await.unwrap();
    for rule in rules.as_array().unwrap() {
        let r = admin
            .patch(format!("{base}/api/v1/notifications/rules/{}", rule["id"]))
            .json(&serde_json::json!({"enabled": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = admin
        .post(format!("{base}/api/v1/notifications/rules"))
        .json(&serde_json::json!({"name": "bench-every-1000", "kind": "milestone", "every": "1000", "period": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut stream = agent.get(format!("{base}/api/v1/notifications/stream")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut latencies = Vec::with_capacity(a.samples);
    let mut posts = Vec::with_capacity(a.samples);
    let mut pending = String::new();
    for i in 0..a.samples {
        let started = Instant::now();
        let r = admin
            .post(format!("{base}/api/v1/sales"))
            .json(
                &serde_json::json!({"agent_code": "AGT001", "product_id": 1, "amount": "1000.00", "sale_date": today}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "sale {i}");
        posts.push(started.elapsed());
        loop {
            if let Some(end) = pending.find("\n\n") {
                let event: String = pending.drain(..end + 2).collect();
                if event.contains("event: notification") && event.contains("\"kind\":\"milestone\"") {
                    break;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await.unwrap().unwrap().unwrap();
            pending.push_str(&String::from_utf8_lossy(&chunk));
        }
        latencies.push(started.elapsed());
    }
    // Nothing left over: every event was matched to its own sale.
    assert!(!pending.contains("event: notification"), "an unmatched event: {pending}");
    latencies.sort();
    posts.sort();
    println!(
        "| {backend} | sale → live stream (POST /api/v1/sales until the SSE event) | {} sales | p50 {} ms, p99 {} ms, max {} ms; the POST alone: p99 {} ms, ratio {:.2} |",
        a.samples,
        common::ms(common::percentile(&latencies, 0.5)),
        common::ms(common::percentile(&latencies, 0.99)),
        common::ms(*latencies.last().unwrap()),
        common::ms(common::percentile(&posts, 0.99)),
        common::percentile(&latencies, 0.99).as_secs_f64() / common::percentile(&posts, 0.99).as_secs_f64()
    );

    // 2. Webhook deliveries per second to a receiver on loopback that answers 204 at once.
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let r = admin
        .post(format!("{base}/api/v1/notifications/webhooks"))
        .json(&serde_json::json!({"url": hook, "events": ["notification.manual"], "secret": "whsec_bench_0123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = admin
        .post(format!("{base}/api/v1/notifications"))
        .json(&serde_json::json!({"agent_code": "AGT002", "message": "bench"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    while received.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Copies of that delivery, held back, then all made due at once: the loop alone is measured.
    let mut q = Query::select();
    q.columns(["notification_id", "subscription_id", "payload"]).from("notification_deliveries").limit(1);
    let (notification, subscription, payload): (i64, i64, String) = db.fetch_optional(&q).await.unwrap().unwrap();
    let later = moon_db::now() + chrono::Duration::days(1);
    let mut tx = db.begin().await.unwrap();
    for chunk in (0..a.deliveries).collect::<Vec<_>>().chunks(500) {
        let mut ins = Query::insert();
        ins.into_table("notification_deliveries").columns([
            "notification_id",
            "channel",
            "subscription_id",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ]);
        for _ in chunk {
            ins.values([
                notification.into(),
                "webhook".into(),
                subscription.into(),
                payload.as_str().into(),
                "pending".into(),
                0i64.into(),
                later.into(),
                later.into(),
                later.into(),
            ])
            .unwrap();
        }
        tx.execute(&ins).await.unwrap();
    }
    tx.commit().await.unwrap();
    let before = received.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut tx = db.begin().await.unwrap();
    let mut due = Query::update();
    due.table("notification_deliveries")
        .value("next_attempt_at", moon_db::now())
        .and_where(Expr::col("status").eq("pending"));
    tx.execute(&due).await.unwrap();
    tx.commit().await.unwrap();
    while received.load(Ordering::SeqCst) < before + a.deliveries {
        assert!(started.elapsed() < Duration::from_secs(600), "deliveries stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sent = started.elapsed();
    // And until the log says so (the bookkeeping after each batch).
    let mut q = Query::select();
    q.expr(Expr::col("id").count()).from("notification_deliveries").and_where(Expr::col("status").eq("pending"));
    while db.fetch_optional::<(i64,)>(&q).await.unwrap().map_or(0, |(n,)| n) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let logged = started.elapsed();
    // Reference: the same body POSTed by a bare client, 16 in flight, no database at all.
    let bare = reqwest::Client::new();
    let started = Instant::now();
    futures_util::stream::iter(0..a.deliveries)
        .map(|_| {
            let (bare, hook, payload) = (bare.clone(), hook.clone(), payload.clone());
            async move { bare.post(hook).body(payload).send().await.unwrap().status() }
        })
        .buffer_unordered(16)
        .for_each(|status| async move { assert!(status.is_success()) })
        .await;
    let reference = a.deliveries as f64 / started.elapsed().as_secs_f64();
    let rate = a.deliveries as f64 / logged.as_secs_f64();
    println!(
        "| {backend} | webhook deliveries to a loopback receiver (signed, 16 in flight), until the log says succeeded | {} deliveries | {:.0}/s ({:.0}/s received); bare POSTs of the same body: {reference:.0}/s, ratio {:.2} |",
        a.deliveries,
        rate,
        a.deliveries as f64 / sent.as_secs_f64(),
        rate / reference
    );
    server.shutdown().await.unwrap();
    db.close().await;
}
