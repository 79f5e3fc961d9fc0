//! `moon`: the one MoonInsurance binary. `serve` runs any set of targets, `migrate` applies
//! schema migrations, `demo` loads demo data. Configuration: flags > `MOON_*` environment >
//! `moon.toml` > defaults.

mod admin;
mod aggregate;
mod anomalies;
mod commissions;
mod compliance;
mod import;
mod notify;
mod org;
mod planning;
mod settings;
mod telemetry;

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use settings::{CommonArgs, ServeArgs};

/// jemalloc instead of glibc's malloc. glibc gives each of the many threads a server runs (the
/// async workers and one per SQLite connection) an arena of its own and keeps what they free, so
/// under a steady load resident memory stood at several times the live heap and kept creeping
/// (88 MiB of anonymous memory for a 15 MiB heap after one minute of the soak; jemalloc: 34 MiB;
/// BENCHMARKS.md, "Soak"). Its background thread hands unused pages back to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// MoonInsurance: agents, products, sales and notifications of an insurer's sales force.
#[derive(Debug, Parser)]
#[command(name = "moon", version = concat!(env!("CARGO_PKG_VERSION")), about, long_about = None,
    after_help = "Quick start:  moon serve --demo   then open the printed URL.\nConfiguration: flags > MOON_* environment > moon.toml > defaults; the database URL may be given as a file with MOON_DATABASE_URL_FILE.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (every target by default) until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate(CommonArgs),
    /// Load the demo data set (idempotent), or with --sales a generated bulk set, then exit.
    Demo(DemoArgs),
    /// Bring the KPI warehouse up to date (once, or on --schedule), rebuild it (--full) or
    /// check it (--verify).
    Aggregate(aggregate::AggregateArgs),
    /// Print the effective configuration, secrets redacted.
    Config(ServeArgs),
    /// Manage user accounts (the first admin is created here).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// The organisation: regions, branches and teams, moving agents, and the backfill of
    /// free-text branches and teams into records.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// The audit trail: `moon audit verify` checks its hash chain and exits 1 at the first
    /// entry that was edited or deleted; `moon audit checkpoint` signs its end, so a later
    /// `verify --checkpoint` also catches a trail cut short or rewritten.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sales targets: `moon targets import FILE.csv`, `moon targets copy --from 2026-11 --to 2026-12`.
    #[command(subcommand)]
    Targets(planning::TargetsCommand),
    /// The business calendar: `moon calendar holidays import FILE.csv`, `moon calendar holidays list`.
    #[command(subcommand)]
    Calendar(planning::CalendarCommand),
    /// Bulk import: `moon import sales FILE.csv` (or .jsonl), with a progress line and a report;
    /// `moon import agents FILE.csv`.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Privacy rights: `moon privacy export AGENT_CODE [--format text]` answers a subject
    /// access request.
    #[command(subcommand)]
    Privacy(compliance::PrivacyCommand),
    /// Access review: `moon access review [--dormant-days 90] [--format text|json|csv]`.
    #[command(subcommand)]
    Access(compliance::AccessCommand),
    /// Retention: `moon retention run` applies `[retention]` once and reports what it removed.
    #[command(subcommand)]
    Retention(compliance::RetentionCommand),
    /// Anomaly findings: `moon anomalies list [--status open|dismissed|all] [--kind K]`,
    /// `moon anomalies dismiss ID --reason TEXT`.
    #[command(subcommand)]
    Anomalies(anomalies::AnomaliesCommand),
    /// Commission plans: `moon commission-plans list`, `moon commission-plans show ID`,
    /// `moon commission-plans add --json '{…}' [--plan ID [--retire]]` (validated as the API does).
    #[command(subcommand)]
    CommissionPlans(commissions::CommissionPlansCommand),
    /// Notification rules: `moon rules list`, `moon rules add NAME --kind behind_pace --level
    /// team --behind-percent 10`, `moon rules remove ID|NAME` (validated as the API does).
    #[command(subcommand)]
    Rules(notify::RulesCommand),
    /// Scheduled digests: `moon digests run` sends the ones due now, once.
    #[command(subcommand)]
    Digests(notify::DigestsCommand),
}

/// `moon audit …`.
#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the audit trail's hash chain; name the first broken entry and exit 1 if any.
    Verify(AuditVerifyArgs),
    /// Print (and with --out write) the last entry's id and hash, signed with HMAC-SHA256 under
    /// a key kept outside the database (MOON_AUDIT_CHECKPOINT_KEY or --key-file).
    Checkpoint(AuditCheckpointArgs),
}

/// Options of `moon audit verify`.
#[derive(Debug, clap::Args)]
struct AuditVerifyArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// A checkpoint from `moon audit checkpoint`: the trail must still hold its entry with the
    /// same hash (catches entries deleted from the end and a chain rewritten before it).
    #[arg(long)]
    checkpoint: Option<std::path::PathBuf>,
    /// File holding the checkpoint key (else MOON_AUDIT_CHECKPOINT_KEY).
    #[arg(long, requires = "checkpoint")]
    key_file: Option<std::path::PathBuf>,
}

/// Options of `moon audit checkpoint`.
#[derive(Debug, clap::Args)]
struct AuditCheckpointArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Also write the checkpoint line to this file (replaced).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// File holding the checkpoint key (else MOON_AUDIT_CHECKPOINT_KEY).
    #[arg(long)]
    key_file: Option<std::path::PathBuf>,
}

/// The checkpoint key: from a file, else the environment; never from the database, whose
/// writers the checkpoint guards against.
fn checkpoint_key(file: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    let key = match file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("cannot read the key file {}", f.display()))?,
        None => std::env::var("MOON_AUDIT_CHECKPOINT_KEY")
            .context("set MOON_AUDIT_CHECKPOINT_KEY or pass --key-file (a secret of at least 32 characters kept outside the database)")?,
    };
    Ok(key.trim().as_bytes().to_vec())
}

/// Options of `moon demo`.
#[derive(Debug, Clone, clap::Args)]
struct DemoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Also generate this many sales (bulk-loaded, for benchmarks and load tests).
    #[arg(long)]
    sales: Option<u64>,
    /// Bulk agents the generated sales are spread over.
    #[arg(long, default_value_t = 1_000, requires = "sales")]
    agents: usize,
    /// Seed of the generator: the same seed gives the same data.
    #[arg(long, default_value_t = 2026, requires = "sales")]
    seed: u64,
}

/// Logs go to stdout, where a container runtime collects them for Loki: one JSON object a line
/// (timestamp, level, message, target, then the event's fields, plus the enclosing `request`
/// span's fields such as `request_id` under `span`), or compact human-readable lines when stdout
/// is a terminal. The returned guard flushes OpenTelemetry traces on drop (feature `otel`).
fn init_logging(default_level: &str) -> anyhow::Result<telemetry::Guard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, fmt};

    let filter = EnvFilter::try_from_env("MOON_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let output = if std::io::stdout().is_terminal() {
        fmt::layer().compact().with_writer(std::io::stdout).boxed()
    } else {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stdout)
            .boxed()
    };
    let (traces, guard) = telemetry::layer()?;
    tracing_subscriber::registry().with(filter).with(output).with(traces).try_init()?;
    Ok(guard)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moon: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Inside the runtime, so a trace exporter can spawn its background task.
    let entered = runtime.enter();
    let guard = match init_logging("info,sqlx=warn,tower_http=info") {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("moon: cannot set up logging: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    drop(guard);
    drop(entered);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moon: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => {
            let config = settings::resolve(&ServeArgs::from(args))?;
            let started = Instant::now();
            moon_server::app::open_database(&config).await?;
            eprintln!("migrations applied in {} ms", started.elapsed().as_millis());
            Ok(())
        }
        Command::Demo(args) => {
            let config = settings::resolve(&ServeArgs::from(args.common.clone()))?;
            let db = moon_server::app::open_database(&config).await?;
            let today = config.business.today(chrono::Utc::now());
            let s = moon_server::demo::load(&db, today).await?;
            let p = moon_server::demo::planning(&db, &config.business, today).await?;
            eprintln!("demo calendar and targets: {} holidays, {} targets created", p.holidays, p.targets);
            eprintln!(
                "demo data loaded: {} agents, {} products, {} sales, {} notifications created (existing ones kept)",
                s.agents, s.products, s.sales, s.notifications
            );
            if let Some(sales) = args.sales {
                let report = |p: moon_server::bulk::Progress| {
                    let secs = p.elapsed.as_secs_f64().max(0.001);
                    eprintln!(
                        "  {} / {} sales ({:.0}%), {:.0} sales/s",
                        p.done,
                        p.total,
                        100.0 * p.done as f64 / p.total.max(1) as f64,
                        p.done as f64 / secs
                    );
                };
                let b = moon_server::bulk::load(&db, args.agents, sales, today, args.seed, report).await?;
                eprintln!(
                    "bulk data loaded: {} sales over {} agents ({} new) in {:.1} s; the warehouse rebuilds on its next refresh",
                    b.sales,
                    args.agents,
                    b.agents_created,
                    b.took.as_secs_f64()
                );
            }
            db.close().await;
            Ok(())
        }
        Command::Aggregate(args) => aggregate::run(args, shutdown_signal()).await,
        Command::Config(args) => {
            let config = settings::resolve(&args)?;
            println!("{}", settings::describe(&config));
            Ok(())
        }
        Command::User(cmd) => admin::user(cmd).await,
        Command::Org(cmd) => org::run(cmd).await,
        Command::Token(cmd) => admin::token(cmd).await,
        Command::Targets(cmd) => planning::targets(cmd).await,
        Command::Calendar(cmd) => planning::calendar(cmd).await,
        Command::Import(cmd) => import::run(cmd).await,
        Command::Privacy(cmd) => compliance::privacy(cmd).await,
        Command::Access(cmd) => compliance::access(cmd).await,
        Command::Retention(cmd) => compliance::retention(cmd).await,
        Command::Anomalies(cmd) => anomalies::run(cmd).await,
        Command::CommissionPlans(cmd) => commissions::run(cmd).await,
        Command::Rules(cmd) => notify::rules(cmd).await,
        Command::Digests(cmd) => notify::digests(cmd).await,
        Command::Audit(AuditCommand::Checkpoint(args)) => {
            let key = checkpoint_key(args.key_file.as_deref())?;
            let config = settings::resolve(&ServeArgs::from(args.common))?;
            let db = moon_server::app::open_database(&config).await?;
            let taken = moon_server::audit::checkpoint(&db).await.context("cannot read the audit trail");
            db.close().await;
            let checkpoint = match taken? {
                Ok(c) => c,
                Err(verdict) => {
                    let (id, why) = verdict.broken.unwrap_or_default();
                    anyhow::bail!("no checkpoint of a broken trail: audit entry {id}: {why}");
                }
            };
            let line = checkpoint.sign(&key)?;
            if let Some(out) = &args.out {
                std::fs::write(out, format!("{line}\n"))
                    .with_context(|| format!("cannot write the checkpoint to {}", out.display()))?;
            }
            println!("{line}");
            Ok(())
        }
        Command::Audit(AuditCommand::Verify(args)) => {
            let checkpoint = match &args.checkpoint {
                Some(path) => {
                    let key = checkpoint_key(args.key_file.as_deref())?;
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
                    Some(moon_server::audit::Checkpoint::open(&text, &key).context("the checkpoint cannot be used")?)
                }
                None => None,
            };
            let config = settings::resolve(&ServeArgs::from(args.common))?;
            let db = moon_server::app::open_database(&config).await?;
            let verdict = match &checkpoint {
                Some(c) => moon_server::audit::verify_against(&db, c).await,
                None => moon_server::audit::verify(&db).await,
            }
            .context("cannot read the audit trail")?;
            db.close().await;
            match verdict.broken {
                None => {
                    let against = checkpoint
                        .map(|c| format!("; entry {} still matches the checkpoint", c.last_id))
                        .unwrap_or_default();
                    eprintln!("audit trail intact: {} entries, every hash and link checked{against}", verdict.entries);
                    Ok(())
                }
                Some((id, why)) => {
                    println!("audit entry {id}: {why}");
                    anyhow::bail!("the audit trail is broken at entry {id} ({} entries read)", verdict.entries)
                }
            }
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let demo = args.demo;
    let config = settings::resolve(&args)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let db = moon_server::app::open_database(&config).await?;
    if demo {
        let today = config.business.today(chrono::Utc::now());
        let s = moon_server::demo::load(&db, today).await?;
        let p = moon_server::demo::planning(&db, &config.business, today).await?;
        tracing::info!(holidays = p.holidays, targets = p.targets, "demo calendar and targets loaded");
        tracing::info!(
            agents = s.agents,
            products = s.products,
            sales = s.sales,
            notifications = s.notifications,
            "demo data loaded"
        );
        let created = moon_server::demo::users(&db).await?;
        if created.is_empty() {
            eprintln!(
                "demo users exist already; their passwords are unchanged (moon user set-password <name> sets a new one)"
            );
        } else {
            // Printed once, to the terminal only, never to the log.
            eprintln!("demo users (passwords are shown this once):");
            for u in &created {
                eprintln!("  {:<14} {:<8} {}", u.username, u.role.as_str(), u.password);
            }
            eprintln!(
                "admin and manager set up two-step verification at their first sign-in (the console shows a QR code; \
                 API: POST /api/v1/auth/mfa/enrol)"
            );
        }
    }
    let addr = listener.local_addr()?;
    tracing::info!(ready_ms = started.elapsed().as_millis() as u64, "ready");
    let scheme = if config.security.tls.is_some() { "https" } else { "http" };
    eprintln!(
        "MoonInsurance is ready at {scheme}://{addr}/  (open it in a browser for the console; API: {scheme}://{addr}/api/v1/agents, spec: {scheme}://{addr}/api/v1/openapi.json)"
    );
    moon_server::serve(config, db, listener, shutdown_signal()).await
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
