-- The audit trail: every mutation and security event, hash-chained (see src/audit.rs). Ids come
-- from the change_sequence row 'audit_log', locked by the appending transaction, so the chain
-- has one order and no gaps. Never updated or deleted by the application.
CREATE TABLE audit_log (
    id          BIGINT       NOT NULL PRIMARY KEY,
    occurred_at DATETIME(6)  NOT NULL,
    actor       VARCHAR(64)  NOT NULL,
    actor_role  VARCHAR(16),
    action      VARCHAR(48)  NOT NULL,
    entity      VARCHAR(32),
    entity_id   VARCHAR(64),
    changes     TEXT,
    request_id  VARCHAR(64),
    source_ip   VARCHAR(64),
    prev_hash   CHAR(64)     NOT NULL,
    entry_hash  CHAR(64)     NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);
INSERT INTO change_sequence (name, last_id) VALUES ('audit_log', 0);
