-- Issue 17, item 4 (anomaly detection). Expand only: three new tables and two indexes on the
-- audit trail; the release still serving ignores all of them. See docs/adr/0020-anomaly-detection.md.

-- One finding of a detector: what fired (kind), about whom or what (subject), for which window
-- (a day, an hour, a sale), the figures that fired it (JSON) and the sentence an admin reads.
-- One finding per kind, subject and window, open or dismissed: a detector that runs again over
-- the same events finds the row already there and writes nothing.
CREATE TABLE anomalies (
    id             BIGINT AUTO_INCREMENT PRIMARY KEY,
    kind           VARCHAR(40)   NOT NULL,
    subject        VARCHAR(200)  NOT NULL,
    window_key     VARCHAR(40)   NOT NULL,
    figures        TEXT          NOT NULL,
    why            VARCHAR(1000) NOT NULL,
    status         VARCHAR(16)   NOT NULL,
    detected_at    DATETIME(6)     NOT NULL,
    dismissed_at   DATETIME(6),
    dismissed_by   VARCHAR(100),
    dismiss_reason VARCHAR(500),
    CONSTRAINT anomalies_finding_key UNIQUE (kind, subject, window_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX anomalies_status_idx ON anomalies (status, id);

-- How far each detector's scan has read (the last sale id, the last audit entry id), so a step
-- reads only what is new.
CREATE TABLE anomaly_cursors (
    name       VARCHAR(40) NOT NULL PRIMARY KEY,
    position   BIGINT      NOT NULL,
    updated_at DATETIME(6)   NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The client addresses each API token was used from, with when each was first and last seen
-- (to within the recorder's memory window): the "token used from many addresses" detector reads
-- it. Written only when a process sees a token and address it has not seen lately.
CREATE TABLE token_addresses (
    token_id      BIGINT      NOT NULL,
    address       VARCHAR(64) NOT NULL,
    first_seen_at DATETIME(6)   NOT NULL,
    last_seen_at  DATETIME(6)   NOT NULL,
    PRIMARY KEY (token_id, address)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX token_addresses_seen_idx ON token_addresses (last_seen_at);

-- The access review's last sign-in per user and the detectors' windows read the trail by action:
-- without these both scan the whole trail.
CREATE INDEX audit_log_action_entity_idx ON audit_log (action, entity, entity_id, occurred_at);
CREATE INDEX audit_log_action_time_idx ON audit_log (action, occurred_at);
