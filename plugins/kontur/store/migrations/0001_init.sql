-- Documents a caller uploaded for signing (or encrypted content for
-- decryption), keyed by account, target and document id.
CREATE TABLE contents (
    account_id  text        NOT NULL,
    target      text        NOT NULL,
    document_id text        NOT NULL,
    name        text        NOT NULL DEFAULT '',
    size        bigint      NOT NULL,
    sha256      bytea       NOT NULL,
    data        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target, document_id)
);

-- One cloud-sign or cloud-decrypt request and its task. request-id is what
-- the caller confirms with a code, task-id what it polls.
CREATE TABLE requests (
    id            uuid        PRIMARY KEY,
    task_id       uuid        NOT NULL UNIQUE,
    account_id    text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('sign', 'decrypt')),
    target        text        NOT NULL,
    lock_scope    text        NOT NULL,
    key_uri       text        NOT NULL,
    confirm_type  text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('awaiting-code', 'running', 'succeed', 'failed')),
    code_salt     bytea,
    code_hash     bytea,
    attempts      int         NOT NULL DEFAULT 0,
    expires_at    timestamptz NOT NULL,
    lease_owner   text,
    lease_until   timestamptz,
    error_id      text,
    error_message text,
    options       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- At most one active request per lock scope (a docflow's replies, a
-- draft, a docflow's decryptions): the database enforces the 409 across
-- every replica.
CREATE UNIQUE INDEX requests_one_active ON requests (lock_scope)
    WHERE state IN ('awaiting-code', 'running');
CREATE INDEX requests_leases ON requests (lease_until) WHERE state = 'running';

-- What a finished task produced: one signature per document, or the
-- plaintext of a decryption.
CREATE TABLE results (
    task_id     uuid  NOT NULL REFERENCES requests (task_id),
    document_id text  NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (task_id, document_id)
);

-- Codes in clear, written only when the test-tools endpoint is enabled.
CREATE TABLE test_codes (
    request_id uuid PRIMARY KEY REFERENCES requests (id),
    code       text NOT NULL
);

-- The hash-chained journal: every record's hash covers the previous one.
CREATE TABLE journal (
    seq        bigint      PRIMARY KEY,
    at         timestamptz NOT NULL,
    replica    text        NOT NULL,
    event      text        NOT NULL,
    account_id text        NOT NULL,
    request_id text        NOT NULL,
    detail     text        NOT NULL, -- the exact JSON the hash covers
    prev_hash  bytea       NOT NULL,
    hash       bytea       NOT NULL
);
