//! `moon import sales FILE` killed with SIGKILL in the middle, on every backend: the database
//! holds whole committed batches only (each with its change-log entries and its progress row),
//! and the next run of the same file says what the interrupted one had committed, skips it and
//! finishes the rest.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moon_db::sea_query::{Expr, ExprTrait, Func, Query};
use moon_testkit::{Backend, TestDb};

const ROWS: usize = 120_000;
const BATCH: usize = 2_000;

fn moon(url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moon"));
    cmd.args(args)
        .env_remove("MOON_CONFIG")
        .env("MOON_DATABASE_URL", url)
        .env("MOON_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn ok(url: &str, args: &[&str]) -> (String, String) {
    let out = moon(url, args).output().unwrap();
    let (so, se) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "moon {args:?} failed:\n{se}");
    (so, se)
}

async fn scalar(db: &moon_db::Db, q: &moon_db::sea_query::SelectStatement) -> i64 {
    let (n,): (i64,) = db.fetch_optional(q).await.unwrap().unwrap();
    n
}

async fn imported(db: &moon_db::Db) -> i64 {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id"))).from("sales").and_where(Expr::col("source_system").like("file:%"));
    scalar(db, &q).await
}

async fn sale_entries(db: &moon_db::Db) -> i64 {
    let mut q = Query::select();
    q.expr(Func::count(Expr::col("id"))).from("change_log").and_where(Expr::col("entity").eq("sale"));
    scalar(db, &q).await
}

/// (state, batches_committed, accepted) of the latest import.
async fn latest_import(db: &moon_db::Db) -> Option<(String, i64, i64)> {
    let mut q = Query::select();
    q.columns(["state", "batches_committed", "accepted"])
        .from("imports")
        .order_by("id", moon_db::sea_query::Order::Desc)
        .limit(1);
    db.fetch_optional(&q).await.unwrap()
}

async fn killed_mid_import_leaves_whole_batches(backend: Backend) {
    let Some(test_db) = TestDb::create(backend).await else { return };
    let url = test_db.url.clone();
    ok(&url, &["migrate"]);
    ok(&url, &["demo"]);
    let db = moon_db::Db::connect(&url, &moon_db::DbOptions::default()).await.unwrap();
    let mut q = Query::select();
    q.column("id").from("products");
    let products: Vec<i64> = db.fetch_all::<(i64,)>(&q).await.unwrap().into_iter().map(|(id,)| id).collect();
    let entries_before = sale_entries(&db).await;

    let dir = std::env::temp_dir().join(format!("moon-import-kill-{}-{:?}", std::process::id(), backend));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sales.csv");
    let mut text = String::from("agent_code,product_id,amount,sale_date\n");
    for i in 0..ROWS {
        text.push_str(&format!(
            "AGT00{},{},{}.{:02},2024-0{}-1{}\n",
            1 + i % 9,
            products[i % products.len()],
            100 + i,
            i % 100,
            1 + i % 9,
            i % 10
        ));
    }
    std::fs::write(&file, text).unwrap();
    let path = file.to_str().unwrap();
    let batch = BATCH.to_string();

    let mut child = moon(&url, &["import", "sales", path, "--valid-rows", "--batch-rows", &batch]).spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some((_, batches, _)) = latest_import(&db).await
            && batches >= 2
        {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the import ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(120), "the import committed no batch in 2 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (state, batches, accepted) = latest_import(&db).await.unwrap();
    assert_eq!(state, "running", "a killed import never recorded an end");
    let in_db = imported(&db).await;
    assert!(in_db > 0 && (in_db as usize) < ROWS, "killed mid-way: {in_db} of {ROWS}");
    assert_eq!(in_db % BATCH as i64, 0, "only whole batches are in: {in_db}");
    assert_eq!((in_db, batches), (accepted, in_db / BATCH as i64), "the progress row matches what is in");
    assert_eq!(sale_entries(&db).await - entries_before, in_db, "each committed sale has its change-log entry");

    let (_, err) = ok(&url, &["import", "sales", path, "--valid-rows", "--batch-rows", &batch]);
    assert!(
        err.contains(&format!("did not finish (running): it had committed {batches} batch(es), {in_db} sales")),
        "the next run says what the killed one left: {err}"
    );
    let summary = format!("{ROWS} rows read, {} recorded, {in_db} duplicates, 0 rejected", ROWS as i64 - in_db);
    assert!(err.contains(&summary), "{err}");
    assert_eq!(imported(&db).await, ROWS as i64);
    assert_eq!(sale_entries(&db).await - entries_before, ROWS as i64);
    assert_eq!(latest_import(&db).await.unwrap().0, "completed");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_mid_import_leaves_whole_batches() {
    killed_mid_import_leaves_whole_batches(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_mid_import_leaves_whole_batches() {
    killed_mid_import_leaves_whole_batches(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_killed_mid_import_leaves_whole_batches() {
    killed_mid_import_leaves_whole_batches(Backend::MySql).await;
}
