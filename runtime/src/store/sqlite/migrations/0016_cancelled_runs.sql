-- durable's tables on SQLite (version 16): an event names the runs it
-- cancelled (`#[workflow(cancel_on(..))]`), as it names the runs it started:
-- a JSON array of run ids, written in the event's transaction; NULL when it
-- cancelled none (and for every event stored before version 16).
ALTER TABLE wf_event ADD COLUMN cancelled_runs TEXT;
