-- The banner's birth date and postcode of a patient, for the break-glass
-- trace by family name and date of birth.

-- +goose Up
ALTER TABLE patient
    ADD COLUMN birth text,
    ADD COLUMN postcode text;
CREATE INDEX patient_by_trace ON patient (family, birth) WHERE NOT restricted AND NOT unstorable;

-- +goose Down
DROP INDEX patient_by_trace;
ALTER TABLE patient DROP COLUMN postcode, DROP COLUMN birth;
