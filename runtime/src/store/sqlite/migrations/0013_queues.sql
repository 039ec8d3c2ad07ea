-- durable's tables on SQLite (version 13): named queues. A run waits in a
-- queue (its workflow's `#[workflow(queue = "..")]`, or the one its parent
-- sent it to with `ctx.invoke(..).queue("..")`), and only engines serving
-- that queue (`EngineBuilder::queues`) claim it. Every run written before
-- version 13 is in the queue 'default', which is what every engine served.

ALTER TABLE wf_instance ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';

-- The queue of a workflow's runs, so that a process that knows a workflow
-- only from the catalog triggers its runs into the right queue.
ALTER TABLE wf_workflow ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';

-- The queues a worker serves (a JSON array), so that a reader can tell a
-- run waiting in a queue no live worker serves.
ALTER TABLE wf_worker ADD COLUMN queues TEXT NOT NULL DEFAULT '["default"]';
