-- durable's tables, version 18: an event names the runs it cancelled
-- (`#[workflow(cancel_on(..))]`), as it names the runs it started: a JSON
-- array of run ids, written in the event's transaction; NULL when it
-- cancelled none (and for every event stored before version 18).
ALTER TABLE wf_event ADD COLUMN cancelled_runs JSONB;
