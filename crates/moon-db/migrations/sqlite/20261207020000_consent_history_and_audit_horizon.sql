-- Issue 17 (privacy rights). Expand only: two new tables that the release still serving ignores.

-- Every change of an agent's consent flags (analytics_consent, show_name_to_peers), written in the
-- transaction of the change: who changed which flag, from what to what, when, by which action.
-- Part of the agent's record, so it goes with the agent when the agent is deleted.
CREATE TABLE agent_consent_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    BIGINT       NOT NULL,
    field       VARCHAR(40)  NOT NULL,
    old_value   BOOLEAN,
    new_value   BOOLEAN      NOT NULL,
    changed_by  VARCHAR(100) NOT NULL,
    action      VARCHAR(40)  NOT NULL,
    changed_at  TIMESTAMP    NOT NULL,
    CONSTRAINT agent_consent_history_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE
);
CREATE INDEX agent_consent_history_agent_idx ON agent_consent_history (agent_id, id);

-- Where the audit chain starts after retention pruned its oldest entries: the first kept id,
-- the hash its predecessor had (its link), and the signed checkpoint that vouched for the chain
-- when it was cut. One row at most (id = 1); absent until the first pruning.
CREATE TABLE audit_horizon (
    id          INTEGER      NOT NULL PRIMARY KEY,
    first_id    BIGINT       NOT NULL,
    prev_hash   CHAR(64)     NOT NULL,
    checkpoint  TEXT         NOT NULL,
    pruned_at   TIMESTAMP    NOT NULL
);
