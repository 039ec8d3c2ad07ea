-- durable's tables on SQLite (version 8): workflows started by events
-- (`#[workflow(on_event = "order.*")]`). An engine records each version's
-- triggers in the catalog, so any process that sends an event, with only the
-- database, starts the runs it should; the event and the runs it started
-- name each other. JSON is stored as text.

-- The version's triggers: a JSON array of {"event": pattern, "filter": JSON
-- or null}; '[]' for a workflow no event starts (and every version recorded
-- before version 8).
ALTER TABLE wf_workflow ADD COLUMN on_event TEXT NOT NULL DEFAULT '[]';

-- The event (wf_event.id) that started the run; NULL for a run triggered
-- otherwise. Its idempotency key is then `event:<id>`, so one event starts
-- at most one run of each workflow.
ALTER TABLE wf_instance ADD COLUMN event_id INTEGER;

-- The runs the event started, a JSON array of run ids, and the workflows it
-- matched but could not start (a JSON array of {"workflow", "error"}: its
-- data does not fit their input); NULL when there are none.
ALTER TABLE wf_event ADD COLUMN started_runs TEXT;
ALTER TABLE wf_event ADD COLUMN trigger_errors TEXT;
