-- durable's tables on SQLite (version 10): operations on runs.
--
-- When an operator paused the run (`RunHandle::pause`), ms since the epoch;
-- NULL for a run that is not paused. A paused run keeps its status: a claim
-- skips it (so it starts no step) until `RunHandle::resume` sets this back to
-- NULL, and its deadline still applies (maintenance times it out).
ALTER TABLE wf_instance ADD COLUMN paused_at INTEGER;

