-- The central record's first schema. Every patient-scoped primary key
-- starts with the NHS number, so a table can later be partitioned or
-- distributed by it (Citus: distribution column nhs) without a migration.
-- Text that is ordered is COLLATE "C": the byte order bbolt keeps and the
-- server relies on (documents are built in the byte order of keys).

-- +goose Up
CREATE TABLE kmcr_meta (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch     text    NOT NULL,
    last_seq  bigint  NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

-- Alert numbers have a counter of their own, so audit ingestion does not
-- wait for the change log's lock.
CREATE TABLE alert_counter (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id   bigint  NOT NULL DEFAULT 0
);
INSERT INTO alert_counter DEFAULT VALUES;

-- Named random secrets a node makes on first use (Store.Secret).
CREATE TABLE secret (
    name   text  PRIMARY KEY,
    value  bytea NOT NULL
);

CREATE TABLE app_user (
    name           text COLLATE "C" PRIMARY KEY,
    role           text NOT NULL,
    password_hash  text NOT NULL,
    created        timestamptz
);

CREATE TABLE caseload (
    nhs        text COLLATE "C" NOT NULL,
    user_name  text COLLATE "C" NOT NULL REFERENCES app_user (name),
    added      timestamptz NOT NULL,
    PRIMARY KEY (nhs, user_name)
);
CREATE INDEX caseload_by_user ON caseload (user_name, nhs);

CREATE TABLE objection (
    nhs      text COLLATE "C" NOT NULL,
    purpose  text COLLATE "C" NOT NULL,
    added    timestamptz NOT NULL,
    PRIMARY KEY (nhs, purpose)
);

-- Break-glass relationships; a user need not be known here (the server
-- checks who asks).
CREATE TABLE relationship (
    nhs          text COLLATE "C" NOT NULL,
    user_name    text COLLATE "C" NOT NULL,
    granted      timestamptz,
    expires      timestamptz NOT NULL,
    reason_code  text NOT NULL,
    reason_text  text NOT NULL,
    device       text NOT NULL,
    PRIMARY KEY (nhs, user_name)
);
CREATE INDEX relationship_by_user ON relationship (user_name, nhs);
CREATE INDEX relationship_by_expiry ON relationship (expires);

CREATE TABLE device (
    id                  text COLLATE "C" PRIMARY KEY,
    user_name           text NOT NULL,
    public_key          bytea,
    host                text NOT NULL,
    registered          timestamptz,
    last_seen           timestamptz,
    revoked             boolean NOT NULL DEFAULT false,
    revoked_at          timestamptz,
    refresh_hash        bytea,
    refresh_expires     timestamptz,
    prev_refresh_hash   bytea,
    prev_refresh_until  timestamptz,
    token_gen           bigint NOT NULL DEFAULT 0,
    chain               bytea
);

-- Imported resources are staged under their source patient key: the NHS
-- number is not known until the Patient is read, and one number may merge
-- several sources' keys.
CREATE TABLE resource (
    patient_key  text COLLATE "C" NOT NULL,
    key          text COLLATE "C" NOT NULL,
    full_url     text NOT NULL,
    raw          bytea NOT NULL,
    PRIMARY KEY (patient_key, key)
);

-- Resources every patient may point at (organisations, practitioners).
CREATE TABLE shared_resource (
    key       text COLLATE "C" PRIMARY KEY,
    full_url  text NOT NULL,
    raw       bytea NOT NULL,
    put_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- A hash index: a fullUrl may be longer than a btree entry can hold.
CREATE INDEX shared_resource_by_url ON shared_resource USING hash (full_url);

CREATE TABLE patient_key (
    nhs          text COLLATE "C" NOT NULL,
    patient_key  text COLLATE "C" NOT NULL UNIQUE,
    PRIMARY KEY (nhs, patient_key)
);

CREATE TABLE patient (
    nhs         text COLLATE "C" PRIMARY KEY,
    version     bigint NOT NULL,
    keys        text[],
    doc_hash    bytea,
    sections    text[],
    sensitive   integer NOT NULL DEFAULT 0,
    omitted     jsonb,
    too_large   boolean NOT NULL DEFAULT false,
    updated     timestamptz NOT NULL,
    family      text
);
CREATE INDEX patient_by_family ON patient (family);

-- Documents are the exact bytes the clients receive and hash: bytea (see
-- docs/storage.md for the measurement against jsonb).
CREATE TABLE document (
    nhs   text COLLATE "C" NOT NULL,
    kind  text COLLATE "C" NOT NULL,
    body  bytea NOT NULL,
    PRIMARY KEY (nhs, kind)
);

-- The change log that drives sync; a client's cursor is a seq here.
CREATE TABLE change_log (
    seq        bigint PRIMARY KEY,
    kind       text NOT NULL,
    nhs        text,
    user_name  text,
    device     text,
    reason     text,
    at         timestamptz NOT NULL
);

-- Audit: one receipt per (device, seq) makes ingestion exactly-once
-- across nodes (a partitioned table cannot have a unique key without its
-- partition key); the events themselves are partitioned by the month they
-- were recorded, so old months can be detached and archived whole.
CREATE TABLE audit_receipt (
    device  text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    hash    bytea NOT NULL,
    PRIMARY KEY (device, seq)
);

CREATE TABLE audit_event (
    device     text COLLATE "C" NOT NULL,
    seq        bigint NOT NULL,
    recorded   timestamptz NOT NULL,
    nhs        text COLLATE "C",
    hash       bytea NOT NULL,
    canonical  bytea NOT NULL,
    malformed  boolean NOT NULL DEFAULT false,
    reason     text NOT NULL DEFAULT '',
    PRIMARY KEY (device, seq, recorded)
) PARTITION BY RANGE (recorded);
CREATE INDEX audit_event_by_patient ON audit_event (nhs, recorded, device, seq);

CREATE TABLE audit_conflict (
    device     text COLLATE "C" NOT NULL,
    seq        bigint NOT NULL,
    hash       bytea NOT NULL,
    recorded   timestamptz NOT NULL,
    nhs        text,
    canonical  bytea NOT NULL,
    malformed  boolean NOT NULL DEFAULT false,
    reason     text NOT NULL DEFAULT '',
    PRIMARY KEY (device, seq, hash)
);

CREATE TABLE alert (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,
    device     text,
    user_name  text,
    nhs        text,
    seq        bigint,
    detail     text NOT NULL,
    at         timestamptz NOT NULL
);

-- +goose Down
DROP TABLE alert, audit_conflict, audit_event, audit_receipt, change_log, document, patient,
    patient_key, shared_resource, resource, device, relationship, objection, caseload, app_user,
    secret, alert_counter, kmcr_meta;
