-- durable's tables on PostgreSQL (version 2): steps and log lines no longer
-- reference their run with a foreign key. Every write of a step or a log
-- line already locks its run's row to check the lease, so the key's own
-- check (another row lock per row) only doubled the cost of the hottest
-- statement; retention deletes a run's steps and log lines with the run.

ALTER TABLE wf_step DROP CONSTRAINT IF EXISTS wf_step_instance_id_fkey;
ALTER TABLE wf_log DROP CONSTRAINT IF EXISTS wf_log_instance_id_fkey;
