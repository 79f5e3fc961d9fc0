-- Issue 15, item 4 (commission plans as data). Expand only: two new tables that nothing else
-- reads yet, so the release still serving is unaffected. See
-- docs/adr/0024-policy-lifecycle-and-commissions.md.

-- A plan: who it pays (role: agent | manager) for what (subject, NULL-free like sales_targets:
-- '' for every product, 'product:<id>', 'line:<product_type>'). One plan per role and subject;
-- what it pays changes by version, never in place.
CREATE TABLE commission_plans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         VARCHAR(100) NOT NULL,
    role         VARCHAR(10)  NOT NULL,
    product_id   BIGINT,
    product_line VARCHAR(100),
    subject      VARCHAR(120) NOT NULL,
    created_at   TIMESTAMP    NOT NULL,
    updated_at   TIMESTAMP    NOT NULL,
    CONSTRAINT commission_plans_key UNIQUE (role, subject)
);

-- A version: the rules (a canonical JSON document, rates as exact decimal strings) in force
-- from effective_from until the next version's date. status 'retired' ends the plan from that
-- date (rules NULL); a later version revives it. Rows are never updated or deleted.
CREATE TABLE commission_plan_versions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id        BIGINT       NOT NULL,
    version        BIGINT       NOT NULL,
    effective_from DATE         NOT NULL,
    status         VARCHAR(10)  NOT NULL,
    rules          TEXT,
    note           VARCHAR(500),
    created_at     TIMESTAMP    NOT NULL,
    created_by     VARCHAR(100) NOT NULL,
    CONSTRAINT commission_plan_versions_plan_fk FOREIGN KEY (plan_id) REFERENCES commission_plans (id),
    CONSTRAINT commission_plan_versions_number UNIQUE (plan_id, version),
    CONSTRAINT commission_plan_versions_date UNIQUE (plan_id, effective_from)
);
