-- The warehouse's tables on PostgreSQL, as `moon aggregate` creates them (generated from
-- crates/moon-analytics/src/schema.rs by its tests; do not edit by hand).

CREATE TABLE IF NOT EXISTS wh_state (
    consumer     VARCHAR(64) NOT NULL PRIMARY KEY,
    applied_id   BIGINT      NOT NULL,
    refreshed_at TIMESTAMPTZ        NOT NULL,
    rebuilt_at   TIMESTAMPTZ        NOT NULL
);

CREATE TABLE IF NOT EXISTS dim_agent (
    agent_id  BIGINT       NOT NULL PRIMARY KEY,
    agent_key VARCHAR(32)  NOT NULL,
    team      VARCHAR(100) NOT NULL,
    branch    VARCHAR(100) NOT NULL,
    active    BOOLEAN      NOT NULL,
    analytics_consent BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS dim_product (
    product_id    BIGINT       NOT NULL PRIMARY KEY,
    product_type  VARCHAR(100) NOT NULL,
    product_name  VARCHAR(100) NOT NULL,
    target_amount NUMERIC(18,2)      NOT NULL,
    target_cents  BIGINT       NOT NULL
);

CREATE TABLE IF NOT EXISTS dim_membership (
    agent_id   BIGINT       NOT NULL,
    valid_from DATE         NOT NULL,
    agent_key  VARCHAR(32)  NOT NULL,
    team       VARCHAR(100) NOT NULL,
    branch     VARCHAR(100) NOT NULL,
    valid_to   DATE         NOT NULL,
    is_current BOOLEAN      NOT NULL,
    PRIMARY KEY (agent_id, valid_from)
);

CREATE TABLE IF NOT EXISTS dim_date (
    calendar_date        DATE    NOT NULL PRIMARY KEY,
    calendar_year        BIGINT  NOT NULL,
    calendar_month       BIGINT  NOT NULL,
    iso_year             BIGINT  NOT NULL,
    iso_week             BIGINT  NOT NULL,
    day_of_week          BIGINT  NOT NULL,
    fiscal_year          BIGINT  NOT NULL,
    fiscal_quarter       BIGINT  NOT NULL,
    fiscal_quarter_start DATE    NOT NULL,
    is_working_day       BOOLEAN NOT NULL,
    is_holiday           BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS fact_target (
    target_id     BIGINT       NOT NULL PRIMARY KEY,
    scope_kind    VARCHAR(10)  NOT NULL,
    scope_key     VARCHAR(100) NOT NULL,
    agent_id      BIGINT,
    product_id    BIGINT,
    product_line  VARCHAR(100),
    period_kind   VARCHAR(10)  NOT NULL,
    period_start  DATE         NOT NULL,
    period_end    DATE         NOT NULL,
    amount_cents  BIGINT       NOT NULL,
    policy_count  BIGINT,
    target_amount NUMERIC(18,2)      NOT NULL
);

CREATE TABLE IF NOT EXISTS fact_sales_daily (
    sale_date    DATE         NOT NULL,
    agent_id     BIGINT       NOT NULL,
    product_id   BIGINT       NOT NULL,
    branch       VARCHAR(100) NOT NULL,
    team         VARCHAR(100) NOT NULL,
    sales_count  BIGINT       NOT NULL,
    amount_cents BIGINT       NOT NULL,
    total_amount NUMERIC(18,2)      NOT NULL,
    PRIMARY KEY (sale_date, agent_id, product_id, branch, team)
);

CREATE TABLE IF NOT EXISTS fact_sales_monthly (
    month_start  DATE         NOT NULL,
    agent_id     BIGINT       NOT NULL,
    product_id   BIGINT       NOT NULL,
    branch       VARCHAR(100) NOT NULL,
    team         VARCHAR(100) NOT NULL,
    sales_count  BIGINT       NOT NULL,
    amount_cents BIGINT       NOT NULL,
    total_amount NUMERIC(18,2)      NOT NULL,
    PRIMARY KEY (month_start, agent_id, product_id, branch, team)
);

CREATE TABLE IF NOT EXISTS kpi_agent_totals (
    agent_id BIGINT NOT NULL PRIMARY KEY,
    sales_count  BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS kpi_team_totals (
    team VARCHAR(100) NOT NULL PRIMARY KEY,
    sales_count  BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS kpi_branch_totals (
    branch VARCHAR(100) NOT NULL PRIMARY KEY,
    sales_count  BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS kpi_product_totals (
    product_id BIGINT NOT NULL PRIMARY KEY,
    sales_count  BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS team_sales_metrics (team VARCHAR(100), total_sales NUMERIC(18,2));

CREATE TABLE IF NOT EXISTS branch_sales_metrics (branch VARCHAR(100), total_sales NUMERIC(18,2));

CREATE TABLE IF NOT EXISTS product_target_metrics (
    product_name  VARCHAR(100),
    target_amount NUMERIC(18,2),
    total_sales   NUMERIC(18,2),
    status        VARCHAR(20)
);

CREATE INDEX IF NOT EXISTS fact_sales_daily_product_idx ON fact_sales_daily (product_id, sale_date);
