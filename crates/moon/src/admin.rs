//! `moon user ...` and `moon token ...`: account administration on the server's own machine,
//! straight against the database (the way to create the first admin, since there are no default
//! passwords). Secrets are printed once on stdout, everything else on stderr.

use std::io::BufRead;

use anyhow::Context;
use clap::{Args, Subcommand};
use moon_db::Db;
use moon_http::ApiError;
use moon_server::auth::users::{self, Binding, UserChanges};
use moon_server::auth::{password, token};

use crate::settings::CommonArgs;

/// `moon user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Prints a generated password unless --password-stdin is given.
    Add {
        /// Sign-in name.
        username: String,
        #[command(flatten)]
        binding: BindingArgs,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Where the user's e-mail notifications go (a manager's alerts).
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Disable a user: their sessions end and their tokens stop working.
    Disable {
        /// Sign-in name.
        username: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Re-enable a disabled user.
    Enable {
        /// Sign-in name.
        username: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Set a new password (generated and printed unless --password-stdin); ends their sessions.
    SetPassword {
        /// Sign-in name.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Change a user's role and binding; ends their sessions.
    SetRole {
        /// Sign-in name.
        username: String,
        #[command(flatten)]
        binding: BindingArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Forget a user's authenticator and recovery codes, so they enrol again.
    ResetMfa {
        /// Sign-in name.
        username: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// A role and what it is bound to.
#[derive(Debug, Clone, Args)]
pub struct BindingArgs {
    /// admin, manager, agent or analyst.
    #[arg(long)]
    role: String,
    /// The branch of a manager.
    #[arg(long)]
    branch: Option<String>,
    /// The agent code of an agent.
    #[arg(long)]
    agent_code: Option<String>,
}

impl BindingArgs {
    fn parse(&self) -> anyhow::Result<Binding> {
        Binding::parse(&self.role, self.branch.as_deref(), self.agent_code.as_deref()).map_err(|errors| {
            anyhow::anyhow!("{}", errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))
        })
    }
}

/// The binding with a manager's branch checked against the organisation (known and active) and
/// spelled as its code, as the API does; an unknown branch is refused with the known ones listed.
async fn resolve(db: &Db, binding: Binding) -> anyhow::Result<Binding> {
    moon_server::app::branch_check()
        .resolve(db, binding)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|e| anyhow::anyhow!("--branch: {}", e.message))
}

/// `moon token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user and print it (once) on stdout.
    Create {
        /// The user the token acts as.
        username: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until it expires (1-3650) [default: 90].
        #[arg(long, default_value_t = token::DEFAULT_EXPIRY_DAYS, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_days: u32,
        /// The operator's choice of a token that never expires (a system account, say); wins
        /// over --expires-days.
        #[arg(long)]
        never_expires: bool,
        /// Make the token for a system: it draws on this rate class (`[rate_classes.NAME]` in
        /// moon.toml; `integration` is built in) instead of the per-person limits.
        #[arg(long)]
        rate_class: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id, as listed.
        id: i64,
        #[command(flatten)]
        common: CommonArgs,
    },
}

fn api(e: impl Into<ApiError>) -> anyhow::Error {
    let e = e.into();
    anyhow::anyhow!("{} ({})", e.detail(), e.code())
}

async fn open(common: &CommonArgs) -> anyhow::Result<Db> {
    let config = crate::settings::resolve(&crate::settings::ServeArgs::from(common.clone()))?;
    moon_server::app::open_database(&config).await
}

/// The password from stdin, or a generated one (then printed).
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!line.is_empty(), "standard input held no password");
        Ok((line, false))
    } else {
        Ok((password::generate()?, true))
    }
}

async fn account(db: &Db, username: &str) -> anyhow::Result<users::Account> {
    users::account_by_name(db, username).await?.ok_or_else(|| anyhow::anyhow!("no user named {username}"))
}

async fn change(db: &Db, username: &str, changes: UserChanges) -> anyhow::Result<users::User> {
    let a = account(db, username).await?;
    users::update(db, &password::Hasher::new(1), a.id, changes, &moon_http::Principal::operator()).await.map_err(api)
}

/// Runs a `moon user` command.
pub async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { username, binding, password_stdin, email, common } => {
            let binding = binding.parse()?;
            let email = match email.as_deref() {
                Some(e) => Some(moon_domain::Email::parse("--email", e).map_err(|e| anyhow::anyhow!("{}", e.message))?),
                None => None,
            };
            let (pw, generated) = password(password_stdin)?;
            let db = open(&common).await?;
            let binding = resolve(&db, binding).await?;
            let u = users::create_with_email(
                &db,
                &password::Hasher::new(1),
                (&username, &pw),
                binding,
                email.as_ref(),
                &moon_http::Principal::operator(),
            )
            .await
            .map_err(api)?;
            eprintln!("created user {} (id {}, role {})", u.username, u.id, u.role);
            if generated {
                eprintln!("generated password (shown once):");
                println!("{pw}");
            }
            db.close().await;
        }
        UserCommand::List { common } => {
            let db = open(&common).await?;
            println!("{:<6} {:<24} {:<8} {:<20} {:<9} mfa", "id", "username", "role", "binding", "disabled");
            for u in users::list(&db).await.map_err(api)? {
                let binding = u.branch.or(u.agent_code).unwrap_or_default();
                println!(
                    "{:<6} {:<24} {:<8} {:<20} {:<9} {}",
                    u.id, u.username, u.role, binding, u.disabled, u.mfa_enabled
                );
            }
            db.close().await;
        }
        UserCommand::Disable { username, common } => {
            let db = open(&common).await?;
            change(&db, &username, UserChanges { disabled: Some(true), ..UserChanges::default() }).await?;
            eprintln!("disabled {username}; their sessions ended and their tokens stopped working");
            db.close().await;
        }
        UserCommand::Enable { username, common } => {
            let db = open(&common).await?;
            change(&db, &username, UserChanges { disabled: Some(false), ..UserChanges::default() }).await?;
            eprintln!("enabled {username}");
            db.close().await;
        }
        UserCommand::SetPassword { username, password_stdin, common } => {
            let (pw, generated) = password(password_stdin)?;
            let db = open(&common).await?;
            change(&db, &username, UserChanges { password: Some(pw.clone()), ..UserChanges::default() }).await?;
            eprintln!("password of {username} changed; their sessions ended");
            if generated {
                eprintln!("generated password (shown once):");
                println!("{pw}");
            }
            db.close().await;
        }
        UserCommand::SetRole { username, binding, common } => {
            let binding = binding.parse()?;
            let db = open(&common).await?;
            let binding = resolve(&db, binding).await?;
            let u = change(&db, &username, UserChanges { binding: Some(binding), ..UserChanges::default() }).await?;
            eprintln!("{} is now {}; their sessions ended", u.username, u.role);
            db.close().await;
        }
        UserCommand::ResetMfa { username, common } => {
            let db = open(&common).await?;
            change(&db, &username, UserChanges { reset_mfa: true, ..UserChanges::default() }).await?;
            eprintln!("MFA of {username} reset; they enrol again at their next sign-in");
            db.close().await;
        }
    }
    Ok(())
}

/// Runs a `moon token` command.
pub async fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { username, name, expires_days, never_expires, rate_class, common } => {
            if let Some(c) = &rate_class
                && !token::valid_class_name(c)
            {
                anyhow::bail!("--rate-class must be 1-40 lower-case letters, digits, _ or -; got {c:?}");
            }
            let db = open(&common).await?;
            let a = account(&db, &username).await?;
            let expires = (!never_expires).then(|| moon_db::now() + chrono::Duration::days(i64::from(expires_days)));
            let (t, secret) = token::create_with_class(
                &db,
                a.id,
                &name,
                expires,
                rate_class.as_deref(),
                &moon_http::Principal::operator(),
            )
            .await?;
            eprintln!(
                "created token {} for {} (expires {}); it is shown once:",
                t.id,
                a.username,
                t.expires_at.map_or_else(|| String::from("never"), |e| e.to_rfc3339())
            );
            println!("{secret}");
            db.close().await;
        }
        TokenCommand::List { user, common } => {
            let db = open(&common).await?;
            let owner = match &user {
                Some(name) => Some(account(&db, name).await?.id),
                None => None,
            };
            println!("{:<6} {:<8} {:<14} {:<20} {:<26} revoked", "id", "user_id", "prefix", "name", "expires");
            for t in token::list(&db, owner).await? {
                println!(
                    "{:<6} {:<8} {:<14} {:<20} {:<26} {}",
                    t.id,
                    t.user_id,
                    t.token_prefix,
                    t.name,
                    t.expires_at.map_or_else(|| String::from("never"), |e| e.to_rfc3339()),
                    t.revoked_at.is_some()
                );
            }
            db.close().await;
        }
        TokenCommand::Revoke { id, common } => {
            let db = open(&common).await?;
            token::revoke(&db, id, None, &moon_http::Principal::operator()).await.map_err(api)?;
            eprintln!("token {id} revoked");
            db.close().await;
        }
    }
    Ok(())
}
