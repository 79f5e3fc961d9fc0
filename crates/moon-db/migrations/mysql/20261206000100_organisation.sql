-- Organisation as records (issue 13): regions, branches and teams, and which team and home branch
-- each agent belonged to when (effective-dated membership).
--
-- org_units: one table for the three kinds. `code` is the stable key that agents.branch,
--   agents.team, sales.branch and a manager's scope hold; `name` is what people read and may be
--   renamed (the audit trail keeps the old one). code_key and name_key are the trimmed, case-folded
--   forms, unique per kind, so "Colombo" and "colombo " cannot become two branches again. A branch
--   may sit under a region (parent_id).
-- agent_memberships: [valid_from, valid_to) ranges per agent; valid_from NULL means "since the
--   start of the record", valid_to NULL "still current". The application keeps the ranges of one
--   agent contiguous and non-overlapping (it updates the agents row first, which serialises two
--   moves of the same agent). Expand-only: agents.branch/team stay, holding the current codes, so
--   the previous release keeps working during a rollout.

CREATE TABLE org_units (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    kind       VARCHAR(8)   NOT NULL CHECK (kind IN ('region', 'branch', 'team')),
    code       VARCHAR(100) NOT NULL,
    code_key   VARCHAR(100) NOT NULL,
    name       VARCHAR(100) NOT NULL,
    name_key   VARCHAR(100) NOT NULL,
    parent_id  BIGINT,
    active     BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    CONSTRAINT org_units_code_key UNIQUE (kind, code_key),
    CONSTRAINT org_units_name_key UNIQUE (kind, name_key),
    CONSTRAINT org_units_parent_fk FOREIGN KEY (parent_id) REFERENCES org_units (id) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE agent_memberships (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    agent_id   BIGINT    NOT NULL,
    branch_id  BIGINT    NOT NULL,
    team_id    BIGINT    NOT NULL,
    valid_from DATE,
    valid_to   DATE,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT agent_memberships_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT agent_memberships_branch_fk FOREIGN KEY (branch_id) REFERENCES org_units (id) ON DELETE RESTRICT,
    CONSTRAINT agent_memberships_team_fk FOREIGN KEY (team_id) REFERENCES org_units (id) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX agent_memberships_agent_idx ON agent_memberships (agent_id, valid_from);
CREATE INDEX agent_memberships_branch_idx ON agent_memberships (branch_id);
CREATE INDEX agent_memberships_team_idx ON agent_memberships (team_id);
