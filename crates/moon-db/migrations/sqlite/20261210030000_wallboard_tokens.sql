-- Issue 14 leftovers: read-only wallboard tokens (docs/adr/0019-role-homes-and-wallboard.md).
-- Expand only: one new table that the release still serving never reads.
--
-- A token is bound to one branch and opens only that branch's wallboard. It is issued as a
-- one-time link (link_hash, claimable once, within a week of issue); claiming it on the TV sets
-- a cookie whose own secret (screen_hash) is what the screen then sends. Only SHA-256 hashes
-- are kept, as for API tokens; token_prefix tells tokens apart in a listing.
CREATE TABLE wallboard_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         VARCHAR(100) NOT NULL,
    branch       VARCHAR(100) NOT NULL,
    token_prefix VARCHAR(16)  NOT NULL,
    link_hash    CHAR(64)     NOT NULL,
    screen_hash  CHAR(64),
    created_by   VARCHAR(100) NOT NULL,
    created_at   TIMESTAMP    NOT NULL,
    expires_at   TIMESTAMP    NOT NULL,
    claimed_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP,
    CONSTRAINT wallboard_tokens_link_hash_key UNIQUE (link_hash),
    CONSTRAINT wallboard_tokens_screen_hash_key UNIQUE (screen_hash)
);
