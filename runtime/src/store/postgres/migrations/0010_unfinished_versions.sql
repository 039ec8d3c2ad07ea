-- durable's tables on PostgreSQL (version 10): an index of the runs that are
-- not finished by workflow and pinned version, so that the runs no live
-- worker serves (`Engine::unserved_runs`, `RunFilter::unserved`) are counted
-- per workflow and version along the index and listed newest first per
-- status. Partial: a finished run leaves it, so it stays as small as the
-- runs in flight. The same index as SQLite's migration 9.
CREATE INDEX wf_instance_unfinished
    ON wf_instance (workflow, version, status, created_at, id)
    WHERE status IN ('pending', 'running', 'suspended');
