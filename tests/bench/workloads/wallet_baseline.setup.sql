-- wallet_baseline.setup.sql: plain double-entry tables in schema `plain`,
-- not using the extension, shaped like loyalty's wallet tables
-- (src/wallets.sql) so both sides write rows of the same width and the same
-- index entries:
--   plain.account  one row per account, the columns of loyalty.wallet_part
--                  (balance is its `posted`) and allow_overdraft; the funds
--                  check is CHECK (allow_overdraft OR balance >= 0);
--   plain.xfer     the columns of loyalty.wallet_transfer: bigserial key,
--                  unique key (program_id, ref), the two partial indexes on
--                  pending transfers;
--   plain.entry    the columns of loyalty.wallet_entry, primary key
--                  (account_id, at, xfer_id) as loyalty's.
-- Filled like wallets.psql fills loyalty's: account 0 is the external
-- account (overdraft allowed), accounts 1..:members hold :member_funds each,
-- each funded by one transfer from account 0 with its two entries.  No
-- budget wallet: the baseline is on random rows only.  public.bench_ref
-- numbers refs, as in the loyalty workloads.
\if :{?members}
\else
\set members 100000
\endif
\if :{?member_funds}
\else
\set member_funds 1000000000
\endif
\timing on

CREATE SCHEMA plain;

CREATE TABLE plain.account (
    id              bigint PRIMARY KEY,
    balance         bigint NOT NULL DEFAULT 0,
    pending_debits  bigint NOT NULL DEFAULT 0,
    pending_credits bigint NOT NULL DEFAULT 0,
    debt            bigint NOT NULL DEFAULT 0,
    day             date,
    day_debited     bigint NOT NULL DEFAULT 0,
    allow_overdraft boolean NOT NULL DEFAULT false,
    CHECK (allow_overdraft OR balance >= 0)
);

CREATE TABLE plain.xfer (
    id             bigserial PRIMARY KEY,
    program_id     bigint NOT NULL,
    ref            text NOT NULL,
    kind           text NOT NULL,
    debit_account  bigint NOT NULL,
    credit_account bigint NOT NULL,
    debit_part     int NOT NULL,
    credit_part    int NOT NULL,
    amount         bigint NOT NULL,
    state          text NOT NULL,
    was_pending    boolean NOT NULL,
    pending_until  timestamptz,
    posted_amount  bigint,
    at             timestamptz NOT NULL,
    closed_at      timestamptz,
    UNIQUE (program_id, ref)
);
CREATE INDEX ON plain.xfer (debit_account, at) WHERE was_pending;
CREATE INDEX ON plain.xfer (credit_account, at) WHERE was_pending;

CREATE TABLE plain.entry (
    account_id  bigint NOT NULL,
    at          timestamptz NOT NULL,
    xfer_id     bigint NOT NULL,
    part        int NOT NULL,
    amount      bigint NOT NULL,
    PRIMARY KEY (account_id, at, xfer_id)
);

INSERT INTO plain.account (id, balance, allow_overdraft)
VALUES (0, -(:members::bigint * :member_funds), true);
INSERT INTO plain.account (id, balance)
SELECT g, :member_funds FROM generate_series(1, :members) AS g;

INSERT INTO plain.xfer (id, program_id, ref, kind, debit_account, credit_account, debit_part,
                        credit_part, amount, state, was_pending, posted_amount, at)
SELECT g, 1, 'setup-' || g, 'fund', 0, g, 0, 0, :member_funds, 'posted', false, :member_funds,
       now()
FROM generate_series(1, :members) AS g;
SELECT setval('plain.xfer_id_seq', :members);

INSERT INTO plain.entry (account_id, at, xfer_id, part, amount)
SELECT a, x.at, x.id, 0, CASE WHEN a = 0 THEN -x.amount ELSE x.amount END
FROM plain.xfer x, LATERAL (VALUES (x.debit_account), (x.credit_account)) AS s(a);

CREATE SEQUENCE public.bench_ref;
