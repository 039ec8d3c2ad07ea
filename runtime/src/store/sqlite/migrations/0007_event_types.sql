-- durable's tables on SQLite (version 7): the typed events of the catalog.
-- An engine that registers a workflow waiting for or publishing a typed
-- event (`#[derive(Event)]`) records the event's JSON Schema here, so an
-- event of that name sent by any process is checked against it before it
-- is stored. JSON is stored as text; times are ms since the epoch.

-- One row per schema of an event name: its name and the fingerprint of the
-- schema (two engines whose types of one name differ record two rows; the
-- most recently seen is the one events are checked against).
CREATE TABLE wf_event_type (
    name         TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    schema       TEXT NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    PRIMARY KEY (name, fingerprint)
);
