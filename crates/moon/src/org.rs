//! `moon org …`: regions, branches and teams, moving agents, and the backfill that turns the
//! free text of older records into organisation records, from the command line.

use anyhow::Context;
use clap::Subcommand;

use crate::settings::{self, CommonArgs, ServeArgs};
use moon_server::organisation::{self, Kind};

/// `moon org …`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Place agents still on free-text branches and teams (idempotent; also done at every
    /// start) and print what was created and merged.
    Backfill(CommonArgs),
    /// List the regions, branches or teams.
    List {
        /// `regions`, `branches` or `teams`.
        kind: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Create a region, branch or team.
    Add {
        /// `region`, `branch` or `team`.
        kind: String,
        /// The stable code agents and sales refer to.
        code: String,
        /// Display name (defaults to the code).
        #[arg(long)]
        name: Option<String>,
        /// A branch's region (code or name).
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Rename a region, branch or team (its code stays).
    Rename {
        /// `region`, `branch` or `team`.
        kind: String,
        /// Code or current name.
        unit: String,
        /// The new name.
        name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Move an agent to another team and/or home branch from a date (today by default).
    Move {
        /// The agent's code.
        agent_code: String,
        /// The new team (code or name).
        #[arg(long)]
        team: Option<String>,
        /// The new home branch (code or name).
        #[arg(long)]
        branch: Option<String>,
        /// First day in the new team, YYYY-MM-DD.
        #[arg(long = "from")]
        effective_from: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

fn kind(raw: &str) -> anyhow::Result<Kind> {
    Kind::parse(raw).with_context(|| format!("unknown kind {raw:?}: use regions, branches or teams"))
}

/// Runs one `moon org` command against the configured database.
pub async fn run(cmd: OrgCommand) -> anyhow::Result<()> {
    let common = match &cmd {
        OrgCommand::Backfill(c) => c,
        OrgCommand::List { common, .. }
        | OrgCommand::Add { common, .. }
        | OrgCommand::Rename { common, .. }
        | OrgCommand::Move { common, .. } => common,
    };
    let config = settings::resolve(&ServeArgs::from(common.clone()))?;
    // Opening the database migrates it and runs the backfill once.
    let db = moon_server::app::open_database(&config).await?;
    let result = match cmd {
        OrgCommand::Backfill(_) => {
            let report = organisation::run(&db).await?;
            print!("{report}");
            Ok(())
        }
        OrgCommand::List { kind: k, .. } => {
            let units = organisation::list(&db, kind(&k)?).await?;
            println!("{:<24} {:<32} {:<16} active", "code", "name", "region");
            for u in units {
                println!("{:<24} {:<32} {:<16} {}", u.code, u.name, u.region.as_deref().unwrap_or("-"), u.active);
            }
            Ok(())
        }
        OrgCommand::Add { kind: k, code, name, region, .. } => {
            let unit = organisation::add(&db, kind(&k)?, &code, name.as_deref(), region.as_deref()).await?;
            println!("created {} {:?} ({:?})", unit.kind, unit.code, unit.name);
            Ok(())
        }
        OrgCommand::Rename { kind: k, unit, name, .. } => {
            let unit = organisation::rename(&db, kind(&k)?, &unit, &name).await?;
            println!("{} {:?} is now named {:?}", unit.kind, unit.code, unit.name);
            Ok(())
        }
        OrgCommand::Move { agent_code, team, branch, effective_from, .. } => {
            let history = organisation::move_agent(
                &db,
                config.business.today(chrono::Utc::now()),
                &agent_code,
                team.as_deref(),
                branch.as_deref(),
                effective_from.as_deref(),
            )
            .await?;
            for m in history {
                let from = m.valid_from.map_or_else(|| "start".to_owned(), |d| d.to_string());
                let to = m.valid_to.map_or_else(|| "now".to_owned(), |d| d.to_string());
                println!("{from:>10} .. {to:<10}  branch {:<20} team {}", m.branch, m.team);
            }
            Ok(())
        }
    };
    db.close().await;
    result
}
