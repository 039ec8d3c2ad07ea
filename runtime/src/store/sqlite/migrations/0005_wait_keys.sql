-- durable's tables, version 5: the key a waiting step is found by, so that
-- an event reads only the waiters whose filters it may match rather than
-- every waiter of its name (see store/wait_keys.rs).

-- One (path, scalar) pair of the step's event filter as JSON text, NULL for
-- a filter with none and for every step written before version 5: those
-- are read by event name and their filters checked one by one, as before,
-- so no waiter written earlier is missed.
ALTER TABLE wf_step ADD COLUMN wait_key TEXT;

-- Replaces the index by event name alone: an event looks up (name, each of
-- its keys) and (name, NULL), never every waiter of its name.
DROP INDEX wf_step_waiting_event;
CREATE INDEX wf_step_waiting_event ON wf_step (event_name, wait_key)
    WHERE status = 'waiting' AND event_name IS NOT NULL;
