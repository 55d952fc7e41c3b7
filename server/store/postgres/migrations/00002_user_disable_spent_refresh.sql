-- Accounts an admin can disable, and a password's last change; a
-- device's spent refresh credentials (replay detection).

-- +goose Up
ALTER TABLE app_user
    ADD COLUMN disabled boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN password_changed timestamptz;
ALTER TABLE device ADD COLUMN spent_refresh bytea[];

-- +goose Down
ALTER TABLE device DROP COLUMN spent_refresh;
ALTER TABLE app_user DROP COLUMN password_changed, DROP COLUMN disabled_at, DROP COLUMN disabled;
