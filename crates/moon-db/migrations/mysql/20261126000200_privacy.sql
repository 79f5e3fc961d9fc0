-- Privacy: an agent's consent to per-agent analytics (leaderboards), opt-in; and erasure, which
-- replaces the personal fields but keeps the record (and its sales) so every total stays right.
ALTER TABLE agents ADD COLUMN analytics_consent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN erased_at DATETIME(6) NULL;
