//! `moon import sales FILE` and `moon import agents FILE`: bulk imports from the server's own
//! machine, through the same use cases as `POST /api/v1/sales/import` and
//! `POST /api/v1/agents/import`, as the operator. A progress line on stderr (when it is
//! a terminal), the rejected rows on stdout, a summary at the end; a rejected import exits
//! non-zero.

use std::io::{IsTerminal, Write};

use clap::Subcommand;
use moon_http::Principal;
use moon_server::sales_import::{Format, ImportOptions, Mode, Progress, SalesImportReport};

use crate::settings::{self, CommonArgs, ServeArgs};

/// `moon import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import sales from CSV (header: agent_code|agent_id, product_id, amount, sale_date and
    /// optionally branch, policy_number, source_system, external_ref) or JSON Lines (.jsonl /
    /// .ndjson). Re-running a file, or the rest of an interrupted run, adds nothing twice.
    Sales(SalesArgs),
    /// Import agents from CSV (header: agent_code, first_name, last_name, branch, team and
    /// optionally contact_number, email, active, analytics_consent, show_name_to_peers) or JSON
    /// Lines. Agents already there with the same values are skipped; one file, one transaction.
    Agents(AgentsArgs),
}

/// Options of `moon import agents`.
#[derive(Debug, clap::Args)]
pub struct AgentsArgs {
    /// The file.
    file: std::path::PathBuf,
    /// Import the valid rows and report the others [default: all or nothing].
    #[arg(long, alias = "valid-rows")]
    partial: bool,
    /// Force the format instead of guessing it from the extension.
    #[arg(long, value_parser = ["csv", "jsonl"])]
    format: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// The format `--format` forces, or the one the file's extension suggests.
fn format_of(forced: Option<&str>, file: &std::path::Path) -> Format {
    match forced {
        Some("jsonl") => Format::JsonLines,
        Some(_) => Format::Csv,
        None => Format::from_path(file),
    }
}

/// Runs `moon import agents`.
async fn agents(args: AgentsArgs) -> anyhow::Result<()> {
    let config = settings::resolve(&ServeArgs::from(args.common.clone()))?;
    let text = crate::planning::read(&args.file)?;
    let db = moon_server::app::open_database(&config).await?;
    let format = format_of(args.format.as_deref(), &args.file);
    let sha = moon_server::agents_import::sha256_hex(text.as_bytes());
    let outcome =
        moon_server::agents_import::import(&db, &Principal::operator(), &text, format, args.partial, &sha).await;
    db.close().await;
    crate::planning::print_report(&outcome.map_err(crate::planning::problem)?)
}

/// Options of `moon import sales`.
#[derive(Debug, clap::Args)]
pub struct SalesArgs {
    /// The file.
    file: std::path::PathBuf,
    /// Import the valid rows batch by batch and report the others [default: all or nothing].
    #[arg(long)]
    valid_rows: bool,
    /// `source_system` of rows that give an external_ref without one.
    #[arg(long, default_value = "import")]
    source_system: String,
    /// Rows per batch (one transaction each with --valid-rows).
    #[arg(long, default_value_t = moon_server::sales_import::BATCH_ROWS)]
    batch_rows: usize,
    /// Force the format instead of guessing it from the extension.
    #[arg(long, value_parser = ["csv", "jsonl"])]
    format: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

fn show_progress(p: Progress) {
    let pct = (p.bytes_read * 100).checked_div(p.bytes_total).unwrap_or(0);
    let rate = p.rows_read as f64 / p.elapsed.as_secs_f64().max(0.001);
    let filled = usize::try_from(pct / 5).unwrap_or(20).min(20);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{}{}] {pct:>3}%  {} rows read, {} recorded, {:.0} rows/s ",
        "#".repeat(filled),
        " ".repeat(20 - filled),
        p.rows_read,
        p.accepted,
        rate
    );
    let _ = err.flush();
}

fn summary(r: &SalesImportReport) -> String {
    let secs = r.took_ms as f64 / 1000.0;
    format!(
        "import {} ({}): {} rows read, {} recorded, {} duplicates, {} rejected, {} batches committed, {:.1} s ({:.0} rows/s)",
        r.import_id,
        r.mode.as_str(),
        r.rows_read,
        r.accepted,
        r.duplicates,
        r.rejected,
        r.batches_committed,
        secs,
        r.rows_read as f64 / secs.max(0.001)
    )
}

/// Runs `moon import ...`.
pub async fn run(cmd: ImportCommand) -> anyhow::Result<()> {
    let args = match cmd {
        ImportCommand::Sales(args) => args,
        ImportCommand::Agents(args) => return agents(args).await,
    };
    let config = settings::resolve(&ServeArgs::from(args.common.clone()))?;
    let db = moon_server::app::open_database(&config).await?;
    let format = format_of(args.format.as_deref(), &args.file);
    let opts = ImportOptions {
        mode: if args.valid_rows { Mode::ValidRows } else { Mode::AllOrNothing },
        format,
        source_system: args.source_system.clone(),
        batch_rows: args.batch_rows.max(1),
    };
    let tty = std::io::stderr().is_terminal();
    let today = config.business.today(chrono::Utc::now());
    let outcome = moon_server::sales_import::import_file(&db, &Principal::operator(), today, &args.file, &opts, |p| {
        if tty {
            show_progress(p);
        }
    })
    .await;
    if tty {
        eprintln!();
    }
    db.close().await;
    let report = outcome.map_err(|e| match e {
        moon_server::error::Error::Invalid(errors) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid: {}", lines.join("; "))
        }
        other => anyhow::Error::new(other),
    })?;
    if let Some(e) = &report.earlier_run {
        eprintln!(
            "an earlier run of this file (import {}) did not finish ({}): it had committed {} batch(es), {} sales, up to line {}; those rows count as duplicates now",
            e.import_id, e.state, e.batches_committed, e.accepted, e.last_line
        );
    }
    let mut out = std::io::stdout().lock();
    for e in &report.errors {
        writeln!(out, "line {}: {}: {} ({})", e.line, e.field, e.message, e.code)?;
    }
    if report.rejected as usize > report.errors.len() {
        writeln!(out, "... {} more rejected rows not listed", report.rejected as usize - report.errors.len())?;
    }
    eprintln!("{}", summary(&report));
    if report.applied {
        Ok(())
    } else {
        anyhow::bail!(
            "{} row(s) rejected; nothing was imported (use --valid-rows to keep the good rows)",
            report.rejected
        )
    }
}
