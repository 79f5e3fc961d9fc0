//! User accounts: the queries and use cases shared by the HTTP API and `moon user ...`.

use chrono::{DateTime, Utc};
use moon_db::sea_query::{Expr, ExprTrait, Query, SelectStatement, Value};
use moon_db::{Db, DbError, insert_row};
use moon_domain::{AgentCode, FieldError, FieldErrors, Label};
use serde::Serialize;

use super::password::{self, Hasher};
use crate::error::{Error, Result};
use moon_http::{Principal, Role, Scope};

/// A user as shown to admins: never the password hash or MFA secrets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Identifier.
    pub id: i64,
    /// Sign-in name (lower case).
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// The branch a manager is bound to.
    pub branch: Option<String>,
    /// The agent code an agent is bound to.
    pub agent_code: Option<String>,
    /// Where the user's e-mail notifications go (a manager's alerts); null: none.
    pub email: Option<String>,
    /// A disabled user cannot sign in and their sessions and tokens stop working.
    pub disabled: bool,
    /// Whether the user has confirmed a TOTP authenticator.
    pub mfa_enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A user row with the secrets the authentication code needs, and the id of the agent an
/// agent-role user is bound to (joined, so a request costs one query).
#[derive(Clone, sqlx::FromRow)]
pub struct Account {
    /// Identifier.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Stored role name.
    pub role: String,
    /// Manager binding.
    pub branch: Option<String>,
    /// Agent binding.
    pub agent_code: Option<String>,
    /// Disabled users are refused everywhere.
    pub disabled: bool,
    /// TOTP confirmed.
    pub mfa_enabled: bool,
    /// Sealed TOTP secret, once confirmed.
    pub mfa_secret: Option<String>,
    /// Sealed TOTP secret awaiting confirmation.
    pub mfa_pending_secret: Option<String>,
    /// The last TOTP time step accepted, so a code is never accepted twice.
    pub mfa_last_step: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// `agents.id` of the bound agent code, when there is such an agent.
    pub bound_agent_id: Option<i64>,
    /// E-mail address for notifications.
    pub email: Option<String>,
}

debug_without_secrets!(
    Account,
    id,
    username,
    role,
    branch,
    agent_code,
    disabled,
    mfa_enabled,
    mfa_last_step,
    bound_agent_id
);

/// Columns of [`Account`], for the queries that join users to sessions and tokens.
pub const ACCOUNT_COLUMNS: [&str; 14] = [
    "id",
    "username",
    "password_hash",
    "role",
    "branch",
    "agent_code",
    "disabled",
    "mfa_enabled",
    "mfa_secret",
    "mfa_pending_secret",
    "mfa_last_step",
    "created_at",
    "updated_at",
    "email",
];

/// `SELECT users.*, agents.id AS bound_agent_id FROM users LEFT JOIN agents ...`.
pub fn account_select() -> SelectStatement {
    let mut q = Query::select();
    q.columns(ACCOUNT_COLUMNS.map(|c| ("users", c)))
        .expr_as(Expr::col(("agents", "id")), "bound_agent_id")
        .from("users")
        .left_join("agents", Expr::col(("agents", "agent_code")).equals(("users", "agent_code")));
    q
}

impl Account {
    /// This account as the actor of an audit entry, before it has a principal (sign-in, MFA
    /// steps).
    pub fn actor(&self, origin: moon_http::principal::Origin) -> crate::audit::Actor {
        crate::audit::Actor { id: format!("user:{}", self.id), role: self.role().map(|r| r.as_str()), origin }
    }

    /// The stored role; an unknown name (a newer release's role) gets no rights here.
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    /// The principal this account acts as, or `None` when its role or binding is unusable.
    pub fn principal(&self) -> Option<Principal> {
        let role = self.role()?;
        let scope = match role {
            Role::Admin | Role::Analyst => Scope::All,
            Role::Manager => Scope::Branch(self.branch.clone()?),
            // An agent code without an agent row sees nothing until the agent exists.
            Role::Agent => Scope::Agent(self.bound_agent_id.unwrap_or(0)),
            // A screen's role, never an account's (`Role::parse` does not return it).
            Role::Wallboard => return None,
        };
        Some(Principal {
            id: format!("user:{}", self.id),
            role,
            scope,
            user_id: Some(self.id),
            origin: moon_http::principal::Origin::default(),
        })
    }

    /// The public view.
    pub fn user(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            role: self.role().unwrap_or(Role::Analyst),
            branch: self.branch.clone(),
            agent_code: self.agent_code.clone(),
            email: self.email.clone(),
            disabled: self.disabled,
            mfa_enabled: self.mfa_enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A validated user name: 3 to 64 characters of `a-z 0-9 . _ - @`, stored lower-cased.
pub fn parse_username(field: &str, raw: &str) -> Result<String, FieldError> {
    let name = raw.trim().to_lowercase();
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if (3..=64).contains(&name.len()) && ok_chars {
        Ok(name)
    } else {
        Err(FieldError::new(
            field,
            "invalid_username",
            format!("{field} must be 3-64 characters of letters, digits, '.', '_', '-' or '@'"),
        ))
    }
}

/// A role with its binding, validated together: a manager needs a branch, an agent an agent code,
/// and the other roles take neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The role.
    pub role: Role,
    /// Branch of a manager.
    pub branch: Option<String>,
    /// Agent code of an agent.
    pub agent_code: Option<String>,
}

impl Binding {
    /// Validates a role name and its binding.
    pub fn parse(role: &str, branch: Option<&str>, agent_code: Option<&str>) -> Result<Binding, Vec<FieldError>> {
        let mut errors = FieldErrors::new();
        let role = errors.take(Role::parse(role).ok_or_else(|| {
            FieldError::new("role", "invalid_role", "role must be one of admin, manager, agent, analyst")
        }));
        let branch = errors.take_opt(branch.map(|b| Label::parse("branch", b))).map(Label::into_inner);
        let agent_code =
            errors.take_opt(agent_code.map(|c| AgentCode::parse("agent_code", c))).map(AgentCode::into_inner);
        errors.finish()?;
        let Some(role) = role else { return Err(vec![FieldError::required("role")]) };
        match role {
            Role::Manager if branch.is_none() => {
                Err(vec![FieldError::new("branch", "required", "a manager must be bound to a branch")])
            }
            Role::Agent if agent_code.is_none() => {
                Err(vec![FieldError::new("agent_code", "required", "an agent must be bound to an agent_code")])
            }
            Role::Manager => Ok(Binding { role, branch, agent_code: None }),
            Role::Agent => Ok(Binding { role, branch: None, agent_code }),
            Role::Admin | Role::Analyst => Ok(Binding { role, branch: None, agent_code: None }),
            Role::Wallboard => {
                Err(vec![FieldError::new("role", "invalid", "wallboard is a screen's role, not a user's")])
            }
        }
    }
}

/// What resolving a branch yields: the organisation's code for it, or the field error that lists
/// the known active branches; a database failure apart.
pub type BranchAnswer = std::result::Result<std::result::Result<String, FieldError>, DbError>;

/// Checks a manager's branch against the organisation (known and active), as targets and agents
/// are checked. The wiring supplies it (`app::branch_check`): the security component may not
/// know the organisation's records (architecture.json), only ask this.
#[derive(Clone)]
pub struct BranchCheck(
    std::sync::Arc<dyn Fn(Db, String) -> futures_util::future::BoxFuture<'static, BranchAnswer> + Send + Sync>,
);

impl BranchCheck {
    /// A check from a function of the database and the branch as given.
    pub fn new(
        f: impl Fn(Db, String) -> futures_util::future::BoxFuture<'static, BranchAnswer> + Send + Sync + 'static,
    ) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// The binding with its branch (if any) replaced by the organisation's code for it, or the
    /// field error naming the known branches when it is unknown or inactive.
    pub async fn resolve(
        &self,
        db: &Db,
        mut binding: Binding,
    ) -> std::result::Result<std::result::Result<Binding, FieldError>, DbError> {
        if let Some(branch) = binding.branch.take() {
            match (self.0)(db.clone(), branch).await? {
                Ok(code) => binding.branch = Some(code),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(binding))
    }
}

impl std::fmt::Debug for BranchCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BranchCheck")
    }
}

fn duplicate(username: &str) -> Error {
    Error::conflict("duplicate_username", format!("a user named {username} already exists"))
}

/// Creates a user with a password that meets the policy.
/// The change is audited as `who`'s, in the same transaction.
pub async fn create(
    db: &Db,
    hasher: &Hasher,
    username: &str,
    password: &str,
    binding: Binding,
    who: impl Into<crate::audit::Actor>,
) -> Result<User> {
    create_with_email(db, hasher, (username, password), binding, None, who).await
}

/// [`create`] with the e-mail address the user's notifications go to.
pub async fn create_with_email(
    db: &Db,
    hasher: &Hasher,
    (username, password): (&str, &str),
    binding: Binding,
    email: Option<&moon_domain::Email>,
    who: impl Into<crate::audit::Actor>,
) -> Result<User> {
    let username = parse_username("username", username).map_err(Error::field)?;
    password::check_policy("password", password, &username).map_err(Error::field)?;
    let hash = hasher.hash(password).await.map_err(Error::Internal)?;
    let now = moon_db::now();
    let stmt = insert_row(
        "users",
        vec![
            ("username", Value::from(username.clone())),
            ("password_hash", Value::from(hash)),
            ("role", Value::from(binding.role.as_str())),
            ("branch", Value::from(binding.branch.clone())),
            ("agent_code", Value::from(binding.agent_code.clone())),
            ("disabled", Value::from(false)),
            ("mfa_enabled", Value::from(false)),
            ("email", Value::from(email.map(|e| e.as_str().to_owned()))),
            ("created_at", Value::from(now)),
            ("updated_at", Value::from(now)),
        ],
    );
    let mut tx = db.begin().await?;
    let id = match tx.insert(&stmt).await {
        Err(DbError::UniqueViolation) => return Err(duplicate(&username)),
        other => other?,
    };
    let detail =
        serde_json::json!({"role": binding.role.as_str(), "branch": binding.branch, "agent_code": binding.agent_code});
    crate::audit::append(&mut tx, who, crate::audit::Event::on("user.create", "user", id).with_detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(user_id = id, role = %binding.role, "user created");
    get(db, id).await?.ok_or_else(|| Error::internal("the user vanished after it was created"))
}

/// Every user, by id.
pub async fn list(db: &Db) -> Result<Vec<User>> {
    let mut q = account_select();
    q.order_by(("users", "id"), moon_db::sea_query::Order::Asc);
    Ok(db.fetch_all::<Account>(&q).await?.iter().map(Account::user).collect())
}

/// One account by id.
pub async fn account(db: &Db, id: i64) -> Result<Option<Account>, DbError> {
    let mut q = account_select();
    q.and_where(Expr::col(("users", "id")).eq(id));
    db.fetch_optional::<Account>(&q).await
}

/// One account by user name.
pub async fn account_by_name(db: &Db, username: &str) -> Result<Option<Account>, DbError> {
    let mut q = account_select();
    q.and_where(Expr::col(("users", "username")).eq(username.trim().to_lowercase()));
    db.fetch_optional::<Account>(&q).await
}

/// One user by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<User>> {
    Ok(account(db, id).await?.map(|a| a.user()))
}

/// How many enabled admins exist (a server with none tells the operator how to create one).
pub async fn count_enabled_admins(db: &Db) -> Result<usize, DbError> {
    let mut q = account_select();
    q.and_where(Expr::col(("users", "role")).eq("admin")).and_where(Expr::col(("users", "disabled")).eq(false));
    Ok(db.fetch_all::<Account>(&q).await?.len())
}

/// What an admin may change about a user; `None` leaves a field as it is.
#[derive(Default, Clone)]
pub struct UserChanges {
    /// New role and binding.
    pub binding: Option<Binding>,
    /// Disable or re-enable.
    pub disabled: Option<bool>,
    /// New password (policy-checked).
    pub password: Option<String>,
    /// Forget the user's authenticator and recovery codes, so they enrol again.
    pub reset_mfa: bool,
    /// New e-mail address (`Some(None)` removes it).
    pub email: Option<Option<moon_domain::Email>>,
}

debug_without_secrets!(UserChanges, binding, disabled, reset_mfa);

/// Applies changes to a user. Disabling, a new password, a new role or an MFA reset ends every
/// session of the user, so the change takes effect at once.
/// The change is audited as `who`'s, in the same transaction (a new password as the fact that
/// it changed, never its value).
pub async fn update(
    db: &Db,
    hasher: &Hasher,
    id: i64,
    changes: UserChanges,
    who: impl Into<crate::audit::Actor>,
) -> Result<User> {
    let current = account(db, id).await?.ok_or_else(|| Error::not_found(format!("user {id}")))?;
    let mut values: Vec<(&'static str, Value)> = Vec::new();
    if let Some(b) = &changes.binding {
        values.push(("role", Value::from(b.role.as_str())));
        values.push(("branch", Value::from(b.branch.clone())));
        values.push(("agent_code", Value::from(b.agent_code.clone())));
    }
    if let Some(d) = changes.disabled {
        values.push(("disabled", Value::from(d)));
    }
    if let Some(e) = &changes.email {
        values.push(("email", Value::from(e.as_ref().map(|e| e.as_str().to_owned()))));
    }
    if let Some(p) = &changes.password {
        password::check_policy("password", p, &current.username).map_err(Error::field)?;
        values.push(("password_hash", Value::from(hasher.hash(p).await.map_err(Error::Internal)?)));
    }
    if changes.reset_mfa {
        values.push(("mfa_enabled", Value::from(false)));
        values.push(("mfa_secret", Value::from(None::<String>)));
        values.push(("mfa_pending_secret", Value::from(None::<String>)));
    }
    values.push(("updated_at", Value::from(moon_db::now())));
    let mut stmt = Query::update();
    stmt.table("users").values(values.into_iter().map(|(c, v)| (c, Expr::val(v)))).and_where(Expr::col("id").eq(id));
    let mut tx = db.begin().await?;
    tx.execute(&stmt).await?;
    let ends_sessions =
        changes.binding.is_some() || changes.disabled == Some(true) || changes.password.is_some() || changes.reset_mfa;
    if ends_sessions {
        let mut del = Query::delete();
        del.from_table("sessions").and_where(Expr::col("user_id").eq(id));
        tx.execute(&del).await?;
    }
    if changes.reset_mfa {
        let mut del = Query::delete();
        del.from_table("recovery_codes").and_where(Expr::col("user_id").eq(id));
        tx.execute(&del).await?;
    }
    let detail = serde_json::json!({
        "role": changes.binding.as_ref().map(|b| b.role.as_str()),
        "branch": changes.binding.as_ref().map(|b| b.branch.clone()),
        "agent_code": changes.binding.as_ref().map(|b| b.agent_code.clone()),
        "disabled": changes.disabled,
        "password_changed": changes.password.is_some(),
        "mfa_reset": changes.reset_mfa,
        "email_changed": changes.email.is_some(),
        "sessions_ended": ends_sessions,
    });
    crate::audit::append(&mut tx, who, crate::audit::Event::on("user.update", "user", id).with_detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(user_id = id, sessions_ended = ends_sessions, "user changed");
    get(db, id).await?.ok_or_else(|| Error::internal("the user vanished after it was changed"))
}

/// Replaces a password hash made with outdated parameters by one made now, after a successful
/// sign-in. Best effort: the sign-in succeeds either way.
pub async fn store_rehash(db: &Db, hasher: &Hasher, id: i64, password: &str) {
    let done = async {
        let hash = hasher.hash(password).await?;
        let mut stmt = Query::update();
        stmt.table("users").value("password_hash", hash).and_where(Expr::col("id").eq(id));
        let mut tx = db.begin().await?;
        tx.execute(&stmt).await?;
        tx.commit().await?;
        anyhow::Ok(())
    };
    match done.await {
        Ok(()) => tracing::info!(user_id = id, "password re-hashed with current parameters"),
        Err(e) => tracing::warn!(user_id = id, error = %format!("{e:#}"), "could not re-hash a password"),
    }
}

/// Deletes a user with their sessions, tokens and recovery codes.
pub async fn delete(db: &Db, id: i64, who: impl Into<crate::audit::Actor>) -> Result<()> {
    let mut tx = db.begin().await?;
    for table in ["sessions", "api_tokens", "recovery_codes"] {
        let mut del = Query::delete();
        del.from_table(table).and_where(Expr::col("user_id").eq(id));
        tx.execute(&del).await?;
    }
    let mut del = Query::delete();
    del.from_table("users").and_where(Expr::col("id").eq(id));
    if tx.execute(&del).await? == 0 {
        return Err(Error::not_found(format!("user {id}")));
    }
    crate::audit::append(&mut tx, who, crate::audit::Event::on("user.delete", "user", id)).await?;
    tx.commit().await?;
    tracing::info!(user_id = id, "user deleted");
    Ok(())
}

/// Rewrites the branch a manager is bound to from `from` to `to` (the organisation backfill
/// merging spellings of one branch); returns how many users changed.
pub async fn respell_branch(tx: &mut moon_db::Tx, from: &str, to: &str) -> Result<u64, DbError> {
    let mut q = moon_db::sea_query::Query::update();
    q.table("users").value("branch", to).and_where(moon_db::sea_query::Expr::col("branch").eq(from));
    tx.execute(&q).await
}
