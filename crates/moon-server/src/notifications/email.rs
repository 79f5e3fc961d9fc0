//! The e-mail channel: a notification sent as a plain-text message (a digest as HTML with a
//! plain-text alternative) over SMTP (lettre, on tokio,
//! with rustls on the process's aws-lc-rs provider).
//!
//! The recipient address is read when the message is sent, not when it is queued, so an agent
//! erased in between gets nothing.

use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use moon_db::Db;
use moon_db::sea_query::{Expr, ExprTrait, Query};

use super::pipeline::Attempt;
use moon_db::Secret;
use serde::Deserialize;

/// Sends notifications by e-mail through the configured relay.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the relay; checks the settings, does not connect.
    pub fn new(s: &SmtpSettings, timeout: std::time::Duration) -> anyhow::Result<Self> {
        let from: Mailbox =
            s.from.parse().with_context(|| format!("notifications.smtp.from {:?} is not an address", s.from))?;
        let params = || TlsParameters::new(s.host.clone()).context("cannot set up TLS for the SMTP relay");
        let tls = match s.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(params()?),
            SmtpTls::Starttls => Tls::Required(params()?),
            SmtpTls::Wrapper => Tls::Wrapper(params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
            .port(s.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(user) = &s.username {
            let password = s.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self { transport: builder.build(), from })
    }

    /// Sends one queued notification to its agent's current address.
    pub async fn send(&self, db: &Db, notification_id: i64) -> Attempt {
        let fail = |e: String| Attempt { ok: false, status: None, error: Some(e) };
        // The recipient is an agent or a user account: read whichever address the row names.
        let mut q = Query::select();
        q.expr(Expr::col(("agents", "email")).if_null(Expr::col(("users", "email"))))
            .expr(Expr::col(("agents", "first_name")).if_null(Expr::col(("users", "username"))))
            .column(("notifications", "message"))
            .column(("notifications", "kind"))
            .from("notifications")
            .left_join("agents", Expr::col(("agents", "id")).equals(("notifications", "agent_id")))
            .left_join("users", Expr::col(("users", "id")).equals(("notifications", "user_id")))
            .and_where(Expr::col(("notifications", "id")).eq(notification_id));
        let row: Option<(Option<String>, Option<String>, String, String)> = match db.fetch_optional(&q).await {
            Ok(r) => r,
            Err(e) => return fail(format!("cannot read the recipient: {e}")),
        };
        let Some((Some(address), first_name, message, kind)) = row else {
            return fail(String::from("the recipient has no e-mail address"));
        };
        let to = match address.parse::<lettre::Address>() {
            Ok(a) => Mailbox::new(first_name, a),
            Err(_) => return fail(String::from("the recipient's e-mail address is not valid")),
        };
        let subject = match kind.as_str() {
            "milestone" => "MoonInsurance: milestone reached",
            "target_achieved" => "MoonInsurance: target achieved",
            "target_due" => "MoonInsurance: target reminder",
            "behind_pace" => "MoonInsurance: behind pace",
            "back_on_pace" => "MoonInsurance: back on pace",
            "broadcast" => "MoonInsurance: a message to your team",
            "digest" => "MoonInsurance: your digest",
            _ => "MoonInsurance: a message for you",
        };
        let builder = Message::builder().from(self.from.clone()).to(to);
        let built = if kind == "digest" {
            // A digest goes as HTML with a plain-text alternative, written when it was claimed.
            match super::digests::store::mail_of(db, notification_id).await {
                Ok(Some((subject, text, html))) => builder.subject(subject).multipart(alternative(text, html)),
                Ok(None) => return fail(String::from("the digest's mail is not on record")),
                Err(e) => return fail(format!("cannot read the digest: {e}")),
            }
        } else {
            builder.subject(subject).body(message)
        };
        let email = match built {
            Ok(m) => m,
            Err(e) => return fail(format!("cannot build the message: {e}")),
        };
        match self.transport.send(email).await {
            Ok(r) => Attempt { ok: true, status: Some(i64::from(u16::from(r.code()))), error: None },
            Err(e) => Attempt {
                ok: false,
                status: e.status().map(|c| i64::from(u16::from(c))),
                error: Some(format!("SMTP: {e}")),
            },
        }
    }
}

/// HTML with a plain-text alternative, both quoted-printable (readable in the raw mail, safe
/// for long lines and any character).
fn alternative(text: String, html: String) -> MultiPart {
    let part = |kind: ContentType, body: String| {
        SinglePart::builder().header(kind).header(ContentTransferEncoding::QuotedPrintable).body(body)
    };
    MultiPart::alternative()
        .singlepart(part(ContentType::TEXT_PLAIN, text))
        .singlepart(part(ContentType::TEXT_HTML, html))
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, refusing to send without it (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Wrapper,
    /// STARTTLS when offered, plain otherwise.
    Opportunistic,
    /// Plain text: only for a relay on loopback.
    None,
}

/// The SMTP relay. The password comes from `MOON_SMTP_PASSWORD` or `MOON_SMTP_PASSWORD_FILE`,
/// never from the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Relay host name.
    pub host: String,
    /// Relay port (default 587).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Sender address, such as `MoonInsurance <noreply@moon.example>`.
    pub from: String,
    /// User name for AUTH, if the relay wants one.
    pub username: Option<String>,
    /// Set from the environment only.
    #[serde(skip)]
    pub password: Option<Secret>,
    /// Transport security (default `starttls`).
    #[serde(default)]
    pub tls: SmtpTls,
}

fn default_smtp_port() -> u16 {
    587
}
