-- durable's tables on SQLite (version 3): the catalog. Every engine records
-- the workflow versions it serves and itself, so a process with only the
-- database reads which workflows exist, their schemas and step manifests,
-- and who serves them. JSON is stored as text; times are ms since the epoch.

-- One row per version of a workflow: its name and the fingerprint of its
-- steps and schemas.
CREATE TABLE wf_workflow (
    name          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    input_schema  TEXT NOT NULL,
    output_schema TEXT,
    -- The steps the macro found, in source order: name, kind, keyed,
    -- options, fan-out parent, source line.
    manifest      TEXT NOT NULL,
    timeout_ms    INTEGER,
    cron          TEXT,
    timezone      TEXT,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    PRIMARY KEY (name, fingerprint)
);

-- One row per running engine, removed when it stops.
CREATE TABLE wf_worker (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,
    -- The versions it serves: a JSON array of {"name", "fingerprint"}.
    workflows     TEXT NOT NULL
);
