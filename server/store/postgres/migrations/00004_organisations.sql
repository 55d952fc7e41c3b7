-- Organisations and their Data Security and Protection Toolkit status;
-- each user's organisation (empty for users from before organisations).

-- +goose Up
CREATE TABLE organisation (
    ods     text PRIMARY KEY,
    name    text NOT NULL,
    kind    text NOT NULL,
    dspt    text NOT NULL,
    created timestamptz,
    updated timestamptz
);
ALTER TABLE app_user ADD COLUMN org text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE app_user DROP COLUMN org;
DROP TABLE organisation;
