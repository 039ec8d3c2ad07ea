-- durable's tables, version 4: each ended attempt of a step that did not
-- complete at its first, with its own times and error (StepInfo::attempt_log).

-- A JSON array of {"attempt", "started_at", "ended_at", "error"} (ms; the
-- error NULL for the attempt that completed the step), oldest first, the
-- last 100 kept. NULL for a step that completed at its first attempt (it
-- costs no write) and for every step recorded before version 4: those read
-- as having no attempt times.
ALTER TABLE wf_step ADD COLUMN attempt_log TEXT;
