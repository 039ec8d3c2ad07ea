-- durable's tables on PostgreSQL, version 17: the same column as SQLite's
-- migration 15. The catalog records each workflow version's flow control
-- (concurrency limit, debounce, throttle and cancel_on), so that a process
-- which knows a workflow only from the catalog (a client engine, a
-- standalone console, the CLI) triggers its runs with their key, their
-- debounce or throttle and their cancel_on rows, as an engine that
-- registers it does. One JSON object, its members left out when not
-- declared; versions recorded before version 17 read as '{}': no flow
-- control, as a client applied to them before.
ALTER TABLE wf_workflow ADD COLUMN flow_control JSONB NOT NULL DEFAULT '{}'::jsonb;
