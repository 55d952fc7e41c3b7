-- A patient whose Patient resource is restricted, or whose documents no
-- client could store: offered to no device (store.PatientMeta).

-- +goose Up
ALTER TABLE patient
    ADD COLUMN restricted boolean NOT NULL DEFAULT false,
    ADD COLUMN unstorable boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE patient DROP COLUMN unstorable, DROP COLUMN restricted;
