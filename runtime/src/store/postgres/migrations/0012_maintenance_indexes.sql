-- durable's tables, version 12: the indexes maintenance reads by, so that
-- its passes cost what they end or delete, not the size of the tables.

-- The waiting runs past their deadline (`time_out_overdue`), read from the
-- earliest deadline on instead of through every waiting run. Only runs
-- with a deadline are in it, and only while they wait.
CREATE INDEX wf_instance_overdue ON wf_instance (deadline_at)
    WHERE status IN ('pending', 'suspended') AND deadline_at IS NOT NULL;

-- The events past their retention period, read from the oldest on instead
-- of through every event.
CREATE INDEX wf_event_created ON wf_event (created_at);
