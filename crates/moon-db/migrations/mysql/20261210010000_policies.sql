-- Issue 15, slice 3: policies, their transactions and split credit (ADR 0024, sections 1 and 2).
-- Expand only: three new tables. The release still serving neither reads nor writes them; the
-- sale mirror has no foreign key to sales, so that release keeps deleting sales as before (the
-- start-up backfill of the newer release mirrors what it missed).

-- A policy: number, product, the insurer's opaque holder reference, an optional customer name
-- (personal: masked in the audit trail, never in the change log or the warehouse), the premium in
-- force, and a status kept by its transactions (in_force | cancelled | lapsed).
CREATE TABLE policies (
    id            BIGINT AUTO_INCREMENT PRIMARY KEY,
    policy_number VARCHAR(40)  NOT NULL,
    product_id    BIGINT       NOT NULL,
    holder_ref    VARCHAR(64),
    customer_name VARCHAR(200),
    premium_cents BIGINT       NOT NULL CHECK (premium_cents >= 0),
    start_date    DATE         NOT NULL,
    end_date      DATE,
    status        VARCHAR(12)  NOT NULL CHECK (status IN ('in_force', 'cancelled', 'lapsed')),
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    CONSTRAINT policies_policy_number_key UNIQUE (policy_number),
    CONSTRAINT policies_product_fk FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX policies_product_idx ON policies (product_id, id);
CREATE INDEX policies_status_idx ON policies (status, id);

-- A dated, signed movement of a policy's value. sale_id links the new_business transaction that
-- mirrors a sale (one per sale); corrects_id is for adjustments (slice 6).
CREATE TABLE policy_transactions (
    id                  BIGINT AUTO_INCREMENT PRIMARY KEY,
    policy_id           BIGINT       NOT NULL,
    kind                VARCHAR(20)  NOT NULL,
    effective_date      DATE         NOT NULL,
    amount_cents        BIGINT       NOT NULL,
    sale_id             BIGINT,
    corrects_id         BIGINT,
    booked_period_start DATE         NOT NULL,
    note                VARCHAR(500),
    created_at          DATETIME(6)  NOT NULL,
    created_by          VARCHAR(100) NOT NULL,
    CONSTRAINT policy_transactions_sale_key UNIQUE (sale_id),
    CONSTRAINT policy_transactions_policy_fk FOREIGN KEY (policy_id) REFERENCES policies (id) ON DELETE RESTRICT,
    CONSTRAINT policy_transactions_sign CHECK (
        (kind IN ('new_business', 'renewal', 'reinstatement') AND amount_cents > 0)
        OR (kind IN ('cancellation', 'lapse') AND amount_cents < 0)
        OR (kind IN ('endorsement', 'adjustment') AND amount_cents <> 0)
    )
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX policy_transactions_policy_idx ON policy_transactions (policy_id, id);
CREATE INDEX policy_transactions_date_idx ON policy_transactions (effective_date, id);

-- One agent's credited part of a transaction: share in basis points (the shares of a transaction
-- sum to 10000) and cents by the largest-remainder rule; branch is the branch credited.
CREATE TABLE transaction_credits (
    id             BIGINT AUTO_INCREMENT PRIMARY KEY,
    transaction_id BIGINT       NOT NULL,
    agent_id       BIGINT       NOT NULL,
    share_bp       BIGINT       NOT NULL CHECK (share_bp BETWEEN 1 AND 10000),
    amount_cents   BIGINT       NOT NULL,
    branch         VARCHAR(100) NOT NULL,
    CONSTRAINT transaction_credits_key UNIQUE (transaction_id, agent_id),
    CONSTRAINT transaction_credits_transaction_fk FOREIGN KEY (transaction_id) REFERENCES policy_transactions (id) ON DELETE RESTRICT,
    CONSTRAINT transaction_credits_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE RESTRICT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX transaction_credits_agent_idx ON transaction_credits (agent_id, transaction_id);
CREATE INDEX transaction_credits_branch_idx ON transaction_credits (branch, transaction_id);
