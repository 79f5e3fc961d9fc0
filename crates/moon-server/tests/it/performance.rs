//! Performance figures and their drill-down (issue 13, items 5 and 6), on every backend: figures
//! of a finished period against a recomputation from the sales and targets the test made
//! (seeded random scopes and periods), zero rows for units that sold nothing, previous period and
//! last year, rank movement, a team's past counting only the agents it had then, pace in the
//! running month by working days with a holiday, who sees which names, and the minimum group
//! size.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestApp;

const WAIT: Duration = Duration::from_secs(10);

fn items(b: &Value) -> Vec<Value> {
    b["items"].as_array().cloned().unwrap_or_default()
}

fn row<'a>(b: &'a Value, key: &str) -> &'a Value {
    b["items"].as_array().unwrap().iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("no row {key}: {b}"))
}

fn cents(s: &str) -> i64 {
    let (units, frac) = s.split_once('.').unwrap_or((s, "00"));
    let neg = units.starts_with('-');
    let v = units.trim_start_matches('-').parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap();
    if neg { -v } else { v }
}

fn money(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

async fn target(app: &TestApp, kind: &str, key: Option<&str>, period: &str, amount: &str) {
    let mut body = json!({"scope_kind": kind, "period": period, "amount": amount});
    if let Some(k) = key {
        body["scope_key"] = json!(k);
    }
    let (s, b) = app.post("/api/v1/targets", body).await;
    assert!(s == 201 || s == 200, "{b}");
}

/// The agents of the scenario: (code, branch, team).
const AGENTS: [(&str, &str, &str); 5] = [
    ("PA1", "Colombo", "Alpha"),
    ("PA2", "Colombo", "Alpha"),
    ("PB1", "Colombo", "Beta"),
    ("PB2", "Kandy", "Beta"),
    ("PK1", "Kandy", "Gamma"),
];

/// Seeded sales over 2025-01 … 2026-04 (a finished stretch), recorded through the API; returns
/// them as (agent index, date, cents).
async fn seeded_sales(app: &TestApp, product: i64) -> Vec<(usize, chrono::NaiveDate, i64)> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let mut out = Vec::new();
    for _ in 0..60 {
        let a = usize::try_from(next(AGENTS.len() as u64)).unwrap();
        let date = start + chrono::Duration::days(i64::try_from(next(485)).unwrap());
        let c = i64::try_from(next(50_000)).unwrap() + 100;
        app.sale(AGENTS[a].0, product, &money(c), &date.to_string()).await;
        out.push((a, date, c));
    }
    out
}

fn month(y: i32, m: u32) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let s = chrono::NaiveDate::from_ymd_opt(y, m, 1).unwrap();
    let e = s.checked_add_months(chrono::Months::new(1)).unwrap().pred_opt().unwrap();
    (s, e)
}

async fn setup(app: &TestApp) -> Vec<(usize, chrono::NaiveDate, i64)> {
    // Region "West" is one of the test fixtures' units.
    for branch in ["Colombo", "Galle"] {
        let (_, list) = app.get("/api/v1/org/branches?limit=500").await;
        let id =
            list["items"].as_array().unwrap().iter().find(|u| u["code"] == branch).unwrap()["id"].as_i64().unwrap();
        let (s, b) = app.patch(&format!("/api/v1/org/branches/{id}"), json!({"region": "West"})).await;
        assert_eq!(s, 200, "{b}");
    }
    for (code, branch, team) in AGENTS {
        app.agent(code, branch, team).await;
    }
    let product = app.product("Performance life", "100.00").await;
    let sales = seeded_sales(app, product).await;
    let total: i64 = sales.len() as i64;
    app.wait_for("/api/v1/kpis/trend?bucket=year", WAIT, |b| {
        b["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap()).sum::<i64>() == total
    })
    .await;
    sales
}

/// Every figure of random scopes and finished months equals a recomputation from the sales the
/// test recorded and the targets it set.
async fn figures_equal_a_recomputation_from_the_sales(app: &TestApp) {
    let sales = setup(app).await;
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _ in 0..12 {
        let m = u32::try_from(next(4)).unwrap() + 1;
        let (from, to) = month(2026, m);
        let (pfrom, pto) = if m == 1 { month(2025, 12) } else { month(2026, m - 1) };
        let (lfrom, lto) = month(2025, m);
        let pick = next(4);
        let (kind, key) = match pick {
            0 => ("company", None),
            1 => ("branch", Some("Colombo")),
            2 => ("team", Some("Beta")),
            _ => ("agent", Some("PA2")),
        };
        // Whether the scope counts the sales of the agent at this index of AGENTS.
        let member = |a: usize| match pick {
            0 => true,
            1 => AGENTS[a].1 == "Colombo",
            2 => AGENTS[a].2 == "Beta",
            _ => a == 1,
        };
        let sum = |f: chrono::NaiveDate, t: chrono::NaiveDate| -> (i64, i64) {
            let s: Vec<i64> = sales.iter().filter(|(a, d, _)| member(*a) && *d >= f && *d <= t).map(|s| s.2).collect();
            (s.iter().sum(), s.len() as i64)
        };
        let period = format!("2026-{m:02}");
        let amount = i64::try_from(next(300_000)).unwrap() + 1;
        target(app, kind, key, &period, &money(amount)).await;
        let url = match key {
            Some(k) => format!("/api/v1/performance?scope={kind}&key={k}&period={period}"),
            None => format!("/api/v1/performance?period={period}"),
        };
        let (s, b) = app.get(&url).await;
        assert_eq!(s, 200, "{url}: {b}");
        let r = &b["items"][0];
        let f = &r["figures"];
        let (actual, count) = sum(from, to);
        assert_eq!(cents(f["actual"].as_str().unwrap()), actual, "{url}: {b}");
        assert_eq!(f["actual_count"].as_i64().unwrap(), count, "{url}");
        assert_eq!(cents(f["target"].as_str().unwrap()), amount);
        let pct = (i128::from(actual) * 20_000 + i128::from(amount)) / (i128::from(amount) * 2);
        assert_eq!(f["attainment_pct"].as_str().unwrap(), format!("{}.{:02}", pct / 100, pct % 100), "{url}");
        // A finished period: everything was expected, the projection is the actual.
        assert_eq!(cents(f["expected_by_today"].as_str().unwrap()), amount);
        assert_eq!(cents(f["gap_to_pace"].as_str().unwrap()), actual - amount);
        assert_eq!(cents(f["projected"].as_str().unwrap()), actual);
        assert!(f["needed_per_working_day"].is_null());
        let status = if actual >= amount { "achieved" } else { "behind" };
        assert_eq!(f["status"], status);
        let (prev, _) = sum(pfrom, pto);
        assert_eq!(cents(r["previous"]["actual"].as_str().unwrap()), prev, "{url}");
        assert_eq!(cents(r["previous"]["delta"].as_str().unwrap()), actual - prev);
        let (ly, _) = sum(lfrom, lto);
        assert_eq!(cents(r["last_year"]["actual"].as_str().unwrap()), ly, "{url}");
        assert_eq!(r["last_year"]["period"], format!("2025-{m:02}"));
    }

    // The trend carries the target of its scope on the same axis, zero-filled months included.
    target(app, "company", None, "2025-06", "1234.00").await;
    target(app, "branch", Some("Colombo"), "2025-07", "99.00").await;
    let (_, t) = app.get("/api/v1/kpis/trend?bucket=month&from=2025-05-01&to=2025-07-31").await;
    let series: Vec<(&str, Option<&str>)> =
        t["items"].as_array().unwrap().iter().map(|r| (r["period"].as_str().unwrap(), r["target"].as_str())).collect();
    assert_eq!(series, [("2025-05", None), ("2025-06", Some("1234.00")), ("2025-07", None)], "{t}");
    let (_, t) = app.get("/api/v1/kpis/trend?bucket=month&from=2025-07-01&to=2025-07-31&branch=Colombo").await;
    assert_eq!(t["items"][0]["target"], "99.00", "{t}");

    // The drill-down of branches under the region: Galle sold nothing and is a row of zeros;
    // ranks follow the actuals.
    let (s, b) = app.get("/api/v1/performance/drill?level=branch&parent=West&period=2026-03&sort=actual").await;
    assert_eq!(s, 200, "{b}");
    let keys: BTreeSet<&str> = b["items"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, BTreeSet::from(["Colombo", "Galle"]), "{b}");
    let galle = row(&b, "Galle");
    assert_eq!(
        (galle["figures"]["actual"].as_str(), galle["figures"]["actual_count"].as_i64()),
        (Some("0.00"), Some(0))
    );
    assert_eq!(b["items"][0]["position"], 1);
    assert_eq!(
        row(&b, "Colombo")["drill"],
        "/api/v1/performance/drill?level=team&branch=Colombo&period=month:2026-03-01"
    );
    // Every branch of the company at once, with the unknown-parent problem listing the known.
    let (s, p) = app.get("/api/v1/performance/drill?level=branch&parent=Nowhere").await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("region")), "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("West"), "{p}");
    // Agents of a branch behind pace, furthest first, each linking to their sales.
    let (s, b) = app.get("/api/v1/performance/drill?level=agent&branch=Colombo&period=2026-03&sort=gap").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(items(&b).len(), 3, "{b}");
    for r in items(&b) {
        assert_eq!(r["named"], true);
        assert!(r["drill"].as_str().unwrap().starts_with("/api/v1/sales?agent_id="), "{r}");
    }
    let (s, csv) = {
        let r = app
            .client
            .get(app.url("/api/v1/performance/drill?level=branch&period=2026-03&format=csv"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(s, 200);
    assert!(csv.starts_with("position,level,key,name,actual,"), "{csv}");
    // Bad input: every bad field named.
    let (s, p) = app.get("/api/v1/performance/drill?level=planet&status=late&sort=luck&period=2026-13").await;
    assert_eq!(s, 422);
    let mut f: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    f.sort_unstable();
    assert_eq!(f, ["level", "period", "sort", "status"], "{p}");
    let (s, p) = app.get("/api/v1/performance?scope=branch").await;
    assert_eq!((s, p["errors"][0]["field"].as_str()), (422, Some("key")));
}

/// A move leaves the team's past alone: team Beta's March counts PB1's sales made while in Beta,
/// and lists PB1 among its agents, after PB1 moved to Alpha in April.
async fn a_team_counts_the_agents_it_had_then(app: &TestApp) {
    let id = app.agent("TM1", "Colombo", "Beta").await;
    app.agent("TM2", "Colombo", "Beta").await;
    let p = app.product("Team move product", "100.00").await;
    app.sale("TM1", p, "100.00", "2026-03-10").await;
    app.sale("TM2", p, "40.00", "2026-03-11").await;
    let (s, b) =
        app.post(&format!("/api/v1/agents/{id}/moves"), json!({"team": "Alpha", "effective_from": "2026-04-01"})).await;
    assert_eq!(s, 201, "{b}");
    app.sale("TM1", p, "7.00", "2026-04-02").await;
    app.wait_for("/api/v1/kpis/trend?bucket=year", WAIT, |b| b["items"][0]["sales_count"] == 3).await;
    let (s, b) = app.get("/api/v1/performance/drill?level=agent&team=Beta&period=2026-03").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(cents(row(&b, "TM1")["figures"]["actual"].as_str().unwrap()), 10_000, "{b}");
    let (_, t) = app.get("/api/v1/performance?scope=team&key=Beta&period=2026-03").await;
    assert_eq!(t["items"][0]["figures"]["actual"], "140.00", "{t}");
    let (_, t) = app.get("/api/v1/performance?scope=team&key=Alpha&period=2026-04").await;
    assert_eq!(t["items"][0]["figures"]["actual"], "7.00", "{t}");
    let (_, t) = app.get("/api/v1/performance?scope=team&key=Beta&period=2026-04").await;
    assert_eq!(t["items"][0]["figures"]["actual"], "0.00", "{t}");
    // In April, TM1 is no longer one of Beta's agents.
    let (_, b) = app.get("/api/v1/performance/drill?level=agent&team=Beta&period=2026-04").await;
    assert!(items(&b).iter().all(|r| r["key"] != "TM1"), "{b}");
}

/// The running month: expected by today is the target pro-rated by working days elapsed, a
/// holiday (added by the test) counting as none.
async fn pace_in_the_running_month_counts_working_days(app: &TestApp) {
    let cal = moon_domain::BusinessCalendar::default();
    let today = cal.today(chrono::Utc::now());
    let period = cal.fiscal.period(moon_domain::PeriodKind::Month, today);
    // A holiday on the first weekday of the month that is not today.
    let mut h = period.start();
    while !cal.week.works_on(chrono::Datelike::weekday(&h)) || h == today {
        h = h.succ_opt().unwrap();
    }
    let (s, b) = app.post("/api/v1/calendar/holidays", json!({"date": h.to_string(), "name": "Test holiday"})).await;
    assert_eq!(s, 201, "{b}");
    app.agent("RUN1", "Matara", "Zeta").await;
    let p = app.product("Running product", "100.00").await;
    app.sale("RUN1", p, "50.00", &today.to_string()).await;
    let prev = period.previous();
    app.sale("RUN1", p, "800.00", &prev.start().to_string()).await;
    target(app, "branch", Some("Matara"), &format!("month:{}", period.start()), "2300.00").await;
    app.wait_for("/api/v1/kpis/trend?bucket=year", WAIT, |b| {
        b["items"]
            .as_array()
            .is_some_and(|a| a.iter().map(|r| r["sales_count"].as_i64().unwrap_or(0)).sum::<i64>() == 2)
    })
    .await;
    let holidays = BTreeSet::from([h]);
    let total = i64::from(cal.working_days_in(period, &holidays));
    let elapsed = i64::from(cal.working_days_elapsed(period, today, &holidays));
    let (s, b) = app.get("/api/v1/performance?scope=branch&key=matara").await;
    assert_eq!(s, 200, "{b}");
    let f = &b["items"][0]["figures"];
    assert_eq!(f["working_days"]["total"].as_i64(), Some(total), "{b}");
    assert_eq!(f["working_days"]["elapsed"].as_i64(), Some(elapsed));
    let expected = (230_000 * elapsed * 2 + total) / (total * 2);
    assert_eq!(cents(f["expected_by_today"].as_str().unwrap()), expected, "{b}");
    assert_eq!(cents(f["gap_to_pace"].as_str().unwrap()), 5_000 - expected);
    let remaining = total - elapsed;
    if remaining > 0 {
        let need = (230_000 - 5_000 + remaining - 1) / remaining;
        assert_eq!(cents(f["needed_per_working_day"].as_str().unwrap()), need);
    }
    if elapsed > 0 && remaining > 0 {
        assert_eq!(cents(f["projected"].as_str().unwrap()), (5_000 * total * 2 + elapsed) / (elapsed * 2));
    }
    // The previous month counts up to the same working day, pro-rated, while this one runs.
    let c = &b["items"][0]["previous"];
    assert_eq!(cents(c["period_actual"].as_str().unwrap()), 80_000, "{b}");
    if remaining > 0 {
        let prev_total = i64::from(cal.working_days_in(prev, &holidays));
        let day = elapsed.min(prev_total);
        let share = (80_000 * day * 2 + prev_total) / (prev_total * 2);
        assert_eq!(c["to_working_day"].as_i64(), Some(day), "{b}");
        assert_eq!(cents(c["actual"].as_str().unwrap()), share, "{b}");
        assert_eq!(cents(c["delta"].as_str().unwrap()), 5_000 - share, "{b}");
    } else {
        assert!(c["to_working_day"].is_null() && c["actual"] == "800.00", "{b}");
    }
}

/// Admins see names; a manager the names of their branch's agents and pseudonyms for the rest;
/// an agent their own name only; analysts pseudonyms only. One agent's figures are refused to
/// those who may not see the name.
async fn names_follow_the_role(app: &TestApp) {
    for (code, branch, team) in [("NC1", "Colombo", "Alpha"), ("NC2", "Colombo", "Alpha"), ("NK1", "Kandy", "Alpha")] {
        app.agent(code, branch, team).await;
    }
    let p = app.product("Names product", "100.00").await;
    for code in ["NC1", "NC2", "NK1"] {
        app.sale(code, p, "10.00", "2026-03-02").await;
    }
    app.wait_for("/api/v1/kpis/trend?bucket=year", WAIT, |b| b["items"][0]["sales_count"] == 3).await;
    let url = "/api/v1/performance/drill?level=agent&team=Alpha&period=2026-03&sort=name";
    let names = |b: &Value| -> Vec<(String, bool)> {
        items(b).iter().map(|r| (r["name"].as_str().unwrap().to_owned(), r["named"].as_bool().unwrap())).collect()
    };
    let (_, admin) = app.get(url).await;
    assert_eq!(names(&admin).iter().filter(|n| n.1).count(), 3, "{admin}");

    let manager = app.client_as("manager", Some("Colombo")).await;
    let (s, m) = manager.get(url).await;
    assert_eq!(s, 200, "{m}");
    let named: Vec<String> = names(&m).into_iter().filter(|n| n.1).map(|n| n.0).collect();
    assert_eq!(named, ["Test NC1", "Test NC2"], "{m}");
    let other = items(&m).into_iter().find(|r| r["named"] == false).expect("the Kandy agent, pseudonymous");
    assert!(other["name"].as_str().unwrap().starts_with("ag_") && other["drill"].is_null(), "{other}");
    let (s, _) = manager.get("/api/v1/performance?scope=agent&key=NK1&period=2026-03").await;
    assert_eq!(s, 403);
    let (s, own) = manager.get("/api/v1/performance?scope=agent&key=NC1&period=2026-03").await;
    assert_eq!((s, own["items"][0]["name"].as_str()), (200, Some("Test NC1")), "{own}");
    // A manager's drill-down defaults to their branch; within=company lifts it.
    let (_, mine) = manager.get("/api/v1/performance/drill?period=2026-03").await;
    assert_eq!(items(&mine).len(), 2, "{mine}");
    let (_, all) = manager.get("/api/v1/performance/drill?level=agent&within=company&period=2026-03").await;
    assert_eq!(items(&all).len(), 3, "{all}");

    let agent = app.client_as("agent", Some("NC1")).await;
    let (_, a) = agent.get(url).await;
    let named: Vec<String> = names(&a).into_iter().filter(|n| n.1).map(|n| n.0).collect();
    assert_eq!(named, ["Test NC1"], "{a}");
    let (s, _) = agent.get("/api/v1/performance?scope=agent&key=NC2&period=2026-03").await;
    assert_eq!(s, 403);
    // NC2 agrees to show their name to peers (opt-in, by themself): NC1 now sees it too.
    let nc2 = app.client_as("agent", Some("NC2")).await;
    let (_, me) = nc2.get("/api/v1/agents?agent_code=NC2").await;
    let nc2_id = me["items"][0]["id"].as_i64().unwrap();
    assert_eq!(me["items"][0]["show_name_to_peers"], false, "{me}");
    let (s, b) = nc2.patch(&format!("/api/v1/agents/{nc2_id}"), json!({"show_name_to_peers": true})).await;
    assert_eq!((s, b["show_name_to_peers"].as_bool()), (200, Some(true)), "{b}");
    let (_, a) = agent.get(url).await;
    let named: Vec<String> = names(&a).into_iter().filter(|n| n.1).map(|n| n.0).collect();
    assert_eq!(named, ["Test NC1", "Test NC2"], "{a}");
    let (s, _) = agent.get("/api/v1/performance?scope=agent&key=NC2&period=2026-03").await;
    assert_eq!(s, 200);

    // The leaderboard names the same people to the same callers, beyond the top 10 if asked.
    let board = "/api/v1/kpis/leaderboard?from=2026-03-01&to=2026-03-31&limit=50";
    let leaders = |b: &Value| -> Vec<String> {
        let mut n: Vec<String> = items(b).iter().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect();
        n.sort();
        n
    };
    let (_, b) = app.get(board).await;
    assert_eq!(leaders(&b), ["Test NC1", "Test NC2", "Test NK1"], "{b}");
    let (_, b) = manager.get(board).await;
    assert_eq!(leaders(&b), ["Test NC1", "Test NC2"], "{b}");
    let (_, b) = agent.get(board).await;
    assert_eq!(leaders(&b), ["Test NC1", "Test NC2"], "{b}");

    let analyst = app.client_as("analyst", None).await;
    let (_, b) = analyst.get(board).await;
    assert!(leaders(&b).is_empty() && items(&b).len() == 3, "{b}");
    let (_, an) = analyst.get(url).await;
    assert!(names(&an).iter().all(|n| !n.1 && n.0.starts_with("ag_")), "{an}");
    assert_eq!(items(&an).len(), 3);
    let (s, _) = analyst.get("/api/v1/performance?scope=agent&key=NC1&period=2026-03").await;
    assert_eq!(s, 403);
}

/// Whether a manager sees an agent's name depends on the agent's home branch during the
/// figures' period, not today's: after a move from Colombo to Kandy, Colombo's manager still
/// coaches from March's names and Kandy's manager from April's, not the other way round.
async fn a_manager_sees_names_by_the_branch_of_the_period(app: &TestApp) {
    let id = app.agent("MV1", "Colombo", "Alpha").await;
    let p = app.product("Moved names product", "100.00").await;
    app.sale("MV1", p, "10.00", "2026-03-02").await;
    let (s, b) = app
        .post(&format!("/api/v1/agents/{id}/moves"), json!({"branch": "Kandy", "effective_from": "2026-04-01"}))
        .await;
    assert_eq!(s, 201, "{b}");
    app.sale("MV1", p, "20.00", "2026-04-02").await;
    app.wait_for("/api/v1/kpis/trend?bucket=year", WAIT, |b| b["items"][0]["sales_count"] == 2).await;
    let colombo = app.client_as("manager", Some("Colombo")).await;
    let kandy = app.client_as("manager", Some("Kandy")).await;
    let named = |b: &Value| items(b).iter().any(|r| r["key"] == "MV1" && r["named"] == true);
    let march = "/api/v1/performance/drill?level=agent&within=company&period=2026-03";
    let april = "/api/v1/performance/drill?level=agent&within=company&period=2026-04";
    let (_, b) = colombo.get(march).await;
    assert!(named(&b), "Colombo's manager names MV1 in March: {b}");
    let (_, b) = colombo.get(april).await;
    assert!(!named(&b), "not in April, when MV1 was in Kandy: {b}");
    let (_, b) = kandy.get(march).await;
    assert!(!named(&b), "Kandy's manager does not name MV1 in March: {b}");
    let (_, b) = kandy.get(april).await;
    assert!(named(&b), "but does in April: {b}");
    // One agent's figures follow the same rule.
    let one = |period: &str| format!("/api/v1/performance?scope=agent&key=MV1&period={period}");
    assert_eq!(colombo.get(&one("2026-03")).await.0, 200);
    assert_eq!(colombo.get(&one("2026-04")).await.0, 403);
    assert_eq!(kandy.get(&one("2026-03")).await.0, 403);
    let (s, b) = kandy.get(&one("2026-04")).await;
    assert_eq!((s, b["items"][0]["figures"]["actual"].as_str()), (200, Some("20.00")), "{b}");
}

/// With a minimum group of 2, a one-agent team's figures are withheld from those who may not see
/// its agent, on the single scope, the team level and the pseudonymous agent level alike.
async fn small_groups_are_withheld(app: &TestApp) {
    app.agent("SG1", "Jaffna", "Solo").await;
    app.agent("SG2", "Colombo", "Big").await;
    app.agent("SG3", "Colombo", "Big").await;
    let p = app.product("Small group product", "100.00").await;
    for code in ["SG1", "SG2", "SG3"] {
        app.sale(code, p, "10.00", "2026-03-02").await;
    }
    app.wait_for("/api/v1/kpis/trend?bucket=year", WAIT, |b| {
        b["items"].as_array().unwrap().iter().map(|r| r["sales_count"].as_i64().unwrap()).sum::<i64>() == 3
    })
    .await;
    let analyst = app.client_as("analyst", None).await;
    let (_, solo) = analyst.get("/api/v1/performance?scope=team&key=Solo&period=2026-03").await;
    assert_eq!((items(&solo).len(), solo["suppressed"].as_i64()), (0, Some(1)), "{solo}");
    let (_, big) = analyst.get("/api/v1/performance?scope=team&key=Big&period=2026-03").await;
    assert_eq!(big["items"][0]["figures"]["actual"], "20.00", "{big}");
    let (_, teams) = analyst.get("/api/v1/performance/drill?level=team&period=2026-03").await;
    assert!(items(&teams).iter().all(|r| r["key"] != "Solo"), "{teams}");
    assert!(teams["suppressed"].as_i64().unwrap() >= 1);
    let (_, agents) = analyst.get("/api/v1/performance/drill?level=agent&team=Solo&period=2026-03").await;
    assert_eq!((items(&agents).len(), agents["suppressed"].as_i64()), (0, Some(1)), "{agents}");
    // The admin sees everything.
    let (_, solo) = app.get("/api/v1/performance?scope=team&key=Solo&period=2026-03").await;
    assert_eq!(solo["items"][0]["figures"]["actual"], "10.00", "{solo}");
}

crate::on_every_backend_with!(
    performance,
    |c| c.security.mfa_required_roles.clear(),
    figures_equal_a_recomputation_from_the_sales,
    a_team_counts_the_agents_it_had_then,
    pace_in_the_running_month_counts_working_days,
    names_follow_the_role,
    a_manager_sees_names_by_the_branch_of_the_period,
);

crate::on_every_backend_with!(
    performance_min_group,
    |c| {
        c.security.mfa_required_roles.clear();
        c.min_group_size = 2;
    },
    small_groups_are_withheld,
);

/// With a fiscal year starting in April, the KPI trend's quarter and year buckets are fiscal
/// ones, so a quarter target lines up with its quarter (they were calendar quarters, which
/// matched targets only for a January start).
async fn trend_quarters_follow_the_fiscal_year(app: &TestApp) {
    app.agent("FQ1", "Colombo", "Alpha").await;
    let p = app.product("Fiscal product", "100.00").await;
    app.sale("FQ1", p, "30.00", "2026-03-15").await;
    app.sale("FQ1", p, "70.00", "2026-04-10").await;
    target(app, "company", None, "FY2027 Q1", "500.00").await;
    target(app, "company", None, "FY2027", "2000.00").await;
    app.wait_for("/api/v1/kpis/trend?bucket=month", WAIT, |b| {
        items(b).iter().map(|r| r["sales_count"].as_i64().unwrap_or(0)).sum::<i64>() == 2
    })
    .await;
    let (s, q) = app.get("/api/v1/kpis/trend?bucket=quarter&from=2026-01-01&to=2026-06-30").await;
    assert_eq!(s, 200, "{q}");
    let rows: Vec<(String, String, String, Option<String>)> = items(&q)
        .iter()
        .map(|r| {
            (
                r["period"].as_str().unwrap().to_owned(),
                r["start"].as_str().unwrap().to_owned(),
                r["total_sales"].as_str().unwrap().to_owned(),
                r["target"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("FY2026 Q4".into(), "2026-01-01".into(), "30.00".into(), None),
            ("FY2027 Q1".into(), "2026-04-01".into(), "70.00".into(), Some("500.00".into())),
        ],
        "{q}"
    );
    let (_, y) = app.get("/api/v1/kpis/trend?bucket=year&from=2026-01-01&to=2026-06-30").await;
    let year_rows = items(&y);
    let years: Vec<(&str, &str, Option<&str>)> = year_rows
        .iter()
        .map(|r| (r["period"].as_str().unwrap(), r["start"].as_str().unwrap(), r["target"].as_str()))
        .collect();
    assert_eq!(years, [("FY2026", "2025-04-01", None), ("FY2027", "2026-04-01", Some("2000.00"))], "{y}");
}

crate::on_every_backend_with!(
    performance_fiscal_april,
    |c| {
        c.security.mfa_required_roles.clear();
        c.business = moon_domain::BusinessCalendar::new("Asia/Colombo", 4, None).unwrap();
    },
    trend_quarters_follow_the_fiscal_year,
);
