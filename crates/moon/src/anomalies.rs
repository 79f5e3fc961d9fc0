//! `moon anomalies …`: the anomaly findings from the command line (list, dismiss).

use anyhow::Context;
use clap::Subcommand;

use crate::settings::CommonArgs;

/// `moon anomalies …`.
#[derive(Debug, Subcommand)]
pub enum AnomaliesCommand {
    /// Findings, newest first, with why each fired.
    List(ListArgs),
    /// Dismiss a finding with a reason (recorded in the audit trail as the operator).
    Dismiss(DismissArgs),
}

/// How `moon anomalies list` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One line per finding.
    Text,
    /// A JSON array.
    Json,
}

/// Options of `moon anomalies list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// `open`, `dismissed` or `all`.
    #[arg(long, default_value = "open")]
    status: String,
    /// Only this detector (`sale_amount_outlier`, `failed_sign_ins_account`, …).
    #[arg(long)]
    kind: Option<String>,
    /// At most this many (1–500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options of `moon anomalies dismiss`.
#[derive(Debug, clap::Args)]
pub struct DismissArgs {
    /// The finding's id.
    id: i64,
    /// Why it is no concern (1–500 characters).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    common: CommonArgs,
}

fn problem(e: moon_http::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.detail(), e.code())
}

/// Runs a `moon anomalies` command.
pub async fn run(cmd: AnomaliesCommand) -> anyhow::Result<()> {
    use moon_server::anomalies::{repo, routes};
    match cmd {
        AnomaliesCommand::List(args) => {
            let query = routes::parse_query(Some(&args.status), args.kind.as_deref()).map_err(|errors| {
                anyhow::anyhow!("{}", errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))
            })?;
            let page = moon_http::Page { limit: args.limit.clamp(1, 500), after: None, descending: true };
            let config = crate::settings::resolve(&crate::settings::ServeArgs::from(args.common))?;
            let db = moon_server::app::open_database(&config).await?;
            let rows = repo::list(&db, &query, &page).await;
            db.close().await;
            let rows: Vec<repo::AnomalyView> =
                rows.context("cannot list anomalies")?.into_iter().take(page.limit as usize).map(Into::into).collect();
            match args.format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows).context("cannot write JSON")?),
                Format::Text => {
                    for r in &rows {
                        let a = &r.anomaly;
                        println!(
                            "#{} {} [{}] {} {}: {}",
                            a.id,
                            a.detected_at.to_rfc3339(),
                            a.status,
                            a.kind,
                            a.window_key,
                            a.why
                        );
                    }
                    eprintln!("{} finding(s)", rows.len());
                }
            }
            Ok(())
        }
        AnomaliesCommand::Dismiss(args) => {
            let reason = routes::parse_reason(&args.reason).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let config = crate::settings::resolve(&crate::settings::ServeArgs::from(args.common))?;
            let db = moon_server::app::open_database(&config).await?;
            let done = routes::dismiss(&db, &moon_http::Principal::operator(), args.id, &reason).await;
            db.close().await;
            let row = done.map_err(problem)?;
            println!("anomaly {} dismissed: {}", row.anomaly.id, row.anomaly.why);
            Ok(())
        }
    }
}
