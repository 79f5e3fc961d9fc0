-- Notifications managers act on (issue 16). Expand only: the release still serving keeps
-- writing agent notifications and never reads the new columns and tables.
--
-- notifications: a recipient is an agent or a user (a manager need not be an agent), exactly
--   one of the two.
-- users.email: where a user's e-mail goes.
-- notification_rules: behind_pace rules keep their threshold in basis points (1000 = 10 %),
--   the working day of the period they start on, and whether the agent hears too.
-- notification_pace_state: per rule, subject and period, whether an alert is out (behind) or
--   was answered by a "back on pace" (recovered); decided under the rule's row lock.
-- notification_preferences / user_notification_preferences: quiet hours ("HH:MM" in the
--   business time zone) per recipient, and a user's e-mail choice.
ALTER TABLE notifications MODIFY agent_id BIGINT NULL;
ALTER TABLE notifications ADD COLUMN user_id BIGINT;
ALTER TABLE notifications ADD CONSTRAINT notifications_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_recipient CHECK ((agent_id IS NULL) <> (user_id IS NULL));
CREATE INDEX notifications_user_idx ON notifications (user_id, id);

ALTER TABLE users ADD COLUMN email VARCHAR(254);

ALTER TABLE notification_rules ADD COLUMN percent_bp BIGINT;
ALTER TABLE notification_rules ADD COLUMN from_working_day BIGINT;
ALTER TABLE notification_rules ADD COLUMN notify_agent BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE notification_pace_state (
    rule_id    BIGINT       NOT NULL,
    subject    VARCHAR(150) NOT NULL,
    period     VARCHAR(16)  NOT NULL,
    state      VARCHAR(16)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (rule_id, subject, period),
    CONSTRAINT notification_pace_state_rule_fk FOREIGN KEY (rule_id) REFERENCES notification_rules (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE notification_preferences ADD COLUMN quiet_from VARCHAR(5);
ALTER TABLE notification_preferences ADD COLUMN quiet_to VARCHAR(5);

CREATE TABLE user_notification_preferences (
    user_id    BIGINT      NOT NULL PRIMARY KEY,
    email      BOOLEAN     NOT NULL DEFAULT FALSE,
    quiet_from VARCHAR(5),
    quiet_to   VARCHAR(5),
    updated_at DATETIME(6) NOT NULL,
    CONSTRAINT user_notification_preferences_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
