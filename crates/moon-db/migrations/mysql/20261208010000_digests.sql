-- Scheduled digests (issue 16, item 2). Expand only: new tables the release still serving
-- never reads.
--
-- digest_preferences: a recipient's choice per digest ('daily' or 'weekly'), overriding the
--   configured default of their role. recipient is 'u<user id>' or 'a<agent id>'; weekday is
--   1 (Monday) … 7 (Sunday) for a weekly digest; at_time is "HH:MM" in the business time zone.
--   updated_at also says from when on its slots count (no digest for a slot before the choice).
-- digest_sends: one row per (recipient, digest, slot), claimed under its primary key before the
--   digest is written, so two replicas, a retry or a restart never send a slot twice. The
--   rendered mail (text and HTML) is kept here for the delivery loop, and the row is what the
--   unsubscribe link names (unsubscribed_at: the link was used).
CREATE TABLE digest_preferences (
    recipient  VARCHAR(32) NOT NULL,
    digest     VARCHAR(16) NOT NULL,
    user_id    BIGINT,
    agent_id   BIGINT,
    enabled    BOOLEAN     NOT NULL,
    weekday    BIGINT,
    at_time    VARCHAR(5)  NOT NULL,
    updated_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (recipient, digest),
    CONSTRAINT digest_preferences_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT digest_preferences_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE digest_sends (
    claim_key       VARCHAR(100) NOT NULL PRIMARY KEY,
    claim_token     VARCHAR(64)  NOT NULL,
    recipient       VARCHAR(32)  NOT NULL,
    digest          VARCHAR(16)  NOT NULL,
    slot_at         DATETIME(6)    NOT NULL,
    late            BOOLEAN      NOT NULL,
    notification_id BIGINT,
    subject         VARCHAR(200),
    body_text       MEDIUMTEXT,
    body_html       MEDIUMTEXT,
    created_at      DATETIME(6)    NOT NULL,
    unsubscribed_at DATETIME(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX digest_sends_notification_idx ON digest_sends (notification_id);
