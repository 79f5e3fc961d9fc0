-- Business calendar (holidays) and sales targets per fiscal period (issue 13, items 3 and 4).
-- Expand only: three new tables and one INSERT; nothing existing changes, so the release still
-- serving keeps working. See docs/adr/0011-calendar-and-targets.md.

CREATE TABLE holidays (
    holiday_date DATE         NOT NULL PRIMARY KEY,
    name         VARCHAR(100) NOT NULL,
    created_at   TIMESTAMP    NOT NULL
);

-- scope_kind: company | region | branch | team | agent; scope_key: '' for the company, the
-- region/branch/team code, or the agent code. subject: '' (all products), 'product:<id>' or
-- 'line:<product_type>': NULL-free, so the UNIQUE key below holds on every backend.
CREATE TABLE sales_targets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_kind   VARCHAR(10)  NOT NULL,
    scope_key    VARCHAR(100) NOT NULL,
    product_id   BIGINT,
    product_line VARCHAR(100),
    subject      VARCHAR(120) NOT NULL,
    period_kind  VARCHAR(10)  NOT NULL,
    period_start DATE         NOT NULL,
    period_end   DATE         NOT NULL,
    amount_cents BIGINT       NOT NULL CHECK (amount_cents > 0),
    policy_count BIGINT,
    created_at   TIMESTAMP    NOT NULL,
    updated_at   TIMESTAMP    NOT NULL,
    CONSTRAINT sales_targets_key UNIQUE (scope_kind, scope_key, subject, period_kind, period_start)
);
CREATE INDEX sales_targets_period_idx ON sales_targets (period_start, id);

CREATE TABLE target_period_locks (
    period_kind  VARCHAR(10)  NOT NULL,
    period_start DATE         NOT NULL,
    period_end   DATE         NOT NULL,
    locked_at    TIMESTAMP    NOT NULL,
    locked_by    VARCHAR(100) NOT NULL,
    PRIMARY KEY (period_kind, period_start)
);

-- Today's per-product target becomes a company-scope yearly target of that product for the
-- current calendar year (the fiscal year under the default January start). products keeps its
-- column for the original routes and the original warehouse table.
INSERT INTO sales_targets (scope_kind, scope_key, product_id, product_line, subject, period_kind, period_start,
                           period_end, amount_cents, policy_count, created_at, updated_at)
SELECT 'company', '', id, NULL, 'product:' || id, 'year',
       date(strftime('%Y', 'now') || '-01-01'), date(strftime('%Y', 'now') || '-12-31'),
       target_amount_cents, NULL, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM products;
