-- Change log (transactional outbox): every change to a sale, to an agent's team or branch, and to
-- a product is appended here in the same transaction as the change itself. Consumers (the KPI
-- aggregator, notification rules) read it in id order from their own durable cursor.
--
-- Ids are handed out by change_sequence inside the writing transaction rather than by
-- AUTOINCREMENT: the row lock on the sequence is held until commit, so entries become visible in
-- id order and a consumer that has seen id N can never later find a smaller id appear.

CREATE TABLE change_log (
    id          BIGINT       PRIMARY KEY NOT NULL,
    entity      VARCHAR(16)  NOT NULL,
    entity_id   BIGINT       NOT NULL,
    before_data TEXT,
    after_data  TEXT,
    changed_at  DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE change_sequence (
    name    VARCHAR(32) PRIMARY KEY NOT NULL,
    last_id BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO change_sequence (name, last_id) VALUES ('change_log', 0);

-- Where each consumer has got to, so old entries can be pruned once all have passed them.
CREATE TABLE change_cursors (
    consumer   VARCHAR(64) PRIMARY KEY NOT NULL,
    applied_id BIGINT      NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
