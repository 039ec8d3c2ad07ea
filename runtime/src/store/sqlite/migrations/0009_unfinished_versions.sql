-- durable's tables on SQLite (version 9): an index of the runs that are not
-- finished by workflow and pinned version, so that the runs no live worker
-- serves (`Engine::unserved_runs`, `RunFilter::unserved`) are counted per
-- workflow and version along the index, without reading a run's row, and
-- listed newest first per status. Partial: a finished run leaves it, so it
-- stays as small as the runs in flight.
CREATE INDEX wf_instance_unfinished
    ON wf_instance (workflow, version, status, created_at, id)
    WHERE status IN ('pending', 'running', 'suspended');
