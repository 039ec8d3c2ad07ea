-- durable's tables on PostgreSQL (version 10): priorities and concurrency
-- limits, the same columns and indexes as SQLite's migration 9. Claims take
-- due runs by priority (higher first), then in trigger order; a workflow
-- with a concurrency limit has at most that many runs of one key running,
-- counted by claims that hold the workflow's advisory lock.

-- The run's priority (`TriggerOptions::priority`); 0 for every run written
-- before version 10.
ALTER TABLE wf_instance ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

-- The run's concurrency key: the compact JSON of the value its workflow's
-- key names in its input (e.g. '"c-42"'), computed when it was triggered;
-- '' for a workflow limited as a whole, or not limited.
ALTER TABLE wf_instance ADD COLUMN concurrency_key TEXT NOT NULL DEFAULT '';

-- Due runs by priority and then by ready time: a claim reads each
-- priority's due runs in order, without sorting.
CREATE INDEX wf_instance_queue
    ON wf_instance (priority, ready_at) WHERE status IN ('pending', 'suspended');

-- The running runs of a workflow and key, which a claim counts against
-- the workflow's limit.
CREATE INDEX wf_instance_slots
    ON wf_instance (workflow, concurrency_key) WHERE status = 'running';
