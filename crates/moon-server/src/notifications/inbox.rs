//! The in-app inbox beyond listing: the unread count the console shows, "mark all read", and each
//! agent's choice of channels.

use moon_db::sea_query::{Expr, ExprTrait, Query};
use moon_db::{DbError, Tx};
use serde::{Deserialize, Serialize};

use super::quiet::QuietHours;
use super::repo::Recipient;
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

/// A recipient's channels. The inbox always keeps every notification (it is the record the
/// others start from); these say where else it goes, and when it may not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// The agent (null for a user account's own preferences).
    pub agent_id: Option<i64>,
    /// The user account (set when these are a user's own, such as a manager's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Pushed live to the open console (server-sent events).
    pub stream: bool,
    /// Sent by e-mail to the recipient's address (when the server has an SMTP relay).
    pub email: bool,
    /// E-mail and webhook deliveries wait while these last (business time zone); null: never.
    pub quiet_hours: Option<QuietHours>,
}

/// Body of `PUT /api/v1/notifications/preferences`; absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    /// Live stream on or off.
    pub stream: Option<bool>,
    /// E-mail on or off.
    pub email: Option<bool>,
    /// `{"from": "22:00", "to": "07:00"}` in the business time zone, or null for none.
    #[schema(value_type = Option<QuietHours>)]
    pub quiet_hours: Option<serde_json::Value>,
}

/// What the delivery fan-out needs of a recipient's preferences.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelPrefs {
    /// E-mail chosen (default no).
    pub email: bool,
    /// Quiet hours, if any.
    pub quiet: Option<QuietHours>,
}

/// A recipient's e-mail choice and quiet hours, in the caller's transaction.
pub async fn channel_prefs(tx: &mut Tx, to: Recipient) -> Result<ChannelPrefs, DbError> {
    let row = match to {
        Recipient::Agent(id) => read_prefs(tx, id).await?,
        Recipient::User(id) => read_user_prefs(tx, id).await?,
    };
    Ok(row.map_or_else(ChannelPrefs::default, |r| ChannelPrefs {
        email: r.email,
        quiet: QuietHours::from_stored(r.quiet_from.as_deref(), r.quiet_to.as_deref()),
    }))
}

/// The condition that keeps a query to the inbox the caller asked for and may see: without an
/// agent, a person's inbox includes what is addressed to their own user account.
pub(super) fn inbox_condition(principal: &Principal, agent_id: Option<i64>) -> crate::error::Result<Option<Expr>> {
    let col = || Expr::col(("notifications", "agent_id"));
    if agent_id.is_none() {
        return Ok(super::repo::in_scope(principal.into()));
    }
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
    pub(super) quiet_from: Option<String>,
    pub(super) quiet_to: Option<String>,
}

impl PrefRow {
    /// The API shape of a stored row.
    pub(super) fn to_api(&self, agent_id: Option<i64>, user_id: Option<i64>) -> Preferences {
        Preferences {
            agent_id,
            user_id,
            stream: self.stream,
            email: self.email,
            quiet_hours: QuietHours::from_stored(self.quiet_from.as_deref(), self.quiet_to.as_deref()),
        }
    }
}

pub(super) async fn read_prefs(tx: &mut Tx, agent_id: i64) -> Result<Option<PrefRow>, DbError> {
    let mut q = Query::select();
    q.columns(["stream", "email", "quiet_from", "quiet_to"])
        .from("notification_preferences")
        .and_where(Expr::col("agent_id").eq(agent_id));
    tx.fetch_optional(&q).await
}

/// A user account's stored channels (no live stream of their own: always on).
pub(super) async fn read_user_prefs(tx: &mut Tx, user_id: i64) -> Result<Option<PrefRow>, DbError> {
    let mut q = Query::select();
    q.expr_as(Expr::val(true), "stream")
        .columns(["email", "quiet_from", "quiet_to"])
        .from("user_notification_preferences")
        .and_where(Expr::col("user_id").eq(user_id));
    tx.fetch_optional(&q).await
}
