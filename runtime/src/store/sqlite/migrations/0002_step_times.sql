-- durable's tables, version 2: when each step started and ended, the event
-- that settled a waiting step, and the indexes of the operator's lists.

-- When the step's first attempt started, and when it completed or failed
-- (ms); steps recorded before version 2 take their creation and last write.
ALTER TABLE wf_step ADD COLUMN started_at INTEGER;
ALTER TABLE wf_step ADD COLUMN ended_at INTEGER;
-- The wf_event id that completed a waiting step (an event or a signal).
-- Not a foreign key: old events are deleted, the steps they settled stay.
ALTER TABLE wf_step ADD COLUMN settled_by_event INTEGER;
UPDATE wf_step SET started_at = created_at,
    ended_at = CASE WHEN status IN ('completed', 'failed') THEN updated_at END;
CREATE INDEX wf_step_settled_by_event ON wf_step (settled_by_event)
    WHERE settled_by_event IS NOT NULL;

-- The run lists read newest first by (created_at, id), keyset paged: one
-- index per filter they narrow by. The workflow and status index widens
-- wf_instance_list (still serving unfinished_runs), and the parent index
-- widens wf_instance_parent (still serving cancel trees and child_runs).
CREATE INDEX wf_instance_created ON wf_instance (created_at, id);
CREATE INDEX wf_instance_status_created ON wf_instance (status, created_at, id);
CREATE INDEX wf_instance_workflow_created ON wf_instance (workflow, created_at, id);
DROP INDEX wf_instance_list;
CREATE INDEX wf_instance_list ON wf_instance (workflow, status, created_at, id);
DROP INDEX wf_instance_parent;
CREATE INDEX wf_instance_parent ON wf_instance (parent_id, created_at, id)
    WHERE parent_id IS NOT NULL;

-- The per-minute series reads runs by when they first started and when they
-- finished (the finish index also serves retention).
CREATE INDEX wf_instance_started ON wf_instance (started_at) WHERE started_at IS NOT NULL;
CREATE INDEX wf_instance_finished ON wf_instance (finished_at) WHERE finished_at IS NOT NULL;
