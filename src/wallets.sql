-- wallets.sql: marketing wallets (SPEC section 7).  Money in bigint minor
-- units, kept by double entry: every posted transfer writes one debit and one
-- credit entry.  Transfers, posting, voiding and balances are C
-- (src/wallets.c); opening wallets, their rules, grants and history are here.
--
-- A wallet's balance lives in wallet_part rows.  A member's wallet has one
-- (part 0).  A programme wallet is split into escrow parts (docs/wallets.md):
-- part 0 is its reserve, which fund_wallet credits, and parts 1..n each hold
-- a slice of the money that debits and credits touch, so concurrent
-- cashbacks from one budget wallet lock different rows.  A part that runs
-- short refills from the reserve, then from sibling parts it can lock
-- without waiting.  No part of a wallet without allow_overdraft ever goes
-- below zero, so neither does the wallet.

CREATE SEQUENCE @extschema@.wallet_id_seq;
CREATE SEQUENCE @extschema@.transfer_id_seq;

CREATE TABLE @extschema@.wallet (
    wallet_id         bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.wallet_id_seq'),
    program_id        bigint NOT NULL REFERENCES @extschema@.program,
    name              text NOT NULL CHECK (name OPERATOR(pg_catalog.<>) ''),
    currency          text NOT NULL CHECK (currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$'),
    owner_member      bigint,                     -- NULL: a programme wallet
    -- member, program, external (where fund_wallet money comes from) or
    -- revenue (what members pay at checkout)
    role              text NOT NULL CHECK (role OPERATOR(pg_catalog.=) ANY (ARRAY['member','program','external','revenue'])),
    rules             jsonb NOT NULL DEFAULT '{}',  -- as given (validated)
    allow_overdraft   boolean NOT NULL DEFAULT false,
    max_transfer      bigint,
    daily_debit_limit bigint,
    frozen            boolean NOT NULL DEFAULT false,
    escrow_parts      int NOT NULL DEFAULT 0,      -- parts besides the reserve (part 0)
    opened_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (program_id, name)
);
CREATE INDEX wallet_owner ON @extschema@.wallet (owner_member, currency) WHERE owner_member IS NOT NULL;
COMMENT ON TABLE @extschema@.wallet IS 'Marketing wallets: a member''s stored value, or a programme''s budget, revenue or external account.';

-- The booked balance of a wallet is the sum of its parts' posted, which
-- always equals the sum of its entries (verify() checks).  No CHECK
-- constraints here, as on the points ledger: only wallets.c writes these rows.
CREATE TABLE @extschema@.wallet_part (
    wallet_id       bigint NOT NULL,
    part            int NOT NULL,
    posted          bigint NOT NULL DEFAULT 0,
    pending_debits  bigint NOT NULL DEFAULT 0,   -- held by pending transfers out
    pending_credits bigint NOT NULL DEFAULT 0,   -- pending transfers in
    debt            bigint NOT NULL DEFAULT 0,   -- part 0 of member wallets: what it owes (wallet_debt)
    day             date,                        -- daily_debit_limit: the programme day counted
    day_debited     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (wallet_id, part)
);
COMMENT ON TABLE @extschema@.wallet_part IS 'A wallet''s balance: one row (part 0), or a reserve and escrow parts for a programme wallet.';

CREATE TABLE @extschema@.wallet_transfer (
    transfer_id    bigint PRIMARY KEY DEFAULT pg_catalog.nextval('@extschema@.transfer_id_seq'),
    program_id     bigint NOT NULL,
    ref            text NOT NULL,
    kind           text NOT NULL,
    debit_wallet   bigint NOT NULL,
    credit_wallet  bigint NOT NULL,
    debit_part     int NOT NULL,
    credit_part    int NOT NULL,
    amount         bigint NOT NULL,
    state          text NOT NULL,                -- posted, pending, voided
    was_pending    boolean NOT NULL,
    pending_until  timestamptz,                  -- pending: holds funds until then (NULL: until closed)
    posted_amount  bigint,                       -- posted: what moved (a pending transfer may post part)
    at             timestamptz NOT NULL,
    closed_at      timestamptz,                  -- posted or voided, for a pending transfer
    CONSTRAINT wallet_transfer_ref_key UNIQUE (program_id, ref)
);
-- Holds of pending transfers, read by wallet_balance(at) and voided lazily.
CREATE INDEX wallet_transfer_pending_debit ON @extschema@.wallet_transfer (debit_wallet, at) WHERE was_pending;
CREATE INDEX wallet_transfer_pending_credit ON @extschema@.wallet_transfer (credit_wallet, at) WHERE was_pending;
COMMENT ON TABLE @extschema@.wallet_transfer IS 'Money moved (or held) between two wallets of one programme and currency; idempotent on (programme, ref).';

-- Append-only: one row per wallet per posted transfer (the debit negative,
-- the credit positive).  Keyed by time so that wallet_balance(at) and
-- wallet_history read one index range.
CREATE TABLE @extschema@.wallet_entry (
    wallet_id    bigint NOT NULL,
    at           timestamptz NOT NULL,
    transfer_id  bigint NOT NULL,
    part         int NOT NULL,
    amount       bigint NOT NULL,
    PRIMARY KEY (wallet_id, at, transfer_id)
);
COMMENT ON TABLE @extschema@.wallet_entry IS 'The wallet ledger: double entry, append-only; a wallet''s booked balance is the sum of its amounts.';

-- What a member's wallet owes a programme wallet: cashback reversed after
-- the member spent it.  Paid first out of the wallet's next credits.
CREATE TABLE @extschema@.wallet_debt (
    wallet_id    bigint NOT NULL,
    creditor     bigint NOT NULL,
    amount       bigint NOT NULL,
    since        timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, creditor)
);
COMMENT ON TABLE @extschema@.wallet_debt IS 'Wallet debt: reversed cashback a member had already spent, owed to the wallet that paid it.';

CREATE TABLE @extschema@.wallet_grant (
    wallet_id  bigint NOT NULL REFERENCES @extschema@.wallet,
    role_name  name NOT NULL,
    privilege  text NOT NULL CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['debit','credit','view'])),
    granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (wallet_id, role_name, privilege)
);
COMMENT ON TABLE @extschema@.wallet_grant IS 'Who besides administrators may debit, credit or view a programme wallet.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet_part', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet_transfer', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet_entry', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet_debt', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet_grant', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallet_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.transfer_id_seq', '');

-- Rules ------------------------------------------------------------------------

-- Validate a rules object and merge it into `current`; JSON null resets a key.
CREATE FUNCTION @extschema@._wallet_rules_merge(current jsonb, changes jsonb, is_member boolean)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
    result jsonb := current;
BEGIN
    IF changes IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'rules must not be NULL';
    END IF;
    IF jsonb_typeof(changes) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('wallet rules must be a JSON object, got %s', jsonb_typeof(changes));
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(changes) AS e LOOP
        IF jsonb_typeof(v) = 'null' THEN
            result := result - k;
            CONTINUE;
        END IF;
        CASE k
        WHEN 'allow_overdraft', 'frozen' THEN
            IF jsonb_typeof(v) <> 'boolean' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('wallet rule "%s" must be true or false, got %s', k, v);
            END IF;
        WHEN 'max_transfer', 'daily_debit_limit' THEN
            IF NOT @extschema@._is_int_between(v, 1, 9223372036854775807) THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('wallet rule "%s" must be a positive integer amount in minor units, got %s', k, v);
            END IF;
        WHEN 'escrow_parts' THEN
            IF NOT @extschema@._is_int_between(v, 0, 256) THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = format('wallet rule "escrow_parts" must be an integer from 0 to 256, got %s', v);
            END IF;
            IF is_member AND (v #>> '{}')::int > 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = 'wallet rule "escrow_parts" is for programme wallets',
                    DETAIL = 'A member''s wallet is one row: its debits do not contend with other members''.';
            END IF;
        ELSE
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('unknown wallet rule "%s"', k),
                HINT = 'Known rules: allow_overdraft, daily_debit_limit, escrow_parts, frozen, max_transfer.';
        END CASE;
        result := result || jsonb_build_object(k, v);
    END LOOP;
    IF COALESCE((result ->> 'escrow_parts')::int, 0) > 0 AND result ? 'daily_debit_limit' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'a wallet split into escrow parts cannot have a daily_debit_limit',
            DETAIL = 'The day''s total would be one row that every debit updates, which is what the parts avoid.',
            HINT = 'Set "escrow_parts": 0 to keep a daily limit on this wallet.';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_rules_merge(jsonb, jsonb, boolean) IS 'Internal: validate wallet rules and merge them.';

-- Apply validated rules to the wallet's typed columns and its parts.  The
-- caller holds the wallet row locked.
CREATE FUNCTION @extschema@._wallet_apply_rules(w @extschema@.wallet, rules jsonb, is_new boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts int := COALESCE((rules ->> 'escrow_parts')::int, 0);
    held bigint;
BEGIN
    IF parts < w.escrow_parts THEN
        -- merge the dropped parts into the reserve; they must hold nothing pending
        PERFORM 1 FROM @extschema@.wallet_part p WHERE p.wallet_id = w.wallet_id ORDER BY p.part FOR UPDATE;
        IF EXISTS (SELECT 1 FROM @extschema@.wallet_part p
                   WHERE p.wallet_id = w.wallet_id AND p.part > parts
                     AND (p.pending_debits <> 0 OR p.pending_credits <> 0)) THEN
            RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('wallet %s has pending transfers on the escrow parts to drop', w.wallet_id),
                HINT = 'Post or void them first.';
        END IF;
        SELECT COALESCE(sum(p.posted), 0) INTO held FROM @extschema@.wallet_part p
        WHERE p.wallet_id = w.wallet_id AND p.part > parts;
        DELETE FROM @extschema@.wallet_part p WHERE p.wallet_id = w.wallet_id AND p.part > parts;
        UPDATE @extschema@.wallet_part p SET posted = p.posted + held WHERE p.wallet_id = w.wallet_id AND p.part = 0;
    ELSIF parts > w.escrow_parts THEN
        INSERT INTO @extschema@.wallet_part (wallet_id, part)
        SELECT w.wallet_id, g FROM generate_series(w.escrow_parts + 1, parts) g;
    END IF;
    UPDATE @extschema@.wallet SET
        rules = _wallet_apply_rules.rules,
        allow_overdraft = COALESCE((_wallet_apply_rules.rules ->> 'allow_overdraft')::boolean, false),
        max_transfer = (_wallet_apply_rules.rules ->> 'max_transfer')::bigint,
        daily_debit_limit = (_wallet_apply_rules.rules ->> 'daily_debit_limit')::bigint,
        frozen = COALESCE((_wallet_apply_rules.rules ->> 'frozen')::boolean, false),
        escrow_parts = parts
    WHERE wallet_id = w.wallet_id;
    -- backends re-read the wallet's rules (wallets.c caches them); a new
    -- wallet is in no cache yet, and opening one must not queue on the
    -- programme row
    IF NOT is_new THEN
        UPDATE @extschema@.program SET definitions_version = definitions_version + 1
        WHERE program_id = w.program_id;
        PERFORM @extschema@._settings_changed();
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_apply_rules(@extschema@.wallet, jsonb, boolean) IS 'Internal: store wallet rules and resize its escrow parts.';

-- Open a wallet row with its parts (no checks: callers check).
CREATE FUNCTION @extschema@._wallet_create(program_id bigint, name text, currency text, owner_member bigint,
                                           role text, rules jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w @extschema@.wallet;
BEGIN
    INSERT INTO @extschema@.wallet (program_id, name, currency, owner_member, role)
    VALUES (_wallet_create.program_id, _wallet_create.name, _wallet_create.currency,
            _wallet_create.owner_member, _wallet_create.role)
    RETURNING * INTO w;
    INSERT INTO @extschema@.wallet_part (wallet_id, part) VALUES (w.wallet_id, 0);
    PERFORM @extschema@._wallet_apply_rules(w, rules, true);
    RETURN w.wallet_id;
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_create(bigint, text, text, bigint, text, jsonb) IS 'Internal: insert a wallet and its balance rows.';

-- The programme's external and revenue wallets of a currency, made on first use.
CREATE FUNCTION @extschema@._wallet_system(program_id bigint, currency text, role text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    wname text := role || ':' || currency;
BEGIN
    SELECT w.wallet_id INTO id FROM @extschema@.wallet w
    WHERE w.program_id = _wallet_system.program_id AND w.name = wname;
    IF FOUND THEN
        RETURN id;
    END IF;
    -- two sessions opening the first wallet of a currency: the second waits
    -- for the first (a transaction-level lock on this programme's wallets)
    -- and then finds its wallet
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('loyalty.wallet_system'), program_id::int);
    SELECT w.wallet_id INTO id FROM @extschema@.wallet w
    WHERE w.program_id = _wallet_system.program_id AND w.name = wname;
    IF FOUND THEN
        RETURN id;
    END IF;
    -- the external account is where funded money comes from: it runs negative.
    -- Revenue never refuses a return to a member, and both are split like a
    -- budget wallet because every checkout credits the revenue wallet.
    RETURN @extschema@._wallet_create(_wallet_system.program_id, wname, _wallet_system.currency, NULL, _wallet_system.role,
        CASE role WHEN 'external' THEN '{"allow_overdraft": true}'::jsonb
                  ELSE '{"allow_overdraft": true, "escrow_parts": 16}'::jsonb END);
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_system(bigint, text, text) IS 'Internal: the programme''s external or revenue wallet of a currency.';

-- API -------------------------------------------------------------------------

CREATE FUNCTION @extschema@.open_wallet(program text, name text, currency text, owner_member bigint DEFAULT NULL,
                                        rules jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.open_wallet(text, text, text, bigint, jsonb) IS
    'Open a wallet: a member''s (owner_member) or a programme''s (a budget, split into escrow parts); returns its id.';

CREATE FUNCTION @extschema@._open_wallet(caller oid, program text, name text, currency text, owner_member bigint,
                                         rules jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p @extschema@.program := @extschema@._program_row(program);
    is_admin boolean := @extschema@._is_admin(caller);
    merged jsonb;
    id bigint;
BEGIN
    PERFORM @extschema@._require(name, 'name'), @extschema@._require(currency, 'currency');
    IF name !~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid wallet name "%s"', name),
            DETAIL = 'A wallet name is 1 to 63 letters, digits, "_", ".", "@" or "-", starting with a letter or digit (":" is kept for the programme''s own wallets).';
    END IF;
    IF currency !~ '^[A-Z]{3}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid currency "%s"', currency),
            HINT = 'Use a three-letter ISO 4217 code in capitals, such as CNY or EUR.';
    END IF;
    IF owner_member IS NOT NULL THEN
        PERFORM @extschema@._member_exists(owner_member);
        IF (SELECT m.program_id FROM @extschema@.member m WHERE m.member_id = owner_member) <> p.program_id THEN
            RAISE EXCEPTION USING ERRCODE = 'LY011',
                MESSAGE = format('member %s is not a member of programme "%s"', owner_member, program);
        END IF;
        IF NOT is_admin AND NOT pg_has_role(caller, 'loyalty_app', 'USAGE') THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = 'permission denied to open a member''s wallet',
                HINT = 'Grant loyalty_app or loyalty_admin to the role.';
        END IF;
        IF NOT is_admin AND rules IS DISTINCT FROM '{}'::jsonb THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = 'permission denied to set wallet rules',
                DETAIL = 'Application roles open members'' wallets with the default rules.',
                HINT = 'An administrator can change them with loyalty.set_wallet_rules().';
        END IF;
    ELSIF NOT is_admin THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied to open a programme wallet',
            HINT = 'Grant the role loyalty_admin.';
    END IF;
    merged := @extschema@._wallet_rules_merge(
        CASE WHEN owner_member IS NULL THEN '{"escrow_parts": 16}'::jsonb ELSE '{}'::jsonb END,
        rules, owner_member IS NOT NULL);
    IF EXISTS (SELECT 1 FROM @extschema@.wallet w WHERE w.program_id = p.program_id AND w.name = _open_wallet.name) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('programme "%s" already has a wallet named "%s"', program, name);
    END IF;
    PERFORM @extschema@._wallet_system(p.program_id, currency, 'external'),
            @extschema@._wallet_system(p.program_id, currency, 'revenue');
    id := @extschema@._wallet_create(p.program_id, name, currency, owner_member,
                                     CASE WHEN owner_member IS NULL THEN 'program' ELSE 'member' END, merged);
    IF owner_member IS NULL THEN
        PERFORM @extschema@._audit(caller, p.program_id, 'open_wallet', name,
                                   jsonb_build_object('wallet', id, 'currency', currency, 'rules', merged));
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION @extschema@._open_wallet(oid, text, text, text, bigint, jsonb) IS 'Internal body of open_wallet.';

-- Is the caller a superuser or a loyalty_admin?
CREATE FUNCTION @extschema@._is_admin(caller oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = caller AND r.rolsuper)
        OR pg_catalog.pg_has_role(caller, 'loyalty_admin', 'USAGE')
$$;
COMMENT ON FUNCTION @extschema@._is_admin(oid) IS 'Internal: whether a role is a superuser or has loyalty_admin''s privileges.';

-- The wallet row, locked, or LY024.
CREATE FUNCTION @extschema@._wallet_row(wallet bigint, lock boolean)
RETURNS @extschema@.wallet
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w @extschema@.wallet;
BEGIN
    PERFORM @extschema@._require(wallet, 'wallet');
    IF lock THEN
        SELECT * INTO w FROM @extschema@.wallet x WHERE x.wallet_id = _wallet_row.wallet FOR UPDATE;
    ELSE
        SELECT * INTO w FROM @extschema@.wallet x WHERE x.wallet_id = _wallet_row.wallet;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LY024', MESSAGE = format('wallet %s does not exist', wallet);
    END IF;
    PERFORM @extschema@._require_program(w.program_id);
    RETURN w;
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_row(bigint, boolean) IS 'Internal: a wallet by id, or error LY024.';

CREATE FUNCTION @extschema@.set_wallet_rules(wallet bigint, rules jsonb)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.set_wallet_rules(bigint, jsonb) IS
    'Change a wallet''s rules (allow_overdraft, max_transfer, daily_debit_limit, frozen, escrow_parts); JSON null resets one; audited.';

CREATE FUNCTION @extschema@._set_wallet_rules(caller oid, wallet bigint, rules jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w @extschema@.wallet := @extschema@._wallet_row(wallet, true);
    merged jsonb;
BEGIN
    IF NOT @extschema@._is_admin(caller) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied to change wallet rules', HINT = 'Grant the role loyalty_admin.';
    END IF;
    merged := @extschema@._wallet_rules_merge(w.rules, rules, w.owner_member IS NOT NULL);
    PERFORM @extschema@._wallet_apply_rules(w, merged, false);
    PERFORM @extschema@._audit(caller, w.program_id, 'set_wallet_rules', w.name,
                               jsonb_build_object('wallet', w.wallet_id, 'before', w.rules, 'after', merged));
END
$$;
COMMENT ON FUNCTION @extschema@._set_wallet_rules(oid, bigint, jsonb) IS 'Internal body of set_wallet_rules.';

CREATE FUNCTION @extschema@.grant_wallet(wallet bigint, role name, privilege text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.grant_wallet(bigint, name, text) IS
    'Let a role debit, credit or view a programme wallet (administrators may already); audited.';

CREATE FUNCTION @extschema@._grant_wallet(caller oid, wallet bigint, role name, privilege text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w @extschema@.wallet := @extschema@._wallet_row(wallet, false);
BEGIN
    PERFORM @extschema@._require(role, 'role'), @extschema@._require(privilege, 'privilege');
    IF NOT @extschema@._is_admin(caller) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied to grant wallet privileges', HINT = 'Grant the role loyalty_admin.';
    END IF;
    IF privilege <> ALL (ARRAY['debit','credit','view']) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('unknown wallet privilege "%s"', privilege),
            HINT = 'Use debit, credit or view.';
    END IF;
    PERFORM @extschema@._role_named(role);   -- 42704 if there is none
    INSERT INTO @extschema@.wallet_grant (wallet_id, role_name, privilege)
    VALUES (w.wallet_id, role, privilege) ON CONFLICT DO NOTHING;
    PERFORM @extschema@._audit(caller, w.program_id, 'grant_wallet', w.name,
                               jsonb_build_object('wallet', w.wallet_id, 'role', role, 'privilege', privilege));
END
$$;
COMMENT ON FUNCTION @extschema@._grant_wallet(oid, bigint, name, text) IS 'Internal body of grant_wallet.';

CREATE FUNCTION @extschema@.fund_wallet(wallet bigint, amount bigint, ref text, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_fund_wallet';
COMMENT ON FUNCTION @extschema@.fund_wallet(bigint, bigint, text, timestamptz) IS
    'Move money into a wallet from the programme''s external account; idempotent on ref; returns the transfer id.';

CREATE FUNCTION @extschema@.transfer(debit_wallet bigint, credit_wallet bigint, amount bigint, ref text,
                                     kind text DEFAULT 'transfer', pending boolean DEFAULT false,
                                     pending_timeout interval DEFAULT NULL,
                                     at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_transfer';
COMMENT ON FUNCTION @extschema@.transfer(bigint, bigint, bigint, text, text, boolean, interval, timestamptz) IS
    'Move money between two wallets of one programme and currency (or hold it, pending); idempotent on ref; returns the transfer id.';

CREATE FUNCTION @extschema@.post_transfer(transfer_id bigint, amount bigint DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_post_transfer';
COMMENT ON FUNCTION @extschema@.post_transfer(bigint, bigint, timestamptz) IS
    'Post a pending transfer: all of it (NULL) or part, the rest released; returns the amount posted.';

CREATE FUNCTION @extschema@.void_transfer(transfer_id bigint, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ly_void_transfer';
COMMENT ON FUNCTION @extschema@.void_transfer(bigint, timestamptz) IS
    'Void a pending transfer: its held funds are released.';

CREATE FUNCTION @extschema@.wallet_balance(wallet bigint, at timestamptz DEFAULT now())
RETURNS TABLE(posted bigint, pending_debits bigint, pending_credits bigint, available bigint)
LANGUAGE C STABLE ROWS 1
AS 'MODULE_PATHNAME', 'ly_wallet_balance';
COMMENT ON FUNCTION @extschema@.wallet_balance(bigint, timestamptz) IS
    'A wallet''s posted balance, pending holds in and out, and available (posted - pending debits) at an instant.';

CREATE FUNCTION @extschema@.wallet_history(wallet bigint, since timestamptz DEFAULT NULL, max_rows int DEFAULT 100)
RETURNS TABLE(transfer bigint, at timestamptz, kind text, amount bigint, counterparty bigint, state text, ref text)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.wallet_history(bigint, timestamptz, int) IS
    'A wallet''s transfers, newest first: posted amounts signed from its side, pending and voided holds with their state.';

CREATE FUNCTION @extschema@._wallet_history(caller oid, wallet bigint, since timestamptz, max_rows int)
RETURNS TABLE(transfer bigint, at timestamptz, kind text, amount bigint, counterparty bigint, state text, ref text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    w @extschema@.wallet := @extschema@._wallet_row(wallet, false);
BEGIN
    PERFORM @extschema@._require(max_rows, 'max_rows'), @extschema@._wallet_may(caller, w, 'view');
    IF max_rows < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('max_rows must be positive, got %s', max_rows);
    END IF;
    RETURN QUERY
    SELECT h.transfer_id, h.at, h.kind, h.amount, h.counterparty, h.state, h.ref
    FROM (
        SELECT t.transfer_id, e.at, t.kind, e.amount,
               CASE WHEN t.debit_wallet = w.wallet_id THEN t.credit_wallet ELSE t.debit_wallet END AS counterparty,
               'posted'::text AS state, t.ref
        FROM @extschema@.wallet_entry e
        JOIN @extschema@.wallet_transfer t ON t.transfer_id = e.transfer_id
        WHERE e.wallet_id = w.wallet_id AND (_wallet_history.since IS NULL OR e.at >= _wallet_history.since)
        UNION ALL
        SELECT t.transfer_id, t.at, t.kind,
               CASE WHEN t.debit_wallet = w.wallet_id THEN -t.amount ELSE t.amount END,
               CASE WHEN t.debit_wallet = w.wallet_id THEN t.credit_wallet ELSE t.debit_wallet END,
               CASE WHEN t.state = 'pending' AND t.pending_until <= pg_catalog.now() THEN 'expired' ELSE t.state END,
               t.ref
        FROM @extschema@.wallet_transfer t
        WHERE t.was_pending AND t.state <> 'posted'
          AND (t.debit_wallet = w.wallet_id OR t.credit_wallet = w.wallet_id)
          AND (_wallet_history.since IS NULL OR t.at >= _wallet_history.since)
    ) h
    ORDER BY h.at DESC, h.transfer_id DESC
    LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_history(oid, bigint, timestamptz, int) IS 'Internal body of wallet_history.';

-- Raise 42501 unless `caller` may use `privilege` on wallet `w` (the same
-- rule as wallets.c: administrators always; loyalty_app on members'
-- wallets and, for credits, revenue wallets; otherwise a grant_wallet grant).
CREATE FUNCTION @extschema@._wallet_may(caller oid, w @extschema@.wallet, privilege text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF @extschema@._is_admin(caller) THEN
        RETURN;
    END IF;
    IF (w.role = 'member' OR (w.role = 'revenue' AND privilege = 'credit'))
       AND pg_has_role(caller, 'loyalty_app', 'USAGE') THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.wallet_grant g
               JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name
               WHERE g.wallet_id = w.wallet_id AND g.privilege = _wallet_may.privilege
                 AND pg_has_role(caller, r.oid, 'USAGE')) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('permission denied to %s wallet %s ("%s")', privilege, w.wallet_id, w.name),
        HINT = 'An administrator can allow it with loyalty.grant_wallet().';
END
$$;
COMMENT ON FUNCTION @extschema@._wallet_may(oid, @extschema@.wallet, text) IS 'Internal: raise 42501 unless the role may debit, credit or view the wallet.';

-- Money owed by members' wallets, and cashback the budget could not pay.
CREATE TABLE @extschema@.cashback_shortfalls (
    program_id   bigint NOT NULL,
    member_id    bigint NOT NULL,
    tracked_id   bigint NOT NULL,
    order_id     text NOT NULL,
    generation   int NOT NULL,
    rule_code    text NOT NULL,
    from_wallet  bigint,                 -- NULL: the rule names no such wallet
    amount       bigint NOT NULL,        -- cashback due and not paid
    reason       text NOT NULL,          -- insufficient_funds, budget_busy, daily_limit, no_wallet
    at           timestamptz NOT NULL,
    resolved_at  timestamptz,            -- no longer owed: paid later, or the order was reversed
    resolution   text,                   -- paid, order_reversed
    PRIMARY KEY (member_id, tracked_id, order_id, generation, rule_code)
);
COMMENT ON TABLE @extschema@.cashback_shortfalls IS 'Cashback an order earned that its budget wallet could not pay (the order completed anyway).';

-- Cashback of each order generation and rule: priced when paid, paid when
-- completed, reversed on refund, cancel, delete or completed -> paid.
CREATE TABLE @extschema@.order_cashback (
    member_id    bigint NOT NULL,
    tracked_id   bigint NOT NULL,
    order_id     text NOT NULL,
    generation   int NOT NULL,
    rule_code    text NOT NULL,
    from_wallet  bigint,
    to_wallet    bigint,
    amount       bigint NOT NULL,        -- priced
    paid         bigint NOT NULL DEFAULT 0,   -- paid in total (every completion)
    reversed     bigint NOT NULL DEFAULT 0,   -- taken back in total
    debt         bigint NOT NULL DEFAULT 0,   -- of reversed: recorded as wallet debt
    transfers    int NOT NULL DEFAULT 0,      -- numbers the refs of its transfers
    shortfall    bigint NOT NULL DEFAULT 0,   -- recorded in cashback_shortfalls, unresolved
    PRIMARY KEY (member_id, tracked_id, order_id, generation, rule_code)
);
COMMENT ON TABLE @extschema@.order_cashback IS 'Cashback per order generation and rule: priced, paid and reversed amounts.';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.cashback_shortfalls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.order_cashback', '');

-- Finding wallets ---------------------------------------------------------------

CREATE FUNCTION @extschema@.find_wallet(program text, name text)
RETURNS bigint
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.find_wallet(text, text) IS
    'The id of a programme''s wallet by name (NULL if none), e.g. its revenue wallet "revenue:CNY".';

CREATE FUNCTION @extschema@._find_wallet(caller oid, program text, name text)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.wallet_id FROM @extschema@.wallet w
    WHERE w.program_id = (@extschema@._program_row(_find_wallet.program)).program_id
      AND w.name = _find_wallet.name
$$;
COMMENT ON FUNCTION @extschema@._find_wallet(oid, text, text) IS 'Internal body of find_wallet.';

CREATE FUNCTION @extschema@.member_wallets(member bigint)
RETURNS TABLE(wallet bigint, name text, currency text, frozen boolean, debt bigint)
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'ly_call_internal';
COMMENT ON FUNCTION @extschema@.member_wallets(bigint) IS
    'A member''s wallets (including the one cashback opened), with the debt each owes.';

CREATE FUNCTION @extschema@._member_wallets(caller oid, member bigint)
RETURNS TABLE(wallet bigint, name text, currency text, frozen boolean, debt bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@._member_exists(member);
    RETURN QUERY
    SELECT w.wallet_id, w.name, w.currency, w.frozen, p.debt
    FROM @extschema@.wallet w
    JOIN @extschema@.wallet_part p ON p.wallet_id = w.wallet_id AND p.part = 0
    WHERE w.owner_member = _member_wallets.member
    ORDER BY w.wallet_id;
END
$$;
COMMENT ON FUNCTION @extschema@._member_wallets(oid, bigint) IS 'Internal body of member_wallets.';

-- Batch job ---------------------------------------------------------------------

CREATE PROCEDURE @extschema@.expire_holds(as_of timestamptz DEFAULT now(), batch_size int DEFAULT 10000)
LANGUAGE C
AS 'MODULE_PATHNAME', 'ly_expire_holds';
COMMENT ON PROCEDURE @extschema@.expire_holds(timestamptz, int) IS
    'Void the pending wallet transfers whose pending_timeout passed by as_of (their holds already stopped counting); commits per batch; resumable.';
