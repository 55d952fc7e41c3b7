-- The patient notification outbox (break-glass and first views by an
-- organisation), claimed atomically by one node at a time, and the email
-- address each patient's notifications go to.

-- +goose Up
CREATE TABLE notification (
    id           text PRIMARY KEY,
    nhs          text NOT NULL,
    kind         text NOT NULL,
    org          text NOT NULL DEFAULT '',
    who          text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL,
    created      timestamptz NOT NULL,
    quiet        boolean NOT NULL DEFAULT false,
    claimed_by   text NOT NULL DEFAULT '',
    claimed_at   timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt timestamptz,
    last_error   text NOT NULL DEFAULT '',
    sent         timestamptz,
    sent_to      text NOT NULL DEFAULT ''
);
CREATE INDEX notification_patient ON notification (nhs, at DESC) WHERE NOT quiet;
CREATE INDEX notification_pending ON notification (created, id) WHERE sent IS NULL AND NOT quiet;
CREATE TABLE contact (
    nhs   text PRIMARY KEY,
    email text NOT NULL
);

-- +goose Down
DROP TABLE contact;
DROP TABLE notification;
