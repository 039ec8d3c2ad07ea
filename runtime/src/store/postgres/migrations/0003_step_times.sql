-- durable's tables on PostgreSQL (version 3): when each step started and
-- ended, the event that settled a waiting step, and the indexes of the
-- operator's lists (newest first, keyset on (created_at, id)).

ALTER TABLE wf_step
    ADD COLUMN started_at BIGINT,
    ADD COLUMN ended_at BIGINT,
    ADD COLUMN settled_by_event BIGINT;
-- Steps written before durable kept these times: their first write is their
-- best known start, and a finished step ended at its last write.
UPDATE wf_step SET started_at = created_at,
    ended_at = CASE WHEN status IN ('completed', 'failed') THEN updated_at END;
-- The event list finds the runs each event woke.
CREATE INDEX wf_step_settled_by_event ON wf_step (settled_by_event)
    WHERE settled_by_event IS NOT NULL;

-- Runs of one status, newest first; every run is read as one branch per
-- status, so no index by creation time alone costs every write of a run (no
-- update of a run's status is a HOT update: each index gets a new entry).
CREATE INDEX wf_instance_status_created ON wf_instance (status, created_at, id);
-- A workflow's runs in one status, newest first (and all of them, one
-- branch per status); also its unfinished runs and the counts per workflow
-- and status.
DROP INDEX wf_instance_list;
CREATE INDEX wf_instance_list ON wf_instance (workflow, status, created_at, id);
-- A run's children, oldest or newest first (child_runs, the parent filter).
DROP INDEX wf_instance_parent;
CREATE INDEX wf_instance_parent ON wf_instance (parent_id, created_at, id)
    WHERE parent_id IS NOT NULL;

-- The per-minute series reads finished runs by when they finished (the
-- index also serves retention); the same index, by the same name, as
-- SQLite's migration 2. Its count of started runs reads the table, as on
-- SQLite: an index by start time would cost every write of a run.
CREATE INDEX wf_instance_finished ON wf_instance (finished_at) WHERE finished_at IS NOT NULL;
