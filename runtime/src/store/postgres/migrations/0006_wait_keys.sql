-- durable's tables on PostgreSQL (version 6): the key a waiting step is
-- found by, so that an event reads only the waiters whose filters it may
-- match rather than every waiter of its name (see store/wait_keys.rs), as
-- SQLite's migration 5 does. jsonb containment cannot be indexed this way
-- round (a GIN index finds rows that contain a value, not rows contained in
-- one), so `$event @> event_filter` alone read every waiter of the name.

-- One (path, scalar) pair of the step's event filter as JSON text, NULL for
-- a filter with none and for every step written before version 6: those
-- are read by event name and their filters checked, as before. Adding a
-- nullable column without a default rewrites no row.
ALTER TABLE wf_step ADD COLUMN wait_key TEXT;

-- Replaces the index by event name alone: an event looks up (name, each of
-- its keys) and (name, NULL), never every waiter of its name.
DROP INDEX wf_step_waiting_event;
CREATE INDEX wf_step_waiting_event ON wf_step (event_name, wait_key)
    WHERE status = 'waiting' AND event_name IS NOT NULL;
