//! `moon commission-plans list|show|add`: commission plans from the server's own machine,
//! through the same use cases as `/api/v1/commission-plans` (as the operator), so a plan added
//! here is validated and audited exactly as the API does it.

use anyhow::Context;
use clap::Subcommand;
use moon_http::{Page, Principal};
use moon_server::commissions::model::{CreatePlan, NewVersion, Plan, RetirePlan};
use moon_server::commissions::{repo, service};

use crate::planning::problem;
use crate::settings::{self, CommonArgs, ServeArgs};

/// `moon commission-plans` subcommands.
#[derive(Debug, Subcommand)]
pub enum CommissionPlansCommand {
    /// List every plan: id, role, what it covers, the version in force today.
    List {
        /// Print the plans as JSON (as `GET /api/v1/commission-plans` does).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Show one plan with every version and its rules (JSON).
    Show {
        /// The plan's id.
        id: i64,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Add a plan (`--json` is the body of `POST /api/v1/commission-plans`), a version of one
    /// (`--plan ID`, body of `POST .../versions`), or retire one (`--plan ID --retire`).
    Add {
        /// The request body as JSON, such as
        /// '{"name":"Life agents","role":"agent","product_line":"Life","effective_from":"2027-01-01","rules":{"base_rate":"5"}}'.
        #[arg(long)]
        json: String,
        /// Add a version to this plan instead of creating one.
        #[arg(long)]
        plan: Option<i64>,
        /// With --plan: retire it (the body is `{"effective_from": …, "note": …}`).
        #[arg(long, requires = "plan")]
        retire: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

fn describe(p: &Plan) -> String {
    let on = match (&p.product_id, &p.product_line) {
        (Some(id), _) => format!("product {id}"),
        (None, Some(l)) => format!("line {l}"),
        (None, None) => String::from("every product"),
    };
    let current = p.current_version.map_or_else(|| String::from("none in force"), |v| format!("version {v} in force"));
    format!("{:>4}  {:<30} {:<8} {:<24} {} version(s), {current}", p.id, p.name, p.role.as_str(), on, p.versions.len())
}

/// Runs `moon commission-plans …`.
pub async fn run(cmd: CommissionPlansCommand) -> anyhow::Result<()> {
    let common = match &cmd {
        CommissionPlansCommand::List { common, .. }
        | CommissionPlansCommand::Show { common, .. }
        | CommissionPlansCommand::Add { common, .. } => common.clone(),
    };
    let config = settings::resolve(&ServeArgs::from(common))?;
    let today = config.business.today(chrono::Utc::now());
    let db = moon_server::app::open_database(&config).await?;
    let operator = Principal::operator();
    let result = async {
        match cmd {
            CommissionPlansCommand::List { json, .. } => {
                let mut plans = Vec::new();
                let mut page = Page { limit: moon_http::paging::MAX_LIMIT, after: None, descending: false };
                loop {
                    let batch = service::list(&db, &operator, &repo::PlanQuery::default(), &page, today)
                        .await
                        .map_err(problem)?;
                    let more = batch.len() > page.limit as usize;
                    plans.extend(batch.into_iter().take(page.limit as usize));
                    if !more {
                        break;
                    }
                    page.after = plans.last().map(|p| p.id);
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&plans)?);
                } else {
                    for p in &plans {
                        println!("{}", describe(p));
                    }
                }
            }
            CommissionPlansCommand::Show { id, .. } => {
                let plan = service::get(&db, &operator, id, today).await.map_err(problem)?;
                println!("{}", serde_json::to_string_pretty(&plan)?);
            }
            CommissionPlansCommand::Add { json, plan, retire, .. } => {
                let bad = |what: &str| format!("--json is not a {what} body (see /api/v1/openapi.json)");
                let done = match (plan, retire) {
                    (None, _) => {
                        let body: CreatePlan = serde_json::from_str(&json).with_context(|| bad("plan"))?;
                        service::create(&db, &operator, &body, today).await
                    }
                    (Some(id), false) => {
                        let body: NewVersion = serde_json::from_str(&json).with_context(|| bad("version"))?;
                        service::add_version(&db, &operator, id, &body, today).await
                    }
                    (Some(id), true) => {
                        let body: RetirePlan = serde_json::from_str(&json).with_context(|| bad("retirement"))?;
                        service::retire(&db, &operator, id, &body, today).await
                    }
                };
                println!("{}", describe(&done.map_err(problem)?));
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}
