//! The in-app inbox beyond listing: the unread count the console shows, "mark all read", and each
//! agent's choice of channels.

use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{Db, DbError, Tx};
use serde::{Deserialize, Serialize};

use moon_http::{Principal, Scope};

/// Whose inbox: an agent's own; staff name an agent in their scope, or (admins, managers) get
/// everything they may see.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// The agent (id); an agent may leave it out or name themself.
    pub agent_id: Option<i64>,
}

/// `{"unread": n}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unread {
    /// Unread notifications.
    pub unread: i64,
}

/// `{"marked": n}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Marked {
    /// Notifications marked read by this call.
    pub marked: i64,
}

/// An agent's channels. The inbox always keeps every notification (it is the record the others
/// start from); these say where else it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// The agent.
    pub agent_id: i64,
    /// Pushed live to the open console (server-sent events).
    pub stream: bool,
    /// Sent by e-mail to the agent's address (when the server has an SMTP relay).
    pub email: bool,
}

/// Body of `PUT /api/v1/notifications/preferences`; absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    /// Live stream on or off.
    pub stream: Option<bool>,
    /// E-mail on or off.
    pub email: Option<bool>,
}

/// The condition that keeps a query to the inbox the caller asked for and may see.
pub(super) fn inbox_condition(principal: &Principal, agent_id: Option<i64>) -> crate::error::Result<Option<Expr>> {
    let col = || Expr::col(("notifications", "agent_id"));
    Ok(match (&principal.scope, agent_id) {
        (Scope::Agent(own), Some(id)) if *own != id => {
            return Err(crate::error::Error::not_found(format!("agent {id}")));
        }
        (Scope::Agent(own), _) => Some(col().eq(*own)),
        (Scope::Branch(b), Some(id)) => {
            Some(col().eq(id).and(col().in_subquery(crate::agents::repo::ids_where("branch", b))))
        }
        (Scope::Branch(b), None) => Some(col().in_subquery(crate::agents::repo::ids_where("branch", b))),
        (Scope::All, Some(id)) => Some(col().eq(id)),
        (Scope::All, None) => None,
    })
}

#[derive(sqlx::FromRow)]
pub(super) struct PrefRow {
    pub(super) stream: bool,
    pub(super) email: bool,
}

pub(super) async fn read_prefs(tx: &mut Tx, agent_id: i64) -> Result<Option<PrefRow>, DbError> {
    let mut q = Query::select();
    q.columns(["stream", "email"]).from("notification_preferences").and_where(Expr::col("agent_id").eq(agent_id));
    tx.fetch_optional(&q).await
}

/// An agent's stored channels, on the read pool.
pub(super) async fn get_prefs(db: &Db, agent_id: i64) -> Result<Option<PrefRow>, DbError> {
    let mut q = Query::select();
    q.columns(["stream", "email"]).from("notification_preferences").and_where(Expr::col("agent_id").eq(agent_id));
    db.fetch_optional(&q).await
}

/// Whether an agent chose e-mail (default no).
pub async fn wants_email(tx: &mut Tx, agent_id: i64) -> Result<bool, DbError> {
    Ok(read_prefs(tx, agent_id).await?.is_some_and(|p| p.email))
}
