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

-- The run lists read newest first by (created_at, id), keyset paged, from
-- an index that ends in those columns: by status, by workflow and status,
-- or by parent. A list without a status reads one branch per status (see
-- reads.rs), so no index by creation time or workflow alone is needed: each
-- index here costs every write of a run. The workflow and status index
-- widens wf_instance_list (still serving unfinished_runs), and the parent
-- index widens wf_instance_parent (still serving cancel trees and
-- child_runs).
CREATE INDEX wf_instance_status_created ON wf_instance (status, created_at, id);
DROP INDEX wf_instance_list;
CREATE INDEX wf_instance_list ON wf_instance (workflow, status, created_at, id);
DROP INDEX wf_instance_parent;
CREATE INDEX wf_instance_parent ON wf_instance (parent_id, created_at, id)
    WHERE parent_id IS NOT NULL;

-- The per-minute series reads finished runs by when they finished (the
-- index also serves retention); runs started in its range are counted by a
-- scan, which costs the operator's read and not every run's first claim.
CREATE INDEX wf_instance_finished ON wf_instance (finished_at) WHERE finished_at IS NOT NULL;
