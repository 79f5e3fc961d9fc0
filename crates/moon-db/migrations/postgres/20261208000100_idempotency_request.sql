-- Which request claimed an Idempotency-Key, and where the audit trail stood then: a claim whose
-- process died is taken over only if no audit entry of that request followed it (every write
-- appends its audit entry in its own transaction), so a write that committed is never run twice.
ALTER TABLE idempotency_keys ADD COLUMN request_id VARCHAR(200);
ALTER TABLE idempotency_keys ADD COLUMN audit_after BIGINT;
