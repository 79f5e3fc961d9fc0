//! The row scopes every query applies, checked on a real SQLite database. No route sets a
//! narrower scope than the operator's yet (sign-in comes with the security issue), so these
//! tests call the repositories directly with branch and agent scopes.

use moon_db::{Db, DbOptions};
use moon_domain::{AgentCode, Label, Message, Money};

use crate::agents::model::AgentRef;
use crate::agents::model::NewAgent;
use crate::sales::model::SaleFields;
use moon_http::{Page, Principal, Scope};

async fn seeded() -> (Db, std::path::PathBuf, i64, i64) {
    // Tests run in parallel threads of one process: a counter keeps their files apart.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("moon-scope-{}-{n}.db", std::process::id()));
    let db = Db::connect(&format!("sqlite://{}", path.display()), &DbOptions::default()).await.unwrap();
    db.migrate().await.unwrap();
    crate::organisation::ensure_units(&db, crate::organisation::Kind::Branch, &["Colombo", "Kandy"]).await.unwrap();
    crate::organisation::ensure_units(&db, crate::organisation::Kind::Team, &["Alpha"]).await.unwrap();
    let op = Principal::operator();
    let mut ids = Vec::new();
    for (code, branch) in [("AGT001", "Colombo"), ("AGT002", "Kandy")] {
        let new = NewAgent {
            agent_code: AgentCode::parse("c", code).unwrap(),
            first_name: Label::parse("f", "A").unwrap(),
            last_name: Label::parse("l", "B").unwrap(),
            branch: Label::parse("b", branch).unwrap(),
            team: Label::parse("t", "Alpha").unwrap(),
            contact_number: None,
            email: None,
            active: true,
            analytics_consent: false,
            show_name_to_peers: false,
        };
        ids.push(crate::agents::service::create(&db, &op, new).await.unwrap().id);
    }
    let mut tx = db.begin().await.unwrap();
    let product = crate::products::repo::insert(
        &mut tx,
        &crate::products::ProductFields {
            product_type: Some(Label::parse("t", "Life").unwrap()),
            product_name: Some(Label::parse("n", "Life Basic").unwrap()),
            target_amount: Some(Money::from_cents(100_000)),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for code in ["AGT001", "AGT002"] {
        let f = SaleFields {
            agent: Some(AgentRef::Code(AgentCode::parse("c", code).unwrap())),
            product_id: Some(product),
            amount: Some(Money::from_cents(1_000)),
            sale_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1),
            branch: None,
            policy_number: None,
            external: None,
        };
        crate::sales::service::create(&db, &op, f).await.unwrap();
        let to = AgentRef::Code(AgentCode::parse("c", code).unwrap());
        crate::notifications::service::send_with_db(
            &db,
            Default::default(),
            &op,
            &to,
            &Message::parse("m", "hi").unwrap(),
        )
        .await
        .unwrap();
    }
    (db, path, ids[0], ids[1])
}

fn cleanup(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn a_branch_scope_sees_only_its_branch() {
    let (db, path, colombo_agent, kandy_agent) = seeded().await;
    let kandy = Scope::Branch(String::from("Kandy"));
    let page = Page::ALL;
    let agents = crate::agents::repo::list(&db, &kandy, &Default::default(), &page).await.unwrap();
    assert_eq!(agents.iter().map(|a| a.id).collect::<Vec<_>>(), [kandy_agent]);
    assert!(
        crate::agents::repo::get(&db, &kandy, colombo_agent).await.unwrap().is_none(),
        "another branch's agent is not found"
    );
    let sales =
        crate::sales::repo::list_sorted(&db, &kandy, &Default::default(), &moon_http::paging::SortedPage::by_id(page))
            .await
            .unwrap();
    assert_eq!(sales.iter().map(|s| s.branch.as_str()).collect::<Vec<_>>(), ["Kandy"]);
    let all_sales = crate::sales::repo::list_sorted(
        &db,
        &Scope::All,
        &Default::default(),
        &moon_http::paging::SortedPage::by_id(page),
    )
    .await
    .unwrap();
    let colombo_sale = all_sales.iter().find(|s| s.branch == "Colombo").unwrap().id;
    assert!(crate::sales::repo::get(&db, &kandy, colombo_sale).await.unwrap().is_none());
    let notes = crate::notifications::repo::list(
        &db,
        crate::notifications::repo::Viewer { scope: &kandy, user_id: None },
        &Default::default(),
        &page,
    )
    .await
    .unwrap();
    assert_eq!(notes.iter().map(|n| n.agent_id).collect::<Vec<_>>(), [Some(kandy_agent)]);

    // Recording a sale for an agent outside the scope finds no such agent.
    let manager = Principal {
        id: String::from("m"),
        role: moon_http::Role::Manager,
        scope: kandy,
        user_id: None,
        origin: Default::default(),
    };
    let f = SaleFields {
        agent: Some(AgentRef::Id(colombo_agent)),
        product_id: Some(all_sales[0].product_id),
        amount: Some(Money::from_cents(1)),
        sale_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 2),
        branch: None,
        policy_number: None,
        external: None,
    };
    let err = moon_http::ApiError::from(crate::sales::service::create(&db, &manager, f).await.unwrap_err());
    assert_eq!((err.status().as_u16(), err.code()), (422, "validation_failed"));
    db.close().await;
    cleanup(&path);
}

#[tokio::test]
async fn an_agent_scope_sees_only_their_own_records() {
    let (db, path, colombo_agent, kandy_agent) = seeded().await;
    let me = Scope::Agent(colombo_agent);
    let page = Page::ALL;
    let agents = crate::agents::repo::list(&db, &me, &Default::default(), &page).await.unwrap();
    assert_eq!(agents.iter().map(|a| a.id).collect::<Vec<_>>(), [colombo_agent]);
    let sales =
        crate::sales::repo::list_sorted(&db, &me, &Default::default(), &moon_http::paging::SortedPage::by_id(page))
            .await
            .unwrap();
    assert!(sales.iter().all(|s| s.agent_id == colombo_agent) && sales.len() == 1);
    let notes = crate::notifications::repo::list(
        &db,
        crate::notifications::repo::Viewer { scope: &me, user_id: None },
        &Default::default(),
        &page,
    )
    .await
    .unwrap();
    assert!(notes.iter().all(|n| n.agent_id == Some(colombo_agent)) && notes.len() == 1);
    assert!(crate::agents::repo::get(&db, &me, kandy_agent).await.unwrap().is_none());
    db.close().await;
    cleanup(&path);
}
