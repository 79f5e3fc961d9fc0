-- Issue 13, item 6: an agent may agree to show their name to other agents (in performance
-- drill-downs and on the leaderboard). Off by default (opt-in); admins and the agent's branch manager
-- see names regardless. Expand-only: the previous release ignores the column.
ALTER TABLE agents ADD COLUMN show_name_to_peers BOOLEAN NOT NULL DEFAULT FALSE;
