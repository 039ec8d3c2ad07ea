-- durable's tables, version 14: what cancels a run of a workflow with
-- `#[workflow(cancel_on(..))]`. Each of its runs records, as it is created,
-- one row per `cancel_on`: the event's name, the path compared ('' without
-- `match`) and the compact JSON of its input's value there ('' too). An
-- event looks up the live rows of its name by the index below. Runs of
-- other workflows write nothing here: `wf_instance.cancel_on` is 0 for
-- them, and the triggers that follow a run's end do nothing for them.
ALTER TABLE wf_instance ADD COLUMN cancel_on INTEGER NOT NULL DEFAULT 0;

CREATE TABLE wf_cancel_on (
    run_id  TEXT NOT NULL,
    event   TEXT NOT NULL,
    path    TEXT NOT NULL,
    value   TEXT NOT NULL,
    -- 1 while the run is unfinished: an ended run leaves the index (a
    -- retried one comes back), so an event never reads the ended runs.
    live    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, event, path)
) WITHOUT ROWID;

CREATE INDEX wf_cancel_on_event ON wf_cancel_on (event, path, value) WHERE live = 1;

CREATE TRIGGER wf_cancel_on_end AFTER UPDATE OF status ON wf_instance
WHEN NEW.cancel_on = 1
    AND (OLD.status IN ('pending', 'running', 'suspended'))
        <> (NEW.status IN ('pending', 'running', 'suspended'))
BEGIN
    UPDATE wf_cancel_on SET live = (NEW.status IN ('pending', 'running', 'suspended'))
    WHERE run_id = NEW.id;
END;

-- Retention deletes a run's rows with it.
CREATE TRIGGER wf_cancel_on_gone AFTER DELETE ON wf_instance
WHEN OLD.cancel_on = 1
BEGIN
    DELETE FROM wf_cancel_on WHERE run_id = OLD.id;
END;
