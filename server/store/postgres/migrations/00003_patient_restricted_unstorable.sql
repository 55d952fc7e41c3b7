-- A patient whose record is restricted (no offline copy), and one whose
-- documents could not be stored whole.

-- +goose Up
ALTER TABLE patient
    ADD COLUMN restricted boolean NOT NULL DEFAULT false,
    ADD COLUMN unstorable boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE patient DROP COLUMN unstorable, DROP COLUMN restricted;
