-- durable's tables on PostgreSQL (version 15): named queues, the same
-- columns as SQLite's migration 13. A run waits in a queue (its workflow's
-- `#[workflow(queue = "..")]`, or the one its parent sent it to with
-- `ctx.invoke(..).queue("..")`), and only engines serving that queue
-- (`EngineBuilder::queues`) claim it. Every run written before version 15
-- is in the queue 'default', which is what every engine served. A column
-- with a constant default is added without rewriting the table.
--
-- The claim's indexes stay as they are: the queue is one more condition on
-- the rows the claim reads along the queue index (by priority, then ready
-- time), as the workflow's name is; an engine serving only 'default' reads
-- the rows it read before.

ALTER TABLE wf_instance ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';

-- The queue of a workflow's runs, so that a process that knows a workflow
-- only from the catalog triggers its runs into the right queue.
ALTER TABLE wf_workflow ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';

-- The queues a worker serves, so that a reader can tell a run waiting in
-- a queue no live worker serves.
ALTER TABLE wf_worker ADD COLUMN queues JSONB NOT NULL DEFAULT '["default"]';
