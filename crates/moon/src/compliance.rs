//! `moon privacy …`, `moon access …`, `moon retention …`: answering a data subject's request,
//! reviewing who can do what and applying retention, from the command line.

use anyhow::Context;
use clap::Subcommand;

use crate::settings::CommonArgs;

/// `moon privacy …`.
#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Everything held about one agent (profile, memberships, sales, notifications, consent
    /// history, sign-ins, audit entries), as JSON or text; the export is audited.
    Export(ExportArgs),
}

/// How `moon privacy export` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One JSON document (with a `summary`).
    Json,
    /// The summary and each section's rows, for a person.
    Text,
}

/// Options of `moon privacy export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The agent's code.
    agent_code: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs a `moon privacy` command.
pub async fn privacy(cmd: PrivacyCommand) -> anyhow::Result<()> {
    match cmd {
        PrivacyCommand::Export(args) => {
            let code = moon_domain::AgentCode::parse("agent_code", &args.agent_code)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let config = crate::settings::resolve(&crate::settings::ServeArgs::from(args.common))?;
            let db = moon_server::app::open_database(&config).await?;
            let export = moon_server::privacy::export(&db, &moon_http::Principal::operator(), &code).await;
            db.close().await;
            let export = export.map_err(|e| {
                let e = moon_http::ApiError::from(e);
                anyhow::anyhow!("{} ({})", e.detail(), e.code())
            })?;
            let body = match args.format {
                Format::Json => serde_json::to_string_pretty(&export).context("cannot write the export as JSON")?,
                Format::Text => moon_server::privacy::render_text(&export),
            };
            match &args.out {
                Some(path) => {
                    std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("subject access export of {code} written to {}", path.display());
                }
                None => println!("{body}"),
            }
            Ok(())
        }
    }
}

/// `moon access …`.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Every user's role, scope, MFA state, tokens and last sign-in, with dormant accounts,
    /// unused or never-expiring tokens and admins without MFA flagged.
    Review(ReviewArgs),
}

/// How `moon access review` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReviewFormat {
    /// One line per user with its flags.
    Text,
    /// The whole review as JSON.
    Json,
    /// One CSV line per user.
    Csv,
}

/// Options of `moon access review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// Days without a sign-in or token use that make an account dormant (default: the
    /// configured `[access_review] dormant_days`, 90 unless set).
    #[arg(long)]
    dormant_days: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReviewFormat::Text)]
    format: ReviewFormat,
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs a `moon access` command.
pub async fn access(cmd: AccessCommand) -> anyhow::Result<()> {
    match cmd {
        AccessCommand::Review(args) => {
            let config = crate::settings::resolve(&crate::settings::ServeArgs::from(args.common))?;
            let given = args.dormant_days.map(|d| d.to_string());
            let days = moon_server::auth::review::parse_dormant_days(given.as_deref(), config.security.dormant_days)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let db = moon_server::app::open_database(&config).await?;
            let review = moon_server::auth::review::review(&db, days).await;
            db.close().await;
            let review = review.map_err(|e| anyhow::anyhow!("cannot make the access review: {}", e))?;
            match args.format {
                ReviewFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&review).context("cannot write the review")?);
                }
                ReviewFormat::Csv => print!("{}", moon_server::auth::review::to_csv(&review)),
                ReviewFormat::Text => {
                    for u in &review.users {
                        let last = u.last_sign_in.map_or_else(|| String::from("never"), |t| t.to_rfc3339());
                        println!(
                            "{:>5} {:<20} {:<8} {:<24} mfa={} disabled={} tokens={} last_sign_in={} {}",
                            u.user.id,
                            u.user.username,
                            u.user.role.as_str(),
                            u.scope,
                            u.user.mfa_enabled,
                            u.user.disabled,
                            u.tokens.len(),
                            last,
                            u.flags.join(" ")
                        );
                    }
                    let flagged = review.users.iter().filter(|u| !u.flags.is_empty()).count();
                    eprintln!("{} user(s), {flagged} flagged (dormant after {} days)", review.users.len(), days);
                }
            }
            Ok(())
        }
    }
}

/// `moon retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Apply the `[retention]` settings once and print how many rows each table lost.
    Run(RetentionArgs),
}

/// Options of `moon retention run`.
#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// Runs a `moon retention` command.
pub async fn retention(cmd: RetentionCommand) -> anyhow::Result<()> {
    match cmd {
        RetentionCommand::Run(args) => {
            let config = crate::settings::resolve(&crate::settings::ServeArgs::from(args.common))?;
            let db = moon_server::app::open_database(&config).await?;
            let report = moon_server::retention::run(&db, &config.retention, chrono::Utc::now()).await;
            db.close().await;
            let report = report?;
            for (table, n) in &report.removed {
                println!("{table:<26} {n} removed");
            }
            for (table, why) in &report.skipped {
                println!("{table:<26} kept: {why}");
            }
            Ok(())
        }
    }
}
