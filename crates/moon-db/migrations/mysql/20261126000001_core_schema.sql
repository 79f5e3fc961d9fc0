-- Core schema: agents, products, sales, notifications.
-- Money is stored as integer cents (BIGINT) on every backend; see docs/adr/0002-money-as-cents.md.
-- Timestamps are written by the application in UTC; MySQL keeps them as DATETIME(6) in UTC; utf8mb4_bin makes text comparison case-sensitive as on the other backends.

CREATE TABLE agents (
    id             BIGINT AUTO_INCREMENT PRIMARY KEY,
    agent_code     VARCHAR(20)  NOT NULL,
    first_name     VARCHAR(100) NOT NULL,
    last_name      VARCHAR(100) NOT NULL,
    branch         VARCHAR(100) NOT NULL,
    team           VARCHAR(100) NOT NULL,
    contact_number VARCHAR(20),
    email          VARCHAR(254),
    active         BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at     DATETIME(6)  NOT NULL,
    updated_at     DATETIME(6)  NOT NULL,
    CONSTRAINT agents_agent_code_key UNIQUE (agent_code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX agents_branch_team_idx ON agents (branch, team);
CREATE INDEX agents_team_idx ON agents (team);

CREATE TABLE products (
    id                  BIGINT AUTO_INCREMENT PRIMARY KEY,
    product_type        VARCHAR(100) NOT NULL,
    product_name        VARCHAR(100) NOT NULL,
    target_amount_cents BIGINT       NOT NULL CHECK (target_amount_cents > 0),
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL,
    CONSTRAINT products_product_name_key UNIQUE (product_name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sales (
    id            BIGINT AUTO_INCREMENT PRIMARY KEY,
    agent_id      BIGINT       NOT NULL,
    product_id    BIGINT       NOT NULL,
    amount_cents  BIGINT       NOT NULL CHECK (amount_cents > 0),
    sale_date     DATE         NOT NULL,
    branch        VARCHAR(100) NOT NULL,
    policy_number VARCHAR(40),
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    CONSTRAINT sales_policy_number_key UNIQUE (policy_number),
    CONSTRAINT sales_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE RESTRICT,
    CONSTRAINT sales_product_fk FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- Listings filter on one of these and page by id, so each index ends with id: the database
-- walks it in order and stops after one page instead of sorting every matching row.
CREATE INDEX sales_agent_idx ON sales (agent_id, id);
CREATE INDEX sales_product_idx ON sales (product_id, id);
CREATE INDEX sales_branch_idx ON sales (branch, id);
CREATE INDEX sales_date_idx ON sales (sale_date, id);

CREATE TABLE notifications (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    agent_id   BIGINT        NOT NULL,
    message    VARCHAR(1000) NOT NULL,
    kind       VARCHAR(32)   NOT NULL DEFAULT 'manual',
    created_at DATETIME(6)   NOT NULL,
    read_at    DATETIME(6),
    CONSTRAINT notifications_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX notifications_agent_idx ON notifications (agent_id, id);
