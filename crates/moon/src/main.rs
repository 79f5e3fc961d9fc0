//! `moon`: the one MoonInsurance binary. `serve` runs any set of targets, `migrate` applies
//! schema migrations, `demo` loads demo data. Configuration: flags > `MOON_*` environment >
//! `moon.toml` > defaults.

mod admin;
mod settings;

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use settings::{CommonArgs, ServeArgs};

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
    /// Load the demo data set (idempotent), then exit.
    Demo(CommonArgs),
    /// Print the effective configuration, secrets redacted.
    Config(ServeArgs),
    /// Manage user accounts (the first admin is created here).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
}

fn init_logging(default_level: &str) {
    let filter = EnvFilter::try_from_env("MOON_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.compact().init();
    } else {
        builder.json().flatten_event(true).with_current_span(true).init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging("info,sqlx=warn,tower_http=info");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moon: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
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
            let config = settings::resolve(&ServeArgs::from(args))?;
            let db = moon_server::app::open_database(&config).await?;
            let s = moon_server::demo::load(&db, chrono_today()).await?;
            eprintln!(
                "demo data loaded: {} agents, {} products, {} sales, {} notifications created (existing ones kept)",
                s.agents, s.products, s.sales, s.notifications
            );
            db.close().await;
            Ok(())
        }
        Command::Config(args) => {
            let config = settings::resolve(&args)?;
            println!("{}", settings::describe(&config));
            Ok(())
        }
        Command::User(cmd) => admin::user(cmd).await,
        Command::Token(cmd) => admin::token(cmd).await,
    }
}

fn chrono_today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
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
        let s = moon_server::demo::load(&db, chrono_today()).await?;
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
            eprintln!("admin and manager must enrol an authenticator (POST /api/v1/auth/mfa/enrol) after signing in");
        }
    }
    let addr = listener.local_addr()?;
    tracing::info!(ready_ms = started.elapsed().as_millis() as u64, "ready");
    let scheme = if config.security.tls.is_some() { "https" } else { "http" };
    eprintln!(
        "MoonInsurance is ready at {scheme}://{addr}/  (API: {scheme}://{addr}/api/v1/agents, spec: {scheme}://{addr}/api/v1/openapi.json)"
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
