-- durable's tables, version 13: the index of running runs by workflow and
-- concurrency key holds only runs with a key. Every run of every workflow
-- entered it at its claim and left it at its end, most of them of
-- workflows without a limit, which never count it (W1 ran about 10%
-- slower with it on PostgreSQL); a workflow limited as a whole (key '')
-- counts its few running runs through the index of workflow and status.
DROP INDEX wf_instance_slots;
CREATE INDEX wf_instance_slots ON wf_instance (workflow, concurrency_key)
    WHERE status = 'running' AND concurrency_key <> '';
