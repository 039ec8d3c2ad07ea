-- durable's tables on PostgreSQL (version 5): each ended attempt of a step
-- that did not complete at its first, with its own times and error
-- (StepInfo::attempt_log), as SQLite's migration 4 keeps them.

-- A JSON array of {"attempt", "started_at", "ended_at", "error"} (ms; the
-- error null for the attempt that completed the step), oldest first, the
-- last 100 kept. NULL for a step that completed at its first attempt (it
-- costs no write) and for every step recorded before version 5: those read
-- as having no attempt times. Adding a nullable column without a default
-- rewrites no row.
ALTER TABLE wf_step ADD COLUMN attempt_log JSONB;
