-- The W3C trace context (`traceparent`, 55 characters) of the request that caused a change, so a
-- webhook sent later, from a background job, continues the caller's trace (issue 18, item 16).
-- Expand only: two nullable columns; the release still serving neither writes nor reads them.
-- A plain string: the change log and the outbox know nothing of HTTP or of a tracing backend.
ALTER TABLE change_log ADD COLUMN trace_context VARCHAR(55);
ALTER TABLE notification_deliveries ADD COLUMN trace_context VARCHAR(55);
