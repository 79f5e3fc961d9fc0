//! `moon targets ...` and `moon calendar ...`: sales targets and the holiday list from the
//! server's own machine, through the same use cases as the API (as the operator, an admin
//! without an account). Reports go to stdout; a rejected import exits non-zero.

use anyhow::Context;
use clap::Subcommand;
use moon_http::Principal;
use moon_server::file_import::ImportReport;

use crate::settings::{self, CommonArgs, ServeArgs};

/// `moon targets` subcommands.
#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// Import targets from a CSV file (scope_kind,scope_key,product,product_line,period,amount,
    /// policy_count); any error imports nothing unless --partial.
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        /// Import the good rows and report the others.
        #[arg(long)]
        partial: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Copy a period's targets to the next one (or --to), optionally scaled.
    Copy {
        /// The period to copy: 2026-11, "FY2026 Q4", FY2026 or kind:start.
        #[arg(long)]
        from: String,
        /// The period to write [default: the one after --from].
        #[arg(long)]
        to: Option<String>,
        /// New amounts as a percentage of the old (110 adds 10 %) [default: 100].
        #[arg(long)]
        scale_percent: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// `moon calendar` subcommands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// The holiday list.
    #[command(subcommand)]
    Holidays(HolidaysCommand),
}

/// `moon calendar holidays` subcommands.
#[derive(Debug, Subcommand)]
pub enum HolidaysCommand {
    /// Import holidays from a CSV file (date,name; `#` lines are comments); any error imports
    /// nothing unless --partial.
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        /// Import the good rows and report the others.
        #[arg(long)]
        partial: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List holidays, as CSV on stdout.
    List {
        /// Only this calendar year.
        #[arg(long)]
        year: Option<i32>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

pub(crate) fn print_report(report: &ImportReport) -> anyhow::Result<()> {
    for e in &report.errors {
        println!("line {}: {}: {} ({})", e.line, e.field, e.message, e.code);
    }
    if report.applied {
        eprintln!(
            "imported: {} rows, {} created, {} updated, {} skipped, {} errors",
            report.rows,
            report.created,
            report.updated,
            report.skipped,
            report.errors.len()
        );
        Ok(())
    } else {
        anyhow::bail!(
            "{} problem(s) in the file; nothing was imported (use --partial to keep the good rows)",
            report.errors.len()
        )
    }
}

pub(crate) fn read(file: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

pub(crate) fn problem(e: moon_server::error::Error) -> anyhow::Error {
    match e {
        moon_server::error::Error::Invalid(errors) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid: {}", lines.join("; "))
        }
        other => anyhow::Error::new(other),
    }
}

/// Runs `moon targets ...`.
pub async fn targets(cmd: TargetsCommand) -> anyhow::Result<()> {
    let common = match &cmd {
        TargetsCommand::Import { common, .. } | TargetsCommand::Copy { common, .. } => common.clone(),
    };
    let config = settings::resolve(&ServeArgs::from(common))?;
    let db = moon_server::app::open_database(&config).await?;
    let calendar = config.business;
    let operator = Principal::operator();
    let result = match cmd {
        TargetsCommand::Import { file, partial, .. } => {
            let text = read(&file)?;
            let report = moon_server::sales_targets::service::import(&db, &calendar, &operator, &text, partial)
                .await
                .map_err(problem)?;
            print_report(&report)
        }
        TargetsCommand::Copy { from, to, scale_percent, .. } => {
            let fiscal = calendar.fiscal;
            let from = fiscal.parse("from", &from).map_err(|e| anyhow::anyhow!("{e}"))?;
            let to = to.map(|t| fiscal.parse("to", &t)).transpose().map_err(|e| anyhow::anyhow!("{e}"))?;
            let percent = match scale_percent {
                Some(p) => p
                    .trim()
                    .parse::<rust_decimal::Decimal>()
                    .with_context(|| format!("--scale-percent must be a number such as 110; got {p:?}"))?,
                None => rust_decimal::Decimal::from(100),
            };
            let r = moon_server::sales_targets::service::copy(&db, &calendar, &operator, from, to, percent)
                .await
                .map_err(problem)?;
            println!(
                "copied {} to {} at {} %: {} created, {} already there",
                r.from.label, r.to.label, r.scale_percent, r.created, r.skipped_existing
            );
            Ok(())
        }
    };
    db.close().await;
    result
}

/// Runs `moon calendar ...`.
pub async fn calendar(cmd: CalendarCommand) -> anyhow::Result<()> {
    let CalendarCommand::Holidays(cmd) = cmd;
    let common = match &cmd {
        HolidaysCommand::Import { common, .. } | HolidaysCommand::List { common, .. } => common.clone(),
    };
    let config = settings::resolve(&ServeArgs::from(common))?;
    let db = moon_server::app::open_database(&config).await?;
    let result = match cmd {
        HolidaysCommand::Import { file, partial, .. } => {
            let text = read(&file)?;
            let report = moon_server::calendar::service::import(&db, &Principal::operator(), &text, partial)
                .await
                .map_err(problem)?;
            print_report(&report)
        }
        HolidaysCommand::List { year, .. } => {
            let range =
                year.map(|y| (chrono::NaiveDate::from_ymd_opt(y, 1, 1), chrono::NaiveDate::from_ymd_opt(y, 12, 31)));
            let (from, to) = range.unwrap_or((None, None));
            let list = moon_server::calendar::repo::list(&db, from, to).await.context("cannot read the holidays")?;
            // Written through a locked handle so a closed pipe (`| head`) ends the listing
            // quietly instead of panicking.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let write = || -> std::io::Result<()> {
                writeln!(out, "date,name")?;
                for h in list {
                    let name = if h.name.contains([',', '"']) {
                        format!("\"{}\"", h.name.replace('"', "\"\""))
                    } else {
                        h.name
                    };
                    writeln!(out, "{},{name}", h.date)?;
                }
                out.flush()
            };
            match write() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e).context("cannot write the list"),
                _ => {}
            }
            Ok(())
        }
    };
    db.close().await;
    result
}
