-- Notifications (issue #6): rules that write to agents on their own, and reliable delivery.
--
-- notifications.dedupe_key: rule-made notifications carry "<rule>:<subject>:<period>:..."; the
--   UNIQUE index makes a second insert of the same key a no-op, so each is produced once even
--   with several rule runners (manual messages leave it NULL, which UNIQUE allows many times).
-- notification_rules: milestone / target_achieved / target_due rules, seeded from moon.toml and
--   edited over the API; last_fired_at is the target-due schedule's turn marker (row-locked).
-- notification_totals: the running totals the rule runner keeps per subject and period, moved
--   by change-log deltas in the same transaction as its cursor, so "crossed" is exact.
-- notification_preferences: each agent's channels.
-- webhook_subscriptions: admin-managed receivers; the secret is sealed (AES-256-GCM with the
--   server's secret key) because the signer needs it back, so it cannot be hashed.
-- notification_deliveries: the outbox of webhook and e-mail deliveries, worked by a loop that
--   claims rows with a conditional UPDATE (claimed_until) so replicas never send one twice at once.

ALTER TABLE notifications ADD COLUMN dedupe_key VARCHAR(191);
CREATE UNIQUE INDEX notifications_dedupe_key ON notifications (dedupe_key);
CREATE INDEX notifications_unread_idx ON notifications (agent_id, read_at);

CREATE TABLE notification_rules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          VARCHAR(100) NOT NULL,
    kind          VARCHAR(32)  NOT NULL,
    enabled       BOOLEAN      NOT NULL DEFAULT TRUE,
    period        VARCHAR(16)  NOT NULL,
    thresholds    TEXT,
    every_cents   BIGINT,
    scope         VARCHAR(16)  NOT NULL,
    schedule      VARCHAR(100),
    timezone      VARCHAR(64)  NOT NULL,
    template      VARCHAR(500) NOT NULL,
    last_fired_at TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    CONSTRAINT notification_rules_name_key UNIQUE (name)
);

CREATE TABLE notification_totals (
    subject VARCHAR(150) NOT NULL,
    period  VARCHAR(16)  NOT NULL,
    cents   BIGINT       NOT NULL,
    PRIMARY KEY (subject, period)
);

CREATE TABLE notification_preferences (
    agent_id   BIGINT  NOT NULL PRIMARY KEY,
    stream     BOOLEAN NOT NULL DEFAULT TRUE,
    email      BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT notification_preferences_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE
);

CREATE TABLE webhook_subscriptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           VARCHAR(2000) NOT NULL,
    events        TEXT          NOT NULL,
    secret_sealed VARCHAR(255)  NOT NULL,
    enabled       BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE notification_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT       NOT NULL,
    channel         VARCHAR(16)  NOT NULL,
    subscription_id BIGINT,
    payload         TEXT         NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    attempts        BIGINT       NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until   TIMESTAMP,
    last_status     BIGINT,
    last_error      VARCHAR(500),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    delivered_at    TIMESTAMP,
    CONSTRAINT notification_deliveries_notification_fk FOREIGN KEY (notification_id) REFERENCES notifications (id) ON DELETE CASCADE,
    CONSTRAINT notification_deliveries_subscription_fk FOREIGN KEY (subscription_id) REFERENCES webhook_subscriptions (id) ON DELETE CASCADE
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (status, next_attempt_at);
CREATE INDEX notification_deliveries_notification_idx ON notification_deliveries (notification_id);
