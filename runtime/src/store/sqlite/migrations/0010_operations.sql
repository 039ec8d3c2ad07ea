-- durable's tables on SQLite (version 10): operations on runs.
--
-- When an operator paused the run (`RunHandle::pause`), ms since the epoch;
-- NULL for a run that is not paused. A paused run keeps its status: a claim
-- skips it (so it starts no step) until `RunHandle::resume` sets this back to
-- NULL, and its deadline still applies (maintenance times it out).
ALTER TABLE wf_instance ADD COLUMN paused_at INTEGER;

-- The run this one was forked from (`Engine::fork`: a new run that keeps
-- the source's journal up to a step and runs from there), and that step's
-- name; both NULL for a run that is not a fork.
ALTER TABLE wf_instance ADD COLUMN forked_from TEXT;
ALTER TABLE wf_instance ADD COLUMN forked_from_step TEXT;
