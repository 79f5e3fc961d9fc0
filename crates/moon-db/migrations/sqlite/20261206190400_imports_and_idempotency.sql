-- Bulk imports, external references and idempotent retries (issue 19, items 4-6).
-- Expand only: two nullable columns on sales, one on api_tokens, two new tables. The release
-- still serving ignores them. See docs/adr/00XX-bulk-import-and-idempotency.md.

-- A sale may name where it came from: (source_system, external_ref) is unique, so a system
-- that retries or re-sends a file cannot record the same sale twice. NULLs never collide.
ALTER TABLE sales ADD COLUMN source_system VARCHAR(60);
ALTER TABLE sales ADD COLUMN external_ref VARCHAR(100);
CREATE UNIQUE INDEX sales_external_ref_key ON sales (source_system, external_ref);

-- One row per import run: the file's SHA-256, how far it got and how it ended. Progress is
-- written in the transaction of each batch, so after a crash the row tells exactly which
-- batches are in (state stays 'running'; the next run of the same file reports it).
CREATE TABLE imports (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              VARCHAR(20)  NOT NULL,
    file_sha256       CHAR(64)     NOT NULL,
    principal_id      VARCHAR(100) NOT NULL,
    mode              VARCHAR(20)  NOT NULL,
    state             VARCHAR(20)  NOT NULL,
    rows_read         BIGINT       NOT NULL,
    accepted          BIGINT       NOT NULL,
    duplicates        BIGINT       NOT NULL,
    rejected          BIGINT       NOT NULL,
    batches_committed BIGINT       NOT NULL,
    last_line         BIGINT       NOT NULL,
    started_at        TIMESTAMP    NOT NULL,
    finished_at       TIMESTAMP
);
CREATE INDEX imports_file_idx ON imports (kind, file_sha256, id);

-- Idempotency-Key: the first answer to a (principal, key), replayed to retries for 24 hours.
-- status_code is NULL while the first request is still running.
CREATE TABLE idempotency_keys (
    principal_id  VARCHAR(100) NOT NULL,
    idem_key      VARCHAR(200) NOT NULL,
    method        VARCHAR(10)  NOT NULL,
    path          VARCHAR(300) NOT NULL,
    request_hash  CHAR(64)     NOT NULL,
    status_code   INTEGER,
    content_type  VARCHAR(100),
    response_body TEXT,
    created_at    TIMESTAMP    NOT NULL,
    PRIMARY KEY (principal_id, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- A token made for a system draws on its own rate class ([security.rate_classes.NAME]).
ALTER TABLE api_tokens ADD COLUMN rate_class VARCHAR(40);
