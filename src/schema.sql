-- schema.sql: roles, tables and sequences that every other part uses.
--
-- Layout rule (docs/operations.md, "Scale-out"): every member-owned table
-- carries member_id first in its primary key so it can be distributed and
-- co-located by member; programme catalogues are small reference tables;
-- the customer-key directory is keyed by (external_id, program_id).

-- Refuse a schema "loyalty" that another role created beforehand: its owner
-- could drop or add objects among the extension's.
DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
               WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@'
                 AND n.nspowner OPERATOR(pg_catalog.<>)
                     (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)) THEN
        RAISE EXCEPTION 'schema "@extschema@" already exists and is owned by another role'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'Drop that schema, or create the extension as its owner.';
    END IF;
END
$guard$;

-- Group roles are cluster-wide: create them when missing, never drop them.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'loyalty_reader') THEN
        CREATE ROLE loyalty_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'loyalty_app') THEN
        CREATE ROLE loyalty_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'loyalty_admin') THEN
        CREATE ROLE loyalty_admin NOLOGIN;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA @extschema@ TO loyalty_reader, loyalty_app, loyalty_admin;

-- Programmes ----------------------------------------------------------------

-- Explicit sequences (not identity columns) so pg_dump keeps their positions.
CREATE SEQUENCE @extschema@.program_id_seq;
CREATE SEQUENCE @extschema@.job_run_id_seq;
CREATE SEQUENCE @extschema@.audit_id_seq;

CREATE TABLE @extschema@.program (
    program_id  bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.program_id_seq'),
    code        text NOT NULL UNIQUE CHECK (code OPERATOR(pg_catalog.<>) ''),
    name        text NOT NULL,
    currency    text NOT NULL CHECK (currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$'),
    -- every settings key, defaults filled in (programs.sql validates them)
    settings    jsonb NOT NULL,
    -- bumped by every definition change (rules, tiers): backends reload
    -- their cached definitions when it moves (rules.c)
    definitions_version bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.program IS 'One loyalty scheme (a brand or a shop); everything else belongs to one programme.';

-- Members -------------------------------------------------------------------

-- Generated member ids (settings.member_ids = 'generated').
CREATE SEQUENCE @extschema@.member_id_seq;

-- The customer-key directory: the one lookup not keyed by member id.
CREATE TABLE @extschema@.customer_key (
    external_id text NOT NULL,
    program_id  bigint NOT NULL REFERENCES @extschema@.program,
    member_id   bigint NOT NULL,
    PRIMARY KEY (external_id, program_id)
);
COMMENT ON TABLE @extschema@.customer_key IS 'The application''s customer key (external_id) to member id, per programme.';

-- No foreign key on program_id: every ledger write updates this row, and a
-- foreign key re-checks the programme (a query) whenever the row was last
-- written by the same transaction, as an order's payment and completion in
-- one transaction do.  Programmes are never deleted (no function does).
CREATE TABLE @extschema@.member (
    member_id       bigint PRIMARY KEY,
    program_id      bigint NOT NULL,
    external_id     text NOT NULL,
    joined_at       timestamptz NOT NULL,
    birthday        date,
    attrs           jsonb NOT NULL DEFAULT '{}',
    -- Booked state, always equal to what the ledger says (verify() checks):
    booked          bigint NOT NULL DEFAULT 0,      -- sum of points_entry.points
    debt            bigint NOT NULL DEFAULT 0,      -- never negative (verify() checks)
    lifetime_earned bigint NOT NULL DEFAULT 0,
    last_entry_at   timestamptz,                    -- latest entry instant
    -- Read cache: the effective balance is cache_available for every instant
    -- in [last_entry_at, cache_until); outside it, ledger.c recomputes.
    cache_until     timestamptz NOT NULL DEFAULT 'infinity',
    cache_available bigint NOT NULL DEFAULT 0,
    -- Current tier (tiers.c); its history is in tier_history.
    tier            text,
    tier_since      timestamptz
);
-- No index on program_id: only administrative statements (update_program,
-- verify, reports) look members up by programme, while every ledger write
-- updates the row and would open (and lock) the index.
COMMENT ON TABLE @extschema@.member IS 'A member of one programme, with the booked balance cached from its ledger.';

CREATE TABLE @extschema@.member_tag (
    member_id bigint NOT NULL REFERENCES @extschema@.member,
    tag       text NOT NULL CHECK (tag OPERATOR(pg_catalog.<>) ''),
    tagged_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (member_id, tag)
);
COMMENT ON TABLE @extschema@.member_tag IS 'Tags on members (for audiences and reports).';

-- Points ledger -------------------------------------------------------------

CREATE SEQUENCE @extschema@.entry_id_seq;

-- Append-only: one row per change of a member's points.  A lot is created by
-- the entry whose id it carries; lots[] / lot_points[] say how the entry moved
-- each lot's remainder, so every lot's remainder is the sum of its moves.
--
-- The ledger tables (and the member's ledger columns) carry no foreign key
-- to member and no CHECK constraint: only the extension writes them, always
-- after locking the member row, and each would cost every write a query or
-- an expression parse (PostgreSQL re-reads CHECK expressions for every
-- statement).  verify() checks that every row has its member and a known
-- operation, that no lot is below zero or above its points, and that no
-- debt is negative.
CREATE TABLE @extschema@.points_entry (
    member_id   bigint NOT NULL,
    entry_id    bigint NOT NULL,
    at          timestamptz NOT NULL,
    operation   text NOT NULL,   -- earn spend reverse adjust transfer expire settle
    points      bigint NOT NULL,                 -- signed change of the booked balance
    source      text NOT NULL,
    ref         text NOT NULL,
    reverses    bigint,                          -- reverse: the entry it undoes
    covers      bigint,                          -- reverse: how much of it this undoes
    debt_delta  bigint NOT NULL DEFAULT 0,       -- change of the member's debt
    counterparty bigint,                         -- transfer: the other member
    qualifying  boolean NOT NULL DEFAULT false,  -- counts towards tiers
    lots        bigint[] NOT NULL DEFAULT '{}',
    lot_points  bigint[] NOT NULL DEFAULT '{}',
    detail      jsonb,
    booked_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (member_id, entry_id)
);
-- Idempotency key of SPEC section 1 (reverse is keyed by the entry it undoes).
CREATE UNIQUE INDEX points_entry_key ON @extschema@.points_entry (member_id, operation, source, ref)
    WHERE operation OPERATOR(pg_catalog.=) ANY (ARRAY['earn','spend','adjust','transfer']);
CREATE INDEX points_entry_reverses ON @extschema@.points_entry (member_id, reverses)
    WHERE reverses IS NOT NULL;
-- No index on at: points_daily reads the whole ledger anyway, and each
-- index costs every entry a lock and an insertion.
COMMENT ON TABLE @extschema@.points_entry IS 'The points ledger: append-only; a member''s booked balance is the sum of its points.';

CREATE TABLE @extschema@.points_lot (
    member_id       bigint NOT NULL,
    lot_id          bigint NOT NULL,             -- from entry_id_seq; the creating entry lists it in lots[]
    points          bigint NOT NULL,             -- > 0
    remaining       bigint NOT NULL,             -- 0 <= remaining (verify() checks both)
    created_at      timestamptz NOT NULL,
    available_at    timestamptz NOT NULL,        -- 'infinity': pending
    expires_at      timestamptz,                 -- NULL: never
    qualifying_from timestamptz,                 -- counts towards tiers from then (NULL: never)
    -- points given back (spend reversal) after the lot expired: expired again
    -- at once, booked by the next run_expiry as of late_returned_at
    late_returned   bigint NOT NULL DEFAULT 0,
    late_returned_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (member_id, lot_id)
)
-- A pending lot is updated when its order completes (available_at): room
-- kept free in its page makes that update HOT.  (Updates of remaining are
-- never HOT: the partial indexes below name it.)
WITH (fillfactor = 85);
CREATE INDEX points_lot_open ON @extschema@.points_lot (member_id) WHERE remaining OPERATOR(pg_catalog.>) 0;
-- run_expiry walks members in id order through this one.
CREATE INDEX points_lot_expiring ON @extschema@.points_lot (member_id, expires_at)
    WHERE remaining OPERATOR(pg_catalog.>) 0 AND expires_at IS NOT NULL;
COMMENT ON TABLE @extschema@.points_lot IS 'Points held in lots: each with its availability and expiry; remaining is what is left.';

-- Jobs and audit --------------------------------------------------------------

CREATE TABLE @extschema@.job_run (
    run_id        bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.job_run_id_seq'),
    job           text NOT NULL,
    as_of         timestamptz NOT NULL,
    batch_size    int NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at   timestamptz,
    state         text NOT NULL DEFAULT 'running'
                  CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['running','done','failed'])),
    single_transaction boolean NOT NULL DEFAULT false,
    batches       int NOT NULL DEFAULT 0,
    items         bigint NOT NULL DEFAULT 0,     -- lots, members, coupons: what the job books
    amount        bigint NOT NULL DEFAULT 0,     -- points (or money) booked
    pid           int NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    backend_start timestamptz,
    run_by        name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE @extschema@.job_run IS 'One row per batch-job run; updated after every committed batch (read it through the job_runs view).';

CREATE TABLE @extschema@.audit_log (
    audit_id   bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.audit_id_seq'),
    at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    role_name  name NOT NULL,
    program_id bigint,
    action     text NOT NULL,
    object     text,
    detail     jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE @extschema@.audit_log IS 'Every administrative change, with the calling role and time.';

-- Keep all rows in pg_dump (the extension's tables are otherwise not dumped).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.program', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customer_key', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.member', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.member_tag', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_entry', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.points_lot', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.member_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.entry_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.program_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.job_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_id_seq', '');
