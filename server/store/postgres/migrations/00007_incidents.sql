-- Dispatch incidents, their grants, dispatch systems' credentials, and the
-- patients' current addresses for finding who is recorded at an address.

-- +goose Up
CREATE TABLE incident (
    id      text COLLATE "C" PRIMARY KEY,
    body    jsonb NOT NULL,
    expires timestamptz NOT NULL
);
CREATE TABLE incident_grant (
    user_name text COLLATE "C" NOT NULL,
    nhs       text COLLATE "C" NOT NULL,
    incident  text COLLATE "C" NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    expires   timestamptz NOT NULL,
    PRIMARY KEY (user_name, nhs, incident)
);
CREATE TABLE dispatcher (
    name        text COLLATE "C" PRIMARY KEY,
    secret_hash bytea NOT NULL,
    created     timestamptz NOT NULL
);
ALTER TABLE patient ADD COLUMN addresses jsonb;
ALTER TABLE patient ADD COLUMN postcodes text[];
CREATE INDEX patient_by_postcode ON patient USING gin (postcodes);

-- +goose Down
DROP INDEX patient_by_postcode;
ALTER TABLE patient DROP COLUMN postcodes;
ALTER TABLE patient DROP COLUMN addresses;
DROP TABLE dispatcher;
DROP TABLE incident_grant;
DROP TABLE incident;
