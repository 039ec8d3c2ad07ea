-- durable's tables, version 12: debounce and throttle, decided when a run
-- is triggered. Runs of other workflows leave the columns NULL and enter
-- neither index.

-- A debounced run: the value of its debounce key, and when its first
-- trigger came (its start is bounded by that plus `max_wait`).
ALTER TABLE wf_instance ADD COLUMN debounce_key TEXT;
ALTER TABLE wf_instance ADD COLUMN debounce_first_at INTEGER;
-- A throttled run: the value of its throttle key, and the start it was
-- scheduled for (`ready_at` changes when it is claimed; this does not).
ALTER TABLE wf_instance ADD COLUMN throttle_key TEXT;
ALTER TABLE wf_instance ADD COLUMN throttle_start_at INTEGER;

-- At most one run of a debounce key has not started: the one its triggers
-- join. A claim takes it out of the index (it is no longer pending with no
-- execution), and the next trigger creates the next run.
CREATE UNIQUE INDEX wf_instance_debounce ON wf_instance (workflow, debounce_key)
    WHERE debounce_key IS NOT NULL AND status = 'pending' AND executions = 0;

-- The scheduled starts of a throttle key, latest first, for the next
-- trigger's window.
CREATE INDEX wf_instance_throttle ON wf_instance (workflow, throttle_key, throttle_start_at)
    WHERE throttle_key IS NOT NULL;
